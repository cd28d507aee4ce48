"""The experiments of the chapter "Natural clustering" (Antorán & Miguel, ICMLA 2019).

:func:`run` trains the N-VAE and its baselines (VAE, β-VAE, conditional VAE) on MNIST and
Fashion-MNIST with one budget and measures them: test ELBO, importance-weighted
log-likelihood, the N-VAE's own classifier q(y|x), per-class KL of every latent dimension,
MMD² between the aggregate posterior and the prior, ancestral samples at σ = 1 and 1.4,
latent traversals, and classifiers trained on generated images
(:func:`synthetic_classifier_study`). The payload it returns is what
:mod:`toposhape.studies.nvae.report` draws and judges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_images,
    check_int,
    check_labels,
    check_mapping,
    check_on_model,
    check_path,
    check_sequence,
)
from toposhape.data import random_subset
from toposhape.nvae import (
    LatentVAE,
    aggregate_posterior_mmd,
    build_vae,
    classifier_accuracy,
    elbo,
    iwae_log_likelihood,
    kl_per_class,
    train_vae,
    traversal,
)
from toposhape.results import profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, seeded

__all__ = [
    "CHAPTER",
    "MODELS",
    "PROFILES",
    "RECIPE",
    "get_profile",
    "run",
    "synthetic_classifier_study",
    "work_dir",
]

CHAPTER = "nvae"

#: Latent layout and weights shared by every model (total latent size class_dim + shared_dim).
RECIPE: dict[str, Any] = {
    "class_dim": 6,
    "shared_dim": 4,
    "hidden": 512,
    "batch_size": 100,
    "lr": 1e-3,
    "sigmas": [1.0, 1.4],
    "fractions": [0.0, 0.4, 1.0],
    "traversal_values": [-2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5],
}

#: name -> (kind, beta): β_c = 1 for the N-VAE, β = 4 for the β-VAE.
MODELS: dict[str, tuple[str, float]] = {
    "N-VAE": ("nvae", 1.0),
    "VAE": ("vae", 1.0),
    "β-VAE": ("betavae", 4.0),
    "CVAE": ("cvae", 1.0),
}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist"],
        "train_images": 2000,
        "test_images": 500,
        "epochs": 1,
        "iwae_k": 5,
        "iwae_images": 100,
        "classifier_images": 1000,
        "classifier_epochs": 1,
        "classifier_seeds": [0],
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "train_images": None,
        "test_images": None,
        "epochs": 10,
        "iwae_k": 100,
        "iwae_images": 2000,
        "classifier_images": 10000,
        "classifier_epochs": 3,
        "classifier_seeds": [0, 1, 2],
    },
}


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/nvae/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


#: The classifier's input (MNIST-sized greyscale images), classes and batch size.
_IMAGE_SHAPE = (1, 28, 28)
_CLASSES = 10
_BATCH = 64


def _classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, _CLASSES),
    )


def _fit_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> nn.Module:
    with seeded(seed):
        net = _classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x) - _BATCH + 1, _BATCH):
            idx = order[start : start + _BATCH]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([net(chunk).argmax(dim=1) for chunk in x.split(1000)])
    return float((pred == y).float().mean())


def synthetic_classifier_study(
    generators: Mapping[str, LatentVAE],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    images: int,
    epochs: int,
    seeds: list[int],
) -> list[dict[str, Any]]:
    """Train a small CNN on real and generated images, test it on the real test set.

    For each fraction f in ``RECIPE["fractions"]`` and each seed, the classifier sees
    ``images`` training images: a share f generated by a conditional model (balanced
    labels, ancestral samples at σ = 1, Bernoulli means) and the rest real. f = 0 is the
    real-data reference (the same for every generator).

    Parameters
    ----------
    generators : mapping
        Name → a conditional :class:`~toposhape.nvae.LatentVAE` ("nvae" or "cvae") of 10
        classes and (1, 28, 28) images, on the CPU; non-empty.
    train_x, test_x : Tensor, shape (N, 1, 28, 28)
        Floating images in [0, 1], on the CPU; N >= 1.
    train_y, test_y : Tensor, shape (N,)
        Their labels, integers in [0, 10).
    images : int
        Training images per classifier, from 64 (one batch) to ``len(train_x)``.
    epochs : int
        >= 1.
    seeds : sequence of int
        Non-empty; every seed in [0, :data:`toposhape.training.MAX_SEED`].

    Returns
    -------
    list of dict
        One row per (generator, fraction): accuracies over seeds, mean and std.
    """
    check_mapping("generators", generators)
    if not generators:
        raise ValueError("generators must not be empty")
    for name, model in generators.items():
        where = f"generators[{name!r}]"
        if not isinstance(model, LatentVAE):
            raise TypeError(f"{where} must be a LatentVAE, got {type(model).__name__}")
        if model.kind not in ("nvae", "cvae"):
            raise ValueError(
                f"{where} must be a conditional model (nvae, cvae), got {model.kind!r}"
            )
        if model.classes != _CLASSES or tuple(model.image_shape) != _IMAGE_SHAPE:
            raise ValueError(
                f"{where} must generate {_CLASSES} classes of {_IMAGE_SHAPE} images, got "
                f"{model.classes} classes of {tuple(model.image_shape)}"
            )
    for x_name, x, y_name, y in (
        ("train_x", train_x, "train_y", train_y),
        ("test_x", test_x, "test_y", test_y),
    ):
        check_images(x_name, x, uint8=False, min_rows=1)
        if tuple(x.shape[1:]) != _IMAGE_SHAPE:
            raise ValueError(f"{x_name} must have shape (N, 1, 28, 28), got {tuple(x.shape)}")
        check_labels(y_name, y)
        if len(y) != len(x):
            raise ValueError(f"{y_name} must hold one label per image of {x_name}: {len(x)}")
        if int(y.min()) < 0 or int(y.max()) >= _CLASSES:
            raise ValueError(f"{y_name} must hold labels in [0, {_CLASSES})")
        for name, tensor in ((x_name, x), (y_name, y)):
            if tensor.device.type != "cpu":
                raise ValueError(
                    f"{name} must be on the CPU (the classifier is), got {tensor.device}"
                )
    for model in generators.values():
        check_on_model("train_x", train_x, model)
    images = check_int("images", images, _BATCH, len(train_x))
    epochs = check_int("epochs", epochs, 1)
    seeds = [
        check_int(f"seeds[{i}]", s, 0, MAX_SEED)
        for i, s in enumerate(check_sequence("seeds", seeds))
    ]
    rows = []
    for name, model in generators.items():
        for fraction in RECIPE["fractions"]:
            if fraction == 0.0 and rows and rows[0]["fraction"] == 0.0:
                continue  # the real-data reference is trained once
            accs = []
            for seed in seeds:
                fake = round(images * fraction)
                gen = torch.Generator().manual_seed(10_000 + seed)
                real_x, real_y = random_subset(train_x, train_y, images - fake, seed)
                labels = torch.arange(fake) % 10
                samples = model.sample(labels, sigma=1.0, generator=gen) if fake else real_x[:0]
                x = torch.cat([real_x[: images - fake], samples])
                y = torch.cat([real_y[: images - fake], labels])
                net = _fit_classifier(x, y, epochs, seed)
                accs.append(_accuracy(net, test_x, test_y))
            rows.append(
                {
                    "generator": "real data" if fraction == 0.0 else name,
                    "fraction": fraction,
                    "accuracies": accs,
                    "mean": float(np.mean(accs)),
                    "std": float(np.std(accs)),
                }
            )
    return rows


def _latent_codes(model: LatentVAE, x: torch.Tensor, n: int) -> list[list[float]]:
    with torch.no_grad():
        mu = model.encode(x[:n])[0]
    return mu.numpy().round(2).tolist()


def _u8(images: torch.Tensor) -> list:
    """Images in [0, 1] as nested lists of 0..255 integers (a compact results file)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).tolist()


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
        Seeds subsets, initial weights, batch orders and all random draws; in [0,
        :data:`toposhape.training.MAX_SEED`].
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, so an interrupted run resumes.
    progress : bool
        Show training progress bars.
    log : callable or None
        Receives one line per finished phase.

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    from toposhape.data import load_images

    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    folder = work_dir(profile, results_root)
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    out: dict[str, Any] = {}
    for dataset in settings["datasets"]:
        started = time.perf_counter()
        train_x, train_y = load_images(dataset, "train")
        test_x, test_y = load_images(dataset, "test")
        train_x, train_y = random_subset(train_x, train_y, settings["train_images"], seed)
        test_x, test_y = random_subset(test_x, test_y, settings["test_images"], seed + 1)
        models, entry = {}, {"models": {}}
        for name, (kind, beta) in tqdm(MODELS.items(), desc=dataset, disable=not progress):
            model = build_vae(
                seed, kind=kind, classes=10, class_dim=RECIPE["class_dim"],
                shared_dim=RECIPE["shared_dim"], hidden=RECIPE["hidden"], beta=beta,
            )  # fmt: skip
            history = train_vae(
                model, train_x, train_y, epochs=settings["epochs"],
                batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], seed=seed,
                checkpoint=folder / f"{dataset}-{kind}.pt", progress=progress,
            )  # fmt: skip
            model.eval()
            models[name] = model
            gen = torch.Generator().manual_seed(seed)
            k_imgs = settings["iwae_images"]
            entry["models"][name] = {
                "kind": kind,
                "beta": beta,
                "history": history,
                "elbo": elbo(model, test_x, test_y, gen),
                "iwae": iwae_log_likelihood(
                    model, test_x[:k_imgs], test_y[:k_imgs], settings["iwae_k"], gen
                ),
                "accuracy": classifier_accuracy(model, test_x, test_y) if kind == "nvae" else None,
                "kl_per_class": kl_per_class(model, test_x, test_y).round(4).tolist(),
                "mmd": aggregate_posterior_mmd(model, test_x, gen),
                "samples": {
                    f"{sigma:g}": _u8(
                        model.sample(torch.arange(64) % 10, sigma=sigma, generator=gen)[:, 0]
                    )
                    for sigma in RECIPE["sigmas"]
                },
                "codes": _latent_codes(model, test_x, 1000),
            }
        entry["labels"] = test_y[:1000].tolist()
        nvae = models["N-VAE"]
        values = torch.tensor(RECIPE["traversal_values"])
        base = torch.zeros(RECIPE["class_dim"] + RECIPE["shared_dim"])
        entry["shared_traversals"] = [
            _u8(traversal(nvae, base, RECIPE["class_dim"] + j, values, list(range(10)))[:, :, 0])
            for j in range(RECIPE["shared_dim"])
        ]  # fmt: skip
        kl = np.asarray(entry["models"]["N-VAE"]["kl_per_class"])[:, : RECIPE["class_dim"]]
        top = kl.argmax(axis=1)  # the most used class-dependent dimension of each class
        entry["class_traversals"] = [
            _u8(traversal(nvae, base, int(top[c]), values, [c])[0, :, 0]) for c in range(10)
        ]
        entry["class_traversal_dims"] = top.tolist()
        timings[f"{dataset} models"] = round(time.perf_counter() - started, 1)
        say(f"{dataset} models: {timings[f'{dataset} models']:.0f} s")
        started = time.perf_counter()
        entry["synthetic"] = synthetic_classifier_study(
            {"N-VAE": nvae, "CVAE": models["CVAE"]}, train_x, train_y, test_x, test_y,
            settings["classifier_images"], settings["classifier_epochs"],
            settings["classifier_seeds"],
        )  # fmt: skip
        timings[f"{dataset} classifiers"] = round(time.perf_counter() - started, 1)
        say(f"{dataset} classifiers: {timings[f'{dataset} classifiers']:.0f} s")
        entry["train_images"], entry["test_images"] = len(train_x), len(test_x)
        out[dataset] = entry
    return {
        "profile": profile,
        "settings": settings,
        "recipe": RECIPE,
        "models": {k: list(v) for k, v in MODELS.items()},
        "datasets": out,
        "timings_s": timings,
    }
