"""Reading a one-class results payload: its checks, seed statistics, the noise rule, labels.

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

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposhape.checks import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_sequence,
)
from toposhape.image_sets import DISPLAY_NAMES, IMAGE_SETS
from toposhape.studies.oneclass.protocol import BASELINES, RECIPE, check_settings

#: A difference is "clear" when it exceeds this many standard errors of the difference of
#: seed means (about a 95 % normal interval); otherwise it is "within noise".
NOISE_SE = 2.0

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


def checked(payload: object, *parts: str) -> Mapping[str, Any]:
    """``payload`` if it is a mapping whose ``parts`` are well formed (numbers finite).

    ``parts`` are top-level keys among ``settings``, ``evaluations``, ``baselines``,
    ``backbones``, ``datasets``, ``toy`` and ``score_examples``; each is checked whole.

    Raises
    ------
    TypeError, ValueError
        Naming the first malformed field, e.g. ``payload['evaluations'][3]['rows'][0]['mean']``.
    """
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
    ns = checked(payload, "settings")["settings"]["ns"]
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
    checked(payload, "evaluations")
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


def scored_on(payload: Mapping[str, Any], name: str, split: str = "test") -> str:
    """Short label of the split a number was scored on, from its record: e.g.
    ``CIFAR-10 (JPEG test)``, ``TinyImageNet-200 (JPEG val)``, ``MNIST (test)``.

    ``payload``'s ``datasets`` are read; ``split`` is "train", "test" or "test-png".
    """
    checked(payload, "datasets")
    _string("name", name)
    check_choice("split", split, _DATA_SPLITS)
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
    checked(payload, "datasets")
    _string("name", name)
    check_choice("split", split, _DATA_SPLITS)
    labels = payload["datasets"].get(name, {}).get("labels", {})
    return labels.get(split, dataset_name(name))
