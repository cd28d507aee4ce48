"""Fast tests of the library behind the "Controlling connectivity" chapter."""

import json

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
    with pytest.raises(ValueError, match=r"unknown profile 'nope'.*\['full', 'smoke'\]"):
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
    finally:
        mp.undo()
    return payload, root


def test_run_payload_keys_and_json(tiny_payload):
    payload, root = tiny_payload
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
    work = cs.work_dir("tiny", root)
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
