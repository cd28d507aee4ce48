"""The sentences the chapter computes from a results payload (Markdown).

Every number and every verdict comes from :mod:`.summary`; nothing here is typed in.
"""

from collections.abc import Mapping
from typing import Any

from toposhape.checks import check_mapping
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.run import PAYLOAD_KEYS
from toposhape.studies.connectivity.tables import over_seeds, pm


def _seeds(n: int) -> str:
    """``"3 seeds"``, ``"1 seed"``."""
    return f"{n} seed{'' if n == 1 else 's'}"


def _finding_deaths(payload: Mapping[str, Any]) -> str:
    d = summary.death_times(payload)
    if not d["rows"]:
        return "No pair of λ = 0 / λ = 20 backbones has finished yet."
    means = {
        key: over_seeds([r[key]["mean"] for r in d["rows"]]) for key in (f"{RECIPE['lam']:g}", "0")
    }
    held = sum(r["holds"] for r in d["rows"])
    return (
        f"Mean held-out death time at B = {RECIPE['batch_size']} (η = {RECIPE['eta']:g}; mean ± "
        f"std over {_seeds(len(d['rows']))}): λ = 20: **{means['20']}**; λ = 0: "
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


def _finding_guideline(payload: Mapping[str, Any]) -> str:
    g = summary.guideline(payload)
    if g["verdict"] == "not measured":
        return (
            "The guideline needs λ = 20 backbones at two batch sizes at least, in every seed; "
            "none yet."
        )
    mean, std = g["slope"]
    ratios = ", ".join(f"{r:.2g} at B = {b}" for b, r in sorted(g["ratios"].items()))
    growth = ", ".join(f"{r:.2g} at B = {b}" for b, r in sorted(g["growth"].items()))
    low, high = summary.RATIO_RANGE
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
        verdict = f"k₀.₉ grows in proportion to B, but {' and '.join(missing)}"
    else:
        verdict = {
            "holds": "k₀.₉ tracks B, matches it and has levelled off: the guideline holds",
            "within noise": "the seeds' spread of the slope exceeds the tolerance: within noise",
            "fails": "k₀.₉ does not grow in proportion to B: the guideline fails",
        }[g["verdict"]]
    return (
        f"Judged on the {100 * summary.COVER_SHARE:g} % covering number k₀.₉ of the training "
        f"codes. Slope of log k₀.₉ on log B: **{pm(mean, std)}** (mean ± std over "
        f"{_seeds(len(g['slopes']))}, fitted on B = {', '.join(map(str, g['slope_bs']))}, the "
        f"batch sizes every seed has; rule: within 1 ± {summary.SLOPE_TOLERANCE:g}, and 2 std "
        f"no wider than that). k₀.₉ / B: {ratios} (rule: within [{low:.2g}, {high:g}]). "
        f"Growth exponent of k₀.₉ between the last two sample sizes: {growth} (levelled off "
        f"below {summary.LEVEL_EXPONENT:g}). Verdict: **{verdict}**."
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
    return "Against B = 100 (noise rule: 2 pooled seed stds): " + ". ".join(parts) + "."


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
    words = {
        "denser": "at their calibrated radii, λ = 20 is denser than λ = 0 on both levels, "
        "and its balls are no less pure",
        "partly denser": "at their calibrated radii, λ = 20 is denser than λ = 0 on one "
        "level, and its balls are no less pure",
        "within noise": "no level differs beyond the seeds' noise",
        "not denser": "at their calibrated radii, λ = 20 is not denser than λ = 0, or its "
        "balls are less pure",
        "too few seeds": "too few seeds for a verdict",
    }
    return (
        f"At n = B = {dens['n_at_b']} (coverage) and the largest n = {dens['ns'][-1]} (ball "
        f"mass; class purity at {dens['purity_n']} codes per class), mean ± std over seeds "
        f"(noise rule: {summary.NOISE_STDS:g} pooled seed stds and at least "
        f"{summary.SHARE_FLOOR:g} apart): "
        + "; ".join(parts)
        + f". Verdict: **{words[dens['verdict']]}**. What the judged levels measure: at its "
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
        "effects": _finding_effects(payload),
        "densification": _finding_densification(payload),
        "pending": _finding_pending(payload),
    }
