"""The experiments of the chapter "Manifold triplet learning" (Korman, arXiv 2106.07062).

:func:`run` collects a profile's results: every model of the grid
(:func:`~toposhape.studies.triplet.protocol.model_specs`) at every training seed, and the
compression study of every seed's 64-d embedding, from the records the training command
leaves in the profile's records folder; it trains what is missing only when asked to (the
``smoke`` profile does), and lists the rest as pending. Beside them, every dataset's
floors (:mod:`~toposhape.studies.triplet.floors`: retrieval on the pixels and their
principal components, no training), computed and recorded the first time. No plotting:
the payload's figures, tables and claims are in :mod:`toposhape.studies.triplet.report`,
its sentences in :mod:`toposhape.studies.triplet.sentences`.

Command line (training ahead of the chapter, resumable, in priority order)::

    python -m toposhape.studies.triplet.run train full tinyimagenet
    python -m toposhape.studies.triplet.run train full --seed 0 --only '*/mnist/*'
    python -m toposhape.studies.triplet.run plan full tinyimagenet

``train`` first records the floors of every dataset it has a job of (when missing), then
runs every unfinished job of the profiles in the order of
:func:`~toposhape.studies.triplet.protocol.jobs` (every profile's seed 0 first; within a
seed the headline models at d = 2, then the 64-d study and its compression study, then
the rest) and can be stopped at any time: a model resumes from its last finished epoch.
``plan`` lists the jobs in that order, each marked done or pending.

:func:`benchmark_status` says whether the reference's benchmarks (CUB-200-2011, Stanford
Cars) are on this machine.
"""

import fnmatch
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toposhape.checks import check_bool, check_callable, check_path
from toposhape.data import USER_LAYOUTS, user_root
from toposhape.studies.triplet.data import Split, load_splits
from toposhape.studies.triplet.floors import read_floors, write_floors
from toposhape.studies.triplet.protocol import (
    CHAPTER,
    PROFILES,
    get_profile,
    jobs,
    work_dir,
)
from toposhape.studies.triplet.train import read_record, run_job
from toposhape.triplet import load_cars196, load_cub200

__all__ = [
    "BENCHMARKS",
    "CHAPTER",
    "PROFILES",
    "benchmark_status",
    "get_profile",
    "main",
    "run",
    "train",
    "work_dir",
]


def _loader(say: Callable[[str], None]) -> Callable[[str, str], dict[str, Split]]:
    """Read a (profile, dataset)'s splits, each once (when first asked for)."""
    loaded: dict[tuple[str, str], dict[str, Split]] = {}

    def load(profile: str, dataset: str) -> dict[str, Split]:
        if (profile, dataset) not in loaded:
            started = time.perf_counter()
            loaded[profile, dataset] = load_splits(dataset, get_profile(profile))
            say(f"read {dataset} ({profile}): {time.perf_counter() - started:.0f} s")
        return loaded[profile, dataset]

    return load


def _floors(
    profile: str,
    dataset: str,
    folder: Path,
    load: Callable[[str, str], dict[str, Split]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The dataset's floors record, computed and written first if missing."""
    settings = get_profile(profile)
    record = read_floors(folder, dataset, settings)
    if record is None:
        record = write_floors(folder, dataset, settings, load(profile, dataset))
        say(f"{profile}/{dataset}/floors: {record['seconds']:.0f} s")
    return record


def train(
    profiles: Sequence[str],
    seeds: Sequence[int] | None = None,
    only: str | None = None,
    results_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> int:
    """Record the missing floors of the jobs' datasets, then run every unfinished job of
    the profiles in priority order; the number of jobs run.

    Parameters
    ----------
    profiles : sequence of str
        Profile names, e.g. ``["full", "tinyimagenet"]``.
    seeds : sequence of int, optional
        Only these training seeds.
    only : str, optional
        Only the jobs whose name (``<profile>/<dataset>/seed<seed>/<key>``) matches this
        ``fnmatch`` pattern.
    results_root : path, optional
        Results folder (default ``<repo>/results``).
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per dataset read, floors record written and job run.
    """
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    if only is not None and not isinstance(only, str):
        raise TypeError(f"only must be a string pattern or None, got {type(only).__name__}")
    say = log or (lambda _msg: None)
    todo = [job for job in jobs(profiles, seeds) if only is None or fnmatch.fnmatch(job.name, only)]
    folders = {name: work_dir(name, results_root) for name in profiles}
    load = _loader(say)
    for profile, dataset in dict.fromkeys((job.profile, job.dataset) for job in todo):
        _floors(profile, dataset, folders[profile], load, say)
    count = 0
    for job in todo:
        if read_record(folders[job.profile], job) is None:
            started = time.perf_counter()
            folder = folders[job.profile]
            run_job(job, load(job.profile, job.dataset), get_profile(job.profile), folder, progress)
            say(f"{job.name}: {time.perf_counter() - started:.0f} s")
            count += 1
    say(f"{count} jobs run, {len(todo) - count} were already done")
    return count


def run(
    profile: str,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool | None = None,
) -> dict[str, Any]:
    """Every number of a profile: the finished jobs' records, the floors and what is pending.

    The data are read only for a dataset whose floors record is missing (or to train).

    Parameters
    ----------
    profile : {"smoke", "full", "tinyimagenet"}
    results_root : path, optional
        Results folder; the records are read from (and missing jobs trained into)
        :func:`work_dir`.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per job run.
    train_missing : bool, optional
        Train the unfinished jobs (in priority order) before collecting; default: the
        profile's ``train_in_run`` (True for ``smoke`` only).

    Returns
    -------
    dict
        JSON-serialisable payload: ``profile``, ``settings``, ``models`` (the model
        records), ``compression`` (the compression records), ``floors`` (dataset → its
        floors record, :func:`~toposhape.studies.triplet.floors.write_floors`), ``pending``
        (names of the unfinished jobs) and ``timings_s``.

    Raises
    ------
    ValueError
        If a model's record was made from other training or test images than its
        dataset's floors record (the floors would not be read on the models' images).
    """
    settings = get_profile(profile)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    if train_missing is None:
        train_missing = settings["train_in_run"]
    check_bool("train_missing", train_missing)
    folder = work_dir(profile, results_root)
    started = time.perf_counter()
    if train_missing:
        train([profile], results_root=results_root, progress=progress, log=log)
    trained = time.perf_counter()
    models, compression, pending = [], [], []
    for job in jobs([profile]):
        record = read_record(folder, job)
        if record is None:
            pending.append(job.name)
        else:
            (models if job.spec is not None else compression).append(record)
    say = log or (lambda _msg: None)
    load = _loader(say)
    floors = {d: _floors(profile, d, folder, load, say) for d in settings["datasets"]}
    for record in models:
        _check_floor_data(record, floors[record["dataset"]])
    return {
        "profile": profile,
        "settings": settings,
        "models": models,
        "compression": compression,
        "floors": floors,
        "pending": pending,
        "timings_s": {
            "training in this run": round(trained - started, 1),
            "collecting the records": round(time.perf_counter() - trained, 1),
        },
    }


def _check_floor_data(model: Mapping[str, Any], floors: Mapping[str, Any]) -> None:
    """Raise ValueError unless the model was trained and read on the floors' images: the
    same files (fingerprint), classes and number of images (drawn with one seed)."""
    for split in ("train", "test"):
        mine, theirs = model["data"][split], floors["data"][split]
        if any(mine[key] != theirs[key] for key in ("fingerprint", "classes", "images")):
            raise ValueError(
                f"the record of {model['profile']}/{model['dataset']}/seed{model['seed']}/"
                f"{model['key']} was made from other {split} images ({model['data'][split]}) "
                f"than the dataset's floors ({floors['data'][split]}); delete the records "
                "made from the images no longer in use and run again"
            )


#: The reference's benchmarks (no offline source provides them) and their loaders.
BENCHMARKS = {"cub200": load_cub200, "cars196": load_cars196}


def benchmark_status() -> dict[str, str]:
    """For each of :data:`BENCHMARKS`: the images found, or the files it needs.

    Looks in the data folder (``$TOPOSHAPE_DATA``, default ``<repo>/data``); the answer
    names no absolute path, so it can be shown in the book.

    Returns
    -------
    dict of str to str
        Benchmark name -> ``"<n> training and <m> held-out images"`` or
        ``"not in the data folder (TOPOSHAPE_DATA), which needs <files>"``.
    """
    status = {}
    for name, loader in BENCHMARKS.items():
        try:
            root = user_root(name)
        except FileNotFoundError:
            expected = ", ".join(USER_LAYOUTS[name][0])
            status[name] = f"not in the data folder (TOPOSHAPE_DATA), which needs {expected}"
            continue
        train_paths, _, test_paths, _ = loader(root)
        status[name] = f"{len(train_paths)} training and {len(test_paths)} held-out images"
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring); errors as :mod:`toposhape.cli` reports them."""
    from toposhape.cli import Parser, run_command

    def command(argv: Sequence[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.triplet.run")
        sub = parser.add_subparsers(dest="command", required=True)
        for name, text in (
            ("train", "train (or resume) every unfinished job, in priority order"),
            ("plan", "list the jobs in priority order, each done or pending"),
        ):
            one = sub.add_parser(name, help=text)
            one.add_argument("profiles", nargs="+", help=f"of {', '.join(PROFILES)}")
            one.add_argument("--seed", type=int, action="append", help="only this seed")
            one.add_argument("--only", help="only jobs whose name matches this pattern")
        args = parser.parse_args(argv)
        if args.command == "train":
            train(args.profiles, args.seed, args.only)
            return
        for job in jobs(args.profiles, args.seed):
            if args.only is None or fnmatch.fnmatch(job.name, args.only):
                done = read_record(work_dir(job.profile), job) is not None
                print(f"{'done   ' if done else 'pending'} {job.name}")

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
