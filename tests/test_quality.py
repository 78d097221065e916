"""Data quality: every finding of `deepgen inspect` on a folder built with one of each defect, the leakage check
against the split load_data makes, the warnings on load and --dedupe, no false alarm on digits, and the HTML page."""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from deepgen.cli import main
from deepgen.config import DataConfig
from deepgen.data import load_data, resolved
from deepgen.data.imageset import ImageSet, split_index
from deepgen.data.quality.collect import Collection, collect
from deepgen.data.quality.duplicates import NEAR, Fingerprints, copies
from deepgen.data.quality.findings import Inspection, inspect
from deepgen.data.quality.onload import DataWarning
from deepgen.data.quality.report import names
from deepgen.data.quality.signals import pixel_digests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from defect_folder import field, make  # noqa: E402
from markdown_tables import assert_markdown_tables  # noqa: E402
from test_report import CHROMIUM, chromium  # noqa: E402


@pytest.fixture(scope="module")
def defects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("quality") / "defects")


@pytest.fixture(scope="module")
def result(defects: Path) -> Inspection:
    return inspect(collect(DataConfig(data=f"folder:{defects}")))


def found(result: Inspection) -> dict[str, list[str]]:
    return {f.check: names(result, f) for f in result.findings}


def test_each_defect_is_reported_with_its_files(result: Inspection) -> None:
    by_check = found(result)
    assert set(by_check) == {
        "unreadable files",
        "dynamic range of class 'dark'",
        "exact copies within a class",
        "exact copies across classes",
        "exact copies across the split",
        "near copies within a class",
        "near copies across classes",
        "near copies across the split",
        "odd aspect ratio",
        "tiny classes",
        "class imbalance",
    }
    assert len(by_check["unreadable files"]) == 1 and by_check["unreadable files"][0].startswith("cat/broken.png: ")
    assert by_check["dynamic range of class 'dark'"] == [f"dark/k{i:02d}.png" for i in range(10)]
    dark = next(f for f in result.findings if f.check.startswith("dynamic range"))
    assert "use at most 3 grey level(s) (values 0-2 of 255)" in dark.message
    assert "cat/c00.png = cat/c00_copy.png (exact)" in by_check["exact copies within a class"]
    assert by_check["exact copies across classes"] == ["cat/c02.png = dog/from_cat.png (exact)"]
    assert any(n.startswith("dog/d01.png = dog/d01_resaved.jpg (0.99") for n in by_check["near copies within a class"])
    assert [n.split(" (")[0] for n in by_check["near copies across classes"]] == ["cat/from_dog.png = dog/d03.png"]
    assert by_check["odd aspect ratio"] == ["dog/wide.png"]
    assert by_check["tiny classes"] == ["one/o00.png"]
    imbalance = next(f for f in result.findings if f.check == "class imbalance")
    assert "('one', 1)" in imbalance.message
    row = {r["class"]: r for r in result.classes}
    assert row["dark"]["range"] == "0-2" and row["dog"]["aspect w/h"] == "1.00-4.00" and row["one"]["images"][0] == "1"


def test_leakage_is_checked_against_the_split_load_data_makes(defects: Path, result: Inspection) -> None:
    """Every test image of deepgen's own split (seed 0) that has a copy in its training split is named, and only
    those: checked here by brute force over all (test, train) pairs."""
    data = result.collection
    readable = ImageSet(data.images, data.labels, data.classes)
    train_index, test_index = split_index(readable, 0.2, 0)
    assert sorted(torch.nonzero(data.test).squeeze(1).tolist()) == sorted(test_index.tolist())
    digests, signature = pixel_digests(data.images), Fingerprints.of(data.images).signatures
    expected = {
        (data.names[i], data.names[j], digests[i] == digests[j])
        for i in test_index.tolist()
        for j in train_index.tolist()
        if digests[i] == digests[j] or float(signature[i] @ signature[j]) >= NEAR
    }
    reported = {
        (data.names[b], data.names[a], f.check.startswith("exact"))
        for f in result.findings
        if f.check.endswith("across the split")
        for a, b in f.items
    }
    assert reported == expected
    assert any(exact for *_, exact in expected) and any(not exact for *_, exact in expected)


def test_copies_exact_near_and_not_between_two_sets() -> None:
    base = torch.from_numpy(np.stack([field(s) for s in range(6)]))[:, None]
    brighter = (base[2].int() * 0.8 + 30).round().clamp(0, 255).to(torch.uint8)  # same picture, other contrast
    noisy = (base[3].int() + torch.randint(-3, 4, base[3].shape, generator=torch.Generator().manual_seed(0))).clamp(
        0, 255
    )
    other = torch.stack([base[1], brighter, noisy.to(torch.uint8), base[5].flip(-1)])
    pairs = copies(Fingerprints.of(base), Fingerprints.of(other))
    assert [(p.a, p.b, p.exact) for p in pairs] == [(1, 0, True), (2, 1, False), (3, 2, False)]
    assert all(p.similarity >= NEAR for p in pairs)
    blank = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)  # constant images: only their exact copies match
    assert [(p.a, p.b, p.exact) for p in copies(Fingerprints.of(blank))] == [(0, 1, True), (0, 2, True)]


def test_dark_light_low_information_and_blurry_images_are_named() -> None:
    sharp = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (40, 1, 32, 32), dtype=np.uint8))
    images = sharp.clone()
    images[3] = (sharp[3].float() * 0.1).to(torch.uint8)  # dark: brightest pixels ~25 of 255
    images[5] = (sharp[5].float() * 0.1 + 225).to(torch.uint8)  # light
    images[7] = 128
    images[7, 0, 16, 16] = 255  # low information: flat grey but for one white pixel
    images[9] = TF.gaussian_blur(sharp[9][None].float(), [9, 9], [3.0, 3.0])[0].round().to(torch.uint8)
    labels = torch.arange(40) % 2
    data = Collection("test", images, labels, ["a", "b"], [f"img{i}" for i in range(40)], None, "no split")
    by_check = found(inspect(data))
    assert by_check["dark images"] == ["img3"] and by_check["light images"] == ["img5"]
    assert by_check["low-information images"] == ["img7"] and by_check["blurry images"] == ["img9"]
    assert by_check["few grey levels"] == ["img7"] and len(by_check) == 5


def test_load_warns_once_per_finding_and_dedupe_keeps_copies_out_of_the_test_split(defects: Path) -> None:
    cfg = DataConfig(data=f"folder:{defects}", dedupe=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = load_data(cfg)
    lines = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert lines == plain.checks and len(lines) == 3
    assert lines[0].startswith("dynamic range: 10 image(s) of class(es) 'dark' use at most 3 grey level(s)")
    assert "Rescale them to 0-255" in lines[0]
    assert lines[1].startswith("tiny classes: 1 class(es) have fewer than 10 images ('one' 1;")
    leaked = int(re.search(r"(\d+) of \d+ test images have an exact \(\d+\) or near \(\d+\) copy", lines[2])[1])
    assert "so test scores are inflated; --dedupe leaves them out" in lines[2] and leaked >= 2
    assert plain.left_out == 0
    for dedupe in (None, True):  # a folder's default, or asked for
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            deduped = load_data(DataConfig(data=f"folder:{defects}", dedupe=dedupe))
        assert len(deduped.test) == len(plain.test) - leaked and torch.equal(deduped.train.images, plain.train.images)
        assert deduped.left_out == leaked
        assert not copies(Fingerprints.of(deduped.test.images), Fingerprints.of(deduped.train.images))
        line = f"duplicates across the split: left out the {leaked} of {len(plain.test)} test images with an exact ("
        assert deduped.checks[-1].startswith(line) and deduped.checks[-1].count("--no-dedupe keeps them") == 1


def test_dedupe_is_on_for_folders_and_off_for_built_in_data(defects: Path) -> None:
    """A folder's run records dedupe: true (config.yaml repeats it); the built-in sets keep their published split,
    and mnist10k's official-free split and digits' with them (digits' one near pair stays where it falls)."""
    assert resolved(DataConfig(data=f"folder:{defects}"), lambda _: None).dedupe is True
    assert resolved(DataConfig(data=f"folder:{defects}", dedupe=False), lambda _: None).dedupe is False
    for name in ("digits", "mnist10k", "mnist", "cifar10"):
        assert resolved(DataConfig(data=name)).dedupe is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        digits = load_data(DataConfig(data="digits", split_seed=1))
    assert digits.left_out == 0 and len(digits.test) == 360 and "--dedupe leaves them out" in digits.checks[-1]


def test_inspect_writes_markdown_tables_that_render(
    defects: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "inspect"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["inspect", "--data", f"folder:{defects}", "--out", str(out), "--thumbnails", "1"]) == 0
    assert_markdown_tables((out / "inspect.md").read_text(), "inspect.md")
    assert_markdown_tables(capsys.readouterr().out, "inspect's output")


def test_the_markdown_table_check_catches_a_missing_separator_cell() -> None:
    good = "# t\n\n| a | b \\| c |\n| --- | --- |\n| 1 | 2 |\n\ntext | with a pipe\n"
    assert assert_markdown_tables(good) == 1
    with pytest.raises(AssertionError, match="header has 3 cells, line 1 has 2"):
        assert_markdown_tables("| a | b | c |\n| --- | --- |\n| 1 | 2 | 3 |\n")
    with pytest.raises(AssertionError, match="line 2 has 4"):
        assert_markdown_tables("| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 | 4 |\n")


def test_the_command_states_the_threshold_the_checks_use() -> None:
    import deepgen.commands.inspect as command  # keeps its own copy so that --help imports no torch

    assert command.NEAR == NEAR


def test_digits_holds_one_near_identical_pair_and_nothing_else() -> None:
    result = inspect(collect(DataConfig(data="digits")))
    assert found(result) == {"near copies within a class": ["#1585 = #1648 (0.9942)"]}


@pytest.mark.slow
def test_mnist10k_finds_only_its_one_binary_digit() -> None:
    """No copies (the closest pairs are different writers' 1s, similarity <= 0.986); test image 9051, a 1, alone
    uses only the values 0 and 255."""
    assert found(inspect(collect(DataConfig(data="mnist10k")))) == {"few grey levels": ["#9051"]}


def test_augment_on_the_defect_folder_warns_and_dedupes(defects: Path, tmp_path: Path) -> None:
    """By default (a folder) and with --no-dedupe: copies across the split leave the test split, or stay and are
    warned of."""
    shared = ["augment", "--data", f"folder:{defects}", "--ratios", "0", "--no-classic", "--max-steps", "3"]
    shared += ["--eps", "--noise", "--blur", "--device", "cpu"]
    out = tmp_path / "augment"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*shared, "--seeds", "2", "--out", str(out)]) == 0
    summary, report = (out / "summary.md").read_text(), (out / "report.html").read_text()
    assert "## Data checks" in summary and "- warning: dynamic range: 10 image(s) of class(es) 'dark'" in summary
    assert "Data check: tiny classes: 1 class(es)" in report
    assert "duplicates across the split: left out the" in summary and "(split seed 1)" in summary
    assert "--no-dedupe keeps them" in summary and json.loads((out / "augment.json").read_text())
    for seed in (0, 1):
        rows = list(csv.DictReader((out / "provenance" / f"seed{seed}.csv").open()))
        assert not {r["sha1"] for r in rows if r["split"] == "test"} & {r["sha1"] for r in rows if r["split"] != "test"}
        splits = load_data(DataConfig(data=f"folder:{defects}", split_seed=seed))
        assert not copies(Fingerprints.of(splits.test.images), Fingerprints.of(splits.train.images))
    kept = tmp_path / "kept"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*shared, "--seeds", "1", "--no-dedupe", "--out", str(kept)]) == 0
    summary = (kept / "summary.md").read_text()
    assert "so test scores are inflated; --dedupe leaves them out" in summary and "left out the" not in summary
    rows = list(csv.DictReader((kept / "provenance" / "seed0.csv").open()))
    assert {r["sha1"] for r in rows if r["split"] == "test"} & {r["sha1"] for r in rows if r["split"] != "test"}


def test_eval_and_compare_leave_copies_out_of_a_folders_test_split(
    defects: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("DEEPGEN_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = load_data(DataConfig(data=f"folder:{defects}", dedupe=False))
        deduped = load_data(DataConfig(data=f"folder:{defects}"))
    n, left = len(plain.test), deduped.left_out
    floor = ["eval", "--data", f"folder:{defects}", "--evaluator-steps", "5", "--n", "16", "--eval-device", "cpu"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*floor, "--out", str(tmp_path / "floor.json")]) == 0
    printed = capsys.readouterr().out
    assert f"against the {n - left} test images, {left} left out (a copy in the training split)" in printed
    assert any(f"left out the {left} of {n} test images" in str(w.message) for w in caught)
    about = json.loads((tmp_path / "floor.json").read_text())["eval"]
    assert about["real"] == f"test split, {n - left} images, {left} left out (a copy in the training split)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*floor, "--no-dedupe"]) == 0
    assert f"against the {n} test images\n" in capsys.readouterr().out
    assert any("so test scores are inflated" in str(w.message) for w in caught)
    out = tmp_path / "cmp"
    args = ["compare", "vae", "--data", f"folder:{defects}", "--device", "cpu", "--budget", "2", "--out", str(out)]
    args += ["--set", "batch_size=8", "--set", "tensorboard=false", "--evaluator-steps", "5", "--n", "16"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--eval-device", "cpu"]) == 0
    results = (out / "results.md").read_text()
    assert f"Data check: duplicates across the split: left out the {left} of {n} test images" in results
    assert assert_markdown_tables(results, "compare's results.md") == 1
    assert assert_markdown_tables(printed, "eval's output", least=0) == 0  # eval prints a plain-text table
    assert json.loads((out / "compare.json").read_text())["runs"][0]["data"]["dedupe"] is True


@pytest.mark.skipif(
    not CHROMIUM.is_file() and not __import__("os").environ.get("DEEPGEN_REQUIRE_CHROMIUM"),
    reason="needs Chromium at /usr/bin/chromium (Debian package chromium; DEEPGEN_REQUIRE_CHROMIUM=1 fails instead)",
)
def test_inspect_command_writes_a_page_that_renders_in_chromium(
    defects: Path, result: Inspection, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert CHROMIUM.is_file(), f"DEEPGEN_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing (apt-get install chromium)"
    out = tmp_path / "inspect"
    assert main(["inspect", "--data", f"folder:{defects}", "--out", str(out), "--thumbnails", "4"]) == 0
    printed = capsys.readouterr().out
    assert "exact copies across classes: 1 pair of" in printed and "cat/c02.png = dog/from_cat.png" in printed
    md = (out / "inspect.md").read_text()
    assert "- cat/broken.png: " in md and "- dog/wide.png" in md and "- one/o00.png" in md
    page = out / "inspect.html"
    shown = page.read_text().count("<img src='data:image/png;base64,")
    assert shown == sum(min(4, len(f.items)) for f in result.findings) > 10  # at most 4 thumbnails per finding
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-1").stdout
    assert re.search(r"<table id=\"results\">.*<td>dark</td>", dom, re.S)
    assert len(re.findall(r"<img src=\"data:image/png;base64,", dom)) == shown
    assert "<h2>near copies across the split</h2>" in dom
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=900,1600", page.as_uri(), profile=tmp_path / "profile-2")
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L")).astype(int)
    assert pixels.std() > 10 and (pixels < 60).sum() > 200 * 200  # text, and the near-black thumbnails drawn


def test_compare_records_the_data_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """digits split with seed 1 puts one of its two near-identical 1s in the test split, the other in training."""
    monkeypatch.setenv("DEEPGEN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp"
    args = ["compare", "vae", "--data", "digits", "--split-seed", "1", "--device", "cpu", "--budget", "2"]
    args += ["--set", "batch_size=16", "--set", "tensorboard=false", "--out", str(out)]
    args += ["--evaluator-steps", "20", "--n", "50", "--eval-device", "cpu"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    line = "Data check: duplicates across the split: 1 of 360 test images have a near copy in the training split"
    assert line in (out / "results.md").read_text() and line in (out / "report.html").read_text()
