"""A prior for a model that has none: a full-covariance Gaussian (one component) or a Gaussian mixture fitted to
the codes of its training images (the fix the Fashion-MNIST report proposes for sampling an autoencoder)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor


def fit(codes: np.ndarray, components: int = 1, seed: int = 0) -> GaussianMixture:
    """Full-covariance Gaussian mixture of `components` components fitted to (N, D) codes (in float64: numpy's
    sampler rejects float32 covariances as not symmetric positive-semidefinite)."""
    return GaussianMixture(components, covariance_type="full", random_state=seed).fit(codes.astype(np.float64))


def draw(mixture: GaussianMixture, n: int, seed: int) -> Tensor:
    """`n` seeded codes from a fitted mixture, in random order (sklearn returns them grouped by component)."""
    mixture.set_params(random_state=seed)
    codes, _ = mixture.sample(n)
    order = np.random.default_rng(seed).permutation(n)
    return torch.from_numpy(codes[order]).float()
