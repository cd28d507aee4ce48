"""What a profile of the one-class study may set, and which backbones it trains how.

The reference recipe (:data:`RECIPE`), the checks of a profile's settings
(:func:`check_settings`), the backbones a profile trains (:class:`BackboneSpec`,
:func:`backbone_specs`) with their training settings (:func:`train_config`), the datasets a
profile reads and the display names of their classes. The profiles themselves are in
:mod:`toposhape.studies.oneclass.run`.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toposhape.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_sequence,
)
from toposhape.image_sets import CIFAR10_CLASSES, IMAGE_SETS
from toposhape.training import MAX_SEED, TrainConfig

#: The splits every dataset of a profile is read with (plus CIFAR-10's lossless test subset).
SPLITS = ("train", "test")

#: The reference recipe (Hofer et al., ``COREL_icml2019``).
RECIPE: dict[str, Any] = {
    "branches": 16,
    "branch_dim": 10,
    "eta": 2.0,
    "p": 1.0,
    "lam": 20.0,
    "batch_size": 100,
    "lr": 1e-3,
    "epochs": 50,
}


#: Class names of the offline sets (the others are shown by index).
CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Boot",
    ],
}

#: Baselines, in table order, with their display names.
BASELINES: dict[str, str] = {
    "kde": "KDE (pixels)",
    "ocsvm": "OC-SVM (pixels)",
    "deep-svdd": "Deep SVDD",
}

#: The baselines that work on raw pixels (no network).
PIXEL_BASELINES = ("kde", "ocsvm")


def _each(check: Callable[[str, object], Any], nonempty: bool = False) -> Callable:
    """The check of a sequence (non-empty if required) whose every item passes ``check``."""

    def each(name: str, value: object) -> None:
        for item in check_sequence(name, value, nonempty=nonempty):
            check(name, item)

    return each


def _dataset(name: str, value: object) -> str:
    return check_choice(name, value, tuple(IMAGE_SETS))


def _count(name: str, value: object) -> int:
    return check_int(name, value, 1)


def _optional_count(name: str, value: object) -> int | None:
    return check_optional_int(name, value, 1)


def _baseline_ns(name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of baseline to ns, got {type(value).__name__}")
    if set(value) != set(BASELINES):
        raise ValueError(f"{name} must have the keys {sorted(BASELINES)}, got {sorted(value)}")
    for method, ns in value.items():
        _each(_count, nonempty=True)(f"{name}[{method!r}]", ns)


# The check of each setting of a profile, given the name it is reported under.
_SETTING_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "datasets": _each(_dataset, nonempty=True),
    "eval_datasets": _each(_dataset, nonempty=True),
    "baseline_sets": _each(_dataset),
    "ablation_dataset": _dataset,
    "ablation_evals": _each(_dataset),
    "train_images": _optional_count,
    "test_images": _optional_count,
    "epochs": _count,
    "steps_per_epoch": _optional_count,
    "train_seeds": _count,
    "ns": _each(_count, nonempty=True),
    "draws": _count,
    "ablation_seeds": lambda name, value: check_int(name, value, 0),
    "lambdas": _each(lambda name, lam: check_float(name, lam, 0.0)),
    "radii": _each(lambda name, radius: check_float(name, radius, 0.0, low_open=True)),
    "single_branch": check_bool,
    "large_n": _optional_count,
    "baseline_ns": _baseline_ns,
    "dsvdd_epochs": _count,
    "device": lambda name, value: check_choice(name, value, ("cpu", "cuda")),
    "workers": _count,
    "image_size": _count,
}


def check_settings(settings: object, keys: Iterable[str] | None = None) -> Mapping[str, Any]:
    """Return ``settings`` if it is a mapping whose ``keys`` hold valid profile settings.

    Parameters
    ----------
    settings : object
        A profile's settings (:data:`PROFILES`), or the part of them a function reads.
    keys : iterable of str, optional
        The settings to check; None checks every setting of a profile, and that the
        ablation set and its evaluation sets are among the profile's datasets.

    Raises
    ------
    TypeError
        If ``settings`` is not a mapping, or a setting has the wrong type.
    ValueError
        If a setting is missing or has a bad value; the message names it, e.g.
        ``settings['ns']``.
    """
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping, got {type(settings).__name__}")
    wanted = list(_SETTING_CHECKS) if keys is None else list(keys)
    missing = [key for key in wanted if key not in settings]
    if missing:
        raise ValueError(f"settings lack {missing}")
    for key in wanted:
        _SETTING_CHECKS[key](f"settings[{key!r}]", settings[key])
    if keys is None:
        read = profile_datasets(settings)
        for name in [settings["ablation_dataset"], *settings["ablation_evals"]]:
            if name not in read:
                raise ValueError(
                    "settings['ablation_dataset'] and settings['ablation_evals'] must be among "
                    f"the profile's datasets {read}, got {name!r}"
                )
    return settings


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a study: training set, λ, latent layout, training seed and batch size.

    The seed sets the initial weights and the batch order, so backbones that differ only in
    λ start from the same weights, and three seeds of one setting are three training runs.
    The batch size is the reference's 100 unless a study varies it (the connectivity
    chapter's batch-size sweep); only another batch size shows in the name.
    """

    dataset: str
    lam: float
    branches: int = 16
    branch_dim: int = 10
    seed: int = 0
    batch_size: int = RECIPE["batch_size"]

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, tuple(IMAGE_SETS))
        check_float("lam", self.lam, 0.0)
        check_int("branches", self.branches, 1)
        check_int("branch_dim", self.branch_dim, 1)
        check_int("seed", self.seed, 0, MAX_SEED)
        check_int("batch_size", self.batch_size, 2)

    @property
    def name(self) -> str:
        """File stem and payload key, e.g. ``fashion-mnist-lam20-16x10-seed0`` (batch 100) or
        ``mnist-lam20-16x10-b25-seed0``."""
        return f"{self.setting}-seed{self.seed}"

    @property
    def setting(self) -> str:
        """The name without the seed: the key that groups a setting's training runs."""
        batch = "" if self.batch_size == RECIPE["batch_size"] else f"-b{self.batch_size}"
        return f"{self.dataset}-lam{self.lam:g}-{self.branches}x{self.branch_dim}{batch}"


def train_seeds(settings: Mapping[str, Any], seed: int) -> list[int]:
    """Training seeds of the main backbones: ``seed, seed + 1, ...`` (``train_seeds`` of them).

    ``seed`` is an int ≥ 0 whose last training seed is at most 2**32 - 1.
    """
    check_settings(settings, ["train_seeds"])
    check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"] + 1)
    return [seed + i for i in range(settings["train_seeds"])]


def backbone_specs(settings: Mapping[str, Any], seed: int = 0) -> list[BackboneSpec]:
    """Backbones a profile trains, in training order.

    λ = 20 and λ = 0 for every training set and training seed (one training set after the
    other, so a set's cells are complete first), then the ablation backbones (λ grid and one
    160-d branch) on the ablation set, with ``ablation_seeds`` seeds each.
    """
    keys = ["datasets", "ablation_dataset", "ablation_seeds", "lambdas", "single_branch"]
    check_settings(settings, keys)
    seeds = train_seeds(settings, seed)
    specs = [
        BackboneSpec(dataset, lam, seed=s)
        for dataset in settings["datasets"]
        for s in seeds
        for lam in (RECIPE["lam"], 0.0)
    ]
    ablation = settings["ablation_dataset"]
    for s in seeds[: settings["ablation_seeds"]]:
        specs += [BackboneSpec(ablation, float(lam), seed=s) for lam in settings["lambdas"]]
        if settings["single_branch"]:
            dim = RECIPE["branches"] * RECIPE["branch_dim"]
            specs.append(BackboneSpec(ablation, RECIPE["lam"], 1, dim, seed=s))
    return list(dict.fromkeys(specs))


def train_config(
    settings: Mapping[str, Any], lam: float, seed: int, batch_size: int = RECIPE["batch_size"]
) -> TrainConfig:
    """The reference training settings at a profile's epoch budget.

    ``settings`` needs ``epochs`` and ``steps_per_epoch``; ``lam`` ≥ 0 is finite, ``seed``
    an int in [0, 2**32 - 1] and ``batch_size`` an int ≥ 2 (the reference's 100 by default).
    """
    check_settings(settings, ["epochs", "steps_per_epoch"])
    check_float("lam", lam, 0.0)
    check_int("seed", seed, 0, MAX_SEED)
    check_int("batch_size", batch_size, 2)
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=batch_size,
        lr=RECIPE["lr"],
        lam=lam,
        eta=RECIPE["eta"],
        p=RECIPE["p"],
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )


def profile_datasets(settings: Mapping[str, Any]) -> list[str]:
    """Every dataset a profile reads, in a fixed order (training, evaluation, baseline sets)."""
    check_settings(settings, ["datasets", "eval_datasets", "baseline_sets"])
    names = [*settings["datasets"], *settings["eval_datasets"], *settings["baseline_sets"]]
    return list(dict.fromkeys(names))


def class_names(name: str) -> list[str]:
    """Display names of a dataset's classes (indices where the set has no short names).

    ``name`` is one of :data:`~toposhape.image_sets.IMAGE_SETS`.
    """
    check_choice("name", name, tuple(IMAGE_SETS))
    if name == "cifar10":
        return list(CIFAR10_CLASSES)
    return CLASS_NAMES.get(name, [str(c) for c in range(IMAGE_SETS[name])])
