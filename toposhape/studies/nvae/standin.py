"""A small synthetic stand-in for Extended Yale B, for the smoke profile and the tests.

The real faces are not shipped (and CI has none), so the smoke profile runs the Yale B
part of the chapter on this stand-in: a few "subjects" (ellipsoids of different shapes,
each with its own dark marks), each lit from a grid of light directions by a Lambertian
model, written as 192 × 168 PGM files in the CroppedYale layout with the light direction
in the file name. Every subject folder also holds the leftovers of the real archive that
the loader must skip: an ambient image, an image marked ``.bad`` and an ``.info`` file.
Its numbers mean nothing about faces; they exercise the code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from toposhape.checks import check_int, check_path
from toposhape.yale import YALE_SUBJECTS

__all__ = ["AZIMUTHS", "ELEVATIONS", "write_standin"]

#: Light azimuths and elevations (degrees) of the stand-in, all taken from the real set.
AZIMUTHS: tuple[int, ...] = (-70, -35, 0, 35, 70)
ELEVATIONS: tuple[int, ...] = (-20, 0, 20, 45, 65)

_SIZE = (192, 168)


def _face(subject: int, azimuth: int, elevation: int) -> np.ndarray:
    """A Lambertian-lit ellipsoid with marks, (192, 168) uint8."""
    rng = np.random.default_rng(subject)
    h, w = _SIZE
    a, b = 60 + 4 * (subject % 4), 80 + 5 * (subject % 3)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (x - w / 2) / a, (h / 2 - y) / b
    inside = x**2 + y**2 < 1
    z = np.sqrt(np.clip(1 - x**2 - y**2, 0, None))
    normal = np.stack([x / a, y / b, z / 70.0])
    normal /= np.linalg.norm(normal, axis=0) + 1e-12
    az, el = np.radians(azimuth), np.radians(elevation)
    light = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    albedo = np.ones((h, w))
    for cx, cy in rng.uniform(-0.5, 0.5, size=(3, 2)):
        albedo[(x - cx) ** 2 + (y - cy) ** 2 < 0.02] = 0.3
    shade = 0.05 + 0.95 * albedo * np.clip(np.tensordot(light, normal, axes=1), 0, None)
    return (255 * np.where(inside, shade, 0.02)).round().astype(np.uint8)


def _save(pixels: np.ndarray, path: Path) -> None:
    Image.fromarray(pixels).save(path, format="PPM")  # grey-level arrays are written as PGM


def write_standin(root: str | Path, subjects: int = 8) -> Path:
    """Write the stand-in as ``<root>/CroppedYale/yaleBxx/*.pgm``; return ``root``.

    Parameters
    ----------
    root : path
        Folder to write into (created if needed); existing files are overwritten.
    subjects : int
        Number of subjects, the first of :data:`~toposhape.yale.YALE_SUBJECTS` (1 … 38).

    Returns
    -------
    Path
        ``root``, for :func:`toposhape.yale.load_yale`.
    """
    check_path("root", root)
    subjects = check_int("subjects", subjects, 1, len(YALE_SUBJECTS))
    root = Path(root)
    for number in YALE_SUBJECTS[:subjects]:
        folder = root / "CroppedYale" / f"yaleB{number:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for azimuth in AZIMUTHS:
            for elevation in ELEVATIONS:
                name = f"yaleB{number:02d}_P00A{azimuth:+04d}E{elevation:+03d}.pgm"
                _save(_face(number, azimuth, elevation), folder / name)
        _save(_face(number, 0, 0) // 4, folder / f"yaleB{number:02d}_P00_Ambient.pgm")
        _save(_face(number, 130, 20), folder / f"yaleB{number:02d}_P00A+130E+20.pgm.bad")
        (folder / f"yaleB{number:02d}_P00.info").write_text("stand-in\n")
    return root
