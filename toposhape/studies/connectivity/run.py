"""The experiments of the chapter "Controlling connectivity" (Hofer et al., ICML 2019).

:func:`run` computes the chapter's JSON-serialisable *payload*: a toy KDE example and a
small 0-dim persistence demo (:mod:`.toy`), two MNIST autoencoders trained with λ = 0 and
λ = 20 and their held-out death times (:mod:`.deaths`), and numerical illustrations of the
paper's three theory claims (:mod:`.theory`). :mod:`.report` draws it.

The per-profile settings live in :data:`PROFILES`; ``"smoke"`` runs the whole chapter in
well under a minute on two CPU cores, ``"full"`` trains on all of MNIST.
"""

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.checks import check_bool, check_callable, check_choice, check_int, check_path
from toposhape.data import random_subset
from toposhape.results import profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.studies.connectivity.deaths import death_summary, heldout_deaths
from toposhape.studies.connectivity.theory import (
    batch_size_study,
    densification_study,
    gradient_study,
)
from toposhape.studies.connectivity.toy import toy_study, vr_demo
from toposhape.training import MAX_SEED, TrainConfig, train_backbone

CHAPTER = "connectivity"

#: The reference recipe (Hofer et al.), adapted to MNIST's 1×28×28 images.
RECIPE: dict[str, Any] = {
    "dataset": "mnist",
    "branches": 16,
    "branch_dim": 10,
    "eta": 2.0,
    "p": 1.0,
    "batch_size": 100,
    "lr": 1e-3,
    "lambdas": [0.0, 20.0],
    "within": 0.5,  # a death time "hits" η if it lies in [η - within, η + within]
}

#: Per-profile settings. ``None`` for an image count means the whole split.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "train_images": 2000,
        "test_images": 1000,
        "epochs": 3,
        "steps_per_epoch": 8,
        "toy_per_cluster": 40,
        "toy_steps": 150,
        "latent_points": 500,
        "batch_sizes": [10, 25, 50, 100, 200, 400],
        "batch_repeats": 4,
        "densify_sizes": [25, 50, 100, 200, 400, 1000],
    },
    "full": {
        "train_images": None,
        "test_images": None,
        "epochs": 10,
        "steps_per_epoch": None,
        "toy_per_cluster": 60,
        "toy_steps": 400,
        "latent_points": 2000,
        "batch_sizes": [10, 25, 50, 100, 200, 400],
        "batch_repeats": 40,
        "densify_sizes": [25, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
    },
}

#: Top-level keys of the payload returned by :func:`run`.
PAYLOAD_KEYS = (
    "profile",
    "settings",
    "recipe",
    "toy",
    "vr_demo",
    "training",
    "evaluation",
    "latent",
    "gradients",
    "batch_size",
    "densification",
    "timings_s",
)


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/connectivity/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


@torch.no_grad()
def _encode(
    model: ConnectivityAutoencoder, images: torch.Tensor, chunk: int = 500
) -> tuple[torch.Tensor, float]:
    """Latent codes and the L1 reconstruction error of ``images`` as trained on
    (:func:`toposhape.losses.reconstruction_l1`: summed over each image, mean over images)."""
    codes, abs_sum = [], 0.0
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk]
        rec, z = model(batch)
        codes.append(z)
        abs_sum += float((rec - batch).abs().sum())
    return torch.cat(codes), abs_sum / len(images)


def _train(
    lam: float,
    images: torch.Tensor,
    settings: Mapping[str, Any],
    seed: int,
    folder: Path,
    progress: bool,
) -> tuple[ConnectivityAutoencoder, list[dict]]:
    config = TrainConfig(
        epochs=settings["epochs"],
        batch_size=RECIPE["batch_size"],
        lr=RECIPE["lr"],
        lam=lam,
        eta=RECIPE["eta"],
        p=RECIPE["p"],
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )
    return train_backbone(  # both λ start from the same initial weights
        images,
        config,
        branches=RECIPE["branches"],
        branch_dim=RECIPE["branch_dim"],
        init_seed=seed,
        checkpoint=folder / f"lam{lam:g}.pt",
        progress=progress,
    )


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full"}
    seed : int
        Seeds data subsets, initial weights, batch orders and all random draws;
        in [0, :data:`toposhape.training.MAX_SEED`].
    results_root : path, optional
        Results folder (default ``<repo>/results``); training checkpoints go to
        :func:`work_dir`, so an interrupted run resumes where it stopped.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per finished phase.

    Returns
    -------
    dict
        JSON-serialisable payload with the keys :data:`PAYLOAD_KEYS`.
    """
    from toposhape.data import load_images

    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    eta, p, within = RECIPE["eta"], RECIPE["p"], RECIPE["within"]
    branches = RECIPE["branches"]
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
    lap("toy")

    train_x, _ = load_images(RECIPE["dataset"], "train")
    test_x, test_y = load_images(RECIPE["dataset"], "test")
    train_x, _ = random_subset(train_x, _, settings["train_images"], seed)
    test_x, test_y = random_subset(test_x, test_y, settings["test_images"], seed + 1)
    folder = work_dir(profile, results_root)
    payload["training"], payload["evaluation"], payload["latent"] = {}, {}, {}
    codes_by_lam = {}
    for lam in RECIPE["lambdas"]:
        key = f"{lam:g}"
        model, history = _train(lam, train_x, settings, seed, folder, progress)
        lap(f"train λ={key}")
        codes, rec_l1 = _encode(model, test_x)
        codes_by_lam[key] = codes
        deaths = heldout_deaths(codes, branches, RECIPE["batch_size"], p)
        summary = death_summary(deaths, eta, within)
        payload["training"][key] = history
        payload["evaluation"][key] = {"test_reconstruction_l1": rec_l1, "deaths": summary}
        m = min(settings["latent_points"], len(codes))
        payload["latent"][key] = {
            "points": codes[:m, :2].numpy().round(5).tolist(),  # dims 0, 1 = branch 0
            "labels": test_y[:m].tolist(),
        }
        lap(f"evaluate λ={key}")
    payload["gradients"] = gradient_study(seed)
    lap("gradients")
    trained = codes_by_lam[f"{max(RECIPE['lambdas']):g}"]
    payload["batch_size"] = batch_size_study(
        trained, settings["batch_sizes"], settings["batch_repeats"], seed, branches, eta, p, within
    )
    lap("batch size")
    payload["densification"] = {
        key: densification_study(c, settings["densify_sizes"], seed, branches, p)
        for key, c in codes_by_lam.items()
    }
    lap("densification")
    payload["test_images"] = len(test_x)
    payload["train_images"] = len(train_x)
    payload["timings_s"] = timings
    return payload
