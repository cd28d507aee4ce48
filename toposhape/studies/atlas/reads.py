"""Reading a trained atlas: what the chapter measures on each model.

Every read is done once, when the model finishes training, and saved as the model's
record (:func:`toposhape.studies.atlas.run.train`). The known-manifold reads are taken on
a fresh dense sample drawn with seed :data:`READOUT_SEED` plus the model's seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toposhape.atlas import AtlasAutoencoder, atlas_reconstruction, mmd_to_uniform
from toposhape.covers import membership_entropy
from toposhape.manifolds import sample_manifold
from toposhape.nerve import pair_overlaps
from toposhape.studies.atlas import readout
from toposhape.studies.atlas.controls import bars_json, recovered, standardise

if TYPE_CHECKING:
    from toposhape.studies.atlas.run import Job

__all__ = ["READOUT_SEED", "manifold_read", "mnist_read", "torus3_read"]

#: Seeds of the fresh read-out samples are this plus the run's seed (the training sample
#: of seed s is drawn with seed s).
READOUT_SEED = 1_000_000


def _history(history: list[dict]) -> dict[str, Any]:
    """Per-epoch curves of a history, rounded, and the training seconds."""
    keys = [k for k in history[0] if k not in ("epoch", "seconds")]
    return {
        **{k: [round(float(h[k]), 6) for h in history] for k in keys},
        "seconds": round(sum(h["seconds"] for h in history), 1),
    }


def _memberships(model: AtlasAutoencoder, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        q = torch.cat([model.encode(chunk).q for chunk in x.split(10_000)]).double().numpy()
    return q / q.sum(axis=1, keepdims=True)


def _heldout_reconstruction(model: AtlasAutoencoder, x: torch.Tensor) -> float:
    """Mean over ``x`` of Σ_j q_j(x)·MSE(x, ψ_j(φ_j(x))) (eval mode, no gradients)."""
    total = 0.0
    with torch.no_grad():
        for chunk in x.split(5_000):
            codes, rec = model(chunk)
            total += float(atlas_reconstruction(chunk, rec, codes.q)) * len(chunk)
    return total / len(x)


def manifold_read(
    job: Job, model: AtlasAutoencoder, history: list[dict], mean: Any, std: Any,
    settings: Mapping[str, Any], threshold: float, plots: bool,
) -> dict[str, Any]:  # fmt: skip
    """Read a trained atlas of a known manifold on a fresh dense sample.

    Returns
    -------
    dict
        The job, training curves, held-out reconstruction error, chart usage and
        membership entropy, the nerve's barcodes and Betti numbers over Z/2 and Z/3,
        whether they are the manifold's, and every chart's check; with ``plots``, a few
        hundred samples with their chart and each chart's decoded grid.
    """
    x, params = sample_manifold(
        job.manifold, settings["readout_points"], seed=READOUT_SEED + job.seed
    )
    xs, _, _ = standardise(x, mean, std)
    q = _memberships(model, xs)
    bars = readout.nerve_bars(q, job.manifold)
    betti = readout.betti_at(bars, threshold)
    out: dict[str, Any] = {
        "name": job.name,
        "manifold": job.manifold,
        "charts": job.charts,
        "regulariser": job.regulariser,
        "seed": job.seed,
        "history": _history(history),
        "reconstruction": round(_heldout_reconstruction(model, xs), 6),
        "usage": q.mean(axis=0).round(4).tolist(),
        "entropy": round(membership_entropy(q), 4),
        "bars": bars_json(bars),
        "betti": {str(f): b for f, b in betti.items()},
        "correct": recovered(betti, job.manifold),
        "chart_checks": readout.chart_checks(xs.double().numpy(), q, seed=job.seed),
    }
    if plots:
        show = torch.arange(min(len(x), 600))
        steps = 25 if job.dim == 1 else 9
        axes = torch.linspace(0.02, 0.98, steps)
        grid = axes[:, None] if job.dim == 1 else torch.cartesian_prod(axes, axes)
        with torch.no_grad():
            decoded = model.decode(grid[:, None, :].expand(-1, job.charts, -1).contiguous())
        decoded = decoded * std + mean  # back to the data's coordinates
        out["sample"] = {
            "x": x[show].double().numpy().round(4).tolist(),
            "params": params[show].double().numpy().round(4).tolist(),
            "chart": q[show.numpy()].argmax(axis=1).tolist(),
        }
        out["chart_grids"] = decoded.transpose(0, 1).double().numpy().round(4).tolist()  # (k, G, D)
    return out


def torus3_read(
    job: Job, model: AtlasAutoencoder, history: list[dict], mean: Any, std: Any,
    settings: Mapping[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Held-out reconstruction error and MMD to the uniform latent law of a T³ atlas.

    The MMD (:func:`toposhape.atlas.mmd_to_uniform`) is averaged over chunks of 1000
    held-out samples, with prior draws seeded by the job's seed.
    """
    x, _ = sample_manifold("torus3", settings["torus3_heldout"], seed=READOUT_SEED + job.seed)
    xs, _, _ = standardise(x, mean, std)
    generator = torch.Generator().manual_seed(READOUT_SEED + job.seed)
    with torch.no_grad():
        mmd = [float(mmd_to_uniform(model.encode(c), generator)) for c in xs.split(1000)]
    return {
        "name": job.name,
        "dim": job.dim,
        "seed": job.seed,
        "history": _history(history),
        "reconstruction": round(_heldout_reconstruction(model, xs), 6),
        "mmd": round(float(np.mean(mmd)), 7),
    }


def mnist_read(
    model: AtlasAutoencoder, history: list[dict], images: int, grid: int
) -> dict[str, Any]:
    """Chart grids (``grid`` × ``grid`` codes per chart), overlaps and the chart/digit table
    of the MNIST atlas (test images)."""
    from toposhape.data import load_images

    test_x, test_y = load_images("mnist", "test")
    q = _memberships(model, test_x)
    chart = q.argmax(axis=1)
    k = model.config["charts"]
    counts = np.zeros((k, 10), dtype=int)
    np.add.at(counts, (chart, test_y.numpy()), 1)
    axes = torch.linspace(0.05, 0.95, grid)
    grid = torch.cartesian_prod(axes, axes)
    with torch.no_grad():
        decoded = model.decode(grid[:, None, :].expand(-1, k, -1).contiguous())
    return {
        "history": _history(history),
        "train_images": images,
        "overlaps": pair_overlaps(q).round(5).tolist(),
        "counts": counts.tolist(),
        "grids": decoded[:, :, 0]
        .transpose(0, 1)
        .double()
        .numpy()
        .round(3)
        .tolist(),  # (k, G, S, S)
        "entropy": round(membership_entropy(q), 4),
    }
