"""The chapter's rows of the reproduction scorecard, with their rules, from the ``full``
profile's saved payload (:func:`claims`). The rules were fixed in code before the run that
measures them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from toposhape.studies import scorecard
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.run import CHAPTER, PAYLOAD_KEYS
from toposhape.studies.connectivity.tables import over_seeds, pm


def current(payload: Mapping[str, Any]) -> bool:
    """Whether a payload has this study's layout (an older saved one does not)."""
    return isinstance(payload, Mapping) and all(key in payload for key in PAYLOAD_KEYS)


_REFERENCE = "CIFAR-10, CIFAR-100, TinyImageNet; 50 epochs, batch 100, λ = 20 (code)"


class _Measured(NamedTuple):
    """What a payload says about one claim."""

    verdict: str
    measured: str
    data: str
    budget: str
    seeds: int


@dataclass(frozen=True)
class _Spec:
    """A claim of the source, its rule, and how to measure it on a ``full`` payload."""

    claim: str
    rule: str
    section: str
    reference: str
    measure: Callable[[Mapping[str, Any]], _Measured]


def _mnist(p: Mapping[str, Any]) -> tuple[str, str]:
    """Data and budget of the trained backbones."""
    data = f"{p['data']['train']['label']}; {p['data']['test']['label']}"
    sizes = ", ".join(map(str, summary.batch_sizes(p)))
    budget = (
        f"{p['settings']['epochs']} epochs per backbone (every B), λ = 20 at B ∈ {{{sizes}}}, "
        f"λ = 0 at B = {RECIPE['batch_size']}"
    )
    return data, budget


def _toy(p: Mapping[str, Any]) -> _Measured:
    t = p["toy"]
    before, after = t["before"]["stats"], t["after"]["stats"]
    holds = (
        before["cv"] > 0.5 and after["cv"] < 0.1 and abs(after["mean"] - t["eta"]) < 0.1 * t["eta"]
    )
    return _Measured(
        "partly" if holds else "not reproduced",
        f"CV of death times {before['cv']:.2f} → {after['cv']:.3f}; mean {after['mean']:.3f} "
        f"(η = {t['eta']:g})",
        f"three 2-D Gaussian clusters, {len(t['before']['points'])} points (toy)",
        f"{t['steps']} Adam steps on the points, one seed",
        1,
    )


def _death_times(p: Mapping[str, Any]) -> _Measured:
    d = summary.death_times(p)
    if not d["rows"]:
        return _Measured("not run yet", "–", *_mnist(p), 0)
    within = RECIPE["within"]
    parts = [
        f"λ = {key}: mean {over_seeds([r[key]['mean'] for r in d['rows']])}, "
        f"{over_seeds([100 * r[key]['frac_within'] for r in d['rows']], 2)} % within "
        f"η ± {within:g}"
        for key in ("20", "0")
    ]
    return _Measured(
        "partly" if d["holds"] else "not reproduced", "; ".join(parts), *_mnist(p), len(d["rows"])
    )


def _differentiability(p: Mapping[str, Any]) -> _Measured:
    g = p["gradients"]
    passed = sum(g["gradcheck"].values())
    holds = passed == len(g["gradcheck"]) and min(g["max_abs_error"]) < 1e-7
    return _Measured(
        "reproduced" if holds else "not reproduced",
        f"gradcheck passed {passed}/{len(g['gradcheck'])}; max |FD − autograd| down to "
        f"{min(g['max_abs_error']):.1e}",
        f"a random {g['n']}-point cloud in {g['dim']}-D with distinct pairwise distances, float64",
        "no training",
        0,
    )


def _batch_size(p: Mapping[str, Any]) -> _Measured:
    g = summary.guideline(p)
    rows = summary.sweep(p)
    seeds = min((len(r["seeds"]) for r in rows), default=0)
    if g["verdict"] == "not measured":
        return _Measured("not run yet", "–", *_mnist(p), seeds)
    verdict = {"holds": "reproduced", "proportional only": "partly", "fails": "not reproduced"}
    mean, std = g["slope"]
    ratios = ", ".join(f"{r:.2g}" for _, r in sorted(g["ratios"].items()))
    return _Measured(
        verdict[g["verdict"]],
        f"slope of log N_η on log B {pm(mean, std)}; N_η / B = {ratios} at B = "
        f"{', '.join(str(r['B']) for r in rows)}",
        *_mnist(p),
        seeds,
    )


def _densification(p: Mapping[str, Any]) -> _Measured:
    dens = summary.densification(p)
    v = dens["variants"]
    seeds = min(len(v["λ = 20, r = η"]["alpha"]), len(v["λ = 0, r = η"]["alpha"]))
    if dens["verdict"] == "too few seeds":
        return _Measured("not run yet", "–", *_mnist(p), seeds)
    measured = "; ".join(
        f"α {label}: {over_seeds(v[label]['alpha'])}"
        for label in ("λ = 20, r = η", "λ = 0, r = η", "λ = 0, r = calibrated")
    )
    verdict = "reproduced" if dens["verdict"] == "faster" else "not reproduced"
    return _Measured(verdict, measured, *_mnist(p), seeds)


_SPECS = (
    _Spec(
        claim="Rearranged by the connectivity loss, points at very different scales become a "
        "homogeneous arrangement (all death times near η), which suits a kernel density "
        "estimate with one bandwidth.",
        rule="On three 2-D clusters (spreads 0.05, 0.4, 2): partly if the death times' "
        "coefficient of variation falls from above 0.5 to below 0.1 and their mean ends within "
        "10 % of η (one point set from one seed, so at best partly); not reproduced otherwise.",
        section="connectivity-kde",
        reference="the slides' toy illustration (no numbers)",
        measure=_toy,
    ),
    _Spec(
        claim="Trained with the connectivity loss (λ = 20), an autoencoder's latent death times "
        "concentrate at η.",
        rule="On held-out batches of 100 test codes of the B = 100 backbones: in every training "
        "seed, the λ = 20 mean lies within η ± 0.5, more than half of its death times lie "
        "within η ± 0.5, and a larger share than λ = 0's of the same seed. At best partly "
        "(MNIST instead of the reference's CIFAR); not reproduced if any seed fails.",
        section="connectivity-death-times",
        reference=_REFERENCE,
        measure=_death_times,
    ),
    _Spec(
        claim="Under mild conditions (distinct pairwise distances) the connectivity loss is "
        "differentiable.",
        rule="Reproduced if torch.autograd.gradcheck passes in float64 for the death times and "
        "the loss (ℓ1 and ℓ2) on a cloud with distinct pairwise distances, and central "
        "differences meet autograd to below 1e-7 at some step; not reproduced otherwise. "
        "A check of a theorem at a point: nothing is trained.",
        section="connectivity-differentiability",
        reference="a theorem of the paper (slides: 'under mild conditions')",
        measure=_differentiability,
    ),
    _Spec(
        claim="Metric-entropy guideline for the batch size: B should match the number of "
        "η-balls needed to cover the latent codes.",
        rule="λ = 20 backbones trained at each B (same epochs); N_η = greedy η-net size of the "
        "test codes (ℓ1, median over branches). Reproduced if the slope of log N_η on log B "
        "(per seed; mean ± std over seeds) lies within 1 ± max(0.25, 2 std) and N_η / B lies "
        "in [1/3, 3] at every B; partly if only the slope does; not reproduced otherwise.",
        section="connectivity-batch-size",
        reference="a guideline of the paper (slides: 'metric-entropy based guidelines')",
        measure=_batch_size,
    ),
    _Spec(
        claim="Densification: samples of N > B embedded codes are denser than a training "
        "batch, so η-balls around new codes fill with samples of their class.",
        rule="Per class, n ∈ {B/2 … 50 B} training codes of the class around its test codes, "
        "B = 100 backbones. The mean count within η grows with n for any encoder, so the claim "
        "is specific to the loss only if it grows faster: reproduced if the growth exponent "
        "(slope of log count on log n, n ≥ B) of λ = 20 at η exceeds that of λ = 0 at its "
        "calibrated radius (mean death time of its held-out batches of 100) by more than 2 "
        "pooled seed stds; not reproduced otherwise.",
        section="connectivity-densification",
        reference="a claim of the paper (slides: 'densification effects')",
        measure=_densification,
    ),
)


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The chapter's rows of the scorecard, measured on the ``full`` profile's results.

    A saved payload of an older layout than this study's counts as not run yet.

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> the chapter's saved payload at that profile, or None.
    """
    payload = load("full")
    rows = []
    for spec in _SPECS:
        if payload is None or not current(payload):
            seen = _Measured("not run yet", "–", "–", "–", 0)
        else:
            seen = spec.measure(payload)
        rows.append(
            scorecard.Claim(
                source="hofer2019",
                claim=spec.claim,
                verdict=seen.verdict,
                rule=spec.rule,
                measured=seen.measured,
                anchor="",
                data=seen.data,
                budget=seen.budget,
                reference=spec.reference,
                seeds=seen.seeds,
                chapter=CHAPTER,
                section=spec.section,
            )
        )
    return rows
