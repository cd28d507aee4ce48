"""The atlas chapter's report: figures, tables, findings and scorecard claims from payloads.

A tiny smoke-shaped payload is computed once by :func:`run.run` (shrunken profile); a
payload with nothing trained (every model pending) and payloads with many seeds, made from
the tiny one with the outcomes the rules are tested on, are the others.
"""

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toposhape.studies import scorecard, style
from toposhape.studies.atlas import failures, rules
from toposhape.studies.atlas import report as rp
from toposhape.studies.atlas import run as ar

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "atlas.ipynb"
TINY = {
    "manifolds": {"circle": [4], "sphere": [6]},
    "regularisers": ["mmd", "gan"],
    "seeds": [0],
    "points": 200,
    "epochs": 2,
    "readout_points": 2000,
    "controls": ["circle-4", "sphere-6", "torus-1x8"],
    "control_entropies": [0.1, 0.2, 0.4],
    "control_points": 3000,
    "torus3_dims": [1, 2, 3],
    "torus3_seeds": [0],
    "torus3_epochs": 1,
    "torus3_heldout": 1000,
    "mnist_images": 200,
    "mnist_epochs": 1,
    "mnist_seeds": 1,
    "train_missing": True,
}


def _payload(tmp_path_factory, train: bool) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ar.PROFILES, "smoke", TINY)
        root = tmp_path_factory.mktemp("results")
        payload = ar.run("smoke", results_root=root, log=None, train_missing=train)
    return json.loads(json.dumps(payload))  # as saved


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    """The payload of a smoke run, shrunk to a few seconds."""
    return _payload(tmp_path_factory, True)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> dict:
    """The payload of a run with no model trained: the controls only."""
    return _payload(tmp_path_factory, False)


def _many_seeds(smoke: dict, correct: dict[tuple[str, str], list[bool]]) -> dict:
    """The smoke payload with ``len(correct[...])`` seeds per (manifold, regulariser), each
    run recovering the homology as ``correct`` says."""
    payload = copy.deepcopy(smoke)
    runs = []
    for r in smoke["manifolds"]:
        for s, ok in enumerate(correct[(r["manifold"], r["regulariser"])]):
            runs.append(copy.deepcopy(r) | {"seed": s, "correct": ok})
    payload["manifolds"] = runs
    payload["settings"]["seeds"] = list(range(max(len(v) for v in correct.values())))
    return payload


def _torus3(smoke: dict, rec: dict[int, float], mmd: dict[int, float], seeds: int = 5) -> dict:
    """The smoke payload with T³ runs of d = 1..5, seed s ending at rec[d], mmd[d] (+ 1 % · s)."""
    payload = copy.deepcopy(smoke)
    template = smoke["torus3"][0]
    payload["torus3"] = [
        copy.deepcopy(template)
        | {"dim": d, "seed": s, "reconstruction": rec[d] * (1 + 0.01 * s),
           "mmd": mmd[d] * (1 + 0.01 * s)}
        for d in rec for s in range(seeds)
    ]  # fmt: skip
    payload["settings"]["torus3_dims"] = sorted(rec)
    return payload


FIGURES = {
    "control_thresholds",
    "control_barcodes",
    "training",
    "charts_gan",
    "charts_mmd",
    "barcodes",
    "rates",
    "torus3_curves",
    "torus3_final",
    "mnist_graph",
    "mnist_digits",
}


@pytest.mark.parametrize("which", ["smoke", "untrained"])
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


def test_the_controls_come_first_in_the_payload_and_the_chapter(smoke):
    controls = smoke["controls"]
    thr = controls["threshold"]
    assert thr["low"] < thr["threshold"] < thr["high"]
    assert [c["cover"] for c in controls["covers"]] == TINY["controls"]
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert text.index("(atlas-controls)=") < text.index("(atlas-homology)=")


def test_tables_are_dataframes_that_agree_with_the_runs(smoke):
    tables = rp.tables(smoke)
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    rates = tables["rates"].set_index(["manifold", "k", "regulariser"])
    assert len(rates) == 2 * 2
    for r in smoke["manifolds"]:
        row = rates.loc[(r["manifold"], r["charts"], r["regulariser"].upper())]
        assert row["recovered"] == f"{int(r['correct'])} of 1"
        assert row["held-out MSE"] == pytest.approx(r["reconstruction"])
        low, high = rules.wilson(int(r["correct"]), 1)
        assert row["Wilson 95 %"] == f"{low:.2f}–{high:.2f}"
        failed = sum(int(count) for count in row[rp.FAILED_COLUMN].split(" / "))
        assert failed == (not r["correct"])
    assert len(tables["runs"]) == len(smoke["manifolds"])
    assert tables["controls"]["kind"].tolist() == ["good", "good", "bad"]
    assert len(tables["control_levels"]) == 3 * 3
    torus3 = tables["torus3"].set_index("d")
    assert torus3.loc[2, "held-out MSE"] == pytest.approx(
        next(r["reconstruction"] for r in smoke["torus3"] if r["dim"] == 2)
    )
    assert [r["seed"] for r in smoke["mnist"]] == [0]
    counts = np.asarray(smoke["mnist"][0]["counts"])
    assert tables["mnist"]["test images"].tolist() == counts.sum(axis=1).tolist()


def test_an_untrained_payload_has_empty_sections_and_names_what_is_pending(untrained):
    assert len(untrained["pending"]) == len(ar.jobs(TINY))
    found = rp.findings(untrained)
    assert "**yes**" in found["controls"][1]
    assert all(found[k] == [rp.findings(untrained)[k][0]] for k in found if k != "controls")
    assert found["torus3"][0].startswith("Not run yet")
    assert rp.pending_line(untrained).startswith(f"{len(ar.jobs(TINY))} of the profile's")
    tables = rp.tables(untrained)
    assert tables["runs"].empty and tables["mnist"].empty
    assert (tables["rates"]["recovered"] == "0 of 0").all()
    assert {c.verdict for c in rp.claims(lambda _p: untrained)} == {"not run yet"}


def test_the_training_time_is_summed_over_the_trained_models(smoke, untrained):
    runs = [*smoke["manifolds"], *smoke["torus3"], *smoke["mnist"]]
    total = sum(r["history"]["seconds"] for r in runs)
    assert rp.training_seconds(lambda p: smoke if p == "full" else None) == pytest.approx(total)
    assert rp.training_seconds(lambda _p: None) == 0.0
    every = f"Trained (every model of the profile): {len(runs)} models"
    assert not smoke["pending"] and rp.budget_line(smoke).startswith(every)
    waiting = smoke | {"pending": ["torus-k9-mmd-s0"]}
    assert rp.budget_line(waiting).startswith(f"Trained so far: {len(runs)} models")
    assert rp.budget_line(untrained) == "No model of the profile is trained yet."


def test_findings_are_sentences(smoke):
    found = rp.findings(smoke)
    assert set(found) == {"controls", "homology", "failures", "regularisers", "torus3", "mnist"}
    assert all(line.endswith(".") for lines in found.values() for line in lines)
    assert "**yes**" in found["controls"][1]  # every good cover read right


def _labels() -> set[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return {
        line[1:-2]
        for c in cells
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("(") and line.endswith(")=")
    }


def test_claims_are_valid_and_point_at_sections(smoke):
    cells = [(m, r) for m in ("circle", "sphere") for r in ("mmd", "gan")]
    payload = _many_seeds(smoke, {cell: [True] * 10 for cell in cells})
    claims = rp.claims(lambda profile: payload if profile == "full" else None)
    assert len(claims) == 7
    labels = _labels()
    for claim in claims:
        assert claim.section in labels, claim.section
        assert claim.chapter == "atlas" and claim.source == "korman"
    frame = scorecard.frame(claims)
    assert list(frame.columns) == list(scorecard.Claim.__dataclass_fields__)
    verdicts = {c.claim[:60]: c.verdict for c in claims}
    assert sum(v == "reproduced" for v in verdicts.values()) >= 2  # circle and sphere
    assert [c.verdict for c in claims if "torus S¹×S¹" in c.claim] == ["not run yet"]


def test_a_homology_claim_waits_for_three_seeds_of_every_cell(smoke):
    cells = {(r["manifold"], r["regulariser"]): [True] * 2 for r in smoke["manifolds"]}
    payload = _many_seeds(smoke, cells)
    (circle,) = [c for c in rp.claims(lambda _p: payload) if "circle" in c.claim]
    assert circle.verdict == "not run yet" and circle.seeds == 2


def test_the_regulariser_claim_waits_for_a_second_seed(smoke):
    one = _many_seeds(
        smoke, {(r["manifold"], r["regulariser"]): [True] for r in smoke["manifolds"]}
    )
    two = _many_seeds(
        smoke, {(r["manifold"], r["regulariser"]): [True] * 2 for r in smoke["manifolds"]}
    )
    section = "atlas-regularisers"
    (first,) = [c for c in rp.claims(lambda _p: one) if c.section == section]
    assert first.verdict == "not run yet" and "second seed" in first.measured
    (second,) = [c for c in rp.claims(lambda _p: two) if c.section == section]
    assert second.verdict != "not run yet" and "nan" not in second.measured


def test_the_regulariser_findings_show_what_the_claim_reads(smoke):
    """Every chart in use with its Wilson interval, and the seed spread of the error."""
    payload = _many_seeds(
        smoke, {(r["manifold"], r["regulariser"]): [True] * 4 for r in smoke["manifolds"]}
    )
    errors = {"mmd": [1.0, 1.1, 0.9, 1.0], "gan": [1.0, 3.0, 0.5, 2.0]}
    for r in payload["manifolds"]:
        k = len(r["usage"])
        collapsed = r["regulariser"] == "gan" and r["seed"] % 2 == 1  # one chart holds all
        r["usage"] = [1.0] + [0.0] * (k - 1) if collapsed else [1 / k] * k
        r["reconstruction"] = errors[r["regulariser"]][r["seed"]]
    found = dict(zip(("mmd", "gan"), rp.findings(payload)["regularisers"][:2], strict=True))
    for reg, used in (("mmd", 8), ("gan", 4)):
        low, high = rules.wilson(used, 8)
        values = np.asarray(errors[reg])
        cv = values.std(ddof=1) / values.mean()  # the same in both manifolds' cells
        assert f"every chart in use in {used} of 8 runs ({low:.2f}–{high:.2f})" in found[reg]
        assert f"mean over the cells): {cv:.2f};" in found[reg]
    # MMD 8/8 (0.68–1.00) is not wholly above GAN 4/8 (0.22–0.78); its CV is the smaller
    (claim,) = [c for c in rp.claims(lambda _p: payload) if c.section == "atlas-regularisers"]
    assert rp.findings(payload)["regularisers"][2] == (
        "The MMD's interval of runs with every chart in use lies wholly above the GAN's: "
        "**no**; its seed variation is the smaller: **yes**. Scorecard verdict: **partly**."
    )
    assert claim.verdict == "partly"
    one = rp.findings(smoke)["regularisers"]
    assert all("not measured yet (one seed per cell)" in line for line in one)
    assert len(one) == 2  # no verdict before the seed variation is measured


_OTHERS = {("sphere", "mmd"): [False], ("sphere", "gan"): [False]}


@pytest.mark.parametrize(
    ("mmd", "gan", "verdict"),
    [
        ([True] * 10, [False] * 10, "reproduced"),  # MMD 10/10: Wilson 0.72–1.00
        ([True] * 8 + [False] * 2, [False] * 10, "within noise"),  # 8/10: 0.49–0.94
        ([True] * 6 + [False] * 4, [True] * 5 + [False] * 5, "within noise"),
        ([True] * 2 + [False] * 8, [False] * 10, "within noise"),  # 2/10: 0.06–0.51
        ([True] + [False] * 9, [False] * 10, "not reproduced"),  # 1/10: 0.02–0.40
        ([True, True, True], [True, True, True], "within noise"),  # 3/3: 0.44–1.00
        ([False] * 3, [False] * 3, "within noise"),  # 0/3: 0.00–0.56
    ],
)
def test_the_homology_rule_is_read_from_the_wilson_intervals(smoke, mmd, gan, verdict):
    payload = _many_seeds(smoke, {("circle", "mmd"): mmd, ("circle", "gan"): gan} | _OTHERS)
    (circle,) = [c for c in rp.claims(lambda _p: payload) if "circle" in c.claim]
    assert circle.verdict == verdict, circle.measured
    assert circle.seeds == len(mmd)  # the best cell's
    word = {"reproduced": "yes", "not reproduced": "no", "within noise": "undecided"}[verdict]
    lines = rp.findings(payload)["homology"]
    assert f"(Wilson interval above 1/2): **{word}**" in lines[0]
    assert lines[-1].startswith(f"Scorecard verdicts by this rule: circle **{verdict}**, sphere")


TREND = {1: 0.8, 2: 0.4, 3: 0.02, 4: 0.0199, 5: 0.0198}, {1: 0.001, 2: 0.002, 3: 0.003,
                                                         4: 0.02, 5: 0.03}  # fmt: skip
FLAT = {d: 0.3 for d in range(1, 6)}, {d: 0.01 for d in range(1, 6)}


@pytest.mark.parametrize(
    ("losses", "seeds", "verdict"),
    [
        (TREND, 5, "reproduced"),
        (TREND, 2, "partly"),  # both hold, too few seeds
        ((TREND[0], FLAT[1]), 5, "partly"),  # the elbow only
        ((FLAT[0], TREND[1]), 5, "partly"),  # the MMD only
        (FLAT, 5, "not reproduced"),
    ],
)
def test_the_torus3_rule(smoke, losses, seeds, verdict):
    payload = _torus3(smoke, *losses, seeds=seeds)
    (claim,) = [c for c in rp.claims(lambda _p: payload) if c.section == "atlas-torus3"]
    assert claim.verdict == verdict, claim.measured
    if losses is TREND:
        assert "elbow at d = 3" in claim.measured
    lines = rp.findings(payload)["torus3"]
    assert lines[-1] == f"Scorecard verdict: **{verdict}** ({seeds} seeds per d)."


def _mnist_read(seed: int, purity: float, ratio: float) -> dict:
    """An MNIST read of 4 charts: charts 0, 1 mostly digit 0, charts 2, 3 mostly digit 1
    (``purity`` of each chart's test images), same-digit pairs overlapping ``ratio`` times
    as much as the others."""
    counts = np.zeros((4, 10), dtype=int)
    major = round(100 * purity)
    for chart, digit in enumerate((0, 0, 1, 1)):
        counts[chart, digit], counts[chart, 9] = major, 100 - major
    u = np.full((4, 4), 0.1)
    u[0, 1] = u[1, 0] = u[2, 3] = u[3, 2] = 0.1 * ratio
    np.fill_diagonal(u, 1.0)
    return {"seed": seed, "counts": counts.tolist(), "overlaps": u.tolist(), "train_images": 60}


@pytest.mark.parametrize(
    ("reads", "verdict"),
    [
        ([(0.9, 4), (0.95, 5), (0.85, 3)], "reproduced"),
        ([(0.9, 4)], "partly"),  # both hold, one seed
        ([(0.9, 4), (0.95, 5), (0.7, 3)], "partly"),  # one seed is not pure enough
        ([(0.5, 1), (0.6, 1.5), (0.7, 1)], "not reproduced"),
    ],
)
def test_the_mnist_rule_holds_in_every_seed(smoke, reads, verdict):
    mnist = [_mnist_read(i, purity, ratio) for i, (purity, ratio) in enumerate(reads)]
    assert rp.mnist_purity(mnist[0]) == pytest.approx(reads[0][0])
    assert rp.mnist_overlap_ratio(mnist[0]) == pytest.approx(reads[0][1])
    payload = smoke | {"mnist": mnist}
    (claim,) = [c for c in rp.claims(lambda _p: payload) if c.section == "atlas-mnist"]
    assert claim.verdict == verdict and claim.seeds == len(reads), claim.measured
    assert f"{len(reads)} seed" in claim.budget
    lines = rp.findings(payload)["mnist"]
    pure = all(purity >= 0.8 for purity, _ in reads)
    assert f"at least 80% in every seed: **{'yes' if pure else 'no'}**" in lines[0]
    assert lines[-1].startswith(f"Scorecard verdict: **{verdict}** ({len(reads)} seed")


def test_a_run_is_diagnosed_by_its_first_failing_check(smoke):
    band = smoke["controls"]["band"]
    run = copy.deepcopy(smoke["manifolds"][0]) | {"correct": False, "entropy": 0.2}
    for chart in run["chart_checks"]:
        chart["contractible"] = True
    assert rp.diagnosis(run, band) == rp.DIAGNOSES[3]
    assert rp.diagnosis(run | {"entropy": 1.5}, band) == rp.DIAGNOSES[2]
    run["chart_checks"][0]["contractible"] = False
    assert rp.diagnosis(run | {"entropy": 1.5}, band) == rp.DIAGNOSES[1]
    assert rp.diagnosis(run | {"correct": True}, band) == rp.DIAGNOSES[0]


def test_the_elbow_findings_say_where_each_part_of_the_rule_holds(smoke):
    """An elbow at d = 4: d = 3 fails part (b), d = 4 passes it; the training curves of
    d = 3 and d = 4 are compared 20 epochs before the last and at the last."""
    rec = {1: 0.8, 2: 0.4, 3: 0.1, 4: 0.01, 5: 0.0099}
    payload = _torus3(smoke, rec, {d: 0.001 for d in rec})
    curves = {d: np.linspace(1.0, rec[d], 30) for d in rec}
    for r in payload["torus3"]:
        r["history"] = r["history"] | {"reconstruction": curves[r["dim"]].tolist()}
    lines = rp.findings(payload)["torus3"]
    assert "**d = 4**" in lines[0]
    assert lines[1] == (
        "The mean held-out error falls by a factor of 2.00 from d = 1 to 2, 4.00 from d = 2 "
        "to 3, 10.00 from d = 3 to 4, 1.01 from d = 4 to 5."
    )
    values = {d: np.array([rec[d] * (1 + 0.01 * s) for s in range(5)]) for d in rec}
    gap = values[3].mean() - values[4].mean()
    bar = 2 * max(values[3].std(ddof=1), values[4].std(ddof=1))
    assert lines[2] == (
        f"At d = 3: (a) holds ({values[3].mean():.3g} against 50% of d = 2's, "
        f"{0.5 * values[2].mean():.3g}); (b) fails (d = 3's error minus d = 4's: {gap:.4g}; "
        f"the noise bar, 2 × the larger seed std, is {bar:.4g})."
    )
    assert lines[3].startswith("At d = 4: (a) holds") and "(b) holds" in lines[3]
    ratio = {e: curves[3][e - 1] / curves[4][e - 1] for e in (10, 30)}
    assert lines[4] == (
        f"Training error of d = 3 over that of d = 4 (means over seeds): {ratio[10]:.2f} at "
        f"epoch 10, {ratio[30]:.2f} at epoch 30, the last."
    )


def test_majority_is_the_homology_rule():
    assert rules.majority([(0.1, 0.4), (0.51, 0.9)]) == "yes"
    assert rules.majority([(0.1, 0.49), (0.0, 0.3)]) == "no"
    assert rules.majority([(0.1, 0.49), (0.3, 0.8)]) == "undecided"
    assert rules.majority([]) == "undecided"


def _brute_force(cells, low, high):
    """Counts and words of the homology rule on a fine grid of thresholds in (low, high],
    and on each interval end inside it and just above it (so that no piece is missed)."""
    ends = [e for runs in cells for run in runs for e in run if low < e < high]
    out = []
    for t in [*np.linspace(low, high, 4001)[1:], *ends, *(e + 1e-9 for e in ends)]:
        counts = [sum(lo < t <= hi for lo, hi in runs) for runs in cells]
        intervals = [rules.wilson(c, len(runs)) for c, runs in zip(counts, cells, strict=True)]
        above = any(lo > 0.5 for lo, _ in intervals)
        below = all(hi < 0.5 for _, hi in intervals)
        out.append((sum(counts), "yes" if above else "no" if below else "undecided"))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_threshold_sweep_agrees_with_trying_every_threshold(seed):
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(3):  # three cells of 5 runs, some with no right threshold at all
        lo = rng.uniform(0, 2, 5)
        cells.append([(a, a + w) for a, w in zip(lo, rng.uniform(-0.2, 1.5, 5), strict=True)])
    pieces = failures.threshold_sweep(cells, 0.6, 1.5)
    assert pieces[0][0] == 0.6 and pieces[-1][1] == 1.5
    assert all(a < b == c for (a, b, *_), (c, *_) in itertools.pairwise(pieces))
    brute = _brute_force(cells, 0.6, 1.5)
    assert {(n, w) for _, _, n, w in pieces} == set(brute)
    with pytest.raises(ValueError, match=r"^low must be below high"):
        failures.threshold_sweep(cells, 1.5, 1.5)


def test_the_right_thresholds_of_a_run_contain_its_threshold_when_it_is_correct(smoke):
    threshold = smoke["controls"]["threshold"]["threshold"]
    for r in smoke["manifolds"]:
        low, high = failures.right_thresholds(r)
        assert (low < threshold <= high) == r["correct"], r["name"]


def _circle_payload(smoke: dict, lengths: dict[str, list[float]]) -> dict:
    """Circle runs only, whose nerve has one H0 bar of 3 decades and one H1 bar of the
    given length (so the thresholds (0, length] read them right); the accepted thresholds
    are (0.5, 1.5] and the chosen one 1.0."""
    correct = {("circle", reg): [True] * len(v) for reg, v in lengths.items()}
    payload = _many_seeds(smoke, correct | {("sphere", reg): [] for reg in lengths})
    payload["settings"]["manifolds"] = {"circle": [4]}
    payload["manifolds"] = [r for r in payload["manifolds"] if r["manifold"] == "circle"]
    payload["controls"] = payload["controls"] | {
        "threshold": {"low": 0.5, "high": 1.5, "threshold": 1.0}
    }
    for r in payload["manifolds"]:
        length = lengths[r["regulariser"]][r["seed"]]
        bars = {"0": [[0.0, 3.0]], "1": [[0.2, 0.2 + length]]}
        r["bars"] = {"2": bars, "3": bars}
        r["correct"] = length >= 1.0
        r["betti"] = {f: [1, int(length >= 1.0)] for f in ("2", "3")}
    return payload


def test_the_failure_findings_try_every_threshold_the_controls_accept(smoke):
    payload = _circle_payload(smoke, {"mmd": [2.0, 2.0, 2.0, 2.0, 0.8], "gan": [0.1] * 5})
    lines = rp.findings(payload)["failures"]
    # (0.5, 0.8]: MMD 5 of 5 (0.57–1.00): yes; (0.8, 1.5]: MMD 4 of 5 (0.38–0.96) and
    # GAN 0 of 5 (0.00–0.43): undecided
    assert lines[1] == (
        "circle, at every threshold the controls accept ((0.50, 1.50] decades): 4 to 5 of 10 "
        "(4 at 1.00) runs read right; homology finding **yes** in (0.50, 0.80], "
        "**undecided** in (0.80, 1.50]."
    )
    steady = rp.findings(_circle_payload(smoke, {"mmd": [2.0] * 5, "gan": [2.0] * 5}))
    assert steady["failures"][1] == (
        "circle, at every threshold the controls accept ((0.50, 1.50] decades): 10 of 10 "
        "runs read right; homology finding **yes**."
    )


def test_the_failure_findings_count_what_the_failed_runs_read_and_their_charts(smoke):
    payload = _circle_payload(smoke, {"mmd": [2.0, 0.1, 0.1], "gan": [0.1]})
    runs = {(r["regulariser"], r["seed"]): r for r in payload["manifolds"]}
    for r, entropy in zip(payload["manifolds"], (0.05, 0.15, 0.3, 0.0), strict=True):
        r["entropy"] = entropy
        r["chart_checks"] = [{"points": 50, "h0": 0.1, "h1": 0.1, "contractible": True}] * 4
    runs["mmd", 1]["chart_checks"] = [
        {"points": 50, "h0": 0.5, "h1": 0.4, "contractible": False},  # two pieces and a loop
        *runs["mmd", 1]["chart_checks"][1:],
    ]
    runs["gan", 0]["usage"] = [1.0, 0.0, 0.0, 0.0]  # collapsed into one chart
    runs["gan", 0]["betti"] = {"2": [0, 0], "3": [0, 0]}
    lines = rp.findings(payload)["failures"]
    assert lines[0] == (
        "Why runs failed (3 of 4): non-contractible chart: 1; memberships outside the "
        "controls' entropies: 1; contractible charts, wrong nerve: 1."
    )
    band = payload["controls"]["band"]  # 0.1–0.4: the runs at 0.15 and 0.3 lie inside
    assert (min(band), max(band)) == (0.1, 0.4)
    assert lines[2] == (
        "Mean membership entropy of the learned atlases: 0.00–0.30 nats (median 0.10); inside "
        "the 0.1–0.4 nats the threshold was chosen on: 2 of 4 runs, 0 of the 1 recovered ones."
    )
    assert lines[3] == (
        "circle, the 3 failed runs: Betti numbers read over Z/2 (1, 0) in 2, (0, 0) in 1 "
        "(the manifold's: (1, 1)); a chart in separate pieces in 1, a chart around a loop in "
        "1; only one chart in use in 1."
    )


def test_the_atlas_figures_draw_the_charts_in_use_in_their_points_colours(smoke):
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    from toposhape.studies.atlas import plots

    assert len({tuple(c) for c in plots.chart_colors(10)}) == 10
    assert len({tuple(c) for c in plots.chart_colors(16)}) == 16
    payload = copy.deepcopy(smoke)
    (sphere,) = [r for r in payload["manifolds"] if r["name"] == "sphere-k6-mmd-s0"]
    sphere["usage"] = [0.3, 0.3, 0.3, 0.1, 0.0, 0.0]  # charts 0..3 in use (> 1/12)
    sphere["sample"]["chart"] = [j % 4 for j in range(len(sphere["sample"]["chart"]))]
    ax = plots.plot_charts(payload, "mmd").axes[1]
    grids = [c for c in ax.collections if isinstance(c, Line3DCollection)]
    colors = plots.chart_colors(6)
    assert [tuple(g.get_color()[0][:3]) for g in grids] == [tuple(colors[j]) for j in range(4)]
    (points,) = [c for c in ax.collections if not isinstance(c, Line3DCollection)]
    assert {tuple(c[:3]) for c in points.get_facecolor()} == {tuple(colors[j]) for j in range(4)}
