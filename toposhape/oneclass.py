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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.checks import (
    check_float,
    check_images,
    check_int,
    check_labels,
    check_optional_int,
    check_sequence,
    check_tensor,
)
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

    chunk : int
        Images per forward pass, >= 1.

    Returns
    -------
    Tensor, shape (N, branches * branch_dim), float32, on the model's device.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`ConnectivityAutoencoder`, ``images`` is not a
        uint8 or floating tensor, or ``chunk`` is not an int.
    ValueError
        If the image shape does not fit the model, floating images are not finite and in
        [0, 1], or ``chunk`` < 1.
    """
    if not isinstance(model, ConnectivityAutoencoder):
        raise TypeError(f"model must be a ConnectivityAutoencoder, got {type(model).__name__}")
    check_tensor("images", images)
    chunk = check_int("chunk", chunk, 1)
    cfg = model.config
    expected = (cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    if images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"images of shape {tuple(images.shape)} do not fit the backbone, which expects "
            f"(N, {', '.join(map(str, expected))})"
        )
    check_images("images", images)
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


def per_branch_radii(name: str, radius: object, branches: int) -> list[float]:
    """One ball radius (a float, or one float per branch) as a list of ``branches`` radii > 0.

    ``name`` names the argument in errors; ``branches`` is the number of latent branches.
    """
    if isinstance(radius, Sequence) and not isinstance(radius, str):
        if len(radius) != branches:
            raise ValueError(
                f"{name} must have one radius per branch ({branches}), got {len(radius)}"
            )
        return [check_float(f"{name}[{b}]", r, 0.0, low_open=True) for b, r in enumerate(radius)]
    return [check_float(name, radius, 0.0, low_open=True)] * branches


def ball_counts(
    test_codes: torch.Tensor,
    inlier_codes: torch.Tensor,
    branches: int,
    radii: Sequence[float | Sequence[float]],
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
    radii : sequence of (float or sequence of float)
        Ball radii (η = 2 in the reference), each finite and > 0: per radius, one value for
        every branch or one value per branch (length ``branches``, e.g. radii calibrated
        per branch).
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
    TypeError
        If codes are not floating tensors, or ``branches``, ``ns``, ``chunk`` not ints.
    ValueError
        On shape or device mismatches, non-finite codes, radii that are not finite and
        > 0, or ``n`` outside ``[1, M]``.
    """
    check_tensor("inlier_codes", inlier_codes)
    order = torch.arange(inlier_codes.shape[0] if inlier_codes.dim() == 2 else 0)
    return draw_ball_counts(test_codes, inlier_codes, order[None], branches, radii, ns, p, chunk)[0]


def draw_ball_counts(
    test_codes: torch.Tensor,
    pool_codes: torch.Tensor,
    orders: torch.Tensor,
    branches: int,
    radii: Sequence[float | Sequence[float]],
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
    p = check_p(p)
    for name, codes in (("test_codes", test_codes), ("inlier_codes", pool_codes)):
        check_tensor(name, codes, ndim=2, floating=True, finite=True)
    latent = test_codes.shape[1]
    if pool_codes.shape[1] != latent:
        raise ValueError(
            f"test_codes have {latent} latent dims but inlier_codes have {pool_codes.shape[1]}"
        )
    if test_codes.device != pool_codes.device:
        raise ValueError(
            f"test_codes ({test_codes.device}) and inlier_codes ({pool_codes.device}) must be "
            "on one device"
        )
    branches = check_int("branches", branches, 1)
    if latent % branches:
        raise ValueError(f"branches={branches} must divide the latent size {latent}")
    radii = [
        per_branch_radii(f"radii[{i}]", r, branches)
        for i, r in enumerate(check_sequence("radii", radii))
    ]
    check_tensor("orders", orders, ndim=2)
    if orders.dtype != torch.int64:
        raise TypeError(f"orders must be an int64 tensor (draws, n), got {orders.dtype}")
    m = orders.shape[1]
    check_sequence("ns", ns)
    ns = [check_int("ns", n, 1, m) for n in ns]
    if orders.numel() and (orders.min() < 0 or orders.max() >= len(pool_codes)):
        raise ValueError(f"orders must index the {len(pool_codes)} pool codes")
    chunk = check_optional_int("chunk", chunk, 1)
    dim = latent // branches
    used, positions = torch.unique(orders, return_inverse=True)  # positions: (D, N)
    inl = pool_codes[used.to(pool_codes.device)]
    inl = inl.reshape(len(used), branches, dim).transpose(0, 1)  # (branches, U, dim)
    r = torch.as_tensor(radii, dtype=inl.dtype, device=inl.device)  # (radii, branches)
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
        inside = (dist.unsqueeze(0) <= r[:, :, None, None]).sum(dim=1, dtype=torch.int32)
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
    TypeError
        If ``labels`` is not an integer tensor, or ``n``, ``draws``, ``seed`` or a class
        is not an int.
    ValueError
        If a class has fewer than ``n`` training images, or ``n``/``draws`` < 1.
    """
    n, draws, seed = check_int("n", n, 1), check_int("draws", draws, 1), check_int("seed", seed)
    check_labels("labels", labels)
    classes = [check_int("classes", c) for c in classes]
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
    """Area under the ROC curve with inliers as positives (higher score = more normal).

    Parameters
    ----------
    scores : array or Tensor, shape (T,)
        Finite scores.
    is_inlier : array or Tensor of bool, shape (T,)
        Must hold both inliers and outliers (the AUROC is undefined otherwise).

    Raises
    ------
    ValueError
        On shape mismatch, non-finite scores, a label array that is not boolean (0/1),
        or only one of the two kinds present.
    """
    scores = np.asarray(torch.as_tensor(scores).double().cpu())
    labels = np.asarray(torch.as_tensor(is_inlier).cpu())
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"scores and is_inlier must be 1-D of one length, got {scores.shape} and {labels.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    if labels.dtype != bool and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"is_inlier must be boolean (or 0/1), got values {np.unique(labels)[:5]}")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        kind = "inliers" if labels.all() else "outliers"
        raise ValueError(f"is_inlier holds only {kind}; the AUROC needs both")
    return float(roc_auc_score(labels, scores))


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

    Raises
    ------
    ValueError
        If a class has no test images (or only test images), too few training images,
        or the scorer returns scores of the wrong shape.
    """
    check_tensor("test_labels", test_labels, ndim=1)
    check_sequence("ns", ns)
    ns = [check_int("ns", n, 1) for n in ns]
    test_labels = test_labels.cpu()
    if classes is None:
        classes = sorted(int(c) for c in torch.unique(test_labels))
    for c in classes:
        present = int((test_labels == c).sum())
        if present in (0, len(test_labels)):
            raise ValueError(
                f"class {c} has {present} of the {len(test_labels)} test images; its AUROC "
                "needs test images inside and outside the class"
            )
    inliers = class_draws(train_labels, classes, max(ns), draws, seed)
    table = None
    for ci, c in enumerate(classes):
        positive = (test_labels == c).numpy()
        scores = scorer(inliers[c], ns).cpu()
        if (
            scores.dim() != 4
            or scores.shape[::2] != (draws, len(ns))
            or scores.shape[3] != len(positive)
        ):
            raise ValueError(
                f"the scorer returned scores of shape {tuple(scores.shape)} for class {c}; "
                f"expected (draws={draws}, variants, len(ns)={len(ns)}, T={len(positive)})"
            )
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

    Raises
    ------
    ValueError
        If ``table`` is not 2-D with one row per class, or holds NaN.
    """
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] != len(classes) or table.shape[1] < 1:
        raise ValueError(
            f"table must have shape (classes={len(classes)}, draws >= 1), got {table.shape}"
        )
    if np.isnan(table).any():
        raise ValueError("table holds NaN AUROCs")
    per_class = table.mean(axis=1)
    per_class_std = table.std(axis=1)
    return {
        "mean": float(per_class.mean()),
        "std": float(per_class_std.mean()),
        "per_class": dict(zip(map(str, classes), per_class.round(6).tolist(), strict=True)),
        "per_class_std": dict(zip(map(str, classes), per_class_std.round(6).tolist(), strict=True)),
    }
