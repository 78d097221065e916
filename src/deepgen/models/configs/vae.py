"""The options of the variational autoencoder (deepgen.models.vae)."""

from __future__ import annotations

from dataclasses import dataclass

from deepgen.config import opt
from deepgen.models.sizing import AutoSized
from deepgen.nn.spec import Arch, ReconLoss


@dataclass
class VAEConfig(AutoSized):
    arch: Arch = opt("conv", "conv (strided convolutions) or dense (MLP)")
    latent_dim: int = opt(16, "size of the latent code (2 gives a plottable latent space)", ge=1)
    width: int = opt(32, "channels of the first conv layer, doubling per layer (conv)", ge=1)
    hidden: list[int] = opt([512, 256], "hidden layer sizes of the encoder, mirrored in the decoder (dense)", ge=1)
    recon_loss: ReconLoss = opt("bce", "reconstruction term on [0, 1] pixels: bce (Bernoulli) or mse (squared error)")
    beta: float = opt(1.0, "weight of the KL term (1 = the ELBO)", ge=0)
    lr: float = opt(1e-3, "Adam learning rate", gt=0)
