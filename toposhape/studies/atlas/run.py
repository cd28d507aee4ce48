"""The experiments of the chapter "Atlases" (Korman, "Autoencoding topology", 2018).

:func:`run` measures every number of the chapter and returns the JSON-serialisable payload
that :func:`toposhape.results.save_results` writes to ``results/atlas/<profile>.json``;
:mod:`toposhape.studies.atlas.report` draws it. The models are trained by :func:`train`
(the command line ``python -m toposhape.studies.atlas.run train PROFILE``), one at a
time in :func:`jobs` order, with a checkpoint after every epoch (git-ignored work folder).
As soon as a model finishes it is read (below) and its read is written as a committed
record, ``results/atlas/<profile>/records/<model>.json``
(:func:`toposhape.results.save_record`), so a profile trained over several sessions, on
fresh machines, accumulates. :func:`run` assembles the records and lists the models that
have none as pending (or trains and reads them first, as the smoke profile does).

* Controls (:mod:`.controls`): hand-built soft covers of every manifold, read exactly as
  the learned atlases are; they fix the long-bar threshold. No training.
* Known manifolds: atlas WAEs on standardised samples, with the GAN and with the MMD,
  several chart counts k and 10 seeds; each read on a fresh dense sample: the nerve's
  Betti numbers over Z/2 and Z/3, and every chart's contractibility.
* Intrinsic dimension: the 3-torus T³ ⊂ R⁶ with d = 1..5 (MMD); held-out reconstruction
  error and MMD per d.
* MNIST with d = 2, k = 15: decoded chart grids, chart overlaps, chart/digit table.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from toposhape.atlas import (
    AtlasAutoencoder,
    AtlasConfig,
    train_atlas,
)
from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_path,
    check_tensor,
)
from toposhape.covers import COVERS
from toposhape.manifolds import MANIFOLDS, sample_manifold
from toposhape.results import atomic_write_bytes, load_record, save_record
from toposhape.studies.atlas import readout
from toposhape.studies.atlas.controls import control_study, standardise
from toposhape.studies.atlas.reads import manifold_read, mnist_read, torus3_read
from toposhape.studies.study import Study
from toposhape.training import MAX_SEED, checkpoint_epochs, seeded

__all__ = [
    "CHAPTER",
    "PROFILES",
    "REGULARISERS",
    "TORUS3_CHARTS",
    "Job",
    "fit",
    "get_profile",
    "jobs",
    "main",
    "one_thread",
    "record_dir",
    "run",
    "train",
    "work_dir",
]

CHAPTER = "atlas"

#: Regulariser weights λ: the GAN's encoder loss is O(1), the MMD O(0.01); each weight was
#: set by one pilot run on the sphere (seed 0) so the regulariser is not negligible next
#: to the reconstruction error.
REGULARISERS: dict[str, float] = {"gan": 1.0, "mmd": 10.0}

#: Charts k of every T³ atlas (the chart dimension d is what the T³ study varies).
TORUS3_CHARTS = 8

_MNIST = {"charts": 15, "dim": 2, "hidden": 256, "regulariser": "mmd", "grid": 6}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "manifolds": {"circle": [4], "sphere": [6]},
        "regularisers": ["mmd", "gan"],
        "seeds": [0],
        "points": 2000,
        "epochs": 10,
        "readout_points": 10000,
        "controls": ["circle-4", "sphere-6", "torus-3x3", "rp2-9", "torus-1x8", "sphere-3"],
        "control_entropies": [0.1, 0.2, 0.4],
        "control_points": 10000,
        "torus3_dims": [1, 2, 3],
        "torus3_seeds": [0],
        "torus3_epochs": 3,
        "torus3_heldout": 2000,
        "mnist_images": 2000,
        "mnist_epochs": 1,
        "mnist_seeds": 1,
        "train_missing": True,
    },
    "full": {
        "manifolds": {"circle": [4], "sphere": [6], "torus": [9, 12, 16], "rp2": [9, 12, 16]},
        "regularisers": ["mmd", "gan"],
        "seeds": list(range(10)),
        "points": 4000,
        "epochs": 100,
        "readout_points": 40000,
        "controls": list(COVERS),
        "control_entropies": [0.05, 0.1, 0.2, 0.4, 0.7],
        "control_points": 40000,
        "torus3_dims": [1, 2, 3, 4, 5],
        "torus3_seeds": [0, 1, 2, 3, 4],
        "torus3_epochs": 100,
        "torus3_heldout": 10000,
        "mnist_images": None,
        "mnist_epochs": 3,
        "mnist_seeds": 3,
        "train_missing": False,
    },
}


@contextmanager
def one_thread() -> Iterator[None]:
    """Inside the block, torch computes on one CPU thread (the previous count is restored).

    The atlas models are small (MLPs of width 64, batches of 100): one thread trains them
    as fast as two on an idle machine, and many times faster on a busy one (an epoch of the
    16-chart torus atlas took 7× longer on two threads than on one while other jobs ran);
    a fixed count also keeps a resumed run bit-identical to an uninterrupted one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir
record_dir = STUDY.records_dir


def _check_folder(folder: object) -> Path:
    """The checkpoint folder as a Path (a str or PathLike; None is refused)."""
    if folder is None:
        raise TypeError("folder must be a path, got None")
    check_path("folder", folder)
    return Path(folder)


@dataclass(frozen=True)
class Job:
    """One model of a profile.

    Attributes
    ----------
    kind : {"manifold", "torus3", "mnist"}
    manifold : str
        The data ("mnist" for MNIST).
    charts, dim : int
        k and d.
    regulariser : {"gan", "mmd"}
    seed : int
    """

    kind: str
    manifold: str
    charts: int
    dim: int
    regulariser: str
    seed: int

    @property
    def name(self) -> str:
        """The stem of the model's checkpoint, e.g. ``torus-k9-mmd-s0``."""
        if self.kind == "manifold":
            return f"{self.manifold}-k{self.charts}-{self.regulariser}-s{self.seed}"
        if self.kind == "torus3":
            return f"torus3-d{self.dim}-s{self.seed}"
        return f"mnist-s{self.seed}"


def jobs(settings: Mapping[str, Any], seed: int = 0) -> list[Job]:
    """Every model of a profile, in the order they are trained.

    Seed by seed: the known-manifold atlases (every manifold, k and regulariser) of a
    seed, then the T³ atlases of that seed (d = 1..5) while there are T³ seeds left, and
    the ``mnist_seeds`` MNIST atlases (seeds ``seed``, ``seed + 1``, ...) after the third
    seed; so the first three seeds of every cell, T³'s included, are done before any fourth.
    """
    seeds = list(dict.fromkeys([*settings["seeds"], *settings["torus3_seeds"]]))
    out = []
    for i, s in enumerate(seeds):
        if s in settings["seeds"]:
            out += [
                Job("manifold", name, k, MANIFOLDS[name].dim, reg, s)
                for name, ks in settings["manifolds"].items()
                for k in ks
                for reg in settings["regularisers"]
            ]
        if s in settings["torus3_seeds"]:
            out += [
                Job("torus3", "torus3", TORUS3_CHARTS, d, "mmd", s) for d in settings["torus3_dims"]
            ]
        if i == min(2, len(seeds) - 1):
            out += [
                Job("mnist", "mnist", _MNIST["charts"], _MNIST["dim"], "mmd", seed + j)
                for j in range(settings["mnist_seeds"])
            ]
    return out


def _epochs(job: Job, settings: Mapping[str, Any]) -> int:
    return settings[
        {"manifold": "epochs", "torus3": "torus3_epochs", "mnist": "mnist_epochs"}[job.kind]
    ]


def fit(
    data: torch.Tensor,
    charts: int,
    dim: int,
    regulariser: str,
    seed: int,
    epochs: int,
    folder: Path,
    name: str,
    hidden: int = 64,
    progress: bool = False,
) -> tuple[AtlasAutoencoder, list[dict]]:
    """Train one atlas WAE (seeded init, checkpoint ``folder/<name>.pt``, resumable).

    A finished checkpoint is only read back. Once trained, the history is also written
    to ``folder/<name>.json``.

    Parameters
    ----------
    data : Tensor, shape (N, D) or (N, C, S, S)
        Finite floating samples.
    charts, dim : int
        k, d >= 1.
    regulariser : {"gan", "mmd"}
        Weighted by :data:`REGULARISERS`.
    seed : int
        Seeds initial weights, batch order and prior draws; in [0,
        :data:`toposhape.training.MAX_SEED`].
    epochs : int
        >= 1.
    folder : path
        Checkpoint folder (created if missing).
    name : str
        Non-empty stem of the checkpoint file.
    hidden : int
        >= 1.
    progress : bool

    Returns
    -------
    model : AtlasAutoencoder
    history : list of dict
    """
    data = check_tensor("data", data, floating=True, finite=True, min_rows=1)
    if data.dim() not in (2, 4):
        raise ValueError(f"data must have shape (N, D) or (N, C, S, S), got {tuple(data.shape)}")
    charts, dim = check_int("charts", charts, 1), check_int("dim", dim, 1)
    check_choice("regulariser", regulariser, tuple(REGULARISERS))
    seed = check_int("seed", seed, 0, MAX_SEED)
    epochs = check_int("epochs", epochs, 1)
    folder = _check_folder(folder)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty")
    hidden = check_int("hidden", hidden, 1)
    check_bool("progress", progress)
    with seeded(seed):
        model = AtlasAutoencoder(tuple(data.shape[1:]), charts, dim, hidden)
    config = AtlasConfig(
        regulariser=regulariser, lam=REGULARISERS[regulariser], epochs=epochs, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    history, _ = train_atlas(
        model, data, config, checkpoint=folder / f"{name}.pt", progress=progress
    )
    record = {"model": model.config, "config": asdict(config), "history": history}
    atomic_write_bytes(folder / f"{name}.json", json.dumps(record).encode())
    return model, history


def _training_sample(job: Job, settings: Mapping[str, Any]) -> tuple[torch.Tensor, ...]:
    """The standardised training sample of a manifold job, and its mean and std."""
    x, _ = sample_manifold(job.manifold, settings["points"], seed=job.seed)
    return standardise(x)


def _mnist_images(settings: Mapping[str, Any], seed: int) -> torch.Tensor:
    from toposhape.data import load_images

    train_x, _ = load_images("mnist", "train")
    if settings["mnist_images"] is not None:
        pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
        train_x = train_x[pick[: settings["mnist_images"]]]
    return train_x


def _fit_job(
    job: Job, settings: Mapping[str, Any], folder: Path, progress: bool
) -> tuple[AtlasAutoencoder, list[dict], torch.Tensor | None, torch.Tensor | None, int]:
    """Train (or read back) a job's model: model, history, the data's mean and std (None
    for MNIST) and the number of training samples."""
    if job.kind == "mnist":
        data, mean, std = _mnist_images(settings, job.seed), None, None
    else:
        data, mean, std = _training_sample(job, settings)
    hidden = _MNIST["hidden"] if job.kind == "mnist" else 64
    model, history = fit(
        data, job.charts, job.dim, job.regulariser, job.seed, _epochs(job, settings), folder,
        job.name, hidden=hidden, progress=progress,
    )  # fmt: skip
    return model, history, mean, std, len(data)


#: Format tag of the per-model records; change it when a read changes what it measures.
RECORD_FORMAT = "toposhape-atlas-read/1"


#: The settings a model and its read depend on, by kind of job (the manifold reads use the
#: long-bar threshold of the controls, so the controls' settings too).
_READ_SETTINGS = {
    "manifold": (
        "points", "epochs", "readout_points", "controls", "control_entropies", "control_points",
    ),
    "torus3": ("torus3_epochs", "torus3_heldout"),
    "mnist": ("mnist_images", "mnist_epochs"),
}  # fmt: skip


def _keeps_plots(job: Job, settings: Mapping[str, Any]) -> bool:
    """Whether a known-manifold read keeps its plotting data (the first seed's do)."""
    return job.kind == "manifold" and job.seed == min(settings["seeds"])


def _record_key(job: Job, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What a model's record depends on: the job, the settings it uses, the read's format.

    Only those settings: growing the grid (more seeds, another k) leaves the records of the
    models already read valid.
    """
    used = {name: settings[name] for name in _READ_SETTINGS[job.kind]}
    return {
        "format": RECORD_FORMAT,
        "job": asdict(job),
        "settings": used,
        "plots": _keeps_plots(job, settings),
    }


def _saved_read(job: Job, settings: Mapping[str, Any], records: Path) -> dict[str, Any] | None:
    return load_record(records, job.name, _record_key(job, settings))


def _train_and_read(
    job: Job, settings: Mapping[str, Any], folder: Path, records: Path, threshold: float,
    progress: bool,
) -> dict[str, Any]:  # fmt: skip
    """Train (or resume) a job's model, read it, and save the read as the model's record.

    The first of the profile's seeds keeps the plotting data of the known-manifold reads.
    """
    model, history, mean, std, n = _fit_job(job, settings, folder, progress)
    if job.kind == "manifold":
        plots = _keeps_plots(job, settings)
        read = manifold_read(job, model, history, mean, std, settings, threshold, plots)
    elif job.kind == "torus3":
        read = torus3_read(job, model, history, mean, std, settings)
    else:
        read = mnist_read(model, history, n, _MNIST["grid"])
    save_record(records, job.name, _record_key(job, settings), read)
    return read


def train(
    profile: str,
    only: str | None = None,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = True,
) -> list[str]:
    """Train and read every model of a profile that has no record, in :func:`jobs` order.

    Every epoch is checkpointed, so a stopped run resumes where it was; a finished model's
    read is saved as its record at once (the controls are computed first, for the
    threshold the reads use).

    Parameters
    ----------
    profile : str
    only : str, optional
        A shell pattern on the models' names (e.g. ``"torus3-*"``); the others are skipped.
    seed : int
        Seed of the MNIST subset and model (as :func:`run`'s).
    results_root : path, optional
    progress : bool

    Returns
    -------
    list of str
        The names of the models trained and read by this call.
    """
    settings = get_profile(profile)
    if only is not None and not isinstance(only, str):
        raise TypeError(f"only must be a string pattern or None, got {type(only).__name__}")
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_bool("progress", progress)
    folder = work_dir(profile, results_root)
    records = record_dir(profile, results_root)
    todo = [
        job
        for job in jobs(settings, seed)
        if (only is None or fnmatch.fnmatchcase(job.name, only))
        and _saved_read(job, settings, records) is None
    ]
    if not todo:
        return []
    from tqdm.auto import tqdm

    with one_thread():
        threshold = control_study(settings)["threshold"]["threshold"]
        for job in tqdm(todo, desc=f"atlas {profile}: models", disable=not progress):
            _train_and_read(job, settings, folder, records, threshold, progress)
    return [job.name for job in todo]


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool | None = None,
) -> dict[str, Any]:
    """Compute every number of the chapter from the controls and the trained models.

    Parameters
    ----------
    profile : {"smoke", "full"}
    seed : int
        Seeds the MNIST subset and model, in [0, :data:`toposhape.training.MAX_SEED`];
        the other models use the profile's seeds.
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, the models' records to
        ``<results>/atlas/<profile>/records``.
    progress : bool
        Progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing : bool, optional
        Train and read the models that have no record (None: the profile's
        ``train_missing``). Otherwise they are listed under ``pending`` and left out.

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    if train_missing is not None:
        check_bool("train_missing", train_missing)
    else:
        train_missing = settings["train_missing"]
    say = log or (lambda _msg: None)
    folder = work_dir(profile, results_root)
    with one_thread():
        records = record_dir(profile, results_root)
        return _run(profile, settings, seed, folder, records, progress, say, train_missing)


def _run(
    profile: str, settings: dict[str, Any], seed: int, folder: Path, records: Path,
    progress: bool, say: Callable[[str], None], train_missing: bool,
) -> dict[str, Any]:  # fmt: skip
    """:func:`run` on checked arguments."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    controls = control_study(settings)
    threshold = controls["threshold"]["threshold"]
    timings["controls"] = round(time.perf_counter() - started, 1)
    say(f"controls: {timings['controls']:.0f} s")
    started = time.perf_counter()
    from tqdm.auto import tqdm

    manifolds, torus3, mnist, pending = [], [], [], []
    for job in tqdm(jobs(settings, seed), desc="atlas models", disable=not progress):
        read = _saved_read(job, settings, records)
        if read is None and not train_missing:
            pending.append(job.name)
            continue
        if read is None:
            read = _train_and_read(job, settings, folder, records, threshold, progress=False)
        if job.kind == "manifold":
            manifolds.append(read)
        elif job.kind == "torus3":
            torus3.append(read)
        else:
            mnist.append({"seed": job.seed, **read})
    timings["models"] = round(time.perf_counter() - started, 1)
    say(f"models: {timings['models']:.0f} s")
    return {
        "profile": profile,
        "settings": settings,
        "regularisers": REGULARISERS,
        "torus3_charts": TORUS3_CHARTS,
        "mnist_setup": _MNIST,
        "readout": {
            "rule": readout.NERVE_RULE,
            "fields": list(readout.FIELDS),
            "window": readout.WINDOW,
            "chart_long": readout.CHART_LONG,
            "chart_subsample": readout.CHART_SUBSAMPLE,
            "min_chart_points": readout.MIN_CHART_POINTS,
        },
        "controls": controls,
        "manifolds": manifolds,
        "torus3": torus3,
        "mnist": mnist,
        "pending": pending,
        "timings_s": timings,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: train a profile's models ahead of the chapter run.

    ``python -m toposhape.studies.atlas.run train full`` trains (or resumes) every model
    of the profile that is not finished, one at a time, most important first; it can be
    stopped at any time and started again. ``status`` lists what is finished. Errors are
    reported as :mod:`toposhape.cli` describes (one line, exit status 2; 130 when
    interrupted).
    """
    from toposhape.cli import Parser, run_command

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.atlas.run")
        sub = parser.add_subparsers(dest="command", required=True)
        for name, text in (("train", "train the unfinished models"), ("status", "list them")):
            cmd = sub.add_parser(name, help=f"{text} of a profile, in training order")
            cmd.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
            cmd.add_argument("--only", help="a shell pattern on model names, e.g. 'torus3-*'")
            cmd.add_argument("--seed", type=int, default=0, help="MNIST seed (as the chapter's)")
        args = parser.parse_args(argv)
        if args.command == "train":
            done = train(args.profile, args.only, args.seed)
            print(f"{len(done)} models trained")
            return
        settings = get_profile(args.profile)
        folder, records = work_dir(args.profile), record_dir(args.profile)
        for job in jobs(settings, args.seed):
            if args.only is None or fnmatch.fnmatchcase(job.name, args.only):
                if _saved_read(job, settings, records) is not None:
                    print(f"{job.name}\tdone (record)")
                    continue
                have = checkpoint_epochs(folder / f"{job.name}.pt")
                print(f"{job.name}\t{have}/{_epochs(job, settings)} epochs")

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
