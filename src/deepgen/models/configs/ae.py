"""The options of the autoencoder (deepgen.models.ae)."""

from __future__ import annotations

from dataclasses import dataclass

from deepgen.config import opt
from deepgen.models.sizing import AutoSized
from deepgen.nn.spec import Arch, ReconLoss


@dataclass
class AEConfig(AutoSized):
    arch: Arch = opt("conv", "conv (strided convolutions) or dense (MLP)")
    latent_dim: int = opt(128, "size of the code", ge=1)
    width: int = opt(32, "channels of the first conv layer, doubling per layer (conv)", ge=1)
    hidden: list[int] = opt([512, 256], "hidden layer sizes of the encoder, mirrored in the decoder (dense)", ge=1)
    noise_std: float = opt(0.0, "denoising: std of Gaussian noise added to the input, in [0, 1] pixel units", ge=0)
    recon_loss: ReconLoss = opt("mse", "reconstruction loss on [0, 1] pixels: mse or bce")
    lr: float = opt(1e-3, "Adam learning rate", gt=0)
