"""Variational autoencoder (Kingma & Welling 2014): reparameterised Gaussian code, BCE or MSE + KL."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batch
from deepgen.losses import kl_to_standard_normal, logits_to_image, reconstruction
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.vae import VAEConfig
from deepgen.nn.layers import decoder, encoder
from deepgen.registry import register


def reparameterise(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """z = mu + eps * sigma: a sample of N(mu, exp(logvar)) that gradients flow through, for noise `eps`."""
    return mu + eps * (0.5 * logvar).exp()


class GaussianCode:
    """For models whose `encoder` outputs the mean and log-variance of q(z|x) and whose `decoder` maps
    N(0, I) codes to image logits: the posterior, encoding by its mean, decoding, and prior samples."""

    encoder: nn.Module
    decoder: nn.Module

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return logits_to_image(self.decoder(z))

    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.noise(n, self.config.latent_dim, generator)


@register("vae", "variational autoencoder (convolutional; BCE or MSE + KL; samples from the prior)")
class VAE(GaussianCode, GenerativeModel):
    Config = VAEConfig
    can_encode = True

    def __init__(self, config: VAEConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        c = self.config
        self.encoder = encoder(c.arch, self.shape, 2 * c.latent_dim, c.width, c.hidden)
        self.decoder = decoder(c.arch, self.shape, c.latent_dim, c.width, c.hidden)

    def phases(self) -> list[Phase]:
        return [Phase("vae", adam(self.parameters(), self.config.lr))]

    def terms(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Per-image reconstruction and KL terms of the negative ELBO, for noise `eps`."""
        mu, logvar = self.posterior(x)
        z = reparameterise(mu, logvar, eps)
        return reconstruction(self.decoder(z), x, self.config.recon_loss), kl_to_standard_normal(mu, logvar)

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        x = batch.x
        recon, kl = self.terms(x, self.noise(len(x), self.config.latent_dim))
        return StepLoss({"recon": recon.mean(), "kl": self.config.beta * kl.mean()})

    @torch.no_grad()
    def evaluate(self, test: ImageSet, batch_size: int = 500) -> dict[str, float]:
        """Adds the negative ELBO under the Bernoulli likelihood (nats per image, one posterior
        sample, fixed seed) to the reconstruction metrics; only defined for recon_loss=bce."""
        metrics = super().evaluate(test, batch_size)
        if not self.has_likelihood:
            return metrics
        g = torch.Generator().manual_seed(0)
        total = 0.0
        for images in test.images.split(batch_size):
            x = to_float(images.to(self.device))
            recon, kl = self.terms(x, self.noise(len(x), self.config.latent_dim, g))
            total += (recon + kl).sum().item()
        return {**metrics, "neg_elbo": total / len(test)}

    @property
    def has_likelihood(self) -> bool:
        """Only the Bernoulli likelihood (recon_loss=bce) is a density of images."""
        return self.config.recon_loss == "bce"

    @torch.no_grad()
    def importance_weighted_nll(self, x: Tensor, k: int = 64, generator: torch.Generator | None = None) -> Tensor:
        """Per-image upper bound on -log p(x) in nats from `k` importance samples of q(z|x) (Burda et al.
        2016): -log (1/k) sum p(x|z_i) p(z_i) / q(z_i|x). k=1 gives the negative ELBO; larger k is tighter."""
        if not self.has_likelihood:
            return super().importance_weighted_nll(x, k, generator)
        mu, logvar = self.posterior(x)
        eps = self.noise(k * len(x), mu.shape[1], generator).view(k, *mu.shape)
        z = reparameterise(mu, logvar, eps)
        log_px = -reconstruction(self.decoder(z.flatten(0, 1)), x.repeat(k, 1, 1, 1), "bce").view(k, len(x))
        log_pz_over_qz = 0.5 * (eps.square() + logvar - z.square()).sum(2)  # the log(2 pi) terms cancel
        return torch.log(torch.tensor(float(k))) - torch.logsumexp(log_px + log_pz_over_qz, 0)
