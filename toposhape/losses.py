"""Losses on the topology of a batch of latent codes."""

import torch

from toposhape.checks import check_choice, check_float, check_int, check_tensor
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

    The deaths are exact up to rounding at every scale of the float range (see
    :mod:`toposhape.pershom`), and so is the loss: it is inf only where a death or
    a branch's sum exceeds the dtype's largest finite number, and its gradient
    stays finite even then.

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
        How the per-branch losses are combined ("mean" divides each by
        ``branches`` before adding them up, so it overflows only with a branch).

    Returns
    -------
    Tensor
        Shape () for "mean"/"sum", shape (branches,) for "none".

    Raises
    ------
    TypeError
        If ``z`` is not a float32/float64 tensor or ``eta``, ``branches``, ``p``
        are not numbers of the right kind.
    ValueError
        On a bad value: the shape of ``z`` or a NaN or inf in it (also under
        ``torch.compile``, from the kernel), ``branches`` < 1 or not dividing
        the latent dim, ``eta`` not finite and > 0, ``p`` < 1, an unknown
        ``reduction``.
    """
    clouds = branch_clouds(z, branches)
    eta = check_float("eta", eta, 0.0, low_open=True)
    p = check_p(p)
    check_choice("reduction", reduction, REDUCTIONS)
    per_branch = (eta - vr_persistence0(clouds, p)).abs().sum(dim=-1)
    if reduction == "mean":
        return (per_branch / branches).sum()
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

    Raises
    ------
    TypeError
        If ``z`` is not a float32/float64 tensor or ``branches`` not an int.
    ValueError
        If ``z`` is not (B, L) with B >= 2 and finite, ``branches`` < 1 or it
        does not divide L.
    """
    check_tensor("z", z, ndim=2)
    check_points(z, "z")  # batch >= 2, float dtype, finite: errors that name z
    branches = check_int("branches", branches, low=1)
    if z.shape[1] % branches != 0:
        raise ValueError(
            f"the latent dim of z ({z.shape[1]}) is not divisible by branches={branches}"
        )
    return z.reshape(z.shape[0], branches, -1).transpose(0, 1)
