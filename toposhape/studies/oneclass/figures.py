"""Figures of the one-class chapter, from a results payload only, at the page's size.

Every figure is drawn with :func:`toposhape.studies.style.figure` (at most 7 inches wide, no
font under 9 pt) and checks the parts of the payload it reads first
(:func:`~toposhape.studies.oneclass.summary.checked`). :func:`figures` draws them all.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from toposhape.checks import check_int
from toposhape.studies import style
from toposhape.studies.oneclass.anchors import ANCHORS
from toposhape.studies.oneclass.protocol import RECIPE
from toposhape.studies.oneclass.summary import (
    checked,
    dataset_name,
    headline_n,
    scored_on,
    seed_stats,
    setting_name,
)

LAM20, LAM0 = "tab:red", "tab:gray"  # the colours of the λ = 20 and λ = 0 runs


def plot_eta_balls(payload: Mapping[str, Any]) -> Figure:
    """The scoring rule in 2-D: ℓ1 balls (diamonds) of radius η around the inliers."""
    toy = checked(payload, "toy")["toy"]
    eta, pts = toy["eta"], np.array(toy["points"])
    fig = style.figure(4.4, 5.8)
    ax = fig.subplots()
    counts = np.array(toy["counts"])
    mesh = ax.pcolormesh(toy["xs"], toy["ys"], counts, cmap="Blues", shading="auto")
    fig.colorbar(mesh, ax=ax, label="score: inliers within ℓ1 distance η")
    for x, y in pts:
        diamond = [(x + eta, y), (x, y + eta), (x - eta, y), (x, y - eta)]
        ax.add_patch(Polygon(diamond, fill=False, ec=LAM20, lw=0.8, alpha=0.7))
    ax.scatter(pts[:, 0], pts[:, 1], c=LAM20, s=14, zorder=3, label=f"inliers (n = {len(pts)})")
    ax.set_aspect("equal")
    ax.set_title(f"One branch: ℓ1 balls of radius η = {eta:g} around the inliers")
    ax.legend(loc="upper right")
    return fig


def plot_training(payload: Mapping[str, Any]) -> Figure:
    """Per-epoch training curves of the λ = 20 and λ = 0 backbones, one column per training set.

    Rows: reconstruction L1 (per image), connectivity loss, mean death time of the training
    batches (η dashed); one line per training run (λ = 20 red, λ = 0 grey), so the curves
    show both convergence and how much runs differ.
    """
    checked(payload, "settings", "backbones")
    trained = {b["spec"]["dataset"] for b in payload["backbones"].values()}
    datasets = [d for d in payload["settings"]["datasets"] if d in trained] or ["(none)"]
    fig = style.figure(6.0)
    axes = fig.subplots(3, len(datasets), sharex=True, squeeze=False)
    keys = (
        ("reconstruction_l1", "L1 reconstruction\n(per image)"),
        ("connectivity", "connectivity loss L_η"),
        ("death_mean", "mean death time"),
    )
    for column, dataset in zip(axes.T, datasets, strict=True):
        for b in payload["backbones"].values():
            spec = b["spec"]
            if spec["dataset"] != dataset or spec["branches"] != RECIPE["branches"]:
                continue
            if spec["lam"] not in (0.0, RECIPE["lam"]):
                continue
            colour = LAM20 if spec["lam"] else LAM0
            epochs = [h["epoch"] for h in b["history"]]
            for ax, (key, _) in zip(column, keys, strict=True):
                ax.plot(epochs, [h[key] for h in b["history"]], color=colour, lw=1, alpha=0.8)
        column[0].set_title(f"trained on {dataset_name(dataset)}")
        column[2].axhline(RECIPE["eta"], color="k", ls="--", lw=0.8)
        column[2].set_xlabel("epoch")
    for ax, (_, label) in zip(axes[:, 0], keys, strict=True):
        ax.set_ylabel(label)
    axes[0, 0].plot([], [], color=LAM20, label="λ = 20 (one line per run)")
    axes[0, 0].plot([], [], color=LAM0, label="λ = 0")
    axes[0, 0].legend()
    return fig


def plot_deaths(payload: Mapping[str, Any]) -> Figure:
    """Held-out death times of the first run of the λ = 0 and λ = 20 backbones of each set."""
    checked(payload, "settings", "backbones")
    datasets = payload["settings"]["datasets"]
    eta = RECIPE["eta"]
    fig = style.figure(0.4 + 2.5 * len(datasets))
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, lam in zip(row, (0.0, RECIPE["lam"]), strict=True):
            runs = [
                b
                for b in payload["backbones"].values()
                if b["setting"] == setting_name(dataset, lam)
            ]
            if not runs:
                ax.set_visible(False)
                continue
            d = runs[0]["deaths"]
            edges = np.array(d["histogram"]["edges"])
            ax.stairs(d["histogram"]["counts"], edges, fill=True, color=LAM20 if lam else LAM0)
            if edges[0] <= eta <= edges[-1] * 1.05:
                ax.axvline(eta, color="k", ls="--", lw=1)
            ax.set_title(
                f"{dataset_name(dataset)}, λ = {lam:g}\n"
                f"mean {d['mean']:.2f}, {100 * d['frac_within']:.0f} % within η ± 0.5"
            )
            ax.set_ylabel("count")
    for ax in axes[-1]:
        ax.set_xlabel("death time (ℓ1, per branch)")
    return fig


def plot_table1(payload: Mapping[str, Any]) -> Figure:
    """Ours (λ = 20 and λ = 0, one dot per training run) against the anchor, per cell."""
    checked(payload, "settings", "evaluations", "datasets")
    n0 = headline_n(payload)
    cells = [
        (b, e, anchor)
        for b, evals in ANCHORS["table1"].items()
        for e, anchor in evals.items()
        if b in payload["settings"]["datasets"] and e in payload["settings"]["eval_datasets"]
    ]
    fig = style.figure(3.6)
    ax = fig.subplots()
    for i, (b, e, anchor) in enumerate(cells):
        ax.plot([i - 0.3, i + 0.3], [anchor, anchor], "k-", lw=2)
        shown = False
        for offset, lam, colour in ((-0.1, RECIPE["lam"], LAM20), (0.1, 0.0, LAM0)):
            stats = seed_stats(payload, setting_name(b, lam), e, n0)
            if stats is None:
                continue
            shown = True
            ax.scatter([i + offset] * len(stats["values"]), stats["values"], color=colour, s=18)
        if not shown:
            ax.text(i, anchor - 3, "not yet run", ha="center", va="top")
    ax.plot([], [], "k-", lw=2, label="anchor (paper, λ = 20)")
    ax.scatter([], [], color=LAM20, s=18, label="ours, λ = 20 (one dot per run)")
    ax.scatter([], [], color=LAM0, s=18, label="ours, λ = 0")
    ax.set_xticks(
        range(len(cells)), [f"{dataset_name(b)}\n→ {dataset_name(e)}" for b, e, _ in cells]
    )
    ax.set_xlim(-0.6, len(cells) - 0.4)
    ax.axhline(50, color="k", lw=0.6, ls=":")
    ax.set_ylabel(f"AUROC × 100 (n = {n0})")
    ax.legend(loc="center right")  # the band between the λ = 0 and λ = 20 dots
    return fig


def plot_by_n(payload: Mapping[str, Any]) -> Figure:
    """AUROC against the number of inliers n, one colour per (backbone → set) pair.

    λ = 20 solid, λ = 0 dashed; error bars are the seed std (none for one seed).
    """
    checked(payload, "settings", "evaluations", "datasets")
    s = payload["settings"]
    ns = s["ns"]
    fig = style.figure(4.4)
    ax = fig.subplots()
    pairs = [(b, e) for b in s["datasets"] for e in s["eval_datasets"]]
    for i, (b, e) in enumerate(pairs):
        for lam, line in ((RECIPE["lam"], "-"), (0.0, "--")):
            stats = [seed_stats(payload, setting_name(b, lam), e, n) for n in ns]
            shown = [(n, st) for n, st in zip(ns, stats, strict=True) if st is not None]
            if not shown:
                continue
            ax.errorbar(
                [n for n, _ in shown],
                [st["mean"] for _, st in shown],
                [st["seed_std"] or 0.0 for _, st in shown],
                color=f"C{i}",
                ls=line,
                marker="o",
                capsize=3,
                label=f"{dataset_name(b)} → {dataset_name(e)}" if lam else None,
            )
    ax.plot([], [], "k-", label="λ = 20")
    ax.plot([], [], "k--", label="λ = 0")
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("inliers n (log scale)")
    ax.set_ylabel("AUROC × 100")
    fig.legend(loc="outside lower center", ncols=3)  # below the axes: the lines may lie anywhere
    return fig


def plot_ablations(payload: Mapping[str, Any]) -> Figure:
    """AUROC vs λ (top) and vs the evaluation radius (bottom), ours and the anchor's curves."""
    checked(payload, "settings", "evaluations", "datasets")
    n0 = headline_n(payload)
    s = payload["settings"]
    ablation = s["ablation_dataset"]
    fig = style.figure(5.6)
    ax_lam, ax_r = fig.subplots(2, 1)
    lams, radii = s["lambdas"], s["radii"]
    main = setting_name(ablation, RECIPE["lam"])
    plotted = {ax_lam: 0, ax_r: 0}
    for e in s["ablation_evals"]:
        label = f"ours: {dataset_name(ablation)} → {scored_on(payload, e)}"
        stats = [seed_stats(payload, setting_name(ablation, float(lam)), e, n0) for lam in lams]
        xs = [i for i, st in enumerate(stats) if st is not None]
        plotted[ax_lam] += len(xs)
        ax_lam.errorbar(
            xs,
            [stats[i]["mean"] for i in xs],
            [stats[i]["seed_std"] or 0.0 for i in xs],
            marker="o",
            capsize=3,
            label=label,
        )
        stats = [seed_stats(payload, main, e, n0, float(r)) for r in radii]
        rs = [r for r, st in zip(radii, stats, strict=True) if st is not None]
        plotted[ax_r] += len(rs)
        ax_r.errorbar(
            rs,
            [st["mean"] for st in stats if st is not None],
            [st["seed_std"] or 0.0 for st in stats if st is not None],
            marker="o",
            capsize=3,
            label=label,
        )
    anchor = ANCHORS["lambda"]["values"]
    xs = [i for i, lam in enumerate(lams) if f"{lam:g}" in anchor]
    ax_lam.plot(
        xs,
        [anchor[f"{lams[i]:g}"] for i in xs],
        "k--",
        marker="s",
        label="anchor (paper): CIFAR-100 → CIFAR-10",
    )
    anchor = ANCHORS["radius"]["values"]
    rs = sorted(float(r) for r in anchor)
    ax_r.plot(
        rs,
        [anchor[f"{r:g}"] for r in rs],
        "k--",
        marker="s",
        label="anchor (paper): CIFAR-100 → CIFAR-10",
    )
    for ax, count in plotted.items():
        if not count:
            ax.set_title("ours: not yet run")
    ax_lam.set_xticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    ax_lam.set_xlabel("λ (weight of the connectivity loss)")
    ax_r.axvline(RECIPE["eta"], color=LAM20, lw=0.8, ls=":")
    ax_r.set_xlabel(f"evaluation radius η' (training η = {RECIPE['eta']:g})")
    for ax in (ax_lam, ax_r):
        ax.set_ylabel(f"AUROC × 100 (n = {n0})")
        ax.legend()
    return fig


def plot_scores(payload: Mapping[str, Any], bins: int = 40) -> Figure:
    """Score distributions of inliers vs outliers for one class and one draw, per example.

    ``bins`` (≥ 1) is the number of histogram bins; a payload without score examples (a
    partial run) gives an empty figure.
    """
    examples = checked(payload, "score_examples")["score_examples"]
    check_int("bins", bins, 1)
    rows = max(1, (len(examples) + 1) // 2)
    fig = style.figure(0.3 + 2.5 * rows)
    axes = np.atleast_1d(fig.subplots(rows, 2)).ravel()
    for ax, ex in zip(axes, examples, strict=False):
        used = np.nonzero(np.add(ex["inliers"], ex["outliers"]))[0]
        top = int(used.max()) + 1 if len(used) else 1
        edges = np.unique(np.linspace(0, top, bins + 1).round().astype(int))
        for key, colour in (("outliers", LAM0), ("inliers", "tab:blue")):
            counts = np.asarray(ex[key][:top], dtype=float)
            binned = np.add.reduceat(counts, edges[:-1]) / max(counts.sum(), 1)
            ax.stairs(binned, edges - 0.5, fill=True, alpha=0.55, color=colour, label=key)
        ax.set_title(
            f"{dataset_name(ex['eval'])}, class {ex['class']} (n = {ex['n']})\n{ex['backbone']}"
        )
        ax.set_xlabel(f"score (of at most {ex['max_score']})")
        ax.set_ylabel("share of test images")
        ax.legend()
    for ax in axes[len(examples) :]:
        ax.set_visible(False)
    return fig


#: Every figure of a payload: key -> the function that draws it.
FIGURES: Mapping[str, Callable[[Mapping[str, Any]], Figure]] = {
    "eta-balls": plot_eta_balls,
    "training": plot_training,
    "deaths": plot_deaths,
    "table1": plot_table1,
    "by-n": plot_by_n,
    "scores": plot_scores,
    "ablations": plot_ablations,
}


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of a payload, by the keys of :data:`FIGURES` (the payload checked first)."""
    parts = ("settings", "evaluations", "baselines", "backbones", "datasets", "toy")
    checked(payload, *parts, "score_examples")
    return {key: draw(payload) for key, draw in FIGURES.items()}
