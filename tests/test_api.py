"""The Python API: the commands as functions returning objects, with the command line's option names and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import deepgen
from conftest import TINY_MODEL
from deepgen.errors import ConfigError

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


@pytest.mark.slow  # ~20 s: trains and scores a model, and trains the classifier evaluator
def test_compare_returns_its_results_table(tmp_path: Path) -> None:
    rows = deepgen.compare(
        ["vae"], data="digits", budget="3", device="cpu", set=["batch_size=16", "width=8"], out=tmp_path / "c", **EVAL
    )
    assert [(r["model"], r["seed"]) for r in rows] == [("real data", None), ("vae", 0)]
    assert rows[1]["steps"] == 3 and rows[1]["fid[classifier:digits]"] > 0
    assert (tmp_path / "c" / "report.html").is_file()


def test_augment_returns_its_results_table(tmp_path: Path) -> None:
    rows = deepgen.augment(
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
    assert [(r["seed"], r["ratio"]) for r in rows] == [(0, 0), (0, 1)]
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
