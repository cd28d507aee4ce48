"""The one-class study end to end on small data the tests write, and its report.

A CIFAR-10 in the image-folder layout (lossless PNG training split, a JPEG test split and a
lossless ``test-png`` subset of it) is written into ``tmp_path``; a miniature of the
``natural`` profile then trains, evaluates and reports on it. This exercises what the CPU
smoke profile (MNIST) cannot: dataset records of a JPEG split, the JPEG-vs-PNG subset, the
calibrated radius, the n = "every image of the class" row, several training seeds, cached
evaluations and partial results.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from toposhape import image_sets
from toposhape.image_sets import CIFAR10_CLASSES
from toposhape.studies import scorecard, style
from toposhape.studies.oneclass import (
    evaluate,
    figures,
    protocol,
    report,
    run,
    summary,
    train,
)

PER_CLASS_TRAIN, PER_CLASS_TEST, LOSSLESS = 20, 10, 30


def _write_cifar_folders(root: Path) -> None:
    """Class c's images are noisy versions of one colour per class (learnable, not trivial)."""
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 216, size=(10, 3))
    index = {"train": 0, "test": 0}
    for split, per_class in (("train", PER_CLASS_TRAIN), ("test", PER_CLASS_TEST)):
        for _ in range(per_class):
            for c, name in enumerate(CIFAR10_CLASSES):
                pixels = colours[c] + rng.normal(0, 40, size=(32, 32, 3))
                image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
                i = index[split]
                index[split] += 1
                folder = root / "cifar-10-images" / split / name
                folder.mkdir(parents=True, exist_ok=True)
                if split == "train":
                    image.save(folder / f"{i:05d}.png")
                    continue
                image.save(folder / f"{i:05d}.jpg", quality=75)
                if i < LOSSLESS:
                    lossless = root / "cifar-10-images" / "test-png" / name
                    lossless.mkdir(parents=True, exist_ok=True)
                    image.save(lossless / f"{i:05d}.png")
    (root / "cifar-10-images" / "SOURCE.json").write_text(json.dumps({"test": "JPEG"}))


@pytest.fixture
def mini_natural(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A miniature natural profile on the folder data; returns its settings."""
    data = tmp_path / "data"
    _write_cifar_folders(data)
    monkeypatch.setenv("TOPOSHAPE_DATA", str(data))
    monkeypatch.setitem(
        image_sets.EXPECTED_COUNTS,
        "cifar10",
        {
            "train": (10 * PER_CLASS_TRAIN, PER_CLASS_TRAIN),
            "test": (10 * PER_CLASS_TEST, PER_CLASS_TEST),
            "test-png": (LOSSLESS, None),
        },
    )
    settings = run.get_profile("natural") | {
        "datasets": ["cifar10"],
        "eval_datasets": ["cifar10"],
        "epochs": 2,
        "steps_per_epoch": 1,
        "train_seeds": 2,
        "ns": [5, 10],
        "draws": 2,
        "ablation_dataset": "cifar10",
        "ablation_evals": ["cifar10"],
        "lambdas": [0.0, 20.0],
        "radii": [1.0, 2.0],
        "large_n": PER_CLASS_TRAIN,
        "baseline_ns": {"kde": [10], "ocsvm": [5, 10], "deep-svdd": [10]},
        "baseline_sets": ["cifar10"],
        "dsvdd_epochs": 2,
        "workers": 1,
    }
    monkeypatch.setitem(run.PROFILES, "mini", settings)
    return settings


def _run(tmp_path: Path, **kwargs) -> dict:
    payload = run.run("mini", results_root=tmp_path / "results", log=None, **kwargs)
    json.dumps(payload)  # JSON-serialisable, as saved
    return payload


def test_mini_natural_profile_end_to_end(tmp_path: Path, mini_natural: dict) -> None:
    payload = _run(tmp_path)
    assert set(payload) == set(run.PAYLOAD_KEYS)
    # the dataset records say what was read, and the labels follow from them
    info = payload["datasets"]["cifar10"]
    assert info["labels"]["test"] == f"CIFAR-10 test: {10 * PER_CLASS_TEST} JPEG"
    assert info["labels"]["train"] == f"CIFAR-10 train: {10 * PER_CLASS_TRAIN} PNG"
    assert info["records"]["test-png"]["indices"] == list(range(LOSSLESS))
    assert info["records"]["test"]["source"] == {"test": "JPEG"}
    assert summary.scored_on(payload, "cifar10") == "CIFAR-10 (JPEG test)"
    # two training seeds of each main setting, one of the single branch
    settings = sorted(b["setting"] for b in payload["backbones"].values())
    assert settings.count("cifar10-lam20-16x10") == 2 and settings.count("cifar10-lam0-16x10") == 2
    assert settings.count("cifar10-lam20-1x160") == 1
    kinds = {
        (e["setting"], e["spec"]["seed"], e["kind"], e["split"]) for e in payload["evaluations"]
    }
    assert ("cifar10-lam20-16x10", 1, "jpeg", "test-png") in kinds
    assert ("cifar10-lam20-16x10", 0, "large_n", "test") in kinds
    assert ("cifar10-lam20-16x10", 1, "large_n", "test") not in kinds  # one seed only
    main = [e for e in payload["evaluations"] if e["kind"] == "main"]
    for entry in main:
        assert entry["calibrated_radius"] > 0
        assert entry["calibrated_radius"] in entry["radii"]
        assert entry["test_images"] == 10 * PER_CLASS_TEST
    jpeg = [e for e in payload["evaluations"] if e["kind"] == "jpeg"]
    assert {e["test_images"] for e in jpeg} == {LOSSLESS}
    large = [e for e in payload["evaluations"] if e["kind"] == "large_n"]
    assert all(e["ns"] == [PER_CLASS_TRAIN] and e["draws"] == 1 for e in large)
    assert payload["resume_check"]["identical"]

    # the report: every table and figure, from the payload alone
    stats = summary.seed_stats(payload, "cifar10-lam20-16x10", "cifar10", 10)
    assert stats["seeds"] == [0, 1] and stats["seed_std"] is not None
    by_hand = [
        100 * next(r for r in e["rows"] if r["n"] == 10 and r["radius"] == 2.0)["mean"]
        for e in main
        if e["setting"] == "cifar10-lam20-16x10"
    ]
    assert stats["mean"] == pytest.approx(np.mean(by_hand))
    assert stats["seed_std"] == pytest.approx(np.std(by_hand, ddof=1))
    tables = report.tables(payload)
    assert set(tables) == {
        "table1",
        "data",
        "by-n",
        "jpeg",
        "baselines-cifar10",
        "backbones",
        "lambda",
        "radius",
        "branches",
    }
    assert all(isinstance(t, pd.DataFrame) and len(t) > 0 for t in tables.values())
    assert len(tables["table1"]) == 1 and tables["table1"].iloc[0]["anchor (paper)"] == "75.96"
    data = tables["data"].set_index("split")["read"]
    assert "JPEG" in data["test"] and "PNG" in data["train"] and "PNG" in data["test-png"]
    assert len(tables["jpeg"]) == 2
    backbones = tables["backbones"]
    lam20 = backbones[(backbones["λ"] == "20") & (backbones["latent"] == "16×10")]
    assert lam20["runs × epochs"].tolist() == ["2 × 2"]  # two seeds of two epochs
    assert "CIFAR-100" in report.not_runnable_line(payload)
    lines = report.findings(payload)
    beats = "λ = 20 beats λ = 0 for CIFAR-10 → CIFAR-10 (JPEG test)"
    assert any(beats in x for x in lines["table1"])
    assert lines["ablations"] and lines["jpeg"] and lines["baselines"] and lines["deaths"]
    drawn = report.figures(payload)
    assert set(drawn) == set(figures.FIGURES)
    for key, fig in drawn.items():
        style.check_figure(fig, key)

    # a rerun reuses the finished backbones and the cached evaluations: same numbers
    again = _run(tmp_path)
    assert again["evaluations"] == payload["evaluations"]
    assert again["baselines"] == payload["baselines"]


def test_partial_results_list_pending_backbones(
    tmp_path: Path, mini_natural: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(run.PROFILES, "mini", mini_natural | {"baseline_sets": []})
    folder = run.work_dir("mini", tmp_path / "results")
    first = protocol.backbone_specs(mini_natural)[0]
    images = train.training_images(first.dataset, mini_natural, 0, torch.device("cpu"))
    train.train_one(first, images, mini_natural, folder, progress=False)
    payload = _run(tmp_path, train_missing=False)
    assert list(payload["backbones"]) == [first.name]
    assert first.name not in payload["pending"]
    assert len(payload["pending"]) == len(protocol.backbone_specs(mini_natural)) - 1
    assert {e["backbone"] for e in payload["evaluations"]} == {first.name}
    # the report shows what exists and dashes for the rest
    assert report.tables(payload)["table1"].iloc[0]["ours, λ = 0"] == "—"
    # the files of a backbone, as a training run of the previous layout wrote them: a run
    # resumes from them only if these names stay
    assert first.name == "cifar10-lam20-16x10-seed0"
    names = {p.name for p in folder.iterdir()}
    assert {f"{first.name}.pt", f"{first.name}-backbone.pt", f"{first.name}-backbone.json"} <= names
    assert f".{first.name}.lock" in names


def test_parallel_training_matches_in_process_training(tmp_path: Path) -> None:
    """Two worker processes train exactly what one process trains (MNIST, if fetched)."""
    try:
        image_sets.load_image_set("mnist", "test")
    except FileNotFoundError:
        pytest.skip("MNIST not fetched (make data)")
    settings = run.get_profile("smoke") | {"train_images": 300, "steps_per_epoch": 2}
    specs = protocol.backbone_specs(settings)[:2]
    parallel = tmp_path / "parallel"
    finished = []

    def on_trained(spec: protocol.BackboneSpec) -> None:  # called as each one finishes
        assert (parallel / f"{spec.name}-backbone.pt").is_file()
        finished.append(spec.name)

    train.train_backbones(
        specs, settings | {"workers": 2}, 0, parallel, log=None, on_trained=on_trained
    )
    assert sorted(finished) == sorted(spec.name for spec in specs)
    serial = tmp_path / "serial"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        for spec in specs:
            images = train.training_images(spec.dataset, settings, 0, torch.device("cpu"))
            train.train_one(spec, images, settings, serial, progress=False)
    finally:
        torch.set_num_threads(threads)
    for spec in specs:
        a = torch.load(parallel / f"{spec.name}-backbone.pt", weights_only=True)
        b = torch.load(serial / f"{spec.name}-backbone.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_failing_worker_is_reported_at_once_and_the_rest_cancelled(tmp_path: Path) -> None:
    """A backbone whose training fails: its error is logged and raised, none is trained."""
    settings = run.get_profile("smoke") | {"train_images": 300, "steps_per_epoch": 2}
    specs = [
        replace(spec, dataset="cifar100")  # valid spec, but no training images in this study
        for spec in protocol.backbone_specs(settings)[:4]
    ]
    said: list[str] = []
    with pytest.raises(ValueError, match="got 'cifar100'"):
        train.train_backbones(
            specs, settings | {"workers": 2}, 0, tmp_path, log=said.append, on_trained=print
        )
    assert sum("failed" in line for line in said) == 1
    assert not list(tmp_path.glob("*-backbone.pt"))


def test_one_backbone_is_never_trained_by_two_processes_at_once(tmp_path) -> None:
    lock = tmp_path / ".net.lock"
    with train.exclusive(lock, "backbone net"):
        # flock locks belong to open files: a second open, as another process makes, fails
        holder = rf"backbone net is being trained by process {os.getpid()}"
        with pytest.raises(BlockingIOError, match=holder):
            with train.exclusive(lock, "backbone net"):
                pass
    with train.exclusive(lock, "backbone net"):  # released when the block ends
        pass


_ORPHAN = """
import multiprocessing, os, time
from toposhape.studies.oneclass.train import _exit_with_parent

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(
        1, mp_context=ctx, initializer=_exit_with_parent, initargs=(os.getpid(), 0.2)
    )
    pool.submit(time.sleep, 60)
    time.sleep(3)
    print(*[p.pid for p in pool._processes.values()], flush=True)
    os._exit(0)  # killed: no shutdown of the pool
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch the worker")
def test_pool_workers_end_when_their_parent_is_killed(tmp_path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    (pid,) = map(int, out.stdout.split())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the orphaned pool worker is still running"


# ----------------------------------------------------------------------------------------------
# Bad arguments of the study's helpers: rejected before any data is read
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root: an argument checked after the files were looked for would give a
    FileNotFoundError instead of the expected error."""
    monkeypatch.setenv("TOPOSHAPE_DATA", str(tmp_path))
    return tmp_path


_SMOKE = run.get_profile("smoke")


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"datasets": []}, ValueError, r"^settings\['datasets'\] must not be empty"),
        ({"datasets": "mnist"}, TypeError, r"^settings\['datasets'\] must be a sequence"),
        ({"eval_datasets": ["svhn"]}, ValueError, r"^settings\['eval_datasets'\] must be one"),
        ({"baseline_sets": [1]}, TypeError, r"^settings\['baseline_sets'\] must be a string"),
        ({"ablation_dataset": "cifar10"}, ValueError, r"^settings\['ablation_dataset'\] and"),
        ({"ablation_evals": ["cifar10"]}, ValueError, r"^settings\['ablation_dataset'\] and"),
        ({"train_images": 0}, ValueError, r"^settings\['train_images'\] must be an int >= 1"),
        ({"test_images": 1e3}, TypeError, r"^settings\['test_images'\] must be an int"),
        ({"epochs": 0}, ValueError, r"^settings\['epochs'\] must be an int >= 1"),
        ({"steps_per_epoch": 1.5}, TypeError, r"^settings\['steps_per_epoch'\] must be an int"),
        ({"train_seeds": 0}, ValueError, r"^settings\['train_seeds'\] must be an int >= 1"),
        ({"ns": []}, ValueError, r"^settings\['ns'\] must not be empty"),
        ({"ns": [20, 0]}, ValueError, r"^settings\['ns'\] must be an int >= 1"),
        ({"ns": [20.0]}, TypeError, r"^settings\['ns'\] must be an int"),
        ({"draws": None}, TypeError, r"^settings\['draws'\] must be an int"),
        ({"ablation_seeds": -1}, ValueError, r"^settings\['ablation_seeds'\] must be an int"),
        ({"lambdas": [0.0, float("nan")]}, ValueError, r"^settings\['lambdas'\] must be finite"),
        ({"lambdas": [-1.0]}, ValueError, r"^settings\['lambdas'\] must be in \[0.0, inf\]"),
        ({"radii": [0.0]}, ValueError, r"^settings\['radii'\] must be in \(0.0, inf\]"),
        ({"radii": [float("inf")]}, ValueError, r"^settings\['radii'\] must be finite"),
        ({"single_branch": 1}, TypeError, r"^settings\['single_branch'\] must be a bool"),
        ({"large_n": 0}, ValueError, r"^settings\['large_n'\] must be an int >= 1"),
        ({"baseline_ns": [40]}, TypeError, r"^settings\['baseline_ns'\] must be a mapping"),
        ({"baseline_ns": {"kde": [40]}}, ValueError, r"^settings\['baseline_ns'\] must have"),
        (
            {"baseline_ns": _SMOKE["baseline_ns"] | {"kde": [0]}},
            ValueError,
            r"^settings\['baseline_ns'\]\['kde'\] must be an int >= 1",
        ),
        ({"dsvdd_epochs": 0}, ValueError, r"^settings\['dsvdd_epochs'\] must be an int >= 1"),
        ({"device": "gpu"}, ValueError, r"^settings\['device'\] must be one of 'cpu', 'cuda'"),
        ({"workers": 0}, ValueError, r"^settings\['workers'\] must be an int >= 1"),
        ({"image_size": 32.0}, TypeError, r"^settings\['image_size'\] must be an int"),
    ],
)
def test_bad_settings_are_named_and_stop_run_before_any_data(
    no_data: Path, monkeypatch: pytest.MonkeyPatch, change: dict, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        protocol.check_settings(_SMOKE | change)
    monkeypatch.setitem(run.PROFILES, "bad", _SMOKE | change)
    with pytest.raises(error, match=pattern):
        run.run("bad", results_root=no_data / "results", log=None)
    assert not (no_data / "results").exists()


def test_check_settings_of_every_profile_and_of_missing_keys() -> None:
    for profile in run.PROFILES:
        assert protocol.check_settings(run.get_profile(profile)) == run.get_profile(profile)
    with pytest.raises(TypeError, match=r"^settings must be a mapping"):
        protocol.check_settings([("ns", [1])])
    with pytest.raises(ValueError, match=r"^settings lack \['epochs'\]"):
        protocol.train_config({"steps_per_epoch": None}, 20.0, 0)
    # only the settings a function reads are needed
    config = protocol.train_config({"epochs": 2, "steps_per_epoch": None}, 20.0, 3)
    assert (config.epochs, config.lam, config.seed) == (2, 20.0, 3)


def _toy_images() -> torch.Tensor:
    return torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: run.get_profile(3), TypeError, r"^profile must be a string"),
        (lambda: run.get_profile("nope"), ValueError, r"^profile must be one of .*, got 'nope'$"),
        (lambda: run.work_dir(None), TypeError, r"^profile must be a string"),
        (lambda: run.work_dir("nope"), ValueError, r"^profile must be one of .*, got 'nope'$"),
        (lambda: run.work_dir("smoke", 3), TypeError, r"^results_root must be a path"),
        (lambda: protocol.train_seeds(_SMOKE, -1), ValueError, r"^seed must be an int in"),
        (lambda: protocol.train_seeds(_SMOKE, 1.0), TypeError, r"^seed must be an int"),
        (lambda: protocol.backbone_specs(_SMOKE, 2**32), ValueError, r"^seed must be an int in"),
        (lambda: protocol.backbone_specs(None), TypeError, r"^settings must be a mapping"),
        (lambda: protocol.train_config(_SMOKE, float("nan"), 0), ValueError, r"^lam must be fin"),
        (lambda: protocol.train_config(_SMOKE, -1.0, 0), ValueError, r"^lam must be in"),
        (lambda: protocol.train_config(_SMOKE, 20.0, "0"), TypeError, r"^seed must be an int"),
        (lambda: protocol.profile_datasets({}), ValueError, r"^settings lack \['datasets'"),
        (lambda: train.load_split("cifar10", "test", _SMOKE, 0), ValueError, r"^name must be one"),
        (lambda: train.load_split("mnist", "val", _SMOKE, 0), ValueError, r"^split must be one"),
        (lambda: train.load_split("mnist", "test", _SMOKE, -1), ValueError, r"^seed must be an"),
        (lambda: train.load_split("mnist", "test", _SMOKE, 0, 1), TypeError, r"^progress must be"),
        (
            lambda: train.load_split("mnist", "test", _SMOKE | {"image_size": 0}, 0),
            ValueError,
            r"^settings\['image_size'\] must be an int >= 1",
        ),
        (lambda: train.training_images("mnist", _SMOKE, 0, 3), TypeError, r"^device must be a"),
        (lambda: train.training_images("mnist", _SMOKE, 0, "nope"), ValueError, r"^device must"),
        (lambda: train.training_images("svhn", _SMOKE, 0, "cpu"), ValueError, r"^dataset must"),
        (lambda: train.training_images("mnist", _SMOKE, 0.0, "cpu"), TypeError, r"^seed must be"),
        (lambda: protocol.class_names("svhn"), ValueError, r"^name must be one of"),
        (lambda: protocol.class_names(None), TypeError, r"^name must be a string"),
        (lambda: protocol.BackboneSpec("svhn", 20.0), ValueError, r"^dataset must be one of"),
        (lambda: protocol.BackboneSpec("mnist", float("nan")), ValueError, r"^lam must be finite"),
        (lambda: protocol.BackboneSpec("mnist", 20.0, 0), ValueError, r"^branches must be an int"),
        (lambda: protocol.BackboneSpec("mnist", 20.0, 16, 10.0), TypeError, r"^branch_dim must be"),
        (lambda: protocol.BackboneSpec("mnist", 20.0, seed=-1), ValueError, r"^seed must be an"),
        (lambda: evaluate.eta_ball_toy(-1), ValueError, r"^seed must be an int in"),
        (lambda: evaluate.eta_ball_toy(0, n=1), ValueError, r"^n must be an int >= 2"),
        (lambda: evaluate.eta_ball_toy(0, n=4.0), TypeError, r"^n must be an int"),
        (lambda: evaluate.eta_ball_toy(0, eta=0.0), ValueError, r"^eta must be in \(0.0, inf\]"),
        (lambda: evaluate.eta_ball_toy(0, eta=float("inf")), ValueError, r"^eta must be finite"),
        (lambda: evaluate.eta_ball_toy(0, grid=1), ValueError, r"^grid must be an int >= 2"),
    ],
)
def test_study_helpers_reject_bad_arguments(no_data: Path, call, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


_CODES = torch.randn(100, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("codes", "branches", "error", "pattern"),
    [
        (_CODES.numpy(), 2, TypeError, r"^codes must be a torch.Tensor"),
        (_CODES[:99], 2, ValueError, r"^codes needs at least 100 rows"),
        (_CODES[:, 0], 1, ValueError, r"^codes must have 2 dimensions"),
        (_CODES.long(), 2, TypeError, r"^codes must be a floating-point tensor"),
        (_CODES, 3, ValueError, r"^codes must have a positive multiple of branches=3 columns"),
        (_CODES[:, :0], 1, ValueError, r"^codes must have a positive multiple"),
        (torch.where(_CODES > 2, torch.nan, _CODES), 2, ValueError, r"^codes contains NaN"),
        (_CODES, 0, ValueError, r"^branches must be an int >= 1"),
        (_CODES, 2.0, TypeError, r"^branches must be an int"),
    ],
)
def test_calibrated_radius_rejects_bad_codes(
    codes: object, branches: object, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        evaluate.calibrated_radius(codes, branches)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"images": _toy_images()[:199]}, ValueError, r"^images needs at least 200 rows"),
        ({"images": (_toy_images() * 255).byte()}, TypeError, r"^images must be floating"),
        ({"images": _toy_images() + 1}, ValueError, r"^images must be finite and in \[0, 1\]"),
        ({"seed": 2**32}, ValueError, r"^seed must be an int in"),
        ({"folder": None}, TypeError, r"^folder must be a path"),
        ({"folder": 3}, TypeError, r"^folder must be a path"),
    ],
)
def test_resume_check_rejects_bad_arguments(
    tmp_path: Path, kwargs: dict, error: type, pattern: str
) -> None:
    arguments = {"images": _toy_images(), "seed": 0, "folder": tmp_path} | kwargs
    with pytest.raises(error, match=pattern):
        train.resume_check(**arguments)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"profile": 3}, TypeError, r"^profile must be a string"),
        ({"profile": "nope"}, ValueError, r"^profile must be one of .*, got 'nope'$"),
        ({"seed": -1}, ValueError, r"^seed must be an int in"),
        ({"seed": 1.0}, TypeError, r"^seed must be an int"),
        ({"results_root": 3}, TypeError, r"^results_root must be a path"),
        ({"progress": "yes"}, TypeError, r"^progress must be a bool"),
        ({"log": "stdout"}, TypeError, r"^log must be callable or None"),
        ({"train_missing": None}, TypeError, r"^train_missing must be a bool"),
    ],
)
def test_run_rejects_bad_arguments_before_reading_data(
    no_data: Path, kwargs: dict, error: type, pattern: str
) -> None:
    arguments = {"profile": "smoke", "results_root": no_data / "results", "log": None} | kwargs
    with pytest.raises(error, match=pattern):
        run.run(**arguments)
    assert not (no_data / "results").exists()


# ----------------------------------------------------------------------------------------------
# The report on a payload written by hand: malformed parts and NaN are named, never printed
# ----------------------------------------------------------------------------------------------


def _evaluation(setting: str, seed: int, mean: float, kind: str = "main", split: str = "test"):
    rows = [
        {"n": n, "radius": radius, "mean": mean + n / 1000 - abs(radius - 2) / 100, "std": 0.01}
        for radius in (2.0, 1.0, 3.0, 1.5)
        for n in (20, 40)
    ]
    return {
        "setting": setting,
        "eval": "mnist",
        "kind": kind,
        "split": split,
        "spec": {"seed": seed},
        "test_images": 100,
        "calibrated_radius": 1.5,
        "rows": rows,
    }


def _backbone(dataset: str, lam: float, seed: int) -> dict:
    spec = protocol.BackboneSpec(dataset, lam, seed=seed)
    deaths = {
        "mean": 1.9,
        "frac_within": 0.7,
        "cv": 0.3,
        "per_branch_mean": [1.8, 2.0],
        "histogram": {"edges": [0.0, 1.0, 2.0, 3.0], "counts": [1, 5, 2]},
    }
    history = [
        {
            "epoch": e,
            "seconds": 2.0,
            "reconstruction_l1": 30.0,
            "connectivity": 0.5,
            "death_mean": 1.8,
        }
        for e in (1, 2)
    ]
    return {"spec": asdict(spec), "setting": spec.setting, "history": history, "deaths": deaths}


def _hand_payload() -> dict:
    """A payload of the smoke profile: two seeds of λ = 20 and λ = 0 on MNIST → MNIST."""
    settings = run.get_profile("smoke")
    lam20, lam0 = "mnist-lam20-16x10", "mnist-lam0-16x10"
    evaluations = [_evaluation(lam20, s, 0.8 + s / 100) for s in (0, 1)]
    evaluations += [_evaluation(lam0, s, 0.6 + s / 100) for s in (0, 1)]
    evaluations += [_evaluation("fashion-mnist-lam20-16x10", 0, 0.7, "ablation")]
    backbones = {
        f"mnist-lam{lam:g}-16x10-seed{s}": _backbone("mnist", lam, s)
        for lam in (20.0, 0.0)
        for s in (0, 1)
    }
    example = {
        "backbone": f"{lam20}-seed0",
        "eval": "mnist",
        "class": "0",
        "n": 20,
        "max_score": 4,
        "inliers": [0, 1, 2, 3, 4],
        "outliers": [4, 3, 2, 1, 0],
    }
    return {
        "profile": "smoke",
        "settings": settings,
        "toy": evaluate.eta_ball_toy(0, n=4, grid=5),
        "datasets": {
            "mnist": {
                "labels": {"train": "MNIST train: 60000 IDX", "test": "MNIST test: 10000 IDX"},
                "records": {"train": {"formats": {"IDX": 60000}}, "test": {"formats": {"IDX": 1}}},
            }
        },
        "backbones": backbones,
        "evaluations": evaluations,
        "baselines": [
            {"method": "kde", "eval": "mnist", "rows": [{"n": 40, "mean": 0.7, "std": 0.02}]}
        ],
        "score_examples": [example],
    }


def _everything(payload: dict) -> list:
    """Every table, line and figure the report makes of a payload."""
    return [
        *report.tables(payload).values(),
        report.not_runnable_line(payload),
        report.findings(payload),
        report.lambda0_reading(payload),
        report.offline_reading(payload, payload),
        report.ablation_reading(payload),
        report.figures(payload),
    ]


def test_the_report_of_a_hand_written_payload_shows_no_nan() -> None:
    payload = _hand_payload()
    made = _everything(payload)
    text = " ".join(x.to_string() if isinstance(x, pd.DataFrame) else str(x) for x in made)
    assert "nan" not in text.lower()
    lines = report.findings(payload)
    assert any("λ = 20 beats λ = 0 for MNIST → MNIST (test)" in x for x in lines["table1"])
    assert summary.headline_n(payload) == 40
    # the radius grid need not hold η: the line gives η's own number, not "nan"
    payload["settings"]["radii"] = [1.0, 3.0]
    (line,) = [x for x in report.findings(payload)["ablations"] if "the best radius" in x]
    assert "η' = 1 (73.00; η' = 2: 74.00)" in line and "nan" not in line
    # a partial run without score examples still has its (empty) score figure
    assert figures.plot_scores(payload | {"score_examples": []}) is not None


def _nan_mean(payload: dict) -> None:
    payload["evaluations"][0]["rows"][0]["mean"] = float("nan")


def _edit(path: tuple, value: object):
    def edit(payload: dict) -> None:
        *parents, last = path
        target = payload
        for key in parents:
            target = target[key]
        target[last] = value

    return edit


_EVAL = ("evaluations", 0)
_BACKBONE = ("backbones", "mnist-lam20-16x10-seed0")

# (edit of the payload, functions that read the edited part, error, pattern)
_BAD_PAYLOADS = [
    (_nan_mean, ("tables", "seed_stats", "findings"), ValueError, r"\['mean'\] must be finite"),
    (_edit((*_EVAL, "rows", 0, "mean"), 1.5), ("tables",), ValueError, r"must be in \[0.0"),
    (_edit((*_EVAL, "rows", 0, "std"), -0.1), ("tables",), ValueError, r"\['std'\] must be"),
    (_edit((*_EVAL, "rows", 0, "n"), 20.0), ("tables",), TypeError, r"\['n'\] must be an"),
    (_edit((*_EVAL, "rows", 0, "radius"), None), ("tables",), TypeError, r"\['radius'\] must be"),
    (_edit((*_EVAL, "rows"), {}), ("plot_table1",), TypeError, r"\['rows'\] must be a sequence"),
    (_edit((*_EVAL, "kind"), "other"), ("plot_ablations",), ValueError, r"\['kind'\] must be one"),
    (_edit((*_EVAL, "spec"), {}), ("seed_stats",), ValueError, r"\['spec'\] lacks \['seed'\]"),
    (
        _edit((*_EVAL, "calibrated_radius"), float("inf")),
        ("tables",),
        ValueError,
        r"\['calibrated_radius'\] must be finite",
    ),
    (_edit(("evaluations",), None), ("findings",), TypeError, r"^payload\['evaluations'\] must"),
    (
        _edit(("baselines", 0, "rows", 0, "mean"), float("nan")),
        ("tables", "findings"),
        ValueError,
        r"^payload\['baselines'\]\[0\]\['rows'\]\[0\]\['mean'\] must be finite",
    ),
    (_edit(("baselines", 0, "method"), "svm"), ("tables",), ValueError, r"method'\]"),
    (
        _edit((*_BACKBONE, "history", 0, "connectivity"), float("nan")),
        ("tables", "plot_training", "findings"),
        ValueError,
        r"\['history'\]\[0\]\['connectivity'\] must be finite",
    ),
    (_edit((*_BACKBONE, "history"), []), ("tables",), ValueError, r"history'\] must not"),
    (
        _edit((*_BACKBONE, "deaths", "frac_within"), 2.0),
        ("tables",),
        ValueError,
        r"\['frac_within'\] must be in \[0.0, 1.0\]",
    ),
    (
        _edit((*_BACKBONE, "deaths", "per_branch_mean"), [1.0, None]),
        ("findings",),
        TypeError,
        r"\['per_branch_mean'\] must hold real numbers",
    ),
    (
        _edit((*_BACKBONE, "deaths", "histogram", "counts"), [1, 2]),
        ("plot_deaths",),
        ValueError,
        r"\['histogram'\] must have increasing edges, one more than its counts",
    ),
    (
        _edit(("datasets", "mnist", "records", "test"), {}),
        ("scored_on", "tables"),
        ValueError,
        r"^payload\['datasets'\]\['mnist'\]\['records'\]\['test'\] lacks \['formats'\]",
    ),
    (
        _edit(("datasets", "mnist", "labels", "test"), 3),
        ("dataset_label",),
        TypeError,
        r"\['labels'\]\['test'\] must be a string",
    ),
    (_edit(("settings", "ns"), []), ("headline_n",), ValueError, r"^settings\['ns'\] must not"),
    (
        _edit(("settings", "radii"), [2.0, float("nan")]),
        ("tables", "plot_ablations"),
        ValueError,
        r"^settings\['radii'\] must be finite",
    ),
    (_edit(("toy", "eta"), float("nan")), ("plot_eta_balls",), ValueError, r"\['eta'\] must be"),
    (
        _edit(("toy", "counts"), [[0, 1], [2]]),
        ("plot_eta_balls",),
        ValueError,
        r"^payload\['toy'\]\['counts'\] must be a rectangular array",
    ),
    (
        _edit(("toy", "points"), [[0.0, 1.0, 2.0]]),
        ("plot_eta_balls",),
        ValueError,
        r"^payload\['toy'\]\['points'\] must have shape \(n, 2\)",
    ),
    (
        _edit(("score_examples", 0, "inliers"), [0, -1, 2, 3, 4]),
        ("plot_scores", "figures"),
        ValueError,
        r"\['inliers'\] must hold counts >= 0",
    ),
    (
        _edit(("score_examples", 0, "outliers"), [1.5, 0, 0, 0, 0]),
        ("plot_scores",),
        TypeError,
        r"\['outliers'\] must hold integers",
    ),
]

# every function that reads a payload, by name
_READERS = {
    "seed_stats": lambda payload: summary.seed_stats(payload, "mnist-lam20-16x10", "mnist", 40),
    "scored_on": lambda payload: summary.scored_on(payload, "mnist"),
    "dataset_label": lambda payload: summary.dataset_label(payload, "mnist"),
    "headline_n": summary.headline_n,
    "tables": report.tables,
    "figures": report.figures,
    "page_figures": lambda payload: report.page_figures("smoke", payload, payload, payload),
    "findings": report.findings,
    "not_runnable_line": report.not_runnable_line,
    **{name: getattr(figures, name) for name in dir(figures) if name.startswith("plot_")},
}


@pytest.mark.parametrize(
    ("edit", "function", "error", "pattern"),
    [
        pytest.param(edit, function, error, pattern, id=f"{function}-{i}")
        for i, (edit, functions, error, pattern) in enumerate(_BAD_PAYLOADS)
        for function in dict.fromkeys(functions)
    ],
)
def test_the_report_rejects_a_malformed_payload(edit, function: str, error: type, pattern: str):
    payload = _hand_payload()
    edit(payload)
    with pytest.raises(error, match=pattern):
        _READERS[function](payload)


@pytest.mark.parametrize("function", sorted(_READERS))
def test_every_payload_reader_rejects_what_is_not_a_payload(function: str) -> None:
    with pytest.raises(TypeError, match=r"^payload must be a mapping"):
        _READERS[function]([("settings", {})])
    with pytest.raises(ValueError, match=r"^payload lacks \["):
        _READERS[function]({})


_STATS = {"values": [70.0, 72.0], "mean": 71.0, "seed_std": 1.4, "draw_std": 2.0}


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: summary.verdict(None, _STATS), TypeError, r"^a must be a mapping"),
        (lambda: summary.verdict(_STATS, {"mean": 1.0}), ValueError, r"^b lacks \['values'"),
        (lambda: summary.verdict(_STATS | {"mean": math.nan}, _STATS), ValueError, r"^a\['mean'\]"),
        (lambda: summary.verdict(_STATS, _STATS | {"seed_std": -1.0}), ValueError, r"^b\['seed_s"),
        (lambda: summary.verdict(_STATS, _STATS | {"values": []}), ValueError, r"^b\['values'\]"),
        (lambda: summary.verdict(_STATS, _STATS | {"values": [math.inf]}), ValueError, r"^b\['val"),
        (lambda: summary.verdict(_STATS, _STATS, math.nan), ValueError, r"^noise_std must be"),
        (lambda: summary.verdict(_STATS, _STATS, "1"), TypeError, r"^noise_std must be a number"),
        (lambda: summary.fmt(_STATS | {"draw_std": math.nan}), ValueError, r"^stats\['draw_std'\]"),
        (lambda: summary.fmt(_STATS | {"mean": "71"}), TypeError, r"^stats\['mean'\] must be a"),
        (lambda: summary.fmt(_STATS, draws=1), TypeError, r"^draws must be a bool"),
        (lambda: summary.setting_name("svhn", 20.0), ValueError, r"^dataset must be one of"),
        (lambda: summary.setting_name("mnist", math.nan), ValueError, r"^lam must be finite"),
        (lambda: summary.setting_name("mnist", 20.0, 0), ValueError, r"^branches must be an int"),
        (lambda: summary.setting_name("mnist", 20.0, 16, 1.5), TypeError, r"^branch_dim must be"),
        (lambda: summary.dataset_name(None), TypeError, r"^name must be a string"),
    ],
)
def test_stats_and_names_reject_bad_arguments(call, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


_SEED_STATS = {"payload": None, "setting": "mnist-lam20-16x10", "eval_name": "mnist", "n": 40}


@pytest.mark.parametrize(
    ("override", "error", "pattern"),
    [
        ({"setting": None}, TypeError, r"^setting must be a string"),
        ({"eval_name": 3}, TypeError, r"^eval_name must be a string"),
        ({"n": 0}, ValueError, r"^n must be an int >= 1"),
        ({"n": 40.0}, TypeError, r"^n must be an int"),
        ({"radius": math.nan}, ValueError, r"^radius must be finite"),
        ({"radius": 0.0}, ValueError, r"^radius must be in \(0.0, inf\]"),
        ({"radius": "eta"}, ValueError, r"^radius must be a number, 'calibrated' or None"),
        ({"kind": "other"}, ValueError, r"^kind must be one of"),
        ({"kind": ["main", 3]}, TypeError, r"^kind must be a string"),
        ({"kind": []}, ValueError, r"^kind must not be empty"),
        ({"split": "val"}, ValueError, r"^split must be one of"),
    ],
)
def test_seed_stats_rejects_bad_arguments(override: dict, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        summary.seed_stats(**(_SEED_STATS | {"payload": _hand_payload()} | override))


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda p: summary.scored_on(p, 3), TypeError, r"^name must be a string"),
        (lambda p: summary.scored_on(p, "mnist", "val"), ValueError, r"^split must be one of"),
        (lambda p: summary.dataset_label(p, "mnist", None), TypeError, r"^split must be a string"),
        (lambda p: figures.plot_scores(p, bins=0), ValueError, r"^bins must be an int >= 1"),
        (lambda p: figures.plot_scores(p, bins=4.0), TypeError, r"^bins must be an int"),
    ],
)
def test_report_arguments_are_checked(call, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call(_hand_payload())


# ----------------------------------------------------------------------------------------------
# Figures at the page's size, and the scorecard's claims
# ----------------------------------------------------------------------------------------------


def test_every_figure_of_a_smoke_payload_fits_the_page() -> None:
    payload = _hand_payload()
    drawn = report.figures(payload)
    assert set(drawn) == set(figures.FIGURES)
    for key, fig in drawn.items():
        style.check_figure(fig, key)
    # the page: every glued key, a note where a profile has no results
    page = report.page_figures("smoke", payload, None, payload)
    sections = [f"{s}-{k}" for s, keys in report.SECTION_FIGURES.items() for k in keys]
    assert set(page) == {"eta-balls", "scores", *sections}
    for key, fig in page.items():
        style.check_figure(fig, key)
    notes = {
        key
        for key, fig in page.items()
        for ax in fig.axes
        for text in ax.texts
        if text.get_text() == "Not run yet: the natural profile has no saved results."
    }
    assert notes == {f"natural-{k}" for k in report.SECTION_FIGURES["natural"]}


_NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "oneclass.ipynb"


def _labels() -> set[str]:
    """The MyST labels ``(name)=`` of the chapter's Markdown cells."""
    cells = json.loads(_NOTEBOOK.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    lines = text.splitlines()
    return {line[1:-2] for line in lines if line.startswith("(") and line.endswith(")=")}


def test_claims_on_the_committed_results_are_valid_and_point_at_the_chapter() -> None:
    load = scorecard.chapter_loader("oneclass")
    found = report.claims(load)
    assert all(isinstance(c, scorecard.Claim) for c in found)
    assert {c.source for c in found} == {"hofer2019"} and {c.chapter for c in found} == {"oneclass"}
    assert {c.section for c in found} <= _labels()
    natural = load("natural")
    cells = [c for c in found if c.claim.startswith("Table 1: ")]
    assert len(cells) == 4
    assert {c.anchor for c in cells} == {"75.96", "72.57", "74.42", "72.84"}
    if natural is not None:  # measured is what the report computes from the saved payload
        stats = summary.seed_stats(natural, "cifar10-lam20-16x10", "cifar10", 120)
        assert cells[0].measured.startswith(f"{stats['mean']:.2f} ± {stats['seed_std']:.2f}")
        assert cells[0].seeds == len(stats["values"])
    (mnist,) = [c for c in found if c.section == "oneclass-mnist"]
    assert (mnist.verdict == "not run yet") == (load("full") is None)
    assert found[-1].verdict == "not runnable here"
    text = scorecard.frame(found).to_string().lower()
    assert "nan" not in text and "/work" not in text


def _natural_like(means: dict[str, list[float]], epochs: int = 50) -> dict:
    """A natural-profile payload whose CIFAR-10 → CIFAR-10 cells have the given AUROCs."""
    evaluations = []
    for setting, values in means.items():
        for seed, mean in enumerate(values):
            rows = [{"n": 120, "radius": 2.0, "mean": mean, "std": 0.01}]
            evaluations.append(
                {
                    "setting": setting,
                    "eval": "cifar10",
                    "kind": "main",
                    "split": "test",
                    "spec": {"seed": seed},
                    "test_images": 10000,
                    "rows": rows,
                }
            )
    settings = run.get_profile("natural") | {"epochs": epochs}
    return {"settings": settings, "evaluations": evaluations, "baselines": [], "datasets": {}}


@pytest.mark.parametrize(
    ("lam20", "epochs", "cell", "lam"),
    [
        # 76.00 ± 0.10 over 3 seeds: 0.04 from the anchor 75.96, inside 2 SE = 0.23
        ([0.759, 0.760, 0.761], 50, "reproduced", "reproduced"),
        # 75.00 ± 0.10: 0.96 below the anchor, outside 2 SE
        ([0.749, 0.750, 0.751], 50, "not reproduced", "reproduced"),
        # one seed: no spread, so at best partly (within 1 point of the anchor here)
        ([0.7550], 50, "partly", "partly"),
        ([0.7490], 50, "not reproduced", "partly"),
        # a fraction of the reference's budget: at best partly
        ([0.759, 0.760, 0.761], 5, "partly", "partly"),
    ],
)
def test_claim_rules_of_a_table1_cell(lam20: list, epochs: int, cell: str, lam: str) -> None:
    payload = _natural_like(
        {"cifar10-lam20-16x10": lam20, "cifar10-lam0-16x10": [0.540, 0.542, 0.544]}, epochs
    )
    found = report.claims(lambda profile: payload if profile == "natural" else None)
    by_claim = {c.claim: c for c in found}
    (c10,) = [c for c in found if c.claim.startswith("Table 1: ") and c.anchor == "75.96"]
    assert c10.verdict == cell and c10.seeds == len(lam20)
    others = [c for c in found if c.claim.startswith("Table 1: ") and c is not c10]
    assert {c.verdict for c in others} == {"not run yet"}  # no TinyImageNet evaluations
    (lam_claim,) = [c for t, c in by_claim.items() if "λ = 20 beat those trained with" in t]
    assert lam_claim.verdict == lam and "clear in" in lam_claim.measured
    ablations = [c for c in found if c.section == "oneclass-ablations"]
    assert len(ablations) == 3 and {c.verdict for c in ablations} == {"not run yet"}


# ----------------------------------------------------------------------------------------------
# The chapter's readings: every outcome they state follows the numbers
# ----------------------------------------------------------------------------------------------

_SEEDS3 = (-0.005, 0.0, 0.005)  # three seeds with seed std 0.5 AUROC points


def _reading_payload(
    means: dict[tuple[str, str], float],
    baselines: dict[str, float] = (),
    one_seed: tuple[str, ...] = (),
    calibrated: dict[str, float] = (),
    cv: dict[float, float] = (),
) -> dict:
    """A ``full``-like payload: AUROC means by (setting, eval) at n = 120 (three seeds each,
    spread ±0.5 points, except the settings in ``one_seed``); ``setting@r`` keys a radius;
    ``baselines`` are method -> mean on Fashion-MNIST; ``calibrated`` is setting -> the
    AUROC at its calibrated radius 1.5; ``cv`` is λ -> the death times' coefficient of
    variation of the Fashion-MNIST backbones."""
    evaluations = {}
    for (key, e), mean in means.items():
        setting, _, radius = key.partition("@")
        seeds = (0.0,) if setting in one_seed else _SEEDS3
        for seed, offset in enumerate(seeds):
            entry = evaluations.setdefault(
                (setting, e, seed),
                {
                    "setting": setting,
                    "eval": e,
                    "kind": "main",
                    "split": "test",
                    "spec": {"seed": seed},
                    "test_images": 100,
                    "rows": [],
                },
            )
            r = float(radius) if radius else 2.0
            entry["rows"].append({"n": 120, "radius": r, "mean": mean + offset, "std": 0.01})
            if setting in dict(calibrated) and not radius:
                entry["calibrated_radius"] = 1.5
                value = dict(calibrated)[setting] + offset
                entry["rows"].append({"n": 120, "radius": 1.5, "mean": value, "std": 0.01})
    backbones = {}
    for lam, value in dict(cv).items():
        for seed in range(3):
            backbone = _backbone("fashion-mnist", lam, seed)
            backbone["deaths"]["cv"] = value
            backbones[f"{backbone['setting']}-seed{seed}"] = backbone
    settings = run.get_profile("full") | {"lambdas": [0.0, 1.0, 20.0], "radii": [1.0, 2.0, 3.0]}
    return {
        "settings": settings,
        "evaluations": list(evaluations.values()),
        "baselines": [
            {"method": m, "eval": "fashion-mnist", "rows": [{"n": 120, "mean": v, "std": 0.01}]}
            for m, v in dict(baselines).items()
        ],
        "datasets": {},
        "backbones": backbones,
    }


_F20, _F0 = "fashion-mnist-lam20-16x10", "fashion-mnist-lam0-16x10"
_M20, _M0 = "mnist-lam20-16x10", "mnist-lam0-16x10"


@pytest.mark.parametrize(
    ("lam20", "lam0", "said"),
    [
        (0.90, 0.86, "clearly above λ = 0 for Fashion-MNIST → Fashion-MNIST"),
        (0.86, 0.90, "clearly below λ = 0 for Fashion-MNIST → Fashion-MNIST"),
        (0.900, 0.899, "within noise of λ = 0 for Fashion-MNIST → Fashion-MNIST"),
    ],
)
def test_the_offline_reading_follows_lambda_20_against_lambda_0(lam20, lam0, said) -> None:
    payload = _reading_payload({(_F20, "fashion-mnist"): lam20, (_F0, "fashion-mnist"): lam0})
    text = report.offline_reading(payload, None)
    assert said in text and "90.00 ± 0.50 (3 seeds)" in text
    assert "In transfer" not in text and "natural images" not in text


def test_the_offline_reading_says_where_the_gain_goes_only_when_transfer_shows_none() -> None:
    means = {
        (_F20, "fashion-mnist"): 0.90,
        (_F0, "fashion-mnist"): 0.86,
        (_F20, "mnist"): 0.80,
        (_F0, "mnist"): 0.80,
    }
    text = report.offline_reading(_reading_payload(means), None)
    assert "within noise of λ = 0 for Fashion-MNIST → MNIST" in text
    assert "fitted to its own images" in text
    # transfer now clearly gains too: the reading no longer says the gain is the backbone's
    text = report.offline_reading(_reading_payload(means | {(_F20, "mnist"): 0.85}), None)
    assert "clearly above λ = 0 for Fashion-MNIST → MNIST" in text
    assert "fitted to its own images" not in text
    # natural images are counted from their own payload
    natural = _reading_payload({(_F20, "fashion-mnist"): 0.80, (_F0, "fashion-mnist"): 0.81})
    assert "On natural images it is clearly above in 0 of 1 pairs." in report.offline_reading(
        _reading_payload(means), natural
    )


def test_the_offline_reading_compares_each_baseline_with_the_eta_balls() -> None:
    means = {(_F20, "fashion-mnist"): 0.90, (_F0, "fashion-mnist"): 0.86}
    bases = {"kde": 0.83, "ocsvm": 0.895, "deep-svdd": 0.92}
    text = report.offline_reading(_reading_payload(means, bases), None)
    assert "KDE (pixels) at 83.00 (-7.00) is clearly below them" in text
    assert "OC-SVM (pixels) at 89.50 (-0.50) is within noise of them" in text
    assert "Deep SVDD at 92.00 (+2.00) is clearly above them" in text
    assert "The pixel-space baselines (KDE (pixels) and OC-SVM (pixels)) score 83.00 to 89.50" in (
        text
    )
    swapped = {"kde": 0.92, "ocsvm": 0.895, "deep-svdd": 0.83}
    text = report.offline_reading(_reading_payload(means, swapped), None)
    assert "KDE (pixels) at 92.00 (+2.00) is clearly above them" in text
    assert "Deep SVDD at 83.00 (-7.00) is clearly below them" in text


def _ablation_means(lam1: float, r1: float, single: float) -> dict:
    one = "fashion-mnist-lam20-1x160"
    return {
        (_F20, "fashion-mnist"): 0.90,
        (_F0, "fashion-mnist"): 0.86,
        ("fashion-mnist-lam1-16x10", "fashion-mnist"): lam1,
        (f"{_F20}@1", "fashion-mnist"): r1,
        (f"{_F20}@3", "fashion-mnist"): 0.85,
        (one, "fashion-mnist"): single,
    }


def _ablation_text(lam1: float, r1: float, single: float) -> str:
    payload = _reading_payload(
        _ablation_means(lam1, r1, single),
        one_seed=("fashion-mnist-lam1-16x10", "fashion-mnist-lam20-1x160"),
    )
    payload["settings"] |= {"ablation_evals": ["fashion-mnist"]}
    return report.ablation_reading(payload)


def test_the_ablation_reading_follows_the_lambda_and_radius_curves_and_the_branches() -> None:
    # λ = 1 on top by 4 points: λ = 20 is clearly below it, so the curve differs from the paper's
    text = _ablation_text(lam1=0.94, r1=0.80, single=0.80)
    assert "peaks at the paper's λ = 20 or within noise of it in 0 of 1 evaluations" in text
    assert "peaks at λ = 1 with 94.00 (1 seed); λ = 20, 90.00 ± 0.50 (3 seeds), is clearly" in text
    assert "the radius curve peaks at the training radius η' = 2" in text
    assert "16 branches of 10 (90.00) are clearly above one of 160 (80.00)" in text
    assert "not tested here" in text
    # λ = 1 now below λ = 20; the radius 1 above η; one branch as good as sixteen
    text = _ablation_text(lam1=0.80, r1=0.95, single=0.90)
    assert "in 1 of 1 evaluations" in text and "not tested here" not in text
    assert "peaks at λ = 20 with 90.00 ± 0.50 (3 seeds);" in text
    assert "the radius curve peaks at η' = 1, and the training radius η' = 2 is clearly below" in (
        text
    )
    assert "16 branches of 10 (90.00) are within noise of one of 160 (90.00)" in text
    # λ = 1 above λ = 20 but within the borrowed noise (0.5 points): still the paper's shape
    assert "is within noise of it" in _ablation_text(lam1=0.905, r1=0.80, single=0.80)


def test_the_lambda0_reading_follows_the_calibrated_radius_and_the_spread() -> None:
    means = {(_F20, "fashion-mnist"): 0.90, (_F0, "fashion-mnist"): 0.60}
    payload = _reading_payload(means, calibrated={_F0: 0.60}, cv={0.0: 0.6, 20.0: 0.15})
    text = report.lambda0_reading(payload)
    assert "clearly better in 0 of 1 pairs (Δ +0.00 to +0.00" in text
    assert "Fashion-MNIST 0.60 against 0.15 (4.0×)" in text
    assert "The scale of their codes does not explain it" in text and "not tested here" in text
    # the calibrated radius rescues λ = 0: the reading no longer blames the spread
    payload = _reading_payload(means, calibrated={_F0: 0.70}, cv={0.0: 0.6, 20.0: 0.15})
    text = report.lambda0_reading(payload)
    assert "clearly better in 1 of 1 pairs" in text
    assert "does not explain it" not in text and "not tested here" not in text
    # no wider spread without the loss: neither
    payload = _reading_payload(means, calibrated={_F0: 0.60}, cv={0.0: 0.1, 20.0: 0.15})
    assert "does not explain it" not in report.lambda0_reading(payload)


def test_the_readings_of_the_committed_results_state_what_the_chapter_said() -> None:
    from toposhape.results import load_results

    full, natural = load_results("oneclass", "full"), load_results("oneclass", "natural")
    if full is None or natural is None:
        pytest.skip("no committed full / natural results")
    full, natural = full["results"], natural["results"]
    text = report.offline_reading(full, natural)
    for said in (
        "clearly above λ = 0 for MNIST → MNIST (test)",
        "and for Fashion-MNIST → Fashion-MNIST (test)",
        "On natural images it is clearly above in 2 of 2 pairs.",
        "within noise of λ = 0 for MNIST → Fashion-MNIST (test)",
        "and for Fashion-MNIST → MNIST (test)",
        "fitted to its own images",
        "OC-SVM (pixels) at 91.34 (-0.98) and Deep SVDD at 91.06 (-1.26) are clearly below",
        "OC-SVM (pixels) at 89.28 (-0.52) and Deep SVDD at 90.58 (+0.78) are within noise",
        "against 57.93 to 58.06 on CIFAR-10 (JPEG test)",
    ):
        assert said in text, said
    text = report.ablation_reading(full)
    assert "in 0 of 2 evaluations" in text and text.count("peaks at λ = 1 ") == 2
    assert text.count("is clearly below it") == 2 and text.count("training radius η' = 2") == 2
    assert "(89.80) are clearly above one of 160 (78.93)" in text
    text = report.lambda0_reading(natural)
    assert "clearly better in 0 of 4 pairs" in text and "does not explain it" in text
