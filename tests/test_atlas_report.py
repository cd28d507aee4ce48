"""The atlas chapter's report: figures, tables, findings and scorecard claims from payloads.

A tiny smoke-shaped payload is computed once by :func:`run.run` (shrunken smoke profile);
the committed ``results/atlas/full.json`` is the other payload the report must draw.
"""

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toposhape.results import load_results
from toposhape.studies import scorecard, style
from toposhape.studies.atlas import plots
from toposhape.studies.atlas import report as rp
from toposhape.studies.atlas import run as ar

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "atlas.ipynb"
TINY = {
    "manifolds": ["circle", "sphere"],
    "seeds": [0],
    "points": 200,
    "epochs": 2,
    "torus3_dims": [1, 2, 3],
    "torus3_seeds": [0],
    "torus3_epochs": 1,
    "mnist_images": 200,
    "mnist_epochs": 1,
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    """The payload of a smoke run, shrunk to a few seconds (JSON round trip, as saved)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ar.PROFILES, "smoke", TINY)
        payload = ar.run("smoke", results_root=tmp_path_factory.mktemp("results"), log=None)
    return json.loads(json.dumps(payload))


@pytest.fixture(scope="module")
def full() -> dict:
    """The committed full payload."""
    record = load_results(ar.CHAPTER, "full")
    assert record is not None, "results/atlas/full.json is committed"
    return record["results"]


FIGURES = {
    "charts_gan",
    "charts_mmd",
    "barcodes",
    "homology",
    "torus3_curves",
    "torus3_final",
    "mnist_graph",
    "mnist_digits",
}


@pytest.mark.parametrize("which", ["smoke", "full"])
def test_every_figure_is_drawn_in_the_book_style(which, request):
    payload = request.getfixturevalue(which)
    figures = rp.figures(payload)
    assert set(figures) == FIGURES
    for key, fig in figures.items():
        style.check_figure(fig, key)
        assert fig.get_size_inches()[1] <= 12, key


def test_every_figure_is_placed_in_the_notebook_with_a_caption():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for key in FIGURES:
        assert f"```{{glue:figure}} {key}\n:name: fig-atlas-{key.replace('_', '-')}\n:alt: " in text


def test_the_mnist_graph_joins_exactly_the_pairs_above_the_threshold(full):
    u = np.asarray(full["mnist"]["overlaps"])
    off = u - np.diag(np.diag(u))
    expected = int((np.triu(off, 1) >= plots.EDGE_SHARE * off.max()).sum())
    fig = plots.plot_mnist_graph(full)
    (ax,) = fig.axes  # the thumbnails are its child axes
    assert len(ax.lines) == expected
    assert 0 < expected < len(u) * (len(u) - 1) // 2  # the threshold leaves some out
    assert len(ax.child_axes) == len(u)  # a thumbnail per chart, each drawn above the lines


def test_tables_are_dataframes_that_agree_with_the_runs(full):
    tables = rp.tables(full)
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    homology = tables["homology"]
    assert len(homology) == len(full["settings"]["manifolds"]) * len(full["regularisers"])
    seeds = tables["homology_seeds"]
    assert len(seeds) == len(full["manifolds"])
    assert (seeds["recovered"] == "yes").sum() == sum(r["correct"] for r in full["manifolds"])
    sphere_mmd = homology.set_index(["manifold", "regulariser"]).loc[("sphere", "MMD")]
    runs = [r for r in full["manifolds"] if r["manifold"] == "sphere" and r["regulariser"] == "mmd"]
    assert sphere_mmd["recovered"] == f"{sum(r['correct'] for r in runs)} of {len(runs)}"
    rec = [r["reconstruction"] for r in runs]
    assert sphere_mmd["reconstruction (MSE)"] == pytest.approx(np.mean(rec))
    assert sphere_mmd["± std"] == pytest.approx(np.std(rec, ddof=1))
    torus3 = tables["torus3"].set_index("d")
    last = [r["history"][-1]["regulariser"] for r in full["torus3"] if r["dim"] == 3]
    assert torus3.loc[3, "encoder GAN loss"] == pytest.approx(np.mean(last))
    assert torus3.loc[3, "|GAN loss − log 2|"] == pytest.approx(abs(np.mean(last) - math.log(2)))
    counts = np.asarray(full["mnist"]["counts"])
    assert tables["mnist"]["test images"].tolist() == counts.sum(axis=1).tolist()
    assert rp.mnist_purity(full) == pytest.approx(counts.max(axis=1).sum() / counts.sum())


def test_findings_of_a_smoke_run_are_sentences(smoke):
    found = rp.findings(smoke)
    assert set(found) == {"homology", "regularisers", "torus3", "mnist"}
    assert len(found["homology"]) == len(smoke["settings"]["manifolds"])
    assert all(line.endswith(".") for lines in found.values() for line in lines)


def _labels() -> set[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return {
        line[1:-2]
        for c in cells
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("(") and line.endswith(")=")
    }


def test_claims_on_the_committed_results_are_valid_and_point_at_sections(full):
    claims = rp.claims(lambda profile: full if profile == "full" else None)
    assert len(claims) == 7
    labels = _labels()
    for claim in claims:
        assert claim.verdict in scorecard.VERDICTS[:3], claim
        assert claim.section in labels, claim.section
        assert claim.chapter == "atlas" and claim.source == "korman"
        assert claim.seeds >= 1 and claim.measured != "–"
    frame = scorecard.frame(claims)
    assert list(frame.columns) == list(scorecard.Claim.__dataclass_fields__)
    mnist = next(c for c in claims if c.section == "atlas-mnist")
    assert mnist.verdict != "reproduced"  # one seed: at best partly


def test_claims_without_results_are_not_run_yet(smoke):
    assert {c.verdict for c in rp.claims(lambda _profile: None)} == {"not run yet"}
    # a smoke payload in place of the full one: what it lacks is "not run yet"
    claims = {c.claim: c for c in rp.claims(lambda _profile: smoke)}
    by_section = {}
    for c in claims.values():
        by_section.setdefault(c.section, []).append(c.verdict)
    assert by_section["atlas-torus3"] == ["not run yet"]  # no d = 4, 5
    assert by_section["atlas-homology"][2:] == ["not run yet", "not run yet"]  # torus, RP²
    assert all(v != "reproduced" for v in by_section["atlas-homology"])  # one seed


def _with_recovered(full: dict, name: str, correct: list[bool]) -> dict:
    """The full payload with ``name``'s runs recovering the homology as ``correct`` says
    (per seed, both regularisers)."""
    payload = copy.deepcopy(full)
    for r in payload["manifolds"]:
        if r["manifold"] == name:
            r["correct"] = correct[payload["settings"]["seeds"].index(r["seed"])]
    return payload


@pytest.mark.parametrize(
    ("correct", "verdict"),
    [
        ([True] * 5, "reproduced"),
        ([True, True, True, True, False], "reproduced"),
        ([True, True, True, False, False], "partly"),
        ([True, True, False, False, False], "not reproduced"),
    ],
)
def test_the_homology_rule(full, correct, verdict):
    payload = _with_recovered(full, "torus", correct)
    (torus,) = [c for c in rp.claims(lambda _p: payload) if "torus S¹×S¹" in c.claim]
    assert torus.verdict == verdict


def test_the_homology_rule_caps_a_single_seed_at_partly(full):
    payload = _with_recovered(full, "circle", [True] * 5)
    payload["settings"]["seeds"] = [0]
    payload["manifolds"] = [r for r in payload["manifolds"] if r["seed"] == 0]
    (circle,) = [c for c in rp.claims(lambda _p: payload) if "circle" in c.claim]
    assert circle.verdict == "partly" and circle.seeds == 1


def _torus3(full: dict, rec: dict[int, float], gan: dict[int, float], swing: float) -> dict:
    """The full payload with T³ runs ending at ``rec[d]`` and ``gan[d]`` (seed s adds 0.01·s),
    the GAN loss ``swing`` higher before the last five epochs."""
    payload = copy.deepcopy(full)
    for r in payload["torus3"]:
        d, s = r["dim"], r["seed"]
        for i, h in enumerate(r["history"]):
            h["reconstruction"] = rec[d] + 0.01 * s
            h["regulariser"] = gan[d] + 0.01 * s + (swing if i < len(r["history"]) - 5 else 0)
    return payload


TREND = {1: 0.5, 2: 0.4, 3: 0.2, 4: 0.2, 5: 0.2}, {1: 1.5, 2: 0.7, 3: 0.7, 4: 1.5, 5: 2.0}
FLAT = {d: 0.3 for d in range(1, 6)}, {d: 0.7 for d in range(1, 6)}


@pytest.mark.parametrize(
    ("losses", "swing", "verdict"),
    [
        (TREND, 0.0, "reproduced"),
        (TREND, 0.5, "partly"),  # the trends, but the GAN loss still moving
        ((TREND[0], FLAT[1]), 0.0, "partly"),  # the reconstruction trend only
        (FLAT, 0.0, "not reproduced"),
    ],
)
def test_the_torus3_rule(full, losses, swing, verdict):
    payload = _torus3(full, *losses, swing)
    (claim,) = [c for c in rp.claims(lambda _p: payload) if c.section == "atlas-torus3"]
    assert claim.verdict == verdict, claim.measured
