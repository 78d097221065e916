"""Distribution metrics on feature vectors (N, D) and class probabilities (N, K), and the record that
states how each number was obtained.

Features are extracted once per image set (deepgen.eval.features) and handed to torchmetrics' FID, KID
and Inception Score through an identity feature module, so the four feature-based metrics share one pass.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance


@dataclass
class Metric:
    """One number and how it was obtained."""

    name: str  # e.g. "fid"
    value: float
    better: str  # "lower", "higher", or "" (descriptive)
    features: str = ""  # the feature extractor or classifier, e.g. "classifier:mnist10k"; "" if none
    n_generated: int | None = None
    n_real: int | None = None
    seed: int | None = None
    note: str = ""  # method, e.g. "k=3 nearest neighbours"
    std: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """'fid[classifier:mnist10k]', or the bare name for metrics without a feature extractor."""
        return f"{self.name}[{self.features}]" if self.features else self.name

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", {}) and k != "name"}


class Precomputed(nn.Module):
    """The identity, as the 'feature network' of torchmetrics for features computed beforehand."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the two feature sets."""
    fid = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    return float(fid.compute())


def kernel_distance(
    real: Tensor, fake: Tensor, seed: int, subsets: int = 100, subset_size: int = 1000
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel, mean and std over
    `subsets` random subsets of each set, drawn with `seed`, of `subset_size` images or half the smaller
    set, whichever is fewer (so that the subsets differ)."""
    size = kid_subset_size(len(real), len(fake), subset_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "will save all extracted features in buffer"
        kid = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def kid_subset_size(n_real: int, n_fake: int, subset_size: int = 1000) -> int:
    return max(2, min(subset_size, n_real // 2, n_fake // 2))


def inception_score(logits: Tensor, seed: int, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) from class logits, mean and std over `splits` seeded splits; between 1
    and the number of classes, high when samples are both confidently classified and varied."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = InceptionScore(feature=Precomputed(logits.shape[1]), splits=splits)
    score.update(logits.double())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = score.compute()
    return float(mean), float(std)


def knn_radii(features: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """Distance of each point to its k-th nearest neighbour in the same set (itself excluded)."""
    return torch.cat([torch.cdist(part, features).kthvalue(k + 1, dim=1).values for part in features.split(chunk)])


def within(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    """(P, C) bool: point p lies in the ball of centre c."""
    return torch.cat([torch.cdist(part, centres) <= radii for part in points.split(chunk)])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): the share of generated samples inside the
    real manifold (the union of balls reaching each real point's k-th neighbour), and the share of real
    samples inside the generated manifold."""
    real, fake = real.double(), fake.double()
    precision = within(fake, real, knn_radii(real, k)).any(1).double().mean()
    recall = within(real, fake, knn_radii(fake, k)).any(1).double().mean()
    return float(precision), float(recall)


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020): density counts, per generated sample, the real k-NN balls
    containing it (divided by k; about 1 when the sets match, unbounded above); coverage is the share of real
    balls that contain at least one generated sample."""
    real, fake = real.double(), fake.double()
    inside = within(fake, real, knn_radii(real, k))  # (fake, real)
    return float(inside.sum() / (k * len(fake))), float(inside.any(0).double().mean())


def mode_coverage(probs: Tensor, min_share: float = 0.25) -> dict[str, Any]:
    """Class histogram of the samples (the classifier's top class), its KL divergence to the uniform
    distribution (0 when balanced, log K when all samples are of one class) and the classes that receive
    less than `min_share` of their uniform share: `collapsed` when any class is missed so."""
    k = probs.shape[1]
    counts = torch.bincount(probs.argmax(1), minlength=k)
    share = counts.double() / counts.sum()
    kl = float((share[share > 0] * (share[share > 0] * k).log()).sum())
    missed = [i for i in range(k) if share[i] < min_share / k]
    return {
        "histogram": counts.tolist(),
        "kl_to_uniform": kl,
        "max_kl": math.log(k),
        "missed_classes": missed,
        "collapsed": bool(missed),
    }
