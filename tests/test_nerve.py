"""Tests of toposhape.nerve: fuzzy Čech nerves of chart memberships.

The main oracle is a family of hand-made atlases whose nerve is known. Points are
sampled inside the simplices of a triangulated space and given as memberships
their barycentric coordinates, placed in the columns of the simplex's vertices:
a partition of unity subordinate to the open stars of the vertices, whose nerve
is the triangulation itself. The barcodes must then recover the homology of the
circle, sphere, torus and projective plane (the last one over Z/2 and Z/3, which
disagree). Overlap values are checked against direct loops over samples.
"""

import itertools
import math
import time
import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from toposhape import nerve
from toposhape.nerve import (
    betti_numbers,
    check_memberships,
    clip_barcodes,
    nerve_barcodes,
    nerve_persistence,
    pair_overlaps,
    persistent_betti,
    plot_barcodes,
    simplex_strengths,
)

pytest.importorskip("gudhi")

# ----------------------------------------------------------------------------------------------
# Triangulations (top simplices as vertex tuples)
# ----------------------------------------------------------------------------------------------

HEXAGON = [(i, (i + 1) % 6) for i in range(6)]
SQUARE = [(i, (i + 1) % 4) for i in range(4)]
# Boundary of the octahedron: antipodal pairs {0,1}, {2,3}, {4,5}.
OCTAHEDRON = [(a, b, c) for a in (0, 1) for b in (2, 3) for c in (4, 5)]
# Minimal (6-vertex) triangulation of the real projective plane.
RP2 = [
    (0, 1, 2),
    (0, 2, 3),
    (0, 3, 4),
    (0, 4, 5),
    (0, 5, 1),
    (1, 2, 4),
    (2, 3, 5),
    (3, 4, 1),
    (4, 5, 2),
    (5, 1, 3),
]
# Möbius–Császár 7-vertex torus.
TORUS = [(i, (i + 1) % 7, (i + 3) % 7) for i in range(7)] + [
    (i, (i + 2) % 7, (i + 3) % 7) for i in range(7)
]


def barycentric_cover(tops, k, per_simplex=5, seed=0, vertices=True):
    """Memberships of shape (N, k): Dirichlet(1,...,1) barycentric coordinates of
    ``per_simplex`` random interior points of each top simplex, in the columns of
    its vertices, followed by the ``k`` vertex points (rows of the identity)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for simplex in tops:
        block = np.zeros((per_simplex, k))
        block[:, list(simplex)] = rng.dirichlet(np.ones(len(simplex)), size=per_simplex)
        blocks.append(block)
    if vertices:
        blocks.append(np.eye(k))
    return np.vstack(blocks)


def essential(barcodes):
    """Number of bars with infinite death, per dimension."""
    return tuple(int(np.isinf(bars[:, 1]).sum()) for _, bars in sorted(barcodes.items()))


def faces(tops, size):
    return {f for s in tops for f in itertools.combinations(sorted(s), size)}


def last_event(barcodes):
    """The largest finite birth or death: after it the complex no longer changes."""
    values = np.concatenate([bars.ravel() for bars in barcodes.values()])
    return float(values[np.isfinite(values)].max())


def random_memberships(k, n, seed, alpha=1.0):
    return np.random.default_rng(seed).dirichlet(np.full(k, alpha), size=n)


# ----------------------------------------------------------------------------------------------
# The test triangulations themselves
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tops", "n_vertices", "n_edges", "euler"),
    [(OCTAHEDRON, 6, 12, 2), (RP2, 6, 15, 1), (TORUS, 7, 21, 0)],
    ids=["sphere", "rp2", "torus"],
)
def test_triangulations_are_closed_surfaces_with_the_right_euler_characteristic(
    tops, n_vertices, n_edges, euler
):
    triangles = {tuple(sorted(t)) for t in tops}
    assert len(triangles) == len(tops)
    edge_count = Counter(e for t in triangles for e in itertools.combinations(t, 2))
    assert set(edge_count.values()) == {2}  # every edge in exactly two triangles
    vertices = {v for t in triangles for v in t}
    assert len(vertices) == n_vertices and len(edge_count) == n_edges
    assert len(vertices) - len(edge_count) + len(triangles) == euler


def test_barycentric_cover_is_a_partition_of_unity_whose_nerve_is_the_triangulation():
    q = barycentric_cover(RP2, 6, per_simplex=3, seed=1)
    assert q.shape == (10 * 3 + 6, 6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    strengths = simplex_strengths(q, max_dim=3)
    assert set(strengths) == faces(RP2, 2) | faces(RP2, 3)


# ----------------------------------------------------------------------------------------------
# Barcodes of known spaces
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tops", "k"), [(HEXAGON, 6), (SQUARE, 4)], ids=["hexagon", "square"])
def test_circle_has_one_component_and_one_loop(tops, k):
    q = barycentric_cover(tops, k, seed=2)
    bars = nerve_persistence(q, max_dim=2)
    assert sorted(bars) == [0, 1]
    assert essential(bars) == (1, 1)
    assert bars[0].shape == (k, 2) and bars[1].shape == (1, 2)  # no triangles: no finite H1
    # A cycle graph: the components merge along all edges but the last one to enter,
    # which closes the loop.
    edge_t = np.sort([1 - u for u in simplex_strengths(q, max_dim=2).values()])
    assert len(edge_t) == k
    np.testing.assert_allclose(bars[0][:-1, 1], edge_t[:-1])
    np.testing.assert_allclose(bars[1][0], [edge_t[-1], np.inf])
    np.testing.assert_array_equal(bars[0][:, 0], 0.0)
    assert betti_numbers(bars, 0.0) == (k, 0)
    assert betti_numbers(bars, (edge_t[-1] + 1) / 2) == (1, 1)
    # The paper's simpler ε-rule recovers the same homology.
    bars_min = nerve_persistence(q, max_dim=2, rule="min")
    assert persistent_betti(bars_min, 1.0) == persistent_betti(bars, 1.0) == (1, 1)
    assert betti_numbers(bars_min, (last_event(bars_min) + 1) / 2) == (1, 1)


@pytest.mark.parametrize("rule", ["product", "min"])
@pytest.mark.parametrize("field", [2, 3])
def test_sphere_has_one_component_no_loop_and_one_void(rule, field):
    q = barycentric_cover(OCTAHEDRON, 6, seed=3)
    bars = nerve_persistence(q, max_dim=3, field=field, rule=rule)
    assert sorted(bars) == [0, 1, 2]  # H3 is not reported
    assert essential(bars) == (1, 0, 1)
    assert betti_numbers(bars, last_event(bars)) == (1, 0, 1)
    assert persistent_betti(bars, 1.0) == (1, 0, 1)


@pytest.mark.parametrize("rule", ["product", "min"])
@pytest.mark.parametrize(("field", "expected"), [(2, (1, 1, 1)), (3, (1, 0, 0)), (5, (1, 0, 0))])
def test_projective_plane_homology_depends_on_the_field(rule, field, expected):
    # H1(RP²; Z/2) = H2(RP²; Z/2) = Z/2, but over Z/p with p odd both vanish.
    q = barycentric_cover(RP2, 6, seed=4)
    bars = nerve_persistence(q, max_dim=3, field=field, rule=rule)
    assert essential(bars) == expected
    assert betti_numbers(bars, last_event(bars)) == expected


@pytest.mark.parametrize("field", [2, 3])
def test_torus_has_two_loops_and_one_void(field):
    q = barycentric_cover(TORUS, 7, seed=5)
    bars = nerve_persistence(q, max_dim=3, field=field)
    assert essential(bars) == (1, 2, 1)


def test_max_dim_limits_the_reported_dimensions():
    q = barycentric_cover(OCTAHEDRON, 6, seed=6)
    # With only edges the octahedron's 7 independent loops would never be filled,
    # so H1 is not reported at max_dim=1; at max_dim=2 the triangles fill them all.
    assert sorted(nerve_persistence(q, max_dim=1)) == [0]
    assert essential(nerve_persistence(q, max_dim=1)) == (1,)
    assert essential(nerve_persistence(q, max_dim=2)) == (1, 0)


def test_two_disjoint_clusters_of_charts_give_two_essential_components():
    a = barycentric_cover(HEXAGON, 6, seed=7)
    b = barycentric_cover(OCTAHEDRON, 6, seed=8)
    q = np.zeros((len(a) + len(b), 12))
    q[: len(a), :6] = a
    q[len(a) :, 6:] = b
    u = pair_overlaps(q)
    np.testing.assert_array_equal(u[:6, 6:], 0.0)
    bars = nerve_persistence(q, max_dim=3)
    assert bars[0].shape == (12, 2)
    assert essential(bars) == (2, 1, 1)  # the hexagon's loop and the octahedron's void
    assert betti_numbers(bars, last_event(bars)) == (2, 1, 1)


def test_barcodes_are_sorted_by_birth_then_death():
    q = random_memberships(8, 200, seed=9, alpha=0.3)
    for bars in nerve_persistence(q, max_dim=3).values():
        assert bars.ndim == 2 and bars.shape[1] == 2
        order = np.lexsort((bars[:, 1], bars[:, 0]))
        np.testing.assert_array_equal(order, np.arange(len(bars)))
        assert np.all(bars[:, 1] > bars[:, 0])
        assert np.all((bars[:, 0] >= 0) & (bars[:, 0] <= 1))


def test_torch_input_gives_the_same_barcodes():
    q = barycentric_cover(SQUARE, 4, seed=10)
    got = nerve_persistence(torch.tensor(q, requires_grad=True), max_dim=2)
    want = nerve_persistence(q, max_dim=2)
    assert sorted(got) == sorted(want)
    for d in want:
        np.testing.assert_array_equal(got[d], want[d])


# ----------------------------------------------------------------------------------------------
# Overlap values against loops over samples
# ----------------------------------------------------------------------------------------------


def overlaps_by_loops(q):
    n, k = q.shape
    u = np.eye(k)
    for a in range(k):
        for b in range(k):
            if a == b:
                continue
            s = sum(q[i, a] * q[i, b] for i in range(n))
            qa, qb = sum(q[:, a]), sum(q[:, b])
            u[a, b] = 0.5 * ((s / qa if qa > 0 else 0.0) + (s / qb if qb > 0 else 0.0))
    return u


def check_overlap_matrix(q, u):
    k = q.shape[1]
    assert u.shape == (k, k) and u.dtype == np.float64
    np.testing.assert_allclose(u, overlaps_by_loops(q), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(u, u.T)
    np.testing.assert_array_equal(np.diag(u), 1.0)
    assert np.all((u >= 0) & (u <= 1))


@settings(max_examples=50, deadline=None)
@given(
    k=st.integers(1, 6),
    n=st.integers(1, 25),
    seed=st.integers(0, 2**32 - 1),
    alpha=st.sampled_from([0.05, 0.5, 1.0, 5.0]),
    zero_chart=st.booleans(),
)
def test_pair_overlaps_match_loops_and_are_invariant(k, n, seed, alpha, zero_chart):
    if zero_chart and k > 1:  # chart 0 holds no mass
        q = np.hstack([np.zeros((n, 1)), random_memberships(k - 1, n, seed, alpha)])
    else:
        q = random_memberships(k, n, seed, alpha)
    u = pair_overlaps(q)
    check_overlap_matrix(q, u)
    # Relabelling the charts relabels the matrix.
    perm = np.random.default_rng(seed).permutation(k)
    np.testing.assert_allclose(pair_overlaps(q[:, perm]), u[np.ix_(perm, perm)], rtol=1e-12)
    # Only the empirical distribution matters: duplicating every sample changes nothing.
    np.testing.assert_allclose(pair_overlaps(np.vstack([q, q])), u, rtol=1e-12)
    np.testing.assert_allclose(pair_overlaps(q[::-1]), u, rtol=1e-12)


def test_pair_overlaps_of_hand_computed_memberships():
    q = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]])
    # S = 0.25, Q = (1.5, 2.5): u = (0.25 / 1.5 + 0.25 / 2.5) / 2.
    np.testing.assert_allclose(pair_overlaps(q)[0, 1], (1 / 6 + 1 / 10) / 2)
    # Two charts sharing every sample equally: each is half of the other.
    np.testing.assert_allclose(pair_overlaps(np.full((3, 2), 0.5)), [[1, 0.5], [0.5, 1]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simplex_strengths_agree_with_brute_force(seed):
    q = random_memberships(6, 40, seed, alpha=0.4)
    q[q < 0.05] = 0.0  # make some simplices empty
    q /= q.sum(axis=1, keepdims=True)
    k = q.shape[1]
    u2 = pair_overlaps(q)
    product = simplex_strengths(q, max_dim=3, rule="product")
    minimum = simplex_strengths(q, max_dim=3, rule="min")
    mass = q.sum(axis=0)
    for size in (2, 3, 4):
        for s in itertools.combinations(range(k), size):
            joint = sum(np.prod([q[i, j] for j in s]) for i in range(len(q)))
            want_product = np.mean([joint / mass[j] for j in s])
            want_min = max(min(q[i, j] for j in s) for i in range(len(q)))
            if size == 2:
                assert want_product == pytest.approx(u2[s], rel=1e-12)
            if want_product > 0:
                assert product[s] == pytest.approx(want_product, rel=1e-12)
            else:
                assert s not in product
            if want_min > 0:
                assert minimum[s] == want_min
            else:
                assert s not in minimum
    assert set(product) == set(minimum)  # both are supported by the same samples
    assert all(len(s) <= 4 for s in product)
    assert all(0 < v <= 1 for v in [*product.values(), *minimum.values()])
    assert set(simplex_strengths(q, max_dim=1)) == {s for s in product if len(s) == 2}


@pytest.mark.parametrize("rule", ["product", "min"])
@pytest.mark.parametrize(("tops", "k"), [(TORUS, 7), (RP2, 6)], ids=["torus", "rp2"])
def test_strengths_from_the_charts_that_meet_equal_those_from_all_subsets(rule, tops, k):
    # Sparse covers: the candidates are the subsets of the samples' supports, not all
    # subsets of the k charts; the values must be those of a loop over all subsets.
    q = barycentric_cover(tops, k, seed=14)
    assert len(nerve._chart_families(q, 3, nerve.MAX_SIMPLICES)) > 1  # the sparse path
    mass = q.sum(axis=0)
    want = {}
    for size in (2, 3, 4):
        for s in itertools.combinations(range(k), size):
            if rule == "product":
                u = np.mean([np.prod(q[:, list(s)], axis=1).sum() / mass[j] for j in s])
            else:
                u = q[:, list(s)].min(axis=1).max()
            if u > 0:
                want[s] = u
    got = simplex_strengths(q, max_dim=3, rule=rule)
    assert list(got) == sorted(want, key=lambda s: (len(s), s))
    np.testing.assert_allclose([got[s] for s in want], list(want.values()), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(k=st.integers(2, 6), n=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_min_rule_is_monotone_on_faces(k, n, seed):
    q = random_memberships(k, n, seed, alpha=0.3)
    u = simplex_strengths(q, max_dim=3, rule="min")
    for s, v in u.items():
        for f in itertools.combinations(s, len(s) - 1):
            if len(f) > 1:
                assert u[f] >= v


def test_product_rule_can_be_non_monotone_and_the_filtration_is_repaired():
    # Charts 0 and 1 hold much mass alone and meet only in one sample, which also
    # holds all of chart 2's small mass: the triangle is stronger than edge (0, 1).
    q = np.zeros((201, 3))
    q[:100, 0] = 1.0
    q[100:200, 1] = 1.0
    q[200] = 1 / 3
    u = simplex_strengths(q, max_dim=2)
    assert u[(0, 1, 2)] > u[(0, 1)]
    tree = nerve._nerve_simplex_tree(check_memberships(q), 2, "product", "linear")
    # The triangle enters with its last face, edge (0, 1).
    assert tree.filtration([0, 1]) == pytest.approx(1 - u[(0, 1)])
    assert tree.filtration([0, 2]) == pytest.approx(1 - u[(0, 2)])
    assert tree.filtration([0, 1, 2]) == tree.filtration([0, 1])
    bars = nerve_persistence(q, max_dim=2)
    assert essential(bars) == (1, 0) and len(bars[1]) == 0


def test_the_test_covers_need_no_repair_of_the_product_filtration():
    for tops, k in [(HEXAGON, 6), (OCTAHEDRON, 6), (RP2, 6), (TORUS, 7)]:
        u = simplex_strengths(barycentric_cover(tops, k, seed=11), max_dim=3)
        for s, v in u.items():
            assert all(u[f] >= v for f in itertools.combinations(s, len(s) - 1) if len(f) > 1)


def test_a_chart_without_mass_gives_no_nan_and_an_isolated_vertex():
    q = np.zeros((len(barycentric_cover(SQUARE, 4)), 5))
    q[:, :4] = barycentric_cover(SQUARE, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u = pair_overlaps(q)
        strengths = simplex_strengths(q, max_dim=2)
        bars = nerve_persistence(q, max_dim=2)
    assert np.isfinite(u).all()
    np.testing.assert_array_equal(u[4, :4], 0.0)
    assert u[4, 4] == 1.0
    assert all(4 not in s for s in strengths)
    assert essential(bars) == (2, 1)


# ----------------------------------------------------------------------------------------------
# Betti numbers from barcodes
# ----------------------------------------------------------------------------------------------


def test_betti_numbers_and_persistent_betti_count_the_right_bars():
    bars = {
        0: np.array([[0.0, 0.3], [0.0, np.inf]]),
        1: np.array([[0.2, 0.9], [0.5, 0.6]]),
        2: np.empty((0, 2)),
    }
    assert betti_numbers(bars, 0.0) == (2, 0, 0)
    assert betti_numbers(bars, 0.2) == (2, 1, 0)  # born at t: alive
    assert betti_numbers(bars, 0.3) == (1, 1, 0)  # dies at t: gone
    assert betti_numbers(bars, 0.55) == (1, 2, 0)
    assert betti_numbers(bars, 5.0) == (1, 0, 0)
    assert persistent_betti(bars, 0.0) == (2, 2, 0)
    assert persistent_betti(bars, 0.3) == (2, 1, 0)
    assert persistent_betti(bars, 0.7) == (1, 1, 0)
    assert persistent_betti(bars, 0.71) == (1, 0, 0)
    assert persistent_betti(bars, 1e9) == (1, 0, 0)
    with pytest.raises(ValueError, match="min_length"):
        persistent_betti(bars, -0.1)


@pytest.mark.parametrize("scale", ["linear", "log"])
@pytest.mark.parametrize(("tops", "k"), [(RP2, 6), (TORUS, 7)], ids=["rp2", "torus"])
def test_nerve_barcodes_equal_one_persistence_per_field(tops, k, scale):
    q = barycentric_cover(tops, k, seed=4)
    together = nerve_barcodes(q, max_dim=3, fields=(2, 3, 5), rule="min", scale=scale)
    assert list(together) == [2, 3, 5]
    for field, bars in together.items():
        alone = nerve_persistence(q, max_dim=3, field=field, rule="min", scale=scale)
        assert bars.keys() == alone.keys()
        for dim in bars:
            np.testing.assert_array_equal(bars[dim], alone[dim])


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [([2], TypeError, r"^fields must be a tuple"), ((), ValueError, r"^fields must hold"),
     ((2, 4), ValueError, r"^field must be a prime")],
)  # fmt: skip
def test_nerve_barcodes_checks_the_fields(fields, error, match):
    with pytest.raises(error, match=match):
        nerve_barcodes(random_memberships(3, 10, seed=0), fields=fields)


def test_clip_barcodes_keeps_what_the_window_shows():
    bars = {
        0: np.array([[0.0, np.inf], [0.2, 0.5]]),
        1: np.array([[0.5, 4.0], [3.0, 9.0], [3.5, 3.6], [1.0, 2.0]]),
        2: np.empty((0, 2)),
    }
    clipped = clip_barcodes(bars, 3.0)
    np.testing.assert_array_equal(clipped[0], [[0.0, 3.0], [0.2, 0.5]])
    np.testing.assert_array_equal(clipped[1], [[0.5, 3.0], [1.0, 2.0]])  # sorted by birth
    assert clipped[2].shape == (0, 2)
    # the window's lengths are those of the filtration cut at its end: a brute-force oracle
    for t in np.linspace(0.0, 2.99, 23):
        assert betti_numbers(clipped, t) == betti_numbers(bars, t)
    assert persistent_betti(clipped, 2.5) == (1, 1, 0)  # the essential class is 3 long
    assert bars[1].shape == (4, 2)  # the input is not changed
    with pytest.raises(ValueError, match=r"^end"):
        clip_barcodes(bars, 0.0)
    with pytest.raises(ValueError, match=r"^end"):
        clip_barcodes(bars, np.inf)


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def test_check_memberships_converts_and_cleans():
    q = torch.tensor([[0.25, 0.75], [1.0 + 1e-7, -1e-7]], dtype=torch.float32)
    out = check_memberships(q)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (2, 2)
    assert out.min() == 0.0
    src = np.array([[0.5, 0.5]])
    check_memberships(src)[0, 0] = 7.0
    assert src[0, 0] == 0.5  # a copy
    np.testing.assert_array_equal(check_memberships([[1.0, 0.0, 0.0]]), [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("q", "match"),
    [
        (np.full(3, 1 / 3), r"q must be a 2-D array"),
        (np.full((2, 2, 2), 0.5), r"q must be a 2-D array"),
        (np.zeros((0, 3)), r"q needs at least 1 sample and 1 chart"),
        (np.zeros((3, 0)), r"q needs at least 1 sample and 1 chart"),
        (np.array([[0.5, 0.5], [np.nan, 1.0]]), r"q contains NaN or inf"),
        (np.array([[0.5, 0.5], [np.inf, 1.0]]), r"q contains NaN or inf"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), r"q must be non-negative.*q\[0, 1\] = -0\.5"),
        (np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.7], [0.5, 0.51]]), r"row 2 sums to 1\.2"),
        (np.zeros((2, 2)), r"rows of q.*row 0 sums to 0"),
    ],
)
def test_bad_memberships_are_rejected_everywhere(q, match):
    for fn in (check_memberships, pair_overlaps, simplex_strengths, nerve_persistence):
        with pytest.raises(ValueError, match=match):
            fn(q)


def test_check_memberships_names_the_argument():
    with pytest.raises(ValueError, match=r"^rows of memberships .* row 0 sums to 2"):
        check_memberships(np.ones((1, 2)), name="memberships")


@pytest.mark.parametrize(
    ("q", "error", "match"),
    [
        ("abc", TypeError, r"^q must hold real numbers"),
        (None, TypeError, r"^q must hold real numbers"),
        (np.array([[True, False]]), TypeError, r"^q must hold real numbers.*bool"),
        (np.array([[1 + 0j, 0j]]), TypeError, r"^q must hold real numbers.*complex"),
        (torch.tensor([[True, False]]), TypeError, r"^q must hold real numbers.*bool"),
        ([[0.5, 0.5], [1.0]], ValueError, r"^q must be a 2-D array"),
    ],
)
def test_memberships_of_the_wrong_kind_are_rejected(q, error, match):
    for fn in (check_memberships, pair_overlaps, simplex_strengths, nerve_persistence):
        with pytest.raises(error, match=match):
            fn(q)


def test_memberships_of_any_real_dtype_are_accepted():
    q = barycentric_cover(SQUARE, 4, seed=0)
    assert essential(nerve_persistence(q.astype(np.float32), max_dim=2)) == (1, 1)
    np.testing.assert_array_equal(check_memberships(np.eye(3, dtype=np.int64)), np.eye(3))
    np.testing.assert_array_equal(check_memberships(torch.eye(3, dtype=torch.uint8)), np.eye(3))
    np.testing.assert_array_equal(check_memberships(torch.eye(2, dtype=torch.bfloat16)), np.eye(2))
    with pytest.raises(TypeError, match=r"^name must be a str"):
        check_memberships(q, name=3)


@pytest.mark.parametrize(
    ("field", "error", "match"),
    [
        (4, ValueError, r"^field must be a prime .*got 4"),
        (9, ValueError, r"^field must be a prime .*got 9"),
        (1, ValueError, r"^field must be an int >= 2, got 1"),
        (0, ValueError, r"^field must be an int >= 2"),
        (-3, ValueError, r"^field must be an int >= 2"),
        (2.0, TypeError, r"^field must be an int"),
        (True, TypeError, r"^field must be an int"),
        ("2", TypeError, r"^field must be an int"),
    ],
)
def test_field_must_be_a_prime(field, error, match):
    with pytest.raises(error, match=match):
        nerve_persistence(barycentric_cover(SQUARE, 4), field=field)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("max_dim", 0, ValueError),
        ("max_dim", -1, ValueError),
        ("max_dim", 1.5, TypeError),
        ("max_dim", 2.0, TypeError),
        ("max_dim", True, TypeError),
        ("max_simplices", 0, ValueError),
        ("max_simplices", 1e6, TypeError),
        ("rule", "foo", ValueError),
        ("rule", None, TypeError),
    ],
)
def test_bad_nerve_arguments_name_the_argument(name, value, error):
    q = barycentric_cover(SQUARE, 4)
    for fn in (simplex_strengths, nerve_persistence):
        with pytest.raises(error, match=rf"^{name} must be"):
            fn(q, **{name: value})


def test_rule_must_be_known():
    q = barycentric_cover(SQUARE, 4)
    for fn in (simplex_strengths, nerve_persistence):
        with pytest.raises(ValueError, match=r"^rule must be one of 'product', 'min', got 'foo'"):
            fn(q, rule="foo")


# ----------------------------------------------------------------------------------------------
# The size of the nerve is bounded before it is built
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [simplex_strengths, nerve_persistence])
def test_a_nerve_too_large_to_build_is_refused_at_once(fn):
    # 30 charts that all meet: up to dimension 15 the nerve would have every subset of at
    # most 16 charts, about 7e8 simplices (tens of minutes before the bound existed).
    q = random_memberships(30, 200, seed=0)
    size = 30 + sum(math.comb(30, j) for j in range(2, 17))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"max_dim=15") as error:
        fn(q, max_dim=15)
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert f"{size:,} simplices" in message
    assert f"max_simplices={nerve.MAX_SIMPLICES:,}" in message
    assert "lower max_dim or raise max_simplices" in message


def test_the_bound_is_the_number_of_simplices_of_a_nerve_whose_charts_all_meet():
    q = random_memberships(8, 50, seed=1)  # every sample in every chart: the full simplex
    size = 8 + math.comb(8, 2) + math.comb(8, 3) + math.comb(8, 4)  # 162
    assert len(simplex_strengths(q, max_dim=3, max_simplices=size)) + 8 == size
    nerve_persistence(q, max_dim=3, max_simplices=size)
    for fn in (simplex_strengths, nerve_persistence):
        with pytest.raises(
            ValueError, match=rf"can have {size} simplices.*max_simplices={size - 1}"
        ):
            fn(q, max_dim=3, max_simplices=size - 1)


def test_the_bound_counts_only_charts_that_meet():
    # A cycle of 30 charts where each sample lies in at most 2 of them: the nerve is the
    # 30-gon whatever max_dim, and is built at once.
    k = 30
    q = barycentric_cover([(i, (i + 1) % k) for i in range(k)], k, seed=2)
    start = time.perf_counter()
    bars = nerve_persistence(q, max_dim=15, max_simplices=2 * k)
    assert time.perf_counter() - start < 1.0
    assert essential(bars) == (1, 1) + (0,) * 13
    assert len(simplex_strengths(q, max_dim=15)) == k
    with pytest.raises(ValueError, match=r"can have 60 simplices"):
        nerve_persistence(q, max_dim=15, max_simplices=2 * k - 1)


def test_the_book_nerves_are_far_below_the_default_bound():
    # the atlas study: at most 16 charts up to max_dim = manifold.dim + 1 = 3
    size = 16 + sum(math.comb(16, j) for j in range(2, 5))
    assert size == 2516 and size * 20 < nerve.MAX_SIMPLICES
    bars = nerve_persistence(random_memberships(16, 2000, seed=3), max_dim=3, rule="min")
    assert essential(bars) == (1, 0, 0)


# ----------------------------------------------------------------------------------------------
# Barcode arguments
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("barcodes", "error", "match"),
    [
        ([np.zeros((1, 2))], TypeError, r"^barcodes must be a dict"),
        ({}, ValueError, r"^barcodes is empty"),
        ({0.0: np.zeros((1, 2))}, TypeError, r"^barcodes' dimension must be an int"),
        ({-1: np.zeros((1, 2))}, ValueError, r"^barcodes' dimension must be an int >= 0"),
        ({0: np.zeros((1, 3))}, ValueError, r"^barcodes\[0\] must have shape \(m, 2\)"),
        ({0: np.zeros(2)}, ValueError, r"^barcodes\[0\] must have shape \(m, 2\)"),
        ({0: [["a", "b"]]}, TypeError, r"^barcodes\[0\] must hold real numbers"),
        ({0: [[np.nan, 1.0]]}, ValueError, r"^barcodes\[0\] must hold finite births"),
        ({1: [[0.0, np.nan]]}, ValueError, r"^barcodes\[1\] must hold finite births"),
        ({0: [[0.5, 0.2]]}, ValueError, r"^barcodes\[0\] must hold .*deaths >= their births"),
    ],
)
def test_bad_barcodes_are_rejected_everywhere(barcodes, error, match):
    for call in (
        lambda: betti_numbers(barcodes, 0.5),
        lambda: persistent_betti(barcodes, 0.5),
        lambda: plot_barcodes(barcodes),
    ):
        with pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda b: betti_numbers(b, np.nan), ValueError, r"^t must be finite"),
        (lambda b: betti_numbers(b, np.inf), ValueError, r"^t must be finite"),
        (lambda b: betti_numbers(b, "0.5"), TypeError, r"^t must be a number"),
        (lambda b: persistent_betti(b, np.nan), ValueError, r"^min_length must be finite"),
        (lambda b: persistent_betti(b, -0.1), ValueError, r"^min_length must be in \[0.0, inf\]"),
        (lambda b: persistent_betti(b, None), TypeError, r"^min_length must be a number"),
        (lambda b: plot_barcodes(b, ax="axes"), TypeError, r"^ax must be a matplotlib Axes"),
        (lambda b: plot_barcodes(b, title=3), TypeError, r"^title must be a str"),
        (lambda b: plot_barcodes(b, scale="ln"), ValueError, r"^scale must be one of"),
    ],
)
def test_bad_barcode_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call({0: np.array([[0.0, np.inf]])})


def test_an_infinite_min_length_counts_the_essential_classes():
    bars = nerve_persistence(barycentric_cover(TORUS, 7, seed=4), max_dim=3, scale="log")
    assert persistent_betti(bars, np.inf) == essential(bars) == (1, 2, 1)


# ----------------------------------------------------------------------------------------------
# Plotting
# ----------------------------------------------------------------------------------------------


def test_plot_barcodes_draws_one_line_per_bar():
    bars = nerve_persistence(barycentric_cover(OCTAHEDRON, 6, seed=12), max_dim=3)
    n_bars = sum(len(b) for b in bars.values())
    ax = plot_barcodes(bars, title="octahedron")
    assert isinstance(ax, Axes)
    assert len(ax.lines) == n_bars
    assert ax.get_title() == "octahedron"
    assert ax.get_xlim() == (0.0, 1.0)
    assert "filtration" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["H0", "H1", "H2"]
    ends = [line.get_xdata()[-1] for line in ax.lines]
    assert sum(e == 1.0 for e in ends) == sum(essential(bars))
    assert sum(line.get_marker() == ">" for line in ax.lines) == sum(essential(bars))
    # Drawing on a given Axes returns it.
    given_ax = Figure().subplots()
    assert plot_barcodes(bars, ax=given_ax) is given_ax
    assert len(given_ax.lines) == n_bars


# ----------------------------------------------------------------------------------------------
# The log scale
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["product", "min"])
@pytest.mark.parametrize(
    ("tops", "k", "field", "expected"),
    [(HEXAGON, 6, 2, (1, 1)), (OCTAHEDRON, 6, 2, (1, 0, 1)), (RP2, 6, 2, (1, 1, 1)),
     (RP2, 6, 3, (1, 0, 0)), (TORUS, 7, 2, (1, 2, 1))],
    ids=["circle", "sphere", "rp2-z2", "rp2-z3", "torus"],
)  # fmt: skip
def test_log_scale_has_the_same_essential_classes(rule, tops, k, field, expected):
    q = barycentric_cover(tops, k, seed=9)
    max_dim = len(expected)
    bars = nerve_persistence(q, max_dim=max_dim, field=field, rule=rule, scale="log")
    assert essential(bars) == expected


def test_log_scale_is_minus_log10_of_the_strengths_with_vertices_at_their_first_edge():
    q = random_memberships(4, 50, seed=10)
    u = simplex_strengths(q, max_dim=1, rule="min")
    bars = nerve_persistence(q, max_dim=2, rule="min", scale="log")
    # every vertex is born at its strongest edge: the first H0 births are the smallest values
    first_edges = sorted(min(-np.log10(v) for s, v in u.items() if j in s) for j in range(4))
    np.testing.assert_allclose(np.sort(bars[0][:, 0]), first_edges[: len(bars[0])])
    # finite bars (if any) end at a -log10 of some simplex strength
    strengths = simplex_strengths(q, max_dim=2, rule="min")
    ends = {round(-float(np.log10(v)), 9) for v in strengths.values()}
    for dim_bars in bars.values():
        for death in dim_bars[np.isfinite(dim_bars[:, 1]), 1]:
            assert round(float(death), 9) in ends


def test_log_scale_pairs_match_the_linear_scale_bar_counts():
    # a monotone change of scale keeps the persistence pairs: same numbers of bars with
    # positive length per dimension, up to bars whose ends coincide in one scale only
    q = barycentric_cover(TORUS, 7, seed=11)
    lin = nerve_persistence(q, max_dim=3, rule="min")
    log = nerve_persistence(q, max_dim=3, rule="min", scale="log")
    assert essential(lin) == essential(log)


def test_scale_must_be_known():
    q = random_memberships(3, 10, seed=12)
    with pytest.raises(ValueError, match="scale"):
        nerve_persistence(q, scale="ln")
    with pytest.raises(ValueError, match="scale"):
        plot_barcodes(nerve_persistence(q), scale="ln")


def test_plot_barcodes_in_log_scale_extends_past_the_last_value():
    q = barycentric_cover(HEXAGON, 6, seed=13)
    bars = nerve_persistence(q, max_dim=2, scale="log")
    ax = plot_barcodes(bars, scale="log")
    assert ax.get_xlim()[1] > last_event(bars)
    assert "log10" in ax.get_xlabel()
