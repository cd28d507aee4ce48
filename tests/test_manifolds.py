"""Tests of toposhape.manifolds: point clouds sampled from manifolds of known topology.

Oracles, all independent of the module's samplers:

* reference parametrisations written out here, applied to the returned ``params``;
* closed-form marginals of the volume measure (scipy.stats KS tests): on the ring torus
  the inner angle has density (R + r cos v) / (2πR); on S² the height z is uniform;
* ripser's Vietoris–Rips persistence over Z/2 and Z/3 for the homology.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats

from toposhape.manifolds import MANIFOLDS, Manifold, sample_manifold

ripser = pytest.importorskip("ripser")

NAMES = ["circle", "sphere", "torus", "rp2", "torus3"]
PARAM_DIMS = {"circle": 1, "sphere": 2, "torus": 2, "rp2": 3, "torus3": 3}
EULER = {"circle": 0, "sphere": 2, "torus": 0, "rp2": 1, "torus3": 0}
R, r = 2.0, 1.0
ATOL = 1e-5  # float32 round-off on coordinates of size <= 3


def sample(name: str, n: int, seed: int = 0, noise: float = 0.0):
    """The cloud and its parameters as float64 numpy arrays."""
    points, params = sample_manifold(name, n, seed=seed, noise=noise)
    return points.double().numpy(), params.double().numpy()


def veronese(p: np.ndarray) -> np.ndarray:
    x, y, z = p.T
    s = math.sqrt(2.0)
    return np.stack([x * x, y * y, z * z, s * x * y, s * y * z, s * z * x], axis=1)


def reference_points(name: str, q: np.ndarray) -> np.ndarray:
    """The embedding of each manifold, written from its parameters."""
    if name == "circle":
        return np.stack([np.cos(q[:, 0]), np.sin(q[:, 0])], axis=1)
    if name == "sphere":
        th, ph = q.T
        return np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=1)
    if name == "torus":
        u, v = q.T
        w = R + r * np.cos(v)
        return np.stack([w * np.cos(u), w * np.sin(u), r * np.sin(v)], axis=1)
    if name == "rp2":
        return veronese(q)
    a, b, c = q.T
    return np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)], axis=1)


def lifetimes(dgm: np.ndarray) -> np.ndarray:
    """Bar lengths of a persistence diagram, longest first."""
    return np.sort(dgm[:, 1] - dgm[:, 0])[::-1]


# ----------------------------------------------------------------------------------------------
# The table of manifolds
# ----------------------------------------------------------------------------------------------


def test_table():
    assert list(MANIFOLDS) == NAMES
    dims = {"circle": (1, 2), "sphere": (2, 3), "torus": (2, 3), "rp2": (2, 6), "torus3": (3, 6)}
    for name, m in MANIFOLDS.items():
        assert isinstance(m, Manifold)
        assert m.name == name
        assert (m.dim, m.ambient) == dims[name]
        assert len(m.betti_z2) == len(m.betti_z3) == m.dim + 1
        assert m.betti_z2[0] == m.betti_z3[0] == 1  # connected
        assert m.description and "\n" not in m.description
        # The Euler characteristic does not depend on the field.
        for betti in (m.betti_z2, m.betti_z3):
            assert sum((-1) ** i * b for i, b in enumerate(betti)) == EULER[name]
    assert MANIFOLDS["rp2"].betti_z2 == (1, 1, 1)
    assert MANIFOLDS["rp2"].betti_z3 == (1, 0, 0)
    assert MANIFOLDS["torus"].betti_z2 == MANIFOLDS["torus"].betti_z3 == (1, 2, 1)
    assert MANIFOLDS["torus3"].betti_z3 == (1, 3, 3, 1)
    assert "R=2" in MANIFOLDS["torus"].description and "r=1" in MANIFOLDS["torus"].description


def test_manifold_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MANIFOLDS["circle"].dim = 2  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------
# Shapes, dtypes, determinism
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7, 500])
def test_shapes_and_dtypes(name, n):
    points, params = sample_manifold(name, n, seed=3)
    assert isinstance(points, torch.Tensor) and isinstance(params, torch.Tensor)
    assert points.dtype == params.dtype == torch.float32
    assert points.shape == (n, MANIFOLDS[name].ambient)
    assert params.shape == (n, PARAM_DIMS[name])
    assert torch.isfinite(points).all() and torch.isfinite(params).all()


@pytest.mark.parametrize("name", NAMES)
def test_seeded(name):
    a = sample_manifold(name, 300, seed=5, noise=0.1)
    np.random.seed(123)  # noqa: NPY002 -- the legacy global state must not matter
    torch.manual_seed(123)  # the global generators play no part
    b = sample_manifold(name, 300, seed=5, noise=0.1)
    c = sample_manifold(name, 300, seed=6, noise=0.1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.allclose(a[0], c[0]) and not torch.allclose(a[1], c[1])


# ----------------------------------------------------------------------------------------------
# Points lie on the manifold
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_points_match_parametrisation(name):
    x, q = sample(name, 1000, seed=1)
    np.testing.assert_allclose(x, reference_points(name, q), atol=ATOL)


def test_angle_ranges():
    for name in ("circle", "torus", "torus3"):
        _, q = sample(name, 2000, seed=2)
        assert q.min() >= 0.0 and q.max() <= 2 * math.pi
    _, q = sample("sphere", 2000, seed=2)
    assert 0.0 <= q[:, 0].min() and q[:, 0].max() <= math.pi
    assert 0.0 <= q[:, 1].min() and q[:, 1].max() <= 2 * math.pi


@pytest.mark.parametrize("name", ["circle", "sphere"])
def test_unit_norm(name):
    x, _ = sample(name, 2000, seed=4)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=ATOL)


def test_torus_implicit_equation():
    x, _ = sample("torus", 2000, seed=4)
    rho = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose((rho - R) ** 2 + x[:, 2] ** 2, r**2, atol=ATOL)


def test_torus3_pairs_unit_norm():
    x, _ = sample("torus3", 2000, seed=4)
    for i in range(3):
        np.testing.assert_allclose(np.linalg.norm(x[:, 2 * i : 2 * i + 2], axis=1), 1.0, atol=ATOL)


def test_rp2_is_veronese_of_unit_vector():
    x, p = sample("rp2", 2000, seed=4)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=ATOL)
    assert (p[:, 2] >= 0.0).all()  # the upper-hemisphere representative
    a, b, c, d, e, f = x.T
    np.testing.assert_allclose(a + b + c, 1.0, atol=ATOL)  # trace of p pᵀ = |p|² = 1
    s = math.sqrt(2.0)
    m = np.stack(
        [
            np.stack([a, d / s, f / s], axis=1),
            np.stack([d / s, b, e / s], axis=1),
            np.stack([f / s, e / s, c], axis=1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(m, p[:, :, None] * p[:, None, :], atol=ATOL)
    # Rank one: the spectrum of M is (1, 0, 0).
    np.testing.assert_allclose(np.linalg.eigvalsh(m), [[0.0, 0.0, 1.0]] * len(m), atol=1e-5)


def test_rp2_antipodal_identification():
    x, p = sample("rp2", 500, seed=8)
    np.testing.assert_allclose(veronese(p), veronese(-p), atol=0)
    np.testing.assert_allclose(x, veronese(-p), atol=ATOL)
    # Distinct lines give distinct points: |v(p) - v(q)|² = 2 - 2 (p·q)².
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(d2, 2.0 - 2.0 * (p @ p.T) ** 2, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Uniformity with respect to the Riemannian volume
# ----------------------------------------------------------------------------------------------


def torus_inner_cdf(v: np.ndarray) -> np.ndarray:
    """CDF on [0, 2π) of the density (R + r cos v) / (2πR)."""
    return (R * v + r * np.sin(v)) / (2 * math.pi * R)


def test_torus_inner_angle_has_volume_density():
    _, q = sample("torus", 20000, seed=11)
    assert stats.kstest(q[:, 1], torus_inner_cdf).pvalue > 1e-3
    # The test has power: the same angles are far from uniform (a naive sampler would pass this).
    assert stats.kstest(q[:, 1], stats.uniform(0, 2 * math.pi).cdf).pvalue < 1e-6
    # The outer angle is uniform.
    assert stats.kstest(q[:, 0], stats.uniform(0, 2 * math.pi).cdf).pvalue > 1e-3


def test_torus_inner_angle_chi_square():
    _, q = sample("torus", 20000, seed=12)
    edges = np.linspace(0.0, 2 * math.pi, 25)
    observed, _ = np.histogram(q[:, 1], bins=edges)
    expected = len(q) * np.diff(torus_inner_cdf(edges))
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_sphere_height_uniform():
    x, q = sample("sphere", 20000, seed=13)
    assert stats.kstest(x[:, 2], stats.uniform(-1, 2).cdf).pvalue > 1e-3
    assert stats.kstest(q[:, 1], stats.uniform(0, 2 * math.pi).cdf).pvalue > 1e-3
    # Not uniform in the polar angle (that would crowd the poles).
    assert stats.kstest(q[:, 0], stats.uniform(0, math.pi).cdf).pvalue < 1e-6


def test_rp2_representative_height_uniform():
    # The upper-hemisphere representative of a uniform line has z uniform on [0, 1].
    _, p = sample("rp2", 20000, seed=14)
    assert stats.kstest(p[:, 2], stats.uniform(0, 1).cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", ["circle", "torus3"])
def test_flat_angles_uniform(name):
    _, q = sample(name, 20000, seed=15)
    for col in q.T:
        assert stats.kstest(col, stats.uniform(0, 2 * math.pi).cdf).pvalue > 1e-3


# ----------------------------------------------------------------------------------------------
# Topology (ripser)
# ----------------------------------------------------------------------------------------------


def test_circle_has_one_loop():
    x, _ = sample("circle", 200, seed=0)
    h1 = lifetimes(ripser.ripser(x, maxdim=1)["dgms"][1])
    # Observed over seeds 0-3: one bar of 1.54-1.57 (it dies near √3, the side of the
    # inscribed equilateral triangle); any other bar is tiny.
    assert len(h1[h1 > 0.5]) == 1
    assert h1[0] > 1.4


def test_torus_has_two_loops():
    x, _ = sample("torus", 800, seed=0)
    h1 = lifetimes(ripser.ripser(x, maxdim=1, n_perm=300)["dgms"][1])
    # Observed over seeds 0-3: the two loops live 1.21-1.29, the third bar 0.46-0.56.
    assert len(h1[h1 > 0.85]) == 2
    assert h1[1] > 1.0 and h1[2] < 0.7
    assert h1[1] / h1[2] > 1.8


def test_rp2_homology_depends_on_field():
    x, _ = sample("rp2", 400, seed=0)
    z2 = ripser.ripser(x, maxdim=2, n_perm=200, coeff=2)["dgms"]
    z3 = ripser.ripser(x, maxdim=2, n_perm=200, coeff=3)["dgms"]
    # Observed over seeds 0-3: over Z/2 one H1 bar of 0.96-0.97 and one H2 bar of 0.64-0.71;
    # every other H1 bar (either field) lives < 0.36 and every other H2 bar < 0.04.
    h1_z2, h1_z3 = lifetimes(z2[1]), lifetimes(z3[1])
    assert len(h1_z2[h1_z2 > 0.6]) == 1 and h1_z2[1] < 0.45
    assert len(h1_z3[h1_z3 > 0.6]) == 0
    h2_z2, h2_z3 = lifetimes(z2[2]), lifetimes(z3[2])
    assert len(h2_z2[h2_z2 > 0.3]) == 1 and h2_z2[1] < 0.1
    assert len(h2_z3[h2_z3 > 0.3]) == 0


# ----------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_noise_is_isotropic_gaussian_of_given_std(name):
    noise = 0.05
    clean, q0 = sample(name, 4000, seed=21)
    noisy, q1 = sample(name, 4000, seed=21, noise=noise)
    np.testing.assert_array_equal(q0, q1)  # same clean points underneath
    diff = noisy - clean
    d = MANIFOLDS[name].ambient
    # Each coordinate of the difference is N(0, noise²).
    np.testing.assert_allclose(diff.std(axis=0), noise, rtol=0.1)
    np.testing.assert_allclose(diff.mean(axis=0), 0.0, atol=4 * noise / math.sqrt(len(diff)))
    # Mean displacement ≈ noise·E|N(0, I_d)| ≈ noise·√d.
    mean_dist = np.linalg.norm(diff, axis=1).mean()
    assert 0.6 * noise * math.sqrt(d) < mean_dist < 1.1 * noise * math.sqrt(d)


def test_noise_moves_points_off_sphere():
    x, _ = sample("sphere", 4000, seed=22, noise=0.1)
    dev = np.abs(np.linalg.norm(x, axis=1) - 1.0)
    assert 0.05 < dev.mean() < 0.15  # E|N(0, 0.1²)| ≈ 0.08 radially


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def test_unknown_name():
    with pytest.raises(ValueError, match="name") as err:
        sample_manifold("klein", 10)
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize("n", [0, -3])
def test_bad_n(n):
    with pytest.raises(ValueError, match=r"\bn\b"):
        sample_manifold("circle", n)


def test_non_integer_n():
    with pytest.raises(TypeError, match=r"\bn\b"):
        sample_manifold("circle", 2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("noise", [-1.0, -1e-9, math.nan, math.inf])
def test_bad_noise(noise):
    with pytest.raises(ValueError, match="noise"):
        sample_manifold("circle", 10, noise=noise)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 2.0}, TypeError, r"^n must be an int"),
        ({"n": True}, TypeError, r"^n must be an int"),
        ({"n": "10"}, TypeError, r"^n must be an int"),
        ({"seed": -1}, ValueError, r"^seed must be an int >= 0"),
        ({"seed": 1.5}, TypeError, r"^seed must be an int"),
        ({"seed": None}, TypeError, r"^seed must be an int"),
        ({"noise": "0.1"}, TypeError, r"^noise must be a number"),
        ({"noise": True}, TypeError, r"^noise must be a number"),
        ({"name": None}, TypeError, r"^name must be a string"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        sample_manifold(**{"name": "circle", "n": 10, **kwargs})


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"name": 1}, TypeError, r"^name must be a str"),
        ({"description": None}, TypeError, r"^description must be a str"),
        ({"dim": 0}, ValueError, r"^dim must be an int >= 1"),
        ({"dim": 1.0}, TypeError, r"^dim must be an int"),
        ({"ambient": 0}, ValueError, r"^ambient must be an int >= 1"),
        ({"betti_z2": [1, 1]}, TypeError, r"^betti_z2 must be a tuple"),
        ({"betti_z3": (1,)}, ValueError, r"^betti_z3 must hold dim \+ 1 = 2 Betti numbers"),
        ({"betti_z2": (1, -1)}, ValueError, r"^every Betti number of betti_z2 must be an int >= 0"),
    ],
)
def test_bad_manifold_fields_name_the_field(change, error, match):
    fields = dataclasses.asdict(MANIFOLDS["circle"]) | change
    with pytest.raises(error, match=match):
        Manifold(**fields)
