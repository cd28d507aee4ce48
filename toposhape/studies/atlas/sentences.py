"""The atlas chapter's computed sentences, from a results payload alone (no training).

:func:`findings` answers the chapter's questions section by section, by the rules of
:mod:`.rules`, and ends each judged section with the scorecard's verdict
(:func:`.claims.verdicts`), so that the page and the scorecard cannot disagree.
"""

import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.studies.atlas.claims import (
    HOMOLOGY,
    MNIST_PURITY,
    MNIST_RATIO,
    PAYLOAD_KEYS,
    homology_cells,
    mnist_overlap_ratio,
    mnist_purity,
    seed_cv,
    verdicts,
)
from toposhape.studies.atlas.failures import failure_findings
from toposhape.studies.atlas.plots import REG_NAMES, charts_in_use, torus3_values
from toposhape.studies.atlas.rules import (
    ELBOW_DROP,
    NOISE,
    elbow,
    exceeds,
    majority,
    seed_sd,
    wilson,
)

__all__ = ["WAITING", "findings"]

#: What a section whose models are not trained yet says.
WAITING = "Not run yet: none of the models of this section is trained."
#: The intrinsic dimension of T³, the d the elbow rule should find.
TRUE_DIM = MANIFOLDS["torus3"].dim
#: Epochs back from the last at which the T³ training curves are compared.
CURVE_LOOKBACK = 20


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


def _yes(holds: bool) -> str:
    return f"**{'yes' if holds else 'no'}**"


def _homology(payload: Mapping[str, Any]) -> list[str]:
    lines = []
    for name in payload["settings"]["manifolds"]:
        found = homology_cells(payload, name)
        if not found:
            continue
        best = max(found, key=lambda cell: (cell["low"], cell["rate"]))
        lines.append(
            f"{name}: some cell recovers the homology in more than half of its seeds (Wilson "
            f"interval above 1/2): **{majority([(c['low'], c['high']) for c in found])}** "
            f"(best: {best['label']}, {best['c']} of {best['n']}, {best['low']:.2f}–"
            f"{best['high']:.2f})."
        )
    if lines:
        judged = verdicts(payload)
        shown = [name for name in HOMOLOGY if name in payload["settings"]["manifolds"]]
        lines.append(
            "Scorecard verdicts by this rule: "
            + ", ".join(f"{name} **{judged[name].verdict}**" for name in shown)
            + "."
        )
    return lines


def _regularisers(payload: Mapping[str, Any]) -> list[str]:
    if not payload["manifolds"] or not {"gan", "mmd"} <= set(payload["settings"]["regularisers"]):
        return []
    lines, used, cv = [], {}, {}
    for reg in ("mmd", "gan"):
        found = [r for r in payload["manifolds"] if r["regulariser"] == reg]
        full = sum(charts_in_use(r["usage"]) == len(r["usage"]) for r in found)
        ok = sum(r["correct"] for r in found)
        used[reg] = wilson(full, len(found))
        low, high = wilson(ok, len(found))
        cv[reg] = seed_cv(payload, reg)
        spread = "not measured yet (one seed per cell)" if math.isnan(cv[reg]) else f"{cv[reg]:.2f}"
        lines.append(
            f"{REG_NAMES[reg]}: every chart in use in {full} of {len(found)} runs "
            f"({used[reg][0]:.2f}–{used[reg][1]:.2f}); seed-to-seed variation of the held-out "
            f"reconstruction error (coefficient of variation, mean over the cells): "
            f"{spread}; homology recovered in {ok} of {len(found)} ({low:.2f}–{high:.2f})."
        )
    if not any(math.isnan(v) for v in cv.values()):
        lines.append(
            "The MMD's interval of runs with every chart in use lies wholly above the GAN's: "
            f"{_yes(used['mmd'][0] > used['gan'][1])}; its seed variation is the smaller: "
            f"{_yes(cv['mmd'] < cv['gan'])}. Scorecard verdict: "
            f"**{verdicts(payload)['regularisers'].verdict}**."
        )
    return lines


def _elbow_reading(rec: Mapping[int, np.ndarray], d: int) -> str | None:
    """How the two parts of the elbow rule read at chart dimension ``d``."""
    if d - 1 not in rec or d + 1 not in rec:
        return None
    here, before, after = (float(np.mean(rec[e])) for e in (d, d - 1, d + 1))
    half = (1 - ELBOW_DROP) * before
    bar = NOISE * max(seed_sd(rec[d]), seed_sd(rec[d + 1]))
    noise = "one seed, no noise bar" if math.isnan(bar) else (
        f"the noise bar, {NOISE:g} × the larger seed std, is {bar:.4g}"
    )  # fmt: skip
    return (
        f"At d = {d}: (a) {'holds' if here < half else 'fails'} ({here:.3g} against "
        f"{1 - ELBOW_DROP:.0%} of d = {d - 1}'s, {half:.3g}); (b) "
        f"{'fails' if exceeds(rec[d], rec[d + 1]) else 'holds'} (d = {d}'s error minus "
        f"d = {d + 1}'s: {here - after:.4g}; {noise})."
    )


def _curve_ratio(payload: Mapping[str, Any], low: int, high: int) -> str | None:
    """The training error of d = ``low`` over that of d = ``high`` (means over seeds), some
    epochs before the last and at the last: is the smaller d catching up?"""
    curves = {}
    for d in (low, high):
        runs = [r["history"]["reconstruction"] for r in payload["torus3"] if r["dim"] == d]
        if not runs:
            return None
        curves[d] = np.mean(runs, axis=0)
    last = min(len(c) for c in curves.values())
    if last < 2:
        return None
    back = max(1, last - CURVE_LOOKBACK)
    ratio = {e: curves[low][e - 1] / curves[high][e - 1] for e in (back, last)}
    return (
        f"Training error of d = {low} over that of d = {high} (means over seeds): "
        f"{ratio[back]:.2f} at epoch {back}, {ratio[last]:.2f} at epoch {last}, the last."
    )


def _torus3(payload: Mapping[str, Any]) -> list[str]:
    rec, mmd = torus3_values(payload, "reconstruction"), torus3_values(payload, "mmd")
    if len(rec) < 3:
        return []
    found = elbow(rec)
    lines = [
        (
            f"Elbow rule (error below {1 - ELBOW_DROP:.0%} of d − 1's, no gain beyond "
            f"{NOISE:g} seed-std at d + 1): **d = {found}**"
            if found is not None
            else "Elbow rule: **no d qualifies**"
        )
        + " ("
        + ", ".join(f"d = {d}: {_pm(v, '.4f')}" for d, v in rec.items())
        + ")."
    ]
    dims = list(rec)
    lines.append(
        "The mean held-out error falls by a factor of "
        + ", ".join(
            f"{rec[a].mean() / rec[b].mean():.2f} from d = {a} to {b}" for a, b in pairwise(dims)
        )
        + "."
    )
    for d in dict.fromkeys((TRUE_DIM, found)):
        if d is not None and (reading := _elbow_reading(rec, d)) is not None:
            lines.append(reading)
    if found is not None and found != TRUE_DIM:
        ratio = _curve_ratio(payload, min(found, TRUE_DIM), max(found, TRUE_DIM))
        lines += [ratio] if ratio else []
    if {TRUE_DIM, TRUE_DIM + 1, TRUE_DIM + 2} <= set(mmd):
        above = [mmd[TRUE_DIM + i] for i in (1, 2)]
        higher = all(exceeds(m, mmd[TRUE_DIM]) for m in above)
        lines.append(
            f"The held-out MMD at d = {TRUE_DIM + 1} and {TRUE_DIM + 2} exceeds d = "
            f"{TRUE_DIM}'s beyond noise: {_yes(higher)} ("
            + ", ".join(f"d = {d}: {_pm(v, '.2e')}" for d, v in mmd.items())
            + ")."
        )
    claim = verdicts(payload)["torus3"]
    seeds = f" ({claim.seeds} seeds per d)" if claim.seeds else ""
    lines.append(f"Scorecard verdict: **{claim.verdict}**{seeds}.")
    return lines


def _mnist(payload: Mapping[str, Any]) -> list[str]:
    reads = payload["mnist"]
    if not reads:
        return []
    purity = np.array([mnist_purity(r) for r in reads])
    ratio = np.array([mnist_overlap_ratio(r) for r in reads])
    pairs = zip(reads, purity, ratio, strict=True)
    each = ", ".join(f"seed {r['seed']}: {p:.1%}, {q:.1f}" for r, p, q in pairs)
    seeds = f"{len(reads)} seeds" if len(reads) > 1 else "1 seed"
    return [
        f"Purity (share of test images whose chart's majority digit is theirs) of at least "
        f"{MNIST_PURITY:.0%} in every seed: {_yes(bool(np.all(purity >= MNIST_PURITY)))} "
        f"({_pm(purity, '.1%')}" + (f" over {seeds})." if len(reads) > 1 else ")."),
        f"Charts with the same majority digit overlap more than {MNIST_RATIO:g} times as "
        f"strongly as the other pairs in every seed: {_yes(bool(np.all(ratio > MNIST_RATIO)))} "
        f"(mean overlap ratio {_pm(ratio, '.1f')}).",
        f"Per seed (purity, overlap ratio): {each}. The figures and the table show seed "
        f"{reads[0]['seed']}'s atlas.",
        f"Scorecard verdict: **{verdicts(payload)['mnist'].verdict}** ({seeds}).",
    ]


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's questions, answered from the payload's numbers by the rules.

    Returns
    -------
    dict of str to list of str
        ``"controls"``, ``"homology"`` (per manifold, then the scorecard's verdicts),
        ``"failures"`` (:func:`.failures.failure_findings`), ``"regularisers"``,
        ``"torus3"`` and ``"mnist"``; a section whose models are not trained yet says
        :data:`WAITING`.
    """
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    sections = {
        "homology": _homology(payload),
        "failures": failure_findings(payload),
        "regularisers": _regularisers(payload),
        "torus3": _torus3(payload),
        "mnist": _mnist(payload),
    }
    return {
        "controls": _control_findings(payload),
        **{key: lines or [WAITING] for key, lines in sections.items()},
    }
