"""The shared argument checks: good values come back converted, bad ones name the argument."""

import math

import numpy as np
import pytest
import torch

from toposhape.checks import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_mapping,
    check_on_model,
    check_optional_int,
    check_path,
    check_same_device,
    check_tensor,
    model_device,
)


def test_check_int_accepts_python_and_numpy_integers() -> None:
    assert check_int("n", 3, 1) == 3
    assert check_int("n", np.int64(4), 1, 4) == 4
    assert type(check_int("n", np.int32(2))) is int
    assert check_optional_int("n", None, 1) is None


@pytest.mark.parametrize("value", [3.0, "3", True, np.bool_(True), None])
def test_check_int_refuses_non_integers(value: object) -> None:
    with pytest.raises(TypeError, match=r"^n must be an int"):
        check_int("n", value, 1)


@pytest.mark.parametrize(
    ("value", "low", "high", "bounds"),
    [(0, 1, None, ">= 1"), (5, 1, 4, r"in \[1, 4\]"), (-3, None, -4, "<= -4")],
)
def test_check_int_bounds(value: int, low: int | None, high: int | None, bounds: str) -> None:
    with pytest.raises(ValueError, match=f"^n must be an int {bounds}, got {value}"):
        check_int("n", value, low, high)


def test_check_float() -> None:
    assert check_float("eta", 2, 0, low_open=True) == 2.0
    assert check_float("p", math.inf, 1, allow_inf=True) == math.inf
    assert check_float("x", np.float32(0.5), 0, 1) == 0.5
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=r"^eta must be finite"):
            check_float("eta", bad)
    with pytest.raises(ValueError, match=r"^p must be finite"):
        check_float("p", math.nan, allow_inf=True)
    with pytest.raises(ValueError, match=r"^eta must be in \(0.0, inf\], got 0.0"):
        check_float("eta", 0.0, 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"^q must be in \[0, 1\)"):
        check_float("q", 1, 0, 1, high_open=True)
    with pytest.raises(TypeError, match=r"^eta must be a number"):
        check_float("eta", "2")
    with pytest.raises(TypeError, match=r"^eta must be a number"):
        check_float("eta", True)


def test_check_choice() -> None:
    assert check_choice("rule", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"^rule must be one of 'a', 'b', got 'c'"):
        check_choice("rule", "c", ("a", "b"))


def test_check_tensor() -> None:
    x = torch.zeros(3, 2)
    assert check_tensor("z", x, ndim=2, floating=True, finite=True, min_rows=3) is x
    with pytest.raises(TypeError, match=r"^z must be a torch.Tensor"):
        check_tensor("z", np.zeros(2))
    with pytest.raises(ValueError, match=r"^z must have 3 dimensions"):
        check_tensor("z", x, ndim=3)
    with pytest.raises(TypeError, match=r"^z must be a floating-point tensor"):
        check_tensor("z", torch.zeros(2, dtype=torch.long), floating=True)
    with pytest.raises(ValueError, match=r"^z needs at least 4 rows"):
        check_tensor("z", x, min_rows=4)
    x[1, 1] = math.nan
    with pytest.raises(ValueError, match=r"^z contains NaN or inf"):
        check_tensor("z", x, finite=True)


def test_check_bool_path_and_generator() -> None:
    assert check_bool("flag", True) is True
    with pytest.raises(TypeError, match=r"^flag must be a bool"):
        check_bool("flag", 1)
    check_path("checkpoint", None)
    check_path("checkpoint", "a.pt")
    with pytest.raises(TypeError, match=r"^checkpoint must be a path or None"):
        check_path("checkpoint", 3)
    gen = torch.Generator()
    assert check_generator("generator", gen) is gen
    with pytest.raises(TypeError, match=r"^generator must be a torch.Generator"):
        check_generator("generator", 0)


def test_check_devices() -> None:
    a, b = torch.zeros(2), torch.zeros(2, device="meta")
    check_same_device(a=a, b=torch.ones(3))
    with pytest.raises(
        ValueError, match=r"^tensors must be on one device, got a on cpu, b on meta"
    ):
        check_same_device(a=a, b=b)
    model = torch.nn.Linear(2, 2)
    assert model_device(model) == torch.device("cpu")
    check_on_model("x", a, model)
    with pytest.raises(ValueError, match=r"^x is on meta but the model is on cpu"):
        check_on_model("x", b, model)


def test_check_array() -> None:
    out = check_array("codes", torch.arange(6.0).reshape(3, 2), 2)
    assert isinstance(out, np.ndarray) and out.shape == (3, 2)
    with pytest.raises(TypeError, match=r"^codes must be a Tensor or ndarray"):
        check_array("codes", [[1.0]], 2)
    with pytest.raises(TypeError, match=r"^codes must hold integers"):
        check_array("codes", np.zeros((2, 2)), 2, integer=True)
    with pytest.raises(ValueError, match=r"^codes must have 1 dimensions"):
        check_array("codes", np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match=r"^codes needs at least 3 rows"):
        check_array("codes", np.zeros((2, 2)), 2, min_rows=3)
    with pytest.raises(ValueError, match=r"^codes contains NaN or inf"):
        check_array("codes", np.array([[np.nan]]), 2)


def test_check_mapping_and_callable() -> None:
    payload = {"a": 1, "b": 2}
    assert check_mapping("payload", payload, "a") is payload
    with pytest.raises(TypeError, match=r"^payload must be a mapping"):
        check_mapping("payload", [1], "a")
    with pytest.raises(ValueError, match=r"^payload lacks the key\(s\) 'c', 'd'"):
        check_mapping("payload", payload, "a", "c", "d")
    check_callable("log", print)
    check_callable("log", None, optional=True)
    with pytest.raises(TypeError, match=r"^log must be callable, got NoneType"):
        check_callable("log", None)
    with pytest.raises(TypeError, match=r"^log must be callable or None, got int"):
        check_callable("log", 3, optional=True)
