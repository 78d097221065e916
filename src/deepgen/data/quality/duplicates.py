"""Exact and near copies among images, or between two sets of images (e.g. the test and the training split)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.data.quality.signals import CHUNK, pixel_digests, signatures

NEAR = 0.99  # signature similarity from which two images count as near copies (see README, `deepgen inspect`)


@dataclass(frozen=True)
class Pair:
    a: int  # index in the first set
    b: int  # index in the second set (the same set for pairs within one)
    similarity: float  # of the signatures, 1 for the same picture
    exact: bool  # identical pixels


@dataclass
class Fingerprints:
    """What copies are found by: each image's signature and pixel digest."""

    signatures: Tensor
    digests: list[bytes]

    @classmethod
    def of(cls, images: Tensor) -> Fingerprints:
        return cls(signatures(images), pixel_digests(images))

    def __len__(self) -> int:
        return len(self.digests)


def copies(first: Fingerprints, second: Fingerprints | None = None, threshold: float = NEAR) -> list[Pair]:
    """Pairs of exact or near copies: within `first` (a < b) when `second` is None, else between the two (a in first,
    b in second). Exact copies of one picture within a set are paired with its first occurrence only."""
    within = second is None
    second = first if second is None else second
    found: dict[tuple[int, int], Pair] = {}
    if within:
        seen: dict[bytes, int] = {}
        for i, d in enumerate(first.digests):
            if d in seen:
                found[seen[d], i] = Pair(seen[d], i, 1.0, True)
            else:
                seen[d] = i
    else:
        where: dict[bytes, list[int]] = {}
        for j, d in enumerate(second.digests):
            where.setdefault(d, []).append(j)
        for i, d in enumerate(first.digests):
            for j in where.get(d, []):
                found[i, j] = Pair(i, j, 1.0, True)
    b = second.signatures
    for start in range(0, len(first) if threshold <= 1 else 0, CHUNK):  # a threshold above 1: exact copies only
        sim = first.signatures[start : start + CHUNK] @ b.T
        if within:
            sim = sim.triu(start + 1)  # j > i only
        rows, cols = torch.nonzero(sim >= threshold, as_tuple=True)
        for i, j, s in zip((rows + start).tolist(), cols.tolist(), sim[rows, cols].tolist()):
            if (i, j) not in found:
                found[i, j] = Pair(i, j, min(s, 1.0), first.digests[i] == second.digests[j])
    return sorted(found.values(), key=lambda p: (p.a, p.b))


def with_copy_in(test: Fingerprints, train: Fingerprints, threshold: float = NEAR) -> Tensor:
    """A boolean mask over `test`: the images with an exact or near copy in `train`."""
    mask = torch.zeros(len(test), dtype=torch.bool)
    for pair in copies(test, train, threshold):
        mask[pair.a] = True
    return mask
