"""0-dimensional Vietoris–Rips persistence of point clouds.

In a Vietoris–Rips filtration every point is born at 0, and two connected
components merge when the growing distance threshold reaches the length of an
edge of a minimum spanning tree (MST). The n-1 death times of a cloud of n
points are therefore the MST edge lengths.

The MST is found by a compiled kernel (Prim's algorithm, exact, O(n²)) on a
detached distance matrix of the cloud scaled by the power of two that brings
its largest |coordinate| into [1/2, 1): the MST does not change under a
positive scaling, this one is exact (ties stay ties), and no distance of the
scaled cloud overflows. The death times are then recomputed from the points
along those edges, and autograd sends each death's gradient to both endpoints
of its edge.

Every ℓp length with p other than 1 and inf, in the matrix and in the deaths,
is computed as ``m * ||d / m||_p`` with ``m = max_i |d_i|``, so that no power
``|d_i|^p`` over- or underflows. The deaths are thus exact up to rounding at
every scale of the finite float range; a death beyond the dtype's largest
finite number is inf (its gradient stays finite). Two limits of the scaled
matrix the tree is chosen on: a coordinate below the smallest normal number
times the cloud's largest (2^-126 in float32, 2^-1022 in float64) loses
precision there, and with p = 2 (cdist's sum of squares) so does the distance
of two points closer than about 2^-63 (float32) or 2^-511 (float64) times it.
Among such points the tree is minimal only up to that absolute error, far
below the resolution of the cloud's largest coordinate; the deaths along it
are still exact.

A cloud with a NaN or inf coordinate raises ValueError: in eager mode from
:func:`check_points`, naming the argument, and under ``torch.compile`` (which
traces without that data-dependent check) from the kernel, which rejects every
NaN or inf distance it reads.
"""

import math
import numbers

import torch

from toposhape import _ops
from toposhape.checks import check_tensor

#: Elements of the (rows, n, D) blocks of differences the general-p distance matrix is built from.
_BLOCK_ELEMENTS = 1 << 22


def check_points(x: torch.Tensor, name: str = "x") -> None:
    """Validate a batch of point clouds of shape ``(..., n, D)``.

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 tensor.
    ValueError
        If it has fewer than 2 dims, fewer than 2 points, no coordinates,
        non-finite values, or lives on a device without a kernel. Finiteness
        is not checked while ``torch.compile`` traces; there the kernel of
        :func:`death_edges` rejects a non-finite cloud.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (..., n, D), got {type(x)!r}")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.dim() < 2:
        raise ValueError(
            f"{name} must have shape (..., n, D) (at least 2 dims), got shape {tuple(x.shape)}"
        )
    if x.shape[-2] < 2:
        raise ValueError(f"{name} needs at least 2 points (dim -2), got shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        raise ValueError(f"{name} needs at least 1 coordinate (dim -1), got {tuple(x.shape)}")
    if not _ops.has_kernel(x.device.type):
        hint = " (toposhape was built without CUDA kernels)" if x.is_cuda else ""
        raise ValueError(f"{name} is on device {x.device}, which has no kernel{hint}")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"{name} contains NaN or inf; the persistence of such a cloud is undefined"
        )


def check_p(p: float) -> float:
    """Return ``p`` as a float if it names an ℓp metric (p >= 1, inf allowed).

    Every bad value, NaN included, gets the one message "p must be >= 1 ...",
    which the configs that call this pass on.

    Raises
    ------
    TypeError
        If ``p`` is not a real number (bools refused; numpy scalars accepted).
    ValueError
        If it is NaN or below 1.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a number >= 1 or math.inf, got {p!r}")
    p = float(p)
    if not p >= 1.0:  # NaN too
        raise ValueError(f"p must be >= 1 (an lp metric; 1, 2 and inf are usual), got {p}")
    return p


def pairwise_distances(x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """ℓp distances between all points of each cloud.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)
        Point clouds, float32 or float64, finite.
    p : float
        ℓp exponent, ``>= 1`` or ``math.inf``.

    Returns
    -------
    Tensor, shape (..., n, n)
        Computed coordinate-wise (not via a matrix product) on each cloud
        scaled by a power of two, then scaled back, as the module docstring
        describes: exact up to rounding at every scale (inf where a distance
        exceeds the dtype's range), exact ties kept. No gradient.
    """
    check_points(x)
    p = check_p(p)
    with torch.no_grad():
        unit, factor, _ = _unit_clouds(x.detach())
        return _distances(unit, p) / factor


def death_edges(x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """The vertex pairs whose distances are the 0-dim VR death times.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)
        Point clouds, float32 or float64, any leading batch dims.
    p : float
        ℓp metric, ``>= 1`` or ``math.inf``.

    Returns
    -------
    LongTensor, shape (..., n-1, 2)
        The edges of a minimum spanning tree of each cloud, rows ``(u, v)``
        with ``u < v``, sorted by length ascending (ties keep the order in
        which Prim's algorithm, started at point 0, adds them). No gradient.

    Raises
    ------
    ValueError
        Also under ``torch.compile``, if a cloud has a NaN or inf coordinate.
    """
    check_points(x)
    p = check_p(p)
    *lead, n, dim = x.shape
    with torch.no_grad():
        flat = x.detach().reshape(-1, n, dim)
        unit, _, largest = _unit_clouds(flat)
        dist = _distances(unit, p)
        # NaN at entry (0, 1), which Prim reads first, for a cloud with a NaN or inf coordinate:
        # the kernel rejects it even under torch.compile (cdist's l-inf would drop a NaN).
        dist[:, 0, 1] += largest.flatten() * 0
        edges = _ops.mst_edges(dist)
    return edges.reshape(*lead, n - 1, 2)


def edge_lengths(x: torch.Tensor, edges: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Differentiable ℓp lengths of given edges of each cloud.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)
        Point clouds, float32 or float64, finite.
    edges : Tensor, shape (..., m, 2)
        Integer vertex indices into dim -2 of ``x`` (``0 <= index < n``), with
        the leading dims of ``x``, on its device.
    p : float
        ℓp metric, ``>= 1`` or ``math.inf``.

    Returns
    -------
    Tensor, shape (..., m)
        Exact up to rounding at every scale; inf where a length exceeds the
        dtype's largest finite number (with a finite gradient).

    Raises
    ------
    TypeError
        If ``edges`` is not an integer tensor (or ``x``, ``p`` are of a wrong type).
    ValueError
        On a wrong shape or device of ``edges``, or an index out of range (not
        checked while ``torch.compile`` traces; the gather then fails instead).
    """
    check_points(x)
    p = check_p(p)
    check_tensor("edges", edges)
    if edges.is_floating_point() or edges.is_complex() or edges.dtype == torch.bool:
        raise TypeError(f"edges must be an integer tensor, got {edges.dtype}")
    if edges.dim() < 2 or edges.shape[-1] != 2 or edges.shape[:-2] != x.shape[:-2]:
        raise ValueError(
            f"edges must have shape (..., m, 2) with the leading dims {tuple(x.shape[:-2])} of "
            f"x, got shape {tuple(edges.shape)}"
        )
    if edges.device != x.device:
        raise ValueError(f"edges must be on the device of x ({x.device}), got {edges.device}")
    n = x.shape[-2]
    if not torch.compiler.is_compiling() and bool(((edges < 0) | (edges >= n)).any()):
        raise ValueError(f"edges must index the {n} points of x (0 <= index < {n})")
    return _edge_lengths(x, edges.long(), p)


def vr_persistence0(x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Death times of the 0-dimensional Vietoris–Rips persistence of point clouds.

    All births are 0. Duplicate points give zero-length deaths, which are
    kept, so the output shape never depends on the data.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)
        Point clouds (float32 or float64, any leading batch dims, e.g. the 16
        branches of a latent code at once; non-contiguous is fine).
    p : float, default 2.0
        The ℓp metric: any ``p >= 1``, including ``math.inf``.

    Returns
    -------
    Tensor, shape (..., n-1)
        Death times sorted ascending, differentiable with respect to ``x``:
        each death is the ℓp length of an MST edge, so its gradient reaches
        the edge's two endpoints (a subgradient where distances tie). Exact
        up to rounding at every scale, ``vr_persistence0(c * x) == c *
        vr_persistence0(x)`` for a power of two ``c`` while both are normal
        numbers; a death beyond the dtype's largest finite number is inf
        (with a finite gradient).

    Raises
    ------
    ValueError
        Also under ``torch.compile``, if a cloud has a NaN or inf coordinate.

    Examples
    --------
    >>> x = torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    >>> vr_persistence0(x)
    tensor([1., 3.])
    """
    edges = death_edges(x, p)
    # The kernel sorted the edges by the scaled cloud's distances; recomputing a length rounds
    # differently, which can swap near-equal deaths by an ulp. Sort again.
    return _edge_lengths(x, edges, check_p(p)).sort(dim=-1, stable=True).values


def _unit_clouds(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each cloud times the power of two that brings its largest |coordinate| into [1/2, 1).

    A power of two keeps every coordinate exact (short of subnormal results), so ties and
    integer grids stay exact. For a cloud of subnormal numbers the factor is capped at
    the largest power of two of the dtype, and the largest |coordinate| stays below 1/2.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)

    Returns
    -------
    unit : Tensor, shape (..., n, D)
        ``x * factor``, coordinates in (-1, 1).
    factor : Tensor, shape (..., 1, 1)
        The powers of two: 1 for an all-zero cloud or one with a NaN or inf.
    largest : Tensor, shape (..., 1, 1)
        The largest |coordinate|: NaN or inf for a cloud with a NaN or inf.
    """
    largest = x.abs().amax(dim=(-2, -1), keepdim=True)
    top = math.frexp(torch.finfo(x.dtype).max)[1] - 1  # 2^top: the largest power of two
    factor = _power_of_two(torch.frexp(largest).exponent.neg().clamp(max=top), x.dtype)
    return x * factor, factor, largest


#: Per dtype: the integer dtype of its bits, the mantissa's bits and the exponent's bias.
_FLOAT_LAYOUT = {torch.float32: (torch.int32, 23, 127), torch.float64: (torch.int64, 52, 1023)}


def _power_of_two(k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``2**k`` exactly, on any device.

    Built from the bits of two normal powers of two, ``2**(k // 2) * 2**(k - k // 2)``,
    whose product is exact (subnormal results included). ``torch.exp2`` is not exact at
    every integer on every device (on an H200, CUDA's float32 ``exp2(-127)`` was off),
    and an inexact factor would break the exact ties of the scaled cloud.

    Parameters
    ----------
    k : Tensor of int
        Exponents, within twice the dtype's normal exponent range (e.g. [-252, 254] for
        float32), which covers every ``k`` of :func:`_unit_clouds`.
    dtype : torch.float32 or torch.float64

    Returns
    -------
    Tensor, same shape as ``k``, of ``dtype``
    """
    bits, mantissa, bias = _FLOAT_LAYOUT[dtype]
    half = torch.div(k, 2, rounding_mode="floor")

    def normal(e: torch.Tensor) -> torch.Tensor:
        return torch.bitwise_left_shift((e + bias).to(bits), mantissa).view(dtype)

    return normal(half) * normal(k - half)


def _lp_norm(diff: torch.Tensor, p: float) -> torch.Tensor:
    """ℓp norm over the last dim, with no power over- or underflowing.

    For p other than 1 and inf, ``m * ||diff / m||_p`` with ``m = max_i |d_i|`` (see
    :func:`_scaled_norm`). Differentiable for p in {1, inf}; for the others, the
    gradient of an edge length is :class:`_EdgeLength`'s.
    """
    # The common metrics written out: several times faster than vector_norm for small clouds.
    if p == 1.0:
        return diff.abs().sum(dim=-1)
    if p == math.inf:
        return diff.abs().amax(dim=-1)
    return _scaled_norm(diff, p)[0]


def _scaled_norm(diff: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``m * ||diff / m||_p`` over the last dim, with ``m = max_i |d_i|``.

    No ``|d_i / m|^p`` overflows, and those that underflow are below the rounding
    of the sum (at least 1). Returns the norms (...,) and, for the gradient, the
    unit vectors ``diff / m`` (..., D) and their norms (..., 1).
    """
    smallest = torch.finfo(diff.dtype).smallest_normal * torch.finfo(diff.dtype).eps
    largest = diff.abs().amax(dim=-1, keepdim=True).clamp_min(smallest)  # > 0: 0 / m = 0
    unit = diff / largest
    unit_norm = torch.linalg.vector_norm(unit, ord=p, dim=-1, keepdim=True)
    return (unit_norm * largest).squeeze(-1), unit, unit_norm


def _edge_differences(start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``start - end``, or half of it for an edge where it overflows.

    A difference overflows only if an end is beyond half the largest float; the ends are
    then halved before subtracting (exactly, there). Returns the differences (..., D) and
    which edges were halved (...,).
    """
    diff = start - end
    halved = torch.isinf(diff).any(dim=-1, keepdim=True)
    return torch.where(halved, start * 0.5 - end * 0.5, diff), halved.squeeze(-1)


class _EdgeLength(torch.autograd.Function):
    """``||start - end||_p`` over the last dim, for p other than 1 and inf, at every scale.

    The forward pass is :func:`_scaled_norm` of :func:`_edge_differences` (doubled
    where halved: inf, as the length then exceeds the range). The gradient with
    respect to ``start``, ``sign(d) * (|d| / ||d||_p)^(p-1)``, is computed from the
    unit vectors and never through a product with ``m``: it stays finite up to the
    top of the range. The backward pass recomputes them from the ends, so that it is
    differentiable in turn.
    """

    @staticmethod
    def forward(ctx, start: torch.Tensor, end: torch.Tensor, p: float) -> torch.Tensor:
        diff, halved = _edge_differences(start, end)
        length = _scaled_norm(diff, p)[0]
        ctx.p = p
        ctx.save_for_backward(start, end)
        return torch.where(halved, length * 2.0, length)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        start, end = ctx.saved_tensors
        _, unit, unit_norm = _scaled_norm(_edge_differences(start, end)[0], ctx.p)
        ratio = unit.abs() / unit_norm.clamp_min(1.0)  # in [0, 1]; the norm is >= 1 or 0
        grad_start = grad.unsqueeze(-1) * unit.sign() * ratio.pow(ctx.p - 1.0)
        return grad_start, -grad_start, None


def _distances(x: torch.Tensor, p: float) -> torch.Tensor:
    """ℓp distance matrices of clouds ``x`` (..., n, D) whose coordinates are at most 1.

    cdist for p in {1, 2, inf} (no overflow for such coordinates); otherwise
    :func:`_lp_norm` of the coordinate differences, in blocks of rows.
    """
    if p in (1.0, 2.0, math.inf):
        return torch.cdist(x, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")
    rows = max(1, _BLOCK_ELEMENTS // max(1, x.numel()))
    blocks = [_lp_norm(block.unsqueeze(-2) - x.unsqueeze(-3), p) for block in x.split(rows, -2)]
    return torch.cat(blocks, dim=-2)


def _edge_lengths(x: torch.Tensor, edges: torch.Tensor, p: float) -> torch.Tensor:
    """:func:`edge_lengths` without the argument checks (``edges`` int64)."""
    lead, m = edges.shape[:-2], edges.shape[-2]
    index = edges.reshape(*lead, 2 * m, 1).expand(*lead, 2 * m, x.shape[-1])
    ends = torch.gather(x, -2, index).reshape(*edges.shape, x.shape[-1])
    start, end = ends[..., 0, :], ends[..., 1, :]
    if p in (1.0, math.inf):
        # An overflowed difference makes the length inf, which it is; the gradient stays finite.
        return _lp_norm(start - end, p)
    return _EdgeLength.apply(start, end, p)
