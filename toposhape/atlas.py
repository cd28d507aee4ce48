"""Atlas representations (Korman 2018, 2021): a latent space of k charts {1..k} × [0,1]^d.

An encoder gives every sample chart memberships q(x) ∈ Δ^k and, for every chart j,
coordinates φ_j(x) ∈ [0,1]^d (a sigmoid of pre-sigmoid ``logits``); an atlas
autoencoder adds one decoder ψ_j per chart. The latent law that the regularisers pull
the encoder towards is the uniform law on {1..k} × [0,1]^d, reached either with a
GAN on the latent space (the WAE of "Autoencoding topology") or with an MMD (the
variant of the 2021 paper's code). :func:`chart_distance` is the distance d_{q,φ}
between samples that the metric-learning chapters train with.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from toposhape.training import fit_epochs, seeded

REGULARISERS = ("gan", "mmd")
DISTANCES = ("blog", "code")
_EXACT = "donot_use_mm_for_euclid_dist"  # cdist's fast mode is off by 1e-4 near 0


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


class AtlasCodes(NamedTuple):
    """The encoder's output for a batch of B samples.

    Attributes
    ----------
    q : Tensor, shape (B, k)
        Chart memberships (rows sum to 1).
    logits : Tensor, shape (B, k, d)
        Pre-sigmoid chart coordinates.
    """

    q: torch.Tensor
    logits: torch.Tensor

    @property
    def coords(self) -> torch.Tensor:
        """Chart coordinates φ_j(x) ∈ [0,1]^d, shape (B, k, d)."""
        return torch.sigmoid(self.logits)

    @property
    def chart(self) -> torch.Tensor:
        """The most likely chart argmax_j q_j(x), shape (B,)."""
        return self.q.argmax(dim=1)


class ChartwiseLinear(nn.Module):
    """k independent linear maps, one per chart, applied in one batched product.

    Parameters
    ----------
    charts, in_features, out_features : int
    bias : bool
    """

    def __init__(self, charts: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(charts, in_features, out_features))
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = nn.Parameter(torch.empty(charts, out_features)) if bias else None
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, k, in_features) to (B, k, out_features), chart j with map j."""
        out = torch.einsum("bki,kio->bko", x, self.weight)
        return out if self.bias is None else out + self.bias


class AtlasHead(nn.Module):
    """Chart memberships and coordinates from features.

    Parameters
    ----------
    in_features : int
    charts : int
        k, the number of charts (≥ 1).
    dim : int
        d, the dimension of every chart (≥ 1).
    """

    def __init__(self, in_features: int, charts: int, dim: int) -> None:
        super().__init__()
        _check_positive_int("charts", charts)
        _check_positive_int("dim", dim)
        self.charts, self.dim = charts, dim
        self.coordinates = nn.Linear(in_features, charts * dim)
        self.membership = nn.Linear(in_features, charts)

    def forward(self, features: torch.Tensor) -> AtlasCodes:
        """Features (B, in_features) → :class:`AtlasCodes` with k charts of dim d."""
        logits = self.coordinates(features).reshape(-1, self.charts, self.dim)
        return AtlasCodes(torch.softmax(self.membership(features), dim=1), logits)


def _encoder(input_shape: tuple[int, ...], hidden: int) -> nn.Sequential:
    if len(input_shape) == 1:
        return nn.Sequential(
            nn.Linear(input_shape[0], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
    channels, size = input_shape[0], input_shape[-1]
    side = size // 4  # two 4×4 convolutions, stride 2, padding 1: ⌊⌊S/2⌋/2⌋
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, hidden),
        nn.ReLU(),
    )


class AtlasAutoencoder(nn.Module):
    """Encoder → (q, φ_1..φ_k), and one decoder ψ_j: [0,1]^d → X per chart.

    Vectors (``input_shape == (D,)``) get an MLP encoder; images
    (``input_shape == (C, S, S)``) a two-layer convolutional one, and decoders with a
    sigmoid output (pixels in [0, 1]).

    Parameters
    ----------
    input_shape : tuple of int
        (D,) for points in R^D, (C, S, S) for images.
    charts : int
        k ≥ 1.
    dim : int
        d ≥ 1.
    hidden : int
        Width of the encoder's and of every decoder's hidden layers.
    """

    def __init__(
        self, input_shape: tuple[int, ...], charts: int, dim: int, hidden: int = 64
    ) -> None:
        super().__init__()
        input_shape = tuple(input_shape)
        if len(input_shape) not in (1, 3) or any(
            not isinstance(s, int) or s < 1 for s in input_shape
        ):
            raise ValueError(f"input_shape must be (D,) or (C, S, S), got {input_shape}")
        if len(input_shape) == 3 and (input_shape[1] != input_shape[2] or input_shape[1] < 8):
            raise ValueError(f"images must be square and at least 8×8, got {input_shape}")
        _check_positive_int("hidden", hidden)
        self.config = {
            "input_shape": list(input_shape),
            "charts": charts,
            "dim": dim,
            "hidden": hidden,
        }
        self.input_shape = input_shape
        self.encoder = _encoder(input_shape, hidden)
        self.head = AtlasHead(hidden, charts, dim)
        out = math.prod(input_shape)
        self.decoders = nn.Sequential(
            ChartwiseLinear(charts, dim, hidden),
            nn.ReLU(),
            ChartwiseLinear(charts, hidden, hidden),
            nn.ReLU(),
            ChartwiseLinear(charts, hidden, out),
            *([nn.Sigmoid()] if len(input_shape) == 3 else []),
        )

    @property
    def charts(self) -> int:
        """k, the number of charts."""
        return self.head.charts

    @property
    def dim(self) -> int:
        """d, the dimension of every chart."""
        return self.head.dim

    def encode(self, x: torch.Tensor) -> AtlasCodes:
        """Samples (B, *input_shape) → :class:`AtlasCodes`."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        return self.head(self.encoder(x))

    def decode(self, coords: torch.Tensor) -> torch.Tensor:
        """Chart coordinates (B, k, d) → every chart's decoding, (B, k, *input_shape)."""
        out = self.decoders(coords)
        return out.reshape(*coords.shape[:2], *self.input_shape)

    def forward(self, x: torch.Tensor) -> tuple[AtlasCodes, torch.Tensor]:
        """Return ``(codes, reconstructions)``; reconstructions (B, k, *input_shape)."""
        codes = self.encode(x)
        return codes, self.decode(codes.coords)


class LatentDiscriminator(nn.Module):
    """Logit that a latent point (j, z) ∈ {1..k} × [0,1]^d was drawn from the prior.

    Parameters
    ----------
    charts, dim : int
    hidden : int
    """

    def __init__(self, charts: int, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.charts = charts
        self.net = nn.Sequential(
            nn.Linear(charts + dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, chart: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Charts (...,) int and coordinates (..., d) → logits (...,)."""
        onehot = nn.functional.one_hot(chart, self.charts).to(coords.dtype)
        return self.net(torch.cat([onehot, coords], dim=-1)).squeeze(-1)


def atlas_reconstruction(x: torch.Tensor, reconstructions: torch.Tensor, q: torch.Tensor):
    """Membership-weighted reconstruction error, mean_x Σ_j q_j(x)·MSE(x, ψ_j(φ_j(x))).

    Parameters
    ----------
    x : Tensor, shape (B, *S)
    reconstructions : Tensor, shape (B, k, *S)
    q : Tensor, shape (B, k)

    Returns
    -------
    Tensor, scalar
    """
    err = (reconstructions - x.unsqueeze(1)).pow(2).flatten(2).mean(dim=2)
    return (q * err).sum(dim=1).mean()


def membership_spread(q: torch.Tensor) -> torch.Tensor:
    """mean_x Σ_j (q_j(x) − 1/k)², largest when every q(x) sits on one chart.

    The trainers *subtract* it (times a weight), as the reference code does, so that
    each sample is represented in one chart rather than in the union of all of them.

    Parameters
    ----------
    q : Tensor, shape (B, k)
    """
    return (q - 1.0 / q.shape[1]).pow(2).sum(dim=1).mean()


def sample_prior(
    n: int, charts: int, dim: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of the uniform law on {1..k} × [0,1]^d: charts (n,) and coordinates (n, d)."""
    chart = torch.randint(charts, (n,), generator=generator)
    coords = torch.rand(n, dim, generator=generator)
    return chart.to(device), coords.to(device)


def _imq(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    # squared distances by one batched product (cdist's backward is much slower)
    sq = (
        a.pow(2).sum(-1, keepdim=True)
        + b.pow(2).sum(-1).unsqueeze(-2)
        - 2 * a @ b.transpose(-1, -2)
    )
    return scale / (scale + sq.clamp_min(0))


def mmd_to_uniform(
    codes: AtlasCodes, generator: torch.Generator, prior_samples: int | None = None
) -> torch.Tensor:
    """Squared MMD between the encoder's latent law and the uniform law on {1..k} × [0,1]^d.

    As in the reference code: inverse multiquadric kernel k(a, b) = C / (C + ‖a − b‖²)
    with C = d/6, on pre-sigmoid coordinates clamped to [−10, 10] against logit(U[0,1]^d)
    prior samples; the kernel between (i, a) and (j, b) is δ_ij·k(a, b); every encoded
    sample counts in chart j with weight q_j(x), every prior sample with weight 1/k; the
    diagonal terms are left out (unbiased estimate, so it can be slightly negative).

    Parameters
    ----------
    codes : AtlasCodes
        q (B, k) and logits (B, k, d), B ≥ 2.
    generator : torch.Generator
        Draws the prior samples.
    prior_samples : int, optional
        Number of prior draws per chart; B by default.

    Returns
    -------
    Tensor, scalar
    """
    q, logits = codes.q, codes.logits.clamp(-10, 10)
    b, k, d = logits.shape
    m = b if prior_samples is None else prior_samples
    if b < 2 or m < 2:
        raise ValueError(f"need at least 2 encoded and 2 prior samples, got {b} and {m}")
    u = torch.rand(k, m, d, generator=generator).clamp(1e-6, 1 - 1e-6).to(logits)
    prior = torch.logit(u)
    z = logits.transpose(0, 1)  # (k, B, d)
    scale = d / 6.0
    w = q.transpose(0, 1)  # (k, B)
    kzz = _imq(z, z, scale) * (w.unsqueeze(2) * w.unsqueeze(1))
    kzz = (kzz.sum() - kzz.diagonal(dim1=1, dim2=2).sum()) / (b * (b - 1))
    kpp = _imq(prior, prior, scale) / k**2
    kpp = (kpp.sum() - kpp.diagonal(dim1=1, dim2=2).sum()) / (m * (m - 1))
    kzp = (_imq(z, prior, scale) * w.unsqueeze(2) / k).sum() / (b * m)
    return kzz + kpp - 2 * kzp


def discriminator_loss(
    discriminator: LatentDiscriminator, codes: AtlasCodes, generator: torch.Generator
) -> torch.Tensor:
    """Binary cross-entropy of the latent discriminator: prior draws real, codes fake.

    Every sample x contributes the latent points (j, φ_j(x)) with weight q_j(x), which is
    the encoder's law (φ × q)_* X exactly. The codes are detached: this loss trains the
    discriminator only.

    Parameters
    ----------
    discriminator : LatentDiscriminator
    codes : AtlasCodes
        q (B, k) and logits (B, k, d).
    generator : torch.Generator
        Draws B prior samples.

    Returns
    -------
    Tensor, scalar
    """
    b, k, d = codes.logits.shape
    bce = nn.functional.binary_cross_entropy_with_logits
    chart, coords = sample_prior(b, k, d, generator, codes.q.device)
    real = discriminator(chart, coords)
    fake = discriminator(torch.arange(k, device=codes.q.device).expand(b, k), codes.coords.detach())
    weighted = codes.q.detach() * bce(fake, torch.zeros_like(fake), reduction="none")
    return bce(real, torch.ones_like(real)) + weighted.sum(dim=1).mean()


def encoder_gan_loss(discriminator: LatentDiscriminator, codes: AtlasCodes) -> torch.Tensor:
    """The encoder's (generator's) loss, −E_{(j,z) ~ (φ×q)_* X} log D(j, z).

    The non-saturating GAN loss; it equals log 2 ≈ 0.693 when the discriminator cannot
    tell the encoder's law from the prior, the ideal the intrinsic-dimension study reads.

    Parameters
    ----------
    discriminator : LatentDiscriminator
    codes : AtlasCodes
        q (B, k) and logits (B, k, d).

    Returns
    -------
    Tensor, scalar
    """
    b, k, _ = codes.logits.shape
    logits = discriminator(torch.arange(k, device=codes.q.device).expand(b, k), codes.coords)
    loss = nn.functional.binary_cross_entropy_with_logits(
        logits, torch.ones_like(logits), reduction="none"
    )
    return (codes.q * loss).sum(dim=1).mean()


def chart_distance(
    q_a: torch.Tensor,
    coords_a: torch.Tensor,
    q_b: torch.Tensor,
    coords_b: torch.Tensor,
    variant: str = "blog",
) -> torch.Tensor:
    """Pairwise chart distance d_{q,φ} between two sets of encoded samples.

    ``"blog"`` (the definition of the paper's blog post):
    Σ_j q_j(x) q_j(y) ‖φ_j(x) − φ_j(y)‖ / Σ_j q_j(x) q_j(y), and ∞ where the samples
    share no chart (the denominator is exactly 0). ``"code"`` (the reference code):
    squared norms divided by d in the numerator, and 1 where no chart is shared.

    Parameters
    ----------
    q_a : Tensor, shape (N, k)
    coords_a : Tensor, shape (N, k, d)
    q_b : Tensor, shape (M, k)
    coords_b : Tensor, shape (M, k, d)
    variant : {"blog", "code"}

    Returns
    -------
    Tensor, shape (N, M)
    """
    if variant not in DISTANCES:
        raise ValueError(f"variant must be one of {DISTANCES}, got {variant!r}")
    if q_a.dim() != 2 or coords_a.dim() != 3 or coords_a.shape[:2] != q_a.shape:
        raise ValueError(
            f"q_a (N, k) and coords_a (N, k, d) do not fit: {tuple(q_a.shape)}, "
            f"{tuple(coords_a.shape)}"
        )
    if q_b.dim() != 2 or coords_b.dim() != 3 or coords_b.shape[:2] != q_b.shape:
        raise ValueError(
            f"q_b (M, k) and coords_b (M, k, d) do not fit: {tuple(q_b.shape)}, "
            f"{tuple(coords_b.shape)}"
        )
    if q_a.shape[1] != q_b.shape[1] or coords_a.shape[2] != coords_b.shape[2]:
        raise ValueError(
            f"the two sets have different charts or dims: {tuple(coords_a.shape)} vs "
            f"{tuple(coords_b.shape)}"
        )
    weight = q_a @ q_b.T  # (N, M) = Σ_j q_j(x) q_j(y)
    a, b = coords_a.transpose(0, 1), coords_b.transpose(0, 1)  # (k, N, d), (k, M, d)
    if variant == "blog":
        per_chart = torch.cdist(a, b, compute_mode=_EXACT)
    else:
        per_chart = torch.cdist(a, b, compute_mode=_EXACT).pow(2) / a.shape[2]
    num = torch.einsum("nk,mk,knm->nm", q_a, q_b, per_chart)
    shared = weight > 0
    dist = num / torch.where(shared, weight, torch.ones_like(weight))
    fill = math.inf if variant == "blog" else 1.0
    return torch.where(shared, dist, torch.full_like(dist, fill))


@dataclass(frozen=True)
class AtlasConfig:
    """Settings of :func:`train_atlas`.

    Attributes
    ----------
    regulariser : {"gan", "mmd"}
        How the latent law is pulled to the uniform law on {1..k} × [0,1]^d.
    lam : float
        Weight λ of the regulariser (the encoder's GAN loss, or the MMD).
    membership : float
        Weight of :func:`membership_spread`, subtracted (0.1 in the reference code).
    epochs, batch_size : int
    lr : float
        Adam learning rate of the autoencoder.
    disc_lr : float
        Adam learning rate of the discriminator (GAN only).
    seed : int
        Seeds batch order and prior draws.
    steps_per_epoch : int or None
        Cap on batches per epoch; None uses all.
    """

    regulariser: str = "gan"
    lam: float = 1.0
    membership: float = 0.1
    epochs: int = 50
    batch_size: int = 100
    lr: float = 1e-3
    disc_lr: float = 5e-4
    seed: int = 0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.regulariser not in REGULARISERS:
            raise ValueError(f"regulariser must be one of {REGULARISERS}, got {self.regulariser!r}")
        if self.lam < 0 or self.membership < 0 or self.lr <= 0 or self.disc_lr <= 0:
            raise ValueError(f"need lam >= 0, membership >= 0, lr > 0, disc_lr > 0: {self}")
        if self.batch_size < 2 or self.epochs < 1:
            raise ValueError(f"need batch_size >= 2 and epochs >= 1: {self}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be None or >= 1, got {self.steps_per_epoch}")


def train_atlas(
    model: AtlasAutoencoder,
    data: torch.Tensor,
    config: AtlasConfig,
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> tuple[list[dict], LatentDiscriminator | None]:
    """Train an atlas WAE: q-weighted reconstruction + λ·regulariser − w·membership spread.

    Parameters
    ----------
    model : AtlasAutoencoder
        Trained in place.
    data : Tensor, shape (N, *model.input_shape)
        On the model's device.
    config : AtlasConfig
    checkpoint : path, optional
        Written after every epoch; training resumes from it (see
        :func:`toposhape.training.fit_epochs`).
    progress : bool

    Returns
    -------
    history : list of dict
        Per epoch: ``reconstruction``, ``regulariser`` (the encoder's GAN loss, ideal
        log 2, or the MMD), ``discriminator`` (GAN only), ``spread`` and ``seconds``.
    discriminator : LatentDiscriminator or None
        The trained discriminator (GAN only).
    """
    if data.dim() < 2 or tuple(data.shape[1:]) != model.input_shape:
        raise ValueError(
            f"data must have shape (N, {', '.join(map(str, model.input_shape))}), "
            f"got {tuple(data.shape)}"
        )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    state: dict[str, nn.Module | torch.optim.Optimizer] = {
        "model": model,
        "optimiser": optimiser,
    }
    discriminator = None
    if config.regulariser == "gan":
        with seeded(config.seed):
            discriminator = LatentDiscriminator(model.charts, model.dim, model.config["hidden"])
        discriminator = discriminator.to(data.device)
        disc_optimiser = torch.optim.Adam(discriminator.parameters(), lr=config.disc_lr)
        state |= {"discriminator": discriminator, "disc_optimiser": disc_optimiser}

    def step(indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        x = data[indices]
        codes, reconstructions = model(x)
        rec = atlas_reconstruction(x, reconstructions, codes.q)
        spread = membership_spread(codes.q)
        stats = {"reconstruction": rec.detach(), "spread": spread.detach()}
        if discriminator is not None:
            disc_loss = discriminator_loss(discriminator, codes, generator)
            disc_optimiser.zero_grad(set_to_none=True)
            disc_loss.backward()
            disc_optimiser.step()
            stats["discriminator"] = disc_loss.detach()
            reg = encoder_gan_loss(discriminator, codes)
        else:
            reg = mmd_to_uniform(codes, generator)
        loss = rec + config.lam * reg - config.membership * spread
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {**stats, "regulariser": reg.detach()}

    model.train()
    history = fit_epochs(
        data,
        step,
        state,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        config={"atlas": asdict(config), "model": model.config},
        steps_per_epoch=config.steps_per_epoch,
        checkpoint=checkpoint,
        progress=progress,
        description=f"atlas k={model.charts} d={model.dim} ({config.regulariser})",
    )
    model.eval()
    return history, discriminator
