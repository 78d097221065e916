"""Issue 37 part 2: no size can exhaust the machine. Every size option at an absurd value is refused in one line
(exit code 2) before anything is allocated, quickly and in bounded memory; a batch beyond the data is capped, and the
cap is what trains and what config.yaml records."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import deepgen
from deepgen.cli import main
from deepgen.errors import ConfigError
from deepgen.limits import MAX_STEPS, human, need_memory

SRC = Path(deepgen.__file__).parents[1]
TINY = ["--data", "digits", "--device", "cpu", "--no-tensorboard", "--log-every", "1", "--sample-every", "100"]
GiB = 2**30


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny vae and a tiny stylegan run (2 steps each) to sample from."""
    root = tmp_path_factory.mktemp("limits")
    small = {
        "vae": ["--width", "8", "--latent-dim", "2", "--hidden", "16"],
        "stylegan": ["--channel-base", "32", "--channel-max", "8", "--noise-dim", "8", "--mapping-layers", "1"],
    }
    for name, flags in small.items():
        out = str(root / name)
        assert main(["train", name, *TINY, "--steps", "2", "--batch-size", "16", *flags, "--out", out]) == 0
    return {name: root / name for name in small}


def absurd(runs: dict[str, Path], out: Path) -> list[list[str]]:
    train = ["train", "vae", *TINY, "--steps", "2"]
    vae, stylegan = str(runs["vae"]), str(runs["stylegan"])
    augment = ["augment", "--data", "digits", "--train-generator", "dcgan", "--device", "cpu"]
    return [
        [*train, "--epochs", "1e30", "--out", str(out / "t1")],
        [*train, "--latent-dim", "100000000", "--out", str(out / "t2")],
        [*train, "--width", "1000000", "--out", str(out / "t3")],
        [*train, "--image-size", "1024", "--batch-size", "1000", "--out", str(out / "t4")],
        ["train", "gan", *TINY, "--steps", "2", "--g-hidden", "100000000", "--out", str(out / "t5")],
        ["sample", vae, "--n", "10000000000", "--out", str(out / "s1.npz")],
        ["sample", vae, "--n", "10000000000", "--out", str(out / "s2")],
        ["sample", vae, "--interpolate", "1000000000", "--out", str(out / "s3.png")],
        ["sample", stylegan, "--style-mix", "100000", "--out", str(out / "s4.png")],
        ["inspect", "--data", "digits", "--similarity", "1e-300", "--out", str(out / "i1")],
        ["latent", vae, "--grid", "1000000", "--out", str(out / "l1")],
        ["latent", vae, "--pairs", "1000000000", "--out", str(out / "l2")],
        ["latent", vae, "--components", "1000000000", "--out", str(out / "l3")],
        [*augment, "--ratios", "0", "--synthetic-fraction", "0.5", "--pool", "10000000000", "--out", str(out / "a1")],
        [*augment, "--ratios", "0", "1e9", "--out", str(out / "a2")],
        [*augment, "--ratios", "0", "1", "--max-steps", "1000000000000", "--out", str(out / "a3")],
        [*augment, "--ratios", "0", "1", "--seeds", "100000000", "--out", str(out / "a4")],
    ]


CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys, time
    def peak_kb():  # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's RSS across exec)
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
    from deepgen.cli import main
    import deepgen.commands.sample, deepgen.data.quality.findings, deepgen.latent.analyse, deepgen.training.trainer
    import deepgen.augmentation.experiment
    from deepgen.config import DataConfig
    from deepgen.data import load_data
    load_data(DataConfig(data="digits"))  # the imports above and scikit-learn's first read: not timed
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        began = time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        rss = peak_kb()
        took = time.perf_counter() - began
        print(json.dumps({"argv": argv, "code": code, "s": took, "err": err.getvalue(), "rss": rss}))
    print(json.dumps({"maxrss_kb": peak_kb()}))
    """
)


def test_absurd_sizes_are_refused_fast_in_bounded_memory(runs: dict[str, Path], tmp_path: Path) -> None:
    """Each case runs in one child process (imports and the first read of digits paid once, before the clock
    starts; augment's cases in a second one): each is refused in under 5 s with one line and exit code 2, nothing is
    written, and each process's peak resident memory stays under 1 GiB."""
    cases = absurd(runs, tmp_path)
    for group in ([c for c in cases if c[0] != "augment"], [c for c in cases if c[0] == "augment"]):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(group)],
            capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        *results, usage = rows
        assert len(results) == len(group)
        for r in results:
            errors = [line for line in r["err"].splitlines() if line.startswith("deepgen: error: ")]
            assert r["code"] == 2 and len(errors) == 1 and "Traceback" not in r["err"], r
            assert r["s"] < 5, r
        assert usage["maxrss_kb"] * 1024 < GiB, [(r["argv"][:4], r["rss"] // 1024) for r in results]  # MB by case
    assert not any(tmp_path.iterdir())  # nothing written


def test_memory_refusal_names_the_estimate_and_the_machine() -> None:
    with pytest.raises(ConfigError) as e:
        need_memory(10**18, "--n 5", "ask for fewer")
    message = str(e.value)
    assert message.startswith("--n 5 needs about 1e+03 PB of memory") and "free of this machine's" in message
    assert message.endswith("; ask for fewer") and "\n" not in message
    assert human(1_900_000_000) == "1.9 GB" and human(512) == "512 B"


def test_epochs_beyond_the_step_limit_name_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "vae", *TINY, "--epochs", "1e30", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--epochs 1e+30 is" in err and f"more than {MAX_STEPS:.0e}" in err


def test_batch_beyond_the_data_is_capped_for_real_and_recorded(tmp_path: Path) -> None:
    """digits has 1,437 training images: batch_size=5000 trains on 1,437 a step and config.yaml says so."""
    flags = {"data": "digits", "device": "cpu", "tensorboard": False, "steps": 2, "width": 8, "sample_every": 100}
    with pytest.warns(UserWarning, match="batch_size=5000 exceeds the 1437 training images; using 1437"):
        result = deepgen.train("vae", batch_size=5000, out=tmp_path / "r", **flags)
    assert result.images_seen == 2 * 1437
    assert yaml.safe_load((result.run / "config.yaml").read_text())["train"]["batch_size"] == 1437
