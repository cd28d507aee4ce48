"""The N-VAE study's argument checks: bad inputs are refused, naming them, before any work."""

import math
import re

import pytest
import torch

import toposhape.data
from toposhape import nvae_study as nv
from toposhape.nvae import build_vae


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """A check that let a bad argument through fails fast instead of training."""
    monkeypatch.setattr(nv, "work_dir", _no_work)  # run() creates its folder first
    monkeypatch.setattr(nv, "_fit_classifier", _no_work)
    monkeypatch.setattr(toposhape.data, "load_images", _no_work)


def _raises(error: type[Exception], name: str):
    return pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)")


def _vae(kind: str = "cvae", **kwargs) -> torch.nn.Module:
    return build_vae(0, kind=kind, class_dim=2, shared_dim=1, hidden=8, **kwargs)


_X = torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(0))
_Y = torch.arange(100) % 10
_STUDY = {"generators": {"CVAE": _vae()}, "train_x": _X, "train_y": _Y, "test_x": _X,
          "test_y": _Y, "images": 64, "epochs": 1, "seeds": [0]}  # fmt: skip

STUDY_BAD = [
    ({"generators": [_vae()]}, TypeError, "generators"),
    ({"generators": {}}, ValueError, "generators"),
    ({"generators": {"x": torch.nn.Linear(2, 2)}}, TypeError, "generators['x']"),
    ({"generators": {"VAE": _vae("vae")}}, ValueError, "generators['VAE']"),
    ({"generators": {"CVAE": _vae(classes=5)}}, ValueError, "generators['CVAE']"),
    ({"generators": {"CVAE": _vae(image_shape=(1, 32, 32))}}, ValueError, "generators['CVAE']"),
    ({"train_x": _X.numpy()}, TypeError, "train_x"),
    ({"train_x": (_X * 255).to(torch.uint8)}, TypeError, "train_x"),
    ({"train_x": _X[:, :, :24, :24]}, ValueError, "train_x"),
    ({"train_x": _X * 2}, ValueError, "train_x"),
    ({"train_x": _X[:0], "train_y": _Y[:0]}, ValueError, "train_x"),
    ({"test_x": _X.clone().fill_(math.nan)}, ValueError, "test_x"),
    ({"train_y": _Y.float()}, TypeError, "train_y"),
    ({"train_y": _Y[:50]}, ValueError, "train_y"),
    ({"test_y": _Y + 1}, ValueError, "test_y"),
    ({"test_y": _Y - 1}, ValueError, "test_y"),
    ({"images": 10}, ValueError, "images"),
    ({"images": 101}, ValueError, "images"),
    ({"images": 64.0}, TypeError, "images"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"seeds": []}, ValueError, "seeds"),
    ({"seeds": 0}, TypeError, "seeds"),
    ({"seeds": [0, -1]}, ValueError, "seeds[1]"),
]


@pytest.mark.parametrize(
    ("change", "error", "name"), STUDY_BAD, ids=[f"{c[2]}-{i}" for i, c in enumerate(STUDY_BAD)]
)
def test_synthetic_classifier_study_refuses_bad_arguments(change, error, name):
    with _raises(error, name):
        nv.synthetic_classifier_study(**(_STUDY | change))


_PAYLOAD = {"datasets": {"mnist": {}}, "recipe": {}, "models": {}, "settings": {}}

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (nv.get_profile, ("nope",), {}, ValueError, "profile"),
    (nv.get_profile, (0,), {}, TypeError, "profile"),
    (nv.work_dir, ("tiny",), {}, ValueError, "profile"),
    (nv.work_dir, ("smoke", 1), {}, TypeError, "results_root"),
    (nv.run, ("nope",), {}, ValueError, "profile"),
    (nv.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (nv.run, ("smoke",), {"seed": 1.5}, TypeError, "seed"),
    (nv.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (nv.run, ("smoke",), {"progress": "yes"}, TypeError, "progress"),
    (nv.run, ("smoke",), {"log": 1}, TypeError, "log"),
    (nv.plot_latents, (None,), {}, TypeError, "payload"),
    (nv.plot_samples, ({"datasets": {}},), {}, ValueError, "payload"),
    (nv.plot_shared_traversals, (_PAYLOAD, "fashion-mnist"), {}, ValueError, "dataset"),
    (nv.plot_shared_traversals, ([], "mnist"), {}, TypeError, "payload"),
    (nv.plot_class_factors, (_PAYLOAD, 3), {}, TypeError, "dataset"),
    (nv.plot_class_factors, ({"datasets": {}}, "mnist"), {}, ValueError, "payload"),
    (nv.plot_all, ([],), {}, TypeError, "payload"),
    (nv.markdown_tables, ({"datasets": {}},), {}, ValueError, "payload"),
    (nv.findings, ("payload",), {}, TypeError, "payload"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(function, args, kwargs, error, name):
    with _raises(error, name):
        function(*args, **kwargs)
