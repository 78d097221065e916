"""VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction error is measured in a hidden layer of a GAN
discriminator (the "learned similarity") rather than in pixels.

Three networks, each with its own phase and optimizer, as in the paper's algorithm:
  E (encoder):        KL(q(z|x) || N(0, I)) + L_llike
  G (decoder):        gamma * L_llike + non-saturating GAN loss on reconstructions and on prior samples
  D (discriminator):  BCE real vs. fake; the fakes are reconstructions Dec(z ~ q(z|x)) and prior samples
                      Dec(z ~ N(0, I)), weighted together as much as the real images
L_llike = 0.5 * ||Dis_l(x) - Dis_l(Dec(z))||^2 per image: the Gaussian negative log-likelihood (unit variance,
constant dropped) of the real image's features at conv block l given the reconstruction's. The discriminator
only learns from its own GAN loss, never from L_llike. It sees the real and generated images of a step in one
pass; with --d-norm batch they share its batch statistics.

The paper leaves gamma to the data (its authors' CelebA code used 1e-5). With the default 1e-2 the decoder's
two terms start at similar sizes on 28-32 px images at the last conv block (feature NLL ~10^3 per image).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.losses import critic_terms, generator_term, kl_to_standard_normal, realness_sign, saturation
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.vaegan import VAEGANConfig
from deepgen.models.dcgan import critic_features
from deepgen.models.vae import GaussianCode, reparameterise
from deepgen.nn.conditioning import Critic
from deepgen.nn.layers import conv_decoder, conv_encoder
from deepgen.registry import register


@register("vae-gan", "VAE-GAN: VAE with reconstruction measured in a discriminator layer, plus a GAN loss")
class VAEGAN(GaussianCode, GenerativeModel):
    Config = VAEGANConfig
    can_encode = True

    def __init__(self, config: VAEGANConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        c = self.config
        self.encoder = conv_encoder(self.shape, 2 * c.latent_dim, c.width)
        self.decoder = conv_decoder(self.shape, c.latent_dim, c.width)
        self.discriminator = Critic(*critic_features(self.shape, c.d_width, c.d_norm))
        self.tap = similarity_tap(self.discriminator.features, c.similarity_layer)

    def phases(self) -> list[Phase]:
        c = self.config
        return [
            Phase("E", adam(self.encoder.parameters(), c.lr, c.betas)),
            Phase("G", adam(self.decoder.parameters(), c.lr, c.betas)),
            Phase("D", adam(self.discriminator.parameters(), c.lr, c.betas)),
        ]

    def posterior_sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z ~ q(z|x) (reparameterised), with the posterior's mean and log-variance."""
        mu, logvar = self.posterior(x)
        return reparameterise(mu, logvar, torch.randn_like(mu)), mu, logvar

    def discriminate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The flattened activations of the similarity layer, Dis_l(x), and the discriminator's logits."""
        features = self.discriminator.features
        hidden = features[: self.tap](x)
        return hidden.flatten(1), self.discriminator.head(features[self.tap :](hidden)).squeeze(1)

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        x, n = batch.x, len(batch.x)
        if phase == "E":
            z, mu, logvar = self.posterior_sample(x)
            h, _ = self.discriminate(torch.cat([x, self.decode(z)]))
            return StepLoss({"kl": kl_to_standard_normal(mu, logvar).mean(), "recon": feature_nll(*h.chunk(2))})
        with torch.no_grad():
            z = self.posterior_sample(x)[0]
        if phase == "G":
            h, scores = self.discriminate(torch.cat([x, self.decode(z), self.decode(self.prior(n))]))
            h_x, h_tilde, _ = h.chunk(3)
            _, s_tilde, s_prior = scores.chunk(3)
            return StepLoss(
                {
                    "recon": self.config.gamma * feature_nll(h_x, h_tilde),
                    "fake_recon": generator_term("bce", s_tilde),
                    "fake_prior": generator_term("bce", s_prior),
                }
            )
        with torch.no_grad():
            fakes = torch.cat([self.decode(z), self.decode(self.prior(n))])
        _, scores = self.discriminate(torch.cat([x, fakes]))
        s_real, s_fake = scores[:n], scores[n:]
        probs = scores.detach().sigmoid()
        stats = {
            "d_real": probs[:n].mean(),
            "d_fake_recon": probs[n : 2 * n].mean(),
            "d_fake_prior": probs[2 * n :].mean(),
            "r_sign": realness_sign("bce", s_real.detach(), s_fake.detach()).mean(),
            "saturation": saturation("bce", s_real.detach(), s_fake.detach()),  # for the health monitor
        }
        return StepLoss(critic_terms("bce", s_real, s_fake), stats)


def feature_nll(real: Tensor, fake: Tensor) -> Tensor:
    """Gaussian negative log-likelihood (unit variance, without its constant) of `real` features given `fake`
    ones, summed over features and averaged over the batch."""
    return 0.5 * (fake - real).square().sum(1).mean()


def similarity_tap(features: nn.Sequential, layer: int) -> int:
    """The index in `features` just after the activation of conv block `layer` (1-based; negative counts back)."""
    ends = [i + 1 for i, m in enumerate(features) if isinstance(m, nn.LeakyReLU)]
    if not (1 <= layer <= len(ends) or -len(ends) <= layer <= -1):
        raise ConfigError(
            f"option 'similarity_layer': the discriminator has {len(ends)} conv blocks at this image size; "
            f"choose 1..{len(ends)} or -{len(ends)}..-1, got {layer}"
        )
    return ends[layer - 1 if layer > 0 else layer]
