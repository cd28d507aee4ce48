"""Contrastive representation learning: SimCLR and its atlas variant MSimCLR (Korman 2021).

SimCLR embeds an image by a backbone and a linear map into R^d and trains a projection
head on top with the NT-Xent loss between two augmentations of every image. MSimCLR
replaces the linear map by an :class:`~toposhape.atlas.AtlasHead` (chart memberships
q(x) ∈ Δ^k and coordinates φ_j(x) ∈ [0,1]^d) and projects with one head per chart,
Σ_j q_j(x)·head_j(φ_j(x)); its loss adds the MMD to the uniform law on {1..k} × [0,1]^d
and subtracts the membership spread, as in the reference code. Evaluation is a linear
probe on the SimCLR features, and one linear classifier per chart for MSimCLR.
"""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import kornia.augmentation as K
import numpy as np
import torch
import torchvision
from kornia.augmentation import AugmentationSequential
from pytorch_metric_learning.losses import SupConLoss
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from toposhape.atlas import (
    AtlasCodes,
    AtlasHead,
    ChartwiseLinear,
    _check_backbone,
    membership_spread,
    mmd_to_uniform,
)
from toposhape.checks import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_images,
    check_int,
    check_on_model,
    check_optional_int,
    check_path,
    check_tensor,
    model_device,
)
from toposhape.training import fit_epochs, seeded

_CONV_WIDTHS = {"small": 32, "tiny": 16}  # SmallConvNet widths by backbone name
BACKBONES = (*_CONV_WIDTHS, "resnet18")
MIN_IMAGE_SIZE = 8  # three 2×2 max-pools of SmallConvNet
_SEED_MAX = 2**32 - 1  # scikit-learn's random_state


# --------------------------------------------------------------------------- augmentation


def simclr_augment(image_size: int, channels: int) -> AugmentationSequential:
    """The SimCLR augmentation of the reference code, batched with per-image parameters.

    ``RandomResizedCrop(image_size, scale=(0.2, 1.0))`` (the usual SimCLR setting),
    then with probability 0.8 ``ColorJitter(0.4, 0.4, 0.4, 0.1)`` and with probability
    0.2 ``RandomGrayscale``. For 1-channel images the colour jitter reduces to
    brightness and contrast and the grayscale step is a no-op, so both are built in
    that reduced form.

    The steps are kornia's, which draw every image's parameters independently in one
    batched call: on a CPU at one thread, 4.9× faster than calling torchvision's v2
    transforms image by image on a batch of 128 images of 1×28×28, and 4.3× faster on
    3×32×32 (``benchmarks/bench_augment.py``; ``results/bench/augment_cpu.json``). They
    compute torchvision's formulas: the crop box is sampled as torchvision samples it and
    resampled bilinearly with ``align_corners=False`` (the tests compare it with
    ``torchvision.transforms.v2.functional.resized_crop``), and the jitter's factors and
    formulas are torchvision's. One difference remains: torchvision draws the order of
    the four jitter steps per image, kornia once per batch.

    Parameters
    ----------
    image_size : int
        Side S of the output (S, S).
    channels : {1, 3}
        Channels of the images.

    Returns
    -------
    kornia.augmentation.AugmentationSequential
        Maps float images (B, C, H, W) in [0, 1] to float images (B, C, S, S) in [0, 1].
    """
    check_int("image_size", image_size, 1)
    if check_int("channels", channels) not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    crop = K.RandomResizedCrop((image_size, image_size), scale=(0.2, 1.0), align_corners=False)
    if channels == 1:
        return AugmentationSequential(crop, K.ColorJitter(0.4, 0.4, p=0.8))
    return AugmentationSequential(
        crop, K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2)
    )


def augment_batch(
    x: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator
) -> torch.Tensor:
    """Apply a batched augmentation that draws every image's parameters from one generator.

    The transform draws from the global CPU generator, so it is seeded from
    ``generator`` inside :func:`toposhape.training.seeded`: the result depends only on
    ``generator`` (which makes resumed training exact) and the global RNG state is left
    untouched. Only the CPU generator is seeded (kornia draws its parameters on the CPU
    whatever the images' device), so CUDA generators are left alone as well.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
        Float images in [0, 1], on any device.
    transform : callable
        A batched augmentation with a fixed output size and per-image parameters, e.g.
        :func:`simclr_augment`.
    generator : torch.Generator
        CPU generator; one draw seeds the whole batch.

    Returns
    -------
    Tensor, shape (B, C, S, S)
    """
    check_images("x", x, uint8=False, min_rows=1)
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__}")
    check_generator("generator", generator)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with seeded(seed):
        return transform(x)


# --------------------------------------------------------------------------- backbones


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class SmallConvNet(nn.Module):
    """A convolutional backbone small enough for CPU training on 28×28 and 32×32 images.

    Three blocks (3×3 convolution with w, 2w, 4w channels, GroupNorm with 8 groups,
    ReLU, 2×2 max-pool) and a global average pool. GroupNorm instead of BatchNorm keeps
    every sample's features independent of the rest of its batch (and the same in
    training and evaluation); the adaptive pool accepts any image side ≥ 8.

    Parameters
    ----------
    in_channels : int
    width : int
        w, a positive multiple of 8 (the GroupNorm groups): 32 for the backbone named
        ``"small"``, 16 for ``"tiny"`` (about 4× fewer multiply-adds).

    Attributes
    ----------
    out_features : int
        4w, the feature dimension.
    """

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        if check_int("width", width, 8) % 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width!r}")
        self.in_channels = in_channels
        self.out_features = 4 * width
        self.net = nn.Sequential(
            _conv_block(in_channels, width),
            _conv_block(width, 2 * width),
            _conv_block(2 * width, self.out_features),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, in_channels, H, W), H, W ≥ 8 → features (B, 4w)."""
        x = check_tensor("x", x, floating=True)
        if x.dim() != 4 or x.shape[1] != self.in_channels or min(x.shape[2:]) < MIN_IMAGE_SIZE:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, H, W) with H, W >= "
                f"{MIN_IMAGE_SIZE}, got {tuple(x.shape)}"
            )
        check_on_model("x", x, self)
        return self.net(x)


def resnet18_cifar(in_channels: int) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem and no classifier.

    The first convolution is 3×3 with stride 1 (instead of 7×7 with stride 2), the
    stem's max-pool is removed and ``fc`` is the identity.

    Parameters
    ----------
    in_channels : int
        ≥ 1.

    Returns
    -------
    nn.Module
        Images (B, in_channels, H, W) → features (B, 512); attribute ``out_features``.
    """
    check_int("in_channels", in_channels, 1)
    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    model.out_features = 512
    return model


# --------------------------------------------------------------------------- models


def _check_batch(x: object, model: nn.Module) -> torch.Tensor:
    """Float images (B, C, H, W) on the model's device (their values are not read)."""
    x = check_tensor("x", x, ndim=4, floating=True)
    check_on_model("x", x, model)
    return x


class SimCLRModel(nn.Module):
    """SimCLR: backbone → Linear(feat, d) (the features) → projection head d → h → proj_dim.

    The head is two linear maps without bias and a ReLU between them, like the
    reference code's heads, whose hidden width h is d. With h = d = 2 the head collapses
    easily (one dead unit leaves every projection on one ray); a wider ``hidden`` layer
    is the remedy the chapter measures.

    Parameters
    ----------
    backbone : nn.Module
        Images → (B, feat); must have the attribute ``out_features`` = feat.
    dim : int
        d ≥ 1, the dimension of the features.
    proj_dim : int
        Output dimension (≥ 1) of the projection head (64 in the reference).
    hidden : int, optional
        Hidden width h ≥ 1 of the head; None (the reference) uses d.
    """

    def __init__(
        self, backbone: nn.Module, dim: int, proj_dim: int = 64, hidden: int | None = None
    ) -> None:
        super().__init__()
        features = _check_backbone(backbone)
        check_int("dim", dim, 1)
        check_int("proj_dim", proj_dim, 1)
        check_optional_int("hidden", hidden, 1)
        self.config = {
            "model": "simclr",
            "backbone": type(backbone).__name__,
            "features": features,
            "dim": dim,
            "proj_dim": proj_dim,
        }
        if hidden is not None:
            self.config["hidden"] = hidden
        width = dim if hidden is None else hidden
        self.dim = dim
        self.backbone = backbone
        self.linear = nn.Linear(features, dim)
        self.head = nn.Sequential(
            nn.Linear(dim, width, bias=False), nn.ReLU(), nn.Linear(width, proj_dim, bias=False)
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) → features (B, d)."""
        return self.linear(self.backbone(_check_batch(x, self)))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) → projections (B, proj_dim), the input of NT-Xent."""
        return self.head(self.embed(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`project`."""
        return self.project(x)


class MSimCLRModel(nn.Module):
    """MSimCLR: backbone → :class:`~toposhape.atlas.AtlasHead` → Σ_j q_j · head_j(φ_j).

    Every chart j has its own projection head d → d → proj_dim (no bias, ReLU between),
    evaluated for all charts at once by two :class:`~toposhape.atlas.ChartwiseLinear`
    layers.

    Parameters
    ----------
    backbone : nn.Module
        Images → (B, feat); must have the attribute ``out_features`` = feat.
    charts : int
        k ≥ 1.
    dim : int
        d ≥ 1, the dimension of every chart.
    proj_dim : int
        Output dimension (≥ 1) of the projection heads (64 in the reference).
    """

    def __init__(self, backbone: nn.Module, charts: int, dim: int, proj_dim: int = 64) -> None:
        super().__init__()
        features = _check_backbone(backbone)
        check_int("charts", charts, 1)
        check_int("dim", dim, 1)
        check_int("proj_dim", proj_dim, 1)
        self.backbone = backbone
        self.atlas = AtlasHead(features, charts, dim)
        self.heads = nn.Sequential(
            ChartwiseLinear(charts, dim, dim, bias=False),
            nn.ReLU(),
            ChartwiseLinear(charts, dim, proj_dim, bias=False),
        )
        self.config = {
            "model": "msimclr",
            "backbone": type(backbone).__name__,
            "features": features,
            "charts": charts,
            "dim": dim,
            "proj_dim": proj_dim,
        }

    @property
    def charts(self) -> int:
        """k, the number of charts."""
        return self.atlas.charts

    @property
    def dim(self) -> int:
        """d, the dimension of every chart."""
        return self.atlas.dim

    def encode(self, x: torch.Tensor) -> AtlasCodes:
        """Images (B, C, H, W) → codes: q (B, k) and logits (B, k, d)."""
        return self.atlas(self.backbone(_check_batch(x, self)))

    def project_codes(self, codes: AtlasCodes) -> torch.Tensor:
        """Codes → Σ_j q_j · head_j(φ_j), shape (B, proj_dim)."""
        if not isinstance(codes, AtlasCodes):
            raise TypeError(f"codes must be AtlasCodes, got {type(codes).__name__}")
        q = check_tensor("codes.q", codes.q, ndim=2, floating=True)
        if q.shape[1] != self.charts:
            raise ValueError(f"codes.q must have shape (B, {self.charts}), got {tuple(q.shape)}")
        return torch.einsum("bk,bkp->bp", codes.q, self.heads(codes.coords))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) → projections (B, proj_dim), the input of NT-Xent."""
        return self.project_codes(self.encode(x))

    def forward(self, x: torch.Tensor) -> tuple[AtlasCodes, torch.Tensor]:
        """Images (B, C, H, W) → ``(codes, projections (B, proj_dim))``."""
        codes = self.encode(x)
        return codes, self.project_codes(codes)


def _backbone(backbone_name: str, in_channels: int) -> nn.Module:
    if backbone_name in _CONV_WIDTHS:
        return SmallConvNet(in_channels, _CONV_WIDTHS[backbone_name])
    return resnet18_cifar(in_channels)


def _build_config(backbone_name: str, in_channels: int, image_size: int, seed: int) -> dict:
    """The build's arguments, checked (the model's own are checked by the caller)."""
    check_choice("backbone_name", backbone_name, BACKBONES)
    check_int("in_channels", in_channels, 1)
    check_int("image_size", image_size, MIN_IMAGE_SIZE)
    check_int("seed", seed, 0)
    return {
        "backbone": backbone_name,
        "in_channels": in_channels,
        "image_size": image_size,
        "init_seed": seed,
    }


def build_simclr(
    backbone_name: str,
    in_channels: int,
    image_size: int,
    dim: int,
    seed: int,
    proj_dim: int = 64,
    hidden: int | None = None,
) -> SimCLRModel:
    """A :class:`SimCLRModel` with weights initialised from ``torch.manual_seed(seed)``.

    The global RNG is restored afterwards. The model is on the CPU; its ``config``
    records the arguments (so a checkpoint of another build is refused).

    Parameters
    ----------
    backbone_name : {"small", "tiny", "resnet18"}
        :class:`SmallConvNet` of width 32 or 16, or :func:`resnet18_cifar`.
    in_channels : int
    image_size : int
        Side of the (augmented) training images, ≥ 8.
    dim : int
        d ≥ 1.
    seed : int
        ≥ 0.
    proj_dim : int
    hidden : int, optional
        Hidden width of the projection head (None: d, the reference).
    """
    backbone_config = _build_config(backbone_name, in_channels, image_size, seed)
    check_int("dim", dim, 1)
    check_int("proj_dim", proj_dim, 1)
    check_optional_int("hidden", hidden, 1)
    with seeded(seed):
        backbone = _backbone(backbone_name, in_channels)
        model = SimCLRModel(backbone, dim, proj_dim, hidden)
    model.config |= backbone_config
    return model


def build_msimclr(
    backbone_name: str,
    in_channels: int,
    image_size: int,
    charts: int,
    dim: int,
    seed: int,
    proj_dim: int = 64,
) -> MSimCLRModel:
    """A :class:`MSimCLRModel` with weights initialised from ``torch.manual_seed(seed)``.

    The global RNG is restored afterwards. The model is on the CPU; its ``config``
    records the arguments (so a checkpoint of another build is refused).

    Parameters
    ----------
    backbone_name : {"small", "tiny", "resnet18"}
        :class:`SmallConvNet` of width 32 or 16, or :func:`resnet18_cifar`.
    in_channels : int
    image_size : int
        Side of the (augmented) training images, ≥ 8.
    charts : int
        k ≥ 1.
    dim : int
        d ≥ 1.
    seed : int
        ≥ 0.
    proj_dim : int
    """
    backbone_config = _build_config(backbone_name, in_channels, image_size, seed)
    check_int("charts", charts, 1)
    check_int("dim", dim, 1)
    check_int("proj_dim", proj_dim, 1)
    with seeded(seed):
        backbone = _backbone(backbone_name, in_channels)
        model = MSimCLRModel(backbone, charts, dim, proj_dim)
    model.config |= backbone_config
    return model


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ContrastiveConfig:
    """Settings of :func:`train_contrastive` (defaults: the reference code).

    Attributes
    ----------
    epochs : int
    batch_size : int
        Images per step (≥ 2); every image gives two views. The last incomplete batch
        is dropped.
    lr, weight_decay : float
        Adam's learning rate and (L2) weight decay.
    temperature : float
        τ > 0 of NT-Xent (1.0 for (F)MNIST, 0.5 for CIFAR-10 in the reference).
    mmd_weight : float
        Weight of the MMD to the uniform law (MSimCLR only).
    membership_weight : float
        Weight of the membership spread, subtracted (MSimCLR only).
    seed : int
        Seeds the batch order, the augmentations and the MMD's prior draws.
    steps_per_epoch : int or None
        Cap on batches per epoch; None uses all.
    """

    epochs: int
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 2e-6
    temperature: float = 1.0
    mmd_weight: float = 20.0
    membership_weight: float = 0.1
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 2)
        check_float("lr", self.lr, 0.0, low_open=True)
        check_float("temperature", self.temperature, 0.0, low_open=True)
        for name in ("weight_decay", "mmd_weight", "membership_weight"):
            check_float(name, getattr(self, name), 0.0)
        check_int("seed", self.seed, 0)
        check_optional_int("steps_per_epoch", self.steps_per_epoch, 1)


def _check_contrastive_model(model: object) -> None:
    if not isinstance(model, SimCLRModel | MSimCLRModel):
        raise TypeError(f"model must be a SimCLRModel or MSimCLRModel, got {type(model).__name__}")


def train_contrastive(
    model: SimCLRModel | MSimCLRModel,
    images: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    config: ContrastiveConfig,
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train SimCLR (NT-Xent) or MSimCLR (NT-Xent + MMD − membership spread).

    Every step augments its batch twice with :func:`augment_batch` (randomness from the
    step's generator), projects both views in one forward pass and computes NT-Xent on
    the 2B projections labelled ``(0..B−1, 0..B−1)``: each view's positive is the other
    view of its image and the other 2B − 2 projections are its negatives (cosine
    similarity, temperature τ). It is computed as
    ``pytorch_metric_learning.losses.SupConLoss(τ)``, which with exactly two views per
    label is NT-Xent term for term (the denominator holds the positive and the 2B − 2
    negatives) in O(B²) memory; the library's ``NTXentLoss`` gives the same value but
    builds a (2B × 2B(2B − 2)) matrix, 20× slower at B = 128. MSimCLR adds
    ``mmd_weight · mmd_to_uniform`` of the codes of both views and subtracts
    ``membership_weight · membership_spread`` of their memberships.

    ``config.epochs`` is not part of the run's identity (the epoch loop's epoch e does not
    depend on how many follow), so a finished run is extended by calling again with more
    epochs and the same checkpoint: it resumes and ends with the weights of a run asked
    for the larger number from the start.

    Parameters
    ----------
    model : SimCLRModel or MSimCLRModel
        Trained in place (Adam).
    images : Tensor, shape (N, C, H, W)
        Training images in [0, 1], on the model's device; N ≥ ``config.batch_size``.
    transform : callable
        Batched augmentation, e.g. :func:`simclr_augment`; its ``repr`` is part of the
        checkpoint's config.
    config : ContrastiveConfig
    checkpoint : path, optional
        Written after every epoch; training resumes from it (see
        :func:`toposhape.training.fit_epochs`). A checkpoint with more epochs than
        ``config.epochs`` is loaded as it is (its history is returned whole).
    progress : bool

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``loss``, ``ntxent``, for MSimCLR also ``mmd`` and
        ``spread``, and ``seconds``.
    """
    _check_contrastive_model(model)
    images = check_tensor("images", images)
    check_on_model("images", images, model)
    check_images("images", images, uint8=False, min_rows=1)
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__}")
    if not isinstance(config, ContrastiveConfig):
        raise TypeError(f"config must be a ContrastiveConfig, got {type(config).__name__}")
    check_path("checkpoint", checkpoint)
    check_bool("progress", progress)
    atlas = isinstance(model, MSimCLRModel)
    ntxent = SupConLoss(temperature=config.temperature)  # = NT-Xent here, see above
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def step(indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        x = images[indices]
        b = x.shape[0]
        views = torch.cat([augment_batch(x, transform, generator) for _ in range(2)])
        labels = torch.arange(b, device=x.device).repeat(2)
        if atlas:
            codes, projections = model(views)
        else:
            projections = model(views)
        contrastive = ntxent(projections, labels)
        stats = {"ntxent": contrastive.detach()}
        loss = contrastive
        if atlas:
            mmd = mmd_to_uniform(codes, generator)
            spread = membership_spread(codes.q)
            loss = loss + config.mmd_weight * mmd - config.membership_weight * spread
            stats |= {"mmd": mmd.detach(), "spread": spread.detach()}
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach(), **stats}

    name = f"msimclr k={model.charts} d={model.dim}" if atlas else f"simclr d={model.dim}"
    model.train()
    history = fit_epochs(
        images,
        step,
        {"model": model, "optimiser": optimiser},
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        config={
            "contrastive": {k: v for k, v in asdict(config).items() if k != "epochs"},
            "loss": "SupConLoss",
            "model": model.config,
            "augment": repr(transform),
        },
        steps_per_epoch=config.steps_per_epoch,
        checkpoint=checkpoint,
        progress=progress,
        description=name,
    )
    model.eval()
    return history


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def features(
    model: SimCLRModel | MSimCLRModel, images: torch.Tensor, batch_size: int = 1024
) -> dict[str, torch.Tensor]:
    """The representation the probes read, computed in chunks without gradients.

    Parameters
    ----------
    model : SimCLRModel or MSimCLRModel
        Evaluated in eval mode (its mode is restored afterwards).
    images : Tensor, shape (N, C, H, W)
        Pixels in [0, 1], N ≥ 1, on any device; chunks are moved to the model's device.
    batch_size : int
        Chunk size, ≥ 1.

    Returns
    -------
    dict of str to Tensor, on the CPU
        SimCLR: ``embedding`` (N, d). MSimCLR: ``chart`` (N,) = argmax_j q_j(x),
        ``coords`` (N, d) = φ of that chart, ``q`` (N, k).
    """
    _check_contrastive_model(model)
    check_images("images", images, uint8=False, min_rows=1)
    check_int("batch_size", batch_size, 1)
    device = model_device(model)
    training = model.training
    model.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    for chunk in images.split(batch_size):
        chunk = chunk.to(device)
        if isinstance(model, MSimCLRModel):
            codes = model.encode(chunk)
            chart = codes.chart
            out = {
                "chart": chart,
                "coords": codes.coords[torch.arange(chart.shape[0], device=device), chart],
                "q": codes.q,
            }
        else:
            out = {"embedding": model.embed(chunk)}
        for key, value in out.items():
            parts.setdefault(key, []).append(value.cpu())
    model.train(training)
    return {key: torch.cat(values) for key, values in parts.items()}


def _check_lengths(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"these must have the same length: {lengths}")


def _check_probe_data(
    train_feats: object, train_y: object, test_feats: object, test_y: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and test features (N, D), (M, D) with their int labels, checked."""
    x_train = check_array("train_feats", train_feats, 2)
    y_train = check_array("train_y", train_y, 1, integer=True)
    x_test = check_array("test_feats", test_feats, 2)
    y_test = check_array("test_y", test_y, 1, integer=True)
    _check_lengths(train_feats=x_train, train_y=y_train)
    _check_lengths(test_feats=x_test, test_y=y_test)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"train_feats and test_feats have different dimensions: {x_train.shape[1]} "
            f"and {x_test.shape[1]}"
        )
    return x_train, y_train, x_test, y_test


def _logistic(seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


def linear_probe(
    train_feats: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_feats: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    seed: int = 0,
) -> float:
    """Test accuracy of a linear classifier trained on the training features.

    scikit-learn's ``LogisticRegression(max_iter=1000)`` on features standardised with
    the training set's mean and standard deviation.

    Parameters
    ----------
    train_feats : array, shape (N, D)
    train_y : array of int, shape (N,)
    test_feats : array, shape (M, D)
    test_y : array of int, shape (M,)
    seed : int
        ``random_state`` of the classifier, in [0, 2^32 − 1].

    Returns
    -------
    float
        Accuracy on the test set.
    """
    x_train, y_train, x_test, y_test = _check_probe_data(train_feats, train_y, test_feats, test_y)
    check_int("seed", seed, 0, _SEED_MAX)
    if len(np.unique(y_train)) < 2:
        raise ValueError("train_y must hold at least two classes")
    classifier = _logistic(seed).fit(x_train, y_train)
    return float(np.mean(classifier.predict(x_test) == y_test))


def representation(
    model: SimCLRModel | MSimCLRModel, feats: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The vector the chapter's linear and k-NN probes read, one per image.

    SimCLR: its embedding (N, d). MSimCLR with k charts: ``[√d · onehot(i*), φ_{i*}(x)]``
    (N, k + d), the chart i* = argmax_j q_j(x) as a one-hot vector scaled by √d beside the
    point's coordinates in it. The scale puts two points of different charts (distance
    ≥ √(2d)) farther apart than any two of one chart (≤ √d, the diagonal of [0,1]^d), so
    Euclidean neighbours are found within the point's chart first, as with the blog's
    chart distance (∞ across charts); a linear probe on standardised features is blind
    to it.

    Parameters
    ----------
    model : SimCLRModel or MSimCLRModel
        The model ``feats`` came from.
    feats : dict of str to Tensor
        :func:`features` of ``model`` on N images.

    Returns
    -------
    Tensor, float32, on the CPU, shape (N, d) or (N, k + d)
    """
    _check_contrastive_model(model)
    if isinstance(model, SimCLRModel):
        return check_tensor("feats['embedding']", feats.get("embedding"), ndim=2)
    chart = check_tensor("feats['chart']", feats.get("chart"), ndim=1)
    coords = check_tensor("feats['coords']", feats.get("coords"), ndim=2, floating=True)
    onehot = torch.nn.functional.one_hot(chart, model.charts).to(coords.dtype)
    return torch.cat([math.sqrt(model.dim) * onehot, coords], dim=1)


def knn_probe(
    train_feats: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_feats: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    neighbours: int = 20,
) -> float:
    """Test accuracy of a k-nearest-neighbour vote among the training features.

    scikit-learn's ``KNeighborsClassifier(neighbours)`` (uniform votes, Euclidean distance)
    on the features as they are: no standardisation, so the probe reads the geometry of
    the representation itself.

    Parameters
    ----------
    train_feats : array, shape (N, D)
    train_y : array of int, shape (N,)
    test_feats : array, shape (M, D)
    test_y : array of int, shape (M,)
    neighbours : int
        k, in [1, N].

    Returns
    -------
    float
        Accuracy on the test set.
    """
    x_train, y_train, x_test, y_test = _check_probe_data(train_feats, train_y, test_feats, test_y)
    check_int("neighbours", neighbours, 1, len(x_train))
    classifier = KNeighborsClassifier(neighbours).fit(x_train, y_train)
    return float(np.mean(classifier.predict(x_test) == y_test))


def chart_probe(
    train_chart: torch.Tensor | np.ndarray,
    train_coords: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_chart: torch.Tensor | np.ndarray,
    test_coords: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    seed: int = 0,
    *,
    charts: int | None = None,
) -> dict:
    """Test accuracy of one linear classifier per chart (the MSimCLR evaluation).

    A point x is classified by the classifier L_{i*} of its chart i* = argmax_j q_j(x),
    applied to its coordinates φ_{i*}(x). L_j is a ``LogisticRegression(max_iter=1000)``
    on the standardised coordinates of the training points of chart j; a chart whose
    training points all have one class predicts that class, and a chart without
    training points predicts the most frequent class of the whole training set.

    Parameters
    ----------
    train_chart : array of int, shape (N,)
    train_coords : array, shape (N, d)
    train_y : array of int, shape (N,)
    test_chart : array of int, shape (M,)
    test_coords : array, shape (M, d)
    test_y : array of int, shape (M,)
    seed : int
        ``random_state`` of the classifiers, in [0, 2^32 − 1].
    charts : int, optional
        k ≥ 1; by default one more than the largest chart index seen.

    Returns
    -------
    dict
        ``accuracy`` (float), ``train_counts`` and ``test_counts`` (lists of k ints,
        the points per chart).
    """
    c_train = check_array("train_chart", train_chart, 1, integer=True).astype(np.int64)
    x_train = check_array("train_coords", train_coords, 2)
    y_train = check_array("train_y", train_y, 1, integer=True)
    c_test = check_array("test_chart", test_chart, 1, integer=True).astype(np.int64)
    x_test = check_array("test_coords", test_coords, 2)
    y_test = check_array("test_y", test_y, 1, integer=True)
    check_int("seed", seed, 0, _SEED_MAX)
    check_optional_int("charts", charts, 1)
    _check_lengths(train_chart=c_train, train_coords=x_train, train_y=y_train)
    _check_lengths(test_chart=c_test, test_coords=x_test, test_y=y_test)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"train_coords and test_coords have different dimensions: {x_train.shape[1]} "
            f"and {x_test.shape[1]}"
        )
    seen = int(max(c_train.max(), c_test.max())) + 1
    k = seen if charts is None else charts
    if min(c_train.min(), c_test.min()) < 0 or seen > k:
        raise ValueError(f"train_chart and test_chart must lie in [0, {k}) (charts={k})")
    classes, counts = np.unique(y_train, return_counts=True)
    majority = classes[np.argmax(counts)]
    predictions = np.empty_like(y_test)
    for j in range(k):
        test_j = c_test == j
        if not test_j.any():
            continue
        train_j = c_train == j
        labels = np.unique(y_train[train_j])
        if len(labels) == 0:
            predictions[test_j] = majority
        elif len(labels) == 1:
            predictions[test_j] = labels[0]
        else:
            classifier = _logistic(seed).fit(x_train[train_j], y_train[train_j])
            predictions[test_j] = classifier.predict(x_test[test_j])
    return {
        "accuracy": float(np.mean(predictions == y_test)),
        "train_counts": np.bincount(c_train, minlength=k).tolist(),
        "test_counts": np.bincount(c_test, minlength=k).tolist(),
    }
