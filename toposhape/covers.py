"""Hand-built soft covers of the book's manifolds, and the topology of a cover's charts.

A learned atlas gives every sample chart memberships q(x) (a softmax), and the atlas
chapter reads the homology of the data from the fuzzy Čech nerve of those memberships
(:mod:`toposhape.nerve`). Whether that read-out can work at all is checked on covers
whose nerve is known: :data:`COVERS` places landmarks c_1..c_L on a manifold and gives
every sample the memberships

    q_j(x) = softmax_j( −d(x, c_j)² / τ ),

with d the manifold's intrinsic distance (:func:`intrinsic_distances`). The sets where
a chart's membership is largest are the Voronoi cells of the landmarks; for the *good*
covers of :data:`COVERS` these cells and all their intersections are contractible, so
their nerve has the manifold's homology (the nerve lemma). The temperature τ is set so
that the mean membership entropy takes a given value (:func:`soft_memberships`): the
same statistic the chapter reports for learned atlases, so the covers span the softness
of the atlases the read-out is used on. *Bad* covers (annular charts, charts that meet
twice, disconnected charts) are the negative controls: their nerve must not be read as
the manifold's homology.

:func:`chart_persistence` measures the topology of each chart from the samples it owns
(``argmax_j q_j(x) = j``): the 0- and 1-dimensional persistence of their Vietoris–Rips
filtration (ripser), relative to the chart's diameter, so that a disconnected or annular
chart (which no nerve rule can repair) can be told from a contractible one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.spatial.distance import pdist
from scipy.special import softmax

from toposhape.checks import check_choice, check_float, check_int

__all__ = [
    "COVERS",
    "Cover",
    "chart_persistence",
    "cover_memberships",
    "intrinsic_distances",
    "membership_entropy",
    "owners",
    "soft_memberships",
]

TWO_PI = 2.0 * math.pi


def _grid(columns: int, rows: int) -> np.ndarray:
    """Cell centres of a ``columns × rows`` grid on the flat torus [0, 2π)², as (u, v)."""
    u = (np.arange(columns) + 0.5) * TWO_PI / columns
    v = (np.arange(rows) + 0.5) * TWO_PI / rows
    return np.stack(np.meshgrid(u, v, indexing="ij"), axis=-1).reshape(-1, 2)


def _spread_axes(k: int, steps: int = 3000, rate: float = 0.01) -> np.ndarray:
    """``k`` well-spread lines through the origin of R³ (points of RP²), as unit vectors.

    Deterministic: k points from a seeded Gaussian, then ``steps`` steps of Coulomb
    repulsion among the 2k points ±c_j, each followed by a projection to the sphere.
    """
    rng = np.random.default_rng(0)
    p = rng.standard_normal((k, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    eye = np.eye(k, 2 * k) * 1e9  # no force of a point on itself
    for _ in range(steps):
        both = np.concatenate([p, -p])
        diff = p[:, None, :] - both[None]
        sq = (diff**2).sum(-1) + eye
        p = p + rate * (diff / sq[..., None] ** 1.5).sum(axis=1)
        p /= np.linalg.norm(p, axis=1, keepdims=True)
    return np.where(p[:, 2:3] < 0, -p, p)  # representatives on the upper hemisphere


_OCTAHEDRON = np.concatenate([np.eye(3), -np.eye(3)])


@dataclass(frozen=True)
class Cover:
    """A cover of a manifold by the soft Voronoi cells of landmarks.

    Attributes
    ----------
    name : str
        Key in :data:`COVERS`.
    manifold : str
        A key of :data:`toposhape.manifolds.MANIFOLDS`.
    landmarks : ndarray, shape (L, m)
        In the coordinates of :func:`intrinsic_distances`.
    good : bool
        Whether the cover is good (its nerve has the manifold's homology); a bad cover is
        a negative control.
    description : str
        One line for a table.
    groups : tuple of int, optional
        The chart of every landmark (several landmarks make one chart); by default each
        landmark is its own chart.
    """

    name: str
    manifold: str
    landmarks: np.ndarray = field(repr=False)
    good: bool
    description: str
    groups: tuple[int, ...] | None = None

    @property
    def charts(self) -> int:
        """k, the number of charts."""
        return len(self.landmarks) if self.groups is None else max(self.groups) + 1


#: The covers of the atlas chapter's controls, by name: good covers of every manifold at
#: the chart counts the chapter trains with, and three bad covers of the torus and sphere.
COVERS: dict[str, Cover] = {
    c.name: c
    for c in (
        Cover(
            "circle-4",
            "circle",
            ((np.arange(4) + 0.5) * TWO_PI / 4)[:, None],
            True,
            "4 equal arcs",
        ),
        Cover("sphere-6", "sphere", _OCTAHEDRON, True, "6 caps around the octahedron's vertices"),
        Cover("torus-3x3", "torus", _grid(3, 3), True, "3 × 3 grid of the angles (u, v)"),
        Cover("torus-3x4", "torus", _grid(3, 4), True, "3 × 4 grid of the angles (u, v)"),
        Cover("torus-4x4", "torus", _grid(4, 4), True, "4 × 4 grid of the angles (u, v)"),
        Cover("rp2-9", "rp2", _spread_axes(9), True, "9 well-spread cells"),
        Cover("rp2-12", "rp2", _spread_axes(12), True, "12 well-spread cells"),
        Cover("rp2-16", "rp2", _spread_axes(16), True, "16 well-spread cells"),
        Cover(
            "torus-1x8",
            "torus",
            _grid(1, 8),
            False,
            "8 bands around the tube: every chart an annulus",
        ),
        Cover(
            "torus-2x4",
            "torus",
            _grid(2, 4),
            False,
            "2 × 4 grid: neighbours along u meet in two strips",
        ),
        Cover(
            "sphere-3",
            "sphere",
            _OCTAHEDRON,
            False,
            "6 caps merged in antipodal pairs: every chart two caps",
            groups=(0, 1, 2, 0, 1, 2),
        ),
    )
}


def _points(manifold: str, params: np.ndarray) -> np.ndarray:
    """Sample parameters (as :func:`toposhape.manifolds.sample_manifold` returns them) in
    the coordinates of the landmarks: the angle t (circle), unit vectors (sphere, RP²),
    the angles (u, v) (torus)."""
    if manifold == "sphere":
        theta, phi = params[:, 0], params[:, 1]
        return np.stack(
            [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1
        )
    return params


def _angle(a: np.ndarray) -> np.ndarray:
    """|a| reduced to [0, π]: the distance of two angles that differ by a."""
    return np.abs((a + math.pi) % TWO_PI - math.pi)


def intrinsic_distances(manifold: str, params: object, landmarks: object) -> np.ndarray:
    """Distances on the manifold from every sample to every landmark.

    Arc length on the circle, the great-circle angle on the sphere, the angle
    ``arccos |⟨p, c⟩|`` between lines on RP², and the flat distance
    ``√(Δu² + Δv²)`` of the angles (each difference taken modulo 2π) on the torus.

    Parameters
    ----------
    manifold : {"circle", "sphere", "torus", "rp2"}
    params : array_like, shape (N, m)
        Sample parameters as :func:`toposhape.manifolds.sample_manifold` returns them.
    landmarks : array_like, shape (L, m')
        The angle t (circle), unit vectors (sphere, RP²) or the angles (u, v) (torus).

    Returns
    -------
    ndarray of float64, shape (N, L)
    """
    manifold = check_choice("manifold", manifold, ("circle", "sphere", "torus", "rp2"))
    params = np.asarray(params, dtype=np.float64)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    width = {"circle": 1, "sphere": 2, "torus": 2, "rp2": 3}[manifold]
    if params.ndim != 2 or params.shape[1] != width or not np.isfinite(params).all():
        raise ValueError(
            f"params of the {manifold} must be a finite array of shape (N, {width}), "
            f"got shape {params.shape}"
        )
    points = _points(manifold, params)
    if landmarks.ndim != 2 or landmarks.shape[1] != points.shape[1] or not len(landmarks):
        raise ValueError(
            f"landmarks of the {manifold} must have shape (L, {points.shape[1]}), L >= 1, "
            f"got shape {landmarks.shape}"
        )
    if manifold == "circle":
        return _angle(points[:, :1] - landmarks[None, :, 0])
    if manifold == "torus":
        du = _angle(points[:, None, 0] - landmarks[None, :, 0])
        dv = _angle(points[:, None, 1] - landmarks[None, :, 1])
        return np.hypot(du, dv)
    cos = points @ landmarks.T
    return np.arccos(np.clip(np.abs(cos) if manifold == "rp2" else cos, -1.0, 1.0))


def membership_entropy(q: np.ndarray) -> float:
    """Mean entropy (nats) of the rows of memberships ``q`` (N, k): 0 when every sample
    is in one chart, log k when every sample is spread evenly over all of them."""
    q = np.asarray(q, dtype=np.float64)
    return float(-(q * np.log(np.clip(q, 1e-300, None))).sum(axis=1).mean())


def _grouped(q: np.ndarray, groups: tuple[int, ...] | None) -> np.ndarray:
    if groups is None:
        return q
    out = np.zeros((q.shape[0], max(groups) + 1))
    np.add.at(out.T, np.asarray(groups), q.T)
    return out


def soft_memberships(
    distances: object, entropy: float, groups: tuple[int, ...] | None = None
) -> tuple[np.ndarray, float]:
    """Soft Voronoi memberships ``softmax(−d²/τ)`` with τ set by their mean entropy.

    Parameters
    ----------
    distances : array_like, shape (N, L)
        Finite, non-negative distances from every sample to every landmark.
    entropy : float
        The mean membership entropy (nats) to reach, strictly between 0 and log k.
    groups : tuple of int, optional
        The chart of every landmark; the memberships of a chart are the sum over its
        landmarks (the entropy is that of the charts).

    Returns
    -------
    q : ndarray, shape (N, k)
        Memberships, rows sum to 1.
    tau : float
        The temperature reached (relative error of the entropy below 1e-6).
    """
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or not len(d) or not np.isfinite(d).all() or (d < 0).any():
        raise ValueError(
            f"distances must be a finite, non-negative array of shape (N, L), got shape {d.shape}"
        )
    if groups is not None and (len(groups) != d.shape[1] or min(groups) < 0):
        raise ValueError(f"groups must give a chart >= 0 for each of the {d.shape[1]} landmarks")
    k = d.shape[1] if groups is None else max(groups) + 1
    entropy = check_float("entropy", entropy, 0.0, math.log(k), low_open=True, high_open=True)
    sq = d**2

    def gap(log_tau: float) -> float:
        return membership_entropy(_grouped(softmax(-sq / math.exp(log_tau), axis=1), groups))

    low, high = math.log(1e-8 * (sq.max() + 1e-12)), math.log(1e4 * (sq.max() + 1e-12))
    log_tau = brentq(lambda t: gap(t) - entropy, low, high, xtol=1e-10, rtol=1e-10)
    tau = math.exp(log_tau)
    return _grouped(softmax(-sq / tau, axis=1), groups), tau


def cover_memberships(cover: Cover, params: object, entropy: float) -> tuple[np.ndarray, float]:
    """The memberships of a cover of :data:`COVERS` at a mean entropy, and their τ.

    Parameters
    ----------
    cover : Cover
    params : array_like, shape (N, m)
        Parameters of samples of ``cover.manifold``.
    entropy : float
        Mean membership entropy, in (0, log k).
    """
    if not isinstance(cover, Cover):
        raise TypeError(f"cover must be a Cover, got {type(cover).__name__}")
    d = intrinsic_distances(cover.manifold, params, cover.landmarks)
    return soft_memberships(d, entropy, cover.groups)


def owners(cover: Cover, params: object) -> np.ndarray:
    """The chart that owns each sample, ``argmax_j q_j(x)`` (the same at every τ).

    Returns
    -------
    ndarray of int, shape (N,)
    """
    if not isinstance(cover, Cover):
        raise TypeError(f"cover must be a Cover, got {type(cover).__name__}")
    nearest = intrinsic_distances(cover.manifold, params, cover.landmarks).argmin(axis=1)
    return nearest if cover.groups is None else np.asarray(cover.groups)[nearest]


def _rips_extent(points: np.ndarray) -> tuple[float, float]:
    """Longest finite H0 bar and longest H1 bar of the Rips filtration of ``points``."""
    from ripser import ripser

    h0, h1 = ripser(points, maxdim=1)["dgms"]
    finite = h0[np.isfinite(h0[:, 1]), 1]
    return (
        float(finite.max()) if len(finite) else 0.0,
        float((h1[:, 1] - h1[:, 0]).max()) if len(h1) else 0.0,
    )


def chart_persistence(
    points: object, owner: object, charts: int, subsample: int = 300, seed: int = 0
) -> list[dict[str, float | int | None]]:
    """How far each chart's samples are from one contractible piece.

    For chart j, the samples it owns (at most ``subsample`` of them, drawn at random) are
    filtered by Vietoris–Rips (ripser); the longest finite H0 bar (a gap between two
    pieces) and the longest H1 bar (a loop), each divided by the diameter of those
    samples, measure a disconnected and an annular chart. A contractible chart sampled
    densely has both near 0.

    Parameters
    ----------
    points : array_like, shape (N, D)
        Finite sample coordinates.
    owner : array_like of int, shape (N,)
        The chart of every sample, in ``0..charts-1``.
    charts : int
        k ≥ 1.
    subsample : int
        At most this many samples per chart (≥ 3).
    seed : int
        Seeds the subsampling (≥ 0).

    Returns
    -------
    list of dict, one per chart
        ``points`` (samples owned), and ``h0`` and ``h1`` (relative bar lengths; None for a
        chart that owns fewer than 3 samples).
    """
    points = np.asarray(points, dtype=np.float64)
    owner = np.asarray(owner)
    charts = check_int("charts", charts, 1)
    subsample = check_int("subsample", subsample, 3)
    seed = check_int("seed", seed, 0)
    if points.ndim != 2 or not np.isfinite(points).all():
        raise ValueError(f"points must be a finite array of shape (N, D), got {points.shape}")
    if owner.shape != (len(points),) or owner.dtype.kind not in "iu":
        raise ValueError(f"owner must be {len(points)} ints, got shape {owner.shape}")
    if len(owner) and (owner.min() < 0 or owner.max() >= charts):
        raise ValueError(f"owner must hold charts in 0..{charts - 1}")
    rng = np.random.default_rng(seed)
    out: list[dict[str, float | int | None]] = []
    for j in range(charts):
        mine = points[owner == j]
        if len(mine) < 3:
            out.append({"points": len(mine), "h0": None, "h1": None})
            continue
        if len(mine) > subsample:
            mine = mine[rng.choice(len(mine), subsample, replace=False)]
        diameter = float(pdist(mine).max())
        if diameter == 0:
            out.append({"points": int((owner == j).sum()), "h0": 0.0, "h1": 0.0})
            continue
        h0, h1 = _rips_extent(mine)
        out.append({"points": int((owner == j).sum()), "h0": h0 / diameter, "h1": h1 / diameter})
    return out
