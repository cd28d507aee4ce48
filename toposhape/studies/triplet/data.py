"""The images of the triplet study: four class-disjoint or image-disjoint splits per dataset.

Every dataset is split by class: the :data:`~toposhape.studies.triplet.protocol.TRAIN_CLASSES`
smallest class ids train, the others are held out. Four splits are read:

* ``train``: the training split's images of the training classes (what the models see);
* ``validation``: the test split's images of the *training* classes, images no model
  trains on; the epoch a model is kept at is chosen on them, never on the held-out classes;
* ``test``: the test split's images of the held-out classes, retrieved among themselves
  (every R@k of the chapter);
* ``database``: the training split's images of the held-out classes, the vectors the
  compression study stores (queried with test images).

For TinyImageNet-200 the test split is its official ``val`` folder (50 images per class).
Subsets are drawn with :data:`~toposhape.studies.triplet.protocol.DATA_SEED`, the same
for every training seed.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from toposhape.checks import check_choice
from toposhape.data import random_subset
from toposhape.image_sets import describe, load_image_set
from toposhape.studies.triplet.protocol import DATA_SEED, TRAIN_CLASSES
from toposhape.triplet import class_split

__all__ = ["SPLITS", "Split", "load_splits"]

#: The splits :func:`load_splits` returns: (file split, classes, settings key of its size).
SPLITS: dict[str, tuple[str, str, str | None]] = {
    "train": ("train", "train", "train_images"),
    "validation": ("test", "train", "validation_images"),
    "test": ("test", "held-out", "test_images"),
    "database": ("train", "held-out", None),
}


class Split(NamedTuple):
    """Images of one split, in [0, 1], with their labels and what they came from.

    Attributes
    ----------
    images : Tensor, float32, shape (N, C, H, W)
    labels : Tensor, int64, shape (N,)
    record : dict
        ``source`` (:func:`toposhape.image_sets.describe` of the file split read),
        ``fingerprint`` (of that file split), ``classes`` (e.g. ``"0–4"``) and ``images``
        (how many are used).
    """

    images: torch.Tensor
    labels: torch.Tensor
    record: dict[str, Any]


def _size(settings: Mapping[str, Any], split: str) -> int | None:
    key = SPLITS[split][2]
    return settings["compression"]["database"] if key is None else settings[key]


def load_splits(dataset: str, settings: Mapping[str, Any]) -> dict[str, Split]:
    """The four splits of a dataset as a profile uses them.

    Parameters
    ----------
    dataset : str
        One of the profile's ``datasets`` (a key of ``TRAIN_CLASSES``).
    settings : mapping
        The profile's settings: ``image_size`` (TinyImageNet's side), the subset sizes
        ``train_images``, ``validation_images``, ``test_images`` and
        ``compression["database"]`` (None: all).

    Returns
    -------
    dict
        ``train``, ``validation``, ``test``, ``database`` → :class:`Split`.
    """
    check_choice("dataset", dataset, tuple(TRAIN_CLASSES))
    size = settings["image_size"] or 32  # only TinyImageNet is resized
    files = {name: load_image_set(dataset, name, size=size) for name in ("train", "test")}
    seen = TRAIN_CLASSES[dataset]
    out = {}
    for offset, (split, (file_split, classes, _)) in enumerate(SPLITS.items()):
        loaded = files[file_split]
        train_idx, held_idx = class_split(loaded.labels, seen)
        index = train_idx if classes == "train" else held_idx
        images, labels = random_subset(
            loaded.images[index], loaded.labels[index], _size(settings, split), DATA_SEED + offset
        )
        low, high = (
            (0, seen - 1) if classes == "train" else (seen, len(loaded.record["class_counts"]) - 1)
        )
        out[split] = Split(
            images.float().div_(255.0),
            labels,
            {
                "source": describe(loaded.record),
                "fingerprint": loaded.record["fingerprint"],
                "classes": f"{low}–{high}",
                "images": len(labels),
            },
        )
    return out
