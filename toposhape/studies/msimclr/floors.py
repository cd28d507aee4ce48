"""Findings of the chapter "MSimCLR" on what a model learned beyond what needs no training.

Two references need no training: log(2B − 1), the NT-Xent of an embedding that tells no
image of a batch of B from any other (a run whose last-block NT-Xent is within
:data:`STUCK` of it is *stuck*), and the floors (PCA of the pixels, the untrained network).
:func:`one_chart_signal`, :func:`reference_head_stuck` and :func:`one_chart_head` are the
sentences on stuck runs, :func:`against_floors` those on every model a claim reads against
the floors, by the rule :data:`FLOOR_RULE` states. Sentences for
:func:`toposhape.studies.msimclr.report.findings`, from a payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.image_sets import IMAGE_SETS
from toposhape.studies.msimclr import figures as draw
from toposhape.studies.msimclr.compare import (
    MIN_COMPARED,
    MIN_MARGIN,
    NOISE_FACTOR,
    PROBES,
    accuracies,
    cell,
    compare,
    floor,
    in_points,
    label,
    ntxent_bound,
    seeds_of,
)
from toposhape.studies.msimclr.pairs import low_d, mmd_alone

__all__ = [
    "FLOOR_RULE",
    "STUCK",
    "against_floors",
    "one_chart_head",
    "one_chart_signal",
    "reference_head_stuck",
]

#: A run's contrastive term is *stuck* when its last-block NT-Xent is within this many nats of
#: log(2B − 1), the value of an embedding that tells no image in the batch from any other.
STUCK = 0.01


def _percent(values: list[float], unit: str = "seed") -> str:
    """A cell in % with how many values it has, e.g. ``"24.0 % (1 seed)"``."""
    return f"{cell(values)} % ({len(values)} {unit}{'s' * (len(values) != 1)})"


def one_chart_signal(payload: Mapping[str, Any], dataset: str) -> str:
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
            f"{in_points(compare(values, untrained), _FLOOR_WORDS)} points"
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


def reference_head_stuck(payload: Mapping[str, Any], dataset: str) -> str | None:
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


def one_chart_head(payload: Mapping[str, Any], dataset: str) -> str | None:
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

#: How :func:`against_floors` compares, as the findings state it.
FLOOR_RULE = (
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
    :func:`~.pairs.low_d` and, at d = 2, the one-chart model and every SimCLR of
    :func:`~.pairs.mmd_alone`."""
    settings = payload["settings"]
    found = low_d(payload, dataset)[d]
    keys = {found["msimclr"], found["simclr"]} if found else set()
    if d == 2 and 1 in settings["charts"]:
        for key, f in mmd_alone(payload, dataset).items():
            keys |= {"msimclr-k1-d2", key} if f else set()
    return [key for key in draw.keys_at(settings, d) if key in keys]


def against_floors(payload: Mapping[str, Any], dataset: str, d: int) -> list[str]:
    """Every model at d that a claim reads against both floors under both probes, by the
    noise rule: one sentence per model."""
    entry = payload["datasets"][dataset]
    lines = []
    for key in _claimed(payload, dataset, d):
        parts = []
        for probe, name in PROBES.items():
            values = accuracies(entry, key, probe)
            against = [
                f"{what} {in_points(c, _FLOOR_WORDS)}"
                for kind, what, exact in _FLOOR_KINDS
                for c in [compare(values, floor(entry, kind, d, probe), exact)]
            ]
            parts.append(f"{name}: {', '.join(against)}")
        lines.append(
            f"{draw.data_name(payload, dataset, 'test')}, d = {d}, {label(key)} against the "
            f"floors, in points: {'; '.join(parts)}."
        )
    return lines
