"""Training the backbones of the one-class study: data, worker processes, locks, resumption.

Each backbone (:class:`~toposhape.studies.oneclass.protocol.BackboneSpec`) is trained in its
own checkpoint files under the profile's work folder: ``<name>.pt`` (per-epoch checkpoint),
``<name>-backbone.{pt,json}`` (final weights and record) and the lock ``.<name>.lock``, so an
interrupted run resumes where it stopped and two processes never train one backbone at once.
"""

import fcntl
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.checks import check_bool, check_choice, check_images, check_int, check_path
from toposhape.data import random_subset
from toposhape.image_sets import ImageSplit, load_image_set
from toposhape.studies.oneclass.protocol import (
    RECIPE,
    SPLITS,
    BackboneSpec,
    check_settings,
    profile_datasets,
    train_config,
)
from toposhape.training import (
    MAX_SEED,
    checkpoint_epochs,
    history_seconds,
    save_backbone,
    seeded,
    train_autoencoder,
    train_backbone,
)


def load_split(
    name: str, split: str, settings: Mapping[str, Any], seed: int, progress: bool = False
) -> ImageSplit:
    """A split as a profile uses it: all images, or a seeded subset of ``<split>_images``.

    The subset depends on ``seed``, the dataset's place in :func:`profile_datasets` and the
    split, so every process of a run (the chapter, the training workers) reads the same
    images. The record keeps the counts of the files read; ``used`` gives the number used.

    ``name`` is one of the profile's datasets, ``split`` "train" or "test", ``seed`` an int in
    [0, 2**32 - 1]; everything is checked before a file is read.
    """
    check_settings(settings, ["image_size", "train_images", "test_images"])
    check_choice("name", name, profile_datasets(settings))
    check_choice("split", split, SPLITS)
    check_int("seed", seed, 0, MAX_SEED)
    check_bool("progress", progress)
    loaded = load_image_set(name, split, size=settings["image_size"], progress=progress)
    key = "train_images" if split == "train" else "test_images"
    subset_seed = seed + 2 * profile_datasets(settings).index(name) + (split != "train")
    images, labels = random_subset(loaded.images, loaded.labels, settings[key], subset_seed)
    return ImageSplit(images, labels, {**loaded.record, "used": len(images)})


def training_images(
    dataset: str, settings: Mapping[str, Any], seed: int, device: torch.device
) -> torch.Tensor:
    """The float training images of a backbone, in [0, 1], on ``device``.

    ``dataset`` is one of the profile's datasets; ``device`` a torch device (or its name)
    that torch can use. Arguments as in :func:`load_split`, checked before a file is read.
    """
    if not isinstance(device, torch.device | str):
        raise TypeError(f"device must be a torch.device, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must name a torch device, got {device!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but torch sees no GPU")
    check_choice("dataset", dataset, profile_datasets(settings))
    split = load_split(dataset, "train", settings, seed)
    return split.images.to(device).float().div_(255.0)


def train_one(
    spec: BackboneSpec,
    images: torch.Tensor,
    settings: Mapping[str, Any],
    folder: Path,
    progress: bool,
) -> tuple[ConnectivityAutoencoder, list[dict]]:
    """Train (or resume, or reload when finished) one backbone.

    The per-epoch checkpoint is ``<folder>/<name>.pt``; the final weights are also
    saved as a plain ``state_dict`` + JSON record, ``<folder>/<name>-backbone.{pt,json}``.
    While it runs, the process holds an exclusive lock on ``<folder>/.<name>.lock``, so
    two processes never train (and write) one backbone at once.

    Raises
    ------
    BlockingIOError
        If another process is training this backbone.
    """
    with exclusive(folder / f".{spec.name}.lock", f"backbone {spec.name}"):
        model, history = train_backbone(
            images,
            train_config(settings, spec.lam, spec.seed, spec.batch_size),
            branches=spec.branches,
            branch_dim=spec.branch_dim,
            init_seed=spec.seed,
            checkpoint=folder / f"{spec.name}.pt",
            progress=progress,
            description=spec.name,
        )
        save_backbone(model, folder / f"{spec.name}-backbone")
    return model, history


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``path`` (POSIX ``flock``) inside the block.

    The lock dies with its process, so a killed run never leaves a stale lock; the
    lock file (which names the holder) stays, empty of meaning until locked again.

    Raises
    ------
    BlockingIOError
        If another process holds the lock; the message names ``what`` and that process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BlockingIOError(
                f"{what} is being trained by {holder} (lock {path}); wait for it to finish "
                "or stop that process, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _exit_with_parent(parent: int, interval: float = 2.0) -> None:
    """Pool initialiser: end this worker when the process that started it is gone.

    A pool worker outlives a parent killed by a signal and would go on training (and
    writing checkpoints) beside the next run; a daemon thread ends it instead. Its
    checkpoint writes are atomic, so ending it mid-epoch loses at most that epoch.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _train_in_worker(
    spec: BackboneSpec, settings: dict[str, Any], seed: int, folder: Path
) -> tuple[str, float]:
    """Process-pool job: train one backbone on one torch thread; (name, training seconds)."""
    torch.set_num_threads(1)
    images = training_images(spec.dataset, settings, seed, torch.device("cpu"))
    _, history = train_one(spec, images, settings, folder, progress=False)
    return spec.name, history_seconds(history)


def train_backbones(
    specs: list[BackboneSpec],
    settings: Mapping[str, Any],
    seed: int,
    folder: Path,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    on_trained: Callable[[BackboneSpec], None] | None = None,
) -> None:
    """Train (or resume) backbones in ``settings["workers"]`` processes, one torch thread each.

    On 2 CPU cores, two single-threaded trainings run ~25 % faster in total than one after
    the other on two threads (measured for the reference autoencoder at batch 100). Each
    backbone checkpoints every epoch, so an interrupted call resumes where it stopped; a
    finished backbone is not trained again. With ``workers`` = 1 nothing is started.
    ``on_trained(spec)`` is called in this process as each backbone trained here finishes,
    while the pool goes on with the others. If one backbone's training fails, the error is
    logged at once, the backbones not yet started are cancelled, and the error is raised
    when the ones already in training have finished (their checkpoints stay usable).
    """
    workers = settings["workers"]
    todo = [
        spec for spec in specs if checkpoint_epochs(folder / f"{spec.name}.pt") < settings["epochs"]
    ]
    if workers <= 1 or not todo:
        return
    say = log or (lambda _msg: None)
    say(f"training {len(todo)} backbones in {workers} processes of one thread each")
    context = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
        ) as pool,
        tqdm(total=len(todo), desc="backbones", disable=not progress) as bar,
    ):
        jobs = {
            pool.submit(_train_in_worker, spec, dict(settings), seed, folder): spec for spec in todo
        }
        for job in as_completed(jobs):
            if job.exception() is not None:
                # Leaving the pool waits for the jobs already running; the error is shown now
                # and the backbones not yet started are not trained.
                for other in jobs:
                    other.cancel()
                say(
                    f"training {jobs[job].name} failed ({job.exception()!r}); "
                    "waiting for the backbones already in training, then stopping"
                )
            name, seconds = job.result()
            bar.update()
            say(f"trained {name}: {seconds / 60:.1f} min of training steps")
            if on_trained is not None:
                on_trained(jobs[job])


def resume_check(images: torch.Tensor, seed: int, folder: Path) -> dict[str, Any]:
    """Interrupt a short training in its second epoch, resume it, compare with a straight run.

    The interruption is real: a forward hook raises ``KeyboardInterrupt`` in the middle
    of epoch 2, leaving epoch 1's checkpoint behind; a fresh model built from the same
    seed (a checkpoint resumes only into the run that wrote it) then resumes from it.

    Parameters
    ----------
    images : Tensor, shape (N, C, S, S), float in [0, 1], N ≥ 200
    seed : int
        In [0, 2**32 - 1].
    folder : path
        Where the temporary checkpoint is written (and removed).

    Returns
    -------
    dict
        ``identical`` (every tensor of both final state dicts is equal) and the settings.
    """
    check_images("images", images, uint8=False, min_rows=200)
    check_int("seed", seed, 0, MAX_SEED)
    check_path("folder", folder)
    if folder is None:
        raise TypeError("folder must be a path, got None")
    folder = Path(folder)
    steps = 2  # 200 images, batch 100
    config = train_config({"epochs": 2, "steps_per_epoch": steps}, RECIPE["lam"], seed)
    images = images[:200]

    def fresh(init: int) -> ConnectivityAutoencoder:
        with seeded(init):
            return ConnectivityAutoencoder(images.shape[1], images.shape[-1]).to(images.device)

    straight = fresh(seed)
    train_autoencoder(straight, images, config, progress=False)
    checkpoint = folder / "resume-check.pt"
    checkpoint.unlink(missing_ok=True)
    interrupted, calls = fresh(seed), 0

    def stop(_module: torch.nn.Module, _args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > steps + 1:  # second step of epoch 2
            raise KeyboardInterrupt

    interrupted.register_forward_pre_hook(stop)
    try:
        train_autoencoder(interrupted, images, config, checkpoint=checkpoint, progress=False)
        was_interrupted = False
    except KeyboardInterrupt:
        was_interrupted = True
    resumed = fresh(seed)
    history = train_autoencoder(resumed, images, config, checkpoint=checkpoint, progress=False)
    checkpoint.unlink()
    a, b = straight.state_dict(), resumed.state_dict()
    return {
        "identical": all(torch.equal(a[k], b[k]) for k in a),
        "interrupted": was_interrupted,
        "interrupted_at_step": calls,
        "epochs": len(history),
        "steps_per_epoch": steps,
        "images": len(images),
    }
