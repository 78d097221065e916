"""Autoencoder: dense or convolutional, optionally denoising."""

from __future__ import annotations

import torch
from torch import Tensor

from deepgen.data.loader import Batch
from deepgen.losses import logits_to_image, reconstruction
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.ae import AEConfig
from deepgen.nn.layers import decoder, encoder
from deepgen.registry import register


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
