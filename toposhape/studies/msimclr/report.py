"""The chapter "MSimCLR" for readers, from results payloads only (no training).

A payload is what :func:`toposhape.studies.msimclr.run.run` returns for one profile
(fresh, or loaded with :func:`toposhape.results.load_results`), or
:func:`~toposhape.studies.msimclr.run.empty_payload` for a profile nothing of which was
evaluated. From it: :func:`figures`, :func:`tables` (DataFrames), :func:`source`,
:func:`setup`, :func:`splits`, :func:`budgets`, :func:`cost`, :func:`stopping`,
:func:`missing` and :func:`findings` (sentences), and :func:`claims`, this chapter's rows
of the reproduction scorecard (:mod:`toposhape.studies.scorecard`). Comparisons follow the
noise rule of :mod:`toposhape.studies.msimclr.compare`.

Accuracies in a payload are fractions; everything shown here is in percent, and a
difference of accuracies is in percentage *points*.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torchvision
from matplotlib.figure import Figure
from torch import nn

from toposhape.checks import check_choice, check_mapping
from toposhape.contrastive import ContrastiveConfig, build_simclr
from toposhape.image_sets import DISPLAY_NAMES, IMAGE_SETS
from toposhape.studies import scorecard
from toposhape.studies.msimclr import figures as draw
from toposhape.studies.msimclr.compare import (
    MIN_COMPARED,
    MIN_MARGIN,
    MIN_SEEDS,
    NOISE_FACTOR,
    NOISE_RULE,
    PROBES,
    TOO_FEW,
    Comparison,
    accuracies,
    best,
    compare,
    floor,
    is_capped,
    label,
    mean_std,
    ntxent_bound,
    seeds_of,
)
from toposhape.studies.msimclr.run import CHAPTER, empty_payload
from toposhape.studies.msimclr.schedule import training_plan

__all__ = [
    "DRASTIC",
    "DROP_STEPS",
    "REFERENCE",
    "STILL_FALLING",
    "STUCK",
    "backbone_parameters",
    "budgets",
    "claims",
    "cost",
    "figures",
    "findings",
    "low_d",
    "missing",
    "mmd_alone",
    "reference_parameters",
    "reference_steps",
    "setup",
    "source",
    "splits",
    "stopping",
    "tables",
    "training_seconds",
]

#: The reference's training per dataset (neurve's code, REFERENCE.md §3): its backbone (a
#: torchvision ResNet with the CIFAR stem, for images of ``channels`` channels), epochs over
#: the whole training split, that split's size, the batch size and τ.
REFERENCE: Mapping[str, Mapping[str, Any]] = {
    "mnist": {"resnet": "resnet18", "channels": 1, "epochs": 100, "train_images": 60_000,
              "batch": 128, "temperature": 1.0},
    "fashion-mnist": {"resnet": "resnet18", "channels": 1, "epochs": 100,
                      "train_images": 60_000, "batch": 128, "temperature": 1.0},
    "cifar10": {"resnet": "resnet50", "channels": 3, "epochs": 1000, "train_images": 50_000,
                "batch": 128, "temperature": 0.5},
}  # fmt: skip

#: Points of linear-probe accuracy by which the MMD term alone must lead to help "drastically".
DRASTIC = 5.0

#: A curve's NT-Xent drop is read over this many final training steps.
DROP_STEPS = 1000

#: Nats of NT-Xent drop over the last :data:`DROP_STEPS` steps above which a curve counts as
#: still falling when it stopped (a reading, not part of the stopping rule).
STILL_FALLING = 0.02

#: The comparisons a verdict reads: the rule's two probes, and (to show whether the verdict
#: depends on the probe) MSimCLR read by the reference's per-chart probe in place of the
#: linear one, against SimCLR's linear probe (for one embedding the same classifier).
_RULE_PROBES = tuple(PROBES)
_CHART_PROBES = ("per_chart", "knn")

#: A run's contrastive term is *stuck* when its last-block NT-Xent is within this many nats of
#: log(2B − 1), the value of an embedding that tells no image in the batch from any other.
STUCK = 0.01


_BACKBONES = {
    "tiny": "a small CNN (`SmallConvNet` of width 16: 3×3 convolutions with 16, 32 and 64 "
    "channels, GroupNorm, ReLU, max-pool, global average pool)",
    "small": "a small CNN (`SmallConvNet` of width 32: 3×3 convolutions with 32, 64 and 128 "
    "channels, GroupNorm, ReLU, max-pool, global average pool)",
}


def _check_payload(payload: object) -> Mapping[str, Any]:
    return check_mapping("payload", payload, "settings", "datasets", "missing")


def _name(dataset: str) -> str:
    return DISPLAY_NAMES.get(dataset, dataset)


def reference_steps(dataset: str) -> int:
    """Optimisation steps of the reference's training on ``dataset``: epochs × training
    images / batch size."""
    ref = REFERENCE[check_choice("dataset", dataset, tuple(REFERENCE))]
    return ref["epochs"] * ref["train_images"] // ref["batch"]


def _resnet_name(dataset: str) -> str:
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


def _runs(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [run for model in entry["models"].values() for run in model["seeds"].values()]


def training_seconds(load: scorecard.Loader) -> float:
    """Seconds spent training the models of the saved ``full`` and ``cifar10`` results,
    summed over their checkpoint blocks (the training ran before the results runs)."""
    total = 0.0
    for profile in ("full", "cifar10"):
        payload = load(profile)
        if payload is None:
            continue
        for entry in payload["datasets"].values():
            total += sum(block["seconds"] for run in _runs(entry) for block in run["history"])
    return total


# --------------------------------------------------------------------------- comparisons


def _wide(settings: Mapping[str, Any], d: int) -> str | None:
    return f"simclr-h{settings['wide_head']}-d{d}" if d in settings["wide_head_dims"] else None


def _both(entry: Mapping[str, Any], a: str, b: str) -> dict[str, Comparison] | None:
    """MSimCLR A vs SimCLR B under both probes, and (``per_chart``) A's per-chart probe
    against B's linear probe; None if either has no trained seed."""
    if not (entry["models"][a]["seeds"] and entry["models"][b]["seeds"]):
        return None
    found = {p: compare(accuracies(entry, a, p), accuracies(entry, b, p)) for p in PROBES}
    found["per_chart"] = compare(
        accuracies(entry, a, "chart_probe"), accuracies(entry, b, "linear")
    )
    return found


def low_d(payload: Mapping[str, Any], dataset: str) -> dict[int, dict[str, Any] | None]:
    """Per d: the best MSimCLR with k > 1 charts against the better SimCLR.

    "Best" and "better" are by mean linear-probe accuracy over the trained seeds; the
    better SimCLR is the reference head or the wide head (where that d has one).

    Returns
    -------
    dict
        d → None (a side has no trained model) or ``msimclr``, ``simclr`` (the keys),
        ``linear``, ``knn`` and ``per_chart``
        (:class:`~toposhape.studies.msimclr.compare.Comparison` of MSimCLR against SimCLR,
        the last with MSimCLR's per-chart probe against SimCLR's linear probe), ``seeds``
        and ``capped``.
    """
    _check_payload(payload)
    settings = payload["settings"]
    check_choice("dataset", dataset, settings["datasets"])
    entry = payload["datasets"].get(dataset)
    out: dict[int, dict[str, Any] | None] = {}
    for d in settings["dims"]:
        atlases = [f"msimclr-k{k}-d{d}" for k in settings["charts"] if k > 1]
        simclrs = [key for key in (f"simclr-d{d}", _wide(settings, d)) if key]
        a = None if entry is None else best(entry, atlases)
        b = None if entry is None else best(entry, simclrs)
        if a is None or b is None:
            out[d] = None
            continue
        found = _both(entry, a, b)
        out[d] = {
            "msimclr": a, "simclr": b, **found,
            "seeds": min(c.seeds for c in found.values()), "capped": is_capped(entry, [a, b]),
        }  # fmt: skip
    return out


def mmd_alone(payload: Mapping[str, Any], dataset: str) -> dict[str, dict[str, Any] | None]:
    """At d = 2: MSimCLR with one chart (SimCLR plus the MMD term) against every SimCLR.

    Returns
    -------
    dict
        SimCLR key (reference head, and the wide head where d = 2 has one) → None (either
        side untrained) or ``linear``, ``knn``, ``per_chart`` (Comparisons of k = 1 against
        it, as in :func:`low_d`), ``seeds`` and ``capped``.
    """
    _check_payload(payload)
    settings = payload["settings"]
    check_choice("dataset", dataset, settings["datasets"])
    if 2 not in settings["dims"] or 1 not in settings["charts"]:
        raise ValueError("payload has no d = 2 MSimCLR with one chart")
    entry = payload["datasets"].get(dataset)
    out: dict[str, dict[str, Any] | None] = {}
    for key in (k for k in ("simclr-d2", _wide(settings, 2)) if k):
        found = None if entry is None else _both(entry, "msimclr-k1-d2", key)
        out[key] = found and {
            **found,
            "seeds": min(c.seeds for c in found.values()),
            "capped": is_capped(entry, ["msimclr-k1-d2", key]),
        }
    return out


def _points(c: Comparison, words: Mapping[str, str] | None = None) -> str:
    """A comparison's difference with its outcome (named by ``words`` where given) and the
    margin it had to exceed (none when there were too few seeds)."""
    outcome = (words or {}).get(c.outcome, c.outcome)
    return (
        f"{c.diff:+.1f} ({outcome})"
        if c.outcome == TOO_FEW
        else f"{c.diff:+.1f} ({outcome}, margin {c.margin:.1f})"
    )


def _too_few(found: Mapping[Any, Mapping[str, Any] | None], probes: Sequence[str]) -> bool:
    """Whether a comparison in ``found`` (comparisons by probe, or None) under ``probes``
    had too few seeds to be made."""
    return any(f[p].outcome == TOO_FEW for f in found.values() if f for p in probes)


def _seeds_of_plan(payload: Mapping[str, Any], found: Mapping[Any, Any]) -> str:
    """``"n of m seeds"``: the fewest seeds behind the comparisons in ``found`` and the
    profile's seeds."""
    seeds = min(f["seeds"] for f in found.values() if f)
    return f"{seeds} of {len(payload['settings']['seeds'])} seeds"


def _percent(values: list[float], unit: str = "seed") -> str:
    """A cell in % with how many values it has, e.g. ``"24.0 % (1 seed)"``."""
    return f"{_cell(values)} % ({len(values)} {unit}{'s' * (len(values) != 1)})"


# --------------------------------------------------------------------------- sentences


def _steps_range(payload: Mapping[str, Any], dataset: str) -> tuple[int, int] | None:
    entry = payload["datasets"].get(dataset)
    steps = [run["criterion"]["steps"] for run in _runs(entry)] if entry else []
    return (min(steps), max(steps)) if steps else None


def _span(low: float, high: float) -> str:
    """``low``–``high`` (one value when they are equal), both to the decimals that give
    ``low`` two significant digits."""
    digits = max(0, 1 - math.floor(math.log10(low))) if low > 0 else 0
    return f"{low:.{digits}f}" + ("" if high == low else f"–{high:.{digits}f}")


def _steps(payload: Mapping[str, Any], dataset: str) -> str:
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
        f"{_resnet_name(dataset)} (CIFAR stem, without its classifier): {_span(share, share)} % "
        "of them"
    )


def budgets(payloads: Sequence[Mapping[str, Any]]) -> str:
    """One sentence: per dataset, the trained models' steps, as epochs of the training
    images and as a share of the reference's steps, and the parameters of their backbone
    against the reference's (both counted on a fresh build), over the given payloads (e.g.
    the MNIST profile's and CIFAR-10's)."""
    parts = [
        f"{draw.data_name(payload, dataset, 'train')} {_steps(payload, dataset)}"
        + (_parameters(payload, dataset) if dataset in REFERENCE else "")
        for payload in map(_check_payload, payloads)
        for dataset in payload["settings"]["datasets"]
        if _steps_range(payload, dataset) is not None
    ]
    return "The trained models saw: " + "; ".join(parts) + "." if parts else ""


def _budget(payload: Mapping[str, Any], dataset: str) -> str:
    s = payload["settings"]
    return (
        f"backbone {s['backbone']}, {_steps(payload, dataset)}, τ = {s['temperature']:g}, "
        f"Adam lr {s['lr']:g}"
    )


def _data(payload: Mapping[str, Any], dataset: str) -> str:
    entry = payload["datasets"].get(dataset)
    if entry is None:
        return "not evaluated yet"
    return "; ".join(
        entry[split]["label"]
        + ("" if entry[split]["images"] == entry[split]["of"] else
           f" (random {entry[split]['images']} of them)")
        for split in ("train", "test")
    )  # fmt: skip


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown paragraph: what was trained, on which data, at what budget."""
    _check_payload(payload)
    s = payload["settings"]
    plan = training_plan(s)
    trained = len(plan) - len(payload["missing"])
    data = " ".join(
        f"Data: {_data(payload, d)}; trained models: {_steps(payload, d)}." for d in s["datasets"]
    )
    criterion = (
        f"a fixed {s['min_steps']} steps (the convergence criterion is recorded, not acted on)"
        if s["min_steps"] == s["max_steps"]
        else f"at least {s['min_steps']} steps, then {s['extend_steps']} more at a time while "
        f"the mean training loss over the last {100 * s['flat_window']:.0f} % of the steps is "
        f"lower than over the {100 * s['flat_window']:.0f} % before by more than "
        f"{100 * s['flat_threshold']:g} %, up to {s['max_steps']} steps"
    )
    blocks = _block_seconds(payload)
    step = _median_step(payload)
    speed = (
        f" (median {step:.2f} s per step, as measured on the machine that trained them)"
        if step is not None
        else ""
    )
    return (
        f"Backbone: {_BACKBONES.get(s['backbone'], s['backbone'])}, trained from scratch. "
        f"Batch {s['batch_size']} images (two augmented views each), Adam with learning rate "
        f"{s['lr']:g} and weight decay {ContrastiveConfig.weight_decay:g}, "
        f"τ = {s['temperature']:g}; every model trains "
        f"{criterion}, with a checkpoint every {s['block_steps']} steps. Training seeds "
        f"{', '.join(map(str, s['seeds']))}: each seeds the initial weights, batch order, "
        f"augmentations and MMD draws. {data} Trained so far: {trained} of the {len(plan)} "
        f"models, in {sum(blocks) / 3600:.1f} h of training summed over their blocks{speed}. "
        "Probes: "
        f"logistic regression on standardised features, and {s['knn']} nearest neighbours."
    )


def _block_seconds(payload: Mapping[str, Any]) -> list[float]:
    """Measured seconds of every training block of every run of the payload."""
    return [
        block["seconds"]
        for entry in payload["datasets"].values()
        for run in _runs(entry)
        for block in run["history"]
    ]


def _median_step(payload: Mapping[str, Any]) -> float | None:
    """Median measured seconds per training step over every block of the payload."""
    blocks = _block_seconds(payload)
    return statistics.median(blocks) / payload["settings"]["block_steps"] if blocks else None


def cost(payload: Mapping[str, Any]) -> str:
    """One sentence: the training hours of all the profile's models projected from the
    median measured step time, if each stopped at the minimum steps and if each ran to the
    cap ("" when nothing is trained)."""
    _check_payload(payload)
    s, step = payload["settings"], _median_step(payload)
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


def source(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence for a payload computed in this run: from what, and how long
    building it took."""
    _check_payload(payload)
    trained = sum(len(_runs(entry)) for entry in payload["datasets"].values())
    seconds = sum(payload["timings_s"].values())
    rest = (
        "a model without one was trained and recorded first"
        if payload["settings"]["train_in_run"]
        else "a model without one is listed as missing, not trained"
    )
    return (
        f"Profile **{payload['profile']}**: numbers computed in this run ({seconds:.1f} s) from "
        f"the records of its {trained} trained models and of its floors; {rest}."
    )


def splits(payload: Mapping[str, Any]) -> str:
    """Sentences on every dataset whose test split is in another format than its training
    split: what both are (the data record's ``source``), how far the test images are from
    the lossless originals where that was measured, and which split the probes are fit and
    scored on ("" if no dataset's splits differ)."""
    _check_payload(payload)
    out = []
    for dataset, entry in payload["datasets"].items():
        train, test = (draw.data_name(payload, dataset, split) for split in ("train", "test"))
        if train == test:
            continue
        found = entry["test"].get("source") or {}
        text = (
            f"{_name(dataset)}: the training images are "
            f"{found.get('train', entry['train']['label'])}, the test images "
            f"{found.get('test', entry['test']['label'])}"
        )
        psnr = found.get("jpeg_psnr_db_vs_lossless")
        if psnr:
            text += (
                f"; on the {psnr['images']} test images that also exist losslessly, the "
                f"re-encodings' PSNR against the originals is {psnr['min']:.1f}–"
                f"{psnr['max']:.1f} dB (mean {psnr['mean']:.1f} dB)"
            )
        out.append(
            f"{text}. Every probe is fit on the training split ({train}) and scored on the "
            f"test split ({test})."
        )
    return " ".join(out)


def _drop(run: Mapping[str, Any], settings: Mapping[str, Any]) -> float | None:
    """NT-Xent of the block :data:`DROP_STEPS` steps before the last minus the last block's
    (positive: still falling); None if the curve is not that long."""
    back = DROP_STEPS // settings["block_steps"]
    history = run["history"]
    return history[-1 - back]["ntxent"] - history[-1]["ntxent"] if len(history) > back else None


def stopping(payload: Mapping[str, Any]) -> str:
    """One sentence: how many trained runs' NT-Xent still fell by more than
    :data:`STILL_FALLING` nats over their last :data:`DROP_STEPS` steps ("" if no run is
    that long)."""
    _check_payload(payload)
    drops = [
        (drop, f"{dataset}-{key}-s{seed}")
        for dataset, entry in payload["datasets"].items()
        for key, model in entry["models"].items()
        for seed, run in model["seeds"].items()
        if (drop := _drop(run, payload["settings"])) is not None
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


def missing(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence: which models of the profile are not trained yet."""
    _check_payload(payload)
    names = payload["missing"]
    total = len(training_plan(payload["settings"]))
    if not names:
        return f"All {total} models of the profile are trained and evaluated."
    per_seed = total // len(payload["settings"]["seeds"])
    by_seed: dict[str, list[str]] = {}
    for name in names:
        stem, seed = name.rsplit("-s", 1)
        by_seed.setdefault(seed, []).append(stem)
    listed = "; ".join(
        f"seed {seed}: " + ("all" if len(stems) == per_seed else ", ".join(f"`{s}`" for s in stems))
        for seed, stems in by_seed.items()
    )
    return (
        f"**{len(names)} of the {total} models of the profile are not trained yet** and are "
        f"absent from every figure, table and verdict below ({listed})."
    )


def _one_chart_signal(payload: Mapping[str, Any], dataset: str) -> str:
    """What the one-chart model learned beyond its MMD term: how many seeds' NT-Xent is
    stuck at log(2B − 1), and its linear probe against the untrained network's."""
    settings = payload["settings"]
    entry = payload["datasets"][dataset]
    stuck, runs = _stuck(entry, "msimclr-k1-d2", ntxent_bound(settings))
    model = accuracies(entry, "msimclr-k1-d2", "linear")
    untrained = floor(entry, "random", 2, "linear")
    return (
        f"{draw.data_name(payload, dataset, 'test')}, d = 2: the one-chart model's NT-Xent ends "
        f"stuck at log(2B − 1) in {stuck} of {runs} seeds; its linear probe {_percent(model)} "
        f"against an untrained network's {_percent(untrained, 'initialisation')} (descriptive, "
        "no rule)."
    )


def _stuck_seeds(entry: Mapping[str, Any], key: str, bound: float) -> list[str]:
    """The trained seeds of ``key`` whose last-block NT-Xent is within :data:`STUCK` of
    ``bound``."""
    seeds = entry["models"][key]["seeds"]
    return [s for s in seeds_of(entry, key) if bound - seeds[s]["history"][-1]["ntxent"] < STUCK]


def _stuck(entry: Mapping[str, Any], key: str, bound: float) -> tuple[int, int]:
    """Seeds of ``key`` whose last-block NT-Xent is stuck at ``bound``, and its seeds."""
    return len(_stuck_seeds(entry, key, bound)), len(seeds_of(entry, key))


def _stuck_reading(payload: Mapping[str, Any], dataset: str, d: int, stuck: list[str]) -> str:
    """The stuck seeds of SimCLR with the reference head at d against the untrained network
    (noise rule) and chance, and on how many distinct points its plotted test points lie."""
    settings, entry = payload["settings"], payload["datasets"][dataset]
    runs = entry["models"][f"simclr-d{d}"]["seeds"]
    parts = []
    for probe, name in PROBES.items():
        values = [100 * runs[s][probe] for s in stuck]
        untrained = floor(entry, "random", d, probe)
        parts.append(
            f"{name} {_percent(values)} against the untrained network's "
            f"{_percent(untrained, 'initialisation')}, "
            f"{_points(compare(values, untrained), _FLOOR_WORDS)} points"
        )
    text = f"at d = {d} the stuck seeds score: {'; '.join(parts)}; chance is " + (
        f"{100 / IMAGE_SETS[dataset]:.1f} % (1 / {IMAGE_SETS[dataset]} classes)"
    )
    first = runs.get(str(settings["seeds"][0]))
    if str(settings["seeds"][0]) in stuck and first.get("points"):
        points = np.asarray(first["points"])
        distinct = len(np.unique(points, axis=0))
        text += (
            f"; the first seed's {len(points)} plotted test embeddings lie on {distinct} "
            f"distinct point{'s' * (distinct != 1)} (at the precision of the record)"
        )
    return text


def _reference_head_stuck(payload: Mapping[str, Any], dataset: str) -> str | None:
    """How often SimCLR with the reference head is stuck, per d, and where it is, what its
    stuck seeds score against the untrained network and chance (None if untrained)."""
    settings, entry = payload["settings"], payload["datasets"].get(dataset)
    if entry is None:
        return None
    bound = ntxent_bound(settings)
    counts, readings = [], []
    for d in settings["dims"]:
        key = f"simclr-d{d}"
        if not entry["models"][key]["seeds"]:
            continue
        stuck = _stuck_seeds(entry, key, bound)
        counts.append(f"{len(stuck)} of {len(seeds_of(entry, key))} seeds at d = {d}")
        if stuck:
            readings.append(_stuck_reading(payload, dataset, d, stuck))
    if not counts:
        return None
    text = (
        f"{draw.data_name(payload, dataset, 'test')}: SimCLR with the reference head is stuck "
        f"(last-block NT-Xent within {STUCK:g} nats of log(2B − 1): its projections tell no "
        f"image from any other) in {', '.join(counts)}"
    )
    return text + (f"; {'; '.join(readings)}." if readings else ".")


def _one_chart_head(payload: Mapping[str, Any], dataset: str) -> str | None:
    """That the one-chart model has the reference's narrow head and how often it is stuck,
    per d: the confound of its comparison with the width-64 head (None if untrained)."""
    settings, entry = payload["settings"], payload["datasets"].get(dataset)
    if entry is None:
        return None
    bound = ntxent_bound(settings)
    counts = [
        (d, *_stuck(entry, f"msimclr-k1-d{d}", bound))
        for d in settings["dims"]
        if entry["models"][f"msimclr-k1-d{d}"]["seeds"]
    ]
    if not counts:
        return None
    listed = ", ".join(f"{n} of {m} seeds at d = {d}" for d, n, m in counts)
    return (
        f"{draw.data_name(payload, dataset, 'train')}: the one-chart model's chart head has the "
        f"reference's narrow design (d → d without bias, ReLU, d → 64), as SimCLR's reference "
        f"head, and its NT-Xent ends stuck at log(2B − 1) in {listed}; so comparing it with "
        f"the width-{settings['wide_head']} head confounds the head's width with the MMD term."
    )


_FLOOR_WORDS = {"wins": "clears it", "loses": "below it"}

_FLOOR_RULE = (
    "Floors are compared by the same noise rule, every model a claim reads against each "
    "floor under each probe. The untrained network has one value per initialisation seed, "
    "pooled with the model's seeds as any two models' are. PCA of the pixels is "
    "deterministic, one exact value that pools as a spread of 0, so against it the margin is "
    f"{NOISE_FACTOR:g} × sqrt(s²/2) = √2 × s for a model of seed standard deviation s (at "
    f"least {MIN_MARGIN:g} point): for n seeds, the same multiple of the standard error of "
    "the difference of the means as between two models of n seeds with equal spreads; the "
    f"model needs {MIN_COMPARED} seeds, PCA none."
)


#: The floors: payload key, as a difference reads, whether it is one exact value.
_FLOOR_KINDS = (("pca", "− PCA of the pixels", True), ("random", "− untrained network", False))


def _claimed(payload: Mapping[str, Any], dataset: str, d: int) -> list[str]:
    """The trained models at d that a claim reads, in display order: the pair of
    :func:`low_d` and, at d = 2, the one-chart model and every SimCLR of :func:`mmd_alone`."""
    settings = payload["settings"]
    found = low_d(payload, dataset)[d]
    keys = {found["msimclr"], found["simclr"]} if found else set()
    if d == 2 and 1 in settings["charts"]:
        for key, f in mmd_alone(payload, dataset).items():
            keys |= {"msimclr-k1-d2", key} if f else set()
    return [key for key in draw.keys_at(settings, d) if key in keys]


def _floors(payload: Mapping[str, Any], dataset: str, d: int) -> list[str]:
    """Every model at d that a claim reads against both floors under both probes, by the
    noise rule: one sentence per model."""
    entry = payload["datasets"][dataset]
    lines = []
    for key in _claimed(payload, dataset, d):
        parts = []
        for probe, name in PROBES.items():
            values = accuracies(entry, key, probe)
            against = [
                f"{what} {_points(c, _FLOOR_WORDS)}"
                for kind, what, exact in _FLOOR_KINDS
                for c in [compare(values, floor(entry, kind, d, probe), exact)]
            ]
            parts.append(f"{name}: {', '.join(against)}")
        lines.append(
            f"{draw.data_name(payload, dataset, 'test')}, d = {d}, {label(key)} against the "
            f"floors, in points: {'; '.join(parts)}."
        )
    return lines


def _probe_dependence(name: str, what: str, rule: str, chart: str) -> str:
    """One sentence: a claim's verdict by the rule and with MSimCLR read by the per-chart
    probe in place of the linear one."""
    reading = (
        "under per-chart probes (MSimCLR read by the reference's per-chart probe in place of "
        "the linear one, against SimCLR's linear probe)"
    )
    return f"{name}, {what}: verdict by the rule (linear and k-NN probes) **{rule}**; " + (
        f"{reading} it is the same, so the verdict does not depend on the probe."
        if rule == chart
        else f"the verdict depends on the probe: {reading} it would be **{chart}**."
    )


def _answer(payload: Mapping[str, Any], found: Mapping[str, Any], yes: bool) -> str:
    """A finding's bold answer: yes or no, or that its seeds are too few to tell."""
    if _too_few({0: found}, PROBES):
        return f"**too few seeds to tell ({_seeds_of_plan(payload, {0: found})})**"
    return f"**{'yes' if yes else 'no'}**"


def findings(payload: Mapping[str, Any]) -> list[str]:
    """The claims answered from the payload, one sentence per dataset and comparison."""
    _check_payload(payload)
    settings = payload["settings"]
    lines = []
    for dataset in settings["datasets"]:
        name = draw.data_name(payload, dataset, "test")
        entry = payload["datasets"].get(dataset)
        low = low_d(payload, dataset)
        for d, found in low.items():
            if found is None:
                lines.append(f"{name}, d = {d}: MSimCLR vs SimCLR not measurable yet.")
                continue
            wins = all(found[p].outcome == "wins" for p in PROBES)
            lines.append(
                f"{name}, d = {d}: MSimCLR beats SimCLR under both probes: "
                f"{_answer(payload, found, wins)} ({label(found['msimclr'])} − "
                f"{label(found['simclr'])}: linear {_points(found['linear'])}, k-NN "
                f"{_points(found['knn'])} points; {found['seeds']} "
                f"seed{'s' * (found['seeds'] != 1)})."
            )
        if 2 in settings["dims"] and 1 in settings["charts"]:
            for key, found in mmd_alone(payload, dataset).items():
                if found is None:
                    lines.append(f"{name}, d = 2: MMD alone vs {label(key)} not measurable yet.")
                    continue
                wins = all(found[p].outcome == "wins" for p in PROBES)
                drastic = wins and found["linear"].diff > DRASTIC
                answer = _answer(payload, found, wins) + (
                    "" if _too_few({0: found}, PROBES)
                    else f", drastically (> {DRASTIC:g} points): **{'yes' if drastic else 'no'}**"
                )  # fmt: skip
                lines.append(
                    f"{name}, d = 2: the MMD term alone (one chart) beats {label(key)}: "
                    f"{answer} (linear {_points(found['linear'])}, k-NN "
                    f"{_points(found['knn'])} points; {found['seeds']} "
                    f"seed{'s' * (found['seeds'] != 1)}{', some capped' * found['capped']})."
                )
            if entry is not None and entry["models"]["msimclr-k1-d2"]["seeds"]:
                lines.append(_one_chart_signal(payload, dataset))
        head = _one_chart_head(payload, dataset)
        lines += [head] if head else []
        stuck = _reference_head_stuck(payload, dataset)
        lines += [stuck] if stuck else []
        if any(low.values()) and _low_d_verdict(low) != "not run yet":
            lines.append(_probe_dependence(
                name, "MSimCLR beats SimCLR at low d", _low_d_verdict(low),
                _low_d_verdict(low, _CHART_PROBES),
            ))  # fmt: skip
        if 2 in settings["dims"] and 1 in settings["charts"]:
            alone = mmd_alone(payload, dataset)
            if alone.get("simclr-d2") and _mmd_verdict(alone) != "not run yet":
                lines.append(_probe_dependence(
                    name, "the MMD term alone drastically improves SimCLR at d = 2",
                    _mmd_verdict(alone), _mmd_verdict(alone, _CHART_PROBES),
                ))  # fmt: skip
        if entry is not None:
            lines += [line for d in settings["dims"] for line in _floors(payload, dataset, d)]
    return [*lines, _FLOOR_RULE] if any("against the floors" in x for x in lines) else lines


# --------------------------------------------------------------------------- tables


def _cell(values: list[float], digits: int = 1) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


_DROP_COLUMN = f"NT-Xent drop over the last {DROP_STEPS} steps, per seed (nats)"


def _accuracy_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []
    for dataset, entry in payload["datasets"].items():
        name = draw.data_name(payload, dataset, "test")
        for d in settings["dims"]:
            for kind, what in (("pca", "PCA of the pixels"), ("random", "untrained network")):
                found = {p: floor(entry, kind, d, p) for p in PROBES}
                rows.append({
                    "dataset": name, "d": d, "representation": what,
                    "seeds": len(found["linear"]),
                    **{f"{PROBES[p]} (%)": _cell(values) for p, values in found.items()},
                    "per-chart probes (%)": "–", "steps": "–", "stopped by": "–",
                    _DROP_COLUMN: "–",
                })  # fmt: skip
            for key in draw.keys_at(settings, d):
                runs = [entry["models"][key]["seeds"][s] for s in seeds_of(entry, key)]
                capped = sum(run["criterion"]["capped"] for run in runs)
                steps = sorted({run["criterion"]["steps"] for run in runs})
                rows.append({
                    "dataset": name, "d": d, "representation": label(key),
                    "seeds": len(runs),
                    **{f"{PROBES[p]} (%)": _cell(accuracies(entry, key, p)) for p in PROBES},
                    "per-chart probes (%)": _cell(accuracies(entry, key, "chart_probe"))
                    if entry["models"][key]["charts"] else "–",
                    "steps": ", ".join(map(str, steps)) or "–",
                    "stopped by": "–" if not runs else
                    f"{len(runs) - capped} criterion, {capped} cap",
                    _DROP_COLUMN: ", ".join(
                        "–" if x is None else f"{x:.3f}" for x in (_drop(r, settings) for r in runs)
                    ) or "–",
                })  # fmt: skip
    return pd.DataFrame(rows)


#: The comparisons' probes as the table names them: the rule's, then the per-chart reading.
_COMPARED = {**PROBES, "per_chart": "per-chart (A), linear (B): outside the rule"}


def _comparison_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []

    def add(dataset: str, d: int, a: str, b: str, found: Mapping[str, Any] | None) -> None:
        for probe, probe_name in _COMPARED.items():
            c = None if found is None else found[probe]
            rows.append({
                "dataset": draw.data_name(payload, dataset, "test"), "d": d, "A": label(a),
                "B": label(b), "probe": probe_name,
                "A − B (points)": math.nan if c is None else c.diff,
                "margin (points)": math.nan if c is None else c.margin,
                "outcome": "not trained" if c is None else f"A {c.outcome}"
                if c.outcome in ("wins", "loses") else c.outcome,
                "seeds": 0 if c is None else c.seeds,
            })  # fmt: skip

    for dataset in settings["datasets"]:
        for d, found in low_d(payload, dataset).items():
            a = found["msimclr"] if found else "msimclr-k8-d" + str(d)
            b = found["simclr"] if found else f"simclr-d{d}"
            add(dataset, d, a, b, found)
        if 2 in settings["dims"] and 1 in settings["charts"]:
            for key, found in mmd_alone(payload, dataset).items():
                add(dataset, 2, "msimclr-k1-d2", key, found)
    return pd.DataFrame(rows)


def _collapse_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    seeds = settings["init_seeds"]
    bound = ntxent_bound(settings)
    rows = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            for key in draw.keys_at(settings, d):
                model = entry["models"][key]
                runs = [model["seeds"][s] for s in seeds_of(entry, key)]
                last = [run["history"][-1]["ntxent"] for run in runs]
                simclr = not model["charts"]
                width = (model["hidden"] or d) if simclr else None
                fresh = (
                    100 * entry["collapsed_at_init"][f"d{d}"]
                    if simclr and not model["hidden"]
                    else None
                )
                rows.append({
                    "dataset": draw.data_name(payload, dataset, "train"), "d": d,
                    "model": label(key),
                    "head units alive after training, per seed":
                        ", ".join(f"{run['alive_units']}" for run in runs) + f" of {width}"
                        if runs and simclr else "–",
                    f"last-block NT-Xent (log(2B − 1) = {bound:.3f})": _cell(last, 3),
                    f"seeds stuck (within {STUCK:g} of it)":
                        f"{sum(bound - x < STUCK for x in last)} of {len(runs)}" if runs else "–",
                    f"fresh heads collapsed, % of {seeds}": fresh,
                })  # fmt: skip
    return pd.DataFrame(rows)


def _chart_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            for k in (k for k in settings["charts"] if k > 1):
                runs = entry["models"][f"msimclr-k{k}-d{d}"]["seeds"].values()
                if not runs:
                    continue
                used = [sum(c > 0 for c in run["test_counts"]) for run in runs]
                largest = [100 * max(run["test_counts"]) / sum(run["test_counts"]) for run in runs]
                rows.append({
                    "dataset": draw.data_name(payload, dataset, "test"), "d": d, "k": k,
                    "seeds": len(used),
                    "charts holding test points": _cell(used),
                    "largest chart's share (%)": _cell(largest),
                    "uniform share (%)": 100 / k,
                })  # fmt: skip
    return pd.DataFrame(rows)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables.

    ``accuracy`` (every model and floor: test accuracy in %, mean ± std over seeds, under
    each probe; steps, what stopped training and NT-Xent's drop over the last
    :data:`DROP_STEPS` steps), ``comparisons`` (every comparison the claims read, by the
    noise rule, and the same with MSimCLR's per-chart probe), ``collapse`` (every model's
    contrastive term at the end of training and SimCLR's projection heads) and ``charts``
    (how many charts MSimCLR fills, and how unevenly).
    """
    _check_payload(payload)
    return {
        "accuracy": _accuracy_table(payload),
        "comparisons": _comparison_table(payload),
        "collapse": _collapse_table(payload),
        "charts": _chart_table(payload),
    }


# --------------------------------------------------------------------------- figures


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of a payload, by key: ``accuracy``, ``curves`` (training loss),
    ``ntxent`` (its contrastive term), ``chart-use`` (when some k > 1) and, when the profile
    has d = 2, ``embedding-<dataset>`` per dataset. The keys depend on the profile's settings
    only, whatever is trained."""
    _check_payload(payload)
    settings = payload["settings"]
    out = {
        "accuracy": draw.accuracy(payload),
        "curves": draw.curves(payload),
        "ntxent": draw.curves(payload, "ntxent"),
    }
    if any(k > 1 for k in settings["charts"]):
        out["chart-use"] = draw.chart_use(payload)
    if 2 in settings["dims"]:
        for dataset in settings["datasets"]:
            out[f"embedding-{dataset}"] = draw.embedding(payload, dataset)
    return out


# --------------------------------------------------------------------------- claims

_LIMIT = (
    f"Reproduced needs at least {MIN_SEEDS} training seeds per compared model and every one "
    "of them stopped by the convergence criterion, not by the step cap; otherwise the best "
    "verdict is partly."
)

_LOW_D_RULE = (
    "At every d run, compare the best MSimCLR with k > 1 charts against the better SimCLR "
    "under the linear and the k-NN probe. The baseline is the better of SimCLR with the "
    "reference head and SimCLR with the width-64 head, and MSimCLR the better of its k > 1 "
    "models, each by mean linear-probe accuracy over its seeds: this pick of the best on "
    "each side is part of the rule, fixed before the runs, and the noise margin is not "
    "widened for it. " + NOISE_RULE + " A win at d is a win under both probes. "
    "Reproduced if MSimCLR wins at every d; partly if it wins at some d; within noise if it "
    "wins nowhere and loses nowhere (every difference inside the margin); not reproduced "
    "otherwise. " + _LIMIT
)

_MMD_RULE = (
    "At d = 2, compare MSimCLR with one chart (SimCLR plus the MMD term) against every SimCLR "
    "run (the reference's head, and the width-64 head that controls for its collapse) under "
    "both probes. " + NOISE_RULE + f" Reproduced if it wins over each under both probes and "
    f"leads each by more than {DRASTIC:g} points of linear-probe accuracy (drastically); "
    "partly if it wins over each; within noise if it loses to none under either probe but "
    "does not win over each; not reproduced otherwise. " + _LIMIT
)


def _verdict(strong: bool, weak: bool, limited: bool, noise: bool = False) -> str:
    """``reproduced`` only for the strong result without limits; ``partly`` for the strong
    one with limits or the weak one; ``within noise`` when neither holds but nothing was lost
    beyond the noise margin (``noise``); else ``not reproduced``."""
    if strong and not limited:
        return "reproduced"
    if strong or weak:
        return "partly"
    return "within noise" if noise else "not reproduced"


def _no_loss(found: Mapping[str, Any], probes: Sequence[str]) -> bool:
    """Whether no comparison in ``found`` (comparisons by probe) is lost beyond the margin
    under ``probes``."""
    return all(f[p].outcome != "loses" for f in found.values() for p in probes)


def _limited(measured: Mapping[str, Any]) -> bool:
    seeds = min(f["seeds"] for f in measured.values())
    return seeds < MIN_SEEDS or any(f["capped"] for f in measured.values())


def _low_d_verdict(found: Mapping[int, Any], probes: Sequence[str] = _RULE_PROBES) -> str:
    """The low-d rule's verdict from :func:`low_d`'s comparisons, read under ``probes``
    (the rule's, or :data:`_CHART_PROBES`); ``not run yet`` when nothing is measured or a
    comparison has too few seeds."""
    measured = {d: f for d, f in found.items() if f is not None}
    if not measured or _too_few(measured, probes):
        return "not run yet"
    wins = [d for d, f in measured.items() if all(f[p].outcome == "wins" for p in probes)]
    return _verdict(
        len(wins) == len(found), bool(wins), _limited(measured), _no_loss(measured, probes)
    )


def _mmd_verdict(found: Mapping[str, Any], probes: Sequence[str] = _RULE_PROBES) -> str:
    """The MMD rule's verdict from :func:`mmd_alone`'s comparisons, read under ``probes``
    (the first one is the one the drastic lead is measured with); ``not run yet`` when the
    reference head's comparison is not measured or a comparison has too few seeds."""
    measured = {key: f for key, f in found.items() if f is not None}
    if "simclr-d2" not in measured or _too_few(measured, probes):
        return "not run yet"
    complete = len(measured) == len(found)
    wins = all(all(f[p].outcome == "wins" for p in probes) for f in measured.values())
    drastic = wins and all(f[probes[0]].diff > DRASTIC for f in measured.values())
    return _verdict(
        drastic and complete, wins, _limited(measured) or not complete,
        _no_loss(measured, probes),
    )  # fmt: skip


def _mmd_limit(found: Mapping[str, Any]) -> str:
    """What keeps the MMD claim from a better verdict under the rule's probes: the
    comparison furthest from a win (a loss before a tie), else the smallest linear lead not
    above :data:`DRASTIC`, else an untrained SimCLR, a seed short of :data:`MIN_SEEDS` or a
    capped model ("" when nothing does)."""
    measured = {key: f for key, f in found.items() if f is not None}
    short = {"linear": "linear", "knn": "k-NN"}
    failing = {
        (key, p): f[p] for key, f in measured.items() for p in _RULE_PROBES
        if f[p].outcome != "wins"
    }  # fmt: skip
    if failing:  # the first of equals, in the order of the comparisons and the probes
        (key, probe), c = min(failing.items(), key=lambda item: item[1].diff - item[1].margin)
        return f"limited by {label(key)}: {short[probe]} {_points(c)}"
    small = [key for key, f in measured.items() if f["linear"].diff <= DRASTIC]
    if small:
        key = min(small, key=lambda k: measured[k]["linear"].diff)
        lead = measured[key]["linear"].diff
        return f"limited by {label(key)}: linear {lead:+.1f}, not more than {DRASTIC:g} points"
    missing = [key for key, f in found.items() if f is None]
    if missing:
        return f"limited by {label(missing[0])}: not trained"
    if _limited(measured):
        return f"limited by fewer than {MIN_SEEDS} seeds or a capped model"
    return ""


def _reference(dataset: str) -> str:
    ref = REFERENCE[dataset]
    return (
        f"{_name(dataset)}: {_resnet_name(dataset)} from scratch, {ref['epochs']} epochs of the "
        f"{ref['train_images']:,} training images at batch {ref['batch']} "
        f"({reference_steps(dataset):,} steps), τ = {ref['temperature']:g}, Adam 1e-4 "
        "(neurve's code)"
    )


def _section(dataset: str, topic: str) -> str:
    return "msimclr-cifar" if dataset == "cifar10" else f"msimclr-{topic}"


def _unmeasured(common: Mapping[str, Any]) -> scorecard.Claim:
    return scorecard.Claim(
        **common, verdict="not run yet", measured="–", data="–", budget="–", seeds=0
    )


def _low_d_text(dims: Sequence[int], dataset: str) -> str:
    """The low-d claim as the dims run test it: at the one d, or at low d naming them."""
    if len(dims) == 1:
        return f"At d = {dims[0]}, MSimCLR beats SimCLR on {_name(dataset)}."
    listed = ", ".join(map(str, dims[:-1])) + f" and {dims[-1]}"
    return (
        f"At low dimension d (here d = {listed}), MSimCLR beats SimCLR at the same d on "
        f"{_name(dataset)}."
    )


def _low_d_claim(payload: Mapping[str, Any], dataset: str) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": _low_d_text(payload["settings"]["dims"], dataset),
        "rule": _LOW_D_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": _section(dataset, "accuracy"),
    }
    found = low_d(payload, dataset)
    measured = {d: f for d, f in found.items() if f is not None}
    if not measured:
        return _unmeasured(common)
    text = "; ".join(
        f"d = {d}: {label(f['msimclr'])} − {label(f['simclr'])} {f['linear'].diff:+.1f} "
        f"linear, {f['knn'].diff:+.1f} k-NN"
        for d, f in measured.items()
    )
    if _too_few(measured, _RULE_PROBES):
        text = f"{_seeds_of_plan(payload, measured)}, too few to compare; points: {text}"
    else:
        text = f"points: {text}"
    return scorecard.Claim(
        **common,
        verdict=_low_d_verdict(found),
        measured=text,
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=min(f["seeds"] for f in measured.values()),
    )


def _mmd_claim(payload: Mapping[str, Any], dataset: str) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": "At d = 2, the MMD term alone (MSimCLR with one chart) drastically improves "
        f"SimCLR on {_name(dataset)}.",
        "rule": _MMD_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": _section(dataset, "mmd"),
    }
    found = mmd_alone(payload, dataset)
    measured = {key: f for key, f in found.items() if f is not None}
    if "simclr-d2" not in measured:
        return _unmeasured(common)
    text = "; ".join(
        f"− {label(key)} {f['linear'].diff:+.1f} linear, {f['knn'].diff:+.1f} k-NN"
        for key, f in measured.items()
    )
    if _too_few(measured, _RULE_PROBES):
        text = f"{_seeds_of_plan(payload, measured)}, too few to compare; one chart, points: {text}"
    else:
        limit = _mmd_limit(found)
        text = f"one chart, points: {text}" + (f"; {limit}" if limit else "")
    return scorecard.Claim(
        **common,
        verdict=_mmd_verdict(found),
        measured=text,
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=min(f["seeds"] for f in measured.values()),
    )


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """This chapter's claims of Korman's blog (MSimCLR part), with verdicts from the results.

    MNIST and Fashion-MNIST come from the ``full`` profile, CIFAR-10 from the ``cifar10``
    profile; a claim none of whose comparisons has trained models, or one of whose
    comparisons has too few seeds, is "not run yet".

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> that profile's saved payload, or None.
    """
    full, cifar = (
        empty_payload(profile) if (found := load(profile)) is None else found
        for profile in ("full", "cifar10")
    )
    return [
        _low_d_claim(full, "mnist"),
        _low_d_claim(full, "fashion-mnist"),
        _low_d_claim(cifar, "cifar10"),
        _mmd_claim(full, "mnist"),
        _mmd_claim(cifar, "cifar10"),
    ]
