"""The models of the N-VAE chapter, the data they see, and how each is trained.

Every model is a :class:`ModelSpec`: a dataset, a model of :data:`MODELS` and a training
seed. :func:`grid` lists a profile's models in the order they are trained (cheap headline
comparisons first: every model of seed 0, then seed 1, then seed 2). Each is trained to
convergence (:func:`toposhape.nvae.converged` on the held-out ELBO, with a cap) into its
own per-epoch checkpoint ``<work>/<name>.pt``, so a run killed at any moment loses at most
one epoch and training resumes where it stopped; it is measured at the weights of its best
validation epoch, which the checkpoint keeps. A checkpoint of an earlier toposhape, without
those weights, is set aside as ``<name>.outdated.pt`` and the model trained from the start.

Data (:func:`load_data`): MNIST's training split is divided once, by class, into training
and validation images (the held-out ELBO of the stopping rule); the test split is only
measured. Extended Yale B is divided by subject: every subject keeps 5/8 of its images for
training, 1/8 for validation and 1/4 for testing (the same split for every model). The
split does not depend on the training seed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.checks import check_choice, check_path
from toposhape.data import load_images, random_subset, stratified_split, user_root
from toposhape.image_sets import DISPLAY_NAMES
from toposhape.morphometry import FACTORS as STROKE_FACTORS
from toposhape.morphometry import stroke_measures
from toposhape.nvae import (
    LatentVAE,
    OutdatedCheckpointError,
    build_vae,
    checkpoint_history,
    converged,
    train_vae,
)
from toposhape.training import tensor_digest
from toposhape.yale import load_yale

__all__ = [
    "DATASETS",
    "MODELS",
    "PRIORITY",
    "RECIPE",
    "Data",
    "ModelSpec",
    "grid",
    "load_data",
    "status",
    "train_model",
    "untrained",
]

#: Latent layout and optimiser shared by every model (total latent size class_dim + shared_dim).
RECIPE: dict[str, Any] = {
    "class_dim": 6,
    "shared_dim": 4,
    "hidden": 512,
    "batch_size": 100,
    "lr": 1e-3,
}

#: Model name -> (kind of :class:`~toposhape.nvae.LatentVAE`, β_c).
MODELS: dict[str, tuple[str, float]] = {
    "N-VAE": ("nvae", 1.0),
    "N-VAE β_c=4": ("nvae", 4.0),
    "CVAE": ("cvae", 1.0),
    "VAE": ("vae", 1.0),
}

#: Within a seed, the order models are trained in: the headline comparison on MNIST, then
#: Extended Yale B, then the β_c = 4 ablation.
PRIORITY: tuple[tuple[str, str], ...] = (
    ("mnist", "N-VAE"),
    ("mnist", "CVAE"),
    ("mnist", "VAE"),
    ("yaleb", "N-VAE"),
    ("yaleb", "CVAE"),
    ("mnist", "N-VAE β_c=4"),
)

#: The datasets the chapter knows, with their display names.
DATASETS: dict[str, str] = {"mnist": DISPLAY_NAMES["mnist"], "yaleb": "Extended Yale B"}

#: Seed of the data splits (the same for every model).
SPLIT_SEED = 0

#: Extended Yale B images: read at a quarter of 192 × 168, then one column cropped off
#: each side, so that both sides divide by 4 (the encoder halves them twice).
YALE_READ_SIZE = (48, 42)


@dataclass(frozen=True)
class ModelSpec:
    """One trained model: dataset, model name (a key of :data:`MODELS`) and seed."""

    dataset: str
    model: str
    seed: int

    @property
    def kind(self) -> str:
        return MODELS[self.model][0]

    @property
    def beta(self) -> float:
        return MODELS[self.model][1]

    @property
    def name(self) -> str:
        """File stem of the checkpoint, e.g. ``mnist-nvae-b4-s0``."""
        return f"{self.dataset}-{self.kind}-b{self.beta:g}-s{self.seed}"


def grid(settings: dict[str, Any]) -> list[ModelSpec]:
    """A profile's models in training order: seed by seed, each in :data:`PRIORITY` order."""
    return [
        ModelSpec(dataset, model, seed)
        for seed in settings["seeds"]
        for dataset, model in PRIORITY
        if dataset in settings["datasets"] and model in settings["datasets"][dataset]["models"]
    ]


@dataclass
class Data:
    """A dataset as the chapter uses it.

    Attributes
    ----------
    name : str
        ``mnist`` or ``yaleb``.
    splits : dict
        ``train``, ``validation``, ``test`` -> (images (N, 1, H, W) float in [0, 1],
        labels (N,) int64).
    factors : dict
        ``validation`` and ``test`` -> (N, F) float array of the known shared factors.
    factor_names : list of str
    classes : int
    record : dict
        What was read: source, image shape, split rule, and per split the number of
        images and a sha256 fingerprint of images and labels; for Extended Yale B also
        ``read_size`` (the (H, W) the files are read at, before a column is cropped off
        each side) and ``light_directions`` (distinct light directions in the files read).
    """

    name: str
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    factors: dict[str, np.ndarray]
    factor_names: list[str]
    classes: int
    record: dict[str, Any]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.splits["train"][0].shape[1:])


#: What a dataset reader returns: splits, factors, factor names, source, split rule and the
#: facts of the data's record particular to that dataset.
_Read = tuple[dict, dict, list[str], str, str, dict[str, Any]]


def _mnist(settings: dict[str, Any], factors: bool) -> _Read:
    train_x, train_y = load_images("mnist", "train")
    test_x, test_y = load_images("mnist", "test")
    share = settings["validation_images"] / len(train_y)
    parts = stratified_split(train_y, {"validation": share}, SPLIT_SEED)
    splits = {name: (train_x[idx], train_y[idx]) for name, idx in parts.items()}
    splits["train"] = random_subset(*splits["train"], settings["train_images"], SPLIT_SEED)
    splits["test"] = random_subset(test_x, test_y, settings["test_images"], SPLIT_SEED + 1)
    measured = {s: stroke_measures(splits[s][0]) for s in ("validation", "test") if factors}
    rule = (
        f"MNIST training split: {settings['validation_images']} images held out by class for "
        "validation (the stopping rule), the rest for training; test split for every measure"
    )
    return splits, measured, list(STROKE_FACTORS), "IDX files, md5-checked", rule, {}


def _yale(settings: dict[str, Any], folder: Path) -> _Read:
    if settings["source"] == "stand-in":
        from toposhape.studies.nvae.standin import write_standin

        root, source = write_standin(folder / "yale-standin"), "synthetic stand-in (smoke only)"
    else:
        root, source = user_root("yaleb"), "CroppedYale PGM files"
    faces = load_yale(root, size=YALE_READ_SIZE)
    images = faces["images"][..., 1:-1].contiguous()
    light = torch.stack([faces["azimuth"], faces["elevation"]], dim=1).double().numpy()
    shares = {"validation": settings["validation_share"], "test": settings["test_share"]}
    parts = stratified_split(faces["labels"], shares, SPLIT_SEED)
    splits = {name: (images[idx], faces["labels"][idx]) for name, idx in parts.items()}
    factors = {name: light[parts[name].numpy()] for name in ("validation", "test")}
    rule = (
        f"per subject: {shares['test']:g} of its images for testing, {shares['validation']:g} "
        "for validation (the stopping rule), the rest for training; files without a light "
        "direction in their name (ambient images, .bad and .info files) are not read"
    )
    facts = {
        "read_size": list(YALE_READ_SIZE),
        "light_directions": len(np.unique(light, axis=0)),
    }
    return splits, factors, ["azimuth", "elevation"], source, rule, facts


def load_data(name: str, settings: dict[str, Any], folder: Path, factors: bool = True) -> Data:
    """The splits, factors and record of one of a profile's datasets.

    ``settings`` is the dataset's entry of the profile; ``folder`` the profile's work
    folder (where the smoke profile writes its Yale B stand-in). With ``factors`` False
    the MNIST stroke measures (about 15 s for the full validation and test splits) are
    not computed and ``Data.factors`` is empty (enough for training).
    """
    check_choice("name", name, tuple(DATASETS))
    check_path("folder", folder)
    if name == "mnist":
        splits, measured, names, source, rule, facts = _mnist(settings, factors)
    else:
        splits, measured, names, source, rule, facts = _yale(settings, Path(folder))
    classes = int(max(int(y.max()) for _, y in splits.values())) + 1
    record = {
        "dataset": DATASETS[name],
        "source": source,
        "image_shape": list(splits["train"][0].shape[1:]),
        "classes": classes,
        "split": rule,
        "splits": {
            split: {"images": len(y), "fingerprint": tensor_digest(x, y)}
            for split, (x, y) in splits.items()
        },
        **facts,
    }
    return Data(name, splits, measured, names, classes, record)


def _build(spec: ModelSpec, data: Data) -> LatentVAE:
    return build_vae(
        spec.seed, kind=spec.kind, image_shape=data.image_shape, classes=data.classes,
        class_dim=RECIPE["class_dim"], shared_dim=RECIPE["shared_dim"],
        hidden=RECIPE["hidden"], beta=spec.beta,
    )  # fmt: skip


def _checkpoint(spec: ModelSpec, folder: Path) -> Path:
    return Path(folder) / f"{spec.name}.pt"


def status(spec: ModelSpec, settings: dict[str, Any], folder: Path) -> str:
    """``"finished"`` (converged or at the cap), ``"partial"``, ``"missing"`` or
    ``"outdated"`` (a checkpoint without best weights, see
    :class:`~toposhape.nvae.OutdatedCheckpointError`; :func:`train_model` trains that model
    again from the start).

    ``settings`` is the dataset's entry of the profile.
    """
    try:
        history = checkpoint_history(_checkpoint(spec, folder))
    except OutdatedCheckpointError:
        return "outdated"
    if not history:
        return "missing"
    done = len(history) >= settings["max_epochs"] or converged(
        history, settings["patience"], settings["tolerance"]
    )
    return "finished" if done else "partial"


def train_model(
    spec: ModelSpec, data: Data, settings: dict[str, Any], folder: Path, progress: bool
) -> tuple[LatentVAE, list[dict]]:
    """Train (or resume, or reload when finished) one model, at its best validation weights.

    ``settings`` as in :func:`status`. An outdated checkpoint is renamed
    ``<name>.outdated.pt`` (with a warning) and the model trained from the start.
    """
    path = _checkpoint(spec, folder)
    if status(spec, settings, folder) == "outdated":
        aside = path.with_name(f"{spec.name}.outdated.pt")
        path.replace(aside)
        warnings.warn(
            f"{path} holds no best validation weights (an earlier toposhape wrote it): moved "
            f"to {aside.name}; {spec.name} is trained again from the start",
            stacklevel=2,
        )
    model = _build(spec, data)
    history = train_vae(
        model, *data.splits["train"], validation=data.splits["validation"],
        max_epochs=settings["max_epochs"], patience=settings["patience"],
        tolerance=settings["tolerance"], batch_size=RECIPE["batch_size"], lr=RECIPE["lr"],
        seed=spec.seed, checkpoint=path, progress=progress,
    )  # fmt: skip
    return model, history


def untrained(spec: ModelSpec, data: Data) -> LatentVAE:
    """The model of ``spec`` at its initial weights (the random-encoder floor)."""
    return _build(spec, data).eval()
