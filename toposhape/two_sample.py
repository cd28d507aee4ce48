"""How far apart two samples are: kernel MMD² with a bootstrap interval, and the Fréchet distance.

:func:`mmd2` is the unbiased estimate of the squared maximum mean discrepancy between the
laws of two samples, with Gaussian kernels k_h(u, v) = exp(−‖u − v‖² / (2h²)) at several
bandwidths h at once (a sweep around the median heuristic, :func:`median_bandwidth`).
:func:`mmd2_bootstrap` adds bootstrap replicates for an interval: each replicate resamples
both samples with replacement and leaves out every pair of copies of one point, as the
unbiased estimate leaves out the diagonal (otherwise the duplicates would bias every
replicate upwards by about 1/n).

:func:`frechet_distance` fits a Gaussian to each sample and returns
‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}), the distance FID computes on Inception
features; :func:`gaussian_frechet` is the formula for given means and covariances.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist, pdist

from toposhape.checks import check_array, check_float, check_int, check_sequence

__all__ = [
    "frechet_distance",
    "gaussian_frechet",
    "median_bandwidth",
    "mmd2",
    "mmd2_bootstrap",
]


def median_bandwidth(x: np.ndarray) -> float:
    """The median heuristic: the median Euclidean distance between two points of ``x``.

    Parameters
    ----------
    x : ndarray, shape (n, D)
        Finite real numbers, n ≥ 2, not all points equal.

    Returns
    -------
    float
        > 0.

    Raises
    ------
    ValueError
        If fewer than two points are given, or half the pairs or more are at distance 0.
    """
    x = check_array("x", x, 2, min_rows=2).astype(np.float64)
    h = float(np.median(pdist(x)))
    if h <= 0:
        raise ValueError("x has median pairwise distance 0: no bandwidth can be derived")
    return h


def _estimate(
    sq: np.ndarray, n: int, bandwidth: float, cx: np.ndarray, cy: np.ndarray
) -> np.ndarray:
    """MMD² at one bandwidth for point multiplicities cx (n, R) and cy (m, R): shape (R,).

    ``sq`` holds the squared distances of the pooled sample [x; y], shape (n + m, n + m).
    Pairs of copies of one point are left out (the Gram matrix's diagonal is zeroed), so
    with all multiplicities 1 this is the unbiased estimate.
    """
    gram = np.exp(sq / (-2.0 * bandwidth**2))
    np.fill_diagonal(gram, 0.0)
    kx = gram[:, :n] @ cx  # (n + m, R): rows :n are K_xx cx, rows n: are K_yx cx
    ky = gram[n:, n:] @ cy  # (m, R)
    xx = (cx * kx[:n]).sum(0)
    yy = (cy * ky).sum(0)
    xy = (cy * kx[n:]).sum(0)
    pairs_x = cx.sum(0) ** 2 - (cx**2).sum(0)
    pairs_y = cy.sum(0) ** 2 - (cy**2).sum(0)
    return xx / pairs_x + yy / pairs_y - 2.0 * xy / (cx.sum(0) * cy.sum(0))


def _pooled_sq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = np.concatenate([x, y])
    return cdist(z, z, "sqeuclidean")


def _checked(x: object, y: object, bandwidths: object) -> tuple[np.ndarray, np.ndarray, list]:
    x = check_array("x", x, 2, min_rows=2).astype(np.float64)
    y = check_array("y", y, 2, min_rows=2).astype(np.float64)
    if y.shape[1] != x.shape[1]:
        raise ValueError(f"y must have the {x.shape[1]} columns of x, got shape {y.shape}")
    check_sequence("bandwidths", bandwidths)
    hs = [check_float(f"bandwidths[{i}]", h, 0.0, low_open=True) for i, h in enumerate(bandwidths)]
    return x, y, hs


def mmd2(x: np.ndarray, y: np.ndarray, bandwidths: list[float]) -> np.ndarray:
    """Unbiased MMD² between the laws of ``x`` and ``y`` with a Gaussian kernel per bandwidth.

    MMD²_h = mean_{i≠j} k_h(x_i, x_j) + mean_{i≠j} k_h(y_i, y_j) − 2 mean_{i,j} k_h(x_i, y_j).

    Parameters
    ----------
    x : ndarray, shape (n, D)
        Finite, n ≥ 2.
    y : ndarray, shape (m, D)
        Finite, m ≥ 2.
    bandwidths : sequence of float
        h > 0 each; non-empty.

    Returns
    -------
    ndarray, shape (len(bandwidths),)
        May be slightly negative (the estimate is unbiased, not non-negative).
    """
    x, y, hs = _checked(x, y, bandwidths)
    sq, ones_x, ones_y = _pooled_sq(x, y), np.ones((len(x), 1)), np.ones((len(y), 1))
    return np.array([_estimate(sq, len(x), h, ones_x, ones_y)[0] for h in hs])


def mmd2_bootstrap(
    x: np.ndarray,
    y: np.ndarray,
    bandwidths: list[float],
    replicates: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mmd2` and bootstrap replicates of it, for a percentile interval.

    Each replicate draws n points of ``x`` and m of ``y`` with replacement and recomputes
    the estimate without the pairs of copies of one point.

    Parameters
    ----------
    x, y, bandwidths
        As in :func:`mmd2`.
    replicates : int
        R ≥ 1.
    rng : numpy.random.Generator
        Source of the resampling.

    Returns
    -------
    estimate : ndarray, shape (B,)
    boot : ndarray, shape (R, B)
    """
    x, y, hs = _checked(x, y, bandwidths)
    replicates = check_int("replicates", replicates, 1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    sq = _pooled_sq(x, y)
    cx = rng.multinomial(len(x), np.full(len(x), 1.0 / len(x)), size=replicates).T.astype(float)
    cy = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=replicates).T.astype(float)
    cx, cy = np.hstack([np.ones((len(x), 1)), cx]), np.hstack([np.ones((len(y), 1)), cy])
    values = np.stack([_estimate(sq, len(x), h, cx, cy) for h in hs], axis=1)  # (1 + R, B)
    return values[0], values[1:]


def gaussian_frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).

    ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}), the matrix square root by
    :func:`scipy.linalg.sqrtm` (its imaginary round-off dropped; if it is not finite, as
    for singular covariances, both get 10⁻⁶·I added first, as FID implementations do).

    Parameters
    ----------
    mu1, mu2 : ndarray, shape (d,)
    cov1, cov2 : ndarray, shape (d, d)
        Symmetric positive semi-definite.

    Returns
    -------
    float
        ≥ 0 up to round-off.
    """
    mu1 = check_array("mu1", mu1, 1).astype(np.float64)
    mu2 = check_array("mu2", mu2, 1).astype(np.float64)
    d = len(mu1)
    if mu2.shape != (d,):
        raise ValueError(f"mu2 must have shape ({d},) like mu1, got {mu2.shape}")
    cov1 = check_array("cov1", cov1, 2).astype(np.float64)
    cov2 = check_array("cov2", cov2, 2).astype(np.float64)
    for name, cov in (("cov1", cov1), ("cov2", cov2)):
        if cov.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}), got {cov.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # singular: checked below
        root = scipy.linalg.sqrtm(cov1 @ cov2)
        if not np.isfinite(root).all():  # dead features: nudge both covariances off singular
            offset = 1e-6 * np.eye(d)
            root = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    root = np.real(root)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(root))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`gaussian_frechet` between Gaussians fitted to two samples of features.

    Parameters
    ----------
    a : ndarray, shape (n, d)
        Finite, n ≥ 2.
    b : ndarray, shape (m, d)
        Finite, m ≥ 2.

    Returns
    -------
    float
    """
    a = check_array("a", a, 2, min_rows=2).astype(np.float64)
    b = check_array("b", b, 2, min_rows=2).astype(np.float64)
    if b.shape[1] != a.shape[1]:
        raise ValueError(f"b must have the {a.shape[1]} columns of a, got shape {b.shape}")
    return gaussian_frechet(
        a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1),
        b.mean(0), np.cov(b, rowvar=False).reshape(b.shape[1], -1),
    )  # fmt: skip
