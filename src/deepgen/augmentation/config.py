"""The augment experiment's settings: one dataclass, declared once with opt() (the command's flags come from it)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Literal

from deepgen.classify.config import FitConfig
from deepgen.config import DataConfig, auto, opt

RECORD = "augment.json"  # the settings of the experiment in --out
# What a failed experiment wrote in --out, removed when a command with other settings takes it over:
LEFTOVERS = (
    "cells", "generators", "pools", "provenance", "samples", "confusion", "submitit", "results.csv", "summary.md",
    "report.html",
)  # fmt: skip
# Settings a continued experiment may change: where and how its cells run, and how many seeds (a cell is one seed's)
RERUNNABLE = ("out", "device", "seeds", "jobs", "launcher", "slurm", "dry_run")


@dataclass
class RecipeConfig:
    names: list[str] = opt(
        ["plain"], "how generated images are used: plain, filter, soft, weight, two-stage, pseudo", flag="--recipes",
        metavar="NAME",
    )  # fmt: skip
    tau: float = opt(0.9, "filter: the judge's least confidence in the asked class", ge=0, le=1)
    soft: Literal["judge", "smooth"] = opt("judge", "soft: the judge's probabilities, or label smoothing")
    smoothing: float = opt(0.1, "soft=smooth: the probability mass spread evenly over all classes", ge=0, le=1)
    synthetic_weight: float = opt(0.5, "weight: a generated image's loss weight (a real one's is 1)", ge=0)
    pseudo: Literal["hard", "soft"] = opt("hard", "pseudo: the judge's most probable class, or its probabilities")
    pseudo_tau: float = opt(0.0, "pseudo: keep generated images whose top class the judge gives >= T", ge=0, le=1)


@dataclass
class SlurmConfig:
    """The SLURM resources of each task of a job array (--launcher slurm)."""

    partition: str | None = opt(None, "SLURM partition", flag="--slurm-partition", metavar="NAME")
    time: int = opt(240, "minutes per task (a timed-out task is requeued)", flag="--slurm-time", ge=1)
    gpus: int = opt(0, "GPUs per task", flag="--slurm-gpus", ge=0, le=16)
    cpus: int = opt(4, "CPU cores per task", flag="--slurm-cpus", ge=1, le=256)
    mem_gb: int = opt(16, "memory per task (GiB)", flag="--slurm-mem-gb", ge=1, le=4096)
    parallel: int = opt(64, "tasks of an array run at once at most", flag="--slurm-parallel", ge=1)
    account: str | None = opt(None, "SLURM account", flag="--slurm-account", metavar="NAME")


@dataclass
class AugmentConfig:
    data: DataConfig
    out: Path = opt(MISSING, "folder for results.csv, summary.md, confusion/, provenance/")
    classifiers: list[str] = opt(["small-cnn"], "small-cnn resnet18 sae torchvision:NAME timm:NAME", metavar="NAME")
    ratios: list[float] = opt([0.0, 0.5, 1.0, 2.0], "synthetic images per real one", ge=0)
    seeds: int = opt(3, "seeds (splits, classifiers, generators)", ge=1, le=10000)
    generator: list[Path] = opt([], "conditional runs (trained with --conditional), each one generator", metavar="RUN")
    generators: dict[str, Path] = opt({}, "an unconditional run per class", metavar="CLASS=RUN")
    train_generator: list[str] = opt(
        [], "train each MODEL on each seed's training split (several: one generator each)", metavar="MODEL"
    )
    per_class_generators: bool = opt(False, "with --train-generator: one per class")
    vary: float | None = opt(
        None,
        "with --generator or --train-generator: use variations of each seed's own training images at strength S "
        "in [0, 1] (SDEdit for diffusion; encode-perturb-decode for autoencoders) instead of samples",
        metavar="S",
        ge=0,
        le=1,
    )
    generator_steps: int | None = auto(
        "training steps of each --train-generator (auto: as deepgen train sizes --steps, more on scarce data)", ge=1
    )
    generator_set: list[str] = opt(
        [],
        "with --train-generator: set any option of the generators trained here as deepgen train --set takes it, "
        "e.g. --generator-set augment=fixed augment_ops=translation,color lecam=0.1; MODEL:KEY=VALUE for one of "
        "several --train-generator models (dcgan:lecam=0.1)",
        metavar="KEY=VALUE",
    )
    generator_config: Path | None = opt(
        None,
        "with --train-generator: start the generators' options from this config.yaml (e.g. an earlier run's); "
        "--generator-set overrides it; data, seed, output folder and device are the experiment's",
        metavar="FILE",
    )
    unlabeled: int = opt(
        0,
        "with --train-generator: the generator also learns from N other images of the training split, labelled by "
        "the seed's real-only classifier (never a test image)",
        metavar="N",
        ge=0,
    )
    classic: bool = opt(True, "also the classic-augmentation (affine) variants")
    classic_kind: Literal["affine", "trivialaugment", "randaugment", "auto"] = opt(
        "affine",
        "the classic augmentation: small affine changes, or torchvision's TrivialAugment or RandAugment; auto: each "
        "seed's of best validation accuracy (one classifier per kind, the others then use that seed's choice)",
    )
    classic_only: bool = opt(False, "generated images only on top of classic augmentation")
    adversarial: list[str] = opt(
        ["none"],
        "how every variant is trained: none, fgsm (fast AT: FGSM from a random start), pgd (PGD-k), trades; "
        "several: each variant once per mode (budget and steps: --adv-eps, --adv-steps)",
        choices=("none", "fgsm", "pgd", "trades"),
        metavar="MODE",
    )
    synthetic_fraction: float = opt(
        0.0,
        "share of every training batch drawn from a pool of generated images (0: generated images are added once, "
        "per --ratios)",
        ge=0,
        lt=1,
    )
    pool: list[int] = opt(
        [0],
        "with --synthetic-fraction: generated images in the pool, made once per seed (0: 10 x the real ones); "
        "several: a pool of each size, and each variant once per pool",
        metavar="N",
        ge=0,
    )
    flip: bool = opt(False, "classic augmentation also flips images horizontally")
    limits: list[int] = opt(
        [],
        "at most N training images per class; several N: one experiment each, and the scarce-data curve",
        flag="--limit-per-class",
        metavar="N",
        ge=1,
    )
    val_fraction: float = opt(0.2, "share of the training images kept to stop early", gt=0, lt=1)
    eps: list[float] = opt([0.05, 0.1], "FGSM/PGD budgets in [0, 1] pixel units", nargs="*", ge=0, le=1)
    noise: list[float] = opt([0.2], "Gaussian noise std levels", nargs="*", ge=0)
    blur: list[float] = opt([1.0], "Gaussian blur sigmas (pixels)", nargs="*", ge=0)
    attack: Literal["pgd", "autoattack", "apgd"] = opt(
        "pgd",
        "the attack beside FGSM and PGD, its own column per budget (e.g. autoattack@0.1): autoattack (standard "
        "version through adversarial-robustness-toolbox, less FAB-T, which it lacks: APGD-CE, APGD-T, Square), apgd "
        "(APGD-CE + APGD-T, cheaper), pgd (none; pip install 'deepgen[robust]' for the others)",
    )
    attack_steps: int = opt(20, "PGD steps of the evaluation attack (more than adversarial training's)", ge=1)
    attack_restarts: int = opt(2, "random restarts of the evaluation's PGD", ge=1)
    attack_loss: Literal["ce", "margin"] = opt("ce", "the evaluation PGD's loss: cross-entropy or the CW margin")
    robust_images: int = opt(
        1000, "test images attacked and corrupted (the first of the test split)", flag="--robust-n", ge=1
    )
    pretrained: bool = opt(
        False,
        "torchvision:NAME classifiers start from torchvision's ImageNet weights (downloaded once into the torch hub "
        "cache; offline: that cache or --classifier-weights)",
    )
    classifier_weights: Path | None = opt(None, "local pretrained weights for a torchvision:/timm: classifier")
    classifier_size: int | None = opt(
        None, "resize inputs of torchvision:/timm: classifiers to this size (--pretrained: the weights' own, 224)", ge=1
    )
    fit: FitConfig = field(default_factory=FitConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    device: str = opt("auto", "device of the classifiers and generators: auto, cpu, cuda, mps")
    jobs: int = opt(
        1,
        "cells run at once in N worker processes (threads: the cores / N each; with GPUs each worker pinned to one)",
        metavar="N",
        ge=1,
        le=256,
    )
    launcher: Literal["local", "slurm", "submitit-local"] = opt(
        "local",
        "where cells run: here (--jobs), as SLURM job arrays through submitit (pip install deepgen[slurm]), or "
        "submitit's local executor (the cluster path, on this machine)",
    )
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    dry_run: bool = opt(False, "print the cells (and for SLURM the job arrays) that would run, and run nothing")

    @property
    def trained(self) -> str | None:
        """The model trained per seed, in a config of one generator (see experiment.one_generator)."""
        return self.train_generator[0] if self.train_generator else None

    @property
    def run(self) -> Path | None:
        """The conditional run, in a config of one generator."""
        return self.generator[0] if self.generator else None

    def part(self, seed: int) -> str:
        """Where a seed's generators and provenance go, below --out: seedS, or NpcS/seedS on a curve."""
        return f"{self.data.limit_per_class}pc/seed{seed}" if self.limits else f"seed{seed}"
