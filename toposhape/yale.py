"""Extended Yale B, cropped faces ("CroppedYale"), as float tensors.

The dataset is not shipped with toposhape. Its standard distribution is a folder
``CroppedYale/`` with one sub-folder per subject, ``yaleB01`` … ``yaleB39`` (38 subjects:
number 14 does not exist), each holding grey-scale 192 × 168 PGM images named after the
light source, e.g. ``yaleB01_P00A-005E+10.pgm``: pose 0, azimuth −5°, elevation +10°.

:func:`load_yale` reads ``<root>/CroppedYale/yaleBxx/*.pgm`` or ``<root>/yaleBxx/*.pgm``. Only
files whose name matches :func:`parse_name` are read: the ambient image
(``yaleBxx_P00_Ambient.pgm``, no light direction), the images marked bad (``*.pgm.bad``) and
every other file (``*.info``, …) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from toposhape.checks import check_int
from toposhape.results import io_error

__all__ = ["YALE_SUBJECTS", "load_yale", "parse_name"]

#: Subject numbers of Extended Yale B, in label order (number 14 does not exist).
YALE_SUBJECTS: tuple[int, ...] = tuple(i for i in range(1, 40) if i != 14)

#: Native (height, width) of the cropped images.
_NATIVE_SIZE = (192, 168)

_NAME = re.compile(r"yaleB(\d\d)_P00A([+-]\d{3})E([+-]\d{2})\.pgm")

_LAYOUT = (
    "expected <root>/CroppedYale/yaleBxx/*.pgm or <root>/yaleBxx/*.pgm "
    "(Extended Yale B, cropped faces: CroppedYale.zip extracted into <root>)"
)


def parse_name(name: str) -> tuple[int, int, int]:
    """Subject number and light direction of a CroppedYale image file name.

    Parameters
    ----------
    name : str
        File name (no directory), e.g. ``"yaleB01_P00A-005E+10.pgm"``.

    Returns
    -------
    tuple of int
        ``(subject, azimuth, elevation)``, e.g. ``(1, -5, 10)``; angles in degrees.

    Raises
    ------
    ValueError
        If ``name`` is not ``yaleBxx_P00A±dddE±dd.pgm`` (e.g. the ambient image).
    """
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a CroppedYale image name of the form yaleBxx_P00A±dddE±dd.pgm"
        )
    subject, azimuth, elevation = match.groups()
    return int(subject), int(azimuth), int(elevation)


def _read(path: Path, relative: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image as a uint8 array of shape (H, W), resized to ``size`` unless it is None."""
    try:
        with Image.open(path) as image:
            grey = image.convert("L")
    except OSError as exc:  # PIL's UnidentifiedImageError, truncated files, unreadable files
        raise ValueError(f"{relative}: cannot read the image ({exc})") from exc
    if grey.size != _NATIVE_SIZE[::-1]:
        height, width = _NATIVE_SIZE
        raise ValueError(
            f"{relative}: image is {grey.height} × {grey.width} pixels, expected "
            f"{height} × {width} (height × width) for CroppedYale"
        )
    if size is not None:
        grey = grey.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)


def load_yale(
    root: str | Path,
    size: tuple[int, int] | None = (48, 42),
    subjects: Sequence[int] | None = None,
) -> dict[str, torch.Tensor | list[str]]:
    """Load the cropped Extended Yale B faces with their subject and light direction.

    Parameters
    ----------
    root : str or Path
        Directory containing ``CroppedYale/`` (used when it exists) or directly the subject
        folders ``yaleBxx/``.
    size : tuple of int or None, default (48, 42)
        ``(H, W)`` to resize to with Pillow's bilinear filter; the default is a quarter of the
        native 192 × 168 in each direction. None keeps 192 × 168.
    subjects : sequence of int, optional
        Subject numbers (elements of :data:`YALE_SUBJECTS`) to load, each of whose folders
        must exist; by default every subject folder present under the dataset folder.

    Returns
    -------
    dict
        With N the number of images read, sorted by relative path (so by subject, then name):

        - ``"images"``: float32 tensor of shape (N, 1, H, W), grey levels / 255 in [0, 1];
        - ``"labels"``: int64 tensor of shape (N,), index of the subject in
          :data:`YALE_SUBJECTS` (0 … 37; yaleB15 is 13);
        - ``"subjects"``: int64 tensor of shape (N,), subject numbers;
        - ``"azimuth"``, ``"elevation"``: int64 tensors of shape (N,), light direction in
          degrees;
        - ``"files"``: list of N paths relative to the dataset folder, e.g.
          ``"yaleB01/yaleB01_P00A-005E+10.pgm"``.

    Raises
    ------
    TypeError
        If ``size`` is not None, a tuple or a list, or an entry of ``size`` or ``subjects``
        is not an int.
    FileNotFoundError
        If ``root`` does not exist, if it holds no subject folder, or if a requested subject's
        folder is missing.
    NotADirectoryError
        If ``root`` is a file.
    PermissionError
        If a subject folder cannot be listed (the message names it).
    ValueError
        If ``size`` is not two entries >= 1, if ``subjects`` is empty or holds a number outside
        :data:`YALE_SUBJECTS`, if a subject folder has no valid image, if an image name names
        another subject than its folder, or if an image cannot be read (corrupt, truncated,
        unreadable) or is not 192 × 168; the message names the file.
    """
    if size is not None:
        if not isinstance(size, tuple | list):
            raise TypeError(f"size must be (H, W) or None, got {size!r} ({type(size).__name__})")
        if len(size) != 2:
            raise ValueError(f"size must be (H, W) or None, got {size!r}")
        size = (check_int("size[0]", size[0], 1), check_int("size[1]", size[1], 1))
    if subjects is not None:
        subjects = [check_int(f"subjects[{i}]", n) for i, n in enumerate(subjects)]
        unknown = sorted(set(subjects) - set(YALE_SUBJECTS))
        if unknown:
            raise ValueError(
                f"unknown Extended Yale B subject numbers {unknown}: expected numbers in "
                "1 … 39 except 14"
            )
        if not subjects:
            raise ValueError("subjects is empty: give subject numbers or None for all")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(
            f"Extended Yale B root {root} is not a folder ({_LAYOUT}); point it at the folder "
            "that holds CroppedYale/"
        )
    if not root.is_dir():
        raise FileNotFoundError(
            f"Extended Yale B (CroppedYale) not found at {root}: the dataset is not shipped "
            f"with toposhape; download it and put it there ({_LAYOUT}). The chapter using it "
            "runs this part only when the data are supplied."
        )
    base = root / "CroppedYale" if (root / "CroppedYale").is_dir() else root
    if subjects is None:
        numbers = [n for n in YALE_SUBJECTS if (base / f"yaleB{n:02d}").is_dir()]
        if not numbers:
            raise FileNotFoundError(f"no subject folder yaleBxx found in {base}: {_LAYOUT}")
    else:
        numbers = sorted(set(subjects))
        missing = [f"yaleB{n:02d}" for n in numbers if not (base / f"yaleB{n:02d}").is_dir()]
        if missing:
            raise FileNotFoundError(f"subject folders {missing} not found in {base}: {_LAYOUT}")

    records: list[tuple[str, int, int, int]] = []
    for number in numbers:
        folder = f"yaleB{number:02d}"
        found = 0
        try:
            paths = list((base / folder).iterdir())
        except OSError as exc:
            raise io_error(exc, f"cannot list the subject folder {base / folder}") from exc
        for path in paths:
            try:
                subject, azimuth, elevation = parse_name(path.name)
            except ValueError:
                continue
            if subject != number:
                raise ValueError(f"{folder}/{path.name}: image of subject {subject} in {folder}")
            records.append((f"{folder}/{path.name}", subject, azimuth, elevation))
            found += 1
        if found == 0:
            raise ValueError(
                f"no valid image yaleB{number:02d}_P00A±dddE±dd.pgm in {base / folder}: {_LAYOUT}"
            )
    records.sort()

    files = [file for file, _, _, _ in records]
    numbers_read = [subject for _, subject, _, _ in records]
    pixels = np.stack([_read(base / file, file, size) for file in files])
    return {
        "images": torch.from_numpy(pixels).unsqueeze(1).float().div_(255.0),
        "labels": torch.tensor([YALE_SUBJECTS.index(n) for n in numbers_read], dtype=torch.int64),
        "subjects": torch.tensor(numbers_read, dtype=torch.int64),
        "azimuth": torch.tensor([azimuth for _, _, azimuth, _ in records], dtype=torch.int64),
        "elevation": torch.tensor([elevation for *_, elevation in records], dtype=torch.int64),
        "files": files,
    }
