"""The chapter's figures, each drawn from a results payload of :mod:`.run` alone.

Every function takes the payload (fresh, or loaded with
:func:`toposhape.results.load_results`) and returns one figure drawn with
:func:`toposhape.studies.style.figure`; :func:`toposhape.studies.atlas.report.figures`
collects them under the keys the notebook places them by. Where the models a figure
needs are not trained yet, it says so instead.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toposhape.checks import check_choice, check_mapping
from toposhape.manifolds import MANIFOLDS
from toposhape.nerve import plot_barcodes
from toposhape.studies import style
from toposhape.studies.atlas.rules import CONFIDENCE, elbow, seed_sd, wilson

__all__ = [
    "EDGE_SHARE",
    "REG_NAMES",
    "betti_text",
    "cells",
    "chart_colors",
    "charts_in_use",
    "plot_barcode_grid",
    "plot_charts",
    "plot_control_barcodes",
    "plot_control_thresholds",
    "plot_mnist_digits",
    "plot_mnist_graph",
    "plot_rates",
    "plot_torus3_curves",
    "plot_torus3_final",
    "plot_training",
    "runs_of",
    "shown_k",
    "torus3_values",
    "unbars",
]

#: How the regularisers are named on the page.
REG_NAMES: Mapping[str, str] = {"gan": "GAN", "mmd": "MMD"}


#: The MNIST graph joins two charts when their overlap u is at least this share of the
#: largest overlap between two different charts.
EDGE_SHARE = 0.10


def cells(payload: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """Every (manifold, k, regulariser) of the nerve study, in the profile's order."""
    s = payload["settings"]
    return [
        (name, k, reg) for name, ks in s["manifolds"].items() for k in ks
        for reg in s["regularisers"]
    ]  # fmt: skip


def runs_of(payload: Mapping[str, Any], name: str, k: int, reg: str) -> list[Mapping[str, Any]]:
    """The finished runs of one cell, in seed order."""
    runs = [
        r
        for r in payload["manifolds"]
        if r["manifold"] == name and r["charts"] == k and r["regulariser"] == reg
    ]
    return sorted(runs, key=lambda r: r["seed"])


def shown_k(payload: Mapping[str, Any], name: str) -> int:
    """The chart count whose first seed the atlas and barcode figures show: the largest."""
    return max(payload["settings"]["manifolds"][name])


def charts_in_use(usage: list[float]) -> int:
    """Charts holding at least half of their fair share 1/k of the membership mass."""
    return sum(u > 0.5 / len(usage) for u in usage)


def unbars(bars: Mapping[str, list]) -> dict[int, np.ndarray]:
    """Barcodes of one field as saved (``{"0": [[b, d], ...], ...}``) -> ``{0: (m, 2) array}``."""
    return {int(d): np.asarray(b, dtype=np.float64).reshape(-1, 2) for d, b in bars.items()}


def betti_text(betti: list[int] | tuple[int, ...]) -> str:
    """Betti numbers as the page writes them, e.g. ``(1, 0, 1)``."""
    return "(" + ", ".join(map(str, betti)) + ")"


def torus3_values(payload: Mapping[str, Any], key: str) -> dict[int, np.ndarray]:
    """Per d (increasing), a held-out number of every finished T³ seed: ``reconstruction``
    or ``mmd``."""
    out: dict[int, list[float]] = {}
    for r in payload["torus3"]:
        out.setdefault(r["dim"], []).append(r[key])
    return {d: np.asarray(v) for d, v in sorted(out.items())}


def chart_colors(k: int) -> np.ndarray:
    """RGB colours (k, 3) of k charts, one per chart (distinct hues up to 10, pairs of shades of
    ten hues up to 20, then repeated), for the points and decoded grids alike."""
    table = colormaps["tab10" if k <= 10 else "tab20"].colors
    return np.asarray(table)[np.arange(k) % len(table)]


def _pending(ax: Any, what: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{what}:\nnot trained yet", ha="center", va="center",
            transform=ax.transAxes)  # fmt: skip


def _fade_short(ax: Any, threshold: float) -> None:
    """Draw the bars shorter than the long-bar threshold faint (those that do not count)."""
    for line in ax.lines:
        x = line.get_xdata()
        if len(x) == 2 and x[1] - x[0] < threshold:
            line.set_alpha(0.3)


# ------------------------------------------------------------------------------- controls


def plot_control_thresholds(payload: Mapping[str, Any]) -> Figure:
    """Per control cover and entropy, the thresholds that read it right; the chosen one.

    A segment spans the bar-length thresholds (decades) at which the control's long bars
    give the manifold's Betti numbers over Z/2 and Z/3; the grey band is what all good
    covers at the chosen entropies share, the dashed line the threshold (its midpoint).
    A cross marks an entropy at which no threshold reads the cover right.
    """
    check_mapping("payload", payload, "controls", "readout")
    controls = payload["controls"]
    covers = controls["covers"]
    levels = sorted({lv["entropy"] for c in covers for lv in c["levels"]})
    band = set(controls["band"])
    window = payload["readout"]["window"]
    fig = style.figure(height=0.42 * len(covers) + 1.3)
    ax = fig.add_subplot()
    thr = controls["threshold"]
    ax.axvspan(thr["low"], thr["high"], color="0.88", zorder=0)
    ax.axvline(thr["threshold"], color="k", ls="--", lw=1)
    colors = {e: f"C{i}" for i, e in enumerate(levels)}
    offsets = np.linspace(-0.3, 0.3, len(levels))
    for i, cover in enumerate(covers):
        for level in cover["levels"]:
            y = i + offsets[levels.index(level["entropy"])]
            low, high = level["low"], min(level["high"], window)
            style_ = "-" if level["entropy"] in band else ":"
            if low < high:
                ax.plot([low, high], [y, y], color=colors[level["entropy"]], lw=2, ls=style_)
            else:
                ax.plot([0.03], [y], "x", color=colors[level["entropy"]], ms=5)
    ax.set_yticks(
        range(len(covers)),
        [f"{c['cover']}" + ("" if c["good"] else " (bad)") for c in covers],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, window)
    ax.set_xlabel("long-bar threshold (decades of ε)")
    handles = [
        Line2D([], [], color=colors[e], lw=2, ls="-" if e in band else ":", label=f"{e:g}")
        for e in levels
    ]
    fig.legend(handles=handles, title="mean membership entropy (nats)", loc="outside lower center",
               ncols=len(levels), frameon=False)  # fmt: skip
    return fig


def _control_panels(covers: list[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """The first good cover of every manifold (RP² over both fields) and the first bad one."""
    panels, seen = [], set()
    for cover in covers:
        if cover["good"] and cover["manifold"] not in seen:
            seen.add(cover["manifold"])
            panels.append((cover, 2))
            if MANIFOLDS[cover["manifold"]].betti_z2 != MANIFOLDS[cover["manifold"]].betti_z3:
                panels.append((cover, 3))
    bad = [c for c in covers if not c["good"]]
    return [*panels, (bad[0], 2)] if bad else panels


def plot_control_barcodes(payload: Mapping[str, Any]) -> Figure:
    """Barcodes of some control covers at the middle entropy of the threshold's band, with
    the bars shorter than the threshold faint; each title gives the Betti numbers read."""
    check_mapping("payload", payload, "controls", "readout")
    controls = payload["controls"]
    entropy = sorted(controls["band"])[len(controls["band"]) // 2]
    panels = _control_panels(controls["covers"])
    rows = math.ceil(len(panels) / 2)
    fig = style.figure(height=1.9 * rows + 0.5)
    axes = fig.subplots(rows, 2, squeeze=False).ravel()
    window = payload["readout"]["window"]
    for ax, (cover, field) in zip(axes, panels, strict=False):
        level = next(lv for lv in cover["levels"] if lv["entropy"] == entropy)
        label = cover["cover"] + ("" if field == 2 else " over Z/3")
        plot_barcodes(
            unbars(level["bars"][str(field)]), ax=ax, scale="log",
            title=f"{label}: β = {betti_text(level['betti'][str(field)])}",
        )  # fmt: skip
        ax.set_xlim(0, window * 1.02)
        _fade_short(ax, controls["threshold"]["threshold"])
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=f"C{d}", lw=2, label=f"H{d}") for d in range(3)]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


# -------------------------------------------------------------------------- learned atlases


def _axes_3d_quiet(ax: Any) -> None:
    """No tick labels on a 3-D axes: the shape is what matters, and they crowd the panel."""
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])


def plot_charts(payload: Mapping[str, Any], reg: str) -> Figure:
    """Each manifold's first-seed atlas (largest k) with regulariser ``reg``.

    The points are coloured by their chart (argmax q); in the chart's colour, the decoder
    of every chart in use (:func:`charts_in_use`) drawn over a grid of [0,1]^d. RP² (in
    R⁶) is drawn as its points' representatives on the upper hemisphere of S², without
    decoders.
    """
    check_mapping("payload", payload, "settings", "manifolds")
    check_choice("reg", reg, tuple(payload["settings"]["regularisers"]))
    names = list(payload["settings"]["manifolds"])
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig = style.figure(height=3.0 * rows)
    first = min(payload["settings"]["seeds"])
    for i, name in enumerate(names):
        k = shown_k(payload, name)
        found = [r for r in runs_of(payload, name, k, reg) if r["seed"] == first]
        if not found:
            _pending(fig.add_subplot(rows, cols, i + 1), f"{name}, k = {k}")
            continue
        three_d = MANIFOLDS[name].ambient >= 3
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d" if three_d else None)
        r = found[0]
        x = np.asarray(r["sample"]["x"])
        if x.shape[1] > 3:  # RP² in R⁶: the hemisphere representatives in R³
            x = np.asarray(r["sample"]["params"])
        chart = np.asarray(r["sample"]["chart"])
        grids = np.asarray(r["chart_grids"])  # (k, G, D)
        colors = chart_colors(k)
        ax.scatter(*x.T, color=colors[chart], s=3)
        used = np.asarray(r["usage"]) > 0.5 / k  # as charts_in_use counts them
        if grids.shape[2] == x.shape[1]:
            for j in np.flatnonzero(used):
                g, color = grids[j], colors[j]
                if MANIFOLDS[name].dim == 1:
                    ax.plot(*g.T, color=color, lw=1.5)
                else:
                    side = math.isqrt(len(g))
                    m = g.reshape(side, side, -1)
                    ax.plot_wireframe(*(m[..., c] for c in range(3)), color=color, lw=0.4,
                                      axlim_clip=True)  # fmt: skip
        low, high = x.min(axis=0), x.max(axis=0)
        pad = 0.15 * (high - low)
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])  # decoders off the data are cut
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
        if x.shape[1] == 3:
            ax.set_zlim(low[2] - pad[2], high[2] + pad[2])
            ax.set_box_aspect(tuple(high - low + 2 * pad))  # equal scales: a torus keeps its hole
            ax.view_init(elev=55)  # from above enough to see through the torus's hole
            _axes_3d_quiet(ax)
        else:
            ax.set_aspect("equal")
        ax.set_title(
            f"{name}: {charts_in_use(r['usage'])} of {k} charts in use\n"
            f"membership entropy {r['entropy']:.2f} (log k = {math.log(k):.2f})"
        )
    return fig


def plot_barcode_grid(payload: Mapping[str, Any]) -> Figure:
    """First-seed barcodes (largest k, log scale, the read-out's window): a row per
    manifold over Z/2 (and RP² over Z/3), a column per regulariser; the bars shorter than
    the threshold faint, each title gives the Betti numbers read."""
    check_mapping("payload", payload, "settings", "manifolds", "controls", "readout")
    names = list(payload["settings"]["manifolds"])
    regs = payload["settings"]["regularisers"]
    first = min(payload["settings"]["seeds"])
    panels = [(name, 2) for name in names]
    panels += [(name, 3) for name in names if MANIFOLDS[name].betti_z2 != MANIFOLDS[name].betti_z3]
    fig = style.figure(height=1.9 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), len(regs), squeeze=False)
    threshold = payload["controls"]["threshold"]["threshold"]
    for row, (name, field) in enumerate(panels):
        k = shown_k(payload, name)
        for col, reg in enumerate(regs):
            ax = axes[row, col]
            found = [r for r in runs_of(payload, name, k, reg) if r["seed"] == first]
            label = f"{name} k={k}" + ("" if field == 2 else " over Z/3")
            if not found:
                _pending(ax, f"{label}, {REG_NAMES[reg]}")
                continue
            r = found[0]
            plot_barcodes(
                unbars(r["bars"][str(field)]), ax=ax, scale="log",
                title=f"{label}, {REG_NAMES[reg]}: β = {betti_text(r['betti'][str(field)])}",
            )  # fmt: skip
            ax.set_xlim(0, payload["readout"]["window"] * 1.02)
            _fade_short(ax, threshold)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if row < len(panels) - 1:
                ax.set_xlabel("")
    dims = max(MANIFOLDS[name].dim for name in names) + 1
    handles = [Line2D([], [], color=f"C{d}", lw=2, label=f"H{d}") for d in range(dims)]
    fig.legend(handles=handles, loc="outside lower center", ncols=dims, frameon=False)
    return fig


def plot_rates(payload: Mapping[str, Any]) -> Figure:
    """Per manifold, k and regulariser: the share of seeds whose nerve gave the homology,
    with its Wilson interval; cells without a finished run are marked as pending."""
    check_mapping("payload", payload, "settings", "manifolds")
    rows = cells(payload)
    fig = style.figure(height=0.32 * len(rows) + 1.2)
    ax = fig.add_subplot()
    labels = []
    for i, (name, k, reg) in enumerate(rows):
        runs = runs_of(payload, name, k, reg)
        n, c = len(runs), sum(r["correct"] for r in runs)
        labels.append(f"{name} k={k} {REG_NAMES[reg]} ({c}/{n})")
        color = "tab:blue" if reg == "mmd" else "tab:orange"
        if n == 0:
            ax.text(0.02, i, "not trained yet", va="center", fontsize=9, color="0.4")
            continue
        low, high = wilson(c, n)
        ax.plot([low, high], [i, i], color=color, lw=2)
        ax.plot([c / n], [i], "o", color=color, ms=5)
    ax.axvline(0.5, color="0.5", ls=":", lw=1)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"share of seeds with the right Betti numbers ({CONFIDENCE:.0%} Wilson interval)")
    return fig


def plot_training(payload: Mapping[str, Any]) -> Figure:
    """Training curves: per manifold, the reconstruction error per epoch (mean over the
    finished seeds) of every k and regulariser."""
    check_mapping("payload", payload, "settings", "manifolds")
    names = list(payload["settings"]["manifolds"])
    if not payload["manifolds"]:
        return style.not_run("Training curves: no atlas of the profile is trained yet.")
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig = style.figure(height=2.3 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    all_ks = sorted({k for ks in payload["settings"]["manifolds"].values() for k in ks})
    colors = {k: f"C{i}" for i, k in enumerate(all_ks)}
    for ax, name in zip(axes, names, strict=False):
        for reg in payload["settings"]["regularisers"]:
            for k in payload["settings"]["manifolds"][name]:
                runs = runs_of(payload, name, k, reg)
                if runs:
                    curve = np.mean([r["history"]["reconstruction"] for r in runs], axis=0)
                    ax.plot(np.arange(1, len(curve) + 1), curve, color=colors[k],
                            ls="-" if reg == "mmd" else "--")  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("reconstruction (MSE)")
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    legend = [
        Line2D([], [], color="k", ls="-", label="MMD"),
        Line2D([], [], color="k", ls="--", label="GAN"),
        *(Line2D([], [], color=colors[k], label=f"k = {k}") for k in all_ks),
    ]
    fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), frameon=False)
    return fig


# ----------------------------------------------------------------------------------- T³


def plot_torus3_curves(payload: Mapping[str, Any]) -> Figure:
    """T³ ⊂ R⁶: training reconstruction error and MMD per epoch (mean over seeds), per d."""
    check_mapping("payload", payload, "torus3")
    if not payload["torus3"]:
        return style.not_run("T³: no atlas is trained yet.")
    fig = style.figure(height=3.2)
    ax_rec, ax_mmd = fig.subplots(1, 2)
    dims = sorted({r["dim"] for r in payload["torus3"]})
    for i, dim in enumerate(dims):
        runs = [r for r in payload["torus3"] if r["dim"] == dim]
        for ax, key in ((ax_rec, "reconstruction"), (ax_mmd, "regulariser")):
            curve = np.mean([r["history"][key] for r in runs], axis=0)
            ax.plot(np.arange(1, len(curve) + 1), curve, color=f"C{i}",
                    label=f"d = {dim}" if ax is ax_rec else None)  # fmt: skip
    ax_rec.set(xlabel="epoch", ylabel="reconstruction (MSE)", yscale="log")
    ax_mmd.set(xlabel="epoch", ylabel="MMD to the uniform latent law")
    ax_mmd.set_yscale("symlog", linthresh=1e-3)  # an unbiased MMD can be slightly negative
    fig.legend(loc="outside lower center", ncols=len(dims), frameon=False)
    return fig


def plot_torus3_final(payload: Mapping[str, Any]) -> Figure:
    """T³ ⊂ R⁶ on held-out samples, per d: reconstruction error and MMD, each seed as a
    dot and the mean ± std over seeds as a bar; the elbow rule's d (if any) marked."""
    check_mapping("payload", payload, "torus3")
    if not payload["torus3"]:
        return style.not_run("T³: no atlas is trained yet.")
    fig = style.figure(height=2.8)
    ax_rec, ax_mmd = fig.subplots(1, 2)
    for ax, key, color in ((ax_rec, "reconstruction", "tab:blue"), (ax_mmd, "mmd", "tab:red")):
        values = torus3_values(payload, key)
        dims = list(values)
        for d, v in values.items():
            ax.plot(np.full(len(v), d), v, "o", color=color, alpha=0.35, ms=4)
        spread = [0.0 if math.isnan(seed_sd(v)) else seed_sd(v) for v in values.values()]
        ax.errorbar(dims, [v.mean() for v in values.values()], spread, color=color, marker="_",
                    ms=14, capsize=3, ls="-")  # fmt: skip
        ax.axvline(3, color="gray", lw=0.8, ls="--")
        ax.set_xticks(dims)
        ax.set_xlabel("chart dimension d")
    ax_rec.set_yscale("log")
    found = elbow(torus3_values(payload, "reconstruction"))
    if found is not None:
        ax_rec.axvline(found, color="tab:blue", lw=0.8, ls=":")
        ax_rec.annotate(f"elbow rule: d = {found}", (found, 1.0), ha="center", va="bottom",
                        xycoords=ax_rec.get_xaxis_transform())  # fmt: skip
    ax_rec.set_ylabel("held-out reconstruction (MSE)")
    ax_mmd.set_ylabel("held-out MMD")
    return fig


# --------------------------------------------------------------------------------- MNIST


def _chart_order(counts: np.ndarray) -> np.ndarray:
    """Charts sorted by their majority digit, then by size (largest first)."""
    return np.lexsort((-counts.sum(axis=1), counts.argmax(axis=1)))


def plot_mnist_digits(payload: Mapping[str, Any]) -> Figure:
    """Share of each digit among the test images of each MNIST chart (chart = argmax q)."""
    check_mapping("payload", payload, "mnist")
    if not payload["mnist"]:
        return style.not_run("MNIST: the atlas is not trained yet.")
    counts = np.asarray(payload["mnist"][0]["counts"])  # (k, 10), the first seed's atlas
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
    if not payload["mnist"]:
        return style.not_run("MNIST: the atlas is not trained yet.")
    m = payload["mnist"][0]  # the first seed's atlas
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
        # above the insets (zorder 5), so that a neighbouring chart's grid cannot hide it
        ax.text(x, y - half - 0.01, label, ha="center", va="top", zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip
    return fig
