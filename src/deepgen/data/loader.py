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
    """Endless shuffled batches. The images are read in a seeded random order that is renewed every
    epoch; `position` counts the images drawn so far and is the whole state, so a batch depends only
    on (seed, position, size) and batches may change size (as ProGAN's do).

    The uint8 images move to `device` once when they fit in half its free memory; otherwise they
    stay in (pinned) host memory and each batch is copied over. With `shard=(rank, processes)` every
    process draws the same global batch and keeps its own contiguous slice of it.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device,
        seed: int,
        hflip: bool = False,
        shard: tuple[int, int] = (0, 1),
    ):
        if batch_size > len(data):
            warnings.warn(
                f"batch size {batch_size} exceeds the {len(data)} training images; using {len(data)}", stacklevel=2
            )
            batch_size = len(data)
        self.batch_size, self.device, self.seed, self.hflip, self.shard = batch_size, device, seed, hflip, shard
        self.per_epoch = len(data) / batch_size
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

    def indices(self, start: int, n: int) -> Tensor:
        """Indices of the images drawn at positions start ... start + n - 1 (crossing epochs as needed)."""
        parts = []
        while n > 0:
            epoch, offset = divmod(start, len(self.images))
            take = min(n, len(self.images) - offset)
            parts.append(self.permutation(epoch)[offset : offset + take])
            start, n = start + take, n - take
        return torch.cat(parts)

    def next(self, n: int | None = None, layout: torch.memory_format = torch.contiguous_format) -> Batch:
        """The next `n` images of the global batch (default: the batch size), this process's share of them,
        in memory `layout`."""
        n = n or self.batch_size
        rank, processes = self.shard
        mine = slice(rank * n // processes, (rank + 1) * n // processes)
        idx = self.indices(self.position, n)[mine]
        x = to_float(self.images[idx].to(self.device, non_blocking=True))
        y = self.labels[idx].to(self.device, non_blocking=True)
        if self.hflip:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * self.position + 1)
            flip = (torch.rand(n, generator=g)[mine] < 0.5).to(self.device).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        self.position += n
        return Batch(x.contiguous(memory_format=layout), y)


def fits(images: Tensor, device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() < free // 2
