"""The chapter "Atlases" as the reader sees it, from a results payload of :mod:`.run` alone.

:func:`figures` (drawn by :mod:`.plots`), :func:`tables` (DataFrames), :func:`findings`
(sentences answering the chapter's questions from the numbers, by the rules of
:mod:`.rules`) and :func:`claims` (the scorecard's rows, :mod:`.claims`). No training.
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
    homology_cells,
    mnist_overlap_ratio,
    mnist_purity,
    seed_cv,
)
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
from toposhape.studies.atlas.rules import ELBOW_DROP, NOISE, elbow, exceeds, seed_sd, wilson

__all__ = [
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

#: Why a run's nerve missed the homology, in the order they are tested.
DIAGNOSES = (
    "recovered",
    "non-contractible chart",
    "memberships outside the controls' entropies",
    "contractible charts, wrong nerve",
)
#: One word per diagnosis, for the tables (narrow enough for the page).
SHORT_DIAGNOSES = dict(zip(DIAGNOSES, ("recovered", "chart", "entropy", "nerve"), strict=True))
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


def diagnosis(run: Mapping[str, Any], band: list[float]) -> str:
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
    return (
        f"Trained so far: {len(runs)} models, {epochs:,} epochs, {seconds / 3600:.2f} h of "
        "training in all (the epochs' own time, summed over the models, on one CPU thread)."
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


def _control_findings(payload: Mapping[str, Any]) -> list[str]:
    controls = payload["controls"]
    thr, band = controls["threshold"], set(controls["band"])
    good = [c for c in controls["covers"] if c["good"]]
    bad = [c for c in controls["covers"] if not c["good"]]
    in_band = [lv["recovered"] for c in good for lv in c["levels"] if lv["entropy"] in band]
    misses = [
        f"{c['cover']} at {lv['entropy']:g}"
        for c in good
        for lv in c["levels"]
        if not lv["recovered"]
    ]
    every = sum(len(c["levels"]) for c in good)
    false_alarms = sum(lv["recovered"] for c in bad for lv in c["levels"])
    good_charts = [ch["contractible"] for c in good for ch in c["chart_checks"]]
    flagged = [
        c["cover"] for c in bad if any(ch["contractible"] is False for ch in c["chart_checks"])
    ]
    lines = [
        f"Threshold, chosen on the good covers at mean entropies "
        f"{', '.join(f'{e:g}' for e in sorted(band))} nats: a bar counts when it spans at least "
        f"**{thr['threshold']:.2f} decades** of ε inside the window (every one of those covers "
        f"is read right by any threshold in ({thr['low']:.2f}, {thr['high']:.2f}]).",
        f"Every good cover read right at those entropies, over Z/2 and Z/3: "
        f"**{'yes' if all(in_band) else 'no'}** ({sum(in_band)} of {len(in_band)}); at every "
        f"entropy tried: {every - len(misses)} of {every}"
        + (f" (not: {', '.join(misses)})." if misses else "."),
        f"No bad cover read as its manifold: **{'yes' if not false_alarms else 'no'}** "
        f"({false_alarms} of {sum(len(c['levels']) for c in bad)} readings).",
    ]
    if good_charts:
        lines.append(
            f"Every chart of a good cover passes the contractibility check: "
            f"**{'yes' if all(good_charts) else 'no'}** ({sum(good_charts)} of "
            f"{len(good_charts)}); bad covers with a chart that fails it: "
            f"{', '.join(flagged) or 'none'} (of {len(bad)})."
        )
    return lines


def _pm(values: np.ndarray, spec: str) -> str:
    """``mean ± std`` over seeds, or ``mean (1 seed)``."""
    sd = seed_sd(values)
    spread = f" ± {sd:{spec}}" if not math.isnan(sd) else " (1 seed)"
    return f"{np.mean(values):{spec}}{spread}"


def _word(low: float, high: float) -> str:
    return "yes" if low > 0.5 else ("no" if high < 0.5 else "undecided")


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's questions, answered from the payload's numbers by the rules.

    Returns
    -------
    dict of str to list of str
        ``"controls"``, ``"homology"`` (per manifold), ``"regularisers"``, ``"torus3"``
        and ``"mnist"``; a section whose models are not trained yet says so.
    """
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    homology = []
    for name in payload["settings"]["manifolds"]:
        found = homology_cells(payload, name)
        if not found:
            continue
        best = max(found, key=lambda cell: (cell["low"], cell["rate"]))
        homology.append(
            f"{name}: some cell recovers the homology in more than half of its seeds (Wilson "
            f"interval above 1/2): **{_word(best['low'], max(c['high'] for c in found))}** "
            f"(best: {best['label']}, {best['c']} of {best['n']}, {best['low']:.2f}–"
            f"{best['high']:.2f})."
        )
    band = payload["controls"]["band"]
    reasons: dict[str, int] = {}
    for r in payload["manifolds"]:
        why = diagnosis(r, band)
        reasons[why] = reasons.get(why, 0) + 1
    if payload["manifolds"]:
        failed = sum(v for k, v in reasons.items() if k != DIAGNOSES[0])
        homology.append(
            f"Why runs failed ({failed} of {len(payload['manifolds'])}): "
            + "; ".join(f"{why}: {reasons.get(why, 0)}" for why in DIAGNOSES[1:])
            + "."
        )
    regularisers = []
    regs = payload["settings"]["regularisers"]
    if payload["manifolds"] and {"gan", "mmd"} <= set(regs):
        for reg in ("mmd", "gan"):
            found = [r for r in payload["manifolds"] if r["regulariser"] == reg]
            full = sum(charts_in_use(r["usage"]) == len(r["usage"]) for r in found)
            ok = sum(r["correct"] for r in found)
            used_low, used_high = wilson(full, len(found))
            low, high = wilson(ok, len(found))
            cv = seed_cv(payload, reg)
            spread = "not measured yet (one seed per cell)" if math.isnan(cv) else f"{cv:.2f}"
            regularisers.append(
                f"{REG_NAMES[reg]}: every chart in use in {full} of {len(found)} runs "
                f"({used_low:.2f}–{used_high:.2f}); seed-to-seed variation of the held-out "
                f"reconstruction error (coefficient of variation, mean over the cells): "
                f"{spread}; homology recovered in {ok} of {len(found)} ({low:.2f}–{high:.2f})."
            )
    torus3 = []
    rec, mmd = torus3_values(payload, "reconstruction"), torus3_values(payload, "mmd")
    if len(rec) >= 3:
        found = elbow(rec)
        torus3.append(
            f"Elbow rule (error below {1 - ELBOW_DROP:.0%} of d − 1's, no gain beyond "
            f"{NOISE:g} seed-std at d + 1): **d = {found}**" if found is not None else
            "Elbow rule: **no d qualifies**"
        )  # fmt: skip
        torus3[-1] += " (" + ", ".join(f"d = {d}: {_pm(v, '.4f')}" for d, v in rec.items()) + ")."
        if {3, 4, 5} <= set(mmd):
            higher = exceeds(mmd[4], mmd[3]) and exceeds(mmd[5], mmd[3])
            torus3.append(
                f"The held-out MMD at d = 4 and 5 exceeds d = 3's beyond noise: "
                f"**{'yes' if higher else 'no'}** ("
                + ", ".join(f"d = {d}: {_pm(v, '.2e')}" for d, v in mmd.items())
                + ")."
            )
    mnist = []
    if payload["mnist"]:
        reads = payload["mnist"]
        purity = np.array([mnist_purity(r) for r in reads])
        ratio = np.array([mnist_overlap_ratio(r) for r in reads])
        pairs = zip(reads, purity, ratio, strict=True)
        each = ", ".join(f"seed {r['seed']}: {p:.1%}, {q:.1f}" for r, p, q in pairs)
        mnist = [
            f"Purity (share of test images whose chart's majority digit is theirs): "
            f"{_pm(purity, '.1%')}" + (f" over {len(reads)} seeds." if len(reads) > 1 else "."),
            "Charts with the same majority digit overlap more than twice as strongly as the "
            f"other pairs in every seed: **{'yes' if np.all(ratio > 2) else 'no'}** (mean "
            f"overlap ratio {_pm(ratio, '.1f')}).",
            f"Per seed (purity, overlap ratio): {each}. The figures and the table show seed "
            f"{reads[0]['seed']}'s atlas.",
        ]
    waiting = ["Not run yet: none of the models of this section is trained."]
    return {
        "controls": _control_findings(payload),
        "homology": homology or waiting,
        "regularisers": regularisers or waiting,
        "torus3": torus3 or waiting,
        "mnist": mnist or waiting,
    }
