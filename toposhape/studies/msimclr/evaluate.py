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
chart (:func:`toposhape.contrastive.chart_probe`).

What the chapter needs is kept in two kinds of record (small JSON, committed under
:func:`toposhape.results.records_dir`, written by :mod:`~toposhape.studies.msimclr.run`):
:func:`model_record`, everything read from one trained model, written as soon as it
finishes training; and :func:`dataset_record`, the floors and what is drawn from the data
alone, once per dataset. :func:`dataset_entry` builds a dataset's payload entry from
records alone, so nothing is evaluated twice and no checkpoint is needed once a model's
record exists.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from toposhape.studies.msimclr.run import Data, Fitted
from toposhape.studies.msimclr.schedule import ModelSpec, model_keys
from toposhape.training import state_digest

__all__ = [
    "alive_units",
    "collapsed_heads",
    "dataset_entry",
    "dataset_record",
    "evaluate_model",
    "model_record",
    "pca_floor",
    "probes",
    "untrained_floor",
]


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


def untrained_floor(
    data: Data, backbone: str, dim: int, seed: int, neighbours: int
) -> dict[str, float]:
    """The probes on the embedding of an untrained reference SimCLR.

    Its weights are those :func:`toposhape.contrastive.build_simclr` draws from ``seed``
    (the initial weights of the trained ``simclr-d{dim}`` of that seed).
    """
    channels, side = data.train_x.shape[1], data.train_x.shape[-1]
    model = build_simclr(backbone, channels, side, dim=dim, seed=seed).eval()
    train = features(model, data.train_x)["embedding"]
    test = features(model, data.test_x)["embedding"]
    return probes(train, test, data, neighbours, seed)


def _fingerprints(data: Data) -> dict[str, str]:
    return {split: data.records[split]["fingerprint"] for split in ("train", "test")}


def model_record(
    spec: ModelSpec, fitted: Fitted, data: Data, neighbours: int, points: int
) -> dict[str, Any]:
    """Everything the chapter reads from one finished model (its record).

    Parameters
    ----------
    spec : ModelSpec
    fitted : Fitted
        The finished model of ``spec``.
    data : Data
        The dataset it was trained on.
    neighbours : int
        k of the k-NN probe.
    points : int
        Test points whose representation is kept for the figures (0: none).

    Returns
    -------
    dict
        ``evaluation`` (:func:`evaluate_model`, with ``spec.seed`` as the probes' seed),
        ``history`` and ``criterion`` (of ``fitted``), ``weights`` (sha256 of the state dict,
        :func:`toposhape.training.state_digest`) and ``data`` (``train`` / ``test`` →
        fingerprint of the files the splits were read from).
    """
    model, history, criterion = fitted
    return {
        "evaluation": evaluate_model(model, data, neighbours, spec.seed, points),
        "history": history,
        "criterion": criterion,
        "weights": state_digest(model),
        "data": _fingerprints(data),
    }


def dataset_record(settings: Mapping[str, Any], data: Data) -> dict[str, Any]:
    """What the chapter needs of one dataset besides its models: nothing is trained.

    Returns
    -------
    dict
        ``train``, ``test`` (data records), ``floors`` (``pca`` → ``d{d}`` →
        :func:`pca_floor`; ``random`` → ``d{d}`` → seed → :func:`untrained_floor`, for every
        d and training seed of ``settings``), ``labels`` (the classes of the first
        ``plot_points`` test points) and ``collapsed_at_init`` (:func:`collapsed_heads` on
        the first 256 test images, ``init_seeds`` initialisations).
    """
    neighbours, dims = settings["knn"], settings["dims"]
    return {
        "train": data.records["train"],
        "test": data.records["test"],
        "floors": {
            "pca": {f"d{d}": pca_floor(data, d, neighbours) for d in dims},
            "random": {
                f"d{d}": {
                    str(seed): untrained_floor(data, settings["backbone"], d, seed, neighbours)
                    for seed in settings["seeds"]
                }
                for d in dims
            },
        },
        "labels": data.test_y[: settings["plot_points"]].tolist(),
        "collapsed_at_init": collapsed_heads(settings, data.test_x[:256], settings["init_seeds"]),
    }


def dataset_entry(
    dataset: str,
    settings: Mapping[str, Any],
    base: Mapping[str, Any],
    models: Mapping[ModelSpec, Mapping[str, Any]],
) -> dict[str, Any]:
    """The payload entry of one dataset, from its records alone.

    Parameters
    ----------
    dataset : str
    settings : mapping
        The profile's settings.
    base : mapping
        The dataset's :func:`dataset_record`.
    models : mapping of ModelSpec to mapping
        The :func:`model_record` of every finished model of this dataset (any subset of
        the profile's), in the order their seeds are listed.

    Returns
    -------
    dict
        ``train``, ``test`` (data records), ``models`` (key → ``charts``, ``dim``,
        ``hidden``, ``seeds`` → seed → evaluation | ``history`` | ``criterion``),
        ``floors``, ``labels`` and ``collapsed_at_init`` (from ``base``).

    Raises
    ------
    ValueError
        If a model of another dataset is given, or a model record was made from other
        data files than ``base`` (its points would not match the labels).
    """
    expected = {split: base[split]["fingerprint"] for split in ("train", "test")}
    entry: dict[str, Any] = {
        key: {"charts": k, "dim": d, "hidden": hidden, "seeds": {}}
        for key, k, d, hidden in model_keys(settings)
    }
    for spec, record in models.items():
        if spec.dataset != dataset:
            raise ValueError(f"models holds {spec.name}, not a model of {dataset!r}")
        if record["data"] != expected:
            raise ValueError(
                f"the record of {spec.name} was made from other {dataset} files "
                f"({record['data']}) than the dataset's record ({expected}); delete the "
                "records made from the files no longer in use and run again"
            )
        entry[spec.key]["seeds"][str(spec.seed)] = record["evaluation"] | {
            "history": record["history"],
            "criterion": record["criterion"],
        }
    return {
        "train": base["train"],
        "test": base["test"],
        "models": entry,
        "floors": base["floors"],
        "labels": base["labels"],
        "collapsed_at_init": base["collapsed_at_init"],
    }
