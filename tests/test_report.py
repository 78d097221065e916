"""The report writer: markdown and CSV tables, and a self-contained HTML page that headless Chromium
renders with its table and images."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepgen.report import Gallery, Table, csv_text, html_page, markdown, write_html

CHROMIUM = Path("/usr/bin/chromium")
TABLE = Table(["model", "fid[classifier:digits]"], [["vae", "12.5"], ["gan | cond", "30.1"]], ["fid: lower is better"])


def test_markdown_and_csv() -> None:
    text = markdown(TABLE)
    assert text.splitlines()[:2] == ["| model | fid[classifier:digits] |", "| --- | --- |"]
    assert "| gan \\| cond | 30.1 |" in text and "- fid: lower is better" in text
    assert csv_text(["a", "b"], [[1, None], ["x,y", 2.5]]) == 'a,b\n1,\n"x,y",2.5\n'


def square(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (24, 24), colour).save(path)
    return path


def test_html_is_self_contained(tmp_path: Path) -> None:
    gallery = Gallery("vae", {"samples": square(tmp_path / "red.png", (255, 0, 0)), "absent": tmp_path / "none.png"})
    page = html_page("report <1>", ["intro & more"], TABLE, [gallery])
    assert page.count("data:image/png;base64,") == 1 and "none.png" not in page
    assert not re.search(r"(src|href)=['\"](?!data:)", page)  # no file or network references
    assert "report &lt;1&gt;" in page and "intro &amp; more" in page and "<table id='results'>" in page


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(
    not CHROMIUM.is_file() and not os.environ.get("DEEPGEN_REQUIRE_CHROMIUM"),
    reason="needs Chromium at /usr/bin/chromium (Debian package chromium; DEEPGEN_REQUIRE_CHROMIUM=1 fails instead)",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM.is_file(), f"DEEPGEN_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing (apt-get install chromium)"
    images = {"samples": square(tmp_path / "red.png", (255, 0, 0)), "curves": square(tmp_path / "b.png", (0, 0, 255))}
    report = write_html(tmp_path / "report.html", "deepgen compare", ["two models"], TABLE, [Gallery("vae", images)])
    (tmp_path / "red.png").unlink()  # the page must not need the files
    (tmp_path / "b.png").unlink()

    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile-1").stdout
    assert re.search(r"<table id=\"results\">.*<td>vae</td><td>12\.5</td>", dom, re.S)
    assert len(re.findall(r"<img src=\"data:image/png;base64,", dom)) == 2

    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=900,900", report.as_uri(), profile=tmp_path / "profile-2")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.std() > 10  # not blank
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 50) & (pixels[..., 2] < 50)
    blue = (pixels[..., 2] > 200) & (pixels[..., 0] < 50) & (pixels[..., 1] < 50)
    assert red.sum() > 200 * 200 and blue.sum() > 200 * 200  # both images drawn (scaled to >= 240 px)
    dark = pixels.sum(-1) < 200
    assert dark[: pixels.shape[0] // 3].sum() > 500  # the title and the table's text


def wide_table() -> Table:
    """A table as wide as augment's with its default --eps --noise --blur: 15 columns, variant names without spaces
    (recipe, ratio, classic, adversarial training), mean ± CI cells and long test verdicts."""
    columns = ["classifier", "variant", "accuracy", "balanced acc.", "macro-F1", "Δ accuracy vs real", "p (paired t)",
               "p (Holm)", "p (McNemar, pooled)", "fgsm@0.05", "pgd-20x2@0.05", "fgsm@0.1", "pgd-20x2@0.1",
               "noise@0.2", "blur@1"]  # fmt: skip
    row = ["torchvision:resnet18", "stylegan-x2+classic+filter+trades-AT", "98.25 ± 7.55", "97.90 ± 8.01",
           "0.9788 ± 0.0812", "+1.25 ± 3.10", "cannot test: 2 seeds, 3 needed", "cannot test: 2 seeds, 3 needed",
           "2.3e-05", "61.20 ± 12.05", "44.53 ± 13.67", "40.86 ± 15.71", "25.75 ± 14.34", "89.69 ± 12.42",
           "84.81 ± 11.99"]  # fmt: skip
    return Table(columns, [row] * 6, ["accuracy: mean ± 95% CI over 2 seeds"])


@pytest.mark.skipif(
    not CHROMIUM.is_file() and not os.environ.get("DEEPGEN_REQUIRE_CHROMIUM"),
    reason="needs Chromium at /usr/bin/chromium (Debian package chromium; DEEPGEN_REQUIRE_CHROMIUM=1 fails instead)",
)
def test_a_wide_table_fits_a_1200_px_window(tmp_path: Path) -> None:
    """The page's width, measured by Chromium itself at a 1,200 px window, is the window's: no horizontal scrolling,
    no column cut off. DEEPGEN_SCREENSHOT=PATH also keeps the screenshot."""
    assert CHROMIUM.is_file(), f"DEEPGEN_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing (apt-get install chromium)"
    page = html_page("deepgen augment", ["a table as wide as augment's"], wide_table(), [])
    probe = "<script>document.body.dataset.width = document.documentElement.scrollWidth;</script></body>"
    report = tmp_path / "report.html"
    report.write_text(page.replace("</body>", probe))
    window = ["--window-size=1200,900", report.as_uri()]
    dom = chromium("--dump-dom", *window, profile=tmp_path / "profile-1").stdout
    width = int(re.search(r'data-width="(\d+)"', dom)[1])
    assert width <= 1200, f"the page is {width} px wide at a 1,200 px window"
    shot = Path(os.environ.get("DEEPGEN_SCREENSHOT") or tmp_path / "shot.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(page)
    chromium(f"--screenshot={shot}", *window, profile=tmp_path / "profile-2")
    pixels = np.asarray(Image.open(shot).convert("L")).astype(int)
    assert pixels.shape[1] == 1200 and (pixels[:, 1150:] < 200).sum() > 100  # the last column is drawn, not cut
