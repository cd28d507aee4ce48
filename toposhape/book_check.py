"""Check a built book the way a reader meets it; ``make book`` fails on any defect.

Two passes over every page of ``book/_build/html``:

*In the HTML* (:func:`static_defects`):

``external-load``
    the page loads a script, style or image from outside the built folder (the book
    must read offline);
``pipe-table``
    Markdown table syntax (``| a | b |`` over ``|---|``) left as text;
``traceback``
    a Python traceback or an error output of a cell;
``bare-repr``
    an object's repr where a result should be (``<Figure size 700x300 with 1 Axes>``,
    ``<x.Y object at 0x7f…>``);
``absolute-path``
    a path of the machine that built the book (the repository, the home or the temporary
    folder, ``file://``), which means nothing to a reader;
``broken-link``
    an internal link, image, script or style whose file, or whose ``#anchor``, does not
    exist;
``uncaptioned-figure``
    an image of the page's text (inside ``<main>``) without alt text, or outside a
    ``<figure>`` with a caption.

*In headless Chromium* (:func:`browser_defects`, :mod:`toposhape.browser`):

``console-error``
    an uncaught exception, a ``console.error`` or a resource that failed to load;
``unrendered-equation``
    an equation of the source (a Sphinx ``.math`` element) that MathJax did not render,
    so the page's rendered equations fall short of the source's;
``raw-latex``
    text outside equations and code that still reads as LaTeX (``\\(``, ``$\\eta$``);
``too-wide``
    a display equation, table or image wider than the text column at 1280 px, which
    the reader would have to scroll sideways.

Command line::

    python -m toposhape.book_check [HTML]      # default book/_build/html

prints one line per defect and exits 1 if there is any (2 if the folder holds no book or
no Chromium is installed).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from toposhape.browser import Browser, file_url
from toposhape.cli import Parser, run_command
from toposhape.results import repo_root

RULES = (
    "external-load",
    "pipe-table",
    "traceback",
    "bare-repr",
    "absolute-path",
    "broken-link",
    "uncaptioned-figure",
    "console-error",
    "unrendered-equation",
    "raw-latex",
    "too-wide",
)

#: (tag, attribute) pairs whose URL the browser loads while showing the page.
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
#: Elements whose text is code or program, never prose.
_CODE = {"pre", "code", "script", "style", "textarea"}
_NOT_SHOWN = {"script", "style"}
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}

_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
#: A table's rule row; Sphinx's smart quotes may have turned ``---`` into an em dash.
_TABLE_RULE = re.compile(r"^\s*\|?(\s*:?(?:-{3,}|[—–]+):?\s*\|)+", re.M)
_TRACEBACK = "Traceback (most recent call last)"
_REPR = re.compile(
    r"<(?:Figure size \d+(?:\.\d+)?x\d+(?:\.\d+)? with \d+ Axes"
    r"|[A-Za-z_][\w.]* object at 0x[0-9a-fA-F]+"
    r"|(?:function|bound method|built-in function) [^<>]* at 0x[0-9a-fA-F]+)>"
)
_SKIP_SCHEMES = ("http:", "https:", "//", "mailto:", "data:", "javascript:", "tel:", "ftp:")


class Defect(NamedTuple):
    """One thing a reader would trip over.

    Attributes
    ----------
    page : str
        The page, relative to the built folder.
    rule : str
        One of :data:`RULES`.
    detail : str
        What was found, shortened to one line.
    """

    page: str
    rule: str
    detail: str


class _Page(HTMLParser):
    """One page's ids, URLs and text, each text with whether it is code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.texts: list[tuple[str, bool, bool]] = []  # (text, in code, shown)
        self.error_outputs = 0
        self.uncaptioned: list[str] = []  # the images of the page's text without a caption
        self._figures: list[dict[str, object]] = []  # open <figure>s: their images, a caption?
        self.redirect: str | None = None  # the target of a <meta http-equiv="refresh">
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            self.redirect = values.get("content", "").partition("url=")[2].strip()
            self.urls.append((tag, "content", self.redirect))
        if "traceback" in values.get("class", "").split():
            self.error_outputs += 1
        for name, value in values.items():
            if name in ("href", "src", "data") and value:
                self.urls.append((tag, name, value))
        if tag == "figure":
            self._figures.append({"images": [], "caption": False})
        elif tag == "figcaption" and self._figures:
            self._figures[-1]["caption"] = True
        elif tag == "img" and "main" in self._open:
            what = values.get("src", "")[:60]
            if not values.get("alt", "").strip():
                self.uncaptioned.append(f"{what} (no alt text)")
            elif self._figures:
                self._figures[-1]["images"].append(what)
            else:
                self.uncaptioned.append(f"{what} (not in a captioned figure)")
        if tag not in _VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._figures:
            figure = self._figures.pop()
            if not figure["caption"]:
                self.uncaptioned += [f"{src} (figure without caption)" for src in figure["images"]]
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            in_code = any(t in _CODE for t in self._open)
            shown = not any(t in _NOT_SHOWN for t in self._open)
            self.texts.append((data, in_code, shown))


def _pages(html_dir: Path) -> list[Path]:
    """The book's pages: every ``.html`` file outside Sphinx's ``_static``-like folders."""
    found = sorted(html_dir.rglob("*.html")) if html_dir.is_dir() else []
    pages = [
        p
        for p in found
        if not any(part.startswith("_") for part in p.relative_to(html_dir).parts[:-1])
    ]
    if not pages:
        raise FileNotFoundError(f"no built book in {html_dir} (no .html pages): run `make book`")
    return pages


def _short(text: str, width: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def local_path_patterns(extra: Iterable[str] = ()) -> re.Pattern[str]:
    """What an absolute path of the building machine looks like in a page.

    The repository's folder, the home and temporary folders, ``file://`` URLs, and any
    ``/home/…``, ``/Users/…`` or ``/tmp/…`` path, plus ``extra`` literal paths.
    """
    literal = {str(repo_root()), str(Path.home()), tempfile.gettempdir(), *extra}
    literal = {p.rstrip("/") for p in literal if len(p.rstrip("/")) > 1}
    alternatives = [re.escape(p) + r"(?=/|\b)" for p in sorted(literal, key=len, reverse=True)]
    alternatives += [r"file://", r"(?<![\w.~-])/(?:home|Users|tmp)/[\w.-]+"]
    return re.compile("|".join(alternatives))


def _is_external(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://", "//", "ftp://"))


def static_defects(html_dir: str | Path | None = None) -> list[Defect]:
    """Every defect visible in the built HTML itself (all rules but the browser's).

    Parameters
    ----------
    html_dir : str or Path, optional
        The built book (default ``<repo>/book/_build/html``).

    Raises
    ------
    FileNotFoundError
        If ``html_dir`` holds no ``.html`` page.
    """
    html_dir = Path(html_dir) if html_dir is not None else repo_root() / "book/_build/html"
    pages = _pages(html_dir)
    parsed: dict[Path, _Page] = {}
    for page in pages:
        parser = _Page()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        parsed[page.resolve()] = parser
    local = local_path_patterns()
    defects: list[Defect] = []
    for page in pages:
        name, parser = page.relative_to(html_dir).as_posix(), parsed[page.resolve()]

        def found(rule: str, detail: str, name: str = name) -> None:
            defects.append(Defect(name, rule, _short(detail)))

        for tag, attribute, url in parser.urls:
            if (tag, attribute) in _LOADING and _is_external(url):
                found("external-load", f"<{tag}> loads {url}")
            elif local.search(url):
                found("absolute-path", f"<{tag} {attribute}={url!r}>")
            elif not url.lower().startswith(_SKIP_SCHEMES):
                problem = _broken(html_dir, page, url, parsed)
                if problem:
                    found("broken-link", f"<{tag} {attribute}={url!r}>: {problem}")
        for image in parser.uncaptioned:
            found("uncaptioned-figure", image)
        if parser.error_outputs:
            found("traceback", f"{parser.error_outputs} error output(s) of a cell")
        for text, in_code, shown in parser.texts:
            if not shown:
                continue
            if _TRACEBACK in text and not parser.error_outputs:
                found("traceback", text[text.index(_TRACEBACK) :])
            if not in_code and _TABLE_ROW.search(text) and _TABLE_RULE.search(text):
                found("pipe-table", text)
            for match in _REPR.finditer(text):
                found("bare-repr", match.group(0))
            for match in local.finditer(text):
                start = max(0, match.start() - 30)
                found("absolute-path", text[start : match.end() + 40])
    return defects


def _broken(html_dir: Path, page: Path, url: str, parsed: dict[Path, _Page]) -> str | None:
    """Why an internal URL of ``page`` leads nowhere, or None if it is fine."""
    parts = urlsplit(url)
    if parts.scheme and parts.scheme != "file":
        return None
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    root = html_dir.resolve()
    if target != root and root not in target.parents:
        return "points outside the built book"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "no such file"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html":
        ids = parsed[target.resolve()].ids if target.resolve() in parsed else set()
        if fragment not in ids:
            return f"no #{fragment} in {target.name}"
    return None


def browser_defects(
    html_dir: str | Path | None = None, browser: Browser | None = None
) -> list[Defect]:
    """The defects a reader's browser shows: console errors and equations left as LaTeX.

    Parameters
    ----------
    html_dir : str or Path, optional
        The built book (default ``<repo>/book/_build/html``).
    browser : Browser, optional
        A running browser to use (default: start one for these pages).

    Raises
    ------
    FileNotFoundError
        If ``html_dir`` holds no ``.html`` page or no Chromium is installed.
    """
    html_dir = Path(html_dir) if html_dir is not None else repo_root() / "book/_build/html"
    pages = _pages(html_dir)
    if browser is None:
        with Browser() as own:
            return browser_defects(html_dir, own)
    defects = []
    for page in pages:
        parser = _Page()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        if parser.redirect is not None:  # a page that only forwards (the static pass checks where)
            continue
        name = page.relative_to(html_dir).as_posix()
        view = browser.visit(file_url(page))
        defects += [Defect(name, "console-error", _short(e)) for e in view.errors]
        if view.unrendered:
            rendered = view.equations - len(view.unrendered)
            detail = f"{rendered} of {view.equations} equations rendered; first left: "
            defects.append(Defect(name, "unrendered-equation", _short(detail + view.unrendered[0])))
        defects += [Defect(name, "raw-latex", _short(t)) for t in view.raw_latex]
        defects += [Defect(name, "too-wide", _short(t)) for t in view.too_wide]
    return defects


def check_book(html_dir: str | Path | None = None) -> list[Defect]:
    """All defects of the built book: :func:`static_defects` then :func:`browser_defects`."""
    return static_defects(html_dir) + browser_defects(html_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit statuses as :func:`toposhape.cli.run_command`'s."""
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = Parser(
        prog="python -m toposhape.book_check",
        description="Check a built book as a reader meets it (HTML and headless Chromium).",
    )
    parser.add_argument(
        "html", nargs="?", type=Path, default=None, help="built book (default book/_build/html)"
    )
    args = parser.parse_args(argv)
    html_dir = args.html if args.html is not None else repo_root() / "book/_build/html"
    defects = check_book(html_dir)
    for defect in defects:
        print(f"{defect.page}: {defect.rule}: {defect.detail}", file=sys.stderr)
    pages = len(_pages(html_dir))
    if defects:
        kinds = sorted({d.rule for d in defects})
        print(f"{len(defects)} defects on {pages} pages ({', '.join(kinds)})")
        return 1
    print(f"{pages} pages checked: no defects (rules: {', '.join(RULES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
