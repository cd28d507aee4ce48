"""The study behind the book chapter "One-class learning" (Hofer et al., ICML 2019).

Backbones (the reference autoencoder, trained with λ·connectivity loss) are trained
on one dataset and used, encoder only, for one-class learning on another: each class
in turn is the inlier class, n of its training images are the only data the one-class
model sees, and every test image is scored by counting those inliers inside ℓ1 balls
of radius η in each latent branch (:mod:`toposhape.oneclass`).

* :func:`run` computes a JSON-serialisable payload: backbones, per-class AUROCs of
  our models and of the baselines (:mod:`toposhape.baselines`), ablations;
* the ``plot_*`` functions and :func:`markdown_tables` turn a payload into figures
  and tables, so the built book redraws everything from the saved results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.baselines import deep_svdd_scores, flatten_pixels, kde_scores, ocsvm_scores
from toposhape.connectivity_study import death_summary, heldout_deaths, homogenize
from toposhape.data import random_subset
from toposhape.image_sets import IMAGE_SETS, load_image_set
from toposhape.oneclass import ball_counts, class_draws, encode, run_protocol, summarise
from toposhape.results import markdown_table, profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import (
    TrainConfig,
    history_seconds,
    profile_device,
    save_backbone,
    seeded,
    train_autoencoder,
    train_backbone,
)

CHAPTER = "oneclass"

#: The reference recipe (Hofer et al., ``COREL_icml2019``).
RECIPE: dict[str, Any] = {
    "branches": 16,
    "branch_dim": 10,
    "eta": 2.0,
    "p": 1.0,
    "lam": 20.0,
    "batch_size": 100,
    "lr": 1e-3,
    "epochs": 50,
}

#: Per-profile settings. ``None`` for an image count means the whole split.
#:
#: * ``datasets``: backbone training sets; ``eval_datasets``: one-class evaluation sets
#:   (every backbone is evaluated on every one of them);
#: * ``ns``: inliers per draw, ``draws``: draws per class;
#: * ``ablation_dataset``: the training set of the λ / branch ablation backbones;
#:   ``radii`` are evaluated on its λ = 20 backbone;
#: * ``baseline_ns``: the n at which each baseline is run (KDE and Deep SVDD cost
#:   seconds per draw on CPU, so the full CPU profile runs them at the headline n = 120).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "train_images": 3000,
        "test_images": 1000,
        "epochs": 1,
        "steps_per_epoch": 30,
        "ns": [20, 40],
        "draws": 2,
        "ablation_dataset": "fashion-mnist",
        "lambdas": [0.0, 20.0],
        "radii": [1.0, 2.0, 3.0],
        "single_branch": True,
        "baseline_ns": {"kde": [40], "ocsvm": [20, 40], "deep-svdd": [40]},
        "baseline_sets": ["mnist", "fashion-mnist"],
        "dsvdd_epochs": 5,
        "device": "cpu",
    },
    "full": {
        "datasets": ["mnist", "fashion-mnist"],
        "eval_datasets": ["mnist", "fashion-mnist"],
        "train_images": None,
        "test_images": None,
        "epochs": 10,
        "steps_per_epoch": None,
        "ns": [80, 120, 500],
        "draws": 5,
        "ablation_dataset": "fashion-mnist",
        "lambdas": [0.0, 1.0, 10.0, 20.0, 40.0],
        "radii": [1.0, 1.5, 2.0, 2.25, 3.0, 5.0],
        "single_branch": True,
        "baseline_ns": {"kde": [120], "ocsvm": [80, 120, 500], "deep-svdd": [120]},
        "baseline_sets": ["mnist", "fashion-mnist"],
        "dsvdd_epochs": 150,
        "device": "cpu",
    },
    "cifar": {
        "datasets": ["cifar10", "cifar100", "tinyimagenet"],
        "eval_datasets": ["cifar10", "cifar20", "cifar100", "tinyimagenet", "imagenet"],
        "train_images": None,
        "test_images": None,
        "epochs": 50,
        "steps_per_epoch": None,
        "ns": [80, 120, 500],
        "draws": 5,
        "ablation_dataset": "cifar100",
        "lambdas": [0.0, 1.0, 10.0, 20.0, 40.0],
        "radii": [1.0, 1.5, 2.0, 2.25, 3.0, 5.0],
        "single_branch": True,
        "baseline_ns": {"kde": [120], "ocsvm": [80, 120, 500], "deep-svdd": [120]},
        "baseline_sets": ["cifar10", "cifar20", "cifar100"],
        "dsvdd_epochs": 150,
        "device": "cuda",
    },
}

#: The command that runs the CIFAR / ImageNet rows (needs the data and a GPU).
CIFAR_COMMAND = "TOPOSHAPE_DATA=<data root> make reproduce CHAPTER=oneclass PROFILE=cifar"

#: The authors' own numbers (AUROC × 100, λ = 20, 5 draws, mean over classes), read from
#: the notebooks saved in ``c-hofer/COREL_icml2019``. Anchors, not facts we measured.
ANCHORS: dict[str, Any] = {
    "source": "Hofer et al. (ICML 2019), notebooks saved in the COREL_icml2019 repository",
    "table1": {  # backbone -> eval -> AUROC at n = 120
        "cifar10": {
            "cifar10": 75.96,
            "cifar20": 72.31,
            "cifar100": 79.39,
            "tinyimagenet": 72.57,
            "imagenet": 72.24,
        },
        "cifar100": {
            "cifar10": 75.49,
            "cifar20": 72.64,
            "cifar100": 79.83,
            "tinyimagenet": 72.23,
            "imagenet": 72.11,
        },
        "tinyimagenet": {
            "cifar10": 74.42,
            "cifar20": 71.67,
            "cifar100": 78.76,
            "tinyimagenet": 72.84,
            "imagenet": 71.98,
        },
    },
    "by_n": {  # (backbone, eval) -> {n: AUROC}
        "cifar100→cifar10": {"80": 74.43, "120": 75.49, "500": 77.01},
        "cifar10→cifar20": {"80": 71.08, "120": 72.31, "500": 73.83},
        "cifar100→cifar100": {"80": 78.98, "120": 79.83, "500": 81.35},
        "cifar10→imagenet": {"80": 71.53, "120": 72.24, "500": 73.72},
    },
    "lambda": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"0": 54.67, "1": 70.92, "10": 75.45, "20": 76.00, "40": 74.76},
    },
    "radius": {
        "pair": "cifar100→cifar10",
        "n": 120,
        "values": {"1": 54.96, "1.5": 72.10, "2": 76.00, "2.25": 76.36, "3": 74.58, "5": 66.07},
    },
    "single_branch": {"pair": "cifar100→cifar10", "n": 120, "lam20": 63.30, "lam0": 50.0},
}

#: Class names of the offline sets (the others are shown by index).
CLASS_NAMES: dict[str, list[str]] = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Boot",
    ],
}

#: Baselines, in table order, with their display names.
BASELINES: dict[str, str] = {
    "kde": "KDE (pixels)",
    "ocsvm": "OC-SVM (pixels)",
    "deep-svdd": "Deep SVDD",
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


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, profile)


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a study: the training set, λ and the latent layout."""

    dataset: str
    lam: float
    branches: int = 16
    branch_dim: int = 10

    @property
    def name(self) -> str:
        """File stem and payload key, e.g. ``fashion-mnist-lam20-16x10``."""
        return f"{self.dataset}-lam{self.lam:g}-{self.branches}x{self.branch_dim}"


def backbone_specs(settings: Mapping[str, Any]) -> list[BackboneSpec]:
    """Backbones a profile trains: λ=20 and λ=0 per dataset, then the ablation ones."""
    specs = []
    for dataset in settings["datasets"]:
        specs += [BackboneSpec(dataset, RECIPE["lam"]), BackboneSpec(dataset, 0.0)]
    ablation = settings["ablation_dataset"]
    specs += [BackboneSpec(ablation, float(lam)) for lam in settings["lambdas"]]
    if settings["single_branch"]:
        dim = RECIPE["branches"] * RECIPE["branch_dim"]
        specs.append(BackboneSpec(ablation, RECIPE["lam"], 1, dim))
    return list(dict.fromkeys(specs))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/oneclass/<profile>/_work`` (git-ignored)."""
    return chapter_work_dir(CHAPTER, profile, results_root)


def train_config(settings: Mapping[str, Any], lam: float, seed: int) -> TrainConfig:
    """The reference training settings at a profile's epoch budget."""
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=RECIPE["batch_size"],
        lr=RECIPE["lr"],
        lam=lam,
        eta=RECIPE["eta"],
        p=RECIPE["p"],
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )


def train_one(
    spec: BackboneSpec,
    images: torch.Tensor,
    settings: Mapping[str, Any],
    seed: int,
    folder: Path,
    progress: bool,
) -> tuple[ConnectivityAutoencoder, list[dict]]:
    """Train (or resume, or reload when finished) one backbone.

    The per-epoch checkpoint is ``<folder>/<name>.pt``; the final weights are also
    saved as a plain ``state_dict`` + JSON config, ``<folder>/<name>-backbone.{pt,json}``.
    """
    model, history = train_backbone(
        images,
        train_config(settings, spec.lam, seed),
        branches=spec.branches,
        branch_dim=spec.branch_dim,
        init_seed=seed,
        checkpoint=folder / f"{spec.name}.pt",
        progress=progress,
    )
    save_backbone(model, folder / f"{spec.name}-backbone")
    return model, history


# ---------------------------------------------------------------------------
# The η-ball picture
# ---------------------------------------------------------------------------


def eta_ball_toy(seed: int, n: int = 14, eta: float = 1.0, grid: int = 61) -> dict[str, Any]:
    """A 2-D picture of the score: ℓ1 balls of radius η around n inliers.

    The inliers are random points moved by the connectivity loss (ℓ1) until their
    death times are close to η, i.e. what a trained branch does to a batch; the score
    of a location is the number of inliers within ℓ1 distance η of it.

    Returns
    -------
    dict
        ``points`` (n, 2), ``eta``, ``xs``, ``ys`` (grid,), ``counts`` (grid, grid).
    """
    rng = np.random.default_rng(seed + 3)
    start = rng.normal(size=(n, 2)) * 0.6
    points, _ = homogenize(start, eta=eta, steps=300, lr=0.03, p=1.0)
    lo, hi = points.min(0) - 1.6 * eta, points.max(0) + 1.6 * eta
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    gx, gy = np.meshgrid(xs, ys)
    loc = np.stack([gx.ravel(), gy.ravel()], 1)
    counts = ball_counts(torch.from_numpy(loc), torch.from_numpy(points), 1, [eta], [n], p=1.0)[
        0, 0
    ]
    return {
        "eta": eta,
        "points": points.round(5).tolist(),
        "xs": xs.round(5).tolist(),
        "ys": ys.round(5).tolist(),
        "counts": counts.reshape(grid, grid).tolist(),
    }


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def _rows(
    table: np.ndarray, classes: list[str], variants: list[float | None], ns: list[int]
) -> list[dict[str, Any]]:
    """Summaries of an AUROC table (classes, draws, variants, ns), one row per (variant, n)."""
    rows = []
    for v, radius in enumerate(variants):
        for k, n in enumerate(ns):
            rows.append({"radius": radius, "n": n, **summarise(table[:, :, v, k], classes)})
    return rows


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
    profile : {"smoke", "full", "cifar"}
    seed : int
        Seeds data subsets, initial weights, batch orders, inlier draws and baselines.
    results_root : path, optional
        Results folder (default ``<repo>/results``); checkpoints and backbones go to
        :func:`work_dir`, so an interrupted run resumes where it stopped.
    progress : bool
        Show progress bars.
    log : callable or None
        Receives one line per finished phase.

    Returns
    -------
    dict
        JSON-serialisable payload with the keys :data:`PAYLOAD_KEYS`.
    """
    settings = get_profile(profile)
    device = profile_device(settings["device"])
    say = log or (lambda _msg: None)
    eta, p = RECIPE["eta"], RECIPE["p"]
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = round(now - tick, 2)
        tick = now
        say(f"{name}: {timings[name]:.1f} s")

    payload: dict[str, Any] = {"profile": profile, "settings": settings, "recipe": dict(RECIPE)}
    payload["toy"] = eta_ball_toy(seed)
    data: dict[str, tuple[torch.Tensor, ...]] = {}
    for offset, name in enumerate(dict.fromkeys(settings["datasets"] + settings["eval_datasets"])):
        train_x, train_y = load_image_set(name, "train", progress=progress)
        test_x, test_y = load_image_set(name, "test", progress=progress)
        train_x, train_y = random_subset(
            train_x, train_y, settings["train_images"], seed + 2 * offset
        )
        test_x, test_y = random_subset(
            test_x, test_y, settings["test_images"], seed + 2 * offset + 1
        )
        data[name] = (train_x, train_y, test_x, test_y)
    payload["datasets"] = {
        name: {
            "classes": CLASS_NAMES.get(name, [str(c) for c in range(IMAGE_SETS[name])]),
            "train_images": len(d[0]),
            "test_images": len(d[2]),
            "image_shape": list(d[0].shape[1:]),
        }
        for name, d in data.items()
    }
    lap("data")

    folder = work_dir(profile, results_root)
    payload["backbones"], payload["evaluations"], payload["score_examples"] = {}, [], []
    for spec in backbone_specs(settings):
        train_x, _, test_x, _ = data[spec.dataset]
        images = train_x.to(device).float().div_(255.0)
        model, history = train_one(spec, images, settings, seed, folder, progress)
        del images
        lap(f"train {spec.name}")
        codes = encode(model, test_x)
        deaths = heldout_deaths(codes, spec.branches, RECIPE["batch_size"], p).cpu()
        payload["backbones"][spec.name] = {
            "spec": asdict(spec),
            "history": history,
            "deaths": death_summary(deaths, eta, 0.5),
        }
        radii = (
            settings["radii"]
            if spec == BackboneSpec(settings["ablation_dataset"], RECIPE["lam"])
            else [eta]
        )
        for eval_name in settings["eval_datasets"]:
            payload["evaluations"].append(
                _evaluate(
                    model,
                    spec,
                    eval_name,
                    data[eval_name],
                    radii,
                    settings,
                    seed,
                    progress,
                    payload,
                )
            )
            lap(f"evaluate {spec.name} → {eval_name}")
    first = settings["datasets"][0]
    images = data[first][0][:200].to(device).float().div_(255.0)
    payload["resume_check"] = resume_check(images, seed, folder)
    lap("resume check")
    payload["baselines"] = []
    for eval_name in settings["baseline_sets"]:
        for method in BASELINES:
            payload["baselines"].append(
                _baseline(method, eval_name, data[eval_name], settings, seed, progress)
            )
            lap(f"baseline {method} on {eval_name}")
    payload["timings_s"] = timings
    return payload


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def _evaluate(
    model: ConnectivityAutoencoder,
    spec: BackboneSpec,
    eval_name: str,
    split: tuple[torch.Tensor, ...],
    radii: list[float],
    settings: Mapping[str, Any],
    seed: int,
    progress: bool,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """η-ball AUROCs of one backbone on one evaluation set (all classes, draws, n, radii)."""
    train_x, train_y, test_x, test_y = split
    ns, draws = settings["ns"], settings["draws"]
    train_codes, test_codes = encode(model, train_x), encode(model, test_x)
    classes = payload["datasets"][eval_name]["classes"]

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        inliers = train_codes[idx.to(train_codes.device)]
        return ball_counts(test_codes, inliers, spec.branches, radii, ns_, RECIPE["p"])

    with _bar(len(classes) * draws, f"{spec.name} → {eval_name}", progress) as bar:
        table = run_protocol(scorer, train_y, test_y, ns, draws, seed, progress=bar.update)
    if spec.dataset == eval_name and spec.branches == RECIPE["branches"]:
        # score distributions of inliers vs outliers: class 0, first draw, n = ns[1]
        n = ns[min(1, len(ns) - 1)]
        idx = class_draws(train_y, [0], n, 1, seed)[0][0]
        counts = scorer(idx, [n])[radii.index(RECIPE["eta"]), 0].cpu()
        inlier = (test_y == 0).cpu()
        top = spec.branches * n
        payload["score_examples"].append(
            {
                "backbone": spec.name,
                "eval": eval_name,
                "class": classes[0],
                "n": n,
                "max_score": top,
                "inliers": torch.bincount(counts[inlier], minlength=top + 1).tolist(),
                "outliers": torch.bincount(counts[~inlier], minlength=top + 1).tolist(),
            }
        )
    return {
        "backbone": spec.name,
        "spec": asdict(spec),
        "eval": eval_name,
        "ns": ns,
        "radii": radii,
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, radii, ns),
    }


def _baseline(
    method: str,
    eval_name: str,
    split: tuple[torch.Tensor, ...],
    settings: Mapping[str, Any],
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """AUROCs of one baseline on one evaluation set, same draws as the η-ball scores."""
    train_x, train_y, test_x, test_y = split
    ns, draws = settings["baseline_ns"][method], settings["draws"]
    classes = CLASS_NAMES.get(eval_name, [str(c) for c in range(IMAGE_SETS[eval_name])])
    test_flat = flatten_pixels(test_x) if method != "deep-svdd" else None
    bandwidths: list[float] = []

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        out = []
        for n in ns_:
            inliers = train_x[idx[:n]]
            if method == "kde":
                scores, bandwidth = kde_scores(flatten_pixels(inliers), test_flat)
                bandwidths.append(bandwidth)
            elif method == "ocsvm":
                scores = ocsvm_scores(flatten_pixels(inliers), test_flat)
            else:
                draw_seed = seed * 7919 + int(idx[0])
                scores = deep_svdd_scores(inliers, test_x, draw_seed, settings["dsvdd_epochs"])
            out.append(torch.as_tensor(np.asarray(scores)))
        return torch.stack(out).unsqueeze(0)

    with _bar(len(classes) * draws, f"{method} on {eval_name}", progress) as bar:
        table = run_protocol(scorer, train_y, test_y, ns, draws, seed, progress=bar.update)
    out = {
        "method": method,
        "eval": eval_name,
        "ns": ns,
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, [None], ns),
    }
    if bandwidths:
        out["kde_bandwidths"] = bandwidths
    return out


def resume_check(images: torch.Tensor, seed: int, folder: Path) -> dict[str, Any]:
    """Interrupt a short training in its second epoch, resume it, compare with a straight run.

    The interruption is real: a forward hook raises ``KeyboardInterrupt`` in the middle
    of epoch 2, leaving epoch 1's checkpoint behind; a model with *different* initial
    weights then resumes from that checkpoint.

    Parameters
    ----------
    images : Tensor, shape (N, C, S, S), float in [0, 1], N ≥ 200
    seed : int
    folder : Path
        Where the temporary checkpoint is written (and removed).

    Returns
    -------
    dict
        ``identical`` (every tensor of both final state dicts is equal) and the settings.
    """
    steps = 2  # 200 images, batch 100
    config = train_config({"epochs": 2, "steps_per_epoch": steps}, RECIPE["lam"], seed)
    images = images[:200]

    def fresh(init: int) -> ConnectivityAutoencoder:
        with seeded(init):
            return ConnectivityAutoencoder(images.shape[1], images.shape[-1]).to(images.device)

    straight = fresh(seed)
    train_autoencoder(straight, images, config, progress=False)
    checkpoint = folder / "resume-check.pt"
    checkpoint.unlink(missing_ok=True)
    interrupted, calls = fresh(seed), 0

    def stop(_module: torch.nn.Module, _args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > steps + 1:  # second step of epoch 2
            raise KeyboardInterrupt

    interrupted.register_forward_pre_hook(stop)
    try:
        train_autoencoder(interrupted, images, config, checkpoint=checkpoint, progress=False)
        was_interrupted = False
    except KeyboardInterrupt:
        was_interrupted = True
    resumed = fresh(seed + 1)
    history = train_autoencoder(resumed, images, config, checkpoint=checkpoint, progress=False)
    checkpoint.unlink()
    a, b = straight.state_dict(), resumed.state_dict()
    return {
        "identical": all(torch.equal(a[k], b[k]) for k in a),
        "interrupted": was_interrupted,
        "interrupted_at_step": calls,
        "epochs": len(history),
        "steps_per_epoch": steps,
        "images": len(images),
    }


# ---------------------------------------------------------------------------
# Figures and tables, from a payload only
# ---------------------------------------------------------------------------


def find_evaluation(payload: Mapping[str, Any], backbone: str, eval_name: str) -> dict | None:
    """The evaluation entry of a (backbone, evaluation set) pair, or None."""
    for entry in payload["evaluations"]:
        if entry["backbone"] == backbone and entry["eval"] == eval_name:
            return entry
    return None


def find_row(entry: Mapping[str, Any] | None, n: int, radius: float | None = None) -> dict | None:
    """The summary row of an evaluation (or baseline) at ``n`` (and radius, default η)."""
    if entry is None:
        return None
    radius = (
        entry["radii"][entry["radii"].index(RECIPE["eta"])]
        if "radii" in entry and (radius is None)
        else radius
    )
    for row in entry["rows"]:
        if row["n"] == n and row["radius"] == radius:
            return row
    return None


def _baseline_entry(payload: Mapping[str, Any], method: str, eval_name: str) -> dict | None:
    for entry in payload["baselines"]:
        if entry["method"] == method and entry["eval"] == eval_name:
            return entry
    return None


def _pm(row: Mapping[str, Any] | None) -> str:
    return "—" if row is None else f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}"


def headline_n(payload: Mapping[str, Any]) -> int:
    """The n of the reference's main table (120), or the profile's middle n."""
    ns = payload["settings"]["ns"]
    return 120 if 120 in ns else ns[len(ns) // 2]


def _methods(payload: Mapping[str, Any], eval_name: str) -> list[tuple[str, dict | None]]:
    """(label, entry) of every method evaluated on ``eval_name``, ours first."""
    out = []
    for dataset in payload["settings"]["datasets"]:
        for lam in (RECIPE["lam"], 0.0):
            spec = BackboneSpec(dataset, lam)
            label = f"η-balls, AE λ={lam:g} trained on {dataset}"
            out.append((label, find_evaluation(payload, spec.name, eval_name)))
    out += [(label, _baseline_entry(payload, m, eval_name)) for m, label in BASELINES.items()]
    return [(label, entry) for label, entry in out if entry is not None]


def markdown_tables(
    payload: Mapping[str, Any], cifar: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The chapter's tables as Markdown.

    Parameters
    ----------
    payload : mapping
        Results of the offline run (``smoke`` or ``full``).
    cifar : mapping, optional
        Results of the ``cifar`` profile, if it was run; fills Table 1.

    Returns
    -------
    dict
        ``table1`` and ``table1_by_n`` (anchors vs ours on CIFAR / ImageNet), ``offline``
        (every backbone → evaluation pair at every n), ``baselines`` (all methods per
        evaluation set), ``per_class_<set>``, ``lambda``, ``radius``, ``branches``,
        ``backbones`` (training and held-out death statistics).
    """
    n0 = headline_n(payload)
    not_run = "not run (command below)"
    t1 = []
    for backbone, evals in ANCHORS["table1"].items():
        for eval_name, anchor in evals.items():
            row = None
            if cifar is not None:
                row = find_row(
                    find_evaluation(cifar, BackboneSpec(backbone, 20.0).name, eval_name), 120
                )
            t1.append([f"{backbone} → {eval_name}", f"{anchor:.2f}", _pm(row) if row else not_run])
    by_n = []
    for pair, values in ANCHORS["by_n"].items():
        backbone, eval_name = pair.split("→")
        entry = (
            None
            if cifar is None
            else find_evaluation(cifar, BackboneSpec(backbone, 20.0).name, eval_name)
        )
        cells = []
        for n, anchor in values.items():
            row = find_row(entry, int(n))
            cells.append(f"{anchor:.2f} / " + (_pm(row) if row else "not run"))
        by_n.append([pair, *cells])

    ns = payload["settings"]["ns"]
    offline = []
    for entry in payload["evaluations"]:
        spec = entry["spec"]
        if spec["branches"] != RECIPE["branches"] or spec["lam"] not in (0.0, RECIPE["lam"]):
            continue
        if spec["dataset"] not in payload["settings"]["datasets"]:
            continue
        offline.append(
            [
                f"{spec['dataset']} (λ={spec['lam']:g}) → {entry['eval']}",
                *[_pm(find_row(entry, n)) for n in ns],
            ]
        )
    offline = list({row[0]: row for row in offline}.values())

    baselines, per_class = [], {}
    for eval_name in payload["settings"]["eval_datasets"]:
        methods = _methods(payload, eval_name)
        for label, entry in methods:
            baselines.append([eval_name, label, *[_pm(find_row(entry, n)) for n in ns]])
        classes = payload["datasets"][eval_name]["classes"]
        rows = []
        for c in classes:
            cells = []
            for _, entry in methods:
                row = find_row(entry, n0)
                cells.append("—" if row is None else f"{100 * row['per_class'][c]:.1f}")
            rows.append([c, *cells])
        means = [_pm(find_row(entry, n0)) for _, entry in methods]
        rows.append(["**mean ± std**", *means])
        per_class[f"per_class_{eval_name}"] = markdown_table(
            ["class", *[label for label, _ in methods]], rows
        )

    ablation = payload["settings"]["ablation_dataset"]
    evals = payload["settings"]["eval_datasets"]
    lam_rows = []
    for lam in payload["settings"]["lambdas"]:
        name = BackboneSpec(ablation, float(lam)).name
        lam_rows.append(
            [
                f"{lam:g}",
                *[_pm(find_row(find_evaluation(payload, name, e), n0)) for e in evals],
                f"{ANCHORS['lambda']['values'].get(f'{lam:g}', float('nan')):.2f}",
            ]
        )
    main = BackboneSpec(ablation, RECIPE["lam"]).name
    radius_rows = [
        [
            f"{r:g}",
            *[_pm(find_row(find_evaluation(payload, main, e), n0, r)) for e in evals],
            f"{ANCHORS['radius']['values'][f'{r:g}']:.2f}"
            if f"{r:g}" in ANCHORS["radius"]["values"]
            else "—",
        ]
        for r in payload["settings"]["radii"]
    ]
    single = BackboneSpec(ablation, RECIPE["lam"], 1, RECIPE["branches"] * RECIPE["branch_dim"])
    branch_rows = [
        [
            "16 × 10 (λ=20)",
            *[_pm(find_row(find_evaluation(payload, main, e), n0)) for e in evals],
            f"{ANCHORS['lambda']['values']['20']:.2f}",
        ],
        [
            "1 × 160 (λ=20)",
            *[_pm(find_row(find_evaluation(payload, single.name, e), n0)) for e in evals],
            f"{ANCHORS['single_branch']['lam20']:.2f}",
        ],
    ]
    anchor_col = f"anchor: {ANCHORS['lambda']['pair']}, n=120"
    eval_cols = [f"{ablation} → {e} (ours, n={n0})" for e in evals]

    backbones = []
    for name, b in payload["backbones"].items():
        last = b["history"][-1]
        d = b["deaths"]
        backbones.append(
            [
                name,
                len(b["history"]),
                f"{history_seconds(b['history']) / 60:.1f}",
                f"{last['reconstruction_l1']:.4f}",
                f"{last['connectivity']:.2f}",
                f"{d['mean']:.3f}",
                f"{d['std']:.3f}",
                f"{100 * d['frac_within']:.1f}%",
            ]
        )
    return {
        "table1": markdown_table(
            ["backbone → one-class eval", "anchor (paper, n=120)", "ours (n=120)"], t1
        ),
        "table1_by_n": markdown_table(
            ["pair", *[f"n={n}: anchor / ours" for n in next(iter(ANCHORS["by_n"].values()))]], by_n
        ),
        "offline": markdown_table(["backbone → one-class eval", *[f"n={n}" for n in ns]], offline),
        "baselines": markdown_table(["eval set", "method", *[f"n={n}" for n in ns]], baselines),
        **per_class,
        "lambda": markdown_table(["λ", *eval_cols, anchor_col], lam_rows),
        "radius": markdown_table(["radius η'", *eval_cols, anchor_col], radius_rows),
        "branches": markdown_table(["latent", *eval_cols, anchor_col], branch_rows),
        "backbones": markdown_table(
            [
                "backbone",
                "epochs",
                "training (min)",
                "final train L1",
                "final train L_η",
                "test death mean",
                "death std",
                "within η±0.5",
            ],
            backbones,
        ),
    }


def plot_eta_balls(payload: Mapping[str, Any]) -> Figure:
    """The scoring rule in 2-D: ℓ1 balls (diamonds) of radius η around the inliers."""
    toy = payload["toy"]
    eta, pts = toy["eta"], np.array(toy["points"])
    fig = Figure(figsize=(6.2, 5), layout="constrained")
    ax = fig.subplots()
    counts = np.array(toy["counts"])
    mesh = ax.pcolormesh(toy["xs"], toy["ys"], counts, cmap="Blues", shading="auto")
    fig.colorbar(mesh, ax=ax, label="score = inliers within ℓ1 distance η")
    for x, y in pts:
        diamond = [(x + eta, y), (x, y + eta), (x - eta, y), (x, y - eta)]
        ax.add_patch(Polygon(diamond, fill=False, ec="tab:red", lw=0.8, alpha=0.7))
    ax.scatter(pts[:, 0], pts[:, 1], c="tab:red", s=14, zorder=3, label=f"inliers (n={len(pts)})")
    ax.set_aspect("equal")
    ax.set_title(f"One branch, ℓ1 balls of radius η={eta:g} around the inliers")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_per_class(payload: Mapping[str, Any]) -> Figure:
    """AUROC per class at the headline n, every method, one panel per evaluation set."""
    n0 = headline_n(payload)
    evals = payload["settings"]["eval_datasets"]
    fig = Figure(figsize=(12, 3.6 * len(evals)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(evals), 1))
    for ax, eval_name in zip(axes, evals, strict=True):
        classes = payload["datasets"][eval_name]["classes"]
        methods = [(label, find_row(entry, n0)) for label, entry in _methods(payload, eval_name)]
        methods = [(label, row) for label, row in methods if row is not None]
        width = 0.8 / len(methods)
        x = np.arange(len(classes))
        for i, (label, row) in enumerate(methods):
            means = [100 * row["per_class"][c] for c in classes]
            stds = [100 * row["per_class_std"][c] for c in classes]
            ax.bar(
                x + (i - (len(methods) - 1) / 2) * width,
                means,
                width,
                yerr=stds,
                label=f"{label} (mean {100 * row['mean']:.1f})",
                capsize=1.5,
            )
        ax.axhline(50, color="k", lw=0.8, ls=":")
        ax.set_xticks(x, classes)
        ax.set_ylim(30, 101)
        ax.set_ylabel(f"AUROC × 100 (n={n0})")
        ax.set_title(
            f"one-class evaluation on {eval_name}: each class in turn is the inlier "
            "class (mean ± std over draws)",
            fontsize=10,
        )
        ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return fig


def plot_deaths(payload: Mapping[str, Any]) -> Figure:
    """Held-out death times of the λ = 0 and λ = 20 backbones of each training set."""
    datasets = payload["settings"]["datasets"]
    eta = RECIPE["eta"]
    fig = Figure(figsize=(11, 3.2 * len(datasets)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(datasets), 2))
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, lam in zip(row, (0.0, RECIPE["lam"]), strict=True):
            b = payload["backbones"][BackboneSpec(dataset, lam).name]
            d = b["deaths"]
            edges = np.array(d["histogram"]["edges"])
            ax.stairs(
                d["histogram"]["counts"],
                edges,
                fill=True,
                color="tab:red" if lam else "tab:gray",
                alpha=0.8,
            )
            if edges[0] <= eta <= edges[-1] * 1.05:
                ax.axvline(eta, color="k", ls="--", lw=1)
            ax.set_title(
                f"{dataset}, λ={lam:g}: mean {d['mean']:.2f}, "
                f"{100 * d['frac_within']:.0f}% within η±0.5",
                fontsize=9,
            )
            ax.set_xlabel("death time (ℓ1, per branch, test batches of 100)")
            ax.set_ylabel("count")
    return fig


def plot_scores(payload: Mapping[str, Any], bins: int = 40) -> Figure:
    """Score distributions of inliers vs outliers for one class and one draw."""
    examples = payload["score_examples"]
    fig = Figure(figsize=(11, 3.0 * ((len(examples) + 1) // 2)), layout="constrained")
    axes = np.atleast_1d(fig.subplots((len(examples) + 1) // 2, 2)).ravel()
    for ax, ex in zip(axes, examples, strict=False):
        used = np.nonzero(np.add(ex["inliers"], ex["outliers"]))[0]
        top = int(used.max()) + 1 if len(used) else 1
        edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
        for key, colour in (("outliers", "tab:gray"), ("inliers", "tab:blue")):
            counts = np.asarray(ex[key][:top], dtype=float)
            binned = np.add.reduceat(counts, edges[:-1]) / max(counts.sum(), 1)
            ax.stairs(
                binned,
                edges - 0.5,
                fill=True,
                alpha=0.55,
                color=colour,
                label=f"{key} ({int(counts.sum())} test images)",
            )
        ax.set_title(
            f"{ex['backbone']} on {ex['eval']}, class {ex['class']} (n={ex['n']})", fontsize=9
        )
        ax.set_xlabel(
            f"score (inliers in the η-balls, summed over branches; max {ex['max_score']})"
        )
        ax.set_ylabel("share")
        ax.legend(fontsize=8)
    for ax in axes[len(examples) :]:
        ax.set_visible(False)
    return fig


def plot_ablations(payload: Mapping[str, Any]) -> Figure:
    """AUROC vs λ and vs the evaluation radius, ours and the paper's anchor curves."""
    n0 = headline_n(payload)
    ablation = payload["settings"]["ablation_dataset"]
    evals = payload["settings"]["eval_datasets"]
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax_lam, ax_r = fig.subplots(1, 2)
    lams = payload["settings"]["lambdas"]
    main = BackboneSpec(ablation, RECIPE["lam"]).name
    for e in evals:
        rows = [
            find_row(find_evaluation(payload, BackboneSpec(ablation, float(lam)).name, e), n0)
            for lam in lams
        ]
        ax_lam.errorbar(
            range(len(lams)),
            [100 * r["mean"] for r in rows],
            [100 * r["std"] for r in rows],
            marker="o",
            capsize=3,
            label=f"ours: {ablation} → {e}",
        )
        radii = payload["settings"]["radii"]
        rows = [find_row(find_evaluation(payload, main, e), n0, r) for r in radii]
        ax_r.errorbar(
            radii,
            [100 * r["mean"] for r in rows],
            [100 * r["std"] for r in rows],
            marker="o",
            capsize=3,
            label=f"ours: {ablation} → {e}",
        )
    anchor = ANCHORS["lambda"]
    xs = [i for i, lam in enumerate(lams) if f"{lam:g}" in anchor["values"]]
    ax_lam.plot(
        xs,
        [anchor["values"][f"{lams[i]:g}"] for i in xs],
        "k--",
        marker="s",
        label=f"anchor (paper): {anchor['pair']}",
    )
    ax_lam.set_xticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    ax_lam.set_xlabel("λ (weight of the connectivity loss)")
    ax_lam.set_ylabel(f"mean AUROC × 100 (n={n0})")
    ax_lam.legend(fontsize=8)
    anchor = ANCHORS["radius"]
    rs = sorted(float(r) for r in anchor["values"])
    ax_r.plot(
        rs,
        [anchor["values"][f"{r:g}"] for r in rs],
        "k--",
        marker="s",
        label=f"anchor (paper): {anchor['pair']}",
    )
    ax_r.axvline(RECIPE["eta"], color="tab:red", lw=0.8, ls=":")
    ax_r.set_xlabel("evaluation radius η' (training η = 2)")
    ax_r.legend(fontsize=8)
    return fig


def plot_all(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by name."""
    return {
        "eta_balls": plot_eta_balls(payload),
        "deaths": plot_deaths(payload),
        "per_class": plot_per_class(payload),
        "scores": plot_scores(payload),
        "ablations": plot_ablations(payload),
    }


def _mean(
    payload: Mapping[str, Any], backbone: str, eval_name: str, n: int, radius: float | None = None
) -> float | None:
    row = find_row(find_evaluation(payload, backbone, eval_name), n, radius)
    return None if row is None else 100 * row["mean"]


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's claims, each stated as measured in ``payload`` (yes/no with the numbers).

    Returns
    -------
    dict
        ``main`` (λ = 20 vs λ = 0, same-dataset and transfer; ours vs the baselines; more
        inliers) and ``ablations`` (best λ, best radius, branches), lists of Markdown lines.
    """
    n0 = headline_n(payload)
    ns = payload["settings"]["ns"]
    lam = RECIPE["lam"]
    datasets = payload["settings"]["datasets"]
    evals = payload["settings"]["eval_datasets"]
    main, ablations = [], []

    def yes(flag: bool) -> str:
        return "**yes**" if flag else "**no**"

    for train in datasets:
        for e in evals:
            ours = _mean(payload, BackboneSpec(train, lam).name, e, n0)
            plain = _mean(payload, BackboneSpec(train, 0.0).name, e, n0)
            if ours is None or plain is None:
                continue
            kind = "same dataset" if train == e else "transfer"
            main.append(
                f"λ = 20 beats λ = 0 for {train} → {e} ({kind}, n = {n0}): {yes(ours > plain)} "
                f"({ours:.1f} vs {plain:.1f})."
            )
    for e in evals:
        ours = _mean(payload, BackboneSpec(e, lam).name, e, n0) if e in datasets else None
        rows = [(BASELINES[m], find_row(_baseline_entry(payload, m, e), n0)) for m in BASELINES]
        rows = [(label, 100 * row["mean"]) for label, row in rows if row is not None]
        if ours is None or not rows:
            continue
        label, best = max(rows, key=lambda item: item[1])
        main.append(
            f"On {e}, η-balls (λ = 20, same dataset) beat every baseline we ran (n = {n0}): "
            f"{yes(ours > best)} ({ours:.1f}; best baseline {label} {best:.1f})."
        )
    for train in datasets:
        low = _mean(payload, BackboneSpec(train, lam).name, train, ns[0])
        high = _mean(payload, BackboneSpec(train, lam).name, train, ns[-1])
        if low is not None and high is not None:
            main.append(
                f"More inliers help ({train}, n = {ns[0]} → {ns[-1]}): {yes(high > low)} "
                f"({low:.1f} → {high:.1f})."
            )
    for train in datasets:
        b = payload["backbones"].get(BackboneSpec(train, 0.0).name)
        if b is not None:
            d = b["deaths"]
            main.append(
                f"The λ = 0 backbone on {train} has held-out death times of mean {d['mean']:.2f} "
                f"({100 * d['frac_within']:.0f}% within η ± 0.5): its codes are "
                f"{'already' if d['frac_within'] > 0.25 else 'not'} at the scale of the balls."
            )

    ablation = payload["settings"]["ablation_dataset"]
    anchor_lam = max(ANCHORS["lambda"]["values"], key=ANCHORS["lambda"]["values"].get)
    anchor_r = max(ANCHORS["radius"]["values"], key=ANCHORS["radius"]["values"].get)
    anchor_16 = ANCHORS["lambda"]["values"]["20"]
    anchor_1 = ANCHORS["single_branch"]["lam20"]
    for e in evals:
        by_lam = {
            f"{x:g}": _mean(payload, BackboneSpec(ablation, float(x)).name, e, n0)
            for x in payload["settings"]["lambdas"]
        }
        by_lam = {k: v for k, v in by_lam.items() if v is not None}
        if by_lam:
            best = max(by_lam, key=by_lam.get)
            ablations.append(
                f"{ablation} → {e}: the best λ is {best} ({by_lam[best]:.1f}; λ = 0: "
                f"{by_lam.get('0', float('nan')):.1f}); the anchor's best is {anchor_lam}."
            )
        main_name = BackboneSpec(ablation, lam).name
        by_r = {r: _mean(payload, main_name, e, n0, r) for r in payload["settings"]["radii"]}
        by_r = {k: v for k, v in by_r.items() if v is not None}
        if by_r:
            best_r = max(by_r, key=by_r.get)
            ablations.append(
                f"{ablation} → {e}: the best radius is η' = {best_r:g} ({by_r[best_r]:.1f}; "
                f"η' = 2: {by_r.get(2.0, float('nan')):.1f}); the anchor's best is {anchor_r}."
            )
        single = BackboneSpec(ablation, lam, 1, RECIPE["branches"] * RECIPE["branch_dim"])
        one = _mean(payload, single.name, e, n0)
        many = _mean(payload, main_name, e, n0)
        if one is not None and many is not None:
            ablations.append(
                f"{ablation} → {e}: 16 branches of 10 beat one branch of 160: "
                f"{yes(many > one)} ({many:.1f} vs {one:.1f}; "
                f"anchor {anchor_16:.1f} vs {anchor_1:.1f})."
            )
    return {"main": main, "ablations": ablations}
