"""Seeded, resumable training: the epoch loop and the connectivity-loss autoencoders.

:func:`fit_epochs` checkpoints after every epoch (models, optimisers, history) and
the batch order and random draws of epoch ``e`` depend only on ``(seed, e)``, so a
run that is interrupted and resumed from its checkpoint ends with exactly the
weights of an uninterrupted run. Every trainer of the library is a ``step``
function handed to it.
"""

import io
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.losses import RECONSTRUCTION, branch_clouds, reconstruction_l1
from toposhape.pershom import check_p, vr_persistence0
from toposhape.results import atomic_write_bytes


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_autoencoder` (defaults: the reference recipe).

    Attributes
    ----------
    epochs : int
        Passes over the training images.
    batch_size : int
        Batch size; the last incomplete batch is dropped (as in the reference).
    lr : float
        Adam learning rate.
    lam : float
        Weight λ of the connectivity loss (0 gives a plain autoencoder).
    eta : float
        Target death time η.
    p : float
        ℓp metric of the connectivity loss (1 in the reference).
    seed : int
        Seeds the batch order of every epoch.
    steps_per_epoch : int or None
        Cap on batches per epoch (for quick profiles); None uses all.
    """

    epochs: int = 50
    batch_size: int = 100
    lr: float = 1e-3
    lam: float = 20.0
    eta: float = 2.0
    p: float = 1.0
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"need epochs >= 1 and batch_size >= 2, got {self}")
        for name in ("lam", "eta", "lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"TrainConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"TrainConfig.{name} must be finite, got {value!r}")
        if self.lam < 0 or self.eta <= 0 or self.lr <= 0:
            raise ValueError(f"need lam >= 0, eta > 0 and lr > 0, got {self}")
        check_p(self.p)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside the block, torch's CPU RNG starts from ``torch.manual_seed(seed)``.

    The global RNG state is restored on exit, so weights initialised inside depend on
    ``seed`` alone and nothing outside depends on them having been drawn.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def profile_device(name: str) -> torch.device:
    """The torch device a chapter profile names ("cpu" or "cuda").

    Raises
    ------
    RuntimeError
        If the profile names "cuda" and torch sees no GPU.
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "this profile trains on a GPU (device 'cuda') but torch sees none; run it on a "
            "machine with CUDA, or use the 'full' profile on CPU"
        )
    return torch.device(name)


def _epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + stream * 7_919_999)


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


StepFn = Callable[[torch.Tensor, torch.Generator], dict[str, torch.Tensor | float]]


def fit_epochs(
    n: int,
    step: StepFn,
    state: Mapping[str, nn.Module | torch.optim.Optimizer],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    config: Mapping,
    steps_per_epoch: int | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    description: str | None = None,
    on_epoch: Callable[[int], Mapping[str, float]] | None = None,
) -> list[dict]:
    """The seeded, resumable epoch loop every trainer of the library runs on.

    Epoch ``e`` visits ``n // batch_size`` batches (at most ``steps_per_epoch``) in an
    order that depends only on ``(seed, e)``; ``step`` also receives a generator seeded
    by ``(seed, e)`` for its own random draws (prior samples, noise), so a run that is
    interrupted and resumed from its checkpoint ends with exactly the weights of an
    uninterrupted run.

    Parameters
    ----------
    n : int
        Number of training samples.
    step : callable
        ``step(indices, generator) -> dict`` does one optimisation step on the samples
        ``indices`` (LongTensor, shape (batch_size,)) and returns scalar statistics
        (tensors or floats), averaged per epoch into the history.
    state : mapping of name to module or optimiser
        Everything whose ``state_dict`` the checkpoint must hold (models, optimisers).
    epochs, batch_size, seed : int
    config : mapping
        JSON-able description of the run; a checkpoint written with another config is
        refused, so a resumed run is never a mix of two settings.
    steps_per_epoch : int or None
        Cap on batches per epoch (quick profiles); None uses all.
    checkpoint : path, optional
        Written atomically after every epoch; if it exists, training resumes from it.
    progress : bool
        Show a progress bar.
    description : str, optional
        Label of the progress bar.
    on_epoch : callable, optional
        ``on_epoch(epoch) -> dict`` runs after every epoch (1-based), before the
        checkpoint is written; its numbers (e.g. a validation metric) join that epoch's
        history entry, so a resumed run keeps them. It must not draw from torch's global
        RNG or change the training state.

    Returns
    -------
    list of dict
        One entry per epoch: ``epoch``, the epoch means of the statistics, ``seconds``
        (training only) and whatever ``on_epoch`` returned.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"need epochs >= 1 and batch_size >= 1, got {epochs} and {batch_size}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be None or >= 1, got {steps_per_epoch}")
    if n < batch_size:
        raise ValueError(f"the training set has {n} samples, fewer than batch_size={batch_size}")
    config = json.loads(json.dumps(config))
    history: list[dict] = []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or not {"config", "history", *state} <= saved.keys():
            raise ValueError(
                f"{path} is not a training checkpoint of this trainer (a saved backbone "
                "state_dict?); delete it or pass another checkpoint path"
            )
        if saved["config"] != config:
            raise ValueError(
                f"checkpoint {path} was written with config {saved['config']}, "
                f"not {config}; delete it or use its config"
            )
        for name, obj in state.items():
            obj.load_state_dict(saved[name])
        history = json.loads(saved["history"])
    steps = n // batch_size
    if steps_per_epoch is not None:
        steps = min(steps, steps_per_epoch)
    bar = tqdm(
        total=epochs * steps, initial=len(history) * steps, disable=not progress, desc=description
    )
    for epoch in range(len(history), epochs):
        started = time.perf_counter()
        order = torch.randperm(n, generator=_epoch_generator(seed, epoch, 0))
        draws = _epoch_generator(seed, epoch, 1)
        sums: dict[str, float] = {}
        for i in range(steps):
            stats = step(order[i * batch_size : (i + 1) * batch_size], draws)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            bar.update()
            bar.set_postfix(epoch=epoch + 1, **{k: f"{float(v):.4g}" for k, v in stats.items()})
        history.append(
            {
                "epoch": epoch + 1,
                **{key: total / steps for key, total in sums.items()},
                "seconds": time.perf_counter() - started,
            }
        )
        if on_epoch is not None:
            history[-1] |= dict(on_epoch(epoch + 1))
        if path is not None:
            _save_checkpoint(
                path,
                {
                    "config": config,
                    **{name: obj.state_dict() for name, obj in state.items()},
                    "history": json.dumps(history),
                },
            )
    bar.close()
    return history


def checkpoint_epochs(path: str | Path) -> int:
    """Number of epochs a :func:`fit_epochs` checkpoint holds (0 if there is none).

    Raises
    ------
    ValueError
        If ``path`` exists but is not a training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "history" not in saved:
        raise ValueError(f"{path} is not a training checkpoint (no history)")
    return len(json.loads(saved["history"]))


def history_seconds(history: Sequence[Mapping[str, Any]]) -> float:
    """Training time recorded in a :func:`fit_epochs` history, in seconds.

    A run that resumes a checkpoint, or reuses a finished one, reports its own wall time;
    the epochs' ``seconds`` (kept in the checkpoint) are where the training time of the
    model lives, whichever process trained it.

    Parameters
    ----------
    history : sequence of dict
        One entry per epoch, each with a ``seconds`` field (training only).
    """
    return float(sum(entry["seconds"] for entry in history))


def train_autoencoder(
    model: ConnectivityAutoencoder,
    images: torch.Tensor,
    config: TrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    description: str | None = None,
) -> list[dict]:
    """Train with L1 reconstruction + λ·connectivity loss, resuming from ``checkpoint``.

    Parameters
    ----------
    model : ConnectivityAutoencoder
        Trained in place; its branches set the connectivity loss's blocks.
    images : Tensor, shape (N, C, H, W)
        Training images in [0, 1], on the model's device.
    config : TrainConfig
    checkpoint : path, optional
        Written after every epoch; if it exists, training resumes from it
        (its config must equal ``config``).
    progress : bool
        Show a progress bar.
    description : str, optional
        Label of the progress bar.

    Returns
    -------
    list of dict
        One entry per epoch: mean reconstruction loss (:func:`toposhape.losses.reconstruction_l1`,
        per image), mean connectivity loss, mean and std of the death times, wall time.

    Notes
    -----
    Weights and batches are kept in ``channels_last`` memory format (measured ~15 % faster on
    CPU for both 28×28×1 and 32×32×3 inputs); the checkpoint records it with the config.
    Results are bit-identical across an interruption at a fixed number of torch threads.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    branches = model.config["branches"]

    def step(indices: torch.Tensor, _: torch.Generator) -> dict[str, torch.Tensor]:
        batch = images[indices].contiguous(memory_format=torch.channels_last)
        reconstruction, z = model(batch)
        rec = reconstruction_l1(reconstruction, batch)
        deaths = vr_persistence0(branch_clouds(z, branches), config.p)
        conn = (config.eta - deaths).abs().sum(dim=-1).mean()  # = connectivity_loss(z)
        loss = rec + config.lam * conn if config.lam > 0 else rec
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        d = deaths.detach()
        return {
            "reconstruction_l1": rec.detach(),
            "connectivity": conn.detach(),
            "death_mean": d.mean(),
            "death_std": d.std(),
        }

    model.to(memory_format=torch.channels_last)  # ~15 % faster convolutions on CPU
    model.train()
    history = fit_epochs(
        images.shape[0],
        step,
        {"model": model, "optimiser": optimiser},
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        config={**asdict(config), "reconstruction": RECONSTRUCTION, "memory": "channels_last"},
        steps_per_epoch=config.steps_per_epoch,
        checkpoint=checkpoint,
        progress=progress,
        description=description,
    )
    model.eval()
    return history


def train_backbone(
    images: torch.Tensor,
    config: TrainConfig,
    *,
    branches: int = 16,
    branch_dim: int = 10,
    init_seed: int = 0,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    description: str | None = None,
) -> tuple[ConnectivityAutoencoder, list[dict]]:
    """Build the reference autoencoder for ``images`` and train it.

    Input channels and size are read from ``images``, so the one architecture serves
    28×28×1 and 32×32×3 data. Weights are initialised from ``torch.manual_seed(init_seed)``
    (the global RNG is restored afterwards), so two backbones that differ only in λ start
    from the same weights.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), H == W
        Training images in [0, 1]; the model is created on their device.
    config : TrainConfig
    branches, branch_dim : int
        Latent layout (16 × 10 in the reference).
    init_seed : int
    checkpoint, progress, description
        See :func:`train_autoencoder`.

    Returns
    -------
    model : ConnectivityAutoencoder
        Trained, in eval mode.
    history : list of dict
        Per-epoch statistics from :func:`train_autoencoder`.
    """
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must have shape (N, C, S, S), got {tuple(images.shape)}")
    with seeded(init_seed):
        model = ConnectivityAutoencoder(images.shape[1], images.shape[-1], branches, branch_dim)
    model = model.to(images.device)
    history = train_autoencoder(
        model, images, config, checkpoint=checkpoint, progress=progress, description=description
    )
    return model, history


def _backbone_files(path: str | Path) -> tuple[Path, Path]:
    """``<stem>.pt`` and ``<stem>.json``; a ``.pt``/``.json`` suffix of ``path`` is dropped.

    Any other dot in the name is kept (``a.backbone`` → ``a.backbone.pt``), so a backbone
    never overwrites a checkpoint called ``a.pt``.
    """
    path = Path(path)
    if path.suffix in (".pt", ".json"):
        path = path.with_suffix("")
    return path.parent / f"{path.name}.pt", path.parent / f"{path.name}.json"


def save_backbone(model: ConnectivityAutoencoder, path: str | Path) -> None:
    """Save weights as a plain ``state_dict`` (``<path>.pt``) and config (``<path>.json``)."""
    weights, config = _backbone_files(path)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(weights, buf.getvalue())
    atomic_write_bytes(config, json.dumps(model.config, indent=1).encode())


def load_backbone(path: str | Path) -> ConnectivityAutoencoder:
    """Rebuild a model saved by :func:`save_backbone`.

    Raises
    ------
    FileNotFoundError
        If ``<path>.pt`` or ``<path>.json`` is missing.
    ValueError
        If the weights do not fit the architecture the config describes.
    """
    weights, config_file = _backbone_files(path)
    for file in (weights, config_file):
        if not file.is_file():
            raise FileNotFoundError(f"backbone file {file} does not exist")
    config = json.loads(config_file.read_text())
    model = ConnectivityAutoencoder(**{**config, "widths": tuple(config["widths"])})
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"weights in {weights} do not fit {config}: {err}") from err
    model.eval()
    return model
