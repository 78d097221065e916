"""Where every image of an experiment came from: OUT/provenance/*.csv, one row per image."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from deepgen.augmentation.pool import image_hashes
from deepgen.data.imageset import ImageSet
from deepgen.io import atomic_write_text


def write_provenance(
    path: Path,
    train_set: ImageSet,
    val: ImageSet,
    test: ImageSet,
    synthetic: dict[float | str, ImageSet],
    pool: ImageSet | None = None,
) -> None:
    """One row per image: the split it was used in, where it came from, its class and a hash of its pixels (the
    unlabelled pool, which only the generator sees, with the class the judge gave it)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["split", "source", "ratio", "class", "sha1"])
    parts = [("train", "real", "", train_set), ("val", "real", "", val), ("test", "real", "", test)]
    parts += [("generator", "unlabelled", "", pool)] if pool is not None and len(pool) else []
    parts += [("train", "synthetic", r if isinstance(r, str) else f"{r:g}", s) for r, s in synthetic.items()]
    for split_name, source, ratio, data in parts:
        for digest, label in zip(image_hashes(data.images), data.labels):
            out.writerow([split_name, source, ratio, data.classes[label], digest])
    atomic_write_text(path, buffer.getvalue())
