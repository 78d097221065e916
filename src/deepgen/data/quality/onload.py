"""The cheap checks every load runs (dynamic range, copies across the split, tiny classes): one warning line each,
with the number of images affected and the remedy; and --dedupe (the default for folders), which leaves out of the
test split every image with an exact or near copy in the training split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

from deepgen.data.imageset import ImageSet
from deepgen.data.quality.duplicates import NEAR, Fingerprints, copies
from deepgen.data.quality.signals import measure

TINY = 10  # a class with fewer images (training and test split together) is too small to learn from and test on
FEW_LEVELS = 4  # an image that uses at most this many grey levels ...
NARROW = 16  # ... or whose values span at most this many of 255, has a collapsed dynamic range
COLLAPSED_SHARE = 0.5  # a class is flagged when at least this share of its images has a collapsed range
SAMPLE = 500  # images per class the on-load check of the dynamic range looks at
NEAR_BUDGET = 5e10  # multiply-adds allowed for near copies across the split on load (~2 s on one core); else exact only


class DataWarning(UserWarning):
    """A finding of the checks run on every load."""


@dataclass
class LoadCheck:
    lines: list[str]  # one warning line per finding
    leaked: Tensor  # bool mask over the test split: images with an exact or near copy in the training split


CACHE: dict[str, LoadCheck] = {}


def check_on_load(train: ImageSet, test: ImageSet, split: str, dedupe: bool, data: str) -> LoadCheck:
    """The checks of a loaded data set; `split` says where the split came from (e.g. 'split seed 0'), `data` names
    the data set in remedies. Repeated loads of the same images reuse the result."""
    key = fingerprint(train, test, split, dedupe, data)
    if key not in CACHE:
        CACHE.clear()  # one data set at a time: enough for the loads a command repeats
        CACHE[key] = LoadCheck(
            [*dynamic_range(train, test, data), *tiny_classes(train, test)], torch.zeros(len(test), dtype=torch.bool)
        )
        leak, line = leakage(train, test, split, dedupe, data)
        CACHE[key].leaked, CACHE[key].lines = leak, CACHE[key].lines + ([line] if line else [])
    return CACHE[key]


def fingerprint(train: ImageSet, test: ImageSet, *context: object) -> str:
    h = hashlib.blake2b(repr(context).encode(), digest_size=16)
    for part in (train, test):
        h.update(part.images.contiguous().numpy().tobytes())
        h.update(part.labels.numpy().tobytes())
    return h.hexdigest()


def collapsed(images: Tensor) -> Tensor:
    """Images whose grey values use at most FEW_LEVELS levels or span at most NARROW of 255."""
    stats = measure(images)
    return (stats.levels <= FEW_LEVELS) | (stats.highest - stats.lowest <= NARROW)


def dynamic_range(train: ImageSet, test: ImageSet, data: str) -> list[str]:
    """Classes where most images have a collapsed range, judged on up to SAMPLE images of each (a seeded choice) so
    that large sets load fast; the images of a flagged class are then counted in full."""
    images, labels = torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels])
    flagged = []
    for c in range(len(train.classes)):
        index = torch.nonzero(labels == c).squeeze(1)
        sample = index[torch.randperm(len(index), generator=torch.Generator().manual_seed(0))[:SAMPLE]]
        if len(sample) and collapsed(images[sample]).float().mean() >= COLLAPSED_SHARE:
            flagged.append(c)
    if not flagged:
        return []
    members = torch.nonzero(torch.isin(labels, torch.tensor(flagged))).squeeze(1)
    mine = members[collapsed(images[members])]
    stats = measure(images[mine])
    names = ", ".join(repr(train.classes[c]) for c in flagged)
    return [
        f"dynamic range: {len(mine)} image(s) of class(es) {names} use at most {int(stats.levels.max())} grey "
        f"level(s) (values {int(stats.lowest.min())}-{int(stats.highest.max())} of 255): label masks or wrongly "
        f"scaled images? Rescale them to 0-255 before training (deepgen inspect --data {data} shows them)"
    ]


def tiny_classes(train: ImageSet, test: ImageSet) -> list[str]:
    counts = [a + b for a, b in zip(train.class_counts(), test.class_counts())]
    tiny = [(name, n) for name, n in zip(train.classes, counts) if n < TINY]
    if not tiny:
        return []
    listing = ", ".join(f"{name!r} {n}" for name, n in tiny)
    return [
        f"tiny classes: {len(tiny)} class(es) have fewer than {TINY} images ({listing}; {sum(n for _, n in tiny)} "
        "images in all): too few to learn from, and their test scores rest on one or two images; add images or "
        "merge the classes"
    ]


def leakage(train: ImageSet, test: ImageSet, split: str, dedupe: bool, data: str) -> tuple[Tensor, str | None]:
    """The test images with a copy in the training split, and the warning line (None when there are none)."""
    pixels = train.images[0].numel() // train.images.shape[1]
    near = len(train) * len(test) * min(pixels, 32 * 32) <= NEAR_BUDGET
    threshold = NEAR if near else 2.0  # above any similarity: exact copies only
    pairs = copies(Fingerprints.of(test.images), Fingerprints.of(train.images), threshold)
    leaked = torch.zeros(len(test), dtype=torch.bool)
    exact = torch.zeros(len(test), dtype=torch.bool)
    for p in pairs:
        leaked[p.a] = True
        exact[p.a] |= p.exact
    n = int(leaked.sum())
    if not n:
        return leaked, None
    e = int(exact.sum())
    kinds = "an exact" if e == n else "a near" if not e else f"an exact ({e}) or near ({n - e})"
    where = f"{kinds} copy in the training split ({split})"
    only = "; near copies were not compared on load (too many images), deepgen inspect compares them"
    only = "" if near else only
    if dedupe and data.startswith("folder:"):
        return leaked, (
            f"duplicates across the split: left out the {n} of {len(test)} test images with {where}, as for every "
            f"folder, so that copies cannot inflate test scores; --no-dedupe keeps them{only}"
        )
    if dedupe:
        return (
            leaked,
            f"duplicates across the split: --dedupe left out the {n} of {len(test)} test images with {where}{only}",
        )
    return leaked, (
        f"duplicates across the split: {n} of {len(test)} test images have {where}, so test scores are inflated; "
        f"--dedupe leaves them out of the test split (deepgen inspect --data {data} shows them){only}"
    )
