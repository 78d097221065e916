"""The unlabelled pool (--unlabeled N): images of the data set's training split that the seed's classifiers never
see, labelled by the seed's real-only classifier (pseudo-labels) and given to the generator only. The setting where
a generator can add what the classifier lacks; a hash check keeps every test image out of it."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from deepgen.data import Splits, load_data
from deepgen.data.imageset import ImageSet

if TYPE_CHECKING:
    from deepgen.augmentation.config import AugmentConfig


def image_hashes(images: Tensor) -> list[str]:
    """The SHA-1 of each uint8 image's pixels."""
    return [hashlib.sha1(image.numpy().tobytes()).hexdigest() for image in images]


def unlabelled_pool(
    cfg: AugmentConfig,
    splits: Splits,
    train_set: ImageSet,
    val: ImageSet,
    judge: Callable[[Tensor], Tensor],
    seed: int,
) -> ImageSet:
    """Up to cfg.unlabeled images (seeded choice) of the whole training split of cfg.data, leaving out every image
    whose pixels equal those of an image of the seed's training, validation or test split; their labels are the
    judge's most probable classes. Empty when cfg.unlabeled is 0."""
    if not cfg.unlabeled:
        return train_set.subset(torch.zeros(0, dtype=torch.long))
    everything = load_data(dataclasses.replace(cfg.data, split_seed=seed, limit_per_class=None)).train
    taken = set(image_hashes(torch.cat([train_set.images, val.images, splits.test.images])))
    free = torch.tensor([i for i, h in enumerate(image_hashes(everything.images)) if h not in taken], dtype=torch.long)
    pick = free[torch.randperm(len(free), generator=torch.Generator().manual_seed(seed))[: cfg.unlabeled]]
    images = everything.images[pick]
    labels = judge(images).argmax(1) if len(images) else torch.zeros(0, dtype=torch.long)
    return ImageSet(images, labels, everything.classes)
