"""Autoencoder: dense or convolutional, optionally denoising."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.config import opt
from deepgen.data.loader import Batch
from deepgen.losses import ReconLoss, logits_to_image, reconstruction
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.sizing import AutoSized
from deepgen.nn.layers import Arch, decoder, encoder
from deepgen.registry import register


@dataclass
class AEConfig(AutoSized):
    arch: Arch = opt("conv", "conv (strided convolutions) or dense (MLP)")
    latent_dim: int = opt(128, "size of the code", ge=1)
    width: int = opt(32, "channels of the first conv layer, doubling per layer (conv)", ge=1)
    hidden: list[int] = opt([512, 256], "hidden layer sizes of the encoder, mirrored in the decoder (dense)", ge=1)
    noise_std: float = opt(0.0, "denoising: std of Gaussian noise added to the input, in [0, 1] pixel units", ge=0)
    recon_loss: ReconLoss = opt("mse", "reconstruction loss on [0, 1] pixels: mse or bce")
    lr: float = opt(1e-3, "Adam learning rate", gt=0)


@register("ae", "autoencoder (dense or convolutional, optionally denoising)")
class AE(GenerativeModel):
    Config = AEConfig
    can_sample = False
    can_encode = True

    def __init__(self, config: AEConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        c = self.config
        self.encoder = encoder(c.arch, self.shape, c.latent_dim, c.width, c.hidden)
        self.decoder = decoder(c.arch, self.shape, c.latent_dim, c.width, c.hidden)

    def phases(self) -> list[Phase]:
        return [Phase("ae", adam(self.parameters(), self.config.lr))]

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        x = batch.x
        noisy = x
        if self.config.noise_std > 0:
            noisy = (x + 2 * self.config.noise_std * torch.randn_like(x)).clamp(-1, 1)
        logits = self.decoder(self.encoder(noisy))
        per_pixel = reconstruction(logits, x, self.config.recon_loss) / x[0].numel()
        return StepLoss({"recon": per_pixel.mean()})

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return logits_to_image(self.decoder(z))
