"""Tests of toposhape.book_assets: MathJax vendoring and the self-contained-book check.

No network: npm is replaced by tarballs the tests write in the npm package layout.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from toposhape import book_assets
from toposhape.book_assets import ExternalLoad, external_loads, vendor_mathjax


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


@pytest.fixture
def fake_npm(monkeypatch: pytest.MonkeyPatch):
    """Replace npm_pack: the next tarball's files are set by the test; calls are counted."""
    state = {"files": {}, "calls": 0}

    def npm_pack(spec: str, sha256: str, work: Path) -> Path:
        assert (spec, sha256) == (book_assets.MATHJAX_SPEC, book_assets.MATHJAX_SHA256)
        state["calls"] += 1
        return _tarball(work / "mathjax-3.2.2.tgz", state["files"])

    monkeypatch.setattr(book_assets, "npm_pack", npm_pack)
    return state


def test_vendor_mathjax_unpacks_es5_only_once(tmp_path: Path, fake_npm: dict) -> None:
    fake_npm["files"] = {
        "package/es5/tex-mml-chtml.js": b"// entry",
        "package/es5/input/tex/extensions/ams.js": b"// ams",
        "package/ts/core.ts": b"// source, not copied",
        "package/package.json": b"{}",
    }
    dest = tmp_path / "book" / "_mathjax" / "mathjax"
    assert vendor_mathjax(dest) == dest
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == [".source", "input/tex/extensions/ams.js", "tex-mml-chtml.js"]
    assert (dest / "tex-mml-chtml.js").read_bytes() == b"// entry"
    vendor_mathjax(dest)
    assert fake_npm["calls"] == 1  # the stamp names the pinned package: nothing to do
    (dest / ".source").write_text("mathjax@3.0.0 sha256:0\n")
    vendor_mathjax(dest)
    assert fake_npm["calls"] == 2  # another package's copy is replaced
    assert not list(dest.parent.glob(".mathjax-*"))  # no staging folder left behind


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"package/es5/../../evil.js": b"x", "package/es5/tex-mml-chtml.js": b""}, "unsafe"),
        ({"package/es5/tex-chtml.js": b""}, "no package/es5/tex-mml-chtml.js"),
    ],
)
def test_vendor_mathjax_refuses_a_bad_tarball_and_keeps_the_old_copy(
    tmp_path: Path, fake_npm: dict, files: dict, message: str
) -> None:
    dest = tmp_path / "mathjax"
    dest.mkdir()
    (dest / "old.js").write_text("kept")
    fake_npm["files"] = files
    with pytest.raises(ValueError, match=message):
        vendor_mathjax(dest)
    assert (dest / "old.js").read_text() == "kept"
    assert not (tmp_path / "evil.js").exists()


def _page(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><head>{body}</head><body></body></html>")


def test_external_loads_finds_what_a_page_loads_from_outside(tmp_path: Path) -> None:
    _page(
        tmp_path,
        "index.html",
        '<script src="_static/mathjax/tex-mml-chtml.js"></script>'
        '<link rel="stylesheet" href="_static/theme.css">'
        '<a href="https://arxiv.org/abs/1905.12200">the paper</a>',  # a link, not a load
    )
    _page(
        tmp_path,
        "sub/ch.html",
        '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<link href="//fonts.example.org/x.css" rel="stylesheet"><img src="HTTP://x.org/a.png">',
    )
    assert external_loads(tmp_path) == [
        ExternalLoad(
            "sub/ch.html", "script", "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
        ),
        ExternalLoad("sub/ch.html", "link", "//fonts.example.org/x.css"),
        ExternalLoad("sub/ch.html", "img", "HTTP://x.org/a.png"),
    ]


def test_check_offline_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _page(tmp_path, "index.html", '<script src="_static/a.js"></script>')
    assert book_assets.main(["check-offline", str(tmp_path)]) == 0
    _page(tmp_path, "ch.html", '<script src="https://cdn.example.org/a.js"></script>')
    assert book_assets.main(["check-offline", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "ch.html: <script> loads https://cdn.example.org/a.js" in captured.err
    assert "1 external loads on 1 pages" in captured.out
    assert book_assets.main(["check-offline", str(tmp_path / "missing")]) == 2
    assert "no built book in" in capsys.readouterr().err
