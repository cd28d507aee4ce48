"""One-class learning by counting inliers in η-balls (Hofer et al., ICML 2019).

The protocol of the reference code: each class in turn is the inlier class; ``n``
of its *training* images are drawn at random and encoded; every test image is
scored, in each latent branch, by the number of those ``n`` codes within ℓp
distance η of its code, summed over branches; the score's AUROC with the inlier
class as positives measures how well the latent space separates the class. Five
draws per class give a mean and a standard deviation.

Draws are nested: one random permutation of the class's training indices per
draw, whose first ``n`` entries are the inliers for every ``n``. Each ``n`` is then
still a uniform random subset, and all ``n`` and all methods scored on the same
draw see the same images (paired comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.pershom import check_p

__all__ = [
    "auroc",
    "ball_counts",
    "class_draws",
    "draw_ball_counts",
    "encode",
    "run_protocol",
    "summarise",
]


@torch.no_grad()
def encode(model: ConnectivityAutoencoder, images: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    """Latent codes of images, in chunks, on the model's device.

    Parameters
    ----------
    model : ConnectivityAutoencoder
    images : Tensor, shape (N, C, H, W)
        uint8 in [0, 255] or floating in [0, 1]; C, H, W must match the model.

    Returns
    -------
    Tensor, shape (N, branches * branch_dim), float32, on the model's device.

    Raises
    ------
    ValueError
        If the image shape does not fit the model.
    """
    cfg = model.config
    expected = (cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    if images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"images of shape {tuple(images.shape)} do not fit the backbone, which expects "
            f"(N, {', '.join(map(str, expected))})"
        )
    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk].to(device)
        batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
        out.append(model.encode(batch))
    if not out:
        return torch.empty(0, model.latent_dim, device=device)
    return torch.cat(out)


def ball_counts(
    test_codes: torch.Tensor,
    inlier_codes: torch.Tensor,
    branches: int,
    radii: Sequence[float],
    ns: Sequence[int],
    p: float = 1.0,
    chunk: int | None = None,
) -> torch.Tensor:
    """Scores of the reference: inliers within ℓp radius r of each test code, summed over branches.

    Parameters
    ----------
    test_codes : Tensor, shape (T, L)
    inlier_codes : Tensor, shape (M, L)
        Codes of the inliers, in draw order; the first ``n`` are used for each ``n``.
    branches : int
        Latent branches; ``L`` must be divisible by it (one 160-d branch: ``branches=1``).
    radii : sequence of float, each > 0
        Ball radii (η = 2 in the reference).
    ns : sequence of int, each in [1, M]
        Numbers of inliers.
    p : float
        ℓp metric (1 in the reference).
    chunk : int, optional
        Test codes per distance block; by default sized to keep each block near 64 MB.

    Returns
    -------
    Tensor, shape (len(radii), len(ns), T), int64
        Entry ``[r, k, t]`` lies in ``[0, branches · ns[k]]``.

    Raises
    ------
    ValueError
        On shape mismatches, radii ≤ 0, or ``n`` outside ``[1, M]``.
    """
    order = torch.arange(inlier_codes.shape[0] if inlier_codes.dim() == 2 else 0)
    return draw_ball_counts(test_codes, inlier_codes, order[None], branches, radii, ns, p, chunk)[0]


def draw_ball_counts(
    test_codes: torch.Tensor,
    pool_codes: torch.Tensor,
    orders: torch.Tensor,
    branches: int,
    radii: Sequence[float],
    ns: Sequence[int],
    p: float = 1.0,
    chunk: int | None = None,
) -> torch.Tensor:
    """:func:`ball_counts` for several draws of inliers from one pool, sharing the distances.

    Draw ``d`` uses the inliers ``pool_codes[orders[d, :n]]``. Distances from the test codes
    to every pool code that some draw uses are computed once, so draws that overlap (e.g.
    five draws of 500 from a class of 500 images) cost little more than one.

    Parameters
    ----------
    test_codes : Tensor, shape (T, L)
    pool_codes : Tensor, shape (P, L)
    orders : LongTensor, shape (D, N)
        Rows index ``pool_codes``; each row is one draw, in draw order.
    branches, radii, ns, p, chunk
        As in :func:`ball_counts`; every ``n`` lies in ``[1, N]``.

    Returns
    -------
    Tensor, shape (D, len(radii), len(ns), T), int64
    """
    check_p(p)
    if test_codes.dim() != 2 or pool_codes.dim() != 2:
        raise ValueError(
            "test_codes and inlier_codes must be 2-D (points, latent), got shapes "
            f"{tuple(test_codes.shape)} and {tuple(pool_codes.shape)}"
        )
    latent = test_codes.shape[1]
    if pool_codes.shape[1] != latent:
        raise ValueError(
            f"test_codes have {latent} latent dims but inlier_codes have {pool_codes.shape[1]}"
        )
    if branches < 1 or latent % branches:
        raise ValueError(f"branches={branches} must be >= 1 and divide the latent size {latent}")
    if not radii or not all(math.isfinite(r) and r > 0 for r in radii):
        raise ValueError(
            f"radii must be a non-empty sequence of positive finite numbers, got {radii}"
        )
    if orders.dim() != 2 or orders.dtype != torch.int64:
        raise ValueError(
            f"orders must be a 2-D int64 tensor (draws, n), got {orders.dtype} "
            f"of shape {tuple(orders.shape)}"
        )
    m = orders.shape[1]
    if not ns or min(ns) < 1 or max(ns) > m:
        raise ValueError(f"every n in ns={list(ns)} must lie in [1, {m}] (the inliers given)")
    if orders.numel() and (orders.min() < 0 or orders.max() >= len(pool_codes)):
        raise ValueError(f"orders must index the {len(pool_codes)} pool codes")
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be None or >= 1, got {chunk}")
    dim = latent // branches
    used, positions = torch.unique(orders, return_inverse=True)  # positions: (D, N)
    inl = pool_codes[used.to(pool_codes.device)]
    inl = inl.reshape(len(used), branches, dim).transpose(0, 1)  # (branches, U, dim)
    r = torch.as_tensor(list(radii), dtype=inl.dtype, device=inl.device)
    if chunk is None:  # the boolean block (radii, branches, chunk, U) stays near 64 MB
        chunk = max(1, min(2048, (1 << 26) // max(1, len(radii) * branches * len(used))))
    picks = torch.as_tensor([n - 1 for n in ns], device=inl.device)
    positions = positions.to(inl.device)
    total = test_codes.shape[0]
    out = torch.empty(len(orders), len(radii), len(ns), total, dtype=torch.int64)
    for start in range(0, total, chunk):
        rows = test_codes[start : start + chunk]
        stop = start + rows.shape[0]
        rows = rows.reshape(rows.shape[0], branches, dim).transpose(0, 1)
        dist = torch.cdist(rows, inl, p=p)  # (branches, t, U)
        inside = (dist.unsqueeze(0) <= r.view(-1, 1, 1, 1)).sum(dim=1, dtype=torch.int32)
        for d in range(len(orders)):
            counts = inside[..., positions[d]].cumsum(dim=-1)[..., picks]  # (R, t, len(ns))
            out[d, :, :, start:stop] = counts.transpose(1, 2).cpu()
    return out


def class_draws(
    labels: torch.Tensor, classes: Sequence[int], n: int, draws: int, seed: int
) -> dict[int, torch.Tensor]:
    """Random training inliers of each class: ``draws`` nested draws of ``n``.

    Parameters
    ----------
    labels : Tensor, shape (N,)
        Training labels.
    classes : sequence of int
    n : int
        Largest number of inliers needed (smaller ``n`` use a prefix).
    draws : int
    seed : int
        Draw ``d`` of class ``c`` depends only on ``(seed, c, d)``.

    Returns
    -------
    dict
        class → LongTensor of shape (draws, n), indices into ``labels``.

    Raises
    ------
    ValueError
        If a class has fewer than ``n`` training images, or ``n``/``draws`` < 1.
    """
    if n < 1 or draws < 1:
        raise ValueError(f"need n >= 1 and draws >= 1, got n={n}, draws={draws}")
    labels = labels.cpu()
    out = {}
    for c in classes:
        members = torch.nonzero(labels == c).flatten()
        if len(members) < n:
            raise ValueError(
                f"n={n} inliers requested but class {c} has only {len(members)} training images"
            )
        rows = []
        for d in range(draws):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + int(c) * 1009 + d)
            rows.append(members[torch.randperm(len(members), generator=gen)[:n]])
        out[int(c)] = torch.stack(rows)
    return out


def auroc(scores: np.ndarray | torch.Tensor, is_inlier: np.ndarray | torch.Tensor) -> float:
    """Area under the ROC curve with inliers as positives (higher score = more normal)."""
    scores = np.asarray(torch.as_tensor(scores).double().cpu())
    is_inlier = np.asarray(torch.as_tensor(is_inlier).cpu(), dtype=bool)
    return float(roc_auc_score(is_inlier, scores))


#: A scorer gets the inlier training indices of every draw of one class, shape
#: (draws, max(ns)), and the ns, and returns scores of every test point, shape
#: (draws, variants, len(ns), T).
Scorer = Callable[[torch.Tensor, Sequence[int]], torch.Tensor]


def run_protocol(
    scorer: Scorer,
    train_labels: torch.Tensor,
    test_labels: torch.Tensor,
    ns: Sequence[int],
    draws: int,
    seed: int,
    classes: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """AUROC of a scorer for every class, draw, variant and ``n``.

    Parameters
    ----------
    scorer : callable
        See :data:`Scorer`; "variants" are e.g. radii (one for most scorers). It is called
        once per class with all of that class's draws, so it can share work between them.
    train_labels, test_labels : Tensor, shapes (N,), (T,)
    ns : sequence of int
    draws : int
    seed : int
    classes : sequence of int, optional
        Default: every label in ``test_labels``.
    progress : callable, optional
        Called with the number of draws after each class.

    Returns
    -------
    ndarray, shape (classes, draws, variants, len(ns)), float64
    """
    if classes is None:
        classes = sorted(int(c) for c in torch.unique(test_labels))
    inliers = class_draws(train_labels, classes, max(ns), draws, seed)
    test_labels = test_labels.cpu()
    table = None
    for ci, c in enumerate(classes):
        positive = (test_labels == c).numpy()
        scores = scorer(inliers[c], ns).cpu()
        if table is None:
            table = np.empty((len(classes), draws, scores.shape[1], len(ns)))
        for d in range(draws):
            for v in range(scores.shape[1]):
                for k in range(len(ns)):
                    table[ci, d, v, k] = auroc(scores[d, v, k], positive)
        if progress is not None:
            progress(draws)
    assert table is not None
    return table


def summarise(table: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Mean ± std as the reference reports them, for one variant and one ``n``.

    Parameters
    ----------
    table : ndarray, shape (classes, draws)
        AUROCs.
    classes : sequence
        Class names or ids, for the per-class entries.

    Returns
    -------
    dict
        ``mean`` (over classes of the per-class mean over draws), ``std`` (the per-class
        std over draws, averaged over classes, as in the reference), ``per_class`` means
        and ``per_class_std``.
    """
    per_class = table.mean(axis=1)
    per_class_std = table.std(axis=1)
    return {
        "mean": float(per_class.mean()),
        "std": float(per_class_std.mean()),
        "per_class": dict(zip(map(str, classes), per_class.round(6).tolist(), strict=True)),
        "per_class_std": dict(zip(map(str, classes), per_class_std.round(6).tolist(), strict=True)),
    }
