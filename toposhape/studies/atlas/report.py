"""The chapter "Atlases" as the reader sees it, from a results payload of :mod:`.run` alone.

:func:`figures` (drawn by :mod:`.plots`), :func:`tables` (DataFrames), :func:`findings`
(sentences answering the chapter's questions from the numbers, by the rules of
:mod:`.rules`; written by :mod:`.sentences`) and :func:`claims` (the scorecard's rows,
:mod:`.claims`). No training.
Models that are not trained yet are left out and named (``pending``).
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.studies.atlas.claims import (
    PAYLOAD_KEYS,
    claims,
    mnist_overlap_ratio,
    mnist_purity,
)
from toposhape.studies.atlas.failures import DIAGNOSES, SHORT_DIAGNOSES, diagnosis
from toposhape.studies.atlas.plots import (
    REG_NAMES,
    betti_text,
    cells,
    charts_in_use,
    plot_barcode_grid,
    plot_charts,
    plot_control_barcodes,
    plot_control_thresholds,
    plot_mnist_digits,
    plot_mnist_graph,
    plot_rates,
    plot_torus3_curves,
    plot_torus3_final,
    plot_training,
    runs_of,
    torus3_values,
)
from toposhape.studies.atlas.rules import seed_sd, wilson
from toposhape.studies.atlas.sentences import findings

__all__ = [
    "DIAGNOSES",
    "PAYLOAD_KEYS",
    "budget_line",
    "claims",
    "diagnosis",
    "figures",
    "findings",
    "mnist_overlap_ratio",
    "mnist_purity",
    "pending_line",
    "tables",
    "training_seconds",
]

#: The rates table's column of failure counts, "a / b / c" in the order of DIAGNOSES[1:].
FAILED_COLUMN = f"failed ({' / '.join(SHORT_DIAGNOSES[why] for why in DIAGNOSES[1:])})"


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by the key the notebook places it under."""
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    return {
        "control_thresholds": plot_control_thresholds(payload),
        "control_barcodes": plot_control_barcodes(payload),
        "training": plot_training(payload),
        **{f"charts_{reg}": plot_charts(payload, reg) for reg in ("mmd", "gan")},
        "barcodes": plot_barcode_grid(payload),
        "rates": plot_rates(payload),
        "torus3_curves": plot_torus3_curves(payload),
        "torus3_final": plot_torus3_final(payload),
        "mnist_graph": plot_mnist_graph(payload),
        "mnist_digits": plot_mnist_digits(payload),
    }


def _non_contractible(run: Mapping[str, Any]) -> int:
    return sum(c["contractible"] is False for c in run["chart_checks"])


def pending_line(payload: Mapping[str, Any]) -> str:
    """One sentence on the models not trained yet (their number and the first names)."""
    pending = check_mapping("payload", payload, "pending")["pending"]
    if not pending:
        return "Every model of the profile is trained and read."
    total = len(pending) + len(payload["manifolds"]) + len(payload["torus3"])
    total += len(payload["mnist"])
    shown = ", ".join(f"`{name}`" for name in pending[:6])
    more = f" and {len(pending) - 6} more" if len(pending) > 6 else ""
    return (
        f"{len(pending)} of the profile's {total} models are not trained yet, so they are left "
        f"out of every number below: {shown}{more}."
    )


def _trained(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*payload["manifolds"], *payload["torus3"], *payload["mnist"]]


def budget_line(payload: Mapping[str, Any]) -> str:
    """One sentence on the training done: models, epochs, and their training time."""
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    runs = _trained(payload)
    if not runs:
        return "No model of the profile is trained yet."
    seconds = sum(r["history"]["seconds"] for r in runs)
    epochs = sum(len(r["history"]["reconstruction"]) for r in runs)
    done = "Trained so far" if payload["pending"] else "Trained (every model of the profile)"
    return (
        f"{done}: {len(runs)} models, {epochs:,} epochs, {seconds / 3600:.2f} h of training "
        "in all (the epochs' own time, summed over the models, on one CPU thread)."
    )


def training_seconds(load: Callable[[str], Mapping[str, Any] | None]) -> float:
    """Training time of the ``full`` models (trained ahead of the results run by the command
    line, so not in its wall time), for the scorecard's compute table."""
    payload = load("full")
    return (
        0.0 if payload is None else float(sum(r["history"]["seconds"] for r in _trained(payload)))
    )


def _control_tables(payload: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    controls = payload["controls"]
    band = set(controls["band"])
    summary, levels = [], []
    for c in controls["covers"]:
        right = [lv["recovered"] for lv in c["levels"]]
        in_band = [lv["recovered"] for lv in c["levels"] if lv["entropy"] in band]
        checked = [ch["contractible"] for ch in c["chart_checks"] if ch["contractible"] is not None]
        summary.append({
            "cover": c["cover"],
            "manifold": c["manifold"],
            "kind": "good" if c["good"] else "bad",
            "k": c["charts"],
            "what it is": c["description"],
            "read right (band)": f"{sum(in_band)} of {len(in_band)}",
            "read right (all)": f"{sum(right)} of {len(right)}",
            "contractible charts": f"{sum(checked)} of {len(checked)}",
        })  # fmt: skip
        for lv in c["levels"]:
            fits = lv["low"] < lv["high"]
            levels.append({
                "cover": c["cover"],
                "entropy": lv["entropy"],
                "τ": lv["tau"],
                "right thresholds": f"({lv['low']:.2f}, {lv['high']:.2f}]" if fits else "none",
                "Betti, Z/2": betti_text(lv["betti"]["2"]),
                "Betti, Z/3": betti_text(lv["betti"]["3"]),
                "right": "yes" if lv["recovered"] else "no",
            })  # fmt: skip
    return pd.DataFrame(summary), pd.DataFrame(levels)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables, by name.

    Returns
    -------
    dict of str to DataFrame
        ``"manifolds"``: the data and their atlases; ``"controls"``: per control cover,
        how often it is read right and its charts; ``"control_levels"``: every cover at
        every entropy; ``"rates"``: per manifold, k and regulariser, the recovery rate with
        its Wilson interval and why runs failed; ``"runs"``: one row per run; ``"torus3"``:
        held-out numbers per d; ``"mnist"``: the digits of each MNIST chart.
    """
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    settings = payload["settings"]
    band = payload["controls"]["band"]
    manifolds = pd.DataFrame(
        [
            {
                "name": name,
                "manifold": MANIFOLDS[name].description,
                "Betti numbers over Z/2": betti_text(MANIFOLDS[name].betti_z2),
                "over Z/3": betti_text(MANIFOLDS[name].betti_z3),
                "atlases": (
                    f"k = {', '.join(map(str, settings['manifolds'][name]))}; "
                    f"d = {MANIFOLDS[name].dim}"
                    if name != "torus3"
                    else f"k = {payload['torus3_charts']}; d = "
                    f"{min(settings['torus3_dims'])}..{max(settings['torus3_dims'])}"
                ),
            }
            for name in [*settings["manifolds"], "torus3"]
        ]
    )
    controls, control_levels = _control_tables(payload)
    rates, runs = [], []
    for name, k, reg in cells(payload):
        found = runs_of(payload, name, k, reg)
        c, n = sum(r["correct"] for r in found), len(found)
        low, high = wilson(c, n)
        rec = np.asarray([r["reconstruction"] for r in found])
        reasons = [diagnosis(r, band) for r in found]
        rates.append({
            "manifold": name,
            "k": k,
            "regulariser": REG_NAMES[reg],
            "recovered": f"{c} of {n}",
            "Wilson 95 %": f"{low:.2f}–{high:.2f}",
            "held-out MSE": rec.mean() if n else math.nan,
            "± std": seed_sd(rec),
            "entropy": np.mean([r["entropy"] for r in found]) if n else math.nan,
            FAILED_COLUMN: " / ".join(str(reasons.count(why)) for why in DIAGNOSES[1:]),
        })  # fmt: skip
        runs += [
            {
                "run": f"{name}, k = {k}, {REG_NAMES[reg]}, seed {r['seed']}",
                "Betti Z/2 | Z/3": (
                    f"{betti_text(r['betti']['2'])} | {betti_text(r['betti']['3'])}"
                ),
                "diagnosis": SHORT_DIAGNOSES[why],
                "MSE": r["reconstruction"],
                "charts in use": charts_in_use(r["usage"]),
                "non-contractible": _non_contractible(r),
                "entropy": r["entropy"],
            }
            for r, why in zip(found, reasons, strict=True)
        ]
    rec, mmd = torus3_values(payload, "reconstruction"), torus3_values(payload, "mmd")
    torus3 = pd.DataFrame(
        [
            {
                "d": d,
                "seeds": len(rec[d]),
                "held-out MSE": rec[d].mean(),
                "MSE std": seed_sd(rec[d]),
                "held-out MMD": mmd[d].mean(),
                "MMD std": seed_sd(mmd[d]),
            }
            for d in rec
        ]
    )
    mnist = []
    if payload["mnist"]:  # the first seed's atlas, as drawn
        for i, c in enumerate(np.asarray(payload["mnist"][0]["counts"])):
            total = int(c.sum())
            top = [d for d in np.argsort(c)[::-1][:3] if c[d]]
            mnist.append({
                "chart": i,
                "test images": total,
                "digits (share of the chart)": ", ".join(f"{d} ({c[d] / total:.0%})" for d in top),
            })  # fmt: skip
    return {
        "manifolds": manifolds,
        "controls": controls,
        "control_levels": control_levels,
        "rates": pd.DataFrame(rates),
        "runs": pd.DataFrame(runs),
        "torus3": torus3,
        "mnist": pd.DataFrame(mnist),
    }
