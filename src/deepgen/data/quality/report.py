"""What `deepgen inspect` writes: a short printed report, inspect.md (every finding, every file named) and
inspect.html (the per-class table and thumbnails of each finding, copies side by side)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from PIL import Image

from deepgen.data.quality.findings import Finding, Inspection
from deepgen.io import atomic_write_text, writing
from deepgen.report import Gallery, Table, markdown, md_text, write_html

THUMB = 64  # thumbnails are enlarged (nearest neighbour) to at least this many pixels


def table(result: Inspection) -> Table:
    columns = list(dict.fromkeys(k for row in result.classes for k in row))
    return Table(columns, [[row.get(k, "") for k in columns] for row in result.classes])


def about(result: Inspection) -> str:
    data = result.collection
    c, h, w = data.images.shape[1:]
    return (
        f"{data.data}: {len(data)} images in {len(data.classes)} classes, read at {w}x{h} px, {c} channel(s); "
        f"{data.split}; near copies: signature similarity >= {result.threshold:g}"
    )


def names(result: Inspection, finding: Finding, limit: int | None = None) -> list[str]:
    """The files a finding is about (the first `limit` of each kind): unreadable files, then its images as 'a.png',
    or 'a.png = b.png (0.997)' for copies."""
    return list(finding.files[:limit]) + item_names(result, finding, limit)


def item_names(result: Inspection, finding: Finding, limit: int | None = None) -> list[str]:
    data, out = result.collection, []
    for k, item in enumerate(finding.items[:limit]):
        if len(item) == 2:
            tag = "exact" if finding.check.startswith("exact") else f"{finding.similarity[k]:.4f}"
            out.append(f"{data.names[item[0]]} = {data.names[item[1]]} ({tag})")
        else:
            out.append(data.names[item[0]])
    return out


def printed(result: Inspection, shown: int = 3) -> str:
    """The short report: what the data is, the per-class table, one line per finding with a few files."""
    lines = [about(result), "", markdown(table(result)).rstrip()]
    if not result.findings:
        lines += ["", "no findings"]
    for f in result.findings:
        listed = names(result, f, shown)
        more = len(f.items) + len(f.files) - len(listed)
        lines += ["", f"{f.check}: {f.message}"]
        lines += [f"  e.g. {'; '.join(listed)}" + (f" and {more} more" if more else "")] if listed else []
        lines.append(f"  remedy: {f.remedy}")
    return "\n".join(lines)


def write(result: Inspection, out: Path, thumbnails: int = 24) -> dict[str, Path]:
    """inspect.md and inspect.html in `out` (thumbnails of at most `thumbnails` items per finding)."""
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "inspect.md", "html": out / "inspect.html"}
    text = [f"# deepgen inspect: {md_text(result.collection.data)}", "", md_text(about(result)), ""]
    text.append(markdown(table(result)))
    for f in result.findings:
        text += [f"## {f.check}", "", md_text(f"{f.message}. Remedy: {f.remedy}."), ""]
        text += [f"- {md_text(name)}" for name in names(result, f)] + [""]
    if not result.findings:
        text.append("No findings.")
    atomic_write_text(paths["markdown"], "\n".join(text) + "\n")
    galleries = [gallery(result, f, out / "thumbnails" / f"{k:02d}-{slug(f.check)}", thumbnails)
                 for k, f in enumerate(result.findings)]  # fmt: skip
    intro = [about(result)] + [f"{f.check}: {f.message}. Remedy: {f.remedy}." for f in result.findings]
    write_html(paths["html"], f"deepgen inspect: {result.collection.data}", intro, table(result), galleries)
    return paths


def gallery(result: Inspection, finding: Finding, folder: Path, limit: int) -> Gallery:
    """Thumbnails of a finding's first `limit` items (a pair side by side), labelled with their files."""
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for k, (item, label) in enumerate(zip(finding.items[:limit], item_names(result, finding, limit))):
        path = folder / f"{k:03d}.png"
        with writing(path):
            Image.fromarray(side_by_side([result.collection.images[i].numpy() for i in item])).save(path)
        images[label] = path
    listed = len(finding.items) + len(finding.files)
    caption = f"{finding.message}; remedy: {finding.remedy}" + (f" (first {limit} of {listed} shown)" if listed > limit
                                                                  else "")  # fmt: skip
    caption += "".join(f"; {name}" for name in finding.files[:limit])
    return Gallery(finding.check, images, caption)


def side_by_side(images: list[np.ndarray]) -> np.ndarray:
    """(C, H, W) uint8 images enlarged to at least THUMB px and joined left to right with a grey gap, as RGB."""
    parts = []
    for image in images:
        rgb = np.repeat(image, 3, 0) if image.shape[0] == 1 else image[:3]
        scale = max(1, math.ceil(THUMB / max(rgb.shape[1:])))
        parts.append(rgb.transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1))
    height = max(p.shape[0] for p in parts)
    gap = np.full((height, 6, 3), 128, np.uint8)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=128) for p in parts]
    return np.concatenate([x for p in padded for x in (p, gap)][:-1], axis=1)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
