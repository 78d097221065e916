"""The memorisation audit: about 0 for held-out real images, 100% for training images fed back as samples."""

from __future__ import annotations

import pytest
import torch

from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.errors import DeepgenError
from deepgen.eval.memorisation import NEAR_COPY, audit, audit_metrics, closest_pairs


def test_audit_is_near_zero_for_held_out_images_and_total_for_training_images() -> None:
    splits = load_data(DataConfig(data="digits"))
    train, test = splits.train.images, splits.test.images
    held_out, calibration = test[::2], test[1::2]  # disjoint halves of the test split
    real = audit(held_out, train, calibration)
    assert real.copy_share < 0.02 and 0.8 < real.ratios.median().item() < 1.25
    copies = audit(train[:200], train, calibration)
    assert copies.copy_share == 1.0 and copies.ratios.max().item() < 0.01
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(-6, 7, train[:200].shape, generator=g)
    touched_up = (train[:200].int() + noise).clamp(0, 255).to(torch.uint8)  # copies with faint noise
    assert audit(touched_up, train, calibration).copy_share > 0.95
    metrics = {m.name: m for m in audit_metrics(copies, seed=0)}
    assert metrics["near_copies"].value == 1.0 and metrics["near_copies"].key == "near_copies[pixels]"
    assert metrics["near_copies"].extra["real_test_share"] < 0.02 and metrics["copy_ratio"].value < NEAR_COPY


def test_closest_pairs_put_each_sample_above_its_nearest_training_image() -> None:
    splits = load_data(DataConfig(data="digits"))
    train = splits.train.images
    samples = torch.cat([train[5:6], 255 - train[:3]])  # one copy, three far from everything
    result = audit(samples, train, splits.test.images)
    image = closest_pairs(samples, train, result, k=4)
    assert image.shape == (3, 2 + 2 * (8 + 2), 2 + 4 * (8 + 2))
    assert torch.equal(image[:1, 2:10, 2:10], train[5]) and torch.equal(image[:1, 12:20, 2:10], train[5])
    with pytest.raises(DeepgenError, match="held-out"):
        audit(samples, train, train[:50])
