"""The experiments of the chapter "Natural clustering" (Antorán & Miguel, ICMLA 2019).

:func:`run` gathers the measures of a profile's models (:mod:`.grid`: the N-VAE with
β_c = 1 and 4, a conditional VAE and a VAE on MNIST; the N-VAE and the CVAE on Extended
Yale B; every one to its stopping rule, for each training seed): test likelihoods, whether
the shared latents carry the known shared factors in every class, MMD² between
aggregate posterior and prior, ancestral samples at σ = 1 and 1.4 scored by a
real-data classifier, and classifiers trained on generated images (:mod:`.measure`).
The payload it returns is what :mod:`toposhape.studies.nvae.report` draws and judges.

Records and checkpoints. The grid takes far longer than one working session, and a
session may start on a fresh machine. So two folders are kept per profile:

* ``<results>/nvae/<profile>/records`` (:func:`record_dir`, committed): one small JSON
  record per finished model, written the moment it finishes, holding everything the
  chapter reads from that model alone (:mod:`.records`: its numbers, its classifiers
  trained on generated images, its figure examples), one per dataset (floors,
  real-data evaluator and classifiers), and the real-data evaluator's weights
  (``<dataset>-evaluator.pt``). :func:`run` builds the whole payload from these
  alone: a model with a record is neither trained nor loaded, and with every record
  there no data is read. A record saved for other settings or an earlier record format
  is stale and ignored: that model is trained and measured again.
* ``<results>/nvae/<profile>/_work`` (:func:`work_dir`, git-ignored): per-epoch
  checkpoints of the models in training and of the real-data evaluator, the Yale B
  stand-in. Lost with the machine; what it holds of an unfinished model is at most the
  epochs so far.

The real-data evaluator that scores the samples is trained once per profile: the moment
it is trained, its weights (its state dict) are written beside the records as
``<dataset>-evaluator.pt``, to be committed with them, and every later run, on any
machine, loads them instead of training it again (trained again elsewhere, its weights
may come out otherwise, bit for bit). They are saved with the evaluator's own key
(:func:`~.records.evaluator_key`: the dataset, its data settings and ``evaluator_epochs``
only, so a new record format or another measure keeps them) and refused under other
settings (e.g. another ``evaluator_epochs``): delete them with the records after changing
those. The
dataset record and every model record name the digest of its weights, and records scored
by different evaluators are never mixed: committed weights other than the dataset
record's evaluator, an evaluator trained again (its weights missing) whose weights came
out otherwise, or a payload from records of two evaluators raise ValueError. (Measuring
again is no alternative: the records outlive the models' checkpoints.)

Command line (the long training, ahead of the chapter run; resumable, priority order;
commit the records and the evaluator's weights it writes)::

    python -m toposhape.studies.nvae.run train full [--only PATTERN]
    python -m toposhape.studies.nvae.run status full
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from toposhape.checks import check_bool, check_callable, check_path
from toposhape.nvae import checkpoint_history
from toposhape.results import json_ready, load_record, save_record
from toposhape.studies.nvae import measure
from toposhape.studies.nvae.grid import (
    MODELS,
    RECIPE,
    Data,
    ModelSpec,
    grid,
    load_data,
    status,
    train_model,
)
from toposhape.studies.nvae.records import (
    SAMPLING_DATASET,
    SIGMAS,
    TRAVERSAL_VALUES,
    dataset_key,
    dataset_record,
    evaluator_key,
    model_key,
    model_record,
    unpack_images,
)
from toposhape.studies.study import Study
from toposhape.training import save_weights, state_digest

__all__ = [
    "CHAPTER",
    "PAYLOAD_FORMAT",
    "PROFILES",
    "SIGMAS",
    "TRAVERSAL_VALUES",
    "empty_payload",
    "get_profile",
    "main",
    "record_dir",
    "run",
    "work_dir",
]

CHAPTER = "nvae"

#: The layout of the payload :func:`run` returns; results of another layout (an earlier
#: version of the chapter, with other measures) are not read as this one. 4: every run
#: holds its test ELBO on the images of the importance-weighted bound too. 5: the records
#: of format 4 (whole factor tables, floors per seed, the real-only control classifiers).
PAYLOAD_FORMAT = "nvae/5"

#: Per profile: training seeds; per dataset the models, data sizes and the stopping rule
#: (:func:`toposhape.nvae.converged`: stop once the best validation ELBO of the last
#: ``patience`` epochs improves on the best before them by less than ``tolerance`` nats,
#: absolute; at most ``max_epochs``); then the measurement settings. Patience is counted in
#: epochs, so it is set per dataset to a similar number of optimiser steps: MNIST's 5 epochs
#: are 2750 steps, Yale B's 100 epochs 1500 (an epoch there is 15 steps; with patience 20,
#: i.e. 300 steps, runs stopped while still gaining ~2 nats per 40 epochs).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "datasets": {
            "mnist": {
                "models": ["N-VAE", "CVAE", "VAE", "N-VAE β_c=4"],
                "train_images": 1000,
                "validation_images": 500,
                "test_images": 500,
                "max_epochs": 2,
                "patience": 1,
                "tolerance": 0.15,
            },
            "yaleb": {
                "models": ["N-VAE", "CVAE"],
                "source": "stand-in",
                "validation_share": 0.125,
                "test_share": 0.25,
                "max_epochs": 2,
                "patience": 1,
                "tolerance": 0.5,
            },
        },
        "iwae_k": 5,
        "iwae_images": 100,
        "mmd_images": 500,
        "bootstrap": 50,
        "quality_samples": 500,
        "evaluator_epochs": 1,
        "classifier_images": 1000,
        "classifier_epochs": 1,
        "classifier_seeds": [0],
        "fractions": [0.4, 1.0],
        "generators": ["N-VAE", "CVAE"],
    },
    "full": {
        "seeds": [0, 1, 2],
        "datasets": {
            "mnist": {
                "models": ["N-VAE", "CVAE", "VAE", "N-VAE β_c=4"],
                "train_images": None,
                "validation_images": 5000,
                "test_images": None,
                "max_epochs": 60,
                "patience": 5,
                "tolerance": 0.15,
            },
            "yaleb": {
                "models": ["N-VAE", "CVAE"],
                "source": "CroppedYale",
                "validation_share": 0.125,
                "test_share": 0.25,
                "max_epochs": 600,
                "patience": 100,
                "tolerance": 0.5,
            },
        },
        "iwae_k": 100,
        "iwae_images": 2000,
        "mmd_images": 2000,
        "bootstrap": 300,
        "quality_samples": 10000,
        "evaluator_epochs": 5,
        "classifier_images": 10000,
        "classifier_epochs": 3,
        "classifier_seeds": [0, 1, 2],
        "fractions": [0.4, 1.0],
        "generators": ["N-VAE", "CVAE"],
    },
}


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir
record_dir = STUDY.records_dir


def _dataset_name(dataset: str) -> str:
    """File stem of a dataset's record (model records are named after their model)."""
    return f"{dataset}-data"


def _evaluator_name(dataset: str) -> str:
    """File name of the committed weights of a dataset's real-data evaluator (beside its
    record)."""
    return f"{dataset}-evaluator.pt"


def _start_over(dataset: str) -> str:
    """What to delete to measure every model of ``dataset`` again with a new evaluator."""
    return (
        f"delete {_dataset_name(dataset)}.json, {_evaluator_name(dataset)} and the "
        f"records of every {dataset} model to measure them all again"
    )


def _check_evaluator(dataset: str, base: dict[str, Any], weights: str, what: str) -> None:
    """ValueError unless ``weights``, the digest of the real-data evaluator of ``what`` (the
    committed weights or the work folder of the evaluator at hand, or a record whose samples
    it scored), is that of the dataset's record ``base``."""
    expected = base["evaluator"]["weights"]
    if weights != expected:
        raise ValueError(
            f"{what} has another real-data evaluator (weights {weights[:12]}…) than "
            f"{_dataset_name(dataset)}.json ({expected[:12]}…), and the sample scores of a "
            f"page must all come from one evaluator: restore the records and "
            f"{_evaluator_name(dataset)} of one evaluator from git, or "
            f"{_start_over(dataset)}"
        )


class _Bench:
    """A profile's data, dataset records and evaluators, each read or made once when needed,
    and the recording of its models.

    Parameters
    ----------
    settings : dict
        The profile.
    folder, records : Path
        Its work folder (checkpoints) and record folder.
    progress : bool
        Show progress bars.
    lap : callable
        ``lap(phase)`` is called when a phase ends (timings).
    """

    def __init__(
        self,
        settings: dict[str, Any],
        folder: Path,
        records: Path,
        progress: bool,
        lap: Callable[[str], None],
    ) -> None:
        self.settings, self.folder, self.records = settings, folder, records
        self.progress, self.lap = progress, lap
        self._data: dict[str, Data] = {}
        self._evaluators: dict[str, tuple[measure.DigitClassifier, np.ndarray, dict]] = {}
        self._bases = {
            name: load_record(records, _dataset_name(name), dataset_key(name, settings))
            for name in settings["datasets"]
        }

    def data(self, name: str) -> Data:
        """The dataset ``name`` with its factors; ValueError if it differs from the data of
        the dataset's record (records of other data are not mixed)."""
        if name not in self._data:
            self.folder.mkdir(parents=True, exist_ok=True)
            data = load_data(name, self.settings["datasets"][name], self.folder)
            base = self._bases[name]
            if base is not None and json_ready(data.record) != base["record"]:
                stem = _dataset_name(name)
                raise ValueError(
                    f"the {name} data read here differ from those of the records in "
                    f"{self.records} ({stem}.json: {base['record']['splits']}, read: "
                    f"{data.record['splits']}); delete {stem}.json and the records of the "
                    f"{name} models to measure them again on these data"
                )
            self._data[name] = data
            self.lap(f"{name} data")
        return self._data[name]

    def _evaluator(self, name: str) -> tuple[measure.DigitClassifier, np.ndarray, dict] | None:
        """On the sampling dataset, the real-data classifier (:meth:`_evaluator_net`), its
        features of the test images and its record; None elsewhere."""
        if name != SAMPLING_DATASET:
            return None
        if name not in self._evaluators:
            data = self.data(name)
            net = self._evaluator_net(name, data)
            features = measure.sample_features(net, data.splits["test"][0])
            record = measure.evaluator_record(net, data, self.settings)
            self._evaluators[name] = (net, features, record)
            self.lap(f"{name} evaluator")
        return self._evaluators[name]

    def _evaluator_net(self, name: str, data: Data) -> measure.DigitClassifier:
        """The dataset's real-data classifier: its committed weights (beside the records)
        where they exist, else trained (or reloaded from the work folder) and its weights
        saved there, with :func:`~.records.evaluator_key` as their identity (weights saved
        for other evaluator settings are refused). Either way ValueError unless it is the
        evaluator of the dataset's record, when there is one."""
        file, base = self.records / _evaluator_name(name), self._bases[name]
        identity = evaluator_key(name, self.settings)
        committed = file.is_file()
        if committed:
            hint = f"restore it from git, or {_start_over(name)}"
            net = measure.load_evaluator(file, data.classes, identity, hint)
            what = f"the committed {file}"
        else:
            net = measure.train_evaluator(data, self.settings, self.folder, self.progress)
            what = f"the work folder {self.folder} (the committed {file} is missing)"
        if base is not None:
            _check_evaluator(name, base, state_digest(net), what)
        if not committed:
            save_weights(net, file, identity)
        return net

    def base(self, name: str) -> dict[str, Any]:
        """The dataset's record, read, or measured and saved."""
        if self._bases[name] is None:
            evaluator = self._evaluator(name)
            record = dataset_record(
                self.data(name), self.settings, None if evaluator is None else evaluator[2],
                self.progress,
            )  # fmt: skip
            key = dataset_key(name, self.settings)
            self._bases[name] = self._save(_dataset_name(name), key, record)
            self.lap(f"{name} record")
        return self._bases[name]

    def record_model(self, spec: ModelSpec) -> dict[str, Any]:
        """Train ``spec`` (or resume it, or reload it when finished), measure it and save its
        record; returns the record as saved. The evaluator is checked against the dataset's
        record before the training."""
        self.base(spec.dataset)
        data = self.data(spec.dataset)
        evaluator = self._evaluator(spec.dataset)
        cfg = self.settings["datasets"][spec.dataset]
        model, history = train_model(spec, data, cfg, self.folder, self.progress)
        record = model_record(
            spec, model, history, data, self.settings,
            None if evaluator is None else evaluator[:2], self.progress,
        )  # fmt: skip
        saved = self._save(spec.name, model_key(spec, self.settings), record)
        self.lap(f"record {spec.name}")
        return saved

    def _save(self, name: str, key: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        """Save a record and read it back (so a payload is the same whether its records were
        just made or read from the committed files)."""
        save_record(self.records, name, key, record)
        return load_record(self.records, name, key)


def _examples(base: dict[str, Any], shown: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The figures' examples of a dataset from its record and the records of the first
    seed's measured models (``shown``: model name -> record, in grid order); None if none."""
    if not shown:
        return None
    out: dict[str, Any] = {"labels": base["labels"], "shown_classes": base["shown_classes"]}
    out["samples"] = {
        name: {s: unpack_images(p) for s, p in record["examples"]["samples"].items()}
        for name, record in shown.items()
    }
    if {"VAE", "N-VAE"} <= shown.keys():  # the latents figure: the VAE's z and the N-VAE's z_s
        out["codes"] = {name: shown[name]["examples"]["codes"] for name in ("VAE", "N-VAE")}
    if "N-VAE" in shown:
        out["shared_traversals"] = unpack_images(shown["N-VAE"]["examples"]["shared_traversals"])
    return out


def _entry(
    base: dict[str, Any], specs: list[ModelSpec], records: dict[ModelSpec, dict | None], first: int
) -> dict[str, Any]:
    """A dataset's part of the payload from its record and its models' (``specs``);
    ValueError if their samples were scored by different evaluators."""
    done = [s for s in specs if records[s] is not None]
    for spec in done if "evaluator" in base else []:
        weights = records[spec]["run"]["evaluator_weights"]
        _check_evaluator(spec.dataset, base, weights, f"the record {spec.name}.json")
    entry: dict[str, Any] = {
        "record": base["record"],
        "factor_names": base["factor_names"],
        "classes": base["classes"],
        "pending": [s.name for s in specs if records[s] is None],
        "runs": [records[s]["run"] for s in done],
    }
    if "evaluator" in base:
        entry["evaluator"] = base["evaluator"]
    entry["floors"] = base["floors"]
    entry["examples"] = _examples(base, {s.model: records[s] for s in done if s.seed == first})
    if "synthetic" in base:
        generated = [row for s in done for row in records[s].get("synthetic", [])]
        entry["synthetic"] = base["synthetic"] + generated
    return entry


def _layout(profile: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The payload's keys that depend on the code and the profile, not on any run."""
    return {
        "format": PAYLOAD_FORMAT,
        "profile": profile,
        "settings": settings,
        "recipe": {**RECIPE, "sigmas": list(SIGMAS), "traversal_values": list(TRAVERSAL_VALUES)},
        "models": {k: list(v) for k, v in MODELS.items()},
        "bandwidth_factors": list(measure.BANDWIDTH_FACTORS),
    }


def empty_payload(profile: str) -> dict[str, Any]:
    """The payload of a profile nothing of which was measured: its settings and no dataset,
    so every model of :func:`~.grid.grid` counts as missing (what the chapter shows for a
    profile not run yet). Reads no data and trains nothing."""
    return {**_layout(profile, get_profile(profile)), "datasets": {}, "timings_s": {}}


def run(
    profile: str,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool = True,
) -> dict[str, Any]:
    """Compute every number of the chapter, from the profile's records where they exist.

    A model with a record (:func:`record_dir`, :mod:`.records`) is neither trained nor
    loaded. A model without one is trained (resumed, or reloaded when its checkpoint is
    finished), measured and recorded, in :func:`~.grid.grid` order; so is a dataset
    without its record. With every record there, no data is read and nothing is trained.

    Parameters
    ----------
    profile : {"smoke", "full"}
    results_root : path, optional
        Results folder: the records go to :func:`record_dir`, checkpoints to
        :func:`work_dir` (so an interrupted run resumes).
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing : bool
        Train the models that have no record. With False, only models whose checkpoint
        is finished are measured (and recorded); the others are listed under ``pending``
        (partial results while ``python -m toposhape.studies.nvae.run train`` runs).

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    settings = get_profile(profile)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    check_bool("train_missing", train_missing)
    say = log or (lambda _msg: None)
    folder = work_dir(profile, results_root)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 1)
        tick = now
        say(f"{name}: {timings[name]:.0f} s")

    bench = _Bench(settings, folder, record_dir(profile, results_root), progress, lap)
    specs = grid(settings)
    records = {s: load_record(bench.records, s.name, model_key(s, settings)) for s in specs}
    for spec in specs:
        cfg = settings["datasets"][spec.dataset]
        if records[spec] is None and (train_missing or status(spec, cfg, folder) == "finished"):
            records[spec] = bench.record_model(spec)
    first = settings["seeds"][0]
    out = {
        name: _entry(bench.base(name), [s for s in specs if s.dataset == name], records, first)
        for name in settings["datasets"]
    }
    return {**_layout(profile, settings), "datasets": out, "timings_s": timings}


def _select(profile: str, only: str | None) -> list[ModelSpec]:
    specs = grid(get_profile(profile))
    if only is None:
        return specs
    picked = [s for s in specs if fnmatch.fnmatch(s.name, only)]
    if not picked:
        names = ", ".join(s.name for s in specs)
        raise ValueError(f"--only {only!r} matches no model of profile {profile!r}: {names}")
    return picked


def _state(spec: ModelSpec, settings: dict[str, Any], folder: Path, records: Path) -> str:
    """``done (record)``, ``trained, not recorded`` (a finished checkpoint), ``partial (N
    epochs)``, ``outdated checkpoint (...)`` or ``missing``."""
    if load_record(records, spec.name, model_key(spec, settings)) is not None:
        return "done (record)"
    state = status(spec, settings["datasets"][spec.dataset], folder)
    if state == "partial":
        return f"partial ({len(checkpoint_history(folder / f'{spec.name}.pt'))} epochs)"
    if state == "outdated":
        return "outdated checkpoint (no best weights: set aside and trained again)"
    return "trained, not recorded" if state == "finished" else state


def main(argv: list[str] | None = None) -> int:
    """Command line: train and record a profile's models ahead of the chapter run, or list
    their state.

    ``train PROFILE [--only PATTERN]`` trains every model of the profile that has no
    record, one at a time in priority order (:func:`~.grid.grid`), resuming from its
    per-epoch checkpoint, and records it as soon as it finishes (with its dataset's
    record first); ``--only`` keeps the models whose name matches a shell pattern (e.g.
    ``'mnist-*-s0'``). ``status PROFILE`` lists every model as done (a record), trained
    but not recorded, partial (epochs so far) or missing. Errors are reported as
    :mod:`toposhape.cli` describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command
    from toposhape.results import writable_folder

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.nvae.run")
        sub = parser.add_subparsers(dest="command", required=True)
        train = sub.add_parser("train", help="train and record the models of a profile")
        train.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        train.add_argument("--only", help="shell pattern of model names, e.g. 'mnist-*-s0'")
        show = sub.add_parser("status", help="list the models of a profile and their state")
        show.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        args = parser.parse_args(argv)
        settings = get_profile(args.profile)
        specs = _select(args.profile, getattr(args, "only", None))
        folder, records = work_dir(args.profile), record_dir(args.profile)
        if args.command == "status":
            for spec in specs:
                print(f"{spec.name}: {_state(spec, settings, folder, records)}")
            return
        folder = writable_folder(folder, "checkpoint folder")
        records = writable_folder(records, "record folder")
        bench = _Bench(settings, folder, records, True, lambda _phase: None)
        for spec in specs:
            if load_record(records, spec.name, model_key(spec, settings)) is not None:
                print(f"{spec.name}: done (record)")
                continue
            started = time.perf_counter()
            run = bench.record_model(spec)["run"]
            elbo = run["history"][run["best_epoch"] - 1]["val_elbo"]
            print(
                f"{spec.name}: {run['epochs']} epochs, best val ELBO {elbo:.2f} at epoch "
                f"{run['best_epoch']}, recorded, {time.perf_counter() - started:.0f} s this call"
            )

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
