"""The reference autoencoder of the connectivity-loss paper (Hofer et al., ICML 2019).

Conv encoder (3×3, stride 2, 32→64→128 channels, LeakyReLU), flattened and
mapped by a block-diagonal linear layer to ``branches`` independent latent
blocks of ``branch_dim`` dims (each block sees its own slice of the features);
the decoder mirrors it with transposed convolutions and no output activation.
One definition serves 32×32×3 (CIFAR) and 28×28×1 (MNIST-like) inputs: the
transposed convolutions' output padding is chosen to restore each encoder size.
"""

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from toposhape.checks import check_int


class BlockDiagonalLinear(nn.Linear):
    """A linear layer whose weight is masked to ``blocks`` diagonal blocks.

    Parameters
    ----------
    in_features, out_features : int
        Both must be divisible by ``blocks``.
    blocks : int
        Number of independent input→output blocks.
    """

    def __init__(self, in_features: int, out_features: int, blocks: int) -> None:
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        check_int("blocks", blocks, 1)
        if in_features % blocks or out_features % blocks:
            raise ValueError(
                f"in_features={in_features} and out_features={out_features} must both be "
                f"divisible by blocks={blocks}"
            )
        super().__init__(in_features, out_features)
        mask = torch.block_diag(
            *[torch.ones(out_features // blocks, in_features // blocks)] * blocks
        )
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, in_features) to (batch, out_features)."""
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class ConnectivityAutoencoder(nn.Module):
    """Reference autoencoder with a latent of ``branches`` × ``branch_dim`` dims.

    Parameters
    ----------
    in_channels : int
        Image channels (3 for CIFAR, 1 for MNIST-like data).
    image_size : int
        Height = width of the input images (e.g. 32 or 28); at least 8.
    branches : int
        Number of independent latent blocks (16 in the reference).
    branch_dim : int
        Dims per block (10 in the reference).
    widths : tuple of int
        Channels of the three stride-2 convolutions.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        branches: int = 16,
        branch_dim: int = 10,
        widths: tuple[int, int, int] = (32, 64, 128),
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, 1)
        image_size = check_int("image_size", image_size, 8)
        branches = check_int("branches", branches, 1)
        branch_dim = check_int("branch_dim", branch_dim, 1)
        if isinstance(widths, str) or not isinstance(widths, Sequence) or len(widths) != 3:
            raise TypeError(f"widths must be a sequence of 3 ints, got {widths!r}")
        widths = tuple(check_int("widths", w, 1) for w in widths)
        self.config = {
            "in_channels": in_channels,
            "image_size": image_size,
            "branches": branches,
            "branch_dim": branch_dim,
            "widths": list(widths),
        }
        sizes = [image_size]
        for _ in widths:
            sizes.append((sizes[-1] - 1) // 2 + 1)  # Conv3x3, stride 2, padding 1
        channels = [in_channels, *widths]
        encoder: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(channels):
            encoder += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.feature_shape = (widths[-1], sizes[-1], sizes[-1])
        features = widths[-1] * sizes[-1] ** 2
        self.to_latent = BlockDiagonalLinear(features, branches * branch_dim, branches)
        self.from_latent = BlockDiagonalLinear(branches * branch_dim, features, branches)
        decoder: list[nn.Module] = []
        for i in range(len(widths), 0, -1):
            pad = sizes[i - 1] - (2 * sizes[i] - 1)  # restores the encoder's size exactly
            decoder.append(
                nn.ConvTranspose2d(channels[i], channels[i - 1], 3, 2, 1, output_padding=pad)
            )
            if i > 1:
                decoder.append(nn.ReLU())
        self.decoder = nn.Sequential(*decoder)

    @property
    def latent_dim(self) -> int:
        """Total latent dimension, ``branches * branch_dim``."""
        return self.config["branches"] * self.config["branch_dim"]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (batch, C, H, W) → latent codes (batch, branches * branch_dim)."""
        return self.to_latent(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes (batch, latent_dim) → reconstructions (batch, C, H, W)."""
        return self.decoder(self.from_latent(z).reshape(-1, *self.feature_shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, z)`` for images of shape (batch, C, H, W)."""
        z = self.encode(x)
        return self.decode(z), z
