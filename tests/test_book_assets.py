"""Tests of toposhape.book_assets: MathJax vendoring.

No network: npm is replaced by tarballs the tests write in the npm package layout.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from toposhape import book_assets
from toposhape.book_assets import vendor_mathjax


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
