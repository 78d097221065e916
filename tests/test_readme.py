"""The README's code blocks run, in the order a reader meets them, so that the README cannot drift from the code.

Every fenced block names its kind after the backticks: `sh` (deepgen commands) and `python` run; `text` (printed
output, a folder's layout) does not. A word after the kind marks a block that the default run leaves out: `slow`
(runs under `pytest -m slow`, e.g. a compare of every model) and `no-test` (cannot run here at all: other machines,
downloads, GPUs). A new block without a kind fails the test, so every block is either run or marked.

The commands run as written, in one working folder, with the sizes made tiny: `--steps N` becomes N/1000 (at least
2), `--budget` 2 steps, `--n` 16 images, `--per-class` 2 (but `datasets --export`'s), `--seeds` 1, `--sample-steps`
2; new training runs also get `--batch-size 16 --device cpu --no-tensorboard` (and `--steps 2` if they give none),
evaluations `--evaluator-steps 20 --cas-steps 5 --n 64` on the CPU, `latent` `--max-points 300`. The folder starts
empty, as a fresh checkout's would: every path a command reads (`--data folder:DIR`, a run or folder given as a
positional argument or to `--resume`, `--config`, `--from-images`, `--compare-with`, `--generator`, ...) must have
been made by an earlier block (`deepgen datasets --export` writes the README's image folder), or the test fails
naming the block and the path; presets (`configs/NAME.yaml`) are found from any folder, and trained with the tiny
sizes too.
"""

from __future__ import annotations

import os
import re
import shlex
import warnings
from pathlib import Path

import pytest

from deepgen.cli import main

README = Path(__file__).parents[1] / "README.md"
FENCE = re.compile(r"^```(.*)$")
RUN = {"sh", "python"}
KINDS = RUN | {"text"}
MARKS = {"slow", "no-test"}


def blocks() -> list[tuple[int, str, set[str], str]]:
    """(line, kind, marks, code) of every fenced block of the README."""
    found, lines, i = [], README.read_text().splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match:
            start, words = i + 1, match[1].split()
            end = next(j for j in range(start, len(lines)) if lines[j] == "```")
            found.append((start, words[0] if words else "", set(words[1:]), "\n".join(lines[start:end])))
            i = end
        i += 1
    return found


def test_every_block_says_what_it_is() -> None:
    bad = [f"README.md:{line}: ```{kind} {' '.join(marks)}" for line, kind, marks, _ in blocks()
           if kind not in KINDS or not marks <= MARKS]  # fmt: skip
    assert not bad, f"give each block a kind ({', '.join(sorted(KINDS))}) and only the marks {MARKS}:\n" + "\n".join(
        bad
    )
    assert sum(kind in RUN and not marks for _, kind, marks, _ in blocks()) >= 5


def commands(code: str) -> list[list[str]]:
    """The command lines of a shell block, comments dropped and continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.split("#")[0].strip()]


def tiny(argv: list[str]) -> list[str]:
    """`deepgen ...` with the sizes made tiny (see the module's docstring)."""
    assert argv[0] == "deepgen", f"a sh block runs deepgen commands; mark {' '.join(argv)} no-test"
    argv, out = list(argv[1:]), []
    values = {"--budget": lambda v: "2", "--n": lambda v: "16", "--per-class": lambda v: "2", "--seeds": lambda v: "1"}
    values["--steps"] = lambda v: str(max(2, int(v) // 1000))
    values["--sample-steps"] = lambda v: "2"
    if argv[0] == "datasets":
        del values["--per-class"]  # the README's image folder, as large as it says
    i = 0
    while i < len(argv):
        out.append(argv[i])
        if argv[i] in values and i + 1 < len(argv):
            out.append(values[argv[i]](argv[i + 1]))
            i += 1
        i += 1
    command = out[0]
    preset = "--config" in out and out[out.index("--config") + 1].startswith("configs/")
    if command == "train" and "--resume" not in out and ("--config" not in out or preset):
        out += ["--batch-size", "16", "--device", "cpu", "--no-tensorboard"]
        out += [] if "--steps" in out else ["--steps", "2"]
    if command == "compare":
        out += ["--device", "cpu"]
    if command in ("eval", "compare"):
        out += ["--evaluator-steps", "20", "--cas-steps", "5", "--eval-device", "cpu"]
        out += [] if "--n" in out else ["--n", "64"]
    if command == "latent":
        out += ["--max-points", "300"]  # t-SNE of 300 points, not 5,000
    if command == "augment":
        out += ["--max-steps", "5", "--device", "cpu", "--eps", "--noise", "--blur"]
    return out


READS = {"--resume", "--config", "--from-images", "--compare-with", "--generator", "--generator-config"}
RUN_ARGUMENTS = {"sample", "eval", "latent"}  # commands whose positional arguments are runs to read


def reads(argv: list[str]) -> list[str]:
    """The paths a `deepgen ...` command line reads (see the module's docstring)."""
    found, command, args = [], argv[1], argv[2:]
    for i, arg in enumerate(args):
        before = args[i - 1] if i else ""
        if before == "--data" and arg.startswith("folder:"):
            found.append(arg.partition(":")[2])
        elif before in READS or before == "--generators":
            found.append(arg.partition("=")[2] if before == "--generators" else arg)
        elif command in RUN_ARGUMENTS and not arg.startswith("-") and not before.startswith("-"):
            found.append(arg)
    return found


def made_before(line: int, argv: list[str]) -> None:
    """Fail when `argv` reads a path that no earlier block made (presets under configs/ excepted)."""
    missing = [p for p in reads(argv) if not Path(p).exists() and not p.startswith("configs/")]
    assert not missing, f"README.md:{line}: {' '.join(argv)} reads {', '.join(missing)}, which no earlier block made"


def run_readme(folder: Path, capsys: pytest.CaptureFixture[str], slow: bool) -> list[str]:
    """Run the README's blocks in order in `folder`, which starts empty; the commands run."""
    ran, namespace = [], {}
    for line, kind, marks, code in blocks():
        if kind not in RUN or "no-test" in marks or ("slow" in marks and not slow):
            continue
        if kind == "python":
            exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102
            ran.append(f"README.md:{line}: python")
            continue
        for argv in commands(code):
            made_before(line, argv)
            args = tiny(argv)
            code_ = main(args)
            out = capsys.readouterr()
            assert code_ == 0, f"README.md:{line}: {' '.join(argv)}\n(ran as deepgen {' '.join(args)})\n{out.err}"
            ran.append(f"README.md:{line}: {' '.join(argv)}")
    return ran


def test_a_block_that_reads_what_no_earlier_block_made_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/made").mkdir(parents=True)
    made_before(1, ["deepgen", "sample", "runs/made", "--n", "4", "--out", "new/"])  # --out is written, not read
    made_before(1, ["deepgen", "train", "--config", "configs/dcgan-mnist.yaml"])
    cases = [
        (["deepgen", "sample", "runs/cdcgan", "--per-class", "100"], "runs/cdcgan"),
        (["deepgen", "sample", "runs/made", "--from-images", "real/"], "real/"),
        (["deepgen", "train", "ae", "--data", "folder:path/to/scans"], "path/to/scans"),
        (["deepgen", "latent", "runs/made", "--compare-with", "runs/ae2d"], "runs/ae2d"),
        (["deepgen", "augment", "--data", "digits", "--generators", "0=runs/g0"], "runs/g0"),
    ]
    for argv, path in cases:
        with pytest.raises(AssertionError, match=f"reads {path}, which no earlier block made"):
            made_before(7, argv)


@pytest.fixture
def reader_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # main() sets its own
    return tmp_path


def test_the_readme_runs_in_order(reader_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run_readme(reader_folder, capsys, slow=False)
    assert any("deepgen train vae" in r for r in ran) and any(r.endswith("python") for r in ran)
    assert (reader_folder / "runs/vae2d/config.yaml").is_file() and os.listdir(reader_folder / "samples")


@pytest.mark.slow
def test_the_whole_readme_runs_in_order(reader_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run_readme(reader_folder, capsys, slow=True)
    assert any("deepgen compare" in r for r in ran)
