"""The figures of the batch-size sweep and of densification, drawn from a results payload.

Every training seed is drawn (dots or thin lines) beside the seed mean, so the reader sees
the noise the verdicts are measured against (:mod:`.summary`); a batch size trained with one
seed only is an open marker without error bar, and the legend says so where there is one.
Every figure names the data its numbers come from (:mod:`.evaluate`): the training curves
the MNIST training images, the held-out measures and the AUROC the MNIST test codes, the
covering numbers the MNIST training codes, densification the training codes of a digit
around the digit's test codes.
"""

from collections.abc import Mapping
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from toposhape.checks import check_mapping
from toposhape.studies import style
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.present import plural

_VARIANT_STYLES = {
    "λ = 20, r = η": {"color": "tab:red", "ls": "-", "zorder": 3},
    "λ = 20, r = calibrated": {"color": "tab:red", "ls": ":"},
    "λ = 0, r = η": {"color": "tab:gray", "ls": "-"},
    "λ = 0, r = calibrated": {"color": "k", "ls": "--"},
}


def _b_colours(sizes: list[int]) -> dict[int, Any]:
    cmap = matplotlib.colormaps["viridis"]
    return {b: cmap(i / max(1, len(sizes) - 1) * 0.9) for i, b in enumerate(sizes)}


def _plain_log(ax: Axes, which: str = "xy") -> None:
    """Log scale with plain labels at 1, 2 and 5 times the powers of ten (100, 0.5)."""
    for name in which:
        axis = ax.xaxis if name == "x" else ax.yaxis
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _log2_axis(ax: Axes, sizes: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.minorticks_off()
    ax.axvline(RECIPE["batch_size"], color="tab:blue", lw=0.8, ls=":")
    ax.set_xlabel("training batch size B")


def plot_sweep_curves(payload: Mapping[str, Any]) -> Figure:
    """Training curves of the λ = 20 sweep: L_η per death time and reconstruction, per B."""
    check_mapping("payload", payload, "backbones")
    sizes = summary.batch_sizes(payload)
    colours = _b_colours(sizes)
    fig = style.figure(2.9)
    ax1, ax2 = fig.subplots(1, 2)
    for b in sizes:
        for i, name in enumerate(summary.runs(payload, RECIPE["lam"], b)):
            hist = payload["backbones"][name]["history"]
            ep = [h["epoch"] for h in hist]
            label = f"B = {b}" if i == 0 else None
            ax1.plot(ep, [h["connectivity"] / (b - 1) for h in hist], color=colours[b], lw=1)
            ax2.plot(
                ep, [h["reconstruction_l1"] for h in hist], color=colours[b], lw=1, label=label
            )
    if sizes:
        _plain_log(ax1, "y")
    fig.suptitle("MNIST train images (training curves, mean over each epoch's batches)")
    ax1.set_title("connectivity loss per death time")
    ax2.set_title("reconstruction L1")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
    if sizes:
        ax2.legend(ncols=2)
    return fig


#: The legend entry of the open marker of :func:`_seed_dots`.
ONE_SEED = "open: one seed"


def _seed_dots(ax: Axes, sizes: list[int], rows: list[dict], key: str, colour: str) -> bool:
    """Each seed's value of ``key`` per B (dots), the seed means joined by a line, ± the seed
    std as error bars where a B has two seeds or more. A B with one seed has no spread to
    show: its value is an open marker, without error bar. Returns whether there is such a B.
    """
    single = [len(r[key]["values"]) == 1 for r in rows]
    for r, one in zip(rows, single, strict=True):
        x = [r["B"]] * len(r[key]["values"])
        if one:
            ax.scatter(x, r[key]["values"], s=20, facecolors="none", edgecolors=colour, zorder=3)
        else:
            ax.scatter(x, r[key]["values"], s=12, color=colour, alpha=0.5)
    ax.plot([r["B"] for r in rows], [r[key]["mean"] for r in rows], color=colour, lw=1)
    several = [r for r, one in zip(rows, single, strict=True) if not one]
    ax.errorbar(
        [r["B"] for r in several],
        [r[key]["mean"] for r in several],
        yerr=[r[key]["std"] for r in several],
        color=colour,
        capsize=3,
        lw=1,
        ls="none",
    )
    _log2_axis(ax, sizes)
    return any(single)


def _one_seed_key() -> Line2D:
    """The legend entry saying that open markers are single seeds."""
    return Line2D([], [], marker="o", ls="none", color="0.3", markerfacecolor="none",
                  label=ONE_SEED)  # fmt: skip


def plot_batch_sweep(payload: Mapping[str, Any]) -> Figure:
    """Against B: the reachable connectivity loss, the death-time spread, the AUROC."""
    check_mapping("payload", payload, "backbones", "models", "settings")
    rows = summary.sweep(payload)
    sizes = [r["B"] for r in rows]
    n = summary.headline_n(payload)
    fig = style.figure(3.2)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    single = _seed_dots(ax1, sizes, rows, "train_loss", "tab:red")
    _seed_dots(ax1, sizes, rows, "heldout_loss", "tab:orange")
    ax1.set_title("reachable loss per death time")
    handles = [
        Line2D([], [], color="tab:red", label="MNIST train images, last epoch"),
        Line2D([], [], color="tab:orange", label="MNIST test codes, |η − t|"),
    ]
    fig.legend(
        handles=handles + [_one_seed_key()] * single,
        loc="outside lower center",
        ncols=3,
        handlelength=1.5,
        columnspacing=1.2,
    )
    _seed_dots(ax2, sizes, rows, "death_std", "tab:purple")
    ax2.set_title("held-out death-time std\n(MNIST test codes)")
    _seed_dots(ax3, sizes, rows, f"auroc_{n}", "tab:green")
    ax3.set_title(f"one-class AUROC, n = {n}\n(MNIST test codes)")
    return fig


def plot_covering(payload: Mapping[str, Any]) -> Figure:
    """Metric entropy against batch size: k₀.₉ vs B (left) and vs the number of codes."""
    check_mapping("payload", payload, "backbones", "models")
    rows = summary.sweep(payload)
    sizes = [r["B"] for r in rows]
    fig = style.figure(3.0)
    ax1, ax2 = fig.subplots(1, 2)
    single = False
    if sizes:
        lo, hi = min(sizes) / 1.5, max(sizes) * 1.5
        grid = np.geomspace(lo, hi, 50)
        low, high = summary.RATIO_RANGE
        ax1.fill_between(grid, low * grid, high * grid, color="tab:blue", alpha=0.1,
                         label=f"k / B in [{low:.2g}, {high:g}]")  # fmt: skip
        ax1.plot(grid, grid, color="tab:blue", ls="--", lw=1, label="k = B")
        single = _seed_dots(ax1, sizes, rows, "cover_k", "tab:red")
        _plain_log(ax1, "y")
    ax1.set_ylabel(f"k_{summary.COVER_SHARE:g} (median over branches)")
    ax1.set_title(f"{100 * summary.COVER_SHARE:g} % covering number, MNIST train codes")
    handles = ax1.get_legend_handles_labels()[0] + [_one_seed_key()] * single
    if handles:
        ax1.legend(handles=handles, loc="upper left")
    colours = _b_colours(sizes)
    for b in sizes:
        curves = []
        for name in summary.runs(payload, RECIPE["lam"], b):
            model = payload["models"][name]
            cov = model["covering"]
            curves.append([summary.cover_k(model, size=m) for m in cov["sizes"]])
        ax2.plot(cov["sizes"], np.mean(curves, axis=0), "o-", color=colours[b], label=f"B = {b}")
    if sizes:
        _plain_log(ax2)
    ax2.set_xlabel("MNIST train codes in the sample")
    ax2.set_ylabel(f"k_{summary.COVER_SHARE:g} (seed mean)")
    ax2.set_title("does it level off?")
    if sizes:
        ax2.legend(ncols=2)
    return fig


def _density_labels(mass: Axes, coverage: Axes, radius: str) -> None:
    """Axis labels and titles of a pair of ball-mass and coverage panels at ``radius``: the
    n MNIST training codes of a digit counted around the digit's MNIST test codes."""
    mass.set_ylabel(f"mean count within {radius} / n")
    coverage.set_ylim(0, 1.02)
    coverage.set_ylabel("share with ≥ 1")
    mass.set_title(
        f"ball mass: share of a digit's MNIST\ntrain codes within {radius} of its test codes"
    )
    coverage.set_title(f"MNIST test codes with a train code\nof their digit within {radius}")


def plot_densification(payload: Mapping[str, Any]) -> Figure:
    """Ball mass (count / n) and coverage of a class's test codes, per branch, against n / B."""
    check_mapping("payload", payload, "backbones", "models")
    dens = summary.densification(payload)
    b = dens["B"]
    fig = style.figure(3.0)
    ax1, ax2 = fig.subplots(1, 2)
    for label, v in dens["variants"].items():
        if not v["per_seed"]:
            continue
        x = np.asarray(dens["ns"]) / b
        for key, ax in (("mass_curve", ax1), ("coverage_curve", ax2)):
            curves = np.array([c[key] for c in v["per_seed"]])
            ax.plot(x, curves.mean(axis=0), label=label, **_VARIANT_STYLES[label])
            ax.fill_between(x, curves.min(axis=0), curves.max(axis=0),
                            color=_VARIANT_STYLES[label]["color"], alpha=0.12)  # fmt: skip
    drawn = any(v["per_seed"] for v in dens["variants"].values())
    if drawn:
        _plain_log(ax1, "y")
    _density_labels(ax1, ax2, "r")
    for ax in (ax1, ax2):
        if drawn:
            _plain_log(ax, "x")
        ax.axvline(1.0, color="tab:blue", lw=0.8, ls=":")
        ax.set_xlabel(f"n / B (B = {b})")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(loc="lower right")
    return fig


#: The legend entries of the marks of :func:`_mark_n_equals_b`, by kind.
N_EQUALS_B = {"measured": "n = B, measured", "interpolated": "n = B, interpolated"}


def _mark_n_equals_b(ax: Axes, b: int, ns: np.ndarray, y: np.ndarray, colour: Any) -> str | None:
    """Mark the curve ``y`` over the sizes ``ns`` at n = B, and say how it was read.

    ``"measured"`` (a filled dot) where B is one of ``ns``; ``"interpolated"`` (an open dot,
    linear in log n between the two measured n around B) where B lies between two of them;
    None, and no dot, where B is outside [min(ns), max(ns)]: a value there was never
    measured, and extrapolating the curve would draw one.
    """
    order = np.argsort(ns)
    ns, y = ns[order], y[order]
    if b in ns:
        kind, value = "measured", float(y[ns == b][0])
    elif ns[0] < b < ns[-1]:
        kind, value = "interpolated", float(np.interp(np.log(b), np.log(ns), y))
    else:
        return None
    face = colour if kind == "measured" else "none"
    ax.plot([b], [value], "o", color=colour, markerfacecolor=face, zorder=3)
    return kind


def plot_densification_by_b(payload: Mapping[str, Any]) -> Figure:
    """Ball mass and coverage at r = η against n for every λ = 20 batch size, marked at n = B.

    The mark is a filled dot where n = B was measured, an open dot where it is interpolated
    between the two measured n around B, and absent where B lies outside the measured n
    (:func:`_mark_n_equals_b`); the legend names the kinds drawn.
    """
    check_mapping("payload", payload, "backbones", "models")
    by_b = summary.densification_by_b(payload)
    colours = _b_colours(list(by_b["curves"]))
    fig = style.figure(3.0)
    ax1, ax2 = fig.subplots(1, 2)
    marks: set[str | None] = set()
    for b, curves in by_b["curves"].items():
        ns = np.asarray(by_b["ns"])
        label = f"B = {b} ({plural(curves['seeds'], 'seed')})"
        for key, ax in (("mass_curve", ax1), ("coverage_curve", ax2)):
            y = np.asarray(curves[key])
            ax.plot(ns, y, "-", color=colours[b], label=label)
            marks.add(_mark_n_equals_b(ax, b, ns, y, colours[b]))
    if by_b["curves"]:
        _plain_log(ax1)
        _plain_log(ax2, "x")
        keys = [
            Line2D([], [], marker="o", ls="none", color="0.3", label=text,
                   markerfacecolor="0.3" if kind == "measured" else "none")
            for kind, text in N_EQUALS_B.items()
            if kind in marks
        ]  # fmt: skip
        ax2.legend(handles=ax2.get_legend_handles_labels()[0] + keys, loc="lower right")
    _density_labels(ax1, ax2, "η")
    for ax in (ax1, ax2):
        ax.set_xlabel("MNIST train codes of the digit, n")
    return fig
