"""Death times of latent codes: argument checks, summary statistics, held-out batches.

Shared by the chapter's experiments (:mod:`.run`, :mod:`.toy`, :mod:`.theory`): the death
times of a batch of codes are the 0-dim Vietoris–Rips death times of each branch's cloud.
"""

import math
from typing import Any

import numpy as np
import torch

from toposhape.checks import check_float, check_int, check_sequence, check_tensor
from toposhape.losses import branch_clouds
from toposhape.pershom import check_p, check_points, vr_persistence0


def check_codes(codes: object, branches: object) -> tuple[torch.Tensor, int]:
    """Latent codes (N, L), N >= 2, float32/float64, finite, and a branch count dividing L."""
    codes = check_tensor("codes", codes, ndim=2)
    check_points(codes, "codes")
    branches = check_int("branches", branches, 1)
    if codes.shape[1] % branches:
        raise ValueError(
            f"branches must divide the code dimension {codes.shape[1]}, got {branches}"
        )
    return codes, branches


def check_sizes(name: str, sizes: object) -> list[int]:
    """A non-empty sequence of point counts >= 2 (a 0-dim barcode needs two points)."""
    return [check_int(f"{name}[{i}]", n, 2) for i, n in enumerate(check_sequence(name, sizes))]


def death_stats(deaths: np.ndarray, eta: float, within: float) -> dict[str, float]:
    """Mean, std, coefficient of variation, min, max and share within ``eta ± within``.

    Parameters
    ----------
    deaths : ndarray, shape (n,)
        Death times, n >= 1.
    eta : float
        Target death time.
    within : float
        Half-width of the window around ``eta`` counted as a hit.
    """
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
    codes, branches = check_codes(codes, branches)
    batch = check_int("batch", batch, 2)
    if len(codes) < batch:
        raise ValueError(f"batch must be at most the number of codes {len(codes)}, got {batch}")
    p = check_p(p)
    n = len(codes) // batch * batch
    clouds = branch_clouds(codes[:n], branches)  # (branches, n, dim)
    clouds = clouds.reshape(branches, n // batch, batch, -1).transpose(0, 1)
    return vr_persistence0(clouds, p)


def branch_radii(codes: torch.Tensor, branches: int, batch: int, p: float) -> list[float]:
    """Calibrated radius per branch: the mean death time of each branch's held-out batches.

    The scale at which a batch of ``batch`` codes connects in that branch (as a λ = 20
    batch does at η); branches of one encoder can live at very different scales, so each
    gets its own. Rounded to 4 decimals, as records store them.

    Parameters
    ----------
    codes, branches, batch, p
        As for :func:`heldout_deaths`.

    Returns
    -------
    list of float
        One radius per branch, length ``branches``.
    """
    deaths = heldout_deaths(codes, branches, batch, p).double()  # (batches, branches, b - 1)
    return [round(float(r), 4) for r in deaths.mean(dim=(0, 2))]


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
    stats = death_stats(flat, eta, within)
    stats["per_branch_mean"] = d.mean(dim=(0, 2)).tolist()
    stats["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    stats["count"] = int(flat.size)
    return stats
