"""Fast tests of the library behind the "Controlling connectivity" chapter."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

import toposhape.data
from toposhape.results import load_results, save_results
from toposhape.studies import scorecard, style
from toposhape.studies.connectivity import deaths as death_times
from toposhape.studies.connectivity import plots, report, theory
from toposhape.studies.connectivity import run as study
from toposhape.studies.connectivity import toy as toy_example

REPO = Path(__file__).resolve().parents[1]


def test_profiles_are_complete_and_unknown_profile_lists_valid_ones():
    keys = set(study.PROFILES["full"])
    for name in study.PROFILES:
        assert set(study.get_profile(name)) == keys
    with pytest.raises(ValueError, match=r"^profile must be one of 'smoke', 'full', got 'nope'"):
        study.get_profile("nope")


def test_get_profile_returns_a_copy():
    study.get_profile("smoke")["batch_sizes"].append(10_000)
    assert 10_000 not in study.PROFILES["smoke"]["batch_sizes"]


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


def test_nearest_neighbour_distances_match_brute_force():
    x = torch.rand(3, 57, 4, dtype=torch.float64)
    got = theory.nearest_neighbour_distances(x, p=1.0, chunk=10)
    d = torch.cdist(x, x, p=1.0) + torch.eye(57) * 1e9
    torch.testing.assert_close(got, d.min(-1).values)


def test_death_summary_statistics():
    deaths = torch.full((4, 2, 9), 2.0)
    deaths[0, 0, 0] = 10.0
    s = death_times.death_summary(deaths, eta=2.0, within=0.5, bins=10)
    assert s["count"] == 72
    assert s["frac_within"] == pytest.approx(71 / 72)
    assert len(s["per_branch_mean"]) == 2
    assert sum(s["histogram"]["counts"]) == 72
    assert len(s["histogram"]["edges"]) == 11


def test_gradient_study_passes_gradcheck():
    g = theory.gradient_study(seed=0, n=6, dim=2)
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
        study.PROFILES,
        "tiny",
        {
            **study.PROFILES["smoke"],
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
        payload = study.run("tiny", seed=1, results_root=root, log=None)
        work = study.work_dir("tiny", root)
    finally:
        mp.undo()
    return payload, work


def test_run_payload_keys_and_json(tiny_payload):
    payload, work = tiny_payload
    assert set(study.PAYLOAD_KEYS) <= set(payload)
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


def test_figures_and_tables_from_a_saved_payload(tiny_payload, tmp_path):
    payload, _ = tiny_payload
    figures = report.figures(payload)
    save_results(
        "connectivity", "tiny", payload, seed=1, started=0.0, figures=figures, root=tmp_path
    )
    loaded = load_results("connectivity", "tiny", root=tmp_path)["results"]
    again = report.figures(loaded)  # figures from JSON numbers only
    assert set(again) == set(figures)
    assert (tmp_path / "connectivity" / "tiny" / "toy_kde.png").is_file()
    tables = report.tables(loaded)
    expected = {"toy", "models", "gradcheck", "gradient_sample", "batch_size", "densification"}
    assert set(tables) == expected | {"timings"}
    assert all(isinstance(t, pd.DataFrame) and len(t) for t in tables.values())
    models = tables["models"]
    assert list(models["λ"]) == ["0", "20"]
    for key, row in zip(["0", "20"], models.itertuples(index=False), strict=True):
        ev = payload["evaluation"][key]
        assert row[1] == pytest.approx(ev["test_reconstruction_l1"])
        assert row[4] == pytest.approx(100 * ev["deaths"]["frac_within"])
    assert list(tables["batch_size"]["B"]) == [10, 100]  # 1000 > the 250 test codes
    assert list(tables["densification"].columns) == [
        "N",
        "median NN distance (λ = 0)",
        "median NN distance (λ = 20)",
    ]
    assert tables["toy"]["CV"].iloc[1] == pytest.approx(payload["toy"]["after"]["stats"]["cv"])


def test_every_figure_fits_the_page(tiny_payload):
    payload, _ = tiny_payload
    for key, fig in report.figures(payload).items():
        assert isinstance(fig, Figure), key
        style.check_figure(fig, key)


def test_findings_quote_the_payload(tiny_payload):
    payload, _ = tiny_payload
    found = report.findings(payload)
    m20 = payload["evaluation"]["20"]["deaths"]["mean"]
    assert f"λ = 20: **{m20:.3g}**" in found["death_means"]
    assert "gradcheck passed for 4 of 4 functions" in found["gradients"]


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


def test_claims_on_the_committed_full_results():
    claims = report.claims(scorecard.chapter_loader("connectivity"))
    markdown, _ = _notebook()
    assert [c.verdict for c in claims] == ["partly", "partly", "reproduced", "partly", "partly"]
    for c in claims:
        assert c.source == "hofer2019" and c.chapter == "connectivity"
        assert f"({c.section})=\n#" in markdown, c.section
        assert c.measured != "–" and c.data != "–"
    frame = scorecard.frame(claims)
    assert len(frame) == 5 and frame["seeds"].tolist() == [1, 1, 0, 1, 1]


def test_claims_not_run_yet_and_failing_rules():
    assert {c.verdict for c in report.claims(lambda profile: None)} == {"not run yet"}
    full = load_results("connectivity", "full")["results"]
    broken = json.loads(json.dumps(full))
    broken["evaluation"]["20"]["deaths"]["frac_within"] = 0.4  # under half within η ± 0.5
    broken["gradients"]["gradcheck"]["connectivity_loss_l1"] = False
    broken["batch_size"]["rows"][0]["frac_within"] = 0.99  # most near η at B = 10
    broken["densification"]["20"]["rows"][-1]["median"] = 2.5  # above η at the largest N
    broken["toy"]["after"]["stats"]["cv"] = 0.2
    verdicts = [c.verdict for c in report.claims(lambda profile: broken)]
    assert verdicts == ["not reproduced"] * 5


def test_death_summary_of_a_tensor_that_requires_grad():
    deaths = torch.rand(3, 2, 9, dtype=torch.float64)
    expected = death_times.death_summary(deaths, eta=0.5, within=0.1, bins=5)
    assert (
        death_times.death_summary(deaths.requires_grad_(True), eta=0.5, within=0.1, bins=5)
        == expected
    )


_CODES = torch.rand(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_POINTS = np.random.default_rng(0).normal(size=(6, 2))
_DEATHS = torch.ones(2, 2, 3)
_NAN_CODES = _CODES.clone().index_put_(
    (torch.tensor([3]), torch.tensor([1])), torch.tensor(math.nan, dtype=torch.float64)
)

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (study.get_profile, (None,), {}, TypeError, "profile"),
    (study.work_dir, ("nope",), {}, ValueError, "profile"),
    (study.work_dir, ("smoke", 3), {}, TypeError, "results_root"),
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
    (theory.batch_size_study, (_CODES, [], 2, 0, 2, 2.0, 1.0, 0.5), {}, ValueError, "batch_sizes"),
    (theory.batch_size_study, (_CODES, [10, 1], 2, 0, 2, 2.0, 1.0, 0.5), {}, ValueError,
     "batch_sizes[1]"),
    (theory.batch_size_study, (_CODES, [10], 0, 0, 2, 2.0, 1.0, 0.5), {}, ValueError, "repeats"),
    (theory.batch_size_study, (_CODES, [10], 2, 2**40, 2, 2.0, 1.0, 0.5), {}, ValueError, "seed"),
    (theory.batch_size_study, (_CODES, [10], 2, 0, 3, 2.0, 1.0, 0.5), {}, ValueError, "branches"),
    (theory.batch_size_study, (_CODES, [10], 2, 0, 2, 0.0, 1.0, 0.5), {}, ValueError, "eta"),
    (theory.batch_size_study, (_CODES, [10], 2, 0, 2, 2.0, 1.0, math.nan), {}, ValueError,
     "within"),
    (theory.nearest_neighbour_distances, (_CODES, 1.0), {}, ValueError, "clouds"),
    (theory.nearest_neighbour_distances, (torch.rand(2, 1, 3), 1.0), {}, ValueError, "clouds"),
    (theory.nearest_neighbour_distances, (torch.rand(2, 5, 3), 0.5), {}, ValueError, "p"),
    (theory.nearest_neighbour_distances, (torch.rand(2, 5, 3), 1.0, 0), {}, ValueError, "chunk"),
    (theory.densification_study, (_CODES, [20, 0], 0, 2, 1.0), {}, ValueError, "sizes[1]"),
    (theory.densification_study, (_CODES, 20, 0, 2, 1.0), {}, TypeError, "sizes"),
    (theory.densification_study, (_CODES, [20], 0, 2.0, 1.0), {}, TypeError, "branches"),
    (theory.densification_study, (_CODES, [20], -1, 2, 1.0), {}, ValueError, "seed"),
    (study.run, ("nope",), {}, ValueError, "profile"),
    (study.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (study.run, ("smoke",), {"seed": 0.5}, TypeError, "seed"),
    (study.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (study.run, ("smoke",), {"progress": "yes"}, TypeError, "progress"),
    (study.run, ("smoke",), {"log": "print"}, TypeError, "log"),
    (plots.plot_toy_kde, ([],), {}, TypeError, "payload"),
    (plots.plot_death_histograms, ({"evaluation": {}},), {}, ValueError, "payload"),
    (report.figures, ({"toy": {}},), {}, ValueError, "payload"),
    (report.tables, (None,), {}, TypeError, "payload"),
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
