"""Figures, tables and findings of the N-VAE chapter, from a payload only.

The payload is what :func:`toposhape.studies.nvae.run.run` returns (fresh, or loaded with
:func:`toposhape.results.load_results`); nothing here trains or measures a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.studies import style

__all__ = ["figures", "findings", "setup", "tables"]

#: Dataset keys of a payload -> the names the page uses.
NAMES: Mapping[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "yaleb": "Extended Yale B",
}


def _name(dataset: str) -> str:
    """The name the page uses for a dataset key."""
    return NAMES.get(dataset, dataset)


def _unit(images: Any) -> np.ndarray:
    """Images stored as 0..255 integers -> floats in [0, 1]."""
    return np.asarray(images, dtype=np.float64) / 255.0


def _tile(images: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W) -> one (rows·H, cols·W) image."""
    r, c, h, w = images.shape
    return images.transpose(0, 2, 1, 3).reshape(r * h, c * w)


def _end_ticks(ax: Any, values: list[float], width: int) -> None:
    """Label the first and last column of a traversal grid with the swept values."""
    ax.set_xticks([width / 2, (len(values) - 0.5) * width], [f"{values[0]:g}", f"{values[-1]:g}"])


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _latents(payload: Mapping[str, Any]) -> Figure:
    """Test codes of the VAE and the N-VAE's shared part (two principal axes), by class."""
    names = list(payload["datasets"])
    fig = style.figure(height=3.0 * len(names))
    axes = fig.subplots(len(names), 2, squeeze=False)
    cd = payload["recipe"]["class_dim"]
    for row, dataset in enumerate(names):
        entry = payload["datasets"][dataset]
        labels = np.asarray(entry["labels"])
        for col, (name, part) in enumerate((("VAE", slice(None)), ("N-VAE", slice(cd, None)))):
            codes = np.asarray(entry["models"][name]["codes"])[:, part]
            centred = codes - codes.mean(axis=0)
            axes_ = np.linalg.svd(centred, full_matrices=False)[2][:2].T
            ax = axes[row, col]
            sc = ax.scatter(*(centred @ axes_).T, c=labels, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
            what = "all of $z$" if name == "VAE" else "shared $z_s$"
            ax.set_title(f"{_name(dataset)}: {name}, {what}")
            ax.set(xticks=[], yticks=[])
        axes[row, 0].set_ylabel("principal axis 2")
    for ax in axes[-1]:
        ax.set_xlabel("principal axis 1")
    fig.colorbar(sc, ax=axes, label="class", ticks=range(10))
    return fig


def _samples(payload: Mapping[str, Any], dataset: str) -> Figure:
    """Ancestral samples of every model (8 × 8 grids): a row per σ, a column per model."""
    models = list(payload["models"])
    sigmas = [f"{s:g}" for s in payload["recipe"]["sigmas"]]
    fig = style.figure(height=1.9 * len(sigmas))
    axes = fig.subplots(len(sigmas), len(models), squeeze=False)
    for row, sigma in enumerate(sigmas):
        for col, name in enumerate(models):
            s = _unit(payload["datasets"][dataset]["models"][name]["samples"][sigma])
            ax = axes[row, col]
            ax.imshow(_tile(s.reshape(8, 8, *s.shape[1:])), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, σ = {sigma}")
            ax.axis("off")
    return fig


def _shared_traversals(payload: Mapping[str, Any], dataset: str) -> Figure:
    """N-VAE: every shared dimension swept for every class (a panel per dimension)."""
    grids = _unit(payload["datasets"][dataset]["shared_traversals"])  # (M, 10, V, H, W)
    values = payload["recipe"]["traversal_values"]
    fig = style.figure(height=3.3)
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    height, width = grids.shape[-2:]
    for j, ax in enumerate(axes):
        ax.imshow(_tile(grids[j]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"$z_s[{j}]$")
        _end_ticks(ax, values, width)
        ax.set_yticks([])
    classes = grids.shape[1]
    axes[0].set_yticks((np.arange(classes) + 0.5) * height, [str(c) for c in range(classes)])
    axes[0].set_ylabel("class")
    return fig


def _class_factors(payload: Mapping[str, Any], dataset: str) -> Figure:
    """N-VAE: per-class KL of every z_c dimension, and each class's top dimension swept."""
    entry = payload["datasets"][dataset]
    cd = payload["recipe"]["class_dim"]
    kl = np.asarray(entry["models"]["N-VAE"]["kl_per_class"])[:, :cd]
    fig = style.figure(height=4.2)
    ax_kl, ax_tr = fig.subplots(1, 2, width_ratios=(1, 1.3))
    im = ax_kl.imshow(kl, cmap="viridis", vmin=0)
    ax_kl.set(xlabel="dimension $j$ of $z_c$", ylabel="class", title="KL of $z_c[j]$ per class")
    ax_kl.set_xticks(range(cd))
    ax_kl.set_yticks(range(len(kl)))
    fig.colorbar(im, ax=ax_kl, label="nats", shrink=0.8)
    rows = _unit(entry["class_traversals"])  # (10, V, H, W)
    ax_tr.imshow(_tile(rows), cmap="gray", vmin=0, vmax=1)
    dims = entry["class_traversal_dims"]
    ax_tr.set_yticks(
        (np.arange(len(rows)) + 0.5) * rows.shape[2],
        [f"{c}: $z_c[{d}]$" for c, d in enumerate(dims)],
    )
    _end_ticks(ax_tr, payload["recipe"]["traversal_values"], rows.shape[-1])
    ax_tr.set_title("each class's top $z_c$ dimension")
    return fig


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by glue key.

    Keys: ``latents``, and per dataset ``d`` of the payload ``samples_<d>``,
    ``shared_<d>`` and ``class_factors_<d>``.

    Raises
    ------
    TypeError
        If ``payload`` is not a mapping.
    ValueError
        If it lacks ``datasets``, ``models`` or ``recipe``.
    """
    check_mapping("payload", payload, "datasets", "models", "recipe")
    out = {"latents": _latents(payload)}
    for dataset in payload["datasets"]:
        out[f"samples_{dataset}"] = _samples(payload, dataset)
        out[f"shared_{dataset}"] = _shared_traversals(payload, dataset)
        out[f"class_factors_{dataset}"] = _class_factors(payload, dataset)
    return out


# ---------------------------------------------------------------------------
# Tables and sentences
# ---------------------------------------------------------------------------


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables, by name: ``models`` (one row per dataset and model) and
    ``synthetic`` (one row per dataset, generator and generated share).

    Accuracies are in percent; the N-VAE's is the only model with a classifier q(y|x)
    (NaN for the others).

    Raises
    ------
    TypeError
        If ``payload`` is not a mapping.
    ValueError
        If it lacks ``datasets`` or ``settings``.
    """
    check_mapping("payload", payload, "datasets", "settings")
    k = payload["settings"]["iwae_k"]
    models = pd.DataFrame(
        [
            {
                "dataset": _name(dataset),
                "model": name,
                "test ELBO (nats)": m["elbo"],
                f"IWAE, k = {k} (nats)": m["iwae"],
                "IWAE bounds": "log p(x|y)" if m["kind"] in ("nvae", "cvae") else "log p(x)",
                "q(y|x) accuracy (%)": np.nan if m["accuracy"] is None else 100 * m["accuracy"],
                "MMD² to the prior (×10⁻³)": 1e3 * m["mmd"],
            }
            for dataset, entry in payload["datasets"].items()
            for name, m in entry["models"].items()
        ]
    )
    synthetic = pd.DataFrame(
        [
            {
                "dataset": _name(dataset),
                "generator": r["generator"],
                "generated share (%)": round(100 * r["fraction"]),
                "test accuracy (%)": 100 * r["mean"],
                "seed std (%)": 100 * r["std"],
                "seeds": len(r["accuracies"]),
            }
            for dataset, entry in payload["datasets"].items()
            for r in entry["synthetic"]
        ]
    )
    return {"models": models, "synthetic": synthetic}


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence: the latent layout, the models and the data of the payload."""
    check_mapping("payload", payload, "datasets", "models", "recipe", "settings")
    recipe, epochs = payload["recipe"], payload["settings"]["epochs"]
    models = ", ".join(f"{k} (β = {b:g})" for k, (_kind, b) in payload["models"].items())
    data = "; ".join(
        f"{_name(d)}: {e['train_images']} training / {e['test_images']} test images"
        for d, e in payload["datasets"].items()
    )
    return (
        f"Latent: L = {recipe['class_dim']} class-dependent + M = {recipe['shared_dim']} shared "
        f"dimensions for every model; models: {models}, {epochs} epoch{'s' * (epochs != 1)} "
        f"each, one seed. Data: {data}."
    )


def findings(payload: Mapping[str, Any]) -> list[str]:
    """The chapter's comparisons, each answered yes/no from the payload's numbers."""
    check_mapping("payload", payload, "datasets")
    lines = []
    for dataset, entry in payload["datasets"].items():
        m = entry["models"]
        nv, vae, name = m["N-VAE"], m["VAE"], _name(dataset)
        lines.append(
            f"{name}: the N-VAE's aggregate posterior matches the prior better than the VAE's "
            f"(smaller MMD²): **{'yes' if nv['mmd'] < vae['mmd'] else 'no'}** "
            f"({nv['mmd']:.4f} vs {vae['mmd']:.4f})."
        )
        lines.append(
            f"{name}: the N-VAE explains the data better than the CVAE given the label "
            f"(IWAE log p(x|y)): **{'yes' if nv['iwae'] > m['CVAE']['iwae'] else 'no'}** "
            f"({nv['iwae']:.1f} vs {m['CVAE']['iwae']:.1f} nats)."
        )
        synth = {(r["generator"], r["fraction"]): r["mean"] for r in entry["synthetic"]}
        for fraction in (0.4, 1.0):
            a, b = synth[("N-VAE", fraction)], synth[("CVAE", fraction)]
            lines.append(
                f"{name}, {100 * fraction:.0f} % generated training data: N-VAE samples train "
                f"a better classifier than CVAE samples: **{'yes' if a > b else 'no'}** "
                f"({100 * a:.2f} vs {100 * b:.2f} %; real data only "
                f"{100 * synth[('real data', 0.0)]:.2f} %)."
            )
    return lines
