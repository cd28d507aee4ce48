"""Why a learned atlas's nerve misses the homology, and whether the read-out is to blame.

* :func:`diagnosis`: the first of three checks a failed run fails (a chart that is not
  one contractible piece; memberships outside the entropies the threshold was chosen
  on; otherwise the nerve itself).
* :func:`threshold_sweep`: how many runs every threshold the controls accept would read
  right, and what the homology rule would say. If the read-out's one free number were to
  blame for a failure, some other accepted threshold would read the run right.
* :func:`failure_findings`: those answers as the chapter's sentences.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposhape.manifolds import MANIFOLDS
from toposhape.studies.atlas import readout
from toposhape.studies.atlas.plots import betti_text, charts_in_use, runs_of, unbars
from toposhape.studies.atlas.plots import cells as plot_cells
from toposhape.studies.atlas.rules import majority, wilson

__all__ = [
    "DIAGNOSES",
    "SHORT_DIAGNOSES",
    "diagnosis",
    "failure_findings",
    "right_thresholds",
    "threshold_sweep",
]

#: Why a run's nerve missed the homology, in the order they are tested.
DIAGNOSES = (
    "recovered",
    "non-contractible chart",
    "memberships outside the controls' entropies",
    "contractible charts, wrong nerve",
)
#: One word per diagnosis, for the tables (narrow enough for the page).
SHORT_DIAGNOSES = dict(zip(DIAGNOSES, ("recovered", "chart", "entropy", "nerve"), strict=True))


def diagnosis(run: Mapping[str, Any], band: Sequence[float]) -> str:
    """Why a run's nerve missed the homology (one of :data:`DIAGNOSES`).

    A chart that is not one contractible piece comes first (no nerve rule can repair it);
    then memberships softer or sharper than every control the threshold was chosen on
    (mean entropy outside the band); otherwise the charts are fine and the nerve is not.
    """
    if run["correct"]:
        return DIAGNOSES[0]
    if any(c["contractible"] is False for c in run["chart_checks"]):
        return DIAGNOSES[1]
    if not min(band) <= run["entropy"] <= max(band):
        return DIAGNOSES[2]
    return DIAGNOSES[3]


def right_thresholds(run: Mapping[str, Any]) -> tuple[float, float]:
    """The interval ``(low, high]`` of long-bar thresholds that read a run's saved bars as
    its manifold's Betti numbers over every field (empty, ``low ≥ high``, if none does)."""
    bars = {int(field): unbars(by_dim) for field, by_dim in run["bars"].items()}
    return readout.correct_lengths(bars, run["manifold"])


def threshold_sweep(
    cells: Sequence[Sequence[tuple[float, float]]], low: float, high: float
) -> list[tuple[float, float, int, str]]:
    """What every threshold ``t`` in ``(low, high]`` would read, piece by piece.

    Parameters
    ----------
    cells : sequence of sequences of (float, float)
        Per (k, regulariser) cell of one manifold, per run, the thresholds ``(lo, hi]``
        that read the run right (:func:`right_thresholds`); a run counts at ``t`` when
        ``lo < t ≤ hi``.
    low, high : float
        The thresholds the controls accept, ``low < high``.

    Returns
    -------
    list of (a, b, count, word)
        The pieces ``(a, b]`` of ``(low, high]`` between consecutive interval ends, on
        each of which every threshold reads the same ``count`` of runs right and the
        homology rule (:func:`.rules.majority`) reads the same ``word``.
    """
    if not low < high:
        raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")
    ends = {e for runs in cells for lo, hi in runs for e in (lo, hi) if low < e < high}
    points = sorted({*ends, high})
    pieces = []
    for a, b in zip([low, *points[:-1]], points, strict=True):
        counts = [sum(lo < b <= hi for lo, hi in runs) for runs in cells]
        word = majority([wilson(c, len(runs)) for c, runs in zip(counts, cells, strict=True)])
        pieces.append((a, b, sum(counts), word))
    return pieces


def _reasons_line(payload: Mapping[str, Any]) -> str:
    band = payload["controls"]["band"]
    reasons = Counter(diagnosis(r, band) for r in payload["manifolds"])
    failed = len(payload["manifolds"]) - reasons[DIAGNOSES[0]]
    return (
        f"Why runs failed ({failed} of {len(payload['manifolds'])}): "
        + "; ".join(f"{why}: {reasons[why]}" for why in DIAGNOSES[1:])
        + "."
    )


def _threshold_lines(payload: Mapping[str, Any]) -> list[str]:
    thr = payload["controls"]["threshold"]
    lines = []
    for name in payload["settings"]["manifolds"]:
        found = [runs_of(payload, *cell) for cell in plot_cells(payload) if cell[0] == name]
        found = [runs for runs in found if runs]
        if not found:
            continue
        pieces = threshold_sweep(
            [[right_thresholds(r) for r in runs] for runs in found], thr["low"], thr["high"]
        )
        counts = [count for _, _, count, _ in pieces]
        n, chosen = sum(map(len, found)), sum(r["correct"] for runs in found for r in runs)
        read = f"{chosen} of {n}" if min(counts) == max(counts) else (
            f"{min(counts)} to {max(counts)} of {n} ({chosen} at {thr['threshold']:.2f})"
        )  # fmt: skip
        words: list[tuple[float, float, str]] = []  # consecutive pieces with one word merged
        for a, b, _, word in pieces:
            start = words.pop()[0] if words and words[-1][2] == word else a
            words.append((start, b, word))
        finding = f"**{words[0][2]}**" if len(words) == 1 else ", ".join(
            f"**{word}** in ({a:.2f}, {b:.2f}]" for a, b, word in words
        )  # fmt: skip
        lines.append(
            f"{name}, at every threshold the controls accept (({thr['low']:.2f}, "
            f"{thr['high']:.2f}] decades): {read} runs read right; homology finding {finding}."
        )
    return lines


def _entropy_line(payload: Mapping[str, Any]) -> str:
    band = payload["controls"]["band"]
    runs = payload["manifolds"]
    entropy = np.array([r["entropy"] for r in runs])
    inside = (entropy >= min(band)) & (entropy <= max(band))
    correct = np.array([bool(r["correct"]) for r in runs])
    return (
        f"Mean membership entropy of the learned atlases: {entropy.min():.2f}–"
        f"{entropy.max():.2f} nats (median {np.median(entropy):.2f}); inside the "
        f"{min(band):g}–{max(band):g} nats the threshold was chosen on: {inside.sum()} of "
        f"{len(runs)} runs, {(inside & correct).sum()} of the {correct.sum()} recovered ones."
    )


def _manifold_line(payload: Mapping[str, Any], name: str) -> str | None:
    failed = [r for r in payload["manifolds"] if r["manifold"] == name and not r["correct"]]
    if not failed:
        return None
    truth = {"2": MANIFOLDS[name].betti_z2, "3": MANIFOLDS[name].betti_z3}
    fields = ("2",) if truth["2"] == truth["3"] else ("2", "3")
    read = Counter(" | ".join(betti_text(r["betti"][f]) for f in fields) for r in failed)
    long = readout.CHART_LONG
    bad = [[c for c in r["chart_checks"] if c["contractible"] is False] for r in failed]
    pieces = sum(any(c["h0"] >= long for c in charts) for charts in bad)
    loops = sum(any(c["h1"] >= long for c in charts) for charts in bad)
    collapsed = sum(charts_in_use(r["usage"]) == 1 for r in failed)
    over = "Z/2" if len(fields) == 1 else "Z/2 | Z/3"
    return (
        f"{name}, the {len(failed)} failed run{'s' if len(failed) > 1 else ''}: Betti numbers "
        f"read over {over} "
        + ", ".join(f"{betti} in {n}" for betti, n in read.most_common())
        + f" (the manifold's: {' | '.join(betti_text(truth[f]) for f in fields)}); "
        f"a chart in separate pieces in {pieces}, a chart around a loop in {loops}; only one "
        f"chart in use in {collapsed}."
    )


def failure_findings(payload: Mapping[str, Any]) -> list[str]:
    """Sentences on the failed runs of the known manifolds (none if nothing is trained).

    Returns
    -------
    list of str
        The runs counted by :func:`diagnosis`; whether any threshold the controls
        accept would read more runs right (per manifold, the fewest and most over that
        interval); the entropies of the learned atlases against the band the threshold
        was chosen on; and per manifold with failed runs, the Betti numbers they read and
        what the chart check found.
    """
    if not payload["manifolds"]:
        return []
    lines = [_reasons_line(payload), *_threshold_lines(payload), _entropy_line(payload)]
    lines += [
        line
        for name in payload["settings"]["manifolds"]
        if (line := _manifold_line(payload, name)) is not None
    ]
    return lines
