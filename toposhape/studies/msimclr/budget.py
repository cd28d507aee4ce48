"""The training budget of the chapter "MSimCLR" against the reference's, from payloads.

:data:`REFERENCE` is the reference's training per dataset (neurve's code): from it
:func:`reference_steps`, :func:`reference_parameters` and :func:`resnet_name`, and
:func:`backbone_parameters` counts this chapter's backbone. From a payload
(:func:`toposhape.studies.msimclr.run.run`): :func:`trained_steps` and :func:`budgets`
(the trained models' steps and backbones against the reference's), :func:`block_seconds`,
:func:`median_step` and :func:`cost` (the measured training time, and what all the
profile's models would take), :func:`ntxent_drop` and :func:`stopping` (whether NT-Xent
still fell when training stopped); :func:`training_seconds` is the training time the
scorecard adds to the results runs. No training.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torchvision
from torch import nn

from toposhape.checks import check_choice
from toposhape.contrastive import build_simclr
from toposhape.studies import scorecard
from toposhape.studies.msimclr import figures as draw
from toposhape.studies.msimclr.compare import trained_runs
from toposhape.studies.msimclr.run import check_payload
from toposhape.studies.msimclr.schedule import training_plan

__all__ = [
    "DROP_STEPS",
    "REFERENCE",
    "STILL_FALLING",
    "backbone_parameters",
    "block_seconds",
    "budgets",
    "cost",
    "median_step",
    "ntxent_drop",
    "reference_parameters",
    "reference_steps",
    "resnet_name",
    "stopping",
    "trained_steps",
    "training_seconds",
]

#: The reference's training per dataset (neurve's code, REFERENCE.md §3): its backbone (a
#: torchvision ResNet with the CIFAR stem, for images of ``channels`` channels), epochs over
#: the whole training split, that split's size, the batch size, τ and Adam's learning rate.
REFERENCE: Mapping[str, Mapping[str, Any]] = {
    "mnist": {"resnet": "resnet18", "channels": 1, "epochs": 100, "train_images": 60_000,
              "batch": 128, "temperature": 1.0, "lr": 1e-4},
    "fashion-mnist": {"resnet": "resnet18", "channels": 1, "epochs": 100,
                      "train_images": 60_000, "batch": 128, "temperature": 1.0, "lr": 1e-4},
    "cifar10": {"resnet": "resnet50", "channels": 3, "epochs": 1000, "train_images": 50_000,
                "batch": 128, "temperature": 0.5, "lr": 1e-4},
}  # fmt: skip

#: A curve's NT-Xent drop is read over this many final training steps.
DROP_STEPS = 1000

#: Nats of NT-Xent drop over the last :data:`DROP_STEPS` steps above which a curve counts as
#: still falling when it stopped (a reading, not part of the stopping rule).
STILL_FALLING = 0.02


def reference_steps(dataset: str) -> int:
    """Optimisation steps of the reference's training on ``dataset``: epochs × training
    images / batch size."""
    ref = REFERENCE[check_choice("dataset", dataset, tuple(REFERENCE))]
    return ref["epochs"] * ref["train_images"] // ref["batch"]


def resnet_name(dataset: str) -> str:
    """The reference's backbone as the text names it, e.g. ``"ResNet-50"``."""
    return "ResNet-" + REFERENCE[dataset]["resnet"].removeprefix("resnet")


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@functools.cache
def reference_parameters(dataset: str) -> int:
    """Parameters of the reference's backbone on ``dataset``, counted on a fresh build:
    torchvision's ResNet with the CIFAR stem (a 3×3 first convolution for the dataset's
    channels, no max-pool) and without its classifier, as neurve builds it (built on the
    meta device: nothing is allocated)."""
    ref = REFERENCE[check_choice("dataset", dataset, tuple(REFERENCE))]
    with torch.device("meta"):
        model = getattr(torchvision.models, ref["resnet"])(weights=None)
        model.conv1 = nn.Conv2d(ref["channels"], 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = model.fc = nn.Identity()
    return _count(model)


@functools.cache
def backbone_parameters(backbone: str, dataset: str) -> int:
    """Parameters of this chapter's backbone ``backbone`` (a profile's setting) for the
    images of ``dataset``, counted on a fresh build (without the linear map to d and the
    projection head)."""
    ref = REFERENCE[check_choice("dataset", dataset, tuple(REFERENCE))]
    return _count(build_simclr(backbone, ref["channels"], 32, dim=2, seed=0).backbone)


def training_seconds(load: scorecard.Loader) -> float:
    """Seconds spent training the models of the saved ``full`` and ``cifar10`` results,
    summed over their checkpoint blocks (the training ran before the results runs)."""
    total = 0.0
    for profile in ("full", "cifar10"):
        payload = load(profile)
        if payload is None:
            continue
        for entry in payload["datasets"].values():
            total += sum(
                block["seconds"] for run in trained_runs(entry) for block in run["history"]
            )
    return total


def _steps_range(payload: Mapping[str, Any], dataset: str) -> tuple[int, int] | None:
    entry = payload["datasets"].get(dataset)
    steps = [run["criterion"]["steps"] for run in trained_runs(entry)] if entry else []
    return (min(steps), max(steps)) if steps else None


def _span(low: float, high: float) -> str:
    """``low``–``high`` (one value when they are equal), both to the decimals that give
    ``low`` two significant digits."""
    digits = max(0, 1 - math.floor(math.log10(low))) if low > 0 else 0
    return f"{low:.{digits}f}" + ("" if high == low else f"–{high:.{digits}f}")


def trained_steps(payload: Mapping[str, Any], dataset: str) -> str:
    """The trained models' steps, as epochs of the training images they were drawn from,
    and their share of the reference's steps."""
    span = _steps_range(payload, dataset)
    if span is None:
        return "no model trained yet"
    low, high = span
    batch = payload["settings"]["batch_size"]
    images = payload["datasets"][dataset]["train"]["images"]
    steps = f"{low}" if low == high else f"{low}–{high}"
    text = (
        f"{steps} steps of batch {batch} ({_span(low * batch / images, high * batch / images)} "
        f"epochs of the {images:,} training images"
    )
    if dataset not in REFERENCE:
        return f"{text})"
    ref = reference_steps(dataset)
    share = _span(100 * low / ref, 100 * high / ref)
    return f"{text}; {share} % of the reference's {ref:,} steps)"


def _parameters(payload: Mapping[str, Any], dataset: str) -> str:
    """Our backbone's parameters against the reference's (the clause of :func:`budgets`)."""
    ours = backbone_parameters(payload["settings"]["backbone"], dataset)
    theirs = reference_parameters(dataset)
    share = 100 * ours / theirs
    return (
        f", with a backbone of {ours:,} parameters against the {theirs:,} of the reference's "
        f"{resnet_name(dataset)} (CIFAR stem, without its classifier): {_span(share, share)} % "
        "of them"
    )


def budgets(payloads: Sequence[Mapping[str, Any]]) -> str:
    """One sentence: per dataset, the trained models' steps, as epochs of the training
    images and as a share of the reference's steps, and the parameters of their backbone
    against the reference's (both counted on a fresh build), over the given payloads (e.g.
    the MNIST profile's and CIFAR-10's)."""
    parts = [
        f"{draw.data_name(payload, dataset, 'train')} {trained_steps(payload, dataset)}"
        + (_parameters(payload, dataset) if dataset in REFERENCE else "")
        for payload in map(check_payload, payloads)
        for dataset in payload["settings"]["datasets"]
        if _steps_range(payload, dataset) is not None
    ]
    return "The trained models saw: " + "; ".join(parts) + "." if parts else ""


def block_seconds(payload: Mapping[str, Any]) -> list[float]:
    """Measured seconds of every training block of every run of the payload."""
    return [
        block["seconds"]
        for entry in payload["datasets"].values()
        for run in trained_runs(entry)
        for block in run["history"]
    ]


def median_step(payload: Mapping[str, Any]) -> float | None:
    """Median measured seconds per training step over every block of the payload."""
    blocks = block_seconds(payload)
    return statistics.median(blocks) / payload["settings"]["block_steps"] if blocks else None


def cost(payload: Mapping[str, Any]) -> str:
    """One sentence: the training hours of all the profile's models projected from the
    median measured step time, if each stopped at the minimum steps and if each ran to the
    cap ("" when nothing is trained)."""
    check_payload(payload)
    s, step = payload["settings"], median_step(payload)
    if step is None:
        return ""
    n = len(training_plan(s))
    low, high = (n * steps * step / 3600 for steps in (s["min_steps"], s["max_steps"]))
    return (
        f"Projected from the median measured {step:.2f} s per training step, all {n} models "
        f"of the profile would take {n} × {s['min_steps']} steps × {step:.2f} s = {low:.1f} h "
        f"of training if each stopped at the minimum, and {n} × {s['max_steps']} × "
        f"{step:.2f} s = {high:.1f} h if each ran to the cap."
    )


def ntxent_drop(run: Mapping[str, Any], settings: Mapping[str, Any]) -> float | None:
    """NT-Xent of the block :data:`DROP_STEPS` steps before the last minus the last block's
    (positive: still falling); None if the curve is not that long."""
    back = DROP_STEPS // settings["block_steps"]
    history = run["history"]
    return history[-1 - back]["ntxent"] - history[-1]["ntxent"] if len(history) > back else None


def stopping(payload: Mapping[str, Any]) -> str:
    """One sentence: how many trained runs' NT-Xent still fell by more than
    :data:`STILL_FALLING` nats over their last :data:`DROP_STEPS` steps ("" if no run is
    that long)."""
    check_payload(payload)
    drops = [
        (drop, f"{dataset}-{key}-s{seed}")
        for dataset, entry in payload["datasets"].items()
        for key, model in entry["models"].items()
        for seed, run in model["seeds"].items()
        if (drop := ntxent_drop(run, payload["settings"])) is not None
    ]
    if not drops:
        return ""
    falling = [name for drop, name in drops if drop > STILL_FALLING]
    top, where = max(drops)
    return (
        f"The stopping criterion reads the total loss relative to its value, not NT-Xent's "
        f"learnable range: {len(falling)} of the {len(drops)} trained runs still had NT-Xent "
        f"falling by more than {STILL_FALLING:g} nats over their last {DROP_STEPS} steps when "
        f"they stopped (largest drop {top:.3f} nats, `{where}`); see the column in the "
        "accuracy table."
    )
