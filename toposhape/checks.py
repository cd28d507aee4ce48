"""Argument checks shared by the public functions of the library.

Every public function and config validates its arguments before any work and raises
``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value), always
naming the argument and what was expected. These helpers are the one place those
checks and their messages live.
"""

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


def check_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in ``[low, high]``.

    numpy integers are accepted; floats, even integral ones such as ``3.0``, are not.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it is outside ``[low, high]`` (a bound that is None is open).
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an int {_bounds(low, high)}, got {value}")
    return value


def check_optional_int(
    name: str, value: object, low: int | None = None, high: int | None = None
) -> int | None:
    """:func:`check_int`, with ``None`` passed through."""
    return None if value is None else check_int(name, value, low, high)


def check_float(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float if it is a real number within the bounds.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        An int, float or numpy scalar; bools are refused.
    low, high : float, optional
        Bounds (None is open); inclusive unless ``low_open``/``high_open``.
    allow_inf : bool
        Accept ±inf (still subject to the bounds); NaN is never accepted.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite (unless allowed) or out of bounds.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = (
            f"in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        )
        raise ValueError(f"{name} must be {span}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        Naming the argument and the accepted values.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_sequence(name: str, value: object, *, nonempty: bool = True) -> Sequence:
    """Return ``value`` if it is a sequence (not a string), non-empty if required.

    Raises
    ------
    TypeError
        If ``value`` is not a sequence, or is a string.
    ValueError
        If it is empty and ``nonempty``.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence, got {type(value).__name__}")
    if nonempty and not value:
        raise ValueError(f"{name} must not be empty")
    return value


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    floating: bool = False,
    finite: bool = False,
    min_rows: int = 0,
) -> torch.Tensor:
    """Return ``value`` if it is a tensor with the required properties.

    Parameters
    ----------
    name : str
    value : object
    ndim : int, optional
        Required number of dimensions.
    floating : bool
        Require a floating dtype.
    finite : bool
        Require every entry to be finite (not checked while ``torch.compile`` traces).
    min_rows : int
        Required minimum size of dimension 0.

    Raises
    ------
    TypeError
        If ``value`` is not a tensor, or not floating when required.
    ValueError
        On a wrong number of dimensions, too few rows or a non-finite entry.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    if min_rows and (value.dim() == 0 or value.shape[0] < min_rows):
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {tuple(value.shape)}")
    if finite and value.is_floating_point() and not torch.compiler.is_compiling():
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} contains NaN or inf")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (not an int or another truthy object).

    Raises
    ------
    TypeError
        Naming the argument.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    return value


def check_same_device(**tensors: torch.Tensor) -> None:
    """Raise ValueError, naming them, if the tensors are not all on one device."""
    if len({t.device for t in tensors.values()}) > 1:
        where = ", ".join(f"{name} on {t.device}" for name, t in tensors.items())
        raise ValueError(f"tensors must be on one device, got {where}")


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter."""
    return next(model.parameters()).device


def check_on_model(name: str, value: torch.Tensor, model: nn.Module) -> None:
    """Raise ValueError if ``value`` is not on the device of ``model``'s parameters."""
    device = model_device(model)
    if value.device != device:
        raise ValueError(f"{name} is on {value.device} but the model is on {device}")


def check_path(name: str, value: object) -> None:
    """Raise TypeError, naming the argument, unless ``value`` is a path (str, PathLike) or None."""
    if value is not None and not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")


def check_generator(name: str, generator: object) -> torch.Generator:
    """Return ``generator`` if it is a CPU ``torch.Generator``.

    Raises
    ------
    TypeError
        If it is not a generator.
    ValueError
        If it lives on another device.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU generator, got one on {generator.device}")
    return generator


def check_array(
    name: str, value: object, ndim: int, *, integer: bool = False, min_rows: int = 1
) -> np.ndarray:
    """A Tensor (copied to the CPU) or ndarray as an ndarray of finite real numbers.

    Integers only if ``integer``; ``ndim`` dimensions and at least ``min_rows`` rows.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    elif not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a Tensor or ndarray, got {type(value).__name__}")
    if value.dtype.kind not in ("iu" if integer else "iuf"):
        kind = "integers" if integer else "real numbers"
        raise TypeError(f"{name} must hold {kind}, got dtype {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {value.shape}")
    if value.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return value


def check_images(
    name: str, value: object, *, uint8: bool = True, min_rows: int = 0
) -> torch.Tensor:
    """Return ``value`` if it is a batch of images: shape (N, C, H, W), pixels in range.

    Parameters
    ----------
    name : str
    value : object
    uint8 : bool
        Accept uint8 images (pixels 0…255) besides floating ones (pixels in [0, 1]).
    min_rows : int
        Required minimum N.

    Raises
    ------
    TypeError
        If ``value`` is not a tensor of an accepted dtype.
    ValueError
        On another shape, too few images, or floating pixels that are NaN or outside
        [0, 1] (not checked while ``torch.compile`` traces).
    """
    images = check_tensor(name, value, ndim=4, min_rows=min_rows)
    if not images.is_floating_point() and not (uint8 and images.dtype == torch.uint8):
        kinds = "uint8 or floating" if uint8 else "floating"
        raise TypeError(f"{name} must be {kinds} images, got {images.dtype}")
    if images.is_floating_point() and images.numel() and not torch.compiler.is_compiling():
        low, high = torch.aminmax(images)
        if not (bool(torch.isfinite(low) & torch.isfinite(high)) and low >= 0 and high <= 1):
            raise ValueError(f"{name} must be finite and in [0, 1], got values in [{low}, {high}]")
    return images


def check_labels(name: str, value: object, *, min_rows: int = 0) -> torch.Tensor:
    """Return ``value`` if it is a 1-D integer tensor of class labels (not bool).

    Raises
    ------
    TypeError
        If it is not a tensor or not of an integer dtype.
    ValueError
        If it is not 1-D or has fewer than ``min_rows`` entries.
    """
    labels = check_tensor(name, value, ndim=1, min_rows=min_rows)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {labels.dtype}")
    return labels


def check_mapping(name: str, value: object, *keys: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping that holds ``keys`` (a payload, settings).

    Raises
    ------
    TypeError
        If ``value`` is not a mapping.
    ValueError
        Naming the missing keys.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"{name} lacks the key(s) {', '.join(map(repr, missing))}")
    return value


def check_callable(name: str, value: object, *, optional: bool = False) -> None:
    """Raise TypeError, naming the argument, unless ``value`` is callable (or None if optional)."""
    if not (callable(value) or (optional and value is None)):
        kind = "callable or None" if optional else "callable"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    return f">= {low}" if low is not None else f"<= {high}"
