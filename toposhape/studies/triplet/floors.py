"""The trivial floors of the triplet study: retrieval on the pixels themselves, no training.

Every model's R@k is retrieval among the held-out classes' test images (``splits["test"]``),
each query against all the others, by :func:`toposhape.triplet.retrieval_metrics`. The
floors are read on exactly those images, by the same function with the same k and MAP@R,
under the Euclidean distance of L2-normalised vectors (how the sphere S^d is read):

* ``pixels``: the flattened pixels, L2-normalised;
* ``pca``: the first w principal components of the pixels, L2-normalised, for every width
  w of :func:`~toposhape.studies.triplet.protocol.floor_widths` (every read of the grid
  has a floor of at least its bytes). scikit-learn's ``PCA(svd_solver="covariance_eigh")``
  (exact, no random draw) is fitted on ``splits["train"]`` alone, the training classes'
  training images the models train on: nothing of the held-out classes enters it.

Deterministic; seconds to a minute per dataset. One record per dataset and profile,
``<results>/triplet/<profile>/records/<dataset>-floors.json`` (:func:`write_floors`), valid
for its key (:func:`floors_key`); the training command and
:func:`~toposhape.studies.triplet.run.run` write it when it is missing.
"""

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from toposhape.baselines import flatten_pixels
from toposhape.checks import check_choice, check_images, check_int, check_labels, check_sequence
from toposhape.compression import embedding_bytes
from toposhape.results import load_record, save_record
from toposhape.studies.triplet.data import Split
from toposhape.studies.triplet.protocol import TRAIN_CLASSES, floor_widths
from toposhape.studies.triplet.train import KS, RECORD_FORMAT, records_folder
from toposhape.triplet import retrieval_metrics

__all__ = [
    "PCA_SOLVER",
    "floors_key",
    "pixel_floors",
    "read_floors",
    "write_floors",
]

#: scikit-learn's PCA solver: exact (eigendecomposition of the covariance), no random draw.
PCA_SOLVER = "covariance_eigh"

#: The settings a floors record depends on besides the widths.
_SETTINGS = ("image_size", "train_images", "test_images")


def floors_key(dataset: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The key of a dataset's floors record: the format, the dataset, the settings that
    choose its images (``image_size``, ``train_images``, ``test_images``), the widths and
    the PCA solver."""
    check_choice("dataset", dataset, tuple(TRAIN_CLASSES))
    return {
        "format": RECORD_FORMAT,
        "floors": dataset,
        "settings": {name: settings[name] for name in _SETTINGS},
        "widths": floor_widths(settings),
        "pca": PCA_SOLVER,
    }


def _unit(vectors: np.ndarray) -> torch.Tensor:
    """Rows scaled to unit L2 norm (a zero row stays zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return torch.from_numpy(vectors / np.maximum(norms, 1e-12)).float()


def _floor(name: str, vectors: np.ndarray, labels: torch.Tensor) -> dict[str, Any]:
    floats = vectors.shape[1]
    metrics = retrieval_metrics(_unit(vectors), labels, ks=KS)
    return {"floor": name, "floats": floats, "bytes": embedding_bytes("euclidean", floats),
            "metrics": metrics}  # fmt: skip


def pixel_floors(
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    widths: Sequence[int],
) -> list[dict[str, Any]]:
    """Retrieval among ``test_images`` on their pixels and on PCA codes of each width.

    Parameters
    ----------
    train_images : Tensor, float, shape (N, C, H, W)
        In [0, 1]: what the PCA is fitted on (the training classes' training images).
    test_images : Tensor, float, shape (M, C, H, W)
        In [0, 1], the same C, H, W: the retrieved images, each query against the others.
    test_labels : Tensor, int, shape (M,)
    widths : sequence of int
        PCA widths, each in [1, min(N, C·H·W)].

    Returns
    -------
    list of dict
        One per floor: ``floor`` (``"pixels"`` or ``"pca"``), ``floats``, ``bytes``
        (float32), ``metrics`` (:func:`~toposhape.triplet.retrieval_metrics`: R@k for k in
        :data:`~toposhape.studies.triplet.train.KS`, precision@1, MAP@R) and, for PCA,
        ``explained_variance`` (the share of the training pixels' variance its
        components keep). The pixels first, then the widths in increasing order.
    """
    train_images = check_images("train_images", train_images, uint8=False, min_rows=1)
    test_images = check_images("test_images", test_images, uint8=False, min_rows=2)
    test_labels = check_labels("test_labels", test_labels)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"train_images and test_images must have one image shape, got "
            f"{tuple(train_images.shape[1:])} and {tuple(test_images.shape[1:])}"
        )
    if test_labels.shape != test_images.shape[:1]:
        raise ValueError(
            f"test_labels must have shape ({test_images.shape[0]},) like test_images, got "
            f"{tuple(test_labels.shape)}"
        )
    train, test = flatten_pixels(train_images), flatten_pixels(test_images)
    most = min(train.shape)
    widths = check_sequence("widths", widths)
    widths = sorted({check_int(f"widths[{i}]", w, 1, most) for i, w in enumerate(widths)})
    pca = PCA(widths[-1], svd_solver=PCA_SOLVER).fit(train)
    codes = pca.transform(test)
    out = [_floor("pixels", test, test_labels)]
    for width in widths:  # an exact PCA's first w components are the PCA of width w
        row = _floor("pca", codes[:, :width], test_labels)
        row["explained_variance"] = float(pca.explained_variance_ratio_[:width].sum())
        out.append(row)
    return out


def read_floors(folder: Path, dataset: str, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """A dataset's floors record, or None if there is none for these settings.

    Parameters
    ----------
    folder : Path
        The profile's work folder (the record is in the records folder beside it,
        :func:`~toposhape.studies.triplet.train.records_folder`).
    dataset : str
    settings : mapping
        The profile's settings.
    """
    key = floors_key(dataset, settings)
    return load_record(records_folder(folder), f"{dataset}-floors", key)


def write_floors(
    folder: Path, dataset: str, settings: Mapping[str, Any], splits: Mapping[str, Split]
) -> dict[str, Any]:
    """Compute a dataset's floors (:func:`pixel_floors`) and write their record.

    Parameters
    ----------
    folder : Path
        The profile's work folder.
    dataset : str
    settings : mapping
        The profile's settings.
    splits : mapping
        :func:`~toposhape.studies.triplet.data.load_splits` of ``dataset``: the PCA is
        fitted on ``train``, retrieval is among ``test``.

    Returns
    -------
    dict
        The record as saved: ``format``, ``dataset``, ``pca`` (the solver), ``rows``
        (:func:`pixel_floors`), ``seconds`` and ``data`` (``train`` and ``test``: source,
        fingerprint, classes and images of the splits read).
    """
    key = floors_key(dataset, settings)
    started = time.perf_counter()
    train, test = splits["train"], splits["test"]
    rows = pixel_floors(train.images, test.images, test.labels, key["widths"])
    record = {
        "format": RECORD_FORMAT,
        "dataset": dataset,
        "pca": f"scikit-learn PCA, svd_solver={PCA_SOLVER!r}, fitted on the train split",
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "data": {"train": train.record, "test": test.record},
    }
    save_record(records_folder(folder), f"{dataset}-floors", key, record)
    return read_floors(folder, dataset, settings)
