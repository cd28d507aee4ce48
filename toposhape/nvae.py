"""The N-VAE (Antorán & Miguel, 2019) and the VAE baselines it is compared with.

Latents z = [z_c, z_s]: z_c ∈ R^L is class-dependent, z_s ∈ R^M shared by the K classes.
The N-VAE's decoder reads z_cy ⊕ z_s with z_cy = vec(c_y ⊗ [1, z_c]) (c_y the one-hot
label), so its first layer has a bias and a linear map of z_c for every class and one map
of z_s for all of them. Its objective (maximised; the loss is its negative, averaged over
the batch) is

    L_βc = E_q[log p(x | y, z)] − KL(q(z_s|x) ‖ N(0, I)) − β_c·KL(q(z_c|x) ‖ N(0, I))
           + log q(y|x)

with the true label y and q(y|x) a classifier head of the encoder. The baselines share
the encoder, the decoder body and the total latent size L + M (so the comparison is at
equal capacity; their z_c/z_s split means nothing): a VAE and a conditional VAE
(decoder input z ⊕ one-hot(y)). Their losses leave out log q(y|x): their classifier
head stays untrained and its accuracy is reported as absent.

:func:`train_vae` trains to a stopping rule: after every epoch it measures the ELBO of
held-out images, and it stops once :func:`converged` holds (or at a cap): once the run has
at least two patiences of epochs and the best held-out ELBO of its last ``patience`` epochs
is less than ``tolerance`` nats above the best of all its earlier epochs. A run can stop
while its held-out ELBO is still slowly rising, or after it fell. The model it returns has
the weights of its best held-out epoch (:func:`best_epoch`), not necessarily its last.

Posteriors are diagonal Gaussians, sampled once per image by reparameterisation. The
likelihood is a Bernoulli on grey levels, −log p(x|y,z) = binary cross-entropy with
logits against the non-binarised intensities in [0, 1]. For non-binary x this is not a
normalised density: the log-likelihoods here compare the models of this module with one
another, not with published numbers on binarised MNIST.
"""

import copy
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from toposhape.checks import (
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_images,
    check_int,
    check_labels,
    check_on_model,
    check_path,
    check_same_device,
    check_sequence,
    check_tensor,
)
from toposhape.training import MAX_SEED, fit_epochs, read_checkpoint, seeded, tensor_digest

KINDS = ("nvae", "vae", "cvae")
_CONDITIONAL = ("nvae", "cvae")
_STATS = ("loss", "reconstruction", "kl_c", "kl_s", "classification")

#: The entry of a :func:`train_vae` checkpoint's state that holds the best validation weights.
_BEST = "best"


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag e^logvar) ‖ N(0, I)) per dimension, shape of ``mu``.

    ``mu`` and ``logvar`` are finite floating tensors of one shape on one device.
    """
    check_tensor("mu", mu, floating=True)
    check_tensor("logvar", logvar, floating=True)
    if logvar.shape != mu.shape:
        raise ValueError(
            f"logvar must have the shape of mu {tuple(mu.shape)}, got {tuple(logvar.shape)}"
        )
    check_same_device(mu=mu, logvar=logvar)
    check_tensor("mu", mu, finite=True)
    check_tensor("logvar", logvar, finite=True)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli log-likelihood of grey levels, summed per sample.

    Parameters
    ----------
    logits : Tensor, shape (B, ...), at least 2 dimensions
        Finite floating logits.
    x : Tensor, shape of ``logits``, on the device of ``logits``
        Intensities in [0, 1] (not binarised; see the module docstring).

    Returns
    -------
    Tensor, shape (B,)
    """
    check_tensor("logits", logits, floating=True)
    if logits.dim() < 2:
        raise ValueError(f"logits must have shape (B, ...), got shape {tuple(logits.shape)}")
    check_tensor("x", x, floating=True)
    if x.shape != logits.shape:
        raise ValueError(
            f"x must have the shape of logits {tuple(logits.shape)}, got {tuple(x.shape)}"
        )
    check_same_device(logits=logits, x=x)
    check_tensor("logits", logits, finite=True)
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"x must be intensities in [0, 1], got values in [{x.min()}, {x.max()}]")
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -nll.flatten(1).sum(dim=1)


class LatentVAE(nn.Module):
    """An N-VAE or one of its baselines for (1, H, W) greyscale images.

    Encoder: Conv(1→32, 4, 2, 1), ReLU, Conv(32→64, 4, 2, 1), ReLU, Linear(·, hidden),
    ReLU; heads for the mean and log-variance of z (L + M dims, the first L are z_c) and
    for the class logits of q(y|x). Decoder: Linear(in, hidden), ReLU, Linear(hidden,
    hidden), ReLU, Linear(hidden, H·W) → Bernoulli logits, with ``in`` set by the kind
    (see :meth:`decoder_input`).

    Parameters
    ----------
    kind : {"nvae", "vae", "cvae"}
    image_shape : sequence of 3 ints, (1, H, W)
        H, W ≥ 8 and divisible by 4.
    classes : int
        K ≥ 2.
    class_dim : int
        L ≥ 1, the size of z_c.
    shared_dim : int
        M ≥ 0, the size of z_s.
    hidden : int
        Width of the encoder's and decoder's hidden layers.
    beta : float
        β_c ≥ 0, the weight of z_c's KL, for "nvae"; must be 1 for "vae" and "cvae".
    """

    def __init__(
        self,
        kind: str,
        image_shape: Sequence[int] = (1, 28, 28),
        classes: int = 10,
        class_dim: int = 4,
        shared_dim: int = 6,
        hidden: int = 512,
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        check_choice("kind", kind, KINDS)
        check_sequence("image_shape", image_shape)
        shape = tuple(check_int("image_shape", s) for s in image_shape)
        if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 8 or shape[1] % 4 or shape[2] % 4:
            raise ValueError(
                f"image_shape must be (1, H, W) with H, W >= 8 and divisible by 4, "
                f"got {image_shape!r}"
            )
        classes = check_int("classes", classes, 2)
        class_dim = check_int("class_dim", class_dim, 1)
        shared_dim = check_int("shared_dim", shared_dim, 0)
        hidden = check_int("hidden", hidden, 1)
        beta = check_float("beta", beta, 0.0)
        if kind != "nvae" and beta != 1:
            raise ValueError(
                f"beta must be 1 for kind={kind!r} (β_c weights the N-VAE's z_c), got {beta!r}"
            )
        self.kind, self.image_shape, self.classes = kind, shape, classes
        self.class_dim, self.shared_dim, self.beta = class_dim, shared_dim, float(beta)
        self.latent_dim = class_dim + shared_dim
        self.config = {
            "kind": kind,
            "image_shape": list(shape),
            "classes": classes,
            "class_dim": class_dim,
            "shared_dim": shared_dim,
            "hidden": hidden,
            "beta": float(beta),
        }
        height, width = shape[1:]
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear((height // 4) * (width // 4) * 64, hidden),
            nn.ReLU(),
        )
        self.mu_head = nn.Linear(hidden, self.latent_dim)
        self.logvar_head = nn.Linear(hidden, self.latent_dim)
        self.class_head = nn.Linear(hidden, classes)
        inputs = {
            "nvae": classes * (class_dim + 1) + shared_dim,
            "cvae": self.latent_dim + classes,
        }.get(kind, self.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(inputs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, height * width),
        )

    @property
    def device(self) -> torch.device:
        """The device of the weights."""
        return self.mu_head.weight.device

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 1, H, W) → mean (B, L+M), log-variance (B, L+M), class logits (B, K).

        ``x``: pixels in [0, 1], of the weights' dtype and on their device.
        """
        _check_images(self, "x", x, on_model=True)
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h), self.class_head(h)

    def decoder_input(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's input for latents z (B, L+M) and labels y (B,), integers in [0, K).

        "nvae": vec(c_y ⊗ [1, z_c]) ⊕ z_s, shape (B, K·(L+1) + M); "cvae": z ⊕ c_y,
        (B, L+M+K); "vae": z itself (y is ignored and may be None). z is
        finite, of the weights' dtype; z and y are on the weights' device.
        """
        check_tensor("z", z, ndim=2, floating=True)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        check_on_model("z", z, self)
        _check_dtype(self, "z", z)
        check_tensor("z", z, finite=True)
        if y is None:
            if self.kind in _CONDITIONAL:
                raise ValueError(f"y must be labels of shape ({len(z)},) for kind={self.kind!r}")
            return z
        check_labels("y", y)
        check_on_model("y", y, self)
        y = _check_labels(self, "y", y, len(z))
        if self.kind not in _CONDITIONAL:
            return z
        onehot = F.one_hot(y, self.classes).to(z.dtype)
        if self.kind == "cvae":
            return torch.cat([z, onehot], dim=1)
        ones_zc = torch.cat([torch.ones_like(z[:, :1]), z[:, : self.class_dim]], dim=1)
        z_cy = (onehot.unsqueeze(2) * ones_zc.unsqueeze(1)).flatten(1)  # (B, K·(L+1))
        return torch.cat([z_cy, z[:, self.class_dim :]], dim=1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli logits (B, 1, H, W) of p(x | y, z); see :meth:`decoder_input`."""
        return self.decoder(self.decoder_input(z, y)).reshape(-1, *self.image_shape)

    def _per_image(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """−log p(x|y,z) (B,) for one z ~ q(z|x), KL per dim (B, L+M), −log q(y|x) (B,)."""
        mu, logvar, class_logits = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator).to(mu)
        z = mu + (0.5 * logvar).exp() * eps
        reconstruction = -bernoulli_log_likelihood(self.decode(z, y), x)
        classification = F.cross_entropy(class_logits, y, reduction="none")
        return reconstruction, gaussian_kl(mu, logvar), classification

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The terms of the loss on a batch, with one z ~ q(z|x) per image.

        Parameters
        ----------
        x : Tensor, shape (B, 1, H, W)
            Images in [0, 1], of the weights' dtype and on their device.
        y : Tensor, shape (B,), integers in [0, K)
            True labels, on the weights' device.
        generator : torch.Generator
            CPU generator of the reparameterisation noise.

        Returns
        -------
        dict
            Batch means ``reconstruction`` (−log p(x|y,z), summed over pixels), ``kl_c``
            and ``kl_s`` (KL of the first L and the last M dims), ``classification``
            (−log q(y|x)), ``loss`` (this kind's negative objective), all scalars; and
            ``kl_per_dim`` (B, L+M), detached.
        """
        _check_images(self, "x", x, on_model=True)
        check_labels("y", y)
        check_on_model("y", y, self)
        y = _check_labels(self, "y", y, len(x))
        check_generator("generator", generator)
        reconstruction, kl, classification = self._per_image(x, y, generator)
        kl_c = kl[:, : self.class_dim].sum(dim=1).mean()
        kl_s = kl[:, self.class_dim :].sum(dim=1).mean()
        terms = {
            "reconstruction": reconstruction.mean(),
            "kl_c": kl_c,
            "kl_s": kl_s,
            "classification": classification.mean(),
        }
        if self.kind == "nvae":
            loss = terms["reconstruction"] + kl_s + self.beta * kl_c + terms["classification"]
        else:
            loss = terms["reconstruction"] + kl_c + kl_s
        return {**terms, "loss": loss, "kl_per_dim": kl.detach()}

    @torch.no_grad()
    def sample(
        self, labels: torch.Tensor, generator: torch.Generator, sigma: float = 1.0
    ) -> torch.Tensor:
        """Ancestral samples: z ~ N(0, σ²I), decoded with ``labels``.

        Parameters
        ----------
        labels : Tensor, shape (n,), integers in [0, K)
            One label per sample, on the CPU or the model's device; for "vae" they
            only set n.
        generator : torch.Generator
            CPU generator of z.
        sigma : float
            σ ≥ 0 (σ = 0 decodes z = 0).

        Returns
        -------
        Tensor, shape (n, 1, H, W)
            Bernoulli means (sigmoid of the logits), on the model's device.
        """
        sigma = check_float("sigma", sigma, 0.0)
        check_generator("generator", generator)
        check_labels("labels", labels)
        _check_device(self, "labels", labels)
        labels = _check_labels(self, "labels", labels, None)
        z = sigma * torch.randn(len(labels), self.latent_dim, generator=generator)
        return torch.sigmoid(self.decode(z.to(self.mu_head.weight), labels.to(self.device)))


def build_vae(init_seed: int = 0, **kwargs) -> LatentVAE:
    """A :class:`LatentVAE` (on the CPU) with weights from ``torch.manual_seed(init_seed)``.

    ``init_seed`` is an int in [0, 2**32 - 1]; ``kwargs`` are those of :class:`LatentVAE`.
    The global RNG is restored afterwards, so nothing else depends on it.
    """
    check_int("init_seed", init_seed, 0, MAX_SEED)
    with seeded(init_seed):
        return LatentVAE(**kwargs)


def _shape(model: LatentVAE) -> str:
    return ", ".join(map(str, model.image_shape))


def _check_model(model: object) -> LatentVAE:
    if not isinstance(model, LatentVAE):
        raise TypeError(f"model must be a LatentVAE, got {type(model).__name__}")
    return model


def _check_dtype(model: LatentVAE, name: str, value: torch.Tensor) -> None:
    dtype = model.mu_head.weight.dtype
    if value.dtype != dtype:
        raise TypeError(f"{name} must be {dtype} like the model's weights, got {value.dtype}")


def _check_device(model: LatentVAE, name: str, value: torch.Tensor) -> None:
    """ValueError unless ``value`` is on the CPU or the model's device (it is moved there)."""
    if value.device.type != "cpu":
        check_on_model(name, value, model)


def _check_labels(model: LatentVAE, name: str, labels: torch.Tensor, n: int | None) -> torch.Tensor:
    """Integer labels (checked by ``check_labels``) of length n (any if None) in [0, K), long."""
    if n is not None and len(labels) != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= model.classes):
        raise ValueError(f"{name} must be in [0, {model.classes}), got {labels.unique().tolist()}")
    return labels.long()


def _check_images(
    model: LatentVAE, name: str, images: object, *, on_model: bool = False, min_rows: int = 0
) -> torch.Tensor:
    """Images (N, 1, H, W) of the model, in [0, 1], of the weights' dtype.

    On the model's device if ``on_model``, else on the CPU or the model's device.
    """
    check_tensor(name, images, ndim=4, min_rows=min_rows)
    if tuple(images.shape[1:]) != model.image_shape:
        raise ValueError(
            f"{name} must have shape ({'B' if on_model else 'N'}, {_shape(model)}), "
            f"got {tuple(images.shape)}"
        )
    if on_model:
        check_on_model(name, images, model)
    else:
        _check_device(model, name, images)
    _check_dtype(model, name, images)
    return check_images(name, images, uint8=False)


def _check_data(
    model: object,
    images: object,
    labels: object | None = None,
    min_rows: int = 1,
) -> torch.Tensor | None:
    """Check the model and a data set: images (N ≥ min_rows) and, if given, their labels.

    Returns the labels as long (None without labels).
    """
    model = _check_model(model)
    check_tensor("images", images)
    if labels is not None:
        check_labels("labels", labels)
        check_same_device(images=images, labels=labels)
    _check_images(model, "images", images, min_rows=min_rows)
    return None if labels is None else _check_labels(model, "labels", labels, len(images))


def _chunks(
    model: LatentVAE, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, images.shape[0], batch_size):
        chunk = slice(start, start + batch_size)
        yield images[chunk].to(model.device), labels[chunk].to(model.device)


def converged(history: Sequence[dict], patience: int, tolerance: float) -> bool:
    """The stopping rule of :func:`train_vae`: has the held-out ELBO stopped improving?

    True once the history holds at least 2·``patience`` epochs and the best ``val_elbo``
    of the last ``patience`` epochs exceeds the best of all earlier epochs by less than
    ``tolerance`` nats (absolute; a held-out ELBO that got worse also stops). An absolute
    tolerance, not one relative to the ELBO: most of a grey-level image's ELBO is the
    irreducible entropy of its Bernoulli targets, which would make a relative tolerance
    looser the more pixels an image has.

    Parameters
    ----------
    history : sequence of dict
        Per-epoch entries with a ``val_elbo`` (nats per image).
    patience : int
        ≥ 1 epochs.
    tolerance : float
        Improvement ≥ 0, in nats per image.
    """
    check_sequence("history", history, nonempty=False)
    patience = check_int("patience", patience, 1)
    tolerance = check_float("tolerance", tolerance, 0.0)
    if len(history) < 2 * patience:
        return False
    return held_out_gain(history, patience) < tolerance


def held_out_gain(history: Sequence[dict], epochs: int) -> float:
    """How far the best ``val_elbo`` of the last ``epochs`` epochs is above the best of all
    earlier epochs (nats; negative when it fell): with ``epochs`` the patience, what
    :func:`converged` compares with its tolerance. NaN when ``history`` is not longer than
    ``epochs``.

    Parameters
    ----------
    history : sequence of dict
        Per-epoch entries with a ``val_elbo`` (nats per image).
    epochs : int
        The length of the window at the end, ≥ 1.

    Raises
    ------
    TypeError, ValueError
        If ``history`` is not a sequence or ``epochs`` is not an int ≥ 1.
    """
    check_sequence("history", history, nonempty=False)
    epochs = check_int("epochs", epochs, 1)
    values = [float(entry["val_elbo"]) for entry in history]
    if len(values) <= epochs:
        return float("nan")
    return max(values[-epochs:]) - max(values[:-epochs])


def best_epoch(history: Sequence[dict]) -> int:
    """The epoch (1-based) of the highest ``val_elbo`` in ``history``; the first of ties.

    The epoch whose weights :func:`train_vae` returns.

    Parameters
    ----------
    history : sequence of dict
        Per-epoch entries with a ``val_elbo`` (nats per image), at least one.
    """
    check_sequence("history", history)
    values = [float(entry["val_elbo"]) for entry in history]
    return values.index(max(values)) + 1


class OutdatedCheckpointError(ValueError):
    """A :func:`train_vae` checkpoint written before checkpoints held the best weights.

    Its run cannot end with the weights of its best validation epoch (unless that was its
    last), so it is not resumed: it must be set aside and the run started over.
    """


def checkpoint_history(checkpoint: str | Path | None) -> list[dict]:
    """The per-epoch history of a :func:`train_vae` checkpoint; ``[]`` when there is none.

    Parameters
    ----------
    checkpoint : path or None
        None, or where :func:`train_vae` writes its checkpoint (it need not exist).

    Raises
    ------
    OutdatedCheckpointError
        If the checkpoint holds no best validation weights (written by an earlier
        toposhape).
    ValueError
        If it is damaged (see :func:`toposhape.training.read_checkpoint`).
    """
    check_path("checkpoint", checkpoint)
    if checkpoint is None or not Path(checkpoint).exists():
        return []
    saved = read_checkpoint(checkpoint)
    if _BEST not in saved.state:
        raise OutdatedCheckpointError(
            f"checkpoint {checkpoint} was written before train_vae kept the best validation "
            f"weights in its checkpoints, so its run cannot end with them; delete it (or move "
            f"it away) to train that model again from the start"
        )
    return saved.history


def train_vae(
    model: LatentVAE,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    validation: tuple[torch.Tensor, torch.Tensor],
    max_epochs: int,
    patience: int,
    tolerance: float,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train ``model`` with Adam on its kind's loss until :func:`converged`, resuming.

    After every epoch the ELBO of the held-out ``validation`` images is measured (with
    the same posterior draws every epoch, so epochs differ by the model only) and the
    run stops as soon as ``converged(history, patience, tolerance)`` holds, or after
    ``max_epochs``. The stopping settings are not part of the checkpoint's identity: a
    finished run resumes under a stricter rule or a higher cap (from its last weights).

    On return ``model`` holds the weights of the epoch with the best validation ELBO
    (:func:`best_epoch` of the history), which the checkpoint keeps beside the last
    weights; so a resumed run ends with exactly the weights of an uninterrupted one.

    Parameters
    ----------
    model : LatentVAE
        Trained in place, left at its best validation weights (build it with
        :func:`build_vae` for seeded weights).
    images : Tensor, shape (N, 1, H, W)
        Training images in [0, 1], of the weights' dtype, on the CPU or the model's
        device; moved to the model's device.
    labels : Tensor, shape (N,), integers in [0, K), on the device of ``images``
    validation : (Tensor, Tensor)
        Held-out images (V ≥ 1, as ``images``) and their labels.
    max_epochs : int
        Cap (≥ 1).
    patience : int
        ≥ 1 (see :func:`converged`).
    tolerance : float
        ≥ 0 nats (see :func:`converged`).
    batch_size : int
        ≥ 1; N ≥ batch_size.
    lr : float
        > 0.
    seed : int
        Seeds batch order, reparameterisation noise and the validation draws; in
        [0, 2**32 - 1].
    checkpoint : path, optional
        Written atomically after every epoch, with the best weights so far; training
        resumes from it (see :func:`toposhape.training.fit_epochs`).
    progress : bool

    Returns
    -------
    list of dict
        Per epoch (every epoch run, also those after the best): means of ``loss``,
        ``reconstruction``, ``kl_c``, ``kl_s``, ``classification`` (untrained head for
        kinds other than "nvae"), ``seconds`` and ``val_elbo``.

    Raises
    ------
    OutdatedCheckpointError
        If ``checkpoint`` exists but holds no best weights (see :func:`checkpoint_history`).
    """
    labels = _check_data(model, images, labels)
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise TypeError("validation must be a pair (images, labels)")
    val_labels = _check_data(model, validation[0], validation[1])
    val_images = validation[0]
    check_int("max_epochs", max_epochs, 1)
    check_int("patience", patience, 1)
    check_float("tolerance", tolerance, 0.0)
    check_int("batch_size", batch_size, 1)
    check_float("lr", lr, 0.0, low_open=True)
    check_int("seed", seed, 0, MAX_SEED)
    check_bool("progress", progress)
    earlier = checkpoint_history(checkpoint)
    top = max((float(entry["val_elbo"]) for entry in earlier), default=-math.inf)
    images, labels = images.to(model.device), labels.to(model.device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    best = copy.deepcopy(model).requires_grad_(False)  # its weights are loaded on resume

    def step(indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        terms = model(images[indices], labels[indices], generator)
        optimiser.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimiser.step()
        return {key: terms[key].detach() for key in _STATS}

    def validate(_epoch: int) -> dict[str, float]:
        nonlocal top
        model.eval()
        value = elbo(model, val_images, val_labels, torch.Generator().manual_seed(seed))
        model.train()
        if value > top:  # strictly: the first of equal epochs stays the best
            top = value
            best.load_state_dict(model.state_dict())
        return {"val_elbo": value}

    model.train()
    settings = {"batch_size": batch_size, "lr": lr, "seed": seed}
    history = fit_epochs(
        (images, labels),
        step,
        {"model": model, "optimiser": optimiser, _BEST: best},
        epochs=max_epochs,
        batch_size=batch_size,
        seed=seed,
        config={
            "train": settings,
            "model": model.config,
            "validation": tensor_digest(val_images, val_labels),
        },
        checkpoint=checkpoint,
        progress=progress,
        description=f"{model.kind} L={model.class_dim} M={model.shared_dim} β={model.beta:g}",
        on_epoch=validate,
        until=lambda h: converged(h, patience, tolerance),
    )
    model.load_state_dict(best.state_dict())
    model.eval()
    return history


@torch.no_grad()
def elbo(
    model: LatentVAE,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    batch_size: int = 500,
) -> float:
    """Mean ELBO per image (nats): −(reconstruction + KL of all L+M dims), one z per image.

    The bound on log p(x|y) (true labels) for "nvae" and "cvae", on log p(x) for "vae"
    (which ignores the labels); the N-VAE's log q(y|x) is not part of it. Arguments as in
    :func:`iwae_log_likelihood`.
    """
    labels = _check_data(model, images, labels)
    check_generator("generator", generator)
    check_int("batch_size", batch_size, 1)
    total = 0.0
    for x, y in _chunks(model, images, labels, batch_size):
        reconstruction, kl, _ = model._per_image(x, y, generator)
        total += float((reconstruction + kl.sum(dim=1)).sum())
    return -total / images.shape[0]


@torch.no_grad()
def iwae_log_likelihood(
    model: LatentVAE,
    images: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    generator: torch.Generator,
    batch_size: int = 100,
) -> float:
    """Mean importance-weighted log-likelihood per image (nats), k samples of q(z|x).

    log (1/k) Σ_i p(x | y, z_i) p(z_i) / q(z_i | x): a lower bound that tightens as k
    grows (k = 1 is an unbiased estimate of the ELBO; the chapter uses k ≈ 100). It
    estimates log p(x | y) with the true labels for "nvae" and "cvae", and log p(x) for
    "vae": the conditional models are given the label, so their numbers are
    not directly comparable with the unconditional ones.

    Parameters
    ----------
    model : LatentVAE
    images : Tensor, shape (N, 1, H, W), N ≥ 1
        Pixels in [0, 1], of the weights' dtype, on the CPU or the model's device.
    labels : Tensor, shape (N,), integers in [0, K), on the device of ``images``
    k : int
        Importance samples per image (≥ 1).
    generator : torch.Generator
        CPU generator of the samples.
    batch_size : int
        Images per chunk (≥ 1; k·batch_size decodings at a time).

    Returns
    -------
    float
    """
    labels = _check_data(model, images, labels)
    check_int("k", k, 1)
    check_generator("generator", generator)
    check_int("batch_size", batch_size, 1)
    total = 0.0
    for x, y in _chunks(model, images, labels, batch_size):
        mu, logvar, _ = model.encode(x)
        eps = torch.randn((k, *mu.shape), generator=generator).to(mu)
        z = mu + (0.5 * logvar).exp() * eps  # (k, B, L+M)
        logits = model.decode(z.flatten(0, 1), y.repeat(k))
        log_px = bernoulli_log_likelihood(logits, x.repeat(k, 1, 1, 1)).view(k, -1)
        # log p(z) − log q(z|x); the log 2π terms cancel
        log_ratio = 0.5 * (eps.pow(2) - z.pow(2) + logvar).sum(dim=2)
        total += float((torch.logsumexp(log_px + log_ratio, dim=0) - math.log(k)).sum())
    return total / images.shape[0]


@torch.no_grad()
def classifier_accuracy(
    model: LatentVAE, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> float:
    """Accuracy of argmax q(y|x) (only the N-VAE trains the classifier head).

    Arguments as in :func:`iwae_log_likelihood`.
    """
    labels = _check_data(model, images, labels)
    check_int("batch_size", batch_size, 1)
    correct = 0
    for x, y in _chunks(model, images, labels, batch_size):
        correct += int((model.encode(x)[2].argmax(dim=1) == y).sum())
    return correct / images.shape[0]


@torch.no_grad()
def kl_per_class(
    model: LatentVAE, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> np.ndarray:
    """Mean KL(q(z|x) ‖ N(0, I)) of every latent dim over the images of every class.

    The N-VAE's feature detector: a z_c dim is used by the classes whose row is large
    there. Arguments as in :func:`iwae_log_likelihood`.

    Returns
    -------
    ndarray, shape (K, L+M)
        NaN rows for classes without images.
    """
    labels = _check_data(model, images, labels)
    check_int("batch_size", batch_size, 1)
    sums = torch.zeros(model.classes, model.latent_dim, dtype=torch.float64)
    counts = torch.zeros(model.classes, dtype=torch.float64)
    for x, y in _chunks(model, images, labels, batch_size):
        mu, logvar, _ = model.encode(x)
        sums.index_add_(0, y.cpu(), gaussian_kl(mu, logvar).double().cpu())
        counts.index_add_(0, y.cpu(), torch.ones(len(y), dtype=torch.float64))
    return (sums / counts.unsqueeze(1)).numpy()


@torch.no_grad()
def posterior(
    model: LatentVAE, images: torch.Tensor, generator: torch.Generator, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and one draw z ~ q(z|x) of every image, on the CPU.

    Parameters
    ----------
    model : LatentVAE
    images : Tensor, shape (N, 1, H, W), N ≥ 1
        Pixels in [0, 1], of the weights' dtype, on the CPU or the model's device.
    generator : torch.Generator
        CPU generator of the draws.
    batch_size : int
        Images encoded at a time (≥ 1).

    Returns
    -------
    means, draws : Tensor, shape (N, L+M) each
    """
    _check_data(model, images)
    check_generator("generator", generator)
    check_int("batch_size", batch_size, 1)
    means, draws = [], []
    for start in range(0, images.shape[0], batch_size):
        mu, logvar, _ = model.encode(images[start : start + batch_size].to(model.device))
        eps = torch.randn(mu.shape, generator=generator).to(mu)
        means.append(mu.cpu())
        draws.append((mu + (0.5 * logvar).exp() * eps).cpu())
    return torch.cat(means), torch.cat(draws)


@torch.no_grad()
def traversal(
    model: LatentVAE,
    base_z: torch.Tensor,
    dim: int,
    values: torch.Tensor,
    classes: Sequence[int],
) -> torch.Tensor:
    """Decodings of ``base_z`` with z[dim] set to each value, for each class.

    Parameters
    ----------
    model : LatentVAE
    base_z : Tensor, shape (L+M,)
        Finite, floating, on the CPU or the model's device.
    dim : int
        The latent dim traversed, in [0, L+M) (the first L are z_c).
    values : Tensor, shape (V,)
        Finite, floating, on the CPU or the model's device.
    classes : sequence of int
        Labels in [0, K), at least one; "vae" ignores them (all rows are
        equal).

    Returns
    -------
    Tensor, shape (len(classes), V, 1, H, W)
        Bernoulli means, on the model's device.
    """
    _check_model(model)
    check_tensor("base_z", base_z, floating=True)
    if tuple(base_z.shape) != (model.latent_dim,):
        raise ValueError(f"base_z must have shape ({model.latent_dim},), got {tuple(base_z.shape)}")
    _check_device(model, "base_z", base_z)
    check_tensor("base_z", base_z, finite=True)
    dim = check_int("dim", dim, 0, model.latent_dim - 1)
    check_tensor("values", values, ndim=1, floating=True)
    _check_device(model, "values", values)
    check_tensor("values", values, finite=True)
    check_sequence("classes", classes)
    classes = [check_int("classes", c, 0, model.classes - 1) for c in classes]
    z = base_z.to(model.mu_head.weight).repeat(len(values), 1)
    z[:, dim] = values.to(z)
    rows = [
        torch.sigmoid(model.decode(z, torch.full((len(values),), c, device=model.device)))
        for c in classes
    ]
    return torch.stack(rows)
