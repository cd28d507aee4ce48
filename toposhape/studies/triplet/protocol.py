"""What the triplet study trains, in which order, and the rules its numbers are judged by.

The profiles (:data:`PROFILES`), the class split of every dataset
(:data:`TRAIN_CLASSES`), the models of a profile (:class:`ModelSpec`,
:func:`model_specs`) and the order the training command trains them in
(:func:`jobs`), the bytes each read of a model stores, and the two rules fixed before any
number was seen: the noise rule of every comparison (:func:`compare`) and the plateau
criterion of convergence (:func:`plateaued`); and the widths of the PCA-of-pixels floors
(:func:`floor_widths`). Nothing here trains.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toposhape.checks import check_choice, check_int, check_mapping, check_sequence
from toposhape.compression import FLOAT32_BYTES, embedding_bytes
from toposhape.studies.study import Study

__all__ = [
    "CHAPTER",
    "DATA_SEED",
    "GROUPS",
    "NOISE_FACTOR",
    "NOISE_FLOOR",
    "PLATEAU_EPOCHS",
    "PLATEAU_POINTS",
    "PROFILES",
    "TRAIN_CLASSES",
    "Job",
    "ModelSpec",
    "compare",
    "floor_width",
    "floor_widths",
    "get_profile",
    "jobs",
    "model_specs",
    "plateaued",
    "work_dir",
]

CHAPTER = "triplet"

#: Classes that train (the smallest class ids; the others are held out for retrieval).
TRAIN_CLASSES: dict[str, int] = {"mnist": 5, "fashion-mnist": 5, "tinyimagenet": 100}

#: Seed of every image subset (training, validation, test, database): the same images for
#: every training seed, so that the seeds' spread is the spread of training alone.
DATA_SEED = 0

#: The noise rule, fixed before the runs: A beats B when the difference of their mean R@1
#: over the training seeds exceeds NOISE_FACTOR × the pooled seed standard deviation and
#: NOISE_FLOOR points; otherwise they are within noise.
NOISE_FACTOR = 2.0
NOISE_FLOOR = 1.0

#: The convergence criterion, fixed before the runs: a model has converged when its best
#: validation R@1 of the last PLATEAU_EPOCHS epochs is at most PLATEAU_POINTS above its
#: best before them (early stopping with that patience would have stopped by then).
PLATEAU_EPOCHS = 3
PLATEAU_POINTS = 1.0

_COMPRESSION_SMALL = {"configs": [[2, 2]], "database": 300, "queries": 50, "epochs": 1}
_COMPRESSION = {"configs": [[4, 2], [8, 4], [16, 8]], "database": None, "queries": 1000,
                "epochs": 10}  # fmt: skip

#: The profiles. ``dims``: the chart dimensions d of the low-d grid; ``charts``: the
#: atlases' k at every d (the largest also gets a sphere of equal storage); ``wide_dim``:
#: D of the 64-d study; ``train_images``, ``validation_images``, ``test_images``: subset
#: sizes (None: all); ``classes_per_batch`` × ``per_class`` images per batch; ``epochs``
#: × ``steps_per_epoch`` batches per model, the model kept being the epoch with the best
#: validation R@1; ``train_in_run``: whether the chapter trains missing models itself.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist"],
        "image_size": None,
        "seeds": [0],
        "dims": [2],
        "charts": [1, 2],
        "wide_dim": 8,
        "backbone_width": 16,
        "train_images": 600,
        "validation_images": 200,
        "test_images": 300,
        "epochs": 2,
        "steps_per_epoch": 8,
        "classes_per_batch": 4,
        "per_class": 4,
        "lr": 1e-3,
        "optimiser": "adam",
        "compression": _COMPRESSION_SMALL,
        "plot_points": 300,
        "train_in_run": True,
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "image_size": None,
        "seeds": [0, 1, 2],
        "dims": [2, 8],
        "charts": [1, 8],
        "wide_dim": 64,
        "backbone_width": 16,
        "train_images": None,
        "validation_images": 2000,
        "test_images": None,
        "epochs": 8,
        "steps_per_epoch": 250,
        "classes_per_batch": 4,
        "per_class": 8,
        "lr": 1e-3,
        "optimiser": "adam",
        "compression": _COMPRESSION,
        "plot_points": 1500,
        "train_in_run": False,
    },
    "tinyimagenet": {
        "datasets": ["tinyimagenet"],
        "image_size": 32,
        "seeds": [0, 1, 2],
        "dims": [2, 8],
        "charts": [8],
        "wide_dim": 64,
        "backbone_width": 16,
        "train_images": None,
        "validation_images": 2000,
        "test_images": None,
        "epochs": 10,
        "steps_per_epoch": 300,
        "classes_per_batch": 8,
        "per_class": 4,
        "lr": 1e-3,
        "optimiser": "adam",
        "compression": _COMPRESSION | {"database": 20000},
        "plot_points": None,
        "train_in_run": False,
    },
}


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir


@dataclass(frozen=True)
class ModelSpec:
    """One model of the grid.

    Attributes
    ----------
    key : str
        ``sphere-d{d}`` (d + 1 outputs on the unit sphere S^d), ``sphere-k{k}-d{d}`` (as
        many outputs as the k-chart atlas stores floats, k(d + 1), on the unit sphere),
        ``atlas-k{k}-d{d}`` (k charts of dimension d, MMD weight 1), and the 64-d study's
        ``wide-normalised``, ``wide-unnormalised`` (one chart, no MMD) and ``wide-mmd``.
    d : int
        The dimension of its cell: d of the low-d grid, or D of the 64-d study.
    kind : {"euclidean", "atlas"}
    width : int
        Outputs of a Euclidean model, chart dimension of an atlas.
    charts : int
        k of an atlas; 1 for a Euclidean model.
    normalise : bool
        Whether a Euclidean model's outputs are projected onto the unit sphere.
    mmd_weight : float
        Weight of an atlas's MMD term.
    group : {"headline", "wide", "rest"}
        Its place in the training order (:func:`jobs`).
    """

    key: str
    d: int
    kind: str
    width: int
    charts: int
    normalise: bool
    mmd_weight: float
    group: str

    @property
    def reads(self) -> tuple[str, ...]:
        """How retrieval reads it: ``euclidean``; ``soft`` and, for k > 1, ``hard``."""
        if self.kind == "euclidean":
            return ("euclidean",)
        return ("soft", "hard") if self.charts > 1 else ("soft",)

    def bytes(self, read: str) -> int:
        """Bytes per vector ``read`` stores (:func:`toposhape.compression.embedding_bytes`)."""
        return embedding_bytes(check_choice("read", read, self.reads), self.width, self.charts)


#: The training order within a dataset and seed.
GROUPS = ("headline", "wide", "rest")


def _check_settings(settings: object) -> Mapping[str, Any]:
    check_mapping("settings", settings, "dims", "charts", "wide_dim")
    for key in ("dims", "charts"):
        name = f"settings[{key!r}]"
        for i, value in enumerate(check_sequence(name, settings[key])):
            check_int(f"{name}[{i}]", value, 1)
    check_int("settings['wide_dim']", settings["wide_dim"], 1)
    return settings


def model_specs(settings: Mapping[str, Any]) -> list[ModelSpec]:
    """The models of a profile, in training order.

    At the smallest d the headline three: the sphere S^d, the atlas with the most charts
    K and the sphere of K(d + 1) outputs (its equal storage); then the 64-d study; then the
    atlases with fewer charts at that d and every model of the other d.

    Parameters
    ----------
    settings : mapping
        A profile's settings: ``dims`` and ``charts`` (non-empty sequences of ints ≥ 1)
        and ``wide_dim`` (int ≥ 1).
    """
    settings = _check_settings(settings)
    top = max(settings["charts"])
    dims = sorted(settings["dims"])
    specs = []
    for d in dims:
        group = "headline" if d == dims[0] else "rest"
        specs += [
            ModelSpec(f"sphere-d{d}", d, "euclidean", d + 1, 1, True, 0.0, group),
            ModelSpec(f"atlas-k{top}-d{d}", d, "atlas", d, top, False, 1.0, group),
        ]
        if top > 1:
            specs.append(
                ModelSpec(f"sphere-k{top}-d{d}", d, "euclidean", top * (d + 1), 1, True, 0.0, group)
            )
        specs += [
            ModelSpec(f"atlas-k{k}-d{d}", d, "atlas", d, k, False, 1.0, "rest")
            for k in sorted(set(settings["charts"]) - {top})
        ]
    wide = settings["wide_dim"]
    specs += [
        ModelSpec("wide-normalised", wide, "euclidean", wide, 1, True, 0.0, "wide"),
        ModelSpec("wide-unnormalised", wide, "atlas", wide, 1, False, 0.0, "wide"),
        ModelSpec("wide-mmd", wide, "atlas", wide, 1, False, 1.0, "wide"),
    ]
    return sorted(specs, key=lambda spec: GROUPS.index(spec.group))


def floor_width(size: int) -> int:
    """The PCA floor a read of ``size`` bytes per vector is set beside: the fewest whole
    float32 numbers that store at least those bytes (d + 1 for the sphere S^d and for the
    hard read's chart id + d floats, k(d + 1) for the soft read, d for one chart)."""
    return math.ceil(check_int("size", size, 1) / FLOAT32_BYTES)


def floor_widths(settings: Mapping[str, Any]) -> list[int]:
    """The PCA widths of a profile's floors: :func:`floor_width` of every read of every
    model of :func:`model_specs`, in increasing order."""
    return sorted(
        {floor_width(spec.bytes(read)) for spec in model_specs(settings) for read in spec.reads}
    )


@dataclass(frozen=True)
class Job:
    """One unit of training work: a model, or the compression study of a 64-d embedding.

    Attributes
    ----------
    profile, dataset : str
    seed : int
    spec : ModelSpec or None
        None for the compression study (which reads the ``wide-normalised`` model).
    """

    profile: str
    dataset: str
    seed: int
    spec: ModelSpec | None

    @property
    def key(self) -> str:
        """The model's key, or ``compression``."""
        return "compression" if self.spec is None else self.spec.key

    @property
    def name(self) -> str:
        """``<profile>/<dataset>/seed<seed>/<key>``: what ``--only`` patterns match."""
        return f"{self.profile}/{self.dataset}/seed{self.seed}/{self.key}"


def jobs(profiles: Sequence[str], seeds: Sequence[int] | None = None) -> list[Job]:
    """Every job of the profiles, in the order the training command runs them.

    Seed by seed (every profile's seed 0 first); within a seed, profile by profile in the
    order given; within a profile, group by group (:data:`GROUPS`: the headline models at
    the smallest d, then the 64-d study followed by its compression study, then the rest),
    and dataset by dataset within a group.

    Parameters
    ----------
    profiles : sequence of str
        Profile names.
    seeds : sequence of int, optional
        Only these training seeds (default: each profile's ``seeds``).
    """
    check_sequence("profiles", profiles)
    settings = {name: get_profile(name) for name in profiles}
    wanted = (
        None if seeds is None else {check_int("seed", s, 0) for s in check_sequence("seeds", seeds)}
    )
    every_seed = sorted({s for one in settings.values() for s in one["seeds"]})
    out = []
    for seed in every_seed:
        if wanted is not None and seed not in wanted:
            continue
        for name, one in settings.items():
            if seed not in one["seeds"]:
                continue
            specs = model_specs(one)
            for group in GROUPS:
                for dataset in one["datasets"]:
                    for spec in specs:
                        if spec.group == group:
                            out.append(Job(name, dataset, seed, spec))
                    if group == "wide":
                        out.append(Job(name, dataset, seed, None))
    return out


def plateaued(validation: Sequence[float]) -> bool | None:
    """The convergence criterion: no gain above PLATEAU_POINTS in the last PLATEAU_EPOCHS.

    Parameters
    ----------
    validation : sequence of float
        Validation R@1 after every epoch, as fractions in [0, 1].

    Returns
    -------
    bool or None
        None when there are no more than PLATEAU_EPOCHS epochs (nothing to compare with).
    """
    values = [float(v) for v in check_sequence("validation", validation, nonempty=False)]
    if len(values) <= PLATEAU_EPOCHS:
        return None
    before, last = max(values[:-PLATEAU_EPOCHS]), max(values[-PLATEAU_EPOCHS:])
    return 100 * (last - before) <= PLATEAU_POINTS


def compare(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """The noise rule: does A beat B, B beat A, or are they within noise?

    Parameters
    ----------
    a, b : sequence of float
        R@1 (or any score) in points, one value per training seed, at least 2 each.

    Returns
    -------
    dict
        ``difference`` (mean(a) − mean(b)), ``pooled_std`` (√((s_a² + s_b²)/2), sample
        standard deviations), ``margin`` (max(NOISE_FACTOR × pooled_std, NOISE_FLOOR)) and
        ``verdict``: ``"A wins"``, ``"B wins"`` or ``"within noise"``.
    """
    a = np.asarray(check_sequence("a", a), dtype=float)
    b = np.asarray(check_sequence("b", b), dtype=float)
    for name, values in (("a", a), ("b", b)):
        if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
            raise ValueError(f"{name} must hold at least 2 finite scores, one per seed")
    difference = float(a.mean() - b.mean())
    pooled = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
    margin = max(NOISE_FACTOR * pooled, NOISE_FLOOR)
    if difference > margin:
        verdict = "A wins"
    elif difference < -margin:
        verdict = "B wins"
    else:
        verdict = "within noise"
    return {"difference": difference, "pooled_std": pooled, "margin": margin, "verdict": verdict}
