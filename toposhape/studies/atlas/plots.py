"""The chapter's figures, each drawn from a results payload of :mod:`.run` alone.

Every function takes the payload (fresh, or loaded with
:func:`toposhape.results.load_results`) and returns one figure drawn with
:func:`toposhape.studies.style.figure`; :func:`toposhape.studies.atlas.report.figures`
collects them under the keys the notebook places them by.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toposhape.checks import check_choice, check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.nerve import plot_barcodes
from toposhape.studies import style

__all__ = [
    "EDGE_SHARE",
    "REG_NAMES",
    "plot_barcode_grid",
    "plot_charts",
    "plot_homology",
    "plot_mnist_digits",
    "plot_mnist_graph",
    "plot_torus3_curves",
    "plot_torus3_final",
]

#: How the regularisers are named on the page.
REG_NAMES: Mapping[str, str] = {"gan": "GAN", "mmd": "MMD"}

#: The MNIST graph joins two charts when their overlap u is at least this share of the
#: largest overlap between two different charts.
EDGE_SHARE = 0.10

_RECOVERED = ListedColormap(["#e6e6e6", "#a6dba0"])  # not recovered, recovered


def runs_of(payload: Mapping[str, Any], name: str, reg: str) -> list[Mapping[str, Any]]:
    """The manifold runs of ``name`` with regulariser ``reg``, in seed order."""
    return [r for r in payload["manifolds"] if r["manifold"] == name and r["regulariser"] == reg]


def charts_in_use(usage: list[float]) -> int:
    """Charts holding at least half of their fair share 1/k of the points."""
    return sum(u > 0.5 / len(usage) for u in usage)


def unbars(bars: Mapping[str, list]) -> dict[int, np.ndarray]:
    """Barcodes as saved in a payload (``{"0": [[b, d], ...], ...}``) -> ``{0: (m, 2) array}``."""
    return {int(d): np.asarray(b, dtype=np.float64).reshape(-1, 2) for d, b in bars.items()}


def betti_text(betti: list[int] | tuple[int, ...]) -> str:
    """Betti numbers as the page writes them, e.g. ``(1, 0, 1)``."""
    return "(" + ", ".join(map(str, betti)) + ")"


def torus3_curves(payload: Mapping[str, Any]) -> dict[int, dict[str, np.ndarray]]:
    """Per d: ``"reconstruction"`` and ``"regulariser"`` (the encoder's GAN loss) per epoch.

    Returns
    -------
    dict of int to dict of str to ndarray, shape (seeds, epochs)
        In increasing d; one row per seed.
    """
    out: dict[int, dict[str, list]] = {}
    for r in payload["torus3"]:
        d = out.setdefault(r["dim"], {"reconstruction": [], "regulariser": []})
        for key, rows in d.items():
            rows.append([h[key] for h in r["history"]])
    return {dim: {k: np.asarray(v) for k, v in d.items()} for dim, d in sorted(out.items())}


def _axes_3d_quiet(ax: Any) -> None:
    """No tick labels on a 3-D axes: the shape is what matters, and they crowd the panel."""
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])


def plot_charts(payload: Mapping[str, Any], reg: str) -> Figure:
    """Each manifold's first-seed atlas with regulariser ``reg``: points by chart, decoders.

    The points are coloured by their chart (argmax q); in the chart's colour, each decoder
    drawn over a grid of [0,1]^d. RP² (in R⁶) is drawn as its points' representatives on
    the upper hemisphere of S², without decoders.
    """
    check_mapping("payload", payload, "settings", "regularisers", "manifolds", "setups")
    check_choice("reg", reg, tuple(payload["regularisers"]))
    names = payload["settings"]["manifolds"]
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig = style.figure(height=3.0 * rows)
    for i, name in enumerate(names):
        r = runs_of(payload, name, reg)[0]
        x = np.asarray(r["sample"]["x"])
        if x.shape[1] > 3:  # RP² in R⁶: the hemisphere representatives in R³
            x = np.asarray(r["sample"]["params"])
        chart = np.asarray(r["sample"]["chart"])
        grids = np.asarray(r["chart_grids"])  # (k, G, D)
        three_d = x.shape[1] == 3
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d" if three_d else None)
        ax.scatter(*x.T, c=chart, cmap="tab10", s=3, vmin=0, vmax=9)
        if grids.shape[2] == x.shape[1]:
            for j, g in enumerate(grids):
                if payload["setups"][name]["dim"] == 1:
                    ax.plot(*g.T, color=f"C{j}", lw=1.5)
                else:
                    side = math.isqrt(len(g))
                    m = g.reshape(side, side, -1)
                    ax.plot_wireframe(
                        *(m[..., c] for c in range(3)), color=f"C{j}", lw=0.4, axlim_clip=True
                    )
        low, high = x.min(axis=0), x.max(axis=0)
        pad = 0.15 * (high - low)
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])  # decoders off the data are cut
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
        if three_d:
            ax.set_zlim(low[2] - pad[2], high[2] + pad[2])
            _axes_3d_quiet(ax)
        else:
            ax.set_aspect("equal")
        k = len(r["usage"])
        ax.set_title(
            f"{name}: {charts_in_use(r['usage'])} of {k} charts in use\n"
            f"membership entropy {r['entropy']:.2f} (log k = {math.log(k):.2f})"
        )
    return fig


def plot_barcode_grid(payload: Mapping[str, Any]) -> Figure:
    """First-seed barcodes (log scale): a row per manifold over Z/2 (and RP² over Z/3),
    a column per regulariser; each title gives the Betti numbers of the long bars."""
    check_mapping("payload", payload, "settings", "regularisers", "manifolds")
    names = payload["settings"]["manifolds"]
    regs = list(payload["regularisers"])
    panels = [(name, 2) for name in names]
    panels += [(name, 3) for name in names if MANIFOLDS[name].betti_z2 != MANIFOLDS[name].betti_z3]
    fig = style.figure(height=1.9 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), len(regs), squeeze=False)
    for row, (name, field) in enumerate(panels):
        for col, reg in enumerate(regs):
            r = runs_of(payload, name, reg)[0]
            label = name if field == 2 else f"{name} over Z/3"
            ax = plot_barcodes(
                unbars(r[f"bars_z{field}"]),
                ax=axes[row, col],
                scale="log",
                title=f"{label}, {REG_NAMES[reg]}: β = {betti_text(r[f'betti_z{field}'])}",
            )
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if row < len(panels) - 1:
                ax.set_xlabel("")
    dims = max(MANIFOLDS[name].dim for name in names) + 1
    handles = [Line2D([], [], color=f"C{d}", lw=2, label=f"H{d}") for d in range(dims)]
    fig.legend(handles=handles, loc="outside lower center", ncols=dims, frameon=False)
    return fig


def plot_homology(payload: Mapping[str, Any]) -> Figure:
    """Per manifold, regulariser and seed: was the homology recovered, and the long bars found.

    A cell is green when the long bars give the manifold's Betti numbers over Z/2 and Z/3;
    it shows the Betti numbers found over Z/2 (and, for RP², over Z/3 below them).
    """
    check_mapping("payload", payload, "settings", "regularisers", "manifolds")
    names = payload["settings"]["manifolds"]
    regs = list(payload["regularisers"])
    seeds = payload["settings"]["seeds"]
    rows = [(name, reg) for name in names for reg in regs]
    fig = style.figure(height=0.5 * len(rows) + 0.9)
    ax = fig.add_subplot()
    recovered = np.zeros((len(rows), len(seeds)))
    labels = []
    for i, (name, reg) in enumerate(rows):
        truth = MANIFOLDS[name]
        torsion = truth.betti_z2 != truth.betti_z3
        labels.append(
            f"{name}, {REG_NAMES[reg]}\ntrue {betti_text(truth.betti_z2)}"
            + (f" | Z/3 {betti_text(truth.betti_z3)}" if torsion else "")
        )
        for r in runs_of(payload, name, reg):
            j = seeds.index(r["seed"])
            recovered[i, j] = r["correct"]
            text = betti_text(r["betti_z2"])
            if torsion:
                text += f"\n{betti_text(r['betti_z3'])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9)
    ax.imshow(recovered, cmap=_RECOVERED, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), labels)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(len(seeds) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def plot_torus3_curves(payload: Mapping[str, Any]) -> Figure:
    """T³ ⊂ R⁶: reconstruction and the encoder's GAN loss per epoch (mean over seeds), per d."""
    check_mapping("payload", payload, "torus3")
    fig = style.figure(height=3.2)
    ax_rec, ax_gan = fig.subplots(1, 2)
    for i, (dim, curves) in enumerate(torus3_curves(payload).items()):
        epochs = np.arange(1, curves["reconstruction"].shape[1] + 1)
        ax_rec.plot(
            epochs, curves["reconstruction"].mean(axis=0), color=f"C{i}", label=f"d = {dim}"
        )
        ax_gan.plot(epochs, curves["regulariser"].mean(axis=0), color=f"C{i}")
    ax_gan.axhline(math.log(2), color="k", ls=":", label="log 2 (ideal)")
    ax_rec.set(xlabel="epoch", ylabel="reconstruction (MSE)")
    ax_gan.set(xlabel="epoch", ylabel="encoder's GAN loss")
    fig.legend(loc="outside lower center", ncols=6, frameon=False)
    return fig


def plot_torus3_final(payload: Mapping[str, Any]) -> Figure:
    """T³ ⊂ R⁶ at the last epoch, per d: reconstruction and the encoder's GAN loss, each
    seed as a dot and the mean ± std over seeds as a bar."""
    check_mapping("payload", payload, "torus3")
    fig = style.figure(height=2.8)
    ax_rec, ax_gan = fig.subplots(1, 2)
    curves = torus3_curves(payload)
    dims = list(curves)
    for ax, key, color in (
        (ax_rec, "reconstruction", "tab:blue"),
        (ax_gan, "regulariser", "tab:red"),
    ):
        last = [curves[d][key][:, -1] for d in dims]
        for d, values in zip(dims, last, strict=True):
            ax.plot(np.full(len(values), d), values, "o", color=color, alpha=0.35, ms=4)
        spread = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in last]
        ax.errorbar(dims, [v.mean() for v in last], spread, color=color, marker="_", ms=14,
                    capsize=3, ls="-")  # fmt: skip
        ax.axvline(3, color="gray", lw=0.8, ls="--")
        ax.set_xticks(dims)
        ax.set_xlabel("chart dimension d")
    ax_gan.axhline(math.log(2), color="k", ls=":")
    ax_gan.annotate("log 2", (dims[-1], math.log(2)), xytext=(0, 3), textcoords="offset points",
                    ha="right", va="bottom")  # fmt: skip
    ax_rec.set_ylabel("reconstruction (MSE)")
    ax_gan.set_ylabel("encoder's GAN loss")
    return fig


def _chart_order(counts: np.ndarray) -> np.ndarray:
    """Charts sorted by their majority digit, then by size (largest first)."""
    return np.lexsort((-counts.sum(axis=1), counts.argmax(axis=1)))


def plot_mnist_digits(payload: Mapping[str, Any]) -> Figure:
    """Share of each digit among the test images of each MNIST chart (chart = argmax q)."""
    check_mapping("payload", payload, "mnist")
    counts = np.asarray(payload["mnist"]["counts"])  # (k, 10)
    order = _chart_order(counts)
    counts = counts[order]
    totals = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(totals, 1)
    fig = style.figure(height=0.3 * len(counts) + 1.2, width=5.5)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    for i, j in zip(*np.nonzero(share >= 0.1), strict=True):
        ax.text(j, i, f"{share[i, j]:.0%}", ha="center", va="center", fontsize=9,
                color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(counts.shape[1]))
    ax.set_xlabel("digit")
    labels = [f"chart {c} ({t})" for c, t in zip(order, totals[:, 0], strict=True)]
    ax.set_yticks(range(len(counts)), labels)
    fig.colorbar(image, ax=ax, label="share of the chart's test images", shrink=0.8)
    return fig


def plot_mnist_graph(payload: Mapping[str, Any]) -> Figure:
    """The MNIST charts, each as its decoded grid, on a circle; lines weighted by overlap u.

    Two charts are joined when their overlap is at least :data:`EDGE_SHARE` of the largest
    overlap of two different charts; the line's width is proportional to the overlap. The
    charts sit in the angular order of a spectral layout of the overlap graph, so strongly
    overlapping charts tend to be neighbours.
    """
    check_mapping("payload", payload, "mnist")
    m = payload["mnist"]
    grids = np.asarray(m["grids"])  # (k, G, S, S)
    k, g, s = grids.shape[0], grids.shape[1], grids.shape[2]
    side = math.isqrt(g)
    u = np.asarray(m["overlaps"])
    off = u - np.diag(np.diag(u))
    laplacian = np.diag(off.sum(axis=1)) - off
    vectors = np.linalg.eigh(laplacian)[1]
    order = np.argsort(np.arctan2(vectors[:, 2], vectors[:, 1]))
    angles = np.empty(k)
    angles[order] = np.pi / 2 - 2 * np.pi * np.arange(k) / k
    pos = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    fig = style.figure(height=7.0, layout="none")  # one axes filling the figure
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")
    top = off.max() if off.max() > 0 else 1.0
    for i in range(k):
        for j in range(i + 1, k):
            if off[i, j] >= EDGE_SHARE * top:
                ax.plot(*pos[[i, j]].T, color="tab:blue", alpha=0.6, lw=8 * off[i, j] / top)
    counts = np.asarray(m["counts"])
    half = 0.15
    for i in range(k):
        # grid point (a, b) at column a and row b counted from the bottom; digits upright
        blocks = grids[i].reshape(side, side, s, s).transpose(1, 0, 2, 3)[::-1]
        tile = blocks.transpose(0, 2, 1, 3).reshape(side * s, side * s)
        x, y = pos[i]
        # an inset axes is drawn after (so above) every line of the parent axes
        inset = ax.inset_axes((x - half, y - half, 2 * half, 2 * half), transform=ax.transData)
        inset.imshow(tile, cmap="gray_r")
        inset.set_xticks([])
        inset.set_yticks([])
        for spine in inset.spines.values():
            spine.set_color("0.7")
        label = f"{i}: " + (f"mostly {counts[i].argmax()}" if counts[i].sum() else "unused")
        ax.text(x, y - half - 0.01, label, ha="center", va="top",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip
    return fig
