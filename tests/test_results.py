"""Results files: provenance, atomic writes, and the chapter registry."""

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from toposhape import chapters
from toposhape.results import atomic_write_bytes, load_results, save_results


def test_save_and_load_with_provenance(tmp_path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    started = time.time()
    path = save_results(
        "demo",
        "smoke",
        {"auroc": 0.5},
        seed=7,
        started=started,
        params={"n": 3},
        figures={"curve": fig},
        root=tmp_path,
    )
    plt.close(fig)
    record = load_results("demo", "smoke", root=tmp_path)
    assert record == json.loads(path.read_text())
    assert record["results"] == {"auroc": 0.5}
    prov = record["provenance"]
    assert prov["seed"] == 7 and prov["params"] == {"n": 3}
    assert prov["wall_time_s"] >= 0
    assert prov["versions"]["torch"] and prov["versions"]["toposhape"]
    assert len(prov["git_commit"] or "0" * 40) == 40
    assert "cpu" in prov["device"]
    assert (tmp_path / "demo" / record["figures"]["curve"]).read_bytes()[:4] == b"\x89PNG"
    assert load_results("demo", "full", root=tmp_path) is None


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_unknown_chapter_or_profile_lists_valid_ones(capsys) -> None:
    valid = "valid chapters: connectivity, oneclass, atlas, nvae, msimclr, triplet"
    with pytest.raises(ValueError, match=valid):
        chapters.check("nope", "smoke")
    with pytest.raises(ValueError, match="valid profiles: smoke, full"):
        chapters.check("connectivity", "huge")
    assert chapters.main(["reproduce", "connectivity", "huge"]) == 2
    assert "valid profiles" in capsys.readouterr().err


def test_reproduce_passes_further_parameters(monkeypatch, capsys) -> None:
    seen = {}

    def fake(chapter, profile, parameters):
        seen.update(chapter=chapter, profile=profile, parameters=parameters)
        return Path("results") / chapter / f"{profile}.json"

    monkeypatch.setattr(chapters, "reproduce", fake)
    argv = ["reproduce", "oneclass", "natural", "--set", "train_missing=false", "--set", "x=ab"]
    assert chapters.main(argv) == 0
    assert seen["parameters"] == {"train_missing": False, "x": "ab"}
    assert chapters.main(["reproduce", "oneclass", "natural", "--set", "no-equals"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_provenance_keeps_the_commit_the_run_started_from(monkeypatch) -> None:
    from toposhape import results

    monkeypatch.setattr(results, "_GIT_AT_IMPORT", ("f" * 40, False))
    prov = results.provenance(0, 0.0)
    assert prov["git_commit"] == "f" * 40 and prov["git_dirty"] is False
    assert prov["git_at_save"]["commit"] != "f" * 40  # the tree moved on: both are recorded


def test_profile_settings_is_a_deep_copy_and_names_the_valid_profiles():
    from toposhape.results import profile_settings

    profiles = {"smoke": {"sizes": [1, 2], "nested": {"a": [3]}}, "full": {}}
    copy = profile_settings(profiles, "smoke")
    copy["sizes"].append(99)
    copy["nested"]["a"].append(99)
    assert profiles["smoke"] == {"sizes": [1, 2], "nested": {"a": [3]}}
    with pytest.raises(ValueError, match="expected one of \\['full', 'smoke'\\]"):
        profile_settings(profiles, "medium")


def test_work_dir_is_under_the_chapter_and_profile(tmp_path):
    from toposhape.results import work_dir

    assert work_dir("atlas", "full", tmp_path) == tmp_path / "atlas" / "full" / "_work"


def test_executed_notebooks_lose_the_local_repository_path():
    from pathlib import Path

    from toposhape.chapters import without_local_paths

    root = Path("/somewhere/clone")
    text = '"input_path": "/somewhere/clone/book/x.ipynb", "cwd": "/somewhere/clone"'
    assert without_local_paths(text, root) == '"input_path": "book/x.ipynb", "cwd": "."'


def test_results_json_round_trips_and_keeps_lists_of_numbers_on_one_line():
    import json

    from toposhape.results import results_json

    record = {
        "a": [[0.5, 1, -2e-3], [3.25, None, True]],
        "b": {"c": "text ✓", "d": [{"e": 1}, {"f": [1.0, 2.0]}], "g": {}, "h": []},
        "i": 1.2345678901234567,
    }
    text = results_json(record)
    assert json.loads(text) == record
    assert '"a": [[0.5,1,-0.002],[3.25,null,true]]' in text
    assert '    "f": [1.0,2.0]\n' in text  # one line per key, at its depth
    assert text.count("\n") == 16
