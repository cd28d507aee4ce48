"""Saving and loading chapter results with their provenance.

Every number the book shows comes from a results file written here:
``results/<chapter>/<profile>.json`` plus figures in
``results/<chapter>/<profile>/``. Files are written atomically (a temporary
file in the same folder, then ``os.replace``), so an interrupted run never
leaves a half-written result behind.
"""

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("toposhape", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib")


def repo_root() -> Path:
    """The repository root: the nearest folder above this package that holds
    ``pyproject.toml`` and the ``toposhape`` package.

    Falls back to the current directory for a non-editable install.
    """
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / "toposhape").is_dir():
            return folder
    return Path.cwd()


def results_dir(root: str | Path | None = None) -> Path:
    """Where results live: ``root`` if given, else ``<repo>/results``."""
    return Path(root) if root is not None else repo_root() / "results"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=repo_root(), check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _git_state() -> tuple[str | None, bool | None]:
    """HEAD commit and whether tracked files differ from it (None where git is unavailable)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "HEAD"), (bool(status) if status is not None else None)


#: The git state when the library was imported, i.e. of the code a run executes.
_GIT_AT_IMPORT = _git_state()


def device_description() -> dict[str, Any]:
    """The machine a run happened on: CPU, threads, and the GPU if one is used."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def provenance(seed: int | None, started: float, params: Mapping[str, Any] | None = None) -> dict:
    """Provenance of a run: git commit, package versions, device, seed, wall time.

    The commit and dirty flag are those of the tree when ``toposhape`` was imported, i.e.
    of the code the run executed; if the tree changed before saving, ``git_at_save``
    records the state at saving time as well.

    Parameters
    ----------
    seed : int or None
        The run's base seed.
    started : float
        ``time.time()`` at the start of the run.
    params : mapping, optional
        The run's parameters (e.g. the chapter's papermill parameters).
    """
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit, dirty = _git_state()
    record = {
        "git_commit": _GIT_AT_IMPORT[0],
        "git_dirty": _GIT_AT_IMPORT[1],
        "versions": versions,
        "device": device_description(),
        "seed": seed,
        "wall_time_s": round(time.time() - started, 3),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": dict(params or {}),
    }
    if commit != record["git_commit"] or dirty != record["git_dirty"]:
        # the tree changed while the run was going: say so, keep the state the code was loaded at
        record["git_at_save"] = {"commit": commit, "dirty": dirty}
    return record


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_results(
    chapter: str,
    profile: str,
    payload: Mapping[str, Any],
    *,
    seed: int | None,
    started: float,
    params: Mapping[str, Any] | None = None,
    figures: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
) -> Path:
    """Save a chapter's results and figures with provenance.

    Parameters
    ----------
    chapter, profile : str
        Identify the run; the file is ``<root>/<chapter>/<profile>.json``.
    payload : mapping
        JSON-serialisable results (numbers, lists, nested dicts).
    seed, started, params
        See :func:`provenance`.
    figures : mapping of str to matplotlib Figure, optional
        Saved as PNG next to the JSON, in ``<profile>/<name>.png``.
    root : path, optional
        Results folder (default ``<repo>/results``).

    Returns
    -------
    Path
        The JSON file written.
    """
    folder = results_dir(root) / chapter
    figure_files = {}
    for name, fig in (figures or {}).items():
        rel = f"{profile}/{name}.png"
        with tempfile.SpooledTemporaryFile() as buf:
            fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
            buf.seek(0)
            atomic_write_bytes(folder / rel, buf.read())
        figure_files[name] = rel
    record = {
        "chapter": chapter,
        "profile": profile,
        "provenance": provenance(seed, started, params),
        "figures": figure_files,
        "results": payload,
    }
    path = folder / f"{profile}.json"
    atomic_write_bytes(path, (results_json(record) + "\n").encode())
    return path


def results_json(value: Any, level: int = 0) -> str:
    """JSON text of a results record: one key per line, each list of numbers on one line.

    ``json.dumps(indent=...)`` puts every element of every list on a line of its own, which
    makes image grids and per-epoch curves tens of megabytes of whitespace; this writes the
    same data (``json.loads`` gives back an equal object) at a fraction of the size.
    """
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(value, Mapping) and value:
        items = [
            f"{inner}{json.dumps(str(k))}: {results_json(v, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        items = [f"{inner}{results_json(v, level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, separators=(",", ":"))


def load_results(chapter: str, profile: str, root: str | Path | None = None) -> dict | None:
    """The saved record of a chapter run, or ``None`` if it was never run."""
    path = results_dir(root) / chapter / f"{profile}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (how the chapters render results), one row per entry of ``rows``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def profile_settings(profiles: Mapping[str, Mapping[str, Any]], profile: str) -> dict[str, Any]:
    """One profile of a chapter's ``PROFILES``, as a deep copy (the caller may change it).

    Raises
    ------
    ValueError
        If ``profile`` is not a key of ``profiles``; the message lists the valid ones.
    """
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}: expected one of {sorted(profiles)}")
    return json.loads(json.dumps(profiles[profile]))


def work_dir(chapter: str, profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a chapter's profile, ``<results>/<chapter>/<profile>/_work``.

    Git-ignored: models and checkpoints that let an interrupted run resume.
    """
    return results_dir(results_root) / chapter / profile / "_work"
