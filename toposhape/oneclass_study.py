"""The study behind the book chapter "One-class learning" (Hofer et al., ICML 2019).

Backbones (the reference autoencoder, trained with λ·connectivity loss) are trained
on one dataset and used, encoder only, for one-class learning on another: each class
in turn is the inlier class, n of its training images are the only data the one-class
model sees, and every test image is scored by counting those inliers inside ℓ1 balls
of radius η in each latent branch (:mod:`toposhape.oneclass`).

* :func:`run` computes a JSON-serialisable payload: backbones, per-class AUROCs of
  our models and of the baselines (:mod:`toposhape.baselines`), ablations;
* the ``plot_*`` functions and :func:`markdown_tables` turn a payload into figures
  and tables, so the built book redraws everything from the saved results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toposhape.results import results_dir
from toposhape.training import TrainConfig, train_backbone

CHAPTER = "oneclass"

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
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist", "fashion-mnist"],
        "train_images": 3000,
        "test_images": 1000,
        "epochs": 1,
        "steps_per_epoch": 30,
        "ns": [20, 40],
        "draws": 2,
        "ablation_dataset": "fashion-mnist",
        "lambdas": [0.0, 20.0],
        "radii": [1.0, 2.0, 3.0],
        "single_branch": True,
        "dsvdd_epochs": 5,
        "device": "cpu",
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "train_images": None,
        "test_images": None,
        "epochs": 10,
        "steps_per_epoch": None,
        "ns": [80, 120, 500],
        "draws": 5,
        "ablation_dataset": "fashion-mnist",
        "lambdas": [0.0, 1.0, 10.0, 20.0, 40.0],
        "radii": [1.0, 1.5, 2.0, 2.25, 3.0, 5.0],
        "single_branch": True,
        "dsvdd_epochs": 150,
        "device": "cpu",
    },
}


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a study: the training set, λ and the latent layout."""

    dataset: str
    lam: float
    branches: int = 16
    branch_dim: int = 10

    @property
    def name(self) -> str:
        """File stem and payload key, e.g. ``fashion-mnist-lam20-16x10``."""
        return f"{self.dataset}-lam{self.lam:g}-{self.branches}x{self.branch_dim}"


def backbone_specs(settings: dict[str, Any]) -> list[BackboneSpec]:
    """Backbones a profile trains: λ=20 and λ=0 per dataset, then the ablation ones."""
    specs = []
    for dataset in settings["datasets"]:
        specs += [BackboneSpec(dataset, RECIPE["lam"]), BackboneSpec(dataset, 0.0)]
    ablation = settings["ablation_dataset"]
    specs += [BackboneSpec(ablation, float(lam)) for lam in settings["lambdas"]]
    if settings["single_branch"]:
        dim = RECIPE["branches"] * RECIPE["branch_dim"]
        specs.append(BackboneSpec(ablation, RECIPE["lam"], 1, dim))
    return list(dict.fromkeys(specs))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/oneclass/<profile>/_work`` (git-ignored)."""
    return results_dir(results_root) / CHAPTER / profile / "_work"


def train_config(settings: dict[str, Any], lam: float, seed: int) -> TrainConfig:
    """The reference training settings at a profile's epoch budget."""
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


def train_one(
    spec: BackboneSpec,
    images: torch.Tensor,
    settings: dict[str, Any],
    seed: int,
    folder: Path,
    progress: bool,
):
    """Train (or resume, or load when finished) one backbone; checkpoint in ``folder``."""
    return train_backbone(
        images,
        train_config(settings, spec.lam, seed),
        branches=spec.branches,
        branch_dim=spec.branch_dim,
        init_seed=seed,
        checkpoint=folder / f"{spec.name}.pt",
        progress=progress,
    )
