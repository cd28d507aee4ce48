"""Atlas representations (Korman 2018, 2021): a latent space of k charts {1..k} × [0,1]^d.

An encoder gives every sample chart memberships q(x) ∈ Δ^k and, for every chart j,
coordinates φ_j(x) ∈ [0,1]^d (a sigmoid of pre-sigmoid ``logits``); an atlas
autoencoder adds one decoder ψ_j per chart. The latent law that the regularisers pull
the encoder towards is the uniform law on {1..k} × [0,1]^d, reached either with a
GAN on the latent space (the WAE of "Autoencoding topology") or with an MMD (the
variant of the 2021 paper's code). :func:`chart_distance` is the distance d_{q,φ}
between samples that the metric-learning chapters train with.

Every function checks its arguments before any work (:mod:`toposhape.checks`):
memberships must be finite, non-negative rows that sum to 1, coordinates and data
finite, and the tensors of one call on one device. The modules' ``forward`` methods
check types, shapes, dtypes and devices only, not values, so that a forward pass never
waits for the device.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from toposhape.checks import (
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_on_model,
    check_optional_int,
    check_path,
    check_same_device,
    check_tensor,
)
from toposhape.nerve import NEGATIVE_TOL, ROW_SUM_ATOL
from toposhape.training import fit_epochs, seeded

REGULARISERS = ("gan", "mmd")
DISTANCES = ("blog", "code")
_EXACT = "donot_use_mm_for_euclid_dist"  # cdist's fast mode is off by 1e-4 near 0


# ---------------------------------------------------------------- argument checks
# Checks that toposhape.checks does not have; triplet, contrastive and compression use
# them too.


def _check_backbone(backbone: object) -> int:
    """The feature width of a backbone: an nn.Module with an int attribute out_features ≥ 1."""
    if not isinstance(backbone, nn.Module):
        raise TypeError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
    features = getattr(backbone, "out_features", None)
    if features is None:
        raise ValueError("backbone must have an int attribute out_features >= 1, it has none")
    return check_int("backbone.out_features", features, 1)


def _check_q(name: str, q: object) -> torch.Tensor:
    """Memberships (B, k), B, k ≥ 1, of a floating dtype (values: ``_check_memberships``)."""
    q = check_tensor(name, q, ndim=2, floating=True, min_rows=1)
    if q.shape[1] < 1:
        raise ValueError(f"{name} needs at least 1 chart, got shape {tuple(q.shape)}")
    return q


def _check_memberships(name: str, q: torch.Tensor) -> None:
    """Raise ValueError unless the rows of ``q`` are finite, non-negative and sum to 1.

    The tolerances are those of :func:`toposhape.nerve.check_memberships`, the one on the
    row sums widened to k·eps of a coarse dtype. The check waits for the device once
    (and is left out while ``torch.compile`` traces).
    """
    if torch.compiler.is_compiling():
        return
    tol = max(ROW_SUM_ATOL, q.shape[1] * torch.finfo(q.dtype).eps)
    with torch.no_grad():
        finite, positive = torch.isfinite(q).all(), (q >= -NEGATIVE_TOL).all()
        error = (q.sum(dim=1) - 1).abs()
        if bool(finite & positive & (error <= tol).all()):
            return
        if not bool(finite):
            raise ValueError(f"{name} contains NaN or inf")
        if not bool(positive):
            raise ValueError(
                f"{name} must be non-negative (memberships), got a minimum of {q.min().item():.6g}"
            )
        row = int(error.argmax())
        raise ValueError(
            f"rows of {name} must sum to 1 (memberships), but row {row} sums to "
            f"{q[row].sum().item():.6g}"
        )


def _check_coords(name: str, coords: object, q: torch.Tensor, q_name: str) -> torch.Tensor:
    """Coordinates (B, k, d), d ≥ 1, of a floating dtype, that fit q (B, k) on its device."""
    coords = check_tensor(name, coords, ndim=3, floating=True)
    if coords.shape[:2] != q.shape or coords.shape[2] < 1:
        raise ValueError(
            f"{q_name} (B, k) and {name} (B, k, d) do not fit: {tuple(q.shape)}, "
            f"{tuple(coords.shape)}"
        )
    check_same_device(**{q_name: q, name: coords})
    return coords


def _check_features(name: str, value: object, width: int, model: nn.Module) -> torch.Tensor:
    """A floating tensor (B, width) on the device of ``model``."""
    value = check_tensor(name, value, ndim=2, floating=True)
    if value.shape[1] != width:
        raise ValueError(f"{name} must have shape (B, {width}), got {tuple(value.shape)}")
    check_on_model(name, value, model)
    return value


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


def _check_codes(name: str, codes: object) -> AtlasCodes:
    """AtlasCodes of memberships q (B, k) and finite logits (B, k, d), d ≥ 1."""
    if not isinstance(codes, AtlasCodes):
        raise TypeError(f"{name} must be AtlasCodes, got {type(codes).__name__}")
    q = _check_q(f"{name}.q", codes.q)
    logits = _check_coords(f"{name}.logits", codes.logits, q, f"{name}.q")
    _check_memberships(f"{name}.q", q)
    check_tensor(f"{name}.logits", logits, finite=True)
    return codes


class ChartwiseLinear(nn.Module):
    """k independent linear maps, one per chart, applied in one batched product.

    Parameters
    ----------
    charts, in_features, out_features : int
        Each ≥ 1.
    bias : bool
    """

    def __init__(self, charts: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.charts = check_int("charts", charts, 1)
        self.in_features = check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        check_bool("bias", bias)
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(charts, in_features, out_features))
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = nn.Parameter(torch.empty(charts, out_features)) if bias else None
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, k, in_features) to (B, k, out_features), chart j with map j."""
        x = check_tensor("x", x, ndim=3, floating=True)
        if x.shape[1:] != (self.charts, self.in_features):
            raise ValueError(
                f"x must have shape (B, {self.charts}, {self.in_features}), got {tuple(x.shape)}"
            )
        check_on_model("x", x, self)
        out = torch.einsum("bki,kio->bko", x, self.weight)
        return out if self.bias is None else out + self.bias


class AtlasHead(nn.Module):
    """Chart memberships and coordinates from features.

    Parameters
    ----------
    in_features : int
        ≥ 1.
    charts : int
        k, the number of charts (≥ 1).
    dim : int
        d, the dimension of every chart (≥ 1).
    """

    def __init__(self, in_features: int, charts: int, dim: int) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, 1)
        self.charts, self.dim = check_int("charts", charts, 1), check_int("dim", dim, 1)
        self.coordinates = nn.Linear(in_features, charts * dim)
        self.membership = nn.Linear(in_features, charts)

    def forward(self, features: torch.Tensor) -> AtlasCodes:
        """Features (B, in_features) → :class:`AtlasCodes` with k charts of dim d."""
        features = _check_features("features", features, self.in_features, self)
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
        (D,) for points in R^D, (C, S, S) for images (S ≥ 8); a list or torch.Size
        is accepted.
    charts : int
        k ≥ 1.
    dim : int
        d ≥ 1.
    hidden : int
        Width (≥ 1) of the encoder's and of every decoder's hidden layers.
    """

    def __init__(
        self, input_shape: tuple[int, ...], charts: int, dim: int, hidden: int = 64
    ) -> None:
        super().__init__()
        if not isinstance(input_shape, tuple | list):  # torch.Size is a tuple
            raise TypeError(
                f"input_shape must be a tuple of ints, got {type(input_shape).__name__}"
            )
        input_shape = tuple(check_int("every entry of input_shape", s, 1) for s in input_shape)
        if len(input_shape) not in (1, 3):
            raise ValueError(f"input_shape must be (D,) or (C, S, S), got {input_shape}")
        if len(input_shape) == 3 and (input_shape[1] != input_shape[2] or input_shape[1] < 8):
            raise ValueError(f"images must be square and at least 8×8, got {input_shape}")
        check_int("charts", charts, 1)
        check_int("dim", dim, 1)
        check_int("hidden", hidden, 1)
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
        x = check_tensor("x", x, floating=True)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        check_on_model("x", x, self)
        return self.head(self.encoder(x))

    def decode(self, coords: torch.Tensor) -> torch.Tensor:
        """Chart coordinates (B, k, d) → every chart's decoding, (B, k, *input_shape)."""
        coords = check_tensor("coords", coords, ndim=3, floating=True)
        if coords.shape[1:] != (self.charts, self.dim):
            raise ValueError(
                f"coords must have shape (B, {self.charts}, {self.dim}), got {tuple(coords.shape)}"
            )
        check_on_model("coords", coords, self)
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
        k ≥ 1 and d ≥ 1.
    hidden : int
        ≥ 1.
    """

    def __init__(self, charts: int, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.charts, self.dim = check_int("charts", charts, 1), check_int("dim", dim, 1)
        check_int("hidden", hidden, 1)
        self.net = nn.Sequential(
            nn.Linear(charts + dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, chart: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Charts (...,) int and coordinates (..., d) → logits (...,)."""
        chart = check_tensor("chart", chart)
        if chart.is_floating_point() or chart.is_complex() or chart.dtype == torch.bool:
            raise TypeError(f"chart must be an integer tensor, got {chart.dtype}")
        coords = check_tensor("coords", coords, floating=True)
        if coords.shape != (*chart.shape, self.dim):
            raise ValueError(
                f"chart (...,) and coords (..., {self.dim}) do not fit: {tuple(chart.shape)}, "
                f"{tuple(coords.shape)}"
            )
        check_same_device(chart=chart, coords=coords)
        check_on_model("coords", coords, self)
        onehot = nn.functional.one_hot(chart, self.charts).to(coords.dtype)
        return self.net(torch.cat([onehot, coords], dim=-1)).squeeze(-1)


def atlas_reconstruction(x: torch.Tensor, reconstructions: torch.Tensor, q: torch.Tensor):
    """Membership-weighted reconstruction error, mean_x Σ_j q_j(x)·MSE(x, ψ_j(φ_j(x))).

    Parameters
    ----------
    x : Tensor, shape (B, *S)
    reconstructions : Tensor, shape (B, k, *S)
    q : Tensor, shape (B, k)
        Memberships.

    Returns
    -------
    Tensor, scalar
    """
    q = _check_q("q", q)
    x = check_tensor("x", x, floating=True)
    reconstructions = check_tensor("reconstructions", reconstructions, floating=True)
    if x.dim() < 2 or x.shape[0] != q.shape[0]:
        raise ValueError(f"x must have shape (B, *S) with B = {q.shape[0]}, got {tuple(x.shape)}")
    if reconstructions.shape != (*q.shape, *x.shape[1:]):
        raise ValueError(
            f"reconstructions must have shape (B, k, *S) = {(*q.shape, *x.shape[1:])}, got "
            f"{tuple(reconstructions.shape)}"
        )
    check_same_device(x=x, reconstructions=reconstructions, q=q)
    _check_memberships("q", q)
    check_tensor("x", x, finite=True)
    check_tensor("reconstructions", reconstructions, finite=True)
    err = (reconstructions - x.unsqueeze(1)).pow(2).flatten(2).mean(dim=2)
    return (q * err).sum(dim=1).mean()


def membership_spread(q: torch.Tensor) -> torch.Tensor:
    """mean_x Σ_j (q_j(x) − 1/k)², largest when every q(x) sits on one chart.

    The trainers *subtract* it (times a weight), as the reference code does, so that
    each sample is represented in one chart rather than in the union of all of them.

    Parameters
    ----------
    q : Tensor, shape (B, k)
        Memberships, B ≥ 1.
    """
    q = _check_q("q", q)
    _check_memberships("q", q)
    return (q - 1.0 / q.shape[1]).pow(2).sum(dim=1).mean()


def sample_prior(
    n: int, charts: int, dim: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of the uniform law on {1..k} × [0,1]^d: charts (n,) and coordinates (n, d).

    ``n``, ``charts`` and ``dim`` are ints ≥ 1; ``generator`` a CPU generator; the draws
    are moved to ``device`` (a torch.device or its name).
    """
    check_int("n", n, 1)
    check_int("charts", charts, 1)
    check_int("dim", dim, 1)
    check_generator("generator", generator)
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must name a torch device, got {device!r}: {error}") from None
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
        CPU generator; draws the prior samples.
    prior_samples : int, optional
        Number of prior draws per chart (≥ 2); B by default.

    Returns
    -------
    Tensor, scalar
    """
    codes = _check_codes("codes", codes)
    check_generator("generator", generator)
    prior_samples = check_optional_int("prior_samples", prior_samples, 2)
    if codes.q.shape[0] < 2:
        raise ValueError(f"codes must hold at least 2 samples, got {codes.q.shape[0]}")
    q, logits = codes.q, codes.logits.clamp(-10, 10)
    b, k, d = logits.shape
    m = b if prior_samples is None else prior_samples
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


def _check_gan_arguments(discriminator: object, codes: object) -> AtlasCodes:
    if not isinstance(discriminator, LatentDiscriminator):
        raise TypeError(
            f"discriminator must be a LatentDiscriminator, got {type(discriminator).__name__}"
        )
    codes = _check_codes("codes", codes)
    _, k, d = codes.logits.shape
    if (discriminator.charts, discriminator.dim) != (k, d):
        raise ValueError(
            f"discriminator has {discriminator.charts} charts of dimension {discriminator.dim} "
            f"but codes have {k} of dimension {d}"
        )
    check_on_model("codes", codes.q, discriminator)
    return codes


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
        Of k charts of dimension d, on the codes' device.
    codes : AtlasCodes
        q (B, k) and logits (B, k, d).
    generator : torch.Generator
        CPU generator; draws B prior samples.

    Returns
    -------
    Tensor, scalar
    """
    codes = _check_gan_arguments(discriminator, codes)
    check_generator("generator", generator)
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
        Of k charts of dimension d, on the codes' device.
    codes : AtlasCodes
        q (B, k) and logits (B, k, d).

    Returns
    -------
    Tensor, scalar
    """
    codes = _check_gan_arguments(discriminator, codes)
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
        Memberships, N ≥ 1.
    coords_a : Tensor, shape (N, k, d)
        Finite coordinates.
    q_b : Tensor, shape (M, k)
        Memberships, M ≥ 1.
    coords_b : Tensor, shape (M, k, d)
        Finite coordinates.
    variant : {"blog", "code"}

    Returns
    -------
    Tensor, shape (N, M)
    """
    variant = check_choice("variant", variant, DISTANCES)
    q_a, q_b = _check_q("q_a", q_a), _check_q("q_b", q_b)
    coords_a = _check_coords("coords_a", coords_a, q_a, "q_a")
    coords_b = _check_coords("coords_b", coords_b, q_b, "q_b")
    if q_a.shape[1] != q_b.shape[1] or coords_a.shape[2] != coords_b.shape[2]:
        raise ValueError(
            f"the two sets have different charts or dims: {tuple(coords_a.shape)} vs "
            f"{tuple(coords_b.shape)}"
        )
    check_same_device(q_a=q_a, q_b=q_b)
    _check_memberships("q_a", q_a)
    _check_memberships("q_b", q_b)
    check_tensor("coords_a", coords_a, finite=True)
    check_tensor("coords_b", coords_b, finite=True)
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
        Weight λ ≥ 0 of the regulariser (the encoder's GAN loss, or the MMD).
    membership : float
        Weight ≥ 0 of :func:`membership_spread`, subtracted (0.1 in the reference code).
    epochs, batch_size : int
        ≥ 1 and ≥ 2.
    lr : float
        Adam learning rate of the autoencoder, > 0.
    disc_lr : float
        Adam learning rate of the discriminator (GAN only), > 0.
    seed : int
        Seeds batch order and prior draws, ≥ 0.
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
        check_choice("regulariser", self.regulariser, REGULARISERS)
        check_float("lam", self.lam, 0.0)
        check_float("membership", self.membership, 0.0)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 2)
        check_float("lr", self.lr, 0.0, low_open=True)
        check_float("disc_lr", self.disc_lr, 0.0, low_open=True)
        check_int("seed", self.seed, 0)
        check_optional_int("steps_per_epoch", self.steps_per_epoch, 1)


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
        Finite, floating, on the model's device; N ≥ ``config.batch_size``.
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
    if not isinstance(model, AtlasAutoencoder):
        raise TypeError(f"model must be an AtlasAutoencoder, got {type(model).__name__}")
    if not isinstance(config, AtlasConfig):
        raise TypeError(f"config must be an AtlasConfig, got {type(config).__name__}")
    data = check_tensor("data", data, floating=True)
    if data.dim() < 2 or tuple(data.shape[1:]) != model.input_shape:
        raise ValueError(
            f"data must have shape (N, {', '.join(map(str, model.input_shape))}), "
            f"got {tuple(data.shape)}"
        )
    check_on_model("data", data, model)
    check_tensor("data", data, finite=True)
    check_path("checkpoint", checkpoint)
    check_bool("progress", progress)
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
