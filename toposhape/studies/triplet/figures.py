"""The triplet chapter's figures, drawn from a payload with :mod:`toposhape.studies.style`.

Every figure has one panel per dataset of the payload: R@1 against the bytes each read
stores, with the floors in grey (:func:`figure_bytes`), the training curves of the
headline models and of the 64-d study (:func:`figure_curves`), recall@10 of the
compressed stores against their bytes (:func:`figure_compression`), and the held-out
classes in the charts of a 2-d atlas
(:func:`figure_embedding`). Nothing here trains.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from toposhape.checks import check_choice, check_mapping
from toposhape.studies import style
from toposhape.studies.triplet import summary
from toposhape.studies.triplet.protocol import model_specs
from toposhape.studies.triplet.text import dataset_name

__all__ = ["figure_bytes", "figure_compression", "figure_curves", "figure_embedding"]

# family of a (model, read) -> (legend label, marker style, colour)
_FAMILIES: dict[str, tuple[str, str, str]] = {
    "sphere": ("sphere $S^d$ (d + 1 floats)", "o-", "k"),
    "sphere-k": ("sphere with the atlas's floats", "s--", "0.5"),
    "soft": ("atlas, soft read (k(d + 1) floats)", "o-", "C0"),
    "hard": ("atlas, hard read (chart id + d floats)", "^-", "C1"),
    "one": ("one chart (d floats)", "D:", "C2"),
    "wide-normalised": ("64-d normalised", "*", "k"),
    "wide-unnormalised": ("64-d unnormalised", "X", "C3"),
    "wide-mmd": ("64-d MMD", "P", "C4"),
}


def _family(key: str, read: str, charts: int) -> str:
    if key.startswith("wide-"):
        return key
    if key.startswith("sphere-k"):
        return "sphere-k"
    if key.startswith("sphere"):
        return "sphere"
    return "one" if charts == 1 else read


def _split_name(split: Mapping[str, Any]) -> str:
    """The file split a split record was read from (its ``source`` up to the colon), with
    the side of resized images: ``"MNIST test"``, ``"TinyImageNet-200 val (32 × 32 px)"``."""
    name, _, rest = split["source"].partition(":")
    size = rest.partition("resized to ")[2].replace("×", " × ")
    return f"{name} ({size} px)" if size else name


def _data(records: list[Mapping[str, Any]], dataset: str) -> dict[str, Any]:
    """The split records of the first of ``records`` of a dataset ({} if none)."""
    found = [r for r in records if r["dataset"] == dataset]
    return found[0]["data"] if found else {}


def _held_out_title(payload: Mapping[str, Any], dataset: str) -> str:
    """What a dataset's held-out R@1 is measured on, e.g. ``"MNIST test, classes 5–9"``."""
    test = _data(payload["models"], dataset).get("test")
    name = dataset_name(dataset)
    return f"{_split_name(test)}, classes {test['classes']}" if test else name


def _curves_title(payload: Mapping[str, Any], dataset: str) -> str:
    """The held-out split, and the classes of the validation and the held-out rows."""
    data = _data(payload["models"], dataset)
    if "validation" not in data or "test" not in data:
        return dataset_name(dataset)
    return (
        f"{_split_name(data['test'])}\nvalidation: classes {data['validation']['classes']}, "
        f"held out: {data['test']['classes']}"
    )


def _compression_title(payload: Mapping[str, Any], dataset: str) -> str:
    """The classes of a dataset's compression study, what it stores and what queries it."""
    data = _data(payload["compression"], dataset)
    name = dataset_name(dataset)
    if "database" not in data or "test" not in data:
        return name
    database = data["database"]
    queries = next(r["queries"] for r in payload["compression"] if r["dataset"] == dataset)
    return (
        f"{name}, classes {database['classes']}\n{database['images']} "
        f"{_split_name(database)} stored,\n{queries} {_split_name(data['test'])} queries"
    )


def _panels(fig: Figure, titles: list[str], rows: int = 1, **kwargs: Any) -> np.ndarray:
    """rows × len(titles) axes, each column titled (with its dataset)."""
    axes = fig.subplots(rows, len(titles), squeeze=False, **kwargs)
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title)
    return axes


def _legend_below(fig: Figure, ax: Axes, columns: int = 3) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), columns))


def _log_bytes(ax: Axes, sizes: list[int]) -> None:
    """A log x axis of bytes per vector, ticks at powers of two."""
    low, high = int(np.log2(min(sizes))), int(np.ceil(np.log2(max(sizes))))
    ticks = [2**i for i in range(low, high + 1)]
    ax.set(xscale="log", xlabel="bytes per vector")
    ax.minorticks_off()
    ax.set_xticks(ticks, [str(b) for b in ticks])


def _floors(ax: Axes, floors: pd.DataFrame) -> None:
    """The PCA floors (light grey dash-dots, at their bytes) and the pixels (a light grey
    dotted level: their bytes are off the axis) of one dataset."""
    pca = floors[floors["floor"] == "pca"].sort_values("bytes")
    if not pca.empty:
        ax.plot(pca["bytes"], pca["R@1"], "x-.", color="0.65", ms=5,
                label="PCA of pixels")  # fmt: skip
    for row in floors[floors["floor"] == "pixels"].to_dict("records"):
        ax.axhline(row["R@1"], ls=":", color="0.65", label="all pixels")


def figure_bytes(payload: Mapping[str, Any]) -> Figure:
    """Held-out R@1 (mean ± seed std) against the bytes per vector of every read, with
    the floors (:func:`~toposhape.studies.triplet.summary.floors`) where the payload has
    them."""
    check_mapping("payload", payload, "settings", "models")
    datasets = payload["settings"]["datasets"]
    cells, floors = summary.cells(payload), summary.floors(payload)
    sizes = [*cells["bytes"], *floors.loc[floors["floor"] == "pca", "bytes"]]
    fig = style.figure(4.0)
    titles = [_held_out_title(payload, dataset) for dataset in datasets]
    axes = _panels(fig, titles, sharey=True)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        mine = cells[cells["dataset"] == dataset]
        series: dict[str, list[tuple[float, float, float, int]]] = {}
        for row in mine.to_dict("records"):
            family = _family(row["key"], row["read"], row["charts"])
            std = 0.0 if math.isnan(row["R@1 std"]) else row["R@1 std"]
            series.setdefault(family, []).append((row["bytes"], row["R@1"], std, row["d"]))
        for family, (name, fmt, colour) in _FAMILIES.items():
            if family not in series:
                continue
            points = sorted(series[family])
            x, y, err, dims = zip(*points, strict=True)
            ax.errorbar(x, y, yerr=err, fmt=fmt, color=colour, label=name, capsize=2, ms=5)
            if family in ("sphere", "soft"):
                for xi, yi, d in zip(x, y, dims, strict=True):
                    ax.annotate(f"d={d}", (xi, yi), textcoords="offset points", xytext=(4, -10))
        _floors(ax, floors[floors["dataset"] == dataset])
        _log_bytes(ax, sizes)  # the same axis in every panel
    axes[0].set_ylabel("held-out R@1 (%)")
    _legend_below(fig, axes[0])
    return fig


def figure_curves(payload: Mapping[str, Any], group: str) -> Figure:
    """Training curves of a group of models, one thin line per training seed.

    Rows: the training triplet loss, the validation R@1 (training classes, unseen
    images: what picks the kept epoch, marked with a dot) and the held-out R@1 (the
    classes retrieval is judged on) after every epoch.

    Parameters
    ----------
    payload : mapping
    group : {"headline", "wide"}
        The headline models at the smallest d, or the 64-d study.
    """
    check_mapping("payload", payload, "settings", "models")
    check_choice("group", group, ("headline", "wide"))
    settings, datasets = payload["settings"], payload["settings"]["datasets"]
    specs = [spec for spec in model_specs(settings) if spec.group == group]
    fig = style.figure(6.0)
    titles = [_curves_title(payload, dataset) for dataset in datasets]
    axes = _panels(fig, titles, rows=3, sharex=True, sharey="row")
    for column, dataset in enumerate(datasets):
        for i, spec in enumerate(specs):
            read = spec.reads[0]
            name = summary.label(spec, read).replace(", soft", "")
            records = [r for r in payload["models"]
                       if r["dataset"] == dataset and r["key"] == spec.key]  # fmt: skip
            for j, record in enumerate(sorted(records, key=lambda r: r["seed"])):
                history = record["history"]
                epochs = [h["epoch"] for h in history]
                values = (
                    [h["triplet"] for h in history],
                    [100 * h["validation_recall_at_1"] for h in history],
                    [100 * h[f"test_{read}_recall_at_1"] for h in history],
                )
                for row, y in enumerate(values):
                    axes[row, column].plot(
                        epochs, y, "-", color=f"C{i}", lw=1, alpha=0.8,
                        label=name if (row, j) == (0, 0) else None,
                    )  # fmt: skip
                kept = record["selected_epoch"]
                axes[1, column].plot(kept, values[1][kept - 1], "o", color=f"C{i}", ms=4)
        axes[2, column].set_xlabel("epoch")
        axes[2, column].xaxis.set_major_locator(MaxNLocator(integer=True))
    for row, text in enumerate(("triplet loss", "validation R@1 (%)", "held-out R@1 (%)")):
        axes[row, 0].set_ylabel(text)
    _legend_below(fig, axes[0, 0])
    return fig


def figure_compression(payload: Mapping[str, Any]) -> Figure:
    """recall@10 against bytes per vector of the compressed stores (mean ± seed std)."""
    check_mapping("payload", payload, "settings", "compression")
    datasets = payload["settings"]["datasets"]
    stores = summary.stores(payload)
    fig = style.figure(3.4)
    axes = _panels(fig, [_compression_title(payload, d) for d in datasets], sharey=True)[0]
    styles = {"atlas": ("o-", "C0", "atlas store (chart id + 8-bit coords)"),
              "PCA + 8-bit": ("s--", "C1", "PCA + 8-bit"),
              "PQ": ("^:", "C2", "PCA + PQ"),
              "float32": ("*", "k", "float32 (exact)")}  # fmt: skip
    for ax, dataset in zip(axes, datasets, strict=True):
        mine = stores[stores["dataset"] == dataset]
        for store, (fmt, colour, name) in styles.items():
            rows = mine[mine["store"] == store].drop_duplicates("bytes").sort_values("bytes")
            if rows.empty:
                continue
            ax.errorbar(
                rows["bytes"], rows["recall@10"], yerr=rows["recall@10 std"].fillna(0.0),
                fmt=fmt, color=colour, label=name, capsize=2, ms=5,
            )  # fmt: skip
        _log_bytes(ax, stores["bytes"].tolist())
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("recall@10 against exact (%)")
    _legend_below(fig, axes[0], columns=4)
    return fig


def figure_embedding(dataset: str, record: Mapping[str, Any]) -> Figure:
    """The held-out points of a 2-d atlas, one panel per chart that holds some.

    Parameters
    ----------
    dataset : str
        Its name, for the title.
    record : mapping
        A model record with ``points``: ``coords`` (N × 2, in [0, 1]), ``charts`` (N,
        every point's chart) and ``labels`` (N, its class), ``spec`` and ``data`` (its
        ``test`` split record: what the points are a sample of).
    """
    check_mapping("record", record, "spec", "points", "data")
    points = check_mapping("record['points']", record["points"], "coords", "charts", "labels")
    coords = np.asarray(points["coords"], dtype=float).reshape(-1, 2)
    charts, labels = np.asarray(points["charts"]), np.asarray(points["labels"])
    used, classes = np.unique(charts), np.unique(labels)
    cols = min(len(used), 4)
    rows = math.ceil(len(used) / cols)
    fig = style.figure(1.7 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for panel, j in zip(axes, used, strict=False):
        for i, c in enumerate(classes):
            mine = (charts == j) & (labels == c)
            panel.scatter(*coords[mine].T, s=4, color=f"C{i % 10}", alpha=0.6, linewidths=0)
        panel.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[], aspect="equal")
        panel.spines[:].set_visible(True)
        count = int((charts == j).sum())
        panel.set_title(f"chart {j}: {count} point{'s' if count != 1 else ''}")
    for panel in axes[len(used) :]:
        panel.set_axis_off()
    handles = [Line2D([], [], ls="", marker="o", color=f"C{i % 10}") for i in range(len(classes))]
    fig.legend(handles, [str(c) for c in classes], title="class", loc="outside right center")
    spec, test = record["spec"], record["data"]["test"]
    fig.suptitle(
        f"{_split_name(test)}, classes {test['classes']} ({len(labels)} of {test['images']} "
        f"images)\nin the atlas with k = {spec['charts']} charts, d = {spec['width']} "
        f"(seed {record['seed']})"
    )
    return fig
