"""Every command line reports a user error on one line of stderr, exit status 2, no traceback.

The subprocess tests run the real ``python -m ...`` entry points; the others call their
``main(argv)`` in this process, where a folder can be made read-only even for root (whom
chmod does not stop) by refusing the creation of files in it.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from toposhape import chapters, cli, data
from toposhape.studies.oneclass import run as oneclass_run

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(stderr: str, *needles: str) -> str:
    """The single line of ``stderr``, checked to be ``error: ...`` holding every needle."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """Make a folder read-only: chmod 555, and (for root) refuse new files in it."""
    denied: list[Path] = []

    def inside(folder: object) -> bool:
        path = Path(os.fsdecode(folder)).resolve() if folder is not None else None
        return path is not None and any(path == d or d in path.parents for d in denied)

    for name in ("mkstemp", "mkdtemp", "TemporaryFile"):
        real = getattr(tempfile, name)

        def refusing(*args, real=real, **kwargs):
            if inside(kwargs.get("dir")):
                raise PermissionError(13, "Permission denied", str(kwargs["dir"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, refusing)

    def deny(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
        denied.append(folder.resolve())
        return folder

    yield deny
    for folder in denied:
        folder.chmod(0o755)


# --- the real entry points ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("toposhape.chapters", "reproduce", "nope", "smoke"), ("unknown chapter 'nope'",)),
        (
            ("toposhape.studies.oneclass.run", "train", "huge"),
            ("profile must be one of", "got 'huge'"),
        ),
        (("benchmarks", "--repeats", "0"), ("--repeats must be an int >= 1, got 0",)),
        (("toposhape.book_check", "/nonexistent"), ("no built book in",)),
    ],
    ids=["chapter", "profile", "bench-option", "book-check"],
)
def test_command_line_user_error_is_one_line(args: tuple[str, ...], needles) -> None:
    done = _run(*args)
    assert done.returncode == 2
    _one_line_error(done.stderr, *needles)


def test_data_command_line_with_data_variable_naming_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "mnist.tar"
    afile.write_bytes(b"")
    done = _run("toposhape.data", "check", env={"TOPOSHAPE_DATA": str(afile)})
    assert done.returncode == 2
    _one_line_error(done.stderr, f"TOPOSHAPE_DATA={afile} is not a folder")


def test_ctrl_c_exits_130_with_one_line_and_cleans_up(tmp_path: Path) -> None:
    """SIGINT while ``fetch`` waits for a (fake, slow) npm: status 130, work folder removed."""
    bin_dir, root, started = tmp_path / "bin", tmp_path / "data", tmp_path / "npm-started"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\ntouch "{started}"\nsleep 60\n')
    npm.chmod(0o755)
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "toposhape.data", "fetch", "--root", str(root)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell's background job (CI, nohup ... &) would otherwise pass
        # SIGINT on as ignored, and Python then installs no KeyboardInterrupt handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the fake npm never started"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "interrupted"
    assert list(root.glob(".fetch-*")) == []


# --- main(argv) in this process -----------------------------------------------------------


def test_run_command_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    def raising(error: BaseException) -> Callable[[object], None]:
        def command(argv: object) -> None:
            raise error

        return command

    assert cli.run_command(lambda argv: None, []) == 0
    assert cli.run_command(lambda argv: 1, []) == 1
    assert cli.run_command(raising(KeyboardInterrupt()), []) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert cli.run_command(raising(FileNotFoundError("no\n  such file")), []) == 2
    assert capsys.readouterr().err == "error: no such file\n"
    assert cli.run_command(raising(PermissionError()), []) == 2
    assert capsys.readouterr().err == "error: PermissionError\n"
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.run_command(raising(ZeroDivisionError()), [])


def test_chapters_unwritable_results_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_only: Callable[[Path], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = read_only(tmp_path / "results")
    monkeypatch.setattr(chapters, "results_dir", lambda: results)
    assert chapters.main(["reproduce", "connectivity", "smoke"]) == 2
    _one_line_error(capsys.readouterr().err, f"results folder {results / 'connectivity'}")


def test_chapters_without_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert chapters.main([]) == 2
    _one_line_error(capsys.readouterr().err, "required: command", "chapters --help")
    assert chapters.main(["reproduce", "atlas"]) == 2
    _one_line_error(capsys.readouterr().err, "required: profile", "reproduce --help")


def test_chapters_bad_set_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert chapters.main(["reproduce", "oneclass", "smoke", "--set", "train_missing=2"]) == 2
    _one_line_error(capsys.readouterr().err, "train_missing=2: expected bool")


def test_chapters_failing_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    def execute_notebook(source, output, **kwargs):
        raise PapermillExecutionError(
            1, 4, "...", "ValueError", f"results file {tmp_path}/x.json is not\nvalid JSON", []
        )

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(chapters, "results_dir", lambda: tmp_path)
    assert chapters.main(["reproduce", "connectivity", "smoke"]) == 2
    _one_line_error(capsys.readouterr().err, "failed in cell [4]: ValueError: results file")


def test_chapters_interrupt_and_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(chapters, "test_smoke", interrupted)
    assert chapters.main(["test-smoke"]) == 130
    assert capsys.readouterr().err == "interrupted\n"

    def bug() -> int:
        raise IndexError("a bug")

    monkeypatch.setattr(chapters, "test_smoke", bug)
    with pytest.raises(IndexError):
        chapters.main(["test-smoke"])


def test_data_fetch_into_read_only_folder(
    tmp_path: Path, read_only: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = read_only(tmp_path / "data")
    assert data.main(["fetch", "--root", str(root)]) == 2
    _one_line_error(capsys.readouterr().err, f"data folder {root} is not writable")


def test_data_bad_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert data.main(["fetchh"]) == 2
    _one_line_error(capsys.readouterr().err, "invalid choice: 'fetchh'")


def test_oneclass_train_into_read_only_checkpoint_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_only: Callable[[Path], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = read_only(tmp_path / "_work")

    def must_not_train(*args, **kwargs) -> None:
        raise AssertionError("the folder is checked before training")

    monkeypatch.setattr(oneclass_run, "work_dir", lambda profile: folder)
    monkeypatch.setattr(oneclass_run, "train_backbones", must_not_train)
    assert oneclass_run.main(["train", "smoke"]) == 2
    _one_line_error(capsys.readouterr().err, f"checkpoint folder {folder} is not writable")
    assert oneclass_run.main(["train", "smoke", "--dataset", "cifar100"]) == 2
    _one_line_error(capsys.readouterr().err, "--dataset 'cifar100' trains no backbone")
    assert oneclass_run.main(["train", "smoke", "--seed", "x"]) == 2
    _one_line_error(capsys.readouterr().err, "argument --seed: invalid int value: 'x'")


@pytest.fixture
def bench_main():
    from benchmarks.__main__ import main

    return main


def test_benchmarks_output_folder_checked_before_measuring(
    tmp_path: Path,
    bench_main,
    read_only: Callable[[Path], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import bench_pershom

    folder = read_only(tmp_path / "bench")
    with pytest.raises(SystemExit) as info:
        bench_pershom.BENCHMARK.main(["--device", "cpu", "--out", f"{folder}/p_{{device}}.json"])
    assert info.value.code == 2
    _one_line_error(capsys.readouterr().err, f"output folder {folder} is not writable")
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    with pytest.raises(SystemExit):
        bench_pershom.BENCHMARK.main(["--device", "cpu", "--out", f"{afile}/p.json"])
    _one_line_error(capsys.readouterr().err, f"output folder {afile}")
    with pytest.raises(SystemExit):
        bench_pershom.BENCHMARK.main(["--device", "cpu", "--out", f"{tmp_path}/{{dev}}.json"])
    _one_line_error(capsys.readouterr().err, "the only placeholder allowed is {device}")
    assert bench_main(["--budget-s", "nan"]) == 2
    _one_line_error(capsys.readouterr().err, "--budget-s must be finite")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_benchmarks_cuda_without_cuda(bench_main, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["--device", "cuda"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert re.search(r"--device cuda .*is False", line)
