"""The experiments of the chapter "One-class learning" (Hofer et al., ICML 2019).

Backbones (the reference autoencoder, trained with λ·connectivity loss) are trained
on one dataset and used, encoder only, for one-class learning on another: each class
in turn is the inlier class, n of its training images are the only data the one-class
model sees, and every test image is scored by counting those inliers inside ℓ1 balls
of radius η in each latent branch (:mod:`toposhape.oneclass`).

:func:`run` computes a JSON-serialisable payload: backbones, per-class AUROCs of our
models and of the baselines (:mod:`toposhape.baselines`), ablations;
:mod:`toposhape.studies.oneclass.report` turns a payload into tables, figures and findings,
so the built book redraws everything from the saved results.

Command line: ``python -m toposhape.studies.oneclass.run train <profile>`` trains (or
resumes) the backbones of a profile ahead of the chapter run (:func:`main`).
"""

import time
from collections.abc import Callable
from dataclasses import asdict
from functools import cache as cache_fn
from functools import partial
from pathlib import Path
from typing import Any

from toposhape.checks import check_bool, check_path
from toposhape.image_sets import ImageSplit, describe, load_image_set
from toposhape.losses import RECONSTRUCTION
from toposhape.oneclass import encode
from toposhape.results import cached, file_digest
from toposhape.studies.connectivity.deaths import death_summary, heldout_deaths
from toposhape.studies.oneclass.evaluate import (
    ball_aurocs,
    baseline_aurocs,
    calibrated_radius,
    eta_ball_toy,
    evaluation_jobs,
    jpeg_subset,
    score_example,
)
from toposhape.studies.oneclass.protocol import (
    BASELINES,
    RECIPE,
    SPLITS,
    backbone_specs,
    check_settings,
    class_names,
    profile_datasets,
    train_seeds,
)
from toposhape.studies.oneclass.train import (
    load_split,
    resume_check,
    train_backbones,
    train_one,
)
from toposhape.studies.study import Study
from toposhape.training import checkpoint_epochs, profile_device

CHAPTER = "oneclass"


#: Per-profile settings. ``None`` for an image count means the whole split.
#:
#: * ``datasets``: backbone training sets; ``eval_datasets``: one-class evaluation sets
#:   (every main backbone is evaluated on every one of them, at η and at the calibrated
#:   radius, see :func:`calibrated_radius`);
#: * ``train_seeds``: training runs per main backbone (seeds ``seed, seed + 1, ...``: the seed
#:   sets the initial weights and the batch order); the inlier draws do not depend on it;
#: * ``ns``: inliers per draw, ``draws``: draws per class;
#: * ``ablation_dataset``: the training set of the λ / branch ablation backbones, evaluated on
#:   ``ablation_evals`` with ``ablation_seeds`` training seeds; ``radii`` are evaluated on its
#:   λ = 20 backbones; ``large_n`` (or None) adds the anchor's n = 5000 row for λ, with one
#:   draw per class (5000 is every training image of a CIFAR-10 class: all draws are equal);
#: * ``baseline_ns``: the n at which each baseline is run on the ``baseline_sets``;
#: * ``workers``: backbones trained at once, in processes of one torch thread each;
#: * ``image_size``: side of the resized TinyImageNet / ImageNet images.
#: The reference's budget and protocol, shared by every profile but ``smoke``: all images,
#: 50 epochs, 3 training seeds, n ∈ {80, 120, 500} with 5 draws, the reference's ablation
#: grids, and the baselines at the n they afford on CPU (KDE and Deep SVDD: 120 only).
_REFERENCE_PROTOCOL: dict[str, Any] = {
    "train_images": None,
    "test_images": None,
    "epochs": 50,
    "steps_per_epoch": None,
    "train_seeds": 3,
    "ns": [80, 120, 500],
    "draws": 5,
    "ablation_seeds": 1,
    "lambdas": [0.0, 1.0, 10.0, 20.0, 40.0],
    "radii": [1.0, 1.5, 2.0, 2.25, 3.0, 5.0],
    "single_branch": True,
    "baseline_ns": {"kde": [120], "ocsvm": [80, 120, 500], "deep-svdd": [120]},
    "dsvdd_epochs": 150,
    "image_size": 32,
}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "train_images": 3000,
        "test_images": 1000,
        "epochs": 1,
        "steps_per_epoch": 30,
        "train_seeds": 1,
        "ns": [20, 40],
        "draws": 2,
        "ablation_dataset": "fashion-mnist",
        "ablation_evals": ["mnist", "fashion-mnist"],
        "ablation_seeds": 1,
        "lambdas": [0.0, 20.0],
        "radii": [1.0, 2.0, 3.0],
        "single_branch": True,
        "large_n": None,
        "baseline_ns": {"kde": [40], "ocsvm": [20, 40], "deep-svdd": [40]},
        "baseline_sets": ["mnist", "fashion-mnist"],
        "dsvdd_epochs": 5,
        "device": "cpu",
        "workers": 1,
        "image_size": 32,
    },
    "full": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "ablation_dataset": "fashion-mnist",
        "ablation_evals": ["mnist", "fashion-mnist"],
        "large_n": None,
        "baseline_sets": ["mnist", "fashion-mnist"],
        "device": "cpu",
        "workers": 2,
    },
    "natural": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["cifar10", "tinyimagenet"],
        "eval_datasets": ["cifar10", "tinyimagenet"],
        "ablation_dataset": "tinyimagenet",
        "ablation_evals": ["cifar10"],
        "large_n": 5000,
        "baseline_sets": ["cifar10"],
        "device": "cpu",
        "workers": 2,
    },
    "cifar": {
        **_REFERENCE_PROTOCOL,
        "datasets": ["cifar10", "cifar100", "tinyimagenet"],
        "eval_datasets": ["cifar10", "cifar20", "cifar100", "tinyimagenet", "imagenet"],
        "ablation_dataset": "cifar100",
        "ablation_evals": ["cifar10"],
        "large_n": 5000,
        "baseline_sets": ["cifar10", "cifar20", "cifar100"],
        "device": "cuda",
        "workers": 1,
    },
}


#: Top-level keys of the payload returned by :func:`run`.
PAYLOAD_KEYS = (
    "profile",
    "settings",
    "recipe",
    "toy",
    "datasets",
    "backbones",
    "evaluations",
    "baselines",
    "score_examples",
    "resume_check",
    "timings_s",
)


#: The chapter's profiles and where their files go.
STUDY = Study(CHAPTER, PROFILES)
get_profile = STUDY.settings
work_dir = STUDY.work_dir


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    train_missing: bool = True,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full", "natural", "cifar"}
    seed : int
        Seeds data subsets, inlier draws and baselines, and is the first training seed
        (the others follow it, see :func:`train_seeds`).
    results_root : path, optional
        Results folder (default ``<repo>/results``); checkpoints, backbones and cached
        evaluations go to :func:`work_dir`, so an interrupted run resumes where it stopped.
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.
    train_missing : bool
        Train the backbones that are not finished. With False, only finished backbones are
        evaluated and the others are listed under ``pending`` (partial results of a long
        profile, e.g. while ``python -m toposhape.studies.oneclass.run train`` is still running).

    Returns
    -------
    dict
        JSON-serialisable payload with the keys :data:`PAYLOAD_KEYS`, and ``pending`` (the
        backbones left out) when ``train_missing`` is False.

    Raises
    ------
    TypeError, ValueError
        If an argument or the profile's settings (:func:`check_settings`) are bad, before
        any data is read.
    """
    settings = get_profile(profile)
    check_settings(settings)
    train_seeds(settings, seed)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    if log is not None and not callable(log):
        raise TypeError(f"log must be callable or None, got {type(log).__name__}")
    check_bool("train_missing", train_missing)
    device = profile_device(settings["device"])
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 2)
        tick = now
        say(f"{name}: {timings[name]:.1f} s")

    payload: dict[str, Any] = {
        "profile": profile,
        "settings": settings,
        "recipe": {**RECIPE, "reconstruction": RECONSTRUCTION},
    }
    payload["toy"] = eta_ball_toy(seed)
    data: dict[str, dict[str, ImageSplit]] = {}
    for name in profile_datasets(settings):
        data[name] = {split: load_split(name, split, settings, seed, progress) for split in SPLITS}
        if data[name]["test"].record["layout"] == "cifar-10-images folders":
            lossless = load_image_set(name, "test-png")
            data[name]["test-png"] = ImageSplit(*lossless[:2], {**lossless.record, "used": 1000})
    payload["datasets"] = {
        name: {
            "classes": class_names(name),
            "image_shape": list(splits["train"].images.shape[1:]),
            "labels": {split: describe(x.record) for split, x in splits.items()},
            "records": {split: x.record for split, x in splits.items()},
        }
        for name, splits in data.items()
    }
    lap("data")

    folder = work_dir(profile, results_root)
    cache = folder / "evaluations"
    specs = backbone_specs(settings, seed)
    if train_missing:
        train_backbones(specs, settings, seed, folder, progress, log)
    else:
        done = [
            s for s in specs if checkpoint_epochs(folder / f"{s.name}.pt") >= settings["epochs"]
        ]
        payload["pending"] = [s.name for s in specs if s not in done]
        specs = done
    payload["backbones"], payload["evaluations"], payload["score_examples"] = {}, [], []
    ablation_seeds = train_seeds(settings, seed)[: settings["ablation_seeds"]]
    for spec in specs:
        images = data[spec.dataset]["train"].images.to(device).float().div_(255.0)
        model, history = train_one(spec, images, settings, folder, progress)
        del images
        lap(f"train {spec.name}")
        weights = file_digest(folder / f"{spec.name}-backbone.pt")
        codes = encode(model, data[spec.dataset]["test"].images)
        deaths = heldout_deaths(codes, spec.branches, RECIPE["batch_size"], RECIPE["p"]).cpu()
        payload["backbones"][spec.name] = {
            "spec": asdict(spec),
            "setting": spec.setting,
            "history": history,
            "deaths": death_summary(deaths, RECIPE["eta"], 0.5),
            "weights_sha256": weights,
        }
        main = spec.branches == RECIPE["branches"] and spec.lam in (0.0, RECIPE["lam"])
        main = main and spec.seed in train_seeds(settings, seed)
        evals = settings["eval_datasets"] if main else settings["ablation_evals"]
        for eval_name in evals:
            jobs = evaluation_jobs(
                spec,
                eval_name,
                settings,
                main,
                spec.seed in ablation_seeds,
                "test-png" in data[eval_name],
            )
            train_split = data[eval_name]["train"]
            # encoded only if an evaluation is not in the cache (100 000 images on TinyImageNet)
            train_codes = cache_fn(partial(encode, model, train_split.images))
            for job in jobs:
                if job["kind"] == "jpeg":
                    test = data[eval_name]["test-png" if job["split"] == "test-png" else "test"]
                    test_images, test_labels = jpeg_subset(data[eval_name], job["split"])
                else:
                    test = data[eval_name]["test"]
                    test_images, test_labels = test.images, test.labels
                test_codes = encode(model, test_images)
                radii = [RECIPE["eta"]] + (settings["radii"] if job["radius_grid"] else [])
                calibrated = None
                if job["calibrated"]:
                    calibrated = calibrated_radius(test_codes, spec.branches)
                    radii.append(calibrated)
                radii = list(dict.fromkeys(float(r) for r in radii))
                key = {
                    "weights": weights,
                    "branches": spec.branches,
                    "train": train_split.record["fingerprint"],
                    "test": test.record["fingerprint"],
                    "kind": job["kind"],
                    "split": job["split"],
                    "ns": job["ns"],
                    "draws": job["draws"],
                    "radii": radii,
                    "seed": seed,
                    "p": RECIPE["p"],
                }

                compute = partial(
                    ball_aurocs,
                    spec,
                    eval_name,
                    train_codes,
                    train_split.labels,
                    test_codes,
                    test_labels,
                    radii,
                    job["ns"],
                    job["draws"],
                    seed,
                    progress,
                )
                entry = cached(cache, key, compute)
                entry |= {
                    "backbone": spec.name,
                    "setting": spec.setting,
                    "spec": asdict(spec),
                    "eval": eval_name,
                    "kind": job["kind"],
                    "split": job["split"],
                    "calibrated_radius": calibrated,
                }
                payload["evaluations"].append(entry)
            if spec.dataset == eval_name and main and spec.seed == seed:
                example = score_example(
                    spec, eval_name, train_codes(), data[eval_name], model, payload, seed
                )
                payload["score_examples"].append(example)
            lap(f"evaluate {spec.name} → {eval_name}")
    first = settings["datasets"][0]
    images = data[first]["train"].images[:200].to(device).float().div_(255.0)
    payload["resume_check"] = resume_check(images, seed, folder)
    lap("resume check")
    payload["baselines"] = []
    for eval_name in settings["baseline_sets"]:
        for method in BASELINES:
            key = {
                "method": method,
                "train": data[eval_name]["train"].record["fingerprint"],
                "test": data[eval_name]["test"].record["fingerprint"],
                "ns": settings["baseline_ns"][method],
                "draws": settings["draws"],
                "seed": seed,
                "dsvdd_epochs": settings["dsvdd_epochs"],
            }
            compute = partial(
                baseline_aurocs, method, eval_name, data[eval_name], settings, seed, progress
            )
            entry = cached(cache, key, compute)
            payload["baselines"].append(entry)
            lap(f"baseline {method} on {eval_name}")
    payload["timings_s"] = timings
    return payload


def main(argv: list[str] | None = None) -> int:
    """Command line: train a profile's backbones ahead of the chapter run.

    ``python -m toposhape.studies.oneclass.run train natural`` trains (or resumes) every backbone of
    the profile in ``workers`` processes; the chapter run then finds them finished. Useful for
    long profiles: it can be stopped at any time and started again. Errors are reported as
    :mod:`toposhape.cli` describes (one line, exit status 2; 130 when interrupted).
    """
    from toposhape.cli import Parser, run_command
    from toposhape.results import writable_folder

    def command(argv: list[str] | None) -> None:
        parser = Parser(prog="python -m toposhape.studies.oneclass.run")
        sub = parser.add_subparsers(dest="command", required=True)
        train = sub.add_parser("train", help="train (or resume) the backbones of a profile")
        train.add_argument("profile", help=f"one of {', '.join(PROFILES)}")
        train.add_argument("--dataset", help="only the backbones trained on this dataset")
        train.add_argument("--seed", type=int, default=0, help="base seed (as the chapter's)")
        args = parser.parse_args(argv)
        settings = get_profile(args.profile)
        specs = backbone_specs(settings, args.seed)
        if args.dataset is not None:
            if args.dataset not in {spec.dataset for spec in specs}:
                raise ValueError(
                    f"--dataset {args.dataset!r} trains no backbone of profile {args.profile!r}: "
                    f"expected one of {sorted({spec.dataset for spec in specs})}"
                )
            specs = [spec for spec in specs if spec.dataset == args.dataset]
        folder = writable_folder(work_dir(args.profile), "checkpoint folder")
        train_backbones(specs, settings, args.seed, folder, progress=True)

    return run_command(command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
