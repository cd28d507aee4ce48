"""The chapter's backbones: which it trains, in which order, and where their checkpoints are.

The chapter trains the reference autoencoder (λ = 20) at several batch sizes B and, at the
reference's B = 100, also without the connectivity loss (λ = 0), each with several training
seeds (:func:`backbone_specs`, in priority order). Training itself is the one-class study's
(:mod:`toposhape.studies.oneclass.train`): the same specs, data, checkpoints and worker
processes. A B = 100 backbone that the one-class study's profile named by the setting
``reuse`` has already trained with the same recipe is read from that study's checkpoint
folder instead of being trained again (:func:`shared_checkpoint`); it is never written there.

The checkpoints are git-ignored and stay on the machine that trained them; what the chapter
needs from a finished backbone is its committed record (:mod:`.records`), so a backbone
with a record needs no checkpoint, here or in the one-class study.
"""

from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.checks import check_int, check_sequence
from toposhape.studies.oneclass import run as oneclass_run
from toposhape.studies.oneclass.protocol import BackboneSpec, train_config
from toposhape.studies.oneclass.train import train_backbones, train_one
from toposhape.training import (
    MAX_SEED,
    checkpoint_epochs,
    read_checkpoint,
    train_backbone,
)

#: The reference recipe (Hofer et al.) on MNIST's 1×28×28 images.
RECIPE: dict[str, Any] = {
    "dataset": "mnist",
    "branches": 16,
    "branch_dim": 10,
    "eta": 2.0,
    "p": 1.0,
    "batch_size": 100,
    "lr": 1e-3,
    "lam": 20.0,
}


def backbone_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A chapter profile's settings in the form the one-class study's training reads.

    One training dataset (:data:`RECIPE`'s), evaluated on itself and on the profile's
    ``transfer`` datasets, each read whole or as a seeded subset, no baselines.
    """
    dataset = RECIPE["dataset"]
    return {
        "datasets": [dataset],
        "eval_datasets": [dataset, *settings["transfer"]],
        "baseline_sets": [],
        "train_images": settings["train_images"],
        "test_images": settings["test_images"],
        "image_size": 28,  # checked, not used, by MNIST
        "epochs": settings["epochs"],
        "steps_per_epoch": settings["steps_per_epoch"],
        "workers": settings["workers"],
    }


def backbone_specs(settings: Mapping[str, Any], seed: int) -> list[BackboneSpec]:
    """Every backbone of a profile, in training priority order.

    Seed after seed (``seed, seed + 1, ...``, ``train_seeds`` of them); within a seed the
    batch sizes in the order ``batch_sizes`` lists them, the λ = 0 backbone right after
    the λ = 20 one at the reference's B = 100. So every cell of the first seed is trained
    before any of the second.
    """
    seed = check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"] + 1)
    sizes = check_sequence("settings['batch_sizes']", settings["batch_sizes"])
    specs = []
    for s in range(seed, seed + settings["train_seeds"]):
        for b in sizes:
            specs.append(BackboneSpec(RECIPE["dataset"], RECIPE["lam"], seed=s, batch_size=b))
            if b == RECIPE["batch_size"]:
                specs.append(BackboneSpec(RECIPE["dataset"], 0.0, seed=s, batch_size=b))
    return specs


def shared_checkpoint(
    spec: BackboneSpec, settings: Mapping[str, Any], results_root: str | Path | None
) -> Path | None:
    """The one-class study's finished checkpoint of ``spec``, if it has one of this recipe.

    Only when the profile names a one-class profile in ``reuse``, and that profile's work
    folder holds ``<spec.name>.pt`` with at least ``epochs`` epochs, trained with the
    training settings this profile would use (epochs, batch size, λ, η, p, lr, seed, steps).
    The data and the initial weights are verified when the checkpoint is loaded
    (:func:`toposhape.training.fit_epochs` refuses a checkpoint of another run).
    """
    if settings["reuse"] is None:
        return None
    path = _checkpoint(oneclass_run.work_dir(settings["reuse"], results_root), spec)
    if checkpoint_epochs(path) < settings["epochs"]:
        return None
    wanted = asdict(train_config(backbone_settings(settings), spec.lam, spec.seed, spec.batch_size))
    saved = read_checkpoint(path).identity["config"]
    return path if all(saved.get(key) == value for key, value in wanted.items()) else None


def train_missing(
    specs: list[BackboneSpec],
    settings: Mapping[str, Any],
    seed: int,
    folder: Path,
    results_root: str | Path | None,
    images: Callable[[], torch.Tensor],
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    on_trained: Callable[[BackboneSpec], None] | None = None,
) -> list[BackboneSpec]:
    """Train (or resume) every spec that is not finished here or shared, in ``specs``' order.

    With ``workers`` > 1 the one-class study's process pool trains them, two at a time on
    two cores; otherwise they are trained here one after the other (``images()`` gives the
    float training images). ``on_trained(spec)`` is called in this process as soon as each
    one trained here has finished (while the pool trains the next ones). Returns the specs
    read from the one-class study instead.
    """
    say = log or (lambda _msg: None)
    shared = [s for s in specs if shared_checkpoint(s, settings, results_root) is not None]
    if shared:
        say(f"reusing {len(shared)} finished one-class backbones: {[s.name for s in shared]}")
    epochs = settings["epochs"]
    todo = [
        s for s in specs if s not in shared and checkpoint_epochs(_checkpoint(folder, s)) < epochs
    ]
    trained = backbone_settings(settings)
    if settings["workers"] > 1:
        train_backbones(todo, trained, seed, folder, progress, log, on_trained)
        return shared
    for spec in todo:
        train_one(spec, images(), trained, folder, progress)
        if on_trained is not None:
            on_trained(spec)
    return shared


def load_backbone(
    spec: BackboneSpec,
    settings: Mapping[str, Any],
    folder: Path,
    results_root: str | Path | None,
    images: torch.Tensor,
) -> tuple[ConnectivityAutoencoder, list[dict], str]:
    """A finished backbone, its history and where it came from (``"oneclass/<profile>"`` or
    ``"connectivity"``), read from its checkpoint (nothing is written).

    ``images`` are the float training images, which the checkpoint is verified against.

    Raises
    ------
    ValueError
        If the backbone is not finished (:func:`is_finished`).
    """
    shared = shared_checkpoint(spec, settings, results_root)
    checkpoint = _checkpoint(folder, spec) if shared is None else shared
    if checkpoint_epochs(checkpoint) < settings["epochs"]:
        raise ValueError(
            f"backbone {spec.name} is not finished: {checkpoint} holds "
            f"{checkpoint_epochs(checkpoint)} of {settings['epochs']} epochs; train it first"
        )
    config = train_config(backbone_settings(settings), spec.lam, spec.seed, spec.batch_size)
    model, history = train_backbone(  # finished: loads it, writes nothing
        images,
        config,
        branches=spec.branches,
        branch_dim=spec.branch_dim,
        init_seed=spec.seed,
        checkpoint=checkpoint,
        progress=False,
    )
    source = "connectivity" if shared is None else f"oneclass/{settings['reuse']}"
    return model, history, source


def is_finished(
    spec: BackboneSpec, settings: Mapping[str, Any], folder: Path, results_root: str | Path | None
) -> bool:
    """Whether ``spec`` is trained to the profile's epochs (shared or in ``folder``)."""
    if shared_checkpoint(spec, settings, results_root) is not None:
        return True
    return checkpoint_epochs(_checkpoint(folder, spec)) >= settings["epochs"]


def trained_epochs(spec: BackboneSpec, folder: Path) -> int:
    """Epochs held by ``spec``'s checkpoint in ``folder`` (0 if it has none)."""
    return checkpoint_epochs(_checkpoint(folder, spec))


def _checkpoint(folder: Path, spec: BackboneSpec) -> Path:
    return folder / f"{spec.name}.pt"
