"""Tests of toposhape.studies.scorecard: claims, their table, the compute per chapter."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from toposhape.results import save_results
from toposhape.studies import scorecard
from toposhape.studies.scorecard import Claim


def _claim(**changes: object) -> Claim:
    fields = {
        "source": "hofer2019",
        "claim": "λ = 20 beats λ = 0 <by far>",
        "verdict": "reproduced",
        "rule": "mean difference > 2 seed-std",
        "measured": "75.6 ± 0.3",
        "anchor": "75.96",
        "data": "CIFAR-10, JPEG test split",
        "budget": "50 epochs",
        "reference": "CIFAR-10, 50 epochs",
        "seeds": 3,
        "chapter": "oneclass",
        "section": "oneclass-table1",
    }
    return Claim(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": "nature2030"}, "source must be one of"),
        ({"verdict": "sort of"}, "verdict must be one of"),
        ({"seeds": -1}, "seeds must be an integer >= 0"),
        ({"seeds": True}, "seeds must be an integer >= 0"),
        ({"rule": " "}, "rule must not be empty"),
        ({"section": ""}, "section must not be empty"),
    ],
)
def test_a_bad_claim_is_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _claim(**changes)


def test_summary_counts_claims_per_source_and_verdict() -> None:
    claims = [_claim(), _claim(verdict="partly"), _claim(source="korman", verdict="partly")]
    table = scorecard.summary(claims)
    assert list(table["source"]) == list(scorecard.SOURCES.values())
    assert list(table.columns) == ["source", "reproduced", "partly", "claims"]
    assert list(table["claims"]) == [2, 0, 1]
    assert list(table["partly"]) == [1, 0, 1]


def test_rows_escape_text_and_link_to_the_section() -> None:
    table = scorecard.rows([_claim(), _claim(source="korman")], "hofer2019")
    assert len(table) == 1
    cell = table.iloc[0]["claim (links to the measurement)"]
    assert cell == '<a href="oneclass.html#oneclass-table1">λ = 20 beats λ = 0 &lt;by far&gt;</a>'
    assert "#d4edda" in table.iloc[0]["verdict"]  # reproduced: green
    assert list(table.columns)[1:] == ["verdict", "measured here", "anchor", "seeds"]
    behind = scorecard.details([_claim()], "hofer2019").iloc[0]
    assert behind["data and budget here"] == "CIFAR-10, JPEG test split; 50 epochs"
    assert behind["verdict rule"] == "mean difference > 2 seed-std"
    assert scorecard.rows([], "korman").empty
    with pytest.raises(ValueError, match="source must be one of"):
        scorecard.details([], "nature2030")
    with pytest.raises(ValueError, match="source must be one of"):
        scorecard.rows([], "nature2030")


def test_collect_and_compute_table_read_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.time() - 60
    save_results("demo", "full", {"auroc": 0.7}, seed=0, started=started, root=tmp_path)
    save_results("demo", "smoke", {"auroc": 0.5}, seed=0, started=started - 600, root=tmp_path)
    report = types.ModuleType("demo_report")

    def claims(load: scorecard.Loader) -> list[Claim]:
        full, natural = load("full"), load("natural")
        assert natural is None
        return [_claim(measured=f"{full['auroc']:.2f}", chapter="demo")]

    report.claims = claims  # type: ignore[attr-defined]
    report.training_seconds = lambda load: 7200.0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "demo_report", report)
    found = scorecard.collect({"demo": "demo_report"}, root=str(tmp_path))
    assert [c.measured for c in found] == ["0.70"]
    compute = scorecard.compute_table({"demo": "demo_report"}, root=str(tmp_path))
    row = compute.iloc[0]
    assert row["chapter"] == "demo"
    assert row["results runs (min)"] == pytest.approx(1.0, abs=0.1)  # smoke is not counted
    assert row["training before them (h)"] == 2.0
    frame = scorecard.frame(found)
    assert list(frame.columns) == list(Claim.__dataclass_fields__)


def test_oneclass_training_seconds_adds_up_the_epoch_records() -> None:
    from toposhape.studies.oneclass import report

    natural = {"backbones": {"a": {"history": [{"seconds": 10.0}, {"seconds": 20.5}]}}}
    full = {"backbones": {"b": {"history": [{"seconds": 1.5}]}, "c": {"history": []}}}
    payloads = {"natural": natural, "full": full}
    assert report.training_seconds(payloads.get) == 32.0
    assert report.training_seconds(lambda profile: None) == 0.0
