"""Every command's --help lists every option of the dataclasses its flags come from, with its default."""

from __future__ import annotations

import dataclasses

import pytest

from deepgen.arguments import EVALUATED_DATA
from deepgen.augmentation.config import AugmentConfig
from deepgen.cli import main
from deepgen.commands import augment, compare, eval, evaluator, latent, sample, train
from deepgen.config import DataConfig, TrainConfig
from deepgen.eval.settings import Settings
from deepgen.latent.options import Options
from deepgen.registry import models

ALL = None
EVALUATION = [(Settings, ALL), (eval.EvaluatorOptions, ALL)]
REQUIRED = {"augment": {"data"}, "compare": {"data"}, "evaluator": {"data"}}  # have a default, yet must be given
NAMED_MODEL = ("config", "resume", "set")  # with the model named, its usage does not offer [MODEL] again
HELPS = [
    (["augment"], [(augment.FitOptions, ALL), (AugmentConfig, ALL), (DataConfig, augment.DATA)]),
    (["compare"], [(compare.CompareArgs, ALL), (DataConfig, EVALUATED_DATA), *EVALUATION]),
    (["eval"], [(eval.EvalArgs, ALL), (DataConfig, EVALUATED_DATA), *EVALUATION]),
    (["evaluator", "train"], [(evaluator.TrainArgs, ALL), (DataConfig, EVALUATED_DATA)]),
    (["latent"], [(latent.LatentArgs, ALL), (Options, ALL)]),
    (["sample"], [(sample.SampleArgs, ALL)]),
    *[
        (["train", name], [(train.TrainArgs, NAMED_MODEL), (DataConfig, ALL), (TrainConfig, ALL), (cls.Config, ALL)])
        for name, cls in models().items()
    ],
]


def entries(text: str) -> dict[str, str]:
    """Each help entry (its invocation and help text, white space folded), by its first option string or name."""
    found: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            key = line.split()[0].rstrip(",")
            found[key] = ""
        elif not line.startswith(" "):
            key = ""
        if key:
            found[key] = " ".join(f"{found[key]} {line}".split())
    return found


def shown(value: object) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


@pytest.mark.parametrize("argv,sources", HELPS, ids=lambda v: " ".join(v) if isinstance(v[0], str) else None)
def test_help_lists_every_option_with_its_default(
    argv: list[str], sources: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per entry
    with pytest.raises(SystemExit) as exit:
        main([*argv, "--help"])
    assert exit.value.code == 0
    help = entries(capsys.readouterr().out)
    checked = 0
    for cls, names in sources:
        for f in dataclasses.fields(cls):
            if "help" not in f.metadata or (names is not None and f.name not in names):
                continue
            meta = f.metadata
            flag = meta["flag"] or "--" + f.name.replace("_", "-")
            key = (meta["metavar"] or f.name.upper()) if meta["positional"] else flag
            assert key in help, f"{' '.join(argv)} --help does not list {key}"
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if default not in (None, dataclasses.MISSING, [], {}) and f.name not in REQUIRED.get(argv[0], ()):
                assert f"(default: {shown(default)})" in help[key], (argv, help[key])
            checked += 1
    assert checked >= 3


def test_train_model_usage_names_the_model_once_and_sample_help_lists_sampling_options(
    capsys: pytest.CaptureFixture,
) -> None:
    for argv in (["train", "dcgan", "--help"], ["sample", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    text = capsys.readouterr().out
    assert text.startswith("usage: deepgen train dcgan [-h]") and "[MODEL]" not in text
    assert "sampling options of diffusion runs" in text and "--guidance X" in text and "--sample-steps N" in text
