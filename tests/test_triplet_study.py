"""The triplet chapter: its grid and order, bytes, rules, training jobs, and the report."""

import json
import math
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from toposhape.studies import scorecard, style
from toposhape.studies.triplet import protocol, report, run, sentences, summary, train
from toposhape.studies.triplet.data import Split
from toposhape.studies.triplet.floors import floors_key, pixel_floors, read_floors
from toposhape.studies.triplet.protocol import (
    Job,
    compare,
    floor_width,
    floor_widths,
    jobs,
    model_specs,
    plateaued,
)
from toposhape.triplet import embed

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "triplet.ipynb"


# --------------------------------------------------------------------------- the grid


def test_the_grid_puts_the_headline_first() -> None:
    full = [s.key for s in model_specs(run.get_profile("full"))]
    assert full[:3] == ["sphere-d2", "atlas-k8-d2", "sphere-k8-d2"]
    assert full[3:6] == ["wide-normalised", "wide-unnormalised", "wide-mmd"]
    assert set(full[6:]) == {"atlas-k1-d2", "sphere-d8", "atlas-k8-d8", "sphere-k8-d8",
                             "atlas-k1-d8"}  # fmt: skip
    tiny = [s.key for s in model_specs(run.get_profile("tinyimagenet"))]
    assert len(tiny) == 9 and not any(k.startswith("atlas-k1") for k in tiny)


def test_jobs_run_seed_by_seed_with_the_compression_after_its_embedding() -> None:
    order = jobs(["full", "tinyimagenet"])
    assert len(order) == 3 * (2 * (11 + 1) + (9 + 1))
    names = [job.name for job in order]
    assert names[:3] == [
        f"full/mnist/seed0/{k}" for k in ("sphere-d2", "atlas-k8-d2", "sphere-k8-d2")
    ]
    assert names[3].startswith("full/fashion-mnist/seed0/")
    assert [job.seed for job in order] == sorted(job.seed for job in order)
    seed0 = [n for n in names if "/seed0/" in n]
    assert (
        seed0.index("full/mnist/seed0/compression") == seed0.index("full/mnist/seed0/wide-mmd") + 1
    )
    assert max(i for i, n in enumerate(seed0) if n.startswith("full/")) < seed0.index(
        "tinyimagenet/tinyimagenet/seed0/sphere-d2"
    )
    assert {job.seed for job in jobs(["full"], seeds=[1])} == {1}


def _bytes_needed(values: int) -> int:
    """Oracle: the fewest whole bytes b with 256**b >= values (ids 0 .. values - 1)."""
    b = 0
    while 256**b < values:
        b += 1
    return b


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_bytes_are_what_each_read_stores(profile: str) -> None:
    settings = run.get_profile(profile)
    for spec in model_specs(settings):
        model = train.build_model(spec, settings | {"backbone_width": 8}, 1, seed=0)
        emb = embed(model, torch.rand(3, 1, 28, 28))
        floats = np.zeros(emb.shape[1], dtype=np.float32).nbytes
        if spec.kind == "euclidean":
            assert spec.bytes("euclidean") == floats, spec.key
            continue
        if spec.charts == 1:  # the membership is always 1: not stored
            assert torch.all(emb[:, 0] == 1) and spec.bytes("soft") == floats - 4, spec.key
        else:
            assert spec.bytes("soft") == floats, spec.key
            coords = np.zeros(spec.width, dtype=np.float32).nbytes
            assert spec.bytes("hard") == _bytes_needed(spec.charts) + coords, spec.key


# --------------------------------------------------------------------------- the rules


def test_plateau_criterion() -> None:
    assert plateaued([0.5, 0.6, 0.7]) is None  # no more than 3 epochs: nothing to compare
    assert plateaued([0.5, 0.80, 0.805, 0.80, 0.79]) is True  # +0.5 point in the last 3
    assert plateaued([0.5, 0.7, 0.75, 0.78, 0.80]) is False  # +10 points in the last 3
    assert plateaued([0.5, 0.9, 0.6, 0.6, 0.6]) is True  # falling after the best


def test_noise_rule() -> None:
    a, b = [80.0, 82.0, 84.0], [70.0, 71.0, 72.0]
    judged = compare(a, b)
    pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    assert judged["difference"] == pytest.approx(11.0)
    assert judged["pooled_std"] == pytest.approx(pooled)
    assert judged["margin"] == pytest.approx(2 * pooled) and judged["verdict"] == "A wins"
    assert compare(b, a)["verdict"] == "B wins"
    assert compare([80.0, 86.0, 74.0], [78.0, 79.0, 77.0])["verdict"] == "within noise"
    # identical seeds: the floor of one point decides
    assert compare([50.5, 50.5, 50.5], [50.0, 50.0, 50.0])["verdict"] == "within noise"
    assert compare([51.5, 51.5, 51.5], [50.0, 50.0, 50.0])["verdict"] == "A wins"
    with pytest.raises(ValueError, match=r"^a must hold at least 2"):
        compare([1.0], [1.0, 2.0])


# --------------------------------------------------------------------------- crafted payloads


def _record(profile: str, dataset: str, seed: int, spec: protocol.ModelSpec, r1: float) -> dict:
    epochs = run.get_profile(profile)["epochs"]
    history = [
        {"epoch": e, "loss": 0.3, "triplet": 0.2, "seconds": 2.0, "eval_seconds": 1.0,
         "validation_recall_at_1": 0.5 + 0.01 * e}
        | {f"test_{read}_recall_at_1": r1 - 0.01 * (epochs - e) for read in spec.reads}
        for e in range(1, epochs + 1)
    ]  # fmt: skip
    metric = {f"recall_at_{k}": min(1.0, r1 + 0.01 * k) for k in (1, 2, 4, 8)}
    metric |= {"recall_at_1": r1, "precision_at_1": r1, "mean_average_precision_at_r": r1 / 2}
    split = {"source": "MNIST test: 10000 IDX", "fingerprint": "sha256:0", "classes": "5–9",
             "images": 300}  # fmt: skip
    return {
        "format": train.RECORD_FORMAT, "profile": profile, "dataset": dataset, "seed": seed,
        "key": spec.key, "spec": asdict(spec),
        "bytes": {read: spec.bytes(read) for read in spec.reads},
        "metrics": {read: dict(metric) for read in spec.reads},
        "history": history, "selected_epoch": epochs,
        "converged": plateaued([h["validation_recall_at_1"] for h in history]),
        "training_seconds": 2.0 * epochs, "config": {"seed": seed, "margin": 0.2}, "model": {},
        "data": {"train": split, "validation": split, "test": split},
    }  # fmt: skip


def _compression(profile: str, dataset: str, seed: int, atlas: float) -> dict:
    rows = []
    for charts, dim in run.get_profile(profile)["compression"]["configs"]:
        for method, size, recall, seconds in [
            ("float32 (exact)", 256, 1.0, 1e-4),
            ("atlas (chart + 8-bit coords)", 1 + dim, atlas, 1e-5),
            ("PCA + 8-bit", 1 + dim, 0.4, 1e-6),
            ("PQ", 1 + dim, 0.6, 1e-6),
        ]:
            rows.append(
                {"charts": charts, "dim": dim, "method": method, "settings": "",
                 "bytes_per_vector": size, "recall_at_10": recall,
                 "class_recall_at_1": recall / 2, "seconds_per_query": seconds}
            )  # fmt: skip
    split = {"source": "x", "fingerprint": "sha256:0", "classes": "5–9", "images": 300}
    return {"format": train.RECORD_FORMAT, "dataset": dataset, "seed": seed, "key": "compression",
            "database": 300, "queries": 50, "rows": rows, "seconds": 30.0,
            "data": {"database": split}}  # fmt: skip


def _payload(r1, profile: str = "full", seeds=(0, 1, 2), atlas: float = 0.6) -> dict:
    """A payload of ``profile`` whose R@1 is ``r1(dataset, key, seed)`` for every model."""
    settings = run.get_profile(profile)
    models, compression, pending = [], [], []
    for job in jobs([profile]):
        if job.seed not in seeds:
            pending.append(job.name)
        elif job.spec is None:
            compression.append(_compression(profile, job.dataset, job.seed, atlas))
        else:
            value = r1(job.dataset, job.key, job.seed)
            models.append(_record(profile, job.dataset, job.seed, job.spec, value))
    return {"profile": profile, "settings": settings, "models": models,
            "compression": compression, "pending": pending, "timings_s": {"x": 1.0}}  # fmt: skip


def _atlas_wins(dataset: str, key: str, seed: int) -> float:
    """The atlas (and the MMD model) 20 points above everything else; seeds ± 1 point."""
    base = 0.7 if key.startswith(("atlas-k8", "wide-mmd")) else 0.5
    return base + 0.01 * (seed - 1)


def test_cells_average_the_seeds_like_numpy() -> None:
    payload = _payload(lambda d, k, s: 0.5 + 0.03 * s * (k == "sphere-d2"))
    cells = summary.cells(payload).set_index(["dataset", "key", "read"])
    row = cells.loc[("mnist", "sphere-d2", "euclidean")]
    values = 100 * (0.5 + 0.03 * np.arange(3))
    assert row["R@1"] == pytest.approx(values.mean()) and row["seeds"] == 3
    assert row["R@1 std"] == pytest.approx(values.std(ddof=1))
    assert row["bytes"] == 12 and row["epochs kept"] == "8, 8, 8"
    assert len(cells) == 2 * (11 + 2)  # two reads of each k = 8 atlas


def test_comparisons_follow_the_noise_rule_and_wait_for_three_seeds() -> None:
    frame = summary.comparisons(_payload(_atlas_wins))
    assert len(frame) == 2 * (2 * 4 + 2)
    assert set(frame.loc[frame["question"] == "equal dimension", "verdict"]) == {"A wins"}
    assert set(frame.loc[frame["question"] == "one chart", "verdict"]) == {"within noise"}
    hard = frame[(frame["question"] == "equal storage") & frame["A"].str.endswith("hard")]
    assert set(hard["bytes A"]) == {9, 33} and set(hard["bytes B"]) == {12, 36}
    partial = summary.comparisons(_payload(_atlas_wins, seeds=(0, 1)))
    assert set(partial["verdict"]) == {"pending"} and set(partial["seeds"]) == {"2 / 2"}


def test_tables_show_bytes_beside_every_recall() -> None:
    tables = report.tables(_payload(_atlas_wins))
    retrieval = tables["retrieval"]
    assert list(retrieval.columns[:5]) == ["dataset", "d", "model", "bytes / vector", "R@1 (%)"]
    row = retrieval[(retrieval["dataset"] == "MNIST") & (retrieval["model"] == "atlas k = 8, hard")]
    assert row["bytes / vector"].tolist() == [9, 33]
    assert row["R@1 (%)"].iloc[0] == "70.0 ± 1.0"
    compression = tables["compression"]
    assert (compression["store"] == "float32").sum() == 2  # once per dataset
    assert set(compression.loc[compression["store"] != "float32", "bytes / vector"]) == {3, 5, 9}
    assert set(tables["data"]["split"]) == {"train", "validation", "test", "database"}
    training = tables["training"]
    assert len(training) == 2 * 11 and set(training["epoch kept (of 8)"]) == {"8, 8, 8"}
    assert set(training["converged"]) == {"0 / 3"}  # +1 point of validation R@1 per epoch
    verdicts = tables["comparisons"]["verdict"]
    assert set(verdicts) == {"A wins", "within noise"}
    side = tables["comparisons"]["A: R@1 (%)"].iloc[0]
    assert side == "atlas k = 8, soft, 96 B: 70.0 ± 1.0"
    for table in tables.values():  # narrow enough for the page
        assert len(table.columns) <= 9


def test_page_figures_fit_and_say_what_is_missing(tmp_path) -> None:
    figures = report.page_figures(_payload(_atlas_wins), None)
    assert set(figures) == {f"full-{k}" for k in report.PAGE["full"]} | {
        f"tinyimagenet-{k}" for k in report.PAGE["tinyimagenet"]
    }
    for key, fig in figures.items():
        style.check_figure(fig, key)
        fig.savefig(tmp_path / f"{key}.png")  # draws every artist
    empty = _payload(_atlas_wins, seeds=())
    notes = report.page_figures(empty, _payload(_atlas_wins, "tinyimagenet"))
    texts = [t.get_text() for t in notes["full-bytes"].findobj(lambda a: hasattr(a, "get_text"))]
    assert any("No finished run" in t for t in texts)
    for key, fig in notes.items():
        style.check_figure(fig, key)


def test_findings_and_setup_are_computed_from_the_payload() -> None:
    payload = _payload(_atlas_wins, seeds=(0, 1))
    found = sentences.findings(payload)
    assert all("pending" in line for line in found["equal dimension"])
    assert "moves by" in found["training"][0] and "met the plateau" in found["training"][1]
    text = sentences.setup(payload)
    assert "48 of 72 jobs" in text and "**Pending**" in text and "full/mnist/seed2/" in text


def _loader(full: dict | None, tiny: dict | None = None):
    return lambda profile: {"full": full, "tinyimagenet": tiny}.get(profile)


def _verdicts(full: dict | None, tiny: dict | None = None) -> list[str]:
    return [c.verdict for c in report.claims(_loader(full, tiny))]


def test_claims_follow_their_rules_and_never_exceed_partly() -> None:
    # the atlas and the MMD model win by 20 points; one chart is within noise; the atlas
    # store keeps 60 % at 3 of 256 bytes and is faster than exact search
    assert _verdicts(_payload(_atlas_wins), _payload(_atlas_wins, "tinyimagenet")) == [
        "partly", "partly", "partly", "partly", "partly", "partly"
    ]  # fmt: skip

    def sphere_wins_on_tinyimagenet(dataset: str, key: str, seed: int) -> float:
        flip = dataset == "tinyimagenet" and key.startswith("sphere")
        return _atlas_wins(dataset, key, seed) + (0.4 if flip else 0.0)

    assert _verdicts(_payload(_atlas_wins), _payload(sphere_wins_on_tinyimagenet, "tinyimagenet"))[
        :2
    ] == ["not reproduced", "not reproduced"]

    def one_chart_helps(dataset: str, key: str, seed: int) -> float:
        return _atlas_wins(dataset, key, seed) + (0.1 if key.startswith("atlas-k1") else 0.0)

    assert _verdicts(_payload(one_chart_helps, atlas=0.4))[2:5] == [
        "not reproduced", "partly", "not reproduced"
    ]  # fmt: skip

    # every model within a point of every other, seeds ± 1 point: nothing won or lost
    def ties(dataset: str, key: str, seed: int) -> float:
        return 0.5 + 0.01 * (seed - 1) + (0.001 if key.startswith("atlas") else 0.0)

    tied = _verdicts(_payload(ties, atlas=0.4))
    assert [tied[0], tied[1], tied[3]] == ["within noise"] * 3
    assert tied[2] == "partly"  # one chart "does not help": no win is what the claim says
    assert _verdicts(_payload(_atlas_wins, seeds=(0, 1))) == ["not run yet"] * 6
    assert _verdicts(None) == ["not run yet"] * 6
    assert all(c.seeds == 0 and c.measured == "–" for c in report.claims(_loader(None)))


def test_claims_point_at_the_notebook() -> None:
    notebook = json.loads(NOTEBOOK.read_text())
    markdown = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    found = report.claims(_loader(_payload(_atlas_wins)))
    assert len(found) == 6
    for claim in found:
        assert claim.source == "korman" and claim.chapter == "triplet" and claim.seeds == 3
        assert re.search(rf"^\({re.escape(claim.section)}\)=$", markdown, re.MULTILINE)
    for key in report.PAGE["full"]:
        assert "{glue:figure} full-" + key in markdown
    for key in report.PAGE["tinyimagenet"]:
        assert "{glue:figure} tinyimagenet-" + key in markdown
    assert list(scorecard.frame(found)["chapter"].unique()) == ["triplet"]


# --------------------------------------------------------------------------- training jobs


_TINY = run.get_profile("smoke") | {
    "backbone_width": 8, "epochs": 3, "steps_per_epoch": 3, "classes_per_batch": 2,
    "per_class": 4, "plot_points": 20, "dims": [2], "charts": [2],
}  # fmt: skip


def _splits() -> dict[str, Split]:
    g = torch.Generator().manual_seed(0)

    def split(n: int, classes: list[int]) -> Split:
        labels = torch.tensor(classes).repeat(n // len(classes))
        images = torch.rand(len(labels), 1, 8, 8, generator=g) + 0.3 * labels.view(-1, 1, 1, 1)
        return Split(images, labels, {"source": "synthetic", "fingerprint": "", "classes": "",
                                      "images": len(labels)})  # fmt: skip

    return {"train": split(48, [0, 1, 2]), "validation": split(24, [0, 1, 2]),
            "test": split(24, [3, 4, 5]), "database": split(24, [3, 4, 5])}  # fmt: skip


def _without_times(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k != "training_seconds"}
    out["history"] = [
        {k: v for k, v in h.items() if k not in ("seconds", "eval_seconds")}
        for h in record["history"]
    ]
    return out


def test_an_interrupted_model_resumes_to_the_same_record(tmp_path, monkeypatch) -> None:
    # each work folder gets its own records folder beside it
    spec = next(s for s in model_specs(_TINY) if s.key == "atlas-k2-d2")
    job, splits = Job("smoke", "mnist", 0, spec), _splits()
    straight = train.train_model(job, splits, _TINY, tmp_path / "a" / "_work")
    assert straight["selected_epoch"] == 1 + int(
        np.argmax([h["validation_recall_at_1"] for h in straight["history"]])
    )
    kept = straight["history"][straight["selected_epoch"] - 1]
    # the kept epoch's held-out R@1 is the one reported; in the hard read a query alone in
    # its chart has only "no shared chart" neighbours, ties that the two searches may break
    # differently
    assert straight["metrics"]["soft"]["recall_at_1"] == kept["test_soft_recall_at_1"]
    assert abs(straight["metrics"]["hard"]["recall_at_1"] - kept["test_hard_recall_at_1"]) <= 0.1
    assert len(straight["points"]["labels"]) == 20

    calls, original = [], train.retrieval

    def interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the validation R@1 after epoch 2: epoch 1 is checkpointed
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train, "retrieval", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train.train_model(job, splits, _TINY, tmp_path / "b" / "_work")
    assert train.read_record(tmp_path / "b" / "_work", job) is None
    monkeypatch.setattr(train, "retrieval", original)
    resumed = train.train_model(job, splits, _TINY, tmp_path / "b" / "_work")
    assert _without_times(resumed) == _without_times(straight)
    saved = json.loads(train.record_path(tmp_path / "b" / "_work", job).read_text())
    assert train.read_record(tmp_path / "b" / "_work", job) == saved["record"]
    assert train.record_path(tmp_path / "b" / "_work", job) == (
        tmp_path / "b" / "records" / f"{job.dataset}-seed{job.seed}-{job.key}.json"
    )


def test_the_compression_study_needs_its_embedding_and_stores_at_equal_bytes(tmp_path) -> None:
    work = tmp_path / "_work"
    settings = _TINY | {"compression": {"configs": [[2, 2]], "database": None, "queries": 20,
                                        "epochs": 1}}  # fmt: skip
    splits = _splits()
    splits["database"] = Split(
        torch.rand(120, 1, 8, 8), torch.arange(3, 6).repeat(40), splits["database"].record
    )
    job = Job("smoke", "mnist", 0, None)
    with pytest.raises(ValueError, match="needs smoke/mnist/seed0/wide-normalised"):
        train.compression_study(job, splits, settings, work)
    wide = next(s for s in model_specs(settings) if s.key == "wide-normalised")
    train.train_model(Job("smoke", "mnist", 0, wide), splits, settings, work)
    record = train.compression_study(job, splits, settings, work)
    sizes = {r["method"]: r["bytes_per_vector"] for r in record["rows"]}
    assert (
        sizes["float32 (exact)"] == 4 * settings["wide_dim"]
        and sizes["atlas (chart + 8-bit coords)"] == 3
    )
    assert record["queries"] == 20 and all(0 <= r["class_recall_at_1"] <= 1 for r in record["rows"])
    assert train.compression_study(job, splits, settings, work) == train.read_record(work, job)
    # the record is committed, the weights are not: on a fresh machine the embedding is
    # trained again (seeded: the same model) before the study of another seed
    again = Job("smoke", "mnist", 1, None)
    first = train.train_model(Job("smoke", "mnist", 1, wide), splits, settings, work)
    for weights in work.rglob("seed1/*.pt"):
        weights.unlink()
    record = train.compression_study(again, splits, settings, work)
    assert (work / "mnist" / "seed1" / "wide-normalised.best.pt").is_file()
    rebuilt = train.read_record(work, Job("smoke", "mnist", 1, wide))
    assert _without_times(rebuilt) == _without_times(first)


def test_run_without_training_lists_every_job_as_pending(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run, "load_splits", _synthetic_splits)  # for the floors
    payload = run.run("full", results_root=tmp_path, log=None)
    assert payload["models"] == [] and len(payload["pending"]) == len(jobs(["full"]))
    assert list(payload["floors"]) == ["mnist", "fashion-mnist"]
    assert "0 of 72 jobs" in sentences.setup(payload)
    assert sentences.findings(payload)["training"] == [
        "No finished model has enough epochs to see how R@1 moves between them.",
        "No model has finished yet.",
    ]


def test_benchmark_status_names_no_absolute_path(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TOPOSHAPE_DATA", str(tmp_path))
    status = run.benchmark_status()
    assert set(status) == set(run.BENCHMARKS)
    for text in status.values():
        assert text.startswith("not in the data folder (TOPOSHAPE_DATA), which needs ")
        assert str(tmp_path) not in text and "<" not in text  # shown as HTML
    table = report.benchmark_table(status)
    assert list(table.columns) == ["benchmark", "on this machine"] and len(table) == 2


def test_the_command_line_plans_and_refuses_bad_arguments(capsys) -> None:
    assert run.main(["plan", "full", "--seed", "2", "--only", "*/fashion-mnist/*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12 and all("full/fashion-mnist/seed2/" in line for line in lines)
    assert run.main(["train", "nope"]) == 2
    assert "profile" in capsys.readouterr().err


# --------------------------------------------------------------------------- the floors


def test_floor_widths_hold_every_read_of_the_grid() -> None:
    assert floor_widths(run.get_profile("full")) == [2, 3, 8, 9, 24, 64, 72]
    assert floor_widths(run.get_profile("tinyimagenet")) == [3, 9, 24, 64, 72]
    for profile in ("smoke", "full", "tinyimagenet"):
        for spec in model_specs(run.get_profile(profile)):
            for read in spec.reads:
                size = spec.bytes(read)  # the floor stores as much, less than a float more
                assert size <= 4 * floor_width(size) < size + 4, (spec.key, read)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall(codes: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Oracle: R@k of each query against all the others (scipy's Euclidean distances)."""
    from scipy.spatial.distance import cdist

    dist = cdist(codes, codes)
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return float(np.mean([(labels[n] == y).any() for n, y in zip(nearest, labels, strict=True)]))


def _pca_codes(fit: np.ndarray, x: np.ndarray, width: int) -> np.ndarray:
    """Oracle: x projected on the first ``width`` principal axes of ``fit`` (numpy SVD)."""
    mean = fit.mean(axis=0)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    return (x - mean) @ vt[:width].T


def _flat(images: torch.Tensor) -> np.ndarray:
    return images.flatten(1).double().numpy()


def test_pixel_floors_match_an_independent_search() -> None:
    g = torch.Generator().manual_seed(1)
    train_images = torch.rand(60, 1, 4, 4, generator=g)
    labels = torch.arange(3).repeat(10)
    test_images = 0.5 * torch.rand(30, 1, 4, 4, generator=g)
    test_images.view(30, -1)[torch.arange(30), 5 * labels] += 0.5  # one bright pixel a class
    rows = pixel_floors(train_images, test_images, labels, [5, 2, 5])
    assert [(r["floor"], r["floats"], r["bytes"]) for r in rows] == [
        ("pixels", 16, 64), ("pca", 2, 8), ("pca", 5, 20)
    ]  # fmt: skip
    y = labels.numpy()
    train, test = _flat(train_images), _flat(test_images)
    codes = {16: test} | {w: _pca_codes(train, test, w) for w in (2, 5)}
    spectrum = np.linalg.svd(train - train.mean(axis=0), compute_uv=False) ** 2
    for row in rows:
        unit = _unit(codes[row["floats"]])
        for k in (1, 2, 4, 8):
            assert row["metrics"][f"recall_at_{k}"] == pytest.approx(_recall(unit, y, k)), row
        if row["floor"] == "pca":
            share = spectrum[: row["floats"]].sum() / spectrum.sum()
            assert row["explained_variance"] == pytest.approx(share)
    assert rows[0]["metrics"]["recall_at_1"] > 0.5  # the classes are apart: not a trivial pass


def test_the_pca_is_fitted_on_the_training_images_only() -> None:
    # the training images vary in pixels 0-3 only; the held-out classes differ in pixel 10
    # alone, which a PCA that saw them would pick as its first axis
    g = torch.Generator().manual_seed(2)

    def images(n: int) -> torch.Tensor:
        x = torch.full((n, 1, 4, 4), 0.5) + 1e-3 * torch.rand(n, 1, 4, 4, generator=g)
        x.view(n, -1)[:, :4] = torch.rand(n, 4, generator=g)
        return x

    train_images, test_images = images(60), images(60)
    labels = torch.arange(2).repeat(30)
    test_images.view(60, -1)[:, 10] = labels.float()
    row = pixel_floors(train_images, test_images, labels, [2])[1]  # 2-d: no ties once unit
    train, test, y = _flat(train_images), _flat(test_images), labels.numpy()
    honest = _recall(_unit(_pca_codes(train, test, 2)), y, 1)
    leaked = _recall(_unit(_pca_codes(np.vstack([train, test]), test, 2)), y, 1)
    assert leaked > 0.9 and honest < 0.7  # the test can tell the two apart
    assert row["metrics"]["recall_at_1"] == pytest.approx(honest)


def _synthetic_splits(*_args) -> dict[str, Split]:
    """In place of ``load_splits``: 10 × 10 images in [0, 1], enough for every floor width."""
    g = torch.Generator().manual_seed(3)

    def split(n: int, classes: list[int]) -> Split:
        labels = torch.tensor(classes).repeat(n // len(classes))
        images = 0.5 * torch.rand(len(labels), 1, 10, 10, generator=g)
        images.view(len(labels), -1)[torch.arange(len(labels)), 10 * labels] += 0.5
        return Split(images, labels, {"source": "synthetic", "fingerprint": f"{n}",
                                      "classes": str(classes), "images": n})  # fmt: skip

    return {"train": split(120, [0, 1, 2]), "validation": split(24, [0, 1, 2]),
            "test": split(24, [3, 4, 5]), "database": split(24, [3, 4, 5])}  # fmt: skip


def test_the_floors_record_is_written_once_and_reused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run, "load_splits", _synthetic_splits)
    payload = run.run("smoke", results_root=tmp_path, log=None, train_missing=False)
    record = payload["floors"]["mnist"]
    splits = _synthetic_splits()
    assert record["data"] == {name: splits[name].record for name in ("train", "test")}
    expected = pixel_floors(splits["train"].images, splits["test"].images,
                            splits["test"].labels, floor_widths(_SMOKE))  # fmt: skip
    assert record["rows"] == json.loads(json.dumps(expected))
    path = tmp_path / "triplet" / "smoke" / "records" / "mnist-floors.json"
    assert json.loads(path.read_text())["key"] == floors_key("mnist", _SMOKE)

    def no_data(*_args):
        raise AssertionError("the data were read although the floors are recorded")

    monkeypatch.setattr(run, "load_splits", no_data)
    shutil.rmtree(run.work_dir("smoke", tmp_path), ignore_errors=True)
    again = run.run("smoke", results_root=tmp_path, log=None, train_missing=False)
    assert {k: v for k, v in again.items() if k != "timings_s"} == {
        k: v for k, v in payload.items() if k != "timings_s"
    }
    assert read_floors(run.work_dir("smoke", tmp_path), "mnist", _SMOKE | {"dims": [3]}) is None


def test_the_training_command_records_the_floors_before_the_models(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run, "load_splits", _synthetic_splits)
    work = run.work_dir("smoke", tmp_path)
    spec = model_specs(_SMOKE)[0]
    made = _record("smoke", "mnist", 0, spec, 0.5)
    train._write_record(work, Job("smoke", "mnist", 0, spec), made)  # a finished model
    only = f"smoke/mnist/seed0/{spec.key}"
    assert run.train(["smoke"], only=only, results_root=tmp_path, progress=False, log=None) == 0
    assert read_floors(work, "mnist", _SMOKE) is not None
    # the finished model was made from other images than the floors: refused, not mixed
    with pytest.raises(ValueError, match=r"^the record of smoke/mnist/seed0/sphere-d2 .* other"):
        run.run("smoke", results_root=tmp_path, log=None, train_missing=False)


def _floors_record(dataset: str, r1) -> dict:
    """A floors record whose PCA of w floats has R@1 ``r1(w)`` and the pixels 0.3."""
    settings = run.get_profile("full" if dataset != "tinyimagenet" else "tinyimagenet")
    rows = [("pixels", 784, 0.3)] + [("pca", w, r1(w)) for w in floor_widths(settings)]
    split = {"source": "MNIST test: 10000 IDX", "fingerprint": "sha256:0", "classes": "5–9",
             "images": 300}  # fmt: skip
    return {
        "rows": [
            {"floor": floor, "floats": w, "bytes": 4 * w,
             "metrics": {f"recall_at_{k}": min(1.0, v + 0.01 * k) for k in (1, 2, 4, 8)}
             | {"recall_at_1": v, "mean_average_precision_at_r": v / 2}}
            for floor, w, v in rows
        ],
        "data": {"train": split, "test": split},
    }  # fmt: skip


def _with_floors(payload: dict, r1=lambda w: 0.4 + 0.001 * w) -> dict:
    datasets = payload["settings"]["datasets"]
    return payload | {"floors": {d: _floors_record(d, r1) for d in datasets}}


def test_the_floors_are_shown_beside_the_models_and_change_no_verdict() -> None:
    plain = _payload(_atlas_wins)
    payload = _with_floors(plain)
    retrieval = report.tables(payload)["retrieval"]
    floors = retrieval[retrieval["d"] == "–"]
    assert len(floors) == 2 * 8  # per dataset: the pixels and 7 widths
    row = floors[(floors["dataset"] == "MNIST") & (floors["model"] == "PCA of pixels, 24 floats")]
    assert row["bytes / vector"].tolist() == [96] and row["R@1 (%)"].tolist() == ["42.4"]
    assert floors.loc[floors["model"] == "pixels, 784 floats", "bytes / vector"].tolist() == [
        3136, 3136
    ]  # fmt: skip
    table = report.tables(payload)["comparisons"]
    context = table[table["question"] == report.FLOOR_QUESTION]
    assert len(context) == 2 * 3 and set(context["verdict"]) == {"no rule"}
    # d = 2: the atlas (soft, 96 B, 70 %) is the best read; its floor is PCA to 24 floats
    first = context.iloc[0]
    assert first["A: R@1 (%)"] == "atlas k = 8, soft, 96 B: 70.0 ± 1.0"
    assert first["B: R@1 (%)"] == "PCA of pixels, 24 floats, 96 B: 42.4"
    assert first["A − B"] == pytest.approx(70.0 - 42.4)
    # D = 64: the MMD model (256 B) against PCA to 64 floats
    assert context.iloc[2]["B: R@1 (%)"] == "PCA of pixels, 64 floats, 256 B: 46.4"
    line, every = sentences.findings(payload)["floors"][:2]
    assert line.startswith("MNIST, the best model at each dimension against the PCA floor")
    assert "d = 2: atlas k = 8, soft (96 B) 70.0 ± 1.0 % vs PCA of pixels, 24 floats (96 B) " \
        "42.4 % (+27.6 points)" in line  # fmt: skip
    assert "above its floor at 3 of the 3 dimensions, by 27.6 points at most." in line
    assert every.startswith("MNIST, every trained read") and "(784 floats, 3136 B)" in every
    assert _verdicts(payload) == _verdicts(plain)
    figure = report.page_figures(payload, None)["full-bytes"]
    labels = [h.get_label() for ax in figure.axes for h in ax.get_lines()]
    assert labels.count("PCA of pixels") == 2 and labels.count("all pixels") == 2
    # a payload saved before the floors: no floor rows, one sentence saying so
    assert "–" not in set(report.tables(plain)["retrieval"]["d"])
    assert "before the floors" in sentences.findings(plain)["floors"][0]


def _reads(profile: str, r1) -> list[tuple[str, int, str, int, float]]:
    """Oracle: (dataset, d, key, bytes, R@1 in %) of every read, from the grid itself."""
    settings = run.get_profile(profile)
    return [
        (dataset, spec.d, spec.key, spec.bytes(read), 100 * np.mean([r1(dataset, spec.key, s)
                                                                    for s in settings["seeds"]]))
        for dataset in settings["datasets"]
        for spec in model_specs(settings)
        for read in spec.reads
    ]  # fmt: skip


@pytest.mark.parametrize("pixels", [0.3, 0.9])
def test_every_read_is_set_beside_the_pixels_and_its_pca_floor(pixels: float) -> None:
    def r1(dataset: str, key: str, seed: int) -> float:  # the atlas at 70 %, the rest at 50 %
        return 0.7 if key.startswith("atlas-k8") else 0.5

    payload = _with_floors(_payload(r1), lambda w: 0.6)
    for record in payload["floors"].values():
        record["rows"][0]["metrics"]["recall_at_1"] = pixels
    lines = sentences.findings(payload)["floors"]
    assert len(lines) == 4  # two per dataset
    for dataset, name, line in (("mnist", "MNIST", lines[1]), ("fashion-mnist", "Fashion-MNIST",
                                                                lines[3])):  # fmt: skip
        reads = [r for r in _reads("full", r1) if r[0] == dataset]
        above_pixels = sum(r[4] > 100 * pixels for r in reads)
        below_floor = sum(r[4] < 60.0 for r in reads)
        assert line.startswith(f"{name}, every trained read against the floors: ")
        if above_pixels:
            assert f"{above_pixels} of the {len(reads)} trained reads do better" in line
        else:
            assert f"none of the {len(reads)} trained reads does as well" in line
        assert f"does better than {below_floor} of the {len(reads)};" in line
        # the smaller group is named: here the four reads of the atlas, 10 points above
        atlas = [r for r in reads if r[2].startswith("atlas-k8")]
        assert below_floor > len(atlas) and "the reads above their PCA floor: " in line
        for _, d, _, size, value in atlas:
            assert f"at d = {d} ({size} B, {value - 60:+.1f} points)" in line
        assert line.endswith("(read − floor from -10.0 to +10.0 points).")


def _with_validation(payload: dict, value: float) -> dict:
    """The payload with every model's validation R@1 ``value`` after every epoch."""
    for record in payload["models"]:
        for entry in record["history"]:
            entry["validation_recall_at_1"] = value
    return payload


@pytest.mark.parametrize("validation", [0.05, 0.6, 0.99])
def test_the_limits_and_the_training_lines_follow_the_numbers(validation: float) -> None:
    def weak(dataset: str, key: str, seed: int) -> float:  # a few per cent, seeds ± 0.1 point
        return 0.03 + 0.01 * key.startswith("sphere") + 0.001 * seed

    payload = _with_validation(_payload(weak, "tinyimagenet"), validation)
    found = sentences.findings(payload)
    (line,) = found["limits"]
    values = [r[4] for r in _reads("tinyimagenet", weak)]
    assert line.startswith(
        f"TinyImageNet-200: the trained reads' held-out R@1 spans {min(values):.1f}–"
        f"{max(values):.1f} % (a random ranking: about 1.0 %, one of 100 held-out classes)"
    )
    assert f"the models reach {100 * validation:.1f}–{100 * validation:.1f} %" in line
    assert "ends training at 0.200–0.200, against the margin 0.2," in line  # the fixture's
    assert ("No model retrieves" in line) == (100 * validation < sentences.WEAK)
    # seeds 0.1 point apart: every margin is the noise rule's floor
    assert line.endswith(
        "8 of its 8 comparisons have the noise rule's floor of 1 point as "
        "their margin (twice their pooled seed standard deviation is smaller)."
    )
    noise, _ = found["training"]
    assert f"has a median of TinyImageNet-200 {100 * validation:.1f} %" in noise
    assert ("hardly tell the epochs apart" in noise) == (100 * validation >= sentences.SATURATED)
    full = sentences.findings(_payload(_atlas_wins))
    assert "random ranking: about 20.0 %, one of 5 held-out classes" in full["limits"][0]
    assert "No model retrieves" not in full["limits"][0]  # validation 58 % at the kept epoch
    assert "(MNIST 0 of 33, Fashion-MNIST 0 of 33)" in full["training"][1]


def test_the_sentences_name_the_winner_and_the_cost() -> None:
    found = sentences.findings(_payload(_atlas_wins))
    assert found["equal dimension"][0].endswith(
        "+20.0 points, noise margin 2.0: **atlas k = 8, soft wins**."
    )
    storage = found["equal storage"][0]
    assert "vs sphere, 24 floats (96 B)" in storage and storage.endswith(
        "**atlas k = 8, soft wins**."
    )
    # the fixture's atlas store keeps 60 % recall@10, PCA 40 %, PQ 60 %
    stores = found["compression"]
    assert stores[0].endswith("+20.0 points, margin 1.0: **atlas store wins**.")
    assert stores[1].endswith("+0.0 points, margin 1.0: **within noise**.")
    losing = sentences.findings(_payload(_atlas_wins, atlas=0.2))["compression"]
    assert losing[0].endswith("**PCA + 8-bit wins**.") and losing[1].endswith("**PQ wins**.")
    # every model 2 s per epoch, evaluations 1 s per epoch, compression studies 30 s
    text = sentences.setup(_payload(_atlas_wins))
    models, compression = 66, 6
    minutes = (models * 8 * 2.0, models * 8 * 1.0, compression * 30.0)
    assert (
        f"took {minutes[0] / 60:.0f} min in all" in text
        and f"every epoch {minutes[1] / 60:.0f} min and the compression studies "
        f"{minutes[2] / 60:.0f} min: {sum(minutes) / 3600:.1f} h,"
        in text
    )
    speed = report.claims(_loader(_payload(_atlas_wins)))[5]
    assert speed.measured.endswith(
        "faster in 6 of 6 (dataset, k, d) configurations, at a recall@10 of 60.0–60.0 %; the "
        "same ratio for the faiss stores of the same bytes: 0.01–0.01"
    )


def test_figure_titles_name_the_split_and_the_classes() -> None:
    tiny = _payload(_atlas_wins, "tinyimagenet")
    split = {"source": "TinyImageNet-200 val: 10000 JPEG, resized to 32×32",
             "fingerprint": "sha256:0", "classes": "100–199", "images": 5000}  # fmt: skip
    for record in tiny["models"]:
        record["data"] |= {"test": split, "validation": split | {"classes": "0–99"}}
    figures = report.page_figures(_payload(_atlas_wins), tiny)
    titles = [ax.get_title() for ax in figures["full-bytes"].axes if ax.get_title()]
    assert titles == ["MNIST test, classes 5–9"] * 2  # the fixture's splits
    (title,) = [ax.get_title() for ax in figures["tinyimagenet-bytes"].axes if ax.get_title()]
    assert title == "TinyImageNet-200 val (32 × 32 px), classes 100–199"
    curves = [ax.get_title() for ax in figures["tinyimagenet-curves-wide"].axes if ax.get_title()]
    assert curves == [
        "TinyImageNet-200 val (32 × 32 px)\nvalidation: classes 0–99, held out: 100–199"
    ]


_SMOKE = run.get_profile("smoke")
_IMAGES = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(0))
_LABELS = torch.arange(2).repeat(10)

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (run.get_profile, ("nope",), {}, ValueError, "profile"),
    (run.get_profile, (["smoke"],), {}, TypeError, "profile"),
    (run.work_dir, ("tiny",), {}, ValueError, "profile"),
    (run.work_dir, ("smoke", b"results"), {}, TypeError, "results_root"),
    (model_specs, ([],), {}, TypeError, "settings"),
    (model_specs, ({"dims": [2]},), {}, ValueError, "settings"),
    (model_specs, (_SMOKE | {"dims": []},), {}, ValueError, "settings['dims']"),
    (model_specs, (_SMOKE | {"charts": "2"},), {}, TypeError, "settings['charts']"),
    (model_specs, (_SMOKE | {"charts": [2, 0]},), {}, ValueError, "settings['charts'][1]"),
    (model_specs, (_SMOKE | {"dims": [math.nan]},), {}, TypeError, "settings['dims'][0]"),
    (jobs, ("full",), {}, TypeError, "profiles"),
    (jobs, (["full"],), {"seeds": [-1]}, ValueError, "seed"),
    (plateaued, (0.5,), {}, TypeError, "validation"),
    (compare, ([1.0, 2.0], "ab"), {}, TypeError, "b"),
    (run.run, ("nope",), {}, ValueError, "profile"),
    (run.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (run.run, ("smoke",), {"progress": 1}, TypeError, "progress"),
    (run.run, ("smoke",), {"log": "log"}, TypeError, "log"),
    (run.run, ("smoke",), {"train_missing": 1}, TypeError, "train_missing"),
    (run.train, (["full"],), {"only": 3}, TypeError, "only"),
    (report.page_figures, ({"settings": {}},), {"tinyimagenet": None}, ValueError, "full"),
    (report.tables, ({"settings": {}, "models": []},), {}, ValueError, "payload"),
    (sentences.setup, ({},), {}, ValueError, "payload"),
    (sentences.findings, ([],), {}, TypeError, "payload"),
    (report.benchmark_table, ([],), {}, TypeError, "status"),
    (report.claims, ("full",), {}, TypeError, "load"),
    (floor_width, (0,), {}, ValueError, "size"),
    (floors_key, ("cifar10", _SMOKE), {}, ValueError, "dataset"),
    (pixel_floors, (_IMAGES.byte(), _IMAGES, _LABELS, [2]), {}, TypeError, "train_images"),
    (pixel_floors, (_IMAGES.flatten(1), _IMAGES, _LABELS, [2]), {}, ValueError, "train_images"),
    (pixel_floors, (_IMAGES, 2 * _IMAGES, _LABELS, [2]), {}, ValueError, "test_images"),
    (pixel_floors, (_IMAGES, _IMAGES, _LABELS[:3], [2]), {}, ValueError, "test_labels"),
    (pixel_floors, (_IMAGES, _IMAGES, _LABELS.float(), [2]), {}, TypeError, "test_labels"),
    (pixel_floors, (_IMAGES, _IMAGES, _LABELS, []), {}, ValueError, "widths"),
    (pixel_floors, (_IMAGES, _IMAGES, _LABELS, [2, 17]), {}, ValueError, "widths[1]"),
    (pixel_floors, (_IMAGES, _IMAGES[:, :, :2], _LABELS, [2]), {}, ValueError, "train_images"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(function, args, kwargs, error, name) -> None:
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)


def test_splits_keep_the_held_out_classes_out_of_training() -> None:
    from toposhape.studies.triplet.data import load_splits

    splits = load_splits("mnist", run.get_profile("smoke"))
    assert {name: len(s.labels) for name, s in splits.items()} == {
        "train": 600, "validation": 200, "test": 300, "database": 300
    }  # fmt: skip
    for name, split in splits.items():
        classes = range(5) if name in ("train", "validation") else range(5, 10)
        assert set(split.labels.tolist()) <= set(classes), name
        assert (
            split.images.dtype == torch.float32
            and 0 <= split.images.min() <= split.images.max() <= 1
        )
    assert splits["validation"].record["source"].startswith("MNIST test")  # no training image
    assert splits["train"].record["classes"] == "0–4" and splits["test"].record["classes"] == "5–9"
    again = load_splits("mnist", run.get_profile("smoke"))  # the same images for every seed
    assert torch.equal(again["train"].images, splits["train"].images)
