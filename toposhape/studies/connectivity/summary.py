"""The chapter's numbers across training seeds, and the rules that turn them into verdicts.

Everything here reads a results payload (:func:`toposhape.studies.connectivity.run.run`)
and returns plain numbers; :mod:`.report` and :mod:`.plots` format and draw them. The
verdict rules are fixed here, before the full profile's numbers exist:

* **Noise.** Two settings differ when their seed means differ by more than twice the
  pooled seed standard deviation, sqrt((s1² + s2²) / 2); otherwise they are within noise.
  With fewer than two seeds on either side there is no noise estimate and no verdict.
* **Batch-size guideline** (:func:`guideline`). The metric entropy N_η of the λ = 20 codes
  (greedy η-net size of the test codes, median over the 16 branches) should match the
  batch size: it holds if the log–log slope of N_η on B (per seed, then mean ± std over
  seeds) lies within 1 ± max(0.25, 2 std), and N_η / B lies within [1/3, 3] at every B.
* **Convergence** (:func:`convergence`). A λ = 20 run has converged if its training loss
  per death time, averaged over the last 5 epochs, differs by less than 2 % from its
  average over the 5 epochs before.
* **Densification** (:func:`densification`). The mean number of a class's training codes
  within η of the class's test codes grows with n for any encoder (for nested random
  samples its expectation is exactly linear in n). What would be specific to the loss is
  faster growth: the growth exponent α (least-squares slope of log mean count on log n, at
  n ≥ B) of λ = 20 at radius η must exceed that of λ = 0 at its calibrated radius (the
  scale at which its batches connect, as λ = 20's do at η) by more than twice the pooled
  seed std. (λ = 0 at radius η is shown, not judged: its codes live at a scale of their
  own, so there the count measures that scale.)
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.studies.connectivity.backbones import RECIPE

#: Convergence rule: epochs per window, and the largest relative change between windows.
CONVERGENCE_WINDOW = 5
CONVERGENCE_TOLERANCE = 0.02
#: Noise rule: a difference counts when it exceeds this many pooled seed stds.
NOISE_STDS = 2.0
#: Guideline rule: the slope of log N_η on log B must be within this of 1 (or 2 stds) ...
SLOPE_TOLERANCE = 0.25
#: ... and N_η / B within this range at every B.
RATIO_RANGE = (1 / 3, 3.0)


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


def compare(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Seed means of ``a`` minus ``b``, the pooled seed std and the noise rule's verdict.

    ``verdict`` is ``"higher"``, ``"lower"``, ``"within noise"`` or ``"too few seeds"``
    (fewer than two finite values on a side; NaNs, e.g. an exponent that could not be
    fitted, are left out).
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
    if abs(diff) > NOISE_STDS * pooled:
        verdict = "higher" if diff > 0 else "lower"
    return {"diff": diff, "pooled_std": pooled, "verdict": verdict}


def n_eta(model: Mapping[str, Any], size: int | None = None) -> float:
    """Median over branches of the greedy η-net size, at the largest sample (or ``size``)."""
    cov = model["covering"]
    k = len(cov["sizes"]) - 1 if size is None else cov["sizes"].index(size)
    return float(np.median(cov["per_branch"][k]))


def headline_n(payload: Mapping[str, Any]) -> int:
    """The n of the reference's main table (120), or the profile's middle n."""
    ns = check_mapping("payload", payload, "settings")["settings"]["ns"]
    return 120 if 120 in ns else ns[len(ns) // 2]


def auroc(model: Mapping[str, Any], n: int) -> float:
    """Mean one-class AUROC over classes at radius η with n inliers."""
    for row in model["auroc"]["rows"]:
        if row["n"] == n and row["radius"] == RECIPE["eta"]:
            return float(row["mean"])
    raise ValueError(f"the model has no AUROC at n = {n}")


#: Per-backbone measures of the sweep: key -> (label, function(payload, name)).
Measure = Callable[[Mapping[str, Any], str], float]


def _loss_per_death(payload: Mapping[str, Any], name: str) -> float:
    b = payload["backbones"][name]
    return b["history"][-1]["connectivity"] / (b["spec"]["batch_size"] - 1)


def measures(payload: Mapping[str, Any]) -> dict[str, tuple[str, Measure]]:
    """The sweep's measures, in table order (one AUROC per n of the profile)."""
    check_mapping("payload", payload, "settings", "models")
    out: dict[str, tuple[str, Measure]] = {
        "train_loss": ("L_η per death, last epoch (train)", _loss_per_death),
        "heldout_loss": (
            "mean |η − t|, held-out",
            lambda p, name: p["models"][name]["deaths"]["abs_gap"],
        ),
        "death_mean": ("death mean", lambda p, name: p["models"][name]["deaths"]["mean"]),
        "death_std": ("death std", lambda p, name: p["models"][name]["deaths"]["std"]),
        "frac_within": (
            f"share within η ± {RECIPE['within']:g}",
            lambda p, name: p["models"][name]["deaths"]["frac_within"],
        ),
    }
    for n in payload["settings"]["ns"]:
        out[f"auroc_{n}"] = (f"AUROC n = {n}", lambda p, name, n=n: auroc(p["models"][name], n))
    out["n_eta"] = ("N_η (η-net size)", lambda p, name: n_eta(p["models"][name]))
    out["n_eta_over_b"] = (
        "N_η / B",
        lambda p, name: n_eta(p["models"][name]) / p["backbones"][name]["spec"]["batch_size"],
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


def effects(payload: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every measure at every B against the reference B = 100, by the noise rule."""
    rows = sweep(payload)
    ref = next((r for r in rows if r["B"] == RECIPE["batch_size"]), None)
    out: dict[str, list[dict[str, Any]]] = {}
    for key in measures(payload):
        out[key] = [
            {"B": r["B"], **compare(r[key]["values"], ref[key]["values"])}
            for r in rows
            if ref is not None and r is not ref
        ]
    return out


def _slope(x: Sequence[float], y: Sequence[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def guideline(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The batch-size guideline's rule: slope of log N_η on log B, and N_η / B per B.

    Returns ``slopes`` (per seed with at least two batch sizes), ``slope`` (mean, std),
    ``ratios`` (B -> seed mean of N_η / B), ``slope_holds``, ``ratio_holds`` and
    ``verdict``: ``"holds"`` (both), ``"proportional only"`` (the slope), ``"fails"`` or
    ``"not measured"`` (fewer than two batch sizes).
    """
    by_seed: dict[int, list[tuple[int, float]]] = {}
    for b in batch_sizes(payload):
        for name in runs(payload, RECIPE["lam"], b):
            seed = payload["backbones"][name]["spec"]["seed"]
            by_seed.setdefault(seed, []).append((b, n_eta(payload["models"][name])))
    slopes = {
        seed: _slope(*zip(*pairs, strict=True)) for seed, pairs in by_seed.items() if len(pairs) > 1
    }
    mean, std, count = mean_std(list(slopes.values()))
    ratios = {r["B"]: r["n_eta_over_b"]["mean"] for r in sweep(payload)}
    out: dict[str, Any] = {"slopes": slopes, "slope": (mean, std), "ratios": ratios}
    if not count:
        return out | {"slope_holds": False, "ratio_holds": False, "verdict": "not measured"}
    tolerance = max(SLOPE_TOLERANCE, NOISE_STDS * std) if count > 1 else SLOPE_TOLERANCE
    slope_holds = abs(mean - 1.0) <= tolerance
    ratio_holds = all(RATIO_RANGE[0] <= r <= RATIO_RANGE[1] for r in ratios.values())
    verdict = "fails"
    if slope_holds:
        verdict = "holds" if ratio_holds else "proportional only"
    return out | {"slope_holds": slope_holds, "ratio_holds": ratio_holds, "verdict": verdict}


#: Densification variants: label -> (λ, index of the radius: 0 = η, 1 = calibrated).
VARIANTS: dict[str, tuple[float, int]] = {
    "λ = 20, r = η": (RECIPE["lam"], 0),
    "λ = 0, r = η": (0.0, 0),
    "λ = 0, r = calibrated": (0.0, 1),
    "λ = 20, r = calibrated": (RECIPE["lam"], 1),
}


def growth(ns: Sequence[int], counts: Sequence[float], start: int) -> float:
    """Slope of log count on log n over the n ≥ ``start`` (nan with fewer than 2, or a 0)."""
    pairs = [(n, c) for n, c in zip(ns, counts, strict=True) if n >= start]
    if len(pairs) < 2 or any(c <= 0 for _, c in pairs):
        return math.nan
    return _slope(*zip(*pairs, strict=True))


def densification(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Per variant (:data:`VARIANTS`): the growth exponent α, the counts and the coverage.

    Per backbone, the counts are averaged over the classes; ``per_seed`` keeps each
    backbone's curve, ``alpha`` the seeds' exponents, ``alpha_by_class`` the exponent of
    each class (per seed). ``test`` compares λ = 20 at η with λ = 0 at its calibrated
    radius (:func:`compare`), and ``verdict`` applies the rule of this module: ``"faster"``,
    ``"slower"``, ``"within noise"`` or ``"too few seeds"``.
    """
    b = RECIPE["batch_size"]
    out: dict[str, Any] = {"B": b, "variants": {}}
    for label, (lam, k) in VARIANTS.items():
        curves, alphas, by_class, radii = [], [], [], []
        for name in runs(payload, lam, b):
            d = payload["models"][name]["densification"]
            counts = np.asarray(d["mean_count"][k])  # (classes, ns)
            cover = np.asarray(d["coverage"][k])
            curve = counts.mean(axis=0)
            curves.append(
                {"seed": payload["backbones"][name]["spec"]["seed"], "mean_count": curve.tolist(),
                 "coverage": cover.mean(axis=0).tolist()}
            )  # fmt: skip
            alphas.append(growth(d["ns"], curve, b))
            by_class.append([growth(d["ns"], row, b) for row in counts])
            radii.append(d["radii"][k])
            out["ns"], out["classes"] = d["ns"], d["classes"]
        out["variants"][label] = {
            "per_seed": curves,
            "alpha": alphas,
            "alpha_by_class": by_class,
            "radii": radii,
        }
    v = out["variants"]
    out["test"] = compare(v["λ = 20, r = η"]["alpha"], v["λ = 0, r = calibrated"]["alpha"])
    words = {"higher": "faster", "lower": "slower"}
    out["verdict"] = words.get(out["test"]["verdict"], out["test"]["verdict"])
    return out


def death_times(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Held-out death times at B = 100 per seed, λ = 20 and λ = 0, and the claim's rule.

    The rule holds in a seed if the λ = 20 mean lies within η ± ``within``, more than half
    of its death times lie there, and a larger share than λ = 0's of the same seed.
    """
    b, eta, within = RECIPE["batch_size"], RECIPE["eta"], RECIPE["within"]
    seeds: dict[int, dict[str, Any]] = {}
    for lam in (RECIPE["lam"], 0.0):
        for name in runs(payload, lam, b):
            seed = payload["backbones"][name]["spec"]["seed"]
            seeds.setdefault(seed, {})[f"{lam:g}"] = payload["models"][name]["deaths"]
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
