"""deepgen compare and deepgen eval: equal budgets, results.csv / results.md / report.html, metrics.json merged."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ctrl_c_at_call, tiny_config
from deepgen.cli import main
from deepgen.comparison import Budget, apply_budget, compare, parse_budget
from deepgen.errors import ConfigError, Interrupted
from deepgen.eval.settings import Recipe, Settings
from deepgen.models.vae import VAE

RECIPE = Recipe(steps=150, batch_size=64)  # as in test_metrics: trained once per session
EVAL_FLAGS = ["--evaluator-steps", "40", "--cas-steps", "20", "--n", "100", "--eval-device", "cpu"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGEN_CACHE", str(tmp_path_factory.getbasetemp() / "deepgen-cache"))
        yield


def test_parse_budget() -> None:
    assert parse_budget("2000") == Budget(steps=2000)
    assert parse_budget("10m") == Budget(seconds=600) and parse_budget("1.5h") == Budget(seconds=5400)
    assert parse_budget(" 90s ") == Budget(seconds=90)
    for bad in ("ten", "0", "2.5", "10 min", "-5m"):
        with pytest.raises(ConfigError, match="--budget"):
            parse_budget(bad)
    cfg = tiny_config("vae", Path("unused"))
    apply_budget(cfg, Budget(seconds=30))
    assert cfg.train.time_limit == 30 and cfg.train.steps >= 10**6


def test_compare_trains_evaluates_and_reports(tmp_path: Path) -> None:
    budget = Budget(steps=6)
    configs = []
    for model, extra in (("ae", {}), ("vae", {}), ("dcgan", {"conditional": True})):
        for seed in (0, 1):
            cfg = tiny_config(model, tmp_path / "out" / "runs" / f"{model}-{seed}", seed=seed, **extra)
            apply_budget(cfg, budget)
            configs.append(cfg)
    settings = Settings(device="cpu", recipe=RECIPE, cas_steps=30, n=100)
    result = compare(configs, tmp_path / "out", settings, budget, log=lambda _: None)

    with open(result.outputs["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["real data", "ae", "ae", "vae", "vae", "dcgan", "dcgan"]
    assert all(r["steps"] == "6" for r in rows[1:]) and {r["seed"] for r in rows[1:]} == {"0", "1"}
    fid = "fid[classifier:digits]"
    assert rows[1][fid] == "" and float(rows[1]["recon_mse"]) > 0  # an autoencoder cannot sample
    assert float(rows[0][fid]) < float(rows[3][fid]) and float(rows[5]["cas"]) < float(rows[0]["cas"])
    assert rows[3]["iw_nll_k64"] and rows[5]["recon_mse"] == "" and int(rows[5]["parameters"]) > 0

    table = result.outputs["markdown"].read_text()
    assert "|  | real data | ae | vae | dcgan |" in table and "| seeds |  | 0, 1 | 0, 1 | 0, 1 |" in table
    assert "| steps |  | 6 | 6 | 6 |" in table and " ± " in table  # mean ± std over two seeds
    mode_kl = r"\| mode_kl\[classifier:digits\] ↓ \(evaluator test accuracy 0\.9\d\d\) \| [0-9.]+ \| – \| "
    assert re.search(mode_kl + r".* \(collapsed, seed", table)  # each score beside its evaluator's accuracy
    assert "- fid[classifier:digits] (lower is better) on classifier:digits: " in table  # how it was computed
    # where the wall time went: evaluation per run in the csv, and the whole adds up in results.md
    assert all(float(r["eval_s"]) > 0 for r in rows[1:]) and "| eval wall s |  |" in table
    parts = r"Wall time (\d+) s: training (\d+) s, evaluation (\d+) s, evaluator and real-data floor (\d+) s"
    spent = re.search(parts, table)
    assert spent and abs(int(spent[1]) - sum(int(x) for x in spent.groups()[1:])) <= 2
    assert int(spent[3]) == pytest.approx(sum(float(r["eval_s"]) for r in rows[1:]), abs=2)
    page = result.outputs["html"].read_text()
    assert page.count("data:image/png;base64,") >= 6 * 2 and "<table id='results'>" in page

    saved = json.loads((Path(configs[2].train.out) / "metrics.json").read_text())  # vae, seed 0
    assert "recon_mse" in saved and saved["eval"]["metrics"]["neg_elbo"]["value"] > 0  # training's keys kept
    assert saved["eval"]["metrics"][fid]["n_generated"] == 100 and saved["eval"]["metrics"][fid]["seed"] == 0


def test_eval_command_prints_a_table_and_merges_metrics_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "vae"
    assert main(["train", "vae", "--data", "digits", "--steps", "4", "--width", "8", "--device", "cpu",
                 "--no-tensorboard", "--out", str(run)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["eval", str(run), *EVAL_FLAGS]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run / 'metrics.json'}" in out and "classifier:digits" in out and "iw_nll_k64" in out
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["step"] == 4 and saved["eval"]["metrics"]["fid[classifier:digits]"]["n_real"] == 360
    assert "classifier:digits (evaluator test accuracy " in out  # in the features column of every such score
    assert saved["eval"]["metrics"]["kid[classifier:digits]"]["extra"]["evaluator_test_accuracy"] > 0

    assert main(["eval", "--data", "digits", *EVAL_FLAGS, "--out", str(tmp_path / "floor.json")]) == 0
    assert "100 training images against the 360 test images" in capsys.readouterr().out
    assert json.loads((tmp_path / "floor.json").read_text())["eval"]["metrics"]["precision[classifier:digits]"]

    assert main(["eval", str(run), "--features", "pixels"]) == 2
    assert "--features must be" in capsys.readouterr().err
    assert main(["eval", str(run), "--features", "inception", "--inception-weights", str(tmp_path / "x.pth")]) == 1
    assert "x.pth does not exist" in capsys.readouterr().err


def test_ctrl_c_stops_the_whole_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose training is interrupted is not evaluated as if finished, and no later model starts."""
    ctrl_c_at_call(monkeypatch, VAE, 2)
    budget = Budget(steps=20)
    configs = [tiny_config(m, tmp_path / "out" / "runs" / m) for m in ("vae", "ae")]
    for cfg in configs:
        apply_budget(cfg, budget)
    settings = Settings(device="cpu", recipe=RECIPE, cas_steps=30, n=100)
    with pytest.raises(Interrupted, match="interrupted while training vae .* at step 2 "):
        compare(configs, tmp_path / "out", settings, budget, log=lambda _: None)
    assert not (tmp_path / "out" / "results.csv").exists() and not (tmp_path / "out" / "runs" / "ae").exists()


def test_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cmp"
    common = ["--data", "digits", "--device", "cpu", "--set", "batch_size=16", "--set", "tensorboard=false"]
    beta = ["--set", "beta=1"]  # the VAE's default; the GAN has no beta
    assert main(["compare", "vae", "gan", *common, *beta, "--budget", "3", "--out", str(out), *EVAL_FLAGS]) == 0
    text = capsys.readouterr().out
    assert "--set beta=1: no such option in gan (trained without it)" in text
    assert "|  | real data | vae | gan |" in text and "| steps |  | 3 | 3 |" in text
    assert f"html:     {out / 'report.html'}" in text
    assert (out / "runs" / "gan-seed0" / "metrics.json").is_file()
    assert main(["compare", "vae", *common, "--budget", "3", "--out", str(out)]) == 2
    assert "holds a comparison with other settings" in capsys.readouterr().err
    assert main(["compare", "vae", "--data", "digits", "--budget", "soon", "--out", str(tmp_path / "x")]) == 2
    assert main(["compare", "gan", *common, "--set", "beta=2", "--budget", "3", "--out", str(tmp_path / "y")]) == 2
    assert "--set beta=2" in capsys.readouterr().err


def test_fid_and_kid_from_a_small_folder_come_with_their_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """3 classes of 30 images: 18 test images. FID and KID are printed with a bootstrap 95% CI, and a line says how
    many images would make them meaningful; with 200 of each, no interval."""
    import sys
    import warnings

    import torch
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from defect_folder import field

    from deepgen.eval.evaluate import MIN_SAMPLES, few_images

    root = tmp_path / "small"
    for c, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(field(100 * c + i, (16, 16))).save(root / name / f"{i}.png")
    floor = ["eval", "--data", f"folder:{root}", "--evaluator-steps", "5", "--n", "16", "--eval-device", "cpu"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*floor, "--out", str(tmp_path / "floor.json")]) == 0
    printed = capsys.readouterr().out
    assert "against the 18 test images" in printed
    fid_line = next(line for line in printed.splitlines() if line.startswith("fid "))
    low, high = map(float, re.search(r"\(95% CI (\S+) to (\S+): few images\)", fid_line).groups())
    assert low <= high and "kid " in printed and printed.count(": few images)") == 2
    assert f"fid: few images: real 18, generated 16, under the {MIN_SAMPLES} each that make it meaningful" in printed
    assert "a folder needs about 1,000 images for 200 test images at --test-fraction 0.2" in printed
    saved = json.loads((tmp_path / "floor.json").read_text())["eval"]["metrics"]
    fid = next(v for k, v in saved.items() if k.startswith("fid["))
    assert len(fid["extra"]["interval"]) == 2
    enough = torch.randn(MIN_SAMPLES, 8, generator=torch.Generator().manual_seed(0))
    assert few_images(enough, enough + 0.1, 0) == {} and set(few_images(enough[:50], enough[:60], 0)) == {"fid", "kid"}
