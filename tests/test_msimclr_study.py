"""The MSimCLR chapter: its grid and priority order, the convergence criterion, resumable and
extendable training, the committed per-model records, the probes and floors, the noise rule,
the report and the claims."""

import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.losses import NTXentLoss

from toposhape.contrastive import (
    ContrastiveConfig,
    SimCLRModel,
    SmallConvNet,
    build_simclr,
    features,
    knn_probe,
    linear_probe,
    representation,
    simclr_augment,
    train_contrastive,
)
from toposhape.studies import scorecard, style
from toposhape.studies.msimclr import budget, compare, evaluate, pairs, report, schedule
from toposhape.studies.msimclr import figures as draw
from toposhape.studies.msimclr import run as ms
from toposhape.training import read_checkpoint, tensor_digest

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "msimclr.ipynb"

# --------------------------------------------------------------------------- the grid


def test_the_full_grid_is_the_issues_and_trains_in_priority_order() -> None:
    settings = ms.get_profile("full")
    plan = schedule.training_plan(settings)
    names = [spec.name for spec in plan]
    assert len(names) == len(set(names)) == 2 * 2 * 5 * 3  # datasets × d × models × seeds
    assert names[:8] == [
        "mnist-simclr-d2-s0", "mnist-msimclr-k1-d2-s0", "mnist-msimclr-k4-d2-s0",
        "mnist-msimclr-k8-d2-s0", "fashion-mnist-simclr-d2-s0", "fashion-mnist-msimclr-k1-d2-s0",
        "fashion-mnist-msimclr-k4-d2-s0", "fashion-mnist-msimclr-k8-d2-s0",
    ]  # fmt: skip
    assert names[8:16] == [n.replace("d2", "d8") for n in names[:8]]
    assert names[16:20] == [
        "mnist-simclr-h64-d2-s0", "fashion-mnist-simclr-h64-d2-s0",
        "mnist-simclr-h64-d8-s0", "fashion-mnist-simclr-h64-d8-s0",
    ]  # fmt: skip
    assert [spec.seed for spec in plan] == [0] * 20 + [1] * 20 + [2] * 20
    assert names[20:40] == [n.replace("-s0", "-s1") for n in names[:20]]
    wide = [spec for spec in plan if spec.hidden is not None]
    assert {spec.hidden for spec in wide} == {64} and all(s.charts == 0 for s in wide)
    cifar = [spec.name for spec in schedule.training_plan(ms.get_profile("cifar10"))]
    assert cifar[:4] == [
        "cifar10-simclr-d2-s0", "cifar10-msimclr-k1-d2-s0", "cifar10-msimclr-k8-d2-s0",
        "cifar10-simclr-h64-d2-s0",
    ]  # fmt: skip
    assert len(cifar) == 12
    assert "cifar" not in ms.PROFILES  # the GPU-only profile is gone


def test_step_schedules_of_the_profiles() -> None:
    assert schedule.step_schedule(ms.get_profile("full")) == [3000, 4000, 5000, 6000]
    assert schedule.step_schedule(ms.get_profile("cifar10")) == [3000, 4000, 5000, 6000]
    assert schedule.step_schedule(ms.get_profile("smoke")) == [4, 6]
    assert schedule.next_steps(0, ms.get_profile("full")) == 3000
    assert schedule.next_steps(3500, ms.get_profile("full")) == 4000
    with pytest.raises(ValueError, match="done_steps"):
        schedule.next_steps(6000, ms.get_profile("full"))


# --------------------------------------------------------------------------- the criterion


def _oracle(losses: list[float], settings: dict) -> dict | None:
    """The criterion written out with numpy: stop at the first scheduled count whose last
    10 % of blocks improved on the 10 % before by at most the threshold, or at the cap."""
    block, arr = settings["block_steps"], np.asarray(losses, dtype=float)
    for total in range(settings["min_steps"], settings["max_steps"] + 1, settings["extend_steps"]):
        n = total // block
        if len(arr) < n:
            return None
        w = max(1, int(np.floor(settings["flat_window"] * n + 0.5)))
        last, prev = arr[n - w : n].mean(), arr[max(0, n - 2 * w) : n - w].mean()
        improvement = (prev - last) / abs(prev)
        if improvement <= settings["flat_threshold"] or total == settings["max_steps"]:
            return {"steps": total, "converged": bool(improvement <= settings["flat_threshold"])}
    return None


_SMALL = {
    "block_steps": 10,
    "min_steps": 50,
    "extend_steps": 50,
    "max_steps": 250,
    "flat_window": 0.1,
    "flat_threshold": 0.005,
}  # windows of 0.5 → 1, 1.5 → 2, 2.5 → 3 blocks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.5, 10.0), min_size=0, max_size=30))
def test_stop_point_matches_a_numpy_oracle(losses: list[float]) -> None:
    found, expected = schedule.stop_point(losses, _SMALL), _oracle(losses, _SMALL)
    if expected is None:
        assert found is None
    else:
        assert {k: found[k] for k in expected} == expected
        assert found["capped"] is not found["converged"]


def test_stop_point_on_flat_falling_and_short_curves() -> None:
    settings = ms.get_profile("full")  # blocks of 100 steps, windows of 3 to 6 blocks
    flat = [5.0] * 30
    stop = schedule.stop_point(flat, settings)
    assert stop["steps"] == 3000 and stop["converged"] and not stop["capped"]
    assert schedule.stop_point(flat[:29], settings) is None
    falling = list(5.0 * 0.99 ** np.arange(60))  # 1 % per block: never flat
    assert schedule.stop_point(falling[:30], settings) is None  # asks for 4000
    stop = schedule.stop_point(falling, settings)
    assert stop["steps"] == 6000 and stop["capped"] and not stop["converged"]
    # windows at 3000 steps: blocks 24-26 vs 27-29
    expected = (np.mean(falling[24:27]) - np.mean(falling[27:30])) / np.mean(falling[24:27])
    tail = falling[:30] + [falling[29]] * 10  # flat from block 30 on: stops at 4000
    stop = schedule.stop_point(tail, settings)
    assert stop["steps"] == 4000 and stop["converged"]
    assert schedule._flatness(falling, 30, 0.1)["relative_improvement"] == pytest.approx(expected)


# --------------------------------------------------------------------------- training


_TOY = ms.get_profile("smoke") | {
    "backbone": "tiny", "batch_size": 8, "block_steps": 2, "min_steps": 4, "extend_steps": 2,
    "max_steps": 8, "seeds": [0],
}  # fmt: skip


def _toy_images(n: int = 32) -> torch.Tensor:
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(0))


def _never_flat(monkeypatch) -> None:
    monkeypatch.setattr(
        schedule,
        "_flatness",
        lambda *_: {"last_mean": 1.0, "previous_mean": 2.0, "relative_improvement": 0.5},
    )


def test_fit_extends_until_the_cap_and_equals_one_uninterrupted_run(tmp_path, monkeypatch) -> None:
    _never_flat(monkeypatch)
    spec = schedule.ModelSpec("mnist", "msimclr-k2-d2", 2, 2, None, 0)
    images = _toy_images()
    assert ms.fit(spec, _TOY, images, tmp_path, train=False) is None
    fitted = ms.fit(spec, _TOY, images, tmp_path, train=True)
    assert fitted.criterion["steps"] == 8 and fitted.criterion["capped"]
    assert len(fitted.history) == 4 and not fitted.model.training
    # the same model trained for 8 steps in one call (4 blocks of 2)
    config = ContrastiveConfig(epochs=4, steps_per_epoch=2, batch_size=8, lr=_TOY["lr"],
                                  temperature=_TOY["temperature"], seed=0)  # fmt: skip
    once = ms._build(spec, _TOY, images)
    history = train_contrastive(once, images, simclr_augment(12, 1), config, progress=False)
    assert [h["loss"] for h in history] == [h["loss"] for h in fitted.history]
    for name, value in once.state_dict().items():
        assert torch.equal(value, fitted.model.state_dict()[name]), name
    # finished: loaded, not trained again, also with train=False
    again = ms.fit(spec, _TOY, images, tmp_path, train=False)
    assert again.history == fitted.history and again.criterion == fitted.criterion
    assert ms.model_status(spec, _TOY, tmp_path, tmp_path / "records") == (
        "trained (8 steps), no record"
    )


def test_fit_stops_at_the_minimum_when_flat_and_refuses_an_overlong_checkpoint(tmp_path) -> None:
    spec = schedule.ModelSpec("mnist", "simclr-d2", 0, 2, None, 0)
    flat = _TOY | {"flat_threshold": 100.0}  # any improvement counts as flat
    fitted = ms.fit(spec, flat, _toy_images(), tmp_path, train=True)
    assert fitted.criterion["steps"] == 4 and fitted.criterion["converged"]
    assert len(read_checkpoint(tmp_path / f"{spec.name}.pt").history) == 2
    shorter = flat | {"min_steps": 2, "max_steps": 2}
    with pytest.raises(ValueError, match="past the 2 at which"):
        ms.fit(spec, shorter, _toy_images(), tmp_path, train=False)


def test_an_interrupted_model_is_started_not_finished(tmp_path, monkeypatch) -> None:
    _never_flat(monkeypatch)
    spec = schedule.ModelSpec("mnist", "simclr-d2", 0, 2, None, 0)
    assert ms.model_status(spec, _TOY, tmp_path, tmp_path / "records") == "pending"
    config = ContrastiveConfig(epochs=3, steps_per_epoch=2, batch_size=8, lr=_TOY["lr"],
                                  temperature=_TOY["temperature"], seed=0)  # fmt: skip
    images = _toy_images()
    train_contrastive(ms._build(spec, _TOY, images), images, simclr_augment(12, 1), config,
                         checkpoint=tmp_path / f"{spec.name}.pt", progress=False)  # fmt: skip
    assert ms.model_status(spec, _TOY, tmp_path, tmp_path / "records") == "partial (6 steps)"
    assert ms.fit(spec, _TOY, images, tmp_path, train=False) is None
    assert ms.fit(spec, _TOY, images, tmp_path, train=True).criterion["steps"] == 8


def _fake_data(n_train: int = 48, n_test: int = 40) -> ms.Data:
    g = torch.Generator().manual_seed(1)
    record = {"label": "MNIST x: fake", "images": 0, "of": 0, "fingerprint": "f", "layout": "-",
              "source": None}  # fmt: skip
    return ms.Data(
        torch.rand(n_train, 1, 12, 12, generator=g), torch.arange(n_train) % 4,
        torch.rand(n_test, 1, 12, 12, generator=g), torch.arange(n_test) % 4,
        {"train": record | {"images": n_train, "of": n_train, "fingerprint": "a"},
         "test": record | {"images": n_test, "of": n_test, "fingerprint": "b"}},
    )  # fmt: skip


def test_train_runs_the_plan_once_and_locks_skip_models_of_running_processes(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(ms.PROFILES, "smoke", _TOY | {"flat_threshold": 100.0})
    monkeypatch.setattr(ms, "load_data", lambda *_: _fake_data())
    plan = [spec.name for spec in schedule.training_plan(ms.get_profile("smoke"))]
    folder = ms.work_dir("smoke", tmp_path)
    folder.mkdir(parents=True)
    (folder / f"{plan[1]}.lock").write_text("1")  # process 1 runs: that model is skipped
    (folder / f"{plan[2]}.lock").write_text(str(2**22 + 12345))  # no such process: stale
    lines = []
    trained = ms.train("smoke", results_root=tmp_path, progress=False, log=lines.append)
    assert trained == [plan[0], *plan[2:]]
    assert "another process is training it" in lines[1]
    assert not (folder / f"{plan[2]}.lock").exists()
    records = ms.record_dir("smoke", tmp_path)
    assert sorted(path.stem for path in records.iterdir()) == sorted(trained)
    settings = ms.get_profile("smoke")
    specs = schedule.training_plan(settings)
    status = [ms.model_status(spec, settings, folder, records) for spec in specs]
    assert status == ["done", "pending", *["done"] * (len(plan) - 2)]
    (folder / f"{plan[1]}.lock").unlink()
    assert ms.train("smoke", only="*-simclr-d2-*", results_root=tmp_path, log=None) == []
    assert ms.train("smoke", results_root=tmp_path, log=None, progress=False) == [plan[1]]
    with pytest.raises(ValueError, match=r"^only='nothing' matches no model"):
        ms.train("smoke", only="nothing", results_root=tmp_path)


def test_the_command_line_lists_the_plan() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "toposhape.studies.msimclr.run", "train", "cifar10", "--list",
         "--only", "*-s2"],
        capture_output=True, text=True, check=True, env=os.environ | {"PYTHONPATH": os.getcwd()},
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert out.stdout.splitlines()[0].startswith("cifar10-simclr-d2-s2: ")
    assert len(out.stdout.splitlines()) == 4


# --------------------------------------------------------------------------- evaluation


def test_a_head_with_one_unit_alive_has_collapsed() -> None:
    model = SimCLRModel(SmallConvNet(1, 16), dim=2)
    emb = torch.randn(64, 2)
    with torch.no_grad():
        model.head[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    emb[:, 0] = emb[:, 0].abs() + 0.1  # unit 1 is positive, unit 2 negative on every point
    assert evaluate.alive_units(model, emb) == 1
    projections = model.head(emb).requires_grad_(True)
    labels = torch.arange(32).repeat(2)
    loss = NTXentLoss(temperature=0.5)(projections, labels)
    assert float(loss.detach()) == pytest.approx(math.log(2 * 32 - 1), abs=1e-4)  # log(2B − 1)
    (grad,) = torch.autograd.grad(loss, projections)
    assert grad.abs().max() < 1e-5, "a collapsed head passes no gradient back"
    emb[:5, 0] = -emb[:5, 0]  # unit 2 now fires on five points
    assert evaluate.alive_units(model, emb) == 2


def _low_rank_images(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """n images (n, 1, 12, 12) near a 3-dim subspace, the class shifting one direction."""
    basis = np.random.default_rng(0).normal(size=(3, 144))
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 3)) + 3 * np.eye(3)[y]) @ basis / 40 + 0.5
    return torch.tensor(x, dtype=torch.float32).reshape(n, 1, 12, 12).clamp(0, 1), y


def test_the_pca_floor_is_the_probes_on_the_principal_components() -> None:
    (xa, ya), (xb, yb) = _low_rank_images(300, 0), _low_rank_images(100, 1)
    data = ms.Data(xa, torch.tensor(ya), xb, torch.tensor(yb), {})
    flat = xa.flatten(1).double().numpy()
    mean = flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)  # the oracle: exact SVD
    train, test = (flat - mean) @ vt[:2].T, (xb.flatten(1).double().numpy() - mean) @ vt[:2].T
    found = evaluate.pca_floor(data, 2, neighbours=5)
    assert found["linear"] == pytest.approx(linear_probe(train, ya, test, yb), abs=0.02)
    assert found["knn"] == pytest.approx(knn_probe(train, ya, test, yb, 5), abs=0.02)


def test_records_score_models_and_floors_with_the_same_probes(tmp_path) -> None:
    settings = _TOY | {"flat_threshold": 100.0, "plot_points": 7, "knn": 3, "init_seeds": 2}
    data = _fake_data()
    fitted, records = {}, {}
    for key, k, d, hidden in schedule.model_keys(settings):
        spec = schedule.ModelSpec("mnist", key, k, d, hidden, 0)
        fitted[spec] = ms.fit(spec, settings, data.train_x, tmp_path, train=True)
        records[spec] = evaluate.model_record(spec, fitted[spec], data, 3, 7)
    base = evaluate.dataset_record(settings, data)
    entry = evaluate.dataset_entry("mnist", settings, base, records)
    assert set(entry["models"]) == {key for key, *_ in schedule.model_keys(settings)}
    for model in entry["models"].values():
        run = model["seeds"]["0"]
        assert 0 <= run["linear"] <= 1 and 0 <= run["knn"] <= 1
        assert len(run["points"]) == 7 and run["criterion"]["steps"] == 4
        assert ("alive_units" in run) == (model["charts"] == 0)
        if model["charts"]:
            assert sum(run["test_counts"]) == 40 and len(run["point_charts"]) == 7
    # an oracle for one model: the probes on its representation computed here
    spec = next(s for s in fitted if s.key == "msimclr-k2-d2")
    model = fitted[spec].model
    rep = [representation(model, features(model, x)) for x in (data.train_x, data.test_x)]
    run = entry["models"]["msimclr-k2-d2"]["seeds"]["0"]
    assert run["knn"] == knn_probe(rep[0], data.train_y, rep[1], data.test_y, 3)
    assert run["linear"] == linear_probe(rep[0], data.train_y, rep[1], data.test_y, 0)
    assert records[spec]["data"] == {"train": "a", "test": "b"}
    # the weights' digest is the formula the committed records were written with
    state = model.state_dict()
    assert records[spec]["weights"] == tensor_digest(*(state[name] for name in sorted(state)))
    # the untrained floor: the initial weights of the seed's reference SimCLR
    fresh = ms._build(
        schedule.ModelSpec("mnist", "simclr-d2", 0, 2, None, 0), settings, data.train_x
    )
    emb = [features(fresh.eval(), x)["embedding"] for x in (data.train_x, data.test_x)]
    untrained = entry["floors"]["random"]["d2"]["0"]
    assert untrained["knn"] == knn_probe(emb[0], data.train_y, emb[1], data.test_y, 3)
    assert set(entry["floors"]["random"]["d2"]) == {"0"} and "knn" in entry["floors"]["pca"]["d2"]
    assert entry["labels"] == data.test_y[:7].tolist()
    assert entry["train"] == data.records["train"] and set(entry["collapsed_at_init"]) == {"d2"}
    # a model record made from other files than the dataset's record is refused
    other = records | {spec: records[spec] | {"data": {"train": "a", "test": "c"}}}
    with pytest.raises(ValueError, match=r"^the record of mnist-msimclr-k2-d2-s0 was made from"):
        evaluate.dataset_entry("mnist", settings, base, other)


def _counted(monkeypatch, name: str) -> list:
    """Replace ``ms.<name>`` by a wrapper that lists its first argument at every call."""
    calls, real = [], getattr(ms, name)

    def wrapper(first, *args, **kwargs):
        calls.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(ms, name, wrapper)
    return calls


def _stable(payload: dict) -> str:
    """The payload as JSON without the seconds this call took."""
    return json.dumps({k: v for k, v in payload.items() if k != "timings_s"}, sort_keys=True)


def test_run_records_every_model_and_builds_the_payload_from_records_alone(
    tmp_path, monkeypatch
) -> None:
    settings = _TOY | {"flat_threshold": 100.0, "plot_points": 7, "knn": 3, "init_seeds": 2,
                       "seeds": [0, 1]}  # fmt: skip
    monkeypatch.setitem(ms.PROFILES, "smoke", settings)
    monkeypatch.setattr(ms, "load_data", lambda *_: _fake_data())
    fits, loads = _counted(monkeypatch, "fit"), _counted(monkeypatch, "load_data")
    plan = schedule.training_plan(settings)
    names = [spec.name for spec in plan]
    work, records = ms.work_dir("smoke", tmp_path), ms.record_dir("smoke", tmp_path)
    assert records == tmp_path / "msimclr" / "smoke" / "records"
    first = ms.run("smoke", results_root=tmp_path, log=None, train_missing=True)
    assert [spec.name for spec in fits] == names and loads == ["mnist"]
    assert sorted(path.name for path in records.iterdir()) == sorted(
        [f"{name}.json" for name in names] + ["mnist-floors.json"]
    )
    assert all(path.stat().st_size < 300_000 for path in records.iterdir())
    assert first["missing"] == []
    runs = first["datasets"]["mnist"]["models"]["msimclr-k2-d2"]["seeds"]
    assert list(runs) == ["0", "1"] and len(runs["0"]["points"]) == 7 and runs["1"]["points"] == []
    # a fresh machine: no checkpoint, no data read, nothing trained; the same payload
    shutil.rmtree(work)
    fits.clear(), loads.clear()
    again = ms.run("smoke", results_root=tmp_path, log=None, train_missing=True)
    assert fits == [] and loads == []
    assert _stable(again) == _stable(first)
    assert ms.train("smoke", results_root=tmp_path, log=None) == [] and fits == []
    assert {ms.model_status(spec, settings, work, records) for spec in plan} == {"done"}
    # a finished checkpoint without its record: loaded and recorded, not trained
    (records / f"{names[0]}.json").unlink()
    ms.train("smoke", only=names[0], results_root=tmp_path, progress=False, log=None)
    (records / f"{names[0]}.json").unlink()
    fits.clear()
    assert ms.run("smoke", results_root=tmp_path, log=None, train_missing=False)["missing"] == []
    assert [spec.name for spec in fits] == [names[0]]
    # a changed key (here the learning rate) on a fresh machine: every model is pending,
    # then trained again
    shutil.rmtree(work)
    changed = settings | {"lr": 2e-3}
    monkeypatch.setitem(ms.PROFILES, "smoke", changed)
    fits.clear()
    pending = ms.run("smoke", results_root=tmp_path, log=None, train_missing=False)
    assert pending["missing"] == names and fits == []
    assert pending["datasets"]["mnist"]["floors"] == first["datasets"]["mnist"]["floors"]
    retrained = ms.run("smoke", results_root=tmp_path, log=None, train_missing=True)
    assert [spec.name for spec in fits] == names and retrained["missing"] == []
    saved = json.loads((records / f"{names[0]}.json").read_text())
    assert saved["key"] == json.loads(json.dumps(ms.model_key(plan[0], changed)))
    assert saved["key"]["settings"]["lr"] == 2e-3


# --------------------------------------------------------------------------- the noise rule


def test_the_noise_rule_against_statistics() -> None:
    a, b = [60.0, 61.0, 62.5], [55.0, 56.0, 58.0]
    pooled = math.sqrt((statistics.stdev(a) ** 2 + statistics.stdev(b) ** 2) / 2)
    found = compare.compare(a, b)
    assert found.diff == pytest.approx(statistics.mean(a) - statistics.mean(b))
    assert found.margin == pytest.approx(max(2 * pooled, 1.0))
    assert found.outcome == "wins" and found.seeds == 3
    assert compare.compare(b, a).outcome == "loses"
    assert compare.compare([50.0] * 2, [50.9] * 2).outcome == "within noise"  # the 1-point floor
    assert compare.compare([52.0] * 2, [50.9] * 2).outcome == "wins"
    assert compare.compare([60, 70, 50], [55, 56, 57]).outcome == "within noise"  # wide seeds
    with pytest.raises(ValueError, match="values must not be empty"):
        compare.compare([], [1.0])


def test_one_seed_is_too_few_to_compare_except_against_an_exact_value() -> None:
    # one seed has no spread to measure against: no outcome and no margin, however large
    # the difference (the old rule called +80 points a win from one seed)
    for a, b in (([90.0], [10.0, 11.0]), ([90.0, 91.0], [10.0]), ([90.0], [10.0])):
        found = compare.compare(a, b)
        assert found.outcome == compare.TOO_FEW == "too few seeds"
        assert math.isnan(found.margin) and found.seeds == 1
        assert found.diff == pytest.approx(statistics.mean(a) - statistics.mean(b))
    # an exact B (PCA of the pixels) needs no seeds and pools as a spread of 0: the margin
    # is 2 sqrt(s^2 / 2) = sqrt(2) s, so +5 with s = 3 wins (it would not against 2 s = 6)
    a = [42.0, 45.0, 48.0]
    found = compare.compare(a, [40.0], exact=True)
    assert found.margin == pytest.approx(math.sqrt(2) * statistics.stdev(a))
    assert found.outcome == "wins" and found.seeds == 3
    assert compare.compare([45.0], [40.0], exact=True).outcome == compare.TOO_FEW
    assert compare.compare([45.0, 45.0], [40.0], exact=True).outcome == "wins"


# --------------------------------------------------------------------------- report


def _payload(acc: dict, settings: dict | None = None, seeds: int = 3, capped: bool = False,
             untrained: tuple = ()) -> dict:  # fmt: skip
    """A payload of ``settings`` (full's by default) whose models have linear and k-NN
    accuracy ``acc.get(key, 50)`` % ± 0.3 over ``seeds`` seeds, without training anything;
    the models named in ``untrained`` are missing."""
    settings = settings or ms.get_profile("full")
    seed_ids = settings["seeds"][:seeds]
    n = 40
    rng = np.random.default_rng(0)
    datasets, missing = {}, []
    for dataset in settings["datasets"]:
        models = {}
        for key, k, d, hidden in schedule.model_keys(settings):
            runs = {}
            for i, seed in enumerate(seed_ids):
                if key in untrained:
                    missing.append(f"{dataset}-{key}-s{seed}")
                    continue
                value = (acc.get(key, 50.0) + 0.3 * (i - 1)) / 100
                steps = settings["max_steps"] if capped else settings["min_steps"]
                blocks = steps // settings["block_steps"]
                run = {"linear": value, "knn": value, "criterion": {
                    "steps": steps, "capped": capped, "converged": not capped,
                    "relative_improvement": 0.001, "threshold": 0.005,
                    "last_mean": 4.0, "previous_mean": 4.0},
                    "history": [{"loss": 4.0, "ntxent": 4.0, "seconds": 1.0}] * blocks}  # fmt: skip
                if k:
                    run |= {"chart_probe": value, "test_counts": [n // k] * k}
                else:
                    run["alive_units"] = 1
                if d == 2 and seed == settings["seeds"][0]:
                    run["points"] = rng.random((n, 2)).tolist()
                    if k:
                        run["point_charts"] = (np.arange(n) % k).tolist()
                runs[str(seed)] = run
            models[key] = {"charts": k, "dim": d, "hidden": hidden, "seeds": runs}
        record = {"label": "MNIST train: 60000 IDX", "images": 60000, "of": 60000}
        datasets[dataset] = {
            "train": record, "test": record | {"label": "MNIST test: 10000 IDX"},
            "models": models,
            "floors": {"pca": {f"d{d}": {"linear": 0.4, "knn": 0.45} for d in settings["dims"]},
                       "random": {f"d{d}": {str(s): {"linear": 0.2, "knn": 0.2} for s in seed_ids}
                                  for d in settings["dims"]}},
            "labels": (np.arange(n) % 10).tolist(),
            "collapsed_at_init": {f"d{d}": 0.5 for d in settings["dims"]},
        }  # fmt: skip
    for spec in schedule.training_plan(settings):
        if spec.seed not in seed_ids:
            missing.append(spec.name)
    return {"profile": "x", "settings": settings, "datasets": datasets, "missing": missing,
            "timings_s": {}}  # fmt: skip


def _claims(full: dict | None = None, cifar: dict | None = None) -> list[scorecard.Claim]:
    return report.claims(lambda p: {"full": full, "cifar10": cifar}[p])


_WIN = {"msimclr-k8-d2": 60.0, "msimclr-k8-d8": 60.0, "msimclr-k1-d2": 62.0}


def test_low_d_claim_needs_wins_under_both_probes_at_every_d_with_three_converged_seeds() -> None:
    assert _claims(_payload(_WIN))[0].verdict == "reproduced"
    assert _claims(_payload(_WIN, capped=True))[0].verdict == "partly"
    assert _claims(_payload(_WIN, seeds=2))[0].verdict == "partly"  # short of 3 seeds
    single = _claims(_payload(_WIN, seeds=1))[0]  # one seed: nothing can be compared
    assert single.verdict == "not run yet" and single.seeds == 1
    assert single.measured.startswith("1 of 3 seeds, too few to compare; points: d = 2:")
    only_d2 = _payload({"msimclr-k8-d2": 60.0})
    assert _claims(only_d2)[0].verdict == "partly"
    # the better SimCLR is the wide head: as good as the best atlas -> within noise
    assert (
        _claims(_payload(_WIN | {"simclr-h64-d2": 60.0, "simclr-h64-d8": 60.0}))[0].verdict
        == "within noise"
    )
    # the wide head ahead beyond noise at every d: lost
    assert (
        _claims(_payload(_WIN | {"simclr-h64-d2": 70.0, "simclr-h64-d8": 70.0}))[0].verdict
        == "not reproduced"
    )
    # 1.5 points ahead with tiny seed spread: a win only because it exceeds the 1-point floor
    assert _claims(_payload({"msimclr-k4-d2": 51.5, "msimclr-k4-d8": 51.5}))[0].verdict == (
        "reproduced"
    )
    claim = _claims(_payload(_WIN))[0]
    assert "d = 2: MSimCLR, k = 8 − SimCLR +10.0 linear, +10.0 k-NN" in claim.measured
    assert claim.seeds == 3 and "6.4–6.4" not in claim.budget and "6.4 %" in claim.budget
    # the claim names the dims run (MNIST: 2 and 8, so "every d" is not one d)
    assert claim.claim == (
        "At low dimension d (here d = 2 and 8), MSimCLR beats SimCLR at the same d on MNIST."
    )


def test_mmd_claim_needs_a_drastic_win_over_both_heads() -> None:
    def mmd(acc: dict, **kwargs) -> str:
        return _claims(_payload(acc, **kwargs))[3].verdict

    assert mmd({"msimclr-k1-d2": 60.0}) == "reproduced"
    assert mmd({"msimclr-k1-d2": 53.0}) == "partly"  # wins, but by under 5 points
    assert mmd({"msimclr-k1-d2": 60.0, "simclr-h64-d2": 59.0}) == "within noise"
    assert mmd({"msimclr-k1-d2": 60.0, "simclr-h64-d2": 65.0}) == "not reproduced"
    assert mmd({"msimclr-k1-d2": 60.0}, untrained=("simclr-h64-d2",)) == "partly"
    assert mmd({"msimclr-k1-d2": 60.0}, untrained=("simclr-d2",)) == "not run yet"
    assert mmd({"msimclr-k1-d2": 60.0}, seeds=1) == "not run yet"


def test_the_mmd_claim_names_the_comparison_that_limits_its_verdict() -> None:
    def measured(acc: dict, **kwargs) -> str:
        return _claims(_payload(acc, **kwargs))[3].measured

    assert "limited by" not in measured({"msimclr-k1-d2": 60.0})  # reproduced: nothing limits
    # within noise of the wide head, a clear win over the reference head
    text = measured({"msimclr-k1-d2": 60.0, "simclr-h64-d2": 59.5})
    assert text.endswith(
        "; limited by SimCLR, width-64 head: linear +0.5 (within noise, margin 1.0)"
    )
    # a loss limits before a tie: the reference head ahead beyond noise
    text = measured({"msimclr-k1-d2": 60.0, "simclr-h64-d2": 59.5, "simclr-d2": 70.0})
    assert "limited by SimCLR: linear -10.0 (loses, margin 1.0)" in text
    # wins over both, but by under 5 points over the reference head
    text = measured({"msimclr-k1-d2": 53.0, "simclr-h64-d2": 40.0})
    assert text.endswith("; limited by SimCLR: linear +3.0, not more than 5 points")
    text = measured({"msimclr-k1-d2": 60.0}, untrained=("simclr-h64-d2",))
    assert text.endswith("; limited by SimCLR, width-64 head: not trained")
    assert measured({"msimclr-k1-d2": 60.0}, seeds=2).endswith(
        "; limited by fewer than 3 seeds or a capped model"
    )


def test_claims_without_results_are_not_run_yet() -> None:
    found = _claims()
    assert [c.verdict for c in found] == ["not run yet"] * 5
    assert all(c.measured == "–" and c.seeds == 0 for c in found)
    empty = _claims(ms.empty_payload("full"), ms.empty_payload("cifar10"))
    assert [c.verdict for c in empty] == ["not run yet"] * 5
    cifar = _claims(cifar=_payload(_WIN, ms.get_profile("cifar10")))
    assert [c.verdict for c in cifar] == ["not run yet"] * 2 + ["reproduced"] + [
        "not run yet", "reproduced"]  # fmt: skip
    assert cifar[2].section == cifar[4].section == "msimclr-cifar"
    assert "390,625 steps" in cifar[2].reference and "0.77 %" in cifar[2].budget
    # CIFAR-10 runs d = 2 alone: the claim says so, its text built from the dims run
    assert cifar[2].claim == "At d = 2, MSimCLR beats SimCLR on CIFAR-10."
    assert _claims()[2].claim == cifar[2].claim  # the same before anything is run
    single = _claims(cifar=_payload(_WIN, ms.get_profile("cifar10"), seeds=1))
    assert [c.verdict for c in single[2::2]] == ["not run yet"] * 2
    assert all(c.measured.startswith("1 of 3 seeds, too few to compare; ") for c in single[2::2])


def test_findings_tables_and_missing_come_from_the_payload() -> None:
    payload = _payload(_WIN, untrained=("simclr-h64-d8",))
    lines = report.findings(payload)
    assert "MNIST, d = 2: MSimCLR beats SimCLR under both probes: **yes**" in lines[0]
    assert any("beats SimCLR, width-64 head: **yes**, drastically (> 5 points): **yes**" in line
               for line in lines)  # fmt: skip
    assert any(line.startswith("MNIST, d = 2, MSimCLR, k = 1 (MMD alone) against the floors")
               and "linear probe: − PCA of the pixels +22.0 "
               "(clears it, margin 1.0), − untrained network +42.0 (clears it" in line
               for line in lines)  # fmt: skip
    # every model a claim reads is held against the floors, the wide head and the one-chart
    # model included; a model no claim reads (k = 4, beaten by k = 8) is not
    compared = {line.split(", ", 2)[2].split(" against the floors")[0]
                for line in lines if line.startswith("MNIST, d = 2, ")
                and "against the floors" in line}  # fmt: skip
    assert compared == {"SimCLR", "SimCLR, width-64 head", "MSimCLR, k = 1 (MMD alone)",
                        "MSimCLR, k = 8"}  # fmt: skip
    tables = report.tables(payload)
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    acc = tables["accuracy"]
    row = acc[(acc["dataset"] == "MNIST") & (acc["d"] == 2)
              & (acc["representation"] == "MSimCLR, k = 8")].iloc[0]  # fmt: skip
    assert row["linear probe (%)"] == "60.0 ± 0.3" and row["stopped by"] == "3 criterion, 0 cap"
    assert set(acc["representation"]) >= {"PCA of the pixels", "untrained network"}
    outcomes = tables["comparisons"]["outcome"]
    assert "A wins" in set(outcomes) and "not trained" not in set(outcomes)
    collapse = tables["collapse"]
    assert collapse["head units alive after training, per seed"].iloc[0] == "1, 1, 1 of 2"
    assert len(collapse) == 2 * 10  # every model of both datasets, MSimCLR included
    assert tables["charts"]["uniform share (%)"].tolist() == [25.0, 12.5] * 4
    text = report.missing(payload)
    assert text.startswith("**6 of the 60 models")
    assert "seed 0: `mnist-simclr-h64-d8`, `fashion-mnist-simclr-h64-d8`" in text
    assert report.missing(_payload({})) == "All 60 models of the profile are trained and evaluated."
    assert (
        "3000 steps of batch 128 (6.4 epochs of the 60,000 training images; 6.4 % of the "
        "reference's 46,875 steps)" in report.setup(payload)
    )


def test_a_stuck_contrastive_term_is_counted_and_the_one_chart_model_meets_the_floor() -> None:
    payload = _payload(_WIN)
    bound = math.log(2 * payload["settings"]["batch_size"] - 1)
    runs = payload["datasets"]["mnist"]["models"]["msimclr-k1-d2"]["seeds"]
    for i, run in enumerate(runs.values()):  # two seeds stuck, one 0.02 nats below the bound
        run["history"] = [{**h, "ntxent": bound - (0.02 if i == 2 else 0.001)}
                          for h in run["history"]]  # fmt: skip
    collapse = report.tables(payload)["collapse"]
    stuck = collapse.filter(like="seeds stuck").columns[0]
    rows = collapse[(collapse["model"] == "MSimCLR, k = 1 (MMD alone)") & (collapse["d"] == 2)]
    assert rows[stuck].tolist() == ["2 of 3", "0 of 3"]  # MNIST, then Fashion-MNIST
    assert rows["head units alive after training, per seed"].tolist() == ["–", "–"]
    line = next(x for x in report.findings(payload) if "stuck at log(2B − 1)" in x)
    assert line.startswith("MNIST, d = 2") and "in 2 of 3 seeds" in line
    head = next(x for x in report.findings(payload) if "narrow design" in x)
    assert head.startswith("MNIST: the one-chart model's chart head has the reference's")
    assert "stuck at log(2B − 1) in 2 of 3 seeds at d = 2, 0 of 3 seeds at d = 8" in head
    assert "confounds the head's width with the MMD term" in head
    assert "62.0 ± 0.3 % (3 seeds) against an untrained network's 20.0 ± 0.0 % (3 init" in line
    # one seed: its single value and "1 seed", no spread of 0 made up for it
    line = next(x for x in report.findings(_payload(_WIN, seeds=1)) if "stuck at log(2B" in x)
    assert "its linear probe 61.7 % (1 seed) against" in line and "± 0.0" not in line
    assert "an untrained network's 20.0 % (1 initialisation)" in line


def test_the_reference_head_stuck_is_counted_and_held_against_the_untrained_network() -> None:
    payload = _payload(_WIN)
    line = next(x for x in report.findings(payload) if "reference head is stuck" in x)
    assert line.startswith("MNIST: SimCLR with the reference head is stuck")
    assert line.endswith("in 0 of 3 seeds at d = 2, 0 of 3 seeds at d = 8.")
    bound = math.log(2 * payload["settings"]["batch_size"] - 1)
    runs = payload["datasets"]["mnist"]["models"]["simclr-d2"]["seeds"]
    for seed, run in runs.items():  # seeds 0 and 1 stuck at the bound, seed 2 learned
        run["history"] = [{**h, "ntxent": bound - (0.5 if seed == "2" else 0.0)}
                          for h in run["history"]]  # fmt: skip
    runs["0"]["points"] = [[0.0, 0.25]] * len(runs["0"]["points"])  # one point
    runs["0"] |= {"linear": 0.097, "knn": 0.097}
    runs["1"] |= {"linear": 0.103, "knn": 0.103}
    line = next(x for x in report.findings(payload) if "reference head is stuck" in x)
    assert "in 2 of 3 seeds at d = 2, 0 of 3 seeds at d = 8" in line
    # only the stuck seeds are read: 10.0 ± 0.4 % against the untrained network's 20 %
    expected = (
        "linear probe 10.0 ± 0.4 % (2 seeds) against the untrained network's 20.0 ± 0.0 % "
        "(3 initialisations), -10.0 (below it, margin 1.0) points"
    )
    assert expected in line
    assert "chance is 10.0 % (1 / 10 classes)" in line
    assert line.endswith(
        "the first seed's 40 plotted test embeddings lie on 1 distinct point (at the "
        "precision of the record)."
    )


def _set(payload: dict, key: str, **values: float) -> None:
    """Set ``values`` (probe -> accuracy in %) for every seed of model ``key`` of MNIST,
    keeping the payload's ±0.3 seed spread."""
    runs = payload["datasets"]["mnist"]["models"][key]["seeds"].values()
    for i, run in enumerate(runs):
        run |= {probe: (value + 0.3 * (i - 1)) / 100 for probe, value in values.items()}


def _floor_line(payload: dict) -> str:
    start = "MNIST, d = 8, SimCLR against the floors"
    return next(x for x in report.findings(payload) if x.startswith(start))


def test_floors_are_compared_by_the_noise_rule_under_both_probes() -> None:
    # every model at 40.5 %: within noise of PCA's 40 % (linear), below its 45 % (k-NN)
    payload = _payload({})
    for key in payload["datasets"]["mnist"]["models"]:
        _set(payload, key, linear=40.5, knn=40.5)
    line = _floor_line(payload)
    linear, knn = line.split("; ")
    assert "− PCA of the pixels +0.5 (within noise, margin 1.0)" in linear
    assert "− untrained network +20.5 (clears it" in linear
    assert "− PCA of the pixels -4.5 (below it, margin 1.0)" in knn
    # against PCA (exact) the margin is 2 sqrt(s^2 / 2) = sqrt(2) s: +5.0 with s = 3 clears it
    runs = payload["datasets"]["mnist"]["models"]["simclr-d8"]["seeds"].values()
    for value, run in zip((0.42, 0.45, 0.48), runs, strict=True):
        run["linear"] = value
    line = _floor_line(payload)
    assert f"+5.0 (clears it, margin {math.sqrt(2) * 3.0:.1f})" in line.split("; ")[0]
    rule = report.findings(payload)[-1]
    assert rule.startswith("Floors are compared by the same noise rule")
    assert "2 × sqrt(s²/2) = √2 × s" in rule
    # one seed: too few against either floor, and no margin is given
    line = _floor_line(_payload({}, seeds=1))
    assert line.count("(too few seeds)") == 4 and "margin" not in line


def test_the_per_chart_probe_is_compared_and_the_findings_say_whether_the_verdict_depends_on_it(
) -> None:  # fmt: skip
    # MSimCLR ties SimCLR under the linear probe, wins under k-NN and the per-chart probe
    payload = _payload({"msimclr-k4-d2": 49.0, "msimclr-k4-d8": 49.0})
    for d in (2, 8):
        _set(payload, f"msimclr-k8-d{d}", linear=50.0, knn=60.0, chart_probe=60.0)
    comparisons = report.tables(payload)["comparisons"]
    rows = comparisons[(comparisons["dataset"] == "MNIST") & (comparisons["d"] == 2)
                       & (comparisons["A"] == "MSimCLR, k = 8")]  # fmt: skip
    assert rows["probe"].tolist() == ["linear probe", "k-NN probe",
                                      "per-chart (A), linear (B): outside the rule"]  # fmt: skip
    assert rows["outcome"].tolist() == ["within noise", "A wins", "A wins"]
    assert rows["A − B (points)"].tolist() == pytest.approx([0.0, 10.0, 10.0])
    assert _claims(payload)[0].verdict == "within noise"  # the rule is unchanged
    line = next(x for x in report.findings(payload)
                if x.startswith("MNIST, MSimCLR beats SimCLR at low d"))  # fmt: skip
    assert "verdict by the rule (linear and k-NN probes) **within noise**" in line
    assert "the verdict depends on the probe: under per-chart probes" in line
    assert line.endswith("against SimCLR's linear probe) it would be **reproduced**.")
    for d in (2, 8):  # the per-chart probe no better than the linear one: the same verdict
        _set(payload, f"msimclr-k8-d{d}", chart_probe=50.0)
    line = next(x for x in report.findings(payload)
                if x.startswith("MNIST, MSimCLR beats SimCLR at low d"))  # fmt: skip
    assert "verdict by the rule (linear and k-NN probes) **within noise**" in line
    assert line.endswith("it is the same, so the verdict does not depend on the probe.")
    # the MMD claim: a drastic lead only under the per-chart probe
    _set(payload, "msimclr-k1-d2", linear=53.0, knn=60.0, chart_probe=60.0)
    assert _claims(payload)[3].verdict == "partly"
    line = next(x for x in report.findings(payload)
                if x.startswith("MNIST, the MMD term alone drastically improves"))  # fmt: skip
    assert "rule (linear and k-NN probes) **partly**" in line
    assert line.endswith("it would be **reproduced**.")


def test_stopping_and_cost_sentences_come_from_the_curves_and_step_times() -> None:
    payload = _payload({})
    assert budget.stopping(payload).startswith(
        "The stopping criterion reads the total loss relative to its value, not NT-Xent's "
        "learnable range: 0 of the 60 trained runs still had NT-Xent falling by more than "
        "0.02 nats over their last 1000 steps"
    )
    run = payload["datasets"]["mnist"]["models"]["simclr-d2"]["seeds"]["1"]
    run["history"] = list(run["history"])
    run["history"][-11] = {**run["history"][-11], "ntxent": 4.1}  # 1000 steps before the end
    text = budget.stopping(payload)
    assert "1 of the 60 trained runs" in text
    assert "(largest drop 0.100 nats, `mnist-simclr-d2-s1`)" in text
    acc = report.tables(payload)["accuracy"]
    column = "NT-Xent drop over the last 1000 steps, per seed (nats)"
    row = acc[(acc["dataset"] == "MNIST") & (acc["d"] == 2) & (acc["representation"] == "SimCLR")]
    assert row[column].tolist() == ["0.000, 0.100, 0.000"]
    assert acc[acc["representation"] == "PCA of the pixels"][column].unique().tolist() == ["–"]
    # 60 models, 0.01 s per step (1 s per block of 100 steps)
    assert budget.cost(payload) == (
        "Projected from the median measured 0.01 s per training step, all 60 models of the "
        "profile would take 60 × 3000 steps × 0.01 s = 0.5 h of training if each stopped at the "
        "minimum, and 60 × 6000 × 0.01 s = 1.0 h if each ran to the cap."
    )
    for entry in payload["datasets"].values():
        for model in entry["models"].values():
            for r in model["seeds"].values():
                r["history"] = [{**h, "seconds": 3.0} for h in r["history"]]
    assert "0.03 s = 1.5 h" in budget.cost(payload)
    assert budget.cost(ms.empty_payload("cifar10")) == budget.stopping(ms.empty_payload("full"))
    assert budget.cost(ms.empty_payload("cifar10")) == ""


def test_the_curves_are_cut_above_the_first_blocks_and_the_accuracy_figure_marks_chart_probes(
) -> None:  # fmt: skip
    payload = _payload(_WIN)
    run = payload["datasets"]["mnist"]["models"]["simclr-d2"]["seeds"]["0"]
    run["history"] = [{**h, "loss": 6.5 if i == 0 else 4.0 + 0.1 * (i == 20)}
                      for i, h in enumerate(run["history"])]  # fmt: skip
    ax = report.figures(payload)["curves"].get_axes()[0]
    low, high = ax.get_ylim()
    assert 4.1 < high < 4.2 and low < 4.0  # the first block's 6.5 runs off the top
    fig = report.figures(payload)["accuracy"]
    ax = fig.get_axes()[0]  # MNIST, d = 2
    names = [t.get_text() for t in ax.get_xticklabels()]
    keys = draw.keys_at(payload["settings"], 2)
    assert names[2:] == [compare.label(key) for key in keys]  # one display name everywhere
    triangles = {round(float(x)) for line in ax.get_lines() if line.get_marker() == "^"
                 for x in line.get_xdata()}  # fmt: skip
    assert triangles == {i + 2 for i, key in enumerate(keys) if key.startswith("msimclr")}


_SOURCE = {
    "train": "50000 PNG, pixel-identical to the originals",
    "test": "10000 JPEG re-encodings of the test split (lossy)",
    "jpeg_psnr_db_vs_lossless": {"min": 23.29, "mean": 30.49, "max": 38.78, "images": 1000},
}


def _cifar_payload(**kwargs) -> dict:
    """A CIFAR-10 payload whose splits are labelled as the image folders' (PNG training
    split, JPEG test split), with the data record's source."""
    cifar = _payload(_WIN, ms.get_profile("cifar10"), **kwargs)
    entry = cifar["datasets"]["cifar10"]
    entry["train"] = entry["train"] | {"label": "CIFAR-10 train: 50000 PNG", "images": 50000,
                                       "of": 50000, "source": _SOURCE}  # fmt: skip
    entry["test"] = entry["test"] | {"label": "CIFAR-10 test: 10000 JPEG", "source": _SOURCE}
    return cifar


def test_each_thing_is_named_by_the_split_it_comes_from() -> None:
    cifar, full = _cifar_payload(), _payload(_WIN)
    assert draw.data_name(cifar, "cifar10", "test") == "CIFAR-10 test (JPEG)"
    assert draw.data_name(cifar, "cifar10", "train") == "CIFAR-10 train (PNG)"
    assert draw.data_name(None, "cifar10", "test") == "CIFAR-10"
    assert draw.data_name(full, "mnist", "train") == "MNIST"  # IDX both: no note
    tables = report.tables(cifar)
    for key in ("accuracy", "comparisons", "charts"):  # probes, chart use: test images
        assert set(tables[key]["dataset"]) == {"CIFAR-10 test (JPEG)"}, key
    assert set(tables["collapse"]["dataset"]) == {"CIFAR-10 train (PNG)"}  # training's NT-Xent
    assert any(x.startswith("CIFAR-10 test (JPEG), d = 2") for x in report.findings(cifar))
    figures = report.figures(cifar)
    assert figures["accuracy"].get_axes()[0].get_title() == "CIFAR-10 test (JPEG), d = 2"
    for key in ("curves", "ntxent"):  # losses on the training split
        assert figures[key].get_axes()[0].get_title() == "CIFAR-10 train (PNG), d = 2"
    assert figures["chart-use"].get_axes()[0].get_title() == "CIFAR-10 test (JPEG)"
    legend = figures["embedding-cifar10"].subfigs[-1].legends[0]  # the legend's strip
    assert legend.get_title().get_text() == "class of the CIFAR-10 test (JPEG) images"
    # the source sentence: what the splits are, how lossy, where the probes are fit and scored
    text = report.splits(cifar)
    assert text == (
        "CIFAR-10: the training images are 50000 PNG, pixel-identical to the originals, the "
        "test images 10000 JPEG re-encodings of the test split (lossy); on the 1000 test "
        "images that also exist losslessly, the re-encodings' PSNR against the originals is "
        "23.3–38.8 dB (mean 30.5 dB). Every probe is fit on the training split (CIFAR-10 train "
        "(PNG)) and scored on the test split (CIFAR-10 test (JPEG))."
    )
    assert report.splits(full) == "" and report.splits(ms.empty_payload("cifar10")) == ""


def test_budgets_give_epochs_shares_and_backbone_sizes_from_the_records() -> None:
    cifar, full = _cifar_payload(), _payload(_WIN)
    # independent counts: SmallConvNet built directly; torchvision's ResNets with their
    # 7×7 RGB first convolution and classifier taken off and the 3×3 CIFAR stem added
    ours = {c: sum(p.numel() for p in SmallConvNet(c, w).parameters())
            for c, w in ((1, 16), (3, 32))}  # fmt: skip
    assert ours[3] == 93_696
    theirs = {}
    for name, channels in (("resnet18", 1), ("resnet50", 3)):
        model = getattr(torchvision.models, name)()
        total = sum(p.numel() for p in model.parameters())
        fc = sum(p.numel() for p in model.fc.parameters())
        theirs[name] = total - fc - 7 * 7 * 3 * 64 + 3 * 3 * channels * 64
    assert budget.reference_parameters("cifar10") == theirs["resnet50"]
    assert budget.reference_parameters("mnist") == theirs["resnet18"]
    text = budget.budgets([full, cifar])
    assert text.startswith(
        "The trained models saw: MNIST 3000 steps of batch 128 (6.4 epochs of the 60,000 "
        "training images; 6.4 % of the reference's 46,875 steps), with a backbone of "
        f"{ours[1]:,} parameters against the {theirs['resnet18']:,} of the reference's "
        "ResNet-18 (CIFAR stem, without its classifier)"
    )
    share = 100 * ours[3] / theirs["resnet50"]  # 0.3987: two significant digits, "0.40"
    assert (
        "; CIFAR-10 train (PNG) 3000 steps of batch 128 (7.7 epochs of the 50,000 training "
        "images; 0.77 % of the reference's 390,625 steps), with a backbone of 93,696 parameters "
        f"against the {theirs['resnet50']:,} of the reference's ResNet-50 (CIFAR stem, without "
        f"its classifier): {share:.2f} % of them."
    ) in text
    # a range: both ends at the precision of the lower one
    runs = cifar["datasets"]["cifar10"]["models"]["simclr-d2"]["seeds"]
    runs["1"]["criterion"] = runs["1"]["criterion"] | {"steps": 4000}
    assert "3000–4000 steps of batch 128 (7.7–10.2 epochs" in budget.budgets([cifar])
    assert "; 0.77–1.02 % of the reference's" in budget.budgets([cifar])
    assert budget.budgets([ms.empty_payload("cifar10")]) == ""


def test_the_source_line_says_the_numbers_were_computed_from_the_records() -> None:
    payload = _payload(_WIN) | {
        "profile": "full",
        "timings_s": {"mnist": 1.4, "fashion-mnist": 2.0},
    }
    assert report.source(payload) == (
        "Profile **full**: numbers computed in this run (3.4 s) from the records of its 60 "
        "trained models and of its floors; a model without one is listed as missing, not "
        "trained."
    )


@pytest.mark.parametrize("profile", ["smoke", "full", "cifar10"])
@pytest.mark.parametrize("trained", [True, False])
def test_every_figure_is_drawn_at_page_width_whatever_is_trained(profile, trained) -> None:
    settings = ms.get_profile(profile)
    payload = _payload(_WIN, settings, seeds=2) if trained else ms.empty_payload(profile)
    figures = report.figures(payload)
    embeddings = [f"embedding-{d}" for d in settings["datasets"]]
    assert list(figures) == ["accuracy", "curves", "ntxent", "chart-use", *embeddings]
    for key, fig in figures.items():
        style.check_figure(fig, key)
        assert fig.get_size_inches()[1] <= 8.0, key
    if trained:  # one grid per dataset: every d = 2 model of the first seed has its panel(s)
        panels = 2 + sum(settings["charts"])
        grid = figures[embeddings[0]]
        assert sum(len(ax.collections) > 0 for ax in grid.get_axes()) == panels


def _line_at(ax, y: float) -> list:
    return [line for line in ax.get_lines() if list(line.get_ydata()) == [y, y]]


def test_the_figures_show_chance_the_bound_behind_stuck_curves_and_the_used_axis() -> None:
    payload = _payload(_WIN)
    bound = math.log(2 * payload["settings"]["batch_size"] - 1)
    stuck = payload["datasets"]["mnist"]["models"]["simclr-d2"]["seeds"]
    for run in stuck.values():  # the reference head stuck on the bound, as on CIFAR-10
        run["history"] = [{**h, "ntxent": bound} for h in run["history"]]
    figures = report.figures(payload)
    ax = figures["accuracy"].get_axes()[0]
    (chance,) = _line_at(ax, 100 / 10)  # 10 classes
    assert chance.get_linestyle() == "-."
    legend = [t.get_text() for t in figures["accuracy"].legends[0].get_texts()]
    assert legend[-1] == "chance (1 / classes)"
    ax = figures["ntxent"].get_axes()[0]
    (line,) = _line_at(ax, bound)
    curves = [x for x in ax.get_lines() if len(set(x.get_xdata())) > 1 and x is not line]
    assert all(line.get_zorder() < curve.get_zorder() for curve in curves)
    assert line.get_linewidth() < min(curve.get_linewidth() for curve in curves)
    ends = [x for x in ax.get_lines() if x.get_marker() == "o"]  # the stuck curves end in dots
    assert len(ends) == len(curves) and sum(list(x.get_ydata()) == [bound] for x in ends) == 3
    # chart use: uniform shares of 25 % and 12.5 %, the axis ends a tenth past the largest
    ax = figures["chart-use"].get_axes()[0]
    assert ax.get_xlim()[1] == pytest.approx(1.1 * 25.0)


def test_embedding_titles_do_not_overlap_and_the_legend_names_the_classes() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for profile, dataset, names in (
        ("full", "mnist", [str(c) for c in range(10)]),
        ("full", "fashion-mnist", ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                   "Shirt", "Sneaker", "Bag", "Boot"]),
        ("cifar10", "cifar10", ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                "horse", "ship", "truck"]),
    ):  # fmt: skip
        fig = report.figures(_payload(_WIN, ms.get_profile(profile)))[f"embedding-{dataset}"]
        FigureCanvasAgg(fig).draw()
        boxes = [ax.title.get_window_extent() for ax in fig.get_axes() if ax.get_title()]
        assert len(boxes) == 2 + sum(ms.get_profile(profile)["charts"])
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (dataset, a, b)
        titles = [ax.get_title() for ax in fig.get_axes()]
        assert "MSimCLR, k = 1\n(MMD alone)" in titles and "SimCLR,\nwidth-64 head" in titles
        legend = fig.subfigs[-1].legends[0]  # the legend's strip
        assert [t.get_text() for t in legend.get_texts()] == names
        assert legend.get_title().get_text() == "class"  # one format for both splits
        style.check_figure(fig, dataset)


def test_embedding_bands_pack_small_groups_on_one_row() -> None:
    columns = draw.COLUMNS
    assert draw._bands([3, 2, 4, 8]) == [[0, 1], [2], [3]]
    assert draw._bands([3, columns]) == [[0], [1]]
    assert draw._bands([1, 1, 1]) == [[0, 1, 2]]


def test_training_seconds_sum_the_blocks_of_both_profiles() -> None:
    full, cifar = _payload({}, seeds=1), _payload({}, ms.get_profile("cifar10"), seeds=1)
    loads = {"full": full, "cifar10": cifar}
    assert budget.training_seconds(loads.get) == (2 * 2 * 5 + 4) * 30 * 1.0
    assert report.training_seconds is budget.training_seconds  # where the scorecard looks


def test_the_notebook_places_every_figure_of_both_profiles() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    placed = re.findall(r"```\{glue:figure\} (\S+)\n:name: fig-msimclr-(\S+)\n:alt: \S", markdown)
    full = report.figures(ms.empty_payload("full"))
    cifar = report.figures(ms.empty_payload("cifar10"))
    expected = sorted([*full, *(f"cifar10-{key}" for key in cifar)])
    assert sorted(key for key, _ in placed) == expected
    names = [name for _, name in placed]
    assert len(set(names)) == len(names)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["metadata"].get("tags") for c in code), "every code cell says how it is shown"
    for claim in _claims():
        assert f"({claim.section})=" in markdown, claim.section


def test_the_cifar_section_types_no_number_and_quotes_the_blog() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = ["".join(c["source"]) for c in cells]
    start = next(i for i, x in enumerate(text) if x.startswith("(msimclr-cifar)="))
    end = next(i for i, x in enumerate(text) if i > start and x.startswith("## "))
    cifar = "".join(text[start:end])
    for typed in ("390 625", "390,625", "7.7", "15 epochs", "1.5 %", "50 000", "50,000",
                  "width 32", "τ = 0.5", "1000 epochs", "(JPEG test split)"):  # fmt: skip
        assert typed not in cifar, typed
    calls = ("report.setup(cifar)", "report.splits(cifar)", "budget.budgets([cifar])",
             "budget.cost(cifar)", "budget.stopping(cifar)", 'cifar_tables["charts"]')  # fmt: skip
    for call in calls:
        assert call in cifar, call
    # the blog's words, as the blog has them
    assert "(the latter of which was impossible to\ntrain without it)" in cifar
    assert '"The * denotes that we were not able to get a model to converge when\ntraining."' in (
        cifar
    )
    assert "could not be trained" not in "".join(text)


# --------------------------------------------------------------------------- bad arguments


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
    (ms.record_dir, ("tiny",), {}, ValueError, "profile"),
    (ms.record_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (ms.empty_payload, ("cifar",), {}, ValueError, "profile"),
    (schedule.model_keys, (None,), {}, TypeError, "settings"),
    (schedule.model_keys, ({"dims": [2]},), {}, ValueError, "settings"),
    (schedule.model_keys, (_SMOKE | {"dims": []},), {}, ValueError, "settings['dims']"),
    (schedule.model_keys, (_SMOKE | {"dims": 2},), {}, TypeError, "settings['dims']"),
    (schedule.model_keys, (_SMOKE | {"charts": [0]},), {}, ValueError, "settings['charts'][0]"),
    (schedule.model_keys, (_SMOKE | {"wide_head": 0},), {}, ValueError, "settings['wide_head']"),
    (schedule.model_keys, (_SMOKE | {"wide_head_dims": [2.0]},), {}, TypeError,
     "settings['wide_head_dims'][0]"),
    (schedule.training_plan, (_SMOKE | {"seeds": []},), {}, ValueError, "settings['seeds']"),
    (schedule.training_plan, (_SMOKE | {"seeds": [-1]},), {}, ValueError,
     "settings['seeds'][0]"),
    (schedule.check_schedule, (_SMOKE | {"min_steps": 5},), {}, ValueError,
     "settings['min_steps']"),
    (schedule.check_schedule, (_SMOKE | {"max_steps": 2},), {}, ValueError,
     "settings['max_steps']"),
    (schedule.check_schedule, (_SMOKE | {"block_steps": 0},), {}, ValueError,
     "settings['block_steps']"),
    (schedule.check_schedule, (_SMOKE | {"flat_window": 0.0},), {}, ValueError,
     "settings['flat_window']"),
    (schedule.check_schedule, (_SMOKE | {"flat_threshold": -0.1},), {}, ValueError,
     "settings['flat_threshold']"),
    (schedule.stop_point, ("loss", _SMOKE), {}, TypeError, "losses"),
    (ms.train, ("nope",), {}, ValueError, "profile"),
    (ms.train, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (ms.train, ("smoke",), {"progress": None}, TypeError, "progress"),
    (ms.train, ("smoke",), {"log": 0}, TypeError, "log"),
    (ms.run, ("nope",), {}, ValueError, "profile"),
    (ms.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (ms.run, ("smoke",), {"progress": "no"}, TypeError, "progress"),
    (ms.run, ("smoke",), {"log": 0}, TypeError, "log"),
    (ms.run, ("smoke",), {"train_missing": 1}, TypeError, "train_missing"),
    (evaluate.alive_units, (torch.nn.Linear(2, 2), torch.rand(5, 2)), {}, TypeError, "model"),
    (evaluate.alive_units, (_SIMCLR, [[0.0, 1.0]]), {}, TypeError, "embeddings"),
    (evaluate.alive_units, (_SIMCLR, torch.rand(5, 3)), {}, ValueError, "embeddings"),
    (evaluate.alive_units, (_SIMCLR, torch.rand(0, 2)), {}, ValueError, "embeddings"),
    (evaluate.alive_units, (_SIMCLR, torch.rand(5, 2, dtype=torch.float64)), {}, TypeError,
     "embeddings"),
    (evaluate.collapsed_heads, ({"dims": [2]}, _IMAGES, 2), {}, ValueError, "settings"),
    (evaluate.collapsed_heads, (_SMOKE | {"dims": [-2]}, _IMAGES, 2), {}, ValueError,
     "settings['dims'][0]"),
    (evaluate.collapsed_heads, (_SMOKE, _IMAGES.to(torch.uint8), 2), {}, TypeError, "images"),
    (evaluate.collapsed_heads, (_SMOKE, _IMAGES[..., :12], 2), {}, ValueError, "images"),
    (evaluate.collapsed_heads, (_SMOKE, _IMAGES, 0), {}, ValueError, "seeds"),
    (report.figures, (None,), {}, TypeError, "payload"),
    (report.figures, ({},), {}, ValueError, "payload"),
    (report.tables, ([],), {}, TypeError, "payload"),
    (report.findings, ({"datasets": {}},), {}, ValueError, "payload"),
    (report.setup, ({"settings": {}},), {}, ValueError, "payload"),
    (pairs.low_d, (ms.empty_payload("smoke"), "cifar10"), {}, ValueError, "dataset"),
    (pairs.mmd_alone, (ms.empty_payload("smoke"), 3), {}, TypeError, "dataset"),
    (budget.reference_steps, ("svhn",), {}, ValueError, "dataset"),
    (budget.reference_parameters, ("svhn",), {}, ValueError, "dataset"),
    (budget.backbone_parameters, ("tiny", "svhn"), {}, ValueError, "dataset"),
    (draw.data_name, (None, "mnist", "val"), {}, ValueError, "split"),
    (compare.compare, ([1.0, 2.0], [1.0, 2.0]), {"exact": True}, ValueError, "b"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    monkeypatch.setattr(ms, "load_data", _no_work)  # the first work of run() and train()
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)
