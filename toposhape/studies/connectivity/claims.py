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
from toposhape.studies.connectivity.run import CHAPTER, PAYLOAD_KEYS, get_profile
from toposhape.studies.connectivity.tables import over_seeds, pm

#: The profile the scorecard reads, whose settings the rules quote.
_FULL = get_profile("full")
_B, _LAM, _ETA = (RECIPE[key] for key in ("batch_size", "lam", "eta"))
_WITHIN = summary.WITHIN


def current(payload: Mapping[str, Any]) -> bool:
    """Whether a payload has this study's layout (an older saved one does not).

    Its top-level keys (:data:`PAYLOAD_KEYS`), and with every model the densification, the
    death-time quantiles and the transfer AUROCs, and with every λ > 0 one the partial
    covering numbers.
    """
    if not isinstance(payload, Mapping) or not all(key in payload for key in PAYLOAD_KEYS):
        return False
    return all(
        all(key in m for key in ("densification", "transfer", "calibrated_radii"))
        and "quantiles" in m["deaths"]
        and ("k" in m["covering"] if payload["backbones"][name]["spec"]["lam"] > 0 else True)
        for name, m in payload["models"].items()
    )


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
    within = summary.WITHIN
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


#: The guideline's and the densification rule's verdicts as scorecard verdicts.
_GUIDELINE_VERDICTS = {
    "holds": "reproduced",
    "proportional only": "partly",
    "within noise": "within noise",
    "fails": "not reproduced",
    "too few seeds": "not run yet",
}
_DENSITY_VERDICTS = {
    "denser": "reproduced",
    "partly denser": "partly",
    "within noise": "within noise",
    "not denser": "not reproduced",
}


def _batch_size(p: Mapping[str, Any]) -> _Measured:
    g = summary.guideline(p)
    rows = summary.sweep(p)
    seeds = min((len(r["seeds"]) for r in rows), default=0)
    if g["verdict"] in ("not measured", "too few seeds"):
        return _Measured("not run yet", "–", *_mnist(p), seeds)
    mean, std = g["slope"]
    ideal = [c["slope"][0] for c in summary.control(p).values()]
    ratios = ", ".join(f"{r:.2g}" for _, r in sorted(g["ratios"].items()))
    growth = ", ".join(f"{r:.2g}" for _, r in sorted(g["growth"].items()))
    return _Measured(
        _GUIDELINE_VERDICTS[g["verdict"]],
        f"slope of log k₀.₉ on log B {pm(mean, std)}; k₀.₉ / B = {ratios} and growth "
        f"exponent of k₀.₉ over the last two samples {growth} at B = "
        f"{', '.join(str(r['B']) for r in rows)}; slope fitted on B = "
        f"{', '.join(map(str, g['slope_bs']))} (those every seed has); ideal clouds "
        f"calibrated to η, never trained, give slopes {min(ideal):.2g} to {max(ideal):.2g}",
        *_mnist(p),
        seeds,
    )


def _densification(p: Mapping[str, Any]) -> _Measured:
    dens = summary.densification(p)
    v = dens["variants"]
    seeds = min(len(v[label]["mass"]) for label in summary.DENSITY_PAIR)
    if dens["verdict"] == "too few seeds":
        return _Measured("not run yet", "–", *_mnist(p), seeds)
    measured = "; ".join(
        f"{summary.LEVELS[key]}: "
        + ", ".join(f"{label} {over_seeds(v[label][key])}" for label in summary.DENSITY_PAIR)
        + f" ({dens['tests'][key]['verdict']})"
        for key in (*summary.JUDGED, summary.GUARD)
    )
    measured = f"n = B = {dens['n_at_b']}, largest n = {dens['ns'][-1]}; {measured}"
    return _Measured(_DENSITY_VERDICTS[dens["verdict"]], measured, *_mnist(p), seeds)


def _n_range(ns: list[int]) -> str:
    """The range of ``ns``, also in multiples of B: ``"50 to 5000 (0.5 B to 50 B)"``."""
    low, high = min(ns), max(ns)
    return f"{low} to {high} ({low / _B:g} B to {high / _B:g} B)"


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
        claim=f"Trained with the connectivity loss (λ = {_LAM:g}), an autoencoder's latent death "
        "times concentrate at η.",
        rule=f"On held-out batches of {_B} test codes of the B = {_B} backbones: in every "
        f"training seed, the λ = {_LAM:g} mean lies within η ± {_WITHIN:g}, more than half of "
        f"its death times lie within η ± {_WITHIN:g}, and a larger share than λ = 0's of the "
        "same seed. At best partly (MNIST instead of the reference's CIFAR); not reproduced "
        "if any seed fails.",
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
        rule=f"λ = {_LAM:g} backbones trained at each B (same epochs); k₀.₉ = 90 % covering "
        "number of the largest sample of training codes (greedy η-net, ℓ1, each code assigned "
        "to its nearest centre; the fewest centres, largest first, holding 90 % of the codes; "
        "median over branches), levelled off if its growth exponent between the last two "
        f"sample sizes (up to {_FULL['covering_sizes'][-1]} codes) is below "
        f"{summary.LEVEL_EXPONENT:g}. Slope of log k₀.₉ on log B per seed, fitted on the B "
        "every seed has (fewer than two, or one seed: not run yet), m ± s over seeds. "
        "Reproduced if 2 s ≤ "
        f"{summary.SLOPE_TOLERANCE:g} and |m − 1| ≤ {summary.SLOPE_TOLERANCE:g}, k₀.₉ / B lies "
        f"in [{summary.RATIO_RANGE[0]:.2g}, {summary.RATIO_RANGE[1]:g}] and k₀.₉ has levelled "
        "off at every B; partly if only the slope holds; within noise if 2 s > "
        f"{summary.SLOPE_TOLERANCE:g} and |m − 1| ≤ 2 s; not reproduced otherwise. The same "
        "numbers on ideal clouds rescaled so that their batches of B die at η are shown, not "
        "judged (what the calibration alone gives).",
        section="connectivity-batch-size",
        reference="a guideline of the paper (slides: 'metric-entropy based guidelines')",
        measure=_batch_size,
    ),
    _Spec(
        claim="Densification: samples of N > B embedded codes are denser than a training "
        "batch, so η-balls around new codes fill with samples of their class.",
        rule=f"B = {_B} backbones; per class, the first n = {_n_range(_FULL['densify_ns'])} "
        "of a random order of the class's training codes around its test codes. Levels, not "
        "growth (the mean count is n × the ball's mass for any encoder): the ball mass (mean "
        "count / n, at the largest n) and the coverage at n = B (share of test codes, per "
        f"branch, with ≥ 1 code within r). Each model at its own calibrated radius, per "
        f"branch (mean death time of the branch's held-out batches of {_B} test codes): "
        f"λ = {_LAM:g} against λ = 0, seed means compared with {summary.NOISE_STDS:g} pooled "
        f"seed stds and at least {summary.SHARE_FLOOR:g} apart (all three are shares), also "
        "on the class purity (the class's share of all training codes within r, equal "
        f"numbers per class): not reproduced if λ = {_LAM:g}'s purity is lower beyond noise; "
        "otherwise reproduced if it is higher beyond noise on both levels, partly if on one, "
        "within noise if neither level differs beyond noise, not reproduced if neither is "
        f"higher and one is lower. At its calibrated radius any encoder's ball mass is about "
        "c / B, so the levels measure class clustering and uniformity at that scale, not "
        f"density at a fixed η. λ = {_LAM:g} and λ = 0 at r = η, and λ = {_LAM:g} at every B, "
        "are shown, not judged.",
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
