"""Tests of toposhape.yale on a tiny fake CroppedYale tree written into tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toposhape.yale import YALE_SUBJECTS, load_yale, parse_name

# Light directions per subject, deliberately not in sorted order; each file gets its own grey.
_LIGHTS: dict[int, tuple[str, ...]] = {
    15: ("P00A+130E+20", "P00A-005E+10", "P00A-110E-20", "P00A+000E+00"),
    1: ("P00A-005E+10", "P00A+130E+20", "P00A+000E+00"),
    2: ("P00A-110E-20", "P00A+000E+00"),
}
_N = sum(len(lights) for lights in _LIGHTS.values())


def _pgm(path: Path, grey: int, shape: tuple[int, int] = (192, 168)) -> None:
    """Write a constant grey-level image of shape (H, W) as a PGM file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, grey, dtype=np.uint8), mode="L").save(path, format="PPM")


def _write_dataset(base: Path) -> dict[str, int]:
    """Write subject folders under ``base``; return {path relative to base: grey level}."""
    greys = {}
    grey = 10
    for subject, lights in _LIGHTS.items():
        folder = base / f"yaleB{subject:02d}"
        for light in lights:
            name = f"yaleB{subject:02d}_{light}.pgm"
            _pgm(folder / name, grey)
            greys[f"{folder.name}/{name}"] = grey
            grey += 20
        # Files that must be skipped: ambient image, an image marked bad, a text file.
        _pgm(folder / f"yaleB{subject:02d}_P00_Ambient.pgm", 255)
        _pgm(folder / f"yaleB{subject:02d}_P00A+050E-40.pgm.bad", 254)
        (folder / f"yaleB{subject:02d}_P00.info").write_text("yaleB_P00A+000E+00.pgm\n")
    return greys


@pytest.fixture
def yale(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Root holding ``CroppedYale/yaleB{01,02,15}`` and the grey level of each valid file."""
    root = tmp_path / "data"
    return root, _write_dataset(root / "CroppedYale")


def _check_greys(data: dict, greys: dict[str, int]) -> None:
    """Every image is constant at its file's grey level / 255."""
    expected = torch.tensor([greys[file] / 255 for file in data["files"]], dtype=torch.float32)
    images = data["images"]
    torch.testing.assert_close(
        images, expected.view(-1, 1, 1, 1).expand_as(images), atol=1e-6, rtol=0
    )


# --------------------------------------------------------------------------- parse_name


def test_subjects_table() -> None:
    assert len(YALE_SUBJECTS) == 38
    assert 14 not in YALE_SUBJECTS
    assert YALE_SUBJECTS[0] == 1 and YALE_SUBJECTS[-1] == 39
    assert YALE_SUBJECTS.index(15) == 13


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("yaleB01_P00A+000E+00.pgm", (1, 0, 0)),
        ("yaleB01_P00A-005E+10.pgm", (1, -5, 10)),
        ("yaleB02_P00A+130E+20.pgm", (2, 130, 20)),
        ("yaleB15_P00A-110E-20.pgm", (15, -110, -20)),
        ("yaleB39_P00A+050E-40.pgm", (39, 50, -40)),
    ],
)
def test_parse_name(name: str, expected: tuple[int, int, int]) -> None:
    assert parse_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "yaleB01_P00_Ambient.pgm",
        "yaleB11_P00A+050E-40.pgm.bad",
        "yaleB01_P00.info",
        "yaleB1_P00A+000E+00.pgm",
        "yaleB01_P01A+000E+00.pgm",
        "yaleB01_P00A+00E+00.pgm",
        "yaleB01_P00A000E+00.pgm",
        "yaleB01_P00A+000E+000.pgm",
        "yaleB01_P00A+000E+00.png",
        "yaleB01/yaleB01_P00A+000E+00.pgm",
    ],
)
def test_parse_name_rejects(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        parse_name(name)


# --------------------------------------------------------------------------- load_yale


def test_load_default(yale: tuple[Path, dict[str, int]]) -> None:
    root, greys = yale
    data = load_yale(root)
    assert set(data) == {"images", "labels", "subjects", "azimuth", "elevation", "files"}
    assert data["images"].shape == (_N, 1, 48, 42)
    assert data["images"].dtype == torch.float32
    assert 0 <= data["images"].min() and data["images"].max() <= 1
    for key in ("labels", "subjects", "azimuth", "elevation"):
        assert data[key].shape == (_N,) and data[key].dtype == torch.int64
    assert sorted(data["files"]) == sorted(greys)
    _check_greys(data, greys)


def test_labels_are_indices_in_subject_order(yale: tuple[Path, dict[str, int]]) -> None:
    data = load_yale(yale[0])
    for file, subject, label in zip(
        data["files"], data["subjects"].tolist(), data["labels"].tolist(), strict=True
    ):
        assert file.startswith(f"yaleB{subject:02d}/")
        assert label == {1: 0, 2: 1, 15: 13}[subject]
    assert data["subjects"].bincount().tolist()[15] == len(_LIGHTS[15])


def test_light_directions_keep_signs(yale: tuple[Path, dict[str, int]]) -> None:
    data = load_yale(yale[0])
    index = data["files"].index("yaleB02/yaleB02_P00A-110E-20.pgm")
    assert (data["azimuth"][index].item(), data["elevation"][index].item()) == (-110, -20)
    index = data["files"].index("yaleB01/yaleB01_P00A-005E+10.pgm")
    assert (data["azimuth"][index].item(), data["elevation"][index].item()) == (-5, 10)
    found = set(
        zip(
            data["subjects"].tolist(),
            data["azimuth"].tolist(),
            data["elevation"].tolist(),
            strict=True,
        )
    )
    expected = {
        parse_name(f"yaleB{n:02d}_{light}.pgm") for n, lights in _LIGHTS.items() for light in lights
    }
    assert found == expected


def test_sorted_and_deterministic(yale: tuple[Path, dict[str, int]]) -> None:
    first, second = load_yale(yale[0]), load_yale(yale[0])
    assert first["files"] == sorted(first["files"]) == second["files"]
    assert torch.equal(first["images"], second["images"])
    assert first["subjects"].tolist() == sorted(first["subjects"].tolist())


def test_native_size(yale: tuple[Path, dict[str, int]]) -> None:
    root, greys = yale
    data = load_yale(root, size=None)
    assert data["images"].shape == (_N, 1, 192, 168)
    _check_greys(data, greys)


def test_other_size(yale: tuple[Path, dict[str, int]]) -> None:
    root, greys = yale
    data = load_yale(root, size=(96, 84))
    assert data["images"].shape == (_N, 1, 96, 84)
    _check_greys(data, greys)


def test_layout_without_cropped_yale(tmp_path: Path) -> None:
    greys = _write_dataset(tmp_path)
    data = load_yale(str(tmp_path))
    assert data["files"] == sorted(greys)
    _check_greys(data, greys)


def test_subjects_filter(yale: tuple[Path, dict[str, int]]) -> None:
    root, greys = yale
    data = load_yale(root, subjects=[15, 2])
    assert data["files"] == sorted(file for file in greys if not file.startswith("yaleB01/"))
    assert set(data["subjects"].tolist()) == {2, 15}
    assert set(data["labels"].tolist()) == {1, 13}
    _check_greys(data, greys)


# --------------------------------------------------------------------------- errors


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not shipped.*CroppedYale/yaleBxx/\*\.pgm"):
        load_yale(tmp_path / "absent")


def test_no_subject_folder(tmp_path: Path) -> None:
    (tmp_path / "CroppedYale" / "other").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no subject folder.*<root>/yaleBxx/\*\.pgm"):
        load_yale(tmp_path)


def test_requested_subject_folder_missing(yale: tuple[Path, dict[str, int]]) -> None:
    with pytest.raises(FileNotFoundError, match=r"\['yaleB03'\] not found"):
        load_yale(yale[0], subjects=[1, 3])


@pytest.mark.parametrize("subjects", [[1, 14], [40], [0, 2]])
def test_unknown_subjects(yale: tuple[Path, dict[str, int]], subjects: list[int]) -> None:
    with pytest.raises(ValueError, match="unknown Extended Yale B subject numbers"):
        load_yale(yale[0], subjects=subjects)


def test_empty_subjects(yale: tuple[Path, dict[str, int]]) -> None:
    with pytest.raises(ValueError, match="subjects is empty"):
        load_yale(yale[0], subjects=[])


@pytest.mark.parametrize(
    ("size", "error", "match"),
    [
        ((48,), ValueError, r"size must be \(H, W\)"),
        ((48, 42, 1), ValueError, r"size must be \(H, W\)"),
        ((0, 42), ValueError, r"size\[0\] must be an int >= 1"),
        ((48, -1), ValueError, r"size\[1\] must be an int >= 1"),
        (48, TypeError, r"size must be \(H, W\) or None, got 48 \(int\)"),
        ((48.0, 42), TypeError, r"size\[0\] must be an int"),
    ],
)
def test_bad_size(
    yale: tuple[Path, dict[str, int]], size: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        load_yale(yale[0], size=size)


@pytest.mark.parametrize("subjects", [["1"], [1.0], [True]])
def test_subjects_of_another_type(yale: tuple[Path, dict[str, int]], subjects: list) -> None:
    with pytest.raises(TypeError, match=r"subjects\[0\] must be an int"):
        load_yale(yale[0], subjects=subjects)


def test_root_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "CroppedYale.zip"
    afile.write_bytes(b"PK")
    with pytest.raises(NotADirectoryError, match=re.escape(f"root {afile} is not a folder")):
        load_yale(afile)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:1000]),  # truncated download
        lambda path: path.write_bytes(b"not an image at all"),  # garbage
    ],
    ids=["truncated", "garbage"],
)
def test_unreadable_image_names_the_file(yale: tuple[Path, dict[str, int]], damage) -> None:
    root, _ = yale
    damage(root / "CroppedYale" / "yaleB02" / "yaleB02_P00A+000E+00.pgm")
    with pytest.raises(ValueError, match=r"yaleB02/yaleB02_P00A\+000E\+00\.pgm: cannot read"):
        load_yale(root)


def test_unlistable_subject_folder_names_it(
    yale: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = yale
    locked = root / "CroppedYale" / "yaleB15"
    listing = Path.iterdir

    def iterdir(self: Path):
        if self == locked:  # what chmod 000 does, also where the tests run as root
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(PermissionError, match=re.escape(f"subject folder {locked}: Permission")):
        load_yale(root)


def test_subject_folder_without_valid_image(yale: tuple[Path, dict[str, int]]) -> None:
    root, _ = yale
    folder = root / "CroppedYale" / "yaleB03"
    _pgm(folder / "yaleB03_P00_Ambient.pgm", 100)
    _pgm(folder / "yaleB03_P00A+050E-40.pgm.bad", 100)
    with pytest.raises(ValueError, match="no valid image yaleB03"):
        load_yale(root)


def test_image_of_another_subject(yale: tuple[Path, dict[str, int]]) -> None:
    root, _ = yale
    _pgm(root / "CroppedYale" / "yaleB02" / "yaleB01_P00A+000E+45.pgm", 100)
    with pytest.raises(ValueError, match=r"yaleB02/yaleB01_P00A\+000E\+45\.pgm.*subject 1"):
        load_yale(root)


@pytest.mark.parametrize("shape", [(168, 192), (48, 42)])
def test_wrong_image_size(yale: tuple[Path, dict[str, int]], shape: tuple[int, int]) -> None:
    root, _ = yale
    _pgm(root / "CroppedYale" / "yaleB15" / "yaleB15_P00A+000E+90.pgm", 100, shape)
    with pytest.raises(ValueError, match=r"yaleB15/yaleB15_P00A\+000E\+90\.pgm.*expected 192"):
        load_yale(root)
