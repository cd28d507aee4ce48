"""The study behind the book chapter "One-class learning" (Hofer et al., ICML 2019).

Backbones (the reference autoencoder, trained with λ·connectivity loss) are trained
on one dataset and used, encoder only, for one-class learning on another: each class
in turn is the inlier class, n of its training images are the only data the one-class
model sees, and every test image is scored by counting those inliers inside ℓ1 balls
of radius η in each latent branch (:mod:`toposhape.oneclass`).

* :func:`run` computes a JSON-serialisable payload: backbones, per-class AUROCs of
  our models and of the baselines (:mod:`toposhape.baselines`), ablations;
* :mod:`toposhape.oneclass_report` turns a payload into tables, figures and findings, so
  the built book redraws everything from the saved results.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache as cache_fn
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.baselines import deep_svdd_scores, flatten_pixels, kde_scores, ocsvm_scores
from toposhape.checks import (
    check_bool,
    check_choice,
    check_float,
    check_images,
    check_int,
    check_optional_int,
    check_path,
    check_sequence,
    check_tensor,
)
from toposhape.data import random_subset
from toposhape.image_sets import (
    CIFAR10_CLASSES,
    IMAGE_SETS,
    ImageSplit,
    describe,
    load_image_set,
)
from toposhape.losses import RECONSTRUCTION
from toposhape.oneclass import (
    ball_counts,
    class_draws,
    draw_ball_counts,
    encode,
    run_protocol,
    summarise,
)
from toposhape.results import atomic_write_bytes, json_ready, profile_settings, read_json
from toposhape.results import work_dir as chapter_work_dir
from toposhape.studies.connectivity.deaths import death_summary, heldout_deaths
from toposhape.studies.connectivity.toy import homogenize
from toposhape.training import (
    MAX_SEED,
    TrainConfig,
    checkpoint_epochs,
    history_seconds,
    profile_device,
    save_backbone,
    seeded,
    train_autoencoder,
    train_backbone,
)

CHAPTER = "oneclass"

# The splits every dataset of a profile is read with (plus CIFAR-10's lossless test subset).
_SPLITS = ("train", "test")

#: The reference recipe (Hofer et al., ``COREL_icml2019``).
RECIPE: dict[str, Any] = {
    "branches": 16,
    "branch_dim": 10,
    "eta": 2.0,
    "p": 1.0,
    "lam": 20.0,
    "batch_size": 100,
    "lr": 1e-3,
    "epochs": 50,
}

#: Per-profile settings. ``None`` for an image count means the whole split.
#:
#: * ``datasets``: backbone training sets; ``eval_datasets``: one-class evaluation sets
#:   (every main backbone is evaluated on every one of them, at η and at the calibrated
#:   radius, see :func:`calibrated_radius`);
#: * ``train_seeds``: training runs per main backbone (seeds ``seed, seed + 1, ...``: the seed
#:   sets the initial weights and the batch order); the inlier draws do not depend on it;
#: * ``ns``: inliers per draw, ``draws``: draws per class;
#: * ``ablation_dataset``: the training set of the λ / branch ablation backbones, evaluated on
#:   ``ablation_evals`` with ``ablation_seeds`` training seeds; ``radii`` are evaluated on its
#:   λ = 20 backbones; ``large_n`` (or None) adds the anchor's n = 5000 row for λ, with one
#:   draw per class (5000 is every training image of a CIFAR-10 class: all draws are equal);
#: * ``baseline_ns``: the n at which each baseline is run on the ``baseline_sets``;
#: * ``workers``: backbones trained at once, in processes of one torch thread each;
#: * ``image_size``: side of the resized TinyImageNet / ImageNet images.
#: The reference's budget and protocol, shared by every profile but ``smoke``: all images,
#: 50 epochs, 3 training seeds, n ∈ {80, 120, 500} with 5 draws, the reference's ablation
#: grids, and the baselines at the n they afford on CPU (KDE and Deep SVDD: 120 only).
_REFERENCE_PROTOCOL: dict[str, Any] = {
    "train_images": None,
    "test_images": None,
    "epochs": 50,
    "steps_per_epoch": None,
    "train_seeds": 3,
    "ns": [80, 120, 500],
    "draws": 5,
    "ablation_seeds": 1,
    "lambdas": [0.0, 1.0, 10.0, 20.0, 40.0],
    "radii": [1.0, 1.5, 2.0, 2.25, 3.0, 5.0],
    "single_branch": True,
    "baseline_ns": {"kde": [120], "ocsvm": [80, 120, 500], "deep-svdd": [120]},
    "dsvdd_epochs": 150,
    "image_size": 32,
}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "train_images": 3000,
        "test_images": 1000,
        "epochs": 1,
        "steps_per_epoch": 30,
        "train_seeds": 1,
        "ns": [20, 40],
        "draws": 2,
        "ablation_dataset": "fashion-mnist",
        "ablation_evals": ["mnist", "fashion-mnist"],
        "ablation_seeds": 1,
        "lambdas": [0.0, 20.0],
        "radii": [1.0, 2.0, 3.0],
        "single_branch": True,
        "large_n": None,
        "baseline_ns": {"kde": [40], "ocsvm": [20, 40], "deep-svdd": [40]},
        "baseline_sets": ["mnist", "fashion-mnist"],
        "dsvdd_epochs": 5,
        "device": "cpu",
        "workers": 1,
        "image_size": 32,
    },
    "full": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "ablation_dataset": "fashion-mnist",
        "ablation_evals": ["mnist", "fashion-mnist"],
        "large_n": None,
        "baseline_sets": ["mnist", "fashion-mnist"],
        "device": "cpu",
        "workers": 2,
    },
    "natural": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["cifar10", "tinyimagenet"],
        "eval_datasets": ["cifar10", "tinyimagenet"],
        "ablation_dataset": "tinyimagenet",
        "ablation_evals": ["cifar10"],
        "large_n": 5000,
        "baseline_sets": ["cifar10"],
        "device": "cpu",
        "workers": 2,
    },
    "cifar": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["cifar10", "cifar100", "tinyimagenet"],
        "eval_datasets": ["cifar10", "cifar20", "cifar100", "tinyimagenet", "imagenet"],
        "ablation_dataset": "cifar100",
        "ablation_evals": ["cifar10"],
        "large_n": 5000,
        "baseline_sets": ["cifar10", "cifar20", "cifar100"],
        "device": "cuda",
        "workers": 1,
    },
}

#: The command that runs the CIFAR / ImageNet rows (needs the data and a GPU).
CIFAR_COMMAND = "TOPOSHAPE_DATA=<data root> make reproduce CHAPTER=oneclass PROFILE=cifar"

#: The authors' own numbers (AUROC × 100, λ = 20, 5 draws, mean over classes), read from
#: the notebooks saved in ``c-hofer/COREL_icml2019``. Anchors, not facts we measured.
ANCHORS: dict[str, Any] = {
    "source": "Hofer et al. (ICML 2019), notebooks saved in the COREL_icml2019 repository",
    "table1": {  # backbone -> eval -> AUROC at n = 120
        "cifar10": {
            "cifar10": 75.96,
            "cifar20": 72.31,
            "cifar100": 79.39,
            "tinyimagenet": 72.57,
            "imagenet": 72.24,
        },
        "cifar100": {
            "cifar10": 75.49,
            "cifar20": 72.64,
            "cifar100": 79.83,
            "tinyimagenet": 72.23,
            "imagenet": 72.11,
        },
        "tinyimagenet": {
            "cifar10": 74.42,
            "cifar20": 71.67,
            "cifar100": 78.76,
            "tinyimagenet": 72.84,
            "imagenet": 71.98,
        },
    },
    "by_n": {  # (backbone, eval) -> {n: AUROC}
        "cifar100→cifar10": {"80": 74.43, "120": 75.49, "500": 77.01},
        "cifar10→cifar20": {"80": 71.08, "120": 72.31, "500": 73.83},
        "cifar100→cifar100": {"80": 78.98, "120": 79.83, "500": 81.35},
        "cifar10→imagenet": {"80": 71.53, "120": 72.24, "500": 73.72},
    },
    "lambda": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"0": 54.67, "1": 70.92, "10": 75.45, "20": 76.00, "40": 74.76},
    },
    "lambda_large_n": {
        "pair": "cifar100→cifar10",
        "n": 5000,
        "values": {"0": 54.52, "1": 72.81, "10": 77.49, "20": 78.06, "40": 77.16},
    },
    "radius": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"1": 54.96, "1.5": 72.10, "2": 76.00, "2.25": 76.36, "3": 74.58, "5": 66.07},
    },
    "single_branch": {"pair": "cifar100→cifar10", "n": 120, "lam20": 63.30, "lam0": 50.0},
}

#: Class names of the offline sets (the others are shown by index).
CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Boot",
    ],
}

#: Baselines, in table order, with their display names.
BASELINES: dict[str, str] = {
    "kde": "KDE (pixels)",
    "ocsvm": "OC-SVM (pixels)",
    "deep-svdd": "Deep SVDD",
}

#: Top-level keys of the payload returned by :func:`run`.
PAYLOAD_KEYS = (
    "profile",
    "settings",
    "recipe",
    "toy",
    "datasets",
    "backbones",
    "evaluations",
    "baselines",
    "score_examples",
    "resume_check",
    "timings_s",
)


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown.

    Raises
    ------
    TypeError
        If ``profile`` is not a string.
    ValueError
        If it is not a key of :data:`PROFILES`.
    """
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a string, got {profile!r} ({type(profile).__name__})")
    return profile_settings(PROFILES, profile)


def _each(check: Callable[[str, object], Any], nonempty: bool = False) -> Callable:
    """The check of a sequence (non-empty if required) whose every item passes ``check``."""

    def each(name: str, value: object) -> None:
        for item in check_sequence(name, value, nonempty=nonempty):
            check(name, item)

    return each


def _dataset(name: str, value: object) -> str:
    return check_choice(name, value, tuple(IMAGE_SETS))


def _count(name: str, value: object) -> int:
    return check_int(name, value, 1)


def _optional_count(name: str, value: object) -> int | None:
    return check_optional_int(name, value, 1)


def _baseline_ns(name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of baseline to ns, got {type(value).__name__}")
    if set(value) != set(BASELINES):
        raise ValueError(f"{name} must have the keys {sorted(BASELINES)}, got {sorted(value)}")
    for method, ns in value.items():
        _each(_count, nonempty=True)(f"{name}[{method!r}]", ns)


# The check of each setting of a profile, given the name it is reported under.
_SETTING_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "datasets": _each(_dataset, nonempty=True),
    "eval_datasets": _each(_dataset, nonempty=True),
    "baseline_sets": _each(_dataset),
    "ablation_dataset": _dataset,
    "ablation_evals": _each(_dataset),
    "train_images": _optional_count,
    "test_images": _optional_count,
    "epochs": _count,
    "steps_per_epoch": _optional_count,
    "train_seeds": _count,
    "ns": _each(_count, nonempty=True),
    "draws": _count,
    "ablation_seeds": lambda name, value: check_int(name, value, 0),
    "lambdas": _each(lambda name, lam: check_float(name, lam, 0.0)),
    "radii": _each(lambda name, radius: check_float(name, radius, 0.0, low_open=True)),
    "single_branch": check_bool,
    "large_n": _optional_count,
    "baseline_ns": _baseline_ns,
    "dsvdd_epochs": _count,
    "device": lambda name, value: check_choice(name, value, ("cpu", "cuda")),
    "workers": _count,
    "image_size": _count,
}


def check_settings(settings: object, keys: Iterable[str] | None = None) -> Mapping[str, Any]:
    """Return ``settings`` if it is a mapping whose ``keys`` hold valid profile settings.

    Parameters
    ----------
    settings : object
        A profile's settings (:data:`PROFILES`), or the part of them a function reads.
    keys : iterable of str, optional
        The settings to check; None checks every setting of a profile, and that the
        ablation set and its evaluation sets are among the profile's datasets.

    Raises
    ------
    TypeError
        If ``settings`` is not a mapping, or a setting has the wrong type.
    ValueError
        If a setting is missing or has a bad value; the message names it, e.g.
        ``settings['ns']``.
    """
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping, got {type(settings).__name__}")
    wanted = list(_SETTING_CHECKS) if keys is None else list(keys)
    missing = [key for key in wanted if key not in settings]
    if missing:
        raise ValueError(f"settings lack {missing}")
    for key in wanted:
        _SETTING_CHECKS[key](f"settings[{key!r}]", settings[key])
    if keys is None:
        read = profile_datasets(settings)
        for name in [settings["ablation_dataset"], *settings["ablation_evals"]]:
            if name not in read:
                raise ValueError(
                    "settings['ablation_dataset'] and settings['ablation_evals'] must be among "
                    f"the profile's datasets {read}, got {name!r}"
                )
    return settings


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a study: training set, λ, latent layout and training seed.

    The seed sets the initial weights and the batch order, so backbones that differ only in
    λ start from the same weights, and three seeds of one setting are three training runs.
    """

    dataset: str
    lam: float
    branches: int = 16
    branch_dim: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, tuple(IMAGE_SETS))
        check_float("lam", self.lam, 0.0)
        check_int("branches", self.branches, 1)
        check_int("branch_dim", self.branch_dim, 1)
        check_int("seed", self.seed, 0, MAX_SEED)

    @property
    def name(self) -> str:
        """File stem and payload key, e.g. ``fashion-mnist-lam20-16x10-seed0``."""
        return f"{self.dataset}-lam{self.lam:g}-{self.branches}x{self.branch_dim}-seed{self.seed}"

    @property
    def setting(self) -> str:
        """The name without the seed: the key that groups a setting's training runs."""
        return f"{self.dataset}-lam{self.lam:g}-{self.branches}x{self.branch_dim}"


def train_seeds(settings: Mapping[str, Any], seed: int) -> list[int]:
    """Training seeds of the main backbones: ``seed, seed + 1, ...`` (``train_seeds`` of them).

    ``seed`` is an int ≥ 0 whose last training seed is at most 2**32 - 1.
    """
    check_settings(settings, ["train_seeds"])
    check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"] + 1)
    return [seed + i for i in range(settings["train_seeds"])]


def backbone_specs(settings: Mapping[str, Any], seed: int = 0) -> list[BackboneSpec]:
    """Backbones a profile trains, in training order.

    λ = 20 and λ = 0 for every training set and training seed (one training set after the
    other, so a set's cells are complete first), then the ablation backbones (λ grid and one
    160-d branch) on the ablation set, with ``ablation_seeds`` seeds each.
    """
    keys = ["datasets", "ablation_dataset", "ablation_seeds", "lambdas", "single_branch"]
    check_settings(settings, keys)
    seeds = train_seeds(settings, seed)
    specs = [
        BackboneSpec(dataset, lam, seed=s)
        for dataset in settings["datasets"]
        for s in seeds
        for lam in (RECIPE["lam"], 0.0)
    ]
    ablation = settings["ablation_dataset"]
    for s in seeds[: settings["ablation_seeds"]]:
        specs += [BackboneSpec(ablation, float(lam), seed=s) for lam in settings["lambdas"]]
        if settings["single_branch"]:
            dim = RECIPE["branches"] * RECIPE["branch_dim"]
            specs.append(BackboneSpec(ablation, RECIPE["lam"], 1, dim, seed=s))
    return list(dict.fromkeys(specs))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/oneclass/<profile>/_work`` (git-ignored).

    ``profile`` is a key of :data:`PROFILES`; ``results_root`` a path or None.
    """
    get_profile(profile)
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


def train_config(settings: Mapping[str, Any], lam: float, seed: int) -> TrainConfig:
    """The reference training settings at a profile's epoch budget.

    ``settings`` needs ``epochs`` and ``steps_per_epoch``; ``lam`` ≥ 0 is finite and ``seed``
    an int in [0, 2**32 - 1].
    """
    check_settings(settings, ["epochs", "steps_per_epoch"])
    check_float("lam", lam, 0.0)
    check_int("seed", seed, 0, MAX_SEED)
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=RECIPE["batch_size"],
        lr=RECIPE["lr"],
        lam=lam,
        eta=RECIPE["eta"],
        p=RECIPE["p"],
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )


def profile_datasets(settings: Mapping[str, Any]) -> list[str]:
    """Every dataset a profile reads, in a fixed order (training, evaluation, baseline sets)."""
    check_settings(settings, ["datasets", "eval_datasets", "baseline_sets"])
    names = [*settings["datasets"], *settings["eval_datasets"], *settings["baseline_sets"]]
    return list(dict.fromkeys(names))


def load_split(
    name: str, split: str, settings: Mapping[str, Any], seed: int, progress: bool = False
) -> ImageSplit:
    """A split as a profile uses it: all images, or a seeded subset of ``<split>_images``.

    The subset depends on ``seed``, the dataset's place in :func:`profile_datasets` and the
    split, so every process of a run (the chapter, the training workers) reads the same
    images. The record keeps the counts of the files read; ``used`` gives the number used.

    ``name`` is one of the profile's datasets, ``split`` "train" or "test", ``seed`` an int in
    [0, 2**32 - 1]; everything is checked before a file is read.
    """
    check_settings(settings, ["image_size", "train_images", "test_images"])
    check_choice("name", name, profile_datasets(settings))
    check_choice("split", split, _SPLITS)
    check_int("seed", seed, 0, MAX_SEED)
    check_bool("progress", progress)
    loaded = load_image_set(name, split, size=settings["image_size"], progress=progress)
    key = "train_images" if split == "train" else "test_images"
    subset_seed = seed + 2 * profile_datasets(settings).index(name) + (split != "train")
    images, labels = random_subset(loaded.images, loaded.labels, settings[key], subset_seed)
    return ImageSplit(images, labels, {**loaded.record, "used": len(images)})


def training_images(
    dataset: str, settings: Mapping[str, Any], seed: int, device: torch.device
) -> torch.Tensor:
    """The float training images of a backbone, in [0, 1], on ``device``.

    ``dataset`` is one of the profile's datasets; ``device`` a torch device (or its name)
    that torch can use. Arguments as in :func:`load_split`, checked before a file is read.
    """
    if not isinstance(device, torch.device | str):
        raise TypeError(f"device must be a torch.device, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must name a torch device, got {device!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but torch sees no GPU")
    check_choice("dataset", dataset, profile_datasets(settings))
    split = load_split(dataset, "train", settings, seed)
    return split.images.to(device).float().div_(255.0)


def train_one(
    spec: BackboneSpec,
    images: torch.Tensor,
    settings: Mapping[str, Any],
    folder: Path,
    progress: bool,
) -> tuple[ConnectivityAutoencoder, list[dict]]:
    """Train (or resume, or reload when finished) one backbone.

    The per-epoch checkpoint is ``<folder>/<name>.pt``; the final weights are also
    saved as a plain ``state_dict`` + JSON record, ``<folder>/<name>-backbone.{pt,json}``.
    While it runs, the process holds an exclusive lock on ``<folder>/.<name>.lock``, so
    two processes never train (and write) one backbone at once.

    Raises
    ------
    BlockingIOError
        If another process is training this backbone.
    """
    with exclusive(folder / f".{spec.name}.lock", f"backbone {spec.name}"):
        model, history = train_backbone(
            images,
            train_config(settings, spec.lam, spec.seed),
            branches=spec.branches,
            branch_dim=spec.branch_dim,
            init_seed=spec.seed,
            checkpoint=folder / f"{spec.name}.pt",
            progress=progress,
            description=spec.name,
        )
        save_backbone(model, folder / f"{spec.name}-backbone")
    return model, history


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``path`` (POSIX ``flock``) inside the block.

    The lock dies with its process, so a killed run never leaves a stale lock; the
    lock file (which names the holder) stays, empty of meaning until locked again.

    Raises
    ------
    BlockingIOError
        If another process holds the lock; the message names ``what`` and that process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BlockingIOError(
                f"{what} is being trained by {holder} (lock {path}); wait for it to finish "
                "or stop that process, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _exit_with_parent(parent: int, interval: float = 2.0) -> None:
    """Pool initialiser: end this worker when the process that started it is gone.

    A pool worker outlives a parent killed by a signal and would go on training (and
    writing checkpoints) beside the next run; a daemon thread ends it instead. Its
    checkpoint writes are atomic, so ending it mid-epoch loses at most that epoch.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _train_in_worker(
    spec: BackboneSpec, settings: dict[str, Any], seed: int, folder: Path
) -> tuple[str, float]:
    """Process-pool job: train one backbone on one torch thread; (name, training seconds)."""
    torch.set_num_threads(1)
    images = training_images(spec.dataset, settings, seed, torch.device("cpu"))
    _, history = train_one(spec, images, settings, folder, progress=False)
    return spec.name, history_seconds(history)


def train_backbones(
    specs: list[BackboneSpec],
    settings: Mapping[str, Any],
    seed: int,
    folder: Path,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> None:
    """Train (or resume) backbones in ``settings["workers"]`` processes, one torch thread each.

    On 2 CPU cores, two single-threaded trainings run ~25 % faster in total than one after
    the other on two threads (measured for the reference autoencoder at batch 100). Each
    backbone checkpoints every epoch, so an interrupted call resumes where it stopped; a
    finished backbone is not trained again. With ``workers`` = 1 nothing is started.
    """
    workers = settings["workers"]
    todo = [
        spec for spec in specs if checkpoint_epochs(folder / f"{spec.name}.pt") < settings["epochs"]
    ]
    if workers <= 1 or not todo:
        return
    say = log or (lambda _msg: None)
    say(f"training {len(todo)} backbones in {workers} processes of one thread each")
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
        ) as pool,
        tqdm(total=len(todo), desc="backbones", disable=not progress) as bar,
    ):
        jobs = [pool.submit(_train_in_worker, spec, dict(settings), seed, folder) for spec in todo]
        for job in as_completed(jobs):
            name, seconds = job.result()
            bar.update()
            say(f"trained {name}: {seconds / 60:.1f} min of training steps")


# ---------------------------------------------------------------------------
# The η-ball picture
# ---------------------------------------------------------------------------


def eta_ball_toy(seed: int, n: int = 14, eta: float = 1.0, grid: int = 61) -> dict[str, Any]:
    """A 2-D picture of the score: ℓ1 balls of radius η around n inliers.

    The inliers are random points moved by the connectivity loss (ℓ1) until their
    death times are close to η, i.e. what a trained branch does to a batch; the score
    of a location is the number of inliers within ℓ1 distance η of it.

    Parameters
    ----------
    seed : int
        ≥ 0.
    n : int
        Inliers, ≥ 2.
    eta : float
        Finite radius > 0.
    grid : int
        Grid points per axis, ≥ 2.

    Returns
    -------
    dict
        ``points`` (n, 2), ``eta``, ``xs``, ``ys`` (grid,), ``counts`` (grid, grid).
    """
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 2)
    eta = check_float("eta", eta, 0.0, low_open=True)
    grid = check_int("grid", grid, 2)
    rng = np.random.default_rng(seed + 3)
    start = rng.normal(size=(n, 2)) * 0.6
    points, _ = homogenize(start, eta=eta, steps=300, lr=0.03, p=1.0)
    lo, hi = points.min(0) - 1.6 * eta, points.max(0) + 1.6 * eta
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    gx, gy = np.meshgrid(xs, ys)
    loc = np.stack([gx.ravel(), gy.ravel()], 1)
    counts = ball_counts(torch.from_numpy(loc), torch.from_numpy(points), 1, [eta], [n], p=1.0)[
        0, 0
    ]
    return {
        "eta": eta,
        "points": points.round(5).tolist(),
        "xs": xs.round(5).tolist(),
        "ys": ys.round(5).tolist(),
        "counts": counts.reshape(grid, grid).tolist(),
    }


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def _rows(
    table: np.ndarray, classes: list[str], variants: list[float | None], ns: list[int]
) -> list[dict[str, Any]]:
    """Summaries of an AUROC table (classes, draws, variants, ns), one row per (variant, n)."""
    rows = []
    for v, radius in enumerate(variants):
        for k, n in enumerate(ns):
            rows.append({"radius": radius, "n": n, **summarise(table[:, :, v, k], classes)})
    return rows


def class_names(name: str) -> list[str]:
    """Display names of a dataset's classes (indices where the set has no short names).

    ``name`` is one of :data:`~toposhape.image_sets.IMAGE_SETS`.
    """
    check_choice("name", name, tuple(IMAGE_SETS))
    if name == "cifar10":
        return list(CIFAR10_CLASSES)
    return CLASS_NAMES.get(name, [str(c) for c in range(IMAGE_SETS[name])])


def calibrated_radius(codes: torch.Tensor, branches: int) -> float:
    """Mean death time of held-out batches of 100 codes: a radius fitted to the target data.

    The η-ball score assumes that a batch of the target data "just connects" at η; where a
    backbone maps the target data at another scale, this radius (computed from the test
    codes alone, no labels) is the scale at which it does.

    Parameters
    ----------
    codes : Tensor, shape (N, branches · d)
        Finite floating codes, N ≥ 100 (one held-out batch).
    branches : int
        ≥ 1, dividing the number of columns.
    """
    branches = check_int("branches", branches, 1)
    batch = RECIPE["batch_size"]
    check_tensor("codes", codes, ndim=2, floating=True, min_rows=batch)
    if codes.shape[1] == 0 or codes.shape[1] % branches:
        raise ValueError(
            f"codes must have a positive multiple of branches={branches} columns, "
            f"got shape {tuple(codes.shape)}"
        )
    check_tensor("codes", codes, finite=True)
    deaths = heldout_deaths(codes, branches, batch, RECIPE["p"])
    return round(float(deaths.double().mean()), 4)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached(folder: Path, key: Mapping[str, Any], compute: Callable[[], dict]) -> dict:
    """``compute()``, or its saved result for the same ``key`` (JSON in ``folder``).

    The key names everything the result depends on (weights digest, data fingerprint, draws,
    radii, ...), so a rerun of a long profile re-evaluates only what changed. An entry that
    is not valid JSON (a damaged file) is computed again and replaced.
    """
    text = json.dumps(key, sort_keys=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    if path.is_file():
        try:
            saved = read_json(path, "evaluation cache entry", "it is computed again")
        except ValueError:
            saved = None
        if isinstance(saved, dict) and saved.get("key") == json.loads(text):
            return saved["value"]
    value = compute()
    record = json_ready({"key": json.loads(text), "value": value})
    atomic_write_bytes(path, json.dumps(record, allow_nan=False).encode())
    return value


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool = True,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full", "natural", "cifar"}
    seed : int
        Seeds data subsets, inlier draws and baselines, and is the first training seed
        (the others follow it, see :func:`train_seeds`).
    results_root : path, optional
        Results folder (default ``<repo>/results``); checkpoints, backbones and cached
        evaluations go to :func:`work_dir`, so an interrupted run resumes where it stopped.
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing : bool
        Train the backbones that are not finished. With False, only finished backbones are
        evaluated and the others are listed under ``pending`` (partial results of a long
        profile, e.g. while ``python -m toposhape.oneclass_study train`` is still running).

    Returns
    -------
    dict
        JSON-serialisable payload with the keys :data:`PAYLOAD_KEYS`, and ``pending`` (the
        backbones left out) when ``train_missing`` is False.

    Raises
    ------
    TypeError, ValueError
        If an argument or the profile's settings (:func:`check_settings`) are bad, before
        any data is read.
    """
    settings = get_profile(profile)
    check_settings(settings)
    train_seeds(settings, seed)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    if log is not None and not callable(log):
        raise TypeError(f"log must be callable or None, got {type(log).__name__}")
    check_bool("train_missing", train_missing)
    device = profile_device(settings["device"])
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 2)
        tick = now
        say(f"{name}: {timings[name]:.1f} s")

    payload: dict[str, Any] = {
        "profile": profile,
        "settings": settings,
        "recipe": {**RECIPE, "reconstruction": RECONSTRUCTION},
    }
    payload["toy"] = eta_ball_toy(seed)
    data: dict[str, dict[str, ImageSplit]] = {}
    for name in profile_datasets(settings):
        data[name] = {split: load_split(name, split, settings, seed, progress) for split in _SPLITS}
        if data[name]["test"].record["layout"] == "cifar-10-images folders":
            lossless = load_image_set(name, "test-png")
            data[name]["test-png"] = ImageSplit(*lossless[:2], {**lossless.record, "used": 1000})
    payload["datasets"] = {
        name: {
            "classes": class_names(name),
            "image_shape": list(splits["train"].images.shape[1:]),
            "labels": {split: describe(x.record) for split, x in splits.items()},
            "records": {split: x.record for split, x in splits.items()},
        }
        for name, splits in data.items()
    }
    lap("data")

    folder = work_dir(profile, results_root)
    cache = folder / "evaluations"
    specs = backbone_specs(settings, seed)
    if train_missing:
        train_backbones(specs, settings, seed, folder, progress, log)
    else:
        done = [
            s for s in specs if checkpoint_epochs(folder / f"{s.name}.pt") >= settings["epochs"]
        ]
        payload["pending"] = [s.name for s in specs if s not in done]
        specs = done
    payload["backbones"], payload["evaluations"], payload["score_examples"] = {}, [], []
    ablation_seeds = train_seeds(settings, seed)[: settings["ablation_seeds"]]
    for spec in specs:
        images = data[spec.dataset]["train"].images.to(device).float().div_(255.0)
        model, history = train_one(spec, images, settings, folder, progress)
        del images
        lap(f"train {spec.name}")
        weights = _file_digest(folder / f"{spec.name}-backbone.pt")
        codes = encode(model, data[spec.dataset]["test"].images)
        deaths = heldout_deaths(codes, spec.branches, RECIPE["batch_size"], RECIPE["p"]).cpu()
        payload["backbones"][spec.name] = {
            "spec": asdict(spec),
            "setting": spec.setting,
            "history": history,
            "deaths": death_summary(deaths, RECIPE["eta"], 0.5),
            "weights_sha256": weights,
        }
        main = spec.branches == RECIPE["branches"] and spec.lam in (0.0, RECIPE["lam"])
        main = main and spec.seed in train_seeds(settings, seed)
        evals = settings["eval_datasets"] if main else settings["ablation_evals"]
        for eval_name in evals:
            jobs = _evaluation_jobs(
                spec,
                eval_name,
                settings,
                main,
                spec.seed in ablation_seeds,
                "test-png" in data[eval_name],
            )
            train_split = data[eval_name]["train"]
            # encoded only if an evaluation is not in the cache (100 000 images on TinyImageNet)
            train_codes = cache_fn(partial(encode, model, train_split.images))
            for job in jobs:
                if job["kind"] == "jpeg":
                    test = data[eval_name]["test-png" if job["split"] == "test-png" else "test"]
                    test_images, test_labels = _jpeg_subset(data[eval_name], job["split"])
                else:
                    test = data[eval_name]["test"]
                    test_images, test_labels = test.images, test.labels
                test_codes = encode(model, test_images)
                radii = [RECIPE["eta"]] + (settings["radii"] if job["radius_grid"] else [])
                calibrated = None
                if job["calibrated"]:
                    calibrated = calibrated_radius(test_codes, spec.branches)
                    radii.append(calibrated)
                radii = list(dict.fromkeys(float(r) for r in radii))
                key = {
                    "weights": weights,
                    "branches": spec.branches,
                    "train": train_split.record["fingerprint"],
                    "test": test.record["fingerprint"],
                    "kind": job["kind"],
                    "split": job["split"],
                    "ns": job["ns"],
                    "draws": job["draws"],
                    "radii": radii,
                    "seed": seed,
                    "p": RECIPE["p"],
                }

                compute = partial(
                    _evaluate,
                    spec,
                    eval_name,
                    train_codes,
                    train_split.labels,
                    test_codes,
                    test_labels,
                    radii,
                    job["ns"],
                    job["draws"],
                    seed,
                    progress,
                )
                entry = _cached(cache, key, compute)
                entry |= {
                    "backbone": spec.name,
                    "setting": spec.setting,
                    "spec": asdict(spec),
                    "eval": eval_name,
                    "kind": job["kind"],
                    "split": job["split"],
                    "calibrated_radius": calibrated,
                }
                payload["evaluations"].append(entry)
            if spec.dataset == eval_name and main and spec.seed == seed:
                example = _score_example(
                    spec, eval_name, train_codes(), data[eval_name], model, payload, seed
                )
                payload["score_examples"].append(example)
            lap(f"evaluate {spec.name} → {eval_name}")
    first = settings["datasets"][0]
    images = data[first]["train"].images[:200].to(device).float().div_(255.0)
    payload["resume_check"] = resume_check(images, seed, folder)
    lap("resume check")
    payload["baselines"] = []
    for eval_name in settings["baseline_sets"]:
        for method in BASELINES:
            key = {
                "method": method,
                "train": data[eval_name]["train"].record["fingerprint"],
                "test": data[eval_name]["test"].record["fingerprint"],
                "ns": settings["baseline_ns"][method],
                "draws": settings["draws"],
                "seed": seed,
                "dsvdd_epochs": settings["dsvdd_epochs"],
            }
            compute = partial(
                _baseline, method, eval_name, data[eval_name], settings, seed, progress
            )
            entry = _cached(cache, key, compute)
            payload["baselines"].append(entry)
            lap(f"baseline {method} on {eval_name}")
    payload["timings_s"] = timings
    return payload


def _evaluation_jobs(
    spec: BackboneSpec,
    eval_name: str,
    settings: Mapping[str, Any],
    main: bool,
    ablation_seed: bool,
    has_lossless: bool,
) -> list[dict[str, Any]]:
    """What to evaluate for one backbone on one set.

    Main backbones: the test split at η and at the calibrated radius (plus the radius grid
    for the ablation set's λ = 20 backbones), and, where the set has a lossless subset of a
    JPEG test split (CIFAR-10 image folders), both versions of that subset (``jpeg``).
    Ablation backbones: the test split at η. Backbones of the λ ablation also get
    ``large_n`` inliers, with one draw.
    """
    ns, draws = settings["ns"], settings["draws"]
    ablation = (
        ablation_seed
        and spec.dataset == settings["ablation_dataset"]
        and eval_name in settings["ablation_evals"]
    )
    base = {"split": "test", "ns": ns, "draws": draws, "calibrated": False, "radius_grid": False}
    jobs = []
    if main:
        grid = ablation and spec.lam == RECIPE["lam"]
        jobs.append(base | {"kind": "main", "calibrated": True, "radius_grid": grid})
        if has_lossless:
            jobs += [base | {"kind": "jpeg", "split": s} for s in ("test-jpeg1000", "test-png")]
    else:
        jobs.append(base | {"kind": "ablation"})
    if ablation and settings["large_n"] and spec.branches == RECIPE["branches"]:
        jobs.append(base | {"kind": "large_n", "ns": [settings["large_n"]], "draws": 1})
    return jobs


def _jpeg_subset(splits: Mapping[str, ImageSplit], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images that exist both ways: JPEG (``test-jpeg1000``) or lossless (``test-png``)."""
    lossless = splits["test-png"]
    if split == "test-png":
        return lossless.images, lossless.labels
    index = torch.as_tensor(lossless.record["indices"])
    test = splits["test"]
    if not torch.equal(test.labels[index], lossless.labels):
        raise ValueError("the test-png images do not have the labels of the same test indices")
    return test.images[index], test.labels[index]


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def _evaluate(
    spec: BackboneSpec,
    eval_name: str,
    train_codes: Callable[[], torch.Tensor],
    train_labels: torch.Tensor,
    test_codes: torch.Tensor,
    test_labels: torch.Tensor,
    radii: list[float],
    ns: list[int],
    draws: int,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """η-ball AUROCs of one backbone on one evaluation set (all classes, draws, n, radii).

    ``train_codes()`` returns the codes of the evaluation set's training images, the pool the
    inliers are drawn from.
    """
    classes = class_names(eval_name)
    pool = train_codes()

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        return draw_ball_counts(test_codes, pool, idx, spec.branches, radii, ns_, RECIPE["p"])

    with _bar(len(classes) * draws, f"{spec.name} → {eval_name}", progress) as bar:
        table = run_protocol(
            scorer, train_labels, test_labels, ns, draws, seed, progress=bar.update
        )
    return {
        "ns": ns,
        "draws": draws,
        "radii": radii,
        "test_images": len(test_labels),
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, radii, ns),
    }


def _score_example(
    spec: BackboneSpec,
    eval_name: str,
    train_codes: torch.Tensor,
    splits: Mapping[str, ImageSplit],
    model: ConnectivityAutoencoder,
    payload: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Score distributions of inliers vs outliers: class 0, first draw, the second n."""
    ns = payload["settings"]["ns"]
    n = ns[min(1, len(ns) - 1)]
    train, test = splits["train"], splits["test"]
    idx = class_draws(train.labels, [0], n, 1, seed)[0]
    test_codes = encode(model, test.images)
    counts = draw_ball_counts(
        test_codes, train_codes, idx, spec.branches, [RECIPE["eta"]], [n], RECIPE["p"]
    )[0, 0, 0]
    inlier = test.labels == 0
    top = spec.branches * n
    return {
        "backbone": spec.name,
        "eval": eval_name,
        "class": class_names(eval_name)[0],
        "n": n,
        "max_score": top,
        "inliers": torch.bincount(counts[inlier], minlength=top + 1).tolist(),
        "outliers": torch.bincount(counts[~inlier], minlength=top + 1).tolist(),
    }


def _baseline(
    method: str,
    eval_name: str,
    splits: Mapping[str, ImageSplit],
    settings: Mapping[str, Any],
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """AUROCs of one baseline on one evaluation set, same draws as the η-ball scores."""
    train_x, train_y = splits["train"].images, splits["train"].labels
    test_x, test_y = splits["test"].images, splits["test"].labels
    ns, draws = settings["baseline_ns"][method], settings["draws"]
    classes = class_names(eval_name)
    test_flat = flatten_pixels(test_x) if method != "deep-svdd" else None
    bandwidths: list[float] = []

    def one_draw(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        out = []
        for n in ns_:
            inliers = train_x[idx[:n]]
            if method == "kde":
                scores, bandwidth = kde_scores(flatten_pixels(inliers), test_flat)
                bandwidths.append(bandwidth)
            elif method == "ocsvm":
                scores = ocsvm_scores(flatten_pixels(inliers), test_flat)
            else:
                draw_seed = seed * 7919 + int(idx[0])
                scores = deep_svdd_scores(inliers, test_x, draw_seed, settings["dsvdd_epochs"])
            out.append(torch.as_tensor(np.asarray(scores)))
        return torch.stack(out).unsqueeze(0)

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        return torch.stack([one_draw(row, ns_) for row in idx])

    with _bar(len(classes) * draws, f"{method} on {eval_name}", progress) as bar:
        table = run_protocol(scorer, train_y, test_y, ns, draws, seed, progress=bar.update)
    out = {
        "method": method,
        "eval": eval_name,
        "ns": ns,
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, [None], ns),
    }
    if bandwidths:
        out["kde_bandwidths"] = bandwidths
    return out


def resume_check(images: torch.Tensor, seed: int, folder: Path) -> dict[str, Any]:
    """Interrupt a short training in its second epoch, resume it, compare with a straight run.

    The interruption is real: a forward hook raises ``KeyboardInterrupt`` in the middle
    of epoch 2, leaving epoch 1's checkpoint behind; a fresh model built from the same
    seed (a checkpoint resumes only into the run that wrote it) then resumes from it.

    Parameters
    ----------
    images : Tensor, shape (N, C, S, S), float in [0, 1], N ≥ 200
    seed : int
        In [0, 2**32 - 1].
    folder : path
        Where the temporary checkpoint is written (and removed).

    Returns
    -------
    dict
        ``identical`` (every tensor of both final state dicts is equal) and the settings.
    """
    check_images("images", images, uint8=False, min_rows=200)
    check_int("seed", seed, 0, MAX_SEED)
    check_path("folder", folder)
    if folder is None:
        raise TypeError("folder must be a path, got None")
    folder = Path(folder)
    steps = 2  # 200 images, batch 100
    config = train_config({"epochs": 2, "steps_per_epoch": steps}, RECIPE["lam"], seed)
    images = images[:200]

    def fresh(init: int) -> ConnectivityAutoencoder:
        with seeded(init):
            return ConnectivityAutoencoder(images.shape[1], images.shape[-1]).to(images.device)

    straight = fresh(seed)
    train_autoencoder(straight, images, config, progress=False)
    checkpoint = folder / "resume-check.pt"
    checkpoint.unlink(missing_ok=True)
    interrupted, calls = fresh(seed), 0

    def stop(_module: torch.nn.Module, _args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > steps + 1:  # second step of epoch 2
            raise KeyboardInterrupt

    interrupted.register_forward_pre_hook(stop)
    try:
        train_autoencoder(interrupted, images, config, checkpoint=checkpoint, progress=False)
        was_interrupted = False
    except KeyboardInterrupt:
        was_interrupted = True
    resumed = fresh(seed)
    history = train_autoencoder(resumed, images, config, checkpoint=checkpoint, progress=False)
    checkpoint.unlink()
    a, b = straight.state_dict(), resumed.state_dict()
    return {
        "identical": all(torch.equal(a[k], b[k]) for k in a),
        "interrupted": was_interrupted,
        "interrupted_at_step": calls,
        "epochs": len(history),
        "steps_per_epoch": steps,
        "images": len(images),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: train a profile's backbones ahead of the chapter run.

    ``python -m toposhape.oneclass_study train natural`` trains (or resumes) every backbone of
    the profile in ``workers`` processes; the chapter run then finds them finished. Useful for
    long profiles: it can be stopped at any time and started again. Errors are reported as
    :mod:`toposhape.cli` describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command
    from toposhape.results import writable_folder

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.oneclass_study")
        sub = parser.add_subparsers(dest="command", required=True)
        train = sub.add_parser("train", help="train (or resume) the backbones of a profile")
        train.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        train.add_argument("--dataset", help="only the backbones trained on this dataset")
        train.add_argument("--seed", type=int, default=0, help="base seed (as the chapter's)")
        args = parser.parse_args(argv)
        settings = get_profile(args.profile)
        specs = backbone_specs(settings, args.seed)
        if args.dataset is not None:
            if args.dataset not in {spec.dataset for spec in specs}:
                raise ValueError(
                    f"--dataset {args.dataset!r} trains no backbone of profile {args.profile!r}: "
                    f"expected one of {sorted({spec.dataset for spec in specs})}"
                )
            specs = [spec for spec in specs if spec.dataset == args.dataset]
        folder = writable_folder(work_dir(args.profile), "checkpoint folder")
        train_backbones(specs, settings, args.seed, folder, progress=True)

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
