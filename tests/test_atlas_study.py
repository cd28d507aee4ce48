"""The atlas study's argument checks: bad inputs are refused, naming them, before any work."""

import math
import re

import pytest
import torch

import toposhape.data
from toposhape.studies.atlas import plots
from toposhape.studies.atlas import report as rp
from toposhape.studies.atlas import run as at


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """A check that let a bad argument through fails fast instead of training."""
    monkeypatch.setattr(at, "manifold_study", _no_work)  # the first step of run()
    monkeypatch.setattr(at, "train_atlas", _no_work)
    monkeypatch.setattr(at, "sample_manifold", _no_work)
    monkeypatch.setattr(toposhape.data, "load_images", _no_work)


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
    (at.manifold_study, ("klein", "gan", 0, 100, 1, "f"), {}, ValueError, "name"),
    (at.manifold_study, ("torus3", "gan", 0, 100, 1, "f"), {}, ValueError, "name"),
    (at.manifold_study, ("circle", "vae", 0, 100, 1, "f"), {}, ValueError, "regulariser"),
    (at.manifold_study, ("circle", "gan", -2, 100, 1, "f"), {}, ValueError, "seed"),
    (at.manifold_study, ("circle", "gan", 0, 0, 1, "f"), {}, ValueError, "points"),
    (at.manifold_study, ("circle", "gan", 0, 100.0, 1, "f"), {}, TypeError, "points"),
    (at.manifold_study, ("circle", "gan", 0, 100, 0, "f"), {}, ValueError, "epochs"),
    (at.manifold_study, ("circle", "gan", 0, 100, 1, None), {}, TypeError, "folder"),
    (at.torus3_study, ([], [0], 100, 1, "f"), {}, ValueError, "dims"),
    (at.torus3_study, (3, [0], 100, 1, "f"), {}, TypeError, "dims"),
    (at.torus3_study, ([1, 0], [0], 100, 1, "f"), {}, ValueError, "dims[1]"),
    (at.torus3_study, ([1], [-1], 100, 1, "f"), {}, ValueError, "seeds[0]"),
    (at.torus3_study, ([1], [1.0], 100, 1, "f"), {}, TypeError, "seeds[0]"),
    (at.torus3_study, ([1], [0], -5, 1, "f"), {}, ValueError, "points"),
    (at.torus3_study, ([1], [0], 100, math.inf, "f"), {}, TypeError, "epochs"),
    (at.torus3_study, ([1], [0], 100, 1, 5), {}, TypeError, "folder"),
    (at.mnist_study, (0, 1, 0, "f", False), {}, ValueError, "images"),
    (at.mnist_study, (1.5, 1, 0, "f", False), {}, TypeError, "images"),
    (at.mnist_study, (None, 0, 0, "f", False), {}, ValueError, "epochs"),
    (at.mnist_study, (None, 1, -1, "f", False), {}, ValueError, "seed"),
    (at.mnist_study, (None, 1, 0, "f", None), {}, TypeError, "progress"),
    (at.run, ("nope",), {}, ValueError, "profile"),
    (at.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (at.run, ("smoke",), {"seed": math.nan}, TypeError, "seed"),
    (at.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (at.run, ("smoke",), {"progress": 0}, TypeError, "progress"),
    (at.run, ("smoke",), {"log": 1}, TypeError, "log"),
    (plots.plot_charts, ([], "gan"), {}, TypeError, "payload"),
    (plots.plot_barcode_grid, ({"settings": {}},), {}, ValueError, "payload"),
    (plots.plot_homology, ({"manifolds": []},), {}, ValueError, "payload"),
    (plots.plot_torus3_curves, ({},), {}, ValueError, "payload"),
    (plots.plot_torus3_final, ([],), {}, TypeError, "payload"),
    (plots.plot_mnist_graph, (None,), {}, TypeError, "payload"),
    (plots.plot_mnist_digits, ({},), {}, ValueError, "payload"),
    (rp.figures, ({"mnist": {}},), {}, ValueError, "payload"),
    (rp.tables, ("payload",), {}, TypeError, "payload"),
    (rp.findings, ({"torus3": []},), {}, ValueError, "payload"),
    (rp.mnist_purity, ({},), {}, ValueError, "payload"),
    (rp.claims, (lambda _profile: {"settings": {}},), {}, ValueError, "payload"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(function, args, kwargs, error, name):
    with _raises(error, name):
        function(*args, **kwargs)
