"""0-dimensional Vietoris–Rips persistent homology of point clouds.

In a Vietoris–Rips filtration every point is born at 0, and two connected
components merge when the growing distance threshold reaches the length of an
edge of a minimum spanning tree (MST). The n-1 death times of a cloud of n
points are therefore the MST edge lengths. The MST is found by a compiled
kernel (Prim's algorithm, exact, O(n²)) on a detached distance matrix; the
death times are then recomputed from the points along those edges, so autograd
sends each death's gradient to both endpoints of its edge.
"""

import math

import torch

from toposhape import _ops


def check_points(x: torch.Tensor, name: str = "x") -> None:
    """Validate a batch of point clouds of shape ``(..., n, D)``.

    Raises
    ------
    TypeError
        If ``x`` is not a float32/float64 tensor.
    ValueError
        If it has fewer than 2 dims, fewer than 2 points, no coordinates,
        non-finite values, or lives on a device without a kernel.
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
    # A data-dependent check; torch.compile traces without it.
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(x).all()):
        raise ValueError(
            f"{name} contains NaN or inf; the persistence of such a cloud is undefined"
        )


def check_p(p: float) -> float:
    """Return ``p`` as a float if it names an ℓp metric (p >= 1, inf allowed)."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"p must be a number >= 1 or math.inf, got {p!r}")
    p = float(p)
    if math.isnan(p) or p < 1.0:
        raise ValueError(f"p must be >= 1 (an lp metric; 1, 2 and inf are usual), got {p}")
    return p


def pairwise_distances(x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """ℓp distances between all points of each cloud.

    Parameters
    ----------
    x : Tensor, shape (B, n, D)
    p : float
        ℓp exponent, ``>= 1`` or ``math.inf``.

    Returns
    -------
    Tensor, shape (B, n, n)
        Computed coordinate-wise (not via a matrix product), so tiny distances
        and exact ties keep their exact values.
    """
    return torch.cdist(x, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")


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
    """
    check_points(x)
    p = check_p(p)
    *lead, n, dim = x.shape
    with torch.no_grad():
        flat = x.detach().reshape(-1, n, dim)
        edges = _ops.mst_edges(pairwise_distances(flat, p))
    return edges.reshape(*lead, n - 1, 2)


def edge_lengths(x: torch.Tensor, edges: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Differentiable ℓp lengths of given edges of each cloud.

    Parameters
    ----------
    x : Tensor, shape (..., n, D)
    edges : LongTensor, shape (..., m, 2)
        Vertex indices into dim -2 of ``x``.
    p : float

    Returns
    -------
    Tensor, shape (..., m)
    """
    lead, m = edges.shape[:-2], edges.shape[-2]
    index = edges.reshape(*lead, 2 * m, 1).expand(*lead, 2 * m, x.shape[-1])
    ends = torch.gather(x, -2, index).reshape(*edges.shape, x.shape[-1])
    diff = ends[..., 0, :] - ends[..., 1, :]
    # The common metrics written out: several times faster than vector_norm for small clouds.
    if p == 1.0:
        return diff.abs().sum(dim=-1)
    if p == math.inf:
        return diff.abs().amax(dim=-1)
    return torch.linalg.vector_norm(diff, ord=p, dim=-1)


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
        the edge's two endpoints (a subgradient where distances tie).

    Examples
    --------
    >>> x = torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    >>> vr_persistence0(x)
    tensor([1., 3.])
    """
    edges = death_edges(x, p)
    # The kernel sorted the edges by cdist's distances; recomputing a length sums the
    # same terms in another order, which can swap near-equal deaths by an ulp. Sort again.
    return edge_lengths(x, edges, check_p(p)).sort(dim=-1, stable=True).values
