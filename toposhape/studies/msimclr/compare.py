"""The chapter's numbers from a payload: accuracies across seeds, the noise rule, how they print.

A payload (:func:`toposhape.studies.msimclr.run.run`) holds, per dataset, every finished
model's probe accuracies seed by seed, and the floors. Here they are read in percent, and
two cells are compared by one rule, fixed before any run:

*A beats B when the mean over A's training seeds exceeds B's by more than twice their pooled
seed standard deviation and by more than one point of test accuracy; B beats A likewise;
otherwise the two are within noise.*

The one-point floor keeps two cells with nearly equal seeds from being called different on a
fraction of a point. A cell with fewer than :data:`MIN_COMPARED` seeds has no spread to
measure a difference against, so it is not compared at all (outcome :data:`TOO_FEW`); the
one exception is a deterministic B (PCA of the pixels: one exact value), which needs no
seeds and pools as a spread of 0. Against it the margin is 2·sqrt(s²/2) = √2·s for A's seed
spread s: for n seeds of A that is √(2n) standard errors of the difference of the means,
the same multiple as between two cells of n seeds with equal spreads.

:func:`trained_runs` lists a dataset entry's trained runs; :func:`cell` (mean ± std),
:func:`in_points` (a comparison's difference, outcome and margin) and :func:`label` (a
model's name) are how the chapter prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "MIN_COMPARED",
    "MIN_MARGIN",
    "MIN_SEEDS",
    "NOISE_FACTOR",
    "NOISE_RULE",
    "PROBES",
    "TOO_FEW",
    "Comparison",
    "accuracies",
    "best",
    "cell",
    "compare",
    "floor",
    "in_points",
    "is_capped",
    "label",
    "mean_std",
    "ntxent_bound",
    "seeds_of",
    "trained_runs",
]

#: Points of test accuracy a difference must exceed, whatever the seed spread.
MIN_MARGIN = 1.0

#: Multiple of the pooled seed standard deviation a difference must exceed.
NOISE_FACTOR = 2.0

#: Training seeds per cell that a "reproduced" verdict needs.
MIN_SEEDS = 3

#: Seeds a cell needs to be compared at all (a spread needs two).
MIN_COMPARED = 2

#: The outcome of a comparison in which a cell has fewer than :data:`MIN_COMPARED` seeds.
TOO_FEW = "too few seeds"

#: The probes every representation is read with, by payload key.
PROBES: Mapping[str, str] = {"linear": "linear probe", "knn": "k-NN probe"}

NOISE_RULE = (
    f"A beats B when the mean over A's training seeds exceeds B's by more than "
    f"{NOISE_FACTOR:g} × their pooled seed standard deviation and by more than "
    f"{MIN_MARGIN:g} point of test accuracy; otherwise they are within noise. A model with "
    f"fewer than {MIN_COMPARED} training seeds has no spread to measure against and is not "
    "compared (too few seeds)."
)


def seeds_of(entry: Mapping[str, Any], key: str) -> list[str]:
    """The trained seeds of model ``key`` in a dataset entry, in increasing order."""
    return sorted(entry["models"][key]["seeds"], key=int)


def trained_runs(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every trained run of a dataset entry: each model's records, seed by seed."""
    return [run for model in entry["models"].values() for run in model["seeds"].values()]


def accuracies(entry: Mapping[str, Any], key: str, probe: str) -> list[float]:
    """Test accuracy in % of model ``key`` under ``probe``, one value per trained seed.

    ``probe`` is ``linear``, ``knn`` or, for MSimCLR, ``chart_probe``.
    """
    seeds = entry["models"][key]["seeds"]
    return [100 * seeds[s][probe] for s in seeds_of(entry, key)]


def floor(entry: Mapping[str, Any], kind: str, d: int, probe: str) -> list[float]:
    """Test accuracy in % of a floor: ``pca`` (one value) or ``random`` (one per init seed)."""
    found = entry["floors"][kind][f"d{d}"]
    if kind == "pca":
        return [100 * found[probe]]
    return [100 * found[s][probe] for s in sorted(found, key=int)]


def ntxent_bound(settings: Mapping[str, Any]) -> float:
    """log(2B − 1): NT-Xent of an embedding that tells no image of a batch of B from any
    other (every similarity equal)."""
    return math.log(2 * settings["batch_size"] - 1)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value) of ``values``."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("values must not be empty")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def cell(values: list[float], digits: int = 1) -> str:
    """A cell as printed: ``"mean ± std"`` of ``values`` to ``digits`` decimals, the mean
    alone for one value, ``"–"`` for none."""
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


class Comparison(NamedTuple):
    """A compared with B by the noise rule.

    Attributes
    ----------
    diff : float
        Mean of A minus mean of B, in points.
    margin : float
        What ``diff`` had to exceed: max(NOISE_FACTOR × pooled std, MIN_MARGIN); NaN when
        the outcome is :data:`TOO_FEW`.
    outcome : str
        ``"wins"`` (A beats B), ``"loses"`` (B beats A), ``"within noise"`` or
        :data:`TOO_FEW`.
    seeds : int
        The smaller number of seeds of the two (A's against an exact B).
    """

    diff: float
    margin: float
    outcome: str
    seeds: int


def compare(a: Sequence[float], b: Sequence[float], exact: bool = False) -> Comparison:
    """Compare two cells' per-seed accuracies (in %) by the noise rule.

    Parameters
    ----------
    a, b : sequence of float
        Per-seed accuracies of A and B.
    exact : bool
        B is one deterministic value, not a mean over seeds (PCA of the pixels): it needs
        no seeds and pools as a spread of 0.

    Raises
    ------
    ValueError
        If either is empty, or ``exact`` and ``b`` has more than one value.
    """
    if exact and len(b) > 1:
        raise ValueError(f"b must hold one value when exact, got {len(b)}")
    (mean_a, std_a), (mean_b, std_b) = mean_std(a), mean_std(b)
    diff, seeds = mean_a - mean_b, len(a) if exact else min(len(a), len(b))
    if seeds < MIN_COMPARED:
        return Comparison(diff, math.nan, TOO_FEW, seeds)
    pooled = math.sqrt((std_a**2 + std_b**2) / 2)
    margin = max(NOISE_FACTOR * pooled, MIN_MARGIN)
    outcome = "wins" if diff > margin else "loses" if -diff > margin else "within noise"
    return Comparison(diff, margin, outcome, seeds)


def in_points(c: Comparison, words: Mapping[str, str] | None = None) -> str:
    """A comparison's difference with its outcome (named by ``words`` where given) and the
    margin it had to exceed (none when there were too few seeds)."""
    outcome = (words or {}).get(c.outcome, c.outcome)
    return (
        f"{c.diff:+.1f} ({outcome})"
        if c.outcome == TOO_FEW
        else f"{c.diff:+.1f} ({outcome}, margin {c.margin:.1f})"
    )


def label(key: str) -> str:
    """A model's name as the chapter writes it, from its key."""
    parts = key.split("-")
    if parts[0] == "simclr":
        return "SimCLR" if len(parts) == 2 else f"SimCLR, width-{parts[1][1:]} head"
    k = int(parts[1][1:])
    return "MSimCLR, k = 1 (MMD alone)" if k == 1 else f"MSimCLR, k = {k}"


def best(entry: Mapping[str, Any], keys: Sequence[str], probe: str = "linear") -> str | None:
    """Of ``keys``, the trained model with the highest mean accuracy under ``probe`` (None
    if none is trained)."""
    trained = [key for key in keys if entry["models"][key]["seeds"]]
    if not trained:
        return None
    return max(trained, key=lambda key: mean_std(accuracies(entry, key, probe))[0])


def is_capped(entry: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """Whether any trained seed of ``keys`` stopped at the step cap still improving."""
    return any(
        run["criterion"]["capped"] for key in keys for run in entry["models"][key]["seeds"].values()
    )
