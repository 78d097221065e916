"""Real and generated images in one training stream, at a fixed share of every batch: a torch `Dataset` of an
ImageSet and a batch sampler. `fit` draws its batches with the same sampler, so `deepgen augment` and a user's own
training loop (timm, Lightning, plain PyTorch) mix the two the same way:

    real, fake = ImageDataset(train_set), deepgen.synthetic("runs/cdcgan", per_class=500)
    data = torch.utils.data.ConcatDataset([real, fake])
    sampler = MixedBatchSampler.concat(len(real), len(fake), batch_size=128, fraction=0.7, seed=0)
    for x, y in torch.utils.data.DataLoader(data, batch_sampler=sampler): ...   # 90 generated + 38 real per batch
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from deepgen.config import argument
from deepgen.data.imageset import ImageSet, to_float
from deepgen.errors import ConfigError


class ImageDataset(Dataset):
    """An ImageSet as a torch Dataset of (image, label): float (C, H, W) in [-1, 1] (or `transform` of the uint8
    image), the label as an int64 scalar, or soft labels (K,) when `targets` (N, K) are given."""

    def __init__(
        self, data: ImageSet, targets: Tensor | None = None, transform: Callable[[Tensor], Tensor] | None = None
    ):
        if not isinstance(data, ImageSet):
            raise ConfigError(f"ImageDataset(data): expected an ImageSet, got {type(data).__name__}")
        self.data, self.targets, self.transform = data, targets, transform
        self.classes = data.classes

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image = self.data.images[i]
        x = self.transform(image) if self.transform is not None else to_float(image)
        return x, self.data.labels[i] if self.targets is None else self.targets[i]


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of indices with exactly round(fraction * batch_size) drawn from `generated` and the rest from `real`
    (each stream in seeded, reshuffled passes, continued across batches). One iteration is one pass over the real
    images; `next()` gives one batch at a time, endlessly."""

    def __init__(self, real: Tensor, generated: Tensor, batch_size: int, fraction: float, seed: int = 0):
        batch_size = argument("batch_size", batch_size, int, ge=1)
        fraction = argument("fraction", fraction, float, ge=0, le=1)
        seed = argument("seed", seed, int, ge=0)
        self.n_generated = round(fraction * batch_size)
        self.n_real = batch_size - self.n_generated
        if (self.n_real and not len(real)) or (self.n_generated and not len(generated)):
            raise ConfigError("MixedBatchSampler: a stream that the batches draw from holds no images")
        self.streams = [_Stream(real, seed), _Stream(generated, seed + 1)]

    @classmethod
    def of(cls, generated: Tensor, batch_size: int, fraction: float, seed: int = 0) -> MixedBatchSampler:
        """Over one set whose images are marked `generated` (N, bool)."""
        return cls(torch.nonzero(~generated).flatten(), torch.nonzero(generated).flatten(), batch_size, fraction, seed)

    @classmethod
    def concat(
        cls, n_real: int, n_generated: int, batch_size: int, fraction: float, seed: int = 0
    ) -> MixedBatchSampler:
        """Over ConcatDataset([real, generated]): the real images first."""
        generated = torch.arange(n_real, n_real + n_generated)
        return cls(torch.arange(n_real), generated, batch_size, fraction, seed)

    def next(self) -> list[int]:
        real, generated = self.streams
        return real.take(self.n_real) + generated.take(self.n_generated)

    def __len__(self) -> int:
        return max(1, -(-len(self.streams[0].index) // max(1, self.n_real)))

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(len(self)):
            yield self.next()


class _Stream:
    """Endless seeded passes over `index`, each in a new random order."""

    def __init__(self, index: Tensor, seed: int):
        self.index, self.generator = index, torch.Generator().manual_seed(seed)
        self.order: list[int] = []

    def take(self, n: int) -> list[int]:
        while len(self.order) < n:
            self.order += self.index[torch.randperm(len(self.index), generator=self.generator)].tolist()
        taken, self.order = self.order[:n], self.order[n:]
        return taken
