"""The options of WGAN (deepgen.models.wgan): DCGAN's, with the paper's defaults."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.configs.dcgan import DCGANConfig

# The paper's recipe: RMSprop, weights clipped to [-0.01, 0.01]; critic steps and learning rates auto (on a GPU the
# paper's 5 steps and 5e-5).
WGANConfig = with_defaults(
    DCGANConfig,
    "WGANConfig",
    loss="wasserstein",
    regularizer="clip",
    optimizer="rmsprop",
)
