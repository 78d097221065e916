"""GAIA (Sainburg et al. 2018): an autoencoder generator G trained against an autoencoder discriminator D on
its reconstructions and on decoded interpolations between the codes of real images.

D's realness signal is its reconstruction error, balanced as in BEGAN (Berthelot et al. 2017). With
x_g = G(x), x_i the decoding of z_i = z + alpha * (z' - z) for pairs (z, z') of codes in the batch, and
|a - b| the mean absolute pixel difference:
  d_x = |x - D(x)|,  d_xg = |x - D(x_g)|,  d_xi = |x_i - D(x_i)|,  xg = |x - x_g|
  D:  d_x - k_t * (d_xg + d_xi) / 2
  G:  d_xg + d_xi + xg_weight * xg
  k_{t+1} = clip(k_t + lambda_k * (gamma * d_x - (d_xg + d_xi) / 2), 0, 1) after each discriminator step.
As in the authors' code, D's reconstruction of x_g is compared with the real image x, so that d_xg asks G for
images that are both faithful to x and judged real; the pixel term xg anchors the autoencoder while D is
still poor (in short MNIST runs without it, G drifted to images that D reconstructs trivially).

GAIA has no prior. To sample, it keeps a Gaussian fitted to the codes of training images (a running mean
and covariance, updated in training like BatchNorm statistics) and decodes draws from it; interpolations
and mixtures of real codes (`encode`/`decode`) are what the adversarial loss trains to look real.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepgen.data.loader import Batch
from deepgen.losses import logits_to_image
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.gaia import GAIAConfig
from deepgen.nn.layers import conv_decoder, conv_encoder
from deepgen.registry import register


@register("gaia", "GAIA: autoencoder trained adversarially (BEGAN-style) on its reconstructions and interpolations")
class GAIA(GenerativeModel):
    Config = GAIAConfig
    can_encode = True

    def __init__(self, config: GAIAConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        c = self.config
        self.encoder = conv_encoder(self.shape, c.latent_dim, c.width)
        self.decoder = conv_decoder(self.shape, c.latent_dim, c.width)
        self.d_encoder = conv_encoder(self.shape, c.d_latent_dim, c.d_width)
        self.d_decoder = conv_decoder(self.shape, c.d_latent_dim, c.d_width)
        self.register_buffer("k", torch.zeros(()))
        self.register_buffer("code_mean", torch.zeros(c.latent_dim))
        self.register_buffer("code_cov", torch.eye(c.latent_dim))
        self.balance: Tensor | None = None  # gamma * d_x - (d_xg + d_xi) / 2 of the last discriminator loss

    def phases(self) -> list[Phase]:
        c = self.config
        d_params = [*self.d_encoder.parameters(), *self.d_decoder.parameters()]
        return [
            Phase("D", adam(d_params, c.lr, c.betas)),
            Phase("G", adam([*self.encoder.parameters(), *self.decoder.parameters()], c.lr, c.betas)),
        ]

    def interpolate(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Codes between each code and the one before it in the batch, z + alpha * (z.roll(1) - z), with
        alpha ~ N(0.5, alpha_std) clipped to [0, 1] per pair; returns the codes and alpha."""
        alpha = (0.5 + self.config.alpha_std * torch.randn(len(z), 1, device=z.device)).clamp(0, 1)
        return z + alpha * (z.roll(1, 0) - z), alpha.squeeze(1)

    def critic(self, images: Tensor) -> Tensor:
        """The discriminator's reconstruction of `images`."""
        return logits_to_image(self.d_decoder(self.d_encoder(images)))

    def generate(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Codes of `x`, their reconstructions x_g and decoded interpolations x_i."""
        z = self.encoder(x)
        return z, self.decode(z), self.decode(self.interpolate(z)[0])

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        c, x = self.config, batch.x
        if phase == "D":
            with torch.no_grad():
                _, x_g, x_i = self.generate(x)
        else:
            z, x_g, x_i = self.generate(x)
            if self.training and len(z) > 1:
                self.track_codes(z.detach())
        # one pass over real and generated images, so that BatchNorm sees the same mixture in both phases
        r_x, r_xg, r_xi = self.critic(torch.cat([x, x_g, x_i])).chunk(3)
        d_x, d_xg, d_xi = l1(x, r_x), l1(x, r_xg), l1(x_i, r_xi)
        if phase == "G":
            return StepLoss({"d_xg": d_xg, "d_xi": d_xi, "xg": c.xg_weight * l1(x, x_g)})
        d_fake = (d_xg + d_xi) / 2
        self.balance = (c.gamma * d_x - d_fake).detach()
        stats = {"d_xg": d_xg.detach(), "d_xi": d_xi.detach(), "k": self.k.clone()}
        stats["convergence"] = d_x.detach() + self.balance.abs()  # BEGAN's M_global
        return StepLoss({"d_x": d_x, "d_fake": -self.k * d_fake}, stats)

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        if phase == "D" and self.balance is not None:
            self.k.add_(self.config.lambda_k * self.balance).clamp_(0, 1)

    @torch.no_grad()
    def track_codes(self, z: Tensor) -> None:
        """Move the running code mean and covariance towards those of the batch `z`."""
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            m = self.config.prior_momentum
            self.code_mean.lerp_(z.mean(0), m)
            self.code_cov.lerp_(torch.cov(z.T), m)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return logits_to_image(self.decoder(z))

    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draws from the Gaussian fitted to the codes of training images."""
        eye = torch.eye(len(self.code_cov), device=self.code_cov.device)
        scale = torch.linalg.cholesky(self.code_cov + 1e-5 * eye)
        return self.code_mean + self.noise(n, self.config.latent_dim, generator) @ scale.T


def l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference per pixel, averaged over the batch."""
    return (a - b).abs().mean()
