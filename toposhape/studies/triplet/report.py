"""The chapter "Manifold triplet learning" as a reader sees it, from a results payload only.

:func:`figures` draws the chapter's figures with :mod:`toposhape.studies.style`,
:func:`tables` gives its tables as DataFrames, :func:`setup` the sentence on how the models
were trained, :func:`benchmark_table` whether the reference's benchmarks are here, and
:func:`claims` its rows of the reproduction scorecard, each with the verdict its rule
gives. A payload is what :func:`toposhape.studies.triplet.run.run` returns, fresh or
loaded with :func:`toposhape.results.load_results`. Nothing here trains.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toposhape.checks import check_callable, check_mapping
from toposhape.studies import scorecard, style
from toposhape.studies.triplet.run import CHAPTER, WIDE_MODELS, grid_keys
from toposhape.training import history_seconds

__all__ = [
    "MARGIN",
    "benchmark_table",
    "claims",
    "embedding_bytes",
    "figures",
    "setup",
    "tables",
    "training_time",
]

KS = (1, 2, 4, 8)  # the Recall@k of the tables
FLOAT_BYTES = 4  # every embedding is float32
#: R@1 difference, in points, that the claims' verdict rules count as a gain.
MARGIN = 2.0
#: The scorecard's profile: the only one whose numbers mean something.
CLAIMS_PROFILE = "full"
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_REFERENCE = (
    "CUB-200-2011 and Stanford Cars, retrieval on the held-out half of the classes; "
    "ImageNet-pretrained GoogLeNet fine-tuned with RMSprop 1e-5, batches of 8 classes × 4 "
    "images, 300 epochs"
)


def embedding_bytes(charts: int, width: int) -> int:
    """Bytes of one float32 embedding as retrieval reads it.

    Parameters
    ----------
    charts : int
        0 for a Euclidean embedding, else the number of charts k.
    width : int
        The Euclidean embedding's number of outputs (d + 1 for the sphere S^d), or the
        chart dimension d: the chart distance reads all k memberships and all k·d
        coordinates, ``k + k·d`` floats.
    """
    floats = width if charts == 0 else charts * (1 + width)
    return FLOAT_BYTES * floats


def _grid_model(k: int, d: int) -> str:
    if k == 0:
        return f"sphere S{str(d).translate(_SUPERSCRIPT)} ⊂ R{str(d + 1).translate(_SUPERSCRIPT)}"
    return f"atlas, k = {k}"


def _r1(entry: Mapping[str, Any], k: int, d: int) -> float:
    key = f"baseline-d{d}" if k == 0 else f"manifold-k{k}-d{d}"
    return entry["grid"][key]["recall_at_1"]


def _family(method: str) -> str:
    """The store of a compression row: ``atlas``, ``PCA``, ``PQ`` or ``float32``."""
    return method.split()[0]


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _dataset_axes(fig: Figure, datasets: Mapping[str, Any], **kwargs: Any) -> list[Axes]:
    """One panel per dataset, side by side, titled with its name."""
    axes = list(fig.subplots(1, len(datasets), squeeze=False, **kwargs)[0])
    for ax, dataset in zip(axes, datasets, strict=True):
        ax.set_title(dataset)
    return axes


def _legend_below(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5))


def figure_recall(payload: Mapping[str, Any]) -> Figure:
    """Held-out Recall@1 against d: the sphere baseline and one line per chart count k."""
    check_mapping("payload", payload, "settings", "datasets")
    settings, datasets = payload["settings"], payload["datasets"]
    dims = settings["dims"]
    fig = style.figure(3.4)
    axes = _dataset_axes(fig, datasets, sharey=True)
    for ax, entry in zip(axes, datasets.values(), strict=True):
        ax.plot(dims, [100 * _r1(entry, 0, d) for d in dims], "k--o", label="sphere $S^d$")
        for i, k in enumerate(settings["charts"]):
            r1 = [100 * _r1(entry, k, d) for d in dims]
            ax.plot(dims, r1, "-o", color=f"C{i}", label=f"atlas, k = {k}")
        ax.set(xscale="log", xlabel="dimension d")
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
    axes[0].set_ylabel("held-out Recall@1 (%)")
    _legend_below(fig, axes[0])
    return fig


def figure_wide_curves(payload: Mapping[str, Any]) -> Figure:
    """The 64-d study: held-out Recall@1 after every epoch, one line per model."""
    check_mapping("payload", payload, "settings", "datasets")
    datasets = payload["datasets"]
    fig = style.figure(3.2)
    axes = _dataset_axes(fig, datasets)
    for ax, entry in zip(axes, datasets.values(), strict=True):
        for name, model in entry["wide"].items():
            epochs = [h["epoch"] for h in model["history"]]
            r1 = [100 * h["held_out_recall_at_1"] for h in model["history"]]
            ax.plot(epochs, r1, "-o", label=name)
        ax.set(xlabel="epoch")
        ax.set_xticks(epochs)
    axes[0].set_ylabel("held-out Recall@1 (%)")
    fig.suptitle(f"D = {payload['settings']['wide_dim']}")
    _legend_below(fig, axes[0])
    return fig


def figure_compression(payload: Mapping[str, Any]) -> Figure:
    """Recall@10 against bytes per vector: atlas store, PCA + 8-bit, PQ, float32."""
    check_mapping("payload", payload, "datasets")
    datasets = payload["datasets"]
    fig = style.figure(3.4)
    axes = _dataset_axes(fig, datasets, sharey=True)
    styles = {"atlas": "o-", "PCA": "s--", "PQ": "^:", "float32": "k*"}
    names = {"atlas": "atlas store", "PCA": "PCA + 8-bit", "PQ": "PQ", "float32": "float32"}
    for ax, entry in zip(axes, datasets.values(), strict=True):
        series: dict[str, set[tuple[int, float]]] = {}
        for row in entry["compression"]["rows"]:
            point = (row["bytes_per_vector"], 100 * row["recall_at_10"])
            series.setdefault(_family(row["method"]), set()).add(point)
        for family, points in series.items():
            ax.plot(*zip(*sorted(points), strict=True), styles[family], label=names[family])
        sizes = [b for points in series.values() for b, _ in points]
        # powers of two: the measured sizes (e.g. 8 and 9 bytes) are too close to label
        low, high = int(np.log2(min(sizes))), int(np.ceil(np.log2(max(sizes))))
        ticks = [2**i for i in range(low, high + 1)]
        ax.set(xscale="log", xlabel="bytes per vector", ylim=(0, 105))
        ax.minorticks_off()
        ax.set_xticks(ticks, [str(b) for b in ticks])
    axes[0].set_ylabel("recall@10 against exact (%)")
    _legend_below(fig, axes[0])
    return fig


def figure_embedding(dataset: str, entry: Mapping[str, Any]) -> Figure:
    """The held-out points of a 2-d atlas model, one panel per chart that holds some.

    Parameters
    ----------
    dataset : str
        Its name, for the title.
    entry : mapping
        A payload's dataset entry with ``points``: ``model`` (a key of ``grid``),
        ``coords`` (N × 2, in [0, 1]), ``charts`` (N, every point's chart) and ``labels``
        (N, its class).
    """
    check_mapping("entry", entry, "grid", "points")
    points = check_mapping(
        "entry['points']", entry["points"], "model", "coords", "charts", "labels"
    )
    model = entry["grid"][points["model"]]
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
        panel.set_title(f"chart {j}: {int((charts == j).sum())} points")
    for panel in axes[len(used) :]:
        panel.set_axis_off()
    handles = [Line2D([], [], ls="", marker="o", color=f"C{i % 10}") for i in range(len(classes))]
    fig.legend(handles, [str(c) for c in classes], title="class", loc="outside right center")
    fig.suptitle(
        f"{dataset}, held-out classes: atlas with k = {model['charts']} charts, d = {model['dim']}"
    )
    return fig


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by key (the glue key and the saved file's stem)."""
    check_mapping("payload", payload, "settings", "datasets")
    drawn = {
        "recall": figure_recall(payload),
        "wide-recall-per-epoch": figure_wide_curves(payload),
        "compression": figure_compression(payload),
    }
    for dataset, entry in payload["datasets"].items():
        if "points" in entry:
            drawn[f"embedding-{dataset}"] = figure_embedding(dataset, entry)
    return drawn


# ---------------------------------------------------------------------------
# Tables and sentences
# ---------------------------------------------------------------------------


def _metrics(m: Mapping[str, Any]) -> dict[str, float]:
    row = {f"R@{n} (%)": 100 * m[f"recall_at_{n}"] for n in KS}
    return row | {"MAP@R (%)": 100 * m["mean_average_precision_at_r"]}


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables: ``recall``, ``wide``, ``compression`` and ``timings``.

    Recalls are in %; ``bytes / vector`` is :func:`embedding_bytes` of the model in the
    retrieval tables, the store's size in the compression table (whose exact float32 row
    is shown once per dataset: it is the same for every atlas).
    """
    check_mapping("payload", payload, "settings", "datasets", "timings_s")
    wide_dim = payload["settings"]["wide_dim"]
    recall, wide, store = [], [], []
    for dataset, entry in payload["datasets"].items():
        for key, k, d in grid_keys(payload["settings"]):
            size = embedding_bytes(k, d + 1 if k == 0 else d)
            recall.append(
                {"dataset": dataset, "d": d, "model": _grid_model(k, d), "bytes / vector": size}
                | _metrics(entry["grid"][key])
            )
        for name, m in entry["wide"].items():
            size = embedding_bytes(WIDE_MODELS[name][1] or 0, wide_dim)
            wide.append(
                {"dataset": dataset, "model": name, "what": WIDE_MODELS[name][0]}
                | {"bytes / vector": size}
                | _metrics(m)
            )
        exact_shown = False
        for row in entry["compression"]["rows"]:
            if _family(row["method"]) == "float32":
                if exact_shown:
                    continue
                exact_shown = True
            store.append(
                {
                    "dataset": dataset,
                    "store": row["method"],
                    "settings": row["settings"],
                    "bytes / vector": row["bytes_per_vector"],
                    "recall@10 (%)": 100 * row["recall_at_10"],
                    "µs / query": 1e6 * row["seconds_per_query"],
                }
            )
    timings = [{"phase": phase, "seconds": s} for phase, s in payload["timings_s"].items()]
    return {
        "recall": pd.DataFrame(recall),
        "wide": pd.DataFrame(wide),
        "compression": pd.DataFrame(store),
        "timings": pd.DataFrame(timings),
    }


def training_time(payload: Mapping[str, Any]) -> tuple[int, float]:
    """How many grid and 64-d models the payload holds and the seconds spent training
    them, from their epoch histories.

    The run that wrote a payload reuses models it finds finished in its checkpoint
    folder, so its own wall time can be far shorter than the training it reports; the
    compression atlases are fitted anew by every run and count in its wall time.
    """
    check_mapping("payload", payload, "datasets")
    models = [
        m
        for entry in payload["datasets"].values()
        for m in [*entry["grid"].values(), *entry["wide"].values()]
    ]
    return len(models), sum(history_seconds(m["history"]) for m in models)


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence: the training recipe, the data sizes and the training time."""
    check_mapping("payload", payload, "settings", "datasets")
    s = payload["settings"]
    sizes = "; ".join(
        f"{name}: {e['train_images']} training images (classes 0–4), "
        f"{e['held_out_images']} held-out images (classes 5–9)"
        for name, e in payload["datasets"].items()
    )
    models, seconds = training_time(payload)
    return (
        f"Every model: {s['epochs']} epochs of {s['steps_per_epoch']} batches of "
        f"{s['classes_per_batch']} classes × {s['per_class']} images, {s['optimiser']} "
        f"{s['lr']:g}. {sizes}. Training the {models} models took {seconds / 60:.0f} min in "
        "all, summed over their epochs whichever run trained them (a run reuses the models "
        "it finds finished in its checkpoint folder, so its own wall time can be much shorter)."
    )


def benchmark_table(status: Mapping[str, str]) -> pd.DataFrame:
    """:func:`~toposhape.studies.triplet.run.benchmark_status` as a table."""
    check_mapping("status", status)
    return pd.DataFrame({"benchmark": list(status), "on this machine": list(status.values())})


# ---------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------


def _verdict(holds: bool) -> str:
    """One seed on stand-in data: the best a rule can give is "partly"."""
    return "partly" if holds else "not reproduced"


def _seeds(payload: Mapping[str, Any]) -> int:
    """Distinct training seeds behind the payload's models."""
    return len(
        {
            m["config"]["seed"]
            for entry in payload["datasets"].values()
            for m in [*entry["grid"].values(), *entry["wide"].values()]
        }
    )


def _training_data(payload: Mapping[str, Any]) -> str:
    sizes = ", ".join(
        f"{name} {e['train_images']} / {e['held_out_images']}"
        for name, e in payload["datasets"].items()
    )
    return (
        f"{' and '.join(payload['datasets'])} as a stand-in for CUB-200 and Cars: classes 0–4 "
        f"train, classes 5–9 held out (training / held-out images: {sizes})"
    )


def _budget(payload: Mapping[str, Any]) -> str:
    s = payload["settings"]
    return (
        f"{s['epochs']} epochs × {s['steps_per_epoch']} batches of {s['classes_per_batch']} "
        f"classes × {s['per_class']} images, {s['optimiser']} {s['lr']:g}, small CNN "
        f"(width {s['backbone_width']}) from scratch"
    )


def _store_data(payload: Mapping[str, Any]) -> str:
    sizes = ", ".join(
        f"{name} {e['compression']['database']} / {e['compression']['queries']}"
        for name, e in payload["datasets"].items()
    )
    return (
        f"the {payload['settings']['wide_dim']}-d normalised baseline's embeddings of classes "
        f"5–9 of {' and '.join(payload['datasets'])} (database / query vectors: {sizes})"
    )


def _store_budget(payload: Mapping[str, Any]) -> str:
    comp = payload["settings"]["compression"]
    configs = ", ".join(f"({k}, {d})" for k, d in comp["configs"])
    return f"atlas autoencoder, {comp['epochs']} epochs for each (k, d) in {configs}"


def _span(values: list[float], digits: int) -> str:
    """``low–high`` of ``values`` to ``digits`` decimals, or the one value if they agree."""
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}–{high}"


def _r1_differences(payload: Mapping[str, Any], k: int) -> tuple[list[float], str]:
    """Held-out R@1 of the k-chart model minus the sphere's, in points, at every d."""
    dims = payload["settings"]["dims"]
    differences, parts = [], []
    for dataset, entry in payload["datasets"].items():
        diff = [100 * (_r1(entry, k, d) - _r1(entry, 0, d)) for d in dims]
        differences.extend(diff)
        parts.append(f"{dataset} " + " / ".join(f"{v:+.1f}" for v in diff))
    at = " / ".join(str(d) for d in dims)
    return differences, f"R@1 of k = {k} minus the sphere's, points at d = {at}: " + "; ".join(
        parts
    )


def _atlas_wins(payload: Mapping[str, Any]) -> tuple[bool, str]:
    """Does the model with the most charts beat the sphere by more than MARGIN everywhere?"""
    differences, measured = _r1_differences(payload, max(payload["settings"]["charts"]))
    return min(differences) > MARGIN, measured


def _one_chart_no_help(payload: Mapping[str, Any]) -> tuple[bool, str]:
    """Is the one-chart model nowhere more than MARGIN above the sphere?"""
    differences, measured = _r1_differences(payload, 1)
    return max(differences) <= MARGIN, measured


def _wide_gain(payload: Mapping[str, Any]) -> tuple[bool, str]:
    """Does the 64-d MMD model beat both others by more than MARGIN on every dataset?"""
    holds, parts = True, []
    for dataset, entry in payload["datasets"].items():
        r1 = {name: 100 * m["recall_at_1"] for name, m in entry["wide"].items()}
        holds &= all(r1["mmd"] - r1[other] > MARGIN for other in ("normalised", "unnormalised"))
        parts.append(
            f"{dataset} {r1['mmd']:.1f} / {r1['normalised']:.1f} / {r1['unnormalised']:.1f}"
        )
    return holds, "final R@1 (%), MMD / normalised / unnormalised: " + "; ".join(parts)


def _store_rows(payload: Mapping[str, Any], family: str) -> list[Mapping[str, Any]]:
    return [
        r
        for entry in payload["datasets"].values()
        for r in entry["compression"]["rows"]
        if _family(r["method"]) == family
    ]


def _store_keeps_recall(payload: Mapping[str, Any]) -> tuple[bool, str]:
    """Some atlas store of ≤ 1/8 of float32 with recall@10 ≥ 50 %, on every dataset?"""
    holds = True
    for entry in payload["datasets"].values():
        rows = entry["compression"]["rows"]
        full = next(r["bytes_per_vector"] for r in rows if _family(r["method"]) == "float32")
        holds &= any(
            8 * r["bytes_per_vector"] <= full and r["recall_at_10"] >= 0.5
            for r in rows
            if _family(r["method"]) == "atlas"
        )
    atlas, pca = _store_rows(payload, "atlas"), _store_rows(payload, "PCA")
    exact = _store_rows(payload, "float32")
    measured = (
        f"atlas store: recall@10 {_span([100 * r['recall_at_10'] for r in atlas], 1)} % at "
        f"{_span([r['bytes_per_vector'] for r in atlas], 0)} bytes per vector (float32: "
        f"{_span([r['bytes_per_vector'] for r in exact], 0)}); PCA + 8-bit at the same bytes: "
        f"{_span([100 * r['recall_at_10'] for r in pca], 1)} %"
    )
    return holds, measured


def _store_faster(payload: Mapping[str, Any]) -> tuple[bool, str]:
    """Is the atlas store faster per query than exact search in every configuration?"""
    ratios = []
    for entry in payload["datasets"].values():
        for charts, dim in payload["settings"]["compression"]["configs"]:
            seconds = {
                _family(r["method"]): r["seconds_per_query"]
                for r in entry["compression"]["rows"]
                if (r["charts"], r["dim"]) == (charts, dim)
            }
            ratios.append(seconds["atlas"] / seconds["float32"])
    faster = sum(r < 1 for r in ratios)
    measured = (
        f"atlas store's time per query / exact search's: {_span(ratios, 2)}; faster in "
        f"{faster} of {len(ratios)} (dataset, k, d) configurations"
    )
    return faster == len(ratios), measured


_CAP = "stand-in data, one seed and a budget far below the reference's cap the verdict at partly"
_STORE_REFERENCE = "a proposed application: the source runs no experiment"


@dataclass(frozen=True)
class _Spec:
    """A claim of the source, how its verdict is computed and what it was measured on."""

    claim: str
    rule: str
    section: str
    measure: Callable[[Mapping[str, Any]], tuple[bool, str]]
    data: Callable[[Mapping[str, Any]], str]
    budget: Callable[[Mapping[str, Any]], str]
    reference: str


_CLAIMS = (
    _Spec(
        claim=(
            "In low dimensions (d ≤ 8) the manifold triplet model clearly beats vanilla "
            "(normalised) triplet training in Recall@n on CUB-200 and Stanford Cars."
        ),
        rule=(
            "Partly if, on every stand-in dataset and at every d, the model with the most "
            f"charts beats the sphere's held-out R@1 by more than {MARGIN:g} points; not "
            f"reproduced if it does not somewhere ({_CAP}; the atlas's embedding also holds "
            "k·(d + 1) floats against the sphere's d + 1)."
        ),
        section="triplet-low-d",
        measure=_atlas_wins,
        data=_training_data,
        budget=_budget,
        reference=_REFERENCE,
    ),
    _Spec(
        claim=(
            "At these low dimensions, adding only the MMD term to triplet training (one "
            "chart) does not help."
        ),
        rule=(
            "Partly if, on every stand-in dataset and at every d, the one-chart model's "
            f"held-out R@1 is at most {MARGIN:g} points above the sphere's; not reproduced if "
            f"it is more somewhere ({_CAP})."
        ),
        section="triplet-low-d",
        measure=_one_chart_no_help,
        data=_training_data,
        budget=_budget,
        reference=_REFERENCE,
    ),
    _Spec(
        claim=(
            "At 64 dimensions, adding the MMD term alone to triplet training (one chart, no "
            "normalisation) gives a large R@1 gain over both the normalised baseline and the "
            "unnormalised model."
        ),
        rule=(
            "Partly if, on every stand-in dataset, the MMD model's final held-out R@1 beats "
            f"both other models' by more than {MARGIN:g} points; not reproduced otherwise "
            f"({_CAP})."
        ),
        section="triplet-wide",
        measure=_wide_gain,
        data=_training_data,
        budget=_budget,
        reference=_REFERENCE,
    ),
    _Spec(
        claim=(
            "Storing a vector as its chart id and its chart coordinates gives massive "
            "compression without sacrificing significant retrieval quality."
        ),
        rule=(
            "Partly if, on every stand-in dataset, some atlas store of at most 1/8 of the "
            "float32 bytes finds at least 50 % of the exact 10 nearest neighbours; not "
            f"reproduced otherwise ({_CAP}; the faiss stores beside it get the same bytes or "
            "one less)."
        ),
        section="triplet-compression",
        measure=_store_keeps_recall,
        data=_store_data,
        budget=_store_budget,
        reference=_STORE_REFERENCE,
    ),
    _Spec(
        claim=(
            "The atlas store trades a little recall for faster queries than the "
            "uncompressed vectors."
        ),
        rule=(
            "Partly if, on every stand-in dataset and in every (k, d) configuration, the "
            "atlas store answers a query faster than exact float32 search, both "
            f"single-threaded; not reproduced otherwise ({_CAP}; one timing per "
            "configuration)."
        ),
        section="triplet-compression",
        measure=_store_faster,
        data=_store_data,
        budget=_store_budget,
        reference=_STORE_REFERENCE,
    ),
)


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The chapter's rows of the reproduction scorecard, from the ``full`` results.

    Parameters
    ----------
    load : callable
        ``load(profile)``: the chapter's saved payload at a profile, or None.
    """
    check_callable("load", load)
    payload = load(CLAIMS_PROFILE)
    found = []
    for spec in _CLAIMS:
        if payload is None:
            verdict, measured, seeds, data, budget = "not run yet", "–", 0, "–", "–"
        else:
            holds, measured = spec.measure(payload)
            verdict, seeds = _verdict(holds), _seeds(payload)
            data, budget = spec.data(payload), spec.budget(payload)
        found.append(
            scorecard.Claim(
                source="korman",
                claim=spec.claim,
                verdict=verdict,
                rule=spec.rule,
                measured=measured,
                anchor="",
                data=data,
                budget=budget,
                reference=spec.reference,
                seeds=seeds,
                chapter=CHAPTER,
                section=spec.section,
            )
        )
    return found
