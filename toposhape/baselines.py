"""One-class baselines measured under the same protocol as the η-ball scores.

Each function fits on the ``n`` inlier images of one draw and returns a score per
test image, higher meaning "more like the inliers", so that AUROC is computed the
same way for every method (:func:`toposhape.oneclass.run_protocol`).

* :func:`kde_scores`: Gaussian kernel density on raw pixels (scikit-learn), bandwidth
  chosen by 5-fold cross-validated log-likelihood on the inliers;
* :func:`ocsvm_scores`: one-class SVM with an RBF kernel on raw pixels (scikit-learn);
* :func:`deep_svdd_scores`: One-Class Deep SVDD (Ruff et al., ICML 2018) with its
  LeNet-type network (:class:`DeepSVDDNet`), trained from scratch on the inliers.
  Ruff et al. pretrain the network as an autoencoder; that step is left out here
  (stated in the chapter). scikit-learn and PyOD offer no convolutional Deep SVDD,
  hence this short implementation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM
from torch import nn

from toposhape.checks import check_choice, check_float, check_images, check_int, check_sequence
from toposhape.training import seeded

__all__ = ["DeepSVDDNet", "deep_svdd_scores", "flatten_pixels", "kde_scores", "ocsvm_scores"]

#: Bandwidths searched for the pixel-space KDE (pixels scaled to [0, 1]).
KDE_BANDWIDTHS: tuple[float, ...] = tuple(np.logspace(-2, 1.5, 15).round(4).tolist())


def _check_pixels(inliers: object, test: object, min_inliers: int) -> None:
    """2-D finite float arrays with one feature count, and enough inliers."""
    for name, x in (("inliers", inliers), ("test", test)):
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind != "f":
            raise TypeError(f"{name} must be a 2-D float ndarray (rows, D), got {x!r:.80}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf")
    if inliers.shape[1] != test.shape[1]:
        raise ValueError(f"inliers and test differ in D: {inliers.shape} and {test.shape}")
    if len(inliers) < min_inliers:
        raise ValueError(f"inliers needs at least {min_inliers} rows, got {len(inliers)}")


def flatten_pixels(images: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W), uint8 or float in [0, 1] → float64 array (N, C·H·W) in [0, 1]."""
    check_images("images", images)
    x = images.reshape(len(images), -1).double()
    if images.dtype == torch.uint8:
        x = x / 255.0
    return x.cpu().numpy()


def kde_scores(
    inliers: np.ndarray, test: np.ndarray, bandwidths: Sequence[float] = KDE_BANDWIDTHS
) -> tuple[np.ndarray, float]:
    """Log-density of a Gaussian KDE fitted on the inliers.

    Parameters
    ----------
    inliers : ndarray, shape (n, D)
    test : ndarray, shape (T, D)
    bandwidths : sequence of float
        Candidates; the one with the best 5-fold held-out log-likelihood is used.

    Returns
    -------
    scores : ndarray, shape (T,)
    bandwidth : float
        The chosen bandwidth.

    Raises
    ------
    TypeError, ValueError
        On arrays that are not 2-D finite floats of one width, fewer than 5 inliers (the
        cross-validation's folds), or bandwidths that are not finite and > 0.
    """
    _check_pixels(inliers, test, 5)
    check_sequence("bandwidths", bandwidths)
    bandwidths = [check_float("bandwidths", b, 0.0, low_open=True) for b in bandwidths]
    search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": list(bandwidths)}, cv=5)
    search.fit(inliers)
    return search.best_estimator_.score_samples(test), float(search.best_params_["bandwidth"])


def ocsvm_scores(
    inliers: np.ndarray, test: np.ndarray, nu: float = 0.1, gamma: str | float = "scale"
) -> np.ndarray:
    """Signed distance to the one-class SVM's boundary (positive inside).

    Parameters
    ----------
    inliers : ndarray, shape (n, D)
    test : ndarray, shape (T, D)
    nu, gamma
        Fixed, not tuned on test labels: ν = 0.1 and scikit-learn's ``"scale"`` γ.

    Returns
    -------
    ndarray, shape (T,)

    Raises
    ------
    TypeError, ValueError
        On arrays that are not 2-D finite floats of one width, fewer than 2 inliers,
        ``nu`` outside (0, 1], or ``gamma`` neither "scale", "auto" nor a number > 0.
    """
    _check_pixels(inliers, test, 2)
    nu = check_float("nu", nu, 0.0, 1.0, low_open=True)
    if isinstance(gamma, str):
        check_choice("gamma", gamma, ("scale", "auto"))
    else:
        gamma = check_float("gamma", gamma, 0.0, low_open=True)
    return OneClassSVM(kernel="rbf", nu=nu, gamma=gamma).fit(inliers).decision_function(test)


class DeepSVDDNet(nn.Module):
    """LeNet-type feature map of Deep SVDD: no biases, BatchNorm without affine terms.

    Ruff et al. drop biases and affine terms so that the trivial constant map is not
    a solution. Two conv blocks (5×5, BN, LeakyReLU, 2×2 max-pool) and a linear
    layer, for any channel count and square image size ≥ 8.

    Parameters
    ----------
    in_channels, image_size : int
    widths : tuple of int
        Channels of the conv blocks ((8, 4) for MNIST in Ruff et al.).
    rep_dim : int
        Output dimension (32 for MNIST in Ruff et al.).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        widths: tuple[int, int] = (8, 4),
        rep_dim: int = 32,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("image_size", image_size, 8)
        if not isinstance(widths, tuple) or len(widths) != 2:
            raise TypeError(f"widths must be a tuple of 2 ints, got {widths!r}")
        widths = (check_int("widths", widths[0], 1), check_int("widths", widths[1], 1))
        check_int("rep_dim", rep_dim, 1)
        layers: list[nn.Module] = []
        channels = [in_channels, *widths]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [
                nn.Conv2d(c_in, c_out, 5, padding=2, bias=False),
                nn.BatchNorm2d(c_out, eps=1e-4, affine=False),
                nn.LeakyReLU(),
                nn.MaxPool2d(2),
            ]
        side = image_size // 2 // 2
        self.net = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(widths[-1] * side * side, rep_dim, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (batch, C, H, W) in [0, 1] → features (batch, rep_dim)."""
        return self.net(x)


def _as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def deep_svdd_scores(
    inliers: torch.Tensor,
    test: torch.Tensor,
    seed: int,
    epochs: int = 150,
    lr: float = 1e-4,
    weight_decay: float = 5e-7,
    batch_size: int = 200,
    chunk: int = 2000,
) -> torch.Tensor:
    """Train One-Class Deep SVDD on the inliers; score = −‖φ(x) − c‖².

    The centre ``c`` is the mean initial feature of the inliers (BatchNorm in training
    mode, as during the optimisation), with coordinates
    closer than 0.1 to zero pushed to ±0.1 (as in Ruff et al.'s code). Adam, the
    paper's weight decay, no autoencoder pretraining.

    Parameters
    ----------
    inliers : Tensor, shape (n, C, H, W)
    test : Tensor, shape (T, C, H, W)
        uint8 or float in [0, 1].
    seed : int
        Seeds the initial weights and the batch order.
    epochs, lr, weight_decay, batch_size
        Training settings.
    chunk : int
        Test images per forward pass.

    Returns
    -------
    Tensor, shape (T,)

    Raises
    ------
    TypeError, ValueError
        On images that are not (N, C, S, S) uint8 or [0, 1] floats of one shape, fewer
        than 2 inliers, or settings out of range (each named).
    """
    check_images("inliers", inliers)
    check_images("test", test)
    _, channels, size, width = inliers.shape
    if size != width or test.shape[1:] != inliers.shape[1:]:
        raise ValueError(
            f"inliers and test must be square images of one shape (N, C, S, S), got "
            f"{tuple(inliers.shape)} and {tuple(test.shape)}"
        )
    if len(inliers) < 2:
        raise ValueError(f"inliers needs at least 2 images (BatchNorm), got {len(inliers)}")
    seed, epochs = check_int("seed", seed), check_int("epochs", epochs, 1)
    lr = check_float("lr", lr, 0.0, low_open=True)
    weight_decay = check_float("weight_decay", weight_decay, 0.0)
    batch_size, chunk = check_int("batch_size", batch_size, 2), check_int("chunk", chunk, 1)
    gen = torch.Generator().manual_seed(seed)
    with seeded(seed):
        net = DeepSVDDNet(channels, size)
    x = _as_float(inliers)
    net.train()
    with torch.no_grad():
        # Batch statistics, as in training: without Ruff et al.'s autoencoder pretraining the
        # BatchNorm running statistics are still at their defaults, so eval mode would give a
        # centre unrelated to the features the network is trained on.
        centre = net(x).mean(dim=0)
        small = centre.abs() < 0.1
        centre[small] = torch.where(centre[small] < 0, -0.1, 0.1)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            batch = x[order[start : start + batch_size]]
            if len(batch) < 2:  # BatchNorm needs two samples
                continue
            loss = ((net(batch) - centre) ** 2).sum(dim=1).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    net.eval()
    with torch.no_grad():
        dist = [
            ((net(_as_float(test[s : s + chunk])) - centre) ** 2).sum(dim=1)
            for s in range(0, len(test), chunk)
        ]
    return -torch.cat(dist)
