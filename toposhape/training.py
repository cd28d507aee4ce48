"""Seeded, resumable training of autoencoders with the connectivity loss.

The loop checkpoints after every epoch (model, optimiser, history) and the
batch order of epoch ``e`` depends only on ``(seed, e)``, so a run that is
interrupted and resumed from its checkpoint ends with exactly the weights of
an uninterrupted run.
"""

import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.losses import branch_clouds
from toposhape.pershom import vr_persistence0
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
        if self.lam < 0 or self.eta <= 0 or self.lr <= 0:
            raise ValueError(f"need lam >= 0, eta > 0 and lr > 0, got {self}")


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def train_autoencoder(
    model: ConnectivityAutoencoder,
    images: torch.Tensor,
    config: TrainConfig,
    checkpoint: str | Path | None = None,
    progress: bool = True,
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

    Returns
    -------
    list of dict
        One entry per epoch: mean reconstruction loss, mean connectivity
        loss, mean and std of the death times, wall time.
    """
    n = images.shape[0]
    if n < config.batch_size:
        raise ValueError(f"images has {n} samples, fewer than batch_size={config.batch_size}")
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not {"config", "model", "optimiser"} <= state.keys():
            raise ValueError(
                f"{path} is not a training checkpoint of train_autoencoder (a saved backbone "
                "state_dict?); delete it or pass another checkpoint path"
            )
        if state["config"] != asdict(config):
            raise ValueError(
                f"checkpoint {path} was written with config {state['config']}, "
                f"not {asdict(config)}; delete it or use its config"
            )
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        history = json.loads(state["history"])
    branches = model.config["branches"]
    steps = n // config.batch_size
    if config.steps_per_epoch is not None:
        steps = min(steps, config.steps_per_epoch)
    bar = tqdm(total=config.epochs * steps, initial=len(history) * steps, disable=not progress)
    model.train()
    for epoch in range(len(history), config.epochs):
        started = time.perf_counter()
        order = _epoch_order(n, config.seed, epoch)
        sums = torch.zeros(4, dtype=torch.float64)
        for step in range(steps):
            batch = images[order[step * config.batch_size : (step + 1) * config.batch_size]]
            reconstruction, z = model(batch)
            rec = nn.functional.l1_loss(reconstruction, batch)
            deaths = vr_persistence0(branch_clouds(z, branches), config.p)
            conn = (config.eta - deaths).abs().sum(dim=-1).mean()  # = connectivity_loss(z)
            loss = rec + config.lam * conn if config.lam > 0 else rec
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            d = deaths.detach().double()
            sums += torch.stack([rec.detach().double(), conn.detach().double(), d.mean(), d.std()])
            bar.update()
            bar.set_postfix(epoch=epoch + 1, rec=f"{rec.item():.4f}", conn=f"{conn.item():.1f}")
        means = (sums / steps).tolist()
        history.append(
            {
                "epoch": epoch + 1,
                "reconstruction_l1": means[0],
                "connectivity": means[1],
                "death_mean": means[2],
                "death_std": means[3],
                "seconds": time.perf_counter() - started,
            }
        )
        if path is not None:
            _save_checkpoint(
                path,
                {
                    "config": asdict(config),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "history": json.dumps(history),
                },
            )
    bar.close()
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
    checkpoint, progress
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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = ConnectivityAutoencoder(images.shape[1], images.shape[-1], branches, branch_dim)
    model = model.to(images.device)
    history = train_autoencoder(model, images, config, checkpoint=checkpoint, progress=progress)
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
