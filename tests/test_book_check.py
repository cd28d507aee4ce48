"""Tests of toposhape.book_check and toposhape.browser: the reader's-eye checks of the book.

Static rules are tested on hand-written pages; the browser rules in headless Chromium
(skipped where none is installed; ``make book`` installs it) with a stand-in MathJax that
renders every equation except those containing ``\\unrendered``; and a whole deliberately
broken chapter is built with jupyter-book and must trip every rule.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toposhape import book_check
from toposhape.book_check import Defect, browser_defects, static_defects
from toposhape.browser import Browser, file_url, find_chromium
from toposhape.results import repo_root

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="no Chromium installed")

#: Stands in for MathJax: renders each .math element unless it contains \unrendered.
FAKE_MATHJAX = r"""
window.MathJax = {startup: {promise: new Promise(
  done => document.addEventListener('DOMContentLoaded', done)
).then(() => {
  document.querySelectorAll('.math').forEach(m => {
    if (!m.textContent.includes('\\unrendered')) {
      m.innerHTML = '<mjx-container>rendered</mjx-container>';
    }
  });
})}};
"""


def _page(folder: Path, name: str, body: str, head: str = "") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><head>{head}</head><body>{body}</body></html>", encoding="utf-8")
    return path


def _rules(defects: list[Defect], page: str | None = None) -> set[str]:
    return {d.rule for d in defects if page is None or d.page == page}


def test_a_clean_page_has_no_static_defect(tmp_path: Path) -> None:
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.js").write_text("")
    (tmp_path / "_static" / "a.png").write_bytes(b"")
    _page(tmp_path, "other.html", '<h2 id="results">Results</h2>')
    _page(
        tmp_path,
        "index.html",
        '<p>See <a href="other.html#results">the results</a>, <a href="#top">top</a>, '
        '<a href="https://arxiv.org/abs/1905.12200">the paper</a>.</p><div id="top"></div>'
        "<pre>| a | b |\n|---|---|</pre><p>Costs 3 | 4 seconds.</p>"
        '<main><figure><img src="_static/a.png" alt="a plot"><figcaption>Fig. 1</figcaption>'
        '</figure></main><img src="_static/a.png">',  # outside <main>: the theme's
        head='<script src="_static/a.js?v=1"></script>',
    )
    assert static_defects(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "head", "rule"),
    [
        ("", '<script src="https://cdn.example.org/mathjax.js"></script>', "external-load"),
        ("", '<link rel="stylesheet" href="//fonts.example.org/a.css">', "external-load"),
        ("<p>| model | AUROC |\n|---|---|\n| a | 1 |</p>", "", "pipe-table"),
        ("<pre>Traceback (most recent call last):\n  File x</pre>", "", "traceback"),
        ('<div class="output traceback"><pre>ValueError</pre></div>', "", "traceback"),
        ("<pre>&lt;Figure size 700x300 with 1 Axes&gt;</pre>", "", "bare-repr"),
        ("<pre>&lt;toposhape.x.Y object at 0x7f3a2c&gt;</pre>", "", "bare-repr"),
        ("<p>data in /home/someone/data/cifar</p>", "", "absolute-path"),
        (f"<pre>saved {repo_root()}/results/x.json</pre>", "", "absolute-path"),
        ('<img src="file:///srv/x.png">', "", "absolute-path"),
        ('<a href="missing.html">x</a>', "", "broken-link"),
        ('<a href="#nowhere">x</a>', "", "broken-link"),
        ('<img src="_images/none.png">', "", "broken-link"),
        ('<a href="../outside.html">x</a>', "", "broken-link"),
        (
            '<main><img src="data:image/png;base64,AA" alt="a plot"></main>',
            "",
            "uncaptioned-figure",
        ),
        (
            '<main><figure><img src="data:image/png;base64,AA"></figure></main>',
            "",
            "uncaptioned-figure",
        ),
        (
            '<main><figure><img src="data:image/png;base64,AA" alt="x"></figure></main>',
            "",
            "uncaptioned-figure",
        ),
    ],
)
def test_each_static_rule_finds_its_defect(tmp_path: Path, body: str, head: str, rule: str) -> None:
    _page(tmp_path, "ch.html", body, head)
    defects = static_defects(tmp_path)
    assert _rules(defects) == {rule}, defects
    assert all(d.page == "ch.html" for d in defects)


def test_a_redirect_page_is_checked_for_its_target(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<meta http-equiv="Refresh" content="0; url=intro.html" />'
    )
    assert _rules(static_defects(tmp_path)) == {"broken-link"}
    _page(tmp_path, "intro.html", "<p>hello</p>")
    assert static_defects(tmp_path) == []


def test_theme_folders_are_not_pages_and_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    _page(tmp_path, "_static/macros.html", "<script src=\"{{ pathto('x.js') }}\"></script>")
    with pytest.raises(FileNotFoundError, match="no built book"):
        static_defects(tmp_path)
    _page(tmp_path, "index.html", "<p>ok</p>")
    assert static_defects(tmp_path) == []


@needs_chromium
def test_the_browser_sees_console_errors_and_unrendered_latex(tmp_path: Path) -> None:
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "mathjax.js").write_text(FAKE_MATHJAX)
    head = '<script src="_static/mathjax.js"></script>'
    _page(tmp_path, "good.html", '<p><span class="math">\\(x^2\\)</span> fine</p>', head)
    _page(
        tmp_path,
        "bad.html",
        '<p><span class="math">\\(\\unrendered\\)</span> and <span class="math">\\(y\\)</span></p>'
        "<p>left as text: $\\eta = 2$</p><pre>$\\eta$ in code is fine</pre>"
        "<script>let once = 1;</script><script>let once = 2;</script>"
        '<script>console.error("boom"); console.log("chatter is fine");</script>'
        '<img src="_images/none.png">'
        "<main><table><tr><td style='white-space: nowrap'>"
        f"{'wide ' * 400}</td></tr></table></main>",
        head,
    )
    defects = browser_defects(tmp_path)
    assert _rules(defects, "good.html") == set()
    bad = [d for d in defects if d.page == "bad.html"]
    assert _rules(bad) == {"console-error", "unrendered-equation", "raw-latex", "too-wide"}
    details = " ".join(d.detail for d in bad)
    for expected in (
        "already been declared",
        "console.error: boom",
        "1 of 2 equations",
        "$\\eta = 2$",
        "<table>",
    ):
        assert expected in details
    assert "chatter" not in details and "in code" not in details


@needs_chromium
def test_the_browser_refuses_a_bad_timeout_and_reports_a_missing_chromium() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Browser(timeout=0)
    with pytest.raises(FileNotFoundError, match="no Chromium found"):
        Browser(executable="no-such-chromium-binary")


#: A 2 × 2 black PNG: a figure shown without a caption.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAC0lEQVR4nGNgQAYAAA4AAamRc7EAAAAASUVORK5CYII="


def _broken_notebook() -> dict:
    """A chapter with one of each defect in its stored outputs (nothing is executed)."""

    def code(outputs: list[dict]) -> dict:
        return {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": "x",
            "outputs": outputs,
        }

    html = (
        "<p>raw: $\\eta$</p><script>console.error('broken chapter');</script>"
        f"<table><tr><td style='white-space: nowrap'>{'a wide cell ' * 100}</td></tr></table>"
    )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "# Broken\n\nAn equation $\\unrendered$.\n\n"
                "| a | b |\n|---|\n| 1 | 2 |\n\n[nowhere](#no-such-anchor)",
            },
            code(
                [
                    {
                        "output_type": "error",
                        "ename": "ValueError",
                        "evalue": "bad",
                        "traceback": ["Traceback (most recent call last):", "ValueError: bad"],
                    }
                ]
            ),
            code(
                [
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/plain": "<Figure size 700x300 with 1 Axes>"},
                    }
                ]
            ),
            code(
                [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": f"saved {repo_root()}/results/x.json\n",
                    }
                ]
            ),
            code([{"output_type": "display_data", "metadata": {}, "data": {"text/html": html}}]),
            code([{"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG}}]),
        ],
    }


@needs_chromium
def test_a_deliberately_broken_chapter_fails_every_check(tmp_path: Path) -> None:
    """Built with the book's own configuration: the clean page passes, the broken one trips
    every rule but external loads (which the static tests cover)."""
    book = tmp_path / "book"
    (book / "_mathjax" / "mathjax").mkdir(parents=True)
    (book / "_mathjax" / "mathjax" / "tex-mml-chtml.js").write_text(FAKE_MATHJAX)
    shutil.copytree(repo_root() / "book" / "_assets", book / "_assets")
    config = (repo_root() / "book" / "_config.yml").read_text()
    (book / "_config.yml").write_text(
        config.replace("execute_notebooks: force", "execute_notebooks: off")
    )
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: broken\n")
    (book / "intro.md").write_text("# Intro\n\nThe loss $L_\\eta$ and {doc}`broken`.\n")
    (book / "broken.ipynb").write_text(json.dumps(_broken_notebook()))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    built = subprocess.run(
        [
            str(jupyter_book if jupyter_book.exists() else shutil.which("jupyter-book")),
            "build",
            str(book),
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    html = book / "_build" / "html"
    defects = book_check.check_book(html)
    assert _rules(defects, "intro.html") == set(), defects
    assert _rules(defects, "broken.html") == set(book_check.RULES) - {"external-load"}, defects
    assert book_check.main([str(html)]) == 1
    shutil.rmtree(book / "_build")
    assert book_check.main([str(html)]) == 2  # no book there


def test_visit_url_of_a_local_file(tmp_path: Path) -> None:
    assert file_url(tmp_path / "a b.html").startswith("file:///")
    assert file_url(tmp_path / "a b.html").endswith("/a%20b.html")
