"""The triplet study: its model grid and its claims, from hand-made payloads."""

import math
import re

import pytest

import toposhape.data
from toposhape import triplet_study as ts


def _metrics(r1: float) -> dict:
    return {"recall_at_1": r1, "recall_at_2": r1, "recall_at_4": r1, "recall_at_8": r1,
            "mean_average_precision_at_r": r1 / 2, "history": [{"seconds": 2.5}] * 3}  # fmt: skip


def _payload() -> dict:
    settings = ts.get_profile("smoke") | {"dims": [2, 4], "charts": [1, 2]}
    settings["compression"] = {"configs": [[2, 2]]}
    r1 = {"baseline-d2": 0.5, "manifold-k1-d2": 0.6, "manifold-k2-d2": 0.7,
          "baseline-d4": 0.8, "manifold-k1-d4": 0.7, "manifold-k2-d4": 0.9}  # fmt: skip
    grid = {
        key: {"charts": k, "dim": d, **_metrics(r1[key])} for key, k, d in ts.grid_keys(settings)
    }
    wide = {"normalised": _metrics(0.8), "unnormalised": _metrics(0.6), "mmd": _metrics(0.7)}
    rows = [
        {"charts": 2, "dim": 2, "method": "float32 (exact)", "settings": "D=8",
         "bytes_per_vector": 32, "recall_at_10": 1.0, "seconds_per_query": 1e-6},
        {"charts": 2, "dim": 2, "method": "atlas (chart + 8-bit coords)", "settings": "",
         "bytes_per_vector": 3, "recall_at_10": 0.5, "seconds_per_query": 1e-5},
        {"charts": 2, "dim": 2, "method": "PCA + 8-bit", "settings": "m=3",
         "bytes_per_vector": 3, "recall_at_10": 0.4, "seconds_per_query": 1e-6},
        {"charts": 2, "dim": 2, "method": "PQ", "settings": "M=2",
         "bytes_per_vector": 2, "recall_at_10": 0.6, "seconds_per_query": 1e-6},
    ]  # fmt: skip
    entry = {"grid": grid, "wide": wide, "compression": {"rows": rows}}
    return {"settings": settings, "datasets": {"mnist": entry}}


def test_grid_keys() -> None:
    keys = ts.grid_keys(ts.get_profile("full"))
    assert len(keys) == 3 * 5 and ("baseline-d8", 0, 8) in keys and ("manifold-k8-d2", 8, 2) in keys


def test_findings_answer_each_claim_from_the_numbers() -> None:
    lines = ts.findings(_payload())
    assert "d = 2: " in lines[0] and "**yes** for every k" in lines[0]
    assert "d = 4: " in lines[1] and "**no** for every k, **yes** for the best k (k = 2" in lines[1]
    assert "normalised baseline in R@1: **no** (70.00 vs 80.00 %)" in lines[2]
    assert "unnormalised model: **yes** (60.00 %)" in lines[2]
    assert (
        "beats faiss at equal memory in recall@10: **no** (50.0 vs PCA + 8-bit 40.0, PQ 60.0"
        in lines[3]
    )
    tables = ts.markdown_tables(_payload())
    assert tables["compression"].count("float32") == 1
    assert "| mnist | 4 | manifold, k = 2 | 90.00 |" in tables["recall"]


def test_training_time_counts_the_grid_and_the_wide_models() -> None:
    assert ts.training_time(_payload()) == (6 + 3, (6 + 3) * 3 * 2.5)


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the arguments were checked")


_SMOKE = ts.get_profile("smoke")

# (function, args, kwargs, exception, the argument the message starts with)
BAD_ARGUMENTS = [
    (ts.get_profile, ("nope",), {}, ValueError, "profile"),
    (ts.get_profile, (["smoke"],), {}, TypeError, "profile"),
    (ts.work_dir, ("tiny",), {}, ValueError, "profile"),
    (ts.work_dir, ("smoke", b"results"), {}, TypeError, "results_root"),
    (ts.grid_keys, ([],), {}, TypeError, "settings"),
    (ts.grid_keys, ({"dims": [2]},), {}, ValueError, "settings"),
    (ts.grid_keys, (_SMOKE | {"dims": []},), {}, ValueError, "settings['dims']"),
    (ts.grid_keys, (_SMOKE | {"charts": "2"},), {}, TypeError, "settings['charts']"),
    (ts.grid_keys, (_SMOKE | {"charts": [2, 0]},), {}, ValueError, "settings['charts'][1]"),
    (ts.grid_keys, (_SMOKE | {"dims": [math.nan]},), {}, TypeError, "settings['dims'][0]"),
    (ts.run, ("nope",), {}, ValueError, "profile"),
    (ts.run, ("smoke",), {"seed": -1}, ValueError, "seed"),
    (ts.run, ("smoke",), {"seed": True}, TypeError, "seed"),
    (ts.run, ("smoke",), {"results_root": 1}, TypeError, "results_root"),
    (ts.run, ("smoke",), {"progress": 1}, TypeError, "progress"),
    (ts.run, ("smoke",), {"log": "log"}, TypeError, "log"),
    (ts.plot_recall, (None,), {}, TypeError, "payload"),
    (ts.plot_wide_curves, ({"datasets": {}},), {}, ValueError, "payload"),
    (ts.plot_compression, ({},), {}, ValueError, "payload"),
    (ts.plot_all, ([],), {}, TypeError, "payload"),
    (ts.markdown_tables, ({"settings": {}},), {}, ValueError, "payload"),
    (ts.training_time, (1,), {}, TypeError, "payload"),
    (ts.findings, ({},), {}, ValueError, "payload"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "error", "name"),
    BAD_ARGUMENTS,
    ids=[f"{case[0].__name__}-{case[4]}-{i}" for i, case in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_refused_naming_them(monkeypatch, function, args, kwargs, error, name):
    monkeypatch.setattr(ts, "work_dir", _no_work)  # run() creates its folder first
    monkeypatch.setattr(toposhape.data, "load_images", _no_work)
    with pytest.raises(error, match=rf"^{re.escape(name)}(?!\w)"):
        function(*args, **kwargs)
