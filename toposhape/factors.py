"""Does one latent dimension carry a known factor in every class?

A shared factor (slant, stroke thickness, light direction, ...) is disentangled by a
latent dimension when, within every class, that dimension moves with the factor.
:func:`class_correlations` measures, for each class separately, the Spearman rank
correlation of every latent dimension with every factor; :func:`consistent_dimension`
picks, for each factor, the one dimension with the largest mean |ρ| over classes on a
selection set, and scores it on an evaluation set: its mean |ρ| over classes and the
share of classes in which ρ has its majority sign (one dimension, one direction, for
every class). The best dimension of each class taken separately, which need not be the
same across classes, is reported beside it (``any_dim``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from toposhape.checks import check_array, check_int

__all__ = ["class_correlations", "consistent_dimension"]


def class_correlations(
    codes: np.ndarray, factors: np.ndarray, labels: np.ndarray, classes: int
) -> np.ndarray:
    """Spearman ρ of every latent dimension with every factor, within every class.

    Parameters
    ----------
    codes : ndarray, shape (N, D)
        Latent codes (e.g. posterior means), finite.
    factors : ndarray, shape (N, F)
        Factor values of the same items; NaN marks an unmeasured value (the item is left
        out of that factor's correlations).
    labels : ndarray, shape (N,)
        Integer classes in [0, K).
    classes : int
        K ≥ 1.

    Returns
    -------
    ndarray, shape (K, D, F)
        NaN where a class has fewer than 3 measured items, or a dimension or factor is
        constant within it.
    """
    codes = check_array("codes", codes, 2).astype(np.float64)
    if not isinstance(factors, np.ndarray) or factors.ndim != 2 or len(factors) != len(codes):
        raise ValueError(f"factors must be an ndarray of shape ({len(codes)}, F)")
    factors = factors.astype(np.float64)
    labels = check_array("labels", labels, 1, integer=True)
    if len(labels) != len(codes):
        raise ValueError(f"labels must have shape ({len(codes)},), got {labels.shape}")
    classes = check_int("classes", classes, 1)
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in [0, {classes})")
    rho = np.full((classes, codes.shape[1], factors.shape[1]), np.nan)
    for k in range(classes):
        rows = labels == k
        for f in range(factors.shape[1]):
            ok = rows & np.isfinite(factors[:, f])
            if ok.sum() < 3 or np.ptp(factors[ok, f]) == 0:
                continue
            for d in range(codes.shape[1]):
                if np.ptp(codes[ok, d]) > 0:
                    rho[k, d, f] = stats.spearmanr(codes[ok, d], factors[ok, f]).statistic
    return rho


def consistent_dimension(select: np.ndarray, evaluate: np.ndarray) -> list[dict[str, Any]]:
    """For every factor, the dimension that carries it in every class, and how well.

    Parameters
    ----------
    select : ndarray, shape (K, D, F)
        :func:`class_correlations` on the selection set (picks the dimension).
    evaluate : ndarray, shape (K, D, F)
        :func:`class_correlations` on the evaluation set (scores it).

    Returns
    -------
    list of dict, one per factor
        ``dim``: the dimension with the largest mean |ρ| over classes on ``select``;
        ``abs_rho``: its mean |ρ| over classes on ``evaluate``; ``sign_agreement``: the
        share of classes whose ρ on ``evaluate`` has the majority sign; ``any_dim``: the
        mean over classes of the largest |ρ| of any dimension on ``evaluate``;
        ``per_class``: its ρ per class on ``evaluate``. NaN classes are left out of
        the means; a factor without any finite ρ gets ``dim`` None and NaN scores.
    """
    for name, a in (("select", select), ("evaluate", evaluate)):
        if not isinstance(a, np.ndarray) or a.ndim != 3:
            raise ValueError(f"{name} must be an ndarray of shape (K, D, F)")
    if select.shape != evaluate.shape:
        raise ValueError(f"evaluate must have the shape of select {select.shape}")
    out = []
    for f in range(select.shape[2]):
        score = np.abs(select[:, :, f])
        if not np.isfinite(score).any():
            nan = float("nan")
            out.append(
                {"dim": None, "abs_rho": nan, "sign_agreement": nan, "any_dim": nan,
                 "per_class": [nan] * select.shape[0]}
            )  # fmt: skip
            continue
        dim = int(np.nanargmax(np.nanmean(score, axis=0)))
        rho = evaluate[:, dim, f]
        finite = rho[np.isfinite(rho)]
        positive = float((finite > 0).mean()) if len(finite) else float("nan")
        best = np.abs(evaluate[:, :, f])
        any_dim = np.nanmax(np.where(np.isfinite(best), best, -np.inf), axis=1)
        any_dim = any_dim[np.isfinite(any_dim)]
        out.append(
            {
                "dim": dim,
                "abs_rho": float(np.abs(finite).mean()) if len(finite) else float("nan"),
                "sign_agreement": max(positive, 1.0 - positive),
                "any_dim": float(any_dim.mean()) if len(any_dim) else float("nan"),
                "per_class": [float(r) for r in rho],
            }
        )
    return out
