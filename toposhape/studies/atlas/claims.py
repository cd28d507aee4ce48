"""The scorecard's rows for the claims of Korman's blog post that the atlas chapter tests.

Every verdict is computed from the ``full`` payload by a rule stated in the row (and in
:mod:`.rules`), never typed in; models that are not trained yet count as missing seeds.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.studies import scorecard
from toposhape.studies.atlas.plots import (
    REG_NAMES,
    betti_text,
    cells,
    charts_in_use,
    runs_of,
    torus3_values,
)
from toposhape.studies.atlas.rules import (
    CONFIDENCE,
    ELBOW_DROP,
    NOISE,
    elbow,
    exceeds,
    majority,
    seed_sd,
    wilson,
)

__all__ = [
    "MIN_SEEDS",
    "MNIST_PURITY",
    "MNIST_RATIO",
    "PAYLOAD_KEYS",
    "claims",
    "homology_cells",
    "mnist_overlap_ratio",
    "mnist_purity",
    "seed_cv",
    "verdicts",
]

#: What a payload of :func:`toposhape.studies.atlas.run.run` must hold to be drawn.
PAYLOAD_KEYS = ("settings", "controls", "readout", "manifolds", "torus3", "mnist", "pending")

CHAPTER = "atlas"
_NOT_RUN = {"verdict": "not run yet", "measured": "–", "seeds": 0}
#: Seeds every cell needs before a claim can be "reproduced" (a homology claim gets no
#: verdict at all on fewer).
MIN_SEEDS = 3
#: The MNIST claim needs, in every seed, a purity of at least MNIST_PURITY and an overlap
#: ratio above MNIST_RATIO.
MNIST_PURITY = 0.8
MNIST_RATIO = 2.0
#: The manifolds whose homology claims the scorecard holds, in its order.
HOMOLOGY = ("circle", "sphere", "torus", "rp2")


def _verdict(full: bool, some: bool, enough_seeds: bool) -> str:
    """reproduced / partly / not reproduced from whether every condition held (``full``),
    some did (``some``) and the run had enough seeds to reproduce at all."""
    if full and enough_seeds:
        return "reproduced"
    return "partly" if full or some else "not reproduced"


def homology_cells(payload: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """Per (k, regulariser) of a manifold with finished runs: successes, runs, the rate
    and its Wilson interval, and a label such as ``MMD k=9``."""
    out = []
    for cell_name, k, reg in cells(payload):
        runs = runs_of(payload, cell_name, k, reg) if cell_name == name else []
        if runs:
            c, n = sum(r["correct"] for r in runs), len(runs)
            low, high = wilson(c, n)
            out.append({
                "label": f"{REG_NAMES[reg]} k={k}", "c": c, "n": n, "rate": c / n,
                "low": low, "high": high,
            })  # fmt: skip
    return out


def _truth(name: str) -> str:
    truth = MANIFOLDS[name]
    text = betti_text(truth.betti_z2)
    return text + (
        f"; Z/3 {betti_text(truth.betti_z3)}" if truth.betti_z3 != truth.betti_z2 else ""
    )


def _homology_claim(payload: Mapping[str, Any] | None, name: str) -> scorecard.Claim:
    truth = MANIFOLDS[name]
    torsion = truth.betti_z2 != truth.betti_z3
    claim = (
        f"The fuzzy Čech nerve of a learned atlas of the {truth.description}, filtered by ε, has "
        "the space's homology (a good cover's nerve does)"
        + (": H1 = Z/2, one H1 and one H2 class over Z/2 and none over Z/3." if torsion else ".")
    )
    rule = (
        "Read-out fixed on hand-built soft covers before any learned atlas: nerve by "
        "u_σ = max_x min q_j(x) on a fresh dense sample, ε ≥ 10⁻³, a bar counts when at least "
        "the threshold chosen on those covers. Per k and regulariser: the share of seeds whose "
        f"bars give the Betti numbers over Z/2 and Z/3, with its {CONFIDENCE:.0%} Wilson "
        "interval. Reproduced if some cell's interval lies above 1/2; not reproduced if every "
        "cell's lies below 1/2; within noise otherwise (the seeds cannot tell yet)."
    )
    common = {
        "source": "korman",
        "claim": claim,
        "rule": rule,
        "anchor": f"Betti numbers {_truth(name)}; no rate reported",
        "reference": (
            "Korman 2018: one RP² barcode shown (blog); no sample size, budget or seeds stated"
            if torsion
            else "Korman 2018 (nerve lemma; circle, sphere, torus in the 2017 prototype's "
            "demos); no barcode, budget or seeds stated"
        ),
        "chapter": CHAPTER,
        "section": "atlas-homology",
    }
    found = [] if payload is None else homology_cells(payload, name)
    if not found:
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    if min(cell["n"] for cell in found) < MIN_SEEDS:  # no verdict on fewer seeds
        return scorecard.Claim(
            **common,
            verdict="not run yet",
            measured=f"waiting for {MIN_SEEDS} seeds of every cell",
            data="–",
            budget="–",
            seeds=min(cell["n"] for cell in found),
        )
    settings = payload["settings"]
    best = max(found, key=lambda cell: (cell["low"], cell["rate"]))
    word = majority([(cell["low"], cell["high"]) for cell in found])
    ks = ", ".join(map(str, settings["manifolds"][name]))
    return scorecard.Claim(
        **common,
        verdict={"yes": "reproduced", "no": "not reproduced"}.get(word, "within noise"),
        measured=(
            f"best {best['label']}: {best['c']}/{best['n']} "
            f"({best['low']:.2f}–{best['high']:.2f}); "
            + ", ".join(f"{c['label']} {c['c']}/{c['n']}" for c in found if c is not best)
        ),
        data=(
            f"{settings['points']} uniform samples of the {truth.description} per seed, "
            f"standardised; read on {settings['readout_points']} fresh samples"
        ),
        budget=(
            f"{settings['epochs']} epochs, batch 100, k = {ks}, d = {truth.dim}; up to "
            f"{len(settings['seeds'])} seeds each with "
            f"{' and '.join(REG_NAMES[r] for r in settings['regularisers'])}"
        ),
        seeds=best["n"],
    )


def seed_cv(payload: Mapping[str, Any], reg: str) -> float:
    """Coefficient of variation over seeds of the held-out reconstruction error, mean over
    the cells with at least two finished seeds (NaN if none)."""
    cvs = []
    for name, k, cell_reg in cells(payload):
        rec = np.asarray([r["reconstruction"] for r in runs_of(payload, name, k, reg)])
        if cell_reg == reg and len(rec) > 1:
            cvs.append(seed_sd(rec) / max(rec.mean(), 1e-12))
    return float(np.mean(cvs)) if cvs else math.nan


def _regulariser_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "Replacing the latent GAN by an MMD makes the atlas objective much more stable "
            "(the reason the 2021 work switched to it)."
        ),
        "rule": (
            "Over every manifold and k: (a) the share of runs with all k charts in use (each "
            f"with at least half its fair share of the mass) has a {CONFIDENCE:.0%} Wilson "
            "interval for the MMD entirely above the GAN's; (b) the held-out reconstruction "
            "error varies less over seeds with the MMD (mean coefficient of variation over the "
            "cells). Reproduced if both hold; partly if one holds; not reproduced otherwise."
        ),
        "anchor": "",
        "reference": "Korman 2021 (blog): MMD instead of the GAN; no comparison reported",
        "chapter": CHAPTER,
        "section": "atlas-regularisers",
    }
    regs = set() if payload is None else {r["regulariser"] for r in payload["manifolds"]}
    if not {"gan", "mmd"} <= regs:
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    settings = payload["settings"]
    used, intervals = {}, {}
    for reg in ("gan", "mmd"):
        runs = [r for r in payload["manifolds"] if r["regulariser"] == reg]
        used[reg] = (sum(charts_in_use(r["usage"]) == len(r["usage"]) for r in runs), len(runs))
        intervals[reg] = wilson(*used[reg])
    cv = {reg: seed_cv(payload, reg) for reg in ("gan", "mmd")}
    if any(math.isnan(v) for v in cv.values()):  # (b) needs two seeds of a cell: not judged yet
        return scorecard.Claim(
            **common,
            verdict="not run yet",
            measured="waiting for a second seed of a cell of each regulariser",
            data="–",
            budget="–",
            seeds=len({r["seed"] for r in payload["manifolds"]}),
        )
    more_used = intervals["mmd"][0] > intervals["gan"][1]
    steadier = bool(cv["mmd"] < cv["gan"])
    seeds = min(used["gan"][1], used["mmd"][1])
    return scorecard.Claim(
        **common,
        verdict=_verdict(more_used and steadier, more_used or steadier, True),
        measured=(
            f"all charts in use: MMD {used['mmd'][0]}/{used['mmd'][1]} "
            f"({intervals['mmd'][0]:.2f}–{intervals['mmd'][1]:.2f}), GAN "
            f"{used['gan'][0]}/{used['gan'][1]} ({intervals['gan'][0]:.2f}–"
            f"{intervals['gan'][1]:.2f}); seed CV of the reconstruction: MMD {cv['mmd']:.2f}, "
            f"GAN {cv['gan']:.2f}"
        ),
        data=f"{', '.join(settings['manifolds'])}: {settings['points']} samples per seed",
        budget=f"{settings['epochs']} epochs, batch 100; runs per regulariser: {seeds}",
        seeds=len({r["seed"] for r in payload["manifolds"]}),
    )


def _torus3_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "On the 3-torus T³ ⊂ R⁶, the losses of atlases with chart dimension d = 1..5 single "
            "out the intrinsic dimension d ≈ 3 (in the paper with the latent GAN; d = 3 not "
            "clearly ahead of d = 2)."
        ),
        "rule": (
            "MMD regulariser, held-out samples. (a) Elbow rule: the smallest d whose mean "
            f"reconstruction error is below {1 - ELBOW_DROP:.0%} of d − 1's and not above "
            f"d + 1's by more than {NOISE:g} seed-std is d = 3; (b) the mean MMD to the uniform "
            f"latent law at d = 4 and at d = 5 exceeds d = 3's by more than {NOISE:g} seed-std. "
            f"Reproduced if (a) and (b) hold with at least {MIN_SEEDS} seeds per d; partly if "
            "one holds (or both with fewer seeds); not reproduced otherwise."
        ),
        "anchor": "loss curves with the expected trends; d = 3 not clearly ahead of d = 2",
        "reference": "Korman 2018: T³ in R⁶, d = 1..5, GAN; no budget or seeds stated",
        "chapter": CHAPTER,
        "section": "atlas-torus3",
    }
    rec = {} if payload is None else torus3_values(payload, "reconstruction")
    if not {2, 3, 4, 5} <= set(rec):
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    settings = payload["settings"]
    mmd = torus3_values(payload, "mmd")
    found = elbow(rec)
    at_three = found == 3
    rises = exceeds(mmd[4], mmd[3]) and exceeds(mmd[5], mmd[3])
    seeds = min(len(v) for v in rec.values())
    return scorecard.Claim(
        **common,
        verdict=_verdict(at_three and rises, at_three or rises, seeds >= MIN_SEEDS),
        measured=(
            f"elbow at d = {found}; reconstruction "
            + ", ".join(f"d={d} {v.mean():.3g} ± {seed_sd(v):.2g}" for d, v in rec.items())
            + "; MMD "
            + ", ".join(f"d={d} {mmd[d].mean():.2g}" for d in (3, 4, 5))
            + f" (a {'holds' if at_three else 'fails'}, b {'holds' if rises else 'fails'})"
        ),
        data=(
            f"{settings['points']} uniform samples of T³ ⊂ R⁶ per seed, standardised; "
            f"{settings['torus3_heldout']} fresh samples to evaluate"
        ),
        budget=(
            f"{settings['torus3_epochs']} epochs, batch 100, k = {payload['torus3_charts']}, MMD "
            f"(λ = {payload['regularisers']['mmd']:g}); {seeds} seeds per d"
        ),
        seeds=seeds,
    )


def mnist_purity(read: Mapping[str, Any]) -> float:
    """Share of MNIST test images whose chart's majority digit is their own.

    ``read`` is one MNIST atlas's read (an item of the payload's ``"mnist"`` list).
    """
    counts = np.asarray(check_mapping("read", read, "counts")["counts"])
    return float(counts.max(axis=1).sum() / max(counts.sum(), 1))


def mnist_overlap_ratio(read: Mapping[str, Any]) -> float:
    """Mean overlap of chart pairs with the same majority digit over that of the other pairs,
    in one MNIST atlas's read.

    NaN when no two charts share their majority digit (or no pair differs).
    """
    check_mapping("read", read, "counts", "overlaps")
    counts = np.asarray(read["counts"])
    u = np.asarray(read["overlaps"])
    used = np.flatnonzero(counts.sum(axis=1))
    major = counts.argmax(axis=1)
    same, other = [], []
    for a, i in enumerate(used):
        for j in used[a + 1 :]:
            (same if major[i] == major[j] else other).append(u[i, j])
    if not same or not other or np.mean(other) == 0:
        return math.nan
    return float(np.mean(same) / np.mean(other))


def _mnist_claim(payload: Mapping[str, Any] | None) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": (
            "An atlas of MNIST with d = 2 and k = 15 clusters the data by digit, and charts "
            "with similar-looking digits overlap strongly."
        ),
        "rule": (
            f"Reproduced if, with at least {MIN_SEEDS} seeds, in every seed the purity (share "
            f"of test images whose chart's majority digit is theirs) is at least {MNIST_PURITY:g} "
            "and chart pairs with the same majority digit overlap (mean u) more than "
            f"{MNIST_RATIO:g} times as much as the other pairs; partly if one of the two holds "
            "in every seed, or both with fewer seeds; not reproduced otherwise."
        ),
        "anchor": "a figure of the 15 charts and their overlaps; no numbers",
        "reference": "Korman 2018: MNIST, d = 2, k = 15; budget and seeds not stated",
        "chapter": CHAPTER,
        "section": "atlas-mnist",
    }
    if payload is None or not payload["mnist"]:
        return scorecard.Claim(**common, **_NOT_RUN, data="–", budget="–")
    reads = payload["mnist"]
    purity = np.array([mnist_purity(r) for r in reads])
    ratio = np.array([mnist_overlap_ratio(r) for r in reads])
    pure, overlapping = bool(np.all(purity >= MNIST_PURITY)), bool(np.all(ratio > MNIST_RATIO))
    setup = payload["mnist_setup"]
    seeds = len(reads)
    return scorecard.Claim(
        **common,
        verdict=_verdict(pure and overlapping, pure or overlapping, seeds >= MIN_SEEDS),
        measured=(
            f"purity {_spread(purity, '.2f')}; same-digit / other overlap {_spread(ratio, '.1f')}"
        ),
        data=f"MNIST: {reads[0]['train_images']} training images, the 10 000 test images",
        budget=(
            f"{payload['settings']['mnist_epochs']} epochs, k = {setup['charts']}, "
            f"d = {setup['dim']}, {setup['regulariser'].upper()}; {seeds} seed"
            + ("s" if seeds > 1 else "")
        ),
        seeds=seeds,
    )


def _spread(values: np.ndarray, spec: str) -> str:
    """``mean ± std (min–max)`` over seeds, or the one value."""
    if len(values) == 1:
        return f"{values[0]:{spec}} (1 seed)"
    return (
        f"{np.mean(values):{spec}} ± {np.std(values, ddof=1):{spec}} "
        f"({np.min(values):{spec}}–{np.max(values):{spec}})"
    )


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The claims of Korman's blog post that the chapter tests, from the ``full`` results.

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> that profile's saved payload, or None if it was not run.
    """
    return list(verdicts(load("full")).values())


def verdicts(payload: Mapping[str, Any] | None) -> dict[str, scorecard.Claim]:
    """The scorecard's rows from one payload (None: not run), by what they judge: each
    manifold of :data:`HOMOLOGY`, then ``"regularisers"``, ``"torus3"`` and ``"mnist"``."""
    if payload is not None:
        check_mapping("payload", payload, *PAYLOAD_KEYS, "mnist_setup")
    return {
        **{name: _homology_claim(payload, name) for name in HOMOLOGY},
        "regularisers": _regulariser_claim(payload),
        "torus3": _torus3_claim(payload),
        "mnist": _mnist_claim(payload),
    }
