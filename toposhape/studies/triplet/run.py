"""The experiments of the chapter "Manifold triplet learning" (Korman, arXiv 2106.07062).

:func:`run` trains, on the first half of the classes of MNIST and Fashion-MNIST, triplet
models with the chart distance and the normalised Euclidean baseline at every d of a
profile, and the 64-d study's three models (normalised baseline, unnormalised 1-chart
model, MMD-regularised 1-chart model); it retrieves on the held-out classes (Recall@k,
MAP@R, Recall@1 after every epoch) and measures the compressed vector store on the 64-d
baseline embedding. :func:`benchmark_status` says whether the reference's benchmarks
(CUB-200-2011, Stanford Cars) are on this machine. No plotting: the payload's figures,
tables and claims are in :mod:`toposhape.studies.triplet.report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.atlas import AtlasAutoencoder
from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_mapping,
    check_path,
    check_sequence,
)
from toposhape.compression import compression_table, fit_atlas_to_embedding
from toposhape.contrastive import SmallConvNet
from toposhape.data import USER_LAYOUTS, random_subset, user_root
from toposhape.results import profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, seeded
from toposhape.triplet import (
    Embedder,
    EuclideanEmbedder,
    ManifoldEmbedder,
    TripletConfig,
    class_split,
    embed,
    evaluate_retrieval,
    load_cars196,
    load_cub200,
    train_triplet,
)

__all__ = [
    "BENCHMARKS",
    "CHAPTER",
    "PROFILES",
    "WIDE_MODELS",
    "benchmark_status",
    "get_profile",
    "grid_keys",
    "run",
    "work_dir",
]

CHAPTER = "triplet"

#: The 64-d study: name -> (description, charts or None for the Euclidean baseline, MMD weight).
WIDE_MODELS: dict[str, tuple[str, int | None, float]] = {
    "normalised": ("Linear(features, D), L2-normalised (the baseline)", None, 0.0),
    "unnormalised": ("one chart, sigmoid coordinates in [0,1]^D, no MMD", 1, 0.0),
    "mmd": ("one chart, sigmoid coordinates, MMD to uniform [0,1]^D", 1, 1.0),
}

#: The backbone is trained from scratch (the reference fine-tunes an ImageNet GoogLeNet
#: with RMSprop 1e-5), so Adam 1e-3; batches of m = 4 classes × k = 8 images (5 classes
#: train on (Fashion-)MNIST, fewer than the reference's m = 8).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist"],
        "dims": [2],
        "charts": [2],
        "wide_dim": 8,
        "backbone_width": 16,
        "train_images": 800,
        "test_images": 300,
        "epochs": 2,
        "steps_per_epoch": 8,
        "classes_per_batch": 4,
        "per_class": 4,
        "lr": 1e-3,
        "optimiser": "adam",
        "compression": {"configs": [[2, 2]], "database": 300, "queries": 50, "epochs": 1},
        "plot_points": 300,
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "dims": [2, 4, 8],
        "charts": [1, 2, 4, 8],
        "wide_dim": 64,
        "backbone_width": 16,
        "train_images": None,
        "test_images": None,
        "epochs": 6,
        "steps_per_epoch": 200,
        "classes_per_batch": 4,
        "per_class": 8,
        "lr": 1e-3,
        "optimiser": "adam",
        "compression": {
            "configs": [[4, 2], [8, 4], [16, 8], [16, 16]],
            "database": None,
            "queries": 1000,
            "epochs": 10,
        },
        "plot_points": 1500,
    },
}

_TRAIN_CLASSES = 5  # classes 0–4 train, 5–9 are held out for retrieval


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/triplet/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


def grid_keys(settings: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(key, k, d) of the grid: ``baseline-d{d}`` (k = 0) and ``manifold-k{k}-d{d}``.

    Parameters
    ----------
    settings : mapping
        A profile's settings: ``dims`` and ``charts``, non-empty sequences of ints >= 1.
    """
    check_mapping("settings", settings, "dims", "charts")
    for key in ("dims", "charts"):
        name = f"settings[{key!r}]"
        for i, value in enumerate(check_sequence(name, settings[key])):
            check_int(f"{name}[{i}]", value, 1)
    keys = []
    for d in settings["dims"]:
        keys.append((f"baseline-d{d}", 0, d))
        keys.extend((f"manifold-k{k}-d{d}", k, d) for k in settings["charts"])
    return keys


def _build(settings: Mapping[str, Any], charts: int, dim: int, seed: int) -> Embedder:
    """charts = 0: the Euclidean baseline with ``dim`` outputs on the unit sphere."""
    with seeded(seed):
        backbone = SmallConvNet(1, settings["backbone_width"])
        if charts == 0:
            return EuclideanEmbedder(backbone, dim, normalise=True)
        return ManifoldEmbedder(backbone, charts, dim)


def _train(
    model: Embedder,
    train: tuple[torch.Tensor, torch.Tensor],
    held_out: tuple[torch.Tensor, torch.Tensor],
    settings: Mapping[str, Any],
    mmd_weight: float,
    seed: int,
    checkpoint: Path,
    progress: bool,
) -> tuple[list[dict], dict[str, float]]:
    """Train, recording the held-out Recall@1 after every epoch; final retrieval metrics."""
    config = TripletConfig(
        epochs=settings["epochs"],
        classes_per_batch=settings["classes_per_batch"],
        per_class=settings["per_class"],
        lr=settings["lr"],
        optimiser=settings["optimiser"],
        mmd_weight=mmd_weight,
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )

    def recall_at_1(_: int) -> dict[str, float]:
        metrics = evaluate_retrieval(model, *held_out, ks=(1,))
        return {"held_out_recall_at_1": metrics["recall_at_1"]}

    history = train_triplet(
        model, *train, config, checkpoint=checkpoint, progress=progress, on_epoch=recall_at_1
    )
    return history, evaluate_retrieval(model, *held_out) | {"config": asdict(config)}


def _compression(
    model: EuclideanEmbedder,
    database_images: torch.Tensor,
    query_images: torch.Tensor,
    settings: Mapping[str, Any],
    seed: int,
    progress: bool,
) -> list[dict[str, Any]]:
    """The compression table of every (k, d) atlas fitted to the model's embedding."""
    database, queries = embed(model, database_images), embed(model, query_images)
    rows = []
    for charts, dim in settings["configs"]:
        atlas: AtlasAutoencoder = fit_atlas_to_embedding(
            database, charts, dim, settings["epochs"], seed, progress
        )
        with torch.no_grad():
            db_codes, query_codes = atlas.encode(database), atlas.encode(queries)
        for row in compression_table(database, queries, db_codes, query_codes):
            rows.append({"charts": charts, "dim": dim, **row})
    return rows


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full"}
    seed : int
        Seeds subsets, initial weights (every model starts from the same backbone
        weights), batches, MMD draws and the atlases of the compression study; in [0,
        :data:`toposhape.training.MAX_SEED`].
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, so an interrupted run resumes.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per finished phase.

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    from toposhape.data import load_images

    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    folder = work_dir(profile, results_root)
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    out: dict[str, Any] = {}
    for dataset in settings["datasets"]:
        started = time.perf_counter()
        train_x, train_y = load_images(dataset, "train")
        test_x, test_y = load_images(dataset, "test")
        seen, _ = class_split(train_y, _TRAIN_CLASSES)
        train = random_subset(train_x[seen], train_y[seen], settings["train_images"], seed)
        _, unseen = class_split(test_y, _TRAIN_CLASSES)
        held_out = random_subset(test_x[unseen], test_y[unseen], settings["test_images"], seed + 1)
        entry: dict[str, Any] = {"grid": {}, "wide": {}}
        for key, k, d in grid_keys(settings):
            model = _build(settings, k, d + 1 if k == 0 else d, seed)
            mmd_weight = 1.0 if k else 0.0
            history, metrics = _train(
                model, train, held_out, settings, mmd_weight, seed,
                folder / f"{dataset}-{key}.pt", progress,
            )  # fmt: skip
            entry["grid"][key] = {"charts": k, "dim": d, "history": history, **metrics}
            if d == 2 and k == max(settings["charts"]):
                codes = model(held_out[0][: settings["plot_points"]])
                chart = codes.chart
                coords = codes.coords[torch.arange(len(chart)), chart]
                entry["points"] = {
                    "model": key,
                    "coords": np.round(coords.detach().numpy(), 4).tolist(),
                    "charts": chart.tolist(),
                    "labels": held_out[1][: settings["plot_points"]].tolist(),
                }
        timings[f"{dataset} grid"] = round(time.perf_counter() - started, 1)
        say(f"{dataset} grid: {timings[f'{dataset} grid']:.0f} s")
        started = time.perf_counter()
        wide = settings["wide_dim"]
        for name, (_, charts, mmd_weight) in WIDE_MODELS.items():
            model = _build(settings, charts or 0, wide, seed)
            history, metrics = _train(
                model, train, held_out, settings, mmd_weight, seed,
                folder / f"{dataset}-wide-{name}.pt", progress,
            )  # fmt: skip
            entry["wide"][name] = {"history": history, **metrics}
            if name == "normalised":
                baseline = model
        timings[f"{dataset} 64-d study"] = round(time.perf_counter() - started, 1)
        say(f"{dataset} {wide}-d study: {timings[f'{dataset} 64-d study']:.0f} s")
        started = time.perf_counter()
        comp = settings["compression"]
        _, unseen_train = class_split(train_y, _TRAIN_CLASSES)
        database = random_subset(
            train_x[unseen_train], train_y[unseen_train], comp["database"], seed
        )
        queries = held_out[0][: comp["queries"]]
        entry["compression"] = {
            "database": len(database[0]),
            "queries": len(queries),
            "rows": _compression(baseline, database[0], queries, comp, seed, progress),
        }
        timings[f"{dataset} compression"] = round(time.perf_counter() - started, 1)
        say(f"{dataset} compression: {timings[f'{dataset} compression']:.0f} s")
        entry["train_images"], entry["held_out_images"] = len(train[0]), len(held_out[0])
        out[dataset] = entry
    return {"profile": profile, "settings": settings, "datasets": out, "timings_s": timings}


#: A benchmark loader: root -> (training paths, labels, held-out paths, labels).
SplitLoader = Callable[[Path], tuple[list[Path], torch.Tensor, list[Path], torch.Tensor]]

#: The reference's benchmarks (no offline source provides them) and their loaders.
BENCHMARKS: dict[str, SplitLoader] = {
    "cub200": load_cub200,
    "cars196": load_cars196,
}


def benchmark_status() -> dict[str, str]:
    """For each of :data:`BENCHMARKS`: the images found, or the files it needs.

    Looks in the data folder (``$TOPOSHAPE_DATA``, default ``<repo>/data``); the answer
    names no absolute path, so it can be shown in the book.

    Returns
    -------
    dict of str to str
        Benchmark name -> ``"<n> training and <m> held-out images"`` or
        ``"not in the data folder (TOPOSHAPE_DATA), which needs <files>"``.
    """
    status = {}
    for name, loader in BENCHMARKS.items():
        try:
            root = user_root(name)
        except FileNotFoundError:
            expected = ", ".join(USER_LAYOUTS[name][0])
            status[name] = f"not in the data folder (TOPOSHAPE_DATA), which needs {expected}"
            continue
        train_paths, _, test_paths, _ = loader(root)
        status[name] = f"{len(train_paths)} training and {len(test_paths)} held-out images"
    return status
