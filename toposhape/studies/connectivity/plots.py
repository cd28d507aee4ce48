"""The chapter's figures of the toy examples, the differentiability check and the two
B = 100 backbones (λ = 20, λ = 0), one function each, drawn from a results payload only.

The figures of the batch-size sweep and of densification are in :mod:`.sweep_plots`;
:func:`toposhape.studies.connectivity.report.figures` calls them all; each draws with
:func:`toposhape.studies.style.figure` at the page's width.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from toposhape.checks import check_mapping
from toposhape.studies import style
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.toy import kde_on_grid

_LAM_COLOURS = {"0": "tab:gray", "20": "tab:red"}


def _colour(key: str) -> str:
    return _LAM_COLOURS.get(key, "tab:blue")


def _density_panel(ax: Axes, pts: np.ndarray, bandwidth: float | str, title: str) -> None:
    xs, ys, dens = kde_on_grid(pts, bandwidth)
    ax.imshow(
        dens,
        origin="lower",
        extent=(xs[0], xs[-1], ys[0], ys[-1]),
        cmap="magma",
        aspect="equal",
        # log scale over 3 decades: low-density structure stays visible next to sharp peaks
        norm=LogNorm(vmin=dens.max() * 1e-3, vmax=dens.max(), clip=True),
    )
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="cyan", alpha=0.6)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_toy_kde(payload: Mapping[str, Any]) -> Figure:
    """Toy example: Gaussian KDEs of the clusters (top) and the homogenised points (bottom)."""
    check_mapping("payload", payload, "toy")
    toy = payload["toy"]
    eta = toy["eta"]
    fig = style.figure(4.9)
    axes = fig.subplots(2, 3)
    before = np.array(toy["before"]["points"])
    after = np.array(toy["after"]["points"])
    sb = toy["before"]["scott_bandwidth"]
    sa = toy["after"]["scott_bandwidth"]
    _density_panel(axes[0, 0], before, "scott", f"Scott: h ≈ {sb[0]:.2f}, {sb[1]:.2f}")
    _density_panel(axes[0, 1], before, 0.15, "h = 0.15")
    _density_panel(axes[0, 2], before, 0.5, "h = 0.5")
    _density_panel(axes[1, 0], after, "scott", f"Scott: h ≈ {sa[0]:.2f}, {sa[1]:.2f}")
    _density_panel(axes[1, 1], after, eta / 2, f"h = η/2 = {eta / 2:g}")
    _density_panel(axes[1, 2], after, eta, f"h = η = {eta:g}")
    axes[0, 0].set_ylabel("clusters")
    axes[1, 0].set_ylabel("homogenised")
    return fig


def plot_toy_deaths(payload: Mapping[str, Any]) -> Figure:
    """Toy example: death times of the clusters and of the homogenised points."""
    check_mapping("payload", payload, "toy")
    toy = payload["toy"]
    eta = toy["eta"]
    fig = style.figure(2.6)
    axes = fig.subplots(1, 2)
    for ax, (name, label) in zip(
        axes, (("before", "clusters"), ("after", "homogenised")), strict=True
    ):
        ax.hist(np.array(toy[name]["deaths"]), bins=30, color="tab:purple")
        ax.axvline(eta, color="k", ls="--", lw=1, label="η")
        ax.set_xlabel("death time (ℓ2)")
        ax.set_ylabel("count")
        ax.set_title(f"{label}: CV = {toy[name]['stats']['cv']:.2f}")
        ax.legend()
    return fig


def plot_vr_demo(payload: Mapping[str, Any]) -> Figure:
    """Growing balls at three scales with the death edges (top), and the barcode (bottom)."""
    check_mapping("payload", payload, "vr_demo")
    demo = payload["vr_demo"]
    pts = np.array(demo["points"])
    deaths = np.array(demo["deaths"])
    edges = np.array(demo["edges"])
    lengths = np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1)
    scales = [float(np.quantile(deaths, q)) for q in (0.25, 0.6)] + [float(deaths.max())]
    fig = style.figure(4.2)
    grid = fig.add_gridspec(2, 3, height_ratios=[1.2, 1])
    lo, hi = pts.min(0) - 1.2, pts.max(0) + 1.2
    for col, r in enumerate(scales):
        ax = fig.add_subplot(grid[0, col])
        for x, y in pts:
            ax.add_patch(Circle((x, y), r / 2, alpha=0.15, color="tab:blue", lw=0))
        for (u, v), length in zip(edges, lengths, strict=True):
            if length <= r + 1e-9:
                ax.plot(*pts[[u, v]].T, color="tab:red", lw=1.5)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color="k", zorder=3)
        alive = int((deaths > r + 1e-9).sum()) + 1
        ax.set_title(f"r = {r:.2f}: {alive} component{'s' * (alive > 1)}")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    for i, d in enumerate(deaths):
        ax.plot([0, d], [i, i], color="tab:red", lw=3)
    ax.plot([0, deaths.max() * 1.15], [len(deaths)] * 2, color="tab:red", lw=3, ls=":")
    for r in scales:
        ax.axvline(r, color="tab:blue", lw=0.8, ls="--")
    ax.set_xlabel("scale r (each bar: birth 0 → death)")
    ax.set_yticks([])
    ax.set_title("0-dim barcode (dotted: the essential class)")
    return fig


def _reference_runs(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """λ key ("20", "0") -> names of the finished B = 100 backbones, by seed."""
    b = RECIPE["batch_size"]
    return {f"{lam:g}": summary.runs(payload, lam, b) for lam in (RECIPE["lam"], 0.0)}


def plot_training_curves(payload: Mapping[str, Any]) -> Figure:
    """Per-epoch reconstruction L1, connectivity loss and death-time mean ± std at B = 100,
    one line per training seed."""
    check_mapping("payload", payload, "backbones")
    eta = RECIPE["eta"]
    fig = style.figure(2.9)
    axes = fig.subplots(1, 3)
    for key, names in _reference_runs(payload).items():
        c = _colour(key)
        for i, name in enumerate(names):
            hist = payload["backbones"][name]["history"]
            ep = [h["epoch"] for h in hist]
            label = f"λ = {key}" if i == 0 else None
            axes[0].plot(ep, [h["reconstruction_l1"] for h in hist], color=c, lw=1, label=label)
            axes[1].plot(ep, [h["connectivity"] for h in hist], color=c, lw=1)
            mean = np.array([h["death_mean"] for h in hist])
            std = np.array([h["death_std"] for h in hist])
            axes[2].plot(ep, mean, color=c, lw=1)
            axes[2].fill_between(ep, mean - std, mean + std, color=c, alpha=0.1)
    axes[2].axhline(eta, color="k", ls="--", lw=1, label="η")
    if any(_reference_runs(payload).values()):
        axes[1].set_yscale("log")
        axes[0].legend()
    titles = ("reconstruction L1", "connectivity loss", "death times")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
    axes[2].legend()
    return fig


def plot_death_histograms(payload: Mapping[str, Any]) -> Figure:
    """Per-branch death times on held-out test batches of 100, one panel per λ (first seed)."""
    check_mapping("payload", payload, "backbones", "models")
    eta, within = RECIPE["eta"], summary.WITHIN
    shown = {key: names[0] for key, names in _reference_runs(payload).items() if names}
    fig = style.figure(2.9)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(shown))))
    for ax, (key, name) in zip(axes, shown.items(), strict=False):
        s = payload["models"][name]["deaths"]
        edges = np.array(s["histogram"]["edges"])
        ax.stairs(s["histogram"]["counts"], edges, fill=True, color=_colour(key), alpha=0.8)
        if edges[0] <= eta <= edges[-1] * 1.05:
            ax.axvline(eta, color="k", ls="--", lw=1, label=f"η = {eta:g}")
            ax.legend()
        seed = payload["backbones"][name]["spec"]["seed"]
        ax.set_title(
            f"λ = {key}, seed {seed}: mean {s['mean']:.3g}, std {s['std']:.2g}\n"
            f"{100 * summary.frac_within(s):.0f} % within η ± {within:g}"
        )
        ax.set_xlabel("death time (ℓ1)")
        ax.set_ylabel("count")
    return fig


def plot_latent_kde(payload: Mapping[str, Any]) -> Figure:
    """Test codes projected on the first two dims of branch 0, with Scott's KDE (first seed)."""
    check_mapping("payload", payload, "models")
    shown = {
        key: payload["models"][names[0]]["latent"]
        for key, names in _reference_runs(payload).items()
        if names and "latent" in payload["models"][names[0]]
    }
    fig = style.figure(3.4)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(shown))))
    sc = None
    for ax, (key, res) in zip(axes, shown.items(), strict=False):
        pts = np.array(res["points"])
        xs, ys, dens = kde_on_grid(pts, "scott")
        ax.contour(xs, ys, dens, levels=8, cmap="Greys", linewidths=0.8)
        sc = ax.scatter(pts[:, 0], pts[:, 1], s=3, c=res["labels"], cmap="tab10", vmin=0, vmax=9)
        ax.set_title(f"λ = {key}")
        ax.set_xlabel("branch 0, dim 0")
        ax.set_ylabel("branch 0, dim 1")
        ax.set_aspect("equal")
    if sc is not None:
        fig.colorbar(sc, ax=axes, label="digit", ticks=range(10))
    return fig


def plot_gradients(payload: Mapping[str, Any]) -> Figure:
    """Finite differences vs autograd: max abs error against the step size."""
    check_mapping("payload", payload, "gradients")
    g = payload["gradients"]
    fig = style.figure(3.0, 5.0)
    ax = fig.subplots()
    ax.loglog(g["steps"], np.maximum(g["max_abs_error"], 1e-17), "o-")
    ax.set_xlabel("central-difference step h")
    ax.set_ylabel("max |FD − autograd|")
    ax.set_title("connectivity loss (ℓ2), float64")
    ax.invert_xaxis()
    return fig
