"""Losses on the topology of a batch of latent codes."""

import math

import torch

from toposhape.pershom import check_p, check_points, vr_persistence0

REDUCTIONS = ("mean", "sum", "none")

#: How :func:`reconstruction_l1` reduces |x − x̂| (recorded in every backbone's config).
RECONSTRUCTION = "l1: sum over the pixels and channels of each image, mean over the batch"


def reconstruction_l1(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """L1 reconstruction loss as the reference defines it (``core/train_engine.py: l1_loss``).

    ``|x − x̂|`` is summed over all pixels and channels of each image and averaged over the
    batch. A per-pixel mean instead would make a connectivity term added with weight λ
    ``C·H·W`` times stronger (784× on MNIST, 3072× on CIFAR) than in the paper.

    Parameters
    ----------
    reconstruction, images : Tensor, shape (B, C, H, W)
        Same shape, B >= 1.

    Returns
    -------
    Tensor, shape ()
    """
    if not isinstance(reconstruction, torch.Tensor) or not isinstance(images, torch.Tensor):
        raise TypeError("reconstruction and images must be tensors")
    if reconstruction.shape != images.shape or images.dim() < 2 or images.shape[0] < 1:
        raise ValueError(
            "reconstruction and images must have the same shape (B, ...) with B >= 1, got "
            f"{tuple(reconstruction.shape)} and {tuple(images.shape)}"
        )
    return (reconstruction - images).abs().flatten(1).sum(dim=1).mean()


def connectivity_loss(
    z: torch.Tensor,
    eta: float = 2.0,
    branches: int = 1,
    p: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Connectivity loss of Hofer et al. (ICML 2019): pull 0-dim death times to ``eta``.

    The latent dim is split into ``branches`` equal blocks; in each block the
    batch is a point cloud whose 0-dim Vietoris–Rips death times ``t`` give
    ``L_eta = sum_t |eta - t|``. All branches go through one kernel call.

    Parameters
    ----------
    z : Tensor, shape (B, L)
        A batch of B >= 2 latent codes.
    eta : float, default 2.0
        Target death time (> 0).
    branches : int, default 1
        Number of equal blocks of the latent dim (the reference recipe uses
        16 branches of 10 dims); must divide L.
    p : float, default 1.0
        ℓp metric inside each branch (the reference uses ℓ1).
    reduction : {"mean", "sum", "none"}
        How the per-branch losses are combined.

    Returns
    -------
    Tensor
        Shape () for "mean"/"sum", shape (branches,) for "none".
    """
    clouds = branch_clouds(z, branches)
    if (
        isinstance(eta, bool)
        or not isinstance(eta, (int, float))
        or not (math.isfinite(eta) and eta > 0)
    ):
        raise ValueError(f"eta must be a positive finite number, got {eta!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    per_branch = (eta - vr_persistence0(clouds, check_p(p))).abs().sum(dim=-1)
    if reduction == "mean":
        return per_branch.mean()
    if reduction == "sum":
        return per_branch.sum()
    return per_branch


def branch_clouds(z: torch.Tensor, branches: int) -> torch.Tensor:
    """View a batch of latent codes as one point cloud per latent block.

    Parameters
    ----------
    z : Tensor, shape (B, L)
    branches : int
        Number of equal blocks; must divide L.

    Returns
    -------
    Tensor, shape (branches, B, L // branches)
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z)
        raise ValueError(f"z must be a tensor of shape (batch, latent_dim), got {shape}")
    check_points(z, "z")  # batch >= 2, float dtype, finite: errors that name z
    if isinstance(branches, bool) or not isinstance(branches, int) or branches < 1:
        raise ValueError(f"branches must be a positive int, got {branches!r}")
    if z.shape[1] % branches != 0:
        raise ValueError(
            f"the latent dim of z ({z.shape[1]}) is not divisible by branches={branches}"
        )
    return z.reshape(z.shape[0], branches, -1).transpose(0, 1)
