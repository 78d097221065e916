"""Flags generated from an option dataclass: types, bounds, positional/required/repeated options, errors."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Literal

import pytest

from deepgen.arguments import Parser, add_options, options
from deepgen.config import opt
from deepgen.errors import ConfigError


@dataclass
class Toy:
    run: Path = opt(MISSING, "a run", positional=True)
    out: Path = opt(MISSING, "where to write")
    steps: int = opt(10, "steps", ge=1)
    rate: float | None = opt(None, "rate", gt=0, lt=1)
    span: Literal["a", "b"] = opt("a", "span")
    ratios: list[float] = opt([0.0, 1.0], "ratios", ge=0)
    eps: list[float] = opt([0.1], "budgets", nargs="*")
    bounds: tuple[float, float] = opt((0.1, 0.9), "range", metavar=("LO", "HI"), ge=0, le=1)
    runs: dict[str, Path] = opt({}, "a run per class", metavar="CLASS=RUN")
    keep: bool = opt(True, "keep")
    set: list[str] = opt([], "overrides", metavar="KEY=VALUE", repeat=True)
    robust_images: int = opt(5, "robust images", flag="--robust-n", ge=1)
    plain: int = 3  # no flag


def parse(argv: list[str]) -> Toy:
    parser = Parser(prog="toy")
    add_options(parser, Toy, "toy")
    return options(Toy, parser.parse_args(argv), "toy")


def test_the_namespace_becomes_the_dataclass_with_defaults_for_what_was_not_given() -> None:
    toy = parse(["r", "--out", "o"])
    assert toy == Toy(run=Path("r"), out=Path("o"))
    assert toy.ratios == [0.0, 1.0] and toy.ratios is not parse(["r", "--out", "o"]).ratios  # a copy each


def test_every_kind_of_option() -> None:
    argv = ["r", "--out", "o", "--steps", "3", "--rate", "0.5", "--span", "b", "--ratios", "1", "2", "--eps"]
    argv += ["--bounds", "0.2", "0.4", "--runs", "0=x", "1=y", "--no-keep", "--set", "a=1", "--set", "b=2"]
    toy = parse([*argv, "--robust-n", "7"])
    assert (toy.steps, toy.rate, toy.span, toy.ratios, toy.eps, toy.bounds) == (3, 0.5, "b", [1.0, 2.0], [], (0.2, 0.4))
    assert toy.runs == {"0": Path("x"), "1": Path("y")} and toy.keep is False and toy.set == ["a=1", "b=2"]
    assert toy.robust_images == 7 and toy.plain == 3 and parse(["r", "--out", "o", "--rate", "none"]).rate is None


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--steps", "0"], "argument --steps: expected >= 1, got 0 (see toy --help)"),
        (["--rate", "1"], "argument --rate: expected > 0 and < 1, got 1.0"),
        (["--ratios", "1", "-1"], "argument --ratios: expected >= 0, got -1.0"),
        (["--bounds", "0.5"], "argument --bounds: expected 2 arguments"),
        (["--runs", "x"], "argument --runs: expects key=value, got 'x'"),
        (["--span", "c"], "argument --span: invalid choice: 'c'"),
        (
            ["--robust-images", "3"],
            "unrecognized arguments: --robust-images 3 (see toy --help); did you mean '--robust-n'?",
        ),
        (["--stepz", "3"], "did you mean '--steps'?"),
    ],
)
def test_bad_values_are_one_line_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(["r", "--out", "o", *argv])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_required_options_and_arguments() -> None:
    with pytest.raises(ConfigError, match="required: --out"):
        parse(["r"])
    with pytest.raises(ConfigError, match="required: RUN"):
        parse(["--out", "o"])
