"""Results files: provenance, atomic writes, and the chapter registry."""

import errno
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toposhape import chapters
from toposhape.results import (
    atomic_write_bytes,
    json_ready,
    load_record,
    load_results,
    records_dir,
    repo_root,
    results_json,
    save_record,
    save_results,
    writable_folder,
)


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


# --- JSON values --------------------------------------------------------------------------

_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


def _numpy_twin(value, draw_kind: int):
    """``value`` with its numbers as numpy scalars, 0-d arrays, and lists as tuples / arrays."""
    if isinstance(value, bool):
        return np.bool_(value) if draw_kind % 2 else value
    if isinstance(value, int):
        return np.int64(value) if draw_kind % 3 else np.array(value)
    if isinstance(value, float):
        return np.float64(value) if draw_kind % 3 else np.array(value)
    if isinstance(value, list):
        twins = [_numpy_twin(v, draw_kind + i) for i, v in enumerate(value)]
        return tuple(twins) if draw_kind % 2 else twins
    if isinstance(value, dict):
        return {k: _numpy_twin(v, draw_kind + 1) for k, v in value.items()}
    return value


@settings(max_examples=60, deadline=None)
@given(value=_plain, kind=st.integers(0, 5))
def test_json_ready_turns_numpy_values_into_the_plain_ones(value, kind) -> None:
    ready = json_ready(_numpy_twin(value, kind))
    assert ready == value
    assert json.loads(results_json(ready)) == value  # and writes them as strict JSON


def test_json_ready_converts_numpy_arrays_and_float32() -> None:
    out = json_ready({"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.float32(0.1)})
    assert out == {"a": [[0, 1, 2], [3, 4, 5]], "b": float(np.float32(0.1))}
    assert type(out["a"][0][0]) is int and type(out["b"]) is float


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"auroc": [0.5, float("nan")]}, 'results["auroc"][1]'),
        ({"a": {"b c": np.float32("nan")}}, 'results["a"]["b c"]'),
        ({"x": np.array([[1.0], [np.nan]])}, 'results["x"][1][0]'),
    ],
)
def test_nan_is_refused_with_its_key_path_and_nothing_is_written(tmp_path, payload, path) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{path} is NaN")) as info:
        save_results("demo", "smoke", payload, seed=0, started=0.0, root=tmp_path)
    assert "demo/smoke not saved" in str(info.value)
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        ({"t": torch.zeros(2)}, TypeError, r'results\["t"\] is a torch\.Tensor'),
        ({"s": {1, 2}}, TypeError, r'results\["s"\] is a builtins\.set'),
        ({(1, 2): 3}, TypeError, r"results has the key \(1, 2\)"),
        ({1: "a", "1": "b"}, ValueError, r"results has two keys written as '1'"),
        ({"v": {"$float": "Infinity"}}, ValueError, r'results\["v"\] is a mapping .*reserved'),
    ],
)
def test_what_json_cannot_hold_is_refused_naming_it(tmp_path, payload, error, match) -> None:
    with pytest.raises(error, match=match):
        save_results("demo", "smoke", payload, seed=0, started=0.0, root=tmp_path)
    assert not (tmp_path / "demo").exists()


def test_infinities_round_trip_through_strict_json(tmp_path) -> None:
    payload = {"dim": math.inf, "low": [-math.inf, 1.5], "n": np.int64(3), "ok": np.bool_(True)}
    path = save_results("demo", "smoke", payload, seed=0, started=0.0, root=tmp_path)

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    strict = json.loads(path.read_text(), parse_constant=refuse)
    assert strict["results"]["dim"] == {"$float": "Infinity"}
    loaded = load_results("demo", "smoke", root=tmp_path)["results"]
    assert loaded == {"dim": math.inf, "low": [-math.inf, 1.5], "n": 3, "ok": True}
    assert '  "low": [{"$float":"-Infinity"},1.5],\n' in path.read_text()  # on one line


def test_files_with_the_old_infinity_token_still_load(tmp_path) -> None:
    path = _saved(tmp_path)
    path.write_text(path.read_text().replace('"auroc": 0.5', '"auroc": [0.5, Infinity]'))
    assert load_results("demo", "smoke", root=tmp_path)["results"] == {"auroc": [0.5, math.inf]}


# --- loading ------------------------------------------------------------------------------


def _saved(tmp_path: Path) -> Path:
    return save_results("demo", "smoke", {"auroc": 0.5}, seed=0, started=0.0, root=tmp_path)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda text: text[: len(text) // 2], r"is not valid JSON \(line \d+ col \d+\)"),
        (lambda text: "", r"is not valid JSON \(line 1 col 1\): Expecting value"),
        (lambda text: "[1, 2]", "is not a results record"),
        (lambda text: '{"results": {}}', "is not a results record"),
    ],
    ids=["truncated", "empty", "a list", "no provenance"],
)
def test_corrupt_results_file_names_it_and_says_what_to_do(tmp_path, damage, match) -> None:
    path = _saved(tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(ValueError, match=match) as info:
        load_results("demo", "smoke", root=tmp_path)
    message = str(info.value)
    assert message.startswith(f"results file {path} ")
    assert message.endswith("rerun `make reproduce CHAPTER=demo PROFILE=smoke` or delete it")


def test_results_file_that_is_not_utf8(tmp_path) -> None:
    path = _saved(tmp_path)
    path.write_bytes(b'{"a": "\xff\xfe"}')
    with pytest.raises(ValueError, match=re.escape(f"results file {path} is not valid JSON")):
        load_results("demo", "smoke", root=tmp_path)


def test_unreadable_results_file_names_it(tmp_path, monkeypatch) -> None:
    path = _saved(tmp_path)
    reading = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        if self == path:  # what chmod 000 does, also where the tests run as root
            raise PermissionError(13, "Permission denied", str(self))
        return reading(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(PermissionError, match=re.escape(f"results file {path} cannot be read")):
        load_results("demo", "smoke", root=tmp_path)
    monkeypatch.undo()
    path.unlink()
    path.mkdir()  # a folder where the file should be
    with pytest.raises(IsADirectoryError, match=re.escape(f"results file {path} cannot be read")):
        load_results("demo", "smoke", root=tmp_path)


# --- all-or-nothing writes ----------------------------------------------------------------


def _figure(value: float):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [value, 0])
    return fig


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("failing_call", [1, 2, 3])
def test_a_failed_save_leaves_the_previous_results_intact(
    tmp_path, monkeypatch, failing_call
) -> None:
    figures = {"a": _figure(1.0), "b": _figure(2.0)}
    save_results("demo", "smoke", {"v": 1}, seed=0, started=0.0, figures=figures, root=tmp_path)
    before = _snapshot(tmp_path)
    calls, fsync = 0, os.fsync

    def disk_full(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == failing_call:  # figure a, figure b, then the JSON
            raise OSError(errno.ENOSPC, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full)
    new = {"a": _figure(5.0), "b": _figure(6.0)}
    with pytest.raises(OSError, match=r"cannot write .*: No space left on device"):
        save_results("demo", "smoke", {"v": 2}, seed=0, started=0.0, figures=new, root=tmp_path)
    plt.close("all")
    assert _snapshot(tmp_path) == before  # same files, same bytes, no temporary file left


def test_an_interrupted_save_leaves_the_previous_results_intact(tmp_path, monkeypatch) -> None:
    _saved(tmp_path)
    before = _snapshot(tmp_path)
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        save_results("demo", "smoke", {"v": 2}, seed=0, started=0.0, root=tmp_path)
    assert _snapshot(tmp_path) == before


def test_read_only_results_folder_is_named(tmp_path, monkeypatch) -> None:
    """Simulated (chmod does not stop root, whom the tests may run as)."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    folder = tmp_path / "demo"
    message = f"cannot write {folder / 'smoke.json'}: folder {folder} is not writable: Permission"
    with pytest.raises(PermissionError, match=re.escape(message)):
        _saved(tmp_path)
    message = f"results folder {tmp_path} is not writable: Permission denied"
    with pytest.raises(PermissionError, match=re.escape(message)):
        writable_folder(tmp_path, "results folder")


def test_read_only_results_folder_for_real(tmp_path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("chmod does not stop this user (root) from writing")
        with pytest.raises(PermissionError, match=re.escape(f"folder {folder} is not writable")):
            _saved(tmp_path)
        with pytest.raises(PermissionError, match=re.escape(f"x {folder} is not writable")):
            writable_folder(folder, "x")
    finally:
        folder.chmod(0o755)


def test_writable_folder_creates_it_and_leaves_nothing(tmp_path) -> None:
    folder = tmp_path / "a" / "b"
    assert writable_folder(folder, "results folder") == folder
    assert folder.is_dir() and list(folder.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=re.escape(f"results folder {tmp_path / 'file' / 'c'}")):
        writable_folder(tmp_path / "file" / "c", "results folder")


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path) -> None:
    target = tmp_path / "smoke.json"
    stale = tmp_path / f".smoke.json.{_dead_pid()}.k3x_9q.tmp"
    alive = tmp_path / f".smoke.json.{os.getppid()}.k3x_9q.tmp"  # a writer that still runs
    other = tmp_path / f".other.json.{_dead_pid()}.k3x_9q.tmp"  # another file's
    for path in (stale, alive, other):
        path.write_bytes(b"partial")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert not stale.exists() and alive.exists() and other.exists()


def test_temporary_files_are_named_as_gitignore_expects(monkeypatch) -> None:
    root = repo_root()
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    names = []

    def record(src, dst) -> None:
        names.append(Path(src).name)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", record)
    target = root / "results" / "demo-gitignore-check" / "smoke.json"
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"{}")
    target.parent.rmdir()  # nothing left behind
    (name,) = names
    assert re.fullmatch(rf"\.smoke\.json\.{os.getpid()}\.[a-z0-9_]+\.tmp", name)
    paths = [f"results/demo/{name}", f"results/demo/full/{name}", "results/demo/x.failed.ipynb"]
    check = subprocess.run(
        ["git", "check-ignore", *paths], cwd=root, capture_output=True, text=True
    )
    assert check.stdout.split() == paths


# --- chapters.reproduce -------------------------------------------------------------------


@pytest.fixture
def chapter_run(tmp_path, monkeypatch):
    """``reproduce`` writing into ``tmp_path``, with papermill replaced by ``run.behave``.

    The fake papermill writes the executed notebook (naming the repository's absolute path)
    and the chapter's JSON, then does what ``run.behave(output)`` does (raise, or nothing).
    """
    import papermill

    class Run:
        behave = staticmethod(lambda output: None)
        calls = 0
        saves = True

    def execute_notebook(source, output, parameters, **kwargs):
        Run.calls += 1
        Path(output).write_text(f'{{"cwd": "{repo_root()}/book", "new": true}}')
        Run.behave(output)
        if Run.saves:
            save_results("connectivity", "smoke", {"v": 2}, seed=0, started=0.0, root=tmp_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(chapters, "results_dir", lambda: tmp_path)
    folder = tmp_path / "connectivity"
    folder.mkdir()
    (folder / "smoke.ipynb").write_text("previous notebook")
    save_results("connectivity", "smoke", {"v": 1}, seed=0, started=0.0, root=tmp_path)
    return Run, folder


def _cell_error(ename: str, evalue: str):
    from papermill.exceptions import PapermillExecutionError

    def raise_it(output) -> None:
        raise PapermillExecutionError(3, 7, "load()", ename, evalue, ["Traceback ..."])

    return raise_it


@pytest.mark.parametrize(
    ("ename", "raised"),
    [
        ("FileNotFoundError", FileNotFoundError),
        ("PermissionError", PermissionError),
        ("ValueError", ValueError),
        ("UnicodeDecodeError", ValueError),  # its constructor takes 5 arguments
        ("ZeroDivisionError", RuntimeError),
        ("JSONDecodeError", RuntimeError),  # not a built-in name: a bug, not a user error
    ],
)
def test_a_failing_cell_leaves_the_previous_results_and_keeps_the_failed_notebook(
    chapter_run, ename, raised
) -> None:
    run, folder = chapter_run
    before = _snapshot(folder)
    run.behave = _cell_error(ename, "yaleb not found in /data")
    with pytest.raises(raised) as info:
        chapters.reproduce("connectivity", "smoke")
    assert type(info.value) is raised
    failed = folder / "smoke.failed.ipynb"
    assert str(info.value) == (
        f"chapter 'connectivity' at profile 'smoke' failed in cell [7]: {ename}: yaleb not "
        f"found in /data (executed notebook: {failed})"
    )
    assert json.loads(failed.read_text())["new"] is True
    failed.unlink()
    assert _snapshot(folder) == before  # results, figures and executed notebook as they were


def test_a_cell_interrupted_by_ctrl_c_is_an_interrupt(chapter_run) -> None:
    run, folder = chapter_run
    run.behave = _cell_error("KeyboardInterrupt", "")
    with pytest.raises(KeyboardInterrupt):
        chapters.reproduce("connectivity", "smoke")
    assert (folder / "smoke.ipynb").read_text() == "previous notebook"


def test_a_run_that_saves_no_results_keeps_the_previous_notebook(chapter_run) -> None:
    run, folder = chapter_run
    run.saves = False
    with pytest.raises(RuntimeError, match=r"ran but did not write .*smoke\.failed\.ipynb"):
        chapters.reproduce("connectivity", "smoke")
    assert (folder / "smoke.ipynb").read_text() == "previous notebook"
    assert json.loads((folder / "smoke.failed.ipynb").read_text())["new"] is True


def test_a_successful_run_replaces_the_notebook_and_drops_the_failed_one(chapter_run) -> None:
    _, folder = chapter_run
    (folder / "smoke.failed.ipynb").write_text("from an earlier failure")
    assert chapters.reproduce("connectivity", "smoke") == folder / "smoke.json"
    assert json.loads((folder / "smoke.ipynb").read_text()) == {"cwd": "book", "new": True}
    assert load_results("connectivity", "smoke", root=folder.parent)["results"] == {"v": 2}
    assert sorted(p.name for p in folder.iterdir()) == ["smoke.ipynb", "smoke.json"]


def test_reproduce_checks_the_results_folder_before_running(chapter_run, monkeypatch) -> None:
    run, folder = chapter_run

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(PermissionError, match=re.escape(f"results folder {folder} is not")):
        chapters.reproduce("connectivity", "smoke")
    assert run.calls == 0


@pytest.mark.parametrize(
    ("chapter", "parameters", "match"),
    [
        ("connectivity", {"epochs": 3}, "--set epochs: not a parameter chapter 'connectivity'"),
        ("connectivity", {"profile": "full"}, "--set profile: not a parameter"),
        ("connectivity", {"results_root": "/x"}, "--set results_root: not a parameter"),
        ("connectivity", {"seed": "one"}, 'seed="one": expected int like the default 0'),
        ("connectivity", {"seed": True}, "seed=true: expected int"),
        ("oneclass", {"train_missing": 0}, "train_missing=0: expected bool like the default"),
    ],
)
def test_bad_set_values_are_refused_before_running(chapter_run, chapter, parameters, match):
    run, _ = chapter_run
    with pytest.raises(ValueError, match=re.escape(match)):
        chapters.reproduce(chapter, "smoke", parameters)
    assert run.calls == 0


def test_good_set_values_are_accepted() -> None:
    chapters.check_parameters("oneclass", {"train_missing": False, "seed": 3})


def test_records_round_trip_and_key_mismatch(tmp_path) -> None:
    folder = records_dir("demo", "full", results_root=tmp_path)
    assert folder == tmp_path / "demo" / "full" / "records"
    key = {"epochs": 100, "lr": 1e-3, "dims": (2, 8)}
    assert load_record(folder, "torus-k9-s0", key) is None
    path = save_record(folder, "torus-k9-s0", key, {"betti": [1, 2, 1], "loss": np.float32(0.5)})
    saved = json.loads(path.read_text())
    assert saved["made"]["finished_utc"] and "cpu" in saved["made"]["device"]
    assert load_record(folder, "torus-k9-s0", key) == {"betti": [1, 2, 1], "loss": 0.5}
    # another key (changed settings) reads as missing, so the model is trained again
    assert load_record(folder, "torus-k9-s0", {**key, "epochs": 200}) is None
    assert list(folder.iterdir()) == [path]  # written atomically: no temporary left


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", 3])
def test_record_names_are_file_stems(tmp_path, name) -> None:
    with pytest.raises(ValueError, match="name must be"):
        save_record(tmp_path, name, {}, {})


def test_damaged_record_names_the_fix(tmp_path) -> None:
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete it"):
        load_record(tmp_path, "m", {})
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a model record"):
        load_record(tmp_path, "m", {})
