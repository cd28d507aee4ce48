"""The study behind the book chapter "Controlling connectivity" (Hofer et al., ICML 2019).

Two halves, kept apart so that a built book can redraw every figure from a saved
results file without retraining:

* :func:`run` computes a JSON-serialisable *payload* (a toy KDE example, a small
  0-dim persistence demo, two MNIST autoencoders trained with λ = 0 and λ = 20,
  and numerical illustrations of the paper's three theory claims);
* the ``plot_*`` functions and :func:`markdown_tables` turn a payload (fresh, or
  loaded with :func:`toposhape.results.load_results`) into figures and tables.

The per-profile settings live in :data:`PROFILES`; ``"smoke"`` runs the whole
chapter in well under a minute on two CPU cores, ``"full"`` trains on all of MNIST.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from scipy.stats import gaussian_kde

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.checks import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_float,
    check_int,
    check_mapping,
    check_path,
    check_sequence,
    check_tensor,
)
from toposhape.data import random_subset
from toposhape.losses import branch_clouds, connectivity_loss
from toposhape.pershom import check_p, check_points, death_edges, vr_persistence0
from toposhape.results import markdown_table, profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, TrainConfig, train_backbone

__all__ = [
    "CHAPTER",
    "PAYLOAD_KEYS",
    "PROFILES",
    "RECIPE",
    "batch_size_study",
    "death_summary",
    "densification_study",
    "get_profile",
    "gradient_study",
    "heldout_deaths",
    "homogenize",
    "kde_on_grid",
    "markdown_tables",
    "nearest_neighbour_distances",
    "plot_all",
    "plot_batch_size",
    "plot_death_histograms",
    "plot_densification",
    "plot_gradients",
    "plot_latent_kde",
    "plot_toy_kde",
    "plot_training_curves",
    "plot_vr_demo",
    "run",
    "toy_clusters",
    "toy_study",
    "vr_demo",
    "work_dir",
]

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


def _check_codes(codes: object, branches: object) -> tuple[torch.Tensor, int]:
    """Latent codes (N, L), N >= 2, float32/float64, finite, and a branch count dividing L."""
    codes = check_tensor("codes", codes, ndim=2)
    check_points(codes, "codes")
    branches = check_int("branches", branches, 1)
    if codes.shape[1] % branches:
        raise ValueError(
            f"branches must divide the code dimension {codes.shape[1]}, got {branches}"
        )
    return codes, branches


def _check_sizes(name: str, sizes: object) -> list[int]:
    """A non-empty sequence of point counts >= 2 (a 0-dim barcode needs two points)."""
    return [check_int(f"{name}[{i}]", n, 2) for i, n in enumerate(check_sequence(name, sizes))]


# ---------------------------------------------------------------------------
# 1. Motivating toy example: KDE on clusters of very different scales
# ---------------------------------------------------------------------------


def toy_clusters(seed: int, per_cluster: int = 60) -> np.ndarray:
    """Three 2-D Gaussian clusters whose spreads differ by a factor of 40.

    Returns
    -------
    ndarray, shape (3 * per_cluster, 2), float64
    """
    seed = check_int("seed", seed, 0)
    per_cluster = check_int("per_cluster", per_cluster, 1)
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    spreads = np.array([0.05, 0.4, 2.0])
    return np.concatenate(
        [
            c + s * rng.standard_normal((per_cluster, 2))
            for c, s in zip(centres, spreads, strict=True)
        ]
    )


def homogenize(
    points: np.ndarray, eta: float = 1.0, steps: int = 300, lr: float = 0.05, p: float = 2.0
) -> tuple[np.ndarray, list[float]]:
    """Move points by gradient descent on the connectivity loss until death times ≈ ``eta``.

    The points themselves are the parameters (the simplest "map" f_θ); every point
    is an endpoint of some MST edge, so every point receives a gradient.

    Parameters
    ----------
    points : ndarray or Tensor, shape (n, D)
        n >= 2 finite points, D >= 1.
    eta : float
        Target death time, > 0.
    steps : int
        Adam steps, >= 1.
    lr : float
        Adam's learning rate, > 0.
    p : float
        ℓp metric, >= 1 (or inf).

    Returns
    -------
    points : ndarray, same shape
        The optimised arrangement.
    losses : list of float
        Connectivity loss per step (before the update).
    """
    points = check_array("points", points, 2, min_rows=2)
    if points.shape[1] < 1:
        raise ValueError(f"points needs at least 1 coordinate, got shape {points.shape}")
    eta = check_float("eta", eta, 0.0, low_open=True)
    steps = check_int("steps", steps, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    p = check_p(p)
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    losses = []
    for _ in range(steps):
        loss = connectivity_loss(x, eta, 1, p)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return x.detach().numpy(), losses


def _death_stats(deaths: np.ndarray, eta: float, within: float) -> dict[str, float]:
    deaths = np.asarray(deaths, dtype=np.float64)
    mean = float(deaths.mean())
    return {
        "mean": mean,
        "std": float(deaths.std()),
        "cv": float(deaths.std() / mean) if mean > 0 else math.inf,
        "min": float(deaths.min()),
        "max": float(deaths.max()),
        "frac_within": float(np.mean(np.abs(deaths - eta) <= within)),
    }


def toy_study(seed: int, per_cluster: int, steps: int, eta: float = 1.0) -> dict[str, Any]:
    """Clusters → homogenised arrangement; death times and Scott bandwidths of both."""
    seed = check_int("seed", seed, 0)
    per_cluster = check_int("per_cluster", per_cluster, 1)
    steps = check_int("steps", steps, 1)
    eta = check_float("eta", eta, 0.0, low_open=True)
    before = toy_clusters(seed, per_cluster)
    after, losses = homogenize(before, eta=eta, steps=steps)
    out: dict[str, Any] = {"eta": eta, "p": 2.0, "steps": steps, "loss": losses}
    for name, pts in (("before", before), ("after", after)):
        deaths = vr_persistence0(torch.from_numpy(pts), 2.0).numpy()
        kde = gaussian_kde(pts.T)  # Scott's rule
        out[name] = {
            "points": pts.round(5).tolist(),
            "deaths": deaths.round(5).tolist(),
            "stats": _death_stats(deaths, eta, 0.25 * eta),
            # kernel std per axis = Scott factor × data std per axis
            "scott_bandwidth": np.sqrt(np.diag(kde.covariance)).tolist(),
        }
    return out


def kde_on_grid(
    points: np.ndarray, bandwidth: float | str = "scott", size: int = 200, pad: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian KDE of 2-D points on a square grid around them.

    Parameters
    ----------
    points : ndarray or Tensor, shape (n, 2)
        n >= 1 finite points (Scott's rule needs points that span the plane).
    bandwidth : "scott" or float
        Scott's rule (scipy's default, anisotropic) or a fixed isotropic kernel std > 0.
    size : int
        Grid points per axis, >= 2.
    pad : float
        Margin around the points, as a share of their span, >= 0.

    Returns
    -------
    xs, ys : ndarray, shape (size,)
    density : ndarray, shape (size, size), rows along ``ys``
    """
    points = check_array("points", points, 2).astype(np.float64)
    if points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    if isinstance(bandwidth, str):
        check_choice("bandwidth", bandwidth, ("scott",))
    else:
        bandwidth = check_float("bandwidth", bandwidth, 0.0, low_open=True)
    size = check_int("size", size, 2)
    pad = check_float("pad", pad, 0.0)
    lo, hi = points.min(0), points.max(0)
    span = (hi - lo).max()
    mid = (lo + hi) / 2
    xs = np.linspace(mid[0] - (0.5 + pad) * span, mid[0] + (0.5 + pad) * span, size)
    ys = np.linspace(mid[1] - (0.5 + pad) * span, mid[1] + (0.5 + pad) * span, size)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()])
    if bandwidth == "scott":
        try:
            density = gaussian_kde(points.T)(grid)
        except (np.linalg.LinAlgError, ValueError) as err:
            raise ValueError(
                f"points must span the plane for Scott's rule, got {len(points)} point(s) "
                "with a singular covariance"
            ) from err
    else:
        h = float(bandwidth)
        sq = ((grid.T[:, None, :] - points[None]) ** 2).sum(-1)
        density = np.exp(-sq / (2 * h * h)).mean(1) / (2 * math.pi * h * h)
    return xs, ys, density.reshape(size, size)


# ---------------------------------------------------------------------------
# 2. What 0-dim VR persistence is
# ---------------------------------------------------------------------------


def vr_demo(seed: int, n: int = 12) -> dict[str, Any]:
    """A small 2-D cloud of ``n`` >= 2 points (ℓ2), its death times and death edges (MST edges)."""
    seed = check_int("seed", seed, 0)
    n = check_int("n", n, 2)
    rng = np.random.default_rng(seed + 1)
    pts = np.concatenate(
        [rng.normal([0, 0], 0.5, (n // 2, 2)), rng.normal([3.0, 1.0], 0.8, (n - n // 2, 2))]
    )
    x = torch.from_numpy(pts)
    deaths = vr_persistence0(x, 2.0)
    edges = death_edges(x, 2.0)
    return {
        "points": pts.round(5).tolist(),
        "deaths": deaths.numpy().round(6).tolist(),
        "edges": edges.tolist(),
    }


# ---------------------------------------------------------------------------
# 3. Training and evaluating the reference autoencoder on MNIST
# ---------------------------------------------------------------------------


@torch.no_grad()
def _encode(model: ConnectivityAutoencoder, images: torch.Tensor, chunk: int = 500):
    """Latent codes and the L1 reconstruction error of ``images`` as trained on
    (:func:`toposhape.losses.reconstruction_l1`: summed over each image, mean over images)."""
    codes, abs_sum = [], 0.0
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk]
        rec, z = model(batch)
        codes.append(z)
        abs_sum += float((rec - batch).abs().sum())
    return torch.cat(codes), abs_sum / len(images)


def heldout_deaths(codes: torch.Tensor, branches: int, batch: int, p: float) -> torch.Tensor:
    """Death times of consecutive held-out batches: shape (batches, branches, batch - 1).

    Parameters
    ----------
    codes : Tensor, shape (N, L)
        Finite float32/float64 codes, N >= ``batch``.
    branches : int
        Equal blocks of the latent dim, >= 1, dividing L.
    batch : int
        Batch size, >= 2; the last N mod ``batch`` codes are left out.
    p : float
        ℓp metric, >= 1 (or inf).
    """
    codes, branches = _check_codes(codes, branches)
    batch = check_int("batch", batch, 2)
    if len(codes) < batch:
        raise ValueError(f"batch must be at most the number of codes {len(codes)}, got {batch}")
    p = check_p(p)
    n = len(codes) // batch * batch
    clouds = branch_clouds(codes[:n], branches)  # (branches, n, dim)
    clouds = clouds.reshape(branches, n // batch, batch, -1).transpose(0, 1)
    return vr_persistence0(clouds, p)


def death_summary(
    deaths: torch.Tensor, eta: float, within: float, bins: int = 60
) -> dict[str, Any]:
    """Mean/std/fraction near η of death times of shape (batches, branches, b-1), + histogram.

    Parameters
    ----------
    deaths : Tensor, shape (batches, branches, b - 1)
        Non-empty, floating, finite and >= 0 (on any device).
    eta : float
        Target death time, > 0.
    within : float
        Half-width of the window around ``eta`` counted as a hit, >= 0.
    bins : int
        Histogram bins, >= 1.
    """
    deaths = check_tensor("deaths", deaths, ndim=3, floating=True, finite=True)
    if deaths.numel() == 0:
        raise ValueError(f"deaths must not be empty, got shape {tuple(deaths.shape)}")
    if bool((deaths < 0).any()):
        raise ValueError("deaths must be >= 0 (death times)")
    eta = check_float("eta", eta, 0.0, low_open=True)
    within = check_float("within", within, 0.0)
    bins = check_int("bins", bins, 1)
    d = deaths.detach().cpu().double()
    flat = d.flatten().numpy()
    top = float(np.quantile(flat, 0.995))
    top = max(top, 1e-6)
    counts, edges = np.histogram(np.clip(flat, 0, top), bins=bins, range=(0.0, top))
    stats = _death_stats(flat, eta, within)
    stats["per_branch_mean"] = d.mean(dim=(0, 2)).tolist()
    stats["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    stats["count"] = int(flat.size)
    return stats


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


# ---------------------------------------------------------------------------
# 4. The three theory claims
# ---------------------------------------------------------------------------


#: Draws of :func:`_distinct_cloud` before it gives up (n = 10, dim = 3 needs a few).
_CLOUD_DRAWS = 1000


def _distinct_cloud(seed: int, n: int, dim: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(_CLOUD_DRAWS):
        x = torch.rand(n, dim, generator=gen, dtype=torch.float64)
        d = torch.pdist(x).sort().values
        if float(d.diff().min()) > 1e-3:  # distinct pairwise distances
            return x
    raise ValueError(
        f"n is too large for dim={dim}: no cloud of {n} points in [0, 1]^{dim} with pairwise "
        f"distances at least 1e-3 apart turned up in {_CLOUD_DRAWS} draws"
    )


def gradient_study(seed: int, n: int = 10, dim: int = 3, eta: float = 2.0) -> dict[str, Any]:
    """Differentiability: gradcheck in float64 and finite differences vs autograd.

    Parameters
    ----------
    seed : int
        Seeds the cloud, >= 0.
    n : int
        Points, >= 3 (there must be two distances to tell apart).
    dim : int
        Coordinates, >= 1.
    eta : float
        Target death time of the loss, > 0.

    Returns
    -------
    dict
        ``gradcheck`` (bool per checked function), ``steps`` and ``max_abs_error``
        (central differences of the ℓ2 loss at each step size vs autograd), and a few
        coordinates of both gradients.

    Raises
    ------
    ValueError
        Also if no cloud of ``n`` points in ``dim`` dimensions with well separated
        pairwise distances turns up (too many points for the dimension).
    """
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 3)
    dim = check_int("dim", dim, 1)
    eta = check_float("eta", eta, 0.0, low_open=True)
    x = _distinct_cloud(seed, n, dim).requires_grad_(True)
    checks = {
        "vr_persistence0_l2": lambda y: vr_persistence0(y, 2.0),
        "vr_persistence0_l1": lambda y: vr_persistence0(y, 1.0),
        "connectivity_loss_l1": lambda y: connectivity_loss(y, eta, 1, 1.0),
        "connectivity_loss_l2": lambda y: connectivity_loss(y, eta, 1, 2.0),
    }
    passed = {
        name: bool(torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, raise_exception=False))
        for name, fn in checks.items()
    }

    def loss_fn(y: torch.Tensor) -> torch.Tensor:
        return connectivity_loss(y, eta, 1, 2.0)

    (grad,) = torch.autograd.grad(loss_fn(x), x)
    steps = np.logspace(-1, -10, 19)
    errors, fd_at = [], None
    base = x.detach()
    with torch.no_grad():
        for h in steps:
            fd = torch.zeros_like(base)
            for i in range(n):
                for j in range(dim):
                    e = torch.zeros_like(base)
                    e[i, j] = h
                    fd[i, j] = (loss_fn(base + e) - loss_fn(base - e)) / (2 * h)
            errors.append(float((fd - grad).abs().max()))
            if fd_at is None and h <= 1e-5:
                fd_at = (float(h), fd)
    return {
        "n": n,
        "dim": dim,
        "gradcheck": passed,
        "steps": steps.tolist(),
        "max_abs_error": errors,
        "sample": {
            "step": fd_at[0],
            "autograd": grad[:3].flatten().tolist(),
            "finite_difference": fd_at[1][:3].flatten().tolist(),
        },
    }


def batch_size_study(
    codes: torch.Tensor,
    batch_sizes: list[int],
    repeats: int,
    seed: int,
    branches: int,
    eta: float,
    p: float,
    within: float,
) -> dict[str, Any]:
    """Death-time statistics of random held-out batches of size B, for each B.

    Sizes larger than the number of codes are skipped. Also fits ``log mean ~ slope ·
    log B``: for samples of a d-dimensional density the typical MST edge scales like
    B^(-1/d), so ``effective_dim = -1/slope`` estimates the dimension the codes fill.

    Parameters
    ----------
    codes : Tensor, shape (N, L)
        Finite float32/float64 codes, N >= 2, on any device with a kernel.
    batch_sizes : sequence of int
        Non-empty; every B >= 2.
    repeats : int
        Random batches per size, >= 1.
    seed : int
        >= 0.
    branches : int
        >= 1, dividing L.
    eta, p, within : float
        Target death time (> 0), ℓp metric (>= 1) and window half-width (>= 0).
    """
    codes, branches = _check_codes(codes, branches)
    batch_sizes = _check_sizes("batch_sizes", batch_sizes)
    repeats = check_int("repeats", repeats, 1)
    seed = check_int("seed", seed, 0, MAX_SEED)
    eta = check_float("eta", eta, 0.0, low_open=True)
    p = check_p(p)
    within = check_float("within", within, 0.0)
    gen = torch.Generator().manual_seed(seed + 7)
    rows = []
    for b in batch_sizes:
        if b > len(codes):
            continue
        deaths = []
        for _ in range(repeats):
            idx = torch.randperm(len(codes), generator=gen)[:b]
            deaths.append(vr_persistence0(branch_clouds(codes[idx], branches), p).flatten())
        stats = _death_stats(torch.cat(deaths).detach().double().cpu().numpy(), eta, within)
        rows.append({"B": b, **{k: stats[k] for k in ("mean", "std", "frac_within")}})
    out: dict[str, Any] = {"repeats": repeats, "rows": rows}
    if len(rows) >= 2:
        # mean death ∝ B^(-1/d) for codes filling a d-dimensional set: d = -1 / slope
        slope = float(
            np.polyfit(np.log([r["B"] for r in rows]), np.log([r["mean"] for r in rows]), 1)[0]
        )
        out["loglog_slope"] = slope
        out["effective_dim"] = -1.0 / slope if slope < 0 else math.inf
    return out


def nearest_neighbour_distances(clouds: torch.Tensor, p: float, chunk: int = 1000) -> torch.Tensor:
    """ℓp distance of every point to its nearest other point, per cloud.

    Parameters
    ----------
    clouds : Tensor, shape (C, N, D)
        Finite float32/float64 clouds of N >= 2 points.
    p : float
        ℓp metric, >= 1 (or inf).
    chunk : int
        Rows per distance block, >= 1.

    Returns
    -------
    Tensor, shape (C, N)
    """
    clouds = check_tensor("clouds", clouds, ndim=3)
    check_points(clouds, "clouds")
    p = check_p(p)
    chunk = check_int("chunk", chunk, 1)
    out = []
    for start in range(0, clouds.shape[1], chunk):
        rows = clouds[:, start : start + chunk]
        d = torch.cdist(rows, clouds, p=p)
        idx = torch.arange(start, start + rows.shape[1])
        d[:, torch.arange(rows.shape[1]), idx] = math.inf
        out.append(d.min(dim=-1).values)
    return torch.cat(out, dim=1)


def densification_study(
    codes: torch.Tensor, sizes: list[int], seed: int, branches: int, p: float
) -> dict[str, Any]:
    """Median (and quartiles) of within-branch nearest-neighbour distances of N codes.

    Sizes larger than the number of codes are skipped.

    Parameters
    ----------
    codes : Tensor, shape (N, L)
        Finite float32/float64 codes, N >= 2.
    sizes : sequence of int
        Non-empty; every size >= 2.
    seed : int
        >= 0.
    branches : int
        >= 1, dividing L.
    p : float
        ℓp metric, >= 1 (or inf).
    """
    codes, branches = _check_codes(codes, branches)
    sizes = _check_sizes("sizes", sizes)
    seed = check_int("seed", seed, 0, MAX_SEED)
    p = check_p(p)
    gen = torch.Generator().manual_seed(seed + 11)
    rows = []
    for n in sizes:
        if n > len(codes):
            continue
        idx = torch.randperm(len(codes), generator=gen)[:n]
        nn_dist = nearest_neighbour_distances(branch_clouds(codes[idx], branches), p)
        q = torch.quantile(nn_dist.flatten().double(), torch.tensor([0.25, 0.5, 0.75]).double())
        rows.append({"N": n, "q25": float(q[0]), "median": float(q[1]), "q75": float(q[2])})
    return {"rows": rows}


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Figures and tables, from a payload only
# ---------------------------------------------------------------------------

_LAM_COLOURS = {"0": "tab:gray", "20": "tab:red"}

#: The payload keys the figures are drawn from.
_FIGURE_KEYS = (
    "recipe", "toy", "vr_demo", "training", "evaluation", "latent", "gradients", "batch_size",
    "densification",
)  # fmt: skip


def _colour(key: str) -> str:
    return _LAM_COLOURS.get(key, "tab:blue")


def _density_panel(ax, pts: np.ndarray, bandwidth: float | str, title: str) -> None:
    xs, ys, dens = kde_on_grid(pts, bandwidth)
    ax.imshow(
        dens,
        origin="lower",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
        cmap="magma",
        aspect="equal",
        # log scale over 3 decades: low-density structure stays visible next to sharp peaks
        norm=LogNorm(vmin=dens.max() * 1e-3, vmax=dens.max(), clip=True),
    )
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="cyan", alpha=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_toy_kde(payload: Mapping[str, Any]) -> Figure:
    """Toy example: KDE before/after homogenising, and the death-time histograms."""
    check_mapping("payload", payload, "toy")
    toy = payload["toy"]
    eta = toy["eta"]
    fig = Figure(figsize=(12, 6.2), layout="constrained")
    axes = fig.subplots(2, 4)
    before = np.array(toy["before"]["points"])
    after = np.array(toy["after"]["points"])
    sb = toy["before"]["scott_bandwidth"]
    sa = toy["after"]["scott_bandwidth"]
    _density_panel(axes[0, 0], before, "scott", f"clusters: Scott (h≈{sb[0]:.2f}, {sb[1]:.2f})")
    _density_panel(axes[0, 1], before, 0.15, "clusters: small h = 0.15")
    _density_panel(axes[0, 2], before, 0.5, "clusters: h = 0.5")
    _density_panel(axes[1, 0], after, "scott", f"homogenised: Scott (h≈{sa[0]:.2f}, {sa[1]:.2f})")
    _density_panel(axes[1, 1], after, eta / 2, f"homogenised: h = η/2 = {eta / 2:g}")
    _density_panel(axes[1, 2], after, eta, f"homogenised: h = η = {eta:g}")
    for row, name in ((0, "before"), (1, "after")):
        ax = axes[row, 3]
        deaths = np.array(toy[name]["deaths"])
        ax.hist(deaths, bins=30, color="tab:purple")
        ax.axvline(eta, color="k", ls="--", lw=1, label="η")
        ax.set_xlabel("death time (ℓ2)")
        ax.set_ylabel("count")
        ax.set_title(f"death times {name}: CV = {toy[name]['stats']['cv']:.2f}", fontsize=9)
        ax.legend(fontsize=8)
    return fig


def plot_vr_demo(payload: Mapping[str, Any]) -> Figure:
    """Growing balls at three radii with the death edges, and the barcode."""
    check_mapping("payload", payload, "vr_demo")
    demo = payload["vr_demo"]
    pts = np.array(demo["points"])
    deaths = np.array(demo["deaths"])
    edges = np.array(demo["edges"])
    lengths = np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1)
    scales = [float(np.quantile(deaths, q)) for q in (0.25, 0.6)] + [float(deaths.max())]
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    lo, hi = pts.min(0) - 1.2, pts.max(0) + 1.2
    for ax, r in zip(axes[:3], scales, strict=True):
        for x, y in pts:
            ax.add_patch(Circle((x, y), r / 2, alpha=0.15, color="tab:blue", lw=0))
        for (u, v), length in zip(edges, lengths, strict=True):
            if length <= r + 1e-9:
                ax.plot(*pts[[u, v]].T, color="tab:red", lw=1.5)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color="k", zorder=3)
        alive = int((deaths > r + 1e-9).sum()) + 1
        ax.set_title(f"scale r = {r:.2f}: {alive} component(s)", fontsize=9)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[3]
    for i, d in enumerate(deaths):
        ax.plot([0, d], [i, i], color="tab:red", lw=3)
    ax.plot([0, deaths.max() * 1.15], [len(deaths)] * 2, color="tab:red", lw=3, ls=":")
    for r in scales:
        ax.axvline(r, color="tab:blue", lw=0.8, ls="--")
    ax.set_xlabel("scale r (birth 0 → death)")
    ax.set_yticks([])
    ax.set_title("0-dim barcode (dotted: the essential class)", fontsize=9)
    return fig


def plot_death_histograms(payload: Mapping[str, Any]) -> Figure:
    """Per-branch death times on held-out test batches, λ = 0 vs λ = 20."""
    check_mapping("payload", payload, "evaluation", "recipe")
    ev = payload["evaluation"]
    eta = payload["recipe"]["eta"]
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, len(ev))
    for ax, (key, res) in zip(np.atleast_1d(axes), ev.items(), strict=True):
        h = res["deaths"]["histogram"]
        edges = np.array(h["edges"])
        ax.stairs(h["counts"], edges, fill=True, color=_colour(key), alpha=0.8)
        if edges[0] <= eta <= edges[-1] * 1.05:
            ax.axvline(eta, color="k", ls="--", lw=1, label="η = 2")
            ax.legend(fontsize=8)
        s = res["deaths"]
        ax.set_title(
            f"λ = {key}: mean {s['mean']:.3g}, std {s['std']:.2g}, "
            f"{100 * s['frac_within']:.0f}% within η±0.5",
            fontsize=9,
        )
        ax.set_xlabel("death time (ℓ1, per branch, test batches of 100; last bin: ≥ 99.5% q.)")
        ax.set_ylabel("count")
    return fig


def plot_training_curves(payload: Mapping[str, Any]) -> Figure:
    """Per-epoch training reconstruction L1, connectivity loss and death-time mean ± std."""
    check_mapping("payload", payload, "training", "recipe")
    tr = payload["training"]
    eta = payload["recipe"]["eta"]
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for key, hist in tr.items():
        ep = [h["epoch"] for h in hist]
        c = _colour(key)
        axes[0].plot(ep, [h["reconstruction_l1"] for h in hist], "o-", color=c, label=f"λ={key}")
        axes[1].plot(ep, [h["connectivity"] for h in hist], "o-", color=c, label=f"λ={key}")
        mean = np.array([h["death_mean"] for h in hist])
        std = np.array([h["death_std"] for h in hist])
        axes[2].plot(ep, mean, "o-", color=c, label=f"λ={key}")
        axes[2].fill_between(ep, mean - std, mean + std, color=c, alpha=0.2)
    axes[2].axhline(eta, color="k", ls="--", lw=1, label="η")
    axes[1].set_yscale("log")
    for ax, title in zip(
        axes,
        ("reconstruction L1 (train)", "connectivity loss L_η (train)", "death times"),
        strict=True,
    ):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    return fig


def plot_latent_kde(payload: Mapping[str, Any]) -> Figure:
    """Test codes projected on the first two dims of branch 0, with Scott's KDE."""
    check_mapping("payload", payload, "latent")
    lat = payload["latent"]
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(lat)))
    for ax, (key, res) in zip(axes, lat.items(), strict=True):
        pts = np.array(res["points"])
        xs, ys, dens = kde_on_grid(pts, "scott")
        ax.contour(xs, ys, dens, levels=8, cmap="Greys", linewidths=0.8)
        sc = ax.scatter(pts[:, 0], pts[:, 1], s=3, c=res["labels"], cmap="tab10", vmin=0, vmax=9)
        ax.set_title(f"λ = {key}: branch 0, dims (0, 1), Scott KDE contours", fontsize=9)
        ax.set_aspect("equal")
    fig.colorbar(sc, ax=axes, label="digit", ticks=range(10))
    return fig


def plot_gradients(payload: Mapping[str, Any]) -> Figure:
    """Finite differences vs autograd: max abs error against the step size."""
    check_mapping("payload", payload, "gradients")
    g = payload["gradients"]
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.loglog(g["steps"], np.maximum(g["max_abs_error"], 1e-17), "o-")
    ax.set_xlabel("central-difference step h")
    ax.set_ylabel("max |FD − autograd|")
    ok = all(g["gradcheck"].values())
    ax.set_title(f"connectivity loss (ℓ2), float64; gradcheck passed: {ok}", fontsize=9)
    ax.invert_xaxis()
    return fig


def plot_batch_size(payload: Mapping[str, Any]) -> Figure:
    """Death-time statistics of held-out batches of size B (λ = 20 encoder)."""
    check_mapping("payload", payload, "batch_size", "recipe")
    rows = payload["batch_size"]["rows"]
    eta = payload["recipe"]["eta"]
    train_b = payload["recipe"]["batch_size"]
    b = [r["B"] for r in rows]
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    mean = np.array([r["mean"] for r in rows])
    std = np.array([r["std"] for r in rows])
    ax1.errorbar(b, mean, yerr=std, fmt="o-", color="tab:red", capsize=3, label="mean ± std")
    ax1.axhline(eta, color="k", ls="--", lw=1, label="η")
    ax2.plot(b, [r["frac_within"] for r in rows], "o-", color="tab:red")
    ax2.set_ylim(0, 1)
    for ax in (ax1, ax2):
        ax.axvline(train_b, color="tab:blue", lw=0.8, ls=":", label="training B")
        ax.set_xscale("log")
        ax.set_xlabel("batch size B")
    ax1.set_ylabel("death time (ℓ1)")
    if "loglog_slope" in payload["batch_size"]:
        bs = payload["batch_size"]
        ax1.set_title(
            f"mean ∝ B^{bs['loglog_slope']:.2f}  (effective dim ≈ {bs['effective_dim']:.1f})",
            fontsize=9,
        )
    ax2.set_title("share of death times near η", fontsize=9)
    ax2.set_ylabel("fraction within η ± 0.5")
    ax1.legend(fontsize=8)
    return fig


def plot_densification(payload: Mapping[str, Any]) -> Figure:
    """Median within-branch nearest-neighbour ℓ1 distance against the number of codes N."""
    check_mapping("payload", payload, "densification", "recipe")
    dens = payload["densification"]
    eta = payload["recipe"]["eta"]
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(dens)))
    for ax, (key, res) in zip(axes, dens.items(), strict=True):
        rows = res["rows"]
        n = [r["N"] for r in rows]
        ax.plot(n, [r["median"] for r in rows], "o-", color=_colour(key), label="median")
        ax.fill_between(
            n, [r["q25"] for r in rows], [r["q75"] for r in rows], color=_colour(key), alpha=0.2
        )
        if key != "0":
            ax.axhline(eta, color="k", ls="--", lw=1, label="η")
        ax.axvline(payload["recipe"]["batch_size"], color="tab:blue", ls=":", label="training B")
        ax.set_xscale("log")
        ax.set_xlabel("number of test codes N")
        ax.set_ylabel("NN distance (ℓ1, within a branch)")
        ax.set_title(f"λ = {key}", fontsize=9)
        ax.legend(fontsize=8)
    return fig


def plot_all(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, keyed by the name it is saved under."""
    check_mapping("payload", payload, *_FIGURE_KEYS)
    return {
        "toy_kde": plot_toy_kde(payload),
        "vr_demo": plot_vr_demo(payload),
        "training_curves": plot_training_curves(payload),
        "death_histograms": plot_death_histograms(payload),
        "latent_kde": plot_latent_kde(payload),
        "gradients": plot_gradients(payload),
        "batch_size": plot_batch_size(payload),
        "densification": plot_densification(payload),
    }


def markdown_tables(payload: Mapping[str, Any]) -> dict[str, str]:
    """The chapter's tables as Markdown: ``models``, ``batch_size``, ``densification``, ``toy``."""
    check_mapping(
        "payload", payload, "recipe", "evaluation", "training", "batch_size", "densification", "toy"
    )
    eta = payload["recipe"]["eta"]
    models = []
    for key, ev in payload["evaluation"].items():
        d = ev["deaths"]
        models.append(
            [
                key,
                f"{ev['test_reconstruction_l1']:.2f}",
                f"{d['mean']:.3f}",
                f"{d['std']:.3f}",
                f"{100 * d['frac_within']:.1f}%",
                f"{payload['training'][key][-1]['connectivity']:.2f}",
            ]
        )
    batch = [
        [r["B"], f"{r['mean']:.3f}", f"{r['std']:.3f}", f"{100 * r['frac_within']:.1f}%"]
        for r in payload["batch_size"]["rows"]
    ]
    keys = list(payload["densification"])
    sizes = [r["N"] for r in payload["densification"][keys[0]]["rows"]]
    dens = [
        [n] + [f"{payload['densification'][k]['rows'][i]['median']:.3f}" for k in keys]
        for i, n in enumerate(sizes)
    ]
    toy = [
        [
            name,
            f"{s['mean']:.3f}",
            f"{s['std']:.3f}",
            f"{s['cv']:.2f}",
            f"{s['max'] / max(s['min'], 1e-12):.0f}",
        ]
        for name, s in (
            ("clusters", payload["toy"]["before"]["stats"]),
            ("homogenised", payload["toy"]["after"]["stats"]),
        )
    ]
    return {
        "models": markdown_table(
            [
                "λ",
                "test L1 (per image)",
                "test death mean",
                "death std",
                f"within η={eta:g}±0.5",
                "final train L_η",
            ],
            models,
        ),
        "batch_size": markdown_table(["B", "death mean", "death std", "within η±0.5"], batch),
        "densification": markdown_table(["N"] + [f"median NN dist. (λ={k})" for k in keys], dens),
        "toy": markdown_table(["arrangement", "death mean", "death std", "CV", "max/min"], toy),
    }
