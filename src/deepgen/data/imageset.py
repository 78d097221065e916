"""In-memory labelled image sets: uint8 (N, C, H, W) images, int64 labels and class names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from deepgen.errors import DataError


@dataclass
class ImageSet:
    images: Tensor  # uint8 (N, C, H, W)
    labels: Tensor  # int64 (N,)
    classes: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"expected {len(self.images)} labels, got shape {tuple(self.labels.shape)}")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, index: Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], self.classes)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()


@dataclass
class Splits:
    """A dataset's training and held-out test split."""

    name: str
    train: ImageSet
    test: ImageSet
    checks: list[str] = field(default_factory=list)  # what the data checks on load found (deepgen.data.quality)
    left_out: int = 0  # test images left out for an exact or near copy in the training split (--dedupe)


def split(data: ImageSet, test_fraction: float, seed: int, name: str = "the data") -> tuple[ImageSet, ImageSet]:
    """Deterministic train/test split, stratified by class, in which every class is trained on: a class with a single
    image keeps it in training (it cannot be tested); a DataError (naming `name`) when the other classes cannot give
    both parts one image of each."""
    train, test = split_index(data, test_fraction, seed, name)
    return data.subset(train), data.subset(test)


def split_index(data: ImageSet, test_fraction: float, seed: int, name: str = "the data") -> tuple[Tensor, Tensor]:
    """The indices of `split`'s training and test parts (what `deepgen inspect` checks for leakage)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    counts = torch.bincount(data.labels, minlength=len(data.classes))
    alone = counts[data.labels] == 1  # images of single-image classes: trained on, never tested
    rest = torch.nonzero(~alone).flatten()
    n_test = math.ceil(test_fraction * len(rest))
    need = int((counts > 1).sum())
    if need == 0 or min(n_test, len(rest) - n_test) < need:
        single = [c for c, n in zip(data.classes, counts.tolist()) if n == 1]
        why = (
            f"{'class' if len(single) == 1 else 'classes'} {', '.join(single)} "
            f"{'has' if len(single) == 1 else 'have'} a single image (kept for training), and the other "
            if single
            else ""
        )
        raise DataError(
            f"{name}: cannot split {len(data)} image(s) of {len(data.classes)} class(es): {why}"
            f"{len(rest)} image(s) cannot give training and held-out parts of {len(rest) - n_test} and {n_test} "
            f"with at least {max(need, 1)} image(s) each (one per class); add images or change the held-out fraction"
        )
    from sklearn.model_selection import train_test_split  # imported here: slow to import, needed only here

    train, test = train_test_split(
        rest.numpy(), test_size=n_test, random_state=seed, stratify=data.labels[rest].numpy()
    )
    train = torch.cat([torch.nonzero(alone).flatten(), torch.from_numpy(train)])
    return train, torch.from_numpy(test)


def limit_per_class(data: ImageSet, n: int, seed: int) -> ImageSet:
    """Keep at most `n` images of each class, chosen by a seeded permutation (order kept)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    keep = torch.cat([order[data.labels[order] == c][:n] for c in range(len(data.classes))])
    return data.subset(keep.sort().values)


RESIZE_CHUNK_BYTES = 2**28  # what resizing holds in floats at a time (256 MB)


def resize(images: Tensor, size: int, fit: str = "crop") -> Tensor:
    """Make (N, C, H, W) images size x size. crop: resize the shorter side to `size` (antialiased) and
    centre-crop; pad: shrink the longer side to `size` if larger, then centre them on black."""
    if images.shape[-2:] == (size, size):
        return images
    from torchvision.transforms.v2 import functional as TF  # imported here: slow to import

    h, w = images.shape[-2:]
    if fit == "pad":
        scale = min(1.0, size / max(h, w))
        target: int | list[int] = [round(h * scale), round(w * scale)]
    else:
        target = size
    if target != [h, w]:
        out = (target, target) if isinstance(target, int) else target
        chunk = max(1, RESIZE_CHUNK_BYTES // (images[0].numel() * 4 + images.shape[1] * out[0] * out[1] * 4))
        images = torch.cat([TF.resize(part, target, antialias=True) for part in images.split(chunk)])
    return TF.center_crop(images, [size, size])  # pads with black where the image is smaller


def set_channels(images: Tensor, channels: int) -> Tensor:
    """Convert (N, C, H, W) uint8 images to 1 (grayscale) or 3 (RGB) channels."""
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3 and have == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and have == 3:
        from torchvision.transforms.v2 import functional as TF

        return TF.rgb_to_grayscale(images)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1]: the one place images enter a model."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clamped."""
    return images.detach().float().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
