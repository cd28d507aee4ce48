"""The experiments of the chapter "MSimCLR" (Korman, arXiv 2106.07062, §4.1).

:func:`train_models` trains SimCLR at every d and MSimCLR at every (k, d) of a profile on
one dataset (checkpointed, so it resumes and can run one process per dataset);
:func:`run` trains what is missing and evaluates every model with the linear probe
(SimCLR) or the per-chart linear classifiers (MSimCLR), returning the chapter's payload.
:mod:`toposhape.studies.msimclr.report` turns a payload into figures, tables and claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_images,
    check_int,
    check_mapping,
    check_path,
    check_sequence,
    check_tensor,
)
from toposhape.contrastive import (
    ContrastiveConfig,
    MSimCLRModel,
    SimCLRModel,
    build_msimclr,
    build_simclr,
    chart_probe,
    features,
    linear_probe,
    simclr_augment,
    train_contrastive,
)
from toposhape.data import random_subset
from toposhape.results import profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, profile_device

__all__ = [
    "CHAPTER",
    "CIFAR_COMMAND",
    "PROFILES",
    "alive_units",
    "collapsed_heads",
    "get_profile",
    "model_keys",
    "run",
    "train_models",
    "work_dir",
]

CHAPTER = "msimclr"

#: The CPU budget allows a few hundred steps per model, not the reference's 100 epochs, so
#: ``lr`` is 10× the reference's 1e-4 and τ = 0.5 (its CIFAR value; 1.0 for (F)MNIST).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist"],
        "dims": [2],
        "charts": [1, 2],
        "backbone": "tiny",
        "train_images": 512,
        "test_images": 500,
        "epochs": 1,
        "batch_size": 64,
        "lr": 1e-3,
        "temperature": 0.5,
        "plot_points": 500,
        "wide_head": 64,
        "wide_head_dims": [2],
        "init_seeds": 4,
        "device": "cpu",
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "dims": [2, 4, 8],
        "charts": [1, 2, 4, 8],
        "backbone": "tiny",
        "train_images": 10240,
        "test_images": None,
        "epochs": 2,
        "batch_size": 128,
        "lr": 1e-3,
        "temperature": 0.5,
        "plot_points": 2000,
        "wide_head": 64,
        "wide_head_dims": [2],
        "init_seeds": 50,
        "device": "cpu",
    },
    # Not run for this book (no GPU, no CIFAR-10 here): the command is CIFAR_COMMAND.
    # The reference: ResNet-50, 1000 epochs, τ = 0.5; this profile: ResNet-18, 200 epochs.
    "cifar": {
        "datasets": ["cifar10"],
        "dims": [2, 4, 8],
        "charts": [1, 2, 4, 8],
        "backbone": "resnet18",
        "train_images": None,
        "test_images": None,
        "epochs": 200,
        "batch_size": 256,
        "lr": 1e-3,
        "temperature": 0.5,
        "plot_points": 2000,
        "wide_head": 64,
        "wide_head_dims": [2],
        "init_seeds": 50,
        "device": "cuda",
    },
}

CIFAR_COMMAND = "TOPOSHAPE_DATA=<data root> make reproduce CHAPTER=msimclr PROFILE=cifar"


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/msimclr/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


def _check_positive_ints(name: str, values: object, *, nonempty: bool = True) -> list[int]:
    """A sequence of ints >= 1 (dimensions, chart counts)."""
    values = check_sequence(name, values, nonempty=nonempty)
    return [check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(values)]


def model_keys(settings: Mapping[str, Any]) -> list[tuple[str, int, int, int | None]]:
    """(key, k, d, hidden) of every model of a profile.

    ``simclr-d{d}`` (k = 0, the reference head, hidden None), ``msimclr-k{k}-d{d}``, and
    for every d in ``settings["wide_head_dims"]`` ``simclr-h{h}-d{d}``: SimCLR with a
    projection head of hidden width h = ``settings["wide_head"]``.

    Parameters
    ----------
    settings : mapping
        A profile's settings: ``dims`` (non-empty), ``charts`` and ``wide_head_dims``
        (sequences of ints >= 1) and ``wide_head`` (int >= 1).
    """
    check_mapping("settings", settings, "dims", "charts", "wide_head", "wide_head_dims")
    _check_positive_ints("settings['dims']", settings["dims"])
    _check_positive_ints("settings['charts']", settings["charts"], nonempty=False)
    _check_positive_ints("settings['wide_head_dims']", settings["wide_head_dims"], nonempty=False)
    check_int("settings['wide_head']", settings["wide_head"], 1)
    keys = []
    for d in settings["dims"]:
        keys.append((f"simclr-d{d}", 0, d, None))
        keys.extend((f"msimclr-k{k}-d{d}", k, d, None) for k in settings["charts"])
    h = settings["wide_head"]
    keys.extend((f"simclr-h{h}-d{d}", 0, d, h) for d in settings["wide_head_dims"])
    return keys


def _data(dataset: str, settings: Mapping[str, Any], seed: int):
    """(train, test) pairs of float images in [0, 1] (N, C, H, W) and labels (N,), on the CPU."""
    from toposhape.image_sets import load_image_set

    splits = []
    for split, n, offset in (
        ("train", settings["train_images"], 0),
        ("test", settings["test_images"], 1),
    ):
        x, y, _ = load_image_set(dataset, split)
        x, y = random_subset(x, y, n, seed + offset)
        splits.append((x.float().div_(255.0), y))
    return splits[0], splits[1]


def train_models(
    profile: str,
    dataset: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
) -> dict[str, tuple[SimCLRModel | MSimCLRModel, list[dict]]]:
    """Train (or resume, or load when finished) every model of a profile on one dataset.

    Every model starts from weights seeded with ``seed`` and sees the same batches and
    augmentations (the same training seed); checkpoints go to :func:`work_dir`.

    Parameters
    ----------
    profile : {"smoke", "full", "cifar"}
    dataset : str
        One of the profile's datasets.
    seed : int
        In [0, :data:`toposhape.training.MAX_SEED`].
    results_root : path, optional
    progress : bool

    Returns
    -------
    dict
        key (see :func:`model_keys`) → (model in eval mode, per-epoch history).
    """
    settings = get_profile(profile)
    check_choice("dataset", dataset, settings["datasets"])
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    device = profile_device(settings["device"])
    (train_x, _), _ = _data(dataset, settings, seed)
    train_x = train_x.to(device)
    channels, side = train_x.shape[1], train_x.shape[-1]
    transform = simclr_augment(side, channels)
    config = ContrastiveConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        temperature=settings["temperature"],
        seed=seed,
    )
    folder = work_dir(profile, results_root)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, k, d, hidden in model_keys(settings):
        if k == 0:
            model = build_simclr(
                settings["backbone"], channels, side, dim=d, seed=seed, hidden=hidden
            )
        else:
            model = build_msimclr(settings["backbone"], channels, side, charts=k, dim=d, seed=seed)
        history = train_contrastive(
            model.to(device),
            train_x,
            transform,
            config,
            checkpoint=folder / f"{dataset}-{key}.pt",
            progress=progress,
        )
        out[key] = (model.eval(), history)
    return out


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def alive_units(model: SimCLRModel, embeddings: torch.Tensor) -> int:
    """Hidden units of SimCLR's projection head that are positive on at least one embedding.

    The head d → d → proj_dim has no bias and a ReLU. With at most one unit alive every
    projection is a non-negative multiple of one vector: all cosine similarities are 1
    (or 0), NT-Xent equals log(2B − 1) and, the cosine ignoring the scale, its gradient
    vanishes, so the model stops training (a collapsed head).

    Parameters
    ----------
    model : SimCLRModel
    embeddings : Tensor, shape (N, d)
        Outputs of ``model.embed``: N >= 1, finite, of the head's dtype (any device; they
        are moved to the model's).
    """
    if not isinstance(model, SimCLRModel):
        raise TypeError(f"model must be a SimCLRModel, got {type(model).__name__}")
    weight = model.head[0].weight
    embeddings = check_tensor("embeddings", embeddings, ndim=2, finite=True, min_rows=1)
    if embeddings.dtype != weight.dtype:
        raise TypeError(f"embeddings must be {weight.dtype} like the model, got {embeddings.dtype}")
    if embeddings.shape[1] != weight.shape[1]:
        raise ValueError(
            f"embeddings must have shape (N, {weight.shape[1]}), got {tuple(embeddings.shape)}"
        )
    with torch.no_grad():
        hidden = model.head[0](embeddings.to(_device_of(model)))
    return int((hidden > 0).any(dim=0).sum())


def collapsed_heads(
    settings: Mapping[str, Any], images: torch.Tensor, seeds: int
) -> dict[str, float]:
    """How often a freshly initialised SimCLR head is already collapsed, per d.

    Parameters
    ----------
    settings : mapping
        A profile's settings (backbone, dims).
    images : Tensor, shape (N, C, H, W)
        Images the fresh models embed: N >= 1, square, floating in [0, 1], on the CPU.
    seeds : int
        Initialisations tried per d (seeds 0 … seeds − 1), >= 1.

    Returns
    -------
    dict
        ``"d{d}"`` → the share of seeds with at most one unit alive (:func:`alive_units`).
    """
    check_mapping("settings", settings, "backbone", "dims")
    _check_positive_ints("settings['dims']", settings["dims"])
    images = check_images("images", images, uint8=False, min_rows=1)
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be square, got shape {tuple(images.shape)}")
    if images.device.type != "cpu":
        raise ValueError(f"images must be on the CPU (the fresh models are), got {images.device}")
    seeds = check_int("seeds", seeds, 1)
    channels, side = images.shape[1], images.shape[-1]
    out = {}
    for d in settings["dims"]:
        collapsed = 0
        for seed in range(seeds):
            model = build_simclr(settings["backbone"], channels, side, dim=d, seed=seed).eval()
            with torch.no_grad():
                collapsed += int(alive_units(model, model.embed(images)) <= 1)
        out[f"d{d}"] = collapsed / seeds
    return out


def _evaluate(
    model: SimCLRModel | MSimCLRModel,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    seed: int,
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """Probe accuracy, the test points' d-dim representation (N, d) and charts (N,) or None."""
    train_f, test_f = features(model, train_x), features(model, test_x)
    if isinstance(model, SimCLRModel):
        accuracy = linear_probe(train_f["embedding"], train_y, test_f["embedding"], test_y, seed)
        result = {"accuracy": accuracy, "alive_units": alive_units(model, test_f["embedding"])}
        return result, test_f["embedding"], None
    probe = chart_probe(
        train_f["chart"], train_f["coords"], train_y,
        test_f["chart"], test_f["coords"], test_y, seed, charts=model.charts,
    )  # fmt: skip
    return probe, test_f["coords"], test_f["chart"]


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
    profile : {"smoke", "full", "cifar"}
        ``cifar`` needs a GPU and CIFAR-10 under ``$TOPOSHAPE_DATA``.
    seed : int
        Seeds the subsets, the initial weights, batch orders, augmentations and MMD draws;
        in [0, :data:`toposhape.training.MAX_SEED`].
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, so an interrupted run resumes.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per finished dataset.

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    out: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for dataset in settings["datasets"]:
        started = time.perf_counter()
        (train_x, train_y), (test_x, test_y) = _data(dataset, settings, seed)
        models = train_models(profile, dataset, seed, results_root, progress)
        points = settings["plot_points"]
        entry: dict[str, Any] = {"models": {}, "labels": test_y[:points].tolist()}
        for key, k, d, hidden in model_keys(settings):
            model, history = models[key]
            result, coords, chart = _evaluate(model, train_x, train_y, test_x, test_y, seed)
            result |= {"charts": k, "dim": d, "hidden": hidden, "history": history}
            if d == 2:
                result["points"] = np.round(coords[:points].numpy(), 4).tolist()
                if chart is not None:
                    result["point_charts"] = chart[:points].tolist()
            entry["models"][key] = result
        entry["collapsed_at_init"] = collapsed_heads(settings, test_x[:256], settings["init_seeds"])
        entry["train_images"], entry["test_images"] = len(train_x), len(test_x)
        timings[dataset] = round(time.perf_counter() - started, 1)
        say(f"{dataset}: {len(entry['models'])} models in {timings[dataset]:.0f} s")
        out[dataset] = entry
    return {"profile": profile, "settings": settings, "datasets": out, "timings_s": timings}
