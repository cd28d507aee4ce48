"""The N-VAE chapter: its study refuses bad inputs before any work, its report draws
page-sized figures, DataFrame tables and scorecard claims from a payload."""

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import toposhape.data
from toposhape.nvae import build_vae
from toposhape.results import repo_root
from toposhape.studies import present, style
from toposhape.studies.nvae import report
from toposhape.studies.nvae import run as nv
from toposhape.studies.scorecard import VERDICTS, chapter_loader


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
    (report.figures, (None,), {}, TypeError, "payload"),
    (report.figures, ({"datasets": {}},), {}, ValueError, "payload"),
    (report.tables, ([],), {}, TypeError, "payload"),
    (report.tables, ({"datasets": {}},), {}, ValueError, "payload"),
    (report.setup, ({"datasets": {}, "models": {}, "recipe": {}},), {}, ValueError, "payload"),
    (report.findings, ("payload",), {}, TypeError, "payload"),
    (report.claims, ("full",), {}, TypeError, "load"),
    (report.claims, (lambda _profile: [],), {}, TypeError, "payload"),
    (report.claims, (lambda _profile: {"datasets": {}},), {}, ValueError, "payload"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(function, args, kwargs, error, name):
    with _raises(error, name):
        function(*args, **kwargs)


# ---------------------------------------------------------------------------
# The report, from a payload shaped like the smoke profile's
# ---------------------------------------------------------------------------

_DATASETS = ("mnist", "fashion-mnist")


def _smoke_payload(datasets: tuple[str, ...] = _DATASETS) -> dict:
    """A payload with the layout :func:`nv.run` writes at the smoke profile, random numbers,
    for every dataset of ``datasets`` (the smoke profile itself has MNIST only)."""
    rng = np.random.default_rng(0)
    recipe = nv.RECIPE
    latent = recipe["class_dim"] + recipe["shared_dim"]
    values = len(recipe["traversal_values"])

    def images(*shape: int) -> list:
        return rng.integers(0, 256, size=(*shape, 28, 28)).tolist()

    def entry() -> dict:
        models = {
            name: {
                "kind": kind,
                "beta": beta,
                "history": [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}],
                "elbo": -100.0,
                "iwae": -98.0,
                "accuracy": 0.9 if kind == "nvae" else None,
                "kl_per_class": rng.uniform(0.6, 2.0, size=(10, latent)).tolist(),
                "mmd": 0.001,
                "samples": {f"{s:g}": images(64) for s in recipe["sigmas"]},
                "codes": rng.normal(size=(40, latent)).tolist(),
            }
            for name, (kind, beta) in nv.MODELS.items()
        }
        synthetic = [
            {"generator": g, "fraction": f, "accuracies": [0.8, 0.9], "mean": 0.85, "std": 0.05}
            for g, f in (("real data", 0.0), ("N-VAE", 0.4), ("N-VAE", 1.0), ("CVAE", 0.4),
                         ("CVAE", 1.0))
        ]  # fmt: skip
        return {
            "models": models,
            "labels": (np.arange(40) % 10).tolist(),
            "shared_traversals": images(recipe["shared_dim"], 10, values),
            "class_traversals": images(10, values),
            "class_traversal_dims": (np.arange(10) % recipe["class_dim"]).tolist(),
            "synthetic": synthetic,
            "train_images": 2000,
            "test_images": 500,
        }

    return {
        "profile": "smoke",
        "settings": nv.get_profile("smoke"),
        "recipe": recipe,
        "models": {k: list(v) for k, v in nv.MODELS.items()},
        "datasets": {d: entry() for d in datasets},
        "timings_s": {},
    }


@pytest.fixture(scope="module")
def payload() -> dict:
    return json.loads(json.dumps(_smoke_payload()))  # as a results file holds it


def test_every_figure_is_drawn_for_the_page(payload):
    figures = report.figures(payload)
    kinds = ("samples", "shared", "class_factors")
    assert sorted(figures) == sorted(["latents", *(f"{k}_{d}" for d in _DATASETS for k in kinds)])
    for key, fig in figures.items():
        style.check_figure(fig, key)


def test_tables_are_dataframes_with_plain_headers(payload):
    tables = report.tables(payload)
    models, synthetic = tables["models"], tables["synthetic"]
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    assert len(models) == len(_DATASETS) * len(nv.MODELS)
    assert len(synthetic) == len(_DATASETS) * 5
    accuracy = models.set_index("model")["q(y|x) accuracy (%)"]
    assert accuracy["N-VAE"].tolist() == [90.0, 90.0]
    assert accuracy.drop("N-VAE").isna().all()  # only the N-VAE has a classifier
    assert models["MMD² to the prior (×10⁻³)"].tolist() == pytest.approx([1.0] * len(models))
    assert synthetic["generated share (%)"].tolist()[:5] == [0, 40, 100, 40, 100]
    html = present.table(models).to_html()
    assert "q(y|x) accuracy (%)" in html and "| " not in html


def test_findings_answer_each_comparison(payload):
    lines = report.findings(payload)
    assert len(lines) == 4 * len(_DATASETS)
    assert all(("**yes**" in line) != ("**no**" in line) for line in lines)
    assert "Fashion-MNIST" in report.setup(payload)


def _labels_above_headings(notebook: Path) -> set[str]:
    """The MyST labels ``(name)=`` of a notebook that stand right above a heading."""
    found = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).splitlines()
        for line, following in itertools.pairwise(lines):
            if re.fullmatch(r"\(([\w-]+)\)=", line) and following.startswith("#"):
                found.add(line[1:-2])
    return found


def test_claims_on_the_committed_results_are_valid_and_placed():
    claims = report.claims(chapter_loader(nv.CHAPTER))
    labels = _labels_above_headings(repo_root() / "book" / f"{nv.CHAPTER}.ipynb")
    assert 3 <= len(claims) <= 8
    for claim in claims:
        assert claim.source == "antoran2019" and claim.chapter == nv.CHAPTER
        assert claim.section in labels, claim.section
        assert claim.verdict in VERDICTS and claim.verdict != "reproduced"  # one seed
    verdicts = {c.section: c.verdict for c in claims}
    assert verdicts["nvae-yale"] == "not run yet"  # the study fits MNIST and Fashion-MNIST
    assert all(c.seeds == 1 for c in claims if c.verdict != "not run yet")


def test_claims_are_not_run_yet_without_full_results():
    asked = []
    claims = report.claims(lambda profile: asked.append(profile))
    assert asked == ["full"]
    assert {c.verdict for c in claims} == {"not run yet"}
    assert {c.seeds for c in claims} == {0}


def _verdicts(payload: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for claim in report.claims(lambda _profile: payload):
        out.setdefault(claim.section, []).append(claim.verdict)
    return out


def _set_all(payload: dict, model: str, key: str, values: tuple[float, float]) -> None:
    for entry, value in zip(payload["datasets"].values(), values, strict=True):
        entry["models"][model][key] = value


def test_verdicts_follow_the_numbers():
    payload = _smoke_payload()
    cd = nv.RECIPE["class_dim"]
    _set_all(payload, "N-VAE", "mmd", (0.001, 0.001))
    _set_all(payload, "VAE", "mmd", (0.002, 0.002))
    _set_all(payload, "N-VAE", "iwae", (-90.0, -90.0))
    for entry in payload["datasets"].values():
        entry["models"]["N-VAE"]["kl_per_class"][3][1] = 0.0  # class 3 leaves z_c[1] unused
        for row in entry["synthetic"]:
            row["mean"] = {"N-VAE": 0.9, "CVAE": 0.8}.get(row["generator"], 0.95)
    assert _verdicts(payload) == {
        "nvae-likelihood": ["partly"],
        "nvae-shared": ["partly"],
        "nvae-class-factors": ["partly"],
        "nvae-sampling": ["partly"],
        "nvae-synthetic": ["partly", "partly"],
        "nvae-yale": ["not run yet"],
    }
    fashion = payload["datasets"]["fashion-mnist"]
    fashion["models"]["N-VAE"]["mmd"] = 0.003  # farther from the prior than the VAE
    fashion["models"]["N-VAE"]["iwae"] = -99.0  # below the CVAE's -98
    fashion["models"]["N-VAE"]["kl_per_class"][3][1] = 1.0  # no selective pair left
    fashion["models"]["N-VAE"]["kl_per_class"][0][cd] = 0.0  # z_s[0] unused by class 0
    next(r for r in fashion["synthetic"] if r["fraction"] == 1.0 and r["generator"] == "CVAE")[
        "mean"
    ] = 0.95
    assert _verdicts(payload) == {
        "nvae-likelihood": ["not reproduced"],
        "nvae-shared": ["not reproduced"],
        "nvae-class-factors": ["not reproduced"],
        "nvae-sampling": ["not reproduced"],
        "nvae-synthetic": ["partly", "not reproduced"],
        "nvae-yale": ["not run yet"],
    }


def test_yale_is_judged_once_the_results_hold_it():
    payload = _smoke_payload(("mnist", "yaleb"))
    assert _verdicts(payload)["nvae-yale"] == ["partly"]  # every shared dim used by all
    payload["datasets"]["yaleb"]["models"]["N-VAE"]["kl_per_class"][0][-1] = 0.0
    assert _verdicts(payload)["nvae-yale"] == ["not reproduced"]
