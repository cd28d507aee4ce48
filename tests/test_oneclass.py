"""Tests of toposhape.oneclass (η-ball one-class protocol) and toposhape.baselines.

Oracles, all independent of the code under test:

* η-ball counts: a double loop over branches and prefixes on scipy ``cdist`` matrices
  (cityblock / euclidean / chebyshev);
* AUROC: the Mann–Whitney U statistic of ``scipy.stats.mannwhitneyu`` / (n_pos · n_neg);
* the summary: numpy means / stds of a hand-written table, worked out by hand;
* the baselines: a toy set (a bright square top-left vs bottom-right) that any sound
  one-class method separates almost perfectly;
* the η-ball picture: a brute-force ℓ1 count over an ``np.meshgrid`` of the grid.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.baselines import (
    KDE_BANDWIDTHS,
    DeepSVDDNet,
    deep_svdd_scores,
    flatten_pixels,
    kde_scores,
    ocsvm_scores,
)
from toposhape.oneclass import (
    auroc,
    ball_counts,
    class_draws,
    draw_ball_counts,
    encode,
    run_protocol,
    summarise,
)
from toposhape.results import cached
from toposhape.studies.oneclass.evaluate import (
    calibrated_radius,
    eta_ball_toy,
    evaluation_jobs,
)
from toposhape.studies.oneclass.protocol import BackboneSpec, backbone_specs
from toposhape.studies.oneclass.run import get_profile
from toposhape.studies.oneclass.summary import verdict
from toposhape.training import profile_device

SCIPY_METRIC = {1.0: "cityblock", 2.0: "euclidean", math.inf: "chebyshev"}
# Coordinates lie on a 0.25-grid: ℓ1 / ℓ∞ distances are multiples of 0.25, squared ℓ2
# distances multiples of 1/16, so none of these radii is within 5e-3 of a distance.
RADII = [0.6, 1.1, 2.3]


# ----------------------------------------------------------------------------------------------
# ball_counts
# ----------------------------------------------------------------------------------------------
def brute_counts(test, inliers, branches, radii, ns, p) -> np.ndarray:
    """[r, k, t] = Σ_branches #{j < ns[k] : d_p(test[t], inliers[j]) ≤ radii[r]}, by loops."""
    test, inliers = np.asarray(test), np.asarray(inliers)
    dim = test.shape[1] // branches
    out = np.zeros((len(radii), len(ns), len(test)), dtype=np.int64)
    for b in range(branches):
        sl = slice(b * dim, (b + 1) * dim)
        for k, n in enumerate(ns):
            dist = cdist(test[:, sl], inliers[:n, sl], SCIPY_METRIC[p])  # (T, n)
            for r, radius in enumerate(radii):
                out[r, k] += (dist <= radius).sum(axis=1)
    return out


@st.composite
def ball_problems(draw):
    branches = draw(st.sampled_from([1, 2, 3]))
    dim = draw(st.integers(1, 4))
    t = draw(st.integers(0, 12))
    m = draw(st.integers(1, 12))
    latent = branches * dim
    grid = st.integers(-8, 8)  # × 0.25: coordinates in [-2, 2]
    test = np.array(draw(st.lists(grid, min_size=t * latent, max_size=t * latent)), dtype=float)
    inl = np.array(draw(st.lists(grid, min_size=m * latent, max_size=m * latent)), dtype=float)
    ns = draw(st.lists(st.integers(1, m), min_size=1, max_size=4))
    radii = draw(st.lists(st.sampled_from(RADII), min_size=1, max_size=3))
    return (
        test.reshape(t, latent) * 0.25,
        inl.reshape(m, latent) * 0.25,
        branches,
        radii,
        ns,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=ball_problems(), p=st.sampled_from(list(SCIPY_METRIC)))
def test_ball_counts_match_brute_force(problem, p) -> None:
    test, inl, branches, radii, ns = problem
    expected = brute_counts(test, inl, branches, radii, ns, p)
    tt, ti = torch.from_numpy(test), torch.from_numpy(inl)
    got = ball_counts(tt, ti, branches, radii, ns, p=p)
    assert got.dtype == torch.int64
    assert got.shape == (len(radii), len(ns), len(test))
    np.testing.assert_array_equal(got.numpy(), expected)
    for chunk in (1, 2, 10_000):
        assert torch.equal(ball_counts(tt, ti, branches, radii, ns, p=p, chunk=chunk), got)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=ball_problems(), p=st.sampled_from(list(SCIPY_METRIC)), data=st.data())
def test_ball_counts_with_one_radius_per_branch_sum_each_branch_alone(problem, p, data) -> None:
    test, inl, branches, _, ns = problem
    per_branch = data.draw(st.lists(st.sampled_from(RADII), min_size=branches, max_size=branches))
    dim = test.shape[1] // branches
    expected = sum(
        brute_counts(test[:, b * dim : (b + 1) * dim], inl[:, b * dim : (b + 1) * dim], 1,
                     [per_branch[b]], ns, p)
        for b in range(branches)
    )  # fmt: skip
    got = ball_counts(torch.from_numpy(test), torch.from_numpy(inl), branches, [per_branch], ns, p)
    np.testing.assert_array_equal(got.numpy(), expected)
    with pytest.raises(ValueError, match=r"radii\[0\] must have one radius per branch"):
        ball_counts(torch.from_numpy(test), torch.from_numpy(inl), branches, [[1.0] * 99], ns, p)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=ball_problems(), p=st.sampled_from(list(SCIPY_METRIC)))
def test_ball_counts_bounds_and_monotonicity(problem, p) -> None:
    test, inl, branches, _, _ = problem
    m = len(inl)
    ns = list(range(1, m + 1))
    got = ball_counts(torch.from_numpy(test), torch.from_numpy(inl), branches, RADII, ns, p=p)
    got = got.numpy()
    assert got.shape == (len(RADII), m, len(test))
    assert got.min(initial=0) >= 0
    assert (got <= branches * np.array(ns)[None, :, None]).all()
    assert (np.diff(got, axis=1) >= 0).all()  # more inliers, more counts
    assert (np.diff(got, axis=0) >= 0).all()  # larger ball, more counts (RADII ascending)
    # A larger n adds at most `branches` per extra inlier.
    assert (np.diff(got, axis=1) <= branches).all()


def test_ball_counts_hand_example() -> None:
    # Two branches of dim 1; test point 0 sits on inlier 0 in branch 0 and 3 away in branch 1.
    test = torch.tensor([[0.0, 3.0], [10.0, 10.0]])
    inl = torch.tensor([[0.0, 0.0], [0.5, 2.5], [-1.5, 3.0]])
    got = ball_counts(test, inl, 2, [1.0, 2.0], [1, 2, 3])
    expected = torch.tensor(
        [
            [[1, 0], [3, 0], [4, 0]],  # r=1: n=1 {b0}; n=2 +{b0, b1}; n=3 +{b1}
            [[1, 0], [3, 0], [5, 0]],  # r=2: n=3 also catches b0 of inlier 2 (1.5 away)
        ]
    )
    assert torch.equal(got, expected)


@pytest.mark.parametrize("p", [1.0, math.inf])
def test_ball_counts_closed_ball(p) -> None:
    # Distances exactly equal to the radius count (a closed ball, as ``<=``).
    test = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    inl = torch.tensor([[0.5, 0.5], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    got = ball_counts(test, inl, 1, [1.0], [3], p=p)
    assert got.item() == (2 if p == 1.0 else 3)


def test_ball_counts_empty_test_set() -> None:
    got = ball_counts(torch.zeros(0, 6), torch.rand(5, 6), 3, [1.0, 2.0], [1, 4, 5])
    assert got.shape == (2, 3, 0)
    assert got.dtype == torch.int64


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test": torch.zeros(4)}, ValueError, "^test_codes must have 2 dim"),
        ({"inl": torch.zeros(3, 4, 1)}, ValueError, "^inlier_codes must have 2"),
        ({"inl": torch.zeros(3, 6)}, ValueError, "4 latent dims but inlier_codes have 6"),
        ({"test": torch.full((2, 4), NAN)}, ValueError, "^test_codes contains NaN"),
        ({"inl": torch.full((3, 4), INF)}, ValueError, "^inlier_codes contains NaN"),
        ({"test": torch.zeros(2, 4, dtype=torch.long)}, TypeError, "^test_codes must be a float"),
        ({"test": torch.zeros(2, 4).numpy()}, TypeError, "^test_codes must be a torch.Tensor"),
        ({"branches": 3}, ValueError, "divide the latent size 4"),
        ({"branches": 0}, ValueError, "^branches must be an int >= 1"),
        ({"branches": 2.0}, TypeError, "^branches must be an int"),
        ({"radii": [1.0, 0.0]}, ValueError, r"^radii\[1\] must be in"),
        ({"radii": [-1.0]}, ValueError, r"^radii\[0\] must be in"),
        ({"radii": []}, ValueError, "^radii must not be empty"),
        ({"radii": 2.0}, TypeError, "^radii must be a sequence"),
        ({"radii": [NAN]}, ValueError, r"^radii\[0\] must be finite"),
        ({"radii": [INF]}, ValueError, r"^radii\[0\] must be finite"),
        ({"ns": [0, 1]}, ValueError, r"^ns must be an int in \[1, 3\]"),
        ({"ns": [4]}, ValueError, r"^ns must be an int in \[1, 3\]"),
        ({"ns": [1.5]}, TypeError, "^ns must be an int"),
        ({"ns": []}, ValueError, "^ns must not be empty"),
        ({"p": 0.5}, ValueError, "p must be >= 1"),
        ({"chunk": 0}, ValueError, "^chunk must be an int >= 1"),
    ],
)
def test_ball_counts_errors(kwargs: dict, error: type, match: str) -> None:
    args = {"test": torch.zeros(2, 4), "inl": torch.zeros(3, 4), "branches": 2, "radii": [1.0]}
    args |= {"ns": [1], "p": 1.0} | kwargs
    with pytest.raises(error, match=match):
        ball_counts(args.pop("test"), args.pop("inl"), **args)


def test_draw_ball_counts_errors() -> None:
    pool, test = torch.zeros(3, 4), torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"^orders must have 2 dimensions"):
        draw_ball_counts(test, pool, torch.zeros(3, dtype=torch.int64), 2, [1.0], [1])
    with pytest.raises(TypeError, match=r"^orders must be an int64 tensor"):
        draw_ball_counts(test, pool, torch.zeros(1, 2, dtype=torch.int32), 2, [1.0], [1])
    with pytest.raises(ValueError, match="index the 3 pool codes"):
        draw_ball_counts(test, pool, torch.tensor([[0, 3]]), 2, [1.0], [1])
    with pytest.raises(ValueError, match="chunk"):
        draw_ball_counts(test, pool, torch.tensor([[0, 1]]), 2, [1.0], [1], chunk=0)


# ----------------------------------------------------------------------------------------------
# class_draws
# ----------------------------------------------------------------------------------------------
LABELS = torch.tensor([i % 4 for i in range(80)] + [4, 4])  # classes 0..3: 20 each; 4: 2


def test_class_draws_membership_and_shape() -> None:
    out = class_draws(LABELS, [0, 2, 3], n=7, draws=5, seed=11)
    assert sorted(out) == [0, 2, 3]
    for c, idx in out.items():
        assert idx.shape == (5, 7)
        assert idx.dtype == torch.int64
        assert (LABELS[idx] == c).all()
        for row in idx.tolist():
            assert len(set(row)) == len(row)  # no repeats within a draw
        assert len({tuple(row) for row in idx.tolist()}) == 5  # draws differ


def test_class_draws_deterministic_and_seeded() -> None:
    a = class_draws(LABELS, [0, 1], n=10, draws=3, seed=5)
    b = class_draws(LABELS, [0, 1], n=10, draws=3, seed=5)
    c = class_draws(LABELS, [0, 1], n=10, draws=3, seed=6)
    for k in (0, 1):
        assert torch.equal(a[k], b[k])
        assert not torch.equal(a[k], c[k])
    # Classes of the same size do not share one permutation pattern (positions in the class).
    pos = [torch.searchsorted(torch.nonzero(LABELS == k).flatten(), a[k]) for k in (0, 1)]
    assert not torch.equal(pos[0], pos[1])
    # Draw d of class c depends only on (seed, c, d): not on the other classes asked for.
    alone = class_draws(LABELS, [1], n=10, draws=3, seed=5)
    assert torch.equal(alone[1], a[1])


def test_class_draws_are_nested() -> None:
    big = class_draws(LABELS, [0, 1, 2], n=20, draws=4, seed=3)
    for n in (1, 5, 13):
        small = class_draws(LABELS, [0, 1, 2], n=n, draws=4, seed=3)
        for c in (0, 1, 2):
            assert torch.equal(small[c], big[c][:, :n])
    # With n = class size every draw is a permutation of the class.
    members = set(torch.nonzero(LABELS == 2).flatten().tolist())
    for row in big[2].tolist():
        assert set(row) == members


def test_class_draws_errors() -> None:
    with pytest.raises(ValueError, match="class 4 has only 2 training images"):
        class_draws(LABELS, [0, 4], n=3, draws=1, seed=0)
    with pytest.raises(ValueError, match="class 7 has only 0"):
        class_draws(LABELS, [7], n=1, draws=1, seed=0)
    with pytest.raises(ValueError, match=r"^n must be an int >= 1"):
        class_draws(LABELS, [0], n=0, draws=1, seed=0)
    with pytest.raises(TypeError, match=r"^n must be an int"):
        class_draws(LABELS, [0], n=2.5, draws=1, seed=0)
    with pytest.raises(ValueError, match=r"^draws must be an int >= 1"):
        class_draws(LABELS, [0], n=1, draws=0, seed=0)
    with pytest.raises(TypeError, match=r"^labels must be an integer tensor"):
        class_draws(LABELS.float(), [0], n=1, draws=1, seed=0)
    with pytest.raises(TypeError, match=r"^classes must be an int"):
        class_draws(LABELS, ["0"], n=1, draws=1, seed=0)


# ----------------------------------------------------------------------------------------------
# auroc
# ----------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_pos=st.integers(1, 25),
    n_neg=st.integers(1, 25),
    levels=st.integers(1, 5),
)
def test_auroc_is_mann_whitney(seed, n_pos, n_neg, levels) -> None:
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, levels, n_pos)  # few levels: many ties
    neg = rng.integers(0, levels, n_neg)
    scores = np.concatenate([pos, neg])
    labels = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    order = rng.permutation(len(scores))
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic  # U of the first sample
    expected = u / (n_pos * n_neg)
    assert auroc(scores[order], labels[order]) == pytest.approx(expected, abs=1e-12)
    # torch inputs, integer labels
    got = auroc(torch.from_numpy(scores[order]), torch.from_numpy(labels[order].astype(np.int64)))
    assert got == pytest.approx(expected, abs=1e-12)


def test_auroc_extremes() -> None:
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([5.0, 1.0, 4.0, 2.0, 0.0, 3.5])
    assert auroc(scores, labels) == 1.0
    assert auroc(-scores, labels) == 0.0
    assert auroc(np.zeros(6), labels) == 0.5


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        ([1.0, NAN, 2.0], [1, 0, 1], "^scores contain NaN or inf"),
        ([1.0, INF, 2.0], [1, 0, 1], "^scores contain NaN or inf"),
        ([1.0, 2.0, 3.0], [1, 1, 1], "^is_inlier holds only inliers"),
        ([1.0, 2.0, 3.0], [0, 0, 0], "^is_inlier holds only outliers"),
        ([1.0, 2.0, 3.0], [0, 2, 1], "^is_inlier must be boolean"),
        ([1.0, 2.0, 3.0], [0, 1], "^scores and is_inlier must be 1-D of one length"),
    ],
)
def test_auroc_undefined_or_bad_input_is_an_error(scores, labels, match) -> None:
    """No NaN AUROC with only a warning: the caller learns what was wrong."""
    with pytest.raises(ValueError, match=match):
        auroc(np.array(scores), np.array(labels))


# ----------------------------------------------------------------------------------------------
# run_protocol and summarise
# ----------------------------------------------------------------------------------------------
def test_run_protocol_with_oracle_scorer() -> None:
    train_labels = torch.tensor([i % 3 for i in range(45)])  # 15 per class
    test_labels = torch.tensor([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 2, 0])
    ns = [3, 10, 7]
    seen: list[tuple[int, tuple[int, ...]]] = []

    def scorer(idx: torch.Tensor, ns_given) -> torch.Tensor:
        assert list(ns_given) == ns
        assert idx.shape == (4, max(ns))
        classes = train_labels[idx]
        assert (classes == classes[0, 0]).all()
        for row in idx:
            assert len(set(row.tolist())) == len(row)
        c = int(classes[0, 0])
        seen.append((c, tuple(idx.shape)))
        truth = (test_labels == c).double()
        # 2 variants: the truth, and the truth reversed.
        one = torch.stack([truth.expand(len(ns), -1), (1 - truth).expand(len(ns), -1)])
        return one.expand(len(idx), -1, -1, -1)

    ticks: list[int] = []
    table = run_protocol(scorer, train_labels, test_labels, ns, 4, seed=1, progress=ticks.append)
    assert table.shape == (3, 4, 2, 3)
    assert table.dtype == np.float64
    np.testing.assert_array_equal(table[:, :, 0], 1.0)
    np.testing.assert_array_equal(table[:, :, 1], 0.0)
    assert [c for c, _ in seen] == [0, 1, 2]  # classes in sorted order, once each
    assert ticks == [4] * 3

    # The scorer is called with the draws of class_draws.
    calls: list[torch.Tensor] = []

    def recorder(idx, ns_given):
        calls.append(idx)
        truth = (test_labels == int(train_labels[idx[0, 0]])).double()
        return truth.expand(len(idx), 1, len(ns_given), -1)

    table = run_protocol(recorder, train_labels, test_labels, [2, 5], 2, seed=9, classes=[2, 0])
    assert table.shape == (2, 2, 1, 2)
    np.testing.assert_array_equal(table, 1.0)
    draws = class_draws(train_labels, [2, 0], 5, 2, seed=9)
    assert all(torch.equal(a, draws[c]) for a, c in zip(calls, [2, 0], strict=True))


def test_run_protocol_errors() -> None:
    train_labels = torch.tensor([i % 3 for i in range(45)])
    test_labels = torch.tensor([0, 1, 0, 1])

    def scorer(idx: torch.Tensor, ns_given) -> torch.Tensor:
        return torch.rand(len(idx), 1, len(ns_given), len(test_labels))

    with pytest.raises(ValueError, match=r"^class 2 has 0 of the 4 test images"):
        run_protocol(scorer, train_labels, test_labels, [2], 2, seed=0, classes=[0, 2])
    with pytest.raises(ValueError, match=r"^class 0 has 4 of the 4 test images"):
        run_protocol(scorer, train_labels, torch.zeros(4, dtype=torch.long), [2], 2, seed=0)
    with pytest.raises(ValueError, match=r"^ns must not be empty"):
        run_protocol(scorer, train_labels, test_labels, [], 2, seed=0)
    with pytest.raises(TypeError, match=r"^ns must be an int"):
        run_protocol(scorer, train_labels, test_labels, [2.0], 2, seed=0)
    with pytest.raises(ValueError, match=r"^draws must be an int >= 1"):
        run_protocol(scorer, train_labels, test_labels, [2], 0, seed=0)

    def wrong(idx: torch.Tensor, ns_given) -> torch.Tensor:
        return torch.rand(len(idx), len(ns_given), len(test_labels))

    with pytest.raises(ValueError, match=r"the scorer returned scores of shape \(2, 1, 4\)"):
        run_protocol(wrong, train_labels, test_labels, [2], 2, seed=0)


def test_summarise_hand_table() -> None:
    table = np.array([[0.5, 0.7, 0.9], [0.6, 0.6, 0.6]])
    out = summarise(table, ["cat", "dog"])
    # class cat: mean 0.7, std sqrt(((0.2)^2 + 0 + (0.2)^2) / 3) = 0.2·sqrt(2/3)
    # class dog: mean 0.6, std 0
    assert out["mean"] == pytest.approx(0.65, abs=1e-12)
    assert out["std"] == pytest.approx(0.1 * math.sqrt(2 / 3), abs=1e-12)
    assert list(out["per_class"]) == ["cat", "dog"]
    assert out["per_class"]["cat"] == pytest.approx(0.7)
    assert out["per_class"]["dog"] == pytest.approx(0.6)
    assert out["per_class_std"]["cat"] == pytest.approx(0.2 * math.sqrt(2 / 3), abs=1e-6)
    assert out["per_class_std"]["dog"] == pytest.approx(0.0)
    assert list(summarise(table, [3, 7])["per_class"]) == ["3", "7"]
    with pytest.raises(ValueError, match=r"^table must have shape \(classes=1, draws >= 1\)"):
        summarise(table, ["only one"])
    with pytest.raises(ValueError, match=r"^table holds NaN AUROCs"):
        summarise(np.array([[0.5, NAN]]), ["cat"])


# ----------------------------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------------------------
def _small_model() -> ConnectivityAutoencoder:
    torch.manual_seed(0)
    return ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))


def test_encode_uint8_float_and_chunks() -> None:
    model = _small_model()
    images = torch.randint(0, 256, (7, 1, 12, 12), generator=torch.Generator().manual_seed(1))
    images = images.to(torch.uint8)
    codes = encode(model, images)
    assert codes.shape == (7, 6)
    assert codes.dtype == torch.float32
    assert torch.equal(codes, encode(model, images.float() / 255))
    # Chunks change the batch size, hence the float summation order: equal up to rounding.
    torch.testing.assert_close(encode(model, images, chunk=3), codes)
    with torch.no_grad():
        direct = model.encode(images.float() / 255)
    torch.testing.assert_close(codes, direct)
    assert encode(model, images[:0]).shape == (0, 6)


@pytest.mark.parametrize("shape", [(2, 3, 12, 12), (2, 1, 13, 13), (2, 1, 12, 11), (1, 12, 12)])
def test_encode_rejects_wrong_shape(shape) -> None:
    with pytest.raises(ValueError, match=r"expects \(N, 1, 12, 12\)"):
        encode(_small_model(), torch.rand(*shape))


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        (torch.full((2, 1, 12, 12), NAN), {}, ValueError, "^images must be finite"),
        (
            torch.full((2, 1, 12, 12), 2.0),
            {},
            ValueError,
            r"^images must be finite and in \[0, 1\]",
        ),
        (
            torch.zeros(2, 1, 12, 12, dtype=torch.int32),
            {},
            TypeError,
            "^images must be uint8 or floating images",
        ),
        (np.zeros((2, 1, 12, 12)), {}, TypeError, "^images must be a torch.Tensor"),
        (torch.zeros(2, 1, 12, 12), {"chunk": 0}, ValueError, "^chunk must be an int >= 1"),
        (torch.zeros(2, 1, 12, 12), {"chunk": 2.0}, TypeError, "^chunk must be an int"),
    ],
)
def test_encode_rejects_bad_images_and_chunk(images, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        encode(_small_model(), images, **kwargs)
    with pytest.raises(TypeError, match=r"^model must be a ConnectivityAutoencoder"):
        encode(torch.nn.Identity(), torch.zeros(2, 1, 12, 12))


# ----------------------------------------------------------------------------------------------
# Baselines
# ----------------------------------------------------------------------------------------------
def _square_images(n: int, corner: str, rng: np.random.Generator) -> torch.Tensor:
    x = rng.uniform(0, 0.3, size=(n, 1, 16, 16))
    if corner == "top-left":
        x[:, :, 1:5, 1:5] = 1.0
    else:
        x[:, :, 11:15, 11:15] = 1.0
    return torch.from_numpy((x * 255).round().astype(np.uint8))


@pytest.fixture(scope="module")
def toy() -> dict:
    rng = np.random.default_rng(0)
    inliers = _square_images(40, "top-left", rng)
    test = torch.cat([_square_images(30, "top-left", rng), _square_images(30, "bottom-right", rng)])
    is_inlier = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    return {"inliers": inliers, "test": test, "is_inlier": is_inlier}


def test_flatten_pixels(toy) -> None:
    x = toy["inliers"][:5]
    flat = flatten_pixels(x)
    assert flat.dtype == np.float64
    assert flat.shape == (5, 256)
    expected = x.numpy().reshape(5, -1).astype(np.float64) / 255.0
    np.testing.assert_array_equal(flat, expected)
    np.testing.assert_array_equal(flatten_pixels(x.double() / 255), flat)
    # float32 images agree to float32 precision
    np.testing.assert_allclose(flatten_pixels(x.float() / 255), flat, rtol=0, atol=1e-7)


def test_kde_scores(toy) -> None:
    inl, test = flatten_pixels(toy["inliers"]), flatten_pixels(toy["test"])
    scores, bandwidth = kde_scores(inl, test)
    assert scores.shape == (60,)
    assert bandwidth in KDE_BANDWIDTHS
    assert auroc(scores, toy["is_inlier"]) > 0.9
    # A grid of one: that bandwidth is returned.
    _, only = kde_scores(inl, test, bandwidths=[2.5])
    assert only == 2.5


def test_ocsvm_scores(toy) -> None:
    scores = ocsvm_scores(flatten_pixels(toy["inliers"]), flatten_pixels(toy["test"]))
    assert scores.shape == (60,)
    assert auroc(scores, toy["is_inlier"]) > 0.9


def test_deep_svdd_scores(toy) -> None:
    rng_state = torch.get_rng_state()
    a = deep_svdd_scores(toy["inliers"], toy["test"], seed=3, epochs=30)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    b = deep_svdd_scores(toy["inliers"], toy["test"], seed=3, epochs=30)
    assert a.shape == (60,)
    assert torch.equal(a, b)
    assert (a <= 0).all()  # minus a squared distance
    assert not torch.equal(a, deep_svdd_scores(toy["inliers"], toy["test"], seed=4, epochs=30))
    assert not torch.equal(a, deep_svdd_scores(toy["inliers"], toy["test"], seed=3, epochs=2))
    assert auroc(a, toy["is_inlier"]) > 0.9
    # float input in [0, 1] is the same as uint8
    c = deep_svdd_scores(toy["inliers"].float() / 255, toy["test"].float() / 255, 3, epochs=30)
    torch.testing.assert_close(a, c)


def test_deep_svdd_net() -> None:
    net = DeepSVDDNet(1, 16)
    names = [name for name, _ in net.named_parameters()]
    assert names and not any("bias" in name for name in names)
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            assert not module.affine
            assert module.weight is None and module.bias is None
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            assert module.bias is None
    assert net(torch.rand(3, 1, 16, 16)).shape == (3, 32)
    assert DeepSVDDNet(3, 9, rep_dim=5)(torch.rand(2, 3, 9, 9)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"^image_size must be an int >= 8"):
        DeepSVDDNet(1, 7)
    with pytest.raises(ValueError, match=r"^rep_dim must be an int >= 1"):
        DeepSVDDNet(1, 8, rep_dim=0)
    with pytest.raises(TypeError, match=r"^widths must be a tuple of 2 ints"):
        DeepSVDDNet(1, 8, widths=(8,))


def _pixels(rows: int, d: int = 4) -> np.ndarray:
    return np.random.default_rng(rows).uniform(size=(rows, d))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: flatten_pixels(torch.full((2, 1, 8, 8), NAN)), ValueError, "^images must be fin"),
        (lambda: flatten_pixels(torch.zeros(2, 64)), ValueError, "^images must have 4 dim"),
        (lambda: kde_scores(_pixels(4), _pixels(3)), ValueError, "^inliers needs at least 5"),
        (lambda: kde_scores(_pixels(9), _pixels(3, 5)), ValueError, "^inliers and test differ"),
        (lambda: kde_scores(_pixels(9), _pixels(3), [0.0]), ValueError, "^bandwidths must be in"),
        (
            lambda: kde_scores(_pixels(9), _pixels(3), []),
            ValueError,
            "^bandwidths must not be empty",
        ),
        (lambda: kde_scores(_pixels(9).tolist(), _pixels(3)), TypeError, "^inliers must be a 2-D"),
        (lambda: kde_scores(_pixels(9), _pixels(3) * NAN), ValueError, "^test contains NaN"),
        (lambda: ocsvm_scores(_pixels(9), _pixels(3), nu=0.0), ValueError, "^nu must be in"),
        (lambda: ocsvm_scores(_pixels(9), _pixels(3), nu=NAN), ValueError, "^nu must be finite"),
        (lambda: ocsvm_scores(_pixels(9), _pixels(3), gamma="x"), ValueError, "^gamma must be o"),
        (lambda: ocsvm_scores(_pixels(9), _pixels(3), gamma=-1.0), ValueError, "^gamma must be"),
        (lambda: ocsvm_scores(_pixels(1), _pixels(3)), ValueError, "^inliers needs at least 2"),
    ],
)
def test_pixel_baselines_reject_bad_input(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"inliers": torch.rand(1, 1, 8, 8)}, ValueError, "^inliers needs at least 2 images"),
        ({"test": torch.rand(3, 1, 9, 9)}, ValueError, "^inliers and test must be square"),
        ({"inliers": torch.rand(3, 1, 8, 9)}, ValueError, "^inliers and test must be square"),
        ({"test": torch.full((3, 1, 8, 8), NAN)}, ValueError, "^test must be finite"),
        ({"epochs": 0}, ValueError, "^epochs must be an int >= 1"),
        ({"lr": INF}, ValueError, "^lr must be finite"),
        ({"weight_decay": -1.0}, ValueError, "^weight_decay must be in"),
        ({"batch_size": 1}, ValueError, "^batch_size must be an int >= 2"),
        ({"chunk": 0}, ValueError, "^chunk must be an int >= 1"),
        ({"seed": 1.5}, TypeError, "^seed must be an int"),
    ],
)
def test_deep_svdd_rejects_bad_input(kwargs: dict, error: type, match: str) -> None:
    args = {"inliers": torch.rand(3, 1, 8, 8), "test": torch.rand(3, 1, 8, 8), "seed": 0}
    with pytest.raises(error, match=match):
        deep_svdd_scores(**(args | {"epochs": 1} | kwargs))


# ----------------------------------------------------------------------------------------------
# the one-class study's helpers (toposhape.studies.oneclass)
# ----------------------------------------------------------------------------------------------
def test_get_profile() -> None:
    with pytest.raises(
        ValueError,
        match=r"^profile must be one of 'smoke', 'full', 'natural', 'cifar', got 'nope'$",
    ):
        get_profile("nope")
    a = get_profile("full")
    a["ns"].append(1)
    assert 1 not in get_profile("full")["ns"]  # a copy


@pytest.mark.parametrize("profile", ["full", "natural"])
def test_backbone_specs(profile: str) -> None:
    settings_ = get_profile(profile)
    specs = backbone_specs(settings_, seed=5)
    keys = [(s.dataset, s.lam, s.branches, s.branch_dim, s.seed) for s in specs]
    assert len(keys) == len(set(keys))
    assert len({s.name for s in specs}) == len(specs)
    seeds = [5 + i for i in range(settings_["train_seeds"])]
    for dataset in settings_["datasets"]:
        for seed in seeds:
            assert (dataset, 20.0, 16, 10, seed) in keys
            assert (dataset, 0.0, 16, 10, seed) in keys
    ablation = settings_["ablation_dataset"]
    for lam in settings_["lambdas"]:
        assert (ablation, float(lam), 16, 10, 5) in keys
    assert (ablation, 20.0, 1, 160, 5) in keys
    # Exactly these: 2 per dataset and seed, the 3 further ablation λ, the single branch.
    assert len(keys) == 2 * len(settings_["datasets"]) * len(seeds) + 3 + 1
    assert f"{ablation}-lam20-1x160-seed5" in {s.name for s in specs}
    # one training set after the other: the first set's backbones come first
    first = settings_["datasets"][0]
    n_first = 2 * len(seeds)
    assert all(s.dataset == first for s in specs[:n_first])


def test_evaluation_jobs_natural() -> None:
    settings_ = get_profile("natural")
    lam20 = BackboneSpec("tinyimagenet", 20.0, seed=0)
    jobs = evaluation_jobs(lam20, "cifar10", settings_, True, True, True)
    kinds = [(j["kind"], j["split"]) for j in jobs]
    assert kinds == [
        ("main", "test"),
        ("jpeg", "test-jpeg1000"),
        ("jpeg", "test-png"),
        ("large_n", "test"),
    ]
    assert jobs[0]["radius_grid"] and jobs[0]["calibrated"]
    assert jobs[-1]["ns"] == [5000] and jobs[-1]["draws"] == 1
    # another seed of the same setting: no radius grid, no n = 5000
    jobs = evaluation_jobs(
        BackboneSpec("tinyimagenet", 20.0, seed=1), "cifar10", settings_, True, False, True
    )
    assert [j["kind"] for j in jobs] == ["main", "jpeg", "jpeg"]
    assert not jobs[0]["radius_grid"]
    # TinyImageNet has no lossless twin of its test split; the λ = 1 ablation backbone gets η only
    jobs = evaluation_jobs(
        BackboneSpec("tinyimagenet", 1.0), "cifar10", settings_, False, True, False
    )
    assert [j["kind"] for j in jobs] == ["ablation", "large_n"]
    single = BackboneSpec("tinyimagenet", 20.0, 1, 160)
    assert [
        j["kind"] for j in evaluation_jobs(single, "cifar10", settings_, False, True, True)
    ] == ["ablation"]


def test_calibrated_radius_is_the_mean_heldout_death_time() -> None:
    codes = torch.randn(250, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = calibrated_radius(codes, branches=4)
    # oracle: scipy MSTs of the two full batches of 100 (the last 50 are dropped), ℓ1, per branch
    from scipy.sparse.csgraph import minimum_spanning_tree

    deaths = []
    for start in (0, 100):
        for b in range(4):
            block = codes[start : start + 100, 8 * b : 8 * (b + 1)].numpy()
            deaths += minimum_spanning_tree(cdist(block, block, "cityblock")).data.tolist()
    assert len(deaths) == 2 * 4 * 99
    assert got == pytest.approx(np.mean(deaths), abs=1e-4)


def test_cached_reuses_only_the_same_key(tmp_path) -> None:
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"value": len(calls)}

    key = {"weights": "abc", "radii": [2.0]}
    assert cached(tmp_path, key, compute) == {"value": 1}
    assert cached(tmp_path, dict(reversed(list(key.items()))), compute) == {"value": 1}
    assert cached(tmp_path, {"weights": "abd", "radii": [2.0]}, compute) == {"value": 2}
    assert len(calls) == 2
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
    (entry,) = [f for f in tmp_path.glob("*.json") if '"abc"' in f.read_text()]
    entry.write_text(entry.read_text()[:-5])  # a damaged entry is computed again
    assert cached(tmp_path, key, compute) == {"value": 3}
    assert cached(tmp_path, key, compute) == {"value": 3}
    with pytest.raises(ValueError, match=r"value\[\"x\"\] is NaN"):
        cached(tmp_path, {"weights": "nan"}, lambda: {"x": float("nan")})


def _stats(values: list[float]) -> dict:
    return {
        "values": values,
        "mean": float(np.mean(values)),
        "seed_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
    }


def test_verdict_noise_rule() -> None:
    a, b = _stats([70.0, 71.0, 72.0]), _stats([60.0, 61.0, 62.0])
    answer, delta, se = verdict(a, b)
    assert (answer, delta) == ("yes", 10.0)
    assert se == pytest.approx(math.sqrt(2 / 3))
    assert verdict(b, a)[0] == "no"
    # a difference inside twice its standard error is "within noise"
    c = _stats([70.5, 72.5, 74.5])
    assert verdict(c, a)[0] == "within noise"  # Δ = 1.5, SE = sqrt(4/3 + 1/3) ≈ 1.29
    one = _stats([80.0])
    assert verdict(one, a)[0] == "one seed"
    assert verdict(one, a, noise_std=1.0)[0] == "yes"  # Δ = 9 > 2 · sqrt(1 + 1/3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_device_without_cuda() -> None:
    with pytest.raises(ValueError, match=r"'cuda'.*torch sees none"):
        profile_device("cuda")
    assert profile_device("cpu") == torch.device("cpu")


def test_eta_ball_toy_counts() -> None:
    toy = eta_ball_toy(0)
    points = np.array(toy["points"])
    eta = toy["eta"]
    gx, gy = np.meshgrid(toy["xs"], toy["ys"])
    loc = np.stack([gx.ravel(), gy.ravel()], 1)
    dist = np.abs(loc[:, None, :] - points[None, :, :]).sum(-1)  # (grid², n) ℓ1
    counts = np.array(toy["counts"])
    assert counts.shape == (len(toy["ys"]), len(toy["xs"]))
    counts = counts.ravel()
    # xs, ys, points are rounded to 5 decimals: distances may move by up to 2e-5.
    tol = 1e-4
    low = (dist < eta - tol).sum(1)
    high = (dist <= eta + tol).sum(1)
    assert (low <= counts).all() and (counts <= high).all()
    exact = low == high
    assert exact.mean() > 0.99
    np.testing.assert_array_equal(counts[exact], low[exact])
    assert counts.max() >= 2 and counts.min() == 0
