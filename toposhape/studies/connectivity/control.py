"""The batch-size guideline's control: ideal clouds whose batches of B die at η by design.

The guideline's rule (:func:`toposhape.studies.connectivity.summary.guideline`) reads the
covering numbers of trained codes whose batches of B die near η. Part of what it can find
follows from that alone: if batches of B points of *any* cloud have their death times at
η, an η-ball holds about 1/B of the cloud, so the number of balls that hold most of it
grows with B. :func:`ideal_covering` measures what the same covering numbers give on clouds
nobody trained: random clouds in the latent branch's dimension, each rescaled so that
random batches of B of its points die at η on average, at every B of the profile. The
chapter shows the rule's numbers on them next to the trained codes' (shown, not judged):
where the codes' numbers lie among the ideal clouds', the rule measures the calibration to
η more than the guideline.
"""

from collections.abc import Sequence
from typing import Any

import torch

from toposhape.checks import check_choice, check_float, check_int, check_sequence
from toposhape.pershom import check_p, vr_persistence0
from toposhape.studies.connectivity.covering import covering_numbers
from toposhape.studies.connectivity.deaths import check_sizes
from toposhape.training import MAX_SEED

#: The ideal clouds: name -> what they are (in ``dim`` coordinates).
CLOUDS = {
    "uniform": "uniform in a cube",
    "gaussian": "Gaussian",
    "gaussian-3d": "Gaussian on a random 3-D subspace",
}


def ideal_cloud(kind: str, n: int, dim: int, seed: int) -> torch.Tensor:
    """``n`` points of an ideal cloud of :data:`CLOUDS`, unscaled.

    Returns
    -------
    Tensor, shape (n, dim), float32
    """
    kind = check_choice("kind", kind, tuple(CLOUDS))
    n = check_int("n", n, 2)
    dim = check_int("dim", dim, 3 if kind == "gaussian-3d" else 1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0, MAX_SEED))
    if kind == "uniform":
        return torch.rand(n, dim, generator=gen)
    if kind == "gaussian":
        return torch.randn(n, dim, generator=gen)
    basis = torch.linalg.qr(torch.randn(dim, 3, generator=gen))[0]  # (dim, 3), orthonormal
    return torch.randn(n, 3, generator=gen) @ basis.T


def calibrate(
    points: torch.Tensor, batch_size: int, eta: float, p: float, batches: int, seed: int
) -> tuple[float, float]:
    """The factor that makes random batches of ``batch_size`` points die at ``eta`` on
    average, and the mean death time of fresh batches after scaling (a check: near ``eta``).

    Death times scale with the points, so the factor is ``eta`` over the mean death time
    of ``batches`` random batches (drawn without replacement within a batch).

    Parameters
    ----------
    points : Tensor, shape (N, D)
        N ≥ ``batch_size``.
    batch_size : int
        ≥ 2.
    eta : float
        > 0.
    p : float
        ℓp metric of the death times, ≥ 1 (or inf).
    batches : int
        ≥ 1, per estimate.
    seed : int
        Seeds the batches.
    """
    batch_size = check_int("batch_size", batch_size, 2, len(points))
    eta = check_float("eta", eta, 0.0, low_open=True)
    p = check_p(p)
    batches = check_int("batches", batches, 1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0, MAX_SEED))

    def mean_death(x: torch.Tensor) -> float:
        index = torch.stack(
            [torch.randperm(len(x), generator=gen)[:batch_size] for _ in range(batches)]
        )
        return float(vr_persistence0(x[index], p).mean())

    scale = eta / mean_death(points)
    return scale, mean_death(points * scale)


def ideal_covering(
    batch_sizes: Sequence[int],
    sizes: Sequence[int],
    eta: float,
    p: float,
    dim: int,
    seeds: Sequence[int],
    batches: int = 64,
) -> dict[str, Any]:
    """Partial covering numbers of every ideal cloud calibrated to every batch size.

    For each cloud of :data:`CLOUDS`, seed and B: ``max(sizes)`` points
    (:func:`ideal_cloud`), scaled by :func:`calibrate`, and their
    :func:`~toposhape.studies.connectivity.covering.covering_numbers` at radius ``eta``
    (one branch; the samples, nets and shares as for trained codes).

    Parameters
    ----------
    batch_sizes : sequence of int
        B, each ≥ 2.
    sizes : sequence of int
        Nested sample sizes of the covering numbers, each ≥ 2.
    eta : float
        The target death time and the balls' radius, > 0.
    p : float
        ℓp metric, ≥ 1 (or inf).
    dim : int
        Coordinates of a cloud (a latent branch's), ≥ 3.
    seeds : sequence of int
        One cloud (and its batches and sample order) per seed.
    batches : int
        Random batches per calibration.

    Returns
    -------
    dict
        ``dim``, ``batches``, ``clouds`` (:data:`CLOUDS`) and ``runs``: one dict per cloud,
        seed and B with ``cloud``, ``seed``, ``B``, ``scale``, ``death_mean`` (of fresh
        batches after scaling) and ``covering`` (as a trained backbone's record has it).
    """
    batch_sizes = check_sizes("batch_sizes", batch_sizes)
    sizes = check_sizes("sizes", sizes)
    seeds = [
        check_int(f"seeds[{i}]", s, 0, MAX_SEED - 1)
        for i, s in enumerate(check_sequence("seeds", seeds))
    ]
    dim = check_int("dim", dim, 3)
    runs = []
    for kind in CLOUDS:
        for seed in seeds:
            cloud = ideal_cloud(kind, max(max(sizes), max(batch_sizes)), dim, seed)
            for b in batch_sizes:
                scale, after = calibrate(cloud, b, eta, p, batches, seed + 1)
                covering = covering_numbers(cloud * scale, 1, eta, p, list(sizes), seed)
                runs.append(
                    {"cloud": kind, "seed": seed, "B": b, "scale": scale, "death_mean": after}
                    | {"covering": covering}
                )
    return {"dim": dim, "batches": batches, "clouds": dict(CLOUDS), "runs": runs}
