"""bench/gpu_check.py --smoke: the GPU verification kit's code paths on the CPU, and what its reports say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_MODEL
from deepgen.registry import models

KIT = Path(__file__).parents[1] / "bench" / "gpu_check.py"
sys.path.insert(0, str(KIT.parent))
from gpu_report import checks  # noqa: E402

# A stand-in for pytorch/examples' dcgan/main.py: takes its options and records what it was given.
PEER = """
import argparse, json, pathlib
p = argparse.ArgumentParser()
for flag in ("--dataset", "--dataroot", "--imageSize", "--batchSize", "--niter", "--workers", "--outf"):
    p.add_argument(flag)
p.add_argument("--cuda", action="store_true")
a = p.parse_args()
root = pathlib.Path(a.dataroot)
seen = {"classes": sorted(d.name for d in root.iterdir()), "pngs": len(list(root.glob("*/*.png"))), **vars(a)}
pathlib.Path(a.outf, "seen.json").write_text(json.dumps(seen))
"""


def test_smoke_run_checks_every_model_and_lever_and_writes_both_reports(tmp_path: Path) -> None:
    (tmp_path / "tiny.json").write_text(json.dumps(TINY_MODEL))
    (tmp_path / "main.py").write_text(PEER)
    out = tmp_path / "out"
    command = [sys.executable, str(KIT), "--smoke", "--out", str(out), "--model-options", str(tmp_path / "tiny.json")]
    command += ["--peer", str(tmp_path / "main.py")]
    env = {**os.environ, "DEEPGEN_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert (out / "gpu_check.json").is_file(), done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert done.returncode == 0, ([c for c in report["checks"] if not c["ok"]], report["errors"], done.stderr[-2000:])
    md = (out / "gpu_check.md").read_text()

    assert report["smoke"] and report["device"] == "cpu" and "--smoke" in md
    assert [c["ok"] for c in report["checks"]] == [True] * 9 and not report["errors"], report["checks"]
    runs = report["correctness"]["runs"]
    for name in models():  # every registered model, under every lever
        mine = {r["lever"]: r for r in runs if r["model"] == name}
        assert len(mine) == 5
        assert [r["status"] for r in mine.values()].count("ok") == 4
        assert mine["bf16 + channels-last + compile"]["status"].startswith("skipped")
        graphs = mine["bf16 + channels-last + compile + CUDA graphs"]
        assert graphs["graph"] == "fallback: CUDA graphs need a CUDA device, not cpu"
        assert graphs["graph_vs_eager"] == 0  # the fallback trains exactly as eager
    assert all(r["last"]["D/gp"] > 0 for r in runs if r["model"] == "wgan-gp" and r["status"] == "ok")
    assert all("8px-fade" in r["stages"] for r in runs if r["model"] == "progan" and r["status"] == "ok")
    gradients = {g["model"]: g["errors"] for g in report["correctness"]["gradients"]}
    assert gradients.keys() == models().keys()
    assert all(0 < e <= 0.1 for errors in gradients.values() for e in errors.values())  # bf16 differs, a little
    assert report["correctness"]["resume"]["resume_max_abs"] == 0  # bit-exact on the CPU
    assert report["correctness"]["sample_eval"]["pngs"] == 16

    (row,) = report["throughput"]["rows"]
    assert row["model"] == "dcgan:8" and row["baseline"] > 0 and row["default"] > 0
    assert "| dcgan:8 | 8 |" in md and "default / baseline" in md

    e2e = report["end_to_end"]
    assert e2e["deepgen"]["steps"] == 2 and e2e["deepgen"]["wall_s"] > 0
    assert e2e["peer"]["exit_code"] == 0
    seen = json.loads((out / "work" / "peer" / "seen.json").read_text())
    assert seen["classes"] == [str(d) for d in range(10)] and seen["pngs"] * int(seen["niter"]) == e2e["peer"]["images"]
    assert seen["imageSize"] == "8" and seen["batchSize"] == "8" and not seen["cuda"]

    assert report["two_processes"]["backend"] == "gloo" and report["two_processes"]["relative_difference"] < 1e-3
    for check in report["checks"]:
        assert f"| {check['check']} | yes |" in md
    assert "not evaluated on a CPU (--smoke)" in md


def test_a_non_finite_loss_or_a_missing_penalty_fails_its_check() -> None:
    run = {"model": "wgan-gp", "lever": "bf16", "status": "ok", "last": {"D/critic": 0.1, "D/gp": 2.0}}
    run |= {"expects_penalty": True, "stages": []}
    sample_eval = {"exit_codes": {"train": 0}, "pngs": 16, "metrics": {"fid": 1.0}, "ok": True}
    resume = {"steps": 4, "rerun_max_abs": 0.0, "resume_max_abs": 0.0, "ok": True}
    report = {
        "errors": {},
        "sizes": {"steps": 4},
        "correctness": {"runs": [run], "gradients": [], "sample_eval": sample_eval},
    }
    report["correctness"]["resume"] = resume
    verdict = lambda: {c["check"].split(" (")[0]: c["ok"] for c in checks(report)}  # noqa: E731
    assert verdict()["every registered model trains with finite losses under each lever"]
    run["status"] = "non-finite D/gp at step 3"
    run["last"] = {"D/critic": 0.1}
    assert not verdict()["every registered model trains with finite losses under each lever"]
    assert not verdict()["the gradient penalty"]
