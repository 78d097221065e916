"""deepgen sample: generate images from a trained run."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.arguments import Parser, add_options, given, options
from deepgen.config import MAX_SEED, opt, takes_effect
from deepgen.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from deepgen.models.base import GenerativeModel

USAGE = [
    ("sample RUN --n K --out DIR|FILE.png|FILE.npz", "generate images (--per-class K for conditional models)"),
    ("sample RUN --interpolate K --out DIR|FILE.png|FILE.npz", "K interpolation strips between images or noise"),
    ("sample RUN --from-images DIR --strength S --out ...", "variations of real images (SDEdit, or via the code)"),
    ("sample RUN --style-mix K --out FILE.png", "a style-mixing grid: coarse styles of K seeds with fine ones of K"),
]
STRIP_STEPS = 10


@dataclass
class SampleArgs:
    run: Path = opt(MISSING, "run directory (or a checkpoint directory inside it)", positional=True)
    out: Path = opt(
        MISSING,
        "a folder (one PNG per image; a sub-folder per class when conditional), FILE.png or FILE.jpg (a grid) or "
        "FILE.npz",
    )
    n: int = opt(64, "number of images", unless=("per_class", "interpolate", "style_mix", "from_images"), ge=1)
    per_class: int | None = opt(
        None, "K images of each class (conditional models)", metavar="K", unless=("style_mix", "from_images"), ge=1
    )
    interpolate: int | None = opt(
        None,
        f"write K strips of {STRIP_STEPS} images instead: linear interpolation between the codes of random test "
        "images (models with an encoder) or spherical between noise vectors (the others)",
        metavar="K",
        ge=1,
    )
    from_images: Path | None = opt(
        None,
        "write variations of the images in DIR instead (a sub-folder per class keeps each image's class): "
        "diffusion models noise them to --strength and denoise (SDEdit); models with an encoder encode, perturb "
        "the code by --strength and decode",
        metavar="DIR",
    )
    strength: float = opt(
        0.5, "with --from-images: 0 keeps the images, 1 ignores them", metavar="S", needs="from_images", ge=0, le=1
    )
    style_mix: int | None = opt(
        None,
        "write a style-mixing grid FILE.png instead (stylegan): K images of --seed down the left, K of --seed + 1 "
        "along the top, and inside the coarse styles of each row's with the fine styles of each column's",
        metavar="K",
        ge=1,
    )
    seed: int = opt(0, "noise seed", ge=0, le=MAX_SEED)
    device: str = opt("auto", "auto, cpu, cuda, mps")


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen sample",
        description="Generate images from a trained run.",
    )
    add_options(parser, SampleArgs, "sample")
    if "-h" in argv or "--help" in argv:
        add_sampling_help(parser)
    parsed, rest = parser.parse_known_args(argv)
    args = options(SampleArgs, parsed, "sample")
    takes_effect(args, given(parsed, "sample"))
    import torch

    from deepgen.device import resolve_device
    from deepgen.footprint import check_generation_memory
    from deepgen.run import open_run
    from deepgen.sampling import balanced_labels, generate, output_files, write_samples

    if args.interpolate is not None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.per_class is not None:
            raise ConfigError("--interpolate and --per-class cannot be combined; give one of them")
        return interpolate(args.run, args.interpolate, args.out, args.seed, resolve_device(args.device))
    opened = open_run(args.run).load(resolve_device(args.device))
    model = opened.model
    set_sampling_options(model, rest)
    if args.style_mix is not None:
        return style_mix(model, args.style_mix, args.out, args.seed, f"{opened.checkpoint} (step {opened.step})")
    if args.from_images is not None:
        source = f"{opened.checkpoint} (step {opened.step})"
        return variations(model, args.from_images, args.strength, args.out, args.seed, source)
    if not model.can_sample:
        raise ConfigError(f"{args.run} is a {model.name}, which has no prior to sample from; train a vae or a GAN")
    if args.per_class is not None and not model.conditional:
        raise ConfigError(f"--per-class needs a conditional model; {args.run} was trained without --conditional")
    k = len(model.classes)
    labels = None
    if model.conditional:
        labels = balanced_labels(k, args.per_class) if args.per_class is not None else torch.arange(args.n) % k
    n = len(labels) if labels is not None else args.n
    asked = "--per-class" if args.per_class is not None else "--n"
    check_generation_memory(model, n, f"{asked} {args.per_class or args.n}", f"give a smaller {asked}")
    output_files(args.out, n, labels, model.classes)  # refuse a bad --out before generating
    out = write_samples(generate(model, n, args.seed, labels), args.out, labels, model.classes)
    print(f"wrote {n} images from {opened.checkpoint} (step {opened.step}) to {out}")
    return 0


def add_sampling_help(parser: Parser) -> None:
    """For --help: a group per model with sampling options (--guidance, ...), which runs of that model take (read
    from the registry's catalog and the models' configs: no model, and no torch, imported)."""
    from deepgen.registry import catalog, config_class

    shown: set[str] = set()
    for name, entry in catalog().items():
        new = [o for o in entry.sampling_options if o not in shown]
        if new:
            group = parser.add_argument_group(f"sampling options of {name} runs (not given: as the run was trained)")
            add_options(group, config_class(name), "model_config", new)
            shown.update(new)


def set_sampling_options(model: GenerativeModel, argv: list[str]) -> None:
    """Parse the flags of the model's sampling options (e.g. --guidance) from `argv` into its config."""
    parser = Parser(prog=f"deepgen sample (a {model.name} run)")
    add_options(parser, type(model.config), "model_config", model.sampling_options)
    changed = given(parser.parse_args(argv), "model_config")
    for name, value in changed.items():
        setattr(model.config, name, value)
    takes_effect(model.config, changed)


def style_mix(model: GenerativeModel, k: int, out: Path, seed: int, source: str) -> int:
    import torch

    from deepgen.data.imageset import to_uint8
    from deepgen.footprint import check_generation_memory
    from deepgen.viz.grids import grid, save_png

    if not model.can_mix_styles:
        raise ConfigError(f"a {model.name} has no styles to mix; --style-mix needs a stylegan run")
    if out.suffix != ".png":
        raise ConfigError(f"--style-mix writes one grid: give --out FILE.png, not {out}")
    model.eval()
    labels = (torch.arange(k) % len(model.classes),) * 2 if model.conditional else None

    def mix(m: GenerativeModel) -> Tensor:
        return m.style_mix(m.prior(k), m.prior(k), labels)

    check_generation_memory(model, (k + 1) ** 2, f"--style-mix {k}", "give a smaller --style-mix", (k + 1) ** 2, mix)
    rows, cols = (model.prior(k, torch.Generator().manual_seed(s)) for s in (seed, seed + 1))
    save_png(grid(to_uint8(model.style_mix(rows, cols, labels)).cpu(), nrow=k + 1), out)
    print(f"wrote a {k} x {k} style-mixing grid (seeds {seed} and {seed + 1}) from {source} to {out}")
    return 0


def variations(model: GenerativeModel, folder: Path, strength: float, out: Path, seed: int, source: str) -> int:
    from deepgen.sampling import output_files, vary_images, write_samples

    if not model.can_vary:
        raise ConfigError(f"a {model.name} cannot vary images; diffusion models and models with an encoder can")
    images, labels = read_real_images(folder, model)
    output_files(out, len(images), labels, model.classes)  # refuse a bad --out before generating
    written = write_samples(vary_images(model, images, strength, seed, labels), out, labels, model.classes)
    print(f"wrote {len(images)} variations (strength {strength:g}) of the images in {folder} from {source}: {written}")
    if labels is not None:
        print(f"  classes of the model: {', '.join(model.classes)}")
    return 0


def read_real_images(folder: Path, model: GenerativeModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images in `folder` at the model's size and channels, and their classes when `folder` holds a
    sub-folder per class of the model (named as `deepgen sample` names them)."""
    import torch

    from deepgen.data.folder import existing_dir, read_class_folder, read_flat_folder
    from deepgen.errors import DataError
    from deepgen.sampling import class_folders

    c, size, _ = model.shape
    if not any(d.is_dir() for d in existing_dir(folder).iterdir()):
        return read_flat_folder(folder, size, c, "images").images, None
    real = read_class_folder(folder, size, c)
    known = class_folders(model.classes)
    unknown = [name for name in real.classes if name not in known]
    if unknown and len(real.classes) != len(known):
        raise DataError(
            f"{folder} has sub-folders {unknown} that are not classes of the model; name each sub-folder after a "
            f"class ({', '.join(known)}), or give one sub-folder per class ({len(known)}), taken in sorted order"
        )
    if unknown:  # as many sub-folders as classes: the i-th (sorted) is class i
        pairs = ", ".join(f"{name} -> {cls}" for name, cls in zip(real.classes, known))
        print(f"{folder}: sub-folders taken as the model's classes in sorted order ({pairs})")
        return real.images, real.labels
    index = torch.tensor([known.index(name) for name in real.classes])
    return real.images, index[real.labels]


def interpolate(run: Path, k: int, out: Path, seed: int, device: torch.device) -> int:
    from deepgen.data import load_data
    from deepgen.footprint import check_generation_memory
    from deepgen.latent.interpolate import strips, write_strips
    from deepgen.run import open_run

    opened = open_run(run).load(device)
    model = opened.model
    check_generation_memory(model, k * STRIP_STEPS, f"--interpolate {k}", "give a smaller --interpolate")
    images = load_data(opened.config.data).test.images if model.can_encode else None
    s = strips(model, k, STRIP_STEPS, "linear" if model.can_encode else "spherical", seed, images)
    write_strips(s.images, out)
    print(f"wrote {len(s.images)} interpolation strips between {s.source} from {opened.checkpoint} to {out}")
    return 0
