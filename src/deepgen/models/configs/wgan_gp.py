"""The options of WGAN-GP (deepgen.models.wgan_gp): DCGAN's, with the paper's defaults."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.configs.dcgan import DCGANConfig

# Adam 2e-4 with betas (0.5, 0.9), lambda = 10, a layer-normalised critic; critic steps auto (the paper's 5 on a GPU).
WGANGPConfig = with_defaults(
    DCGANConfig,
    "WGANGPConfig",
    loss="wasserstein",
    regularizer="gp",
    betas_g=[0.5, 0.9],
    betas_d=[0.5, 0.9],
    d_norm="layer",
)
