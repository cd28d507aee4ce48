"""The MSimCLR study: its model grid, the collapsed-head diagnostic, and its claims."""

import math
import re

import pytest
import torch
from pytorch_metric_learning.losses import NTXentLoss

from toposhape import msimclr_study as ms
from toposhape.contrastive import SimCLRModel, SmallConvNet, build_simclr


def test_model_keys_cover_the_grid_and_the_wide_head() -> None:
    settings = ms.get_profile("full")
    keys = ms.model_keys(settings)
    names = [key for key, *_ in keys]
    assert len(names) == len(set(names))
    dims, charts = settings["dims"], settings["charts"]
    assert len(keys) == len(dims) * (1 + len(charts)) + len(settings["wide_head_dims"])
    assert ("simclr-h64-d2", 0, 2, 64) in keys
    assert all(hidden is None for key, _, _, hidden in keys if not key.startswith("simclr-h"))


def test_wide_head_width_and_bad_width() -> None:
    model = build_simclr("tiny", 1, 16, dim=2, seed=0, hidden=64)
    assert model.head[0].weight.shape == (64, 2) and model.config["hidden"] == 64
    assert "hidden" not in build_simclr("tiny", 1, 16, dim=2, seed=0).config
    with pytest.raises(ValueError, match="hidden"):
        SimCLRModel(SmallConvNet(1, 16), dim=2, hidden=0)


def test_a_head_with_one_unit_alive_has_collapsed() -> None:
    model = SimCLRModel(SmallConvNet(1, 16), dim=2)
    emb = torch.randn(64, 2)
    with torch.no_grad():
        model.head[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    emb[:, 0] = emb[:, 0].abs() + 0.1  # unit 1 is positive, unit 2 negative on every point
    assert ms.alive_units(model, emb) == 1
    projections = model.head(emb).requires_grad_(True)
    labels = torch.arange(32).repeat(2)
    loss = NTXentLoss(temperature=0.5)(projections, labels)
    assert float(loss.detach()) == pytest.approx(math.log(2 * 32 - 1), abs=1e-4)  # log(2B − 1)
    (grad,) = torch.autograd.grad(loss, projections)
    assert grad.abs().max() < 1e-5, "a collapsed head passes no gradient back"
    emb[:5, 0] = -emb[:5, 0]  # unit 2 now fires on five points
    assert ms.alive_units(model, emb) == 2


def _payload(acc: dict[str, float]) -> dict:
    settings = ms.get_profile("smoke") | {"dims": [2], "charts": [1, 2, 4]}
    models = {}
    for key, k, d, hidden in ms.model_keys(settings):
        models[key] = {
            "accuracy": acc[key], "charts": k, "dim": d, "hidden": hidden,
            "history": [{"ntxent": 4.0, "loss": 4.0, "seconds": 30.0}] * 2,
            "alive_units": 1 if k == 0 else None, "test_counts": [5] * k,
        }  # fmt: skip
    entry = {"models": models, "collapsed_at_init": {"d2": 0.5}, "test_images": 5}
    return {"settings": settings, "datasets": {"mnist": entry}}


def test_findings_answer_each_claim_from_the_numbers() -> None:
    acc = {"simclr-d2": 0.5, "simclr-h64-d2": 0.7, "msimclr-k1-d2": 0.6,
           "msimclr-k2-d2": 0.55, "msimclr-k4-d2": 0.45}  # fmt: skip
    lines = ms.findings(_payload(acc))
    assert "**no** for every k, **yes** for the best k (k = 2: 55.00 vs 50.00 %" in lines[0]
    assert "helps SimCLR: **yes** (60.00 vs 50.00 %" in lines[1]
    assert "width 64: **no** (60.00 vs 70.00 %)" in lines[2]
    tables = ms.markdown_tables(_payload(acc))
    assert "| mnist | 2 | 50.00 | 70.00 | 60.00 ▲ | 55.00 ▲ | 45.00 |" in tables["accuracy"]
    assert "| mnist | 2 | 2 | 1 / 2 |" in tables["collapse"]


def test_training_time_sums_every_epoch_of_every_model() -> None:
    acc = dict.fromkeys(["simclr-d2", "simclr-h64-d2", "msimclr-k1-d2", "msimclr-k2-d2",
                         "msimclr-k4-d2"], 0.5)  # fmt: skip
    assert ms.training_time(_payload(acc)) == (5, 5 * 2 * 30.0)


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


_SIMCLR = build_simclr("tiny", 1, 16, dim=2, seed=0)
_IMAGES = torch.rand(4, 1, 16, 16)
_SMOKE = ms.get_profile("smoke")

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (ms.get_profile, ("nope",), {}, ValueError, "profile"),
    (ms.get_profile, (None,), {}, TypeError, "profile"),
    (ms.work_dir, ("tiny",), {}, ValueError, "profile"),
    (ms.work_dir, ("smoke", 3), {}, TypeError, "results_root"),
    (ms.model_keys, (None,), {}, TypeError, "settings"),
    (ms.model_keys, ({"dims": [2]},), {}, ValueError, "settings"),
    (ms.model_keys, (_SMOKE | {"dims": []},), {}, ValueError, "settings['dims']"),
    (ms.model_keys, (_SMOKE | {"dims": 2},), {}, TypeError, "settings['dims']"),
    (ms.model_keys, (_SMOKE | {"charts": [0]},), {}, ValueError, "settings['charts'][0]"),
    (ms.model_keys, (_SMOKE | {"wide_head": 0},), {}, ValueError, "settings['wide_head']"),
    (ms.model_keys, (_SMOKE | {"wide_head_dims": [2.0]},), {}, TypeError,
     "settings['wide_head_dims'][0]"),
    (ms.train_models, ("nope", "mnist"), {}, ValueError, "profile"),
    (ms.train_models, ("smoke", "cifar10"), {}, ValueError, "dataset"),
    (ms.train_models, ("smoke", 3), {}, TypeError, "dataset"),
    (ms.train_models, ("smoke", "mnist"), {"seed": -1}, ValueError, "seed"),
    (ms.train_models, ("smoke", "mnist"), {"results_root": 1}, TypeError, "results_root"),
    (ms.train_models, ("smoke", "mnist"), {"progress": None}, TypeError, "progress"),
    (ms.alive_units, (torch.nn.Linear(2, 2), torch.rand(5, 2)), {}, TypeError, "model"),
    (ms.alive_units, (_SIMCLR, [[0.0, 1.0]]), {}, TypeError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(5, 3)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(2)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(0, 2)), {}, ValueError, "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.rand(5, 2, dtype=torch.float64)), {}, TypeError,
     "embeddings"),
    (ms.alive_units, (_SIMCLR, torch.full((5, 2), math.nan)), {}, ValueError, "embeddings"),
    (ms.collapsed_heads, ({"dims": [2]}, _IMAGES, 2), {}, ValueError, "settings"),
    (ms.collapsed_heads, (_SMOKE | {"dims": [-2]}, _IMAGES, 2), {}, ValueError,
     "settings['dims'][0]"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES.to(torch.uint8), 2), {}, TypeError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[0], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[:0], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES + 1, 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES[..., :12], 2), {}, ValueError, "images"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES, 0), {}, ValueError, "seeds"),
    (ms.collapsed_heads, (_SMOKE, _IMAGES, 2.0), {}, TypeError, "seeds"),
    (ms.run, ("nope",), {}, ValueError, "profile"),
    (ms.run, ("smoke",), {"seed": 2**33}, ValueError, "seed"),
    (ms.run, ("smoke",), {"seed": "0"}, TypeError, "seed"),
    (ms.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (ms.run, ("smoke",), {"progress": "no"}, TypeError, "progress"),
    (ms.run, ("smoke",), {"log": 0}, TypeError, "log"),
    (ms.plot_accuracy, (None,), {}, TypeError, "payload"),
    (ms.plot_embeddings, ({"settings": {}, "datasets": {"mnist": {}}}, "cifar10"), {},
     ValueError, "dataset"),
    (ms.plot_embeddings, ({"datasets": {}},), {"dataset": "mnist"}, ValueError, "payload"),
    (ms.plot_all, ({},), {}, ValueError, "payload"),
    (ms.markdown_tables, ([],), {}, TypeError, "payload"),
    (ms.training_time, ("payload",), {}, TypeError, "payload"),
    (ms.findings, ({"datasets": {}},), {}, ValueError, "payload"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    monkeypatch.setattr(ms, "_data", _no_work)  # the first step of run() and train_models()
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)
