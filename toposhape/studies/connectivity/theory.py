"""The paper's three theory claims, measured: differentiability, the role of the batch size,
and "densification" of samples larger than a batch.

:func:`gradient_study` checks autograd against finite differences; :func:`batch_size_study`
and :func:`densification_study` measure trained codes (:func:`nearest_neighbour_distances`
is the latter's distance kernel).
"""

import math
from typing import Any

import numpy as np
import torch

from toposhape.checks import check_float, check_int, check_tensor
from toposhape.losses import branch_clouds, connectivity_loss
from toposhape.pershom import check_p, check_points, vr_persistence0
from toposhape.studies.connectivity.deaths import check_codes, check_sizes, death_stats
from toposhape.training import MAX_SEED

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
    codes, branches = check_codes(codes, branches)
    batch_sizes = check_sizes("batch_sizes", batch_sizes)
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
        stats = death_stats(torch.cat(deaths).detach().double().cpu().numpy(), eta, within)
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
    codes, branches = check_codes(codes, branches)
    sizes = check_sizes("sizes", sizes)
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
