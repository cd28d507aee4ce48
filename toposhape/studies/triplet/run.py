"""The experiments of the chapter "Manifold triplet learning" (Korman, arXiv 2106.07062).

:func:`run` collects a profile's results: every model of the grid
(:func:`~toposhape.studies.triplet.protocol.model_specs`) at every training seed, and the
compression study of every seed's 64-d embedding, from the records the training command
leaves in the profile's work folder; it trains what is missing only when asked to (the
``smoke`` profile does), and lists the rest as pending. No plotting: the payload's
figures, tables and claims are in :mod:`toposhape.studies.triplet.report`.

Command line (training ahead of the chapter, resumable, in priority order)::

    python -m toposhape.studies.triplet.run train full tinyimagenet
    python -m toposhape.studies.triplet.run train full --seed 0 --only '*/mnist/*'
    python -m toposhape.studies.triplet.run plan full tinyimagenet

``train`` runs every unfinished job of the profiles in the order of
:func:`~toposhape.studies.triplet.protocol.jobs` (every profile's seed 0 first; within a
seed the headline models at d = 2, then the 64-d study and its compression study, then
the rest) and can be stopped at any time: a model resumes from its last finished epoch.
``plan`` lists the jobs in that order, each marked done or pending.

:func:`benchmark_status` says whether the reference's benchmarks (CUB-200-2011, Stanford
Cars) are on this machine.
"""

import fnmatch
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toposhape.checks import check_bool, check_callable, check_path
from toposhape.data import USER_LAYOUTS, user_root
from toposhape.studies.triplet.data import Split, load_splits
from toposhape.studies.triplet.protocol import (
    CHAPTER,
    PROFILES,
    Job,
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


def _runner(
    progress: bool, say: Callable[[str], None]
) -> Callable[[Job, dict[str, Any], Path], dict[str, Any]]:
    """Run jobs, reading each dataset's images once (on its first unfinished job)."""
    loaded: dict[tuple[str, str], dict[str, Split]] = {}

    def run_one(job: Job, settings: dict[str, Any], folder: Path) -> dict[str, Any]:
        key = (job.profile, job.dataset)
        if key not in loaded:
            started = time.perf_counter()
            loaded[key] = load_splits(job.dataset, settings)
            say(f"read {job.dataset} ({job.profile}): {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        record = run_job(job, loaded[key], settings, folder, progress)
        say(f"{job.name}: {time.perf_counter() - started:.0f} s")
        return record

    return run_one


def train(
    profiles: Sequence[str],
    seeds: Sequence[int] | None = None,
    only: str | None = None,
    results_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> int:
    """Run every unfinished job of the profiles, in priority order; the number run.

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
        Receives one line per job.
    """
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    if only is not None and not isinstance(only, str):
        raise TypeError(f"only must be a string pattern or None, got {type(only).__name__}")
    say = log or (lambda _msg: None)
    todo = [job for job in jobs(profiles, seeds) if only is None or fnmatch.fnmatch(job.name, only)]
    folders = {name: work_dir(name, results_root) for name in profiles}
    run_one = _runner(progress, say)
    count = 0
    for job in todo:
        if read_record(folders[job.profile], job) is None:
            run_one(job, get_profile(job.profile), folders[job.profile])
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
    """Every number of a profile: the finished jobs' records and what is pending.

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
        records), ``compression`` (the compression records), ``pending`` (names of the
        unfinished jobs) and ``timings_s``.
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
    return {
        "profile": profile,
        "settings": settings,
        "models": models,
        "compression": compression,
        "pending": pending,
        "timings_s": {
            "training in this run": round(trained - started, 1),
            "collecting the records": round(time.perf_counter() - trained, 1),
        },
    }


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
