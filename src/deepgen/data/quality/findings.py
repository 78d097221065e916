"""Every check of `deepgen inspect`: per-class facts and the findings, each naming the images it is about."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

import torch

from deepgen.data.quality.collect import Collection
from deepgen.data.quality.duplicates import NEAR, Fingerprints, Pair, copies
from deepgen.data.quality.onload import COLLAPSED_SHARE, FEW_LEVELS, NARROW, TINY
from deepgen.data.quality.signals import ImageStats, measure

IMBALANCE = 3.0  # largest / smallest class from which the classes count as unbalanced
ODD_ASPECT = 1.5  # a file this many times wider (or taller) than the typical file's aspect ratio
ODD_AREA = 4.0  # a file with this many times the typical file's pixels, or as many times fewer
OUTLIER = 0.2  # entropy or sharpness under this share of the data set's median: low information, blurry


@dataclass
class Finding:
    check: str  # e.g. 'near copies across the split'
    message: str  # what was found, with the number of images affected
    remedy: str
    items: list[tuple[int, ...]] = field(default_factory=list)  # images (one) or copies (two) it is about
    files: list[str] = field(default_factory=list)  # files without an image (unreadable)
    similarity: list[float] = field(default_factory=list)  # of each pair, for copies


@dataclass
class Inspection:
    collection: Collection
    stats: ImageStats
    classes: list[dict[str, str]]  # one row of facts per class
    findings: list[Finding]
    threshold: float  # near-copy similarity


def inspect(data: Collection, threshold: float = NEAR) -> Inspection:
    stats = measure(data.images)
    flagged = collapsed_classes(data, stats)
    pairs = copies(Fingerprints.of(data.images), threshold=threshold)
    findings = [
        *unreadable(data),
        *dynamic_range(data, stats, flagged),
        *duplicates(data, pairs),
        *outliers(data, stats, flagged),
        *odd_files(data),
        *class_sizes(data),
    ]
    return Inspection(data, stats, class_rows(data, stats), findings, threshold)


def collapsed(stats: ImageStats) -> torch.Tensor:
    return (stats.levels <= FEW_LEVELS) | (stats.highest - stats.lowest <= NARROW)


def collapsed_classes(data: Collection, stats: ImageStats) -> list[int]:
    narrow = collapsed(stats)
    return [c for c in range(len(data.classes)) if (data.labels == c).any() and
            narrow[data.labels == c].float().mean() >= COLLAPSED_SHARE]  # fmt: skip


def unreadable(data: Collection) -> list[Finding]:
    if not data.unreadable:
        return []
    return [
        Finding(
            "unreadable files",
            f"{len(data.unreadable)} file(s) cannot be read as images and are skipped",
            "re-save them in a common format or remove them",
            files=[f"{name}: {why}" for name, why in data.unreadable],
        )
    ]


def dynamic_range(data: Collection, stats: ImageStats, flagged: list[int]) -> list[Finding]:
    narrow = collapsed(stats)
    found = []
    for c in flagged:
        mine = torch.nonzero((data.labels == c) & narrow).squeeze(1)
        n = int((data.labels == c).sum())
        low, high, levels = int(stats.lowest[mine].min()), int(stats.highest[mine].max()), int(stats.levels[mine].max())
        found.append(Finding(
            f"dynamic range of class {data.classes[c]!r}",
            f"{len(mine)} of the {n} images of class {data.classes[c]!r} use at most {levels} grey level(s) (values "
            f"{low}-{high} of 255): label masks or wrongly scaled images",
            "rescale them to 0-255 (or check that they are the images meant) before training",
            [(int(i),) for i in mine],
        ))  # fmt: skip
    classes = torch.tensor(flagged, dtype=torch.long)
    others = torch.nonzero(narrow & ~torch.isin(data.labels, classes)).squeeze(1)
    if len(others):
        found.append(Finding(
            "few grey levels",
            f"{len(others)} image(s) use at most {FEW_LEVELS} grey levels or span at most {NARROW} of 255 (binary, "
            "masks or nearly flat), in classes whose other images do not",
            "check that they are meant to look so",
            [(int(i),) for i in others],
        ))  # fmt: skip
    return found


def duplicates(data: Collection, pairs: list[Pair]) -> list[Finding]:
    """Exact and near copies within a class, across classes (conflicting labels) and across the split (leakage)."""
    label = data.labels.tolist()
    test = data.test.tolist() if data.test is not None else None
    where = {
        "within a class": lambda p: label[p.a] == label[p.b],
        "across classes": lambda p: label[p.a] != label[p.b],
        "across the split": lambda p: test is not None and test[p.a] != test[p.b],
    }
    remedies = {
        "within a class": "remove the extra copies: they weigh those images more and may inflate test scores",
        "across classes": "one picture under two labels: decide its class and remove the other copy",
        "across the split": "a test image with a copy in training inflates test scores: remove the copies; train, "
        "eval, compare and augment leave them out of the test split of a folder (--dedupe, the default for folders)",
    }
    found = []
    for exact in (True, False):
        kind = "exact copies" if exact else "near copies"
        for place, belongs in where.items():
            mine = [p for p in pairs if p.exact == exact and belongs(p)]
            if not mine:
                continue
            if place == "across the split":  # name the test image second
                mine = [p if test[p.b] else Pair(p.b, p.a, p.similarity, p.exact) for p in mine]
                n = len({p.b for p in mine})
                have = "test image has" if n == 1 else "test images have"
                what = f"{n} {have} {'an exact' if exact else 'a near'} copy in the training split"
            else:
                n = len({i for p in mine for i in (p.a, p.b)})
                what = f"{len(mine)} {'pair' if len(mine) == 1 else 'pairs'} of {kind} {place} ({n} images)"
            items, similarity = [(p.a, p.b) for p in mine], [p.similarity for p in mine]
            found.append(Finding(f"{kind} {place}", what, remedies[place], items, similarity=similarity))
    return found


def outliers(data: Collection, stats: ImageStats, flagged: list[int]) -> list[Finding]:
    """Dark, light, low-information and blurry images, judged against the data set's own typical image (the images
    of classes with a collapsed dynamic range are reported as such)."""
    judged = ~torch.isin(data.labels, torch.tensor(flagged, dtype=torch.long))
    if not judged.any():
        return []
    median = {k: float(getattr(stats, k)[judged].nanmedian()) for k in ("high", "low", "entropy", "sharpness")}
    tests = [
        ("dark images", (stats.high < min(64, median["high"] / 4)),
         f"brightest pixels (99th percentile) under 64 of 255 and a quarter of the typical {median['high']:.0f}",
         "check the exposure or windowing of these images"),
        ("light images", (stats.low > max(191, median["low"] + 128)),
         f"darkest pixels (1st percentile) above 191 of 255 while typically {median['low']:.0f}",
         "check the exposure or windowing of these images"),
        ("low-information images", (stats.entropy < OUTLIER * median["entropy"]),
         f"grey-level entropy under {OUTLIER:g} of the typical {median['entropy']:.2f} bits (nearly blank)",
         "remove them if they are blank or placeholders"),
        ("blurry images", (stats.sharpness < OUTLIER * median["sharpness"]),
         f"sharpness (Laplacian variance / pixel variance) under {OUTLIER:g} of the typical {median['sharpness']:.2f}",
         "check focus and resizing; remove them if they carry no detail"),
    ]  # fmt: skip
    found = []
    for check, hit, why, remedy in tests:
        index = torch.nonzero(hit & judged).squeeze(1)
        if len(index):
            found.append(Finding(check, f"{len(index)} image(s): {why}", remedy, [(int(i),) for i in index]))
    return found


def odd_files(data: Collection) -> list[Finding]:
    """Files of an odd aspect ratio or size against the typical file."""
    sized = [i for i, (w, h) in enumerate(data.sizes) if w and h]
    if len({data.sizes[i] for i in sized}) < 2:
        return []
    ratio = statistics.median(data.sizes[i][0] / data.sizes[i][1] for i in sized)
    area = statistics.median(data.sizes[i][0] * data.sizes[i][1] for i in sized)
    odd = [  # (check, each file against the typical one, over how many times, what it says, the remedy)
        ("odd aspect ratio", lambda w, h: w / h / ratio, ODD_ASPECT, f"are over {ODD_ASPECT:g}x wider or taller "
         f"than the typical width/height {ratio:.2f}", "crop them, or read with --fit pad (else the centre crop drops "
         "most of them)"),
        ("odd size", lambda w, h: w * h / area, ODD_AREA, f"have over {ODD_AREA:g}x more or fewer pixels than the "
         f"typical {area:,.0f}", "check them: they are scaled to the common size (blurred or pixelated)"),
    ]  # fmt: skip
    found = []
    for check, relative, limit, what, remedy in odd:
        files = [i for i in sized if abs(math.log(relative(*data.sizes[i]))) > math.log(limit)]
        if files:
            found.append(Finding(check, f"{len(files)} file(s) {what}", remedy, [(i,) for i in files]))
    return found


def class_sizes(data: Collection) -> list[Finding]:
    counts = torch.bincount(data.labels, minlength=len(data.classes)).tolist()
    found = []
    tiny = [c for c, n in enumerate(counts) if n < TINY]
    if tiny:
        listing = ", ".join(f"{data.classes[c]!r} {counts[c]}" for c in tiny)
        found.append(Finding(
            "tiny classes",
            f"{len(tiny)} class(es) have fewer than {TINY} images: {listing}",
            "add images or merge the classes: too few to learn from, and test scores rest on one or two images",
            [(int(i),) for c in tiny for i in torch.nonzero(data.labels == c).squeeze(1)],
        ))  # fmt: skip
    present = [n for n in counts if n]
    if len(present) > 1 and max(present) >= IMBALANCE * min(present):
        big, small = counts.index(max(present)), counts.index(min(present))
        found.append(Finding(
            "class imbalance",
            f"the largest class ({data.classes[big]!r}, {counts[big]}) has {counts[big] / counts[small]:.1f}x the "
            f"images of the smallest ({data.classes[small]!r}, {counts[small]})",
            "report balanced accuracy or macro-F1 (deepgen augment does); consider augment's --balance",
        ))  # fmt: skip
    return found


def class_rows(data: Collection, stats: ImageStats) -> list[dict[str, str]]:
    """Per class: count (train / test), sizes, aspect ratios, modes, grey levels and range, mean brightness."""
    rows = []
    test = data.test if data.test is not None else torch.zeros(len(data), dtype=torch.bool)
    for c, name in enumerate(data.classes):
        index = torch.nonzero(data.labels == c).squeeze(1).tolist()
        if not index:
            rows.append({"class": name, "images": "0"})
            continue
        sizes = Counter(data.sizes[i] for i in index)
        (w, h), common = sizes.most_common(1)[0]
        ratios = [data.sizes[i][0] / data.sizes[i][1] for i in index if data.sizes[i][1]]
        n_test = int(test[index].sum())
        mine = torch.tensor(index)
        rows.append({
            "class": name,
            "images": f"{len(index)} ({len(index) - n_test} / {n_test})",
            "sizes": f"{w}x{h}" + (f" ({common}), {len(sizes) - 1} other" if len(sizes) > 1 else ""),
            "aspect w/h": f"{min(ratios):.2f}" + (f"-{max(ratios):.2f}" if max(ratios) != min(ratios) else ""),
            "modes": ", ".join(f"{m} {k}" if len(set(data.modes[i] for i in index)) > 1 else m
                               for m, k in Counter(data.modes[i] for i in index).most_common()),
            "grey levels": f"{int(stats.levels[mine].median())} (median)",
            "range": f"{int(stats.lowest[mine].min())}-{int(stats.highest[mine].max())}",
            "brightness": f"{float(stats.mean[mine].mean()):.0f} ± {float(stats.mean[mine].std(unbiased=False)):.0f}",
        })  # fmt: skip
    return rows
