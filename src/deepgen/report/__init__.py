"""Reports: a table as markdown or CSV, and a self-contained HTML page (images embedded as data URIs) whose table
wraps its cells to the page's width (1,200 px and wider: no horizontal scrolling)."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from deepgen.io import atomic_write_text


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)  # shown under the table


@dataclass
class Gallery:
    """Images (label -> PNG file) shown side by side under a title."""

    title: str
    images: dict[str, Path]
    caption: str = ""


def md_text(text: str) -> str:
    """Text from the data (a class or file name) as Markdown shows it: HTML in it is shown, never run."""
    return html.escape(str(text), quote=False)


def markdown(table: Table) -> str:
    def cell(text: str) -> str:
        return md_text(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, table.columns)) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in table.rows]
    return "\n".join(lines + [""] + [f"- {md_text(note)}" for note in table.notes]) + "\n"


def csv_text(columns: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; max-width: 100%; }
th, td { border: 1px solid #bbb; padding: 4px 6px; text-align: right; overflow-wrap: break-word; }
th { font-size: 13px; }
th:first-child, td:first-child { text-align: left; }
th { background: #eef; }
.gallery { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; }
figure img { image-rendering: pixelated; min-width: 240px; max-width: 520px; border: 1px solid #ccc; }
figcaption, .note { font-size: 13px; color: #555; }
"""


def breakable(text: object) -> str:
    """`text` escaped for HTML, with a line break allowed after each '+', '@', '/', ':' and '_', so that names
    such as 'gan-x2+classic+filter+fgsm-AT' or 'pgd-20x2@0.1' wrap in a narrow column instead of widening the table."""
    return re.sub(r"([+@/:_])", r"\1<wbr>", html.escape(str(text)))


def html_page(title: str, intro: list[str], table: Table, galleries: list[Gallery]) -> str:
    """A complete HTML document that needs no other file."""
    e = html.escape
    head = "".join(f"<th>{breakable(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{breakable(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>",
        *[f"<p>{e(line)}</p>" for line in intro],
        f"<table id='results'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        "<ul class='note'>" + "".join(f"<li>{e(n)}</li>" for n in table.notes) + "</ul>",
    ]
    for gallery in galleries:
        figures = "".join(
            f"<figure><img src='{data_uri(path)}' alt='{e(label)}'><figcaption>{e(label)}</figcaption></figure>"
            for label, path in gallery.images.items()
            if path.is_file()
        )
        caption = f"<p class='note'>{e(gallery.caption)}</p>" if gallery.caption else ""
        parts.append(f"<h2>{e(gallery.title)}</h2>{caption}<div class='gallery'>{figures}</div>")
    return "".join(parts) + "</body></html>\n"


def write_html(path: Path, title: str, intro: list[str], table: Table, galleries: list[Gallery]) -> Path:
    atomic_write_text(path, html_page(title, intro, table, galleries))
    return path
