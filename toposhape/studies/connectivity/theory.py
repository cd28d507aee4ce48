"""The paper's first theory claim, checked: the connectivity loss is differentiable.

:func:`gradient_study` checks autograd against finite differences. (The other two claims,
on the batch size and on densification, are measured on trained backbones:
:mod:`.covering`, :mod:`.densify`, :mod:`.evaluate`.)
"""

from typing import Any

import numpy as np
import torch

from toposhape.checks import check_float, check_int
from toposhape.losses import connectivity_loss
from toposhape.pershom import vr_persistence0
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
