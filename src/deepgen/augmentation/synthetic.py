"""Generated images as data: `synthetic(run, per_class)` (a torch Dataset of a conditional run's samples, for users'
own training loops), and the experiment's pool of generated images, made once per seed and cached on disk with
its provenance (which generator, which seed, how many per class, a hash of every image)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from deepgen.augmentation.pool import image_hashes
from deepgen.augmentation.sources import Source, conditional_source
from deepgen.data.imageset import ImageSet
from deepgen.data.mixing import ImageDataset
from deepgen.device import resolve_device
from deepgen.errors import ConfigError
from deepgen.io import atomic_write_bytes
from deepgen.run import open_run


def synthetic(run: str | os.PathLike, per_class: int, seed: int = 0, device: str = "auto") -> ImageDataset:
    """`per_class` samples of every class of the conditional run `run` (seeded), as a Dataset of (image in [-1, 1],
    label); mix it with real images at a fixed share of each batch with data.mixing.MixedBatchSampler."""
    model = open_run(Path(run)).load(resolve_device(device)).model
    if not (model.can_sample and model.conditional):
        raise ConfigError(f"{run} is not a conditional generator (train it with --conditional)")
    return ImageDataset(conditional_source(model)([per_class] * len(model.classes), seed))


def pool_counts(counts: list[int], size: int) -> list[int]:
    """`size` images shared among the classes in proportion to the real images per class `counts` (largest
    remainders get the rounding, so that they add up to `size`)."""
    shares = [size * c / sum(counts) for c in counts]
    out = [int(s) for s in shares]
    for c in sorted(range(len(counts)), key=lambda c: out[c] - shares[c])[: size - sum(out)]:
        out[c] += 1
    return out


def cached_pool(path: Path, source: Source, counts: list[int], seed: int, generator: str) -> ImageSet:
    """The pool of `counts` generated images per class from `source` (seeded), read from `path` when an earlier run
    made the same pool (same generator, seed and counts), else made and saved there with its provenance."""
    provenance = {"generator": generator, "seed": seed, "counts": counts}
    found = read_pool(path)
    if found is not None and found[1] == provenance:
        return found[0]
    pool = source(counts, seed)
    meta = provenance | {"classes": pool.classes, "sha1": digest(pool)}
    tensors = {"images": pool.images.contiguous(), "labels": pool.labels.contiguous()}
    atomic_write_bytes(path, save_safetensors(tensors, metadata={"deepgen_pool": json.dumps(meta)}))
    return pool


def read_pool(path: Path) -> tuple[ImageSet, dict] | None:
    """A saved pool and its provenance (without the classes and hash), or None when there is none or it is damaged
    (its images no longer match their hash)."""
    if not path.is_file():
        return None
    try:
        with safe_open(path, framework="pt") as f:
            images, labels = f.get_tensor("images"), f.get_tensor("labels")
            meta = json.loads((f.metadata() or {})["deepgen_pool"])
    except (OSError, SafetensorError, ValueError, KeyError):
        return None
    pool = ImageSet(images, labels, meta.pop("classes"))
    return (pool, meta) if digest(pool) == meta.pop("sha1", None) else None


def digest(data: ImageSet) -> str:
    """One SHA-1 of all the images' pixels and labels, in order."""
    return hashlib.sha1(("".join(image_hashes(data.images)) + str(data.labels.tolist())).encode()).hexdigest()


def leaked(trained_on: ImageSet, test: ImageSet) -> int:
    """How many test images have the pixels of an image the judge was trained on (0 for an honest judge)."""
    seen = set(image_hashes(trained_on.images))
    return sum(h in seen for h in image_hashes(test.images))
