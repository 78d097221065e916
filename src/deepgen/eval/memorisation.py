"""Memorisation audit: how much of what a model samples is a copy of its training set.

Features: raw pixels, as float in [0, 1], flattened; distances are Euclidean. A copy is a copy of pixels. The
evaluator classifier's features are trained to ignore the style that tells one drawing of a class from another,
so in them every clean "7" lies near the training "7"s; pixel distance is what a reader means by "the same image".

For each generated image g, d(g) is its distance to the nearest training image. The yardstick is the same distance
for real held-out images, which the model never saw: m = median over the test split of d(x). The ratio
r(g) = d(g) / m is about 1 for images as new as real ones and 0 for exact copies (a calibrated nearest-neighbour
distance in the spirit of Carlini et al. 2023, with real held-out images as the yardstick). A sample with r < 1/3
is counted as a near-copy: it lies three times closer to a training image than a typical real image does. The
share of real test images under the same cut is reported beside it (the false-alarm rate; about 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.errors import DeepgenError
from deepgen.eval.metrics import Metric
from deepgen.viz.grids import grid

NEAR_COPY = 1 / 3


def pixels(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) -> float (N, C*H*W) in [0, 1]."""
    return images.flatten(1).float() / 255


def nearest(images: Tensor, train: Tensor, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """Pixel distance of each uint8 image to its nearest uint8 training image, and that image's index."""
    reference = pixels(train)
    found = [torch.cdist(pixels(part), reference).min(dim=1) for part in images.split(chunk)]
    return torch.cat([f.values for f in found]).clamp_min(0), torch.cat([f.indices for f in found])


@dataclass
class Audit:
    ratios: Tensor  # (N,) nearest-training distance over the real test images' median
    neighbours: Tensor  # (N,) index of each sample's nearest training image
    reference: float  # median nearest-training distance of the real test images
    real_copy_share: float  # share of real test images under the near-copy cut
    n_train: int
    n_test: int

    @property
    def copy_share(self) -> float:
        return (self.ratios < NEAR_COPY).float().mean().item()


def audit(samples: Tensor, train: Tensor, test: Tensor) -> Audit:
    """Audit uint8 `samples` against the uint8 training images, calibrated on the uint8 real `test` images."""
    test_distance, _ = nearest(test, train)
    reference = test_distance.median().item()
    if reference == 0:
        raise DeepgenError("half the real test images also lie in the training split; the audit needs held-out images")
    distance, neighbours = nearest(samples, train)
    real_share = (test_distance / reference < NEAR_COPY).float().mean().item()
    return Audit(distance / reference, neighbours, reference, real_share, len(train), len(test))


def audit_metrics(result: Audit, seed: int) -> list[Metric]:
    """The near-copy share and the median ratio, stating the features, the cut and the calibration."""
    common = {"features": "pixels", "n_generated": len(result.ratios), "n_real": result.n_test, "seed": seed}
    calibration = (
        f"L2 in [0, 1] pixels to the nearest of {result.n_train} training images, over the median for real test "
        f"images ({result.reference:.3g})"
    )
    return [
        Metric(
            "near_copies",
            result.copy_share,
            "lower",
            **common,
            note=f"share of samples with {calibration} below {NEAR_COPY:.2g}; real test images: "
            f"{result.real_copy_share:.2%}",
            extra={"real_test_share": result.real_copy_share, "cut": NEAR_COPY},
        ),
        Metric(
            "copy_ratio",
            result.ratios.median().item(),
            "",
            **common,
            note=f"median over samples of {calibration}; ~1 for new images, 0 for copies",
            extra={"quantiles": {q: result.ratios.quantile(q).item() for q in (0.01, 0.05, 0.25)}},
        ),
    ]


def closest_pairs(samples: Tensor, train: Tensor, result: Audit, k: int = 16) -> Tensor:
    """A grid of the `k` samples closest to the training set (top row of each pair) above their nearest
    training image (bottom row), closest first."""
    order = result.ratios.argsort()[:k]
    return grid(torch.cat([samples[order], train[result.neighbours[order]]]), nrow=len(order))
