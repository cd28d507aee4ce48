"""Saving and loading chapter results with their provenance.

Every number the book shows comes from a results file written here:
``results/<chapter>/<profile>.json`` plus figures in ``results/<chapter>/<profile>/``.

Writing is all-or-nothing. The payload is checked first (:func:`json_ready`) and the
figures are rendered in memory; only then is any file written, each to a temporary file in
its target's folder (``.<name>.<pid>.<random>.tmp``, flushed to disk), and only once all of
them are written are they moved over their targets with ``os.replace``, the JSON last. A
run that fails or is interrupted before that leaves the previous results as they were; the
temporary files of a writer that was killed are removed by the next write of the same file.

What a results file holds is strict JSON (RFC 8259): dicts with string keys, lists,
strings, numbers, booleans and null. numpy scalars and arrays are converted; a NaN is
refused (it marks a failed computation), naming its key path; ±inf, a result some
measures do have (an infinite effective dimension), is written as ``{"$float":
"Infinity"}`` resp. ``{"$float": "-Infinity"}`` and read back as a float by
:func:`load_results`.
"""

import errno
import hashlib
import json
import math
import numbers
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

PACKAGES = ("toposhape", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib")

#: The key of the one-key object that stands for an infinite float in a results file.
FLOAT_TAG = "$float"
_INFINITIES = {"Infinity": math.inf, "-Infinity": -math.inf}


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


# ---------------------------------------------------------------------------
# JSON values
# ---------------------------------------------------------------------------


def json_ready(value: Any, path: str = "") -> Any:
    """A copy of ``value`` made of JSON values only, as a results file holds them.

    Mappings become dicts (keys: strings, or numbers written as strings), tuples and
    numpy arrays lists, numpy scalars (0-d arrays too) Python ones; ±inf becomes
    ``{"$float": "Infinity"}`` resp. ``{"$float": "-Infinity"}`` (see the module docstring).

    Parameters
    ----------
    value : object
        The value to convert, e.g. a chapter's payload.
    path : str, optional
        The key path of ``value``, prefixed to the paths in error messages.

    Returns
    -------
    object
        The converted copy: what ``json.loads`` of its ``json.dumps`` gives back.

    Raises
    ------
    TypeError
        If an entry (or a key) has a type JSON cannot hold, e.g. a tensor; the message gives
        its key path such as ``results["auroc"][3]``.
    ValueError
        If a float is NaN, if two keys of a mapping become the same string, or if a mapping
        is ``{"$float": ...}`` itself; the message gives the key path.
    """
    where = path or "the value"
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            raise ValueError(f"{where} is NaN: a result must be a number (NaN marks a failure)")
        if math.isinf(number):
            return {FLOAT_TAG: "Infinity" if number > 0 else "-Infinity"}
        return number
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist(), path)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _json_key(key, where)
            if name in out:
                raise ValueError(f"{where} has two keys written as {name!r}")
            out[name] = json_ready(item, f"{path}[{json.dumps(name)}]" if path else name)
        if list(out) == [FLOAT_TAG]:
            raise ValueError(f"{where} is a mapping with the one key {FLOAT_TAG!r}, reserved")
        return out
    if isinstance(value, list | tuple):
        return [json_ready(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise TypeError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which a results "
        "file cannot hold: convert it to numbers, strings, lists or dicts (e.g. .tolist())"
    )


def _json_key(key: object, where: str) -> str:
    """A mapping key as JSON writes it: strings as they are, finite numbers as text."""
    if isinstance(key, str):
        return key
    if isinstance(key, numbers.Integral) and not isinstance(key, bool | np.bool_):
        return str(int(key))
    if isinstance(key, numbers.Real) and not isinstance(key, bool | np.bool_):
        if math.isfinite(float(key)):
            return repr(float(key))
    raise TypeError(f"{where} has the key {key!r}: keys must be strings or finite numbers")


def _json_object(pairs: list[tuple[str, Any]]) -> Any:
    """``object_pairs_hook`` of :func:`read_json`: ``{"$float": "Infinity"}`` back to a float."""
    if len(pairs) == 1 and pairs[0][0] == FLOAT_TAG and pairs[0][1] in _INFINITIES:
        return _INFINITIES[pairs[0][1]]
    return dict(pairs)


def _is_record(value: Any) -> bool:
    """A mapping laid out one key per line: any but an encoded infinity, written like a number."""
    return isinstance(value, Mapping) and list(value) != [FLOAT_TAG]


def results_json(value: Any, level: int = 0) -> str:
    """JSON text of a results record: one key per line, each list of numbers on one line.

    ``value`` must be JSON-ready (see :func:`json_ready`). ``json.dumps(indent=...)`` puts
    every element of every list on a line of its own, which makes image grids and per-epoch
    curves tens of megabytes of whitespace; this writes the same data (``json.loads`` gives
    back an equal object) at a fraction of the size.

    Raises
    ------
    ValueError
        If ``value`` holds a NaN or an infinity (convert it with :func:`json_ready` first).
    """
    pad, inner = " " * level, " " * (level + 1)
    if _is_record(value) and value:
        items = [
            f"{inner}{json.dumps(str(k))}: {results_json(v, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and any(_is_record(v) for v in value):
        items = [f"{inner}{results_json(v, level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def read_json(path: Path, what: str, hint: str) -> Any:
    """The JSON value in ``path``, with errors that name the file.

    Parameters
    ----------
    path : Path
        An existing file.
    what : str
        What the file is, for messages (e.g. ``"results file"``).
    hint : str
        What to do about a corrupt file, appended to the message.

    Raises
    ------
    OSError
        If the file cannot be read (same class as the underlying error, e.g.
        ``PermissionError``), naming the file.
    ValueError
        If the file is not UTF-8 JSON; the message names the file, the line and column, and
        ends with ``hint``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what} {path} is not valid JSON (not UTF-8 text at byte {exc.start}); {hint}"
        ) from exc
    except OSError as exc:
        raise io_error(exc, f"{what} {path} cannot be read") from exc
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} {path} is not valid JSON (line {exc.lineno} col {exc.colno}): {exc.msg}; "
            f"{hint}"
        ) from exc


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


def io_error(exc: OSError, message: str) -> OSError:
    """An error of the class of ``exc`` (e.g. ``PermissionError``) saying ``message: reason``.

    For re-raising file-system errors with a message that names the file or folder and what
    was being done (``raise io_error(exc, "cannot write x") from exc``).
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    text = f"{message}: {reason}"
    return type(exc)(text) if type(exc).__module__ == "builtins" else OSError(text)


def _unusable(exc: OSError) -> str:
    """Why a folder could not be written to, in words, from the error raised."""
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return "is not writable"
    if isinstance(exc, FileExistsError):
        return "is a file, not a folder"
    if isinstance(exc, NotADirectoryError):
        return "cannot be created: a folder on its path is a file"
    return "cannot be created or written to"


def _temp_pattern(path: Path) -> re.Pattern[str]:
    """Names of the temporary files of ``path``: ``.<name>.<pid>.<random>.tmp``."""
    return re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp")


def process_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` whose writer no longer runs.

    A writer killed between creating its temporary file and moving it into place (power
    loss, ``SIGKILL``) leaves ``.<name>.<pid>.<random>.tmp`` behind; files of writers that
    still run are kept.
    """
    pattern = _temp_pattern(path)
    for entry in path.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not process_running(int(match.group(1))):
            entry.unlink(missing_ok=True)


def _new_temporary(path: Path) -> Path:
    """Create the folder of ``path`` and a new empty temporary file of it there (mode 0644)."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, name = tempfile.mkstemp(
            dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as exc:
        raise io_error(exc, f"cannot write {path}: folder {folder} {_unusable(exc)}") from exc
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
    return tmp


@contextmanager
def temporary_file(path: Path) -> Iterator[Path]:
    """A new empty temporary file next to ``path``, named as this module names them.

    For writers that need a file name (e.g. papermill's output): write it, then move it
    into place (``os.replace``) or read it; it is removed on leaving the block in any case.

    Raises
    ------
    OSError
        If the folder cannot be created or written to, naming it.
    """
    tmp = _new_temporary(path)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def writable_folder(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and check that files can be created in it.

    Called before long work whose output goes there, so that an unwritable folder is
    reported at once rather than when the work is done.

    Parameters
    ----------
    folder : str or Path
    what : str
        What the folder is, for the message (e.g. ``"results folder"``).

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    OSError
        If it cannot be created or written to, e.g. ``PermissionError("results folder x is
        not writable: Permission denied")``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise io_error(exc, f"{what} {folder} {_unusable(exc)}") from exc
    return folder


def _write_temporary(path: Path, data: bytes) -> Path:
    """A temporary file of ``path`` holding ``data``, flushed to disk."""
    tmp = _new_temporary(path)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise io_error(exc, f"cannot write {path}") from exc
        raise
    return tmp


def atomic_write_files(files: Mapping[Path, bytes]) -> None:
    """Write several files, all of them or none.

    Each file is first written to a temporary file in its target's folder and flushed to
    disk; only when all are written are they moved over their targets (``os.replace``, in
    the order of ``files``; each move is atomic). A failure or an interrupt before then
    removes the temporary files and changes no target.

    Raises
    ------
    OSError
        If a folder cannot be created or written to, or the disk is full; the message names
        the file.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_write_temporary(Path(path), data), Path(path)))
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise io_error(exc, f"cannot replace {path}") from exc
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    for folder in {path.parent for _, path in staged}:
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the renames) to disk, where the file system allows it."""
    with suppress(OSError):  # not every file system can open or fsync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_files`)."""
    atomic_write_files({Path(path): data})


# ---------------------------------------------------------------------------
# Results files
# ---------------------------------------------------------------------------


def _rerun_hint(chapter: str, profile: str) -> str:
    return f"rerun `make reproduce CHAPTER={chapter} PROFILE={profile}` or delete it"


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
    """Save a chapter's results and figures with provenance, all of them or none.

    Parameters
    ----------
    chapter, profile : str
        Identify the run; the file is ``<root>/<chapter>/<profile>.json``.
    payload : mapping
        The results: numbers, strings, lists, nested dicts; numpy scalars and arrays are
        converted, ±inf encoded (see the module docstring).
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

    Raises
    ------
    TypeError, ValueError
        If the payload (or ``params``) holds something a results file cannot hold, e.g. a
        NaN; the message gives its key path. Nothing is written.
    OSError
        If a file cannot be written, naming it. Nothing is replaced.
    """
    folder = results_dir(root) / chapter
    record = {
        "chapter": chapter,
        "profile": profile,
        "provenance": provenance(seed, started, params),
        "figures": {name: f"{profile}/{name}.png" for name in figures or {}},
        "results": payload,
    }
    try:
        text = results_json(json_ready(record)) + "\n"
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"results of {chapter}/{profile} not saved: {exc}") from exc
    files = {}
    for name, fig in (figures or {}).items():
        with tempfile.SpooledTemporaryFile() as buf:
            fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
            buf.seek(0)
            files[folder / record["figures"][name]] = buf.read()
    path = folder / f"{profile}.json"
    files[path] = text.encode()
    atomic_write_files(files)
    return path


def load_results(chapter: str, profile: str, root: str | Path | None = None) -> dict | None:
    """The saved record of a chapter run, or ``None`` if it was never run.

    Raises
    ------
    OSError
        If the file exists but cannot be read, naming it.
    ValueError
        If it is not valid JSON or not a results record (an object with ``results`` and
        ``provenance``); the message names the file and says how to recover.
    """
    path = results_dir(root) / chapter / f"{profile}.json"
    hint = _rerun_hint(chapter, profile)
    try:
        if not path.exists():
            return None
    except OSError as exc:
        raise io_error(exc, f"results file {path} cannot be read") from exc
    record = read_json(path, "results file", hint)
    if not isinstance(record, dict) or not {"results", "provenance"} <= record.keys():
        raise ValueError(
            f"results file {path} is not a results record (an object with 'results' and "
            f"'provenance'); {hint}"
        )
    return record


def work_dir(chapter: str, profile: str, results_root: str | Path | None = None) -> Path:
    """Checkpoint folder of a chapter's profile, ``<results>/<chapter>/<profile>/_work``.

    Git-ignored: models and checkpoints that let an interrupted run resume.
    """
    return results_dir(results_root) / chapter / profile / "_work"


def records_dir(chapter: str, profile: str, results_root: str | Path | None = None) -> Path:
    """Committed folder of per-model records, ``<results>/<chapter>/<profile>/records``.

    A long profile is trained over several sessions, possibly on different machines, and
    :func:`work_dir` (checkpoints, git-ignored) does not survive a new machine. So when a
    model finishes, everything the chapter needs from it is written here as one small JSON
    file (:func:`save_record`) and committed; a later run reads it (:func:`load_record`)
    instead of training the model again.
    """
    return results_dir(results_root) / chapter / profile / "records"


def _record_path(folder: Path, name: str) -> Path:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", name):
        raise ValueError(
            f"name must be a file-name stem of letters, digits and ._=+- , got {name!r}"
        )
    return folder / f"{name}.json"


def save_record(folder: Path, name: str, key: Mapping[str, Any], record: Mapping[str, Any]) -> Path:
    """Write one model's record, ``<folder>/<name>.json``, atomically.

    Parameters
    ----------
    folder : Path
        :func:`records_dir` of the profile (created if missing).
    name : str
        The model's name (a file-name stem).
    key : mapping
        JSON data naming everything the record depends on (settings of the model and of
        its read-out, a format version); :func:`load_record` ignores a record whose key
        differs.
    record : mapping
        JSON-able values (:func:`json_ready`).

    Returns
    -------
    Path
        The file written.
    """
    path = _record_path(folder, name)
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "git_commit": _GIT_AT_IMPORT[0],
        "git_dirty": _GIT_AT_IMPORT[1],
        "device": device_description(),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    value = json_ready({"name": name, "key": dict(key), "made": made, "record": dict(record)})
    atomic_write_bytes(path, (results_json(value) + "\n").encode())
    return path


def load_record(folder: Path, name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """A model's saved record, or None if there is none for this ``key``.

    A record written for another key (changed settings or read-out) counts as missing, so
    the model is trained and read again and its record replaced.

    Raises
    ------
    ValueError
        If the file is damaged (not JSON, or not a record); the message says to delete it.
    """
    path = _record_path(folder, name)
    if not path.is_file():
        return None
    saved = read_json(path, "model record", "delete it and the model is trained again")
    if not isinstance(saved, dict) or not isinstance(saved.get("record"), dict):
        raise ValueError(f"{path} is not a model record; delete it and the model is trained again")
    if saved.get("key") != json.loads(json.dumps(json_ready(dict(key)), sort_keys=True)):
        return None
    return saved["record"]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (64 hex digits)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached(folder: Path, key: Mapping[str, Any], compute: Callable[[], dict]) -> dict:
    """``compute()``, or its saved result for the same ``key`` (JSON in ``folder``).

    The key names everything the result depends on (weights digest, data fingerprint, draws,
    radii, ...), so a rerun of a long profile re-evaluates only what changed. An entry is
    written atomically (:func:`atomic_write_bytes`) as ``<sha256 of the key>.json``; one
    that is not valid JSON (a damaged file) is computed again and replaced.

    Parameters
    ----------
    folder : Path
        An existing folder.
    key : mapping
        JSON data (sorted by key before hashing).
    compute : callable
        ``compute() -> dict`` of JSON-able values (:func:`json_ready`).
    """
    text = json.dumps(key, sort_keys=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    if path.is_file():
        try:
            saved = read_json(path, "evaluation cache entry", "it is computed again")
        except ValueError:
            saved = None
        if isinstance(saved, dict) and saved.get("key") == json.loads(text):
            return saved["value"]
    value = compute()
    record = json_ready({"key": json.loads(text), "value": value})
    atomic_write_bytes(path, json.dumps(record, allow_nan=False).encode())
    return value
