"""Death times of latent codes: argument checks, summary statistics, held-out batches.

Shared by the chapter's experiments (:mod:`.run`, :mod:`.toy`, :mod:`.theory`): the death
times of a batch of codes are the 0-dim Vietoris–Rips death times of each branch's cloud.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from toposhape.checks import check_float, check_int, check_sequence, check_tensor
from toposhape.losses import branch_clouds
from toposhape.pershom import check_p, check_points, vr_persistence0
from toposhape.training import MAX_SEED


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


def death_stats(deaths: np.ndarray, eta: float, within: float | None) -> dict[str, float]:
    """Mean, std, coefficient of variation, min, max and share within ``eta ± within``.

    Parameters
    ----------
    deaths : ndarray, shape (n,)
        Death times, n >= 1.
    eta : float
        Target death time.
    within : float or None
        Half-width of the window around ``eta`` counted as a hit; None leaves the share
        (``frac_within``) out.
    """
    deaths = np.asarray(deaths, dtype=np.float64)
    mean = float(deaths.mean())
    stats = {
        "mean": mean,
        "std": float(deaths.std()),
        "cv": float(deaths.std() / mean) if mean > 0 else math.inf,
        "min": float(deaths.min()),
        "max": float(deaths.max()),
    }
    if within is not None:
        stats["frac_within"] = float(np.mean(np.abs(deaths - eta) <= within))
    return stats


def heldout_deaths(
    codes: torch.Tensor, branches: int, batch: int, p: float, seed: int | None = None
) -> torch.Tensor:
    """Death times of held-out batches: shape (batches, branches, batch - 1).

    Parameters
    ----------
    codes : Tensor, shape (N, L)
        Finite float32/float64 codes, N >= ``batch``.
    branches : int
        Equal blocks of the latent dim, >= 1, dividing L.
    batch : int
        Batch size, >= 2; N mod ``batch`` codes are left out.
    p : float
        ℓp metric, >= 1 (or inf).
    seed : int, optional
        Seeds a random order of the codes before they are cut into batches, in
        [0, 2**32 - 1] (a file's order may group similar images, e.g. by writer). None:
        consecutive batches in the given order.
    """
    codes, branches = check_codes(codes, branches)
    batch = check_int("batch", batch, 2)
    if len(codes) < batch:
        raise ValueError(f"batch must be at most the number of codes {len(codes)}, got {batch}")
    p = check_p(p)
    if seed is not None:
        seed = check_int("seed", seed, 0, MAX_SEED)
        order = torch.randperm(len(codes), generator=torch.Generator().manual_seed(seed))
        codes = codes[order.to(codes.device)]
    n = len(codes) // batch * batch
    clouds = branch_clouds(codes[:n], branches)  # (branches, n, dim)
    clouds = clouds.reshape(branches, n // batch, batch, -1).transpose(0, 1)
    return vr_persistence0(clouds, p)


def branch_radii(
    codes: torch.Tensor, branches: int, batch: int, p: float, seed: int
) -> list[float]:
    """Calibrated radius per branch: the mean death time of each branch's held-out batches.

    The scale at which a batch of ``batch`` codes connects in that branch (as a λ = 20
    batch does at η); branches of one encoder can live at very different scales, so each
    gets its own. Not rounded: a branch may live at any scale.

    Parameters
    ----------
    codes, branches, batch, p, seed
        As for :func:`heldout_deaths` (``seed`` seeds the batches).

    Returns
    -------
    list of float
        One radius per branch, length ``branches``, each > 0.

    Raises
    ------
    ValueError
        If a branch's held-out batches all die at 0 (its codes collapsed to a point).
    """
    deaths = heldout_deaths(codes, branches, batch, p, seed).double()  # (batches, branches, b - 1)
    radii = [float(r) for r in deaths.mean(dim=(0, 2))]
    for b, r in enumerate(radii):
        if not r > 0:
            raise ValueError(f"branch {b} of codes has collapsed (mean death time {r}): no radius")
    return radii


def death_quantiles(deaths: torch.Tensor, levels: int = 1001) -> list[float]:
    """Quantiles of all death times at ``levels`` equally spaced levels from 0 to 1.

    The empirical distribution function of the death times to within 1 / (levels - 1):
    enough for :func:`share_within` to give the share within any window later.

    Parameters
    ----------
    deaths : Tensor, shape (...)
        Non-empty, floating and finite.
    levels : int
        >= 2.
    """
    deaths = check_tensor("deaths", deaths, floating=True, finite=True)
    if deaths.numel() == 0:
        raise ValueError(f"deaths must not be empty, got shape {tuple(deaths.shape)}")
    levels = check_int("levels", levels, 2)
    flat = deaths.detach().cpu().double().flatten().numpy()
    return np.quantile(flat, np.linspace(0.0, 1.0, levels)).tolist()


def share_within(quantiles: Sequence[float], eta: float, within: float) -> float:
    """Share of death times in [η − within, η + within], from :func:`death_quantiles`.

    Exact to within 1 / (levels - 1), ``levels = len(quantiles)``: a level's quantile lies
    in the window or not, and the share is the spacing times the levels that do (with the
    levels at both ends weighted half, as on the trapezoid rule).

    Parameters
    ----------
    quantiles : sequence of float
        Non-decreasing, at least 2.
    eta : float
        Window centre.
    within : float
        Half-width, >= 0.
    """
    q = np.asarray(check_sequence("quantiles", quantiles), dtype=np.float64)
    if len(q) < 2 or np.any(np.diff(q) < 0):
        raise ValueError("quantiles must be at least 2 non-decreasing values")
    eta = check_float("eta", eta)
    within = check_float("within", within, 0.0)
    inside = (np.abs(q - eta) <= within).astype(np.float64)
    weights = np.ones(len(q))
    weights[[0, -1]] = 0.5
    return float((inside * weights).sum() / (len(q) - 1))


def death_summary(
    deaths: torch.Tensor, eta: float, within: float | None, bins: int = 60
) -> dict[str, Any]:
    """Mean/std/fraction near η of death times of shape (batches, branches, b-1), + histogram.

    Parameters
    ----------
    deaths : Tensor, shape (batches, branches, b - 1)
        Non-empty, floating, finite and >= 0 (on any device).
    eta : float
        Target death time, > 0.
    within : float or None
        Half-width of the window around ``eta`` counted as a hit, >= 0; None leaves the
        share out (:func:`death_stats`).
    bins : int
        Histogram bins, >= 1.
    """
    deaths = check_tensor("deaths", deaths, ndim=3, floating=True, finite=True)
    if deaths.numel() == 0:
        raise ValueError(f"deaths must not be empty, got shape {tuple(deaths.shape)}")
    if bool((deaths < 0).any()):
        raise ValueError("deaths must be >= 0 (death times)")
    eta = check_float("eta", eta, 0.0, low_open=True)
    if within is not None:
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
