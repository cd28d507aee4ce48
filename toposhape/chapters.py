"""The book's chapters: which exist, their profiles, and how to run them.

Command line (what ``make reproduce`` and ``make test`` call)::

    python -m toposhape.chapters reproduce CHAPTER PROFILE
    python -m toposhape.chapters test-smoke

``reproduce`` executes ``book/<chapter>.ipynb`` with papermill at the given
profile (recomputing everything), writes the executed notebook to
``results/<chapter>/<profile>.ipynb`` and checks that the chapter saved
``results/<chapter>/<profile>.json``. ``test-smoke`` runs every chapter at its
``smoke`` profile under nbval, writing results to a temporary folder. Errors are
reported as :mod:`toposhape.cli` describes (one line, exit status 2).
"""

import ast
import builtins
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toposhape.cli import USER_ERRORS, Parser, run_command
from toposhape.results import (
    atomic_write_bytes,
    load_results,
    repo_root,
    results_dir,
    temporary_file,
    writable_folder,
)

if TYPE_CHECKING:
    from papermill.exceptions import PapermillExecutionError

#: The book's chapters, in reading order. Each has a package ``toposhape.studies.<chapter>``
#: whose ``run`` module holds its PROFILES and experiments and whose ``report`` module
#: turns a results file into figures, tables and scorecard claims.
CHAPTERS = ("connectivity", "oneclass", "atlas", "nvae", "msimclr", "triplet")
KERNEL = "toposhape"


def profiles(chapter: str) -> tuple[str, ...]:
    """The profiles a chapter defines (e.g. ``("smoke", "full")``).

    Raises
    ------
    ValueError
        If ``chapter`` is not a chapter of the book.
    """
    return tuple(importlib.import_module(module(chapter, "run")).PROFILES)


def module(chapter: str, part: str) -> str:
    """The module path of a chapter's ``run`` or ``report`` part.

    Raises
    ------
    ValueError
        If ``chapter`` is not a chapter of the book or ``part`` is not ``run``/``report``.
    """
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; valid chapters: {', '.join(CHAPTERS)}")
    if part not in ("run", "report"):
        raise ValueError(f"part must be 'run' or 'report', got {part!r}")
    return f"toposhape.studies.{chapter}.{part}"


def report_modules() -> dict[str, str]:
    """Chapter -> its report module, in reading order (what the scorecard collects from)."""
    return {chapter: module(chapter, "report") for chapter in CHAPTERS}


def check(chapter: str, profile: str) -> None:
    """Raise ``ValueError`` naming the valid choices if chapter or profile is unknown."""
    valid = profiles(chapter)
    if profile not in valid:
        raise ValueError(
            f"unknown profile {profile!r} for chapter {chapter!r}; valid profiles: "
            f"{', '.join(valid)}"
        )


def notebook(chapter: str) -> Path:
    """Path of the chapter's notebook, ``book/<chapter>.ipynb``."""
    return repo_root() / "book" / f"{chapter}.ipynb"


def without_local_paths(text: str, root: Path) -> str:
    """``text`` with the absolute repository path replaced by paths relative to it.

    Executed notebooks are committed as the record of a run; where the clone happened to
    live on the machine that ran it is not part of that record.
    """
    return text.replace(f"{root}/", "").replace(str(root), ".")


#: Notebook parameters that :func:`reproduce` sets itself.
RESERVED_PARAMETERS = ("profile", "recompute", "results_root")


def check_parameters(chapter: str, parameters: Mapping[str, object]) -> None:
    """Raise ``ValueError`` unless ``parameters`` are further parameters of the chapter's notebook.

    Each name must be a parameter of the notebook's ``parameters`` cell other than
    :data:`RESERVED_PARAMETERS`, and each value of the type of the parameter's default
    (an int where the default is a float is fine; a default of None takes anything).
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook(chapter)))
    settable = sorted(set(declared) - set(RESERVED_PARAMETERS))
    for name, value in parameters.items():
        if name not in settable:
            raise ValueError(
                f"--set {name}: not a parameter chapter {chapter!r} lets you set; "
                f"its parameters: {', '.join(settable) or 'none'}"
            )
        try:
            default = ast.literal_eval(declared[name]["default"])
        except (ValueError, SyntaxError):  # not a literal: nothing to compare with
            continue
        expected = type(default)
        fits = isinstance(value, expected) and isinstance(value, bool) == (expected is bool)
        if default is not None and not fits and not (expected is float and type(value) is int):
            raise ValueError(
                f"--set {name}={json.dumps(value)}: expected {expected.__name__} "
                f"like the default {default!r}"
            )


def reproduce(chapter: str, profile: str, parameters: dict | None = None) -> Path:
    """Execute a chapter at a profile and save the executed notebook next to its results.

    The chapter writes its results itself (all or nothing, see :mod:`toposhape.results`);
    the executed notebook replaces ``results/<chapter>/<profile>.ipynb`` only once it ran
    through and saved the results. If a cell fails (or the results were not saved), the
    previous results stay as they were and the executed notebook, with the error, is kept
    as ``results/<chapter>/<profile>.failed.ipynb``.

    Parameters
    ----------
    chapter, profile : str
    parameters : dict, optional
        Further papermill parameters of the notebook (e.g. ``{"train_missing": False}``).

    Returns
    -------
    Path
        The results JSON the chapter wrote.

    Raises
    ------
    ValueError
        If the chapter, profile or a parameter is unknown, or a cell raised a ``ValueError``.
    OSError
        If the results folder is not writable, the Jupyter kernel is not installed, or a cell
        raised an ``OSError`` (e.g. ``FileNotFoundError`` for data that are not there).
    RuntimeError
        If a cell raised another exception, or the chapter did not save its results.
    """
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    check(chapter, profile)
    check_parameters(chapter, parameters or {})
    out_dir = writable_folder(results_dir() / chapter, "results folder")
    executed, failed = out_dir / f"{profile}.ipynb", out_dir / f"{profile}.failed.ipynb"
    started = time.time()
    with temporary_file(executed) as tmp, warnings.catch_warnings():
        # the temporary file's name ends in .tmp (as every temporary results file's), not .ipynb
        warnings.filterwarnings("ignore", "The specified file .* does not end in", UserWarning)
        try:
            papermill.execute_notebook(
                str(notebook(chapter)),
                str(tmp),
                parameters={**(parameters or {}), "profile": profile, "recompute": True},
                kernel_name=KERNEL,
                cwd=str(notebook(chapter).parent),
                progress_bar=True,
            )
        except NoSuchKernel as err:
            raise FileNotFoundError(
                f"the Jupyter kernel {KERNEL!r} is not installed: run `make setup`"
            ) from err
        except papermill.PapermillExecutionError as err:
            os.replace(tmp, failed)
            raise cell_error(err, f"chapter {chapter!r} at profile {profile!r}", failed) from err
        path = out_dir / f"{profile}.json"
        if not path.is_file() or path.stat().st_mtime < started:
            os.replace(tmp, failed)
            raise RuntimeError(
                f"chapter {chapter!r} ran but did not write {path} (executed notebook: {failed})"
            )
        text = without_local_paths(tmp.read_text(), repo_root())
    atomic_write_bytes(executed, text.encode())
    failed.unlink(missing_ok=True)
    return path


def cell_error(err: "PapermillExecutionError", what: str, executed: Path) -> BaseException:
    """The exception to raise for a notebook cell that raised, as papermill reports it.

    A cell's ``OSError`` or ``ValueError`` (by its class name, among the built-in
    exceptions) becomes that class, i.e. a user error, and a ``KeyboardInterrupt`` one;
    any other exception a ``RuntimeError``. The message names the cell, its error and the
    executed notebook, which holds the cell's traceback.
    """
    cls = getattr(builtins, err.ename, None)
    if isinstance(cls, type) and issubclass(cls, KeyboardInterrupt):
        return KeyboardInterrupt()
    message = (
        f"{what} failed in cell [{err.exec_count}]: {err.ename}: {err.evalue} "
        f"(executed notebook: {executed})"
    )
    if isinstance(cls, type) and issubclass(cls, USER_ERRORS):
        try:
            return cls(message)
        except TypeError:  # e.g. UnicodeDecodeError, whose constructor takes 5 arguments
            return (OSError if issubclass(cls, OSError) else ValueError)(message)
    return RuntimeError(message)


def test_smoke() -> int:
    """Run every chapter at its smoke profile under nbval; return pytest's exit code."""
    import papermill

    with tempfile.TemporaryDirectory(prefix="toposhape-smoke-") as tmp:
        prepared = []
        for chapter in CHAPTERS:
            check(chapter, "smoke")
            target = Path(tmp) / f"{chapter}.ipynb"
            papermill.execute_notebook(
                str(notebook(chapter)),
                str(target),
                parameters={"profile": "smoke", "recompute": True, "results_root": tmp},
                prepare_only=True,
                kernel_name=KERNEL,
            )
            prepared.append(str(target))
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--nbval-lax",
                "--nbval-current-env",
                "-q",
                *prepared,
            ],
            cwd=tmp,
        )
        if code == 0:
            for chapter in CHAPTERS:
                if load_results(chapter, "smoke", root=tmp) is None:
                    print(f"chapter {chapter!r} did not save its smoke results", file=sys.stderr)
                    return 1
        return code


def _parameter(item: str) -> tuple[str, object]:
    """``NAME=VALUE`` of ``--set``: VALUE as JSON (``false``, ``3``, ``"x"``) or a plain string."""
    name, sep, value = item.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"--set expects NAME=VALUE with a Python identifier as NAME, got {item!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit statuses as :func:`toposhape.cli.run_command`'s."""
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = Parser(prog="python -m toposhape.chapters", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="run one chapter at one profile")
    rep.add_argument("chapter")
    rep.add_argument("profile")
    rep.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a further notebook parameter (VALUE read as JSON, else as a string), e.g. "
        "--set train_missing=false",
    )
    sub.add_parser("test-smoke", help="run every chapter's smoke profile under nbval")
    sub.add_parser("list", help="list chapters and their profiles")
    args = parser.parse_args(argv)
    if args.command == "reproduce":
        extra = dict(_parameter(item) for item in args.set)
        print(f"results written to {reproduce(args.chapter, args.profile, extra)}")
        return 0
    if args.command == "list":
        for chapter in CHAPTERS:
            print(f"{chapter}: {', '.join(profiles(chapter))}")
        return 0
    return test_smoke()


if __name__ == "__main__":
    sys.exit(main())
