"""Tests of toposhape.covers: the hand-built soft covers behind the atlas chapter's controls.

Oracles: distances recomputed from the embedded points (great circles, lines through the
origin, flat angles); the nerve of a cover built directly from which charts each sample
belongs to (``q_j ≥ ε``) in a gudhi SimplexTree, whose Betti numbers over Z/2 and Z/3
(gudhi's coefficient fields) must be the manifold's for the good covers and not for the bad
ones; exact simplex counts of the 3 × 3 torus grid; and gudhi's Rips persistence for the
chart measures (the library uses ripser).
"""

import itertools
import math

import gudhi
import numpy as np
import pytest

from toposhape.covers import (
    COVERS,
    Cover,
    chart_persistence,
    cover_memberships,
    intrinsic_distances,
    membership_entropy,
    owners,
    soft_memberships,
)
from toposhape.manifolds import MANIFOLDS, sample_manifold


def _params(manifold: str, n: int = 3000, seed: int = 1) -> np.ndarray:
    return sample_manifold(manifold, n, seed=seed)[1].double().numpy()


def _sphere_points(params: np.ndarray) -> np.ndarray:
    theta, phi = params[:, 0], params[:, 1]
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)


def test_sphere_distances_are_great_circle_angles():
    params = _params("sphere", 200)
    c = COVERS["sphere-6"].landmarks
    points = _sphere_points(params)
    chord = np.linalg.norm(points[:, None] - c[None], axis=-1)
    np.testing.assert_allclose(
        intrinsic_distances("sphere", params, c), 2 * np.arcsin(chord / 2), atol=1e-9
    )


def test_rp2_distances_are_angles_between_lines():
    params = _params("rp2", 200)
    c = COVERS["rp2-9"].landmarks
    d = intrinsic_distances("rp2", params, c)
    np.testing.assert_allclose(d, intrinsic_distances("rp2", -params, c), atol=1e-12)
    chord = np.minimum(
        np.linalg.norm(params[:, None] - c[None], axis=-1),
        np.linalg.norm(params[:, None] + c[None], axis=-1),
    )
    # the samples are float32 unit vectors; arccos amplifies their rounding near 0
    np.testing.assert_allclose(d, 2 * np.arcsin(chord / 2), atol=1e-5)
    assert d.max() <= math.pi / 2 + 1e-12


def test_torus_and_circle_distances_wrap_around():
    params = np.array([[0.1, 6.2], [3.0, 3.0]])
    d = intrinsic_distances("torus", params, np.array([[6.2, 0.1]]))
    wrap = 2 * math.pi - 6.1  # both angles differ by 6.1, the short way round
    np.testing.assert_allclose(d[0, 0], math.hypot(wrap, wrap), atol=1e-12)
    d = intrinsic_distances("circle", np.array([[0.05]]), np.array([[2 * math.pi - 0.05]]))
    np.testing.assert_allclose(d, [[0.1]], atol=1e-12)


def test_rp2_landmarks_are_well_spread_unit_lines():
    for k in (9, 12, 16):
        c = COVERS[f"rp2-{k}"].landmarks
        np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-12)
        assert (c[:, 2] >= 0).all()
        angles = intrinsic_distances("rp2", c, c) + np.eye(k) * 9
        # spread: no two lines closer than half of a regular spacing on the hemisphere
        assert angles.min() > 0.5 * math.sqrt(2 * math.pi / k)


@pytest.mark.parametrize("entropy", [0.05, 0.3, 1.0])
def test_soft_memberships_reach_the_entropy_and_sum_to_one(entropy):
    d = intrinsic_distances("torus", _params("torus"), COVERS["torus-3x4"].landmarks)
    q, tau = soft_memberships(d, entropy)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert membership_entropy(q) == pytest.approx(entropy, rel=1e-6)
    expected = np.exp(-(d**2) / tau)
    np.testing.assert_allclose(q, expected / expected.sum(axis=1, keepdims=True), atol=1e-12)


def test_grouped_memberships_are_sums_over_the_group():
    cover = COVERS["sphere-3"]
    params = _params("sphere", 500)
    q, tau = cover_memberships(cover, params, 0.3)
    d = intrinsic_distances("sphere", params, cover.landmarks)
    single = np.exp(-(d**2) / tau)
    single /= single.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(q, single[:, :3] + single[:, 3:], atol=1e-12)
    assert cover.charts == 3
    np.testing.assert_array_equal(owners(cover, params), q.argmax(axis=1))


def test_membership_entropy_of_one_hot_and_uniform_rows():
    assert membership_entropy(np.eye(4)) == pytest.approx(0.0)
    assert membership_entropy(np.full((3, 5), 0.2)) == pytest.approx(math.log(5))


def _nerve_betti(q: np.ndarray, level: float, field: int, max_dim: int) -> tuple[list, list]:
    """Betti numbers of the nerve of {x : q_j(x) ≥ level} (gudhi, built from supports)."""
    tree = gudhi.SimplexTree()
    for j in range(q.shape[1]):
        tree.insert([j])
    for support in {tuple(np.flatnonzero(row >= level)) for row in q}:
        for size in range(2, min(len(support), max_dim + 1) + 1):
            for simplex in itertools.combinations(support, size):
                tree.insert(list(simplex))
    tree.compute_persistence(homology_coeff_field=field, persistence_dim_max=True)
    betti = tree.betti_numbers() + [0] * (max_dim + 1)
    counts = [0] * (max_dim + 1)
    for simplex, _ in tree.get_simplices():
        counts[len(simplex) - 1] += 1
    return betti[:max_dim], counts


@pytest.mark.parametrize("name", list(COVERS))
def test_good_covers_have_the_nerve_of_their_manifold_and_bad_ones_do_not(name):
    cover = COVERS[name]
    manifold = MANIFOLDS[cover.manifold]
    q, _ = cover_memberships(cover, _params(cover.manifold, 20000), 0.1)
    for field, truth in ((2, manifold.betti_z2), (3, manifold.betti_z3)):
        betti, _ = _nerve_betti(q, 0.02, field, manifold.dim + 1)
        assert (tuple(betti) == truth) == cover.good, (field, betti)


def test_the_3x3_torus_grid_nerve_is_every_pair_with_a_tetrahedron_per_corner():
    q, _ = cover_memberships(COVERS["torus-3x3"], _params("torus", 20000), 0.1)
    _, counts = _nerve_betti(q, 0.02, 2, 3)
    # every two cells of a 3 × 3 grid on the torus meet; 9 corners, 4 cells each
    assert counts == [9, 36, 9 * 4, 9]


def _gudhi_extent(points: np.ndarray) -> tuple[float, float]:
    tree = gudhi.RipsComplex(points=points).create_simplex_tree(max_dimension=2)
    tree.compute_persistence()
    h0 = np.asarray(tree.persistence_intervals_in_dimension(0))
    h1 = np.asarray(tree.persistence_intervals_in_dimension(1)).reshape(-1, 2)
    finite = h0[np.isfinite(h0[:, 1]), 1]
    return finite.max(), (h1[:, 1] - h1[:, 0]).max() if len(h1) else 0.0


def test_chart_persistence_matches_gudhi_and_tells_the_shapes_apart():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * math.pi, 60)
    ring = np.stack([np.cos(angle), np.sin(angle)], 1) * rng.uniform(0.9, 1.1, (60, 1))
    blobs = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(3, 0.1, (30, 2))])
    disc = rng.uniform(-1, 1, (60, 2))
    points = np.concatenate([ring, blobs, disc])
    owner = np.repeat([0, 1, 2], 60)
    out = chart_persistence(points, owner, 4, subsample=100)
    for j, mine in enumerate((ring, blobs, disc)):
        diameter = max(np.linalg.norm(a - b) for a in mine for b in mine)
        h0, h1 = _gudhi_extent(mine)
        assert out[j]["points"] == 60
        assert out[j]["h0"] == pytest.approx(h0 / diameter, rel=1e-5)
        assert out[j]["h1"] == pytest.approx(h1 / diameter, rel=1e-5)
    assert out[0]["h1"] > 0.3 > out[0]["h0"]  # an annulus
    assert out[1]["h0"] > 0.3  # two pieces
    assert max(out[2]["h0"], out[2]["h1"]) < 0.3  # a disc
    assert out[3] == {"points": 0, "h0": None, "h1": None}  # owns nothing


def test_chart_persistence_subsamples_large_charts_reproducibly():
    points = np.random.default_rng(1).uniform(size=(500, 2))
    owner = np.zeros(500, dtype=int)
    a = chart_persistence(points, owner, 1, subsample=50, seed=3)
    assert a == chart_persistence(points, owner, 1, subsample=50, seed=3)
    assert a[0]["points"] == 500


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: intrinsic_distances("klein", np.zeros((1, 2)), np.zeros((1, 2))), ValueError,
         r"^manifold"),
        (lambda: intrinsic_distances("torus", np.zeros((3, 3)), np.zeros((1, 2))), ValueError,
         r"^params of the torus"),
        (lambda: intrinsic_distances("circle", np.zeros((3, 1)), np.zeros((0, 1))), ValueError,
         r"^landmarks of the circle"),
        (lambda: soft_memberships(-np.ones((2, 3)), 0.5), ValueError, r"^distances"),
        (lambda: soft_memberships(np.ones((2, 3)), math.log(3)), ValueError, r"^entropy"),
        (lambda: soft_memberships(np.ones((2, 3)), 0.1, groups=(0, 1)), ValueError, r"^groups"),
        (lambda: cover_memberships("torus-3x3", np.zeros((1, 2)), 0.1), TypeError, r"^cover"),
        (lambda: owners(None, np.zeros((1, 2))), TypeError, r"^cover"),
        (lambda: chart_persistence(np.zeros((3, 2)), np.zeros(2, int), 1), ValueError, r"^owner"),
        (lambda: chart_persistence(np.zeros((3, 2)), np.full(3, 2), 2), ValueError, r"^owner"),
        (lambda: chart_persistence(np.zeros((3, 2)), np.zeros(3, int), 0), ValueError, r"^charts"),
        (lambda: chart_persistence(np.zeros((3, 2)), np.zeros(3, int), 1, 2), ValueError,
         r"^subsample"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_cover_knows_its_chart_count():
    cover = Cover("x", "circle", np.zeros((5, 1)), True, "five")
    assert cover.charts == 5
    assert {c.manifold for c in COVERS.values()} == {"circle", "sphere", "torus", "rp2"}
