"""Tests of toposhape.image_sets on tiny datasets written into tmp_path (no real data needed)."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from toposhape import data, image_sets
from toposhape.image_sets import CIFAR10_CLASSES, IMAGE_SETS, describe, load_image_set

# --------------------------------------------------------------------------- helpers


def _pickle(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(entry, f)


def _jpeg(path: Path, colour: tuple[int, int, int], side: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (side, side), colour).save(path, quality=95)


def _cifar10(root: Path, sizes: tuple[int, ...] = (3, 2, 4, 1, 2), n_test: int = 3) -> dict:
    """Write the CIFAR-10 layout; return {file: (data, labels)}."""
    rng = np.random.default_rng(0)
    batches = {}
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for file, k in zip(files, (*sizes, n_test), strict=True):
        pixels = rng.integers(0, 256, size=(k, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=k).tolist()
        _pickle(root / "cifar-10-batches-py" / file, {"data": pixels, "labels": labels})
        batches[file] = (pixels, labels)
    _pickle(root / "cifar-10-batches-py" / "batches.meta", {"label_names": list("abcdefghij")})
    return batches


# Real CIFAR-100 fine -> coarse pairs: beaver, dolphin -> aquatic mammals; aquarium fish -> fish;
# apple -> fruit and vegetables.
_FINE = [4, 30, 1, 0, 30]
_COARSE = [0, 0, 1, 4, 0]


def _cifar100(root: Path) -> None:
    rng = np.random.default_rng(1)
    for file, fine, coarse in (("train", _FINE, _COARSE), ("test", _FINE[:3], _COARSE[:3])):
        pixels = rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8)
        entry = {"data": pixels, "fine_labels": fine, "coarse_labels": coarse}
        _pickle(root / "cifar-100-python" / file, entry)
    _pickle(root / "cifar-100-python" / "meta", {"fine_label_names": [], "coarse_label_names": []})


# TinyImageNet: wnids (deliberately not sorted in wnids.txt) and the colour of their images.
_COLOURS = {"n03000000": (250, 10, 10), "n01000000": (10, 250, 10), "n02000000": (10, 10, 250)}


def _tinyimagenet(root: Path) -> list[tuple[str, str]]:
    """Write a tiny TinyImageNet tree; return the val annotations (file, wnid)."""
    base = root / "tiny-imagenet-200"
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(_COLOURS) + "\n")
    for wnid, colour in _COLOURS.items():
        for j in range(2):
            _jpeg(base / "train" / wnid / "images" / f"{wnid}_{j}.JPEG", colour)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    annotations = [
        ("val_0.JPEG", "n02000000"),
        ("val_1.JPEG", "n03000000"),
        ("val_2.JPEG", "n01000000"),
        ("val_3.JPEG", "n02000000"),
    ]
    for file, wnid in annotations:
        _jpeg(base / "val" / "images" / file, _COLOURS[wnid])
    (base / "val" / "val_annotations.txt").write_text(
        "".join(f"{file}\t{wnid}\t0\t0\t63\t63\n" for file, wnid in annotations)
    )
    return annotations


# --------------------------------------------------------------------------- API and errors


def test_image_sets_table() -> None:
    assert IMAGE_SETS == {
        "mnist": 10,
        "fashion-mnist": 10,
        "cifar10": 10,
        "cifar20": 20,
        "cifar100": 100,
        "tinyimagenet": 200,
        "imagenet": 1000,
    }


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="svhn") as info:
        load_image_set("svhn")
    assert str(sorted(IMAGE_SETS)) in str(info.value)


def test_bad_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'val'"):
        load_image_set("cifar10", "val", tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar10", "cifar10"),
        ("cifar100", "cifar100"),
        ("cifar20", "cifar20"),
        ("tinyimagenet", "tinyimagenet"),
        ("imagenet", "imagenet"),
    ],
)
def test_missing_root(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(FileNotFoundError, match=expected):
        load_image_set(name, "train", tmp_path)


# --------------------------------------------------------------------------- MNIST-like


def test_uint8_round_trip_exact_on_all_values() -> None:
    values = torch.arange(256, dtype=torch.float32) / 255
    assert torch.equal((values * 255).round().to(torch.uint8), torch.arange(256).to(torch.uint8))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_through_load_images(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    raw = torch.arange(256 * 49).remainder(256).reshape(16, 1, 28, 28)
    calls = []

    def fake(name_: str, split: str, root: object) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append((name_, split, root))
        # As load_images does: uint8 -> float32 / 255.
        return raw.to(torch.uint8).to(torch.float32).div_(255.0), torch.arange(16) % 10

    monkeypatch.setattr(image_sets, "load_images", fake)
    images, labels, record = load_image_set(name, "test", "somewhere", size=64)
    assert calls == [(name, "test", "somewhere")]
    assert images.dtype == torch.uint8 and images.shape == (16, 1, 28, 28)  # size ignored
    assert torch.equal(images, raw.to(torch.uint8))
    assert labels.dtype == torch.int64 and torch.equal(labels, torch.arange(16) % 10)
    assert record["dataset"] == name and record["split"] == "test"
    assert record["formats"] == {"IDX": 16}
    assert record["images"] == 16 and record["image_shape"] == [1, 28, 28]
    assert record["class_counts"] == [2] * 6 + [1] * 4
    assert record["resized_to"] is None and record["source"] is None
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["fingerprint"])
    expected = hashlib.sha256(raw.to(torch.uint8).numpy().tobytes())
    expected.update((torch.arange(16) % 10).numpy().astype("<i8").tobytes())
    assert record["fingerprint"] == "sha256:" + expected.hexdigest()
    assert describe(record) == f"{'MNIST' if name == 'mnist' else 'Fashion-MNIST'} test: 16 IDX"


def test_mnist_real_test_split_if_present() -> None:
    """On the real files (if fetched), the result equals torchvision's raw uint8 data."""
    try:
        images, labels, _ = load_image_set("mnist", "test")
    except FileNotFoundError:
        pytest.skip("MNIST not fetched (make data)")
    dataset = torchvision.datasets.MNIST(data.data_root(), train=False, download=False)
    assert torch.equal(images, dataset.data.unsqueeze(1))
    assert torch.equal(labels, dataset.targets)


# --------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10(tmp_path: Path, split: str) -> None:
    batches = _cifar10(tmp_path)
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    pixels = np.concatenate([batches[f][0] for f in files])
    expected = [label for f in files for label in batches[f][1]]

    images, labels, record = load_image_set("cifar10", split, tmp_path, verify=False)
    n = len(expected)
    assert images.dtype == torch.uint8 and images.shape == (n, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == expected
    rng = np.random.default_rng(2)
    for i, c, h, w in rng.integers(0, [n, 3, 32, 32], size=(50, 4)):  # rows are CHW
        assert images[i, c, h, w].item() == pixels[i, c * 1024 + h * 32 + w]
    assert torch.equal(images.reshape(n, -1), torch.from_numpy(pixels))
    assert record["layout"] == "cifar-10-batches-py pickles"
    assert record["folder"] == "cifar-10-batches-py"
    assert record["formats"] == {"pickle": n} and record["verified"] is False
    assert "indices" not in record and record["source"] is None


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar20_gives_coarse_labels_cifar100_fine(tmp_path: Path, split: str) -> None:
    _cifar100(tmp_path)
    n = len(_FINE) if split == "train" else 3
    fine_images, fine, fine_record = load_image_set("cifar100", split, tmp_path, verify=False)
    coarse_images, coarse, _ = load_image_set("cifar20", split, tmp_path, verify=False)
    assert fine.tolist() == _FINE[:n]
    assert coarse.tolist() == _COARSE[:n]  # the original code returned the fine labels here
    assert fine.dtype == coarse.dtype == torch.int64
    assert fine_images.shape == (n, 3, 32, 32) and torch.equal(fine_images, coarse_images)
    assert fine_record["folder"] == "cifar-100-python"
    assert describe(fine_record) == f"CIFAR-100 {split}: {n} pickle"


def test_cifar20_missing_files_names_cifar20(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar20.*cifar100.*cifar-100-python"):
        load_image_set("cifar20", "test", tmp_path)


@pytest.mark.parametrize(("name", "key"), [("cifar20", "coarse_labels"), ("cifar10", "labels")])
def test_cifar_missing_labels_key(tmp_path: Path, name: str, key: str) -> None:
    if name == "cifar10":
        _cifar10(tmp_path)
        path = tmp_path / "cifar-10-batches-py" / "test_batch"
    else:
        _cifar100(tmp_path)
        path = tmp_path / "cifar-100-python" / "test"
    _pickle(path, {"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 1]})
    with pytest.raises(ValueError, match=rf"{path.name}.*'{key}'"):
        load_image_set(name, "test", tmp_path, verify=False)


def test_cifar_bad_data_shape(tmp_path: Path) -> None:
    _cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    _pickle(path, {"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]})
    with pytest.raises(ValueError, match="3072"):
        load_image_set("cifar10", "test", tmp_path, verify=False)


# --------------------------------------------------------------------------- image folders


def _close(image: torch.Tensor, colour: tuple[int, int, int]) -> bool:
    return bool((image.int() - torch.tensor(colour).view(3, 1, 1)).abs().max() <= 8)


def test_tinyimagenet(tmp_path: Path) -> None:
    annotations = _tinyimagenet(tmp_path)
    wnids = sorted(_COLOURS)

    images, labels, record = load_image_set("tinyimagenet", "train", tmp_path, verify=False)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 1, 1, 2, 2]
    for image, label in zip(images, labels, strict=True):
        assert _close(image, _COLOURS[wnids[label]])
    assert record["folder"] == "tiny-imagenet-200/train" and record["resized_to"] == 32
    assert record["formats"] == {"JPEG": 6} and record["verified"] is False
    assert describe(record) == "TinyImageNet-200 train: 6 JPEG, resized to 32×32"

    images, labels, record = load_image_set("tinyimagenet", "test", tmp_path, size=16, verify=False)
    assert images.shape == (4, 3, 16, 16)
    assert labels.tolist() == [wnids.index(wnid) for _, wnid in annotations]  # == [1, 2, 0, 1]
    for image, (_, wnid) in zip(images, annotations, strict=True):
        assert _close(image, _COLOURS[wnid])
    assert record["split"] == "test" and record["folder"] == "tiny-imagenet-200/val"
    assert record["resized_to"] == 16 and record["image_shape"] == [3, 16, 16]
    assert describe(record) == "TinyImageNet-200 val: 4 JPEG, resized to 16×16"


def test_tinyimagenet_unknown_wnid_in_annotations(tmp_path: Path) -> None:
    _tinyimagenet(tmp_path)
    annotations = tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_9.JPEG\tn09999999\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="n09999999"):
        load_image_set("tinyimagenet", "test", tmp_path, verify=False)


def test_tinyimagenet_with_workers_and_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batches smaller than the set: several batches, decoded by DataLoader workers."""
    _tinyimagenet(tmp_path)
    monkeypatch.setattr(image_sets, "_BATCH", 4)
    images, labels, _ = load_image_set(
        "tinyimagenet", "train", tmp_path, size=8, verify=False, progress=True
    )
    assert images.shape == (6, 3, 8, 8) and labels.tolist() == [0, 0, 1, 1, 2, 2]
    for image, label in zip(images, labels, strict=True):
        assert _close(image, _COLOURS[sorted(_COLOURS)[label]])
    assert "tinyimagenet train" in capsys.readouterr().err


def test_imagenet(tmp_path: Path) -> None:
    colours = {"n01440764": (200, 30, 30), "n01443537": (30, 30, 200)}
    counts = {"train": 3, "val": 2}
    for folder, count in counts.items():
        for wnid, colour in colours.items():
            for j in range(count):
                _jpeg(tmp_path / "imagenet" / folder / wnid / f"{wnid}_{j}.JPEG", colour, 40)
    # A greyscale image must come out as RGB.
    Image.new("L", (50, 30), 128).save(tmp_path / "imagenet" / "val" / "n01443537" / "g.JPEG")

    images, labels, record = load_image_set("imagenet", "train", tmp_path)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert _close(images[0], colours["n01440764"]) and _close(images[-1], colours["n01443537"])
    assert record["folder"] == "imagenet/train" and record["layout"] == "ImageFolder"

    images, labels, record = load_image_set("imagenet", "test", tmp_path, size=24)
    assert images.shape == (5, 3, 24, 24) and labels.tolist() == [0, 0, 1, 1, 1]
    assert _close(images[2], (128, 128, 128))  # g.JPEG sorts first in its class
    assert describe(record) == "ImageNet val: 5 JPEG, resized to 24×24"


def test_imagenet_val_classes_must_match_train(tmp_path: Path) -> None:
    for folder, wnids in (("train", ["n1", "n2"]), ("val", ["n2"])):
        for wnid in wnids:
            _jpeg(tmp_path / "imagenet" / folder / wnid / "a.JPEG", (0, 0, 0), 8)
    with pytest.raises(ValueError, match="class folders"):
        load_image_set("imagenet", "test", tmp_path)


# --------------------------------------------------------------------------- CIFAR-10 folders

# Labels of the folder-layout images, by index: not sorted, so that index order differs from
# class order, and 12 images so that "10.png" and "2.png" sort differently as text.
_FOLDER_LABELS = [3, 0, 9, 3, 1, 0, 7, 2, 5, 4, 6, 8]


def _cifar10_folder(
    root: Path,
    split: str,
    labels: list[int],
    indices: list[int] | None = None,
    ext: str = "png",
    seed: int = 0,
) -> np.ndarray:
    """Write ``cifar-10-images/<split>/<class>/<index>.<ext>``; return the images (N, 3, 32, 32).

    Every class folder is created (empty ones too), and so are the ``train`` and ``test``
    folders that mark the layout. Images are random (PNG) or of one colour each (JPEG).
    """
    indices = list(range(len(labels))) if indices is None else indices
    base = root / "cifar-10-images"
    for folder in {"train", "test", split}:
        (base / folder).mkdir(parents=True, exist_ok=True)
    for cls in CIFAR10_CLASSES:
        (base / split / cls).mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for index, label in zip(indices, labels, strict=True):
        if ext == "png":
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
        else:
            pixels = np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (32, 32, 3))
        path = base / split / CIFAR10_CLASSES[label] / f"{index}.{ext}"
        Image.fromarray(np.ascontiguousarray(pixels)).save(path)
        images.append(pixels.transpose(2, 0, 1))
    return np.stack(images)


def _image_path(root: Path, split: str, index: int, ext: str = "png") -> Path:
    label = _FOLDER_LABELS[index]
    return root / "cifar-10-images" / split / CIFAR10_CLASSES[label] / f"{index}.{ext}"


def test_cifar10_folders_png_exact_in_index_order(tmp_path: Path) -> None:
    pixels = _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    images, labels, record = load_image_set("cifar10", "train", tmp_path, verify=False)
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 32, 32)
    assert torch.equal(images, torch.from_numpy(pixels))  # lossless, ordered by index
    assert labels.dtype == torch.int64 and labels.tolist() == _FOLDER_LABELS
    assert record["dataset"] == "cifar10" and record["split"] == "train"
    assert record["layout"] == "cifar-10-images folders"
    assert record["folder"] == "cifar-10-images/train"
    assert record["formats"] == {"PNG": 12} and record["verified"] is False
    assert record["images"] == 12 and record["image_shape"] == [3, 32, 32]
    assert record["class_counts"] == [2, 1, 1, 2, 1, 1, 1, 1, 1, 1]
    assert record["resized_to"] is None and record["source"] is None
    assert "indices" not in record
    assert describe(record) == "CIFAR-10 train: 12 PNG"


def test_cifar10_folders_size_is_ignored(tmp_path: Path) -> None:
    pixels = _cifar10_folder(tmp_path, "train", _FOLDER_LABELS[:3])
    images, _, record = load_image_set("cifar10", "train", str(tmp_path), size=16, verify=False)
    assert torch.equal(images, torch.from_numpy(pixels)) and record["resized_to"] is None


def test_cifar10_folders_png_train_jpeg_test(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    colours = _cifar10_folder(tmp_path, "test", [5, 1, 5, 0], ext="jpg", seed=1)
    _, _, train = load_image_set("cifar10", "train", tmp_path, verify=False)
    images, labels, test = load_image_set("cifar10", "test", tmp_path, verify=False)
    assert train["formats"] == {"PNG": 12}
    assert test["formats"] == {"JPEG": 4} and test["folder"] == "cifar-10-images/test"
    assert labels.tolist() == [5, 1, 5, 0]
    for image, colour in zip(images, colours[:, :, 0, 0], strict=True):
        assert _close(image, tuple(colour.tolist()))
    assert describe(test) == "CIFAR-10 test: 4 JPEG"
    assert "JPEG" not in describe(train)


def test_cifar10_folders_formats_are_decoded_not_suffixes(tmp_path: Path) -> None:
    """A JPEG file named .png counts as JPEG; a PNG named .jpg as PNG."""
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS[:4])
    disguised = _image_path(tmp_path, "train", 1)
    Image.new("RGB", (32, 32), (9, 99, 199)).save(disguised, format="JPEG", quality=95)
    _image_path(tmp_path, "train", 2).rename(_image_path(tmp_path, "train", 2, "jpg"))
    images, labels, record = load_image_set("cifar10", "train", tmp_path, verify=False)
    assert record["formats"] == {"JPEG": 1, "PNG": 3}
    assert describe(record) == "CIFAR-10 train: 1 JPEG, 3 PNG"
    assert labels.tolist() == _FOLDER_LABELS[:4] and _close(images[1], (9, 99, 199))


def test_cifar10_folders_fingerprint(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path / "a", "train", _FOLDER_LABELS)
    _cifar10_folder(tmp_path / "b", "train", _FOLDER_LABELS)  # same seed: same content

    def fingerprint(root: Path) -> str:
        return load_image_set("cifar10", "train", root, verify=False).record["fingerprint"]

    first = fingerprint(tmp_path / "a")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert fingerprint(tmp_path / "a") == first
    assert fingerprint(tmp_path / "b") == first

    # One pixel of one image changed by one level.
    path = _image_path(tmp_path / "b", "train", 7)
    pixels = np.array(Image.open(path))
    pixels[5, 9, 1] ^= 1
    Image.fromarray(pixels).save(path)
    changed = fingerprint(tmp_path / "b")
    assert changed != first

    # Same pixels, one image moved to another class: the labels are fingerprinted too.
    path.write_bytes(_image_path(tmp_path / "a", "train", 7).read_bytes())
    assert fingerprint(tmp_path / "b") == first
    path.rename(tmp_path / "b" / "cifar-10-images" / "train" / CIFAR10_CLASSES[0] / "7.png")
    assert fingerprint(tmp_path / "b") not in (first, changed)


def test_cifar10_folders_source_json(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS[:3])
    source = {"origin": "https://example.org/cifar-10-images", "note": "test is JPEG q=95"}
    (tmp_path / "cifar-10-images" / "SOURCE.json").write_text(json.dumps(source))
    assert load_image_set("cifar10", "train", tmp_path, verify=False).record["source"] == source


def test_cifar10_pickles_preferred_over_folders(tmp_path: Path) -> None:
    batches = _cifar10(tmp_path)
    _cifar10_folder(tmp_path, "test", [1, 2, 3])
    (tmp_path / "cifar-10-images" / "SOURCE.json").write_text('{"origin": "folders"}')
    images, labels, record = load_image_set("cifar10", "test", tmp_path, verify=False)
    pixels, expected = batches["test_batch"]
    assert torch.equal(images.reshape(len(expected), -1), torch.from_numpy(pixels))
    assert labels.tolist() == expected
    assert record["layout"] == "cifar-10-batches-py pickles"
    assert record["folder"] == "cifar-10-batches-py" and record["source"] is None


def test_cifar10_test_png_split(tmp_path: Path) -> None:
    _cifar10(tmp_path)  # the pickles do not hold test-png: it is read from the folders anyway
    indices = [12, 0, 7, 3]
    pixels = _cifar10_folder(tmp_path, "test-png", [4, 4, 0, 9], indices=indices)
    images, labels, record = load_image_set("cifar10", "test-png", tmp_path, verify=False)
    order = np.argsort(indices)
    assert record["indices"] == [0, 3, 7, 12]
    assert torch.equal(images, torch.from_numpy(pixels[order]))
    assert labels.tolist() == [4, 9, 0, 4]
    assert record["split"] == "test-png" and record["folder"] == "cifar-10-images/test-png"
    assert record["formats"] == {"PNG": 4}
    assert describe(record) == "CIFAR-10 test-png: 4 PNG"


def test_cifar10_test_png_needs_the_folders(tmp_path: Path) -> None:
    _cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-images") as info:
        load_image_set("cifar10", "test-png", tmp_path, verify=False)
    assert "test-png" in str(info.value)


def test_cifar10_test_png_folder_missing(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "test", [1, 2])
    folder = tmp_path / "cifar-10-images" / "test-png"
    with pytest.raises(FileNotFoundError, match=re.escape(str(folder))):
        load_image_set("cifar10", "test-png", tmp_path, verify=False)


def test_test_png_only_for_cifar10(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="test-png"):
        load_image_set("cifar100", "test-png", tmp_path)


def test_cifar10_neither_layout_names_both(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_image_set("cifar10", "test", tmp_path)
    assert "cifar-10-batches-py" in str(info.value) and "cifar-10-images" in str(info.value)


# --------------------------------------------------------------------------- bad folder data


@pytest.mark.parametrize("verify", [False, True])
def test_cifar10_folders_missing_class_folder(tmp_path: Path, verify: bool) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    missing = tmp_path / "cifar-10-images" / "train" / "frog"
    shutil.rmtree(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_image_set("cifar10", "train", tmp_path, verify=verify)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n", bytes(range(256)) * 4])
def test_cifar10_folders_corrupt_image(tmp_path: Path, content: bytes) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    path = _image_path(tmp_path, "train", 5)
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read image") as info:
        load_image_set("cifar10", "train", tmp_path, verify=False)
    assert str(path) in str(info.value)


def test_cifar10_folders_truncated_image(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    path = _image_path(tmp_path, "train", 2)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot read image") as info:
        load_image_set("cifar10", "train", tmp_path, verify=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["notes.txt", ".DS_Store", "cat_1.png", "1a.png", "-3.png"])
def test_cifar10_folders_stray_file(tmp_path: Path, name: str) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS[:3])
    path = tmp_path / "cifar-10-images" / "train" / "ship" / name
    Image.new("RGB", (32, 32)).save(path, format="PNG")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_image_set("cifar10", "train", tmp_path, verify=False)


@pytest.mark.parametrize("other", ["horse/3.png", "cat/003.png", "cat/3.jpg"])
def test_cifar10_folders_duplicate_index(tmp_path: Path, other: str) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)  # 3.png is in cat/
    shutil.copy(_image_path(tmp_path, "train", 3), tmp_path / "cifar-10-images" / "train" / other)
    folder = tmp_path / "cifar-10-images" / "train"
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder))}.*index 3\b"):
        load_image_set("cifar10", "train", tmp_path, verify=False)


def test_cifar10_folders_all_images_wrong_size(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "test", [1, 2])
    for index in range(2):
        path = tmp_path / "cifar-10-images" / "test" / CIFAR10_CLASSES[index + 1] / f"{index}.png"
        Image.new("RGB", (31, 31)).save(path)
    with pytest.raises(ValueError, match=r"is 31×31, expected 32×32") as info:
        load_image_set("cifar10", "test", tmp_path, verify=False)
    assert str(tmp_path / "cifar-10-images" / "test") in str(info.value)


def test_cifar10_folders_one_image_wrong_size_names_it(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    path = _image_path(tmp_path, "train", 4)
    Image.new("RGB", (31, 31)).save(path)
    with pytest.raises(ValueError) as info:
        load_image_set("cifar10", "train", tmp_path, verify=False)
    assert str(path) in str(info.value) and "31×31" in str(info.value)


# --------------------------------------------------------------------------- verify: counts


@pytest.fixture
def small_cifar10_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expected counts of a 12-image train split and a 10-image test split (one per class)."""
    monkeypatch.setitem(
        image_sets.EXPECTED_COUNTS,
        "cifar10",
        {"train": (12, None), "test": (10, 1), "test-png": (3, None)},
    )


_TEST_LABELS = [7, 2, 0, 9, 4, 1, 8, 3, 6, 5]


def _test_path(root: Path, index: int) -> Path:
    label = _TEST_LABELS[index]
    return root / "cifar-10-images" / "test" / CIFAR10_CLASSES[label] / f"{index}.png"


@pytest.mark.usefixtures("small_cifar10_counts")
def test_cifar10_folders_verify_passes_on_expected_counts(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", _FOLDER_LABELS)
    pixels = _cifar10_folder(tmp_path, "test", _TEST_LABELS)
    _cifar10_folder(tmp_path, "test-png", [0, 1, 2], indices=[4, 9, 2])
    images, labels, record = load_image_set("cifar10", "test", tmp_path)
    assert torch.equal(images, torch.from_numpy(pixels)) and labels.tolist() == _TEST_LABELS
    assert record["verified"] is True and record["class_counts"] == [1] * 10
    assert load_image_set("cifar10", "train", tmp_path).record["verified"] is True
    assert load_image_set("cifar10", "test-png", tmp_path).record["indices"] == [2, 4, 9]


@pytest.mark.usefixtures("small_cifar10_counts")
def test_cifar10_folders_verify_missing_image(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "test", _TEST_LABELS)
    _test_path(tmp_path, 6).unlink()
    folder = tmp_path / "cifar-10-images" / "test"
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder))}.*9 images.*10"):
        load_image_set("cifar10", "test", tmp_path)
    assert load_image_set("cifar10", "test", tmp_path, verify=False).images.shape[0] == 9


@pytest.mark.usefixtures("small_cifar10_counts")
def test_cifar10_folders_verify_extra_image(tmp_path: Path) -> None:
    _cifar10_folder(tmp_path, "train", [*_FOLDER_LABELS, 0])
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "cifar-10-images" / "train"))):
        load_image_set("cifar10", "train", tmp_path)


@pytest.mark.usefixtures("small_cifar10_counts")
def test_cifar10_folders_verify_class_counts(tmp_path: Path) -> None:
    """Right total, but one image in the wrong class folder: class 7 has none, class 0 two."""
    _cifar10_folder(tmp_path, "test", _TEST_LABELS)
    path = _test_path(tmp_path, 0)  # index 0 is of class 7
    path.rename(tmp_path / "cifar-10-images" / "test" / CIFAR10_CLASSES[0] / path.name)
    folder = tmp_path / "cifar-10-images" / "test"
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder))}.*class 0 has 2"):
        load_image_set("cifar10", "test", tmp_path)


@pytest.mark.usefixtures("small_cifar10_counts")
def test_cifar10_folders_verify_indices_from_zero(tmp_path: Path) -> None:
    """Right counts, no duplicate, but index 9 renamed 10: not the indices 0..9."""
    _cifar10_folder(tmp_path, "test", _TEST_LABELS)
    path = _test_path(tmp_path, 9)
    path.rename(path.with_name("10.png"))
    folder = tmp_path / "cifar-10-images" / "test"
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder))}.*0\.\.9"):
        load_image_set("cifar10", "test", tmp_path)
    _, _, record = load_image_set("cifar10", "test", tmp_path, verify=False)
    assert record["verified"] is False and record["images"] == 10


# --------------------------------------------------------------------------- verify: md5


@pytest.mark.parametrize(
    ("name", "split", "file"),
    [
        ("cifar10", "train", "cifar-10-batches-py/data_batch_1"),
        ("cifar10", "test", "cifar-10-batches-py/test_batch"),
        ("cifar100", "train", "cifar-100-python/train"),
        ("cifar20", "test", "cifar-100-python/test"),
    ],
)
def test_cifar_pickles_md5_checked(tmp_path: Path, name: str, split: str, file: str) -> None:
    _cifar10(tmp_path)
    _cifar100(tmp_path)
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path / file))}.*md5"):
        load_image_set(name, split, tmp_path)


def test_cifar_pickles_md5_matching_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the expected sums replaced by those of the fake files, verify=True reads them."""
    batches = _cifar10(tmp_path)
    dataset, folder, files, key = image_sets._CIFAR["cifar10"]
    sums = {
        split: tuple(
            (file, hashlib.md5((tmp_path / folder / file).read_bytes()).hexdigest())
            for file, _ in entries
        )
        for split, entries in files.items()
    }
    monkeypatch.setitem(image_sets._CIFAR, "cifar10", (dataset, folder, sums, key))
    _, labels, record = load_image_set("cifar10", "test", tmp_path)
    assert labels.tolist() == batches["test_batch"][1]
    assert record["verified"] is True
    assert record["layout"] == "cifar-10-batches-py pickles (md5-checked)"
    assert len(load_image_set("cifar10", "train", tmp_path).labels) == 12
    # One changed byte in one batch fails the check, naming that file.
    path = tmp_path / folder / "data_batch_3"
    content = bytearray(path.read_bytes())
    content[-20] ^= 1
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*md5"):
        load_image_set("cifar10", "train", tmp_path)


# --------------------------------------------------------------------------- verify: TinyImageNet


def _all_wnids(root: Path) -> None:
    """Complete the tiny tree to 200 wnids (the extra ones sort last and hold no image)."""
    base = root / "tiny-imagenet-200"
    extra = [f"n09{i:06d}" for i in range(IMAGE_SETS["tinyimagenet"] - len(_COLOURS))]
    (base / "wnids.txt").write_text("\n".join([*_COLOURS, *extra]) + "\n")
    for wnid in extra:
        (base / "train" / wnid / "images").mkdir(parents=True)


@pytest.fixture
def small_tinyimagenet_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        image_sets.EXPECTED_COUNTS, "tinyimagenet", {"train": (6, None), "test": (4, None)}
    )


@pytest.mark.usefixtures("small_tinyimagenet_counts")
def test_tinyimagenet_verify_passes_on_expected_counts(tmp_path: Path) -> None:
    _tinyimagenet(tmp_path)
    _all_wnids(tmp_path)
    images, labels, record = load_image_set("tinyimagenet", "train", tmp_path, size=8)
    assert images.shape == (6, 3, 8, 8) and labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert record["verified"] is True and record["resized_to"] == 8
    assert record["class_counts"] == [2, 2, 2] + [0] * 197
    _, _, record = load_image_set("tinyimagenet", "test", tmp_path, size=8)
    assert record["verified"] is True and record["images"] == 4


@pytest.mark.usefixtures("small_tinyimagenet_counts")
@pytest.mark.parametrize("split", ["train", "test"])
def test_tinyimagenet_verify_wrong_count(tmp_path: Path, split: str) -> None:
    _tinyimagenet(tmp_path)
    _all_wnids(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    if split == "train":
        (base / "train" / "n02000000" / "images" / "n02000000_1.JPEG").unlink()
        folder = base / "train"
    else:
        annotations = base / "val" / "val_annotations.txt"
        annotations.write_text(annotations.read_text().splitlines(keepends=True)[0])
        folder = base / "val"
    with pytest.raises(ValueError, match=rf"{re.escape(str(folder))}.*tinyimagenet {split}"):
        load_image_set("tinyimagenet", split, tmp_path)
    assert load_image_set("tinyimagenet", split, tmp_path, verify=False).record["verified"] is False


def test_tinyimagenet_verify_wnids_count(tmp_path: Path) -> None:
    _tinyimagenet(tmp_path)  # 3 wnids, not 200
    wnids = tmp_path / "tiny-imagenet-200" / "wnids.txt"
    with pytest.raises(ValueError, match=rf"{re.escape(str(wnids))}.*3 classes"):
        load_image_set("tinyimagenet", "train", tmp_path)


@pytest.mark.parametrize("verify", [False, True])
def test_tinyimagenet_missing_class_folder(tmp_path: Path, verify: bool) -> None:
    _tinyimagenet(tmp_path)
    _all_wnids(tmp_path)
    missing = tmp_path / "tiny-imagenet-200" / "train" / "n03000000" / "images"
    shutil.rmtree(missing)
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_image_set("tinyimagenet", "train", tmp_path, verify=verify)


def test_tinyimagenet_record(tmp_path: Path) -> None:
    _tinyimagenet(tmp_path)
    source = {"origin": "tiny-imagenet-200.zip", "sha256": "0" * 64}
    (tmp_path / "tiny-imagenet-200" / "SOURCE.json").write_text(json.dumps(source))
    _, _, record = load_image_set("tinyimagenet", "test", tmp_path, size=12, verify=False)
    assert record["resized_to"] == 12 and record["image_shape"] == [3, 12, 12]
    assert record["layout"] == "tiny-imagenet-200 folders"
    assert record["folder"] == "tiny-imagenet-200/val" and record["source"] == source
    assert record["class_counts"] == [1, 2, 1] + [0] * 197
    assert describe(record) == "TinyImageNet-200 val: 4 JPEG, resized to 12×12"
    assert "test" not in describe(record)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"name": 3}, TypeError, r"^name must be a string"),
        ({"name": ["cifar10"]}, TypeError, r"^name must be a string"),
        ({"name": "svhn"}, ValueError, r"^name must be one of \['cifar10'"),
        ({"split": None}, TypeError, r"^split must be a string"),
        ({"split": "val"}, ValueError, r"^split must be one of 'train', 'test', 'test-png'"),
        ({"name": "mnist", "split": "test-png"}, ValueError, r"^split must be one of"),
        ({"root": 3}, TypeError, r"^root must be a path"),
        ({"size": 0}, ValueError, r"^size must be an int >= 1"),
        ({"size": -32}, ValueError, r"^size must be an int >= 1"),
        ({"size": 32.0}, TypeError, r"^size must be an int"),
        ({"size": True}, TypeError, r"^size must be an int"),
        ({"size": None}, TypeError, r"^size must be an int"),
        ({"verify": 1}, TypeError, r"^verify must be a bool"),
        ({"verify": "no"}, TypeError, r"^verify must be a bool"),
        ({"progress": None}, TypeError, r"^progress must be a bool"),
    ],
)
def test_load_image_set_rejects_bad_arguments_before_reading(
    tmp_path: Path, kwargs: dict, error: type, pattern: str
) -> None:
    # the root is empty: an argument checked after the files were looked for would give
    # a FileNotFoundError instead
    arguments = {"name": "cifar10", "split": "train", "root": tmp_path} | kwargs
    with pytest.raises(error, match=pattern):
        load_image_set(**arguments)


_RECORD = {"dataset": "cifar10", "split": "test", "formats": {"JPEG": 3}, "resized_to": None}


@pytest.mark.parametrize(
    ("record", "error", "pattern"),
    [
        ([("dataset", "cifar10")], TypeError, r"^record must be a mapping"),
        ({"dataset": "cifar10", "split": "test"}, ValueError, r"^record lacks the fields"),
        (_RECORD | {"dataset": "svhn"}, ValueError, r"^record\['dataset'\] must be one of"),
        (_RECORD | {"dataset": 10}, TypeError, r"^record\['dataset'\] must be a string"),
        (_RECORD | {"split": "val"}, ValueError, r"^record\['split'\] must be one of"),
        (_RECORD | {"formats": [("JPEG", 3)]}, TypeError, r"^record\['formats'\] must be a"),
        (_RECORD | {"formats": {}}, ValueError, r"^record\['formats'\] must not be empty"),
        (_RECORD | {"formats": {1: 3}}, TypeError, r"^record\['formats'\] must have string"),
        (_RECORD | {"formats": {"PNG": -1}}, ValueError, r"^record\['formats'\]\['PNG'\] must"),
        (_RECORD | {"formats": {"PNG": 2.0}}, TypeError, r"^record\['formats'\]\['PNG'\] must"),
        (_RECORD | {"resized_to": 0}, ValueError, r"^record\['resized_to'\] must be an int"),
        (_RECORD | {"resized_to": 8.5}, TypeError, r"^record\['resized_to'\] must be an int"),
    ],
)
def test_describe_rejects_bad_records(record: object, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        describe(record)


def test_describe_of_a_valid_record() -> None:
    assert describe(_RECORD) == "CIFAR-10 test: 3 JPEG"
    resized = _RECORD | {"dataset": "imagenet", "resized_to": 16}
    assert describe(resized) == "ImageNet val: 3 JPEG, resized to 16×16"
