"""Tests of toposhape.pershom: 0-dim Vietoris–Rips persistence of point clouds.

Oracles, all independent of the library's kernel:

* scipy's minimum spanning tree (Kruskal/Prim in scipy.sparse.csgraph) on a
  scipy ``cdist`` matrix (or, for p outside {1, 2, inf}, a numpy one), of the
  cloud scaled exactly by a power of two to unit size, so at any scale;
* ripser (0-dim diagram, point cloud or precomputed distance matrix);
* gudhi's RipsComplex / SimplexTree persistence;
* autograd's finite differences (gradcheck) and a gradient worked out by hand;
* exact scale equivariance: deaths(2^k x) == 2^k deaths(x), bit for bit.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from toposhape import _ops, death_edges, vr_persistence0
from toposhape.pershom import edge_lengths, pairwise_distances

ripser = pytest.importorskip("ripser")
gudhi = pytest.importorskip("gudhi")

P_VALUES = [1.0, 2.0, math.inf]
# With p = 64, |d|^p over- or underflows at ordinary scales unless the difference is scaled first.
WIDE_P_VALUES = [1.0, 2.0, 3.0, 64.0, math.inf]
SCIPY_METRIC = {1.0: "cityblock", 2.0: "euclidean", math.inf: "chebyshev"}
DTYPES = [torch.float32, torch.float64]
# Tolerances of a death time against a float64 oracle (relative to the cloud's scale).
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# ----------------------------------------------------------------------------------------------
# Oracles
# ----------------------------------------------------------------------------------------------
def scipy_deaths(points: np.ndarray, p: float) -> np.ndarray:
    """Sorted 0-dim VR death times of one cloud, from scipy's MST (float64).

    scipy's csgraph reads a 0 entry of a dense matrix as "no edge", so duplicate
    points cannot be handed to it as they are. They are handled exactly: Kruskal
    takes the zero-length edges first, which join every class of equal points
    with (class size - 1) edges of length 0 and no more; after that the
    distance between two classes is the same for every choice of
    representatives, so the rest of the MST is the MST of the distinct points,
    all of whose pairwise distances are > 0. Hence
    deaths = (n - #distinct) zeros + MST weights of the distinct points.

    The cloud is first scaled by a power of two (exact) to unit size, and the weights scaled
    back: the oracle holds at every scale of the float64 range.
    """
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    exponent = int(np.frexp(np.abs(points).max())[1])
    distinct = np.unique(np.ldexp(points, -exponent), axis=0)
    m = distinct.shape[0]
    weights = np.zeros(0)
    if m > 1:
        if p in SCIPY_METRIC:
            dist = cdist(distinct, distinct, SCIPY_METRIC[p])
        else:
            dist = lp_norm_np(distinct[:, None, :] - distinct[None, :, :], p)
        off_diag = ~np.eye(m, dtype=bool)
        assert (dist[off_diag] > 0).all(), "oracle precondition: distinct points, positive lengths"
        weights = minimum_spanning_tree(dist).data
        assert weights.shape == (m - 1,)
    return np.ldexp(np.sort(np.concatenate([np.zeros(n - m), weights])), exponent)


def lp_norm_np(diff: np.ndarray, p: float) -> np.ndarray:
    """ℓp norms over the last axis (float64), each vector divided by its largest |entry| first."""
    diff = np.abs(np.asarray(diff, dtype=np.float64))
    largest = diff.max(axis=-1)
    if p == math.inf:
        return largest
    unit = diff / np.where(largest > 0, largest, 1.0)[..., None]
    return largest * np.sum(unit**p, axis=-1) ** (1.0 / p)


def ripser_deaths(points_or_dist: np.ndarray, n: int, distance_matrix: bool = False) -> np.ndarray:
    """Sorted finite 0-dim deaths from ripser, padded with the zero-length pairs it drops."""
    with warnings.catch_warnings():  # "more columns than rows" / "matrix is square" hints
        warnings.simplefilter("ignore", UserWarning)
        dgm = ripser.ripser(points_or_dist, maxdim=0, distance_matrix=distance_matrix)["dgms"][0]
    assert (dgm[:, 0] == 0).all(), "every 0-dim class is born at 0"
    deaths = dgm[:, 1]
    assert np.isinf(deaths).sum() == 1, "exactly one essential class (the whole cloud)"
    finite = np.sort(deaths[np.isfinite(deaths)])
    assert finite.size <= n - 1
    return np.concatenate([np.zeros(n - 1 - finite.size), finite])


def gudhi_deaths(points: np.ndarray) -> np.ndarray:
    """Sorted finite 0-dim deaths from gudhi; min_persistence=-1 keeps zero-length bars."""
    rips = gudhi.RipsComplex(points=points, max_edge_length=math.inf)
    tree = rips.create_simplex_tree(max_dimension=1)
    tree.persistence(min_persistence=-1)
    bars = tree.persistence_intervals_in_dimension(0)
    assert (bars[:, 0] == 0).all()
    assert np.isinf(bars[:, 1]).sum() == 1
    return np.sort(bars[np.isfinite(bars[:, 1]), 1])


def assert_spanning_tree(edges: np.ndarray, n: int) -> None:
    """The n-1 edges connect all n vertices (union-find), with u < v in each row."""
    assert edges.shape == (n - 1, 2)
    assert (edges[:, 0] < edges[:, 1]).all(), "rows must be (u, v) with u < v"
    assert ((edges >= 0) & (edges < n)).all()
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for u, v in edges.tolist():
        ru, rv = find(u), find(v)
        assert ru != rv, f"edge ({u}, {v}) closes a cycle"
        parent[ru] = rv
    assert len({find(a) for a in range(n)}) == 1


def edge_lengths_np(points: np.ndarray, edges: np.ndarray, p: float) -> np.ndarray:
    return lp_norm_np(points[edges[:, 0]] - points[edges[:, 1]], p)


def check_against_scipy(x: torch.Tensor, p: float, expected: np.ndarray | None = None) -> None:
    """vr_persistence0 and death_edges of one cloud x (n, D) against the scipy oracle.

    ``expected`` may be precomputed (from the float64 cloud; for a float32 x the rounding of
    the coordinates moves each death by far less than the float32 tolerance: the sorted MST
    weights are 1-Lipschitz in the sup norm of the edge weights).
    """
    n = x.shape[0]
    deaths = vr_persistence0(x, p)
    assert deaths.shape == (n - 1,)
    assert deaths.dtype == x.dtype
    assert bool((deaths[1:] >= deaths[:-1]).all()), "deaths must be sorted ascending"
    points = x.double().numpy()  # the exact values the library saw
    if expected is None:
        expected = scipy_deaths(points, p)
    scale = float(np.abs(points).max()) or 1.0
    tol = TOL[x.dtype]
    np.testing.assert_allclose(
        deaths.double().numpy(), expected, rtol=tol["rtol"], atol=tol["atol"] * scale
    )
    edges = death_edges(x, p)
    assert edges.dtype == torch.long
    edges_np = edges.numpy()
    assert_spanning_tree(edges_np, n)
    # The edges' lengths are the deaths, in the same order.
    np.testing.assert_allclose(
        edge_lengths_np(points, edges_np, p),
        deaths.double().numpy(),
        rtol=tol["rtol"],
        atol=tol["atol"] * scale,
    )


# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------
@st.composite
def grid_clouds(draw, max_n: int = 60, max_d: int = 64):
    """Integer-grid clouds (forcing tied distances and duplicate points), possibly scaled."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    half_width = draw(st.sampled_from([0, 1, 2, 5, 100]))
    coords = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-half_width, half_width)))
    scale = draw(st.sampled_from([1.0, 0.25, 3.0, 1e-3]))
    return coords.astype(np.float64) * scale


# ----------------------------------------------------------------------------------------------
# Agreement with scipy's MST
# ----------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=grid_clouds(), p=st.sampled_from(P_VALUES), dtype=st.sampled_from(DTYPES))
def test_deaths_equal_scipy_mst(points, p, dtype):
    check_against_scipy(torch.from_numpy(points).to(dtype), p)


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize(
    ("n", "d", "kind"),
    [(500, 10, "normal"), (500, 3, "grid"), (2000, 16, "normal"), (2000, 3, "grid")],
)
def test_deaths_equal_scipy_mst_large(n, d, kind, p):
    rng = np.random.default_rng(1000 * n + d)
    if kind == "grid":  # 11^3 = 1331 cells: many duplicates at n = 2000, many ties always
        points = rng.integers(-5, 6, size=(n, d)).astype(np.float64)
    else:
        points = rng.standard_normal((n, d))
    expected = scipy_deaths(points, p)  # scipy's dense MST is slow at n = 2000: compute it once
    for dtype in DTYPES:
        check_against_scipy(torch.from_numpy(points).to(dtype), p, expected)


def test_scipy_oracle_zero_handling():
    """The oracle itself: duplicates become zero deaths."""
    points = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    np.testing.assert_array_equal(scipy_deaths(points, 2.0), [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(scipy_deaths(np.zeros((4, 3)), 1.0), [0, 0, 0])


# ----------------------------------------------------------------------------------------------
# The whole float range: extreme scales, p = 64, overflow, subnormals
# ----------------------------------------------------------------------------------------------
# Scales at which every coordinate of a grid cloud (|c| <= 300, nonzero |c| >= 1e-3) stays a
# normal number of the dtype.
EXTREME_SCALES = {torch.float32: [1e-30, 1e-20, 1e20, 1e30], torch.float64: [1e-300, 1e300]}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=grid_clouds(max_n=30, max_d=16),
    p=st.sampled_from([1.0, 2.0, 64.0, math.inf]),
    dtype_scale=st.sampled_from([(dt, c) for dt, cs in EXTREME_SCALES.items() for c in cs]),
)
def test_deaths_equal_mst_oracle_at_extreme_scales(points, p, dtype_scale):
    """Minimal spanning trees and their exact lengths far from unit scale (scipy's MST)."""
    dtype, scale = dtype_scale
    check_against_scipy(torch.from_numpy(points * scale).to(dtype), p)


@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
@pytest.mark.parametrize(("dtype", "scale"), [(torch.float32, 1e30), (torch.float64, 1e300)])
def test_deaths_equal_scipy_mst_large_extreme_scale(dtype, scale, p):
    """A Gaussian cloud of 300 points at an extreme scale: no tie, so one MST."""
    points = np.random.default_rng(3).standard_normal((300, 8)) * scale
    check_against_scipy(torch.from_numpy(points).to(dtype), p)


def test_p64_at_unit_scale_float32():
    """|d|^64 underflows float32 for |d| < 0.25: unscaled, most distances of this cloud were 0."""
    points = np.random.default_rng(4).uniform(-1.0, 1.0, (200, 3))
    check_against_scipy(torch.from_numpy(points).float(), 64.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n=st.integers(2, 30),
    d=st.integers(1, 8),
    p=st.sampled_from(WIDE_P_VALUES),
    dtype=st.sampled_from(DTYPES),
)
def test_scale_equivariance_power_of_two_exact(data, n, d, p, dtype):
    """deaths(2^k x) == 2^k deaths(x) bit for bit, the same tree, over the whole normal range.

    Integer coordinates in [-100, 100] and their deaths (in [1, 1600]) stay normal numbers for
    every k drawn.
    """
    coords = data.draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-100, 100)))
    kmax = 110 if dtype == torch.float32 else 1000
    k = data.draw(st.integers(-kmax, kmax))
    x = torch.from_numpy(coords).to(dtype)
    scaled = x * 2.0**k
    assert torch.equal(scaled / 2.0**k, x), "the scaling itself is exact"
    assert torch.equal(vr_persistence0(scaled, p), vr_persistence0(x, p) * 2.0**k)
    assert torch.equal(death_edges(scaled, p), death_edges(x, p))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=grid_clouds(max_n=30, max_d=8),
    log_c=st.floats(-30.0, 30.0),
    p=st.sampled_from([1.0, 2.0, 64.0, math.inf]),
)
def test_scale_equivariance_float32_range(points, log_c, p):
    """deaths(c x) == c deaths(x) in float32 for c from 1e-30 to 1e30, up to the rounding of c x.

    Rounding c x moves each coordinate by 2^-24 of its size, each death by at most about
    2^-23 max|x| D (sorted MST weights are 1-Lipschitz in the edge weights).
    """
    c = 10.0**log_c
    x = torch.from_numpy(points).float()
    scaled = torch.from_numpy(points * c).float()  # c x rounded once
    extent = float(x.abs().max()) * points.shape[1]
    got = vr_persistence0(scaled, p).double() / c
    want = vr_persistence0(x, p).double()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=4e-7 * extent)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", WIDE_P_VALUES)
def test_death_beyond_the_range_is_inf_with_finite_gradient(dtype, p):
    """The one non-finite death: the exact value exceeds the dtype's largest number."""
    big = torch.finfo(dtype).max * 0.75
    x = torch.tensor([[-big, 0.0], [big, 0.0], [big, 1.0]], dtype=dtype, requires_grad=True)
    deaths = vr_persistence0(x, p)
    assert deaths[0].item() == 1.0 and math.isinf(deaths[1].item())
    deaths.sum().backward()
    assert torch.isfinite(x.grad).all()
    # The long edge pulls -big left and its other end right; the short one pulls (1, 2) apart.
    assert x.grad[0, 0] == -1.0 and x.grad[0, 1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", WIDE_P_VALUES)
def test_near_the_largest_and_smallest_floats(dtype, p):
    """Exact deaths for coordinates next to the dtype's largest number and among subnormals."""
    info = torch.finfo(dtype)
    top = torch.tensor(info.max, dtype=dtype)
    ulp = top - torch.nextafter(top, torch.tensor(0.0, dtype=dtype))
    x = torch.stack([top, top - ulp, top - 3 * ulp]).reshape(3, 1).expand(3, 2)
    torch.testing.assert_close(
        vr_persistence0(x, p),
        torch.stack([ulp, 2 * ulp]) * _unit_lp(2, p),
        rtol=4 * info.eps,  # the rounding of 2^(1/p)
        atol=0,
    )
    tiny = torch.tensor(info.smallest_normal * info.eps, dtype=dtype)  # the smallest subnormal
    y = torch.stack([0 * tiny, tiny, 3 * tiny]).reshape(3, 1)
    assert torch.equal(vr_persistence0(y, p), torch.stack([tiny, 2 * tiny]))
    assert death_edges(y, p).tolist() == [[0, 1], [1, 2]]


def _unit_lp(d: int, p: float) -> float:
    """The ℓp norm of (1, ..., 1) in d dims (exact for d = 2 and p in {1, inf})."""
    return 1.0 if p == math.inf else d ** (1.0 / p)


@pytest.mark.parametrize("p", WIDE_P_VALUES)
@pytest.mark.parametrize("scale", [1e-300, 1.0, 1e300])
def test_gradcheck_extreme_scales(scale, p):
    """Finite differences (steps relative to the scale) agree with autograd at every scale."""
    gen = torch.Generator().manual_seed(22)
    base = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    d = torch.cdist(base, base, p=p)
    iu = torch.triu_indices(7, 7, 1)
    assert (d[iu[0], iu[1]].sort().values.diff() > 1e-4).all(), "distinct distances"
    x = (base * scale).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda y: vr_persistence0(y, p), (x,), eps=1e-6 * scale, atol=1e-6
    )


@pytest.mark.parametrize("p", [2.0, 3.0, 64.0])
def test_second_derivatives(p):
    """The scaled norm's backward pass is differentiable in turn."""
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(25), dtype=torch.float64)
    assert torch.autograd.gradgradcheck(lambda y: vr_persistence0(y, p), (x.requires_grad_(),))


@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
@pytest.mark.parametrize("scale", [2.0**-100, 2.0**100])
def test_float32_gradient_is_scale_invariant(scale, p):
    """A death is 1-homogeneous, so its gradient does not depend on the scale."""
    base = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(23))
    weights = torch.randn(3, 39, generator=torch.Generator().manual_seed(24))

    def grad(x):
        x = x.clone().requires_grad_()
        (vr_persistence0(x, p) * weights).sum().backward()
        return x.grad

    assert torch.equal(grad(base * scale), grad(base))


# ----------------------------------------------------------------------------------------------
# Agreement with ripser and gudhi
# ----------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=grid_clouds(max_n=40, max_d=16))
def test_deaths_equal_ripser_and_gudhi(points):
    n = points.shape[0]
    deaths = vr_persistence0(torch.from_numpy(points), 2.0).numpy()
    scale = float(np.abs(points).max()) or 1.0
    # ripser computes in float32.
    np.testing.assert_allclose(deaths, ripser_deaths(points, n), rtol=1e-6, atol=1e-5 * scale)
    np.testing.assert_allclose(deaths, gudhi_deaths(points), rtol=1e-12, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=grid_clouds(max_n=40, max_d=16))
def test_deaths_equal_ripser_distance_matrix_l1(points):
    n = points.shape[0]
    deaths = vr_persistence0(torch.from_numpy(points), 1.0).numpy()
    dist = cdist(points, points, "cityblock")
    scale = float(dist.max()) or 1.0
    expected = ripser_deaths(dist, n, distance_matrix=True)
    np.testing.assert_allclose(deaths, expected, rtol=1e-6, atol=1e-6 * scale)


def test_deaths_equal_ripser_and_gudhi_fixed_seed():
    rng = np.random.default_rng(7)
    points = rng.standard_normal((300, 5))
    deaths = vr_persistence0(torch.from_numpy(points), 2.0).numpy()
    np.testing.assert_allclose(deaths, ripser_deaths(points, 300), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(deaths, gudhi_deaths(points), rtol=1e-12, atol=1e-12)
    dist = cdist(points, points, "cityblock")
    np.testing.assert_allclose(
        vr_persistence0(torch.from_numpy(points), 1).numpy(),
        ripser_deaths(dist, 300, distance_matrix=True),
        rtol=1e-6,
        atol=1e-6,
    )


def test_docstring_example():
    x = torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    assert torch.equal(vr_persistence0(x), torch.tensor([1.0, 3.0]))
    assert death_edges(x).tolist() == [[1, 2], [0, 1]]


# ----------------------------------------------------------------------------------------------
# Shapes, dtypes, layouts, batching
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_non_contiguous_equals_contiguous(dtype, p):
    gen = torch.Generator().manual_seed(3)
    n, d = 30, 5
    # Transposed storage: a (D, n) buffer viewed as (n, D).
    x_t = torch.randn(d, n, generator=gen, dtype=dtype).T
    assert not x_t.is_contiguous()
    # Step slicing in both dims.
    big = torch.randn(2 * n, 3 * d, generator=gen, dtype=dtype)
    x_s = big[::2, ::3]
    assert not x_s.is_contiguous()
    # Batch stored point-major, as connectivity_loss builds it: (n, B, D) viewed as (B, n, D).
    x_b = torch.randn(n, 4, d, generator=gen, dtype=dtype).transpose(0, 1)
    assert not x_b.is_contiguous()
    # A stride-0 batch dim.
    x_e = torch.randn(n, d, generator=gen, dtype=dtype).expand(3, n, d)
    for x in (x_t, x_s, x_b, x_e):
        assert torch.equal(vr_persistence0(x, p), vr_persistence0(x.contiguous(), p))
        assert torch.equal(death_edges(x, p), death_edges(x.contiguous(), p))
    out = vr_persistence0(x_e, p)
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_leading_batch_dims_equal_loop(dtype, p):
    gen = torch.Generator().manual_seed(11)
    n, d = 17, 4
    # Half the clouds on an integer grid (ties, duplicates), half Gaussian.
    x = torch.randn(3, 4, n, d, generator=gen, dtype=dtype)
    x[:, :2] = torch.randint(-2, 3, (3, 2, n, d), generator=gen).to(dtype)
    deaths = vr_persistence0(x, p)
    edges = death_edges(x, p)
    assert deaths.shape == (3, 4, n - 1)
    assert edges.shape == (3, 4, n - 1, 2)
    for i in range(3):
        for j in range(4):
            assert torch.equal(deaths[i, j], vr_persistence0(x[i, j], p))
            assert torch.equal(edges[i, j], death_edges(x[i, j], p))
            check_against_scipy(x[i, j], p)


@pytest.mark.parametrize("shape", [(2, 1), (2, 3), (5, 2, 1), (1, 1, 2, 7), (6, 3, 2)])
def test_output_shape(shape):
    x = torch.randn(shape)
    assert vr_persistence0(x).shape == (*shape[:-2], shape[-2] - 1)
    assert death_edges(x).shape == (*shape[:-2], shape[-2] - 1, 2)


def test_empty_batch():
    x = torch.zeros(0, 5, 3)
    assert death_edges(x).shape == (0, 4, 2)
    assert vr_persistence0(x).shape == (0, 4)


def test_two_points():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, -2.0, 3.0]], dtype=torch.float64)
    assert vr_persistence0(x, 1).tolist() == [7.0]
    assert vr_persistence0(x, 2).tolist() == [5.0]
    assert vr_persistence0(x, math.inf).tolist() == [4.0]
    assert death_edges(x).tolist() == [[0, 1]]


@pytest.mark.parametrize("p", [*P_VALUES, 3.0])
def test_general_p_matches_direct_norm(p):
    """Any p >= 1 is accepted; compare p=3 (and the usual ones) with a brute-force Prim."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(25, 3, generator=gen, dtype=torch.float64)
    pts = x.numpy()
    dist = np.linalg.norm(pts[:, None, :] - pts[None, :, :], ord=p, axis=-1)
    # Plain Prim in numpy, independent of the kernel.
    n = len(pts)
    in_tree = np.zeros(n, bool)
    in_tree[0] = True
    best = dist[0].copy()
    weights = []
    for _ in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        v = int(np.argmin(cand))
        weights.append(cand[v])
        in_tree[v] = True
        best = np.minimum(best, dist[v])
    np.testing.assert_allclose(vr_persistence0(x, p).numpy(), np.sort(weights), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Duplicates and gradients
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("n", [2, 3, 10])
def test_identical_points(n, p, dtype):
    x = torch.full((n, 4), 1.5, dtype=dtype, requires_grad=True)
    deaths = vr_persistence0(x, p)
    assert deaths.shape == (n - 1,)
    assert torch.equal(deaths.detach(), torch.zeros(n - 1, dtype=dtype))
    assert_spanning_tree(death_edges(x, p).numpy(), n)
    (deaths * torch.arange(1.0, n, dtype=dtype)).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("p", P_VALUES)
def test_partial_duplicates_gradient_finite(p):
    x = torch.tensor(
        [[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [4.0, -1.0]],
        dtype=torch.float64,
        requires_grad=True,
    )
    deaths = vr_persistence0(x, p)
    assert (deaths[:3] == 0).all() and (deaths[3:] > 0).all()
    deaths.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("shape", [(9, 3), (2, 7, 2)])
def test_gradcheck(p, shape):
    gen = torch.Generator().manual_seed(21)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    # Preconditions of differentiability: distinct pairwise distances, no zero or tied coords.
    d = torch.cdist(x.detach(), x.detach(), p=p)
    iu = torch.triu_indices(shape[-2], shape[-2], 1)
    vals = d[..., iu[0], iu[1]].sort(dim=-1).values
    assert (vals.diff(dim=-1) > 1e-4).all()
    assert torch.autograd.gradcheck(lambda y: vr_persistence0(y, p), (x,), eps=1e-6, atol=1e-6)


# x0=(0,0), x1=(3,4), x2=(3.6,4.8): the MST is {x0-x1, x1-x2}; x0-x2 is longest in every metric.
THREE = [[0.0, 0.0], [3.0, 4.0], [3.6, 4.8]]
THREE_CASES = {
    # p: (sorted deaths, d(sum deaths)/dx worked out by hand)
    #   l1: grad of |a-b|_1 wrt a is sign(a-b); l2: (a-b)/|a-b|;
    #   linf: sign of the largest coordinate difference, on that coordinate.
    1.0: ([1.4, 7.0], [[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]]),
    2.0: ([1.0, 5.0], [[-0.6, -0.8], [0.0, 0.0], [0.6, 0.8]]),
    math.inf: ([0.8, 4.0], [[0.0, -1.0], [0.0, 0.0], [0.0, 1.0]]),
}


@pytest.mark.parametrize("p", P_VALUES)
def test_three_point_gradient_by_hand(p):
    deaths_hand, grad_hand = (torch.tensor(v, dtype=torch.float64) for v in THREE_CASES[p])
    x = torch.tensor(THREE, dtype=torch.float64, requires_grad=True)
    deaths = vr_persistence0(x, p)
    torch.testing.assert_close(deaths.detach(), deaths_hand, rtol=1e-12, atol=1e-12)
    deaths.sum().backward()
    torch.testing.assert_close(x.grad, grad_hand, rtol=1e-12, atol=1e-12)
    # Central finite differences of sum(deaths) agree with the hand gradient.
    h = 1e-6
    fd = torch.zeros(3, 2, dtype=torch.float64)
    with torch.no_grad():
        for i in range(3):
            for j in range(2):
                xp, xm = x.detach().clone(), x.detach().clone()
                xp[i, j] += h
                xm[i, j] -= h
                fd[i, j] = (vr_persistence0(xp, p).sum() - vr_persistence0(xm, p).sum()) / (2 * h)
    torch.testing.assert_close(fd, grad_hand, rtol=0, atol=1e-7)


def test_gradient_reaches_only_mst_endpoints():
    """The gradient of one death goes to the two endpoints of its edge and nowhere else."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]], dtype=torch.float64, requires_grad=True)
    deaths = vr_persistence0(x)
    deaths[1].backward()  # the long edge (1, 2) only
    torch.testing.assert_close(
        x.grad, torch.tensor([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    )


def test_death_edges_has_no_grad():
    x = torch.randn(6, 2, requires_grad=True)
    edges = death_edges(x)
    assert not edges.requires_grad and edges.dtype == torch.long


# ----------------------------------------------------------------------------------------------
# The custom op
# ----------------------------------------------------------------------------------------------
def _dist(b: int, n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=gen, dtype=dtype)
    return torch.cdist(x, x)


@pytest.mark.parametrize(
    "dist",
    [
        _dist(2, 6, torch.float32),
        _dist(3, 5, torch.float64),
        _dist(1, 2, torch.float32),
        _dist(0, 4, torch.float64),
        _dist(4, 7, torch.float64).transpose(1, 2),  # non-contiguous (still symmetric)
        torch.zeros(2, 5, 5),  # all ties
    ],
    ids=["f32", "f64", "n2", "batch0", "noncontig", "zeros"],
)
def test_opcheck_mst_edges(dist):
    torch.library.opcheck(torch.ops.toposhape.mst_edges, (dist,))
    out = torch.ops.toposhape.mst_edges(dist)
    n = dist.shape[1]
    assert out.shape == (dist.shape[0], n - 1, 2) and out.dtype == torch.long
    for b in range(dist.shape[0]):
        assert_spanning_tree(out[b].numpy(), n)
        w = dist[b][out[b, :, 0], out[b, :, 1]]
        assert bool((w[1:] >= w[:-1]).all())


def test_mst_edges_matches_scipy_on_arbitrary_matrix():
    """The op on a symmetric matrix that is not a metric (random weights)."""
    gen = torch.Generator().manual_seed(4)
    a = torch.rand(5, 12, 12, generator=gen, dtype=torch.float64) + 0.01
    dist = a + a.transpose(1, 2)
    out = torch.ops.toposhape.mst_edges(dist)
    for b in range(5):
        w = dist[b][out[b, :, 0], out[b, :, 1]].numpy()
        ref = np.sort(minimum_spanning_tree(dist[b].numpy()).data)
        np.testing.assert_allclose(w, ref, rtol=1e-15)


@pytest.mark.parametrize(
    "dist",
    [torch.zeros(3, 4), torch.zeros(1, 3, 4), torch.zeros(1, 1, 1), torch.zeros(1, 3, 3).long()],
    ids=["2d", "nonsquare", "n1", "int"],
)
def test_mst_edges_rejects_bad_dist(dist):
    with pytest.raises(RuntimeError, match="mst_edges"):
        torch.ops.toposhape.mst_edges(dist)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("u", "v"), [(0, 1), (4, 2), (5, 6)])
def test_mst_edges_rejects_non_finite_distance(value, u, v):
    """Every off-diagonal pair is read once, whichever of its two entries Prim reads."""
    dist = _dist(3, 7, torch.float64)
    dist[2, u, v] = dist[2, v, u] = value
    with pytest.raises(ValueError, match=r"mst_edges: dist\[2\] contains NaN or inf"):
        torch.ops.toposhape.mst_edges(dist)


def test_mst_edges_ignores_the_diagonal():
    dist = _dist(2, 5, torch.float32)
    expected = torch.ops.toposhape.mst_edges(dist)
    dist.diagonal(dim1=1, dim2=2).fill_(math.nan)
    assert torch.equal(torch.ops.toposhape.mst_edges(dist), expected)


def test_has_kernel():
    assert _ops.has_kernel("cpu")
    assert not _ops.has_kernel("meta")
    assert not _ops.has_kernel("mps")


# ----------------------------------------------------------------------------------------------
# torch.compile (SLOW: the compile tests are these; run with -k compile)
# ----------------------------------------------------------------------------------------------
def _compile_inputs():
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(3, 20, 4, generator=gen)
    x[0, :5] = torch.randint(-1, 2, (5, 4), generator=gen).float()  # ties / duplicates
    return x


@pytest.mark.parametrize("p", [1.0, 2.0])  # 2.0: the scaled norm's own autograd function
def test_torch_compile_fullgraph_matches_eager(p):
    """One graph (fake impl of the op + autograd); forward and backward equal eager."""

    def f(x):
        return vr_persistence0(x, p) * 2.0

    x = _compile_inputs().requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    torch.testing.assert_close(out, f(x), rtol=0, atol=0)
    (grad_c,) = torch.autograd.grad(out.sum(), x)
    (grad_e,) = torch.autograd.grad(f(x).sum(), x)
    torch.testing.assert_close(grad_c, grad_e, rtol=0, atol=0)
    torch._dynamo.reset()


@pytest.mark.parametrize("p", [2.0, math.inf])  # inf: cdist's l-inf distance drops a NaN
def test_torch_compile_rejects_nan_and_inf(p):
    """The eager finiteness check is not traced; the kernel's, which runs for real, still holds."""
    compiled = torch.compile(
        lambda x: vr_persistence0(x, p), fullgraph=True, backend="aot_eager", dynamic=False
    )
    torch._dynamo.reset()
    x = _compile_inputs()
    torch.testing.assert_close(compiled(x), vr_persistence0(x, p), rtol=0, atol=0)
    for value in (math.nan, math.inf, -math.inf):
        bad = x.clone()
        bad[1, 7, 2] = value
        with pytest.raises(ValueError, match=r"dist\[1\] contains NaN or inf"):
            compiled(bad)
    torch._dynamo.reset()


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------
def _with(value, index=(0, 1)):
    x = torch.randn(4, 3)
    x[index] = value
    return x


BAD_X = [
    ("nan", _with(float("nan")), ValueError),
    ("inf", _with(float("inf")), ValueError),
    ("-inf", _with(float("-inf")), ValueError),
    ("nan-in-batch", torch.stack([torch.randn(4, 3), _with(float("nan"), (3, 2))]), ValueError),
    ("one-point", torch.randn(1, 3), ValueError),
    ("one-point-batched", torch.randn(5, 1, 3), ValueError),
    ("no-coords", torch.randn(4, 0), ValueError),
    ("1d", torch.randn(5), ValueError),
    ("0d", torch.tensor(1.0), ValueError),
    ("int64", torch.randint(0, 5, (4, 3)), TypeError),
    ("bool", torch.ones(4, 3, dtype=torch.bool), TypeError),
    ("float16", torch.randn(4, 3).half(), TypeError),
    ("bfloat16", torch.randn(4, 3).bfloat16(), TypeError),
    ("complex64", torch.randn(4, 3, dtype=torch.complex64), TypeError),
    ("meta-device", torch.empty(4, 3, device="meta"), ValueError),
    ("list", [[0.0, 1.0], [2.0, 3.0]], TypeError),
    ("ndarray", np.zeros((4, 3)), TypeError),
    ("none", None, TypeError),
]


def _first_edge_length(x, p=2.0):
    return edge_lengths(x, torch.tensor([[0, 1]]), p)


PUBLIC = [vr_persistence0, death_edges, pairwise_distances, _first_edge_length]


@pytest.mark.parametrize("fn", PUBLIC)
@pytest.mark.parametrize(("case", "x", "exc"), BAD_X, ids=[c[0] for c in BAD_X])
def test_bad_x(fn, case, x, exc):
    with pytest.raises(exc, match=r"\bx\b"):
        fn(x)


BAD_P = [
    ("0.5", 0.5, ValueError),
    ("0", 0, ValueError),
    ("-1", -1.0, ValueError),
    ("-inf", -math.inf, ValueError),
    ("nan", math.nan, ValueError),
    ("str", "2", TypeError),
    ("none", None, TypeError),
    ("bool", True, TypeError),
    ("tensor", torch.tensor(2.0), TypeError),
    ("complex", 2 + 0j, TypeError),
]


@pytest.mark.parametrize("fn", PUBLIC)
@pytest.mark.parametrize(("case", "p", "exc"), BAD_P, ids=[c[0] for c in BAD_P])
def test_bad_p(fn, case, p, exc):
    with pytest.raises(exc, match=r"\bp\b"):
        fn(torch.randn(4, 3), p)


@pytest.mark.parametrize("p", [1, 2, 1.5, math.inf, float("inf"), np.float64(2.0), np.int64(1)])
def test_good_p_values_accepted(p):
    x = torch.randn(5, 2, dtype=torch.float64)
    assert vr_persistence0(x, p).shape == (4,)


BAD_EDGES = [
    ("list", [[0, 1]], TypeError, "torch.Tensor"),
    ("float", torch.tensor([[0.0, 1.0]]), TypeError, "integer"),
    ("bool", torch.tensor([[False, True]]), TypeError, "integer"),
    ("1d", torch.tensor([0, 1]), ValueError, "shape"),
    ("three-columns", torch.tensor([[0, 1, 2]]), ValueError, "shape"),
    ("batch-dims-missing", torch.tensor([[0, 1]]), ValueError, "leading dims"),
    ("batch-dims-differ", torch.zeros(3, 1, 2, dtype=torch.long), ValueError, "leading dims"),
    ("index-n", torch.tensor([[[0, 1]], [[4, 5]]]), ValueError, "0 <= index < 5"),
    ("index-negative", torch.tensor([[[0, -1]], [[0, 1]]]), ValueError, "0 <= index < 5"),
    ("meta-device", torch.zeros(2, 1, 2, dtype=torch.long, device="meta"), ValueError, "device"),
]


@pytest.mark.parametrize(("case", "edges", "exc", "what"), BAD_EDGES, ids=[c[0] for c in BAD_EDGES])
def test_edge_lengths_bad_edges(case, edges, exc, what):
    x = torch.randn(2, 5, 3)  # two clouds of 5 points
    with pytest.raises(exc, match=rf"(?s)^edges\b.*{what}"):
        edge_lengths(x, edges)


@pytest.mark.parametrize("p", WIDE_P_VALUES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30])
def test_edge_lengths_equal_numpy(scale, dtype, p):
    """Any edges (repeats, loops, either orientation), any integer dtype, at any scale."""
    gen = torch.Generator().manual_seed(9)
    x = (torch.randn(2, 6, 4, generator=gen, dtype=torch.float64) * scale).to(dtype)
    edges = torch.tensor([[[0, 5], [5, 0], [2, 2], [1, 3]], [[4, 1], [4, 1], [0, 2], [3, 5]]])
    lengths = edge_lengths(x, edges, p)
    assert lengths.shape == (2, 4) and lengths.dtype == dtype
    for b in range(2):
        expected = edge_lengths_np(x[b].double().numpy(), edges[b].numpy(), p)
        np.testing.assert_allclose(lengths[b].double().numpy(), expected, **TOL[dtype])
    assert torch.equal(edge_lengths(x, edges.int(), p), lengths)
    assert edge_lengths(x, edges[:, :0], p).shape == (2, 0)


def test_edge_lengths_gradient_by_hand():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    (length,) = edge_lengths(x, torch.tensor([[1, 0]]))
    assert length.item() == 5.0
    length.backward()
    assert x.grad.tolist() == [[-0.6, -0.8], [0.6, 0.8]]


@pytest.mark.parametrize("p", WIDE_P_VALUES)
@pytest.mark.parametrize(
    ("dtype", "scale"),
    [
        (torch.float32, 1e-30),
        (torch.float32, 1e30),
        (torch.float64, 1e-300),
        (torch.float64, 1e300),
    ],
)
def test_pairwise_distances_at_extreme_scales(dtype, scale, p):
    gen = torch.Generator().manual_seed(10)
    x = (torch.randn(3, 9, 4, generator=gen, dtype=torch.float64) * scale).to(dtype)
    dist = pairwise_distances(x, p)
    assert dist.shape == (3, 9, 9) and dist.dtype == dtype
    for b in range(3):
        pts = x[b].double().numpy()
        expected = lp_norm_np(pts[:, None, :] - pts[None, :, :], p)
        np.testing.assert_allclose(dist[b].double().numpy(), expected, **TOL[dtype])


def test_input_not_modified():
    x = torch.randn(3, 10, 2)
    before = x.clone()
    vr_persistence0(x)
    death_edges(x, 1)
    assert torch.equal(x, before)


@pytest.mark.parametrize(
    ("dtype", "low", "high"), [(torch.float32, -149, 254), (torch.float64, -1074, 2046)]
)
def test_power_of_two_is_exact_over_the_exponent_range(dtype, low, high):
    from toposhape.pershom import _power_of_two

    k = torch.arange(low, high + 1)
    # 2**e in float64 (inf from 2**1024), then rounded to dtype: exact, or inf beyond its range
    exact = [math.ldexp(1.0, int(e)) if e < 1024 else math.inf for e in k]
    expected = torch.tensor(exact, dtype=torch.float64).to(dtype)
    assert torch.equal(_power_of_two(k, dtype), expected)


# ----------------------------------------------------------------------------------------------
# CUDA (skipped without a device)
# ----------------------------------------------------------------------------------------------
def _cuda_clouds(b: int, n: int, d: int, dtype: torch.dtype, grid: bool, seed: int):
    gen = torch.Generator().manual_seed(seed)
    if grid:
        return torch.randint(-3, 4, (b, n, d), generator=gen).to(dtype)
    return torch.randn(b, n, d, generator=gen, dtype=dtype)


@pytest.mark.cuda
@requires_cuda
def test_cuda_without_kernel_raises():
    if _ops.has_kernel("cuda"):
        pytest.skip("toposhape was built with CUDA kernels")
    with pytest.raises(ValueError, match=r"\bx\b"):
        vr_persistence0(torch.randn(4, 3, device="cuda"))


@pytest.mark.cuda
@requires_cuda
@pytest.mark.skipif(not _ops.has_kernel("cuda"), reason="built without CUDA kernels")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize(
    ("b", "n", "d", "grid"),
    [
        (4, 2, 3, False),
        (5, 3, 2, True),
        (3, 33, 2, True),
        (3, 255, 4, True),
        (3, 257, 4, False),
        (2, 513, 8, True),
        (2, 2000, 16, False),
        (2, 2000, 3, True),
        (1, 5000, 3, True),
    ],
)
def test_cuda_equals_cpu(b, n, d, grid, p, dtype):
    x = _cuda_clouds(b, n, d, dtype, grid, seed=n + d)
    x_cpu = x.clone().requires_grad_()
    x_gpu = x.cuda().requires_grad_()
    out_cpu = vr_persistence0(x_cpu, p)
    out_gpu = vr_persistence0(x_gpu, p)
    assert out_gpu.device.type == "cuda" and out_gpu.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_gpu.cpu(), out_cpu.detach(), **tol)
    edges_gpu = death_edges(x_gpu, p).cpu()
    for i in range(b):
        assert_spanning_tree(edges_gpu[i].numpy(), n)
    if grid and p != 2.0:
        # Exact arithmetic on both devices and the same tie-breaking (smallest index) in Prim.
        assert torch.equal(edges_gpu, death_edges(x_cpu, p))
    # A weight per edge, not per rank: the devices' lengths may differ by an ulp, which can swap
    # two near-equal deaths in the sorted output (first seen on an H200, 2000 points in float32).
    (out_cpu**2).sum().backward()
    (out_gpu**2).sum().backward()
    assert torch.isfinite(x_gpu.grad).all()
    if not grid or p != 2.0:
        # Same MST on both devices (no ties, or identical tie-breaking on exact distances). With
        # l2 on a grid, float rounding may pick another of the tied MSTs: a different subgradient.
        torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad, **tol)


@pytest.mark.cuda
@requires_cuda
@pytest.mark.skipif(not _ops.has_kernel("cuda"), reason="built without CUDA kernels")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_opcheck_and_empty_batch(dtype):
    dist = _dist(3, 9, dtype).cuda()
    torch.library.opcheck(torch.ops.toposhape.mst_edges, (dist,))
    empty = torch.zeros(0, 5, 5, dtype=dtype, device="cuda")
    assert torch.ops.toposhape.mst_edges(empty).shape == (0, 4, 2)
    torch.testing.assert_close(
        torch.ops.toposhape.mst_edges(dist).cpu(), torch.ops.toposhape.mst_edges(dist.cpu())
    )


@pytest.mark.cuda
@requires_cuda
@pytest.mark.skipif(not _ops.has_kernel("cuda"), reason="built without CUDA kernels")
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_cuda_mst_edges_rejects_non_finite_distance(value):
    dist = _dist(3, 300, torch.float32)
    dist[1, 200, 7] = dist[1, 7, 200] = value
    with pytest.raises(ValueError, match=r"mst_edges: dist\[1\] contains NaN or inf"):
        torch.ops.toposhape.mst_edges(dist.cuda())


@pytest.mark.cuda
@requires_cuda
@pytest.mark.skipif(not _ops.has_kernel("cuda"), reason="built without CUDA kernels")
@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
@pytest.mark.parametrize(("dtype", "scale"), [(torch.float32, 1e30), (torch.float64, 1e-300)])
def test_cuda_equals_cpu_at_extreme_scales(dtype, scale, p):
    x = (torch.randn(2, 300, 6, generator=torch.Generator().manual_seed(26)) * scale).to(dtype)
    x_cpu, x_gpu = x.clone().requires_grad_(), x.cuda().requires_grad_()
    out_cpu, out_gpu = vr_persistence0(x_cpu, p), vr_persistence0(x_gpu, p)
    torch.testing.assert_close(out_gpu.cpu(), out_cpu.detach(), **TOL[dtype])
    out_cpu.sum().backward()
    out_gpu.sum().backward()
    torch.testing.assert_close(x_gpu.grad.cpu(), x_cpu.grad, **TOL[dtype])


@pytest.mark.cuda
@requires_cuda
@pytest.mark.skipif(not _ops.has_kernel("cuda"), reason="built without CUDA kernels")
def test_cuda_identical_points_and_ties():
    for p in P_VALUES:
        x = torch.zeros(2, 600, 3, device="cuda", requires_grad=True)
        out = vr_persistence0(x, p)
        assert torch.equal(out.detach().cpu(), torch.zeros(2, 599))
        out.sum().backward()
        assert torch.isfinite(x.grad).all()
        for i in range(2):
            assert_spanning_tree(death_edges(x, p)[i].cpu().numpy(), 600)
