"""Seed statistics and the noise rule of the N-VAE chapter, from a payload only; also what
the records support beside them: the chance level of a factor score and what a run's
validation ELBO still gained at its end.

Every headline number is a mean over training seeds with its sample standard deviation.
The noise rule, fixed before the full runs: A differs from B when their seed means differ
by more than :data:`NOISE` times the pooled seed standard deviation √((s_A² + s_B²)/2);
otherwise the difference is "within noise". With fewer than two seeds on a side the rule
cannot be applied ("one seed"). A verdict rests on at least :data:`MIN_SEEDS` training seeds
of every model it compares; with fewer it is at best "partly".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from toposhape.checks import check_int, check_mapping
from toposhape.factors import consistent_dimension
from toposhape.studies.nvae.run import PAYLOAD_FORMAT

__all__ = [
    "CAPTURE_RHO",
    "CAPTURE_SIGN",
    "DISTINCT_SHARE",
    "KL_USED",
    "LONGER_WINDOW",
    "MIN_SEEDS",
    "NOISE",
    "PROBE_FOLDS",
    "PROBE_NEIGHBOURS",
    "SHARE_USED",
    "UNTRAINED",
    "bound_images",
    "bound_label",
    "capture_rule",
    "chance_abs_rho",
    "chance_level",
    "chance_mean_abs_rho",
    "check_payload",
    "class_probe",
    "class_shares",
    "compare",
    "dimension_rho",
    "distinct_needed",
    "distinct_seeds",
    "factor_summary",
    "factor_value",
    "floor_values",
    "mean_std",
    "noise_rule",
    "noise_threshold",
    "per_model",
    "real_by_seed",
    "real_part",
    "run_factors",
    "runs",
    "sampler_mmd",
    "selective_classes",
    "selective_ids",
    "selective_rule",
    "synthetic_by_seed",
    "used_counts",
    "used_dims",
    "used_rule",
    "using_classes",
]

#: Differences beyond this many pooled seed standard deviations count.
NOISE = 2.0


def noise_rule() -> str:
    """The noise rule in one sentence, with the current :data:`NOISE`."""
    return (
        "Noise rule: two models differ when their seed means differ by more than "
        f"{NOISE:g}× the pooled seed std."
    )


#: Training seeds of every compared model that a verdict above "partly" needs.
MIN_SEEDS = 3

#: A factor is captured by a latent dimension when its mean |ρ| over classes reaches this ...
CAPTURE_RHO = 0.5
#: ... and the sign of ρ agrees in at least this share of the classes.
CAPTURE_SIGN = 0.9

#: The floor every factor claim is judged against: the encoder of an untrained model of
#: every training seed (the PCA of the pixels is shown as a reference, not judged).
UNTRAINED = "untrained encoder"

#: Distinct factors must be carried by distinct dimensions in at least this share of the
#: seeds (rounded up: 2 of 3).
DISTINCT_SHARE = 2 / 3

#: A latent dimension is used when its largest per-class mean KL exceeds this (nats) ...
KL_USED = 0.5
#: ... and a class leaves it at the prior when its KL there is below this share of that largest.
SHARE_USED = 0.1


def capture_rule() -> str:
    """The rule, in words, by which a latent dimension captures a factor (seed means)."""
    return (
        f"a factor is captured when one shared dimension has mean |ρ| over classes ≥ "
        f"{CAPTURE_RHO:g} (Spearman, test images, dimension picked on validation images) with "
        f"the same sign in ≥ {100 * CAPTURE_SIGN:g} % of the classes (seed means)"
    )


def used_rule() -> str:
    """The rule, in words, by which a run uses a latent dimension (:func:`used_dims`)."""
    return f"a dimension is used when its largest per-class mean KL (test) exceeds {KL_USED:g} nats"


def selective_rule() -> str:
    """The rule, in words, by which a class leaves a z_c dimension at the prior."""
    return (
        f"a class leaves a z_c dimension at the prior when the dimension is used (its largest "
        f"per-class KL exceeds {KL_USED:g} nats) but the class's KL there is below "
        f"{SHARE_USED:g} × that largest"
    )


def check_payload(payload: object, where: str = "payload") -> Mapping[str, Any]:
    """Return ``payload`` if it is a payload of this version of the chapter.

    Raises
    ------
    TypeError
        If it is not a mapping.
    ValueError
        If it lacks a key, or was written by an earlier version of the chapter (other
        measures, another layout); the message says how to recompute it.
    """
    check_mapping(where, payload, "datasets", "models", "recipe", "settings")
    if payload.get("format") != PAYLOAD_FORMAT:
        raise ValueError(
            f"{where} was written by an earlier version of the N-VAE chapter (format "
            f"{payload.get('format')!r}, this one reads {PAYLOAD_FORMAT!r}); recompute it: "
            "python -m toposhape.chapters reproduce nvae <profile>"
        )
    return payload


def bound_images(payload: Mapping[str, Any], dataset: str) -> int:
    """The test images the importance-weighted bound (and the ELBO beside it) is measured on:
    the first ``iwae_images`` of the settings, or all of a dataset's test images when it
    has fewer."""
    test = payload["datasets"][dataset]["record"]["splits"]["test"]["images"]
    return min(payload["settings"]["iwae_images"], test)


def bound_label(payload: Mapping[str, Any], dataset: str) -> str:
    """:func:`bound_images` in words: ``"all 604 test images"``, ``"the first 2000 of 10000
    test images"``."""
    n = bound_images(payload, dataset)
    test = payload["datasets"][dataset]["record"]["splits"]["test"]["images"]
    return f"all {test} test images" if n == test else f"the first {n} of {test} test images"


def runs(payload: Mapping[str, Any], dataset: str, model: str) -> list[dict[str, Any]]:
    """The measured runs (one per seed) of a model on a dataset, in seed order."""
    found = [r for r in payload["datasets"][dataset]["runs"] if r["model"] == model]
    return sorted(found, key=lambda r: r["seed"])


def per_model(
    payload: Mapping[str, Any], dataset: str, model: str, get: Callable[[dict], float]
) -> list[float]:
    """``get(run)`` for every seed of a model (an empty list when none is measured)."""
    return [float(get(r)) for r in runs(payload, dataset, model)]


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN for one value) and count; NaNs when empty."""
    if not values:
        return float("nan"), float("nan"), 0
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan"), len(a)


def noise_threshold(a: list[float], b: list[float]) -> float:
    """The difference of seed means beyond which A and B differ: :data:`NOISE` × the pooled
    seed std √((s_A² + s_B²)/2); NaN when a side has fewer than two seeds."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return NOISE * float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))


def compare(a: list[float], b: list[float]) -> tuple[str, float]:
    """Is A above B? ``("higher" | "lower" | "within noise" | "one seed" | "missing", Δ)``.

    Δ is the difference of the seed means; see the module docstring for the rule and
    :func:`noise_threshold` for the bound.
    """
    if not a or not b:
        return "missing", float("nan")
    delta = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2:
        return "one seed", delta
    if abs(delta) <= noise_threshold(a, b):
        return "within noise", delta
    return ("higher" if delta > 0 else "lower"), delta


def sampler_mmd(run: Mapping[str, Any], band: int) -> float:
    """MMD² between the prior and what the model's sampler meets, at bandwidth index ``band``.

    A conditional model (N-VAE, CVAE) draws z ~ N(0, I) for every label: the mean over
    classes of the per-class MMD². The VAE draws z ~ N(0, I) for all images: the pooled MMD².
    """
    match = run["prior_match"]
    part = match["pooled"]["estimate"] if run["kind"] == "vae" else match["per_class"]["mean"]
    return float(part[band])


def _kl_table(kl_per_class: Sequence[Sequence[float]]) -> np.ndarray:
    """A record's ``kl_per_class`` as a (K, D) array, checked."""
    kl = np.asarray(kl_per_class, dtype=float)
    if kl.ndim != 2 or 0 in kl.shape:
        raise ValueError(
            f"kl_per_class must be a non-empty (classes, latent dims) table, got shape {kl.shape}"
        )
    return kl


def used_dims(kl_per_class: Sequence[Sequence[float]]) -> np.ndarray:
    """Which latent dimensions a run uses: those whose largest per-class mean KL (test)
    exceeds :data:`KL_USED` (:func:`used_rule`).

    Parameters
    ----------
    kl_per_class : (K, D) nested sequence
        A record's ``kl_per_class``: the mean KL of every latent dimension over the test
        images of every class (nats).

    Returns
    -------
    numpy.ndarray
        (D,) booleans.

    Raises
    ------
    ValueError
        If ``kl_per_class`` is not a non-empty (K, D) table.
    """
    return (_kl_table(kl_per_class) > KL_USED).any(axis=0)


def used_counts(found: Sequence[Mapping[str, Any]], dims: slice) -> list[int]:
    """How many of the latent dimensions ``dims`` each run of ``found`` uses
    (:func:`used_dims` of its ``kl_per_class``)."""
    return [int(used_dims(r["kl_per_class"])[dims].sum()) for r in found]


def using_classes(kl_per_class: Sequence[Sequence[float]], dims: slice) -> int:
    """The classes that use at least one of the latent dimensions ``dims``: whose mean KL
    there exceeds :data:`KL_USED` (so the dimension is used, by :func:`used_dims`).

    Raises
    ------
    ValueError
        If ``kl_per_class`` is not a non-empty (K, D) table.
    """
    return int((_kl_table(kl_per_class)[:, dims] > KL_USED).any(axis=1).sum())


def class_shares(kl_per_class: Sequence[Sequence[float]], class_dim: int) -> np.ndarray:
    """How far each class leaves the used z_c dimensions at the prior: the smallest, over the
    used ones (:func:`used_dims`), of its mean KL there as a share of that dimension's
    largest per-class mean KL.

    Parameters
    ----------
    kl_per_class : (K, D) nested sequence
        A record's ``kl_per_class`` (nats).
    class_dim : int
        The z_c dimensions: the first ``class_dim`` of the D.

    Returns
    -------
    numpy.ndarray
        (K,) shares in [0, 1]; NaN for every class when no z_c dimension is used.

    Raises
    ------
    ValueError
        If ``kl_per_class`` is not a non-empty (K, D) table.
    """
    kl = _kl_table(kl_per_class)[:, :class_dim]
    used = used_dims(kl)
    if not used.any():
        return np.full(len(kl), np.nan)
    return (kl[:, used] / kl[:, used].max(axis=0)).min(axis=1)


def selective_ids(kl_per_class: Sequence[Sequence[float]], class_dim: int) -> list[int]:
    """The classes that leave a used z_c dimension at the prior (the KL as feature
    detector): whose :func:`class_shares` is below :data:`SHARE_USED`."""
    shares = class_shares(kl_per_class, class_dim)
    return [int(k) for k in np.flatnonzero(shares < SHARE_USED)]


def selective_classes(kl_per_class: Sequence[Sequence[float]], class_dim: int) -> int:
    """How many classes leave a used z_c dimension at the prior (:func:`selective_ids`)."""
    return len(selective_ids(kl_per_class, class_dim))


def synthetic_by_seed(
    rows: list[Mapping[str, Any]], generator: str, fraction: float
) -> list[float]:
    """Mean test accuracy over classifier seeds of the classifiers trained with a share
    ``fraction`` of ``generator``'s samples, one value per generator seed."""
    seeds = sorted({r["generator_seed"] for r in rows if r["generator"] == generator})
    return [
        float(
            np.mean(
                [
                    r["accuracy"]
                    for r in rows
                    if r["generator"] == generator
                    and r["generator_seed"] == s
                    and r["fraction"] == fraction
                ]
            )
        )
        for s in seeds
    ]


def real_by_seed(rows: list[Mapping[str, Any]], images: int) -> list[float]:
    """Test accuracy of the classifiers trained on ``images`` real images alone, one value per
    classifier seed (all of a classifier's training images, or the real part of a generated
    share: the control of that share)."""
    return [
        r["accuracy"] for r in rows if r["generator"] == "real data" and r["real_images"] == images
    ]


def real_part(settings: Mapping[str, Any], fraction: float) -> int:
    """The real images of a classifier's training set with a generated share ``fraction``."""
    n = settings["classifier_images"]
    return n - round(n * fraction)


def _mean_abs(rho: np.ndarray) -> np.ndarray:
    """Mean |ρ| over classes (axis 0) of a (K, D) table, NaN classes left out; NaN where a
    dimension has no finite value (without numpy's warning for an empty mean)."""
    finite = np.isfinite(rho)
    count = finite.sum(axis=0)
    total = np.where(finite, np.abs(rho), 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def dimension_rho(scores: Mapping[str, Any], factor: str) -> np.ndarray:
    """The mean |ρ| over classes (test) of every latent dimension with ``factor``, from a
    factor table (see :func:`factor_summary`): (D,), NaN where no ρ is defined."""
    f = list(scores["factors"]).index(factor)
    return _mean_abs(np.asarray(scores["rho_test"], dtype=float)[:, :, f])


def factor_summary(
    scores: Mapping[str, Any], used: Sequence[bool] | np.ndarray | None = None
) -> dict[str, dict[str, Any]]:
    """Which dimension carries each factor in every class, from a record's factor table.

    ``scores`` is a factor table (:func:`toposhape.studies.nvae.measure.factor_scores`):
    ``factors``, ``shared_dims`` and ``rho_validation``, ``rho_test`` (K, D, F; None for an
    undefined ρ). Among the ``shared_dims`` (the N-VAE's z_s; every dimension of the
    others), :func:`toposhape.factors.consistent_dimension` picks a dimension per factor
    on the validation table and scores it on the test table, used or not.

    ``used`` (D booleans, :func:`used_dims` of the run's ``kl_per_class``) restricts where
    else a factor is looked for (``runner_up``, ``class_dim``) to the dimensions the model
    uses: a rank correlation is blind to scale, so an unused dimension can correlate with a
    factor through encoder residue the decoder cannot read. None counts every dimension:
    the floors (an untrained encoder, the PCA of the pixels) have no KL.

    Returns
    -------
    dict
        Factor name -> ``dim`` (the latent index, None if no ρ is defined), ``abs_rho``,
        ``sign_agreement``, ``any_dim`` (as :func:`~toposhape.factors.consistent_dimension`),
        ``runner_up``: the largest mean |ρ| over classes (test) of any *other* used latent
        dimension, z_c included (NaN with none): a factor has a dimension of its own when
        this is well below ``abs_rho``; and ``class_dim``, ``class_rho``: the used dimension
        outside ``shared_dims`` (the N-VAE's z_c) with the largest mean |ρ| over classes
        (test, so picked on the images it is scored on) and that |ρ| (None and NaN for a
        model whose dimensions are all scored, or when no such dimension is used).

    Raises
    ------
    ValueError
        If ``used`` does not hold one boolean per latent dimension of the table.
    """
    shared = list(scores["shared_dims"])
    select = np.asarray(scores["rho_validation"], dtype=float)
    evaluate = np.asarray(scores["rho_test"], dtype=float)
    dims = evaluate.shape[1]
    if used is None:
        used = np.ones(dims, dtype=bool)
    used = np.asarray(used)
    if used.dtype != bool or used.shape != (dims,):
        raise ValueError(
            f"used must be {dims} booleans (one per latent dimension of the factor table), "
            f"got {used.dtype} of shape {used.shape}"
        )
    picked = consistent_dimension(select[:, shared], evaluate[:, shared])
    out = {}
    for f, (name, found) in enumerate(zip(scores["factors"], picked, strict=True)):
        dim = None if found["dim"] is None else shared[found["dim"]]
        every = _mean_abs(evaluate[:, :, f])
        rival = _largest(every, [d for d in range(dims) if used[d] and d != dim])
        class_dim = _largest(every, [d for d in range(dims) if used[d] and d not in shared])
        out[name] = {
            "dim": dim,
            "abs_rho": found["abs_rho"],
            "sign_agreement": found["sign_agreement"],
            "any_dim": found["any_dim"],
            "runner_up": float("nan") if rival is None else float(every[rival]),
            "class_dim": class_dim,
            "class_rho": float("nan") if class_dim is None else float(every[class_dim]),
        }
    return out


def run_factors(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`factor_summary` of a run's factor table, with the dimensions it uses
    (:func:`used_dims` of its ``kl_per_class``)."""
    return factor_summary(run["factor_scores"], used_dims(run["kl_per_class"]))


def _largest(values: np.ndarray, among: list[int]) -> int | None:
    """The index in ``among`` of the largest finite value of ``values`` (D,); None if none."""
    finite = [d for d in among if np.isfinite(values[d])]
    return max(finite, key=lambda d: values[d]) if finite else None


def factor_value(run: Mapping[str, Any], factor: str, key: str = "abs_rho") -> float:
    """``key`` of :func:`run_factors` of a run, for ``factor``."""
    return run_factors(run)[factor][key]


def floor_values(
    entry: Mapping[str, Any], floor: str, factor: str, key: str = "abs_rho"
) -> list[Any]:
    """``key`` of :func:`factor_summary` for ``factor`` of every seed of a dataset's floor
    (one value for the PCA of the pixels, one per training seed for the untrained
    encoder). The floors have no KL: every dimension counts as used."""
    return [factor_summary(table)[factor][key] for table in entry["floors"][floor]]


def distinct_seeds(found: list[Mapping[str, Any]], factors: list[str]) -> int:
    """Runs in which every factor of ``factors`` is carried by a dimension of its own (the
    dimensions :func:`factor_summary` picks all differ, and are all defined)."""
    count = 0
    for run in found:
        summary = factor_summary(run["factor_scores"])  # the picks do not read the KL
        dims = [summary[f]["dim"] for f in factors]
        count += None not in dims and len(set(dims)) == len(dims)
    return count


def distinct_needed(seeds: int) -> int:
    """Of ``seeds`` runs, how many must carry every factor in a dimension of its own
    (:data:`DISTINCT_SHARE`, rounded up; at least one)."""
    return max(1, int(np.ceil(DISTINCT_SHARE * seeds - 1e-9)))


#: Besides the stopping rule's own window (the patience), each run's gain is also given over
#: this many times the patience: how much a run was still gaining on a longer view.
LONGER_WINDOW = 2


#: The class probe of stored codes (:func:`class_probe`): k of the k-nearest-neighbour
#: classifier and the number of cross-validation folds.
PROBE_NEIGHBOURS = 5
PROBE_FOLDS = 5


def class_probe(codes: np.ndarray, labels: np.ndarray) -> float:
    """How well the class can be read from latent codes: the mean accuracy of a
    k-nearest-neighbour classifier (k = :data:`PROBE_NEIGHBOURS`, Euclidean) over
    :data:`PROBE_FOLDS` stratified folds (shuffled with a fixed seed).

    Parameters
    ----------
    codes : (N, D) array
        Posterior means of N images.
    labels : (N,) array
        Their classes.

    Raises
    ------
    ValueError
        If ``codes`` is not a finite (N, D) array with N equal to the number of ``labels``,
        or a class has fewer than :data:`PROBE_FOLDS` images.
    """
    x, y = np.asarray(codes, dtype=float), np.asarray(labels)
    if x.ndim != 2 or y.shape != (len(x),) or not np.isfinite(x).all():
        raise ValueError(
            f"codes must be a finite (N, D) array and labels (N,), got {x.shape} and {y.shape}"
        )
    if np.unique(y, return_counts=True)[1].min() < PROBE_FOLDS:
        raise ValueError(f"labels must give every class at least {PROBE_FOLDS} images")
    folds = StratifiedKFold(PROBE_FOLDS, shuffle=True, random_state=0)
    knn = KNeighborsClassifier(PROBE_NEIGHBOURS)
    return float(cross_val_score(knn, x, y, cv=folds).mean())


def chance_abs_rho(n: int) -> float:
    """The expected |ρ| of a correlation over ``n`` pairs of unrelated values.

    E|r| = Γ((n − 1)/2) / (√π Γ(n/2)), exact for Pearson's r of independent normal
    samples; Spearman's ρ of ``n`` untied ranks has the same null variance 1/(n − 1), and
    its expected |ρ| agrees with this to within 0.003 for n ≥ 8 (checked by permutation in
    the tests).

    Raises
    ------
    TypeError, ValueError
        If ``n`` is not an int of at least 2.
    """
    n = check_int("n", n, 2)
    return math.exp(math.lgamma((n - 1) / 2) - math.lgamma(n / 2)) / math.sqrt(math.pi)


def chance_mean_abs_rho(images: int, classes: int) -> float:
    """The expected mean |ρ| over classes of one latent dimension unrelated to a factor,
    with ``images`` test images spread as evenly as possible over ``classes`` classes (the
    records keep the split's size, not each class's share): the chance level of a factor
    score whose dimension was picked on other images.

    Raises
    ------
    TypeError, ValueError
        If ``classes`` is not an int ≥ 1, or ``images`` not one that gives every class at
        least 2.
    """
    classes = check_int("classes", classes, 1)
    small, extra = divmod(check_int("images", images, 2 * classes), classes)
    return ((classes - extra) * chance_abs_rho(small) + extra * chance_abs_rho(small + 1)) / classes


def chance_level(entry: Mapping[str, Any]) -> float | None:
    """:func:`chance_mean_abs_rho` with a dataset's test images and classes (its payload
    entry); None when there are fewer than 2 test images per class."""
    test, classes = entry["record"]["splits"]["test"]["images"], entry["classes"]
    return chance_mean_abs_rho(test, classes) if test >= 2 * classes else None
