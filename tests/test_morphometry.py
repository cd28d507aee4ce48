"""Stroke slant, thickness and width against synthetic glyphs whose values are known."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from toposhape.morphometry import FACTORS, stroke_measures

SLANT, THICKNESS, WIDTH = (FACTORS.index(f) for f in ("slant", "thickness", "width"))


def _bar(width: int, angle: float, length: int = 20, size: int = 28) -> np.ndarray:
    """A straight stroke of ``width`` pixels, turned ``angle`` degrees, anti-aliased (4× drawn)."""
    big = np.zeros((4 * size, 4 * size))
    c = 2 * size
    big[c - 2 * length : c + 2 * length, c - 2 * width : c + 2 * width] = 1.0
    big = ndimage.rotate(big, angle, reshape=False, order=1)
    return big.reshape(size, 4, size, 4).mean(axis=(1, 3))


def _sheared_box(shear: float, width: int = 6, height: int = 18, size: int = 28) -> np.ndarray:
    """An upright box sheared by x ↦ x + shear·(y − ȳ), y upwards."""
    box = np.zeros((size, size))
    top, left = 5, 11
    box[top : top + height, left : left + width] = 1.0
    row_c = top + (height - 1) / 2
    # output (row, col) reads input (row, col + shear·(row − row_c)): the top leans right
    matrix = np.array([[1.0, 0.0], [shear, 1.0]])
    return ndimage.affine_transform(box, matrix, offset=[0.0, -shear * row_c], order=1)


@pytest.mark.parametrize("shear", [-0.4, -0.2, 0.0, 0.2, 0.4])
def test_slant_is_the_angle_of_the_shear(shear: float) -> None:
    got = stroke_measures(_sheared_box(shear)[None])[0, SLANT]
    assert got == pytest.approx(np.degrees(np.arctan(shear)), abs=0.5)


def test_slant_sign_follows_the_top_of_the_glyph() -> None:
    # ndimage.rotate turns counter-clockwise: the top of a vertical bar then leans left
    assert stroke_measures(_bar(3, 20.0)[None])[0, SLANT] < -15
    assert stroke_measures(_bar(3, -20.0)[None])[0, SLANT] > 15


@pytest.mark.parametrize("angle", [0.0, 30.0, 60.0, 90.0])
def test_thickness_is_the_stroke_width_in_any_direction(angle: float) -> None:
    widths = [1, 2, 3, 4, 5]
    got = stroke_measures(np.stack([_bar(w, angle) for w in widths]))[:, THICKNESS]
    np.testing.assert_allclose(got, widths, rtol=0.2)
    assert (np.diff(got) > 0.5).all()


@pytest.mark.parametrize("shear", [-0.4, 0.0, 0.4])
def test_width_is_the_deslanted_extent(shear: float) -> None:
    for width in (4, 8):
        got = stroke_measures(_sheared_box(shear, width=width)[None])[0, WIDTH]
        assert got == pytest.approx(width, abs=1.0)


def test_shapes_blank_images_and_tensors() -> None:
    images = np.stack([_bar(3, 0.0), np.zeros((28, 28)), _bar(2, 45.0)])
    got = stroke_measures(images)
    assert got.shape == (3, 3)
    assert np.isnan(got[1]).all() and np.isfinite(got[[0, 2]]).all()
    as_tensor = stroke_measures(torch.from_numpy(images).float()[:, None])
    np.testing.assert_allclose(as_tensor, got, rtol=1e-5, equal_nan=True)
    assert stroke_measures(np.zeros((0, 28, 28))).shape == (0, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"images": np.zeros((2, 3, 28, 28))}, ValueError, "^images must have one channel"),
        ({"images": np.zeros((28, 28))}, ValueError, "^images must have 3 dimensions"),
        ({"images": np.full((1, 4, 4), 2.0)}, ValueError, r"^images must hold grey levels"),
        ({"images": [[[0.0]]]}, TypeError, "^images must be a Tensor or ndarray"),
        ({"threshold": 1.0}, ValueError, "^threshold must be in"),
        ({"upsample": 0}, ValueError, "^upsample must be an int >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        stroke_measures(**({"images": np.zeros((1, 8, 8))} | kwargs))
