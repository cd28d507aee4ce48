"""Tests of toposhape.image_sets on tiny datasets written into tmp_path (no real data needed)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from toposhape import data, image_sets
from toposhape.image_sets import IMAGE_SETS, load_image_set

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
    images, labels = load_image_set(name, "test", "somewhere", size=64)
    assert calls == [(name, "test", "somewhere")]
    assert images.dtype == torch.uint8 and images.shape == (16, 1, 28, 28)  # size ignored
    assert torch.equal(images, raw.to(torch.uint8))
    assert labels.dtype == torch.int64 and torch.equal(labels, torch.arange(16) % 10)


def test_mnist_real_test_split_if_present() -> None:
    """On the real files (if fetched), the result equals torchvision's raw uint8 data."""
    try:
        images, labels = load_image_set("mnist", "test")
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

    images, labels = load_image_set("cifar10", split, tmp_path)
    n = len(expected)
    assert images.dtype == torch.uint8 and images.shape == (n, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == expected
    rng = np.random.default_rng(2)
    for i, c, h, w in rng.integers(0, [n, 3, 32, 32], size=(50, 4)):  # rows are CHW
        assert images[i, c, h, w].item() == pixels[i, c * 1024 + h * 32 + w]
    assert torch.equal(images.reshape(n, -1), torch.from_numpy(pixels))


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar20_gives_coarse_labels_cifar100_fine(tmp_path: Path, split: str) -> None:
    _cifar100(tmp_path)
    n = len(_FINE) if split == "train" else 3
    fine_images, fine = load_image_set("cifar100", split, tmp_path)
    coarse_images, coarse = load_image_set("cifar20", split, tmp_path)
    assert fine.tolist() == _FINE[:n]
    assert coarse.tolist() == _COARSE[:n]  # the original code returned the fine labels here
    assert fine.dtype == coarse.dtype == torch.int64
    assert fine_images.shape == (n, 3, 32, 32) and torch.equal(fine_images, coarse_images)


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
        load_image_set(name, "test", tmp_path)


def test_cifar_bad_data_shape(tmp_path: Path) -> None:
    _cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    _pickle(path, {"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]})
    with pytest.raises(ValueError, match="3072"):
        load_image_set("cifar10", "test", tmp_path)


# --------------------------------------------------------------------------- image folders


def _close(image: torch.Tensor, colour: tuple[int, int, int]) -> bool:
    return bool((image.int() - torch.tensor(colour).view(3, 1, 1)).abs().max() <= 8)


def test_tinyimagenet(tmp_path: Path) -> None:
    annotations = _tinyimagenet(tmp_path)
    wnids = sorted(_COLOURS)

    images, labels = load_image_set("tinyimagenet", "train", tmp_path)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 1, 1, 2, 2]
    for image, label in zip(images, labels, strict=True):
        assert _close(image, _COLOURS[wnids[label]])

    images, labels = load_image_set("tinyimagenet", "test", tmp_path, size=16)
    assert images.shape == (4, 3, 16, 16)
    assert labels.tolist() == [wnids.index(wnid) for _, wnid in annotations]  # == [1, 2, 0, 1]
    for image, (_, wnid) in zip(images, annotations, strict=True):
        assert _close(image, _COLOURS[wnid])


def test_tinyimagenet_unknown_wnid_in_annotations(tmp_path: Path) -> None:
    _tinyimagenet(tmp_path)
    annotations = tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_9.JPEG\tn09999999\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="n09999999"):
        load_image_set("tinyimagenet", "test", tmp_path)


def test_tinyimagenet_with_workers_and_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batches smaller than the set: several batches, decoded by DataLoader workers."""
    _tinyimagenet(tmp_path)
    monkeypatch.setattr(image_sets, "_BATCH", 4)
    images, labels = load_image_set("tinyimagenet", "train", tmp_path, size=8, progress=True)
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

    images, labels = load_image_set("imagenet", "train", tmp_path)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert _close(images[0], colours["n01440764"]) and _close(images[-1], colours["n01443537"])

    images, labels = load_image_set("imagenet", "test", tmp_path, size=24)
    assert images.shape == (5, 3, 24, 24) and labels.tolist() == [0, 0, 1, 1, 1]
    assert _close(images[2], (128, 128, 128))  # g.JPEG sorts first in its class


def test_imagenet_val_classes_must_match_train(tmp_path: Path) -> None:
    for folder, wnids in (("train", ["n1", "n2"]), ("val", ["n2"])):
        for wnid in wnids:
            _jpeg(tmp_path / "imagenet" / folder / wnid / "a.JPEG", (0, 0, 0), 8)
    with pytest.raises(ValueError, match="class folders"):
        load_image_set("imagenet", "test", tmp_path)
