"""The read-out's controls: hand-built soft covers, read exactly as the learned atlases are.

:func:`control_study` samples every manifold densely, gives the samples the memberships
of each cover of :mod:`toposhape.covers` at several mean entropies, reads their nerve
with :func:`~toposhape.studies.atlas.readout.nerve_bars`, chooses the long-bar threshold
on the good covers (:func:`~toposhape.studies.atlas.readout.choose_threshold`) and then
reads every control, good and bad, with it; it also checks every cover's charts. Pure
computation: no training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.covers import COVERS, cover_memberships, membership_entropy, owners
from toposhape.manifolds import MANIFOLDS, sample_manifold
from toposhape.studies.atlas.readout import (
    CONTROL_ENTROPIES,
    betti_at,
    chart_checks,
    choose_threshold,
    correct_lengths,
    nerve_bars,
)

__all__ = ["CONTROL_SEED", "bars_json", "control_study", "recovered", "standardise"]

#: Seed of the controls' samples (the training samples use seeds 0, 1, …).
CONTROL_SEED = 2_000_000


def standardise(x: Any, mean: Any = None, std: Any = None) -> tuple[Any, Any, Any]:
    """Every coordinate to mean 0 and standard deviation 1 (by ``x``'s own statistics,
    or by ``mean`` and ``std`` when given). Works on numpy arrays and torch tensors.

    Returns
    -------
    standardised, mean, std
    """
    if mean is None:
        mean, std = x.mean(0), x.std(0)
        if (std == 0).any():
            raise ValueError("x has a constant coordinate: it cannot be standardised")
    return (x - mean) / std, mean, std


def bars_json(bars: Mapping[int, Mapping[int, np.ndarray]]) -> dict[str, dict[str, list]]:
    """Barcodes per field as a payload holds them: ``{"2": {"0": [[b, d], …]}, …}``."""
    return {
        str(field): {str(d): np.round(b, 4).tolist() for d, b in by_dim.items()}
        for field, by_dim in bars.items()
    }


def recovered(betti: Mapping[int, list], manifold: str) -> bool:
    """Whether Betti numbers per field (Z/2 and Z/3) are the manifold's."""
    truth = MANIFOLDS[manifold]
    return list(betti[2]) == list(truth.betti_z2) and list(betti[3]) == list(truth.betti_z3)


def control_study(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Read every control cover of a profile and choose the long-bar threshold on them.

    Parameters
    ----------
    settings : mapping
        A profile of :mod:`.run`: ``controls`` (names of :data:`toposhape.covers.COVERS`),
        ``control_entropies`` (holding every entropy of
        :data:`~toposhape.studies.atlas.readout.CONTROL_ENTROPIES`) and ``control_points``.

    Returns
    -------
    dict
        ``threshold`` (:func:`~toposhape.studies.atlas.readout.choose_threshold`) and
        ``covers``: per cover its description, chart checks and, per entropy, τ, the
        measured entropy, barcodes, the interval of right thresholds, the Betti numbers
        read and whether they are the manifold's.

    Raises
    ------
    ValueError
        If the read-out fails its positive controls (no threshold reads every good cover
        right), or the settings lack an entropy of ``CONTROL_ENTROPIES``.
    """
    check_mapping("settings", settings, "controls", "control_entropies", "control_points")
    levels = [float(e) for e in settings["control_entropies"]]
    if not set(CONTROL_ENTROPIES) <= set(levels):
        raise ValueError(
            f"settings' control_entropies must include {CONTROL_ENTROPIES}, got {levels}"
        )
    covers, intervals = [], []
    for name in settings["controls"]:
        cover = COVERS[name]
        x, params = sample_manifold(cover.manifold, settings["control_points"], seed=CONTROL_SEED)
        points, _, _ = standardise(x.double().numpy())
        params = params.double().numpy()
        entry: dict[str, Any] = {
            "cover": name,
            "manifold": cover.manifold,
            "charts": cover.charts,
            "good": cover.good,
            "description": cover.description,
            "chart_checks": chart_checks(
                points, np.eye(cover.charts)[owners(cover, params)], seed=CONTROL_SEED
            ),
            "levels": [],
        }
        for entropy in levels:
            q, tau = cover_memberships(cover, params, entropy)
            bars = nerve_bars(q, cover.manifold)
            low, high = correct_lengths(bars, cover.manifold)
            if cover.good and entropy in CONTROL_ENTROPIES:
                intervals.append((low, high))
            entry["levels"].append({
                "entropy": entropy,
                "tau": tau,
                "measured_entropy": round(membership_entropy(q), 6),
                "bars": bars,
                "low": low,
                "high": high,
            })  # fmt: skip
        covers.append(entry)
    threshold = choose_threshold(intervals)
    for entry in covers:
        for level in entry["levels"]:
            level["betti"] = betti_at(level["bars"], threshold["threshold"])
            level["recovered"] = recovered(level["betti"], entry["manifold"])
            level["bars"] = bars_json(level["bars"])
            level["betti"] = {str(f): b for f, b in level["betti"].items()}
    return {"threshold": threshold, "band": list(CONTROL_ENTROPIES), "covers": covers}
