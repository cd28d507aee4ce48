"""The study behind the book chapter "Natural clustering" (Antorán & Miguel, ICMLA 2019).

:func:`run` trains the N-VAE and its baselines (VAE, β-VAE, conditional VAE) on MNIST and
Fashion-MNIST with one budget and measures them; the ``plot_*`` functions,
:func:`markdown_tables` and :func:`findings` turn a payload (fresh, or loaded with
:func:`toposhape.results.load_results`) into the chapter's figures, tables and claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
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
from toposhape.results import markdown_table, profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, seeded

__all__ = [
    "CHAPTER",
    "MODELS",
    "PROFILES",
    "RECIPE",
    "findings",
    "get_profile",
    "markdown_tables",
    "plot_all",
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


def _unit(images: Any) -> np.ndarray:
    """Inverse of :func:`_u8`: float images in [0, 1]."""
    return np.asarray(images, dtype=np.float64) / 255.0


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


# ---------------------------------------------------------------------------
# Figures, tables and claims, from a payload only
# ---------------------------------------------------------------------------


def _tile(images: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W) → one (rows·H, cols·W) image."""
    r, c, h, w = images.shape
    return images.transpose(0, 2, 1, 3).reshape(r * h, c * w)


def plot_latents(payload: Mapping[str, Any]) -> Figure:
    """Test codes of the VAE and the N-VAE (first two principal axes), coloured by class."""
    check_mapping("payload", payload, "datasets", "recipe")
    names = list(payload["datasets"])
    fig = Figure(figsize=(9, 4.2 * len(names)))
    axes = fig.subplots(len(names), 2, squeeze=False)
    cd = payload["recipe"]["class_dim"]
    for row, dataset in enumerate(names):
        entry = payload["datasets"][dataset]
        labels = np.asarray(entry["labels"])
        for col, (name, part) in enumerate((("VAE", slice(None)), ("N-VAE", slice(cd, None)))):
            codes = np.asarray(entry["models"][name]["codes"])[:, part]
            centred = codes - codes.mean(axis=0)
            axes_ = np.linalg.svd(centred, full_matrices=False)[2][:2].T
            xy = centred @ axes_
            ax = axes[row, col]
            sc = ax.scatter(*xy.T, c=labels, cmap="tab10", s=3, vmin=0, vmax=9)
            what = "all of z" if name == "VAE" else "shared z_s"
            ax.set_title(f"{dataset}: {name}, {what} (2 principal axes)", fontsize=9)
        fig.colorbar(sc, ax=axes[row, 1], label="class")
    fig.tight_layout()
    return fig


def plot_samples(payload: Mapping[str, Any]) -> Figure:
    """Ancestral samples at σ = 1 and 1.4 of every model (8 × 8 grids)."""
    check_mapping("payload", payload, "datasets", "models", "recipe")
    names = list(payload["datasets"])
    models = list(payload["models"])
    sigmas = [f"{s:g}" for s in payload["recipe"]["sigmas"]]
    fig = Figure(figsize=(2.6 * len(models), 2.8 * len(names) * len(sigmas)))
    axes = fig.subplots(len(names) * len(sigmas), len(models), squeeze=False)
    for i, dataset in enumerate(names):
        for j, sigma in enumerate(sigmas):
            row = i * len(sigmas) + j
            for col, name in enumerate(models):
                s = _unit(payload["datasets"][dataset]["models"][name]["samples"][sigma])
                ax = axes[row, col]
                ax.imshow(_tile(s.reshape(8, 8, *s.shape[1:])), cmap="gray")
                ax.set_title(f"{dataset}, {name}, σ = {sigma}", fontsize=8)
                ax.axis("off")
    fig.tight_layout()
    return fig


def plot_shared_traversals(payload: Mapping[str, Any], dataset: str) -> Figure:
    """N-VAE: every shared dimension traversed for every class (classes × values)."""
    check_mapping("payload", payload, "datasets", "recipe")
    check_choice("dataset", dataset, tuple(payload["datasets"]))
    grids = _unit(payload["datasets"][dataset]["shared_traversals"])  # (M, 10, V, H, W)
    fig = Figure(figsize=(3.2 * len(grids), 4.6))
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    values = payload["recipe"]["traversal_values"]
    for j, ax in enumerate(axes):
        ax.imshow(_tile(grids[j]), cmap="gray")
        ax.set_title(f"{dataset}: shared z_s[{j}] from {values[0]} to {values[-1]}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_class_factors(payload: Mapping[str, Any], dataset: str) -> Figure:
    """N-VAE: per-class KL of every z_c dimension, and each class's top dimension traversed."""
    check_mapping("payload", payload, "datasets", "recipe")
    check_choice("dataset", dataset, tuple(payload["datasets"]))
    entry = payload["datasets"][dataset]
    cd = payload["recipe"]["class_dim"]
    kl = np.asarray(entry["models"]["N-VAE"]["kl_per_class"])[:, :cd]
    fig = Figure(figsize=(11, 4.2))
    ax_kl, ax_tr = fig.subplots(1, 2, width_ratios=(1, 1.6))
    im = ax_kl.imshow(kl, cmap="viridis")
    ax_kl.set(xlabel="class-dependent dimension z_c[j]", ylabel="class",
              title=f"{dataset}: KL(q(z_c[j]|x) ‖ N(0,1)), mean per class")  # fmt: skip
    ax_kl.set_xticks(range(cd))
    ax_kl.set_yticks(range(10))
    fig.colorbar(im, ax=ax_kl, label="nats")
    rows = _unit(entry["class_traversals"])  # (10, V, H, W)
    ax_tr.imshow(_tile(rows), cmap="gray")
    dims = entry["class_traversal_dims"]
    ax_tr.set_yticks(
        (np.arange(10) + 0.5) * rows.shape[2], [f"{c}: z_c[{d}]" for c, d in enumerate(dims)]
    )
    ax_tr.set_xticks([])
    ax_tr.set_title("each class's most used z_c dimension, traversed", fontsize=9)
    fig.tight_layout()
    return fig


def plot_all(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by name."""
    check_mapping("payload", payload, "datasets", "models", "recipe")
    figures = {"latents": plot_latents(payload), "samples": plot_samples(payload)}
    for dataset in payload["datasets"]:
        figures[f"shared_{dataset}"] = plot_shared_traversals(payload, dataset)
        figures[f"class_factors_{dataset}"] = plot_class_factors(payload, dataset)
    return figures


def markdown_tables(payload: Mapping[str, Any]) -> dict[str, str]:
    """The chapter's tables (Markdown), by name."""
    check_mapping("payload", payload, "datasets", "settings")
    rows = []
    for dataset, entry in payload["datasets"].items():
        for name, m in entry["models"].items():
            acc = "—" if m["accuracy"] is None else f"{100 * m['accuracy']:.2f} %"
            likelihood = "log p(x | y)" if m["kind"] in ("nvae", "cvae") else "log p(x)"
            rows.append([
                dataset, name, f"{m['elbo']:.1f}", f"{m['iwae']:.1f} ({likelihood})",
                acc, f"{m['mmd']:.4f}",
            ])  # fmt: skip
    k = payload["settings"]["iwae_k"]
    models = markdown_table(
        ["dataset", "model", "test ELBO (nats)", f"IWAE, k = {k} (nats)", "q(y|x) accuracy",
         "MMD² aggregate posterior vs prior"],
        rows,
    )  # fmt: skip
    synth = []
    for dataset, entry in payload["datasets"].items():
        for r in entry["synthetic"]:
            synth.append([
                dataset, r["generator"], f"{100 * r['fraction']:.0f} %",
                f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f}", len(r["accuracies"]),
            ])  # fmt: skip
    synthetic = markdown_table(
        ["dataset", "generator", "generated share", "test accuracy (%)", "seeds"], synth
    )
    return {"models": models, "synthetic": synthetic}


def findings(payload: Mapping[str, Any]) -> list[str]:
    """The chapter's claims, each answered yes/no from the payload's numbers."""
    check_mapping("payload", payload, "datasets")
    lines = []
    for dataset, entry in payload["datasets"].items():
        m = entry["models"]
        nv, vae = m["N-VAE"], m["VAE"]
        lines.append(
            f"{dataset}: the N-VAE's aggregate posterior matches the prior better than the VAE's "
            f"(smaller MMD²): **{'yes' if nv['mmd'] < vae['mmd'] else 'no'}** "
            f"({nv['mmd']:.4f} vs {vae['mmd']:.4f})."
        )
        lines.append(
            f"{dataset}: the N-VAE explains the data better than the CVAE given the label "
            f"(IWAE log p(x|y)): **{'yes' if nv['iwae'] > m['CVAE']['iwae'] else 'no'}** "
            f"({nv['iwae']:.1f} vs {m['CVAE']['iwae']:.1f} nats)."
        )
        synth = {(r["generator"], r["fraction"]): r["mean"] for r in entry["synthetic"]}
        for fraction in (0.4, 1.0):
            a, b = synth[("N-VAE", fraction)], synth[("CVAE", fraction)]
            lines.append(
                f"{dataset}, {100 * fraction:.0f} % generated training data: N-VAE samples train "
                f"a better classifier than CVAE samples: **{'yes' if a > b else 'no'}** "
                f"({100 * a:.2f} vs {100 * b:.2f} %; real data only "
                f"{100 * synth[('real data', 0.0)]:.2f} %)."
            )
    return lines
