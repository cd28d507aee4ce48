"""The experiments of the chapter "MSimCLR" (Korman, arXiv 2106.07062, §4.1).

:func:`train` trains every model of a profile that has no record yet, in the priority
order of :func:`toposhape.studies.msimclr.schedule.training_plan`, each until the
convergence criterion of :func:`~toposhape.studies.msimclr.schedule.stop_point` stops it.
:func:`run` returns the chapter's payload: every model with a record, the floors (PCA of
the pixels, the untrained network) and the models not trained yet, listed as missing.
Command line::

    python -m toposhape.studies.msimclr.run train full [--only PATTERN] [--list]

Two folders per profile:

* :func:`work_dir`, ``<results>/msimclr/<profile>/_work`` (git-ignored, lost with the
  machine): a model's checkpoint ``<name>.pt``, written every ``block_steps`` steps so an
  interrupted run resumes mid-model, and its lock ``<name>.lock`` while a process trains it;
* :func:`record_dir`, ``<results>/msimclr/<profile>/records`` (committed): the moment a
  model finishes, everything the chapter reads from it (its training curve, every probe,
  the points of the figures; :func:`~toposhape.studies.msimclr.evaluate.model_record`) is
  written there as ``<name>.json``, and the floors of a dataset once as
  ``<dataset>-floors.json`` (:func:`~toposhape.studies.msimclr.evaluate.dataset_record`).
  A record is valid for its key (:func:`model_key`, :func:`floors_key`: the model, the
  settings it depends on, :data:`RECORD_FORMAT`). A model with a valid record is never
  trained or loaded again, so a profile trained over several sessions on fresh machines
  accumulates, and the payload is built from the records alone.

:mod:`toposhape.studies.msimclr.report` turns a payload into figures, tables and claims.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch

from toposhape.checks import check_bool, check_callable, check_mapping, check_path
from toposhape.contrastive import (
    ContrastiveConfig,
    MSimCLRModel,
    SimCLRModel,
    build_msimclr,
    build_simclr,
    simclr_augment,
    train_contrastive,
)
from toposhape.data import random_subset
from toposhape.results import load_record, process_running, save_record
from toposhape.studies.msimclr.schedule import (
    ModelSpec,
    check_schedule,
    next_steps,
    stop_point,
    training_plan,
)
from toposhape.studies.study import Study
from toposhape.training import read_checkpoint

__all__ = [
    "CHAPTER",
    "PROFILES",
    "RECORD_FORMAT",
    "Data",
    "Fitted",
    "check_payload",
    "empty_payload",
    "fit",
    "floors_key",
    "get_profile",
    "load_data",
    "main",
    "model_key",
    "model_status",
    "plot_points",
    "record_dir",
    "run",
    "train",
    "work_dir",
]

CHAPTER = "msimclr"

#: Format tag of the records; part of every record's key (a new tag invalidates them all).
RECORD_FORMAT = "toposhape-msimclr-record/1"

_SCHEDULE = {
    "block_steps": 100,
    "min_steps": 3000,
    "extend_steps": 1000,
    "max_steps": 6000,
    "flat_window": 0.1,
    "flat_threshold": 0.005,
}

#: Every profile trains SimCLR (reference head ``simclr-d{d}``, wide head
#: ``simclr-h{wide_head}-d{d}``) and MSimCLR (``msimclr-k{k}-d{d}``, k = 1: the MMD term
#: alone) with the schedule of :mod:`~toposhape.studies.msimclr.schedule`. Adam with
#: learning rate 1e-3 (the reference's, with its epochs and batch, is in
#: :data:`~toposhape.studies.msimclr.budget.REFERENCE`; what share of its steps these runs
#: have is computed from the records, :func:`~toposhape.studies.msimclr.budget.budgets`) and
#: the reference's τ. ``smoke`` exercises the code in seconds (its numbers mean nothing);
#: ``full`` and ``cifar10`` are trained by the command line (``train_in_run`` False: the
#: chapter run evaluates what is finished and lists the rest as missing). CIFAR-10 uses the
#: same criterion and cap; what its 12 models cost at the measured step time is computed
#: from the records (:func:`~toposhape.studies.msimclr.budget.cost`), and they are trained
#: over several sessions from their records.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist"],
        "dims": [2],
        "charts": [1, 2],
        "wide_head": 64,
        "wide_head_dims": [2],
        "seeds": [0, 1],
        "backbone": "tiny",
        "train_images": 512,
        "test_images": 500,
        "batch_size": 64,
        "lr": 1e-3,
        "temperature": 1.0,
        "block_steps": 2,
        "min_steps": 4,
        "extend_steps": 2,
        "max_steps": 6,
        "flat_window": 0.1,
        "flat_threshold": 0.005,
        "knn": 20,
        "plot_points": 500,
        "init_seeds": 4,
        "train_in_run": True,
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "dims": [2, 8],
        "charts": [1, 4, 8],
        "wide_head": 64,
        "wide_head_dims": [2, 8],
        "seeds": [0, 1, 2],
        "backbone": "tiny",
        "train_images": None,
        "test_images": None,
        "batch_size": 128,
        "lr": 1e-3,
        "temperature": 1.0,
        **_SCHEDULE,
        "knn": 20,
        "plot_points": 2000,
        "init_seeds": 50,
        "train_in_run": False,
    },
    "cifar10": {
        "datasets": ["cifar10"],
        "dims": [2],
        "charts": [1, 8],
        "wide_head": 64,
        "wide_head_dims": [2],
        "seeds": [0, 1, 2],
        "backbone": "small",
        "train_images": None,
        "test_images": None,
        "batch_size": 128,
        "lr": 1e-3,
        "temperature": 0.5,
        **_SCHEDULE,
        "knn": 20,
        "plot_points": 2000,
        "init_seeds": 50,
        "train_in_run": False,
    },
}


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir
record_dir = STUDY.records_dir


# --------------------------------------------------------------------------- records

#: The settings a model's record depends on: its training and its read-out.
_MODEL_SETTINGS = (
    "backbone", "train_images", "test_images", "batch_size", "lr", "temperature",
    "block_steps", "min_steps", "extend_steps", "max_steps", "flat_window", "flat_threshold",
    "knn",
)  # fmt: skip
#: The settings a dataset's floors record depends on.
_FLOORS_SETTINGS = (
    "backbone", "train_images", "test_images", "dims", "seeds", "knn", "plot_points",
    "init_seeds",
)  # fmt: skip


def plot_points(spec: ModelSpec, settings: Mapping[str, Any]) -> int:
    """Test points whose representation the record of ``spec`` keeps for the figures:
    ``plot_points`` for the first seed of the profile, 0 for the others."""
    return settings["plot_points"] if spec.seed == settings["seeds"][0] else 0


def model_key(spec: ModelSpec, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The key of a model's record: :data:`RECORD_FORMAT`, the model, the settings it was
    trained and read with, and the points kept (:func:`plot_points`)."""
    return {
        "format": RECORD_FORMAT,
        "model": spec._asdict(),
        "settings": {name: settings[name] for name in _MODEL_SETTINGS},
        "plot_points": plot_points(spec, settings),
    }


def floors_key(dataset: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The key of a dataset's floors record: :data:`RECORD_FORMAT`, the dataset and the
    settings the floors, labels and collapse diagnostic depend on."""
    return {
        "format": RECORD_FORMAT,
        "floors": dataset,
        "settings": {name: settings[name] for name in _FLOORS_SETTINGS},
    }


def _floors_name(dataset: str) -> str:
    return f"{dataset}-floors"


def _read_model(spec: ModelSpec, settings: Mapping[str, Any], records: Path) -> dict | None:
    return load_record(records, spec.name, model_key(spec, settings))


# --------------------------------------------------------------------------- data


class Data(NamedTuple):
    """One dataset as the chapter uses it: float images in [0, 1] (N, C, H, W) on the CPU,
    int64 labels (N,), and a record of what was read per split (``train``, ``test``)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    records: dict[str, dict[str, Any]]


def load_data(dataset: str, settings: Mapping[str, Any]) -> Data:
    """The training and test split of ``dataset``, subsampled as the profile says.

    ``train_images`` / ``test_images`` (None: all) images are drawn without replacement
    with seeds 0 and 1, the same for every model and training seed. Each record holds the
    dataset label of :func:`toposhape.image_sets.describe`, the images used, and the
    fingerprint and source of the files read.
    """
    from toposhape.image_sets import describe, load_image_set

    parts: list[torch.Tensor] = []
    records = {}
    for split, n, seed in (
        ("train", settings["train_images"], 0),
        ("test", settings["test_images"], 1),
    ):
        x, y, record = load_image_set(dataset, split)
        x, y = random_subset(x, y, n, seed)
        parts += [x.float().div_(255.0), y]
        records[split] = {
            "label": describe(record),
            "images": len(x),
            "of": record["images"],
            "fingerprint": record["fingerprint"],
            "layout": record["layout"],
            "source": record["source"],
        }
    return Data(*parts, records)


# --------------------------------------------------------------------------- training


class Fitted(NamedTuple):
    """A finished model: in eval mode, its per-block history and its criterion record
    (:func:`~toposhape.studies.msimclr.schedule.stop_point`)."""

    model: SimCLRModel | MSimCLRModel
    history: list[dict]
    criterion: dict[str, Any]


def _build(
    spec: ModelSpec, settings: Mapping[str, Any], images: torch.Tensor
) -> SimCLRModel | MSimCLRModel:
    """The model of ``spec`` with its initial weights, for images like ``images``."""
    channels, side = images.shape[1], images.shape[-1]
    if spec.charts == 0:
        return build_simclr(
            settings["backbone"], channels, side, dim=spec.dim, seed=spec.seed, hidden=spec.hidden
        )
    return build_msimclr(
        settings["backbone"], channels, side, charts=spec.charts, dim=spec.dim, seed=spec.seed
    )


def fit(
    spec: ModelSpec,
    settings: Mapping[str, Any],
    images: torch.Tensor,
    folder: Path,
    *,
    train: bool,
    progress: bool = False,
) -> Fitted | None:
    """Train one model until the criterion stops it, or load it when it is finished.

    The checkpoint ``<folder>/<spec.name>.pt`` is written every ``block_steps`` steps; the
    model resumes from it. Training is extended step count by step count of
    :func:`~toposhape.studies.msimclr.schedule.step_schedule` while the criterion asks for
    more.

    Parameters
    ----------
    spec : ModelSpec
    settings : mapping
        The profile's settings.
    images : Tensor, shape (N, C, H, W)
        The training images, float in [0, 1], on the CPU.
    folder : Path
        Checkpoint folder (created if missing).
    train : bool
        False: return None for a model that is not finished instead of training it.
    progress : bool

    Returns
    -------
    Fitted or None
    """
    schedule = check_schedule(settings)
    block = schedule["block_steps"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.pt"
    transform = simclr_augment(images.shape[-1], images.shape[1])
    while True:
        history = read_checkpoint(path).history if path.exists() else []
        stop = stop_point([entry["loss"] for entry in history], settings)
        if stop is None and not train:
            return None
        if stop is not None and len(history) * block > stop["steps"]:
            raise ValueError(
                f"checkpoint {path} holds {len(history) * block} steps, past the "
                f"{stop['steps']} at which the profile's criterion stops it (the schedule "
                "settings changed): delete it to train that model again"
            )
        steps = stop["steps"] if stop is not None else next_steps(len(history) * block, settings)
        config = ContrastiveConfig(
            epochs=steps // block,
            steps_per_epoch=block,
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            temperature=settings["temperature"],
            seed=spec.seed,
        )
        model = _build(spec, settings, images)
        history = train_contrastive(
            model,
            images,
            transform,
            config,
            checkpoint=path,
            progress=progress and stop is None,
        )
        if stop is not None:
            return Fitted(model.eval(), history, stop)


def _plan(profile: str, only: str | None) -> list[ModelSpec]:
    plan = training_plan(get_profile(profile))
    if only is None:
        return plan
    picked = [spec for spec in plan if fnmatch.fnmatchcase(spec.name, only)]
    if not picked:
        raise ValueError(
            f"only={only!r} matches no model of profile {profile!r}; names look like "
            f"{plan[0].name!r}"
        )
    return picked


def model_status(spec: ModelSpec, settings: Mapping[str, Any], folder: Path, records: Path) -> str:
    """Where a model stands.

    ``"done"`` (it has a valid record in ``records``), ``"trained (<steps> steps), no
    record"`` (its checkpoint in ``folder`` is finished; the next :func:`train` or
    :func:`run` writes the record without training), ``"partial (<steps> steps)"``
    (started) or ``"pending"``.
    """
    if _read_model(spec, settings, records) is not None:
        return "done"
    steps, finished = _checkpoint_state(spec, settings, folder)
    if finished:
        return f"trained ({steps} steps), no record"
    return f"partial ({steps} steps)" if steps else "pending"


def _checkpoint_state(
    spec: ModelSpec, settings: Mapping[str, Any], folder: Path
) -> tuple[int, bool]:
    """Steps in the model's checkpoint (0 without one) and whether the criterion stops it
    there (it is finished)."""
    path = folder / f"{spec.name}.pt"
    if not path.exists():
        return 0, False
    history = read_checkpoint(path).history
    finished = stop_point([entry["loss"] for entry in history], settings) is not None
    return len(history) * settings["block_steps"], finished


def _record_model(
    spec: ModelSpec,
    settings: Mapping[str, Any],
    data: Data,
    folder: Path,
    records: Path,
    *,
    train: bool,
    progress: bool,
) -> dict[str, Any] | None:
    """Finish one model (:func:`fit`), evaluate it and write its record; the record as
    saved, or None if the model is not finished and ``train`` is False."""
    from toposhape.studies.msimclr.evaluate import model_record

    fitted = fit(spec, settings, data.train_x, folder, train=train, progress=progress)
    if fitted is None:
        return None
    record = model_record(spec, fitted, data, settings["knn"], plot_points(spec, settings))
    save_record(records, spec.name, model_key(spec, settings), record)
    return _read_model(spec, settings, records)


@contextmanager
def _claim(path: Path) -> Iterator[bool]:
    """Hold ``path`` (a lock file with this process's id) while the block runs.

    Yields False, holding nothing, if another running process holds it; a lock left by a
    process that no longer runs is taken over. Lets several ``train`` processes share one
    profile: each trains the next model no other process is training.
    """
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text() or -1)
            except (OSError, ValueError):
                pid = -1
            if pid > 0 and process_running(pid):
                yield False
                return
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as file:
            file.write(str(os.getpid()))
        try:
            yield True
        finally:
            path.unlink(missing_ok=True)
        return
    yield False


def train(
    profile: str,
    only: str | None = None,
    results_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[str]:
    """Train every model of a profile that has no record, in priority order.

    A model is trained (or resumed from its checkpoint, or only loaded if its checkpoint is
    finished), evaluated and its record written (see the module docstring) before the
    next one starts.

    Parameters
    ----------
    profile : str
        One of :data:`PROFILES`.
    only : str, optional
        A shell pattern (``fnmatch``) on the models' names ``<dataset>-<key>-s<seed>``,
        e.g. ``"mnist-*-s0"``; None trains all.
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, records to :func:`record_dir`.
    progress : bool
        Show a progress bar per model.
    log : callable or None
        Receives one line per finished model.

    Returns
    -------
    list of str
        The names of the models this call recorded (trained, finished training, or only
        evaluated from a finished checkpoint).

    Notes
    -----
    A model being trained is locked (``<name>.lock`` beside its checkpoint, holding the
    process id), so several processes can train one profile side by side: each skips the
    models another running process holds.
    """
    settings = get_profile(profile)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    plan = _plan(profile, only)
    folder, records = work_dir(profile, results_root), record_dir(profile, results_root)
    data: dict[str, Data] = {}
    trained = []
    folder.mkdir(parents=True, exist_ok=True)
    for i, spec in enumerate(plan):
        if _read_model(spec, settings, records) is not None:
            continue
        with _claim(folder / f"{spec.name}.lock") as mine:
            if not mine:
                say(f"[{i + 1}/{len(plan)}] {spec.name}: another process is training it")
                continue
            if _read_model(spec, settings, records) is not None:  # recorded meanwhile
                continue
            if spec.dataset not in data:
                data[spec.dataset] = load_data(spec.dataset, settings)
            started = time.perf_counter()
            record = _record_model(
                spec, settings, data[spec.dataset], folder, records, train=True, progress=progress
            )
        trained.append(spec.name)
        c = record["criterion"]
        say(
            f"[{i + 1}/{len(plan)}] {spec.name}: {c['steps']} steps, "
            f"{'converged' if c['converged'] else 'capped'} (last 10 % improved "
            f"{100 * c['relative_improvement']:.2f} %), {time.perf_counter() - started:.0f} s"
        )
    return trained


def main(argv: list[str] | None = None) -> int:
    """Command line: ``train PROFILE [--only PATTERN] [--list]``.

    ``train`` trains (or resumes) every model of the profile without a record, in priority
    order; it can be stopped at any moment and started again. ``--list`` prints every
    model of the profile in that order with its state (:func:`model_status`) and trains
    nothing. Errors are reported as
    :mod:`toposhape.cli` describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.msimclr.run")
        sub = parser.add_subparsers(dest="command", required=True)
        cmd = sub.add_parser("train", help="train (or resume) the models of a profile")
        cmd.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        cmd.add_argument("--only", help="shell pattern on model names, e.g. 'mnist-*-s0'")
        cmd.add_argument("--list", action="store_true", help="list the models, train nothing")
        args = parser.parse_args(argv)
        if args.list:
            settings = get_profile(args.profile)
            folder, records = work_dir(args.profile), record_dir(args.profile)
            for spec in _plan(args.profile, args.only):
                print(f"{spec.name}: {model_status(spec, settings, folder, records)}")
            return
        train(args.profile, args.only)

    return run_command(command, argv)


# --------------------------------------------------------------------------- evaluation


def empty_payload(profile: str) -> dict[str, Any]:
    """The payload of a profile nothing of which was evaluated: its settings, no dataset,
    every model missing (what the chapter shows for a profile not run yet)."""
    settings = get_profile(profile)
    return {
        "profile": profile,
        "settings": settings,
        "datasets": {},
        "missing": [spec.name for spec in training_plan(settings)],
        "timings_s": {},
    }


def check_payload(payload: object) -> Mapping[str, Any]:
    """``payload``, raising unless it is a mapping with a payload's ``settings``,
    ``datasets`` and ``missing`` (what every reader of a payload checks first)."""
    return check_mapping("payload", payload, "settings", "datasets", "missing")


def run(
    profile: str,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool | None = None,
) -> dict[str, Any]:
    """Every number of the chapter for one profile, from its records.

    A model with a record (see the module docstring) is neither trained nor loaded. A
    model without one is finished (trained if ``train_missing``, else only if its
    checkpoint is finished), evaluated and recorded; if it is not finished it is listed
    as missing. A dataset's floors are computed and recorded the first time (no training;
    the untrained networks' probes on every image). Data are read only for what has no
    record.

    Parameters
    ----------
    profile : str
        One of :data:`PROFILES`.
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, records to :func:`record_dir`.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per dataset.
    train_missing : bool, optional
        Train the models that are not finished (None: the profile's ``train_in_run``).

    Returns
    -------
    dict
        JSON-serialisable payload: ``profile``, ``settings``, ``datasets`` (per dataset:
        :func:`~toposhape.studies.msimclr.evaluate.dataset_entry`), ``missing`` (names of
        the models not finished, in priority order) and ``timings_s`` (seconds per
        dataset, this call).
    """
    from toposhape.studies.msimclr.evaluate import dataset_entry, dataset_record

    settings = get_profile(profile)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    if train_missing is not None:
        check_bool("train_missing", train_missing)
    train_missing = settings["train_in_run"] if train_missing is None else train_missing
    say = log or (lambda _msg: None)
    folder, records = work_dir(profile, results_root), record_dir(profile, results_root)
    plan = training_plan(settings)
    payload: dict[str, Any] = {
        "profile": profile,
        "settings": settings,
        "datasets": {},
        "missing": [],
        "timings_s": {},
    }
    for dataset in settings["datasets"]:
        started = time.perf_counter()
        specs = [spec for spec in plan if spec.dataset == dataset]
        done = {spec: _read_model(spec, settings, records) for spec in specs}
        key = floors_key(dataset, settings)
        base = load_record(records, _floors_name(dataset), key)
        todo = [
            spec
            for spec in specs
            if done[spec] is None
            and (train_missing or _checkpoint_state(spec, settings, folder)[1])
        ]
        data = load_data(dataset, settings) if todo or base is None else None
        for spec in todo:
            done[spec] = _record_model(
                spec, settings, data, folder, records, train=train_missing, progress=progress
            )
        payload["missing"] += [spec.name for spec in specs if done[spec] is None]
        if base is None:
            save_record(records, _floors_name(dataset), key, dataset_record(settings, data))
            base = load_record(records, _floors_name(dataset), key)
        models = {spec: record for spec, record in done.items() if record is not None}
        payload["datasets"][dataset] = dataset_entry(dataset, settings, base, models)
        payload["timings_s"][dataset] = round(time.perf_counter() - started, 1)
        say(
            f"{dataset}: {len(models)} of {len(specs)} models recorded ({len(todo)} by this "
            f"call), {payload['timings_s'][dataset]:.0f} s"
        )
    order = {spec.name: i for i, spec in enumerate(plan)}
    payload["missing"].sort(key=order.__getitem__)
    return payload


if __name__ == "__main__":
    raise SystemExit(main())
