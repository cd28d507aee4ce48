"""The atlas study: argument checks (bad inputs refused, naming them, before any work), the
order models are trained in, and the training command line (resumable, skips what is done)."""

import math
import re
import shutil

import pytest
import torch

import toposhape.data
from toposhape.studies.atlas import plots
from toposhape.studies.atlas import report as rp
from toposhape.studies.atlas import run as at

TINY = {
    "manifolds": {"circle": [4]},
    "regularisers": ["mmd", "gan"],
    "seeds": [0, 1],
    "points": 200,
    "epochs": 2,
    "readout_points": 2000,
    "controls": ["circle-4", "torus-1x8"],
    "control_entropies": [0.1, 0.2, 0.4],
    "control_points": 2000,
    "torus3_dims": [1, 2],
    "torus3_seeds": [0],
    "torus3_epochs": 1,
    "torus3_heldout": 1000,
    "mnist_images": 200,
    "mnist_epochs": 1,
    "mnist_seeds": 1,
    "train_missing": True,
}


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


@pytest.fixture
def no_work(monkeypatch):
    """A check that let a bad argument through fails fast instead of training."""
    monkeypatch.setattr(at, "control_study", _no_work)  # the first step of run()
    monkeypatch.setattr(at, "train_atlas", _no_work)
    monkeypatch.setattr(at, "sample_manifold", _no_work)
    monkeypatch.setattr(toposhape.data, "load_images", _no_work)


def _trains(*_args, **_kwargs):
    raise RuntimeError("trained")


def _raises(error: type[Exception], name: str):
    return pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)")


def test_unknown_profile_lists_the_valid_ones():
    with _raises(ValueError, "profile") as info:
        at.get_profile("huge")
    assert "'smoke', 'full'" in str(info.value)


_FIT = {"charts": 2, "dim": 1, "regulariser": "mmd", "seed": 0, "epochs": 1, "name": "x"}

FIT_BAD = [
    ({"data": torch.rand(8, 3).numpy()}, TypeError, "data"),
    ({"data": torch.ones(8, 3, dtype=torch.int64)}, TypeError, "data"),
    ({"data": torch.rand(8, 3, 3)}, ValueError, "data"),
    ({"data": torch.rand(0, 3)}, ValueError, "data"),
    ({"data": torch.full((8, 3), math.nan)}, ValueError, "data"),
    ({"charts": 0}, ValueError, "charts"),
    ({"dim": 1.5}, TypeError, "dim"),
    ({"regulariser": "wgan"}, ValueError, "regulariser"),
    ({"regulariser": None}, TypeError, "regulariser"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 2**40}, ValueError, "seed"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"folder": None}, TypeError, "folder"),
    ({"folder": 3}, TypeError, "folder"),
    ({"name": ""}, ValueError, "name"),
    ({"name": 3}, TypeError, "name"),
    ({"hidden": 0}, ValueError, "hidden"),
    ({"progress": 1}, TypeError, "progress"),
]


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(("change", "error", "name"), FIT_BAD, ids=[c[2] for c in FIT_BAD])
def test_fit_refuses_bad_arguments(tmp_path, change, error, name):
    kwargs = {"data": torch.rand(8, 3), "folder": tmp_path, **_FIT} | change
    with _raises(error, name):
        at.fit(**kwargs)
    assert not any(tmp_path.iterdir())


# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (at.get_profile, (1,), {}, TypeError, "profile"),
    (at.work_dir, ("nope",), {}, ValueError, "profile"),
    (at.work_dir, ("smoke", 3.0), {}, TypeError, "results_root"),
    (at.run, ("nope",), {}, ValueError, "profile"),
    (at.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (at.run, ("smoke",), {"seed": math.nan}, TypeError, "seed"),
    (at.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (at.run, ("smoke",), {"progress": 0}, TypeError, "progress"),
    (at.run, ("smoke",), {"log": 1}, TypeError, "log"),
    (at.run, ("smoke",), {"train_missing": "yes"}, TypeError, "train_missing"),
    (at.train, ("nope",), {}, ValueError, "profile"),
    (at.train, ("smoke",), {"only": 3}, TypeError, "only"),
    (at.train, ("smoke",), {"seed": -3}, ValueError, "seed"),
    (at.train, ("smoke",), {"progress": None}, TypeError, "progress"),
    (plots.plot_charts, ([], "gan"), {}, TypeError, "payload"),
    (plots.plot_barcode_grid, ({"settings": {}},), {}, ValueError, "payload"),
    (plots.plot_rates, ({"manifolds": []},), {}, ValueError, "payload"),
    (plots.plot_control_thresholds, ({},), {}, ValueError, "payload"),
    (plots.plot_control_barcodes, (None,), {}, TypeError, "payload"),
    (plots.plot_training, ({},), {}, ValueError, "payload"),
    (plots.plot_torus3_curves, ({},), {}, ValueError, "payload"),
    (plots.plot_torus3_final, ([],), {}, TypeError, "payload"),
    (plots.plot_mnist_graph, (None,), {}, TypeError, "payload"),
    (plots.plot_mnist_digits, ({},), {}, ValueError, "payload"),
    (rp.figures, ({"mnist": {}},), {}, ValueError, "payload"),
    (rp.tables, ("payload",), {}, TypeError, "payload"),
    (rp.findings, ({"torus3": []},), {}, ValueError, "payload"),
    (rp.mnist_purity, ({},), {}, ValueError, "read"),
    (rp.mnist_overlap_ratio, ({"counts": []},), {}, ValueError, "read"),
    (rp.pending_line, ({},), {}, ValueError, "payload"),
    (rp.claims, (lambda _profile: {"settings": {}},), {}, ValueError, "payload"),
]


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(function, args, kwargs, error, name):
    with _raises(error, name):
        function(*args, **kwargs)


def test_the_full_grid_is_trained_seed_by_seed():
    settings = at.get_profile("full")
    jobs = at.jobs(settings)
    names = [job.name for job in jobs]
    assert len(names) == len(set(names)) == 160 + 25 + 3
    nerve_cells = 2 * (1 + 1 + 3 + 3)
    assert [job.seed for job in jobs[:nerve_cells]] == [0] * nerve_cells
    assert names[:2] == ["circle-k4-mmd-s0", "circle-k4-gan-s0"]
    # the first three seeds of everything (T³ included, and MNIST) before any fourth seed
    first_fourth = next(i for i, job in enumerate(jobs) if job.seed == 3)
    early = jobs[:first_fourth]
    assert {(j.kind, j.seed) for j in early} == {
        (kind, s) for kind in ("manifold", "torus3") for s in (0, 1, 2)
    } | {("mnist", s) for s in (0, 1, 2)}
    assert {j.dim for j in early if j.kind == "torus3"} == {1, 2, 3, 4, 5}
    assert sum(j.kind == "torus3" for j in jobs) == 25
    assert {j.regulariser for j in jobs if j.kind == "torus3"} == {"mmd"}
    assert {(j.manifold, j.charts) for j in jobs if j.kind == "manifold"} == {
        ("circle", 4),
        ("sphere", 6),
        *((m, k) for m in ("torus", "rp2") for k in (9, 12, 16)),
    }
    assert settings["epochs"] == settings["torus3_epochs"] == 100
    assert settings["seeds"] == list(range(10)) and settings["torus3_seeds"] == list(range(5))


def test_train_trains_what_is_missing_and_then_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(at.PROFILES, "smoke", TINY)
    done = at.train("smoke", only="circle-*-s0", results_root=tmp_path, progress=False)
    assert done == ["circle-k4-mmd-s0", "circle-k4-gan-s0"]
    folder = at.work_dir("smoke", tmp_path)
    assert {p.name for p in folder.iterdir()} == {
        f"circle-k4-{reg}-s0.{ext}" for reg in ("mmd", "gan") for ext in ("pt", "json")
    }
    assert at.train("smoke", only="circle-*-s0", results_root=tmp_path, progress=False) == []
    # run() without training reads the finished models and names the others
    payload = at.run("smoke", results_root=tmp_path, log=None, train_missing=False)
    assert [r["name"] for r in payload["manifolds"]] == done
    assert payload["pending"] == [j.name for j in at.jobs(TINY) if j.name not in done]
    assert payload["torus3"] == [] and payload["mnist"] == []
    # the reads are committed records: on a fresh machine (no work folder) run() and train()
    # read them and train nothing
    records = tmp_path / "atlas" / "smoke" / "records"
    assert sorted(p.name for p in records.iterdir()) == sorted(f"{n}.json" for n in done)
    shutil.rmtree(folder)
    monkeypatch.setattr(at, "train_atlas", _trains)
    assert at.train("smoke", only="circle-*-s0", results_root=tmp_path, progress=False) == []
    again = at.run("smoke", results_root=tmp_path, log=None, train_missing=False)
    assert again["manifolds"] == payload["manifolds"] and again["pending"] == payload["pending"]
    # a record made under other settings is stale: that model is trained again
    monkeypatch.setitem(at.PROFILES, "smoke", TINY | {"readout_points": 1500})
    with pytest.raises(RuntimeError, match="trained"):
        at.train("smoke", only="circle-k4-mmd-s0", results_root=tmp_path, progress=False)


def test_the_command_line_reports_errors_in_one_line(capsys):
    assert at.main(["train", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: profile must be one of")
    assert at.main(["status", "smoke", "--only", "mnist-*"]) == 0
    assert capsys.readouterr().out.startswith("mnist-s0\t")
