"""Metric entropy of latent codes: how many balls of radius η it takes to cover them.

The paper's guideline for the batch size B is a metric-entropy one: B should match the
number of η-balls needed to cover the codes. :func:`eta_net` computes a greedy η-net (in a
given order, a point becomes a centre unless it lies within η of an earlier centre); its
size N_η lies between the smallest number of η-balls centred at the points that cover them
(the internal covering number) and the largest η-separated subset (the packing number).

N_η of a growing sample never levels off when the codes have tails: every stray code needs
a ball of its own. :func:`partial_covers` therefore also counts the *partial* covering
numbers k_q: each code is assigned to its nearest centre of the net, and k_q is the fewest
centres, largest first, whose codes make up a share q of the sample (k_1 = N_η, since
every centre is its own nearest centre). :func:`covering_numbers` gives them for each
latent branch and growing nested samples of codes.
"""

import math
from collections.abc import Sequence
from typing import Any

import torch

from toposhape.checks import check_float, check_int, check_sequence, check_tensor
from toposhape.losses import branch_clouds
from toposhape.pershom import check_p
from toposhape.studies.connectivity.deaths import check_codes, check_sizes
from toposhape.training import MAX_SEED


def eta_net(points: torch.Tensor, radius: float, p: float = 1.0, chunk: int = 1024) -> torch.Tensor:
    """Indices of a greedy ``radius``-net of ``points``, in the order they are visited.

    Point i is a centre iff no earlier centre lies within ℓp distance ``radius`` of it
    (distance ≤ radius counts as covered). The centres cover every point and are pairwise
    farther apart than ``radius``. The net of the first m points is the prefix of the
    centres with index < m.

    Parameters
    ----------
    points : Tensor, shape (N, D)
        Finite float32/float64 points, N ≥ 1.
    radius : float
        Ball radius, finite and > 0.
    p : float
        ℓp metric, ≥ 1 (or inf).
    chunk : int
        Points compared at once with the centres found so far, ≥ 1.

    Returns
    -------
    LongTensor, shape (K,)
        Increasing indices of the centres.
    """
    points = check_tensor("points", points, ndim=2, floating=True, finite=True, min_rows=1)
    radius = check_float("radius", radius, 0.0, low_open=True)
    p = check_p(p)
    chunk = check_int("chunk", chunk, 1)
    centres = points[:0]
    chosen: list[torch.Tensor] = []
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        free = torch.ones(len(block), dtype=torch.bool)
        if len(centres):
            free = (torch.cdist(block, centres, p=p) > radius).all(dim=1).cpu()
        index = torch.nonzero(free).flatten()
        if not len(index):
            continue
        near = (torch.cdist(block[index], block[index], p=p) <= radius).cpu()
        alive = torch.ones(len(index), dtype=torch.bool)
        picked = []
        for i in range(len(index)):  # sequential within the block: earlier picks cover later
            if alive[i]:
                picked.append(i)
                alive &= ~near[i]
        new = index[picked] + start
        chosen.append(new)
        centres = torch.cat([centres, points[new.to(points.device)]])
    return torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)


#: Shares q of the codes whose partial covering number k_q is recorded (k_1 = N_η).
QUANTILES = (0.5, 0.9, 0.99, 1.0)


def partial_covers(
    points: torch.Tensor,
    centres: torch.Tensor,
    quantiles: Sequence[float],
    p: float = 1.0,
) -> list[int]:
    """Partial covering numbers k_q of ``points`` by the balls around ``centres``.

    Each point is assigned to its nearest centre (ℓp; ties: the earlier centre). With the
    centres sorted by how many points they were assigned, largest first, k_q is the
    smallest k whose first k centres hold at least a share q of the points. Where the
    centres are a net of the points (e.g. :func:`eta_net`'s), each centre is its own
    nearest centre, so k_1 is the number of centres.

    Parameters
    ----------
    points : Tensor, shape (N, D)
        Finite float32/float64 points, N ≥ 1.
    centres : Tensor, shape (K, D)
        Finite points of the same dtype and device, K ≥ 1.
    quantiles : sequence of float
        Shares q, each in (0, 1].
    p : float
        ℓp metric, ≥ 1 (or inf).

    Returns
    -------
    list of int
        k_q for each q of ``quantiles``, each in [1, K].
    """
    points = check_tensor("points", points, ndim=2, floating=True, finite=True, min_rows=1)
    centres = check_tensor("centres", centres, ndim=2, floating=True, finite=True, min_rows=1)
    if centres.shape[1] != points.shape[1] or centres.dtype != points.dtype:
        raise ValueError(
            f"centres must be {points.dtype} with {points.shape[1]} columns like points, got "
            f"{centres.dtype} with {centres.shape[1]}"
        )
    quantiles = [
        check_float(f"quantiles[{i}]", q, 0.0, 1.0, low_open=True)
        for i, q in enumerate(check_sequence("quantiles", quantiles))
    ]
    p = check_p(p)
    counts = _nearest_counts(points, centres, [(len(points), len(centres))], p)[0]
    return _covers(counts, quantiles)


def _nearest_counts(
    points: torch.Tensor, centres: torch.Tensor, samples: list[tuple[int, int]], p: float
) -> list[torch.Tensor]:
    """Per sample (m, k): how many of the first m points have each of the first k centres
    as their nearest among those k (ties: the earlier centre), shape (k,) each.

    One distance block per chunk of points serves every sample (of nested prefixes); the
    block stays near 64 MB.
    """
    top = max(k for _, k in samples)
    chunk = max(1, min(4096, (1 << 24) // top))
    counts = [torch.zeros(k, dtype=torch.int64) for _, k in samples]
    for start in range(0, max(m for m, _ in samples), chunk):
        dist = torch.cdist(points[start : start + chunk], centres[:top], p=p)
        for (m, k), count in zip(samples, counts, strict=True):
            if m > start:
                nearest = dist[: m - start, :k].argmin(dim=1).cpu()
                count += torch.bincount(nearest, minlength=k)
    return counts


def _covers(counts: torch.Tensor, quantiles: Sequence[float]) -> list[int]:
    """k_q from the points per centre: the fewest centres, largest first, holding a share q."""
    held = torch.sort(counts, descending=True).values.cumsum(0)  # (K,), last = N
    total = int(held[-1])
    # the first k with held[k - 1] >= q N (integer comparison up to float rounding)
    return [int(torch.searchsorted(held, math.ceil(q * total - 1e-9))) + 1 for q in quantiles]


def covering_numbers(
    codes: torch.Tensor,
    branches: int,
    radius: float,
    p: float,
    sizes: list[int],
    seed: int,
) -> dict[str, Any]:
    """Partial covering numbers k_q of each branch's codes by a greedy η-net, for growing
    random samples.

    The codes are visited in one seeded random order; the sample of size m is its first m
    codes, so the samples are nested, and so are their greedy nets (the net of the first m
    codes is the prefix of the centres with index < m), and N_η = k_1 can only grow with
    m. Within each sample, every code is assigned to its nearest centre of the sample's
    net (:func:`partial_covers`), for the shares q of :data:`QUANTILES`. Sizes larger than
    the number of codes are skipped.

    Parameters
    ----------
    codes : Tensor, shape (N, L)
        Finite float32/float64 codes, N ≥ 2.
    branches : int
        ≥ 1, dividing L.
    radius : float
        η, finite and > 0.
    p : float
        ℓp metric, ≥ 1 (or inf).
    sizes : sequence of int
        Sample sizes, each ≥ 2.
    seed : int
        Seeds the order, in [0, 2**32 - 1].

    Returns
    -------
    dict
        ``sizes`` (those measured), ``quantiles`` (:data:`QUANTILES`) and ``k``: nested
        lists [size][quantile][branch] of k_q (the last quantile, 1, gives N_η).
    """
    codes, branches = check_codes(codes, branches)
    radius = check_float("radius", radius, 0.0, low_open=True)
    p = check_p(p)
    sizes = [m for m in check_sizes("sizes", sizes) if m <= len(codes)]
    seed = check_int("seed", seed, 0, MAX_SEED)
    order = torch.randperm(len(codes), generator=torch.Generator().manual_seed(seed + 13))
    clouds = branch_clouds(codes[order.to(codes.device)], branches)  # (branches, N, dim)
    k = [[[0] * branches for _ in QUANTILES] for _ in sizes]
    for b, cloud in enumerate(clouds if sizes else []):
        net = eta_net(cloud[: max(sizes)], radius, p)
        samples = [(m, int((net < m).sum())) for m in sizes]  # the net of m: its first k
        counts = _nearest_counts(cloud, cloud[net.to(cloud.device)], samples, p)
        for i, count in enumerate(counts):
            for j, kq in enumerate(_covers(count, QUANTILES)):
                k[i][j][b] = kq
    return {"sizes": sizes, "quantiles": list(QUANTILES), "k": k}
