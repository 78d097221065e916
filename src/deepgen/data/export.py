"""A dataset written as a class folder (DIR/CLASS/NNNNNN.png): a folder of one's own to try `folder:` on."""

from __future__ import annotations

from pathlib import Path

import torch

from deepgen.config import DataConfig
from deepgen.data import source_name
from deepgen.data.imageset import ImageSet
from deepgen.data.sources import SOURCES
from deepgen.errors import ConfigError


def export(name: str, folder: Path, per_class: int | None = None) -> tuple[int, list[str]]:
    """Write every image of dataset `name` (training and official test split; the first `per_class` of each class
    when given) into the new or empty `folder`, a sub-folder per class; returns (images written, folder names)."""
    from deepgen.sampling import class_folders, write_samples

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--export: {folder} exists and is not an empty folder; choose a new DIR")
    if name.startswith("folder:"):
        raise ConfigError(f"--export: {name} is a folder already; name a dataset: {', '.join(SOURCES)}")
    cfg = DataConfig(data=name)
    train, test = SOURCES[source_name(name)].read(cfg)
    data = train if test is None else ImageSet(torch.cat([train.images, test.images]),
                                               torch.cat([train.labels, test.labels]), train.classes)  # fmt: skip
    if per_class is not None:
        keep = torch.cat([torch.nonzero(data.labels == c).squeeze(1)[:per_class] for c in range(len(data.classes))])
        data = data.subset(keep.sort().values)
    write_samples(data.images, folder, data.labels, data.classes)
    return len(data), class_folders(data.classes)
