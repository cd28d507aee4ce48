"""Tables, figures and findings of the one-class chapter, from a results payload only.

:mod:`toposhape.oneclass_study` runs the experiments and writes the payload; this module
turns a payload (computed now or loaded from ``results/oneclass/<profile>.json``) into what
the chapter shows, so a figure can be changed without touching an experiment.

Every AUROC is summarised over **training seeds**: the mean over seeds of the class-averaged
AUROC, the standard deviation across seeds (sample std, ``ddof = 1``), and beside it the
reference's own ± (the per-class std over the 5 inlier draws, averaged over classes, then
over seeds). Comparisons follow one noise rule, fixed before any natural-image number was
seen (:func:`verdict`).

Every function checks the parts of the payload it reads before any work (a NaN AUROC, a
missing field or a value of the wrong type) and raises ``TypeError`` / ``ValueError``
naming the field, e.g. ``payload['evaluations'][3]['rows'][0]['mean']``: a table never
shows ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from toposhape.checks import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_sequence,
)
from toposhape.image_sets import DISPLAY_NAMES, IMAGE_SETS
from toposhape.oneclass_study import ANCHORS, BASELINES, CIFAR_COMMAND, RECIPE, check_settings
from toposhape.training import history_seconds

#: A difference is "clear" when it exceeds this many standard errors of the difference of
#: seed means (about a 95 % normal interval); otherwise it is "within noise".
NOISE_SE = 2.0

#: Cells of the paper's Table 1 that cannot be run offline (data not obtainable).
UNOBTAINABLE = ("cifar20", "cifar100", "imagenet")

# Evaluation kinds and splits of the payload's evaluations, and the splits of its datasets.
_KINDS = ("main", "ablation", "large_n", "jpeg")
_EVAL_SPLITS = ("test", "test-jpeg1000", "test-png")
_DATA_SPLITS = ("train", "test", "test-png")

# The profile settings the report reads.
_SETTINGS = (
    "datasets",
    "eval_datasets",
    "ns",
    "ablation_dataset",
    "ablation_evals",
    "lambdas",
    "radii",
    "large_n",
    "baseline_sets",
)


# ---------------------------------------------------------------------------
# Checks of a payload: each function checks the parts it reads, before any work
# ---------------------------------------------------------------------------


def _mapping(name: str, value: object, keys: Sequence[str] = ()) -> Mapping[str, Any]:
    """``value`` if it is a mapping holding ``keys``; TypeError / ValueError naming it."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{name} lacks {missing}")
    return value


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


def _array(name: str, value: object, ndim: int, integer: bool = False) -> np.ndarray:
    """A nested list of finite numbers as an ndarray with ``ndim`` dimensions, ≥ 1 row."""
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged
        raise ValueError(f"{name} must be a rectangular array of numbers") from exc
    array = check_array(name, array, ndim, integer=integer)
    if integer and (array < 0).any():
        raise ValueError(f"{name} must hold counts >= 0")
    return array


def _check_rows(name: str, rows: object, radius: bool) -> None:
    check_sequence(name, rows, nonempty=False)
    for j, row in enumerate(rows):
        at = f"{name}[{j}]"
        _mapping(at, row, ("n", "mean", "std", *(("radius",) if radius else ())))
        check_int(f"{at}['n']", row["n"], 1)
        check_float(f"{at}['mean']", row["mean"], 0.0, 1.0)
        check_float(f"{at}['std']", row["std"], 0.0)
        if radius:
            check_float(f"{at}['radius']", row["radius"], 0.0, low_open=True)


def _check_evaluations(evaluations: object) -> None:
    name = "payload['evaluations']"
    check_sequence(name, evaluations, nonempty=False)
    for i, entry in enumerate(evaluations):
        at = f"{name}[{i}]"
        _mapping(at, entry, ("setting", "eval", "kind", "split", "spec", "rows", "test_images"))
        _string(f"{at}['setting']", entry["setting"])
        _string(f"{at}['eval']", entry["eval"])
        check_choice(f"{at}['kind']", entry["kind"], _KINDS)
        check_choice(f"{at}['split']", entry["split"], _EVAL_SPLITS)
        spec = _mapping(f"{at}['spec']", entry["spec"], ("seed",))
        check_int(f"{at}['spec']['seed']", spec["seed"], 0)
        check_int(f"{at}['test_images']", entry["test_images"], 1)
        if entry.get("calibrated_radius") is not None:
            check_float(
                f"{at}['calibrated_radius']", entry["calibrated_radius"], 0.0, low_open=True
            )
        _check_rows(f"{at}['rows']", entry["rows"], radius=True)


def _check_baselines(baselines: object) -> None:
    name = "payload['baselines']"
    check_sequence(name, baselines, nonempty=False)
    for i, entry in enumerate(baselines):
        at = f"{name}[{i}]"
        _mapping(at, entry, ("method", "eval", "rows"))
        check_choice(f"{at}['method']", entry["method"], tuple(BASELINES))
        _string(f"{at}['eval']", entry["eval"])
        _check_rows(f"{at}['rows']", entry["rows"], radius=False)


def _check_backbones(backbones: object) -> None:
    name = "payload['backbones']"
    for key, backbone in _mapping(name, backbones).items():
        at = f"{name}[{key!r}]"
        _mapping(at, backbone, ("spec", "setting", "history", "deaths"))
        _string(f"{at}['setting']", backbone["setting"])
        spec = _mapping(f"{at}['spec']", backbone["spec"], ("dataset", "lam", "branches", "seed"))
        _string(f"{at}['spec']['dataset']", spec["dataset"])
        check_float(f"{at}['spec']['lam']", spec["lam"], 0.0)
        check_int(f"{at}['spec']['branches']", spec["branches"], 1)
        check_int(f"{at}['spec']['seed']", spec["seed"], 0)
        check_sequence(f"{at}['history']", backbone["history"])
        for e, epoch in enumerate(backbone["history"]):
            where = f"{at}['history'][{e}]"
            keys = ("epoch", "seconds", "reconstruction_l1", "connectivity", "death_mean")
            _mapping(where, epoch, keys)
            check_int(f"{where}['epoch']", epoch["epoch"], 1)
            for key in keys[1:]:
                check_float(f"{where}[{key!r}]", epoch[key], 0.0)
        where = f"{at}['deaths']"
        keys = ("mean", "frac_within", "cv", "per_branch_mean", "histogram")
        deaths = _mapping(where, backbone["deaths"], keys)
        check_float(f"{where}['mean']", deaths["mean"], 0.0)
        check_float(f"{where}['frac_within']", deaths["frac_within"], 0.0, 1.0)
        check_float(f"{where}['cv']", deaths["cv"], 0.0, allow_inf=True)
        _array(f"{where}['per_branch_mean']", deaths["per_branch_mean"], 1)
        histogram = _mapping(f"{where}['histogram']", deaths["histogram"], ("edges", "counts"))
        edges = _array(f"{where}['histogram']['edges']", histogram["edges"], 1)
        counts = _array(f"{where}['histogram']['counts']", histogram["counts"], 1, integer=True)
        if len(edges) != len(counts) + 1 or (np.diff(edges) < 0).any():
            raise ValueError(
                f"{where}['histogram'] must have increasing edges, one more than its counts"
            )


def _check_datasets(datasets: object) -> None:
    name = "payload['datasets']"
    for key, info in _mapping(name, datasets).items():
        at = f"{name}[{key!r}]"
        _mapping(at, info, ("labels", "records"))
        for split, label in _mapping(f"{at}['labels']", info["labels"]).items():
            _string(f"{at}['labels'][{split!r}]", label)
        for split, record in _mapping(f"{at}['records']", info["records"]).items():
            where = f"{at}['records'][{split!r}]"
            _mapping(f"{where}['formats']", _mapping(where, record, ("formats",))["formats"])


def _check_toy(toy: object) -> None:
    name = "payload['toy']"
    _mapping(name, toy, ("eta", "points", "xs", "ys", "counts"))
    check_float(f"{name}['eta']", toy["eta"], 0.0, low_open=True)
    points = _array(f"{name}['points']", toy["points"], 2)
    if points.shape[1] != 2:
        raise ValueError(f"{name}['points'] must have shape (n, 2), got {points.shape}")
    xs = _array(f"{name}['xs']", toy["xs"], 1)
    ys = _array(f"{name}['ys']", toy["ys"], 1)
    counts = _array(f"{name}['counts']", toy["counts"], 2, integer=True)
    if counts.shape != (len(ys), len(xs)):
        raise ValueError(
            f"{name}['counts'] must have shape (len(ys), len(xs)) = {(len(ys), len(xs))}, "
            f"got {counts.shape}"
        )


def _check_score_examples(examples: object) -> None:
    name = "payload['score_examples']"
    check_sequence(name, examples, nonempty=False)
    for i, example in enumerate(examples):
        at = f"{name}[{i}]"
        keys = ("backbone", "eval", "class", "n", "max_score", "inliers", "outliers")
        _mapping(at, example, keys)
        _string(f"{at}['backbone']", example["backbone"])
        _string(f"{at}['eval']", example["eval"])
        check_int(f"{at}['n']", example["n"], 1)
        check_int(f"{at}['max_score']", example["max_score"], 0)
        inliers = _array(f"{at}['inliers']", example["inliers"], 1, integer=True)
        outliers = _array(f"{at}['outliers']", example["outliers"], 1, integer=True)
        if len(inliers) != len(outliers):
            raise ValueError(f"{at}['inliers'] and ['outliers'] must have one length")


_PARTS = {
    "settings": lambda settings: check_settings(settings, _SETTINGS),
    "evaluations": _check_evaluations,
    "baselines": _check_baselines,
    "backbones": _check_backbones,
    "datasets": _check_datasets,
    "toy": _check_toy,
    "score_examples": _check_score_examples,
}


def _payload(payload: object, *parts: str) -> Mapping[str, Any]:
    """``payload`` if it is a mapping whose ``parts`` are well formed (numbers finite)."""
    _mapping("payload", payload, parts)
    for part in parts:
        _PARTS[part](payload[part])
    return payload


def _check_stats(name: str, stats: object, draw_std: bool = False) -> Mapping[str, Any]:
    """A summary of :func:`seed_stats` (``draw_std`` read if asked)."""
    keys = ("values", "mean", "seed_std", *(("draw_std",) if draw_std else ()))
    _mapping(name, stats, keys)
    for value in check_sequence(f"{name}['values']", stats["values"]):
        check_float(f"{name}['values']", value)
    check_float(f"{name}['mean']", stats["mean"])
    if stats["seed_std"] is not None:
        check_float(f"{name}['seed_std']", stats["seed_std"], 0.0)
    if draw_std:
        check_float(f"{name}['draw_std']", stats["draw_std"], 0.0)
    return stats


def dataset_name(name: str) -> str:
    """Display name of a dataset key (``cifar10`` → ``CIFAR-10``; other strings unchanged)."""
    return DISPLAY_NAMES.get(_string("name", name), name)


def setting_name(dataset: str, lam: float, branches: int = 16, branch_dim: int = 10) -> str:
    """The payload key of a backbone setting (all seeds), as ``BackboneSpec.setting``.

    ``dataset`` is one of :data:`~toposhape.image_sets.IMAGE_SETS`, ``lam`` ≥ 0 finite,
    ``branches`` and ``branch_dim`` ints ≥ 1.
    """
    check_choice("dataset", dataset, tuple(IMAGE_SETS))
    check_float("lam", lam, 0.0)
    check_int("branches", branches, 1)
    check_int("branch_dim", branch_dim, 1)
    return f"{dataset}-lam{lam:g}-{branches}x{branch_dim}"


def headline_n(payload: Mapping[str, Any]) -> int:
    """The n of the reference's main table (120), or the profile's middle n."""
    return _headline_n(_payload(payload, "settings"))


def _headline_n(payload: Mapping[str, Any]) -> int:
    ns = payload["settings"]["ns"]
    return 120 if 120 in ns else ns[len(ns) // 2]


def _row(entry: Mapping[str, Any], n: int, radius: float | str | None) -> dict | None:
    """The summary row of an evaluation at ``n`` and a radius (None: η; "calibrated")."""
    if radius is None:
        radius = RECIPE["eta"]
    elif radius == "calibrated":
        radius = entry.get("calibrated_radius")
        if radius is None:
            return None
    for row in entry["rows"]:
        if row["n"] == n and row["radius"] == radius:
            return row
    return None


def seed_stats(
    payload: Mapping[str, Any],
    setting: str,
    eval_name: str,
    n: int,
    radius: float | str | None = None,
    kind: str | Sequence[str] = ("main", "ablation"),
    split: str = "test",
) -> dict[str, Any] | None:
    """AUROC × 100 of one setting on one set, summarised over its training seeds.

    Parameters
    ----------
    payload : mapping
        Its ``evaluations`` are read (rows with finite AUROCs in [0, 1]).
    setting : str
        A backbone setting without seed, e.g. ``cifar10-lam20-16x10``.
    eval_name : str
    n : int
        ≥ 1.
    radius : float, "calibrated" or None
        A finite radius > 0; None is η; "calibrated" is each run's own calibrated radius.
    kind : str or sequence of str
        Evaluation kinds to read (``main``, ``ablation``, ``large_n``, ``jpeg``).
    split : str
        ``test``, or for ``jpeg`` the subset ``test-jpeg1000`` / ``test-png``.

    Returns
    -------
    dict or None
        ``values`` and ``seeds`` (one per training run), ``mean``, ``seed_std`` (None for
        one seed), ``draw_std`` (the reference's ±: per-class std over draws, averaged) and
        ``radii`` (the radius each run used); None when nothing matches.

    Raises
    ------
    TypeError, ValueError
        On a malformed payload or a bad argument, naming it.
    """
    _payload(payload, "evaluations")
    _string("setting", setting)
    _string("eval_name", eval_name)
    check_int("n", n, 1)
    if radius is not None and radius != "calibrated":
        if isinstance(radius, str):
            raise ValueError(f"radius must be a number, 'calibrated' or None, got {radius!r}")
        check_float("radius", radius, 0.0, low_open=True)
    if isinstance(kind, str):
        check_choice("kind", kind, _KINDS)
    else:
        for item in check_sequence("kind", kind):
            check_choice("kind", item, _KINDS)
    check_choice("split", split, _EVAL_SPLITS)
    return _seed_stats(payload, setting, eval_name, n, radius, kind, split)


def _seed_stats(
    payload: Mapping[str, Any],
    setting: str,
    eval_name: str,
    n: int,
    radius: float | str | None = None,
    kind: str | Sequence[str] = ("main", "ablation"),
    split: str = "test",
) -> dict[str, Any] | None:
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    values, seeds, draw_stds, radii = [], [], [], []
    for entry in payload["evaluations"]:
        if (
            entry["setting"] != setting
            or entry["eval"] != eval_name
            or entry["kind"] not in kinds
            or entry["split"] != split
        ):
            continue
        row = _row(entry, n, radius)
        if row is None:
            continue
        values.append(100 * row["mean"])
        draw_stds.append(100 * row["std"])
        seeds.append(entry["spec"]["seed"])
        radii.append(row["radius"])
    if not values:
        return None
    return {
        "values": values,
        "seeds": seeds,
        "mean": float(np.mean(values)),
        "seed_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "draw_std": float(np.mean(draw_stds)),
        "radii": radii,
    }


def fmt(stats: Mapping[str, Any] | None, draws: bool = True) -> str:
    """``mean ± seed std (draws ± d, k seeds)``, or a dash when there is nothing.

    ``stats`` is None or a summary of :func:`seed_stats` with finite numbers (``draw_std``
    is read if ``draws``).
    """
    check_bool("draws", draws)
    if stats is None:
        return "—"
    _check_stats("stats", stats, draw_std=draws)
    k = len(stats["values"])
    text = f"{stats['mean']:.2f}"
    text += f" ± {stats['seed_std']:.2f}" if stats["seed_std"] is not None else ""
    inner = [f"draws ± {stats['draw_std']:.2f}"] if draws else []
    inner.append(f"{k} seed{'s' if k > 1 else ''}")
    return f"{text} ({', '.join(inner)})"


def verdict(
    a: Mapping[str, Any], b: Mapping[str, Any], noise_std: float | None = None
) -> tuple[str, float, float | None]:
    """Is A above B? ``("yes" | "no" | "within noise" | "one seed", Δ, SE of Δ)``.

    The rule, fixed before the natural-image runs: with seed standard deviations s_A, s_B
    over k_A, k_B training runs, SE = sqrt(s_A²/k_A + s_B²/k_B); the answer is "yes" or "no"
    when |Δ| > :data:`NOISE_SE` · SE and "within noise" otherwise. A side with one run
    borrows ``noise_std`` (the seed std measured on a comparable multi-seed setting) as its
    s; without it the answer is "one seed" (no noise estimate).

    ``a`` and ``b`` are summaries of :func:`seed_stats` (``values``, ``mean``, ``seed_std``)
    with finite numbers; ``noise_std`` is None or finite ≥ 0.
    """
    _check_stats("a", a)
    _check_stats("b", b)
    if noise_std is not None:
        check_float("noise_std", noise_std, 0.0)
    delta = a["mean"] - b["mean"]
    terms = []
    for side in (a, b):
        std = side["seed_std"] if side["seed_std"] is not None else noise_std
        if std is None:
            return "one seed", delta, None
        terms.append(std**2 / len(side["values"]))
    se = math.sqrt(sum(terms))
    if abs(delta) <= NOISE_SE * se:
        return "within noise", delta, se
    return ("yes" if delta > 0 else "no"), delta, se


def _say(answer: str) -> str:
    return f"**{answer}**"


def scored_on(payload: Mapping[str, Any], name: str, split: str = "test") -> str:
    """Short label of the split a number was scored on, from its record: e.g.
    ``CIFAR-10 (JPEG test)``, ``TinyImageNet-200 (JPEG val)``, ``MNIST (test)``.

    ``payload``'s ``datasets`` are read; ``split`` is "train", "test" or "test-png".
    """
    _payload(payload, "datasets")
    _string("name", name)
    check_choice("split", split, _DATA_SPLITS)
    return _scored_on(payload, name, split)


def _scored_on(payload: Mapping[str, Any], name: str, split: str = "test") -> str:
    record = payload["datasets"].get(name, {}).get("records", {}).get(split)
    if record is None:
        return dataset_name(name)
    shown = "val" if name in ("tinyimagenet", "imagenet") and split == "test" else split
    lossy = "JPEG " if "JPEG" in record["formats"] else ""
    return f"{dataset_name(name)} ({lossy}{shown})"


def dataset_label(payload: Mapping[str, Any], name: str, split: str = "test") -> str:
    """What a number on ``name`` was computed on, from the dataset record (e.g. JPEG test).

    Arguments as in :func:`scored_on`.
    """
    _payload(payload, "datasets")
    _string("name", name)
    check_choice("split", split, _DATA_SPLITS)
    return _dataset_label(payload, name, split)


def _dataset_label(payload: Mapping[str, Any], name: str, split: str = "test") -> str:
    labels = payload["datasets"].get(name, {}).get("labels", {})
    return labels.get(split, dataset_name(name))


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def table1(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 1 cells that this payload can fill: anchor beside ours.

    One row per (backbone set → evaluation set) pair of the anchors whose two datasets the
    payload has: the anchor, our λ = 20 and λ = 0 backbones at η, λ = 20 at the calibrated
    radius (all at n = 120, mean ± seed std with the draws' ±), and the data read.
    """
    _payload(payload, "settings", "evaluations", "datasets")
    n0 = _headline_n(payload)
    rows = []
    for backbone, evals in ANCHORS["table1"].items():
        for eval_name, anchor in evals.items():
            if backbone not in payload["settings"]["datasets"]:
                continue
            if eval_name not in payload["settings"]["eval_datasets"]:
                continue
            lam20 = setting_name(backbone, RECIPE["lam"])
            rows.append(
                {
                    "backbone → one-class set": f"{dataset_name(backbone)} → "
                    f"{_scored_on(payload, eval_name)}",
                    "anchor (paper)": f"{anchor:.2f}",
                    "ours, λ = 20": fmt(_seed_stats(payload, lam20, eval_name, n0)),
                    "ours, λ = 0": fmt(
                        _seed_stats(payload, setting_name(backbone, 0.0), eval_name, n0)
                    ),
                    "λ = 20, calibrated radius": fmt(
                        _seed_stats(payload, lam20, eval_name, n0, "calibrated"), draws=False
                    ),
                    "data (trained on / scored)": (
                        f"{_dataset_label(payload, backbone, 'train')} / "
                        f"{_dataset_label(payload, eval_name)}"
                    ),
                }
            )
    return pd.DataFrame(rows)


def not_runnable_line(payload: Mapping[str, Any]) -> str:
    """One line naming the Table 1 cells this payload cannot fill, and why."""
    _payload(payload, "settings")
    have = set(payload["settings"]["datasets"]) | set(payload["settings"]["eval_datasets"])
    missing = [
        f"{dataset_name(b)} → {dataset_name(e)}"
        for b, evals in ANCHORS["table1"].items()
        for e in evals
        if b not in have or e not in have
    ]
    absent = sorted({dataset_name(d) for d in UNOBTAINABLE} | {dataset_name("cifar100")})
    return (
        f"Not run here ({len(missing)} of the paper's 15 cells): every cell that involves "
        f"{', '.join(absent)}, whose data cannot be obtained offline "
        f"(`{CIFAR_COMMAND}` runs them where the data exist)."
    )


def by_n_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """AUROC by number of inliers n, every λ = 20 / λ = 0 pair of the payload."""
    _payload(payload, "settings", "evaluations", "datasets")
    rows = []
    for backbone in payload["settings"]["datasets"]:
        for eval_name in payload["settings"]["eval_datasets"]:
            for lam in (RECIPE["lam"], 0.0):
                setting = setting_name(backbone, lam)
                row = {
                    "backbone → one-class set": f"{dataset_name(backbone)} → "
                    f"{_scored_on(payload, eval_name)}",
                    "λ": f"{lam:g}",
                }
                for n in payload["settings"]["ns"]:
                    row[f"n = {n}"] = fmt(_seed_stats(payload, setting, eval_name, n))
                rows.append(row)
    return pd.DataFrame(rows)


def jpeg_table(payload: Mapping[str, Any]) -> pd.DataFrame | None:
    """AUROC on the test images that exist both as JPEG and lossless PNG, same inliers.

    None when no evaluation set has such a subset (e.g. CIFAR-10 read from the pickles,
    whose test split is lossless to begin with).
    """
    _payload(payload, "settings", "evaluations")
    n0 = _headline_n(payload)
    rows = []
    for entry in payload["evaluations"]:
        if entry["kind"] != "jpeg" or entry["split"] != "test-png":
            continue
        setting, eval_name = entry["setting"], entry["eval"]
        if any(r["setting"] == setting and r["set"] == eval_name for r in rows):
            continue
        png = _seed_stats(payload, setting, eval_name, n0, kind="jpeg", split="test-png")
        jpg = _seed_stats(payload, setting, eval_name, n0, kind="jpeg", split="test-jpeg1000")
        if png is None or jpg is None:
            continue
        diffs = np.subtract(jpg["values"], png["values"])  # paired: same run, same inliers
        rows.append(
            {
                "setting": setting,
                "set": eval_name,
                "backbone": setting.replace("-16x10", ""),
                "JPEG (1000 test images)": fmt(jpg, draws=False),
                "lossless PNG (same 1000)": fmt(png, draws=False),
                "JPEG − PNG (paired, per run)": f"{diffs.mean():+.2f}"
                + (f" ± {diffs.std(ddof=1):.2f}" if len(diffs) > 1 else ""),
            }
        )
    if not rows:
        return None
    return pd.DataFrame(rows).drop(columns=["setting", "set"])


def baselines_table(payload: Mapping[str, Any], eval_name: str) -> pd.DataFrame:
    """Every method on one set in the same draws, at each n it was run."""
    _payload(payload, "settings", "evaluations", "baselines")
    _string("eval_name", eval_name)
    ns = payload["settings"]["ns"]
    rows = []
    for backbone in payload["settings"]["datasets"]:
        for lam in (RECIPE["lam"], 0.0):
            stats = {n: _seed_stats(payload, setting_name(backbone, lam), eval_name, n) for n in ns}
            if all(s is None for s in stats.values()):
                continue
            label = f"η-balls, autoencoder λ = {lam:g} trained on {dataset_name(backbone)}"
            rows.append({"method": label, **{f"n = {n}": fmt(stats[n]) for n in ns}})
    for entry in payload["baselines"]:
        if entry["eval"] != eval_name:
            continue
        row = {"method": BASELINES[entry["method"]]}
        for n in ns:
            found = [r for r in entry["rows"] if r["n"] == n]
            row[f"n = {n}"] = (
                f"{100 * found[0]['mean']:.2f} (draws ± {100 * found[0]['std']:.2f}, one run)"
                if found
                else "—"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def backbones_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Per backbone setting: runs, epochs, training time, final losses, held-out deaths."""
    _payload(payload, "backbones")
    groups: dict[str, list[dict]] = {}
    for b in payload["backbones"].values():
        groups.setdefault(b["setting"], []).append(b)
    rows = []
    for setting, runs in groups.items():
        last = [b["history"][-1] for b in runs]
        minutes = np.mean([history_seconds(b["history"]) for b in runs]) / 60
        within = 100 * np.mean([b["deaths"]["frac_within"] for b in runs])
        rows.append(
            {
                "setting": setting,
                "runs (seeds)": ", ".join(str(b["spec"]["seed"]) for b in runs),
                "epochs": len(runs[0]["history"]),
                "training (min per run)": f"{minutes:.1f}",
                "final L1 (per image)": f"{np.mean([x['reconstruction_l1'] for x in last]):.1f}",
                "final L_η": f"{np.mean([x['connectivity'] for x in last]):.2f}",
                "held-out death mean": f"{np.mean([b['deaths']['mean'] for b in runs]):.3f}",
                "within η ± 0.5": f"{within:.0f} %",
            }
        )
    return pd.DataFrame(rows)


def ablation_tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """λ, radius and branch ablations on the ablation set's evaluations, with the anchors.

    Returns
    -------
    dict
        ``lambda`` (n = headline and ``large_n`` if run), ``radius`` and ``branches``
        DataFrames; the anchor column is the paper's CIFAR-100 → CIFAR-10 (shape only).
    """
    _payload(payload, "settings", "evaluations", "datasets")
    n0 = _headline_n(payload)
    s = payload["settings"]
    ablation, large = s["ablation_dataset"], s["large_n"]
    out = {}
    lam_rows = []
    for lam in s["lambdas"]:
        row = {"λ": f"{lam:g}"}
        for e in s["ablation_evals"]:
            stats = _seed_stats(payload, setting_name(ablation, float(lam)), e, n0)
            row[f"{dataset_name(ablation)} → {_scored_on(payload, e)}, n = {n0}"] = fmt(stats)
            if large:
                big = _seed_stats(
                    payload, setting_name(ablation, float(lam)), e, large, kind="large_n"
                )
                row[f"… n = {large}"] = fmt(big, draws=False)
        row[f"anchor, n = {n0}"] = ANCHORS["lambda"]["values"].get(f"{lam:g}", "—")
        if large:
            row[f"anchor, n = {large}"] = ANCHORS["lambda_large_n"]["values"].get(f"{lam:g}", "—")
        lam_rows.append(row)
    out["lambda"] = pd.DataFrame(lam_rows)
    main = setting_name(ablation, RECIPE["lam"])
    radius_rows = []
    for r in s["radii"]:
        row = {"radius η'": f"{r:g}"}
        for e in s["ablation_evals"]:
            row[f"{dataset_name(ablation)} → {_scored_on(payload, e)}, n = {n0}"] = fmt(
                _seed_stats(payload, main, e, n0, float(r))
            )
        row["anchor"] = ANCHORS["radius"]["values"].get(f"{r:g}", "—")
        radius_rows.append(row)
    out["radius"] = pd.DataFrame(radius_rows)
    single = setting_name(ablation, RECIPE["lam"], 1, RECIPE["branches"] * RECIPE["branch_dim"])
    branch_rows = []
    for label, setting, anchor in (
        ("16 × 10 (λ = 20)", main, ANCHORS["lambda"]["values"]["20"]),
        ("1 × 160 (λ = 20)", single, ANCHORS["single_branch"]["lam20"]),
    ):
        row = {"latent": label}
        for e in s["ablation_evals"]:
            row[f"{dataset_name(ablation)} → {_scored_on(payload, e)}, n = {n0}"] = fmt(
                _seed_stats(payload, setting, e, n0)
            )
        row["anchor"] = anchor
        branch_rows.append(row)
    out["branches"] = pd.DataFrame(branch_rows)
    return out


# ---------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's claims, answered from ``payload`` with the noise rule of :func:`verdict`.

    Returns
    -------
    dict
        ``main`` (λ = 20 vs λ = 0 in-domain and in transfer; ours vs the baselines; the
        calibrated radius; distance to the anchors) and ``ablations`` (shape of the λ and
        radius curves against the anchor's, branches), lists of Markdown lines.
    """
    _payload(payload, "settings", "evaluations", "baselines", "backbones", "datasets")
    n0 = _headline_n(payload)
    s = payload["settings"]
    main, ablations = [], []
    for train in s["datasets"]:
        for e in s["eval_datasets"]:
            a = _seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0)
            b = _seed_stats(payload, setting_name(train, 0.0), e, n0)
            if a is None or b is None:
                continue
            kind = "same dataset" if train == e else "transfer"
            answer, delta, se = verdict(a, b)
            main.append(
                f"λ = 20 beats λ = 0 for {dataset_name(train)} → {_scored_on(payload, e)} ({kind}, "
                f"n = {n0}): {_say(answer)} ({a['mean']:.2f} vs {b['mean']:.2f}, "
                f"Δ = {delta:+.2f}" + (f", SE {se:.2f}" if se is not None else "") + ")."
            )
            c = _seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0, "calibrated")
            if c is not None:
                answer, delta, se = verdict(c, a)
                main.append(
                    f"The calibrated radius (mean {np.mean(c['radii']):.2f}) beats η = 2 for "
                    f"{dataset_name(train)} → {_scored_on(payload, e)}: {_say(answer)} "
                    f"({c['mean']:.2f} vs {a['mean']:.2f})."
                )
            anchor = ANCHORS["table1"].get(train, {}).get(e)
            if anchor is not None:
                main.append(
                    f"{dataset_name(train)} → {_scored_on(payload, e)}: ours {a['mean']:.2f} "
                    f"against the anchor {anchor:.2f} ({a['mean'] - anchor:+.2f})."
                )
    for train in s["datasets"]:
        spreads = {}
        for lam in (0.0, RECIPE["lam"]):
            runs = [
                b["deaths"]
                for b in payload["backbones"].values()
                if b["setting"] == setting_name(train, lam)
            ]
            if runs:
                spreads[lam] = (
                    np.mean([d["cv"] for d in runs]),
                    min(min(d["per_branch_mean"]) for d in runs),
                    max(max(d["per_branch_mean"]) for d in runs),
                )
        if len(spreads) == 2:
            (cv0, lo0, hi0), (cv20, lo20, hi20) = spreads[0.0], spreads[RECIPE["lam"]]
            main.append(
                f"Held-out death times of the {dataset_name(train)} backbones (batches of 100 "
                f"test codes): coefficient of variation {cv0:.2f} with λ = 0 against "
                f"{cv20:.2f} with λ = 20; the 16 branches' mean death times range from "
                f"{lo0:.2f} to {hi0:.2f} with λ = 0 and from {lo20:.2f} to {hi20:.2f} with "
                "λ = 20."
            )
    seen = set()
    for entry in payload["evaluations"]:
        key = (entry["setting"], entry["eval"])
        if entry["kind"] != "jpeg" or key in seen:
            continue
        seen.add(key)
        png = _seed_stats(payload, *key, n0, kind="jpeg", split="test-png")
        jpg = _seed_stats(payload, *key, n0, kind="jpeg", split="test-jpeg1000")
        if png is None or jpg is None:
            continue
        diffs = np.subtract(jpg["values"], png["values"])
        spread = f" ± {diffs.std(ddof=1):.2f}" if len(diffs) > 1 else ""
        main.append(
            f"JPEG instead of lossless test images moves the AUROC of {key[0]} on the "
            f"{entry['test_images']} {dataset_name(key[1])} test images that exist both ways by "
            f"{diffs.mean():+.2f}{spread} (paired: same runs, same inliers; {len(diffs)} "
            f"run{'s' if len(diffs) > 1 else ''})."
        )
    for e in s["baseline_sets"]:
        for train in s["datasets"]:
            ours = _seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0)
            if ours is None:
                continue
            for entry in payload["baselines"]:
                found = [r for r in entry["rows"] if r["n"] == n0] if entry["eval"] == e else []
                if not found:
                    continue
                base = {"mean": 100 * found[0]["mean"], "seed_std": None, "values": [0]}
                answer, delta, _ = verdict(ours, base, noise_std=ours["seed_std"])
                main.append(
                    f"On {_scored_on(payload, e)}, η-balls (λ = 20, {dataset_name(train)} "
                    f"backbone) beat {BASELINES[entry['method']]}: {_say(answer)} "
                    f"({ours['mean']:.2f} vs {base['mean']:.2f}; the baseline is one run, so "
                    "the backbones' seed std stands in for its noise)."
                )
    ablation = s["ablation_dataset"]
    for e in s["ablation_evals"]:
        ref = [
            _seed_stats(payload, setting_name(ablation, lam), e, n0) for lam in (0.0, RECIPE["lam"])
        ]
        noise = max((r["seed_std"] for r in ref if r and r["seed_std"] is not None), default=None)
        by_lam = {
            lam: _seed_stats(payload, setting_name(ablation, float(lam)), e, n0)
            for lam in s["lambdas"]
        }
        by_lam = {k: v for k, v in by_lam.items() if v is not None}
        if len(by_lam) == len(s["lambdas"]):
            best = max(by_lam, key=lambda k: by_lam[k]["mean"])
            anchor = ANCHORS["lambda"]["values"]
            anchor_best = max(anchor, key=anchor.get)
            ties = [
                f"{k:g}"
                for k, v in by_lam.items()
                if k != best and verdict(by_lam[best], v, noise)[0] == "within noise"
            ]
            ablations.append(
                f"{dataset_name(ablation)} → {_scored_on(payload, e)}: the λ curve peaks at λ = "
                f"{best:g} ({by_lam[best]['mean']:.2f}); within noise of the peak: "
                f"{', '.join(ties) if ties else 'none'}; the anchor peaks at λ = {anchor_best}. "
                f"Same peak as the anchor: {_say('yes' if f'{best:g}' == anchor_best else 'no')}."
            )
        main_setting = setting_name(ablation, RECIPE["lam"])
        by_r = {r: _seed_stats(payload, main_setting, e, n0, float(r)) for r in s["radii"]}
        by_r = {k: v for k, v in by_r.items() if v is not None}
        if len(by_r) == len(s["radii"]):
            best_r = max(by_r, key=lambda k: by_r[k]["mean"])
            anchor_r = max(ANCHORS["radius"]["values"], key=ANCHORS["radius"]["values"].get)
            at_eta = _seed_stats(payload, main_setting, e, n0)
            ablations.append(
                f"{dataset_name(ablation)} → {_scored_on(payload, e)}: the best radius is η' = "
                f"{best_r:g} ({by_r[best_r]['mean']:.2f}"
                + (f"; η' = {RECIPE['eta']:g}: {at_eta['mean']:.2f}" if at_eta else "")
                + f"); the anchor's best is {anchor_r}."
            )
        single = _seed_stats(
            payload,
            setting_name(ablation, RECIPE["lam"], 1, RECIPE["branches"] * RECIPE["branch_dim"]),
            e,
            n0,
        )
        many = _seed_stats(payload, main_setting, e, n0)
        if single is not None and many is not None:
            answer, delta, _ = verdict(many, single, noise)
            ablations.append(
                f"{dataset_name(ablation)} → {_scored_on(payload, e)}: 16 branches of 10 beat one "
                f"branch of 160: {_say(answer)} ({many['mean']:.2f} vs {single['mean']:.2f}; "
                f"anchor {ANCHORS['lambda']['values']['20']:.2f} vs "
                f"{ANCHORS['single_branch']['lam20']:.2f})."
            )
    return {"main": main, "ablations": ablations}


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def plot_eta_balls(payload: Mapping[str, Any]) -> Figure:
    """The scoring rule in 2-D: ℓ1 balls (diamonds) of radius η around the inliers."""
    _payload(payload, "toy")
    toy = payload["toy"]
    eta, pts = toy["eta"], np.array(toy["points"])
    fig = Figure(figsize=(6.2, 5), layout="constrained")
    ax = fig.subplots()
    counts = np.array(toy["counts"])
    mesh = ax.pcolormesh(toy["xs"], toy["ys"], counts, cmap="Blues", shading="auto")
    fig.colorbar(mesh, ax=ax, label="score = inliers within ℓ1 distance η")
    for x, y in pts:
        diamond = [(x + eta, y), (x, y + eta), (x - eta, y), (x, y - eta)]
        ax.add_patch(Polygon(diamond, fill=False, ec="tab:red", lw=0.8, alpha=0.7))
    ax.scatter(pts[:, 0], pts[:, 1], c="tab:red", s=14, zorder=3, label=f"inliers (n={len(pts)})")
    ax.set_aspect("equal")
    ax.set_title(f"One branch, ℓ1 balls of radius η={eta:g} around the inliers")
    ax.legend(loc="upper right", fontsize=9)
    return fig


def plot_training(payload: Mapping[str, Any]) -> Figure:
    """Per-epoch training losses and death times of every main backbone setting.

    One row per training set; columns: reconstruction L1 (per image), connectivity loss,
    mean death time; one line per training run (λ = 20 red, λ = 0 grey), so the curves
    show both convergence and how much runs differ.
    """
    _payload(payload, "settings", "backbones")
    trained = {b["spec"]["dataset"] for b in payload["backbones"].values()}
    datasets = [d for d in payload["settings"]["datasets"] if d in trained] or ["(none)"]
    fig = Figure(figsize=(10, 2.8 * len(datasets)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(datasets), 3))
    keys = (
        ("reconstruction_l1", "L1 reconstruction (per image)"),
        ("connectivity", "connectivity loss L_η"),
        ("death_mean", "mean death time"),
    )
    for row, dataset in zip(axes, datasets, strict=True):
        for b in payload["backbones"].values():
            spec = b["spec"]
            if spec["dataset"] != dataset or spec["branches"] != RECIPE["branches"]:
                continue
            if spec["lam"] not in (0.0, RECIPE["lam"]):
                continue
            colour = "tab:red" if spec["lam"] else "tab:gray"
            epochs = [h["epoch"] for h in b["history"]]
            for ax, (key, _) in zip(row, keys, strict=True):
                ax.plot(epochs, [h[key] for h in b["history"]], color=colour, lw=1, alpha=0.8)
        for ax, (_, label) in zip(row, keys, strict=True):
            ax.set_title(f"{dataset_name(dataset)}: {label}", fontsize=10)
            ax.set_xlabel("epoch")
        row[2].axhline(RECIPE["eta"], color="k", ls="--", lw=0.8)
        row[0].plot([], [], color="tab:red", label="λ = 20 (one line per run)")
        row[0].plot([], [], color="tab:gray", label="λ = 0")
        row[0].legend(fontsize=9)
    return fig


def plot_deaths(payload: Mapping[str, Any]) -> Figure:
    """Held-out death times of the first run of the λ = 0 and λ = 20 backbones of each set."""
    _payload(payload, "settings", "backbones")
    datasets = payload["settings"]["datasets"]
    eta = RECIPE["eta"]
    fig = Figure(figsize=(10, 2.8 * len(datasets)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(datasets), 2))
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, lam in zip(row, (0.0, RECIPE["lam"]), strict=True):
            runs = [
                b
                for b in payload["backbones"].values()
                if b["setting"] == setting_name(dataset, lam)
            ]
            if not runs:
                ax.set_visible(False)
                continue
            d = runs[0]["deaths"]
            edges = np.array(d["histogram"]["edges"])
            ax.stairs(
                d["histogram"]["counts"],
                edges,
                fill=True,
                color="tab:red" if lam else "tab:gray",
                alpha=0.8,
            )
            if edges[0] <= eta <= edges[-1] * 1.05:
                ax.axvline(eta, color="k", ls="--", lw=1)
            ax.set_title(
                f"{dataset_name(dataset)}, λ={lam:g}: mean {d['mean']:.2f}, "
                f"{100 * d['frac_within']:.0f}% within η±0.5",
                fontsize=10,
            )
            ax.set_xlabel("death time (ℓ1, per branch, test batches of 100)")
            ax.set_ylabel("count")
    return fig


def plot_table1(payload: Mapping[str, Any]) -> Figure:
    """Ours (λ = 20 and λ = 0, one dot per training run) against the anchor, per cell."""
    _payload(payload, "settings", "evaluations", "datasets")
    n0 = _headline_n(payload)
    cells = [
        (b, e, anchor)
        for b, evals in ANCHORS["table1"].items()
        for e, anchor in evals.items()
        if b in payload["settings"]["datasets"] and e in payload["settings"]["eval_datasets"]
    ]
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (b, e, anchor) in enumerate(cells):
        ax.plot([i - 0.3, i + 0.3], [anchor, anchor], "k-", lw=2)
        shown = False
        for offset, lam, colour in ((-0.1, RECIPE["lam"], "tab:red"), (0.1, 0.0, "tab:gray")):
            stats = _seed_stats(payload, setting_name(b, lam), e, n0)
            if stats is None:
                continue
            shown = True
            ax.scatter([i + offset] * len(stats["values"]), stats["values"], color=colour, s=18)
        if not shown:
            ax.text(i, anchor - 3, "not yet run", ha="center", va="top", fontsize=9)
    ax.plot([], [], "k-", lw=2, label="anchor (paper, λ = 20)")
    ax.scatter([], [], color="tab:red", s=18, label="ours, λ = 20 (one dot per run)")
    ax.scatter([], [], color="tab:gray", s=18, label="ours, λ = 0")
    ax.set_xticks(
        range(len(cells)),
        [f"{dataset_name(b)} →\n{_scored_on(payload, e)}" for b, e, _ in cells],
        fontsize=9,
    )
    ax.axhline(50, color="k", lw=0.6, ls=":")
    ax.set_ylabel(f"AUROC × 100 (n = {n0})")
    ax.legend(fontsize=9, loc="center right")  # the band between the λ = 0 and λ = 20 dots
    return fig


def plot_ablations(payload: Mapping[str, Any]) -> Figure:
    """AUROC vs λ and vs the evaluation radius, ours and the anchor's curves (shape only)."""
    _payload(payload, "settings", "evaluations", "datasets")
    n0 = _headline_n(payload)
    s = payload["settings"]
    ablation = s["ablation_dataset"]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_lam, ax_r = fig.subplots(1, 2)
    lams = s["lambdas"]
    plotted = {ax_lam: 0, ax_r: 0}
    for e in s["ablation_evals"]:
        stats = [_seed_stats(payload, setting_name(ablation, float(lam)), e, n0) for lam in lams]
        xs = [i for i, st in enumerate(stats) if st is not None]
        plotted[ax_lam] += len(xs)
        ax_lam.errorbar(
            xs,
            [stats[i]["mean"] for i in xs],
            [stats[i]["seed_std"] or 0.0 for i in xs],
            marker="o",
            capsize=3,
            label=f"ours: {dataset_name(ablation)} → {_scored_on(payload, e)}",
        )
        radii = s["radii"]
        main = setting_name(ablation, RECIPE["lam"])
        stats = [_seed_stats(payload, main, e, n0, float(r)) for r in radii]
        rs = [r for r, st in zip(radii, stats, strict=True) if st is not None]
        plotted[ax_r] += len(rs)
        ax_r.errorbar(
            rs,
            [st["mean"] for st in stats if st is not None],
            [st["seed_std"] or 0.0 for st in stats if st is not None],
            marker="o",
            capsize=3,
            label=f"ours: {dataset_name(ablation)} → {_scored_on(payload, e)}",
        )
    anchor = ANCHORS["lambda"]
    xs = [i for i, lam in enumerate(lams) if f"{lam:g}" in anchor["values"]]
    ax_lam.plot(
        xs,
        [anchor["values"][f"{lams[i]:g}"] for i in xs],
        "k--",
        marker="s",
        label="anchor (paper): CIFAR-100 → CIFAR-10",
    )
    for ax, count in plotted.items():
        if not count:
            ax.set_title("ours: not yet run", fontsize=10)
    ax_lam.set_xticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    ax_lam.set_xlabel("λ (weight of the connectivity loss)")
    ax_lam.set_ylabel(f"AUROC × 100 (n = {n0})")
    ax_lam.legend(fontsize=9)
    anchor = ANCHORS["radius"]
    rs = sorted(float(r) for r in anchor["values"])
    ax_r.plot(
        rs,
        [anchor["values"][f"{r:g}"] for r in rs],
        "k--",
        marker="s",
        label="anchor (paper): CIFAR-100 → CIFAR-10",
    )
    ax_r.axvline(RECIPE["eta"], color="tab:red", lw=0.8, ls=":")
    ax_r.set_xlabel("evaluation radius η' (training η = 2)")
    ax_r.legend(fontsize=9)
    return fig


def plot_scores(payload: Mapping[str, Any], bins: int = 40) -> Figure:
    """Score distributions of inliers vs outliers for one class and one draw.

    ``bins`` (≥ 1) is the number of histogram bins; a payload without score examples (a
    partial run) gives an empty figure.
    """
    _payload(payload, "score_examples")
    check_int("bins", bins, 1)
    examples = payload["score_examples"]
    rows = max(1, (len(examples) + 1) // 2)
    fig = Figure(figsize=(10, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, 2)).ravel()
    for ax, ex in zip(axes, examples, strict=False):
        used = np.nonzero(np.add(ex["inliers"], ex["outliers"]))[0]
        top = int(used.max()) + 1 if len(used) else 1
        edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
        for key, colour in (("outliers", "tab:gray"), ("inliers", "tab:blue")):
            counts = np.asarray(ex[key][:top], dtype=float)
            binned = np.add.reduceat(counts, edges[:-1]) / max(counts.sum(), 1)
            ax.stairs(
                binned,
                edges - 0.5,
                fill=True,
                alpha=0.55,
                color=colour,
                label=f"{key} ({int(counts.sum())} test images)",
            )
        ax.set_title(
            f"{ex['backbone']} on {dataset_name(ex['eval'])}, class {ex['class']} (n={ex['n']})",
            fontsize=10,
        )
        ax.set_xlabel(f"score (inliers in the η-balls, all branches; max {ex['max_score']})")
        ax.set_ylabel("share")
        ax.legend(fontsize=9)
    for ax in axes[len(examples) :]:
        ax.set_visible(False)
    return fig


def plot_all(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of a payload, by name (the whole payload is checked first)."""
    _payload(payload, *_PARTS)
    return {
        "eta_balls": plot_eta_balls(payload),
        "training": plot_training(payload),
        "deaths": plot_deaths(payload),
        "table1": plot_table1(payload),
        "scores": plot_scores(payload),
        "ablations": plot_ablations(payload),
    }
