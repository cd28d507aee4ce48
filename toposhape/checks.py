"""Argument checks shared by the public functions of the library.

Every public function and config validates its arguments before any work and raises
``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value), always
naming the argument and what was expected. These helpers are the one place those
checks and their messages live.
"""

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch


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
    ValueError
        Naming the argument and the accepted values.
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
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


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    return f">= {low}" if low is not None else f"<= {high}"
