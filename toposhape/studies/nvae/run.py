"""The experiments of the chapter "Natural clustering" (Antorán & Miguel, ICMLA 2019).

:func:`run` trains (or reloads) the models of a profile (:mod:`.grid`: the N-VAE with
β_c = 1 and 4, a conditional VAE and a VAE on MNIST; the N-VAE and the CVAE on Extended
Yale B; every one to convergence, for each training seed) and measures each of them
(:mod:`.measure`): test likelihoods, whether the shared latents carry the known shared
factors in every class, MMD² between aggregate posterior and prior, ancestral samples at
σ = 1 and 1.4 scored by a real-data classifier, and classifiers trained on generated
images. The payload it returns is what :mod:`toposhape.studies.nvae.report` draws and
judges. Evaluations are cached in the work folder by checkpoint digest, so a rerun
re-measures only models whose weights changed.

Command line (the long training, ahead of the chapter run; resumable, priority order)::

    python -m toposhape.studies.nvae.run train full [--only PATTERN]
    python -m toposhape.studies.nvae.run status full
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from toposhape.checks import check_bool, check_callable, check_choice, check_path
from toposhape.nvae import LatentVAE, converged, posterior, traversal
from toposhape.results import cached, file_digest, profile_settings
from toposhape.results import work_dir as chapter_work_dir
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
    untrained,
)
from toposhape.training import history_seconds

__all__ = [
    "CHAPTER",
    "PAYLOAD_FORMAT",
    "PROFILES",
    "SIGMAS",
    "empty_payload",
    "get_profile",
    "main",
    "run",
    "work_dir",
]

CHAPTER = "nvae"

#: The layout of the payload :func:`run` returns; results of another layout (an earlier
#: version of the chapter, with other measures) are not read as this one.
PAYLOAD_FORMAT = "nvae/2"

#: σ of the ancestral samples: the prior's own, and the slides' wider one.
SIGMAS: tuple[float, ...] = (1.0, 1.4)

#: Traversal values of a latent dimension (every other one at 0).
TRAVERSAL_VALUES: tuple[float, ...] = (-2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5)

#: Per profile: training seeds; per dataset the models, data sizes and the stopping rule
#: (:func:`toposhape.nvae.converged`: stop once the best validation ELBO of the last
#: ``patience`` epochs improves on the best before them by less than ``tolerance``,
#: relative; at most ``max_epochs``); then the measurement settings.
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
                "tolerance": 0.002,
            },
            "yaleb": {
                "models": ["N-VAE", "CVAE"],
                "source": "stand-in",
                "validation_share": 0.125,
                "test_share": 0.25,
                "max_epochs": 2,
                "patience": 1,
                "tolerance": 0.002,
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
                "tolerance": 0.002,
            },
            "yaleb": {
                "models": ["N-VAE", "CVAE"],
                "source": "CroppedYale",
                "validation_share": 0.125,
                "test_share": 0.25,
                "max_epochs": 400,
                "patience": 20,
                "tolerance": 0.002,
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

#: Bumped when a measure changes, so cached evaluations are computed again.
_EVAL_VERSION = 1


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/nvae/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


def _u8(images: torch.Tensor) -> list:
    """Images in [0, 1] as nested lists of 0..255 integers (a compact results file)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).tolist()


def _measure_run(
    spec: ModelSpec,
    model: LatentVAE,
    history: list[dict],
    data: Data,
    settings: dict[str, Any],
    evaluator: tuple[measure.DigitClassifier, np.ndarray] | None,
) -> dict[str, Any]:
    """Every number of one trained model."""
    rule = settings["datasets"][spec.dataset]
    out: dict[str, Any] = {
        "model": spec.model,
        "kind": spec.kind,
        "beta": spec.beta,
        "seed": spec.seed,
        "name": spec.name,
        "epochs": len(history),
        "converged": converged(history, rule["patience"], rule["tolerance"]),
        "train_seconds": history_seconds(history),
        "history": [
            {k: entry[k] for k in ("epoch", "loss", "val_elbo", "seconds")} for entry in history
        ],
        **measure.likelihoods(model, data, settings, spec.seed),
        "factor_scores": measure.factor_scores(model, data, measure.shared_dims(model)),
    }
    if evaluator is not None:
        net, test_features = evaluator
        out["prior_match"] = measure.prior_match(model, data, settings, spec.seed)
        out["quality"] = {
            f"{sigma:g}": measure.sample_quality(
                model, net, test_features, sigma, settings["quality_samples"], spec.seed
            )
            for sigma in SIGMAS
        }
    return out


def _examples(models: dict[str, LatentVAE], data: Data, seed: int) -> dict[str, Any]:
    """What the figures show of the first seed's models: samples, codes, traversals.

    Samples: 64 per σ (labels 0, 1, … in turn; with more than 10 classes, 8 samples for each
    of the first 8). Codes: posterior means of 1000 test images, of the VAE and the N-VAE
    when both are there. Traversals: every shared dimension of the N-VAE, for the shown
    classes.
    """
    test_x, test_y = data.splits["test"]
    classes = data.classes
    shown = list(range(min(classes, 8))) if classes > 10 else list(range(classes))
    labels = torch.tensor(shown).repeat_interleave(8 if classes > 10 else 1)
    labels = labels if classes > 10 else torch.arange(64) % classes
    out: dict[str, Any] = {"labels": test_y[:1000].tolist(), "shown_classes": shown}
    out["samples"] = {
        name: {
            f"{s:g}": _u8(m.sample(labels, torch.Generator().manual_seed(seed), s)[:, 0])
            for s in SIGMAS
        }
        for name, m in models.items()
    }
    gen = torch.Generator().manual_seed(seed)
    if {"VAE", "N-VAE"} <= models.keys():  # the latents figure: the VAE's z and the N-VAE's z_s
        out["codes"] = {
            name: posterior(models[name], test_x[:1000], gen)[0].numpy().round(2).tolist()
            for name in ("VAE", "N-VAE")
        }
    nvae = models.get("N-VAE")
    if nvae is not None:
        values = torch.tensor(TRAVERSAL_VALUES)
        base = torch.zeros(nvae.latent_dim)
        cd = RECIPE["class_dim"]
        out["shared_traversals"] = [
            _u8(traversal(nvae, base, cd + j, values, shown)[:, :, 0])
            for j in range(nvae.shared_dim)
        ]
    return out


def _synthetic(
    generators: dict[ModelSpec, LatentVAE],
    data: Data,
    settings: dict[str, Any],
    folder: Path,
    progress: bool,
) -> list[dict[str, Any]]:
    """Classifier rows: real data only, and each generator at each generated share."""
    keys = ("classifier_images", "classifier_epochs")
    base = {
        "version": _EVAL_VERSION,
        "settings": {k: settings[k] for k in keys},
        "data": data.record["splits"],
    }
    jobs: list[tuple[ModelSpec | None, float, int]] = [
        (None, 0.0, s) for s in settings["classifier_seeds"]
    ]
    jobs += [
        (spec, fraction, s)
        for spec in generators
        for fraction in settings["fractions"]
        for s in settings["classifier_seeds"]
    ]
    rows = []
    for spec, fraction, seed in tqdm(jobs, desc="classifiers", disable=not progress):
        weights = None if spec is None else file_digest(folder / f"{spec.name}.pt")
        key = {**base, "generator": weights, "fraction": fraction, "seed": seed}
        model = None if spec is None else generators[spec]
        accuracy = cached(
            folder / "evaluations",
            key,
            lambda m=model, f=fraction, s=seed: {
                "accuracy": measure.synthetic_accuracy(m, data, f, settings, s)
            },
        )["accuracy"]
        rows.append(
            {
                "generator": "real data" if spec is None else spec.model,
                "generator_seed": None if spec is None else spec.seed,
                "fraction": fraction,
                "classifier_seed": seed,
                "accuracy": accuracy,
            }
        )
    return rows


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
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full"}
    results_root : path, optional
        Results folder; checkpoints and cached evaluations go to :func:`work_dir`, so an
        interrupted run resumes.
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing : bool
        Train the models that are not finished (in :func:`~.grid.grid` order). With False,
        only finished models are measured and the others are listed under ``pending``
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
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 1)
        tick = now
        say(f"{name}: {timings[name]:.0f} s")

    specs = grid(settings)
    data = {name: load_data(name, cfg, folder) for name, cfg in settings["datasets"].items()}
    lap("data")
    if train_missing:
        for spec in specs:
            train_model(
                spec, data[spec.dataset], settings["datasets"][spec.dataset], folder, progress
            )
        lap("training")
    out: dict[str, Any] = {}
    for name, d in data.items():
        cfg = settings["datasets"][name]
        mine = [s for s in specs if s.dataset == name]
        done = [s for s in mine if status(s, cfg, folder) == "finished"]
        entry: dict[str, Any] = {
            "record": d.record,
            "factor_names": d.factor_names,
            "classes": d.classes,
            "pending": [s.name for s in mine if s not in done],
            "runs": [],
        }
        sampling = name == "mnist"
        evaluator = None
        if sampling:
            net, entry["evaluator"] = measure.train_evaluator(d, settings, folder, progress)
            evaluator = (net, measure.sample_features(net, d.splits["test"][0]))
            lap(f"{name} evaluator")
        digest = file_digest(folder / "evaluator.pt") if sampling else None
        keys = ("iwae_k", "iwae_images", "mmd_images", "bootstrap", "quality_samples")
        models: dict[ModelSpec, LatentVAE] = {}
        for spec in done:
            model, history = train_model(spec, d, cfg, folder, progress=False)
            models[spec] = model
            key = {
                "version": _EVAL_VERSION,
                "weights": file_digest(folder / f"{spec.name}.pt"),
                "data": d.record["splits"],
                "settings": {k: settings[k] for k in keys},
                "rule": {k: cfg[k] for k in ("max_epochs", "patience", "tolerance")},
                "evaluator": digest,
            }
            entry["runs"].append(
                cached(
                    folder / "evaluations",
                    key,
                    partial(_measure_run, spec, model, history, d, settings, evaluator),
                )
            )
            lap(f"measure {spec.name}")
        first = settings["seeds"][0]
        floor_spec = ModelSpec(name, "VAE", first)
        entry["floors"] = {
            "PCA of pixels": measure.pca_codes(d, RECIPE["class_dim"] + RECIPE["shared_dim"]),
            "random encoder": measure.factor_scores(
                untrained(floor_spec, d), d, list(range(RECIPE["class_dim"] + RECIPE["shared_dim"]))
            ),
        }
        shown = {s.model: m for s, m in models.items() if s.seed == first}
        entry["examples"] = _examples(shown, d, first) if shown else None
        if sampling:
            generators = {s: m for s, m in models.items() if s.model in settings["generators"]}
            entry["synthetic"] = _synthetic(generators, d, settings, folder, progress)
            lap(f"{name} classifiers")
        out[name] = entry
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


def main(argv: list[str] | None = None) -> int:
    """Command line: train a profile's models ahead of the chapter run, or list their state.

    ``train PROFILE [--only PATTERN]`` trains every model of the profile that is not
    finished, one at a time in priority order (:func:`~.grid.grid`), resuming from its
    per-epoch checkpoint; ``--only`` keeps the models whose name matches a shell
    pattern (e.g. ``'mnist-*-s0'``). ``status PROFILE`` lists every model as finished,
    partial (epochs so far) or missing. Errors are reported as :mod:`toposhape.cli`
    describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command
    from toposhape.results import writable_folder
    from toposhape.training import read_checkpoint

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.nvae.run")
        sub = parser.add_subparsers(dest="command", required=True)
        train = sub.add_parser("train", help="train (or resume) the models of a profile")
        train.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        train.add_argument("--only", help="shell pattern of model names, e.g. 'mnist-*-s0'")
        show = sub.add_parser("status", help="list the models of a profile and their state")
        show.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        args = parser.parse_args(argv)
        settings = get_profile(args.profile)
        specs = _select(args.profile, getattr(args, "only", None))
        folder = work_dir(args.profile)
        if args.command == "status":
            for spec in specs:
                state = status(spec, settings["datasets"][spec.dataset], folder)
                if state == "partial":
                    state += f" ({len(read_checkpoint(folder / f'{spec.name}.pt').history)} epochs)"
                print(f"{spec.name}: {state}")
            return
        folder = writable_folder(folder, "checkpoint folder")
        loaded: dict[str, Data] = {}
        for spec in specs:
            cfg = settings["datasets"][spec.dataset]
            if status(spec, cfg, folder) == "finished":
                print(f"{spec.name}: finished")
                continue
            if spec.dataset not in loaded:
                loaded[spec.dataset] = load_data(spec.dataset, cfg, folder, factors=False)
            started = time.perf_counter()
            _, history = train_model(spec, loaded[spec.dataset], cfg, folder, progress=True)
            print(
                f"{spec.name}: {len(history)} epochs, val ELBO {history[-1]['val_elbo']:.2f}, "
                f"{time.perf_counter() - started:.0f} s this call"
            )

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
