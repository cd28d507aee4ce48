"""The MSimCLR chapter: its model grid, the collapsed-head diagnostic, its report (tables,
figures, findings) and its scorecard claims."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_metric_learning.losses import NTXentLoss

from toposhape.contrastive import SimCLRModel, SmallConvNet, build_simclr
from toposhape.results import load_results
from toposhape.studies import scorecard, style
from toposhape.studies.msimclr import report
from toposhape.studies.msimclr import run as ms

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "msimclr.ipynb"


def test_model_keys_cover_the_grid_and_the_wide_head() -> None:
    settings = ms.get_profile("full")
    keys = ms.model_keys(settings)
    names = [key for key, *_ in keys]
    assert len(names) == len(set(names))
    dims, charts = settings["dims"], settings["charts"]
    assert len(keys) == len(dims) * (1 + len(charts)) + len(settings["wide_head_dims"])
    assert ("simclr-h64-d2", 0, 2, 64) in keys
    assert all(hidden is None for key, _, _, hidden in keys if not key.startswith("simclr-h"))


def test_wide_head_width_and_bad_width() -> None:
    model = build_simclr("tiny", 1, 16, dim=2, seed=0, hidden=64)
    assert model.head[0].weight.shape == (64, 2) and model.config["hidden"] == 64
    assert "hidden" not in build_simclr("tiny", 1, 16, dim=2, seed=0).config
    with pytest.raises(ValueError, match="hidden"):
        SimCLRModel(SmallConvNet(1, 16), dim=2, hidden=0)


def test_a_head_with_one_unit_alive_has_collapsed() -> None:
    model = SimCLRModel(SmallConvNet(1, 16), dim=2)
    emb = torch.randn(64, 2)
    with torch.no_grad():
        model.head[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    emb[:, 0] = emb[:, 0].abs() + 0.1  # unit 1 is positive, unit 2 negative on every point
    assert ms.alive_units(model, emb) == 1
    projections = model.head(emb).requires_grad_(True)
    labels = torch.arange(32).repeat(2)
    loss = NTXentLoss(temperature=0.5)(projections, labels)
    assert float(loss.detach()) == pytest.approx(math.log(2 * 32 - 1), abs=1e-4)  # log(2B − 1)
    (grad,) = torch.autograd.grad(loss, projections)
    assert grad.abs().max() < 1e-5, "a collapsed head passes no gradient back"
    emb[:5, 0] = -emb[:5, 0]  # unit 2 now fires on five points
    assert ms.alive_units(model, emb) == 2


def _payload(acc: dict[str, float], settings: dict | None = None) -> dict:
    """A complete payload of ``settings`` (smoke's with k ∈ {1, 2, 4} by default), every
    model at accuracy ``acc[key]`` (0.5 where absent), without training anything."""
    settings = settings or ms.get_profile("smoke") | {"dims": [2], "charts": [1, 2, 4]}
    rng = np.random.default_rng(0)
    n = 60
    models = {}
    for key, k, d, hidden in ms.model_keys(settings):
        models[key] = {
            "accuracy": acc.get(key, 0.5), "charts": k, "dim": d, "hidden": hidden,
            "history": [{"ntxent": 4.0, "loss": 4.0, "seconds": 30.0}] * 2,
            "alive_units": 1 if k == 0 else None, "test_counts": [5] * k,
        }  # fmt: skip
        if d == 2:
            models[key]["points"] = rng.random((n, 2)).tolist()
            if k:
                models[key]["point_charts"] = (np.arange(n) % k).tolist()
    entry = {
        "models": models, "labels": (np.arange(n) % 10).tolist(),
        "collapsed_at_init": {f"d{d}": 0.5 for d in settings["dims"]},
        "train_images": 10240, "test_images": 5 * 4,
    }  # fmt: skip
    datasets = dict.fromkeys(settings["datasets"], entry)
    return {"profile": "x", "settings": settings, "datasets": datasets,
            "timings_s": dict.fromkeys(datasets, 60.0)}  # fmt: skip


def test_findings_answer_each_claim_from_the_numbers() -> None:
    acc = {"simclr-d2": 0.5, "simclr-h64-d2": 0.7, "msimclr-k1-d2": 0.6,
           "msimclr-k2-d2": 0.55, "msimclr-k4-d2": 0.45}  # fmt: skip
    lines = report.findings(_payload(acc))
    assert "**no** for every k, **yes** for the best k (k = 2: 55.00 vs 50.00 %" in lines[0]
    assert "helps SimCLR: **yes** (60.00 vs 50.00 %" in lines[1]
    assert "width 64: **no** (60.00 vs 70.00 %)" in lines[2]


def test_tables_are_data_frames_of_the_numbers() -> None:
    acc = {"simclr-d2": 0.5, "simclr-h64-d2": 0.7, "msimclr-k1-d2": 0.6,
           "msimclr-k2-d2": 0.55, "msimclr-k4-d2": 0.45}  # fmt: skip
    tables = report.tables(_payload(acc))
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    row = tables["accuracy"].iloc[0].to_dict()
    assert row.pop("dataset") == "MNIST"
    assert row == pytest.approx({
        "d": 2, "SimCLR": 50.0, "SimCLR, head width 64": 70.0, "MSimCLR k = 1": 60.0,
        "MSimCLR k = 2": 55.0, "MSimCLR k = 4": 45.0, "best MSimCLR (k > 1) − better SimCLR": -15.0,
    })  # fmt: skip
    collapse = tables["collapse"]
    assert collapse["units alive after training"].tolist() == ["1 / 2", "1 / 64"]
    fresh = collapse["fresh heads collapsed (of 4 seeds)"]
    assert fresh.iloc[0] == 2 and pd.isna(fresh.iloc[1])
    charts = tables["charts"]
    assert charts["k"].tolist() == [2, 4]
    assert charts["largest chart's share (%)"].tolist() == [50.0, 25.0]
    assert charts["uniform share (%)"].tolist() == [50.0, 25.0]
    assert all("|" not in str(cell) for t in tables.values() for cell in t.to_numpy().ravel())


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_every_figure_is_drawn_at_page_width_with_legible_text(profile) -> None:
    payload = _payload({}, ms.get_profile(profile))
    figures = report.figures(payload)
    embeddings = [f"embedding-{d}" for d in payload["settings"]["datasets"]]
    assert list(figures) == ["accuracy", "chart-use", *embeddings]
    for key, fig in figures.items():
        style.check_figure(fig, key)
        assert fig.get_size_inches()[1] <= 8.0, key
    # one grid per dataset: every d = 2 model of the profile has its panel(s) on it
    charts = payload["settings"]["charts"]
    panels = 2 + sum(charts)  # two SimCLR heads, one panel per chart of every MSimCLR
    grid = figures[embeddings[0]]
    assert sum(len(ax.collections) > 0 for ax in grid.get_axes()) == panels


def test_embedding_bands_pack_small_groups_on_one_row() -> None:
    columns = report.COLUMNS
    assert report._bands([3, 2, 4, 8]) == [[0, 1], [2], [3]]
    assert report._bands([3, columns]) == [[0], [1]]
    assert report._bands([1, 1, 1]) == [[0, 1, 2]]


def test_budget_share_is_images_seen_over_the_reference() -> None:
    payload = _payload({}, ms.get_profile("full"))
    assert report.budget_share(payload, "mnist") == pytest.approx(2 * 10240 / (100 * 60000))
    assert "160 steps per model (0.34 %" in report.setup(payload)


def _low_d(acc: dict[str, float]) -> scorecard.Claim:
    settings = ms.get_profile("full")
    claims = report.claims(lambda p: _payload(acc, settings) if p == "full" else None)
    return claims[0]


def test_low_d_claim_counts_wins_over_the_better_simclr() -> None:
    settings = ms.get_profile("full")
    base = {key: 0.5 for key, *_ in ms.model_keys(settings)}
    # + 3 points at every d: a win everywhere, but one seed at 0.3 % of the budget
    every = base | {f"msimclr-k8-d{d}": 0.53 for d in settings["dims"]}
    claim = _low_d(every)
    assert claim.verdict == "partly" and claim.seeds == 1
    assert "+3.0 at d = 2 (k = 8), +3.0 at d = 4 (k = 8), +3.0 at d = 8 (k = 8)" in claim.measured
    # a win at d = 2 over the reference head only: the width-64 head is as good
    assert _low_d(base | {"msimclr-k8-d2": 0.53, "simclr-h64-d2": 0.53}).verdict == (
        "not reproduced"
    )
    # wins at d = 2 and 4 (most of the d) -> partly; by less than 2 points -> no win
    assert _low_d(base | {"msimclr-k2-d2": 0.6, "msimclr-k4-d4": 0.6}).verdict == "partly"
    assert _low_d(base | {"msimclr-k2-d2": 0.6, "msimclr-k4-d4": 0.515}).verdict == (
        "not reproduced"
    )


def test_a_limited_budget_is_at_best_partly_and_reproduced_needs_everything() -> None:
    assert report._verdict(strong=True, weak=True, limited=False) == "reproduced"
    assert report._verdict(strong=True, weak=True, limited=True) == "partly"
    assert report._verdict(strong=False, weak=True, limited=False) == "partly"
    assert report._verdict(strong=False, weak=False, limited=False) == "not reproduced"
    for rule in (report._LOW_D_RULE, report._MMD_RULE):
        assert rule.endswith("with fewer seeds or less training the best verdict is partly.")


def test_mmd_claim_needs_a_lead_over_both_simclr_heads() -> None:
    settings = ms.get_profile("full")
    base = {key: 0.5 for key, *_ in ms.model_keys(settings)}

    def mmd(acc: dict[str, float]) -> str:
        found = report.claims(lambda p: _payload(acc, settings) if p == "full" else None)
        return found[3].verdict

    assert mmd(base | {"msimclr-k1-d2": 0.6}) == "partly"
    assert mmd(base | {"msimclr-k1-d2": 0.6, "simclr-h64-d2": 0.59}) == "not reproduced"
    assert mmd(base | {"msimclr-k1-d2": 0.515}) == "not reproduced"


def test_claims_without_results_say_why() -> None:
    found = report.claims(lambda profile: None)
    assert [c.verdict for c in found] == [
        "not run yet", "not run yet", "not runnable here", "not run yet", "not runnable here",
    ]  # fmt: skip
    assert all(c.measured == "–" and c.seeds == 0 for c in found)


def test_claims_on_the_committed_results_are_valid_and_point_at_the_notebook() -> None:
    found = report.claims(scorecard.chapter_loader(ms.CHAPTER))
    assert len(found) == 5
    frame = scorecard.frame(found)
    assert set(frame["verdict"]) <= set(scorecard.VERDICTS)
    assert {c.source for c in found} == {"korman"} and {c.chapter for c in found} == {"msimclr"}
    for claim in found:
        assert claim.verdict != "reproduced", "one seed at 0.3 % of the budget"
        if claim.verdict in ("partly", "not reproduced"):
            assert claim.seeds == 1 and "%" in claim.budget and claim.measured != "–"
    text = NOTEBOOK.read_text()
    for label in {c.section for c in found}:
        assert f"({label})=" in text, label


def test_the_notebook_places_every_figure_of_the_committed_results() -> None:
    record = load_results(ms.CHAPTER, "full")
    figures = report.figures(record["results"])
    for key, fig in figures.items():
        style.check_figure(fig, key)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    placed = re.findall(r"```\{glue:figure\} (\S+)\n:name: fig-msimclr-(\S+)\n:alt: \S", markdown)
    assert sorted(key for key, _ in placed) == sorted(figures)
    assert all(name == key for key, name in placed)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["metadata"].get("tags") for c in code), "every code cell says how it is shown"
    assert not any("markdown_table" in "".join(c["source"]) for c in code)


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


_SIMCLR = build_simclr("tiny", 1, 16, dim=2, seed=0)
_IMAGES = torch.rand(4, 1, 16, 16)
_SMOKE = ms.get_profile("smoke")

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (ms.get_profile, ("nope",), {}, ValueError, "profile"),
    (ms.get_profile, (None,), {}, TypeError, "profile"),
    (ms.work_dir, ("tiny",), {}, ValueError, "profile"),
    (ms.work_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (ms.model_keys, (None,), {}, TypeError, "settings"),
    (ms.model_keys, ({"dims": [2]},), {}, ValueError, "settings"),
    (ms.model_keys, (_SMOKE | {"dims": []},), {}, ValueError, "settings['dims']"),
    (ms.model_keys, (_SMOKE | {"dims": 2},), {}, TypeError, "settings['dims']"),
    (ms.model_keys, (_SMOKE | {"charts": [0]},), {}, ValueError, "settings['charts'][0]"),
    (ms.model_keys, (_SMOKE | {"wide_head": 0},), {}, ValueError, "settings['wide_head']"),
    (ms.model_keys, (_SMOKE | {"wide_head_dims": [2.0]},), {}, TypeError,
     "settings['wide_head_dims'][0]"),
    (ms.train_models, ("nope", "mnist"), {}, ValueError, "profile"),
    (ms.train_models, ("smoke", "cifar10"), {}, ValueError, "dataset"),
    (ms.train_models, ("smoke", 3), {}, TypeError, "dataset"),
    (ms.train_models, ("smoke", "mnist"), {"seed": -1}, ValueError, "seed"),
    (ms.train_models, ("smoke", "mnist"), {"results_root": 1}, TypeError, "results_root"),
    (ms.train_models, ("smoke", "mnist"), {"progress": None}, TypeError, "progress"),
    (ms.alive_units, (torch.nn.Linear(2, 2), torch.rand(5, 2)), {}, TypeError, "model"),
    (ms.alive_units, (_SIMCLR, [[0.0, 1.0]]), {}, TypeError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(5, 3)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(2)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(0, 2)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(5, 2, dtype=torch.float64)), {}, TypeError,
     "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.full((5, 2), math.nan)), {}, ValueError, "embeddings"),
    (ms.collapsed_heads, ({"dims": [2]}, _IMAGES, 2), {}, ValueError, "settings"),
    (ms.collapsed_heads, (_SMOKE | {"dims": [-2]}, _IMAGES, 2), {}, ValueError,
     "settings['dims'][0]"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES.to(torch.uint8), 2), {}, TypeError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[0], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[:0], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES + 1, 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[..., :12], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES, 0), {}, ValueError, "seeds"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES, 2.0), {}, TypeError, "seeds"),
    (ms.run, ("nope",), {}, ValueError, "profile"),
    (ms.run, ("smoke",), {"seed": 2**33}, ValueError, "seed"),
    (ms.run, ("smoke",), {"seed": "0"}, TypeError, "seed"),
    (ms.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (ms.run, ("smoke",), {"progress": "no"}, TypeError, "progress"),
    (ms.run, ("smoke",), {"log": 0}, TypeError, "log"),
    (report.figures, (None,), {}, TypeError, "payload"),
    (report.figures, ({},), {}, ValueError, "payload"),
    (report.tables, ([],), {}, TypeError, "payload"),
    (report.training_time, ("payload",), {}, TypeError, "payload"),
    (report.findings, ({"datasets": {}},), {}, ValueError, "payload"),
    (report.setup, ({"settings": {}},), {}, ValueError, "payload"),
    (report.leads, ({"settings": {}, "datasets": {"mnist": {}}}, "cifar10"), {}, ValueError,
     "dataset"),
    (report.budget_share, ({"settings": {}, "datasets": {"svhn": {}}}, "svhn"), {},
     ValueError, "dataset"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    monkeypatch.setattr(ms, "_data", _no_work)  # the first step of run() and train_models()
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)
