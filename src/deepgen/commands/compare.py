"""deepgen compare: train several models under one budget and seeds, evaluate them alike, write a report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deepgen.arguments import Parser, number
from deepgen.commands.eval import add_eval_flags, settings
from deepgen.commands.evaluator import add_data_flags, data_config
from deepgen.errors import ConfigError

USAGE = [
    ("compare MODEL... --data NAME --budget STEPS|TIME", "train each under one budget, evaluate, report.html"),
]


def run(argv: list[str]) -> int:
    from deepgen.compare import apply_budget, compare, parse_budget
    from deepgen.config import RunConfig
    from deepgen.run import data_slug, new_run_name

    parser = Parser(
        prog="deepgen compare",
        description="Train each MODEL on the same data under the same budget and seeds, evaluate all against the "
        "held-out test split, and write results.csv, results.md and a self-contained report.html.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="models to compare (deepgen models lists them)")
    add_data_flags(parser, required=True)
    parser.add_argument(
        "--budget", required=True, help="per model and seed: training steps (2000) or training time (90s, 10m, 1.5h)"
    )
    parser.add_argument("--seeds", type=number(int, ge=0), nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/compare-DATA-BUDGET, numbered)")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu, cuda, mps (default: auto)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an option of every model that has it, e.g. --set batch_size=64",
    )
    add_eval_flags(parser)
    args = parser.parse_args(argv)
    budget = parse_budget(args.budget)
    data = data_config(args)
    out = args.out or new_run_name("compare", data_slug(data.data), args.budget.strip())
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is not empty; choose another folder")
    if len(set(args.models)) != len(args.models):
        raise ConfigError(f"each MODEL once, please; got {' '.join(args.models)}")

    configs, used = [], set()
    for model in args.models:
        for seed in args.seeds:
            cfg = RunConfig.default(model)
            cfg.data = dataclasses.replace(data)
            apply_budget(cfg, budget)
            cfg.train.seed, cfg.train.device, cfg.train.out = (
                seed,
                args.device,
                str(out / "runs" / f"{model}-seed{seed}"),
            )
            for pair in args.set:
                key, sep, value = pair.partition("=")
                if not sep:
                    raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
                if key.strip().rpartition(".")[2] in cfg.fields():
                    cfg.set(key.strip(), value.strip())
                    used.add(pair)
            configs.append(cfg)
    unused = [p for p in args.set if p not in used]
    if unused:
        raise ConfigError(f"no model among {', '.join(args.models)} has the option of --set {', '.join(unused)}")

    result = compare(configs, out, settings(args), budget)
    print(result.outputs["markdown"].read_text())
    print(f"compared {len(configs)} run(s) in {out}")
    for name, path in result.outputs.items():
        print(f"  {name + ':':<10}{path}")
    print(f"  {'runs:':<10}{out / 'runs'}")
    return 0
