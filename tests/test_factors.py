"""Per-class factor correlations and the consistent dimension, against pandas and planted codes."""

import numpy as np
import pandas as pd
import pytest

from toposhape.factors import class_correlations, consistent_dimension


def test_class_correlations_match_pandas_spearman_per_class() -> None:
    rng = np.random.default_rng(0)
    codes, factors = rng.standard_normal((90, 4)), rng.standard_normal((90, 2))
    factors[:, 1] = codes[:, 2] ** 3 + 0.1 * rng.standard_normal(90)  # monotone in dim 2
    labels = np.arange(90) % 3
    rho = class_correlations(codes, factors, labels, 3)
    assert rho.shape == (3, 4, 2)
    for k in range(3):
        frame = pd.DataFrame(np.hstack([codes, factors])[labels == k])
        expected = frame.corr(method="spearman").to_numpy()[:4, 4:]
        np.testing.assert_allclose(rho[k], expected, rtol=1e-10)
    assert (rho[:, 2, 1] > 0.9).all()


def test_unmeasured_items_and_degenerate_classes_give_nan() -> None:
    rng = np.random.default_rng(1)
    codes, factors = rng.standard_normal((12, 2)), rng.standard_normal((12, 2))
    labels = np.array([0] * 6 + [1] * 4 + [2] * 2)
    factors[labels == 1, 0] = 3.0  # constant within class 1
    factors[0, 1] = np.nan  # one unmeasured item: left out of factor 1 only
    rho = class_correlations(codes, factors, labels, 4)
    assert np.isnan(rho[1, :, 0]).all() and np.isfinite(rho[1, :, 1]).all()
    assert np.isnan(rho[2]).all() and np.isnan(rho[3]).all()  # 2 items; no items
    keep = np.arange(1, 6)
    frame = pd.DataFrame(np.column_stack([codes[keep, 0], factors[keep, 1]]))
    assert rho[0, 0, 1] == pytest.approx(frame.corr(method="spearman").iloc[0, 1])


def _planted(classes: int, flip: int | None, per_class_dim: bool, seed: int) -> tuple:
    """Codes whose dim 1 carries the factor in every class (or dim = class % 3)."""
    rng = np.random.default_rng(seed)
    n = 60 * classes
    labels = np.arange(n) % classes
    factor = rng.standard_normal(n)
    codes = rng.standard_normal((n, 3))
    for k in range(classes):
        rows = labels == k
        dim = k % 3 if per_class_dim else 1
        sign = -1.0 if k == flip else 1.0
        codes[rows, dim] = sign * factor[rows] + 0.3 * rng.standard_normal(rows.sum())
    return codes, factor[:, None], labels


def test_consistent_dimension_finds_the_planted_dimension_and_its_sign_agreement() -> None:
    select = class_correlations(*_planted(5, flip=3, per_class_dim=False, seed=2), 5)
    evaluate = class_correlations(*_planted(5, flip=3, per_class_dim=False, seed=3), 5)
    (score,) = consistent_dimension(select, evaluate)
    assert score["dim"] == 1
    assert score["abs_rho"] > 0.9
    assert score["sign_agreement"] == pytest.approx(4 / 5)  # one class runs the other way
    assert score["per_class"][3] < -0.9
    np.testing.assert_allclose(score["per_class"], evaluate[:, 1, 0])


def test_a_factor_carried_by_a_different_dimension_in_each_class_is_not_consistent() -> None:
    select = class_correlations(*_planted(6, flip=None, per_class_dim=True, seed=4), 6)
    evaluate = class_correlations(*_planted(6, flip=None, per_class_dim=True, seed=5), 6)
    (score,) = consistent_dimension(select, evaluate)
    assert score["any_dim"] > 0.9  # every class has a dimension for it ...
    assert score["abs_rho"] < 0.5  # ... but no one dimension carries it everywhere


def test_the_dimension_is_picked_on_the_selection_set() -> None:
    select = np.zeros((2, 3, 1))
    select[:, 0, 0] = 0.9
    evaluate = np.zeros((2, 3, 1))
    evaluate[:, 2, 0] = 0.9
    (score,) = consistent_dimension(select, evaluate)
    assert score["dim"] == 0 and score["abs_rho"] == 0.0 and score["any_dim"] == 0.9
    (empty,) = consistent_dimension(np.full((2, 3, 1), np.nan), evaluate)
    assert empty["dim"] is None and np.isnan(empty["abs_rho"])


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: class_correlations(np.ones((4, 2)), np.ones((3, 1)), np.zeros(4, int), 2),
         ValueError, r"^factors must be an ndarray of shape \(4, F\)"),
        (lambda: class_correlations(np.ones((4, 2)), np.ones((4, 1)), np.zeros(3, int), 2),
         ValueError, r"^labels must have shape \(4,\)"),
        (lambda: class_correlations(np.ones((4, 2)), np.ones((4, 1)), np.full(4, 2), 2),
         ValueError, r"^labels must be in \[0, 2\)"),
        (lambda: class_correlations(np.ones((4, 2)), np.ones((4, 1)), np.zeros(4), 2),
         TypeError, "^labels must hold integers"),
        (lambda: consistent_dimension(np.ones((2, 3, 1)), np.ones((2, 3, 2))),
         ValueError, "^evaluate must have the shape of select"),
        (lambda: consistent_dimension(np.ones((2, 3)), np.ones((2, 3))),
         ValueError, r"^select must be an ndarray of shape \(K, D, F\)"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()
