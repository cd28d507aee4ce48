"""The atlas chapter's read-out and decision rules.

Oracles: brute-force threshold scans for the interval of right thresholds; the closed-form
Wilson score interval for scipy's; hand-computed elbows; the read-out of the controls
(hand-built covers whose nerve is known) over Z/2 and Z/3; and barycentric memberships of
the 6-vertex RP² triangulation, a cover independent of :mod:`toposhape.covers`.
"""

import math

import numpy as np
import pytest

from toposhape.nerve import persistent_betti
from toposhape.studies.atlas import readout, rules
from toposhape.studies.atlas.controls import control_study, recovered, standardise


def _bars(**lengths) -> dict[int, dict[int, np.ndarray]]:
    """Barcodes over both fields with bars born at 0.1 of the given lengths per dimension."""
    by_dim = {int(d[1:]): np.array([[0.1, 0.1 + x] for x in v]).reshape(-1, 2)
              for d, v in lengths.items()}  # fmt: skip
    return {2: by_dim, 3: by_dim}


def test_correct_lengths_is_the_interval_of_right_thresholds():
    bars = _bars(h0=[2.9, 0.2], h1=[2.5, 1.8, 0.6, 0.4], h2=[1.4, 0.3])
    low, high = readout.correct_lengths(bars, "torus")  # truth (1, 2, 1)
    assert (low, high) == pytest.approx((0.6, 1.4))
    for t in np.linspace(0.01, 3.0, 300):  # brute force
        right = all(persistent_betti(b, t) == (1, 2, 1) for b in bars.values())
        assert right == (low < t <= high), t


def test_correct_lengths_is_empty_when_a_class_is_missing_or_extra():
    low, high = readout.correct_lengths(_bars(h0=[2.9], h1=[2.5], h2=[1.0]), "torus")
    assert low >= high
    low, high = readout.correct_lengths(_bars(h0=[2.9], h1=[0.3]), "circle")
    assert (low, high) == pytest.approx((0.0, 0.3))


def test_the_field_matters_for_rp2():
    z2 = {0: np.array([[0.0, 3.0]]), 1: np.array([[0.3, 3.0]]), 2: np.array([[0.6, 3.0]])}
    z3 = {0: np.array([[0.0, 3.0]]), 1: np.array([[0.3, 0.5]]), 2: np.empty((0, 2))}
    assert readout.correct_lengths({2: z2, 3: z3}, "rp2") == pytest.approx((0.2, 2.4))
    assert readout.correct_lengths({2: z2, 3: z2}, "rp2")[0] >= 2.4  # Z/3 has no H1


def test_choose_threshold_takes_the_middle_of_what_the_controls_share():
    chosen = readout.choose_threshold([(0.2, 1.5), (0.6, 2.0), (0.4, 1.2)])
    assert chosen == pytest.approx({"low": 0.6, "high": 1.2, "threshold": 0.9})
    with pytest.raises(ValueError, match="fails its positive controls"):
        readout.choose_threshold([(0.2, 0.5), (0.6, 2.0)])
    with pytest.raises(ValueError, match=r"^intervals is empty"):
        readout.choose_threshold([])


def test_the_read_out_recovers_rp2_from_its_triangulation_over_both_fields():
    triangles = [(0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 4, 5), (0, 5, 1),
                 (1, 2, 4), (2, 3, 5), (3, 4, 1), (4, 5, 2), (5, 1, 3)]  # fmt: skip
    rng = np.random.default_rng(0)
    q = np.zeros((100 * len(triangles), 6))
    for i, tri in enumerate(triangles):
        q[100 * i : 100 * (i + 1), list(tri)] = rng.dirichlet(np.ones(3), size=100)
    q = 0.999 * q + 0.001 / 6
    bars = readout.nerve_bars(q, "rp2")
    assert all((b[:, 1] <= readout.WINDOW).all() for f in bars.values() for b in f.values())
    betti = readout.betti_at(bars, 1.0)
    assert betti == {2: [1, 1, 1], 3: [1, 0, 0]}
    assert recovered(betti, "rp2") and not recovered(betti, "sphere")


def test_chart_checks_flag_small_and_broken_charts():
    rng = np.random.default_rng(2)
    disc = rng.uniform(-1, 1, (200, 2))
    blobs = np.concatenate([rng.normal(0, 0.05, (100, 2)), rng.normal(4, 0.05, (100, 2))])
    points = np.concatenate([disc, blobs, rng.uniform(size=(readout.MIN_CHART_POINTS - 1, 2))])
    owner = np.repeat([0, 1, 2], [200, 200, readout.MIN_CHART_POINTS - 1])
    checks = readout.chart_checks(points, np.eye(4)[owner])
    assert [c["contractible"] for c in checks] == [True, False, None, None]
    assert [c["points"] for c in checks] == [200, 200, readout.MIN_CHART_POINTS - 1, 0]


def test_standardise_uses_its_own_or_the_given_statistics():
    x = np.random.default_rng(0).normal(3, 2, (100, 3))
    z, mean, std = standardise(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1)
    np.testing.assert_allclose(standardise(x[:5], mean, std)[0], z[:5])
    with pytest.raises(ValueError, match="constant coordinate"):
        standardise(np.ones((4, 2)))


def test_controls_pass_and_fix_the_threshold():
    settings = {
        "controls": ["circle-4", "sphere-6", "torus-1x8", "sphere-3"],
        "control_entropies": [0.1, 0.2, 0.4],
        "control_points": 3000,
    }
    out = control_study(settings)
    thr = out["threshold"]
    assert thr["low"] < thr["threshold"] < thr["high"]
    for cover in out["covers"]:
        for level in cover["levels"]:
            assert level["recovered"] == cover["good"], (cover["cover"], level["entropy"])
            assert level["measured_entropy"] == pytest.approx(level["entropy"], rel=1e-5)
        assert all(c["contractible"] == cover["good"] for c in cover["chart_checks"])
    with pytest.raises(ValueError, match="control_entropies must include"):
        control_study(settings | {"control_entropies": [0.1, 0.2]})


# ------------------------------------------------------------------------------------ rules


def _wilson_formula(c: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = c / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("c", "n"), [(0, 10), (3, 10), (7, 10), (10, 10), (1, 1), (5, 3 * 5)])
def test_wilson_matches_the_closed_form(c, n):
    assert rules.wilson(c, n) == pytest.approx(_wilson_formula(c, n), abs=1e-9)


def test_wilson_edge_cases_and_arguments():
    assert rules.wilson(0, 0) == (0.0, 1.0)
    low, high = rules.wilson(10, 10)
    assert low > 0.5 and high == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"^successes"):
        rules.wilson(4, 3)
    with pytest.raises(ValueError, match=r"^confidence"):
        rules.wilson(1, 3, confidence=1.0)


def test_exceeds_is_the_noise_rule():
    assert rules.exceeds([1.0, 1.1, 1.2], [0.5, 0.6, 0.7])  # 0.5 > 2 · 0.1
    assert not rules.exceeds([1.0, 1.1, 1.2], [0.85, 0.95, 1.05])  # 0.15 < 0.2
    assert not rules.exceeds([2.0], [1.0])  # one seed: no spread, no verdict
    assert math.isnan(rules.seed_sd([1.0]))


def test_elbow_picks_the_first_d_that_halves_the_error_and_then_stops_gaining():
    seeds = np.array([-0.01, 0.0, 0.01])
    errors = {1: 0.9 + seeds, 2: 0.5 + seeds, 3: 0.05 + seeds / 10, 4: 0.0495 + seeds / 10,
              5: 0.049 + seeds / 10}  # fmt: skip
    assert rules.elbow(errors) == 3
    errors[4] = 0.01 + seeds / 10  # d = 4 still gains beyond noise
    assert rules.elbow(errors) == 4
    assert rules.elbow({d: 0.5 + seeds for d in range(1, 6)}) is None  # no drop anywhere
    assert rules.elbow({1: np.array([0.9]), 2: np.array([0.1]), 3: np.array([0.1])}) is None
