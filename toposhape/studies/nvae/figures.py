"""The figures of the N-VAE chapter, from a payload only (no training, no measuring).

:func:`figures` returns every figure by its glue key; a figure whose models are not
trained yet is a placeholder that says so, so the page always builds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from toposhape.studies import style
from toposhape.studies.nvae import summary
from toposhape.studies.nvae.grid import DATASETS

__all__ = ["COLOURS", "figures"]

#: One colour per model (and floor), the same in every figure.
COLOURS: Mapping[str, str] = {
    "N-VAE": "tab:blue",
    "N-VAE β_c=4": "tab:cyan",
    "CVAE": "tab:orange",
    "VAE": "tab:green",
    "PCA of pixels": "0.45",
    "untrained encoder": "0.75",
}


def _unit(images: Any) -> np.ndarray:
    """Images stored as 0..255 integers -> floats in [0, 1]."""
    return np.asarray(images, dtype=np.float64) / 255.0


def _tile(images: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W) -> one (rows·H, cols·W) image."""
    r, c, h, w = images.shape
    return images.transpose(0, 2, 1, 3).reshape(r * h, c * w)


def _placeholder(text: str, height: float = 1.2) -> Figure:
    fig = style.figure(height=height)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.axis("off")
    return fig


def _end_ticks(ax: Any, values: list[float], width: int) -> None:
    """Label the first and last column of a traversal grid with the swept values."""
    ax.set_xticks([width / 2, (len(values) - 0.5) * width], [f"{values[0]:g}", f"{values[-1]:g}"])


#: The tail panels of the curves figure reach this many stopping tolerances below each run's
#: best (and one above it), so that the tolerance line and the last patience can be read.
_TAIL_DEPTH = 6


def _curves(payload: Mapping[str, Any]) -> Figure:
    """Validation ELBO per epoch of every run, a column per dataset; seeds share a colour (one
    legend above, an entry per model). Top: the whole runs near their bests
    (:func:`_whole_runs`), a dot at the last epoch and a ring at the best (the weights
    measured). Bottom: the tail of every run (its last :data:`~.summary.LONGER_WINDOW`
    patiences), in nats below the run's best, against epochs before its end, with the
    stopping rule's window (dotted, vertical) and its tolerance (dotted, horizontal), from
    :data:`_TAIL_DEPTH` tolerances below the best to one above it."""
    names = [d for d in payload["datasets"] if payload["datasets"][d]["runs"]]
    if not names:
        return _placeholder("No model is trained yet.")
    fig = style.figure(height=5.4)
    axes = fig.subplots(2, len(names), squeeze=False)
    for (ax, tail), dataset in zip(axes.T, names, strict=True):
        _whole_runs(ax, payload, dataset)
        _tails(tail, payload, dataset)
    axes[0, 0].set_ylabel("validation ELBO (nats)")
    axes[1, 0].set_ylabel("below the run's best (nats)")
    shown = {}  # label -> line: one legend entry per model, over the datasets' panels
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        shown |= dict(zip(labels, handles, strict=True))
    fig.legend(
        shown.values(), shown.keys(), loc="outside upper center", ncol=len(shown), frameon=False
    )
    return fig


def _whole_runs(ax: Any, payload: Mapping[str, Any], dataset: str) -> None:
    """The curves figure's top panel of a dataset: every run from its first epoch, on a
    y-range from a margin (4 % of the highest best, at least one nat) below the lowest run's
    best to 15 % of that margin above the highest, so that every run shows near its best and
    the low first epochs do not squeeze them together."""
    runs = payload["datasets"][dataset]["runs"]
    labelled = set()
    for run in runs:
        epochs = [h["epoch"] for h in run["history"]]
        values = [h["val_elbo"] for h in run["history"]]
        label = None if run["model"] in labelled else run["model"]
        labelled.add(run["model"])
        ax.plot(epochs, values, color=COLOURS[run["model"]], lw=1, label=label)
        ax.plot(epochs[-1], values[-1], "o", color=COLOURS[run["model"]], ms=3)
        best = run["best_epoch"] - 1
        ax.plot(epochs[best], values[best], "o", color=COLOURS[run["model"]], mfc="none", ms=6)
    bests = [max(h["val_elbo"] for h in r["history"]) for r in runs]
    low, high = min(bests), max(bests)
    margin = max(abs(high) * 0.04, 1.0)
    ax.set_ylim(low - margin, high + margin * 0.15)
    ax.set(xlabel="epoch", title=DATASETS.get(dataset, dataset))


def _tails(ax: Any, payload: Mapping[str, Any], dataset: str) -> None:
    """The curves figure's bottom panel of a dataset: the last
    :data:`~.summary.LONGER_WINDOW` patiences of epochs of every run, relative to its best
    validation ELBO, down to :data:`_TAIL_DEPTH` tolerances below it."""
    cfg = payload["settings"]["datasets"][dataset]
    window = summary.LONGER_WINDOW * cfg["patience"]
    for run in payload["datasets"][dataset]["runs"]:
        values = np.array([h["val_elbo"] for h in run["history"]])
        shown = values[-window:] - values.max()
        ax.plot(np.arange(1 - len(shown), 1), shown, color=COLOURS[run["model"]], lw=1)
    ax.axvline(-cfg["patience"], color="k", lw=0.8, ls=":")
    ax.axhline(-cfg["tolerance"], color="k", lw=0.8, ls=":")
    ax.set_ylim(-_TAIL_DEPTH * cfg["tolerance"], cfg["tolerance"])
    ax.set(xlabel="epochs before the run's last", title=f"last {window} epochs of each run")


def _latents(payload: Mapping[str, Any]) -> Figure:
    """MNIST test codes of the VAE and the N-VAE's shared part (two principal axes)."""
    entry = payload["datasets"].get("mnist")
    examples = None if entry is None else entry["examples"]
    if examples is None or "codes" not in examples:
        return _placeholder("The VAE and the N-VAE of the first seed are not trained yet.")
    fig = style.figure(height=3.0)
    axes = fig.subplots(1, 2)
    labels = np.asarray(examples["labels"])
    cd = payload["recipe"]["class_dim"]
    for ax, (name, part) in zip(
        axes, (("VAE", slice(None)), ("N-VAE", slice(cd, None))), strict=True
    ):
        codes = np.asarray(examples["codes"][name])[:, part]
        centred = codes - codes.mean(axis=0)
        axes_ = np.linalg.svd(centred, full_matrices=False)[2][:2].T
        sc = ax.scatter(*(centred @ axes_).T, c=labels, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name}, {'all of $z$' if name == 'VAE' else 'shared $z_s$'}")
        ax.set(xticks=[], yticks=[], xlabel="principal axis 1")
    axes[0].set_ylabel("principal axis 2")
    fig.colorbar(sc, ax=axes, label="class", ticks=range(10))
    return fig


def _factor_bars(payload: Mapping[str, Any], dataset: str, threshold: bool) -> Figure:
    """Consistent-dimension mean |ρ| per factor: models and floors (mean ± seed std, a dot per
    seed), a dashed line at the chance level of one unrelated dimension
    (:func:`~.summary.chance_level`); with ``threshold`` a dotted line at
    :data:`~.summary.CAPTURE_RHO` (a rule of that dataset)."""
    entry = payload["datasets"][dataset]
    factors = entry["factor_names"]
    models = [m for m in payload["models"] if summary.runs(payload, dataset, m)]
    floors = list(entry["floors"])
    bars = models + floors
    fig = style.figure(height=3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(bars)
    top = 1.0
    for i, name in enumerate(bars):
        if name in models:
            values = [
                summary.per_model(payload, dataset, name, lambda r, f=f: summary.factor_value(r, f))
                for f in factors
            ]
            what = "$z_s$" if name.startswith("N-VAE") else "$z$"
            label = f"{name}, {what}"
        else:
            values = [summary.floor_values(entry, name, f) for f in factors]
            label = f"{name} ({'floor' if name == summary.UNTRAINED else 'reference'})"
        stats = [summary.mean_std(v) for v in values]
        means, stds = [v[0] for v in stats], [np.nan_to_num(v[1]) for v in stats]
        x = np.arange(len(factors)) + (i - (len(bars) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, color=COLOURS[name], label=label, capsize=2)
        for xi, seeds in zip(x, values, strict=True):
            if len(seeds) > 1:
                ax.plot([xi] * len(seeds), seeds, "o", color="k", ms=2.5, zorder=3)
        top = max(top, *(m + s for m, s in zip(means, stds, strict=True) if np.isfinite(m)))
    chance = summary.chance_level(entry)
    if chance is not None:
        ax.axhline(chance, color="k", lw=0.8, ls="--", label="chance (one unrelated dimension)")
    if threshold:
        ax.axhline(summary.CAPTURE_RHO, color="k", lw=0.8, ls=":", label="threshold of the rule")
    ax.set_xticks(range(len(factors)), factors)
    ax.set(ylim=(0, top + 0.05), ylabel="mean |ρ| over classes")
    fig.legend(loc="outside lower center", ncol=3, frameon=False)
    return fig


def _shared_traversals(payload: Mapping[str, Any], dataset: str) -> Figure:
    """N-VAE: every shared dimension swept for the shown classes (a panel per dimension, two
    rows of panels when few classes are shown), titled with what the first seed's record
    measured of it (:func:`_carried`)."""
    examples = payload["datasets"][dataset]["examples"]
    if examples is None or "shared_traversals" not in examples:
        return _placeholder("The N-VAE of the first seed is not trained yet.")
    grids = _unit(examples["shared_traversals"])  # (M, classes, V, H, W)
    values = payload["recipe"]["traversal_values"]
    shown = examples["shown_classes"]
    columns = len(grids) if len(shown) > 3 else math.ceil(len(grids) / 2)
    rows = math.ceil(len(grids) / columns)
    fig = style.figure(height=2.6 * rows if rows > 1 else (3.7 if len(shown) > 8 else 3.2))
    axes = fig.subplots(rows, columns, squeeze=False)
    seed, titles = _carried(payload, dataset)
    fig.suptitle(f"N-VAE, seed {seed}: each dimension's KL and mean |ρ| with every factor (test)")
    height, width = grids.shape[-2:]
    for j, ax in enumerate(axes.flat):
        if j >= len(grids):
            ax.axis("off")
            continue
        ax.imshow(_tile(grids[j]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(titles[j])
        _end_ticks(ax, values, width)
        ax.set_yticks((np.arange(len(shown)) + 0.5) * height, [str(c) for c in shown])
    for ax in axes[:, 0]:
        ax.set_ylabel("subject" if dataset == "yaleb" else "class")
    return fig


def _carried(payload: Mapping[str, Any], dataset: str) -> tuple[int, list[str]]:
    """The first seed and a title per shared dimension of its N-VAE, as its record measured
    them: its KL (test mean over classes; "unused" when :func:`~.summary.used_dims` says so)
    and every factor's mean |ρ| over classes with it (test), "(picked)" beside a factor
    picked for it (validation)."""
    seed = payload["settings"]["seeds"][0]
    run = next(r for r in summary.runs(payload, dataset, "N-VAE") if r["seed"] == seed)
    scores = run["factor_scores"]
    picked = summary.factor_summary(scores)
    kl = np.asarray(run["kl_per_class"], dtype=float).mean(axis=0)
    used = summary.used_dims(run["kl_per_class"])
    rho = {f: summary.dimension_rho(scores, f) for f in scores["factors"]}
    cd = payload["recipe"]["class_dim"]
    titles = []
    for j in range(payload["recipe"]["shared_dim"]):
        d = cd + j
        head = f"$z_s[{j}]$, " + ("" if used[d] else "unused, ") + f"KL {kl[d]:.2f}"
        lines = [
            f"{f} {rho[f][d]:.2f}" + (" (picked)" if picked[f]["dim"] == d else "")
            for f in scores["factors"]
        ]
        titles.append("\n".join([head, *lines]))
    return seed, titles


def _kl(payload: Mapping[str, Any]) -> Figure:
    """Per-class KL of every z_c dimension of the N-VAE, β_c = 1 and β_c = 4 (first seed)."""
    cd = payload["recipe"]["class_dim"]
    panels = []
    for model in ("N-VAE", "N-VAE β_c=4"):
        found = summary.runs(payload, "mnist", model) if "mnist" in payload["datasets"] else []
        if found:
            panels.append((model, np.asarray(found[0]["kl_per_class"])[:, :cd]))
    if not panels:
        return _placeholder("No MNIST N-VAE is trained yet.")
    fig = style.figure(height=3.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    top = max(float(kl.max()) for _, kl in panels)
    for ax, (model, kl) in zip(axes, panels, strict=True):
        im = ax.imshow(kl, cmap="viridis", vmin=0, vmax=top)
        beta = payload["models"][model][1]
        ax.set(xlabel="dimension $j$ of $z_c$", title=f"β_c = {beta:g}")
        ax.set_xticks(range(cd))
        ax.set_yticks(range(len(kl)))
    axes[0].set_ylabel("class")
    fig.colorbar(im, ax=axes, label="mean KL (nats)", shrink=0.9)
    return fig


def _kl_training(payload: Mapping[str, Any]) -> Figure:
    """KL of z_c (training mean per epoch) of the MNIST N-VAE at β_c = 1 and 4, every seed;
    a ring marks the best validation epoch (the weights measured)."""
    entry = payload["datasets"].get("mnist")
    found = [r for r in (entry or {}).get("runs", []) if r["model"] in ("N-VAE", "N-VAE β_c=4")]
    if not found:
        return _placeholder("No MNIST N-VAE is trained yet.")
    fig = style.figure(height=2.6)
    ax = fig.add_subplot()
    labelled = set()
    for run in found:
        epochs = [h["epoch"] for h in run["history"]]
        values = [h["kl_c"] for h in run["history"]]
        beta = payload["models"][run["model"]][1]
        label = None if run["model"] in labelled else f"β_c = {beta:g}"
        labelled.add(run["model"])
        colour = COLOURS[run["model"]]
        ax.plot(epochs, values, color=colour, lw=1, label=label)
        best = run["best_epoch"] - 1
        ax.plot(epochs[best], values[best], "o", color=colour, mfc="none", ms=6)
    ax.set(xlabel="epoch", ylabel="KL of $z_c$ (nats, training mean)", ylim=(0, None))
    ax.legend(frameon=False)
    return fig


def _mmd(payload: Mapping[str, Any]) -> Figure:
    """MMD² to the prior of what each sampler meets, per bandwidth (mean ± seed std)."""
    if "mnist" not in payload["datasets"] or not payload["datasets"]["mnist"]["runs"]:
        return _placeholder("No MNIST model is trained yet.")
    factors = payload["bandwidth_factors"]
    fig = style.figure(height=2.8)
    axes = fig.subplots(1, 2)
    for ax, (title, pick) in zip(
        axes,
        (
            ("what the sampler meets", summary.sampler_mmd),
            (
                "pooled over classes",
                lambda r, b: r["prior_match"]["pooled"]["estimate"][b],
            ),
        ),
        strict=True,
    ):
        for model in payload["models"]:
            if not summary.runs(payload, "mnist", model):
                continue
            stats = [
                summary.mean_std(
                    summary.per_model(payload, "mnist", model, lambda r, b=b, p=pick: p(r, b))
                )
                for b in range(len(factors))
            ]
            means = np.array([s[0] for s in stats])
            stds = np.nan_to_num([s[1] for s in stats])
            ax.errorbar(
                factors, 1e3 * means, yerr=1e3 * stds, color=COLOURS[model], marker="o",
                ms=3, capsize=2, label=model,
            )  # fmt: skip
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xscale("log", base=2)
        ax.set_xticks(factors, [f"{f:g}" for f in factors])
        ax.set(xlabel="bandwidth / median heuristic", title=title)
    axes[0].set_ylabel("MMD² (×10⁻³)")
    axes[1].legend(frameon=False)
    return fig


def _samples(payload: Mapping[str, Any], dataset: str) -> Figure:
    """Ancestral samples of every model of the first seed: a row per σ, a column per model."""
    examples = payload["datasets"][dataset]["examples"]
    if examples is None:
        return _placeholder("No model of the first seed is trained yet.")
    models = list(examples["samples"])
    sigmas = [f"{s:g}" for s in payload["recipe"]["sigmas"]]
    fig = style.figure(height=1.9 * len(sigmas), width=min(style.PAGE_WIDTH, 1.8 * len(models)))
    axes = fig.subplots(len(sigmas), len(models), squeeze=False)
    for row, sigma in enumerate(sigmas):
        for col, name in enumerate(models):
            s = _unit(examples["samples"][name][sigma])  # a square number: 64, or 16 subjects
            side = math.isqrt(len(s))
            ax = axes[row, col]
            ax.imshow(_tile(s.reshape(side, side, *s.shape[1:])), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, σ = {sigma}")
            ax.axis("off")
    return fig


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by glue key.

    Keys: ``curves``, ``latents``, ``kl``, ``kl_training``, ``mmd``, and per dataset ``d``
    of the profile ``factors_<d>``, ``shared_<d>`` and ``samples_<d>`` (a "not run yet"
    note for a dataset the payload does not hold).

    Raises
    ------
    TypeError, ValueError
        If ``payload`` is not a payload of this chapter's version (see
        :func:`toposhape.studies.nvae.summary.check_payload`).
    """
    summary.check_payload(payload)
    out = {
        "curves": _curves(payload),
        "latents": _latents(payload),
        "kl": _kl(payload),
        "kl_training": _kl_training(payload),
        "mmd": _mmd(payload),
    }
    for dataset in payload["settings"]["datasets"]:
        if dataset in payload["datasets"]:
            out[f"factors_{dataset}"] = _factor_bars(payload, dataset, dataset == "mnist")
            out[f"shared_{dataset}"] = _shared_traversals(payload, dataset)
            out[f"samples_{dataset}"] = _samples(payload, dataset)
        else:
            for kind in ("factors", "shared", "samples"):
                out[f"{kind}_{dataset}"] = style.not_run(
                    f"{DATASETS.get(dataset, dataset)}: not run yet."
                )
    return out
