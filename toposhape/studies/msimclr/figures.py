"""The chapter's figures, drawn from a payload (no training, no evaluation).

Every figure has one panel per dataset (and d where it matters) of the profile, whether or
not its models are trained yet: a panel without results says so, so a chapter with some
models missing still shows the same figures.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toposhape.checks import check_choice
from toposhape.image_sets import DISPLAY_NAMES, IMAGE_SETS
from toposhape.studies import style
from toposhape.studies.msimclr.compare import (
    PROBES,
    accuracies,
    floor,
    label,
    mean_std,
    ntxent_bound,
    seeds_of,
)
from toposhape.studies.msimclr.schedule import model_keys
from toposhape.studies.oneclass.protocol import class_names

__all__ = ["COLUMNS", "accuracy", "chart_use", "curves", "data_name", "embedding", "keys_at"]

COLUMNS = 5  # panels per row of an embedding figure

_SHORT = {"pca": "PCA of pixels", "random": "untrained net"}
_PROBE_STYLE = {
    "linear": {"marker": "o", "color": "C0", "label": "linear probe"},
    "knn": {"marker": "s", "color": "C3", "label": "k-NN probe", "mfc": "white"},
    "chart_probe": {"marker": "^", "color": "C2", "label": "per-chart probe (MSimCLR)"},
}

#: The curves' y-axis is cut at their highest value after this share of ``min_steps``, so
#: the first blocks' high losses do not squeeze the band where flatness is judged.
ZOOM_AFTER = 0.1

#: Characters per line of an embedding panel's title (a fifth of the page).
TITLE_CHARS = 15

#: The chance line of the accuracy figure.
_CHANCE_STYLE = {"color": "0.3", "ls": "-.", "lw": 0.9}

#: The line at log(2B − 1) of the NT-Xent figure: thin and grey, behind the curves.
_BOUND_STYLE = {"color": "0.45", "ls": ":", "lw": 0.8}


def keys_at(settings: Mapping[str, Any], d: int) -> list[str]:
    """The model keys at dimension d in display order: SimCLR, wide-head SimCLR, MSimCLR."""
    keys = [(key, k, hidden) for key, k, dim, hidden in model_keys(settings) if dim == d]
    return [key for key, k, hidden in sorted(keys, key=lambda t: (t[1] > 0, t[1], t[2] or 0))]


def _formats(label: str) -> list[str]:
    """The image formats named in a data label, e.g. ``["JPEG"]`` for
    ``"CIFAR-10 test: 10000 JPEG"``."""
    counts = label.split(": ", 1)[-1].split(", resized")[0]
    return sorted(part.split()[-1] for part in counts.split(", "))


def data_name(payload: Mapping[str, Any] | None, dataset: str, split: str) -> str:
    """The dataset's display name for what was read from ``split``, naming the split and its
    format when the training and test splits differ in format (read from the payload's data
    labels), e.g. ``"CIFAR-10 train (PNG)"`` for training curves and ``"CIFAR-10 test
    (JPEG)"`` for probe accuracies; the plain name when they agree or the payload has no
    entry for ``dataset``.

    Parameters
    ----------
    payload : mapping or None
    dataset : str
    split : {"train", "test"}
    """
    check_choice("split", split, ("train", "test"))
    name = DISPLAY_NAMES.get(dataset, dataset)
    entry = None if payload is None else payload["datasets"].get(dataset)
    if entry is None:
        return name
    formats = {part: _formats(entry[part]["label"]) for part in ("train", "test")}
    if formats["train"] == formats["test"]:
        return name
    return f"{name} {split} ({', '.join(formats[split])})"


def _panels(payload: Mapping[str, Any], height: float) -> tuple[Figure, list[tuple]]:
    """A figure with one panel per (dataset, d): columns are datasets, rows are d."""
    settings = payload["settings"]
    datasets, dims = settings["datasets"], settings["dims"]
    fig = style.figure(height=height * len(dims) + 0.7)
    axes = fig.subplots(len(dims), len(datasets), squeeze=False)
    return fig, [
        (axes[r, c], dataset, d) for r, d in enumerate(dims) for c, dataset in enumerate(datasets)
    ]


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set(xticks=[], yticks=[])


def _entry(payload: Mapping[str, Any], dataset: str) -> Mapping[str, Any] | None:
    return payload["datasets"].get(dataset)


def accuracy(payload: Mapping[str, Any]) -> Figure:
    """Test accuracy of every model and floor under every probe, seed by seed.

    One panel per (dataset, d); per column (PCA of the pixels, untrained network, then
    every model) the linear probe (filled circles), the k-NN probe (open squares) and, for
    MSimCLR, the reference's per-chart probe (triangles): small markers for the seeds, a
    large one with a bar for their mean ± standard deviation; a dash-dotted line at chance,
    100 / the number of classes.
    """
    settings = payload["settings"]
    fig, panels = _panels(payload, 3.0)
    for ax, dataset, d in panels:
        ax.set_title(f"{data_name(payload, dataset, 'test')}, d = {d}")
        entry = _entry(payload, dataset)
        if entry is None:
            _empty(ax, "not evaluated yet")
            continue
        ax.axhline(100 / IMAGE_SETS[dataset], zorder=1, **_CHANCE_STYLE)
        columns: list[tuple[str, dict[str, list[float]]]] = [
            (_SHORT[kind],
             {p: floor(entry, kind, d, p) if p in PROBES else [] for p in _PROBE_STYLE})
            for kind in ("pca", "random")
        ]  # fmt: skip
        columns += [
            (label(key), {p: accuracies(entry, key, p)
                          if p in PROBES or entry["models"][key]["charts"] else []
                          for p in _PROBE_STYLE})
            for key in keys_at(settings, d)
        ]  # fmt: skip
        for i, (_, values) in enumerate(columns):
            for j, (probe, look) in enumerate(_PROBE_STYLE.items()):
                points = values[probe]
                if not points:
                    continue
                x = i + (j - 1) * 0.25
                marker = {k: v for k, v in look.items() if k != "label"}
                ax.plot([x] * len(points), points, ls="", ms=3, alpha=0.6, **marker)
                mean, std = mean_std(points)
                ax.errorbar(x, mean, yerr=std, ms=6, capsize=2, **marker)
        for i, (_, values) in enumerate(columns):
            if not values["linear"]:
                ax.text(i, 0.03, "not\ntrained", ha="center", va="bottom", fontsize=9,
                        transform=ax.get_xaxis_transform(), color="0.4")  # fmt: skip
        ax.axvline(1.5, color="0.6", lw=0.8)
        ax.set_xticks(
            range(len(columns)), [name for name, _ in columns],
            rotation=35, ha="right", rotation_mode="anchor",
        )  # fmt: skip
        ax.set_xlim(-0.6, len(columns) - 0.4)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
    handles = [
        Line2D([], [], ls="", ms=6, **{k: v for k, v in look.items() if k != "label"})
        for look in _PROBE_STYLE.values()
    ]
    handles.append(Line2D([], [], **_CHANCE_STYLE))
    fig.legend(
        handles,
        [look["label"] for look in _PROBE_STYLE.values()] + ["chance (1 / classes)"],
        loc="outside lower center",
        ncols=len(handles),
    )
    return fig


def curves(payload: Mapping[str, Any], term: str = "loss") -> Figure:
    """A training curve against steps, one line per model and seed, per (dataset, d).

    Every point is the mean of one block of ``block_steps`` steps, and a dot marks each
    curve's last block; the dashed vertical line marks ``min_steps``, where the convergence
    criterion is first checked. The panels name the training split. The y-axis runs
    from the lowest value to the highest one after the first :data:`ZOOM_AFTER` ×
    ``min_steps`` steps (and, for NT-Xent, at least to log(2B − 1)): higher values of the
    first blocks run off the top, so the late curves stay readable.

    Parameters
    ----------
    payload : mapping
        The chapter's payload.
    term : {"loss", "ntxent"}
        ``"loss"``: the training loss the stopping rule reads (NT-Xent plus the MMD term);
        ``"ntxent"``: the contrastive term alone, with a thin dotted line at log(2B − 1),
        its value when the embedding tells no image from any other, drawn behind the curves
        so a curve stuck on it stays visible.
    """
    check_choice("term", term, ("loss", "ntxent"))
    settings = payload["settings"]
    block, first = settings["block_steps"], settings["min_steps"]
    fig, panels = _panels(payload, 2.4)
    colours = {}
    for ax, dataset, d in panels:
        ax.set_title(f"{data_name(payload, dataset, 'train')}, d = {d}")
        entry = _entry(payload, dataset)
        keys = keys_at(settings, d)
        if entry is None or not any(entry["models"][key]["seeds"] for key in keys):
            _empty(ax, "no model trained yet")
            continue
        low, high = math.inf, -math.inf
        for key in keys:
            colour = colours.setdefault(label(key), f"C{len(colours)}")
            for seed in seeds_of(entry, key):
                history = entry["models"][key]["seeds"][seed]["history"]
                steps = block * np.arange(1, len(history) + 1)
                values = np.array([h[term] for h in history])
                ax.plot(steps, values, color=colour, lw=0.9, alpha=0.8, zorder=2)
                ax.plot(steps[-1], values[-1], "o", ms=3, color=colour, zorder=3)
                low = min(low, values.min())
                high = max(high, values[steps > ZOOM_AFTER * first].max(initial=values[-1]))
        ax.axvline(first, color="0.5", ls="--", lw=0.8)
        if term == "ntxent":
            ax.axhline(ntxent_bound(settings), zorder=1, **_BOUND_STYLE)
            high = max(high, ntxent_bound(settings))
        pad = 0.05 * (high - low) or 0.05
        ax.set_ylim(low - pad, high + pad)
        ax.set(xlabel="training step", ylabel="training loss" if term == "loss" else "NT-Xent")
        ax.grid(alpha=0.3)
    if colours:
        handles = [Line2D([], [], color=c, lw=2) for c in colours.values()]
        names = list(colours)
        if term == "ntxent":
            handles.append(Line2D([], [], **_BOUND_STYLE))
            names.append("log(2B − 1): no image told apart")
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 3))
    return fig


def chart_use(payload: Mapping[str, Any]) -> Figure:
    """Each MSimCLR model's share of test points per chart (first seed), against 1/k.

    The x-axis runs from 0 to a tenth past the largest share or 1/k of the panel."""
    settings = payload["settings"]
    datasets = settings["datasets"]
    seed = str(settings["seeds"][0])
    models = [(d, k) for d in settings["dims"] for k in settings["charts"] if k > 1]
    cols = min(len(datasets), 2)
    rows = math.ceil(len(datasets) / cols)
    fig = style.figure(height=rows * (0.9 + 0.3 * len(models)) + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, dataset in zip(axes, datasets, strict=False):
        ax.set_title(data_name(payload, dataset, "test"))
        entry = _entry(payload, dataset)
        top, empty = 0.0, []
        for row, (d, k) in enumerate(models):
            run = (
                None if entry is None else entry["models"][f"msimclr-k{k}-d{d}"]["seeds"].get(seed)
            )
            if run is None:
                empty.append(row)
                continue
            counts = np.asarray(run["test_counts"])
            share = 100 * counts / counts.sum()
            colour = f"C{settings['charts'].index(k)}"
            ax.plot(share, np.full(k, row), "o", ms=5, color=colour, alpha=0.8, mew=0)
            ax.plot([100 / k], [row], "|", ms=12, mew=2, color="k")
            top = max(top, share.max(), 100 / k)
        right = 1.1 * top if top else 100.0
        for row in empty:
            ax.text(right / 2, row, "not trained", ha="center", va="center", fontsize=9,
                    color="0.4")  # fmt: skip
        ax.set_yticks(range(len(models)), [f"d = {d}, k = {k}" for d, k in models])
        ax.set(xlim=(-0.02 * right, right), ylim=(len(models) - 0.5, -0.5),
               xlabel="share of test points (%)")  # fmt: skip
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(datasets) :]:
        ax.set_axis_off()
    fig.legend(
        [
            Line2D([], [], ls="", marker="o", color="0.4", mew=0),
            Line2D([], [], ls="", marker="|", ms=12, mew=2, color="k"),
        ],
        ["one chart's share", "uniform share 1/k"],
        loc="outside lower center",
        ncols=2,
    )
    return fig


def _panel(ax: Axes, points: np.ndarray, labels: np.ndarray, colours: dict, unit: bool) -> None:
    """Scatter one embedding panel coloured by class: a unit square if ``unit``, else R²."""
    for cls, colour in colours.items():
        mine = labels == cls
        ax.scatter(*points[mine].T, s=3, color=colour, alpha=0.7, linewidths=0)
    if unit:
        ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.set(xticks=[], yticks=[])
    ax.set_box_aspect(1)
    for spine in ax.spines.values():
        spine.set_visible(True)


def _embedding_groups(payload: Mapping[str, Any], dataset: str) -> list[tuple[str, list]]:
    """Groups of panels of an embedding figure: (title, panels), each panel a tuple
    (title, points (N, 2), labels (N,), whether the axes are the unit square). Only the
    trained models of the first seed at d = 2."""
    settings, entry = payload["settings"], payload["datasets"][dataset]
    labels = np.asarray(entry["labels"])
    seed = str(settings["seeds"][0])
    single, groups = [], []
    for key in keys_at(settings, 2):
        run = entry["models"][key]["seeds"].get(seed)
        if run is None:
            continue
        points = np.asarray(run["points"])
        title = textwrap.fill(label(key), TITLE_CHARS)
        if key.startswith("simclr"):
            single.append((title, points, labels, False))
            continue
        charts = np.asarray(run["point_charts"])
        k = entry["models"][key]["charts"]
        if k == 1:
            single.append((title, points, labels, True))
            continue
        panels = [
            (f"chart {j} ({int((charts == j).sum())})", points[charts == j],
             labels[charts == j], True)
            for j in np.unique(charts)
        ]  # fmt: skip
        groups.append((f"MSimCLR, k = {k} charts", panels))
    head = [("SimCLR (in R²), MSimCLR with one chart", single)] if single else []
    return [*head, *groups]


def _bands(sizes: list[int]) -> list[list[int]]:
    """Indices of groups per band (row of the figure): groups of one row each share a band
    while their panels fit in :data:`COLUMNS`; a larger group has a band of its own."""
    bands: list[list[int]] = []
    used = COLUMNS
    for i, n in enumerate(sizes):
        if n <= COLUMNS - used:
            bands[-1].append(i)
            used += n
        else:
            bands.append([i])
            used = n if n <= COLUMNS else COLUMNS
    return bands


def embedding(payload: Mapping[str, Any], dataset: str) -> Figure:
    """The d = 2 test embeddings of one dataset (first seed) on one grid, by class.

    Panel titles are wrapped at :data:`TITLE_CHARS` characters; the legend names the
    classes and, when its format differs from the training split's, the test split."""
    split = data_name(payload, dataset, "test")
    groups = _embedding_groups(payload, dataset) if _entry(payload, dataset) else []
    if not groups:
        fig = style.figure(height=1.2)
        _empty(fig.add_subplot(), f"{split}: no d = 2 model of the first seed trained yet")
        return fig
    labels = np.asarray(payload["datasets"][dataset]["labels"])
    colours = {c: f"C{i % 10}" for i, c in enumerate(np.unique(labels))}
    names = class_names(dataset)
    columns = len(colours) if max(len(names[c]) for c in colours) <= 2 else COLUMNS
    panel = style.PAGE_WIDTH / COLUMNS
    sizes = [len(panels) for _, panels in groups]
    bands = _bands(sizes)
    rows = [max(math.ceil(sizes[i] / COLUMNS) for i in band) for band in bands]
    heights = [r * panel + 0.4 for r in rows] + [0.3 + 0.22 * math.ceil(len(colours) / columns)]
    fig = style.figure(height=sum(heights))
    strips = fig.subfigures(len(heights), 1, height_ratios=heights)
    for strip, band, nrows in zip(strips, bands, rows, strict=False):
        widths = [min(sizes[i], COLUMNS) for i in band]
        widths.append(COLUMNS - sum(widths))  # what is left of the row stays empty
        cells = strip.subfigures(1, len(widths), width_ratios=[w or 1e-3 for w in widths])
        for cell, i, cols in zip(cells, band, widths, strict=False):
            title, panels = groups[i]
            cell.suptitle(title, fontsize=style.RC["axes.titlesize"])
            axes = cell.subplots(nrows, cols, squeeze=False).ravel()
            for ax, (name, points, mine, unit) in zip(axes, panels, strict=False):
                _panel(ax, points, mine, colours, unit)
                ax.set_title(name)
            for ax in axes[len(panels) :]:
                ax.set_axis_off()
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=c) for c in colours.values()]
    plain = DISPLAY_NAMES.get(dataset, dataset)
    strips[-1].legend(
        handles, [names[c] for c in colours], loc="center", ncols=columns,
        title="class" if split == plain else f"class of the {split} images",
        frameon=False, handletextpad=0.1, columnspacing=1.0,
    )  # fmt: skip
    return fig
