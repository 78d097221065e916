"""A class folder with one of each defect `deepgen inspect` looks for, each in a file whose name says what it is:

    cat/c00_copy.png      exact copy of cat/c00.png (within a class); also c04, c05, dog/d06-d08
    dog/d01_resaved.jpg   dog/d01.png re-saved as JPEG (near copy within a class); also c04, c05, d06-d08
    dog/from_cat.png      exact copy of cat/c02.png (across classes: conflicting labels)
    cat/from_dog.png      dog/d03.png made brighter (near copy across classes)
    cat/broken.png        not an image
    dog/wide.png          4:1 aspect ratio
    dark/                 10 images using grey levels 0-2 only (a wrongly scaled class)
    one/                  a class of one image

Usage: python bench/defect_folder.py OUT   (tests/test_quality.py builds it with `make`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def field(seed: int, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    """A smooth random grey picture (8 x 8 noise, bicubic upscaled), distinct for every seed."""
    noise = np.random.default_rng(seed).integers(0, 230, (8, 8), dtype=np.uint8)
    return np.asarray(Image.fromarray(noise).resize(size, Image.BICUBIC))


def make(root: Path) -> Path:
    for name in ("cat", "dog", "dark", "one"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(12):
        Image.fromarray(field(i)).save(root / "cat" / f"c{i:02d}.png")
        Image.fromarray(field(100 + i)).save(root / "dog" / f"d{i:02d}.png")
    for i in range(10):
        Image.fromarray(np.digitize(field(200 + i), [77, 154]).astype(np.uint8)).save(root / "dark" / f"k{i:02d}.png")
    Image.fromarray(field(300)).save(root / "one" / "o00.png")
    shutil.copy(root / "cat" / "c00.png", root / "cat" / "c00_copy.png")
    Image.open(root / "dog" / "d01.png").save(root / "dog" / "d01_resaved.jpg", quality=90)
    shutil.copy(root / "cat" / "c02.png", root / "dog" / "from_cat.png")
    Image.fromarray(np.clip(field(103).astype(int) + 20, 0, 255).astype(np.uint8)).save(root / "cat" / "from_dog.png")
    for name in ("cat/c04", "cat/c05", "dog/d06", "dog/d07", "dog/d08"):  # more copies: some straddle the split
        shutil.copy(root / f"{name}.png", root / f"{name}_copy.png")
        Image.open(root / f"{name}.png").save(root / f"{name}_resaved.jpg", quality=90)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    Image.fromarray(field(400, (128, 32))).save(root / "dog" / "wide.png")
    return root


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
