"""The experiments of the chapter "Controlling connectivity" (Hofer et al., ICML 2019).

:func:`run` computes the chapter's JSON-serialisable *payload*: a toy KDE example and a
small 0-dim persistence demo (:mod:`.toy`), the differentiability check (:mod:`.theory`),
the batch-size guideline's control on ideal clouds calibrated to η (:mod:`.control`), and
the MNIST backbones of :mod:`.backbones` (λ = 20 at every batch size B of the profile,
λ = 0 at B = 100, several training seeds), each measured by :mod:`.evaluate`: held-out death
times, the metric entropy of its codes, one-class AUROCs (on MNIST and, with the MNIST
backbone, on Fashion-MNIST) and densification.
:mod:`.report` draws it.

Each backbone's measurements are computed once, as soon as it has finished training, and
committed as its record (:mod:`.records`, ``results/connectivity/<profile>/records/``);
everything that combines backbones (numbers across seeds and batch sizes, the verdicts) is
computed from the records. The checkpoints (``results/connectivity/<profile>/_work``, and
the one-class study's work folder for the shared B = 100 backbones) are git-ignored: they
are needed only to resume an unfinished training or to measure a backbone without a record.
So a profile trained over several sessions, on fresh machines, accumulates its records.

The per-profile settings live in :data:`PROFILES`: ``"smoke"`` runs the whole chapter in
about a minute on two CPU cores (its numbers mean nothing); ``"full"`` trains on all of
MNIST at the reference's budget.

Command line: ``python -m toposhape.studies.connectivity.run train full`` trains (or
resumes) the backbones of a profile that have no record ahead of the chapter run, in
priority order, and writes each one's record when it finishes; ``... run status full``
lists where each backbone stands (:func:`main`).
"""

import fnmatch
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from toposhape.checks import check_bool, check_callable, check_int, check_path
from toposhape.image_sets import ImageSplit, describe
from toposhape.results import writable_folder
from toposhape.studies.connectivity.backbones import RECIPE, backbone_settings, backbone_specs
from toposhape.studies.connectivity.control import ideal_covering
from toposhape.studies.connectivity.records import collect, state
from toposhape.studies.connectivity.theory import gradient_study
from toposhape.studies.connectivity.toy import toy_study, vr_demo
from toposhape.studies.oneclass.protocol import BackboneSpec
from toposhape.studies.oneclass.train import load_split
from toposhape.studies.study import Study
from toposhape.training import MAX_SEED

CHAPTER = "connectivity"

#: Per-profile settings. ``None`` for an image count means the whole split.
#:
#: * ``epochs``: per backbone, the same for every B (so a smaller B takes more steps);
#: * ``train_seeds``: training runs per setting (seeds ``seed, seed + 1, ...``);
#: * ``batch_sizes``: the λ = 20 sweep, in training priority order (λ = 0 at 100 only);
#: * ``reuse``: the one-class profile whose finished B = 100 backbones of the same recipe
#:   are read instead of trained again (None: train everything here);
#: * ``workers``: backbones trained at once, in processes of one torch thread each;
#: * ``ns``, ``draws``: one-class inliers per draw and draws per class (η-ball AUROC);
#: * ``covering_sizes``: nested samples of training codes whose partial covering numbers by
#:   a greedy η-net are counted (λ = 20 backbones only);
#: * ``transfer``: datasets whose one-class AUROCs are also measured with the MNIST
#:   backbones (read with the same image counts as MNIST);
#: * ``densify_ns``: training codes per class around the class's test codes;
#: * ``purity_n``: codes per class pooled over the classes for the class purity of the balls.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "train_images": 3000,
        "test_images": 1000,
        "epochs": 2,
        "steps_per_epoch": 4,
        "train_seeds": 2,
        "batch_sizes": [100, 25],
        "reuse": None,
        "workers": 1,
        "ns": [20, 40],
        "draws": 2,
        "covering_sizes": [250, 1000, 3000],
        "transfer": ["fashion-mnist"],
        "densify_ns": [50, 100, 200],
        "purity_n": 100,
        "toy_per_cluster": 40,
        "toy_steps": 150,
        "latent_points": 500,
    },
    "full": {
        "train_images": None,
        "test_images": None,
        "epochs": 50,
        "steps_per_epoch": None,
        "train_seeds": 3,
        "batch_sizes": [100, 25, 400, 50, 200],
        "reuse": "full",
        "workers": 2,
        "ns": [80, 120, 500],
        "draws": 5,
        "covering_sizes": [1000, 3000, 10000, 30000, 60000],
        "transfer": ["fashion-mnist"],
        "densify_ns": [50, 100, 200, 500, 1000, 2000, 5000],
        "purity_n": 1000,
        "toy_per_cluster": 60,
        "toy_steps": 400,
        "latent_points": 2000,
    },
}

#: Top-level keys of the payload returned by :func:`run`.
PAYLOAD_KEYS = (
    "profile",
    "settings",
    "recipe",
    "toy",
    "vr_demo",
    "gradients",
    "control",
    "data",
    "backbones",
    "models",
    "pending",
    "timings_s",
)


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir
record_dir = STUDY.records_dir


def data_record(split: ImageSplit) -> dict[str, Any]:
    """What a split's numbers came from: its label (with the images used) and its record."""
    label = describe(split.record)
    used, read = split.record["used"], split.record["images"]
    if used < read:
        label += f", {used} used (seeded subset)"
    return {"label": label, "record": split.record}


def _splits(settings: Mapping[str, Any], seed: int, progress: bool) -> dict[str, ImageSplit]:
    """MNIST's "train" and "test", and each transfer dataset's "<name>/train", "<name>/test"."""
    trained = backbone_settings(settings)
    out = {s: load_split(RECIPE["dataset"], s, trained, seed, progress) for s in ("train", "test")}
    for name in settings["transfer"]:
        for s in ("train", "test"):
            out[f"{name}/{s}"] = load_split(name, s, trained, seed, progress)
    return out


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing_backbones: bool = True,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full"}
    seed : int
        Seeds data subsets, one-class draws and all random draws, and is the first training
        seed; in [0, 2**32 - 1 - train_seeds].
    results_root : path, optional
        Results folder (default ``<repo>/results``). Each backbone's measurements are read
        from its committed record in :func:`record_dir` when it has one (it is then
        neither trained nor loaded); checkpoints go to :func:`work_dir`, so an interrupted
        training resumes where it stopped.
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing_backbones : bool
        Train the backbones that have neither a record nor a finished checkpoint. With
        False they are listed under ``pending``.

    Returns
    -------
    dict
        JSON-serialisable payload with the keys :data:`PAYLOAD_KEYS`.
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"])
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    check_bool("train_missing_backbones", train_missing_backbones)
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 2)
        tick = now
        say(f"{name}: {timings[name]:.1f} s")

    payload: dict[str, Any] = {"profile": profile, "settings": settings, "recipe": dict(RECIPE)}
    payload["toy"] = toy_study(seed, settings["toy_per_cluster"], settings["toy_steps"])
    payload["vr_demo"] = vr_demo(seed)
    payload["gradients"] = gradient_study(seed)
    lap("toy and gradients")
    payload["control"] = ideal_covering(
        settings["batch_sizes"],
        settings["covering_sizes"],
        RECIPE["eta"],
        RECIPE["p"],
        RECIPE["branch_dim"],
        seeds=range(seed, seed + settings["train_seeds"]),
    )
    lap("ideal clouds (the guideline's control)")

    splits = _splits(settings, seed, progress)
    payload["data"] = {split: data_record(x) for split, x in splits.items()}
    specs = backbone_specs(settings, seed)
    folders = {
        "work": work_dir(profile, results_root),
        "records": record_dir(profile, results_root),
    }
    done = collect(
        specs, settings, seed, splits, folders, results_root, train_missing_backbones,
        progress, log,
    )  # fmt: skip
    payload["pending"] = [s.name for s in specs if s.name not in done]
    recorded = [s.name for s in specs if s.name in done]
    payload["backbones"] = {name: done[name]["backbone"] for name in recorded}
    payload["models"] = {name: done[name]["model"] for name in recorded}
    lap("backbones (records, training, measuring)")
    payload["timings_s"] = timings
    return payload


def train(
    profile: str,
    seed: int = 0,
    only: str | None = None,
    results_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[BackboneSpec]:
    """Train (or resume) a profile's missing backbones in priority order; return them all.

    ``only`` is an ``fnmatch`` pattern of backbone names (e.g. ``"*-b25-*"``); None trains
    every one. Backbones with a record (:func:`record_dir`) are skipped; every other one
    is trained unless it is finished (here or shared with the one-class study), and
    measured and recorded as soon as it is (:func:`~.records.collect`).
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"])
    specs = backbone_specs(settings, seed)
    if only is not None:
        names = [s.name for s in specs]
        specs = [s for s in specs if fnmatch.fnmatchcase(s.name, only)]
        if not specs:
            raise ValueError(f"--only {only!r} matches no backbone of {profile!r}: {names}")
    folders = {
        "work": writable_folder(work_dir(profile, results_root), "checkpoint folder"),
        "records": writable_folder(record_dir(profile, results_root), "records folder"),
    }
    splits = _splits(settings, seed, progress)
    collect(specs, settings, seed, splits, folders, results_root, True, progress, log)
    return specs


def status(
    profile: str, seed: int = 0, results_root: str | Path | None = None
) -> list[tuple[str, str]]:
    """Every backbone of a profile, in training priority order, with where it stands.

    Each as :func:`~.records.state` says: done (a record of the current key), trained but
    not recorded, partial (epochs so far) or missing. Reads the data (the record key names
    it) and the checkpoints' histories; trains and writes nothing.
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED - settings["train_seeds"])
    check_path("results_root", results_root)
    folders = {
        "work": work_dir(profile, results_root),
        "records": record_dir(profile, results_root),
    }
    splits = _splits(settings, seed, False)
    return [
        (s.name, state(s, settings, seed, splits, folders, results_root))
        for s in backbone_specs(settings, seed)
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: train a profile's backbones ahead of the chapter run, or list them.

    ``python -m toposhape.studies.connectivity.run train full [--only PATTERN] [--seed 0]``
    trains (or resumes) every backbone of the profile that has no record, seed after seed, in
    the profile's ``workers`` processes, and measures each one and writes its record as soon
    as it has finished; it can be stopped at any time and started again (each backbone
    checkpoints every epoch; commit the records, the checkpoints stay on this machine).
    ``status full [--seed 0]`` lists every backbone as done (a record), trained but not
    recorded, partial (epochs so far) or missing (:func:`status`). Errors are reported as
    :mod:`toposhape.cli` describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.connectivity.run")
        sub = parser.add_subparsers(dest="command", required=True)
        cmd = sub.add_parser("train", help="train (or resume) the backbones of a profile")
        cmd.add_argument("--only", help="only backbones whose name matches this fnmatch pattern")
        show = sub.add_parser("status", help="list the backbones of a profile and their state")
        for parser_ in (cmd, show):
            parser_.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
            parser_.add_argument("--seed", type=int, default=0, help="base seed (as the chapter's)")
        args = parser.parse_args(argv)
        if args.command == "train":
            train(args.profile, args.seed, args.only)
            return
        rows = status(args.profile, args.seed)
        for name, where in rows:
            print(f"{name}: {where}")
        done = sum(where == "done (record)" for _, where in rows)
        print(f"{done} of {len(rows)} backbones done")

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
