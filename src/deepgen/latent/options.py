"""What `deepgen latent` draws: its options, a plain dataclass importable without torch (for --help)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deepgen.config import MAX_SEED, opt
from deepgen.errors import ConfigError


@dataclass
class Options:
    """What deepgen latent draws (its options, but `samples`)."""

    max_points: int = opt(
        5000, "test images embedded, chosen at random (t-SNE of 5000 takes under a minute on a CPU)", metavar="N", ge=20
    )
    grid: int = opt(15, "lattice size N x N", ge=2)
    quantiles: tuple[float, float] = opt(
        (0.025, 0.975), "for --span data: the lattice's range", metavar=("LO", "HI"), ge=0, le=1
    )
    span: Literal["auto", "data", "prior"] = opt(
        "auto",
        "lattice range: data (quantiles of the encoded test set), prior (its mean ± 2 sd) or auto (prior when "
        "the model has one)",
    )
    pairs: int = opt(8, "interpolation strips and walks", ge=1)
    steps: int = opt(10, "images per strip or walk", ge=2)
    components: int = opt(10, "of the fitted Gaussian mixture", ge=1)
    samples: int = 64  # per sampling panel
    seed: int = opt(0, "seed of every choice and draw", ge=0, le=MAX_SEED)

    def __post_init__(self) -> None:
        if not self.quantiles[0] < self.quantiles[1]:
            raise ConfigError(f"--quantiles LO HI must satisfy LO < HI, got {' '.join(map(str, self.quantiles))}")
