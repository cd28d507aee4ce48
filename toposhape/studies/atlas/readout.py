"""The read-out of an atlas: from memberships on a dense sample to Betti numbers and a
verdict on every chart. The same functions read the hand-built covers (the positive and
negative controls, :mod:`toposhape.covers`) and the learned atlases.

The nerve
    The fuzzy Čech nerve by the paper's "simpler method" (``u_σ = max_x min_{j∈σ}
    q_j(x)``), filtered in decades of ε (``t = −log10 ε``) and seen through the window
    ``t ≤`` :data:`WINDOW` (ε ≥ 10⁻³: a membership below 0.1 % does not put a sample in a
    chart; past that, the far tails of the softmax join every chart to every other).
    Persistence over Z/2 and Z/3 (:data:`FIELDS`). A bar counts as a homology class when
    it is at least ``threshold`` decades long inside the window.
The threshold
    Chosen on the good control covers, never on learned atlases
    (:func:`choose_threshold`): every good cover at every entropy of
    :data:`CONTROL_ENTROPIES` defines the interval of thresholds that read its Betti
    numbers exactly, over both fields; the threshold is the midpoint of their common
    part. If they have none, the read-out is not fit for use and nothing is reported.
The charts
    Each chart's owned samples (argmax q) are checked for one contractible piece
    (:func:`chart_checks`): no finite H0 bar and no H1 bar of their Rips filtration as
    long as :data:`CHART_LONG` times their diameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposhape.covers import chart_persistence
from toposhape.manifolds import MANIFOLDS
from toposhape.nerve import check_memberships, clip_barcodes, nerve_barcodes, persistent_betti

__all__ = [
    "CHART_LONG",
    "CHART_SUBSAMPLE",
    "CONTROL_ENTROPIES",
    "FIELDS",
    "MIN_CHART_POINTS",
    "NERVE_RULE",
    "WINDOW",
    "betti_at",
    "chart_checks",
    "choose_threshold",
    "correct_lengths",
    "nerve_bars",
]

#: How the nerve's simplices are valued: u_σ = max_x min_{j∈σ} q_j(x).
NERVE_RULE = "min"
#: Coefficient fields of the homology (they disagree on RP²).
FIELDS = (2, 3)
#: End of the window of the filtration, in decades of ε (ε ≥ 10⁻³).
WINDOW = 3.0
#: Mean membership entropies (nats) of the good control covers the threshold is chosen
#: on: a factor of four in softness, fixed before any atlas was trained (learned atlases
#: turned out sharper; the chapter reads the controls at 0.05 nats too).
CONTROL_ENTROPIES = (0.1, 0.2, 0.4)
#: A chart is not one contractible piece when its samples have a finite H0 bar or an H1
#: bar at least this share of their diameter long.
CHART_LONG = 0.3
#: Samples per chart in its Rips filtration (drawn at random when it owns more).
CHART_SUBSAMPLE = 300
#: Charts owning fewer samples are too small to check (and hold almost no mass).
MIN_CHART_POINTS = 20


def nerve_bars(q: Any, manifold: str) -> dict[int, dict[int, np.ndarray]]:
    """The nerve's barcodes over every field of :data:`FIELDS`, inside the window.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Memberships of a dense sample.
    manifold : str
        A key of :data:`toposhape.manifolds.MANIFOLDS`; simplices up to its dimension + 1
        are built, so H0..H_dim are read.

    Returns
    -------
    dict of int to dict of int to ndarray
        ``{field: {dim: (m, 2) bars}}`` in decades, clipped to ``[0, WINDOW]``.
    """
    dim = MANIFOLDS[manifold].dim
    bars = nerve_barcodes(q, max_dim=dim + 1, fields=FIELDS, rule=NERVE_RULE, scale="log")
    return {field: clip_barcodes(b, WINDOW) for field, b in bars.items()}


def betti_at(bars: Mapping[int, Mapping[int, np.ndarray]], threshold: float) -> dict[int, list]:
    """Betti numbers per field: the bars at least ``threshold`` decades long."""
    return {field: list(persistent_betti(b, threshold)) for field, b in bars.items()}


def _lengths(bars: np.ndarray) -> np.ndarray:
    return np.sort(bars[:, 1] - bars[:, 0])[::-1]


def correct_lengths(
    bars: Mapping[int, Mapping[int, np.ndarray]], manifold: str
) -> tuple[float, float]:
    """The interval ``(low, high]`` of thresholds that read the manifold's Betti numbers.

    With the bar lengths of one dimension sorted in decreasing order ``L_1 ≥ L_2 ≥ …``
    and ``b`` the true Betti number, a threshold t counts exactly b bars when
    ``L_{b+1} < t ≤ L_b`` (``L_0 = ∞``, ``L_{m+1} = 0``); the interval is the common part
    over the dimensions and fields. It is empty (``low ≥ high``) when no threshold works.

    Parameters
    ----------
    bars : dict
        As :func:`nerve_bars` returns them.
    manifold : str
        The manifold whose Betti numbers (over Z/2 and Z/3) are the truth.
    """
    truth = {2: MANIFOLDS[manifold].betti_z2, 3: MANIFOLDS[manifold].betti_z3}
    low, high = 0.0, math.inf
    for field, by_dim in bars.items():
        for dim, b in by_dim.items():
            lengths, m = _lengths(b), truth[field][dim]
            if m:
                high = min(high, float(lengths[m - 1]) if len(lengths) >= m else 0.0)
            if len(lengths) > m:
                low = max(low, float(lengths[m]))
    return low, high


def choose_threshold(intervals: Sequence[tuple[float, float]]) -> dict[str, float]:
    """The long-bar threshold: the midpoint of the thresholds every good control reads right.

    Parameters
    ----------
    intervals : sequence of (low, high)
        :func:`correct_lengths` of every good control cover at every entropy of
        :data:`CONTROL_ENTROPIES`; at least one.

    Returns
    -------
    dict
        ``low`` and ``high`` (the common interval ``(low, high]``) and ``threshold``.

    Raises
    ------
    ValueError
        If no threshold reads every control right: the read-out fails its positive
        controls, and no learned atlas may be read with it.
    """
    if not intervals:
        raise ValueError("intervals is empty: the threshold needs at least one control")
    low = max(lo for lo, _ in intervals)
    high = min(hi for _, hi in intervals)
    if not low < high:
        raise ValueError(
            f"the read-out fails its positive controls: no bar-length threshold reads every "
            f"good control cover right (they need more than {low:.3g} and at most "
            f"{high:.3g} decades)"
        )
    return {"low": low, "high": high, "threshold": (low + high) / 2}


def chart_checks(points: Any, q: Any, seed: int = 0) -> list[dict[str, Any]]:
    """Each chart's owned samples: how many, their relative H0 and H1 extent, and whether
    they form one contractible piece.

    Parameters
    ----------
    points : array_like, shape (N, D)
        The (standardised) samples the memberships belong to.
    q : array_like or Tensor, shape (N, k)
        Memberships; a sample is owned by its most likely chart.
    seed : int
        Seeds the subsampling of large charts.

    Returns
    -------
    list of dict, one per chart
        ``points``, ``h0``, ``h1`` (see :func:`toposhape.covers.chart_persistence`) and
        ``contractible``: True or False, or None for a chart with fewer than
        :data:`MIN_CHART_POINTS` samples (not checked).
    """
    q = check_memberships(q)
    charts = chart_persistence(points, q.argmax(axis=1), q.shape[1], CHART_SUBSAMPLE, seed)
    for chart in charts:
        checked = chart["points"] >= MIN_CHART_POINTS
        chart["contractible"] = (
            bool(chart["h0"] < CHART_LONG and chart["h1"] < CHART_LONG) if checked else None
        )
    return charts
