"""The chapter's numbers across training seeds, and the rules that turn them into verdicts.

Everything here reads a results payload (:func:`toposhape.studies.connectivity.run.run`)
and returns plain numbers; :mod:`.report` and :mod:`.plots` format and draw them. The
verdict rules are fixed here, before the full profile's numbers exist:

* **Noise.** Two settings differ when their seed means differ by more than twice the
  pooled seed standard deviation, sqrt((s1² + s2²) / 2), and, for shares (ball mass,
  coverage, class purity, share of death times within η ± 0.5, AUROC), by more than 0.02
  absolute (:data:`SHARE_FLOOR`: a difference of a few thousandths near the ceiling is not
  an effect, however small the seeds' spread); otherwise they are within noise. With fewer
  than two seeds on either side there is no noise estimate and no verdict.
* **Batch-size guideline** (:func:`guideline`). The metric entropy of the λ = 20 codes
  should match the batch size. It is measured by the 90 % covering number k₀.₉ (greedy
  η-net of the largest sample of training codes, each code assigned to its nearest
  centre; the fewest centres, largest first, holding 90 % of the sample; median over the
  16 branches), not by the net's size N_η: N_η counts a ball for every stray code in the
  tails and grows with the sample on any cloud, even on ideal ones. k₀.₉ has *levelled
  off* at a B if the seed mean of its growth exponent between the last two sample sizes,
  log(k_last / k_before) / log(size_last / size_before), is below 0.1 (doubling the sample
  adds less than 7 %); otherwise it still depends on how many codes were sampled. The
  log–log slope of k₀.₉ on B is fitted per seed
  on the batch sizes *every* seed has (so that no seed's slope rests on other B than
  another's; fewer than two shared B: not measured), mean m ± std s over seeds (one seed:
  too few seeds, no verdict): it *holds* if 2 s ≤ 0.25 and |m − 1| ≤ 0.25, is *within
  noise* if 2 s > 0.25 and |m − 1| ≤ 2 s (the seeds cannot place it inside the
  tolerance), and fails otherwise. The guideline holds if the slope holds, k₀.₉ / B lies
  within [1/3, 3] at every B and k₀.₉ has levelled off at every B; it holds proportionally
  only if the slope holds but not both of the others; it is within noise if the slope is;
  it fails otherwise. The same rule is applied, shown and not judged, to ideal clouds
  calibrated so that their batches of B die at η (:func:`control`, :mod:`.control`): what
  it finds there follows from the calibration alone.
* **Convergence** (:func:`convergence`). A λ = 20 run has converged if its training loss
  per death time, averaged over the last 5 epochs, differs by less than 2 % from its
  average over the 5 epochs before.
* **Densification** (:func:`densification`). The claim is about a level: once a sample of
  N ≥ B codes of a class is embedded, the η-ball around a new code of the class holds some
  of them. (How the count grows with n says nothing: for nested random samples its
  expectation is n times the ball's mass, linear in n for any encoder.) Per B = 100
  backbone, averaged over the classes: the *ball mass*, mean count / n, the share of the
  class's training codes within r of its test codes (the same at every n in expectation;
  read at the largest n, where it is least noisy), and the *coverage at n = B*, the share
  of (test code, branch) pairs with at least one of the first B training codes of the
  class within r (at the smallest recorded n ≥ B). Both models are read at the same role
  of radius, their *calibrated* one: per backbone and branch, the mean death time of that
  branch's held-out batches of B test codes (the scale at which its batches connect; the
  branches of one encoder may live at different scales, so each has its own). λ = 20 at
  its calibrated radius is compared with λ = 0 at its calibrated radius by the noise rule
  (with the share floor), on both levels and on the *class purity* of the balls (the
  class's share of the training codes within r when every class contributes the same
  number), for "of their class": a ball that fills with codes of every class is not what
  the claim says. Densification is specific to the loss (*denser*) if λ = 20 is higher
  beyond noise on both levels and its purity is not lower beyond noise; *not denser* if
  its purity is lower beyond noise, or neither level is higher and one is lower beyond
  noise; *partly denser* if it is higher on one level only (purity not lower); *within
  noise* if neither level differs beyond noise (purity not lower). At its calibrated
  radius, the ball mass of *any* encoder is about c / B (the radius is where B codes
  connect), so these levels measure how tightly and how evenly a class's codes fill their
  region relative to that scale (class clustering and uniformity), not whether λ = 20
  packs more codes within a fixed η. The other two variants (λ = 20 at r = η, λ = 0 at
  r = η) are shown, neither compared nor judged; every λ = 20 batch size's curves
  at r = η are shown against n (:func:`densification_by_b`), not judged.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.deaths import share_within

#: Convergence rule: epochs per window, and the largest relative change between windows.
CONVERGENCE_WINDOW = 5
CONVERGENCE_TOLERANCE = 0.02
#: Noise rule: a difference counts when it exceeds this many pooled seed stds ...
NOISE_STDS = 2.0
#: ... and, for a share (a number in [0, 1]), this absolute difference.
SHARE_FLOOR = 0.02
#: Guideline rule: the share q of the codes whose covering number k_q is judged ...
COVER_SHARE = 0.9
#: ... the slope of log k_q on log B must be within this of 1 ...
SLOPE_TOLERANCE = 0.25
#: ... k_q / B within this range at every B ...
RATIO_RANGE = (1 / 3, 3.0)
#: ... and k_q levelled off: its growth exponent over the last two samples below this.
LEVEL_EXPONENT = 0.1
#: A death time "hits" η if it lies in [η − WITHIN, η + WITHIN] (read from the recorded
#: quantiles, :func:`frac_within`).
WITHIN = 0.5


def runs(payload: Mapping[str, Any], lam: float, batch_size: int) -> list[str]:
    """Names of the finished backbones of a setting, by training seed."""
    check_mapping("payload", payload, "backbones")
    found = [
        (b["spec"]["seed"], name)
        for name, b in payload["backbones"].items()
        if b["spec"]["lam"] == lam and b["spec"]["batch_size"] == batch_size
    ]
    return [name for _, name in sorted(found)]


def batch_sizes(payload: Mapping[str, Any]) -> list[int]:
    """The λ = 20 batch sizes with at least one finished backbone, ascending."""
    check_mapping("payload", payload, "backbones")
    return sorted(
        {b["spec"]["batch_size"] for b in payload["backbones"].values() if b["spec"]["lam"] > 0}
    )


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof 1; nan for one value) and count; (nan, nan, 0) when empty."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v)


def compare(a: Sequence[float], b: Sequence[float], floor: float = 0.0) -> dict[str, Any]:
    """Seed means of ``a`` minus ``b``, the pooled seed std and the noise rule's verdict.

    ``verdict`` is ``"higher"``, ``"lower"`` (the difference exceeds both
    :data:`NOISE_STDS` pooled seed stds and ``floor``, e.g. :data:`SHARE_FLOOR` for
    shares), ``"within noise"`` or ``"too few seeds"`` (fewer than two finite values on a
    side; NaNs, e.g. an exponent that could not be fitted, are left out).
    """
    a = [v for v in a if not math.isnan(v)]
    b = [v for v in b if not math.isnan(v)]
    ma, sa, na = mean_std(a)
    mb, sb, nb = mean_std(b)
    diff = ma - mb
    if na < 2 or nb < 2:
        return {"diff": diff, "pooled_std": math.nan, "verdict": "too few seeds"}
    pooled = math.sqrt((sa**2 + sb**2) / 2)
    verdict = "within noise"
    if abs(diff) > max(NOISE_STDS * pooled, floor):
        verdict = "higher" if diff > 0 else "lower"
    return {"diff": diff, "pooled_std": pooled, "verdict": verdict}


def cover_k(model: Mapping[str, Any], q: float = COVER_SHARE, size: int | None = None) -> float:
    """Median over branches of the partial covering number k_q, at the largest sample (or
    ``size``); q = 1 gives the η-net size N_η."""
    cov = model["covering"]
    i = len(cov["sizes"]) - 1 if size is None else cov["sizes"].index(size)
    return float(np.median(cov["k"][i][cov["quantiles"].index(q)]))


def cover_growth(model: Mapping[str, Any], q: float = COVER_SHARE) -> float:
    """Growth exponent of :func:`cover_k` between the last two sample sizes (nan with one).

    log(k_last / k_before) / log(size_last / size_before): 0 where k_q has levelled off,
    1 where it grows like the sample.
    """
    sizes = model["covering"]["sizes"]
    if len(sizes) < 2:
        return math.nan
    before, last = cover_k(model, q, sizes[-2]), cover_k(model, q, sizes[-1])
    return math.log(last / before) / math.log(sizes[-1] / sizes[-2])


def frac_within(deaths: Mapping[str, Any]) -> float:
    """Share of a record's held-out death times within η ± :data:`WITHIN` (to within 0.001)."""
    return share_within(deaths["quantiles"], RECIPE["eta"], WITHIN)


def headline_n(payload: Mapping[str, Any]) -> int:
    """The n of the reference's main table (120), or the profile's middle n."""
    ns = check_mapping("payload", payload, "settings")["settings"]["ns"]
    return 120 if 120 in ns else ns[len(ns) // 2]


def auroc(
    model: Mapping[str, Any], n: int, calibrated: bool = False, dataset: str | None = None
) -> float:
    """Mean one-class AUROC over classes with n inliers, at radius η or at the calibrated
    radii (one per branch); on MNIST, or on a transfer ``dataset`` (MNIST backbone)."""
    table = model["auroc"] if dataset is None else model["transfer"][dataset]["auroc"]
    for row in table["rows"]:
        if row["n"] == n and (
            isinstance(row["radius"], list) if calibrated else row["radius"] == RECIPE["eta"]
        ):
            return float(row["mean"])
    radius = "the calibrated radii" if calibrated else "η"
    raise ValueError(f"the model has no AUROC at n = {n} and {radius} on {dataset or 'MNIST'}")


#: Per-backbone measures of the sweep: key -> (label, function(payload, name)).
Measure = Callable[[Mapping[str, Any], str], float]


def _loss_per_death(payload: Mapping[str, Any], name: str) -> float:
    b = payload["backbones"][name]
    return b["history"][-1]["connectivity"] / (b["spec"]["batch_size"] - 1)


def measures(payload: Mapping[str, Any]) -> dict[str, tuple[str, Measure]]:
    """The sweep's measures, in table order (one AUROC per n of the profile)."""
    check_mapping("payload", payload, "settings", "models")
    out: dict[str, tuple[str, Measure]] = {
        "test_l1": (
            "test L1 (per image)",
            lambda p, name: p["models"][name]["test_reconstruction_l1"],
        ),
        "train_loss": ("L_η per death, last epoch (train)", _loss_per_death),
        "heldout_loss": (
            "mean |η − t|, held-out",
            lambda p, name: p["models"][name]["deaths"]["abs_gap"],
        ),
        "death_mean": ("death mean", lambda p, name: p["models"][name]["deaths"]["mean"]),
        "death_std": ("death std", lambda p, name: p["models"][name]["deaths"]["std"]),
        "frac_within": (
            f"share within η ± {WITHIN:g}",
            lambda p, name: frac_within(p["models"][name]["deaths"]),
        ),
    }
    for n in payload["settings"]["ns"]:
        out[f"auroc_{n}"] = (f"AUROC n = {n}", lambda p, name, n=n: auroc(p["models"][name], n))
    n = headline_n(payload)
    out[f"auroc_cal_{n}"] = (
        f"AUROC n = {n}, calibrated r",
        lambda p, name: auroc(p["models"][name], n, calibrated=True),
    )
    for data in payload["settings"]["transfer"]:
        for cal, text in ((False, "r = η"), (True, "calibrated r")):
            key = f"auroc_{data}{'_cal' if cal else ''}_{n}"
            out[key] = (
                f"AUROC {data} n = {n}, {text}",
                lambda p, name, d=data, c=cal: auroc(p["models"][name], n, c, d),
            )
    q = f"{COVER_SHARE:g}"
    out["cover_k"] = (f"k_{q} (covering number)", lambda p, name: cover_k(p["models"][name]))
    out["cover_growth"] = (
        f"k_{q} growth exponent, last two samples",
        lambda p, name: cover_growth(p["models"][name]),
    )
    out["cover_over_b"] = (
        f"k_{q} / B",
        lambda p, name: cover_k(p["models"][name]) / p["backbones"][name]["spec"]["batch_size"],
    )
    return out


def sweep(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per λ = 20 batch size: seeds, and per measure its values, mean and std."""
    found = measures(payload)
    rows = []
    for b in batch_sizes(payload):
        names = runs(payload, RECIPE["lam"], b)
        row: dict[str, Any] = {
            "B": b,
            "seeds": [payload["backbones"][n]["spec"]["seed"] for n in names],
        }
        for key, (_, fn) in found.items():
            values = [fn(payload, name) for name in names]
            mean, std, _ = mean_std(values)
            row[key] = {"values": values, "mean": mean, "std": std}
        rows.append(row)
    return rows


def is_share(key: str) -> bool:
    """Whether a measure of :func:`measures` is a share (compared with :data:`SHARE_FLOOR`)."""
    return key == "frac_within" or key.startswith("auroc_")


def effects(payload: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every measure at every B against the reference B = 100, by the noise rule (shares,
    :func:`is_share`, with the floor :data:`SHARE_FLOOR`)."""
    rows = sweep(payload)
    ref = next((r for r in rows if r["B"] == RECIPE["batch_size"]), None)
    out: dict[str, list[dict[str, Any]]] = {}
    for key in measures(payload):
        out[key] = [
            {
                "B": r["B"],
                **compare(
                    r[key]["values"], ref[key]["values"], SHARE_FLOOR if is_share(key) else 0.0
                ),
            }
            for r in rows
            if ref is not None and r is not ref
        ]
    return out


def _slope(x: Sequence[float], y: Sequence[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _slope_test(mean: float, std: float, count: int) -> str:
    """The guideline's slope rule: ``"holds"``, ``"within noise"``, ``"fails"`` or
    ``"too few seeds"`` (fewer than two slopes: no noise estimate)."""
    if count < 2:
        return "too few seeds"
    noise = NOISE_STDS * std
    if noise > SLOPE_TOLERANCE:
        return "within noise" if abs(mean - 1.0) <= noise else "fails"
    return "holds" if abs(mean - 1.0) <= SLOPE_TOLERANCE else "fails"


def covering_rule(cells: Mapping[int, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """The batch-size guideline's rule on covering records ``cells[seed][B]`` (anything with
    a ``covering`` entry: a trained backbone's record, or an ideal cloud's,
    :mod:`.control`); k₀.₉ is :func:`cover_k` at :data:`COVER_SHARE`.

    Returns ``slope_bs`` (the batch sizes every seed has, on which each seed's slope is
    fitted), ``slopes`` (per seed, when there are two such B at least), ``slope`` (mean, std),
    ``slope_by_size`` (sample size -> seed mean of the slope fitted on k₀.₉ of that sample;
    shown, not judged), ``slope_test`` (:func:`_slope_test`; ``"not measured"`` without
    slopes), ``seeds`` (B -> the seeds that have it), ``ratios`` (B -> seed mean of
    k₀.₉ / B), ``growth`` (B -> seed mean of :func:`cover_growth`), ``ratio_holds``,
    ``levelled`` (k₀.₉ levelled off at every B) and ``verdict``: ``"holds"``,
    ``"proportional only"``, ``"within noise"``, ``"fails"``, ``"too few seeds"`` (one
    slope) or ``"not measured"`` (fewer than two batch sizes that every seed has).
    """
    shared = sorted(set.intersection(*(set(v) for v in cells.values()))) if cells else []
    slopes: dict[int, float] = {}
    by_size: dict[int, list[float]] = {}
    for seed, by_b in cells.items() if len(shared) > 1 else ():
        slopes[seed] = _slope(shared, [cover_k(by_b[b]) for b in shared])
        for size in by_b[shared[0]]["covering"]["sizes"]:
            k = [cover_k(by_b[b], size=size) for b in shared]
            by_size.setdefault(size, []).append(_slope(shared, k))
    mean, std, count = mean_std(list(slopes.values()))
    sizes = sorted({b for by_b in cells.values() for b in by_b})
    seeds = {b: sorted(s for s, by_b in cells.items() if b in by_b) for b in sizes}
    ratios = {b: mean_std([cover_k(cells[s][b]) / b for s in seeds[b]])[0] for b in sizes}
    growth = {b: mean_std([cover_growth(cells[s][b]) for s in seeds[b]])[0] for b in sizes}
    ratio_holds = all(RATIO_RANGE[0] <= r <= RATIO_RANGE[1] for r in ratios.values())
    levelled = bool(growth) and all(g < LEVEL_EXPONENT for g in growth.values())  # nan: no
    out: dict[str, Any] = {
        "slope_bs": shared, "slopes": slopes, "slope": (mean, std),
        "slope_by_size": {size: mean_std(v)[0] for size, v in by_size.items()},
        "seeds": seeds, "ratios": ratios, "growth": growth,
        "ratio_holds": ratio_holds, "levelled": levelled,
    }  # fmt: skip
    if not count:
        return out | {"slope_test": "not measured", "verdict": "not measured"}
    test = _slope_test(mean, std, count)
    verdict = {"within noise": "within noise", "fails": "fails"}.get(test, test)
    if test == "holds":
        verdict = "holds" if ratio_holds and levelled else "proportional only"
    return out | {"slope_test": test, "verdict": verdict}


def guideline(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The batch-size guideline's rule (:func:`covering_rule`) on the λ = 20 backbones."""
    cells: dict[int, dict[int, Mapping[str, Any]]] = {}
    for b in batch_sizes(payload):
        for name in runs(payload, RECIPE["lam"], b):
            seed = payload["backbones"][name]["spec"]["seed"]
            cells.setdefault(seed, {})[b] = payload["models"][name]
    return covering_rule(cells)


def control(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The guideline's rule on each ideal cloud of the control (:mod:`.control`), shown next
    to :func:`guideline`, not judged: cloud -> :func:`covering_rule`'s result, with the
    cloud's ``label`` and ``death_means`` (the calibrated batches' mean death times)."""
    check_mapping("payload", payload, "control")
    c = payload["control"]
    out = {}
    for kind, label in c["clouds"].items():
        mine = [r for r in c["runs"] if r["cloud"] == kind]
        cells: dict[int, dict[int, Mapping[str, Any]]] = {}
        for r in mine:
            cells.setdefault(r["seed"], {})[r["B"]] = r
        out[kind] = covering_rule(cells) | {
            "label": f"{label}, {c['dim']}-D",
            "death_means": [r["death_mean"] for r in mine],
        }
    return out


#: Densification variants: label -> (λ, index of the radius: 0 = η, 1 = calibrated).
VARIANTS: dict[str, tuple[float, int]] = {
    "λ = 20, r = η": (RECIPE["lam"], 0),
    "λ = 0, r = η": (0.0, 0),
    "λ = 0, r = calibrated": (0.0, 1),
    "λ = 20, r = calibrated": (RECIPE["lam"], 1),
}
#: The densification rule's comparison: each model at its own calibrated radii (per branch).
DENSITY_PAIR = ("λ = 20, r = calibrated", "λ = 0, r = calibrated")
#: Per-backbone levels of densification: key -> label. The rule judges :data:`JUDGED`,
#: guarded by :data:`GUARD`; the coverage at the largest n is shown.
LEVELS = {
    "coverage_at_b": "coverage at n = B",
    "mass": "ball mass (count / n), largest n",
    "coverage_last": "coverage, largest n",
    "purity": "class purity",
}
JUDGED = ("coverage_at_b", "mass")
GUARD = "purity"


def reference_n(ns: Sequence[int], batch_size: int) -> int:
    """The n the coverage is judged at: the smallest of ``ns`` ≥ B (the largest if none is)."""
    return min((n for n in ns if n >= batch_size), default=max(ns))


def _purity(purity: Mapping[str, Any], k: int) -> float:
    """Mean over classes of own / all at radius ``k`` (classes with empty balls left out)."""
    own, every = np.asarray(purity["own"][k]), np.asarray(purity["all"][k])
    shares = own[every > 0] / every[every > 0]
    return float(shares.mean()) if len(shares) else math.nan


def _levels(d: Mapping[str, Any], k: int, batch_size: int) -> dict[str, Any]:
    """One backbone's densification at radius ``k``: curves over n, the levels, per class."""
    ns = d["ns"]
    mass = np.asarray(d["mean_count"][k]) / np.asarray(ns, dtype=np.float64)  # (classes, ns)
    cover = np.asarray(d["coverage"][k])
    at_b = ns.index(reference_n(ns, batch_size))
    return {
        "mass_curve": mass.mean(axis=0).tolist(),
        "coverage_curve": cover.mean(axis=0).tolist(),
        "coverage_at_b": float(cover[:, at_b].mean()),
        "mass": float(mass[:, -1].mean()),
        "coverage_last": float(cover[:, -1].mean()),
        "purity": _purity(d["purity"], k),
        "by_class": {"coverage_at_b": cover[:, at_b].tolist(), "mass": mass[:, -1].tolist()},
    }


def density_verdict(tests: Mapping[str, Mapping[str, Any]]) -> str:
    """The densification rule on the :func:`compare` results of :data:`JUDGED` and
    :data:`GUARD`.

    ``"too few seeds"`` (on a level), ``"not denser"`` (the purity lower beyond noise, or
    neither level higher and one lower), ``"denser"`` (higher beyond noise on both levels),
    ``"partly denser"`` (higher on one level) or ``"within noise"`` (neither level differs
    beyond noise).
    """
    outcomes = [tests[key]["verdict"] for key in JUDGED]
    if "too few seeds" in outcomes:
        return "too few seeds"
    if tests[GUARD]["verdict"] == "lower":
        return "not denser"
    higher = outcomes.count("higher")
    if higher == len(outcomes):
        return "denser"
    if higher:
        return "partly denser"
    return "not denser" if "lower" in outcomes else "within noise"


def densification(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Per variant (:data:`VARIANTS`): the levels of :data:`LEVELS` per seed, and the rule.

    ``variants[label]`` holds ``per_seed`` (each backbone's seed, radius (the mean over
    branches of the radii it was read at), ``mass_curve``
    and ``coverage_curve`` over ``ns``, its levels and ``by_class``), ``radii`` and, per
    key of :data:`LEVELS`, the list of the seeds' values. ``tests`` compares
    :data:`DENSITY_PAIR` on every level (:func:`compare`, with :data:`SHARE_FLOOR`);
    ``verdict`` is
    :func:`density_verdict`'s. ``ns``, ``n_at_b`` (:func:`reference_n`), ``purity_n`` and
    ``classes`` come with the first backbone.
    """
    b = RECIPE["batch_size"]
    out: dict[str, Any] = {"B": b, "variants": {}}
    for label, (lam, k) in VARIANTS.items():
        per_seed = []
        for name in runs(payload, lam, b):
            d = payload["models"][name]["densification"]
            seed = payload["backbones"][name]["spec"]["seed"]
            radius = float(np.mean(d["radii"][k]))
            per_seed.append({"seed": seed, "radius": radius} | _levels(d, k, b))
            out |= {"ns": d["ns"], "n_at_b": reference_n(d["ns"], b), "classes": d["classes"],
                    "purity_n": d["purity"]["n"]}  # fmt: skip
        out["variants"][label] = {
            "per_seed": per_seed,
            "radii": [s["radius"] for s in per_seed],
            **{key: [s[key] for s in per_seed] for key in LEVELS},
        }
    ours, theirs = (out["variants"][label] for label in DENSITY_PAIR)
    out["tests"] = {key: compare(ours[key], theirs[key], SHARE_FLOOR) for key in LEVELS}
    out["verdict"] = density_verdict(out["tests"])
    return out


def densification_by_b(payload: Mapping[str, Any], k: int = 0) -> dict[str, Any]:
    """Every λ = 20 batch size's densification curves at radius ``k`` (0: η, 1: calibrated).

    ``ns`` (of the first backbone) and ``curves``: B -> ``mass_curve`` and
    ``coverage_curve`` over ``ns`` (seed means) and ``seeds``. Shown against n with a mark
    at n = B (does the coverage rise once n passes B?), not judged.
    """
    out: dict[str, Any] = {"curves": {}}
    for b in batch_sizes(payload):
        levels = []
        for name in runs(payload, RECIPE["lam"], b):
            d = payload["models"][name]["densification"]
            out.setdefault("ns", d["ns"])
            levels.append(_levels(d, k, b))
        out["curves"][b] = {
            key: np.mean([s[key] for s in levels], axis=0).tolist()
            for key in ("mass_curve", "coverage_curve")
        } | {"seeds": len(levels)}
    return out


def death_times(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Held-out death times at B = 100 per seed, λ = 20 and λ = 0, and the claim's rule.

    The rule holds in a seed if the λ = 20 mean lies within η ± :data:`WITHIN`, more than half
    of its death times lie there, and a larger share than λ = 0's of the same seed.
    """
    b, eta, within = RECIPE["batch_size"], RECIPE["eta"], WITHIN
    seeds: dict[int, dict[str, Any]] = {}
    for lam in (RECIPE["lam"], 0.0):
        for name in runs(payload, lam, b):
            seed = payload["backbones"][name]["spec"]["seed"]
            deaths = payload["models"][name]["deaths"]
            seeds.setdefault(seed, {})[f"{lam:g}"] = deaths | {"frac_within": frac_within(deaths)}
    rows = []
    for seed, d in sorted(seeds.items()):
        if len(d) < 2:
            continue
        d20, d0 = d[f"{RECIPE['lam']:g}"], d["0"]
        holds = (
            abs(d20["mean"] - eta) <= within
            and d20["frac_within"] > 0.5
            and d20["frac_within"] > d0["frac_within"]
        )
        rows.append({"seed": seed, "20": d20, "0": d0, "holds": holds})
    return {"rows": rows, "holds": bool(rows) and all(r["holds"] for r in rows)}


def _window_change(values: Sequence[float]) -> float:
    """|mean of the last window − mean of the window before| / |mean of the last| (or nan)."""
    w = CONVERGENCE_WINDOW
    if len(values) < 2 * w:
        return math.nan
    last, before = float(np.mean(values[-w:])), float(np.mean(values[-2 * w : -w]))
    return abs(last - before) / abs(last) if last else math.nan


def convergence(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The convergence rule for every λ = 20 backbone, and the reconstruction's change.

    ``rows`` (one per backbone: name, B, seed, ``loss_change`` and
    ``reconstruction_change``, relative, between the last two windows of epochs, and
    ``converged``) and ``verdict``: ``"all converged"``, ``"not all converged"`` or
    ``"too few epochs"`` (fewer than two windows).
    """
    check_mapping("payload", payload, "backbones")
    rows = []
    for name, b in payload["backbones"].items():
        if b["spec"]["lam"] == 0:
            continue
        hist, size = b["history"], b["spec"]["batch_size"]
        change = _window_change([h["connectivity"] / (size - 1) for h in hist])
        rows.append(
            {
                "name": name,
                "B": size,
                "seed": b["spec"]["seed"],
                "loss_change": change,
                "reconstruction_change": _window_change([h["reconstruction_l1"] for h in hist]),
                "converged": change < CONVERGENCE_TOLERANCE,
            }
        )
    if not rows or any(math.isnan(r["loss_change"]) for r in rows):
        verdict = "too few epochs"
    else:
        verdict = "all converged" if all(r["converged"] for r in rows) else "not all converged"
    return {"rows": rows, "verdict": verdict}
