"""The chapter's decision rules, fixed before any learned result was read.

* Rates: a success rate over seeds is reported with its Wilson score interval
  (:data:`CONFIDENCE`), from scipy's ``binomtest``.
* Homology (:func:`majority`): a manifold's nerve gives its homology more often than not
  if the Wilson interval of some (k, regulariser) cell lies above 1/2, not if every
  cell's lies below 1/2, and the seeds cannot tell otherwise.
* Noise: a mean over seeds exceeds another when the difference is more than twice the
  larger of the two seed standard deviations (:func:`exceeds`); with one seed nothing
  exceeds anything.
* The T³ elbow (:func:`elbow`): the smallest chart dimension d whose mean held-out
  reconstruction error (a) is less than half of d − 1's (:data:`ELBOW_DROP`) and (b) is
  not exceeded by d + 1's beyond noise, i.e. one more dimension brings no gain beyond twice
  the seed spread. None when no d qualifies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import binomtest

from toposhape.checks import check_float, check_int

__all__ = [
    "CONFIDENCE",
    "ELBOW_DROP",
    "NOISE",
    "elbow",
    "exceeds",
    "majority",
    "seed_sd",
    "wilson",
]

#: Coverage of the Wilson intervals of success rates.
CONFIDENCE = 0.95
#: A difference of means is beyond noise when larger than this many seed standard deviations.
NOISE = 2.0
#: The elbow's d must cut the reconstruction error of d − 1 by more than this share.
ELBOW_DROP = 0.5


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a success rate; ``(0, 1)`` when there are no trials.

    Parameters
    ----------
    successes, n : int
        0 ≤ successes ≤ n.
    confidence : float
        In (0, 1).
    """
    n = check_int("n", n, 0)
    successes = check_int("successes", successes, 0, n)
    confidence = check_float("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def majority(intervals: Sequence[tuple[float, float]]) -> str:
    """The homology rule on the Wilson intervals ``(low, high)`` of a manifold's cells:
    ``"yes"`` if some interval lies above 1/2, ``"no"`` if every one lies below it,
    ``"undecided"`` otherwise (also when there are none)."""
    if any(low > 0.5 for low, _ in intervals):
        return "yes"
    return "no" if intervals and all(high < 0.5 for _, high in intervals) else "undecided"


def seed_sd(values: np.ndarray) -> float:
    """Sample standard deviation over seeds (NaN for fewer than two)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def exceeds(high: np.ndarray, low: np.ndarray) -> bool:
    """Whether the seeds of ``high`` have a larger mean than those of ``low`` beyond noise:
    ``mean(high) − mean(low) > NOISE · max(sd(high), sd(low))`` (False with one seed)."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    spread = max(seed_sd(high), seed_sd(low))
    return bool(high.mean() - low.mean() > NOISE * spread)  # NaN spread: False


def elbow(errors: Mapping[int, np.ndarray]) -> int | None:
    """The chart dimension at the elbow of the reconstruction error (see the module notes).

    Parameters
    ----------
    errors : mapping of int to array
        Per chart dimension d, the held-out reconstruction error of every seed.

    Returns
    -------
    int or None
        The smallest d with d − 1 and d + 1 present (d and d + 1 with at least two seeds),
        an error below ``(1 − ELBOW_DROP)`` times d − 1's, and d + 1's not below it beyond
        noise.
    """
    for d in sorted(errors):
        if d - 1 not in errors or d + 1 not in errors:
            continue
        here, before, after = (np.asarray(errors[e], dtype=np.float64) for e in (d, d - 1, d + 1))
        if min(len(here), len(after)) < 2:
            continue  # no seed spread, no noise rule
        if here.mean() < (1 - ELBOW_DROP) * before.mean() and not exceeds(here, after):
            return d
    return None
