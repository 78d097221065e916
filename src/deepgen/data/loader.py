"""Seeded, resumable batches from an ImageSet kept in (device) memory."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor

from deepgen.data.imageset import ImageSet, to_float


class Batch(NamedTuple):
    x: Tensor  # float [-1, 1], (B, C, H, W)
    y: Tensor  # int64 (B,)


class Batches:
    """Endless shuffled batches; batch k depends only on (seed, k), so `position` is the whole state.

    The uint8 images move to `device` once when they fit in half its free memory; otherwise they
    stay in (pinned) host memory and each batch is copied over.
    """

    def __init__(self, data: ImageSet, batch_size: int, device: torch.device, seed: int, hflip: bool = False):
        if batch_size > len(data):
            warnings.warn(
                f"batch size {batch_size} exceeds the {len(data)} training images; using {len(data)}", stacklevel=2
            )
            batch_size = len(data)
        self.batch_size, self.device, self.seed, self.hflip = batch_size, device, seed, hflip
        self.per_epoch = len(data) // batch_size
        store = device if fits(data.images, device) else torch.device("cpu")
        images, labels = data.images, data.labels
        if store.type == "cpu" and device.type == "cuda":
            images, labels = images.pin_memory(), labels.pin_memory()
        self.images, self.labels = images.to(store), labels.to(store)
        self.position = 0
        self._epoch, self._perm = -1, torch.empty(0)

    def permutation(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.images), generator=g).to(self.images.device)
        return self._perm

    def next(self) -> Batch:
        epoch, i = divmod(self.position, self.per_epoch)
        idx = self.permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        x = to_float(self.images[idx].to(self.device, non_blocking=True))
        y = self.labels[idx].to(self.device, non_blocking=True)
        if self.hflip:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * self.position + 1)
            flip = (torch.rand(len(x), generator=g) < 0.5).to(self.device).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        self.position += 1
        return Batch(x, y)


def fits(images: Tensor, device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() < free // 2
