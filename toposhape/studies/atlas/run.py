"""The experiments of the chapter "Atlases" (Korman, "Autoencoding topology", 2018).

:func:`run` trains every model and measures every number of the chapter, returning the
JSON-serialisable payload that :func:`toposhape.results.save_results` writes to
``results/atlas/<profile>.json``; :mod:`toposhape.studies.atlas.report` draws it.

* Known manifolds (:data:`toposhape.manifolds.MANIFOLDS`): atlas WAEs with the GAN and
  with the MMD regulariser, several seeds each; the nerve's barcodes over Z/2 (and Z/3
  for RP²) and whether their long bars give the manifold's Betti numbers.
* Intrinsic dimension: the 3-torus T³ ⊂ R⁶ fitted with d = 1..5; final reconstruction
  loss and the encoder's GAN loss (ideal log 2) per d.
* MNIST with d = 2, k = 15: decoded chart grids, chart overlaps, chart/digit table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.atlas import AtlasAutoencoder, AtlasConfig, train_atlas
from toposhape.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_optional_int,
    check_path,
    check_sequence,
    check_tensor,
)
from toposhape.manifolds import MANIFOLDS, sample_manifold
from toposhape.nerve import nerve_persistence, pair_overlaps, persistent_betti
from toposhape.results import profile_settings
from toposhape.results import work_dir as chapter_work_dir
from toposhape.training import MAX_SEED, seeded

__all__ = [
    "CHAPTER",
    "LONG_BAR",
    "NERVE_RULE",
    "PROFILES",
    "REGULARISERS",
    "SETUPS",
    "TORUS3_CHARTS",
    "fit",
    "get_profile",
    "manifold_study",
    "mnist_study",
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
#: Charts k of every T³ atlas (the chart dimension d is what the T³ study varies).
TORUS3_CHARTS = 8


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
                x, TORUS3_CHARTS, dim, "gan", seed, epochs, folder, f"torus3-d{dim}-s{seed}"
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
