"""Fast tests of the library behind the "Controlling connectivity" chapter."""

import json
import math
import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import toposhape.data
from toposhape import connectivity_study as cs
from toposhape.results import load_results, save_results


def test_profiles_are_complete_and_unknown_profile_lists_valid_ones():
    keys = set(cs.PROFILES["full"])
    for name in cs.PROFILES:
        assert set(cs.get_profile(name)) == keys
    with pytest.raises(ValueError, match=r"^profile must be one of 'smoke', 'full', got 'nope'"):
        cs.get_profile("nope")


def test_get_profile_returns_a_copy():
    cs.get_profile("smoke")["batch_sizes"].append(10_000)
    assert 10_000 not in cs.PROFILES["smoke"]["batch_sizes"]


def test_homogenize_pulls_death_times_to_eta():
    toy = cs.toy_study(seed=0, per_cluster=15, steps=200, eta=1.0)
    before, after = toy["before"]["stats"], toy["after"]["stats"]
    assert after["cv"] < 0.1 < before["cv"]
    assert abs(after["mean"] - 1.0) < 0.05
    assert len(toy["after"]["deaths"]) == 45 - 1


def test_vr_demo_edges_reproduce_sorted_deaths():
    demo = cs.vr_demo(seed=3, n=9)
    pts, edges = np.array(demo["points"]), np.array(demo["edges"])
    lengths = np.linalg.norm(pts[edges[:, 0]] - pts[edges[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, demo["deaths"], atol=1e-5)
    assert np.all(np.diff(demo["deaths"]) >= 0) and len(demo["deaths"]) == 8


def test_nearest_neighbour_distances_match_brute_force():
    x = torch.rand(3, 57, 4, dtype=torch.float64)
    got = cs.nearest_neighbour_distances(x, p=1.0, chunk=10)
    d = torch.cdist(x, x, p=1.0) + torch.eye(57) * 1e9
    torch.testing.assert_close(got, d.min(-1).values)


def test_death_summary_statistics():
    deaths = torch.full((4, 2, 9), 2.0)
    deaths[0, 0, 0] = 10.0
    s = cs.death_summary(deaths, eta=2.0, within=0.5, bins=10)
    assert s["count"] == 72
    assert s["frac_within"] == pytest.approx(71 / 72)
    assert len(s["per_branch_mean"]) == 2
    assert sum(s["histogram"]["counts"]) == 72
    assert len(s["histogram"]["edges"]) == 11


def test_gradient_study_passes_gradcheck():
    g = cs.gradient_study(seed=0, n=6, dim=2)
    assert all(g["gradcheck"].values())
    assert min(g["max_abs_error"]) < 1e-7


@pytest.fixture(scope="module")
def tiny_payload(tmp_path_factory):
    """A real run() on random 'images', with a tiny profile; checkpoints in a temp dir."""
    root = tmp_path_factory.mktemp("results")
    gen = torch.Generator().manual_seed(0)

    def fake_load_images(name, split="train", root=None, verify=True):
        n = 300 if split == "train" else 250
        images = torch.rand(n, 1, 28, 28, generator=gen)
        return images, torch.randint(0, 10, (n,), generator=gen)

    mp = pytest.MonkeyPatch()
    mp.setattr(toposhape.data, "load_images", fake_load_images)
    mp.setitem(
        cs.PROFILES,
        "tiny",
        {
            **cs.PROFILES["smoke"],
            "train_images": 200,
            "test_images": None,
            "epochs": 2,
            "steps_per_epoch": 1,
            "toy_per_cluster": 8,
            "toy_steps": 5,
            "latent_points": 50,
            "batch_sizes": [10, 100, 1000],
            "batch_repeats": 2,
            "densify_sizes": [20, 250, 5000],
        },
    )
    try:
        payload = cs.run("tiny", seed=1, results_root=root, log=None)
        work = cs.work_dir("tiny", root)
    finally:
        mp.undo()
    return payload, work


def test_run_payload_keys_and_json(tiny_payload):
    payload, work = tiny_payload
    assert set(cs.PAYLOAD_KEYS) <= set(payload)
    json.dumps(payload)  # serialisable
    assert list(payload["training"]) == ["0", "20"]
    assert len(payload["training"]["20"]) == 2
    for ev in payload["evaluation"].values():
        assert np.isfinite(ev["test_reconstruction_l1"])
        assert ev["deaths"]["count"] == 2 * 16 * 99  # 250 test codes → 2 batches of 100
    # sizes larger than the test set are skipped
    assert [r["B"] for r in payload["batch_size"]["rows"]] == [10, 100]
    assert [r["N"] for r in payload["densification"]["20"]["rows"]] == [20, 250]
    assert len(payload["latent"]["0"]["points"]) == 50
    assert sorted(p.name for p in work.iterdir()) == ["lam0.pt", "lam20.pt"]


def test_plots_and_tables_from_a_saved_payload(tiny_payload, tmp_path):
    payload, _ = tiny_payload
    figures = cs.plot_all(payload)
    assert all(isinstance(f, Figure) for f in figures.values())
    save_results(
        "connectivity", "tiny", payload, seed=1, started=0.0, figures=figures, root=tmp_path
    )
    loaded = load_results("connectivity", "tiny", root=tmp_path)["results"]
    again = cs.plot_all(loaded)  # figures from JSON numbers only
    assert set(again) == set(figures)
    assert (tmp_path / "connectivity" / "tiny" / "toy_kde.png").is_file()
    tables = cs.markdown_tables(loaded)
    assert set(tables) == {"models", "batch_size", "densification", "toy"}
    assert tables["models"].count("\n") == 3  # header, rule, two models


def test_death_summary_of_a_tensor_that_requires_grad():
    deaths = torch.rand(3, 2, 9, dtype=torch.float64)
    expected = cs.death_summary(deaths, eta=0.5, within=0.1, bins=5)
    assert cs.death_summary(deaths.requires_grad_(True), eta=0.5, within=0.1, bins=5) == expected


_CODES = torch.rand(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_POINTS = np.random.default_rng(0).normal(size=(6, 2))
_DEATHS = torch.ones(2, 2, 3)
_NAN_CODES = _CODES.clone().index_put_(
    (torch.tensor([3]), torch.tensor([1])), torch.tensor(math.nan, dtype=torch.float64)
)

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (cs.get_profile, (None,), {}, TypeError, "profile"),
    (cs.work_dir, ("nope",), {}, ValueError, "profile"),
    (cs.work_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (cs.toy_clusters, (-1,), {}, ValueError, "seed"),
    (cs.toy_clusters, (0, 2.0), {}, TypeError, "per_cluster"),
    (cs.toy_clusters, (0, 0), {}, ValueError, "per_cluster"),
    (cs.homogenize, (np.zeros((1, 2)),), {}, ValueError, "points"),
    (cs.homogenize, ([[0.0, 0.0], [1.0, 1.0]],), {}, TypeError, "points"),
    (cs.homogenize, (np.array([[0.0, np.nan], [1.0, 1.0]]),), {}, ValueError, "points"),
    (cs.homogenize, (np.zeros((3, 0)),), {}, ValueError, "points"),
    (cs.homogenize, (_POINTS,), {"eta": math.nan}, ValueError, "eta"),
    (cs.homogenize, (_POINTS,), {"eta": 0.0}, ValueError, "eta"),
    (cs.homogenize, (_POINTS,), {"steps": 0}, ValueError, "steps"),
    (cs.homogenize, (_POINTS,), {"steps": 3.0}, TypeError, "steps"),
    (cs.homogenize, (_POINTS,), {"lr": math.inf}, ValueError, "lr"),
    (cs.homogenize, (_POINTS,), {"p": 0.5}, ValueError, "p"),
    (cs.toy_study, (0, 5, 0), {}, ValueError, "steps"),
    (cs.toy_study, (0, 5, 3), {"eta": -1.0}, ValueError, "eta"),
    (cs.toy_study, (0.0, 5, 3), {}, TypeError, "seed"),
    (cs.kde_on_grid, (np.zeros((5, 3)),), {}, ValueError, "points"),
    (cs.kde_on_grid, (np.zeros((5, 2)),), {}, ValueError, "points"),  # singular covariance
    (cs.kde_on_grid, (np.zeros((0, 2)),), {}, ValueError, "points"),
    (cs.kde_on_grid, (_POINTS,), {"bandwidth": "silverman"}, ValueError, "bandwidth"),
    (cs.kde_on_grid, (_POINTS,), {"bandwidth": 0.0}, ValueError, "bandwidth"),
    (cs.kde_on_grid, (_POINTS,), {"bandwidth": None}, TypeError, "bandwidth"),
    (cs.kde_on_grid, (_POINTS,), {"size": 1}, ValueError, "size"),
    (cs.kde_on_grid, (_POINTS,), {"pad": math.nan}, ValueError, "pad"),
    (cs.vr_demo, (0, 1), {}, ValueError, "n"),
    (cs.vr_demo, (-3,), {}, ValueError, "seed"),
    (cs.heldout_deaths, (_CODES.numpy(), 2, 10, 1.0), {}, TypeError, "codes"),
    (cs.heldout_deaths, (_CODES[:, :, None], 2, 10, 1.0), {}, ValueError, "codes"),
    (cs.heldout_deaths, (_CODES.half(), 2, 10, 1.0), {}, TypeError, "codes"),
    (cs.heldout_deaths, (_NAN_CODES, 2, 10, 1.0), {}, ValueError, "codes"),
    (cs.heldout_deaths, (_CODES, 3, 10, 1.0), {}, ValueError, "branches"),
    (cs.heldout_deaths, (_CODES, 0, 10, 1.0), {}, ValueError, "branches"),
    (cs.heldout_deaths, (_CODES, 2, 1, 1.0), {}, ValueError, "batch"),
    (cs.heldout_deaths, (_CODES, 2, 21, 1.0), {}, ValueError, "batch"),
    (cs.heldout_deaths, (_CODES, 2, 10.0, 1.0), {}, TypeError, "batch"),
    (cs.heldout_deaths, (_CODES, 2, 10, math.nan), {}, ValueError, "p"),
    (cs.death_summary, (torch.empty(0, 2, 3), 2.0, 0.5), {}, ValueError, "deaths"),
    (cs.death_summary, (torch.ones(4, 3), 2.0, 0.5), {}, ValueError, "deaths"),
    (cs.death_summary, (torch.ones(2, 2, 3, dtype=torch.int64), 2.0, 0.5), {}, TypeError, "deaths"),
    (cs.death_summary, (-_DEATHS, 2.0, 0.5), {}, ValueError, "deaths"),
    (cs.death_summary, (_DEATHS * math.inf, 2.0, 0.5), {}, ValueError, "deaths"),
    (cs.death_summary, (_DEATHS, math.inf, 0.5), {}, ValueError, "eta"),
    (cs.death_summary, (_DEATHS, 2.0, -0.1), {}, ValueError, "within"),
    (cs.death_summary, (_DEATHS, 2.0, 0.5, 0), {}, ValueError, "bins"),
    (cs.gradient_study, (0,), {"n": 2}, ValueError, "n"),
    (cs.gradient_study, (0,), {"n": 60, "dim": 1}, ValueError, "n"),  # gives up, no hang
    (cs.gradient_study, (0,), {"dim": 0}, ValueError, "dim"),
    (cs.gradient_study, (0,), {"eta": math.nan}, ValueError, "eta"),
    (cs.gradient_study, (-1,), {}, ValueError, "seed"),
    (cs.batch_size_study, (_CODES, [], 2, 0, 2, 2.0, 1.0, 0.5), {}, ValueError, "batch_sizes"),
    (cs.batch_size_study, (_CODES, [10, 1], 2, 0, 2, 2.0, 1.0, 0.5), {}, ValueError,
     "batch_sizes[1]"),
    (cs.batch_size_study, (_CODES, [10], 0, 0, 2, 2.0, 1.0, 0.5), {}, ValueError, "repeats"),
    (cs.batch_size_study, (_CODES, [10], 2, 2**40, 2, 2.0, 1.0, 0.5), {}, ValueError, "seed"),
    (cs.batch_size_study, (_CODES, [10], 2, 0, 3, 2.0, 1.0, 0.5), {}, ValueError, "branches"),
    (cs.batch_size_study, (_CODES, [10], 2, 0, 2, 0.0, 1.0, 0.5), {}, ValueError, "eta"),
    (cs.batch_size_study, (_CODES, [10], 2, 0, 2, 2.0, 1.0, math.nan), {}, ValueError, "within"),
    (cs.nearest_neighbour_distances, (_CODES, 1.0), {}, ValueError, "clouds"),
    (cs.nearest_neighbour_distances, (torch.rand(2, 1, 3), 1.0), {}, ValueError, "clouds"),
    (cs.nearest_neighbour_distances, (torch.rand(2, 5, 3), 0.5), {}, ValueError, "p"),
    (cs.nearest_neighbour_distances, (torch.rand(2, 5, 3), 1.0, 0), {}, ValueError, "chunk"),
    (cs.densification_study, (_CODES, [20, 0], 0, 2, 1.0), {}, ValueError, "sizes[1]"),
    (cs.densification_study, (_CODES, 20, 0, 2, 1.0), {}, TypeError, "sizes"),
    (cs.densification_study, (_CODES, [20], 0, 2.0, 1.0), {}, TypeError, "branches"),
    (cs.densification_study, (_CODES, [20], -1, 2, 1.0), {}, ValueError, "seed"),
    (cs.run, ("nope",), {}, ValueError, "profile"),
    (cs.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (cs.run, ("smoke",), {"seed": 0.5}, TypeError, "seed"),
    (cs.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (cs.run, ("smoke",), {"progress": "yes"}, TypeError, "progress"),
    (cs.run, ("smoke",), {"log": "print"}, TypeError, "log"),
    (cs.plot_toy_kde, ([],), {}, TypeError, "payload"),
    (cs.plot_death_histograms, ({"evaluation": {}},), {}, ValueError, "payload"),
    (cs.plot_all, ({"toy": {}},), {}, ValueError, "payload"),
    (cs.markdown_tables, (None,), {}, TypeError, "payload"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    def no_work(*_args, **_kwargs):
        raise AssertionError("the work started before the arguments were checked")

    monkeypatch.setattr(cs, "toy_study", no_work)  # the first step of run()
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)
