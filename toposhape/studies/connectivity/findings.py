"""The sentences the chapter computes from a results payload (Markdown).

Every number and every verdict comes from :mod:`.summary`; nothing here is typed in.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.run import PAYLOAD_KEYS
from toposhape.studies.connectivity.tables import over_seeds, pm
from toposhape.studies.present import plural


def _provisional(payload: Mapping[str, Any], counts: list[int]) -> str:
    """``"**Provisional** (...)"`` when a cell a verdict reads has fewer seeds than the
    profile trains (``counts``: seeds per cell), else ``""``."""
    wanted = payload["settings"]["train_seeds"]
    if not counts or min(counts) >= wanted:
        return ""
    low, high = min(counts), max(counts)
    have = f"{low}" if low == high else f"{low} to {high}"
    return (
        f"**Provisional** ({have} of {wanted} seeds per setting so far; the verdict may "
        "change when the rest are in). "
    )


def _finding_deaths(payload: Mapping[str, Any]) -> str:
    d = summary.death_times(payload)
    if not d["rows"]:
        return "No pair of λ = 0 / λ = 20 backbones has finished yet."
    means = {
        key: over_seeds([r[key]["mean"] for r in d["rows"]]) for key in (f"{RECIPE['lam']:g}", "0")
    }
    held = sum(r["holds"] for r in d["rows"])
    return _provisional(payload, [len(d["rows"])]) + (
        f"Mean held-out death time at B = {RECIPE['batch_size']} (η = {RECIPE['eta']:g}; mean ± "
        f"std over {plural(len(d['rows']), 'seed')}): λ = 20: **{means['20']}**; λ = 0: "
        f"**{means['0']}**. The death-time rule holds in {held} of {len(d['rows'])} seeds."
    )


def _finding_gradients(payload: Mapping[str, Any]) -> str:
    g = payload["gradients"]
    sample = g["sample"]
    gap = max(
        abs(a - b) for a, b in zip(sample["autograd"], sample["finite_difference"], strict=True)
    )
    return (
        f"gradcheck passed for {sum(g['gradcheck'].values())} of {len(g['gradcheck'])} "
        f"functions. At step h = {sample['step']:.0e} the central differences of the ℓ2 loss "
        f"differ from autograd by at most {gap:.1e} on the coordinates below; over all steps, "
        f"the largest discrepancy gets as small as {min(g['max_abs_error']):.1e}."
    )


def _finding_convergence(payload: Mapping[str, Any]) -> str:
    c = summary.convergence(payload)
    w, tol = summary.CONVERGENCE_WINDOW, summary.CONVERGENCE_TOLERANCE
    rule = (
        f"loss per death time over the last {w} epochs within {100 * tol:g} % of the "
        f"{w} epochs before"
    )
    if c["verdict"] == "too few epochs":
        return f"Convergence ({rule}): too few epochs to judge."
    worst = max(c["rows"], key=lambda r: r["loss_change"])
    recon = max(c["rows"], key=lambda r: r["reconstruction_change"])
    met = sum(r["converged"] for r in c["rows"])
    return (
        f"Convergence ({rule}): met by **{met} of {len(c['rows'])}** λ = 20 runs; the largest "
        f"change is {100 * worst['loss_change']:.2g} % (B = {worst['B']}, seed "
        f"{worst['seed']}). The reconstruction L1 moved by at most "
        f"{100 * recon['reconstruction_change']:.2g} % (B = {recon['B']}, seed {recon['seed']})."
    )


def _ranges(values: Mapping[int, float]) -> str:
    """``"6.4 (B = 25) to 4.3 (B = 400)"``: the values at the smallest and largest B."""
    low, high = min(values), max(values)
    return f"{values[low]:.2g} (B = {low}) to {values[high]:.2g} (B = {high})"


def _finding_guideline(payload: Mapping[str, Any]) -> str:
    g = summary.guideline(payload)
    if g["verdict"] == "not measured":
        have = "; ".join(f"B = {b}: {plural(len(s), 'seed')}" for b, s in g["seeds"].items())
        return (
            "The guideline's slope needs λ = 20 backbones at two batch sizes at least that "
            f"every seed has; so far {have or 'none'}."
        )
    mean, std = g["slope"]
    ratios = ", ".join(f"{r:.2g} at B = {b}" for b, r in sorted(g["ratios"].items()))
    growth = ", ".join(f"{r:.2g} at B = {b}" for b, r in sorted(g["growth"].items()))
    low, high = summary.RATIO_RANGE
    by_size = ", ".join(f"{m:.2g} ({size})" for size, m in sorted(g["slope_by_size"].items()))
    if g["verdict"] == "proportional only":
        missing = [
            text
            for text, held in (
                (f"k₀.₉ / B is not within [{low:.2g}, {high:g}] at every B", g["ratio_holds"]),
                ("k₀.₉ has not levelled off at every B, so its size depends on the sample",
                 g["levelled"]),
            )
            if not held
        ]  # fmt: skip
        verdict = (
            f"k₀.₉ grows roughly in proportion to B (the slope is inside 1 ± "
            f"{summary.SLOPE_TOLERANCE:g}), but {' and '.join(missing)}"
        )
    else:
        verdict = {
            "holds": "k₀.₉ tracks B, matches it and has levelled off: the guideline holds",
            "within noise": "the seeds' spread of the slope exceeds the tolerance: within noise",
            "fails": "k₀.₉ does not grow in proportion to B: the guideline fails",
            "too few seeds": "one seed has the batch sizes the slope needs: no verdict yet",
        }[g["verdict"]]
    half = {
        b: summary.mean_std(
            [summary.cover_k(payload["models"][n], 0.5) / b
             for n in summary.runs(payload, RECIPE["lam"], b)]
        )[0]
        for b in g["ratios"]
    }  # fmt: skip
    return _provisional(payload, [len(s) for s in g["seeds"].values()]) + (
        f"Judged on the {100 * summary.COVER_SHARE:g} % covering number k₀.₉ of the training "
        f"codes. Slope of log k₀.₉ on log B: **{pm(mean, std)}** (mean ± std over "
        f"{plural(len(g['slopes']), 'seed')}, fitted on B = "
        f"{', '.join(map(str, g['slope_bs']))}, the batch sizes every seed has; rule: within "
        f"1 ± {summary.SLOPE_TOLERANCE:g}, and 2 std no wider than that). k₀.₉ / B: {ratios} "
        f"(rule: within [{low:.2g}, {high:g}]). Growth exponent of k₀.₉ between the last two "
        f"sample sizes: {growth} (levelled off below {summary.LEVEL_EXPONENT:g}). Verdict: "
        f"**{verdict}**. Shown, not judged: the slope fitted on smaller samples of codes (seed "
        f"mean, sample size in brackets) is {by_size}, so while k₀.₉ still grows with the "
        f"sample the slope depends on it too; and the ratio's level depends on the share q: "
        f"k₀.₅ / B runs from "
        f"{_ranges(half)}."
    )


def _finding_control(payload: Mapping[str, Any]) -> str:
    clouds = summary.control(payload)
    g = summary.guideline(payload)
    deaths = [d for c in clouds.values() for d in c["death_means"]]
    parts = [
        f"*{c['label']}*: slope {pm(*c['slope'])}, k₀.₉ / B {_ranges(c['ratios'])}, growth "
        f"exponent {_ranges(c['growth'])} (the rule would say: {c['verdict']})"
        for c in clouds.values()
    ]
    seeds = plural(len(next(iter(clouds.values()))["slopes"]), "seed")
    text = (
        f"The same rule on ideal clouds that nobody trained (per cloud, {seeds}; each "
        f"rescaled at every B so "
        f"that random batches of B of its points die at η = {RECIPE['eta']:g} on average: "
        f"fresh batches' mean death times {min(deaths):.3g} to {max(deaths):.3g}): "
        + "; ".join(parts)
        + "."
    )
    if g["verdict"] == "not measured":
        return text
    slopes = [c["slope"][0] for c in clouds.values()]
    mean = g["slope"][0]
    inside = min(slopes) <= mean <= max(slopes)
    reading = (
        "A slope in this range is what the calibration to η alone gives (the ideal clouds "
        "were never trained), so on these numbers the slope tests whether the loss reached η "
        "at every B more than it tests the guideline."
        if inside
        else "So the codes' covering numbers depend on B otherwise than the calibration to η "
        "alone makes them."
    )
    return (
        text + f" The trained codes' slope, {pm(*g['slope'])}, lies "
        f"{'within' if inside else 'outside'} the ideal clouds' range ({min(slopes):.2g} to "
        f"{max(slopes):.2g}), and their k₀.₉ / B runs from {_ranges(g['ratios'])}. " + reading
    )


def _finding_loss_weight(payload: Mapping[str, Any]) -> str:
    sizes = sorted(payload["settings"]["batch_sizes"])
    ref = RECIPE["batch_size"]
    weights = ", ".join(f"{b - 1} at B = {b} ({(b - 1) / (ref - 1):.2g}×)" for b in sizes)
    return (
        f"Death times per branch and batch, B − 1, and so the connectivity term's weight "
        f"against the per-image reconstruction at λ = {RECIPE['lam']:g}, relative to "
        f"B = {ref}: {weights}."
    )


def _finding_effects(payload: Mapping[str, Any]) -> str:
    effects = summary.effects(payload)
    labels = {key: label for key, (label, _) in summary.measures(payload).items()}
    keys = ["train_loss", "death_std", f"auroc_{summary.headline_n(payload)}"]
    parts = []
    for key in keys:
        rows = effects.get(key, [])
        if not rows:
            continue
        differ = [f"B = {e['B']} ({e['verdict']}, {e['diff']:+.3g})" for e in rows
                  if e["verdict"] in ("higher", "lower")]  # fmt: skip
        noise = [str(e["B"]) for e in rows if e["verdict"] == "within noise"]
        few = [str(e["B"]) for e in rows if e["verdict"] == "too few seeds"]
        text = f"*{labels[key]}*: " + ("; ".join(differ) or "no B differs")
        if noise:
            text += f"; within noise at B = {', '.join(noise)}"
        if few:
            text += f"; too few seeds at B = {', '.join(few)}"
        parts.append(text)
    if not parts:
        return "No batch size besides B = 100 has finished yet."
    counts = [len(r["seeds"]) for r in summary.sweep(payload)]
    return (
        _provisional(payload, counts)
        + "Against B = 100 (noise rule: 2 pooled seed stds): "
        + ". ".join(parts)
        + "."
    )


def _finding_densification(payload: Mapping[str, Any]) -> str:
    dens = summary.densification(payload)
    if "ns" not in dens:
        return "No B = 100 backbone has finished yet."
    v = dens["variants"]
    ours, theirs = summary.DENSITY_PAIR
    parts = []
    for key, label in summary.LEVELS.items():
        t = dens["tests"][key]
        judged = "" if key in (*summary.JUDGED, summary.GUARD) else ", shown, not judged"
        parts.append(
            f"*{label}*: {over_seeds(v[ours][key])} ({ours}) against "
            f"{over_seeds(v[theirs][key])} ({theirs}): {t['verdict']}{judged}"
        )
    tests = {key: dens["tests"][key]["verdict"] for key in summary.JUDGED}
    said = "; ".join(f"{summary.LEVELS[key]} {tests[key]}" for key in summary.JUDGED)
    if dens["verdict"] in ("denser", "partly denser", "not denser"):
        outcome = f"at their calibrated radii, λ = 20 against λ = 0: {said}"
        if dens["verdict"] != "not denser":
            outcome += ", and its balls are no less pure"
        elif dens["tests"][summary.GUARD]["verdict"] == "lower":
            outcome += ", and its balls are less pure"
    else:
        outcome = {
            "within noise": "no level differs beyond the seeds' noise",
            "too few seeds": "too few seeds for a verdict",
        }[dens["verdict"]]
    rule = {
        "denser": "reproduced",
        "partly denser": "partly (higher on one judged level)",
        "within noise": "within noise",
        "not denser": "not reproduced",
        "too few seeds": "no verdict",
    }[dens["verdict"]]
    chance = 1 / len(dens["classes"])
    purity = [summary.mean_std(v[label]["purity"])[0] for label in summary.DENSITY_PAIR]
    medians = ", ".join(
        f"{np.median(np.mean([s['by_class']['mass'] for s in v[label]['per_seed']], axis=0)):.3g}"
        f" ({label})"
        for label in summary.DENSITY_PAIR
    )
    pair = [len(v[label]["per_seed"]) for label in summary.DENSITY_PAIR]
    return _provisional(payload, pair) + (
        f"At n = B = {dens['n_at_b']} (coverage) and the largest n = {dens['ns'][-1]} (ball "
        f"mass; class purity at {dens['purity_n']} codes per class), mean ± std over seeds "
        f"(noise rule: {summary.NOISE_STDS:g} pooled seed stds and at least "
        f"{summary.SHARE_FLOOR:g} apart): "
        + "; ".join(parts)
        + f". Rule: **{rule}**: {outcome}. Of their class? A ball's class purity is "
        f"{purity[0]:.2g} (λ = 20) and {purity[1]:.2g} (λ = 0) against {chance:.2g} by chance: "
        f"in both models about {1 - max(purity):.0%} or more of the training codes within r "
        f"of a test code belong to other classes. The ball mass's median over the classes "
        f"(the mean can rest on one class): {medians}. What the judged levels measure: at its "
        "calibrated radius (where its batches of B codes connect) any encoder's ball mass is "
        "about c / B, so they compare how tightly and how evenly each model's class codes "
        "fill their region at that scale (class clustering and uniformity), not whether "
        "λ = 20 puts more codes within a fixed η; the curves at r = η of every batch size "
        "show that, unjudged."
    )


def _finding_pending(payload: Mapping[str, Any]) -> str:
    done, pending = len(payload["backbones"]), payload["pending"]
    if not pending:
        return f"All {done} backbones of the profile are trained and measured."
    return (
        f"{done} of {done + len(pending)} backbones are trained and measured; still pending "
        f"(left out of every number on this page): {', '.join(pending)}."
    )


def findings(payload: Mapping[str, Any]) -> dict[str, str]:
    """Sentences (Markdown) the chapter computes from the numbers.

    ``death_means``, ``gradients``, ``convergence`` (of the λ = 20 runs), ``loss_weight``
    (the connectivity term's weight at each B), ``guideline`` (the batch-size rule),
    ``control`` (the same rule on ideal clouds calibrated to η),
    ``effects`` (each B against B = 100), ``densification`` (the densification rule) and
    ``pending``.
    """
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    return {
        "death_means": _finding_deaths(payload),
        "gradients": _finding_gradients(payload),
        "convergence": _finding_convergence(payload),
        "loss_weight": _finding_loss_weight(payload),
        "guideline": _finding_guideline(payload),
        "control": _finding_control(payload),
        "effects": _finding_effects(payload),
        "densification": _finding_densification(payload),
        "pending": _finding_pending(payload),
    }
