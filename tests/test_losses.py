"""Tests of toposhape.losses.connectivity_loss against a direct computation.

The reference splits the latent dim into contiguous blocks by hand, takes each
block's 0-dim Vietoris–Rips death times from scipy's minimum spanning tree (or
ripser), and sums |eta - t| itself; nothing of toposhape's kernel is used. It
works at every scale of the float64 range (each block is scaled exactly by a
power of two to unit size, and p outside {1, 2, inf} uses a numpy matrix whose
differences are divided by their largest entry before the powers).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from toposhape import connectivity_loss, vr_persistence0

SCIPY_METRIC = {1.0: "cityblock", 2.0: "euclidean", math.inf: "chebyshev"}


def mst_deaths(points: np.ndarray, p: float) -> np.ndarray:
    """Sorted MST edge lengths (= 0-dim VR deaths) of one cloud via scipy.

    scipy reads a 0 in a dense matrix as "no edge", so duplicate points are merged
    first: each class of k equal points contributes k-1 zero deaths, and the rest
    of the MST is the MST of the distinct points (see tests/test_pershom.py).
    """
    exponent = int(np.frexp(np.abs(points).max())[1])
    distinct = np.unique(np.ldexp(points, -exponent), axis=0)
    zeros = np.zeros(len(points) - len(distinct))
    if len(distinct) == 1:
        return zeros
    if p in SCIPY_METRIC:
        dist = cdist(distinct, distinct, SCIPY_METRIC[p])
    else:
        diff = np.abs(distinct[:, None, :] - distinct[None, :, :])
        largest = diff.max(axis=-1)
        unit = diff / np.where(largest > 0, largest, 1.0)[..., None]
        dist = largest * np.sum(unit**p, axis=-1) ** (1.0 / p)
    weights = minimum_spanning_tree(dist).data
    assert weights.shape == (len(distinct) - 1,)
    return np.ldexp(np.sort(np.concatenate([zeros, weights])), exponent)


def reference_loss(z: np.ndarray, eta: float, branches: int, p: float, reduction: str):
    z = np.asarray(z, dtype=np.float64)
    width = z.shape[1] // branches
    per_branch = np.array(
        [
            np.abs(eta - mst_deaths(z[:, b * width : (b + 1) * width], p)).sum()
            for b in range(branches)
        ]
    )
    return {"mean": per_branch.mean(), "sum": per_branch.sum(), "none": per_branch}[reduction]


def ripser_per_branch_l1(z: np.ndarray, eta: float, branches: int) -> np.ndarray:
    """Per-branch loss with ripser's diagram on a precomputed l1 matrix (a second oracle)."""
    ripser = pytest.importorskip("ripser")
    width = z.shape[1] // branches
    out = []
    for b in range(branches):
        block = z[:, b * width : (b + 1) * width]
        dgm = ripser.ripser(cdist(block, block, "cityblock"), maxdim=0, distance_matrix=True)
        deaths = dgm["dgms"][0][:, 1]
        finite = deaths[np.isfinite(deaths)]
        # ripser drops zero-length pairs: each contributes |eta - 0| = eta.
        out.append(np.abs(eta - finite).sum() + eta * (len(z) - 1 - finite.size))
    return np.array(out)


# ----------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reference_shape_branches16(dtype, reduction):
    """The reference recipe: batch 100, latent 160, 16 branches of 10 dims, l1, eta = 2."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(100, 160, generator=gen, dtype=torch.float64).to(dtype)
    loss = connectivity_loss(z, eta=2.0, branches=16, p=1.0, reduction=reduction)
    expected = reference_loss(z.double().numpy(), 2.0, 16, 1.0, reduction)
    assert loss.dtype == dtype
    assert loss.shape == ((16,) if reduction == "none" else ())
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(loss.double().numpy(), expected, rtol=rtol)
    if reduction == "none":
        np.testing.assert_allclose(
            loss.double().numpy(), ripser_per_branch_l1(z.double().numpy(), 2.0, 16), rtol=1e-5
        )


def test_defaults_are_eta2_one_branch_l1_mean():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    expected = reference_loss(z.numpy(), 2.0, 1, 1.0, "mean")
    np.testing.assert_allclose(connectivity_loss(z).item(), expected, rtol=1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_metric(p):
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(30, 12, generator=gen, dtype=torch.float64)
    loss = connectivity_loss(z, eta=0.7, branches=3, p=p, reduction="none")
    np.testing.assert_allclose(
        loss.numpy(), reference_loss(z.numpy(), 0.7, 3, p, "none"), rtol=1e-12
    )


def test_blocks_are_contiguous_latent_slices():
    """Branch b sees columns [b*w, (b+1)*w): moving one block's points changes only its loss."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(20, 8, generator=gen, dtype=torch.float64)
    base = connectivity_loss(z, branches=4, reduction="none")
    z2 = z.clone()
    z2[:, 4:6] *= 3.0  # block 2 only
    moved = connectivity_loss(z2, branches=4, reduction="none")
    assert torch.equal(moved[[0, 1, 3]], base[[0, 1, 3]])
    assert not torch.isclose(moved[2], base[2])
    for b in range(4):
        block = z[:, 2 * b : 2 * b + 2]
        torch.testing.assert_close(base[b], (2.0 - vr_persistence0(block, 1.0)).abs().sum())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    batch=st.integers(2, 30),
    branches=st.integers(1, 5),
    width=st.integers(1, 6),
    eta=st.floats(0.05, 10.0),
    p=st.sampled_from([1.0, 2.0, math.inf]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_matches_reference_hypothesis(data, batch, branches, width, eta, p, reduction):
    """Integer grids force ties and duplicate codes (zero deaths)."""
    z_int = data.draw(hnp.arrays(np.int64, (batch, branches * width), elements=st.integers(-2, 2)))
    z = torch.from_numpy(z_int.astype(np.float64) * 0.5)
    loss = connectivity_loss(z, eta=eta, branches=branches, p=p, reduction=reduction)
    expected = reference_loss(z.numpy(), eta, branches, p, reduction)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_identical_codes():
    """All codes equal: every death is 0, so each branch costs (B - 1) * eta."""
    z = torch.ones(7, 6, requires_grad=True)
    loss = connectivity_loss(z, eta=1.5, branches=3, reduction="none")
    assert torch.equal(loss.detach(), torch.full((3,), 6 * 1.5))
    loss.sum().backward()
    assert torch.isfinite(z.grad).all()


def test_int_eta_equals_float_eta():
    z = torch.randn(10, 4, dtype=torch.float64)
    assert torch.equal(connectivity_loss(z, eta=3), connectivity_loss(z, eta=3.0))


def test_non_contiguous_z():
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(40, 30, generator=gen).T  # (30, 40), transposed storage
    assert not z.is_contiguous()
    for reduction in ("mean", "none"):
        torch.testing.assert_close(
            connectivity_loss(z, branches=4, reduction=reduction),
            connectivity_loss(z.contiguous(), branches=4, reduction=reduction),
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
@pytest.mark.parametrize(
    ("dtype", "scale"),
    [
        (torch.float32, 1e-30),
        (torch.float32, 1e20),
        (torch.float32, 1e30),
        (torch.float64, 1e-300),
        (torch.float64, 1e300),
    ],
)
def test_extreme_scales_match_reference(dtype, scale, p):
    """Codes and eta at 1e-30 .. 1e300: the loss is the reference's (it overflowed before)."""
    gen = torch.Generator().manual_seed(7)
    z = (torch.randn(20, 12, generator=gen, dtype=torch.float64) * scale).to(dtype)
    eta = 0.5 * scale
    loss = connectivity_loss(z, eta=eta, branches=3, p=p, reduction="none")
    expected = reference_loss(z.double().numpy(), eta, 3, p, "none")
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(loss.double().numpy(), expected, rtol=tol, atol=tol * 20 * scale)


def test_mean_overflows_only_with_a_branch():
    """Each branch's loss is finite, their sum is not: "mean" is still finite and right."""
    big = torch.finfo(torch.float32).max / 3
    z = torch.zeros(2, 4)
    z[1] = big  # 4 branches of 1 dim, each with one death of length big
    mean = connectivity_loss(z, eta=1.0, branches=4, reduction="mean")
    assert math.isinf(connectivity_loss(z, eta=1.0, branches=4, reduction="sum").item())
    assert math.isfinite(mean.item())
    np.testing.assert_allclose(mean.item(), reference_loss(z.double().numpy(), 1.0, 4, 1.0, "mean"))


@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
def test_death_beyond_the_range_gives_inf_loss_with_finite_gradient(p):
    big = torch.finfo(torch.float32).max * 0.75
    z = torch.tensor([[-big, 0.0], [big, 0.0]], requires_grad=True)
    loss = connectivity_loss(z, eta=1.0, p=p)
    assert math.isinf(loss.item())
    loss.backward()
    assert z.grad.tolist() == [[-1.0, 0.0], [1.0, 0.0]]


# ----------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_gradient_equals_finite_differences(reduction, p):
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(7, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    eta = 0.9
    deaths = vr_persistence0(z.detach().reshape(7, 3, 2).transpose(0, 1), p)
    assert ((deaths - eta).abs() > 1e-3).all(), "no death sits on the kink of |eta - t|"

    def f(y):
        return connectivity_loss(y, eta=eta, branches=3, p=p, reduction=reduction)

    assert torch.autograd.gradcheck(f, (z,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("p", [1.0, 2.0, 64.0, math.inf])
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_gradient_equals_finite_differences_at_extreme_scales(scale, p):
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(7, 6, generator=gen, dtype=torch.float64) * scale
    eta = 0.9 * scale
    deaths = vr_persistence0(z.reshape(7, 3, 2).transpose(0, 1), p)
    assert ((deaths - eta).abs() > 1e-3 * scale).all(), "no death sits on the kink of |eta - t|"

    def f(y):
        return connectivity_loss(y, eta=eta, branches=3, p=p)

    # The loss is 1-homogeneous in (z, eta): its gradient is O(1), steps are relative.
    assert torch.autograd.gradcheck(f, (z.requires_grad_(),), eps=1e-6 * scale, atol=1e-6)


def test_gradient_by_hand():
    """Two codes, one branch, l1: loss = |eta - |a - b|_1|; d/da = -sign(eta - t) * sign(a - b)."""
    z = torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=torch.float64, requires_grad=True)
    loss = connectivity_loss(z, eta=2.0)  # t = 3 > eta
    assert loss.item() == 1.0
    loss.backward()
    torch.testing.assert_close(
        z.grad, torch.tensor([[-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    )


# ----------------------------------------------------------------------------------------------
# Optimisation sanity check
# ----------------------------------------------------------------------------------------------
def test_adam_moves_deaths_toward_eta():
    torch.manual_seed(0)
    eta = 2.0
    z = (0.1 * torch.randn(20, 2, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.Adam([z], lr=0.05)

    def gap():
        with torch.no_grad():
            return (vr_persistence0(z, 1.0) - eta).abs().mean().item()

    start = gap()
    for _ in range(300):
        opt.zero_grad()
        loss = connectivity_loss(z, eta=eta, p=1.0)
        loss.backward()
        opt.step()
    end = gap()
    assert start > 1.5  # the cloud starts far tighter than eta
    assert end < start / 20, (start, end)


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------
def test_latent_not_divisible_by_branches():
    with pytest.raises(ValueError, match=r"(?s)(?=.*\b10\b)(?=.*\b3\b)"):
        connectivity_loss(torch.randn(8, 10), branches=3)


@pytest.mark.parametrize(
    ("branches", "exc"),
    [
        (0, ValueError),
        (-2, ValueError),
        (2.0, TypeError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
    ],
)
def test_bad_branches(branches, exc):
    with pytest.raises(exc, match=r"^branches\b"):
        connectivity_loss(torch.randn(8, 10), branches=branches)


@pytest.mark.parametrize(
    ("eta", "exc"),
    [
        (0, ValueError),
        (0.0, ValueError),
        (-0.0, ValueError),
        (-1.0, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
        (torch.tensor(2.0), TypeError),
    ],
)
def test_bad_eta(eta, exc):
    with pytest.raises(exc, match=r"^eta\b"):
        connectivity_loss(torch.randn(8, 10), eta=eta)


def test_numpy_eta_accepted():
    z = torch.randn(10, 4, dtype=torch.float64)
    assert torch.equal(connectivity_loss(z, eta=np.float64(1.5)), connectivity_loss(z, eta=1.5))


@pytest.mark.parametrize(
    ("reduction", "error"),
    [("avg", ValueError), ("MEAN", ValueError), ("", ValueError), (None, TypeError)],
)
def test_bad_reduction(reduction, error):
    with pytest.raises(error, match=r"^reduction\b"):
        connectivity_loss(torch.randn(8, 10), reduction=reduction)


@pytest.mark.parametrize(
    ("z", "exc"),
    [
        (torch.randn(10), ValueError),
        (torch.randn(2, 3, 4), ValueError),
        (torch.tensor(1.0), ValueError),
        ([[0.0, 1.0], [1.0, 0.0]], TypeError),
        (np.zeros((8, 10)), TypeError),
    ],
    ids=["1d", "3d", "0d", "list", "ndarray"],
)
def test_bad_z_shape(z, exc):
    with pytest.raises(exc, match=r"^z\b"):
        connectivity_loss(z)


@pytest.mark.parametrize(
    ("p", "exc"),
    [
        (0.5, ValueError),
        (0, ValueError),
        (-math.inf, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_bad_p(p, exc):
    with pytest.raises(exc, match=r"^p\b"):
        connectivity_loss(torch.randn(8, 10), p=p)


@pytest.mark.parametrize(
    ("z", "exc"),
    [
        (torch.randn(1, 10), ValueError),  # a single code: no death times
        (torch.randint(0, 3, (8, 10)), TypeError),
        (torch.randn(8, 10).half(), TypeError),
        (torch.full((8, 10), math.nan), ValueError),
    ],
    ids=["batch1", "int", "half", "nan"],
)
def test_bad_z_content(z, exc):
    with pytest.raises(exc, match=r"^z\b"):
        connectivity_loss(z)


def test_torch_compile_rejects_nan():
    """Compiled, the eager check of z is not traced; the kernel's check still raises."""
    compiled = torch.compile(
        lambda z: connectivity_loss(z, branches=2, p=1.0),
        fullgraph=True,
        backend="aot_eager",
        dynamic=False,
    )
    torch._dynamo.reset()
    z = torch.randn(12, 6, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(compiled(z), connectivity_loss(z, branches=2, p=1.0))
    z[4, 5] = math.nan  # branch 1
    with pytest.raises(ValueError, match=r"dist\[1\] contains NaN or inf"):
        compiled(z)
    torch._dynamo.reset()


def test_reconstruction_l1_is_the_per_image_sum_averaged_over_the_batch() -> None:
    from toposhape.losses import reconstruction_l1

    images = torch.zeros(2, 3, 4, 4)
    reconstruction = torch.zeros(2, 3, 4, 4)
    reconstruction[0] = 0.5  # image 0: 48 values off by 0.5 -> 24
    reconstruction[1, 0, 0, 0] = -2.0  # image 1: one value off by 2 -> 2
    assert reconstruction_l1(reconstruction, images).item() == pytest.approx((24.0 + 2.0) / 2)
    x = torch.rand(5, 1, 7, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.rand(5, 1, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = np.abs(x.numpy() - y.numpy()).reshape(5, -1).sum(axis=1).mean()
    assert reconstruction_l1(x, y).item() == pytest.approx(expected, rel=1e-12)
    # 49 pixels per image: the per-pixel mean of torch's l1_loss is 49x smaller
    per_pixel = torch.nn.functional.l1_loss(x, y).item()
    assert reconstruction_l1(x, y).item() == pytest.approx(49 * per_pixel, rel=1e-12)


def test_reconstruction_l1_rejects_mismatched_shapes() -> None:
    from toposhape.losses import reconstruction_l1

    with pytest.raises(ValueError, match="same shape"):
        reconstruction_l1(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5))
    with pytest.raises(TypeError, match="tensors"):
        reconstruction_l1(np.zeros((2, 3)), torch.zeros(2, 3))
