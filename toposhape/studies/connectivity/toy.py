"""The chapter's two pictures: KDE on clusters of very different scales, and what 0-dim
Vietoris–Rips persistence measures on a small cloud.

:func:`toy_study` homogenises a multi-scale 2-D arrangement with the connectivity loss;
:func:`vr_demo` gives a small cloud with its death times and death (MST) edges;
:func:`kde_on_grid` evaluates the Gaussian KDEs the report draws.
"""

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import gaussian_kde

from toposhape.checks import check_array, check_choice, check_float, check_int
from toposhape.losses import connectivity_loss
from toposhape.pershom import check_p, death_edges, vr_persistence0
from toposhape.studies.connectivity.deaths import death_stats


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
            "stats": death_stats(deaths, eta, 0.25 * eta),
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
