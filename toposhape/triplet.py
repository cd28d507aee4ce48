"""Manifold triplet learning (Korman 2021): triplet loss on the chart distance of an atlas.

A backbone's features go through an :class:`~toposhape.atlas.AtlasHead` (k charts of
dimension d, :class:`ManifoldEmbedder`) and a triplet loss with margin 0.2 over all valid
triplets of the batch is taken on the chart distance d_{q,φ}, plus λ·MMD to the uniform law on
{1..k} × [0,1]^d, minus 0.1·membership spread; the baseline (:class:`EuclideanEmbedder`) is a
linear layer, L2-normalised, with the triplet loss on the Euclidean distance. Batches hold m
classes × k images (8 × 4 in the reference). Retrieval is measured on held-out *classes*:
Recall@1/2/4/8 and MAP@R.

The losses, miners and the accuracy calculator are those of pytorch-metric-learning (pml):
:class:`ChartDistance` is a pml distance on atlas codes packed into one flat embedding,
``[q, φ.flatten()]`` of width k + k·d (:func:`pack_codes`).

Two defects of the reference code are avoided: its class-balanced sampler never advanced
(here every batch is a fresh draw from the epoch's seeded generator), and CUB-200-2011 and
Cars196 are split by class *id* (CUB 1–100 / 101–200, Cars 1–98 / 99–196), not by the
alphabetical order of folder names (:func:`load_cub200`, :func:`load_cars196`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import scipy.io
import torch
from PIL import Image
from pytorch_metric_learning.distances import BaseDistance, LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.samplers import MPerClassSampler
from pytorch_metric_learning.utils import accuracy_calculator as pml_accuracy
from pytorch_metric_learning.utils import common_functions as pml_common
from pytorch_metric_learning.utils.inference import CustomKNN
from torch import nn

from toposhape.atlas import DISTANCES as VARIANTS
from toposhape.atlas import (
    AtlasCodes,
    AtlasHead,
    _check_backbone,
    _check_codes,
    _check_memberships,
    chart_distance,
    membership_spread,
    mmd_to_uniform,
)
from toposhape.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_labels,
    check_on_model,
    check_optional_int,
    check_path,
    check_same_device,
    check_sequence,
    check_tensor,
)
from toposhape.data import user_root
from toposhape.training import fit_epochs

__all__ = [
    "CARS196_TRAIN_CLASSES",
    "CUB200_TRAIN_CLASSES",
    "DISTANCES",
    "NO_SHARED_CHART",
    "OPTIMISERS",
    "ChartDistance",
    "EuclideanEmbedder",
    "ManifoldEmbedder",
    "RecallAccuracyCalculator",
    "TripletConfig",
    "class_batches",
    "class_split",
    "embed",
    "embedding_distance",
    "evaluate_retrieval",
    "hard_read",
    "load_cars196",
    "load_cub200",
    "pack_codes",
    "read_images",
    "retrieval_metrics",
    "train_triplet",
    "unpack",
]

#: The two metric spaces trained here: the atlas's chart distance and the Euclidean baseline.
DISTANCES = ("chart", "euclidean")
OPTIMISERS = ("rmsprop", "adam")
#: Finite stand-in for the "blog" chart distance ∞ between samples that share no chart:
#: far above any real distance (at most √d), and finite, so losses and gradients stay finite.
NO_SHARED_CHART = 1e6
#: Classes 1 … 100 of CUB-200-2011 train, 101 … 200 are held out.
CUB200_TRAIN_CLASSES = 100
#: Classes 1 … 98 of Stanford Cars train, 99 … 196 are held out.
CARS196_TRAIN_CLASSES = 98
_SEED_MAX = 2**32 - 1  # numpy's RandomState, which pml's sampler draws from


def _check_ks(ks: object) -> tuple[int, ...]:
    """The k of Recall@k: a non-empty sequence of ints ≥ 1."""
    check_sequence("ks", ks)
    return tuple(check_int("every k of ks", k, 1) for k in ks)


# --------------------------------------------------------------------------- chart distance


def pack_codes(codes: AtlasCodes) -> torch.Tensor:
    """Atlas codes as one flat embedding ``[q, φ.flatten()]``, what pml's losses expect.

    Parameters
    ----------
    codes : AtlasCodes
        q (B, k) and logits (B, k, d).

    Returns
    -------
    Tensor, shape (B, k + k·d)
        Memberships, then the chart coordinates φ = sigmoid(logits), chart after chart.
    """
    codes = _check_codes("codes", codes)
    return torch.cat([codes.q, codes.coords.flatten(1)], dim=1)


def unpack(emb: torch.Tensor, charts: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_codes`.

    Parameters
    ----------
    emb : Tensor, shape (B, k + k·d)
        Of a floating dtype (its values are not read).
    charts, dim : int
        k ≥ 1 and d ≥ 1.

    Returns
    -------
    q : Tensor, shape (B, k)
    coords : Tensor, shape (B, k, d)
    """
    check_int("charts", charts, 1)
    check_int("dim", dim, 1)
    return _split("emb", emb, charts, dim)


def _split(name: str, emb: object, charts: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`unpack` of checked ``charts`` and ``dim``, naming the embedding ``name``."""
    emb = check_tensor(name, emb, floating=True)
    width = charts + charts * dim
    if emb.dim() != 2 or emb.shape[1] != width:
        raise ValueError(
            f"{name} must have shape (B, k + k·d) = (B, {width}) for charts={charts}, "
            f"dim={dim}, got {tuple(emb.shape)}"
        )
    return emb[:, :charts], emb[:, charts:].reshape(-1, charts, dim)


def hard_read(emb: torch.Tensor, charts: int, dim: int) -> torch.Tensor:
    """Packed codes read with a hard chart assignment: memberships one-hot at argmax_j q_j.

    What a store of the chart id and that chart's d coordinates can answer: under
    :class:`ChartDistance`, two hard codes are at the Euclidean distance of their
    coordinates when their charts agree and share no chart otherwise. The other charts'
    coordinates are kept in place (their weight is 0), so the result packs like the input.
    A query alone in its chart has only neighbours at :data:`NO_SHARED_CHART`; a k-NN
    search returns some of them in its own tie order, where a store would return none.

    Parameters
    ----------
    emb : Tensor, shape (B, k + k·d)
        Packed codes (:func:`pack_codes`).
    charts, dim : int
        k ≥ 1 and d ≥ 1.

    Returns
    -------
    Tensor, shape (B, k + k·d)
        The same codes with q replaced by one-hot(argmax q) (the first chart on ties).
    """
    q, _ = unpack(emb, charts, dim)
    hard = nn.functional.one_hot(q.argmax(dim=1), charts).to(emb.dtype)
    return torch.cat([hard, emb[:, charts:]], dim=1)


class ChartDistance(BaseDistance):
    """The chart distance d_{q,φ} as a pml distance, on codes packed by :func:`pack_codes`.

    Usable wherever pml takes a ``distance``: ``TripletMarginLoss(distance=...)``, miners,
    ``CustomKNN``. The embeddings are never normalised and smaller means closer
    (``is_inverted=False``). The "blog" variant's ∞ (no shared chart) is replaced by
    :data:`NO_SHARED_CHART`, a constant: a triplet whose positive shares no chart with its
    anchor adds about 1e6 to the loss's value but nothing to its gradient, and one whose
    negative shares none with it has a zero loss.

    Parameters
    ----------
    charts, dim : int
        k and d of the packed codes.
    variant : {"blog", "code"}
        See :func:`toposhape.atlas.chart_distance`.
    """

    def __init__(self, charts: int, dim: int, variant: str = "blog") -> None:
        check_int("charts", charts, 1)
        check_int("dim", dim, 1)
        check_choice("variant", variant, VARIANTS)
        super().__init__(normalize_embeddings=False, is_inverted=False)
        self.charts, self.dim, self.variant = charts, dim, variant

    def _unpack(self, name: str, emb: object) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`unpack`, then the memberships and coordinates checked, named by ``name``."""
        q, coords = _split(name, check_tensor(name, emb, min_rows=1), self.charts, self.dim)
        _check_memberships(f"{name}[:, :k]", q)
        check_tensor(f"{name}[:, k:]", coords, finite=True)
        return q, coords

    def compute_mat(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        """Distances between all pairs: (N, k + k·d) × (M, k + k·d) → (N, M)."""
        check_same_device(query_emb=query_emb, ref_emb=ref_emb)
        q_a, coords_a = self._unpack("query_emb", query_emb)
        q_b, coords_b = self._unpack("ref_emb", ref_emb)
        return chart_distance(q_a, coords_a, q_b, coords_b, self.variant).clamp_max(NO_SHARED_CHART)

    def pairwise_distance(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        """Distances between paired rows: (B, k + k·d) × (B, k + k·d) → (B,)."""
        query_emb = check_tensor("query_emb", query_emb)
        ref_emb = check_tensor("ref_emb", ref_emb)
        if query_emb.shape != ref_emb.shape:
            raise ValueError(
                f"paired embeddings must have equal shapes, got {tuple(query_emb.shape)} "
                f"and {tuple(ref_emb.shape)}"
            )
        check_same_device(query_emb=query_emb, ref_emb=ref_emb)
        q_a, coords_a = self._unpack("query_emb", query_emb)
        q_b, coords_b = self._unpack("ref_emb", ref_emb)
        both = q_a * q_b  # (B, k)
        if self.variant == "blog":
            per_chart = torch.linalg.vector_norm(coords_a - coords_b, dim=2)
        else:
            per_chart = (coords_a - coords_b).pow(2).sum(dim=2) / self.dim
        weight = both.sum(dim=1)
        shared = weight > 0
        dist = (both * per_chart).sum(dim=1) / torch.where(shared, weight, 1.0)
        fill = NO_SHARED_CHART if self.variant == "blog" else 1.0
        return torch.where(shared, dist, fill)


# --------------------------------------------------------------------------- models


def _check_input(x: object, model: nn.Module) -> torch.Tensor:
    """A tensor on the model's device (its backbone checks the rest)."""
    x = check_tensor("x", x)
    check_on_model("x", x, model)
    return x


class ManifoldEmbedder(nn.Module):
    """Backbone → :class:`~toposhape.atlas.AtlasHead`: k charts of dimension d.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch of images to features (B, backbone.out_features).
    charts : int
        k ≥ 1 (one chart with no MMD is the "unnormalised" model of the 64-d study).
    dim : int
        d ≥ 1.
    """

    distance = "chart"

    def __init__(self, backbone: nn.Module, charts: int, dim: int) -> None:
        super().__init__()
        features = _check_backbone(backbone)
        check_int("charts", charts, 1)
        check_int("dim", dim, 1)
        self.backbone = backbone
        self.head = AtlasHead(features, charts, dim)
        self.config = {
            "distance": self.distance,
            "backbone": type(backbone).__name__,
            "features": features,
            "charts": charts,
            "dim": dim,
        }

    @property
    def charts(self) -> int:
        """k, the number of charts."""
        return self.head.charts

    @property
    def dim(self) -> int:
        """d, the dimension of every chart."""
        return self.head.dim

    def forward(self, x: torch.Tensor) -> AtlasCodes:
        """Images (B, ...) → :class:`~toposhape.atlas.AtlasCodes` q (B, k), logits (B, k, d)."""
        return self.head(self.backbone(_check_input(x, self)))


class EuclideanEmbedder(nn.Module):
    """The baseline: backbone → Linear(features, dim), L2-normalised if ``normalise``.

    Parameters
    ----------
    backbone : nn.Module
        Maps a batch of images to features (B, backbone.out_features).
    dim : int
        Output size. The reference compares a d-dimensional atlas with a baseline of d + 1
        outputs on the unit sphere (a d-dimensional manifold): pass ``dim=d + 1`` for that.
    normalise : bool
        Project the outputs onto the unit sphere.
    """

    distance = "euclidean"

    def __init__(self, backbone: nn.Module, dim: int, normalise: bool = True) -> None:
        super().__init__()
        features = _check_backbone(backbone)
        check_int("dim", dim, 1)
        check_bool("normalise", normalise)
        self.backbone = backbone
        self.linear = nn.Linear(features, dim)
        self.normalise = normalise
        self.config = {
            "distance": self.distance,
            "backbone": type(backbone).__name__,
            "features": features,
            "dim": dim,
            "normalise": normalise,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, ...) → embeddings (B, dim), unit norm if ``normalise``."""
        out = self.linear(self.backbone(_check_input(x, self)))
        return nn.functional.normalize(out, dim=1) if self.normalise else out


Embedder = ManifoldEmbedder | EuclideanEmbedder


def _check_model(model: object) -> None:
    if not isinstance(model, ManifoldEmbedder | EuclideanEmbedder):
        raise TypeError(
            f"model must be a ManifoldEmbedder or EuclideanEmbedder, got {type(model).__name__}"
        )


def embedding_distance(model: Embedder, variant: str = "blog") -> BaseDistance:
    """The pml distance between the embeddings :func:`embed` gives for ``model``.

    Parameters
    ----------
    model : ManifoldEmbedder or EuclideanEmbedder
    variant : {"blog", "code"}
        Chart-distance variant (ManifoldEmbedder only).

    Returns
    -------
    BaseDistance
        :class:`ChartDistance` on packed codes, or the Euclidean distance on the embeddings
        as they are (already normalised when ``model.normalise``).
    """
    _check_model(model)
    check_choice("variant", variant, VARIANTS)
    if isinstance(model, ManifoldEmbedder):
        return ChartDistance(model.charts, model.dim, variant)
    return LpDistance(normalize_embeddings=False)


def _embedding(model: Embedder, x: torch.Tensor) -> tuple[torch.Tensor, AtlasCodes | None]:
    out = model(x)
    if isinstance(out, AtlasCodes):
        return pack_codes(out), out
    return out, None


def _check_images(images: object, model: nn.Module) -> torch.Tensor:
    """Finite floating images (N, ...), N ≥ 1, on the model's device."""
    images = check_tensor("images", images, floating=True, min_rows=1)
    check_on_model("images", images, model)
    return check_tensor("images", images, finite=True)


@torch.no_grad()
def embed(model: Embedder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Embeddings of ``images`` in eval mode (the model's mode is restored afterwards).

    Parameters
    ----------
    model : ManifoldEmbedder or EuclideanEmbedder
    images : Tensor, shape (N, ...)
        Finite, N ≥ 1, on the model's device.
    batch_size : int
        ≥ 1.

    Returns
    -------
    Tensor, shape (N, k + k·d) (packed codes) or (N, dim)
    """
    _check_model(model)
    _check_images(images, model)
    check_int("batch_size", batch_size, 1)
    training = model.training
    model.eval()
    try:
        parts = [
            _embedding(model, images[i : i + batch_size])[0]
            for i in range(0, images.shape[0], batch_size)
        ]
    finally:
        model.train(training)
    return torch.cat(parts)


# --------------------------------------------------------------------------- sampling


def _check_batch(labels: torch.Tensor, classes_per_batch: int, per_class: int) -> None:
    check_labels("labels", labels, min_rows=1)
    check_int("classes_per_batch (m)", classes_per_batch)
    if check_int("per_class (k)", per_class) < 2:
        raise ValueError(
            f"per_class (k) must be an int >= 2 (a triplet needs a positive), got {per_class!r}"
        )
    if classes_per_batch < 2:
        raise ValueError(
            f"classes_per_batch (m) must be >= 2 (a triplet needs a negative), "
            f"got {classes_per_batch}"
        )
    classes = torch.unique(labels).numel()
    if classes < classes_per_batch:
        raise ValueError(
            f"the data have {classes} classes, fewer than classes_per_batch (m) = "
            f"{classes_per_batch}: a batch of m classes × k images cannot be drawn"
        )


def class_batches(
    labels: torch.Tensor, m: int, k: int, batches: int, seed: int
) -> list[torch.Tensor]:
    """``batches`` batches from pml's ``MPerClassSampler``, reproducible from ``seed``.

    pml draws from its module-level numpy RNG (``common_functions.NUMPY_RANDOM``); it is
    replaced by ``numpy.random.RandomState(seed)`` for the call and restored afterwards,
    so the result depends on ``seed`` only and numpy's global state is untouched.

    Parameters
    ----------
    labels : Tensor, shape (N,)
        Integer class labels, on any device.
    m : int
        Classes per batch (≥ 2).
    k : int
        Images per class (≥ 2).
    batches : int
        ≥ 1.
    seed : int
        In [0, 2^32 − 1].

    Returns
    -------
    list of Tensor
        ``batches`` LongTensors of shape (m·k,), m blocks of k indices of one class. A
        class with fewer than k images is drawn with replacement (pml's rule), so its
        block repeats images.

    Raises
    ------
    ValueError
        If the labels hold fewer than m classes.
    """
    _check_batch(labels, m, k)
    check_int("batches", batches, 1)
    check_int("seed", seed, 0, _SEED_MAX)
    labels = labels.cpu()
    sampler = MPerClassSampler(
        labels, m=k, batch_size=m * k, length_before_new_iter=batches * m * k
    )
    saved = pml_common.NUMPY_RANDOM
    pml_common.NUMPY_RANDOM = np.random.RandomState(seed)
    try:
        indices = torch.as_tensor(np.fromiter(iter(sampler), dtype=np.int64))
    finally:
        pml_common.NUMPY_RANDOM = saved
    return list(indices.split(m * k))


def class_split(labels: torch.Tensor, train_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split by class: the ``train_classes`` smallest class ids train, the others are held out.

    Class ids are sorted numerically (MNIST/Fashion-MNIST 5/5: digits 0–4 train, 5–9 test).

    Parameters
    ----------
    labels : Tensor, shape (N,)
        Integer class labels, N ≥ 1.
    train_classes : int
        1 ≤ train_classes < number of classes.

    Returns
    -------
    train_idx, test_idx : LongTensor
        Increasing sample indices of the training and of the held-out classes.
    """
    labels = check_labels("labels", labels, min_rows=1)
    check_int("train_classes", train_classes)
    classes = torch.unique(labels)  # sorted
    if not 1 <= train_classes < classes.numel():
        raise ValueError(
            f"train_classes must be an int in [1, {classes.numel()}) for {classes.numel()} "
            f"classes, got {train_classes!r}"
        )
    train = torch.isin(labels, classes[:train_classes])
    return torch.nonzero(train).flatten(), torch.nonzero(~train).flatten()


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TripletConfig:
    """Settings of :func:`train_triplet` (defaults: the reference recipe).

    Attributes
    ----------
    epochs : int
        Each epoch has ``N // (m·k)`` batches (at most ``steps_per_epoch``).
    classes_per_batch : int
        m, classes per batch (8), ≥ 2.
    per_class : int
        k, images per class (4), ≥ 2.
    lr : float
        Learning rate (1e-5).
    optimiser : {"rmsprop", "adam"}
        torch's RMSprop or Adam with their default settings otherwise.
    margin : float
        Triplet margin (0.2).
    mmd_weight : float
        Weight of the MMD to the uniform law on {1..k} × [0,1]^d (1.0; ManifoldEmbedder).
    membership_weight : float
        Weight of the membership spread, subtracted (0.1; ManifoldEmbedder).
    variant : {"blog", "code"}
        Chart-distance variant of the loss: "blog" (the definition the paper's blog
        states, the default) or "code" (the reference code's squared norms / d, in
        [0, 1], for which its margin 0.2 was set).
    seed : int
        Seeds the batches and the MMD's prior draws of every epoch.
    steps_per_epoch : int or None
        Cap on batches per epoch; None uses ``N // (m·k)``.
    """

    epochs: int = 20
    classes_per_batch: int = 8
    per_class: int = 4
    lr: float = 1e-5
    optimiser: str = "rmsprop"
    margin: float = 0.2
    mmd_weight: float = 1.0
    membership_weight: float = 0.1
    variant: str = "blog"
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1)
        # a triplet needs a positive and a negative
        check_int("classes_per_batch", self.classes_per_batch, 2)
        check_int("per_class", self.per_class, 2)
        check_choice("optimiser", self.optimiser, OPTIMISERS)
        check_choice("variant", self.variant, VARIANTS)
        check_float("lr", self.lr, 0.0, low_open=True)
        for name in ("margin", "mmd_weight", "membership_weight"):
            check_float(name, getattr(self, name), 0.0)
        check_int("seed", self.seed, 0)
        check_optional_int("steps_per_epoch", self.steps_per_epoch, 1)

    @property
    def batch_size(self) -> int:
        """m·k."""
        return self.classes_per_batch * self.per_class


def train_triplet(
    model: Embedder,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TripletConfig,
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[int], Mapping[str, float]] | None = None,
) -> list[dict]:
    """Train with the triplet loss over all valid triplets of m-classes × k-images batches.

    ManifoldEmbedder: TripletMarginLoss(margin, :class:`ChartDistance`) on packed codes
    + mmd_weight·MMD − membership_weight·spread; EuclideanEmbedder: TripletMarginLoss(margin)
    on the Euclidean distance of its outputs (unit vectors when ``model.normalise``). pml's
    loss averages over the triplets with a positive loss (``AvgNonZeroReducer``).

    Each epoch's batches come from one pass of pml's ``MPerClassSampler`` (via
    :func:`class_batches`), seeded by a draw from the generator
    :func:`~toposhape.training.fit_epochs` makes for that epoch, the one source of
    randomness its checkpoints make resumable: a run interrupted and resumed ends with
    exactly the weights of an uninterrupted one. The epoch's index permutation only sets
    the number of steps, ``N // (m·k)`` (at most ``steps_per_epoch``).

    Parameters
    ----------
    model : ManifoldEmbedder or EuclideanEmbedder
        Trained in place.
    images : Tensor, shape (N, ...)
        Finite, on the model's device.
    labels : Tensor, shape (N,)
        Integer class labels, at least m classes, on any device.
    config : TripletConfig
    checkpoint : path, optional
        Written after every epoch; training resumes from it.
    progress : bool
    on_epoch : callable, optional
        ``on_epoch(epoch) -> dict`` of numbers to record after every epoch (e.g. the
        held-out Recall@1), see :func:`~toposhape.training.fit_epochs`.

    Returns
    -------
    list of dict
        Per epoch: ``loss``, ``triplet`` and, for a ManifoldEmbedder, ``mmd`` (computed
        even when its weight is 0) and ``spread``; ``seconds``; what ``on_epoch`` returned.
    """
    _check_model(model)
    images = _check_images(images, model)
    labels = check_tensor("labels", labels)
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels must have shape (N,) = ({images.shape[0]},), got {tuple(labels.shape)}"
        )
    if not isinstance(config, TripletConfig):
        raise TypeError(f"config must be a TripletConfig, got {type(config).__name__}")
    check_path("checkpoint", checkpoint)
    check_bool("progress", progress)
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"on_epoch must be callable or None, got {type(on_epoch).__name__}")
    m, k = config.classes_per_batch, config.per_class
    _check_batch(labels, m, k)
    steps = images.shape[0] // config.batch_size
    if config.steps_per_epoch is not None:
        steps = min(steps, config.steps_per_epoch)
    epoch_batches: dict[str, object] = {}

    def next_batch(generator: torch.Generator) -> torch.Tensor:
        # fit_epochs passes one generator per epoch: a new one starts a new sampler pass
        if epoch_batches.get("generator") is not generator:
            seed = int(torch.randint(2**32, (1,), generator=generator))
            batches = class_batches(labels.cpu(), m, k, max(steps, 1), seed)
            epoch_batches.update(generator=generator, batches=iter(batches))
        return next(epoch_batches["batches"])

    targets = labels.to(images.device)
    loss_fn = TripletMarginLoss(
        margin=config.margin, distance=embedding_distance(model, config.variant)
    )
    if config.optimiser == "rmsprop":
        optimiser = torch.optim.RMSprop(model.parameters(), lr=config.lr)
    else:
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step(_: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = next_batch(generator).to(images.device)
        emb, codes = _embedding(model, images[batch])
        triplet = loss_fn(emb, targets[batch])
        stats = {"triplet": triplet.detach()}
        loss = triplet
        if codes is not None:
            mmd = mmd_to_uniform(codes, generator)
            spread = membership_spread(codes.q)
            loss = loss + config.mmd_weight * mmd - config.membership_weight * spread
            stats |= {"mmd": mmd.detach(), "spread": spread.detach()}
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach(), **stats}

    model.train()
    history = fit_epochs(
        (images, targets),
        step,
        {"model": model, "optimiser": optimiser},
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        config={"triplet": asdict(config), "model": model.config},
        steps_per_epoch=config.steps_per_epoch,
        checkpoint=checkpoint,
        progress=progress,
        on_epoch=on_epoch,
        description=f"triplet {model.distance} ({config.classes_per_batch}×{config.per_class})",
    )
    model.eval()
    return history


# --------------------------------------------------------------------------- retrieval


class RecallAccuracyCalculator(pml_accuracy.AccuracyCalculator):
    """pml's AccuracyCalculator with the metric-learning Recall@k as ``recall_at_{k}``.

    Recall@k is 1 for a query when any of its k nearest references has its label (so
    Recall@1 = precision_at_1). At least max(ks) neighbours are retrieved (at most all the
    references), on top of what ``k`` asks for.

    Parameters
    ----------
    ks : sequence of int
        The k of the ``recall_at_{k}`` metrics, each ≥ 1.
    **kwargs
        Passed to ``AccuracyCalculator``.
    """

    def __init__(self, ks: Sequence[int] = (1, 2, 4, 8), **kwargs) -> None:
        ks = _check_ks(ks)
        self.ks = ks
        for k in ks:
            setattr(self, f"calculate_recall_at_{k}", partial(self._recall_at, k))
        super().__init__(**kwargs)

    def _recall_at(
        self,
        k: int,
        knn_labels: torch.Tensor,
        query_labels: torch.Tensor,
        not_lone_query_mask: torch.Tensor,
        label_counts: tuple[torch.Tensor, torch.Tensor],
        **kwargs,
    ) -> float:
        knn_labels, query_labels = pml_accuracy.try_getting_not_lone_labels(
            knn_labels, query_labels, not_lone_query_mask
        )
        if knn_labels is None:
            return pml_accuracy.nan_accuracy(label_counts[0], self.return_per_class)
        hits = self.label_comparison_fn(query_labels[:, None], knn_labels[:, :k]).any(dim=1)
        return pml_accuracy.maybe_get_avg_of_avgs(
            hits.double(), query_labels[:, None], self.avg_of_avgs, self.return_per_class
        )

    def requires_knn(self) -> list[str]:
        """pml's k-NN metrics and the ``recall_at_{k}``."""
        return [*super().requires_knn(), *(f"recall_at_{k}" for k in self.ks)]

    def determine_k(
        self, bin_counts: torch.Tensor, num_reference_embeddings: int, ref_includes_query: bool
    ) -> int:
        """pml's number of neighbours, raised to max(ks) where the references allow it."""
        k = super().determine_k(bin_counts, num_reference_embeddings, ref_includes_query)
        available = num_reference_embeddings - int(ref_includes_query)
        return max(k, min(max(self.ks), available))


def retrieval_metrics(
    query_emb: torch.Tensor,
    query_labels: torch.Tensor,
    ref_emb: torch.Tensor | None = None,
    ref_labels: torch.Tensor | None = None,
    distance: BaseDistance | None = None,
    ks: Sequence[int] = (1, 2, 4, 8),
    batch_size: int = 256,
    map_at_r: bool = True,
) -> dict[str, float]:
    """Recall@k, precision@1 and MAP@R of nearest-neighbour retrieval.

    Parameters
    ----------
    query_emb : Tensor, shape (N, E)
        Finite, N ≥ 1.
    query_labels : Tensor, shape (N,)
        Integer labels.
    ref_emb, ref_labels : Tensor, shapes (M, E) and (M,), optional
        The searched set; by default the queries themselves, each query's own entry
        excluded (pml's ``ref_includes_query``). All four tensors on one device.
    distance : BaseDistance, optional
        pml distance (e.g. :class:`ChartDistance` on packed codes); by default the
        Euclidean distance of the embeddings as given (no normalisation).
    ks : sequence of int
        The k of Recall@k, each ≥ 1.
    batch_size : int
        Queries per block of the exact k-NN search (bounds memory to batch_size × M), ≥ 1.
    map_at_r : bool
        Compute MAP@R, which needs as many neighbours as the largest class has samples;
        without it only max(ks) neighbours are searched (a per-epoch R@1 is much cheaper).

    Returns
    -------
    dict
        ``recall_at_{k}`` for k in ``ks``, ``precision_at_1`` and (if ``map_at_r``)
        ``mean_average_precision_at_r``, averaged over the queries whose class has another
        sample among the references (NaN if none has).
    """
    if (ref_emb is None) != (ref_labels is None):
        raise ValueError("give both ref_emb and ref_labels, or neither")
    check_int("batch_size", batch_size, 1)
    ks = _check_ks(ks)
    check_bool("map_at_r", map_at_r)
    if distance is not None and not isinstance(distance, BaseDistance):
        raise TypeError(
            f"distance must be a pytorch-metric-learning BaseDistance or None, got "
            f"{type(distance).__name__}"
        )
    tensors = {"query_emb": query_emb, "query_labels": query_labels}
    if ref_emb is not None:
        tensors |= {"ref_emb": ref_emb, "ref_labels": ref_labels}
    for name, value in tensors.items():
        if name.endswith("emb"):
            check_tensor(name, value, ndim=2, floating=True, min_rows=1)
        else:
            check_labels(name, value, min_rows=1)
    if query_labels.shape != (query_emb.shape[0],):
        raise ValueError(
            f"query_emb (N, E) and query_labels (N,) do not fit: {tuple(query_emb.shape)}, "
            f"{tuple(query_labels.shape)}"
        )
    if ref_emb is not None and (
        ref_emb.shape[1] != query_emb.shape[1] or ref_labels.shape != (ref_emb.shape[0],)
    ):
        raise ValueError(
            f"ref_emb (M, {query_emb.shape[1]}) and ref_labels (M,) do not fit: "
            f"{tuple(ref_emb.shape)}, {tuple(ref_labels.shape)}"
        )
    check_same_device(**tensors)
    check_tensor("query_emb", query_emb, finite=True)
    if ref_emb is not None:
        check_tensor("ref_emb", ref_emb, finite=True)
    distance = LpDistance(normalize_embeddings=False) if distance is None else distance
    extra = ("mean_average_precision_at_r",) if map_at_r else ()
    calculator = RecallAccuracyCalculator(
        ks,
        include=("precision_at_1", *extra, *(f"recall_at_{k}" for k in ks)),
        k="max_bin_count" if map_at_r else max(ks),
        device=query_emb.device,
        knn_func=CustomKNN(distance, batch_size=batch_size),
    )
    return calculator.get_accuracy(query_emb, query_labels, ref_emb, ref_labels)


def evaluate_retrieval(
    model: Embedder,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    variant: str = "blog",
    ks: Sequence[int] = (1, 2, 4, 8),
    batch_size: int = 256,
) -> dict[str, float]:
    """:func:`retrieval_metrics` of ``model``'s embeddings of ``images`` among themselves.

    Parameters
    ----------
    model : ManifoldEmbedder or EuclideanEmbedder
    images : Tensor, shape (N, ...)
        Finite, on the model's device (e.g. the held-out classes).
    labels : Tensor, shape (N,)
        Integer labels, on any device.
    variant : {"blog", "code"}
        Chart-distance variant (ManifoldEmbedder only).
    ks : sequence of int
    batch_size : int
        Batch size of the forward passes and of the k-NN search.

    Returns
    -------
    dict
        See :func:`retrieval_metrics`.
    """
    _check_model(model)
    images = _check_images(images, model)
    labels = check_labels("labels", labels, min_rows=1)
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels must have shape (N,) = ({images.shape[0]},), got {tuple(labels.shape)}"
        )
    check_choice("variant", variant, VARIANTS)
    _check_ks(ks)
    check_int("batch_size", batch_size, 1)
    return retrieval_metrics(
        embed(model, images, batch_size),
        labels.to(images.device),
        distance=embedding_distance(model, variant),
        ks=ks,
        batch_size=batch_size,
    )


# --------------------------------------------------------------------------- user datasets


def _check_root(root: object) -> None:
    if root is not None and not isinstance(root, str | os.PathLike):
        raise TypeError(f"root must be a path or None, got {type(root).__name__}")


def _read_table(path: Path) -> dict[int, str]:
    """``<id> <value>`` lines of a CUB metadata file → {id: value}."""
    table: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or not fields[0].isdigit():
            raise ValueError(f"{path.name} line {number}: expected '<id> <value>', got {line!r}")
        table[int(fields[0])] = fields[1].strip()
    return table


def _split_by_id(
    paths: list[Path], ids: list[int], train_classes: int, total: int, source: str
) -> tuple[list[Path], torch.Tensor, list[Path], torch.Tensor]:
    bad = sorted({c for c in ids if not 1 <= c <= total})
    if bad:
        raise ValueError(f"{source}: class ids {bad[:5]} outside 1 … {total}")
    labels = torch.tensor(ids, dtype=torch.int64)
    train = (labels <= train_classes).tolist()
    return (
        [p for p, t in zip(paths, train, strict=True) if t],
        labels[labels <= train_classes],
        [p for p, t in zip(paths, train, strict=True) if not t],
        labels[labels > train_classes],
    )


def load_cub200(
    root: str | Path | None = None,
) -> tuple[list[Path], torch.Tensor, list[Path], torch.Tensor]:
    """CUB-200-2011 image files and class ids, split by class id: 1–100 train, 101–200 test.

    Reads ``images.txt`` (``<image id> <path under images/>``) and ``image_class_labels.txt``
    (``<image id> <class id>``); the class folder names play no part in the split.

    Parameters
    ----------
    root : str or Path, optional
        Directory holding ``CUB_200_2011/`` (see :func:`toposhape.data.user_root`).

    Returns
    -------
    train_paths : list of Path
    train_labels : LongTensor, shape (N_train,)
        Class ids 1 … 100.
    test_paths : list of Path
    test_labels : LongTensor, shape (N_test,)
        Class ids 101 … 200.

    Raises
    ------
    FileNotFoundError
        If the dataset is not found under ``root``.
    ValueError
        If the two files do not list the same image ids, or a class id is outside 1 … 200.
    """
    _check_root(root)
    base = user_root("cub200", root) / "CUB_200_2011"
    images = _read_table(base / "images.txt")
    classes = _read_table(base / "image_class_labels.txt")
    if images.keys() != classes.keys():
        raise ValueError(
            f"images.txt and image_class_labels.txt list different image ids "
            f"({len(images)} and {len(classes)} ids) in {base}"
        )
    order = sorted(images)
    bad = [classes[i] for i in order if not classes[i].isdigit()]
    if bad:
        raise ValueError(f"image_class_labels.txt: class ids must be integers, got {bad[:5]}")
    return _split_by_id(
        [base / "images" / images[i] for i in order],
        [int(classes[i]) for i in order],
        CUB200_TRAIN_CLASSES,
        200,
        "image_class_labels.txt",
    )


def _cars_annotations(path: Path) -> tuple[list[str], list[int]]:
    annotations = np.atleast_1d(scipy.io.loadmat(path, squeeze_me=True)["annotations"])
    return (
        [str(a) for a in np.atleast_1d(annotations["fname"])],
        [int(c) for c in np.atleast_1d(annotations["class"])],
    )


def load_cars196(
    root: str | Path | None = None,
) -> tuple[list[Path], torch.Tensor, list[Path], torch.Tensor]:
    """Stanford Cars image files and class ids, split by class id: 1–98 train, 99–196 test.

    The metric-learning split: the images of the dataset's own train and test halves are
    pooled (``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat``, fields
    ``fname`` and ``class``, as torchvision's StanfordCars reads them) and split by class id.

    Parameters
    ----------
    root : str or Path, optional
        Directory holding ``stanford_cars/`` (see :func:`toposhape.data.user_root`).

    Returns
    -------
    train_paths : list of Path
    train_labels : LongTensor, shape (N_train,)
        Class ids 1 … 98.
    test_paths : list of Path
    test_labels : LongTensor, shape (N_test,)
        Class ids 99 … 196.

    Raises
    ------
    FileNotFoundError
        If the dataset is not found under ``root``.
    ValueError
        If a class id is outside 1 … 196.
    """
    _check_root(root)
    base = user_root("cars196", root) / "stanford_cars"
    paths: list[Path] = []
    ids: list[int] = []
    for folder, mat_file in (
        ("cars_train", base / "devkit" / "cars_train_annos.mat"),
        ("cars_test", base / "cars_test_annos_withlabels.mat"),
    ):
        names, classes = _cars_annotations(mat_file)
        paths += [base / folder / name for name in names]
        ids += classes
    return _split_by_id(paths, ids, CARS196_TRAIN_CLASSES, 196, "Stanford Cars annotations")


def read_images(paths: Sequence[str | Path], image_size: int = 227) -> torch.Tensor:
    """Read image files as RGB, resized to image_size × image_size (bilinear, no crop).

    Parameters
    ----------
    paths : sequence of path
        E.g. a batch of the paths :func:`load_cub200` or :func:`load_cars196` return (the
        whole of CUB at 227 × 227 would take 7 GB as float32).
    image_size : int
        Side S ≥ 1 of the square output (227 in the reference).

    Returns
    -------
    Tensor, shape (N, 3, S, S), float32
        Pixels / 255 in [0, 1].
    """
    check_int("image_size", image_size, 1)
    if not isinstance(paths, Sequence) or isinstance(paths, str):
        raise TypeError(f"paths must be a sequence of paths, got {type(paths).__name__}")
    if not paths:
        raise ValueError("paths is empty")
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"every entry of paths must be a path, got {type(path).__name__}")
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        pixels.append(np.asarray(rgb, dtype=np.uint8))
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float().div_(255.0)
