"""Labelled image sets as uint8 tensors, for one-class learning, with a record of what was read.

:func:`load_image_set` returns every image of a split with its class label, whatever the
dataset's format on disk, and a **dataset record** (:func:`describe` turns it into the label
a chapter shows next to a number):

================  =======  ===================================================  ==========
name              classes  read from                                            image size
================  =======  ===================================================  ==========
``mnist``         10       :func:`toposhape.data.load_images` (IDX files)       1 × 28 × 28
``fashion-mnist`` 10       :func:`toposhape.data.load_images` (IDX files)       1 × 28 × 28
``cifar10``       10       ``cifar-10-batches-py`` pickles (md5-checked), else  3 × 32 × 32
                           the image folders ``cifar-10-images/<split>``
``cifar20``       20       ``cifar-100-python`` pickles, ``coarse_labels``      3 × 32 × 32
``cifar100``      100      ``cifar-100-python`` pickles, ``fine_labels``        3 × 32 × 32
``tinyimagenet``  200      ``tiny-imagenet-200`` JPEG tree (test = ``val``)     3 × S × S
``imagenet``      1000     ``imagenet/{train,val}/<wnid>/*.JPEG`` (test = val)  3 × S × S
================  =======  ===================================================  ==========

Only the two ImageNet-like sets are resized (antialiased, to ``size`` × ``size``, as the
reference resizes the PIL image); the others keep their native resolution. Locations and
expected layouts are those of :func:`toposhape.data.user_root`.

CIFAR-10 exists in two layouts. The canonical ``cifar-10-batches-py`` pickles (what a user
with a network has) are lossless; the image-folder layout
``cifar-10-images/<split>/<class>/<index>.<ext>`` may hold re-encoded images: in the copy
assembled from public repositories, ``train`` is lossless PNG, ``test`` is a JPEG re-encoding
of the whole test split and ``test-png`` holds the first 1,000 test images losslessly (split
``"test-png"``). The record says which layout was
read and which formats were found, so a number computed on JPEG test images is never shown as
plain "CIFAR-10".

CIFAR-20 hazard: the original COREL code built CIFAR-20 by monkey-patching torchvision's
CIFAR100 class, which in fact kept the *fine* labels (100 classes) while claiming 20. Here the
pickles are read directly and ``cifar20`` takes the ``coarse_labels`` key (the 20
superclasses) from them; torchvision's CIFAR classes are not used at all (they cannot give
coarse labels).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from toposhape.checks import check_bool, check_choice, check_int, check_optional_int, check_path
from toposhape.data import data_root, file_md5, load_images, user_root

__all__ = ["IMAGE_SETS", "SPLITS", "ImageSplit", "describe", "load_image_set"]

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

#: Splits of each image set (``test-png``: the lossless subset of CIFAR-10's image folders).
SPLITS: dict[str, tuple[str, ...]] = {
    name: ("train", "test", "test-png") if name == "cifar10" else ("train", "test")
    for name in IMAGE_SETS
}

#: Display names, for :func:`describe`.
DISPLAY_NAMES: dict[str, str] = {
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar20": "CIFAR-20",
    "cifar100": "CIFAR-100",
    "tinyimagenet": "TinyImageNet-200",
    "imagenet": "ImageNet",
}

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# CIFAR: (user_root name, folder, {split: ((file, md5), ...)}, labels key) of each set; the md5
# sums are those of the official archives' files (as torchvision checks them).
_CIFAR: dict[str, tuple[str, str, dict[str, tuple[tuple[str, str], ...]], str]] = {
    "cifar10": (
        "cifar10",
        "cifar-10-batches-py",
        {
            "train": (
                ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
            ),
            "test": (("test_batch", "40351d587109b95175f43aff81a1287e"),),
        },
        "labels",
    ),
    "cifar100": (
        "cifar100",
        "cifar-100-python",
        {
            "train": (("train", "16019d7e3df5f24257cddd939b257f8d"),),
            "test": (("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
        },
        "fine_labels",
    ),
}
_CIFAR["cifar20"] = (*_CIFAR["cifar100"][:3], "coarse_labels")

#: Expected image counts of the real datasets, checked when ``verify`` is on:
#: split -> (total, per class or None when the classes are unbalanced).
EXPECTED_COUNTS: dict[str, dict[str, tuple[int, int | None]]] = {
    "cifar10": {"train": (50_000, 5_000), "test": (10_000, 1_000), "test-png": (1_000, None)},
    "tinyimagenet": {"train": (100_000, 500), "test": (10_000, 50)},
}

# Images decoded per DataLoader batch (the image-folder sets).
_BATCH = 256

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class ImageSplit(NamedTuple):
    """A loaded split: images, labels, and the record of what was read.

    Attributes
    ----------
    images : Tensor, uint8, shape (N, C, H, W)
    labels : Tensor, int64, shape (N,)
    record : dict
        ``dataset``, ``split``, ``layout`` (how the files were read), ``folder`` (relative to
        the data root), ``images``, ``class_counts``, ``formats`` (file format -> count, as
        decoded), ``image_shape``, ``resized_to``, ``verified`` (checksums or the expected
        counts were checked), ``fingerprint`` (sha256 of the images and labels as read) and
        ``source`` (the dataset folder's ``SOURCE.json``, or None).
    """

    images: torch.Tensor
    labels: torch.Tensor
    record: dict[str, Any]


def describe(record: Mapping[str, Any]) -> str:
    """The label of a dataset record, e.g. ``"CIFAR-10 test: 10000 JPEG"``.

    Derived from what was read (layout and formats found), never from the dataset name alone.

    Parameters
    ----------
    record : mapping
        The ``record`` of an :class:`ImageSplit`; read are ``dataset`` (one of
        :data:`IMAGE_SETS`), ``split`` (one of its :data:`SPLITS`), ``formats`` (a non-empty
        mapping of format name to image count) and ``resized_to`` (None or a side ≥ 1).

    Raises
    ------
    TypeError, ValueError
        If ``record`` is not such a mapping; the message names the field.
    """
    _check_record(record)
    split = record["split"]
    if record["dataset"] in ("tinyimagenet", "imagenet") and split == "test":
        split = "val"
    formats = ", ".join(f"{n} {fmt}" for fmt, n in sorted(record["formats"].items()))
    text = f"{DISPLAY_NAMES[record['dataset']]} {split}: {formats}"
    if record["resized_to"] is not None:
        text += f", resized to {record['resized_to']}×{record['resized_to']}"
    return text


def _check_record(record: object) -> None:
    if not isinstance(record, Mapping):
        raise TypeError(
            f"record must be a mapping (an ImageSplit's record), got {type(record).__name__}"
        )
    missing = [key for key in ("dataset", "split", "formats", "resized_to") if key not in record]
    if missing:
        raise ValueError(f"record lacks the fields {missing}")
    dataset = check_choice("record['dataset']", record["dataset"], tuple(IMAGE_SETS))
    check_choice("record['split']", record["split"], SPLITS[dataset])
    formats = record["formats"]
    if not isinstance(formats, Mapping):
        raise TypeError(f"record['formats'] must be a mapping, got {type(formats).__name__}")
    if not formats:
        raise ValueError("record['formats'] must not be empty")
    for fmt, count in formats.items():
        if not isinstance(fmt, str):
            raise TypeError(f"record['formats'] must have string keys, got {fmt!r}")
        check_int(f"record['formats'][{fmt!r}]", count, 0)
    check_optional_int("record['resized_to']", record["resized_to"], 1)


def load_image_set(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    *,
    size: int = 32,
    verify: bool = True,
    progress: bool = False,
) -> ImageSplit:
    """Load every image of a split with its label and a record of what was read.

    Parameters
    ----------
    name : str
        One of :data:`IMAGE_SETS`: ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar20``,
        ``cifar100``, ``tinyimagenet``, ``imagenet``.
    split : str
        One of :data:`SPLITS` ``[name]``: ``"train"``, ``"test"`` and, for ``cifar10`` in the
        image-folder layout, ``"test-png"``. For ``tinyimagenet`` and ``imagenet``,
        ``"test"`` is the official validation set (their test labels are not public).
    root : str or Path, optional
        Data root holding the dataset's folder, as for :func:`toposhape.data.load_images`
        (MNIST-like) or :func:`toposhape.data.user_root` (the others); defaults to
        :func:`toposhape.data.data_root`.
    size : int
        Side S ≥ 1 of the images of ``tinyimagenet`` and ``imagenet``, which are resized
        (antialiased) to S × S. Checked, but not used, by the other sets, which keep their
        native size.
    verify : bool
        Check the CIFAR pickles' md5 sums, and the image counts of the CIFAR-10 folders and
        of TinyImageNet against the real datasets' (:data:`EXPECTED_COUNTS`).
    progress : bool
        Show a progress bar while decoding image files.

    Returns
    -------
    ImageSplit
        ``images`` uint8 (N, C, H, W): (N, 1, 28, 28) for MNIST-like sets, (N, 3, 32, 32) for
        CIFAR sets, (N, 3, size, size) for ``tinyimagenet`` and ``imagenet`` (RGB);
        ``labels`` int64 in {0, ..., IMAGE_SETS[name] - 1}, shape (N,) (for the folder sets,
        a class's label is its position among the sorted class names); ``record``.

    Raises
    ------
    TypeError
        If an argument has the wrong type (``size`` not an int, ``verify`` not a bool, ...).
    ValueError
        If ``name``, ``split`` or ``size`` is invalid, or the files are inconsistent: a
        checksum or an image count that differs from the real dataset's, an unreadable image,
        an image of the wrong size, a CIFAR pickle without the expected key, an unknown wnid
        in an annotation. The message names the argument, file or folder.
    FileNotFoundError
        If the dataset, a class folder or an image is missing under ``root``; the message
        names it and gives the expected layout.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r} ({type(name).__name__})")
    if name not in IMAGE_SETS:
        raise ValueError(f"name must be one of {sorted(IMAGE_SETS)}, got {name!r}")
    check_choice("split", split, SPLITS[name])
    check_path("root", root)
    size = check_int("size", size, 1)
    check_bool("verify", verify)
    check_bool("progress", progress)
    base = data_root() if root is None else Path(root)
    if name in ("mnist", "fashion-mnist"):
        images, labels = load_images(name, split, root)
        # load_images divides uint8 values by 255 in float32; x * 255 is within far less than
        # 0.5 of the original integer, so rounding recovers it exactly.
        images = images.mul_(255.0).round_().to(torch.uint8)
        info = {
            "layout": "IDX files (md5-checked)",
            "folder": f"{'MNIST' if name == 'mnist' else 'FashionMNIST'}/raw",
            "formats": {"IDX": len(images)},
            "verified": True,
        }
        return _split(name, split, images, labels.to(torch.int64), info, None, None)
    if name == "cifar10" and (split == "test-png" or not _has_pickles(base)):
        return _load_cifar10_folders(split, base, verify, progress)
    if name in _CIFAR:
        return _load_cifar(name, split, base, verify)
    if name == "tinyimagenet":
        samples, folder = _tinyimagenet_samples(split, base, verify)
        source = folder.parent / "SOURCE.json"
    else:
        samples, folder = _imagenet_samples(split, base)
        source = folder.parent / "SOURCE.json"
    images, labels, formats = _decode(samples, size, progress, desc=f"{name} {split}")
    info = {
        "layout": "tiny-imagenet-200 folders" if name == "tinyimagenet" else "ImageFolder",
        "folder": folder.relative_to(base).as_posix(),
        "formats": formats,
        "verified": verify and name == "tinyimagenet",
    }
    return _split(name, split, images, labels, info, size, source)


def _split(
    name: str,
    split: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    info: dict[str, Any],
    resized_to: int | None,
    source: Path | None,
) -> ImageSplit:
    """Assemble an :class:`ImageSplit` with its record (fingerprint of what was read)."""
    digest = hashlib.sha256(images.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().astype("<i8").tobytes())
    counts = torch.bincount(labels, minlength=IMAGE_SETS[name]).tolist() if len(labels) else []
    record = {
        "dataset": name,
        "split": split,
        **info,
        "images": len(images),
        "class_counts": counts,
        "image_shape": list(images.shape[1:]),
        "resized_to": resized_to,
        "fingerprint": "sha256:" + digest.hexdigest(),
        "source": json.loads(source.read_text())
        if source is not None and source.is_file()
        else None,
    }
    return ImageSplit(images, labels, record)


def _has_pickles(base: Path) -> bool:
    try:
        user_root("cifar10", base)
    except FileNotFoundError:
        return False
    return True


def _load_cifar(name: str, split: str, base: Path, verify: bool) -> ImageSplit:
    """Read the CIFAR python pickles of a split; concatenate its batches in order."""
    dataset, folder, files, key = _CIFAR[name]
    try:
        user_root(dataset, base)
    except FileNotFoundError as exc:
        if name == "cifar10":
            raise FileNotFoundError(
                f"{exc} The image-folder layout is read as well: {_folder_layout()}"
            ) from exc
        if dataset == name:
            raise
        raise FileNotFoundError(f"{name} is read from the {dataset} files: {exc}") from exc
    images, labels = [], []
    for file, md5 in files[split]:
        path = base / folder / file
        if verify and (actual := file_md5(path)) != md5:
            raise ValueError(
                f"{path} is not the official {dataset} file: md5 {actual}, expected {md5} "
                "(re-extract the archive, or pass verify=False for a modified copy)"
            )
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
    info = {
        "layout": f"{folder} pickles" + (" (md5-checked)" if verify else ""),
        "folder": folder,
        "formats": {"pickle": sum(len(x) for x in images)},
        "verified": verify,
    }
    return _split(name, split, torch.cat(images), torch.cat(labels), info, None, None)


def _folder_layout() -> str:
    from toposhape.data import USER_LAYOUTS

    return USER_LAYOUTS["cifar10-images"][1]


def _load_cifar10_folders(split: str, base: Path, verify: bool, progress: bool) -> ImageSplit:
    """Read ``cifar-10-images/<split>/<class>/<index>.<ext>``, in the order of ``<index>``."""
    try:
        user_root("cifar10-images", base)
    except FileNotFoundError as exc:
        if split == "test-png":
            raise
        from toposhape.data import USER_LAYOUTS

        raise FileNotFoundError(
            f"cifar10 not found in {base}: expected either {USER_LAYOUTS['cifar10'][1]} or "
            f"{_folder_layout()}. No offline source provides cifar10: place it under "
            "$TOPOSHAPE_DATA (default <repo>/data) or pass its root directory."
        ) from exc
    folder = base / "cifar-10-images" / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 split folder {folder} does not exist ({_folder_layout()})"
        )
    indexed: list[tuple[int, Path, int]] = []
    for label, cls in enumerate(CIFAR10_CLASSES):
        class_dir = folder / cls
        if not class_dir.is_dir():
            raise FileNotFoundError(
                f"class folder {class_dir} is missing: every split of cifar-10-images needs "
                f"one folder per class ({', '.join(CIFAR10_CLASSES)})"
            )
        for path in class_dir.iterdir():
            if path.suffix.lower() not in _FORMATS:
                raise ValueError(f"{path}: not a .png or .jpg image (in a CIFAR-10 class folder)")
            if not (path.stem.isascii() and path.stem.isdigit()):
                raise ValueError(f"{path}: the file name must be the image's index, e.g. 00042.png")
            indexed.append((int(path.stem), path, label))
    indexed.sort()
    indices = [i for i, _, _ in indexed]
    if len(set(indices)) != len(indices):
        dup = next(i for i, c in Counter(indices).items() if c > 1)
        raise ValueError(f"{folder}: index {dup} appears in more than one file")
    if verify:
        _check_counts("cifar10", split, folder, [label for _, _, label in indexed])
        if split != "test-png" and indices != list(range(len(indices))):
            raise ValueError(f"{folder}: the indices are not 0..{len(indices) - 1}")
    samples = [(path, label) for _, path, label in indexed]
    images, labels, formats = _decode(samples, None, progress, f"cifar10 {split}", native=32)
    info = {
        "layout": "cifar-10-images folders",
        "folder": folder.relative_to(base).as_posix(),
        "formats": formats,
        "verified": verify,
        # which test images the lossless subset holds (its positions in the test split)
        **({"indices": indices} if split == "test-png" else {}),
    }
    return _split("cifar10", split, images, labels, info, None, folder.parent / "SOURCE.json")


def _check_counts(name: str, split: str, folder: Path, labels: Sequence[int]) -> None:
    """ValueError naming ``folder`` if its image counts differ from the real dataset's."""
    total, per_class = EXPECTED_COUNTS[name][split]
    if len(labels) != total:
        raise ValueError(
            f"{folder}: {len(labels)} images, but {name} {split} has {total} (a partial or "
            "damaged copy; pass verify=False to read it anyway)"
        )
    if per_class is not None:
        counts = Counter(labels)
        for label in range(IMAGE_SETS[name]):
            if counts.get(label, 0) != per_class:
                raise ValueError(
                    f"{folder}: class {label} has {counts.get(label, 0)} images, expected "
                    f"{per_class} (a partial or damaged copy)"
                )


def _tinyimagenet_samples(
    split: str, root: Path, verify: bool
) -> tuple[list[tuple[Path, int]], Path]:
    """(path, label) of every image of a TinyImageNet split (test is ``val``), and its folder."""
    base = user_root("tinyimagenet", root) / "tiny-imagenet-200"
    wnids = {line.strip() for line in (base / "wnids.txt").read_text().splitlines()} - {""}
    index = {wnid: i for i, wnid in enumerate(sorted(wnids))}
    if verify and len(index) != IMAGE_SETS["tinyimagenet"]:
        raise ValueError(
            f"{base / 'wnids.txt'} lists {len(index)} classes, TinyImageNet-200 has 200"
        )
    if split == "train":
        samples = []
        for wnid, label in index.items():
            images = base / "train" / wnid / "images"
            if not images.is_dir():
                raise FileNotFoundError(f"class folder {images} is missing (wnid in wnids.txt)")
            samples += [(path, label) for path in sorted(images.glob("*.JPEG"))]
        folder = base / "train"
    else:
        annotations = base / "val" / "val_annotations.txt"
        if not annotations.is_file():
            raise FileNotFoundError(f"{annotations} is missing (the labels of the val split)")
        samples = []
        for number, line in enumerate(annotations.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            file, wnid, *_ = [*line.split("\t"), ""]
            if wnid not in index:
                raise ValueError(f"{annotations}, line {number}: wnid {wnid!r} not in wnids.txt")
            samples.append((base / "val" / "images" / file, index[wnid]))
        folder = base / "val"
    if verify:
        _check_counts("tinyimagenet", split, folder, [label for _, label in samples])
    return samples, folder


def _imagenet_samples(split: str, root: Path) -> tuple[list[tuple[Path, int]], Path]:
    """(path, label) of every image of an ImageNet split (test is ``val``), and its folder."""
    base = user_root("imagenet", root) / "imagenet"
    folder = torchvision.datasets.ImageFolder(base / ("train" if split == "train" else "val"))
    classes = sorted(entry.name for entry in os.scandir(base / "train") if entry.is_dir())
    if folder.classes != classes:  # labels are indices into the class list: it must match
        raise ValueError(
            f"{folder.root}: its class folders differ from those of {base / 'train'} "
            f"({len(folder.classes)} vs {len(classes)} classes)"
        )
    return [(Path(path), label) for path, label in folder.samples], Path(folder.root)


class _Decoded(Dataset):
    """Images of ``samples`` decoded to RGB, resized to ``size`` × ``size``.

    With ``size`` None the images are not resized and must all be ``native`` × ``native``.
    """

    def __init__(
        self, samples: Sequence[tuple[Path, int]], size: int | None, native: int | None = None
    ) -> None:
        self.samples = samples
        self.native = native
        steps = [] if size is None else [v2.Resize((size, size), antialias=True)]
        self.transform = v2.Compose([*steps, v2.PILToTensor()])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        path, label = self.samples[i]
        if not path.is_file():
            raise FileNotFoundError(f"image {path} is missing")
        try:
            with Image.open(path) as image:
                image.load()
                kind = str(image.format)
                if self.native is not None and image.size != (self.native, self.native):
                    raise ValueError(
                        f"image {path} is {image.size[0]}×{image.size[1]}, expected "
                        f"{self.native}×{self.native}"
                    )
                return self.transform(image.convert("RGB")), label, kind
        except OSError as exc:  # PIL's UnidentifiedImageError and truncated files
            raise ValueError(f"cannot read image {path}: {exc}") from exc


def _decode(
    samples: Sequence[tuple[Path, int]],
    size: int | None,
    progress: bool,
    desc: str,
    native: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Decode (path, label) pairs into uint8 images (N, 3, S, S), int64 labels, formats found.

    ``size``: resize to S × S; None keeps the images as they are, which must then all be
    ``native`` × ``native`` (a ValueError names the first one that is not).
    """
    if not samples:
        raise FileNotFoundError(f"{desc}: no image found")
    labels = torch.empty(len(samples), dtype=torch.int64)
    loader = DataLoader(
        _Decoded(samples, size, native),
        batch_size=_BATCH,
        num_workers=0 if len(samples) <= _BATCH else min(8, os.cpu_count() or 1),
        collate_fn=_collate,
    )
    chunks: list[torch.Tensor] = []
    formats: Counter[str] = Counter()
    start = 0
    for batch, targets, kinds in tqdm(loader, desc=desc, unit="batch", disable=not progress):
        chunks.append(batch)
        labels[start : start + len(batch)] = targets
        formats.update(kinds)
        start += len(batch)
    return torch.cat(chunks), labels, dict(sorted(formats.items()))


def _collate(
    items: Sequence[tuple[torch.Tensor, int, str]],
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Stack a batch; every image has one size (resized, or checked by :class:`_Decoded`)."""
    return (
        torch.stack([image for image, _, _ in items]),
        torch.tensor([label for _, label, _ in items], dtype=torch.int64),
        [kind for _, _, kind in items],
    )
