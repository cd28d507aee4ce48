"""Point clouds sampled from embedded manifolds whose topology is known.

Each manifold of :data:`MANIFOLDS` is a compact Riemannian manifold embedded in
a Euclidean space, together with its Betti numbers over Z/2 and Z/3 (they
differ for the real projective plane, which is non-orientable). The chapter on
atlas autoencoders fits its models to clouds drawn by :func:`sample_manifold`
and compares the homology of the learned nerve with these numbers.

Samples are i.i.d. and uniform with respect to the Riemannian volume of the
*embedded* manifold (not of the parameter domain), and depend only on
``(name, n, seed, noise)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from toposhape.checks import check_choice, check_float, check_int

__all__ = ["MANIFOLDS", "Manifold", "sample_manifold"]

#: Major radius R of the ring torus (distance from the z axis to the tube's centre).
TORUS_MAJOR = 2.0
#: Minor radius r of the ring torus (radius of the tube).
TORUS_MINOR = 1.0

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class Manifold:
    """A closed manifold embedded in Euclidean space, with its known homology.

    Attributes
    ----------
    name : str
        Key in :data:`MANIFOLDS`.
    dim : int
        Intrinsic dimension.
    ambient : int
        Dimension of the Euclidean space the samples live in.
    betti_z2, betti_z3 : tuple of int, length ``dim + 1``
        Betti numbers ``b_0, ..., b_dim`` with coefficients in Z/2 and Z/3.
    description : str
        One line for a table.
    """

    name: str
    dim: int
    ambient: int
    betti_z2: tuple[int, ...]
    betti_z3: tuple[int, ...]
    description: str

    def __post_init__(self) -> None:
        for field in ("name", "description"):
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"{field} must be a str, got {type(getattr(self, field)).__name__}")
        check_int("dim", self.dim, 1)
        check_int("ambient", self.ambient, self.dim)
        for field in ("betti_z2", "betti_z3"):
            betti = getattr(self, field)
            if not isinstance(betti, tuple):
                raise TypeError(f"{field} must be a tuple of ints, got {type(betti).__name__}")
            if len(betti) != self.dim + 1:
                raise ValueError(
                    f"{field} must hold dim + 1 = {self.dim + 1} Betti numbers, got {betti}"
                )
            for b in betti:
                check_int(f"every Betti number of {field}", b, 0)


#: The manifolds of the book, by name.
MANIFOLDS: dict[str, Manifold] = {
    m.name: m
    for m in (
        Manifold("circle", 1, 2, (1, 1), (1, 1), "unit circle S¹ in R²"),
        Manifold("sphere", 2, 3, (1, 0, 1), (1, 0, 1), "unit sphere S² in R³"),
        Manifold(
            "torus",
            2,
            3,
            (1, 2, 1),
            (1, 2, 1),
            f"torus S¹×S¹ in R³ (R={TORUS_MAJOR:g}, r={TORUS_MINOR:g})",
        ),
        Manifold(
            "rp2",
            2,
            6,
            (1, 1, 1),
            (1, 0, 0),
            "real projective plane RP² in R⁶ (Veronese embedding of S²)",
        ),
        Manifold(
            "torus3",
            3,
            6,
            (1, 3, 3, 1),
            (1, 3, 3, 1),
            "flat 3-torus S¹×S¹×S¹ in R⁶",
        ),
    )
}


def _uniform_angles(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n, k)`` i.i.d. angles, uniform on ``[0, 2π)``."""
    return rng.uniform(0.0, TWO_PI, size=(n, k))


def _uniform_s2(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 3)`` i.i.d. points, uniform on the unit sphere S² (normalised Gaussians)."""
    g = rng.standard_normal((n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _veronese(p: np.ndarray) -> np.ndarray:
    """Veronese map ``(x, y, z) -> (x², y², z², √2·xy, √2·yz, √2·zx)``.

    On the unit sphere it is constant on antipodal pairs and a √2-scaled
    isometry onto its image, an embedding of RP² in the unit sphere of R⁶.

    Parameters
    ----------
    p : ndarray, shape (n, 3)

    Returns
    -------
    ndarray, shape (n, 6)
    """
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    s = math.sqrt(2.0)
    return np.stack([x * x, y * y, z * z, s * x * y, s * y * z, s * z * x], axis=1)


def _circle(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = _uniform_angles(rng, n, 1)
    return np.concatenate([np.cos(t), np.sin(t)], axis=1), t


def _sphere(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = _uniform_s2(rng, n)
    theta = np.arccos(np.clip(p[:, 2], -1.0, 1.0))
    phi = np.mod(np.arctan2(p[:, 1], p[:, 0]), TWO_PI)
    return p, np.stack([theta, phi], axis=1)


def _torus(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # The area element of (u, v) -> ((R + r cos v) cos u, (R + r cos v) sin u, r sin v) is
    # r (R + r cos v) du dv: u is uniform, v is drawn by rejection against the bound R + r.
    u = _uniform_angles(rng, n, 1)[:, 0]
    accepted: list[np.ndarray] = []
    have = 0
    while have < n:
        m = 2 * (n - have) + 16  # acceptance rate R / (R + r) = 2/3
        v = rng.uniform(0.0, TWO_PI, size=m)
        w = rng.uniform(0.0, TORUS_MAJOR + TORUS_MINOR, size=m)
        keep = v[w < TORUS_MAJOR + TORUS_MINOR * np.cos(v)]
        accepted.append(keep)
        have += keep.size
    v = np.concatenate(accepted)[:n]
    ring = TORUS_MAJOR + TORUS_MINOR * np.cos(v)
    points = np.stack([ring * np.cos(u), ring * np.sin(u), TORUS_MINOR * np.sin(v)], axis=1)
    return points, np.stack([u, v], axis=1)


def _rp2(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = _uniform_s2(rng, n)
    p = np.where(p[:, 2:3] < 0.0, -p, p)
    return _veronese(p), p


def _torus3(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = _uniform_angles(rng, n, 3)
    points = np.stack([f(t[:, i]) for i in range(3) for f in (np.cos, np.sin)], axis=1)
    return points, t


_SAMPLERS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]] = {
    "circle": _circle,
    "sphere": _sphere,
    "torus": _torus,
    "rp2": _rp2,
    "torus3": _torus3,
}


def sample_manifold(
    name: str, n: int, seed: int = 0, noise: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` i.i.d. points, uniform for the Riemannian volume of a manifold.

    Parameters
    ----------
    name : str
        A key of :data:`MANIFOLDS`.
    n : int
        Number of points, ``>= 1``.
    seed : int
        Seed (``>= 0``) of the ``numpy.random.Generator(PCG64(seed))`` that draws
        everything.
    noise : float
        Standard deviation of isotropic Gaussian noise added in the ambient
        space, ``>= 0``. The noise is drawn after the clean points, so the
        clean part of a noisy cloud equals the cloud with ``noise=0``.

    Returns
    -------
    points : Tensor, float32, shape (n, ambient)
        The (noisy) samples.
    params : Tensor, float32, shape (n, m)
        Intrinsic coordinates of the clean samples, for colouring plots; angles
        lie in ``[0, 2π)`` unless stated:

        * ``circle`` (m=1): the angle t, point ``(cos t, sin t)``.
        * ``sphere`` (m=2): polar angle θ ∈ [0, π] from the +z axis and
          azimuth φ, point ``(sin θ cos φ, sin θ sin φ, cos θ)``.
        * ``torus`` (m=2): outer angle u (around the z axis) and inner angle v,
          point ``((R + r cos v) cos u, (R + r cos v) sin u, r sin v)``.
        * ``rp2`` (m=3): the representative ``p`` on S² with ``p_z >= 0`` of
          the antipodal pair; the point is its Veronese image.
        * ``torus3`` (m=3): angles ``(a, b, c)``, point
          ``(cos a, sin a, cos b, sin b, cos c, sin c)``.

    Raises
    ------
    TypeError
        If ``n`` or ``seed`` is not an integer, or ``noise`` not a number.
    ValueError
        If ``name`` is unknown, ``n < 1``, ``seed < 0``, or ``noise`` is negative or
        not finite.
    """
    check_choice("name", name, tuple(MANIFOLDS))
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    noise = check_float("noise", noise, 0.0)
    rng = np.random.Generator(np.random.PCG64(seed))
    points, params = _SAMPLERS[name](rng, n)
    if noise > 0.0:
        points = points + noise * rng.standard_normal(points.shape)
    return (
        torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(params, dtype=np.float32)),
    )
