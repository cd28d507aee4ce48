"""The chapter "Atlases" as the reader sees it, from a results payload of :mod:`.run` alone.

:func:`figures` (drawn by :mod:`.plots`), :func:`tables` (DataFrames), :func:`findings`
(sentences answering the chapter's questions from the numbers) and :func:`claims` (the
scorecard's rows for the claims of Korman's blog post that the chapter tests). No training.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.studies import scorecard
from toposhape.studies.atlas.plots import (
    REG_NAMES,
    betti_text,
    charts_in_use,
    plot_barcode_grid,
    plot_charts,
    plot_homology,
    plot_mnist_digits,
    plot_mnist_graph,
    plot_torus3_curves,
    plot_torus3_final,
    runs_of,
    torus3_curves,
)
from toposhape.studies.atlas.run import CHAPTER, LONG_BAR, TORUS3_CHARTS

__all__ = ["claims", "figures", "findings", "mnist_purity", "tables"]

_PAYLOAD_KEYS = ("settings", "setups", "regularisers", "manifolds", "torus3", "mnist")

#: At least this many seeds before a claim can be "reproduced".
MIN_SEEDS = 3


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by the key the notebook places it under."""
    check_mapping("payload", payload, *_PAYLOAD_KEYS)
    return {
        **{f"charts_{reg}": plot_charts(payload, reg) for reg in payload["regularisers"]},
        "barcodes": plot_barcode_grid(payload),
        "homology": plot_homology(payload),
        "torus3_curves": plot_torus3_curves(payload),
        "torus3_final": plot_torus3_final(payload),
        "mnist_graph": plot_mnist_graph(payload),
        "mnist_digits": plot_mnist_digits(payload),
    }


def _sd(values: np.ndarray) -> float:
    """Sample standard deviation over seeds (NaN for one seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _span(values: list[int]) -> str:
    """``"4"`` or ``"2–4"``: the range of some counts."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _truth_text(name: str) -> str:
    truth = MANIFOLDS[name]
    text = betti_text(truth.betti_z2)
    if truth.betti_z3 != truth.betti_z2:
        text += f"; Z/3 {betti_text(truth.betti_z3)}"
    return text


def _torus3_last(payload: Mapping[str, Any]) -> dict[int, dict[str, np.ndarray]]:
    """Per d, the last-epoch reconstruction and encoder GAN loss of every seed."""
    return {
        d: {key: values[:, -1] for key, values in curves.items()}
        for d, curves in torus3_curves(payload).items()
    }


def mnist_purity(payload: Mapping[str, Any]) -> float:
    """Share of MNIST test images whose chart's majority digit is their own."""
    counts = np.asarray(check_mapping("payload", payload, "mnist")["mnist"]["counts"])
    return float(counts.max(axis=1).sum() / max(counts.sum(), 1))


def _mnist_overlap_ratio(payload: Mapping[str, Any]) -> float:
    """Mean overlap of chart pairs with the same majority digit over that of the other pairs.

    NaN when no two charts share their majority digit (or no pair differs).
    """
    counts = np.asarray(payload["mnist"]["counts"])
    u = np.asarray(payload["mnist"]["overlaps"])
    used = np.flatnonzero(counts.sum(axis=1))
    major = counts.argmax(axis=1)
    same, other = [], []
    for a, i in enumerate(used):
        for j in used[a + 1 :]:
            (same if major[i] == major[j] else other).append(u[i, j])
    if not same or not other or np.mean(other) == 0:
        return math.nan
    return float(np.mean(same) / np.mean(other))


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables, by name.

    Returns
    -------
    dict of str to DataFrame
        ``"manifolds"``: the data and the atlas fitted to each; ``"homology"``: per
        manifold and regulariser, how many seeds recovered the homology; ``"homology_seeds"``:
        one row per run; ``"torus3"``: last-epoch losses per d; ``"mnist"``: the digits of
        each MNIST chart.
    """
    check_mapping("payload", payload, *_PAYLOAD_KEYS)
    names = payload["settings"]["manifolds"]
    dims = payload["settings"]["torus3_dims"]
    manifolds = pd.DataFrame(
        [
            {
                "name": m.name,
                "manifold": m.description,
                "Betti numbers over Z/2": betti_text(m.betti_z2),
                "over Z/3": betti_text(m.betti_z3),
                "atlas": (
                    f"k = {payload['setups'][m.name]['charts']}, "
                    f"d = {payload['setups'][m.name]['dim']}"
                    if m.name in payload["setups"]
                    else f"k = {TORUS3_CHARTS}, d = {min(dims)}..{max(dims)}"
                ),
            }
            for m in MANIFOLDS.values()
            if m.name in names or m.name == "torus3"
        ]
    )
    summary, per_seed = [], []
    for name in names:
        for reg in payload["regularisers"]:
            runs = runs_of(payload, name, reg)
            rec = np.asarray([r["reconstruction"] for r in runs])
            used = [charts_in_use(r["usage"]) for r in runs]
            summary.append({
                "manifold": name,
                "regulariser": REG_NAMES[reg],
                "recovered": f"{sum(r['correct'] for r in runs)} of {len(runs)}",
                "true Betti numbers": _truth_text(name),
                "reconstruction (MSE)": rec.mean(),
                "± std": _sd(rec),
                "charts in use": _span(used) + f" of {payload['setups'][name]['charts']}",
            })  # fmt: skip
            per_seed += [
                {
                    "manifold": name,
                    "regulariser": REG_NAMES[reg],
                    "seed": r["seed"],
                    "Betti, Z/2": betti_text(r["betti_z2"]),
                    "Betti, Z/3": betti_text(r["betti_z3"]),
                    "recovered": "yes" if r["correct"] else "no",
                    "MSE": r["reconstruction"],
                    "charts": charts_in_use(r["usage"]),
                    "entropy": r["entropy"],
                }
                for r in runs
            ]
    torus3 = pd.DataFrame(
        [
            {
                "d": d,
                "reconstruction (MSE)": v["reconstruction"].mean(),
                "reconstruction std": _sd(v["reconstruction"]),
                "encoder GAN loss": v["regulariser"].mean(),
                "GAN loss std": _sd(v["regulariser"]),
                "|GAN loss − log 2|": abs(v["regulariser"].mean() - math.log(2)),
            }
            for d, v in _torus3_last(payload).items()
        ]
    )
    mnist = []
    for i, c in enumerate(np.asarray(payload["mnist"]["counts"])):
        total = int(c.sum())
        top = [d for d in np.argsort(c)[::-1][:3] if c[d]]
        mnist.append({
            "chart": i,
            "test images": total,
            "digits (share of the chart)": ", ".join(f"{d} ({c[d] / total:.0%})" for d in top),
        })  # fmt: skip
    return {
        "manifolds": manifolds,
        "homology": pd.DataFrame(summary),
        "homology_seeds": pd.DataFrame(per_seed),
        "torus3": torus3,
        "mnist": pd.DataFrame(mnist),
    }


def _recovered(payload: Mapping[str, Any], name: str, reg: str) -> tuple[int, int]:
    runs = runs_of(payload, name, reg)
    return sum(r["correct"] for r in runs), len(runs)


def _seed_cv(payload: Mapping[str, Any], reg: str) -> float:
    """Coefficient of variation of the final reconstruction error over seeds, mean over
    the manifolds."""
    cvs = []
    for name in payload["settings"]["manifolds"]:
        rec = np.asarray([r["reconstruction"] for r in runs_of(payload, name, reg)])
        cvs.append(rec.std() / max(rec.mean(), 1e-12))
    return float(np.mean(cvs))


def _all_charts_used(payload: Mapping[str, Any], reg: str) -> tuple[int, int]:
    """Runs with every chart in use, and runs, over the manifolds."""
    used = [
        charts_in_use(r["usage"]) == len(r["usage"])
        for name in payload["settings"]["manifolds"]
        for r in runs_of(payload, name, reg)
    ]
    return sum(used), len(used)


def _torus3_reading(payload: Mapping[str, Any]) -> tuple[int, int] | None:
    """(d with the GAN loss closest to log 2, d reached with the largest relative drop of
    the reconstruction error), or None with fewer than three dimensions."""
    last = _torus3_last(payload)
    if len(last) < 3:
        return None
    gap = {d: abs(v["regulariser"].mean() - math.log(2)) for d, v in last.items()}
    rec = {d: v["reconstruction"].mean() for d, v in last.items()}
    drop = {d: rec[d] / rec[d - 1] for d in rec if d - 1 in rec}
    return min(gap, key=gap.get), min(drop, key=drop.get)


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's questions, answered yes/no from the payload's numbers.

    Returns
    -------
    dict of str to list of str
        ``"homology"``: per manifold; ``"regularisers"``: GAN vs MMD; ``"torus3"``: the
        intrinsic-dimension reading (empty with fewer than three dimensions); ``"mnist"``: how
        pure the charts are and whether same-digit charts overlap most.
    """
    check_mapping("payload", payload, *_PAYLOAD_KEYS)
    names = payload["settings"]["manifolds"]
    regs = list(payload["regularisers"])
    lines = []
    for name in names:
        rates = {reg: _recovered(payload, name, reg) for reg in regs}
        text = ", ".join(f"{REG_NAMES[reg]} {c}/{n}" for reg, (c, n) in rates.items())
        best = max(rates.values())
        lines.append(
            f"{name}: homology recovered by the nerve in at least half of the seeds: "
            f"**{'yes' if 2 * best[0] >= best[1] else 'no'}** ({text})."
        )
    regularisers = []
    gan, mmd = (sum(_recovered(payload, n, reg)[0] for n in names) for reg in ("gan", "mmd"))
    regularisers.append(
        "MMD recovers the homology at least as often as the GAN: "
        f"**{'yes' if mmd >= gan else 'no'}** ({mmd} vs {gan} correct runs)."
    )
    cv = {reg: _seed_cv(payload, reg) for reg in ("gan", "mmd")}
    regularisers.append(
        "MMD is more stable across seeds (smaller relative spread of the reconstruction "
        f"error): **{'yes' if cv['mmd'] < cv['gan'] else 'no'}** "
        f"(coefficient of variation {cv['mmd']:.2f} vs {cv['gan']:.2f})."
    )
    full = {reg: _all_charts_used(payload, reg) for reg in ("gan", "mmd")}
    regularisers.append(
        "MMD keeps every chart in use (at least half its fair share of the points) more often "
        f"than the GAN: **{'yes' if full['mmd'][0] > full['gan'][0] else 'no'}** (all k charts "
        f"in use in {full['mmd'][0]}/{full['mmd'][1]} MMD runs vs "
        f"{full['gan'][0]}/{full['gan'][1]} GAN runs)."
    )
    torus3 = []
    reading = _torus3_reading(payload)
    if reading is not None:
        closest, biggest = reading
        torus3.append(
            f"T³: the encoder's GAN loss is closest to log 2 at d = {closest}; the largest "
            f"relative drop of the reconstruction error comes on reaching d = {biggest}; "
            f"both single out the true d = 3: **{'yes' if closest == 3 == biggest else 'no'}**."
        )
    ratio = _mnist_overlap_ratio(payload)
    mnist = [
        f"Purity (share of test images whose chart's majority digit is theirs): "
        f"{mnist_purity(payload):.1%}.",
        "Charts with the same majority digit overlap more than twice as strongly as the other "
        f"pairs: **{'yes' if ratio > 2 else 'no'}** (mean overlap ratio {ratio:.1f}).",
    ]
    return {"homology": lines, "regularisers": regularisers, "torus3": torus3, "mnist": mnist}


# ---------------------------------------------------------------------------------- claims

_NOT_RUN = {"verdict": "not run yet", "measured": "–", "seeds": 0}


def _verdict(full: bool, some: bool, enough_seeds: bool) -> str:
    """reproduced / partly / not reproduced from whether every condition held (``full``),
    some did (``some``) and the run had enough seeds to reproduce at all."""
    if full and enough_seeds:
        return "reproduced"
    return "partly" if full or some else "not reproduced"


def _homology_claim(payload: Mapping[str, Any] | None, name: str) -> scorecard.Claim:
    truth = MANIFOLDS[name]
    torsion = truth.betti_z2 != truth.betti_z3
    claim = (
        f"The fuzzy Čech nerve of a learned atlas of the {truth.description}, filtered by ε, has "
        "the space's homology (a good cover's nerve does)"
        + (": H1 = Z/2, one H1 and one H2 class over Z/2 and none over Z/3." if torsion else ".")
    )
    rule = (
        f"Long bars: at least {LONG_BAR} decades of ε. Reproduced if, with the GAN or the MMD, the "
        "long bars give the Betti numbers over Z/2 and over Z/3 in at least 80 % of at least "
        f"{MIN_SEEDS} seeds; partly if in at least half of the seeds (or in 80 % of fewer than "
        f"{MIN_SEEDS}); not reproduced otherwise."
    )
    common = {
        "source": "korman",
        "claim": claim,
        "rule": rule,
        "anchor": f"Betti numbers {_truth_text(name)}; no rate reported",
        "reference": (
            "Korman 2018: one RP² barcode shown (blog); no sample size, budget or seeds stated"
            if torsion
            else "Korman 2018 (nerve lemma; circle, sphere, torus in the 2017 prototype's "
            "demos); no barcode, budget or seeds stated"
        ),
        "chapter": CHAPTER,
        "section": "atlas-homology",
    }
    if payload is None or name not in payload["settings"]["manifolds"]:
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    settings = payload["settings"]
    rates = {reg: _recovered(payload, name, reg) for reg in payload["regularisers"]}
    seeds = len(settings["seeds"])
    share = max(c / n for c, n in rates.values())
    setup = payload["setups"][name]
    return scorecard.Claim(
        **common,
        verdict=_verdict(share >= 0.8, share >= 0.5, seeds >= MIN_SEEDS),
        measured=", ".join(f"{REG_NAMES[r]} {c}/{n} seeds" for r, (c, n) in rates.items()),
        data=f"{settings['points']} uniform samples of the {truth.description} per seed",
        budget=(
            f"{settings['epochs']} epochs, batch 100, k = {setup['charts']}, d = {setup['dim']}; "
            f"{seeds} seeds each with {' and '.join(REG_NAMES[r] for r in rates)}"
        ),
        seeds=seeds,
    )


#: Epochs compared by the T³ rule's "settled" test (the last ones against the ones before).
_SETTLE_EPOCHS = 5
#: Largest change of the mean GAN loss between those two windows for "settled".
_SETTLE_TOLERANCE = 0.1


def _torus3_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "On the 3-torus T³ ⊂ R⁶, atlases with chart dimension d = 1..5 show the expected "
            "trends: the reconstruction error falls as d grows to the intrinsic dimension 3, "
            "and the encoder's GAN loss moves away from its ideal log 2 once d exceeds it "
            "(d = 3 not clearly ahead of d = 2)."
        ),
        "rule": (
            "(a) mean last-epoch reconstruction error at d = 3 below d = 1's by more than 2 "
            "seed-std; (b) mean |GAN loss − log 2| at d = 4 and at d = 5 above d = 3's by more "
            "than 2 seed-std; (c) training settled: for every d, the mean GAN loss of the last "
            f"{_SETTLE_EPOCHS} epochs within {_SETTLE_TOLERANCE} of that of the {_SETTLE_EPOCHS} "
            f"before. Reproduced if all three hold with at least {MIN_SEEDS} seeds; partly if "
            "(a) or (b) holds; not reproduced otherwise."
        ),
        "anchor": "loss curves with the expected trends; d = 3 not clearly ahead of d = 2",
        "reference": "Korman 2018: T³ in R⁶, d = 1..5, GAN; no budget or seeds stated",
        "chapter": CHAPTER,
        "section": "atlas-torus3",
    }
    settings = {} if payload is None else payload["settings"]
    if payload is None or not {1, 3, 4, 5} <= set(settings["torus3_dims"]):
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    curves = torus3_curves(payload)
    last = _torus3_last(payload)
    rec = {d: last[d]["reconstruction"] for d in (1, 3)}
    gap = {d: np.abs(last[d]["regulariser"] - math.log(2)) for d in (3, 4, 5)}

    def beats(low: np.ndarray, high: np.ndarray) -> bool:
        return bool(high.mean() - low.mean() > 2 * max(_sd(low), _sd(high)))

    falls = beats(rec[3], rec[1])
    rises = beats(gap[3], gap[4]) and beats(gap[3], gap[5])
    drift = max(
        abs(
            c["regulariser"][:, -_SETTLE_EPOCHS:].mean()
            - c["regulariser"][:, -2 * _SETTLE_EPOCHS : -_SETTLE_EPOCHS].mean()
        )
        for c in curves.values()
    )
    settled = drift <= _SETTLE_TOLERANCE
    seeds = len(settings["torus3_seeds"])
    return scorecard.Claim(
        **common,
        verdict=_verdict(falls and rises and settled, falls or rises, seeds >= MIN_SEEDS),
        measured=(
            f"reconstruction d=1 {rec[1].mean():.3f} ± {_sd(rec[1]):.3f}, d=3 "
            f"{rec[3].mean():.3f} ± {_sd(rec[3]):.3f}; |GAN − log 2| d=3 "
            f"{gap[3].mean():.2f} ± {_sd(gap[3]):.2f}, d=4 {gap[4].mean():.2f}, d=5 "
            f"{gap[5].mean():.2f}; GAN loss still moving by up to {drift:.2f} "
            f"(a {'holds' if falls else 'fails'}, b {'holds' if rises else 'fails'}, "
            f"c {'holds' if settled else 'fails'})"
        ),
        data=f"{settings['points']} uniform samples of T³ ⊂ R⁶ (one sample for every run)",
        budget=(
            f"{settings['torus3_epochs']} epochs, batch 100, k = {TORUS3_CHARTS}, GAN (λ = 1); "
            f"{seeds} seeds per d"
        ),
        seeds=seeds,
    )


def _mnist_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "An atlas of MNIST with d = 2 and k = 15 clusters the data by digit, and charts "
            "with similar-looking digits overlap strongly."
        ),
        "rule": (
            f"Reproduced if, with at least {MIN_SEEDS} seeds, the purity (share of test images "
            "whose chart's majority digit is theirs) is at least 0.8 and chart pairs with the same "
            "majority digit overlap (mean u) more than twice as much as the other pairs; partly "
            "if one of the two holds, or both with fewer seeds; not reproduced otherwise."
        ),
        "anchor": "a figure of the 15 charts and their overlaps; no numbers",
        "reference": "Korman 2018: MNIST, d = 2, k = 15; budget and seeds not stated",
        "chapter": CHAPTER,
        "section": "atlas-mnist",
    }
    if payload is None:
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    purity = mnist_purity(payload)
    ratio = _mnist_overlap_ratio(payload)
    pure, overlapping = purity >= 0.8, ratio > 2
    m = payload["mnist"]
    setup = payload["mnist_setup"]
    return scorecard.Claim(
        **common,
        verdict=_verdict(pure and overlapping, pure or overlapping, False),  # one seed
        measured=f"purity {purity:.2f}; same-digit / other overlap {ratio:.1f}",
        data=f"MNIST: {m['train_images']} training images, the 10 000 test images",
        budget=(
            f"{payload['settings']['mnist_epochs']} epochs, k = {setup['charts']}, "
            f"d = {setup['dim']}, {setup['regulariser'].upper()}; 1 seed"
        ),
        seeds=1,
    )


def _regulariser_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "Replacing the latent GAN by an MMD makes the atlas objective much more stable "
            "(the reason the 2021 work switched to it)."
        ),
        "rule": (
            "Over the manifolds, each with both regularisers: (a) all k charts in use in more "
            "MMD runs than GAN runs; (b) the final reconstruction error varies less over seeds "
            "with the MMD (mean coefficient of variation over the manifolds). Reproduced if "
            f"both hold with at least {MIN_SEEDS} seeds; partly if one holds, or both with "
            "fewer seeds; not reproduced otherwise."
        ),
        "anchor": "",
        "reference": "Korman 2021 (blog): MMD instead of the GAN; no comparison reported",
        "chapter": CHAPTER,
        "section": "atlas-regularisers",
    }
    if payload is None or not {"gan", "mmd"} <= set(payload["regularisers"]):
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    settings = payload["settings"]
    used = {reg: _all_charts_used(payload, reg) for reg in ("gan", "mmd")}
    cv = {reg: _seed_cv(payload, reg) for reg in ("gan", "mmd")}
    more_used, steadier = used["mmd"][0] > used["gan"][0], cv["mmd"] < cv["gan"]
    seeds = len(settings["seeds"])
    return scorecard.Claim(
        **common,
        verdict=_verdict(more_used and steadier, more_used or steadier, seeds >= MIN_SEEDS),
        measured=(
            f"all charts in use: MMD {used['mmd'][0]}/{used['mmd'][1]}, GAN "
            f"{used['gan'][0]}/{used['gan'][1]} runs; seed CV of the reconstruction: MMD "
            f"{cv['mmd']:.2f}, GAN {cv['gan']:.2f}"
        ),
        data=f"{', '.join(settings['manifolds'])}: {settings['points']} samples per seed",
        budget=f"{settings['epochs']} epochs, batch 100; {seeds} seeds per regulariser",
        seeds=seeds,
    )


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The claims of Korman's blog post that the chapter tests, from the ``full`` results.

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> that profile's saved payload, or None if it was not run.
    """
    payload = load("full")
    if payload is not None:
        check_mapping("payload", payload, *_PAYLOAD_KEYS, "mnist_setup")
    return [
        *(_homology_claim(payload, name) for name in ("circle", "sphere", "torus", "rp2")),
        _regulariser_claim(payload),
        _torus3_claim(payload),
        _mnist_claim(payload),
    ]
