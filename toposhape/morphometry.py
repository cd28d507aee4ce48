"""Shape statistics of handwritten strokes: slant, stroke thickness and width.

The factors the N-VAE's slides name for MNIST's shared latents, measured on the image
itself (in the spirit of Morpho-MNIST, Castro et al. 2019, without its skeletoniser):

slant
    The shear of the ink, from grey-level-weighted central moments with x to the right
    and y upwards: s = μ₁₁ / μ₀₂, reported as the angle arctan(s) in degrees, positive
    when the top of the glyph leans right. A horizontal shear x ↦ x + s·(y − ȳ) of an
    upright glyph (μ₁₁ = 0) gives exactly s.
thickness
    The mean stroke width: the image is upsampled ``upsample`` times (bilinear), ink is
    where the grey level is ≥ ``threshold``, and the thickness is four times the mean
    distance from an ink pixel to the background (Euclidean distance transform, less half
    a pixel), in original pixels. For a straight band of width w the mean distance to its
    edge is w / 4, so the measure is w there whatever the band's direction.
width
    The horizontal extent of the de-slanted ink: every ink pixel (grey level ≥
    ``threshold``) is moved to x − s·(y − ȳ), and the width is the span of those x
    plus one pixel; a shear of the glyph does not change it.

Images without ink (no pixel ≥ ``threshold``) get NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from toposhape.checks import check_array, check_float, check_int

__all__ = ["FACTORS", "stroke_measures"]

#: The statistics :func:`stroke_measures` returns, in its column order.
FACTORS: tuple[str, ...] = ("slant", "thickness", "width")


def _moments(image: np.ndarray) -> tuple[float, float, float]:
    """Shear s = μ₁₁/μ₀₂ and the centroid (x̄, ȳ) of a grey image, y upwards."""
    h, w = image.shape
    ys, xs = np.mgrid[0:h, 0:w]
    ys = (h - 1 - ys).astype(np.float64)  # y upwards
    mass = image.sum()
    x_bar, y_bar = (image * xs).sum() / mass, (image * ys).sum() / mass
    mu11 = (image * (xs - x_bar) * (ys - y_bar)).sum()
    mu02 = (image * (ys - y_bar) ** 2).sum()
    return (mu11 / mu02 if mu02 > 0 else 0.0), float(x_bar), float(y_bar)


def _one(image: np.ndarray, threshold: float, upsample: int) -> tuple[float, float, float]:
    if not (image >= threshold).any():
        return (np.nan, np.nan, np.nan)
    shear, _, y_bar = _moments(image)
    h = image.shape[0]
    rows, cols = np.nonzero(image >= threshold)
    deslanted = cols - shear * ((h - 1 - rows) - y_bar)
    width = float(deslanted.max() - deslanted.min() + 1.0)
    big = ndimage.zoom(image, upsample, order=1, grid_mode=True, mode="nearest") >= threshold
    depth = ndimage.distance_transform_edt(big)[big] - 0.5
    thickness = float(4.0 * depth.mean() / upsample)
    return float(np.degrees(np.arctan(shear))), thickness, width


def stroke_measures(images: np.ndarray, threshold: float = 0.5, upsample: int = 4) -> np.ndarray:
    """Slant (degrees), thickness (pixels) and width (pixels) of every image.

    Parameters
    ----------
    images : ndarray or Tensor, shape (N, H, W) or (N, 1, H, W)
        Grey levels in [0, 1], ink bright (as MNIST).
    threshold : float
        Grey level from which a pixel is ink, in (0, 1).
    upsample : int
        Upsampling factor (≥ 1) before the distance transform of the thickness.

    Returns
    -------
    ndarray, shape (N, 3)
        Columns in the order of :data:`FACTORS`; NaN rows for images without ink.
    """
    if getattr(images, "ndim", None) == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    images = check_array("images", images, 3, min_rows=0).astype(np.float64)
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must hold grey levels in [0, 1]")
    threshold = check_float("threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
    upsample = check_int("upsample", upsample, 1)
    out = np.array([_one(image, threshold, upsample) for image in images], dtype=np.float64)
    return out.reshape(len(images), len(FACTORS))
