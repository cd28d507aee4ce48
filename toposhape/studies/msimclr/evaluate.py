"""How the chapter evaluates a representation: the same probes for every model and floor.

Every representation (a trained SimCLR's embedding, a trained MSimCLR's chart one-hot and
coordinates, :func:`toposhape.contrastive.representation`; the first d principal
components of the pixels; an untrained network's embedding) is read by the same two
probes, trained on the training split and scored on the test split:

* ``linear``: :func:`toposhape.contrastive.linear_probe` (logistic regression on
  standardised features);
* ``knn``: :func:`toposhape.contrastive.knn_probe` (k nearest neighbours, Euclidean, on the
  features as they are).

MSimCLR is also scored with the reference's own evaluation, one linear classifier per
chart (:func:`toposhape.contrastive.chart_probe`). Results are cached beside the
checkpoints, keyed by the weights and the data fingerprints, so a rerun evaluates only
what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from toposhape.checks import check_images, check_int, check_mapping, check_tensor
from toposhape.contrastive import (
    MSimCLRModel,
    SimCLRModel,
    build_simclr,
    chart_probe,
    features,
    knn_probe,
    linear_probe,
    representation,
)
from toposhape.results import cached
from toposhape.studies.msimclr.run import Data, Fitted
from toposhape.studies.msimclr.schedule import ModelSpec, model_keys
from toposhape.training import tensor_digest

__all__ = [
    "EVALUATION",
    "alive_units",
    "collapsed_heads",
    "evaluate_dataset",
    "evaluate_model",
    "pca_floor",
    "probes",
]

#: Version of what an evaluation computes; part of every cache key.
EVALUATION = "msimclr-evaluation/1"


def probes(
    train_feats: torch.Tensor | np.ndarray,
    test_feats: torch.Tensor | np.ndarray,
    data: Data,
    neighbours: int,
    seed: int,
) -> dict[str, float]:
    """Test accuracy of the linear and the k-NN probe on one representation.

    Parameters
    ----------
    train_feats, test_feats : array, shape (N, D) and (M, D)
        The representation of ``data``'s training and test images.
    data : Data
        Labels (N,) and (M,).
    neighbours : int
        k of the k-NN probe.
    seed : int
        ``random_state`` of the logistic regression.
    """
    return {
        "linear": linear_probe(train_feats, data.train_y, test_feats, data.test_y, seed),
        "knn": knn_probe(train_feats, data.train_y, test_feats, data.test_y, neighbours),
    }


def alive_units(model: SimCLRModel, embeddings: torch.Tensor) -> int:
    """Hidden units of SimCLR's projection head that are positive on at least one embedding.

    The head d → h → proj_dim has no bias and a ReLU. With at most one unit alive every
    projection is a non-negative multiple of one vector: all cosine similarities are 1
    (or 0), NT-Xent equals log(2B − 1) and, the cosine ignoring the scale, its gradient
    vanishes, so the model stops training (a collapsed head).

    Parameters
    ----------
    model : SimCLRModel
    embeddings : Tensor, shape (N, d)
        Outputs of ``model.embed``: N >= 1, finite, of the head's dtype (any device; they
        are moved to the model's).
    """
    if not isinstance(model, SimCLRModel):
        raise TypeError(f"model must be a SimCLRModel, got {type(model).__name__}")
    weight = model.head[0].weight
    embeddings = check_tensor("embeddings", embeddings, ndim=2, finite=True, min_rows=1)
    if embeddings.dtype != weight.dtype:
        raise TypeError(f"embeddings must be {weight.dtype} like the model, got {embeddings.dtype}")
    if embeddings.shape[1] != weight.shape[1]:
        raise ValueError(
            f"embeddings must have shape (N, {weight.shape[1]}), got {tuple(embeddings.shape)}"
        )
    with torch.no_grad():
        hidden = model.head[0](embeddings.to(weight.device))
    return int((hidden > 0).any(dim=0).sum())


def collapsed_heads(
    settings: Mapping[str, Any], images: torch.Tensor, seeds: int
) -> dict[str, float]:
    """How often a freshly initialised reference SimCLR head is already collapsed, per d.

    Parameters
    ----------
    settings : mapping
        A profile's settings (``backbone``, ``dims``).
    images : Tensor, shape (N, C, H, W)
        Images the fresh models embed: N >= 1, square, floating in [0, 1], on the CPU.
    seeds : int
        Initialisations tried per d (seeds 0 … seeds − 1), >= 1.

    Returns
    -------
    dict
        ``"d{d}"`` → the share of seeds with at most one unit alive (:func:`alive_units`).
    """
    check_mapping("settings", settings, "backbone", "dims")
    dims = [check_int(f"settings['dims'][{i}]", d, 1) for i, d in enumerate(settings["dims"])]
    images = check_images("images", images, uint8=False, min_rows=1)
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be square, got shape {tuple(images.shape)}")
    if images.device.type != "cpu":
        raise ValueError(f"images must be on the CPU (the fresh models are), got {images.device}")
    seeds = check_int("seeds", seeds, 1)
    channels, side = images.shape[1], images.shape[-1]
    out = {}
    for d in dims:
        collapsed = 0
        for seed in range(seeds):
            model = build_simclr(settings["backbone"], channels, side, dim=d, seed=seed).eval()
            with torch.no_grad():
                collapsed += int(alive_units(model, model.embed(images)) <= 1)
        out[f"d{d}"] = collapsed / seeds
    return out


def evaluate_model(
    model: SimCLRModel | MSimCLRModel,
    data: Data,
    neighbours: int,
    seed: int,
    plot_points: int,
) -> dict[str, Any]:
    """Every number of one model (trained or not) on one dataset.

    Returns
    -------
    dict
        ``linear`` and ``knn`` (:func:`probes` on :func:`~toposhape.contrastive.representation`);
        SimCLR: ``alive_units`` of its head on the test images; MSimCLR: ``chart_probe`` (the
        per-chart classifiers' accuracy) and ``test_counts`` (test points per chart). At
        d = 2 also ``points``, the first ``plot_points`` test points' representation
        (SimCLR: the embedding; MSimCLR: the coordinates in their chart, with
        ``point_charts``).
    """
    train_f, test_f = features(model, data.train_x), features(model, data.test_x)
    train_r, test_r = representation(model, train_f), representation(model, test_f)
    out: dict[str, Any] = probes(train_r, test_r, data, neighbours, seed)
    if isinstance(model, SimCLRModel):
        out["alive_units"] = alive_units(model, test_f["embedding"])
        shown = test_f["embedding"]
    else:
        probe = chart_probe(
            train_f["chart"], train_f["coords"], data.train_y,
            test_f["chart"], test_f["coords"], data.test_y, seed, charts=model.charts,
        )  # fmt: skip
        out["chart_probe"] = probe["accuracy"]
        out["test_counts"] = probe["test_counts"]
        shown = test_f["coords"]
    if model.dim == 2:
        out["points"] = np.round(shown[:plot_points].numpy(), 4).tolist()
        if isinstance(model, MSimCLRModel):
            out["point_charts"] = test_f["chart"][:plot_points].tolist()
    return out


def pca_floor(data: Data, dim: int, neighbours: int) -> dict[str, float]:
    """The probes on the first ``dim`` principal components of the pixels.

    scikit-learn's ``PCA(dim, svd_solver="randomized", random_state=0)`` fitted on the
    flattened training images; no training, no labels.
    """
    check_int("dim", dim, 1)
    flat = data.train_x.flatten(1).numpy()
    pca = PCA(dim, svd_solver="randomized", random_state=0).fit(flat)
    train = pca.transform(flat).astype(np.float32)
    test = pca.transform(data.test_x.flatten(1).numpy()).astype(np.float32)
    return probes(train, test, data, neighbours, seed=0)


def _data_key(data: Data, settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "evaluation": EVALUATION,
        "train": data.records["train"]["fingerprint"],
        "test": data.records["test"]["fingerprint"],
        "images": [len(data.train_x), len(data.test_x)],
        "knn": settings["knn"],
    }


def evaluate_dataset(
    dataset: str,
    settings: Mapping[str, Any],
    data: Data,
    fitted: Mapping[ModelSpec, Fitted],
    folder: Path,
) -> dict[str, Any]:
    """The payload entry of one dataset: every finished model and both floors.

    Parameters
    ----------
    dataset : str
    settings : mapping
        The profile's settings.
    data : Data
        The dataset as the models were trained on it.
    fitted : mapping of ModelSpec to Fitted
        The finished models of this dataset (any subset of the profile's).
    folder : Path
        The profile's work folder; the cache is its ``evaluation`` subfolder.

    Returns
    -------
    dict
        ``train``, ``test`` (data records), ``models`` (key → ``charts``, ``dim``,
        ``hidden``, ``seeds`` → seed → evaluation | ``history`` | ``criterion``),
        ``floors`` (``pca`` → ``d{d}`` → probes; ``random`` → ``d{d}`` → seed → probes),
        ``labels`` (the plotted test points' classes) and ``collapsed_at_init``.
    """
    cache = folder / "evaluation"
    cache.mkdir(parents=True, exist_ok=True)
    base = _data_key(data, settings)
    points, neighbours = settings["plot_points"], settings["knn"]
    plotted_seed = settings["seeds"][0]
    models: dict[str, Any] = {
        key: {"charts": k, "dim": d, "hidden": hidden, "seeds": {}}
        for key, k, d, hidden in model_keys(settings)
    }
    for spec, (model, history, criterion) in fitted.items():
        if spec.dataset != dataset:
            raise ValueError(f"fitted holds {spec.name}, not a model of {dataset!r}")
        state = model.state_dict()
        plot = points if spec.seed == plotted_seed else 0
        key = base | {
            "weights": tensor_digest(*(state[name] for name in sorted(state))),
            "seed": spec.seed,
            "plot_points": plot,
        }
        result = cached(
            cache,
            key,
            lambda m=model, s=spec.seed, p=plot: evaluate_model(m, data, neighbours, s, p),
        )
        models[spec.key]["seeds"][str(spec.seed)] = result | {
            "history": history,
            "criterion": criterion,
        }
    channels, side = data.train_x.shape[1], data.train_x.shape[-1]
    floors: dict[str, Any] = {"pca": {}, "random": {}}
    for d in settings["dims"]:
        floors["pca"][f"d{d}"] = cached(
            cache, base | {"floor": "pca", "dim": d}, lambda d=d: pca_floor(data, d, neighbours)
        )
        floors["random"][f"d{d}"] = {}
        for seed in settings["seeds"]:

            def untrained(d: int = d, seed: int = seed) -> dict[str, float]:
                model = build_simclr(settings["backbone"], channels, side, dim=d, seed=seed).eval()
                train = features(model, data.train_x)["embedding"]
                test = features(model, data.test_x)["embedding"]
                return probes(train, test, data, neighbours, seed)

            key = base | {
                "floor": "random",
                "backbone": settings["backbone"],
                "dim": d,
                "seed": seed,
            }
            floors["random"][f"d{d}"][str(seed)] = cached(cache, key, untrained)
    return {
        "train": data.records["train"],
        "test": data.records["test"],
        "models": models,
        "floors": floors,
        "labels": data.test_y[:points].tolist(),
        "collapsed_at_init": collapsed_heads(settings, data.test_x[:256], settings["init_seeds"]),
    }
