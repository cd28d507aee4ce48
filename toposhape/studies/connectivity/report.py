"""The chapter "Controlling connectivity" as readers see it, from a results payload only.

:func:`figures` draws every figure, :func:`tables` gives every table as a DataFrame,
:func:`findings` the sentences computed from the numbers, and :func:`claims` the chapter's
rows of the reproduction scorecard. Nothing here trains or measures: a payload fresh from
:func:`toposhape.studies.connectivity.run.run` and one loaded from
``results/connectivity/<profile>.json`` give the same page.
"""

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.studies import scorecard
from toposhape.studies.connectivity import plots
from toposhape.studies.connectivity.run import CHAPTER

#: The payload keys the figures are drawn from.
_FIGURE_KEYS = (
    "recipe", "toy", "vr_demo", "training", "evaluation", "latent", "gradients", "batch_size",
    "densification",
)  # fmt: skip

#: The payload keys the tables are made from.
_TABLE_KEYS = (
    "recipe", "toy", "training", "evaluation", "gradients", "batch_size", "densification",
    "timings_s",
)  # fmt: skip


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, keyed by the name it is glued and saved under."""
    check_mapping("payload", payload, *_FIGURE_KEYS)
    return {
        "toy_kde": plots.plot_toy_kde(payload),
        "toy_deaths": plots.plot_toy_deaths(payload),
        "vr_demo": plots.plot_vr_demo(payload),
        "training_curves": plots.plot_training_curves(payload),
        "death_histograms": plots.plot_death_histograms(payload),
        "latent_kde": plots.plot_latent_kde(payload),
        "gradients": plots.plot_gradients(payload),
        "batch_size": plots.plot_batch_size(payload),
        "densification": plots.plot_densification(payload),
    }


# ---------------------------------------------------------------------------
# Tables and findings
# ---------------------------------------------------------------------------


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables, one row per item, with plain-text headers.

    ``toy`` (death times of the two toy arrangements), ``models`` (the λ = 0 and λ = 20
    autoencoders on the test set), ``gradcheck`` and ``gradient_sample`` (differentiability),
    ``batch_size``, ``densification`` and ``timings`` (seconds per phase of the run).
    """
    check_mapping("payload", payload, *_TABLE_KEYS)
    within = payload["recipe"]["within"]
    near = f"within η ± {within:g} (%)"
    toy = pd.DataFrame(
        [
            {
                "arrangement": label,
                "death mean": s["mean"],
                "death std": s["std"],
                "CV": s["cv"],
                "max / min": s["max"] / max(s["min"], 1e-12),
            }
            for label, s in (
                ("clusters", payload["toy"]["before"]["stats"]),
                ("homogenised", payload["toy"]["after"]["stats"]),
            )
        ]
    )
    models = pd.DataFrame(
        [
            {
                "λ": key,
                "test L1 (per image)": ev["test_reconstruction_l1"],
                "death mean": ev["deaths"]["mean"],
                "death std": ev["deaths"]["std"],
                near: 100 * ev["deaths"]["frac_within"],
                "final train L_η": payload["training"][key][-1]["connectivity"],
            }
            for key, ev in payload["evaluation"].items()
        ]
    )
    g = payload["gradients"]
    gradcheck = pd.DataFrame(
        [
            {"function": name, "gradcheck": "passed" if ok else "failed"}
            for name, ok in g["gradcheck"].items()
        ]
    )
    sample = g["sample"]
    gradient_sample = pd.DataFrame(
        {
            "coordinate": [
                f"x[{i // g['dim']}, {i % g['dim']}]" for i in range(len(sample["autograd"]))
            ],
            "autograd": sample["autograd"],
            f"central difference (h = {sample['step']:.0e})": sample["finite_difference"],
        }
    )
    batch = pd.DataFrame(
        [
            {
                "B": r["B"],
                "death mean": r["mean"],
                "death std": r["std"],
                near: 100 * r["frac_within"],
            }
            for r in payload["batch_size"]["rows"]
        ]
    )
    dens = payload["densification"]
    densification = pd.DataFrame(
        {"N": [r["N"] for r in next(iter(dens.values()))["rows"]]}
        | {
            f"median NN distance (λ = {k})": [r["median"] for r in v["rows"]]
            for k, v in dens.items()
        }
    )
    timings = pd.DataFrame(
        {"phase": list(payload["timings_s"]), "seconds": list(payload["timings_s"].values())}
    )
    return {
        "toy": toy,
        "models": models,
        "gradcheck": gradcheck,
        "gradient_sample": gradient_sample,
        "batch_size": batch,
        "densification": densification,
        "timings": timings,
    }


def findings(payload: Mapping[str, Any]) -> dict[str, str]:
    """Sentences (Markdown) the chapter computes from the numbers.

    ``death_means``: the mean held-out death time of each model against η;
    ``gradients``: how closely finite differences meet autograd.
    """
    check_mapping("payload", payload, "recipe", "evaluation", "gradients")
    eta = payload["recipe"]["eta"]
    means = [
        f"λ = {key}: **{ev['deaths']['mean']:.3g}**" for key, ev in payload["evaluation"].items()
    ]
    g = payload["gradients"]
    sample = g["sample"]
    gap = max(
        abs(a - b) for a, b in zip(sample["autograd"], sample["finite_difference"], strict=True)
    )
    passed = sum(g["gradcheck"].values())
    return {
        "death_means": f"Mean test death time (η = {eta:g}): {'; '.join(means)}.",
        "gradients": (
            f"gradcheck passed for {passed} of {len(g['gradcheck'])} functions. At step "
            f"h = {sample['step']:.0e} the central differences of the ℓ2 loss differ from "
            f"autograd by at most {gap:.1e} on the coordinates below; over all steps, the "
            f"largest discrepancy gets as small as {min(g['max_abs_error']):.1e}."
        ),
    }


# ---------------------------------------------------------------------------
# Scorecard
# ---------------------------------------------------------------------------

_ONE_SEED = (
    "One seed, MNIST instead of CIFAR and 10 of the reference's 50 epochs: at best partly "
    "(reproduced would need several seeds at the reference's data and budget)"
)
_REFERENCE = "CIFAR-10, CIFAR-100, TinyImageNet; 50 epochs, batch 100, λ = 20 (code)"


class _Measured(NamedTuple):
    """What a payload says about one claim."""

    holds: bool  # the rule's condition
    measured: str
    data: str
    budget: str


@dataclass(frozen=True)
class _Spec:
    """A claim of the source, its rule, and how to measure it on a ``full`` payload."""

    claim: str
    rule: str
    section: str
    reference: str
    seeds: int
    best: str  # the verdict when the rule's condition holds
    measure: Callable[[Mapping[str, Any]], _Measured]


def _decreasing(values: Sequence[float]) -> bool:
    return all(b < a for a, b in itertools.pairwise(values))


def _mnist(p: Mapping[str, Any]) -> tuple[str, str]:
    """Data and budget of the trained autoencoders."""
    data = (
        f"{p['recipe']['dataset'].upper()}, {p['train_images']} training / "
        f"{p['test_images']} test images"
    )
    budget = f"{p['settings']['epochs']} epochs per λ, batch {p['recipe']['batch_size']}, one seed"
    return data, budget


def _toy(p: Mapping[str, Any]) -> _Measured:
    t = p["toy"]
    before, after = t["before"]["stats"], t["after"]["stats"]
    return _Measured(
        before["cv"] > 0.5 and after["cv"] < 0.1 and abs(after["mean"] - t["eta"]) < 0.1 * t["eta"],
        f"CV of death times {before['cv']:.2f} → {after['cv']:.3f}; mean {after['mean']:.3f} "
        f"(η = {t['eta']:g})",
        f"three 2-D Gaussian clusters, {len(t['before']['points'])} points (toy)",
        f"{t['steps']} Adam steps on the points, one seed",
    )


def _death_times(p: Mapping[str, Any]) -> _Measured:
    eta, within = p["recipe"]["eta"], p["recipe"]["within"]
    d0, d20 = p["evaluation"]["0"]["deaths"], p["evaluation"]["20"]["deaths"]
    return _Measured(
        abs(d20["mean"] - eta) <= within
        and d20["frac_within"] > 0.5
        and d20["frac_within"] > d0["frac_within"],
        f"λ = 20: mean {d20['mean']:.2f}, {100 * d20['frac_within']:.0f} % within "
        f"η ± {within:g}; λ = 0: mean {d0['mean']:.2f}, {100 * d0['frac_within']:.0f} %",
        *_mnist(p),
    )


def _differentiability(p: Mapping[str, Any]) -> _Measured:
    g = p["gradients"]
    passed = sum(g["gradcheck"].values())
    return _Measured(
        passed == len(g["gradcheck"]) and min(g["max_abs_error"]) < 1e-7,
        f"gradcheck passed {passed}/{len(g['gradcheck'])}; max |FD − autograd| down to "
        f"{min(g['max_abs_error']):.1e}",
        f"a random {g['n']}-point cloud in {g['dim']}-D with distinct pairwise distances, float64",
        "no training",
    )


def _batch_size(p: Mapping[str, Any]) -> _Measured:
    rows = p["batch_size"]["rows"]
    train_b = p["recipe"]["batch_size"]
    best = max(rows, key=lambda r: r["frac_within"])
    shown = [r for r in rows if r in (rows[0], best, rows[-1]) or r["B"] == train_b]
    return _Measured(
        _decreasing([r["mean"] for r in rows]) and best["B"] == train_b,
        f"within η ± {p['recipe']['within']:g}: "
        + ", ".join(f"{100 * r['frac_within']:.0f} % at B = {r['B']}" for r in shown)
        + f"; mean death time {rows[0]['mean']:.2f} → {rows[-1]['mean']:.2f}",
        *_mnist(p),
    )


def _densification(p: Mapping[str, Any]) -> _Measured:
    eta = p["recipe"]["eta"]
    rows = p["densification"]["20"]["rows"]
    above = [r for r in rows if r["N"] > p["recipe"]["batch_size"]]
    return _Measured(
        _decreasing([r["median"] for r in rows])
        and bool(above)
        and all(r["median"] < eta for r in above),
        f"λ = 20 median NN distance {rows[0]['median']:.2f} at N = {rows[0]['N']} → "
        f"{rows[-1]['median']:.2f} at N = {rows[-1]['N']} (η = {eta:g})",
        *_mnist(p),
    )


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
        seeds=1,
        best="partly",
        measure=_toy,
    ),
    _Spec(
        claim="Trained with the connectivity loss (λ = 20), an autoencoder's latent death times "
        "concentrate at η.",
        rule="On held-out batches of 100 test codes: the λ = 20 mean lies within η ± 0.5, more "
        "than half of its death times lie within η ± 0.5, and a larger share than at λ = 0. "
        f"{_ONE_SEED}; not reproduced if any part fails.",
        section="connectivity-death-times",
        reference=_REFERENCE,
        seeds=1,
        best="partly",
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
        seeds=0,
        best="reproduced",
        measure=_differentiability,
    ),
    _Spec(
        claim="The training batch size B must suit the data (the paper's metric-entropy "
        "guideline): the loss sets the death times of batches of the size it was trained with.",
        rule="For the λ = 20 encoder on random test batches of each size B: the mean death time "
        "falls as B grows and the share within η ± 0.5 is largest at the training size B = 100. "
        f"{_ONE_SEED}; not reproduced otherwise. The metric-entropy bound itself is not "
        "computed.",
        section="connectivity-batch-size",
        reference=_REFERENCE,
        seeds=1,
        best="partly",
        measure=_batch_size,
    ),
    _Spec(
        claim="Densification: N > B embedded samples lie denser than a training batch, closer "
        "to each other than η.",
        rule="For the λ = 20 codes: the median within-branch nearest-neighbour ℓ1 distance "
        "falls as N grows and lies below η at every measured N above the training batch size "
        f"(at least one). {_ONE_SEED}; not reproduced otherwise.",
        section="connectivity-densification",
        reference=_REFERENCE,
        seeds=1,
        best="partly",
        measure=_densification,
    ),
)


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The chapter's rows of the scorecard, measured on the ``full`` profile's results.

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> the chapter's saved payload at that profile, or None.
    """
    payload = load("full")
    rows = []
    for spec in _SPECS:
        if payload is None:
            verdict, seen, seeds = "not run yet", _Measured(False, "–", "–", "–"), 0
        else:
            seen = spec.measure(payload)
            verdict, seeds = (spec.best if seen.holds else "not reproduced"), spec.seeds
        rows.append(
            scorecard.Claim(
                source="hofer2019",
                claim=spec.claim,
                verdict=verdict,
                rule=spec.rule,
                measured=seen.measured,
                anchor="",
                data=seen.data,
                budget=seen.budget,
                reference=spec.reference,
                seeds=seeds,
                chapter=CHAPTER,
                section=spec.section,
            )
        )
    return rows
