"""Labelled image sets as uint8 tensors, for one-class learning.

:func:`load_image_set` returns every image of a split with its class label, whatever the
dataset's format on disk:

================  ========  ===================================================  ===========
name              classes   read from                                            image size
================  ========  ===================================================  ===========
``mnist``         10        :func:`toposhape.data.load_images` (IDX files)       1 × 28 × 28
``fashion-mnist`` 10        :func:`toposhape.data.load_images` (IDX files)       1 × 28 × 28
``cifar10``       10        ``cifar-10-batches-py`` python pickles               3 × 32 × 32
``cifar20``       20        ``cifar-100-python`` pickles, ``coarse_labels``      3 × 32 × 32
``cifar100``      100       ``cifar-100-python`` pickles, ``fine_labels``        3 × 32 × 32
``tinyimagenet``  200       ``tiny-imagenet-200`` JPEG tree (test = ``val``)     3 × S × S
``imagenet``      1000      ``imagenet/{train,val}/<wnid>/*.JPEG`` (test = val)  3 × S × S
================  ========  ===================================================  ===========

Only the two image-folder sets are resized (to ``size`` × ``size``); the others keep their
native resolution. Locations and expected layouts are those of :func:`toposhape.data.user_root`.

CIFAR-20 hazard: the original COREL code built CIFAR-20 by monkey-patching torchvision's
CIFAR100 class, which in fact kept the *fine* labels (100 classes) while claiming 20. Here the
pickles are read directly and ``cifar20`` takes the ``coarse_labels`` key (the 20
superclasses) from them; torchvision's CIFAR classes are not used at all (they cannot give
coarse labels, and they md5-check the files).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from toposhape.data import load_images, user_root

__all__ = ["IMAGE_SETS", "load_image_set"]

#: Name of each image set -> its number of classes.
IMAGE_SETS: dict[str, int] = {
    "mnist": 10,
    "fashion-mnist": 10,
    "cifar10": 10,
    "cifar20": 20,
    "cifar100": 100,
    "tinyimagenet": 200,
    "imagenet": 1000,
}

_SPLITS = ("train", "test")

# CIFAR: (user_root name, folder, files per split, labels key) of each set.
_CIFAR: dict[str, tuple[str, str, dict[str, tuple[str, ...]], str]] = {
    "cifar10": (
        "cifar10",
        "cifar-10-batches-py",
        {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        "labels",
    ),
    "cifar100": (
        "cifar100",
        "cifar-100-python",
        {"train": ("train",), "test": ("test",)},
        "fine_labels",
    ),
    "cifar20": (
        "cifar100",
        "cifar-100-python",
        {"train": ("train",), "test": ("test",)},
        "coarse_labels",
    ),
}

# Images decoded per DataLoader batch (the image-folder sets).
_BATCH = 256


def load_image_set(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    *,
    size: int = 32,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load every image of a split with its label.

    Parameters
    ----------
    name : str
        One of :data:`IMAGE_SETS`: ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar20``,
        ``cifar100``, ``tinyimagenet``, ``imagenet``.
    split : {"train", "test"}
        Split. For ``tinyimagenet`` and ``imagenet``, ``"test"`` is the official validation
        set (their test labels are not public).
    root : str or Path, optional
        Data root holding the dataset's folder, as for :func:`toposhape.data.load_images`
        (MNIST-like) or :func:`toposhape.data.user_root` (the others); defaults to
        :func:`toposhape.data.data_root`.
    size : int
        Side S of the images of ``tinyimagenet`` and ``imagenet``, which are resized
        (antialiased) to S × S. Ignored by the other sets, which keep their native size.
    progress : bool
        Show a progress bar while decoding the images of ``tinyimagenet`` / ``imagenet``.

    Returns
    -------
    images : torch.Tensor
        uint8, shape (N, C, H, W): (N, 1, 28, 28) for MNIST-like sets, (N, 3, 32, 32) for
        CIFAR sets, (N, 3, size, size) for ``tinyimagenet`` and ``imagenet`` (RGB).
    labels : torch.Tensor
        int64 in {0, ..., IMAGE_SETS[name] - 1}, shape (N,). For the image-folder sets, the
        label of a class is its position among the sorted wnids.

    Raises
    ------
    ValueError
        If ``name`` or ``split`` is unknown, or if the files are inconsistent (a CIFAR pickle
        without the expected key, an unknown wnid in an annotation, ...).
    FileNotFoundError
        If the dataset is missing under ``root``; the message gives the expected layout.
    """
    if name not in IMAGE_SETS:
        raise ValueError(f"unknown image set {name!r}: expected one of {sorted(IMAGE_SETS)}")
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(_SPLITS)}")
    if name in ("mnist", "fashion-mnist"):
        images, labels = load_images(name, split, root)
        # load_images divides uint8 values by 255 in float32; x * 255 is within far less than
        # 0.5 of the original integer, so rounding recovers it exactly.
        return images.mul_(255.0).round_().to(torch.uint8), labels.to(torch.int64)
    if name in _CIFAR:
        return _load_cifar(name, split, root)
    if name == "tinyimagenet":
        samples = _tinyimagenet_samples(split, root)
    else:
        samples = _imagenet_samples(split, root)
    return _decode(samples, size, progress, desc=f"{name} {split}")


def _load_cifar(
    name: str, split: str, root: str | Path | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read the CIFAR python pickles of a split; concatenate its batches in order."""
    dataset, folder, files, key = _CIFAR[name]
    try:
        base = user_root(dataset, root) / folder
    except FileNotFoundError as exc:
        if dataset == name:
            raise
        raise FileNotFoundError(f"{name} is read from the {dataset} files: {exc}") from exc
    images, labels = [], []
    for file in files[split]:
        path = base / file
        # The pickles are trusted local files (pickle can run code: never load foreign ones).
        with path.open("rb") as f:
            entry = pickle.load(f, encoding="latin1")
        for needed in ("data", key):
            if needed not in entry:
                raise ValueError(
                    f"{path} has no key {needed!r} (keys: {sorted(entry)}); is it a {dataset} file?"
                )
        data = np.asarray(entry["data"], dtype=np.uint8)
        targets = np.asarray(entry[key], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or targets.shape != data.shape[:1]:
            raise ValueError(
                f"{path}: expected 'data' of shape (N, 3072) and N {key!r}, got "
                f"{data.shape} and {targets.shape}"
            )
        images.append(torch.from_numpy(data).reshape(-1, 3, 32, 32))  # rows are CHW
        labels.append(torch.from_numpy(targets))
    return torch.cat(images), torch.cat(labels)


def _tinyimagenet_samples(split: str, root: str | Path | None) -> list[tuple[Path, int]]:
    """(path, label) of every image of a TinyImageNet split; test is the ``val`` set."""
    base = user_root("tinyimagenet", root) / "tiny-imagenet-200"
    wnids = {line.strip() for line in (base / "wnids.txt").read_text().splitlines()}
    index = {wnid: i for i, wnid in enumerate(sorted(wnids - {""}))}
    if split == "train":
        return [
            (path, label)
            for wnid, label in index.items()
            for path in sorted((base / "train" / wnid / "images").glob("*.JPEG"))
        ]
    annotations = base / "val" / "val_annotations.txt"
    samples = []
    for number, line in enumerate(annotations.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        file, wnid, *_ = [*line.split("\t"), ""]
        if wnid not in index:
            raise ValueError(f"{annotations}, line {number}: wnid {wnid!r} not in wnids.txt")
        samples.append((base / "val" / "images" / file, index[wnid]))
    return samples


def _imagenet_samples(split: str, root: str | Path | None) -> list[tuple[Path, int]]:
    """(path, label) of every image of an ImageNet split; test is the ``val`` set."""
    base = user_root("imagenet", root) / "imagenet"
    folder = torchvision.datasets.ImageFolder(base / ("train" if split == "train" else "val"))
    classes = sorted(entry.name for entry in os.scandir(base / "train") if entry.is_dir())
    if folder.classes != classes:  # labels are indices into the class list: it must match
        raise ValueError(
            f"{folder.root}: its class folders differ from those of {base / 'train'} "
            f"({len(folder.classes)} vs {len(classes)} classes)"
        )
    return [(Path(path), label) for path, label in folder.samples]


class _Decoded(Dataset):
    """Images of ``samples`` decoded to RGB, resized to ``size`` × ``size``, as uint8."""

    def __init__(self, samples: Sequence[tuple[Path, int]], size: int) -> None:
        self.samples = samples
        self.transform = v2.Compose([v2.Resize((size, size), antialias=True), v2.PILToTensor()])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def _decode(
    samples: Sequence[tuple[Path, int]], size: int, progress: bool, desc: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode (path, label) pairs into uint8 images (N, 3, size, size) and int64 labels."""
    if not samples:
        raise FileNotFoundError(f"{desc}: no image found")
    images = torch.empty((len(samples), 3, size, size), dtype=torch.uint8)
    labels = torch.empty(len(samples), dtype=torch.int64)
    loader = DataLoader(
        _Decoded(samples, size),
        batch_size=_BATCH,
        num_workers=0 if len(samples) <= _BATCH else min(8, os.cpu_count() or 1),
    )
    start = 0
    for batch, targets in tqdm(loader, desc=desc, unit="batch", disable=not progress):
        images[start : start + len(batch)] = batch
        labels[start : start + len(batch)] = targets
        start += len(batch)
    return images, labels
