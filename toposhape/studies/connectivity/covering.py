"""Metric entropy of latent codes: how many balls of radius η it takes to cover them.

The paper's guideline for the batch size B is a metric-entropy one: B should match the
number of η-balls needed to cover the codes. :func:`eta_net` computes a greedy η-net (in a
given order, a point becomes a centre unless it lies within η of an earlier centre); its
size N_η lies between the smallest number of η-balls centred at the points that cover them
(the internal covering number) and the largest η-separated subset (the packing number).
:func:`covering_numbers` gives N_η of each latent branch for growing samples of codes.
"""

from typing import Any

import torch

from toposhape.checks import check_float, check_int, check_tensor
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


def covering_numbers(
    codes: torch.Tensor,
    branches: int,
    radius: float,
    p: float,
    sizes: list[int],
    seed: int,
) -> dict[str, Any]:
    """Greedy η-net sizes N_η of each branch's codes, for growing random samples.

    The codes are visited in one seeded random order; the sample of size m is its first m
    codes, so the sizes are nested and N_η can only grow with m (a sample that has
    saturated covers the codes' support). Sizes larger than the number of codes are skipped.

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
        ``sizes`` (those measured) and ``per_branch`` (one list of ``branches`` net sizes
        per sample size).
    """
    codes, branches = check_codes(codes, branches)
    radius = check_float("radius", radius, 0.0, low_open=True)
    p = check_p(p)
    sizes = [m for m in check_sizes("sizes", sizes) if m <= len(codes)]
    seed = check_int("seed", seed, 0, MAX_SEED)
    order = torch.randperm(len(codes), generator=torch.Generator().manual_seed(seed + 13))
    clouds = branch_clouds(codes[order.to(codes.device)], branches)  # (branches, N, dim)
    nets = [eta_net(cloud, radius, p) for cloud in clouds]
    return {
        "sizes": sizes,
        "per_branch": [[int((net < m).sum()) for net in nets] for m in sizes],
    }
