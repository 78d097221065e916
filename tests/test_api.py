"""The Python API: the commands as functions returning objects, with the command line's option names and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import deepgen
from conftest import TINY_MODEL
from deepgen.errors import ConfigError
from deepgen.eval.metrics import Metric
from deepgen.results import AugmentResults, CompareResults, Results, metric_row

TINY = {"data": "digits", "batch_size": 16, "device": "cpu", "tensorboard": False}
EVAL = {"evaluator_steps": 40, "cas_steps": 20, "n": 100, "eval_device": "cpu"}


def test_the_readme_snippet_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = deepgen.train("vae", data="mnist10k", steps=5, out="api-run")
    model = deepgen.load(run)
    images = model.sample(4)
    assert run.run == Path("api-run") and run.step == 5 and (tmp_path / "api-run" / "config.yaml").is_file()
    assert images.shape == (4, 1, 28, 28)


def test_load_from_a_path_or_the_run_and_sample(tmp_path: Path) -> None:
    run = deepgen.train("vae", steps=3, out=str(tmp_path / "run"), **TINY, **TINY_MODEL["vae"])
    by_run, by_path = deepgen.load(run), deepgen.load(str(tmp_path / "run"), device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(by_run.state_dict().values(), by_path.state_dict().values()))
    images = by_path.sample(6, generator=torch.Generator().manual_seed(0))
    assert images.shape == (6, 1, 8, 8) and not images.requires_grad
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    assert torch.equal(images, by_run.sample(6, generator=torch.Generator().manual_seed(0)))


def test_train_resume_continues_a_run_bit_for_bit(tmp_path: Path) -> None:
    options = {**TINY, **TINY_MODEL["vae"], "checkpoint_every": 100}
    whole = deepgen.train("vae", steps=6, out=str(tmp_path / "whole"), **options)
    first = deepgen.train("vae", steps=3, out=str(tmp_path / "split"), **options)
    second = deepgen.train("vae", resume=first, steps=6)
    assert second.run == first.run and second.step == 6
    a, b = deepgen.load(whole, device="cpu").state_dict(), deepgen.load(second, device="cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match=f"^resume continues {first.run} exactly as configured; .* not latent_dim"):
        deepgen.train("vae", resume=str(first.run), steps=9, latent_dim=3)
    with pytest.raises(ConfigError, match="model 'ae' does not match 'vae'"):
        deepgen.train("ae", resume=first, steps=9)


def test_a_bad_keyword_gives_the_command_lines_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option 'stepz' for model 'vae'; did you mean 'steps'"):
        deepgen.train("vae", stepz=5, out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="^steps: expected >= 1, got 0"):  # keyword arguments, not flags
        deepgen.train("vae", steps=0, out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"^unrecognized arguments: budgets 3; did you mean 'budget'\?$"):
        deepgen.compare(["vae"], data="digits", budget="3", budgets=3, out=tmp_path / "cmp")


def test_an_error_written_with_flags_names_keywords_in_the_api(tmp_path: Path) -> None:
    """The README's augment example without per_class_generators: the experiment's own message (written with
    flags, far from the parser) names the keyword; paths and words with dashes are left alone."""
    match = r"cannot draw a requested class \(it has no conditional\): add per_class_generators \(one per class\)"
    with pytest.raises(ConfigError, match=match):
        deepgen.augment(data="digits", train_generator="vae", ratios=[0, 1], out=tmp_path / "aug")
    from deepgen.config import as_keywords

    text = "see runs/a--b and x--y-z; give --dedupe or '--no-dedupe', not --set"
    assert as_keywords(text) == "see runs/a--b and x--y-z; give dedupe or 'no_dedupe', not set"
    from deepgen.cli import main

    assert main(["augment", "--data", "digits", "--train-generator", "vae", "--out", str(tmp_path / "cli")]) == 2


@pytest.mark.slow  # ~20 s: trains and scores a model, and trains the classifier evaluator
def test_compare_returns_its_results_table(tmp_path: Path) -> None:
    result = deepgen.compare(
        ["vae"], data="digits", budget="3", device="cpu", set=["batch_size=16", "width=8"], out=tmp_path / "c", **EVAL
    )
    assert isinstance(result, CompareResults) and result.features == "classifier:digits"
    assert [(r.model, r.seed) for r in result.rows] == [("real data", None), ("vae", 0)]
    assert result.rows[1].steps == 3 and result.rows[1].fid > 0 and result.rows[1]["fid"] == result.rows[1].fid
    assert result.outputs["html"] == tmp_path / "c" / "report.html" and result.outputs["html"].is_file()
    assert str(result).startswith("# deepgen compare: digits")


def test_augment_returns_its_results_table(tmp_path: Path) -> None:
    result = deepgen.augment(
        data="digits",
        limit_per_class=6,
        train_generator="gan",
        generator_steps=2,
        ratios=[0, 1],
        seeds=1,
        max_steps=5,
        no_classic=True,
        eps=[],
        noise=[],
        blur=[],
        device="cpu",
        out=tmp_path / "aug",
    )
    assert isinstance(result, AugmentResults)
    assert [(r.seed, r.ratio) for r in result.rows] == [(0, 0), (0, 1)]
    assert all(0 <= r.accuracy <= 1 for r in result)
    assert result.outputs["results"] == tmp_path / "aug" / "results.csv" and "summary" in str(result).lower()


def test_a_taken_out_becomes_a_numbered_folder_and_nothing_is_overwritten(tmp_path: Path) -> None:
    options = {**TINY, **TINY_MODEL["vae"], "steps": 2}
    first = deepgen.train("vae", out=str(tmp_path / "vae"), **options)
    config = (first.run / "config.yaml").read_bytes()
    second = deepgen.train("vae", out=str(tmp_path / "vae"), **options)
    third = deepgen.train("vae", out=str(tmp_path / "vae"), **options)
    assert (second.run, third.run) == (tmp_path / "vae-2", tmp_path / "vae-3")
    assert (first.run / "config.yaml").read_bytes() == config and (third.run / "config.yaml").is_file()


def test_a_sample_becomes_pngs_and_pil_images_through_public_names(tmp_path: Path) -> None:
    run = deepgen.train("vae", steps=2, out=str(tmp_path / "run"), **TINY, **TINY_MODEL["vae"])
    images = deepgen.load(run, device="cpu").sample(6, generator=torch.Generator().manual_seed(0))
    pixels = deepgen.to_uint8(images)
    assert pixels.dtype == torch.uint8 and pixels.shape == (6, 1, 8, 8)
    assert torch.equal(deepgen.to_uint8(pixels), pixels)  # uint8 passes through
    pil = deepgen.to_pil(images)
    assert len(pil) == 6 and pil[0].mode == "L" and pil[0].size == (8, 8)
    assert torch.equal(torch.from_numpy(np.asarray(pil[0])), pixels[0, 0])
    path = deepgen.save_grid(images, tmp_path / "grid.png", nrow=3)
    with Image.open(path) as png:
        assert png.size == (3 * 10 + 2, 2 * 10 + 2) and png.mode == "RGB"  # 8 px images, 2 px gaps
        assert np.array_equal(np.asarray(png), np.asarray(deepgen.grid(images, nrow=3)))
        assert np.array_equal(np.asarray(png)[2:10, 2:10, 0], pixels[0, 0].numpy())
    with pytest.raises(ConfigError, match="should end in .png"):
        deepgen.save_grid(images, tmp_path / "grid.jpg")
    with pytest.raises(ConfigError, match="expected float in \\[-1, 1\\] or uint8"):
        deepgen.to_uint8(torch.zeros(2, 1, 8, 8, dtype=torch.int64))


def test_result_rows_read_scores_by_plain_metric_name() -> None:
    metrics = [Metric("fid", 3.5, "lower", "classifier:digits"), Metric("mse", 0.1, "lower")]
    row = metric_row({"model": "vae", "step": 5}, metrics)
    assert (row.fid, row["fid"], row.mse, row.model, row.features) == (3.5, 3.5, 0.1, "vae", "classifier:digits")
    assert list(row) == ["model", "step", "fid", "mse"] and dict(row)["step"] == 5
    with pytest.raises(AttributeError, match="this row has no 'kid'; it has model, step, fid, mse"):
        getattr(row, "kid")  # noqa: B009
    result = Results([row], row.features, {}, "the table")
    assert str(result) == "the table" and result[0] is row and len(result) == 1
    pandas = pytest.importorskip("pandas")
    assert result.to_pandas().equals(pandas.DataFrame([{"model": "vae", "step": 5, "fid": 3.5, "mse": 0.1}]))
