"""The comparisons the claims of the chapter "MSimCLR" read, from a payload.

:func:`low_d`: per d, the best MSimCLR with k > 1 charts against the better SimCLR;
:func:`mmd_alone`: at d = 2, MSimCLR with one chart (SimCLR plus the MMD term) against
every SimCLR. Each is compared under both probes and, with MSimCLR's per-chart probe,
against SimCLR's linear probe, by the noise rule of
:mod:`~toposhape.studies.msimclr.compare`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toposhape.checks import check_choice
from toposhape.studies.msimclr.compare import (
    PROBES,
    Comparison,
    accuracies,
    best,
    compare,
    is_capped,
)
from toposhape.studies.msimclr.run import check_payload

__all__ = ["low_d", "mmd_alone"]


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
    check_payload(payload)
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
    check_payload(payload)
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
