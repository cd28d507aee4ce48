"""Evaluating the one-class study: η-ball AUROCs of a backbone, baselines, cached results.

Every evaluation is cached as JSON under a key that names everything it depends on
(:func:`toposhape.results.cached`), so a rerun of a long profile re-evaluates only what changed.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.baselines import deep_svdd_scores, flatten_pixels, kde_scores, ocsvm_scores
from toposhape.checks import check_float, check_int, check_tensor
from toposhape.image_sets import ImageSplit
from toposhape.oneclass import (
    ball_counts,
    class_draws,
    draw_ball_counts,
    encode,
    run_protocol,
    summarise,
)
from toposhape.studies.connectivity.deaths import heldout_deaths
from toposhape.studies.connectivity.toy import homogenize
from toposhape.studies.oneclass.protocol import RECIPE, BackboneSpec, class_names
from toposhape.training import MAX_SEED


def eta_ball_toy(seed: int, n: int = 14, eta: float = 1.0, grid: int = 61) -> dict[str, Any]:
    """A 2-D picture of the score: ℓ1 balls of radius η around n inliers.

    The inliers are random points moved by the connectivity loss (ℓ1) until their
    death times are close to η, i.e. what a trained branch does to a batch; the score
    of a location is the number of inliers within ℓ1 distance η of it.

    Parameters
    ----------
    seed : int
        ≥ 0.
    n : int
        Inliers, ≥ 2.
    eta : float
        Finite radius > 0.
    grid : int
        Grid points per axis, ≥ 2.

    Returns
    -------
    dict
        ``points`` (n, 2), ``eta``, ``xs``, ``ys`` (grid,), ``counts`` (grid, grid).
    """
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 2)
    eta = check_float("eta", eta, 0.0, low_open=True)
    grid = check_int("grid", grid, 2)
    rng = np.random.default_rng(seed + 3)
    start = rng.normal(size=(n, 2)) * 0.6
    points, _ = homogenize(start, eta=eta, steps=300, lr=0.03, p=1.0)
    lo, hi = points.min(0) - 1.6 * eta, points.max(0) + 1.6 * eta
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    gx, gy = np.meshgrid(xs, ys)
    loc = np.stack([gx.ravel(), gy.ravel()], 1)
    counts = ball_counts(torch.from_numpy(loc), torch.from_numpy(points), 1, [eta], [n], p=1.0)[
        0, 0
    ]
    return {
        "eta": eta,
        "points": points.round(5).tolist(),
        "xs": xs.round(5).tolist(),
        "ys": ys.round(5).tolist(),
        "counts": counts.reshape(grid, grid).tolist(),
    }


def _rows(
    table: np.ndarray,
    classes: list[str],
    variants: list[float | list[float] | None],
    ns: list[int],
) -> list[dict[str, Any]]:
    """Summaries of an AUROC table (classes, draws, variants, ns), one row per (variant, n)."""
    rows = []
    for v, radius in enumerate(variants):
        for k, n in enumerate(ns):
            rows.append({"radius": radius, "n": n, **summarise(table[:, :, v, k], classes)})
    return rows


def calibrated_radius(codes: torch.Tensor, branches: int) -> float:
    """Mean death time of held-out batches of 100 codes: a radius fitted to the target data.

    The η-ball score assumes that a batch of the target data "just connects" at η; where a
    backbone maps the target data at another scale, this radius (computed from the test
    codes alone, no labels) is the scale at which it does.

    Parameters
    ----------
    codes : Tensor, shape (N, branches · d)
        Finite floating codes, N ≥ 100 (one held-out batch).
    branches : int
        ≥ 1, dividing the number of columns.
    """
    branches = check_int("branches", branches, 1)
    batch = RECIPE["batch_size"]
    check_tensor("codes", codes, ndim=2, floating=True, min_rows=batch)
    if codes.shape[1] == 0 or codes.shape[1] % branches:
        raise ValueError(
            f"codes must have a positive multiple of branches={branches} columns, "
            f"got shape {tuple(codes.shape)}"
        )
    check_tensor("codes", codes, finite=True)
    deaths = heldout_deaths(codes, branches, batch, RECIPE["p"])
    return round(float(deaths.double().mean()), 4)


def evaluation_jobs(
    spec: BackboneSpec,
    eval_name: str,
    settings: Mapping[str, Any],
    main: bool,
    ablation_seed: bool,
    has_lossless: bool,
) -> list[dict[str, Any]]:
    """What to evaluate for one backbone on one set.

    Main backbones: the test split at η and at the calibrated radius (plus the radius grid
    for the ablation set's λ = 20 backbones), and, where the set has a lossless subset of a
    JPEG test split (CIFAR-10 image folders), both versions of that subset (``jpeg``).
    Ablation backbones: the test split at η. Backbones of the λ ablation also get
    ``large_n`` inliers, with one draw.
    """
    ns, draws = settings["ns"], settings["draws"]
    ablation = (
        ablation_seed
        and spec.dataset == settings["ablation_dataset"]
        and eval_name in settings["ablation_evals"]
    )
    base = {"split": "test", "ns": ns, "draws": draws, "calibrated": False, "radius_grid": False}
    jobs = []
    if main:
        grid = ablation and spec.lam == RECIPE["lam"]
        jobs.append(base | {"kind": "main", "calibrated": True, "radius_grid": grid})
        if has_lossless:
            jobs += [base | {"kind": "jpeg", "split": s} for s in ("test-jpeg1000", "test-png")]
    else:
        jobs.append(base | {"kind": "ablation"})
    if ablation and settings["large_n"] and spec.branches == RECIPE["branches"]:
        jobs.append(base | {"kind": "large_n", "ns": [settings["large_n"]], "draws": 1})
    return jobs


def jpeg_subset(splits: Mapping[str, ImageSplit], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images that exist both ways: JPEG (``test-jpeg1000``) or lossless (``test-png``)."""
    lossless = splits["test-png"]
    if split == "test-png":
        return lossless.images, lossless.labels
    index = torch.as_tensor(lossless.record["indices"])
    test = splits["test"]
    if not torch.equal(test.labels[index], lossless.labels):
        raise ValueError("the test-png images do not have the labels of the same test indices")
    return test.images[index], test.labels[index]


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def ball_aurocs(
    spec: BackboneSpec,
    eval_name: str,
    train_codes: Callable[[], torch.Tensor],
    train_labels: torch.Tensor,
    test_codes: torch.Tensor,
    test_labels: torch.Tensor,
    radii: list[float | list[float]],
    ns: list[int],
    draws: int,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """η-ball AUROCs of one backbone on one evaluation set (all classes, draws, n, radii).

    ``train_codes()`` returns the codes of the evaluation set's training images, the pool the
    inliers are drawn from. Each radius is one value for every branch or a list of one per
    branch (:func:`toposhape.oneclass.ball_counts`); a row's ``radius`` is that entry.
    """
    classes = class_names(eval_name)
    pool = train_codes()

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        return draw_ball_counts(test_codes, pool, idx, spec.branches, radii, ns_, RECIPE["p"])

    with _bar(len(classes) * draws, f"{spec.name} → {eval_name}", progress) as bar:
        table = run_protocol(
            scorer, train_labels, test_labels, ns, draws, seed, progress=bar.update
        )
    return {
        "ns": ns,
        "draws": draws,
        "radii": radii,
        "test_images": len(test_labels),
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, radii, ns),
    }


def score_example(
    spec: BackboneSpec,
    eval_name: str,
    train_codes: torch.Tensor,
    splits: Mapping[str, ImageSplit],
    model: ConnectivityAutoencoder,
    payload: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Score distributions of inliers vs outliers: class 0, first draw, the second n."""
    ns = payload["settings"]["ns"]
    n = ns[min(1, len(ns) - 1)]
    train, test = splits["train"], splits["test"]
    idx = class_draws(train.labels, [0], n, 1, seed)[0]
    test_codes = encode(model, test.images)
    counts = draw_ball_counts(
        test_codes, train_codes, idx, spec.branches, [RECIPE["eta"]], [n], RECIPE["p"]
    )[0, 0, 0]
    inlier = test.labels == 0
    top = spec.branches * n
    return {
        "backbone": spec.name,
        "eval": eval_name,
        "class": class_names(eval_name)[0],
        "n": n,
        "max_score": top,
        "inliers": torch.bincount(counts[inlier], minlength=top + 1).tolist(),
        "outliers": torch.bincount(counts[~inlier], minlength=top + 1).tolist(),
    }


def baseline_aurocs(
    method: str,
    eval_name: str,
    splits: Mapping[str, ImageSplit],
    settings: Mapping[str, Any],
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """AUROCs of one baseline on one evaluation set, same draws as the η-ball scores."""
    train_x, train_y = splits["train"].images, splits["train"].labels
    test_x, test_y = splits["test"].images, splits["test"].labels
    ns, draws = settings["baseline_ns"][method], settings["draws"]
    classes = class_names(eval_name)
    test_flat = flatten_pixels(test_x) if method != "deep-svdd" else None
    bandwidths: list[float] = []

    def one_draw(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        out = []
        for n in ns_:
            inliers = train_x[idx[:n]]
            if method == "kde":
                scores, bandwidth = kde_scores(flatten_pixels(inliers), test_flat)
                bandwidths.append(bandwidth)
            elif method == "ocsvm":
                scores = ocsvm_scores(flatten_pixels(inliers), test_flat)
            else:
                draw_seed = seed * 7919 + int(idx[0])
                scores = deep_svdd_scores(inliers, test_x, draw_seed, settings["dsvdd_epochs"])
            out.append(torch.as_tensor(np.asarray(scores)))
        return torch.stack(out).unsqueeze(0)

    def scorer(idx: torch.Tensor, ns_: list[int]) -> torch.Tensor:
        return torch.stack([one_draw(row, ns_) for row in idx])

    with _bar(len(classes) * draws, f"{method} on {eval_name}", progress) as bar:
        table = run_protocol(scorer, train_y, test_y, ns, draws, seed, progress=bar.update)
    out = {
        "method": method,
        "eval": eval_name,
        "ns": ns,
        "auroc": table.round(6).tolist(),
        "rows": _rows(table, classes, [None], ns),
    }
    if bandwidths:
        out["kde_bandwidths"] = bandwidths
    return out
