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
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from toposhape import image_sets
from toposhape import oneclass_report as rep
from toposhape import oneclass_study as oc
from toposhape.image_sets import CIFAR10_CLASSES

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
    settings = oc.get_profile("natural") | {
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
    monkeypatch.setitem(oc.PROFILES, "mini", settings)
    return settings


def _run(tmp_path: Path, **kwargs) -> dict:
    payload = oc.run("mini", results_root=tmp_path / "results", log=None, **kwargs)
    json.dumps(payload)  # JSON-serialisable, as saved
    return payload


def test_mini_natural_profile_end_to_end(tmp_path: Path, mini_natural: dict) -> None:
    payload = _run(tmp_path)
    assert set(payload) == set(oc.PAYLOAD_KEYS)
    # the dataset records say what was read, and the labels follow from them
    info = payload["datasets"]["cifar10"]
    assert info["labels"]["test"] == f"CIFAR-10 test: {10 * PER_CLASS_TEST} JPEG"
    assert info["labels"]["train"] == f"CIFAR-10 train: {10 * PER_CLASS_TRAIN} PNG"
    assert info["records"]["test-png"]["indices"] == list(range(LOSSLESS))
    assert info["records"]["test"]["source"] == {"test": "JPEG"}
    assert rep.scored_on(payload, "cifar10") == "CIFAR-10 (JPEG test)"
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
    stats = rep.seed_stats(payload, "cifar10-lam20-16x10", "cifar10", 10)
    assert stats["seeds"] == [0, 1] and stats["seed_std"] is not None
    by_hand = [
        100 * next(r for r in e["rows"] if r["n"] == 10 and r["radius"] == 2.0)["mean"]
        for e in main
        if e["setting"] == "cifar10-lam20-16x10"
    ]
    assert stats["mean"] == pytest.approx(np.mean(by_hand))
    assert stats["seed_std"] == pytest.approx(np.std(by_hand, ddof=1))
    table = rep.table1(payload)
    assert isinstance(table, pd.DataFrame) and len(table) == 1
    assert table.iloc[0]["anchor (paper)"] == "75.96"
    assert "JPEG" in table.iloc[0]["data (trained on / scored)"]
    assert "CIFAR-100" in rep.not_runnable_line(payload)
    jpeg_table = rep.jpeg_table(payload)
    assert jpeg_table is not None and len(jpeg_table) == 2
    for frame in (
        rep.by_n_table(payload),
        rep.baselines_table(payload, "cifar10"),
        rep.backbones_table(payload),
        *rep.ablation_tables(payload).values(),
    ):
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    lines = rep.findings(payload)
    assert any("λ = 20 beats λ = 0 for CIFAR-10 → CIFAR-10 (JPEG test)" in x for x in lines["main"])
    assert lines["ablations"]
    assert set(rep.plot_all(payload)) >= {"training", "table1", "ablations"}

    # a rerun reuses the finished backbones and the cached evaluations: same numbers
    again = _run(tmp_path)
    assert again["evaluations"] == payload["evaluations"]
    assert again["baselines"] == payload["baselines"]


def test_partial_results_list_pending_backbones(
    tmp_path: Path, mini_natural: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(oc.PROFILES, "mini", mini_natural | {"baseline_sets": []})
    folder = oc.work_dir("mini", tmp_path / "results")
    first = oc.backbone_specs(mini_natural)[0]
    images = oc.training_images(first.dataset, mini_natural, 0, torch.device("cpu"))
    oc.train_one(first, images, mini_natural, folder, progress=False)
    payload = _run(tmp_path, train_missing=False)
    assert list(payload["backbones"]) == [first.name]
    assert first.name not in payload["pending"]
    assert len(payload["pending"]) == len(oc.backbone_specs(mini_natural)) - 1
    assert {e["backbone"] for e in payload["evaluations"]} == {first.name}
    # the report shows what exists and dashes for the rest
    assert rep.table1(payload).iloc[0]["ours, λ = 0"] == "—"


def test_parallel_training_matches_in_process_training(tmp_path: Path) -> None:
    """Two worker processes train exactly what one process trains (MNIST, if fetched)."""
    try:
        image_sets.load_image_set("mnist", "test")
    except FileNotFoundError:
        pytest.skip("MNIST not fetched (make data)")
    settings = oc.get_profile("smoke") | {"train_images": 300, "steps_per_epoch": 2}
    specs = oc.backbone_specs(settings)[:2]
    parallel = tmp_path / "parallel"
    oc.train_backbones(specs, settings | {"workers": 2}, 0, parallel, log=None)
    serial = tmp_path / "serial"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        for spec in specs:
            images = oc.training_images(spec.dataset, settings, 0, torch.device("cpu"))
            oc.train_one(spec, images, settings, serial, progress=False)
    finally:
        torch.set_num_threads(threads)
    for spec in specs:
        a = torch.load(parallel / f"{spec.name}-backbone.pt", weights_only=True)
        b = torch.load(serial / f"{spec.name}-backbone.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_one_backbone_is_never_trained_by_two_processes_at_once(tmp_path) -> None:
    lock = tmp_path / ".net.lock"
    with oc.exclusive(lock, "backbone net"):
        # flock locks belong to open files: a second open, as another process makes, fails
        holder = rf"backbone net is being trained by process {os.getpid()}"
        with pytest.raises(BlockingIOError, match=holder):
            with oc.exclusive(lock, "backbone net"):
                pass
    with oc.exclusive(lock, "backbone net"):  # released when the block ends
        pass


_ORPHAN = """
import multiprocessing, os, time
from toposhape.oneclass_study import _exit_with_parent

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
