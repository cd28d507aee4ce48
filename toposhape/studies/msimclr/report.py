"""The chapter "MSimCLR" for readers, from a results payload only (no training).

A payload is what :func:`toposhape.studies.msimclr.run.run` returns (fresh, or loaded with
:func:`toposhape.results.load_results`). From it: :func:`figures` (accuracy against d, how
the charts share the points, the d = 2 embeddings), :func:`tables` (DataFrames),
:func:`setup` and :func:`findings` (sentences) and :func:`claims`, this chapter's rows of
the reproduction scorecard (:mod:`toposhape.studies.scorecard`).

Accuracies in a payload are fractions; everything shown here is in percent, and a
difference of accuracies is in percentage *points*.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from toposhape.checks import check_choice, check_mapping
from toposhape.image_sets import DISPLAY_NAMES
from toposhape.studies import scorecard, style
from toposhape.studies.msimclr.run import CHAPTER, model_keys
from toposhape.training import history_seconds

__all__ = [
    "MARGIN",
    "MIN_SEEDS",
    "REFERENCE",
    "budget_share",
    "claims",
    "figures",
    "findings",
    "leads",
    "setup",
    "tables",
    "training_time",
]

#: The reference's training per dataset (neurve's code, REFERENCE.md §3): its backbone,
#: epochs over the whole training split, that split's size, the batch size and τ.
REFERENCE: Mapping[str, Mapping[str, Any]] = {
    "mnist": {"backbone": "ResNet-18", "epochs": 100, "train_images": 60_000, "batch": 128,
              "temperature": 1.0},
    "fashion-mnist": {"backbone": "ResNet-18", "epochs": 100, "train_images": 60_000,
                      "batch": 128, "temperature": 1.0},
    "cifar10": {"backbone": "ResNet-50", "epochs": 1000, "train_images": 50_000, "batch": 128,
                "temperature": 0.5},
}  # fmt: skip

#: Percentage points by which one accuracy must exceed another to count as a win. A payload
#: holds one training seed, so the spread between seeds is not measured; 2 points is four
#: times the binomial standard error of an accuracy near 50 % on 10 000 test images.
MARGIN = 2.0

#: Training seeds a claim needs before it can be "reproduced".
MIN_SEEDS = 3

#: Training seeds behind every number of a payload (:func:`run.run` trains one).
SEEDS = 1

COLUMNS = 5  # panels per row of an embedding figure


# --------------------------------------------------------------------------- numbers


def _check_payload(payload: object) -> Mapping[str, Any]:
    return check_mapping("payload", payload, "settings", "datasets")


def _accuracy(entry: Mapping[str, Any], k: int, d: int) -> float:
    """Test accuracy in % of SimCLR's reference head (k = 0) or MSimCLR with k charts."""
    key = f"simclr-d{d}" if k == 0 else f"msimclr-k{k}-d{d}"
    return 100 * entry["models"][key]["accuracy"]


def _wide(entry: Mapping[str, Any], settings: Mapping[str, Any], d: int) -> float | None:
    """Test accuracy in % of SimCLR with the wide projection head at d, or None if not run."""
    model = entry["models"].get(f"simclr-h{settings['wide_head']}-d{d}")
    return None if model is None else 100 * model["accuracy"]


def _best_simclr(entry: Mapping[str, Any], settings: Mapping[str, Any], d: int) -> float:
    """The better SimCLR at d in %: the reference head, or the wide head where it was run."""
    wide = _wide(entry, settings, d)
    return max(_accuracy(entry, 0, d), -math.inf if wide is None else wide)


def leads(payload: Mapping[str, Any], dataset: str) -> dict[int, tuple[int, float]]:
    """How far the best MSimCLR with k > 1 charts leads the better SimCLR, per d.

    Parameters
    ----------
    payload : mapping
        A results payload; its profile must have a chart count k > 1.
    dataset : str
        One of the payload's datasets.

    Returns
    -------
    dict
        d -> (the best k, its accuracy minus the better SimCLR's, in percentage points).
    """
    _check_payload(payload)
    check_choice("dataset", dataset, tuple(payload["datasets"]))
    settings, entry = payload["settings"], payload["datasets"][dataset]
    multi = [k for k in settings["charts"] if k > 1]
    if not multi:
        raise ValueError("payload has no MSimCLR model with more than one chart")
    out = {}
    for d in settings["dims"]:
        best = max(multi, key=lambda k: _accuracy(entry, k, d))
        out[d] = (best, _accuracy(entry, best, d) - _best_simclr(entry, settings, d))
    return out


def budget_share(payload: Mapping[str, Any], dataset: str) -> float:
    """Training images seen per model over those the reference's training sees (≤ 1 if less).

    Parameters
    ----------
    payload : mapping
        A results payload.
    dataset : str
        One of the payload's datasets that :data:`REFERENCE` knows.
    """
    _check_payload(payload)
    check_choice("dataset", dataset, tuple(payload["datasets"]))
    check_choice("dataset", dataset, tuple(REFERENCE))
    ref = REFERENCE[dataset]
    seen = payload["settings"]["epochs"] * payload["datasets"][dataset]["train_images"]
    return seen / (ref["epochs"] * ref["train_images"])


def training_time(payload: Mapping[str, Any]) -> tuple[int, float]:
    """How many models the payload holds and the seconds spent training them, from their
    epoch histories.

    The run that wrote a payload reuses models it finds finished in its checkpoint
    folder, so its own wall time can be far shorter than the training it reports.
    """
    check_mapping("payload", payload, "datasets")
    models = [m for entry in payload["datasets"].values() for m in entry["models"].values()]
    return len(models), sum(history_seconds(m["history"]) for m in models)


def _steps(payload: Mapping[str, Any], dataset: str) -> int:
    settings = payload["settings"]
    per_epoch = payload["datasets"][dataset]["train_images"] // settings["batch_size"]
    return settings["epochs"] * per_epoch


def _name(dataset: str) -> str:
    return DISPLAY_NAMES.get(dataset, dataset)


# --------------------------------------------------------------------------- sentences


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown paragraph: what was trained, on how much data, and at what budget."""
    _check_payload(payload)
    s = payload["settings"]
    sizes = "; ".join(
        f"{_name(name)}: {e['train_images']} training / {e['test_images']} test images, "
        f"{_steps(payload, name)} steps per model"
        + (
            f" ({100 * budget_share(payload, name):.2g} % of the training images the "
            "reference's models see)"
            if name in REFERENCE
            else ""
        )
        for name, e in payload["datasets"].items()
    )
    models, trained = training_time(payload)
    evaluation = ", ".join(f"{_name(n)} {t / 60:.1f} min" for n, t in payload["timings_s"].items())
    return (
        f"Backbone `{s['backbone']}`, {s['epochs']} epoch{'s' * (s['epochs'] != 1)} of batch "
        f"{s['batch_size']}, "
        f"learning rate {s['lr']:g}, τ = {s['temperature']:g}, one training seed. {sizes}. "
        f"Training the {models} models took {trained / 60:.0f} min in all, summed over their "
        "epochs whichever run trained them (a run reuses the models it finds finished in its "
        f"checkpoint folder); the run that wrote these numbers evaluated them in {evaluation}."
    )


def findings(payload: Mapping[str, Any]) -> list[str]:
    """The chapter's two claims, answered yes/no per dataset and d from the payload."""
    _check_payload(payload)
    settings = payload["settings"]
    multi = [k for k in settings["charts"] if k > 1]
    lines = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            simclr = _accuracy(entry, 0, d)
            wins = [k for k in multi if _accuracy(entry, k, d) > simclr]
            best = max(multi, key=lambda k: _accuracy(entry, k, d)) if multi else None
            if best is None:
                continue
            lines.append(
                f"{_name(dataset)}, d = {d}: MSimCLR (k > 1) beats SimCLR: "
                f"**{'yes' if len(wins) == len(multi) else 'no'}** for every k, "
                f"**{'yes' if wins else 'no'}** for the best k "
                f"(k = {best}: {_accuracy(entry, best, d):.2f} vs "
                f"{simclr:.2f} %; beats it for k ∈ {{{', '.join(map(str, wins))}}})."
            )
        if 2 in settings["dims"] and 1 in settings["charts"]:
            one, simclr = _accuracy(entry, 1, 2), _accuracy(entry, 0, 2)
            alive = entry["models"]["simclr-d2"]["alive_units"]
            lines.append(
                f"{_name(dataset)}, d = 2: the MMD term alone (MSimCLR with one chart) helps "
                "SimCLR: "
                f"**{'yes' if one > simclr else 'no'}** ({one:.2f} vs {simclr:.2f} %;"
                f" SimCLR's trained head has {alive} of 2 hidden units alive)."
            )
            wide = _wide(entry, settings, 2)
            if wide is not None:
                lines.append(
                    f"{_name(dataset)}, d = 2: it still helps against SimCLR with a head of width "
                    f"{settings['wide_head']}: **{'yes' if one > wide else 'no'}** "
                    f"({one:.2f} vs {wide:.2f} %)."
                )
    return lines


# --------------------------------------------------------------------------- tables


def _accuracy_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    h, multi = settings["wide_head"], [k for k in settings["charts"] if k > 1]
    rows = []
    for dataset, entry in payload["datasets"].items():
        lead = leads(payload, dataset) if multi else {}
        for d in settings["dims"]:
            row = {"dataset": _name(dataset), "d": d, "SimCLR": _accuracy(entry, 0, d)}
            wide = _wide(entry, settings, d)
            row[f"SimCLR, head width {h}"] = math.nan if wide is None else wide
            row |= {f"MSimCLR k = {k}": _accuracy(entry, k, d) for k in settings["charts"]}
            if multi:
                row["best MSimCLR (k > 1) − better SimCLR"] = lead[d][1]
            rows.append(row)
    return pd.DataFrame(rows)


def _collapse_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    seeds = settings["init_seeds"]
    floor = np.log(2 * settings["batch_size"] - 1)
    rows = []
    for dataset, entry in payload["datasets"].items():
        for key, k, d, hidden in model_keys(settings):
            if k:
                continue
            m = entry["models"][key]
            width = hidden or d
            fresh = None if hidden else round(seeds * entry["collapsed_at_init"][f"d{d}"])
            rows.append({
                "dataset": _name(dataset), "d": d, "head width": width,
                "units alive after training": f"{m['alive_units']} / {width}",
                f"last-epoch NT-Xent (floor log(2B − 1) = {floor:.3f})":
                    m["history"][-1]["ntxent"],
                f"fresh heads collapsed (of {seeds} seeds)": fresh,
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    fresh_column = frame.columns[-1]
    frame[fresh_column] = frame[fresh_column].astype("Int64")
    return frame


def _chart_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            for k in settings["charts"]:
                if k == 1:
                    continue
                counts = entry["models"][f"msimclr-k{k}-d{d}"]["test_counts"]
                rows.append({
                    "dataset": _name(dataset), "d": d, "k": k,
                    "charts holding test points": sum(c > 0 for c in counts),
                    "largest chart's share (%)": 100 * max(counts) / sum(counts),
                    "uniform share (%)": 100 / k,
                })  # fmt: skip
    return pd.DataFrame(rows)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables: ``accuracy`` (test accuracy in %, one row per dataset and d),
    ``collapse`` (SimCLR's projection heads: units alive, last NT-Xent, fresh heads
    collapsed) and ``charts`` (how many charts MSimCLR fills, and how unevenly)."""
    _check_payload(payload)
    return {
        "accuracy": _accuracy_table(payload),
        "collapse": _collapse_table(payload),
        "charts": _chart_table(payload),
    }


# --------------------------------------------------------------------------- figures


def _accuracy_figure(payload: Mapping[str, Any]) -> Figure:
    """Test accuracy against d, one line for SimCLR and one per chart count k."""
    settings, datasets = payload["settings"], payload["datasets"]
    cols = min(len(datasets), 2)
    rows = math.ceil(len(datasets) / cols)
    fig = style.figure(height=2.9 * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    dims, h, wide = settings["dims"], settings["wide_head"], settings["wide_head_dims"]
    for ax, (dataset, entry) in zip(axes, datasets.items(), strict=False):
        ax.plot(
            dims, [_accuracy(entry, 0, d) for d in dims], "k--o", label="SimCLR, reference head"
        )
        for i, k in enumerate(settings["charts"]):
            acc = [_accuracy(entry, k, d) for d in dims]
            ax.plot(dims, acc, "-o", color=f"C{i}", label=f"MSimCLR, k = {k}")
        if wide:
            acc = [_wide(entry, settings, d) for d in wide]
            ax.plot(wide, acc, "kx", ms=9, mew=2, label=f"SimCLR, head width {h}")
        ax.set(xscale="log", xticks=dims, xlabel="d", ylabel="test accuracy (%)")
        ax.set_title(_name(dataset))
        ax.set_xticklabels([str(d) for d in dims])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    for ax in axes[len(datasets) :]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


def _chart_use_figure(payload: Mapping[str, Any]) -> Figure:
    """Every MSimCLR model's share of test points per chart, against the uniform 1/k."""
    settings, datasets = payload["settings"], payload["datasets"]
    models = [(d, k) for d in settings["dims"] for k in settings["charts"] if k > 1]
    cols = min(len(datasets), 2)
    rows = math.ceil(len(datasets) / cols)
    fig = style.figure(height=rows * (0.8 + 0.28 * len(models)) + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    ticks = list(range(len(models)))
    for ax, (dataset, entry) in zip(axes, datasets.items(), strict=False):
        for row, (d, k) in enumerate(models):
            counts = np.asarray(entry["models"][f"msimclr-k{k}-d{d}"]["test_counts"])
            share = 100 * counts / counts.sum()
            colour = f"C{settings['charts'].index(k)}"
            ax.plot(share, np.full(k, row), "o", ms=5, color=colour, alpha=0.8, mew=0)
            ax.plot([100 / k], [row], "|", ms=12, mew=2, color="k")
        ax.set_yticks(ticks, [f"d = {d}, k = {k}" for d, k in models])
        ax.set(xlim=(-2, 102), ylim=(len(models) - 0.5, -0.5), xlabel="share of test points (%)")
        ax.set_title(_name(dataset))
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
    for label, colour in colours.items():
        mine = labels == label
        ax.scatter(*points[mine].T, s=3, color=colour, alpha=0.7, linewidths=0)
    if unit:
        ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.set(xticks=[], yticks=[])
    ax.set_box_aspect(1)
    for spine in ax.spines.values():
        spine.set_visible(True)


def _embedding_groups(payload: Mapping[str, Any], dataset: str) -> list[tuple[str, list]]:
    """Groups of panels of an embedding figure: (title, panels), each panel a tuple
    (title, points (N, 2), labels (N,), whether the axes are the unit square)."""
    settings, entry = payload["settings"], payload["datasets"][dataset]
    labels = np.asarray(entry["labels"])
    simclr = np.asarray(entry["models"]["simclr-d2"]["points"])
    single = [("reference head", simclr, labels, False)]
    if 2 in settings["wide_head_dims"]:
        wide = np.asarray(entry["models"][f"simclr-h{settings['wide_head']}-d2"]["points"])
        single.append((f"width-{settings['wide_head']} head", wide, labels, False))
    groups = []
    for k in settings["charts"]:
        model = entry["models"][f"msimclr-k{k}-d2"]
        points, charts = np.asarray(model["points"]), np.asarray(model["point_charts"])
        if k == 1:
            single.append(("one chart", points, labels, True))
            continue
        panels = [
            (f"chart {j} ({int((charts == j).sum())})", points[charts == j],
             labels[charts == j], True)
            for j in np.unique(charts)
        ]  # fmt: skip
        groups.append((f"MSimCLR, k = {k} charts", panels))
    return [("SimCLR (in R²), MSimCLR with one chart", single), *groups]


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


def _embedding_figure(payload: Mapping[str, Any], dataset: str) -> Figure:
    """The d = 2 test embeddings of one dataset on one grid, coloured by class."""
    groups = _embedding_groups(payload, dataset)
    labels = np.asarray(payload["datasets"][dataset]["labels"])
    colours = {c: f"C{i % 10}" for i, c in enumerate(np.unique(labels))}
    panel = style.PAGE_WIDTH / COLUMNS
    sizes = [len(panels) for _, panels in groups]
    bands = _bands(sizes)
    rows = [max(math.ceil(sizes[i] / COLUMNS) for i in band) for band in bands]
    heights = [r * panel + 0.4 for r in rows] + [0.45]
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
    strips[-1].legend(
        handles, [str(c) for c in colours], loc="center", ncols=len(colours), title="class",
        frameon=False, handletextpad=0.1, columnspacing=1.0,
    )  # fmt: skip
    return fig


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by key: ``accuracy``, ``chart-use`` (when some k > 1)
    and, when the profile has d = 2, ``embedding-<dataset>`` for each dataset."""
    _check_payload(payload)
    settings = payload["settings"]
    out = {"accuracy": _accuracy_figure(payload)}
    if any(k > 1 for k in settings["charts"]):
        out["chart-use"] = _chart_use_figure(payload)
    if 2 in settings["dims"]:
        for dataset in payload["datasets"]:
            out[f"embedding-{dataset}"] = _embedding_figure(payload, dataset)
    return out


# --------------------------------------------------------------------------- claims

_LIMIT = (
    f"Reproduced needs this with at least {MIN_SEEDS} training seeds at the reference's "
    "training budget; with fewer seeds or less training the best verdict is partly."
)

_LOW_D_RULE = (
    "At every d run, compare the best MSimCLR with k > 1 charts against the better SimCLR "
    f"(the reference's head, or the width-64 head where it was run); a win is a lead of more "
    f"than {MARGIN:g} points of test accuracy. Reproduced if it wins at every d; partly if it "
    "wins at most of them; not reproduced otherwise. " + _LIMIT
)

_MMD_RULE = (
    "At d = 2, compare MSimCLR with one chart (SimCLR plus the MMD term) against every SimCLR "
    "run (the reference's head, and the width-64 head that controls for its collapse). "
    "Reproduced if "
    "it leads each by more than 5 points (drastically); partly if it leads each by more than "
    f"{MARGIN:g}; not reproduced otherwise. " + _LIMIT
)


def _verdict(strong: bool, weak: bool, limited: bool) -> str:
    """``reproduced`` only for the strong result at full budget; ``partly`` for the strong
    one with a limited budget or the weak one; else ``not reproduced``."""
    if strong and not limited:
        return "reproduced"
    return "partly" if strong or weak else "not reproduced"


def _budget(payload: Mapping[str, Any], dataset: str) -> str:
    s = payload["settings"]
    images = payload["datasets"][dataset]["train_images"]
    return (
        f"backbone {s['backbone']}, {s['epochs']} epochs of {images} images, batch "
        f"{s['batch_size']} ({_steps(payload, dataset)} steps, "
        f"{100 * budget_share(payload, dataset):.2g} % of the reference's images seen), "
        f"τ = {s['temperature']:g}, lr {s['lr']:g}"
    )


def _reference(dataset: str) -> str:
    ref = REFERENCE[dataset]
    return (
        f"{_name(dataset)}: {ref['backbone']} from scratch, {ref['epochs']} epochs of the "
        f"{ref['train_images']} training images, batch {ref['batch']}, "
        f"τ = {ref['temperature']:g}, Adam 1e-4 (neurve's code)"
    )


def _data(payload: Mapping[str, Any], dataset: str) -> str:
    entry = payload["datasets"][dataset]
    return (
        f"{_name(dataset)}: {entry['train_images']} training images (probes and MSimCLR "
        f"training), {entry['test_images']} test images"
    )


def _limited(payload: Mapping[str, Any], dataset: str) -> bool:
    return SEEDS < MIN_SEEDS or budget_share(payload, dataset) < 1


def _low_d_claim(payload: Mapping[str, Any] | None, dataset: str, absent: str) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": f"At low dimension d (2 to 8), MSimCLR beats SimCLR at the same d on "
        f"{_name(dataset)}.",
        "rule": _LOW_D_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": "msimclr-cifar" if dataset == "cifar10" else "msimclr-accuracy",
    }
    if payload is None or dataset not in payload["datasets"]:
        return scorecard.Claim(
            **common, verdict=absent, measured="–", data="–", budget="–", seeds=0
        )
    lead = leads(payload, dataset)
    wins = sum(gap > MARGIN for _, gap in lead.values())
    measured = ", ".join(f"{gap:+.1f} at d = {d} (k = {k})" for d, (k, gap) in lead.items())
    return scorecard.Claim(
        **common,
        verdict=_verdict(wins == len(lead), 2 * wins > len(lead), _limited(payload, dataset)),
        measured=f"best MSimCLR − better SimCLR, points: {measured}",
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=SEEDS,
    )


def _mmd_claim(
    payload: Mapping[str, Any] | None, dataset: str, claim: str, absent: str
) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": claim,
        "rule": _MMD_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": "msimclr-cifar" if dataset == "cifar10" else "msimclr-mmd",
    }
    if payload is None or dataset not in payload["datasets"]:
        return scorecard.Claim(
            **common, verdict=absent, measured="–", data="–", budget="–", seeds=0
        )
    settings, entry = payload["settings"], payload["datasets"][dataset]
    one = _accuracy(entry, 1, 2)
    others = {"reference head": _accuracy(entry, 0, 2)}
    wide = _wide(entry, settings, 2)
    if wide is not None:
        others[f"head width {settings['wide_head']}"] = wide
    gap = one - max(others.values())
    shown = ", ".join(f"{acc:.1f} % ({name})" for name, acc in others.items())
    return scorecard.Claim(
        **common,
        verdict=_verdict(gap > 5.0, gap > MARGIN, _limited(payload, dataset)),
        measured=f"one chart {one:.1f} % vs SimCLR {shown}",
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=SEEDS,
    )


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """This chapter's claims of Korman's blog (MSimCLR part), with verdicts from the results.

    MNIST and Fashion-MNIST come from the ``full`` profile ("not run yet" without it);
    CIFAR-10 from the ``cifar`` profile, whose budget needs a GPU ("not runnable here"
    without it).

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> that profile's saved payload, or None.
    """
    full, cifar = load("full"), load("cifar")
    return [
        _low_d_claim(full, "mnist", "not run yet"),
        _low_d_claim(full, "fashion-mnist", "not run yet"),
        _low_d_claim(cifar, "cifar10", "not runnable here"),
        _mmd_claim(
            full,
            "mnist",
            "At d = 2, the MMD term alone (MSimCLR with one chart) drastically improves "
            "SimCLR on MNIST.",
            "not run yet",
        ),
        _mmd_claim(
            cifar,
            "cifar10",
            "At d = 2, the MMD term alone (MSimCLR with one chart) drastically improves "
            "SimCLR on CIFAR-10, where SimCLR could not be trained without it.",
            "not runnable here",
        ),
    ]
