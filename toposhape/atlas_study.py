"""The study behind the book chapter "Atlases" (Korman, "Autoencoding topology", 2018).

:func:`run` computes a JSON-serialisable payload; the ``plot_*`` functions,
:func:`markdown_tables` and :func:`findings` turn a payload (fresh, or loaded with
:func:`toposhape.results.load_results`) into the chapter's figures, tables and claims.

* Known manifolds (:data:`toposhape.manifolds.MANIFOLDS`): atlas WAEs with the GAN and
  with the MMD regulariser, several seeds each; the nerve's barcodes over Z/2 (and Z/3
  for RP²) and whether their long bars give the manifold's Betti numbers.
* Intrinsic dimension: the 3-torus T³ ⊂ R⁶ fitted with d = 1..5; final reconstruction
  loss and the encoder's GAN loss (ideal log 2) per d.
* MNIST with d = 2, k = 15: decoded chart grids, chart overlaps, chart/digit table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from toposhape.atlas import AtlasAutoencoder, AtlasConfig, train_atlas
from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_mapping,
    check_optional_int,
    check_path,
    check_sequence,
    check_tensor,
)
from toposhape.manifolds import MANIFOLDS, sample_manifold
from toposhape.nerve import nerve_persistence, pair_overlaps, persistent_betti, plot_barcodes
from toposhape.results import markdown_table, profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, seeded

__all__ = [
    "CHAPTER",
    "LONG_BAR",
    "NERVE_RULE",
    "PROFILES",
    "REGULARISERS",
    "SETUPS",
    "findings",
    "fit",
    "get_profile",
    "manifold_study",
    "markdown_tables",
    "mnist_study",
    "plot_all",
    "run",
    "torus3_study",
    "work_dir",
]

CHAPTER = "atlas"

#: Charts k and dimension d per manifold (k large enough for a good cover).
SETUPS: dict[str, dict[str, int]] = {
    "circle": {"charts": 4, "dim": 1},
    "sphere": {"charts": 6, "dim": 2},
    "torus": {"charts": 8, "dim": 2},
    "rp2": {"charts": 8, "dim": 2},
}

#: Regulariser weights λ: the GAN's encoder loss is O(1), the MMD O(0.01); each weight
#: was set by one pilot run on the sphere (seed 0) so the regulariser is not negligible
#: next to the reconstruction error.
REGULARISERS: dict[str, float] = {"gan": 1.0, "mmd": 10.0}

#: How the nerve's simplices are valued: the paper's "simpler method", u_σ = max_x min_j q_j(x).
NERVE_RULE = "min"

#: A bar is "long" if it spans at least this many decades of ε (barcodes in log scale).
LONG_BAR = 0.5

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "manifolds": ["circle", "sphere"],
        "seeds": [0],
        "points": 2000,
        "epochs": 10,
        "torus3_dims": [1, 2, 3],
        "torus3_seeds": [0],
        "torus3_epochs": 3,
        "mnist_images": 2000,
        "mnist_epochs": 1,
    },
    "full": {
        "manifolds": list(SETUPS),
        "seeds": [0, 1, 2, 3, 4],
        "points": 4000,
        "epochs": 20,
        "torus3_dims": [1, 2, 3, 4, 5],
        "torus3_seeds": [0, 1, 2],
        "torus3_epochs": 20,
        "mnist_images": None,
        "mnist_epochs": 3,
    },
}

_MNIST = {"charts": 15, "dim": 2, "hidden": 256, "regulariser": "mmd", "grid": 6}
_TORUS3_CHARTS = 8


def get_profile(profile: str) -> dict[str, Any]:
    """Settings of a profile (a deep copy); ValueError naming the valid ones if unknown."""
    return profile_settings(PROFILES, check_choice("profile", profile, tuple(PROFILES)))


def work_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a profile: ``<results>/atlas/<profile>/_work`` (git-ignored)."""
    check_choice("profile", profile, tuple(PROFILES))
    check_path("results_root", results_root)
    return chapter_work_dir(CHAPTER, profile, results_root)


def _check_folder(folder: object) -> Path:
    """The checkpoint folder as a Path (a str or PathLike; None is refused)."""
    if folder is None:
        raise TypeError("folder must be a path, got None")
    check_path("folder", folder)
    return Path(folder)


def fit(
    data: torch.Tensor,
    charts: int,
    dim: int,
    regulariser: str,
    seed: int,
    epochs: int,
    folder: Path,
    name: str,
    hidden: int = 64,
    progress: bool = False,
) -> tuple[AtlasAutoencoder, list[dict]]:
    """Train one atlas WAE (seeded init, checkpoint ``folder/<name>.pt``, resumable).

    Parameters
    ----------
    data : Tensor, shape (N, D) or (N, C, S, S)
        Finite floating samples.
    charts, dim : int
        k, d >= 1.
    regulariser : {"gan", "mmd"}
        Weighted by :data:`REGULARISERS`.
    seed : int
        Seeds initial weights, batch order and prior draws; in [0,
        :data:`toposhape.training.MAX_SEED`].
    epochs : int
        >= 1.
    folder : path
        Checkpoint folder (created if missing).
    name : str
        Non-empty stem of the checkpoint file.
    hidden : int
        >= 1.
    progress : bool

    Returns
    -------
    model : AtlasAutoencoder
    history : list of dict
    """
    data = check_tensor("data", data, floating=True, finite=True, min_rows=1)
    if data.dim() not in (2, 4):
        raise ValueError(f"data must have shape (N, D) or (N, C, S, S), got {tuple(data.shape)}")
    charts, dim = check_int("charts", charts, 1), check_int("dim", dim, 1)
    check_choice("regulariser", regulariser, tuple(REGULARISERS))
    seed = check_int("seed", seed, 0, MAX_SEED)
    epochs = check_int("epochs", epochs, 1)
    folder = _check_folder(folder)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty")
    hidden = check_int("hidden", hidden, 1)
    check_bool("progress", progress)
    with seeded(seed):
        model = AtlasAutoencoder(tuple(data.shape[1:]), charts, dim, hidden)
    config = AtlasConfig(
        regulariser=regulariser, lam=REGULARISERS[regulariser], epochs=epochs, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    history, _ = train_atlas(
        model, data, config, checkpoint=folder / f"{name}.pt", progress=progress
    )
    return model, history


def _bars(barcodes: dict[int, np.ndarray]) -> dict[str, list]:
    return {str(d): np.round(b, 4).tolist() for d, b in barcodes.items()}


def _unbars(bars: Mapping[str, list]) -> dict[int, np.ndarray]:
    return {int(d): np.asarray(b, dtype=np.float64).reshape(-1, 2) for d, b in bars.items()}


def _entropy(q: np.ndarray) -> float:
    return float(-(q * np.log(np.clip(q, 1e-12, None))).sum(axis=1).mean())


def manifold_study(
    name: str, regulariser: str, seed: int, points: int, epochs: int, folder: Path
) -> dict[str, Any]:
    """Fit an atlas to one manifold sample and read its nerve.

    Parameters
    ----------
    name : str
        A manifold of :data:`SETUPS`.
    regulariser : {"gan", "mmd"}
    seed : int
        Seeds the sample and the fit; in [0, :data:`toposhape.training.MAX_SEED`].
    points : int
        Sample size, >= 1 (and at least the training batch size).
    epochs : int
        >= 1.
    folder : path
        Checkpoint folder.

    Returns
    -------
    dict
        Final losses, chart usage, membership entropy, pair overlaps, barcodes (log
        scale, :data:`NERVE_RULE`) over Z/2 and Z/3, the Betti numbers of the long bars, and
        whether they equal the manifold's (over both fields), plus a few hundred encoded
        points for plots (ambient coordinates, intrinsic parameters, chart, decoded
        chart grids).
    """
    check_choice("name", name, tuple(SETUPS))
    check_choice("regulariser", regulariser, tuple(REGULARISERS))
    seed = check_int("seed", seed, 0, MAX_SEED)
    points = check_int("points", points, 1)
    epochs = check_int("epochs", epochs, 1)
    folder = _check_folder(folder)
    manifold = MANIFOLDS[name]
    setup = SETUPS[name]
    x, params = sample_manifold(name, points, seed=seed)
    model, history = fit(
        x, setup["charts"], setup["dim"], regulariser, seed, epochs, folder,
        f"{name}-{regulariser}-s{seed}",
    )  # fmt: skip
    with torch.no_grad():
        codes = model.encode(x)
    q = codes.q.double().numpy()
    q /= q.sum(axis=1, keepdims=True)
    max_dim = manifold.dim + 1
    out: dict[str, Any] = {
        "manifold": name,
        "regulariser": regulariser,
        "seed": seed,
        "history": history,
        "reconstruction": history[-1]["reconstruction"],
        "usage": q.mean(axis=0).round(4).tolist(),
        "entropy": round(_entropy(q), 4),
        "overlaps": pair_overlaps(q).round(5).tolist(),
    }
    correct = True
    for field, truth in ((2, manifold.betti_z2), (3, manifold.betti_z3)):
        bars = nerve_persistence(q, max_dim=max_dim, field=field, rule=NERVE_RULE, scale="log")
        betti = persistent_betti(bars, LONG_BAR)
        out[f"bars_z{field}"] = _bars(bars)
        out[f"betti_z{field}"] = list(betti)
        correct &= tuple(betti) == tuple(truth)
    out["correct"] = bool(correct)
    show = torch.arange(min(points, 600))
    out["sample"] = {
        "x": x[show].numpy().round(4).tolist(),
        "params": params[show].numpy().round(4).tolist(),
        "chart": codes.chart[show].tolist(),
    }
    steps = 25 if setup["dim"] == 1 else 9
    axes = torch.linspace(0.02, 0.98, steps)
    grid = axes[:, None] if setup["dim"] == 1 else torch.cartesian_prod(axes, axes)
    with torch.no_grad():
        decoded = model.decode(grid[:, None, :].expand(-1, setup["charts"], -1).contiguous())
    out["chart_grids"] = decoded.transpose(0, 1).numpy().round(4).tolist()  # (k, G, D)
    return out


def torus3_study(
    dims: list[int], seeds: list[int], points: int, epochs: int, folder: Path
) -> list[dict[str, Any]]:
    """Fit T³ ⊂ R⁶ with d in ``dims`` (GAN regulariser, as in the paper's experiment).

    Parameters
    ----------
    dims : sequence of int
        Non-empty; every d >= 1.
    seeds : sequence of int
        Non-empty; every seed in [0, :data:`toposhape.training.MAX_SEED`].
    points : int
        Sample size, >= 1 (and at least the training batch size).
    epochs : int
        >= 1.
    folder : path
        Checkpoint folder.

    Returns
    -------
    list of dict
        Per (d, seed): the training history (reconstruction, the encoder's GAN loss).
    """
    dims = [check_int(f"dims[{i}]", d, 1) for i, d in enumerate(check_sequence("dims", dims))]
    seeds = [
        check_int(f"seeds[{i}]", s, 0, MAX_SEED)
        for i, s in enumerate(check_sequence("seeds", seeds))
    ]
    points = check_int("points", points, 1)
    epochs = check_int("epochs", epochs, 1)
    folder = _check_folder(folder)
    x, _ = sample_manifold("torus3", points, seed=0)
    rows = []
    for dim in dims:
        for seed in seeds:
            _, history = fit(
                x, _TORUS3_CHARTS, dim, "gan", seed, epochs, folder, f"torus3-d{dim}-s{seed}"
            )
            rows.append({"dim": dim, "seed": seed, "history": history})
    return rows


def mnist_study(
    images: int | None, epochs: int, seed: int, folder: Path, progress: bool
) -> dict[str, Any]:
    """MNIST with d = 2 and k = 15: chart grids, overlaps and the chart/digit table.

    Parameters
    ----------
    images : int or None
        Training images drawn at random, >= 1; None uses all of them.
    epochs : int
        >= 1.
    seed : int
        Seeds the subset and the fit; in [0, :data:`toposhape.training.MAX_SEED`].
    folder : path
        Checkpoint folder.
    progress : bool
        Show a progress bar.
    """
    from toposhape.data import load_images

    images = check_optional_int("images", images, 1)
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0, MAX_SEED)
    folder = _check_folder(folder)
    check_bool("progress", progress)

    train_x, _ = load_images("mnist", "train")
    test_x, test_y = load_images("mnist", "test")
    if images is not None:
        pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
        train_x = train_x[pick[:images]]
    model, history = fit(
        train_x, _MNIST["charts"], _MNIST["dim"], _MNIST["regulariser"], seed, epochs, folder,
        "mnist", hidden=_MNIST["hidden"], progress=progress,
    )  # fmt: skip
    with torch.no_grad():
        qs = [model.encode(chunk).q for chunk in test_x.split(1000)]
    q = torch.cat(qs).double().numpy()
    q /= q.sum(axis=1, keepdims=True)
    chart = q.argmax(axis=1)
    k = _MNIST["charts"]
    counts = np.zeros((k, 10), dtype=int)
    np.add.at(counts, (chart, test_y.numpy()), 1)
    axes = torch.linspace(0.05, 0.95, _MNIST["grid"])
    grid = torch.cartesian_prod(axes, axes)
    with torch.no_grad():
        decoded = model.decode(grid[:, None, :].expand(-1, k, -1).contiguous())
    return {
        "history": history,
        "train_images": len(train_x),
        "overlaps": pair_overlaps(q).round(5).tolist(),
        "counts": counts.tolist(),
        "grids": decoded[:, :, 0].transpose(0, 1).numpy().round(3).tolist(),  # (k, G, S, S)
        "entropy": round(_entropy(q), 4),
    }


def run(
    profile: str,
    seed: int = 0,
    results_root: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Compute every number of the chapter.

    Parameters
    ----------
    profile : {"smoke", "full"}
    seed : int
        Seeds the MNIST subset and model, in [0, :data:`toposhape.training.MAX_SEED`];
        the manifold runs use the profile's seeds.
    results_root : path, optional
        Results folder; checkpoints go to :func:`work_dir`, so an interrupted run resumes.
    progress : bool
        Progress bars for the long trainings.
    log : callable or None
        Receives one line per finished phase.

    Returns
    -------
    dict
        JSON-serialisable payload.
    """
    settings = get_profile(profile)
    seed = check_int("seed", seed, 0, MAX_SEED)
    check_path("results_root", results_root)
    check_bool("progress", progress)
    check_callable("log", log, optional=True)
    say = log or (lambda _msg: None)
    folder = work_dir(profile, results_root)
    timings: dict[str, float] = {}
    runs = []
    jobs = [
        (name, reg, s) for name in settings["manifolds"] for reg in REGULARISERS
        for s in settings["seeds"]
    ]  # fmt: skip
    from tqdm.auto import tqdm

    started = time.perf_counter()
    for name, reg, s in tqdm(jobs, desc="manifold atlases", disable=not progress):
        runs.append(manifold_study(name, reg, s, settings["points"], settings["epochs"], folder))
    timings["manifolds"] = round(time.perf_counter() - started, 1)
    say(f"manifolds: {timings['manifolds']:.0f} s")
    started = time.perf_counter()
    torus3 = torus3_study(
        settings["torus3_dims"], settings["torus3_seeds"], settings["points"],
        settings["torus3_epochs"], folder,
    )  # fmt: skip
    timings["torus3"] = round(time.perf_counter() - started, 1)
    say(f"T³: {timings['torus3']:.0f} s")
    started = time.perf_counter()
    mnist = mnist_study(settings["mnist_images"], settings["mnist_epochs"], seed, folder, progress)
    timings["mnist"] = round(time.perf_counter() - started, 1)
    say(f"MNIST: {timings['mnist']:.0f} s")
    return {
        "profile": profile,
        "settings": settings,
        "setups": SETUPS,
        "regularisers": REGULARISERS,
        "long_bar": LONG_BAR,
        "nerve_rule": NERVE_RULE,
        "mnist_setup": _MNIST,
        "manifolds": runs,
        "torus3": torus3,
        "mnist": mnist,
        "timings_s": timings,
    }


# ---------------------------------------------------------------------------
# Figures, tables and claims, from a payload only
# ---------------------------------------------------------------------------


def _first(payload: Mapping[str, Any], name: str, reg: str) -> Mapping[str, Any]:
    return next(
        r for r in payload["manifolds"] if r["manifold"] == name and r["regulariser"] == reg
    )


def plot_charts(payload: Mapping[str, Any]) -> Figure:
    """Data coloured by chart (argmax q) with every chart's decoded grid, first seed."""
    check_mapping("payload", payload, "settings", "regularisers", "manifolds")
    names = payload["settings"]["manifolds"]
    regs = list(payload["regularisers"])
    fig = Figure(figsize=(4.2 * len(names), 4 * len(regs)))
    for row, reg in enumerate(regs):
        for col, name in enumerate(names):
            r = _first(payload, name, reg)
            x = np.asarray(r["sample"]["x"])
            chart = np.asarray(r["sample"]["chart"])
            grids = np.asarray(r["chart_grids"])
            dim = SETUPS[name]["dim"]
            three_d = x.shape[1] == 3
            ax = fig.add_subplot(
                len(regs), len(names), row * len(names) + col + 1,
                projection="3d" if three_d else None,
            )  # fmt: skip
            if x.shape[1] > 3:  # RP² in R⁶: draw the hemisphere representative
                x = np.asarray(r["sample"]["params"])
                three_d = True
                ax.remove()
                ax = fig.add_subplot(
                    len(regs), len(names), row * len(names) + col + 1, projection="3d"
                )
            coords = x.T if three_d else x.T[:2]
            ax.scatter(*coords, c=chart, cmap="tab10", s=4, vmin=0, vmax=9)
            if grids.shape[2] == x.shape[1]:
                for j, g in enumerate(grids):
                    if dim == 1:
                        ax.plot(*g.T, color=f"C{j}", lw=1.5)
                    else:
                        side = math.isqrt(len(g))
                        m = g.reshape(side, side, -1)
                        ax.plot_wireframe(*(m[..., i] for i in range(3)), color=f"C{j}", lw=0.4)
            low, high = x.min(axis=0), x.max(axis=0)
            pad = 0.15 * (high - low)
            ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
            ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
            if three_d:
                ax.set_zlim(low[2] - pad[2], high[2] + pad[2])
            ax.set_title(f"{name}, {reg}: usage " + " ".join(f"{u:.2f}" for u in r["usage"]),
                         fontsize=8)  # fmt: skip
            if not three_d:
                ax.set_aspect("equal")
    fig.suptitle("points coloured by their chart; lines: each chart's decoder over [0,1]^d")
    fig.tight_layout()
    return fig


def plot_barcode_grid(payload: Mapping[str, Any]) -> Figure:
    """Barcodes (log scale, Z/2) of the first seed per manifold × regulariser, and RP² over Z/3."""
    check_mapping("payload", payload, "settings", "regularisers", "manifolds")
    names = payload["settings"]["manifolds"]
    regs = list(payload["regularisers"])
    extra = 1 if "rp2" in names else 0
    fig = Figure(figsize=(4 * (len(names) + extra), 3.2 * len(regs)))
    axes = fig.subplots(len(regs), len(names) + extra, squeeze=False)
    for row, reg in enumerate(regs):
        for col, name in enumerate(names):
            r = _first(payload, name, reg)
            plot_barcodes(
                _unbars(r["bars_z2"]), ax=axes[row, col], scale="log",
                title=f"{name}, {reg}, Z/2: β = {tuple(r['betti_z2'])}",
            )  # fmt: skip
        if extra:
            r = _first(payload, "rp2", reg)
            plot_barcodes(
                _unbars(r["bars_z3"]), ax=axes[row, -1], scale="log",
                title=f"rp2, {reg}, Z/3: β = {tuple(r['betti_z3'])}",
            )  # fmt: skip
    fig.tight_layout()
    return fig


def _torus3_final(payload: Mapping[str, Any]) -> dict[int, dict[str, np.ndarray]]:
    out: dict[int, dict[str, list]] = {}
    for r in payload["torus3"]:
        last = r["history"][-1]
        d = out.setdefault(r["dim"], {"reconstruction": [], "regulariser": []})
        d["reconstruction"].append(last["reconstruction"])
        d["regulariser"].append(last["regulariser"])
    return {k: {m: np.asarray(v) for m, v in d.items()} for k, d in sorted(out.items())}


def plot_torus3(payload: Mapping[str, Any]) -> Figure:
    """T³ ⊂ R⁶: reconstruction and encoder GAN loss per epoch (mean over seeds), per d."""
    check_mapping("payload", payload, "torus3")
    fig = Figure(figsize=(12, 3.8))
    ax_rec, ax_gan, ax_end = fig.subplots(1, 3)
    dims = sorted({r["dim"] for r in payload["torus3"]})
    for i, dim in enumerate(dims):
        hs = [r["history"] for r in payload["torus3"] if r["dim"] == dim]
        epochs = [h["epoch"] for h in hs[0]]
        for ax, key in ((ax_rec, "reconstruction"), (ax_gan, "regulariser")):
            mean = np.mean([[h[key] for h in hist] for hist in hs], axis=0)
            ax.plot(epochs, mean, color=f"C{i}", label=f"d = {dim}")
    ax_rec.set_yscale("log")
    ax_rec.set(xlabel="epoch", ylabel="reconstruction (MSE)", title="reconstruction")
    ax_gan.axhline(math.log(2), color="k", ls=":", label="log 2 (ideal)")
    ax_gan.set(xlabel="epoch", ylabel="encoder GAN loss", title="encoder's GAN loss")
    ax_gan.legend(fontsize=8)
    final = _torus3_final(payload)
    ds = list(final)
    rec = [final[d]["reconstruction"] for d in ds]
    gan = [final[d]["regulariser"] for d in ds]
    ax_end.errorbar(ds, [r.mean() for r in rec], [r.std() for r in rec], marker="o",
                    color="tab:blue", capsize=3)  # fmt: skip
    ax_end.set_yscale("log")
    ax_end.set(xlabel="chart dimension d", title="last epoch (mean ± std over seeds)")
    ax_end.set_ylabel("reconstruction", color="tab:blue")
    twin = ax_end.twinx()
    twin.errorbar(ds, [g.mean() for g in gan], [g.std() for g in gan], marker="s",
                  color="tab:red", capsize=3)  # fmt: skip
    twin.axhline(math.log(2), color="tab:red", ls=":")
    twin.set_ylabel("encoder GAN loss (dotted: log 2)", color="tab:red")
    ax_end.axvline(3, color="gray", lw=0.8, ls="--")
    fig.tight_layout()
    return fig


def plot_mnist_graph(payload: Mapping[str, Any]) -> Figure:
    """The 15 MNIST charts, each as its decoded grid, on a circle; edges weighted by u."""
    check_mapping("payload", payload, "mnist")
    m = payload["mnist"]
    grids = np.asarray(m["grids"])  # (k, G, S, S)
    k, g, s = grids.shape[0], grids.shape[1], grids.shape[2]
    side = math.isqrt(g)
    u = np.asarray(m["overlaps"])
    fig = Figure(figsize=(10, 10))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.axis("off")
    off = u - np.diag(np.diag(u))
    # charts around the circle in the angular order of a spectral layout of the overlap
    # graph, so that strongly overlapping charts tend to sit side by side
    laplacian = np.diag(off.sum(axis=1)) - off
    vectors = np.linalg.eigh(laplacian)[1]
    order = np.argsort(np.arctan2(vectors[:, 2], vectors[:, 1]))
    angles = np.empty(k)
    angles[order] = np.pi / 2 - 2 * np.pi * np.arange(k) / k
    pos = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    top = off.max() if off.max() > 0 else 1.0
    for i in range(k):
        for j in range(i + 1, k):
            if off[i, j] >= 0.1 * top:
                ax.plot(*pos[[i, j]].T, color="tab:blue", alpha=0.6,
                        lw=10 * off[i, j] / top, zorder=1)  # fmt: skip
    counts = np.asarray(m["counts"])
    half = 0.13
    for i in range(k):
        tile = grids[i].reshape(side, side, s, s).transpose(0, 2, 1, 3).reshape(side * s, side * s)
        tile = tile[::-1]  # second coordinate upwards
        x, y = pos[i]
        ax.imshow(tile, cmap="gray_r", extent=(x - half, x + half, y - half, y + half), zorder=3)
        label = f"{i}: " + (f"mostly {counts[i].argmax()}" if counts[i].sum() else "unused")
        ax.text(x, y - half - 0.02, label, ha="center", va="top", fontsize=8, zorder=4)
    ax.set_title(
        "MNIST atlas (d = 2, k = 15): charts decoded over [0,1]²; lines: overlaps u ≥ 10 % of "
        "the largest",
        y=0.97,
    )
    return fig


def plot_all(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, by name."""
    check_mapping("payload", payload, "settings", "regularisers", "manifolds", "torus3", "mnist")
    return {
        "charts": plot_charts(payload),
        "barcodes": plot_barcode_grid(payload),
        "torus3": plot_torus3(payload),
        "mnist_graph": plot_mnist_graph(payload),
    }


def _summary(payload: Mapping[str, Any], name: str, reg: str) -> dict[str, Any]:
    runs = [r for r in payload["manifolds"] if r["manifold"] == name and r["regulariser"] == reg]
    rec = np.asarray([r["reconstruction"] for r in runs])
    used = [sum(u > 0.5 / len(r["usage"]) for u in r["usage"]) for r in runs]
    return {
        "runs": len(runs),
        "correct": sum(r["correct"] for r in runs),
        "rec": rec,
        "used": used,
        "betti": [tuple(r["betti_z2"]) for r in runs],
        "betti_z3": [tuple(r["betti_z3"]) for r in runs],
    }


def markdown_tables(payload: Mapping[str, Any]) -> dict[str, str]:
    """The chapter's tables (Markdown), by name."""
    check_mapping("payload", payload, "settings", "regularisers", "manifolds", "torus3", "mnist")
    rows = []
    for name in payload["settings"]["manifolds"]:
        truth = MANIFOLDS[name]
        for reg in payload["regularisers"]:
            s = _summary(payload, name, reg)
            found = ", ".join(str(b) for b in s["betti"])
            if name == "rp2":
                found += " / Z/3: " + ", ".join(str(b) for b in s["betti_z3"])
            rows.append([
                name, f"k={SETUPS[name]['charts']}, d={SETUPS[name]['dim']}", reg,
                f"{s['correct']}/{s['runs']}", found,
                str(truth.betti_z2) + (f" / Z/3: {truth.betti_z3}" if name == "rp2" else ""),
                f"{s['rec'].mean():.4f} ± {s['rec'].std():.4f}",
                ", ".join(map(str, s["used"])),
            ])  # fmt: skip
    homology = markdown_table(
        ["manifold", "atlas", "regulariser", "homology recovered", "long bars found (Z/2)",
         "truth", "reconstruction (MSE)", "charts in use"],
        rows,
    )  # fmt: skip
    final = _torus3_final(payload)
    torus3 = markdown_table(
        ["d", "reconstruction (MSE)", "encoder GAN loss", "|GAN loss − log 2|"],
        [
            [d, f"{v['reconstruction'].mean():.4f} ± {v['reconstruction'].std():.4f}",
             f"{v['regulariser'].mean():.3f} ± {v['regulariser'].std():.3f}",
             f"{abs(v['regulariser'].mean() - math.log(2)):.3f}"]
            for d, v in final.items()
        ],
    )  # fmt: skip
    counts = np.asarray(payload["mnist"]["counts"])
    mnist_rows = []
    for i, c in enumerate(counts):
        total = int(c.sum())
        top = np.argsort(c)[::-1][:3]
        mnist_rows.append([
            i, total, ", ".join(f"{d} ({c[d] / total:.0%})" for d in top if c[d]) if total else "—",
        ])  # fmt: skip
    purity = counts.max(axis=1).sum() / max(counts.sum(), 1)
    mnist = markdown_table(["chart", "test images", "digits (share of the chart)"], mnist_rows)
    mnist += (
        f"\n\nPurity (share of test images whose chart's majority digit is theirs): {purity:.1%}"
    )
    return {"homology": homology, "torus3": torus3, "mnist": mnist}


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's claims, answered yes/no from the payload's numbers.

    Returns
    -------
    dict
        ``"homology"``: per manifold and GAN vs MMD; ``"torus3"``: the intrinsic-dimension
        reading (empty with fewer than three dimensions).
    """
    check_mapping("payload", payload, "settings", "regularisers", "manifolds", "torus3")
    lines = []
    for name in payload["settings"]["manifolds"]:
        rates = {reg: _summary(payload, name, reg) for reg in payload["regularisers"]}
        text = ", ".join(f"{reg} {s['correct']}/{s['runs']}" for reg, s in rates.items())
        best = max(rates.values(), key=lambda s: s["correct"])
        lines.append(
            f"{name}: homology recovered by the nerve in at least half of the seeds: "
            f"**{'yes' if 2 * best['correct'] >= best['runs'] else 'no'}** ({text})."
        )
    gan, mmd = (
        sum(_summary(payload, n, reg)["correct"] for n in payload["settings"]["manifolds"])
        for reg in ("gan", "mmd")
    )
    spread = {
        reg: float(np.mean([
            _summary(payload, n, reg)["rec"].std() / max(_summary(payload, n, reg)["rec"].mean(),
                                                         1e-12)
            for n in payload["settings"]["manifolds"]
        ]))
        for reg in ("gan", "mmd")
    }  # fmt: skip
    lines.append(
        "MMD recovers the homology at least as often as the GAN: "
        f"**{'yes' if mmd >= gan else 'no'}** ({mmd} vs {gan} correct runs)."
    )
    lines.append(
        "MMD is more stable across seeds (smaller relative spread of the reconstruction "
        f"error): **{'yes' if spread['mmd'] < spread['gan'] else 'no'}** "
        f"(coefficient of variation {spread['mmd']:.2f} vs {spread['gan']:.2f})."
    )
    in_use = {
        reg: [
            u for n in payload["settings"]["manifolds"] for u in _summary(payload, n, reg)["used"]
        ]
        for reg in ("gan", "mmd")
    }
    full = {
        reg: sum(
            u == SETUPS[n]["charts"]
            for n in payload["settings"]["manifolds"]
            for u in _summary(payload, n, reg)["used"]
        )
        for reg in ("gan", "mmd")
    }
    lines.append(
        "MMD keeps every chart in use (at least half its fair share of the points) more often "
        f"than the GAN: **{'yes' if full['mmd'] > full['gan'] else 'no'}** (all k charts in use "
        f"in {full['mmd']}/{len(in_use['mmd'])} MMD runs vs {full['gan']}/{len(in_use['gan'])} "
        "GAN runs)."
    )
    final = _torus3_final(payload)
    dims = list(final)
    torus3 = []
    gap = {d: abs(v["regulariser"].mean() - math.log(2)) for d, v in final.items()}
    rec = {d: v["reconstruction"].mean() for d, v in final.items()}
    if len(dims) > 2:
        drop = {d: rec[d] / rec[d - 1] for d in dims if d - 1 in rec}
        biggest = min(drop, key=drop.get)
        closest = min(gap, key=gap.get)
        torus3.append(
            f"T³: the encoder's GAN loss is closest to log 2 at d = {closest}; the largest "
            f"relative drop of the reconstruction error comes on reaching d = {biggest}; "
            f"both single out the true d = 3: **{'yes' if closest == 3 == biggest else 'no'}**."
        )
    return {"homology": lines, "torus3": torus3}
