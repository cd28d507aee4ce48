"""The book's chapters: which exist, their profiles, and how to run them.

Command line (what ``make reproduce`` and ``make test`` call)::

    python -m toposhape.chapters reproduce CHAPTER PROFILE
    python -m toposhape.chapters test-smoke

``reproduce`` executes ``book/<chapter>.ipynb`` with papermill at the given
profile (recomputing everything), writes the executed notebook to
``results/<chapter>/<profile>.ipynb`` and checks that the chapter saved
``results/<chapter>/<profile>.json``. ``test-smoke`` runs every chapter at its
``smoke`` profile under nbval, writing results to a temporary folder.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from toposhape.results import load_results, repo_root, results_dir

# chapter name -> the library module that holds its PROFILES and its logic
CHAPTERS = {
    "connectivity": "toposhape.connectivity_study",
    "oneclass": "toposhape.oneclass_study",
    "atlas": "toposhape.atlas_study",
    "nvae": "toposhape.nvae_study",
    "msimclr": "toposhape.msimclr_study",
    "triplet": "toposhape.triplet_study",
}
KERNEL = "toposhape"


def profiles(chapter: str) -> tuple[str, ...]:
    """The profiles a chapter defines (e.g. ``("smoke", "full")``).

    Raises
    ------
    ValueError
        If ``chapter`` is not a chapter of the book.
    """
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; valid chapters: {', '.join(CHAPTERS)}")
    return tuple(importlib.import_module(CHAPTERS[chapter]).PROFILES)


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


def reproduce(chapter: str, profile: str, parameters: dict | None = None) -> Path:
    """Execute a chapter at a profile and save the executed notebook next to its results.

    Parameters
    ----------
    chapter, profile : str
    parameters : dict, optional
        Further papermill parameters of the notebook (e.g. ``{"train_missing": False}``).

    Returns
    -------
    Path
        The results JSON the chapter wrote.
    """
    import papermill

    check(chapter, profile)
    out_dir = results_dir() / chapter
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{profile}.", suffix=".ipynb")
    os.close(fd)
    try:
        papermill.execute_notebook(
            str(notebook(chapter)),
            tmp,
            parameters={**(parameters or {}), "profile": profile, "recompute": True},
            kernel_name=KERNEL,
            cwd=str(notebook(chapter).parent),
            progress_bar=True,
        )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        Path(tmp).write_text(without_local_paths(Path(tmp).read_text(), repo_root()))
        os.replace(tmp, out_dir / f"{profile}.ipynb")
    finally:
        Path(tmp).unlink(missing_ok=True)
    path = out_dir / f"{profile}.json"
    if not path.is_file() or path.stat().st_mtime < started:
        raise RuntimeError(f"chapter {chapter!r} ran but did not write {path}")
    return path


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
                record = load_results(chapter, "smoke", root=tmp)
                if record is None or "provenance" not in record:
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


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m toposhape.chapters", description=__doc__)
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
    try:
        if args.command == "reproduce":
            extra = dict(_parameter(item) for item in args.set)
            print(f"results written to {reproduce(args.chapter, args.profile, extra)}")
            return 0
        if args.command == "list":
            for chapter in CHAPTERS:
                print(f"{chapter}: {', '.join(profiles(chapter))}")
            return 0
        return test_smoke()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
