"""Fast tests of the library behind the "Controlling connectivity" chapter.

The measures get independent oracles: greedy η-nets against a plain sequential loop over
scipy distances and against brute-force smallest covers and largest packings; the
densification counts against scipy distances; the verdict rules against synthetic numbers
and, for densification, against codes of a tighter and a looser synthetic encoder. The
study itself runs end to end on random images at a tiny profile (training, reuse of the
one-class study's checkpoints, the committed per-backbone records read on a machine without
checkpoints, partial results, the status listing, the report).
"""

import copy
import itertools
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist

from toposhape import image_sets
from toposhape.oneclass import class_draws
from toposhape.results import load_record, load_results, save_results
from toposhape.studies import scorecard, style
from toposhape.studies.connectivity import (
    backbones,
    control,
    covering,
    densify,
    plots,
    report,
    summary,
    sweep_plots,
    theory,
)
from toposhape.studies.connectivity import deaths as death_times
from toposhape.studies.connectivity import records as conn_records
from toposhape.studies.connectivity import run as study
from toposhape.studies.connectivity import tables as conn_tables
from toposhape.studies.connectivity import toy as toy_example
from toposhape.studies.oneclass import run as oneclass_run
from toposhape.studies.oneclass import train as oneclass_train
from toposhape.training import tensor_digest

REPO = Path(__file__).resolve().parents[1]
_METRICS = {1.0: "cityblock", 2.0: "euclidean", math.inf: "chebyshev"}


def test_profiles_are_complete_and_unknown_profile_lists_valid_ones():
    keys = set(study.PROFILES["full"])
    for name in study.PROFILES:
        assert set(study.get_profile(name)) == keys
    with pytest.raises(ValueError, match=r"^profile must be one of 'smoke', 'full', got 'nope'"):
        study.get_profile("nope")


def test_get_profile_returns_a_copy():
    study.get_profile("smoke")["batch_sizes"].append(10_000)
    assert 10_000 not in study.PROFILES["smoke"]["batch_sizes"]


def test_full_profile_sweeps_five_batch_sizes_at_the_reference_budget():
    full = study.get_profile("full")
    assert sorted(full["batch_sizes"]) == [25, 50, 100, 200, 400]
    assert full["epochs"] == 50 and full["train_seeds"] == 3 and full["reuse"] == "full"
    specs = backbones.backbone_specs(full, 0)
    assert len(specs) == 18
    # priority: every cell of seed 0 before any of seed 1, the reference pair first
    assert [s.seed for s in specs] == [0] * 6 + [1] * 6 + [2] * 6
    assert specs[0].name == "mnist-lam20-16x10-seed0" and specs[1].name == "mnist-lam0-16x10-seed0"
    assert specs[2].name == "mnist-lam20-16x10-b25-seed0"
    # the B = 100 names are the one-class study's, so its checkpoints can be read
    assert {s.name for s in specs if s.batch_size == 100} <= {
        s.name for s in oneclass_run.backbone_specs(oneclass_run.get_profile("full"), 0)
    }


def test_homogenize_pulls_death_times_to_eta():
    toy = toy_example.toy_study(seed=0, per_cluster=15, steps=200, eta=1.0)
    before, after = toy["before"]["stats"], toy["after"]["stats"]
    assert after["cv"] < 0.1 < before["cv"]
    assert abs(after["mean"] - 1.0) < 0.05
    assert len(toy["after"]["deaths"]) == 45 - 1


def test_vr_demo_edges_reproduce_sorted_deaths():
    demo = toy_example.vr_demo(seed=3, n=9)
    pts, edges = np.array(demo["points"]), np.array(demo["edges"])
    lengths = np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, demo["deaths"], atol=1e-5)
    assert np.all(np.diff(demo["deaths"]) >= 0) and len(demo["deaths"]) == 8


def test_death_summary_statistics():
    deaths = torch.full((4, 2, 9), 2.0)
    deaths[0, 0, 0] = 10.0
    s = death_times.death_summary(deaths, eta=2.0, within=0.5, bins=10)
    assert s["count"] == 72
    assert s["frac_within"] == pytest.approx(71 / 72)
    assert len(s["per_branch_mean"]) == 2
    assert sum(s["histogram"]["counts"]) == 72
    assert len(s["histogram"]["edges"]) == 11


def test_share_within_from_quantiles_matches_the_direct_share():
    rng = np.random.default_rng(3)
    for scale in (0.3, 1.0, 2.0):
        deaths = torch.from_numpy(rng.gamma(4.0, scale / 2, size=(7, 3, 99)))
        quantiles = death_times.death_quantiles(deaths)
        assert len(quantiles) == 1001
        for within in (0.0, 0.1, 0.5, 3.0):
            direct = float((torch.abs(deaths - 2.0) <= within).double().mean())
            got = death_times.share_within(quantiles, 2.0, within)
            assert got == pytest.approx(direct, abs=1e-3)
    assert death_times.share_within([2.0] * 5, 2.0, 0.0) == 1.0
    assert death_times.share_within([0.0, 1.0], 5.0, 1.0) == 0.0


def test_heldout_batches_follow_a_seeded_order():
    """Two groups of codes in file order (as MNIST's two writer groups): consecutive batches
    see one group each, shuffled batches both; the seed fixes the order."""
    gen = torch.Generator().manual_seed(0)
    codes = torch.cat([torch.randn(200, 2, generator=gen), 50 + torch.randn(200, 2, generator=gen)])
    plain = death_times.heldout_deaths(codes, 1, 100, 1.0)
    mixed = death_times.heldout_deaths(codes, 1, 100, 1.0, seed=3)
    assert float(plain.max()) < 20 < float(mixed.max(dim=-1).values.min())
    assert torch.equal(mixed, death_times.heldout_deaths(codes, 1, 100, 1.0, seed=3))
    assert not torch.equal(mixed, death_times.heldout_deaths(codes, 1, 100, 1.0, seed=4))


def test_branch_radii_keep_tiny_scales_and_refuse_a_collapsed_branch():
    gen = torch.Generator().manual_seed(2)
    first = torch.randn(200, 2, dtype=torch.float64, generator=gen)
    codes = torch.cat([first, 1e-7 * first], dim=1)  # the second branch far below 4 decimals
    radii = death_times.branch_radii(codes, 2, 100, 1.0, seed=0)
    assert radii[1] == pytest.approx(1e-7 * radii[0], rel=1e-9) and radii[1] > 0
    codes[:, 2:] = 0.5  # every code of the branch at one point
    with pytest.raises(ValueError, match="branch 1"):
        death_times.branch_radii(codes, 2, 100, 1.0, seed=0)


def test_death_summary_of_a_tensor_that_requires_grad():
    deaths = torch.rand(3, 2, 9, dtype=torch.float64)
    expected = death_times.death_summary(deaths, eta=0.5, within=0.1, bins=5)
    assert (
        death_times.death_summary(deaths.requires_grad_(True), eta=0.5, within=0.1, bins=5)
        == expected
    )


def test_gradient_study_passes_gradcheck():
    g = theory.gradient_study(seed=0, n=6, dim=2)
    assert all(g["gradcheck"].values())
    assert min(g["max_abs_error"]) < 1e-7


# ---------------------------------------------------------------------------
# Greedy η-nets
# ---------------------------------------------------------------------------


def _sequential_net(points: np.ndarray, radius: float, p: float) -> list[int]:
    """The definition, one point at a time, on scipy's distances."""
    d = cdist(points, points, _METRICS[p])
    centres: list[int] = []
    for i in range(len(points)):
        if all(d[i, c] > radius for c in centres):
            centres.append(i)
    return centres


def _smallest_cover(points: np.ndarray, radius: float, p: float) -> int:
    """Fewest points whose radius-balls cover all points (centres among the points)."""
    d = cdist(points, points, _METRICS[p]) <= radius
    for k in range(1, len(points) + 1):
        for centres in itertools.combinations(range(len(points)), k):
            if d[list(centres)].any(axis=0).all():
                return k
    raise AssertionError("unreachable")


def _largest_packing(points: np.ndarray, radius: float, p: float) -> int:
    """Most points pairwise farther apart than radius."""
    d = cdist(points, points, _METRICS[p]) > radius
    for k in range(len(points), 0, -1):
        for subset in itertools.combinations(range(len(points)), k):
            if all(d[i, j] for i, j in itertools.combinations(subset, 2)):
                return k
    raise AssertionError("unreachable")


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("seed", range(4))
def test_eta_net_is_the_sequential_greedy_net(p, seed):
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(200, 3, generator=gen, dtype=torch.float64) * 4
    net = covering.eta_net(points, 0.7, p, chunk=13)  # blocks cut across the greedy order
    assert net.tolist() == _sequential_net(points.numpy(), 0.7, p)
    d = cdist(points.numpy(), points[net].numpy(), _METRICS[p])
    assert (d.min(axis=1) <= 0.7).all()  # a cover
    inner = cdist(points[net].numpy(), points[net].numpy(), _METRICS[p])
    assert (inner[~np.eye(len(net), dtype=bool)] > 0.7).all()  # separated
    # the net of a prefix is the prefix of the net
    assert covering.eta_net(points[:77], 0.7, p).tolist() == net[net < 77].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_eta_net_lies_between_the_smallest_cover_and_the_largest_packing(seed):
    points = np.random.default_rng(seed).uniform(0, 3, size=(9, 2))
    size = len(covering.eta_net(torch.from_numpy(points), 1.0, 1.0))
    assert _smallest_cover(points, 1.0, 1.0) <= size <= _largest_packing(points, 1.0, 1.0)


def test_eta_net_of_one_cluster_and_of_separated_points():
    assert covering.eta_net(torch.zeros(50, 4), 0.1).tolist() == [0]
    grid = torch.arange(10, dtype=torch.float64)[:, None] * 3
    assert covering.eta_net(grid, 2.9).tolist() == list(range(10))


def _partial_covers_oracle(points: np.ndarray, radius: float, p: float, shares: list) -> list:
    """k_q by brute force: a sequential greedy net, every point to its nearest centre (ties:
    the earlier centre), then the fewest largest centres whose points reach a share q."""
    centres = _sequential_net(points, radius, p)
    counts = [0] * len(centres)
    for x in points:
        dists = [cdist(x[None], points[c][None], _METRICS[p])[0, 0] for c in centres]
        counts[dists.index(min(dists))] += 1
    counts.sort(reverse=True)
    out = []
    for q in shares:
        k, held = 0, 0
        while held < q * len(points) - 1e-9:
            held += counts[k]
            k += 1
        out.append(k)
    return out


def test_covering_numbers_are_nested_branch_nets_with_their_partial_covers():
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(300, 6, generator=gen)
    out = covering.covering_numbers(codes, 3, 1.5, 1.0, [50, 300, 1000], seed=4)
    assert out["sizes"] == [50, 300]  # 1000 > the 300 codes: skipped
    assert out["quantiles"] == list(covering.QUANTILES) and out["quantiles"][-1] == 1.0
    order = torch.randperm(300, generator=torch.Generator().manual_seed(4 + 13))
    for b in range(3):
        branch = codes[order, 2 * b : 2 * b + 2].double().numpy()
        for i, m in enumerate(out["sizes"]):
            expected = _partial_covers_oracle(branch[:m], 1.5, 1.0, out["quantiles"])
            assert [k[b] for k in out["k"][i]] == expected
            assert out["k"][i][-1][b] == len(_sequential_net(branch[:m], 1.5, 1.0))  # N_η


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("seed", range(3))
def test_partial_covers_match_a_brute_force_oracle(p, seed):
    rng = np.random.default_rng(seed)
    # a dense cluster, a sparse halo and a few strays: k_q differ strongly across q
    points = np.concatenate(
        [rng.normal(0, 0.3, (60, 2)), rng.normal(0, 2.0, (30, 2)), rng.uniform(-9, 9, (6, 2))]
    )
    points = points[rng.permutation(len(points))]
    shares = [0.5, 0.9, 0.99, 1.0, 1 / 3]
    net = covering.eta_net(torch.from_numpy(points), 0.8, p)
    got = covering.partial_covers(
        torch.from_numpy(points), torch.from_numpy(points[net]), shares, p
    )
    assert got == _partial_covers_oracle(points, 0.8, p, shares)
    assert got[3] == len(net) and got[0] <= got[1] <= got[2] <= got[3]


def test_partial_covers_of_known_clusters():
    """Clusters of 6, 3 and 1 points around three centres: k at 0.5, 0.6, 0.9, 0.91, 1."""
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]], dtype=torch.float64)
    points = torch.cat([centres[[0] * 6], centres[[1] * 3], centres[[2]]]) + 0.01
    shares = [0.5, 0.6, 0.61, 0.9, 0.91, 1.0]
    assert covering.partial_covers(points, centres, shares) == [1, 1, 2, 2, 3, 3]


# ---------------------------------------------------------------------------
# Densification counts
# ---------------------------------------------------------------------------


def test_inlier_counts_match_scipy_distances():
    gen = torch.Generator().manual_seed(2)
    train, test = torch.randn(120, 4, generator=gen), torch.randn(40, 4, generator=gen)
    train_y, test_y = torch.arange(120) % 3, torch.arange(40) % 3
    radii, ns = [0.8, 2.0], [5, 10, 30]
    out = densify.inlier_counts(test, test_y, train, train_y, 2, radii, ns, 12, 1.0, seed=7)
    draws = class_draws(train_y, [0, 1, 2], 30, 1, 7)
    pooled = np.concatenate([draws[c][0, :12].numpy() for c in (0, 1, 2)])

    def within(members: np.ndarray, codes: np.ndarray, r: float) -> np.ndarray:
        """Codes within r of each member, per branch: (branches, members)."""
        return np.stack(
            [(cdist(members[:, 2 * b : 2 * b + 2], codes[:, 2 * b : 2 * b + 2], "cityblock")
              <= r).sum(axis=1) for b in range(2)]
        )  # fmt: skip

    for ci, c in enumerate(out["classes"]):
        members = test[test_y == c].numpy()
        for ri, r in enumerate(radii):
            own = within(members, train[draws[c][0, :12]].numpy(), r)
            every = within(members, train[pooled].numpy(), r)
            assert out["purity"]["own"][ri][ci] == pytest.approx(own.mean())
            assert out["purity"]["all"][ri][ci] == pytest.approx(every.mean())
            assert (own <= every).all() and every.sum() > own.sum()  # other classes come in
            for ni, n in enumerate(ns):
                inliers = train[draws[c][0, :n]].numpy()
                counts = np.stack(
                    [
                        (cdist(members[:, 2 * b : 2 * b + 2], inliers[:, 2 * b : 2 * b + 2],
                               "cityblock") <= r).sum(axis=1)
                        for b in range(2)
                    ]
                )  # fmt: skip
                assert out["mean_count"][ri][ci][ni] == pytest.approx(counts.mean())
                assert out["coverage"][ri][ci][ni] == pytest.approx((counts > 0).mean())
    assert out["test_codes"] == [14, 13, 13] and out["purity"]["n"] == 12
    assert out["radii"] == [[0.8, 0.8], [2.0, 2.0]]  # one radius for every branch


def test_calibrated_radii_are_per_branch_and_make_the_branches_comparable():
    """Two branches of one encoder, the second the first scaled by 10: its radius is 10×
    the first's, and at each branch's own radius both count what the first alone does."""
    gen = torch.Generator().manual_seed(4)
    first = torch.randn(300, 2, dtype=torch.float64, generator=gen)
    codes = torch.cat([first, 10 * first], dim=1)  # (300, 2 branches of 2)
    labels = torch.arange(300) % 3
    radii = death_times.branch_radii(codes, 2, 100, 1.0, seed=5)
    assert radii[1] == pytest.approx(10 * radii[0], rel=1e-9)
    deaths = death_times.heldout_deaths(codes, 2, 100, 1.0, seed=5)
    assert radii[0] == pytest.approx(float(deaths[:, 0].mean()), rel=1e-12)
    test, train = codes[:90], codes[90:]
    test_y, train_y = labels[:90], labels[90:]
    args = ([20, 60], 20, 1.0, 3)
    own = densify.inlier_counts(test, test_y, train, train_y, 2, [radii], *args)
    alone = densify.inlier_counts(test[:, :2], test_y, train[:, :2], train_y, 1, [radii[0]], *args)
    assert own["radii"] == [radii]
    np.testing.assert_allclose(own["mean_count"], alone["mean_count"])
    np.testing.assert_allclose(own["coverage"], alone["coverage"])
    # one radius for both (their mean): the small branch's balls swallow everything
    mean = densify.inlier_counts(test, test_y, train, train_y, 2, [float(np.mean(radii))], *args)
    assert np.min(mean["mean_count"]) > 1.5 * np.max(own["mean_count"])


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


def test_compare_applies_the_noise_rule():
    assert summary.compare([1.0, 1.1, 0.9], [0.0, 0.1, -0.1])["verdict"] == "higher"
    assert summary.compare([0.0, 0.1, -0.1], [1.0, 1.1, 0.9])["verdict"] == "lower"
    assert summary.compare([0.0, 1.0], [0.2, 0.9])["verdict"] == "within noise"
    assert summary.compare([1.0], [0.0, 0.1])["verdict"] == "too few seeds"
    assert summary.compare([1.0, math.nan], [0.0, 0.1])["verdict"] == "too few seeds"
    out = summary.compare([1.0, 3.0], [0.0, 0.0])  # diff 2, pooled std 1: exactly at the line
    assert out["pooled_std"] == pytest.approx(1.0) and out["verdict"] == "within noise"


def test_compare_needs_the_share_floor_for_shares():
    a, b = [0.9990, 0.9991, 0.9989], [0.9980, 0.9981, 0.9979]  # 0.001 apart, std 1e-4
    assert summary.compare(a, b)["verdict"] == "higher"  # beyond 2 pooled stds ...
    out = summary.compare(a, b, summary.SHARE_FLOOR)  # ... but not beyond the floor
    assert out["verdict"] == "within noise" and out["diff"] == pytest.approx(0.001)
    far = [v - 0.03 for v in b]
    assert summary.compare(far, b, summary.SHARE_FLOOR)["verdict"] == "lower"


def _synthetic(n_eta: Callable, growth: float = 0.0) -> dict:
    """A payload with λ = 20 at B ∈ {25, 100, 400} × 3 seeds, λ = 0 at 100.

    The 90 % covering number k₀.₉ is ``n_eta(B, seed)`` at 1000 codes, and ``growth`` is its
    growth exponent from the sample of 500 before; the other k_q are far off (k₀.₅ a tenth,
    N_η = k₁ ten times and growing like the sample), so a rule that read them would differ.
    """
    payload: dict = {"settings": {"ns": [120], "transfer": []}, "backbones": {}, "models": {}}
    for seed in range(3):
        for lam, b in [(20.0, 25), (20.0, 100), (0.0, 100), (20.0, 400)]:
            name = f"lam{lam:g}-b{b}-s{seed}"
            size = n_eta(b, seed)
            payload["backbones"][name] = {
                "spec": {"lam": lam, "batch_size": b, "seed": seed},
                "history": [{"connectivity": 10.0, "reconstruction_l1": 1.0}] * 10,
            }
            payload["models"][name] = {
                "deaths": {"abs_gap": 0.5, "mean": 1.9, "std": 0.3, "quantiles": [1.0, 2.0, 3.0]},
                "auroc": {
                    "rows": [
                        {"n": 120, "radius": 2.0, "mean": 0.9},
                        {"n": 120, "radius": [1.5] * 16, "mean": 0.8},
                    ]
                },
                "covering": {
                    "sizes": [500, 1000],
                    "quantiles": [0.5, 0.9, 0.99, 1.0],
                    "k": [
                        [[k * f] * 16 for f in (0.1, 1.0, 2.0, 5.0)]
                        for k in (size / 2**growth, size)
                    ],
                },
            }
            payload["models"][name]["covering"]["k"][1][3] = [10 * size] * 16
    return payload


def test_guideline_rule_on_synthetic_metric_entropies():
    wobble = {0: 1.0, 1: 1.1, 2: 0.95}
    holds = summary.guideline(_synthetic(lambda b, s: b * wobble[s]))
    assert holds["verdict"] == "holds" and holds["slope"][0] == pytest.approx(1.0, abs=0.05)
    assert holds["ratios"][100] == pytest.approx(np.mean(list(wobble.values())))
    assert holds["growth"][100] == pytest.approx(0.0, abs=1e-12) and holds["levelled"]
    assert summary.guideline(_synthetic(lambda b, s: 5 * b))["verdict"] == "proportional only"
    assert summary.guideline(_synthetic(lambda b, s: 100 + s))["verdict"] == "fails"
    assert (
        summary.guideline({"backbones": {}, "models": {}, "settings": {"ns": [1], "transfer": []}})[
            "verdict"
        ]
        == "not measured"
    )


def test_guideline_reads_the_ratio_only_where_n_eta_has_levelled_off():
    still = summary.guideline(_synthetic(lambda b, s: b, growth=0.5))  # N_η still grows
    assert still["growth"][25] == pytest.approx(0.5) and not still["levelled"]
    assert still["ratio_holds"] and still["verdict"] == "proportional only"
    just = summary.guideline(_synthetic(lambda b, s: b, growth=0.09))
    assert just["levelled"] and just["verdict"] == "holds"


def test_guideline_fits_every_seed_on_the_batch_sizes_all_seeds_have():
    # N_η = B up to 100, flat beyond: a slope over {25, 100, 400} is below 1, over {25, 100} 1
    payload = _synthetic(lambda b, s: min(b, 100))
    assert summary.guideline(payload)["slope"][0] < 0.8
    for name in ("lam20-b400-s2", "lam20-b400-s1"):  # seeds 1 and 2 lack B = 400 (partial)
        del payload["backbones"][name], payload["models"][name]
    g = summary.guideline(payload)
    assert g["slope_bs"] == [25, 100] and set(g["slopes"]) == {0, 1, 2}
    assert all(v == pytest.approx(1.0) for v in g["slopes"].values())  # not seed 0's 400
    assert 400 in g["ratios"]  # the ratios stay per B
    for name in ("lam20-b25-s0",):  # no two B shared by every seed any more
        del payload["backbones"][name], payload["models"][name]
    g = summary.guideline(payload)
    assert g["slope_bs"] == [100] and g["verdict"] == "not measured" and not g["slopes"]


def test_guideline_slope_within_noise_when_the_seeds_spread_wider_than_the_tolerance():
    exponents = {0: 0.7, 1: 1.0, 2: 1.35}  # slopes 0.7, 1.0, 1.35: std 0.33, 2 std > 0.25
    noisy = summary.guideline(_synthetic(lambda b, s: b ** exponents[s]))
    mean, std = noisy["slope"]
    assert mean == pytest.approx(np.mean(list(exponents.values())))
    assert abs(mean - 1) <= 2 * std and 2 * std > summary.SLOPE_TOLERANCE
    assert noisy["slope_test"] == noisy["verdict"] == "within noise"
    off = {0: 1.8, 1: 2.1, 2: 2.45}  # as spread, but far from 1: beyond noise
    assert summary.guideline(_synthetic(lambda b, s: b ** off[s]))["verdict"] == "fails"


def test_guideline_gives_no_verdict_on_one_seed():
    payload = _synthetic(lambda b, s: b)
    for name in [n for n in payload["backbones"] if not n.endswith("-s0")]:
        del payload["backbones"][name], payload["models"][name]
    g = summary.guideline(payload)
    assert len(g["slopes"]) == 1 and g["slope"][0] == pytest.approx(1.0)
    assert g["slope_test"] == g["verdict"] == "too few seeds"  # no noise estimate


def test_guideline_slope_per_sample_size_is_shown():
    g = summary.guideline(_synthetic(lambda b, s: b, growth=0.5))
    # k₀.₉ of 500 codes is B / 2**0.5 at every B: the same slope on either sample
    assert g["slope_by_size"] == pytest.approx({500: 1.0, 1000: 1.0})


def _mst_mean(points: np.ndarray) -> float:
    """Mean edge length (ℓ1) of a minimum spanning tree, by scipy: the mean death time."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    tree = minimum_spanning_tree(cdist(points, points, "cityblock")).toarray()
    return float(tree[tree > 0].mean())


def test_ideal_clouds_are_calibrated_so_that_their_batches_die_at_eta():
    cloud = control.ideal_cloud("uniform", 2000, 10, 0)
    scale, after = control.calibrate(cloud, 50, 2.0, 1.0, 64, 1)
    assert after == pytest.approx(2.0, rel=0.05)
    rng = np.random.default_rng(0)  # fresh batches, scipy's spanning trees
    scaled = (cloud * scale).numpy().astype(np.float64)
    means = [_mst_mean(scaled[rng.choice(2000, 50, replace=False)]) for _ in range(40)]
    assert np.mean(means) == pytest.approx(2.0, rel=0.05)
    flat = control.ideal_cloud("gaussian-3d", 500, 10, 3).numpy()
    assert flat.shape == (500, 10) and np.linalg.matrix_rank(flat, tol=1e-4) == 3
    with pytest.raises(ValueError, match="kind"):
        control.ideal_cloud("cube", 10, 10, 0)
    with pytest.raises(ValueError, match="batch_size"):
        control.calibrate(cloud[:20], 50, 2.0, 1.0, 4, 0)


def test_ideal_covering_is_read_by_the_guideline_rule():
    found = control.ideal_covering([10, 40], [100, 400], 2.0, 1.0, 4, seeds=[0, 1], batches=8)
    assert len(found["runs"]) == len(control.CLOUDS) * 2 * 2
    assert all(r["covering"]["sizes"] == [100, 400] for r in found["runs"])
    rules = summary.control({"control": found})
    assert set(rules) == set(control.CLOUDS)
    for kind, g in rules.items():
        assert g["slope_bs"] == [10, 40] and set(g["slopes"]) == {0, 1}, kind
        assert g["label"].endswith(", 4-D") and len(g["death_means"]) == 4
        # the calibration makes the covering numbers grow with B on every cloud
        assert g["slope"][0] > 0.3, kind


def test_pm_never_prints_an_exponent_below_the_means_last_digit():
    assert conn_tables.pm(0.99999, 8.1e-06) == "1 ± <0.001"  # the mean is 1.00 to 3 digits
    assert conn_tables.pm(0.823, 0.015) == "0.823 ± 0.015"
    assert conn_tables.pm(2.5e-05, 1.2e-06) == "2.5e-05 ± 1.2e-06"  # not below the last digit
    assert conn_tables.pm(0.5, math.nan) == "0.5"


def _codes(seed: int, spread: float) -> dict:
    """Densification of a synthetic encoder: 3 classes around fixed centres in 2 branches of
    2-D, 150 training and 30 test codes per class, scattered with ``spread``."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0, 0.0, 0.0], [9.0, 0.0, 9.0, 0.0], [0.0, 9.0, 0.0, 9.0]])
    train_y, test_y = torch.arange(450) % 3, torch.arange(90) % 3
    train = centres[train_y] + spread * torch.randn(450, 4, generator=gen)
    test = centres[test_y] + spread * torch.randn(90, 4, generator=gen)
    return densify.inlier_counts(test, test_y, train, train_y, 2, [1.0, 1.0], [25, 50, 100, 150],
                                 50, 1.0, seed)  # fmt: skip


def _density_payload(spreads: dict[float, float]) -> dict:
    """Three seeds of λ -> an encoder of that spread, at B = 100 (both radii equal)."""
    payload: dict = {"backbones": {}, "models": {}}
    for seed in range(3):
        for lam, spread in spreads.items():
            name = f"lam{lam:g}-s{seed}"
            payload["backbones"][name] = {"spec": {"lam": lam, "batch_size": 100, "seed": seed}}
            payload["models"][name] = {"densification": _codes(seed, spread)}
    return payload


def test_densification_rule_on_a_tighter_and_a_looser_encoder():
    tighter = summary.densification(_density_payload({20.0: 0.4, 0.0: 1.5}))
    assert tighter["n_at_b"] == 100 and tighter["ns"] == [25, 50, 100, 150]
    ours, theirs = (tighter["variants"][label] for label in summary.DENSITY_PAIR)
    # at the same n the tighter encoder's balls hold more of their class
    assert min(ours["mass"]) > max(theirs["mass"])
    assert min(ours["coverage_at_b"]) > max(theirs["coverage_at_b"])
    # the mass is count / n: flat in n in expectation, not growing like the count
    curve = ours["per_seed"][0]["mass_curve"]
    assert max(curve) / min(curve) < 1.5
    d = _codes(0, 0.4)
    assert ours["per_seed"][0]["mass"] == pytest.approx(
        np.mean(np.asarray(d["mean_count"][0])[:, -1]) / 150
    )
    assert tighter["tests"]["coverage_at_b"]["verdict"] == "higher"
    assert tighter["tests"]["mass"]["verdict"] == "higher"
    assert tighter["verdict"] == "denser"
    looser = summary.densification(_density_payload({20.0: 1.5, 0.0: 0.4}))
    assert looser["verdict"] == "not denser"
    same = summary.densification(_density_payload({20.0: 1.0, 0.0: 1.0}))  # identical codes
    assert all(t["diff"] == 0 for t in same["tests"].values())
    assert same["verdict"] == "within noise"
    assert summary.densification({"backbones": {}, "models": {}})["verdict"] == "too few seeds"


def test_density_verdict_needs_both_levels_for_denser():
    def tests(coverage: str, mass: str, purity: str = "within noise") -> dict:
        return {
            "coverage_at_b": {"verdict": coverage},
            "mass": {"verdict": mass},
            "purity": {"verdict": purity},
        }

    assert summary.density_verdict(tests("higher", "higher")) == "denser"
    assert summary.density_verdict(tests("higher", "higher", "higher")) == "denser"
    assert summary.density_verdict(tests("higher", "higher", "too few seeds")) == "denser"
    # balls that fill with codes of every class: not the claim, whatever the levels
    assert summary.density_verdict(tests("higher", "higher", "lower")) == "not denser"
    assert summary.density_verdict(tests("higher", "within noise", "lower")) == "not denser"
    assert summary.density_verdict(tests("within noise", "within noise", "lower")) == ("not denser")
    assert summary.density_verdict(tests("higher", "within noise")) == "partly denser"
    assert summary.density_verdict(tests("lower", "higher")) == "partly denser"
    assert summary.density_verdict(tests("within noise", "within noise")) == "within noise"
    assert summary.density_verdict(tests("within noise", "lower")) == "not denser"
    assert summary.density_verdict(tests("too few seeds", "higher")) == "too few seeds"


def test_the_noise_rule_gives_within_noise_where_the_seed_spread_covers_the_difference():
    a, b = [1.0, 2.0, 3.0], [1.5, 2.5, 3.5]  # difference 0.5, seed std 1
    assert summary.compare(a, b)["verdict"] == "within noise"
    assert summary.compare(a, a) == {"diff": 0.0, "pooled_std": 1.0, "verdict": "within noise"}


def test_reference_n_is_the_smallest_n_at_least_b():
    assert summary.reference_n([50, 100, 200], 100) == 100
    assert summary.reference_n([50, 150, 200], 100) == 150
    assert summary.reference_n([5, 10, 20], 100) == 20


def test_convergence_rule():
    payload = _synthetic(lambda b, s: b)
    assert summary.convergence(payload)["verdict"] == "all converged"
    name = "lam20-b25-s1"
    payload["backbones"][name]["history"] = [
        {"connectivity": 10.0 - e, "reconstruction_l1": 1.0} for e in range(10)
    ]
    out = summary.convergence(payload)
    assert out["verdict"] == "not all converged"
    assert [r["name"] for r in out["rows"] if not r["converged"]] == [name]


# ---------------------------------------------------------------------------
# The study end to end on random images
# ---------------------------------------------------------------------------

_TINY = {
    "train_images": None,
    "test_images": None,
    "epochs": 2,
    "steps_per_epoch": 1,
    "train_seeds": 2,
    "batch_sizes": [100, 25],
    "reuse": None,
    "workers": 1,
    "ns": [5, 10],
    "draws": 2,
    "covering_sizes": [50, 250],
    "transfer": ["fashion-mnist"],
    "densify_ns": [5, 10, 20],
    "purity_n": 10,
    "toy_per_cluster": 8,
    "toy_steps": 5,
    "latent_points": 50,
}


@pytest.fixture(scope="module")
def fake_mnist():
    """Random MNIST-shaped splits (400 training, 250 test images, balanced labels)."""
    mp = pytest.MonkeyPatch()

    def load(name, split="train", root=None, *, size=32, verify=True, progress=False):
        n = 400 if split == "train" else 250
        gen = torch.Generator().manual_seed(n)
        images = torch.randint(0, 256, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
        info = {"layout": "test", "folder": "x", "formats": {"IDX": n}, "verified": False}
        return image_sets._split(name, split, images, torch.arange(n) % 10, info, None, None)

    mp.setattr(oneclass_train, "load_image_set", load)
    mp.setitem(study.PROFILES, "tiny", dict(_TINY))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def tiny_payload(fake_mnist, tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    payload = study.run("tiny", seed=1, results_root=root, log=None)
    return payload, root


def test_run_payload_keys_and_json(tiny_payload):
    payload, _ = tiny_payload
    assert set(payload) == set(study.PAYLOAD_KEYS)
    json.dumps(payload)  # serialisable
    assert payload["pending"] == []
    assert list(payload["backbones"]) == [
        "mnist-lam20-16x10-seed1", "mnist-lam0-16x10-seed1", "mnist-lam20-16x10-b25-seed1",
        "mnist-lam20-16x10-seed2", "mnist-lam0-16x10-seed2", "mnist-lam20-16x10-b25-seed2",
    ]  # fmt: skip
    assert all(b["source"] == "connectivity" for b in payload["backbones"].values())
    assert payload["data"]["test"]["label"] == "MNIST test: 250 IDX"
    m = payload["models"]["mnist-lam20-16x10-b25-seed1"]
    assert m["deaths"]["count"] == 10 * 16 * 24  # 250 test codes -> 10 batches of 25
    assert m["covering"]["sizes"] == [50, 250] and len(m["covering"]["k"][1]) == 4
    assert m["densification"]["ns"] == [5, 10, 20]  # at every B
    assert m["auroc"]["radii"] == [2.0, m["calibrated_radii"]]
    fashion = m["transfer"]["fashion-mnist"]
    assert fashion["auroc"]["radii"] == [2.0, fashion["calibrated_radii"]]
    assert len(fashion["auroc"]["rows"]) == 2 * 2  # two radii, two n
    assert payload["data"]["fashion-mnist/test"]["label"].startswith("Fashion-MNIST test")
    ref = payload["models"]["mnist-lam0-16x10-seed2"]
    assert "covering" not in ref  # λ = 20 only
    assert ref["deaths"]["count"] == 2 * 16 * 99
    assert ref["densification"]["ns"] == [5, 10, 20]
    assert ref["densification"]["radii"][1] == ref["calibrated_radii"]
    assert len(ref["calibrated_radii"]) == 16 and ref["densification"]["radii"][0] == [2.0] * 16
    assert ref["densification"]["purity"]["n"] == 10
    assert [r["n"] for r in ref["auroc"]["rows"]] == [5, 10, 5, 10]  # at η, calibrated
    # the first-seed B = 100 codes are kept for the latent picture, nobody else's
    assert {n for n, m in payload["models"].items() if "latent" in m} == {
        "mnist-lam20-16x10-seed1", "mnist-lam0-16x10-seed1"
    }  # fmt: skip
    assert len(payload["models"]["mnist-lam0-16x10-seed1"]["latent"]["points"]) == 50


def _without_timings(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "timings_s"}


def _refuse(*_args, **_kwargs):
    raise AssertionError("a backbone with a record was trained or loaded")


def test_every_backbone_leaves_a_small_record(tiny_payload):
    payload, root = tiny_payload
    folder = study.record_dir("tiny", root)
    assert folder == root / "connectivity" / "tiny" / "records"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{name}.json" for name in payload["backbones"]
    )
    for name in payload["backbones"]:
        path = folder / f"{name}.json"
        assert path.stat().st_size < 300_000
        key = json.loads(path.read_text())["key"]
        assert key["format"] == conn_records.RECORD_FORMAT
        assert key["spec"] == payload["backbones"][name]["spec"]
        assert key["training"]["epochs"] == 2 and key["seed"] == 1
        for split, data in payload["data"].items():
            assert key["data"][split]["fingerprint"] == data["record"]["fingerprint"]
        record = load_record(folder, name, key)
        assert record["backbone"] == payload["backbones"][name]
        assert record["model"] == payload["models"][name]
        assert load_record(folder, name, key | {"seed": 2}) is None  # another key: missing


def test_a_fresh_machine_reads_the_records_and_a_changed_key_retrains(
    tiny_payload, tmp_path, monkeypatch
):
    payload, root = tiny_payload
    fresh = tmp_path / "results"
    shutil.copytree(root, fresh)
    shutil.rmtree(study.work_dir("tiny", fresh))  # no checkpoint, no evaluation cache
    train_one, load_backbone = backbones.train_one, conn_records.load_backbone
    monkeypatch.setattr(backbones, "train_one", _refuse)
    monkeypatch.setattr(backbones, "train_backbones", _refuse)
    monkeypatch.setattr(conn_records, "load_backbone", _refuse)
    again = study.run("tiny", seed=1, results_root=fresh, log=None)
    assert _without_timings(again) == _without_timings(payload)
    assert not study.work_dir("tiny", fresh).exists()
    # another training setting is another key: without checkpoints it is pending ...
    monkeypatch.setitem(study.PROFILES, "tiny", dict(_TINY, epochs=3, train_seeds=1))
    pending = study.run("tiny", seed=1, results_root=fresh, log=None,
                        train_missing_backbones=False)  # fmt: skip
    names = list(payload["backbones"])[:3]  # seed 1's
    assert pending["backbones"] == {} and pending["pending"] == names
    # ... and trained again, each recorded as soon as it has finished
    folder = study.record_dir("tiny", fresh)

    def retrained() -> list[str]:
        keys = {p.stem: json.loads(p.read_text())["key"] for p in folder.glob("*.json")}
        return [name for name in names if keys[name]["training"]["epochs"] == 3]

    trained = []

    def counted(spec, *args, **kwargs):
        assert retrained() == trained  # every earlier backbone already has its new record
        trained.append(spec.name)
        return train_one(spec, *args, **kwargs)

    monkeypatch.setattr(backbones, "train_one", counted)
    monkeypatch.setattr(conn_records, "load_backbone", load_backbone)
    out = study.run("tiny", seed=1, results_root=fresh, log=None)
    assert trained == names == retrained() == list(out["backbones"])
    assert all(len(b["history"]) == 3 for b in out["backbones"].values())
    assert out["pending"] == []
    seed2 = list(payload["backbones"])[3:]  # not in this profile: their records stay
    for name in seed2:
        assert (folder / f"{name}.json").read_bytes() == (
            study.record_dir("tiny", root) / f"{name}.json"
        ).read_bytes()


def test_finished_one_class_backbones_are_read_not_retrained(tiny_payload, tmp_path):
    payload, root = tiny_payload
    mp = pytest.MonkeyPatch()
    mp.setitem(oneclass_run.PROFILES, "tiny", oneclass_run.get_profile("smoke"))
    mp.setitem(study.PROFILES, "tiny", dict(_TINY, reuse="tiny"))
    try:
        settings = study.get_profile("tiny")
        spec = backbones.backbone_specs(settings, 1)[1]
        name = spec.name
        assert name == "mnist-lam0-16x10-seed1"
        folder = study.work_dir("tiny", tmp_path)
        assert backbones.shared_checkpoint(spec, settings, tmp_path) is None  # none there yet
        shared = oneclass_run.work_dir("tiny", tmp_path)
        shared.mkdir(parents=True)
        shutil.copy(study.work_dir("tiny", root) / f"{name}.pt", shared)
        before = (shared / f"{name}.pt").read_bytes()
        assert backbones.shared_checkpoint(spec, settings, tmp_path) == shared / f"{name}.pt"
        assert backbones.is_finished(spec, settings, folder, tmp_path)
        trained = backbones.train_missing([spec], settings, 1, folder, tmp_path, None, log=None)
        assert trained == [spec]  # read, so nothing to train (images() is never called)
        split = oneclass_train.load_split(
            "mnist", "train", backbones.backbone_settings(settings), 1
        )
        model, history, source = backbones.load_backbone(
            spec, settings, folder, tmp_path, split.images.float().div_(255.0)
        )
        assert source == "oneclass/tiny" and history == payload["backbones"][name]["history"]
        assert not folder.exists()  # nothing written here ...
        assert sorted(p.name for p in shared.iterdir()) == [f"{name}.pt"]  # ... nor there
        assert (shared / f"{name}.pt").read_bytes() == before
        # measured from the one-class checkpoint, it is recorded here; with the record, a
        # machine without that checkpoint needs nothing else
        test = oneclass_train.load_split("mnist", "test", backbones.backbone_settings(settings), 1)
        splits = {"train": split, "test": test} | {
            f"fashion-mnist/{s}": oneclass_train.load_split(
                "fashion-mnist", s, backbones.backbone_settings(settings), 1
            )
            for s in ("train", "test")
        }
        folders = {"work": folder, "records": study.record_dir("tiny", tmp_path)}
        recorded = conn_records.collect([spec], settings, 1, splits, folders, tmp_path, False,
                                        log=None)  # fmt: skip
        entry = payload["backbones"][name] | {"source": "oneclass/tiny"}
        assert recorded[name]["backbone"] == entry
        assert recorded[name]["model"] == payload["models"][name]
        # the weights' digest is the formula the committed records were written with
        state = model.state_dict()
        assert recorded[name]["weights"] == tensor_digest(*(state[k] for k in sorted(state)))
        shutil.rmtree(shared)
        again = conn_records.collect([spec], settings, 1, splits, folders, tmp_path, False,
                                     log=None)  # fmt: skip
        assert again == recorded and not folder.exists()
        # another recipe (here: more epochs) is not the same backbone: it is trained here
        mp.setitem(study.PROFILES, "tiny", dict(_TINY, reuse="tiny", epochs=3))
        longer = study.get_profile("tiny")
        assert backbones.shared_checkpoint(spec, longer, tmp_path) is None
    finally:
        mp.undo()


def test_partial_results_list_pending_backbones_and_still_render(fake_mnist, tmp_path):
    payload = study.run("tiny", seed=0, results_root=tmp_path, log=None,
                        train_missing_backbones=False)  # fmt: skip
    assert payload["backbones"] == {} and len(payload["pending"]) == 6
    for key, fig in report.figures(payload).items():  # every figure draws with no backbone
        style.check_figure(fig, key)
    tables = report.tables(payload)
    assert len(tables["backbones"]) == 6 and set(tables["backbones"]["trained in"]) == {"pending"}
    found = report.findings(payload)
    assert found["pending"].startswith("0 of 6 backbones are trained")
    verdicts = [c.verdict for c in report.claims(lambda profile: payload)]
    assert verdicts[1] == verdicts[3] == verdicts[4] == "not run yet"


def test_figures_and_tables_from_a_saved_payload(tiny_payload, tmp_path):
    payload, _ = tiny_payload
    figures = report.figures(payload)
    save_results(
        "connectivity", "tiny", payload, seed=1, started=0.0, figures=figures, root=tmp_path
    )
    loaded = load_results("connectivity", "tiny", root=tmp_path)["results"]
    again = report.figures(loaded)  # figures from JSON numbers only
    assert set(again) == set(figures)
    assert (tmp_path / "connectivity" / "tiny" / "covering.png").is_file()
    tables = report.tables(loaded)
    assert set(tables) == {
        "toy", "gradcheck", "gradient_sample", "models", "sweep", "effects", "covering",
        "control", "densification", "densification_by_class", "backbones", "timings",
    }  # fmt: skip
    assert list(tables["control"].columns)[:2] == ["measure", "trained codes (MNIST train)"]
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in tables.values())
    assert list(tables["sweep"].columns) == ["measure", "B = 25", "B = 100"]
    assert list(tables["effects"].columns) == ["measure", "B = 25"]
    assert list(tables["covering"].columns) == ["measure", "B = 25", "B = 100"]
    assert list(tables["sweep"].iloc[0]) == ["seeds", 2, 2]
    assert list(tables["models"]["λ"]) == ["0", "20"]
    assert list(tables["models"]["seeds"]) == [2, 2]
    sweep = summary.sweep(loaded)
    values = [loaded["models"][n]["deaths"]["std"] for n in summary.runs(loaded, 20.0, 25)]
    assert sweep[0]["death_std"]["values"] == values
    row = tables["sweep"].set_index("measure").loc["death std"]
    assert row["B = 25"] == conn_tables.pm(*summary.mean_std(values)[:2])
    assert tables["toy"]["CV"].iloc[1] == pytest.approx(payload["toy"]["after"]["stats"]["cv"])
    only = copy.deepcopy(loaded)  # the reference batch size alone: nothing to compare it with
    for name in summary.runs(only, 20.0, 25):
        del only["backbones"][name], only["models"][name]
    alone = report.tables(only)
    assert list(alone["sweep"].columns) == ["measure", "B = 100"]
    assert list(alone["effects"].columns) == ["measure"] and alone["effects"].empty


def test_every_figure_fits_the_page(tiny_payload):
    payload, _ = tiny_payload
    for key, fig in report.figures(payload).items():
        assert isinstance(fig, Figure), key
        style.check_figure(fig, key)


def _dots(ax) -> dict[float, tuple[float, bool]]:
    """The single-point marker lines of ``ax``: x -> (y, filled)."""
    return {
        float(line.get_xdata()[0]): (
            float(line.get_ydata()[0]),
            line.get_markerfacecolor() != "none",
        )
        for line in ax.lines
        if len(line.get_xdata()) == 1 and line.get_marker() == "o"
    }


def test_densification_by_b_marks_n_equals_b_only_where_measured_or_between_two_n(monkeypatch):
    ns = [50, 100, 200, 500]
    mass = {b: [0.3 / b] * 4 for b in (25, 100, 400, 1000)}
    cover = [0.2, 0.4, 0.6, 0.9]
    by_b = {
        "ns": ns,
        "curves": {b: {"mass_curve": mass[b], "coverage_curve": cover, "seeds": 1 + (b == 100)}
                   for b in mass},
    }  # fmt: skip
    monkeypatch.setattr(summary, "densification_by_b", lambda payload: by_b)
    fig = sweep_plots.plot_densification_by_b({"backbones": {}, "models": {}})
    mass_ax, cover_ax = fig.axes
    # B = 100 measured: a filled dot on the measured value; B = 400, between n = 200 and
    # 500: an open dot, linear in log n; B = 25 and 1000, outside [50, 500]: none
    assert _dots(mass_ax) == {100.0: (0.003, True), 400.0: (pytest.approx(0.3 / 400), False)}
    at_400 = 0.6 + 0.3 * math.log(400 / 200) / math.log(500 / 200)
    assert _dots(cover_ax) == {100.0: (0.4, True), 400.0: (pytest.approx(at_400), False)}
    labels = [t.get_text() for t in cover_ax.get_legend().get_texts()]
    assert labels == ["B = 25 (1 seed)", "B = 100 (2 seeds)", "B = 400 (1 seed)",
                      "B = 1000 (1 seed)", "n = B, measured", "n = B, interpolated"]  # fmt: skip
    style.check_figure(fig)


def test_densification_by_b_draws_no_mark_outside_the_measured_n(tiny_payload):
    payload, _ = tiny_payload  # n in {5, 10, 20}, B in {25, 100}: both beyond the largest n
    fig = sweep_plots.plot_densification_by_b(payload)
    for ax in fig.axes:
        assert _dots(ax) == {}
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["B = 25 (2 seeds)", "B = 100 (2 seeds)"]


def test_batch_sweep_draws_a_single_seed_open_without_error_bar(tiny_payload):
    payload, _ = tiny_payload

    def legend(fig) -> list[str]:
        return [t.get_text() for t in fig.legends[0].get_texts()]

    assert "open: one seed" not in legend(sweep_plots.plot_batch_sweep(payload))
    one = copy.deepcopy(payload)  # B = 25 with its first seed only
    dropped = summary.runs(one, 20.0, 25)[1]
    del one["backbones"][dropped], one["models"][dropped]
    fig = sweep_plots.plot_batch_sweep(one)
    assert legend(fig)[-1] == "open: one seed"
    for ax, series in zip(fig.axes, (2, 1, 1), strict=True):  # the loss panel has two
        bars = [list(c.lines[0].get_xdata()) for c in ax.containers]
        assert bars == [[100]] * series  # error bars only where there are two seeds
        open_dots = [c.get_offsets()[:, 0].tolist() for c in ax.collections
                     if isinstance(c, PathCollection) and not c.get_facecolor().size]  # fmt: skip
        assert open_dots == [[25.0]] * series
    style.check_figure(fig)
    for data, said in ((payload, False), (one, True)):  # the covering figure says it too
        texts = sweep_plots.plot_covering(data).axes[0].get_legend().get_texts()
        assert ("open: one seed" in [t.get_text() for t in texts]) == said


def test_findings_quote_the_payload(tiny_payload):
    payload, _ = tiny_payload
    found = report.findings(payload)
    means = [payload["models"][n]["deaths"]["mean"] for n in summary.runs(payload, 20.0, 100)]
    assert f"λ = 20: **{summary.mean_std(means)[0]:.3g} ± " in found["death_means"]
    assert "gradcheck passed for 4 of 4 functions" in found["gradients"]
    slope = summary.guideline(payload)["slope"][0]
    assert f"**{slope:.3g}" in found["guideline"]
    assert found["convergence"].endswith("too few epochs to judge.")
    assert found["pending"] == "All 6 backbones of the profile are trained and measured."
    assert not any("Provisional" in text for text in found.values())  # every seed is in
    assert "against 0.1 by chance" in found["densification"]
    ideal = summary.control(payload)
    assert all(f"slope {conn_tables.pm(*g['slope'])}" in found["control"] for g in ideal.values())


def test_findings_say_provisional_while_seeds_are_missing(tiny_payload):
    payload = copy.deepcopy(tiny_payload[0])
    del payload["backbones"]["mnist-lam0-16x10-seed2"], payload["models"]["mnist-lam0-16x10-seed2"]
    found = report.findings(payload)
    assert found["densification"].startswith("**Provisional** (1 to 2 of 2 seeds per setting")
    assert found["death_means"].startswith("**Provisional** (1 of 2 seeds per setting")
    assert not found["guideline"].startswith("**Provisional**")  # λ = 20: every seed is in
    del payload["backbones"]["mnist-lam20-16x10-b25-seed2"]
    del payload["models"]["mnist-lam20-16x10-b25-seed2"]
    found = report.findings(payload)  # no B = 25 in seed 2: no batch size every seed has but 100
    assert found["guideline"].endswith("so far B = 25: 1 seed; B = 100: 2 seeds.")
    assert found["effects"].startswith("**Provisional**")


def test_training_command_line(fake_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study, "work_dir", lambda profile, root=None: tmp_path / "work")
    monkeypatch.setattr(study, "record_dir", lambda profile, root=None: tmp_path / "records")
    assert study.main(["train", "tiny", "--only", "nothing*"]) == 2
    assert "--only 'nothing*' matches no backbone" in capsys.readouterr().err
    assert study.main(["train", "tiny", "--only", "*-b25-seed0"]) == 0
    assert sorted(p.name for p in (tmp_path / "work").glob("*.pt")) == [
        "mnist-lam20-16x10-b25-seed0-backbone.pt", "mnist-lam20-16x10-b25-seed0.pt"
    ]  # fmt: skip
    record = tmp_path / "records" / "mnist-lam20-16x10-b25-seed0.json"
    assert [p.name for p in (tmp_path / "records").iterdir()] == [record.name]
    written = record.read_bytes()
    shutil.rmtree(tmp_path / "work")  # a fresh machine: the record is enough
    monkeypatch.setattr(backbones, "train_one", _refuse)
    monkeypatch.setattr(conn_records, "load_backbone", _refuse)
    assert study.main(["train", "tiny", "--only", "*-b25-seed0"]) == 0
    assert record.read_bytes() == written


def test_status_command_line(fake_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study, "work_dir", lambda profile, root=None: tmp_path / "work")
    monkeypatch.setattr(study, "record_dir", lambda profile, root=None: tmp_path / "records")
    names = [s.name for s in backbones.backbone_specs(study.get_profile("tiny"), 0)]

    def listed() -> dict[str, str]:
        assert study.main(["status", "tiny"]) == 0
        *lines, total = capsys.readouterr().out.splitlines()
        rows = dict(line.split(": ", 1) for line in lines)
        assert list(rows) == names  # every backbone, in training order
        done = sum(v == "done (record)" for v in rows.values())
        assert total == f"{done} of {len(names)} backbones done"
        return rows

    assert set(listed().values()) == {"missing"}
    trained = "mnist-lam20-16x10-b25-seed0"
    assert study.main(["train", "tiny", "--only", trained]) == 0
    capsys.readouterr()
    rows = listed()
    assert rows.pop(trained) == "done (record)" and set(rows.values()) == {"missing"}
    (tmp_path / "records" / f"{trained}.json").unlink()
    assert listed()[trained] == "trained, not recorded"
    monkeypatch.setitem(study.PROFILES, "tiny", dict(_TINY, epochs=3))  # 2 of 3 epochs now
    assert listed()[trained] == "partial (2/3 epochs)"
    assert study.main(["status", "nope"]) == 2
    assert "profile must be one of" in capsys.readouterr().err


def _notebook() -> tuple[str, str]:
    """The chapter notebook's Markdown and code, each joined into one string."""
    cells = json.loads((REPO / "book" / "connectivity.ipynb").read_text())["cells"]
    markdown = [c["source"] for c in cells if c["cell_type"] == "markdown"]
    code = [c["source"] for c in cells if c["cell_type"] == "code"]
    return "\n".join(map("".join, markdown)), "\n".join(map("".join, code))


def test_every_figure_is_placed_with_a_caption_in_the_notebook(tiny_payload):
    markdown, code = _notebook()
    assert "present.glue_figures(figures)" in code
    placed = re.findall(r"```\{glue:figure\} (\w+)\n:name: (\S+)\n:alt: \S", markdown)
    keys = set(report.figures(tiny_payload[0]))
    assert {key for key, _ in placed} == keys
    assert all(name == "fig-connectivity-" + key.replace("_", "-") for key, name in placed)
    for key in report.findings(tiny_payload[0]):
        assert f'findings["{key}"]' in code, key


def test_claims_on_the_tiny_payload_and_when_not_run(tiny_payload):
    payload, _ = tiny_payload
    claims = report.claims(lambda profile: payload)
    markdown, _ = _notebook()
    assert len(claims) == 5
    for c in claims:
        assert c.source == "hofer2019" and c.chapter == "connectivity"
        assert f"({c.section})=\n#" in markdown, c.section
        assert c.verdict in scorecard.VERDICTS
    assert [c.seeds for c in claims] == [1, 2, 0, 2, 2]
    assert {c.verdict for c in report.claims(lambda profile: None)} == {"not run yet"}
    stale = {key: payload[key] for key in ("toy", "gradients")}  # an older layout
    assert {c.verdict for c in report.claims(lambda profile: stale)} == {"not run yet"}


def _levels(
    ns: list[int], classes: list[int], mass: float, coverage: float, purity: float = 0.5
) -> dict:
    """A densification record with the same levels at every n, class and radius."""
    rows = [[mass * n for n in ns] for _ in classes]
    return {
        "ns": ns, "classes": classes, "radii": [2.0, 1.0],
        "mean_count": [rows, rows], "coverage": [[[coverage] * len(ns)] * len(classes)] * 2,
        "purity": {"n": ns[0], "own": [[purity] * len(classes)] * 2,
                   "all": [[1.0] * len(classes)] * 2},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("theirs", "verdict"),
    [((0.1, 0.5), "within noise"), ((0.05, 0.25), "reproduced"), ((0.05, 0.5), "partly"),
     ((0.05, 0.25, 0.9), "not reproduced"), ((0.05, 0.5, 0.51), "partly"),
     ((0.2, 0.9), "not reproduced"), ((0.099, 0.499), "within noise")],
)  # fmt: skip
def test_densification_claim_verdicts(tiny_payload, theirs, verdict):
    payload = copy.deepcopy(tiny_payload[0])
    d = next(m for m in payload["models"].values() if "densification" in m)["densification"]
    ns, classes = d["ns"], d["classes"]
    for name in summary.runs(payload, 20.0, 100):
        payload["models"][name]["densification"] = _levels(ns, classes, 0.1, 0.5)
    for name in summary.runs(payload, 0.0, 100):
        payload["models"][name]["densification"] = _levels(ns, classes, *theirs)
    claim = report.claims(lambda profile: payload)[4]
    assert claim.section == "connectivity-densification"
    assert claim.verdict == verdict, claim.measured
    assert "n = B = 20, largest n = 20" in claim.measured


def test_claims_on_the_committed_full_results():
    saved = load_results("connectivity", "full")
    if saved is None or not report.current(saved["results"]):
        pytest.skip(
            "the committed full results predate the batch-size sweep: "
            "make reproduce CHAPTER=connectivity PROFILE=full"
        )
    claims = report.claims(scorecard.chapter_loader("connectivity"))
    assert all(c.verdict != "not run yet" for c in claims)
    assert [c.seeds for c in claims][1:] == [3, 0, 3, 3]


_CODES = torch.rand(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_POINTS = np.random.default_rng(0).normal(size=(6, 2))
_DEATHS = torch.ones(2, 2, 3)
_NAN_CODES = _CODES.clone().index_put_(
    (torch.tensor([3]), torch.tensor([1])), torch.tensor(math.nan, dtype=torch.float64)
)
_LABELS = torch.arange(20) % 2

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (study.get_profile, (None,), {}, TypeError, "profile"),
    (study.work_dir, ("nope",), {}, ValueError, "profile"),
    (study.work_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (study.record_dir, ("nope",), {}, ValueError, "profile"),
    (study.record_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (toy_example.toy_clusters, (-1,), {}, ValueError, "seed"),
    (toy_example.toy_clusters, (0, 2.0), {}, TypeError, "per_cluster"),
    (toy_example.toy_clusters, (0, 0), {}, ValueError, "per_cluster"),
    (toy_example.homogenize, (np.zeros((1, 2)),), {}, ValueError, "points"),
    (toy_example.homogenize, ([[0.0, 0.0], [1.0, 1.0]],), {}, TypeError, "points"),
    (toy_example.homogenize, (np.array([[0.0, np.nan], [1.0, 1.0]]),), {}, ValueError, "points"),
    (toy_example.homogenize, (np.zeros((3, 0)),), {}, ValueError, "points"),
    (toy_example.homogenize, (_POINTS,), {"eta": math.nan}, ValueError, "eta"),
    (toy_example.homogenize, (_POINTS,), {"eta": 0.0}, ValueError, "eta"),
    (toy_example.homogenize, (_POINTS,), {"steps": 0}, ValueError, "steps"),
    (toy_example.homogenize, (_POINTS,), {"steps": 3.0}, TypeError, "steps"),
    (toy_example.homogenize, (_POINTS,), {"lr": math.inf}, ValueError, "lr"),
    (toy_example.homogenize, (_POINTS,), {"p": 0.5}, ValueError, "p"),
    (toy_example.toy_study, (0, 5, 0), {}, ValueError, "steps"),
    (toy_example.toy_study, (0, 5, 3), {"eta": -1.0}, ValueError, "eta"),
    (toy_example.toy_study, (0.0, 5, 3), {}, TypeError, "seed"),
    (toy_example.kde_on_grid, (np.zeros((5, 3)),), {}, ValueError, "points"),
    (toy_example.kde_on_grid, (np.zeros((5, 2)),), {}, ValueError, "points"),  # singular covariance
    (toy_example.kde_on_grid, (np.zeros((0, 2)),), {}, ValueError, "points"),
    (toy_example.kde_on_grid, (_POINTS,), {"bandwidth": "silverman"}, ValueError, "bandwidth"),
    (toy_example.kde_on_grid, (_POINTS,), {"bandwidth": 0.0}, ValueError, "bandwidth"),
    (toy_example.kde_on_grid, (_POINTS,), {"bandwidth": None}, TypeError, "bandwidth"),
    (toy_example.kde_on_grid, (_POINTS,), {"size": 1}, ValueError, "size"),
    (toy_example.kde_on_grid, (_POINTS,), {"pad": math.nan}, ValueError, "pad"),
    (toy_example.vr_demo, (0, 1), {}, ValueError, "n"),
    (toy_example.vr_demo, (-3,), {}, ValueError, "seed"),
    (death_times.heldout_deaths, (_CODES.numpy(), 2, 10, 1.0), {}, TypeError, "codes"),
    (death_times.heldout_deaths, (_CODES[:, :, None], 2, 10, 1.0), {}, ValueError, "codes"),
    (death_times.heldout_deaths, (_CODES.half(), 2, 10, 1.0), {}, TypeError, "codes"),
    (death_times.heldout_deaths, (_NAN_CODES, 2, 10, 1.0), {}, ValueError, "codes"),
    (death_times.heldout_deaths, (_CODES, 3, 10, 1.0), {}, ValueError, "branches"),
    (death_times.heldout_deaths, (_CODES, 0, 10, 1.0), {}, ValueError, "branches"),
    (death_times.heldout_deaths, (_CODES, 2, 1, 1.0), {}, ValueError, "batch"),
    (death_times.heldout_deaths, (_CODES, 2, 21, 1.0), {}, ValueError, "batch"),
    (death_times.heldout_deaths, (_CODES, 2, 10.0, 1.0), {}, TypeError, "batch"),
    (death_times.heldout_deaths, (_CODES, 2, 10, math.nan), {}, ValueError, "p"),
    (death_times.death_summary, (torch.empty(0, 2, 3), 2.0, 0.5), {}, ValueError, "deaths"),
    (death_times.death_summary, (torch.ones(4, 3), 2.0, 0.5), {}, ValueError, "deaths"),
    (death_times.death_summary, (torch.ones(2, 2, 3, dtype=torch.int64), 2.0, 0.5), {}, TypeError,
     "deaths"),
    (death_times.death_summary, (-_DEATHS, 2.0, 0.5), {}, ValueError, "deaths"),
    (death_times.death_summary, (_DEATHS * math.inf, 2.0, 0.5), {}, ValueError, "deaths"),
    (death_times.death_summary, (_DEATHS, math.inf, 0.5), {}, ValueError, "eta"),
    (death_times.death_summary, (_DEATHS, 2.0, -0.1), {}, ValueError, "within"),
    (death_times.death_summary, (_DEATHS, 2.0, 0.5, 0), {}, ValueError, "bins"),
    (theory.gradient_study, (0,), {"n": 2}, ValueError, "n"),
    (theory.gradient_study, (0,), {"n": 60, "dim": 1}, ValueError, "n"),  # gives up, no hang
    (theory.gradient_study, (0,), {"dim": 0}, ValueError, "dim"),
    (theory.gradient_study, (0,), {"eta": math.nan}, ValueError, "eta"),
    (theory.gradient_study, (-1,), {}, ValueError, "seed"),
    (covering.eta_net, (_CODES.numpy(), 1.0), {}, TypeError, "points"),
    (covering.eta_net, (_CODES[:0], 1.0), {}, ValueError, "points"),
    (covering.eta_net, (_NAN_CODES, 1.0), {}, ValueError, "points"),
    (covering.eta_net, (_CODES, 0.0), {}, ValueError, "radius"),
    (covering.eta_net, (_CODES, 1.0, 0.5), {}, ValueError, "p"),
    (covering.eta_net, (_CODES, 1.0), {"chunk": 0}, ValueError, "chunk"),
    (covering.covering_numbers, (_CODES, 3, 1.0, 1.0, [10], 0), {}, ValueError, "branches"),
    (covering.covering_numbers, (_CODES, 2, math.inf, 1.0, [10], 0), {}, ValueError, "radius"),
    (covering.covering_numbers, (_CODES, 2, 1.0, 1.0, [10, 1], 0), {}, ValueError, "sizes[1]"),
    (covering.covering_numbers, (_CODES, 2, 1.0, 1.0, [10], -1), {}, ValueError, "seed"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES[:, :2], _LABELS, 2, [1.0], [5], 5, 1.0, 0), {},
     ValueError, "train_codes"),
    (densify.inlier_counts, (_CODES, _LABELS[:5], _CODES, _LABELS, 2, [1.0], [5], 5, 1.0, 0), {},
     ValueError, "test_labels"),
    (densify.inlier_counts,
     (_CODES, _LABELS.float(), _CODES, _LABELS, 2, [1.0], [5], 5, 1.0, 0), {},
     TypeError, "test_labels"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [-1.0], [5], 5, 1.0, 0), {},
     ValueError, "radii[0]"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [[1.0]], [5], 5, 1.0, 0), {},
     ValueError, "radii[0]"),
    (densify.inlier_counts,
     (_CODES, _LABELS, _CODES, _LABELS, 2, [[1.0, 0.0]], [5], 5, 1.0, 0), {},
     ValueError, "radii[0][1]"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [5, 0], 5, 1.0, 0), {},
     ValueError, "ns[1]"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [11], 5, 1.0, 0), {},
     ValueError, "n"),  # more than a class has
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [5], 5, 1.0, -2), {},
     ValueError, "seed"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [5], 0, 1.0, 0), {},
     ValueError, "purity_n"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [5], 5.0, 1.0, 0), {},
     TypeError, "purity_n"),
    (densify.inlier_counts, (_CODES, _LABELS, _CODES, _LABELS, 2, [1.0], [5], 11, 1.0, 0), {},
     ValueError, "n"),  # more than a class has
    (study.status, ("nope",), {}, ValueError, "profile"),
    (study.status, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (study.run, ("nope",), {}, ValueError, "profile"),
    (study.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (study.run, ("smoke",), {"seed": 0.5}, TypeError, "seed"),
    (study.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (study.run, ("smoke",), {"progress": "yes"}, TypeError, "progress"),
    (study.run, ("smoke",), {"log": "print"}, TypeError, "log"),
    (study.run, ("smoke",), {"train_missing_backbones": 1}, TypeError, "train_missing_backbones"),
    (backbones.backbone_specs, (study.PROFILES["smoke"], -1), {}, ValueError, "seed"),
    (plots.plot_toy_kde, ([],), {}, TypeError, "payload"),
    (plots.plot_death_histograms, ({"backbones": {}},), {}, ValueError, "payload"),
    (report.figures, ({"toy": {}},), {}, ValueError, "payload"),
    (report.tables, (None,), {}, TypeError, "payload"),
    (report.findings, ({},), {}, ValueError, "payload"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    def no_work(*_args, **_kwargs):
        raise AssertionError("the work started before the arguments were checked")

    monkeypatch.setattr(study, "toy_study", no_work)  # the first step of run()
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)


def test_collect_records_finished_backbones_before_training_the_rest(monkeypatch, tmp_path):
    """An interrupted run left backbone "b" trained but not measured: resuming records it
    before training "a", not after every other backbone has trained."""
    specs = [type("Spec", (), {"name": n})() for n in ("a", "b")]
    events: list[tuple[str, str]] = []
    trained: set[str] = set()
    monkeypatch.setattr(conn_records, "record_key", lambda *_args: "key")
    monkeypatch.setattr(conn_records, "load_record", lambda *_args: None)
    monkeypatch.setattr(
        conn_records, "is_finished", lambda spec, *_args: spec.name == "b" or spec.name in trained
    )

    def measure(spec, *_args):
        events.append(("measure", spec.name))
        return {"name": spec.name}

    def train_missing(missing, *args):
        record = args[-1]
        for spec in missing:
            events.append(("train", spec.name))
            trained.add(spec.name)
            record(spec)

    monkeypatch.setattr(conn_records, "measure", measure)
    monkeypatch.setattr(conn_records, "train_missing", train_missing)
    folders = {"work": tmp_path / "work", "records": tmp_path / "records"}
    splits = {"train": type("Split", (), {"images": torch.zeros(1, dtype=torch.uint8)})()}
    done = conn_records.collect(specs, {}, 0, splits, folders, None, True, log=None)
    assert events == [("measure", "b"), ("train", "a"), ("measure", "a")]
    assert set(done) == {"a", "b"}
    # without training, only the finished one is recorded
    events.clear()
    trained.clear()
    done = conn_records.collect(specs, {}, 0, splits, folders, None, False, log=None)
    assert events == [("measure", "b")] and set(done) == {"b"}
