"""Recipes: how generated images enter a classifier's training, each registered by name.

    plain      real + generated images, concatenated
    filter     only generated images that the judge labels as the asked class with confidence >= tau
    soft       generated images carry soft labels: the judge's probabilities, or label smoothing
    weight     generated images count `synthetic_weight` times a real image in the loss
    two-stage  pretrain on real + generated images, then fine-tune on the real images only
    pseudo     generated images labelled by the judge (pseudo-labels): its most probable class (hard) or its
               probabilities (soft), keeping only images it is at least `pseudo_tau` sure of; any source, even
               unconditional generators

The judge is the seed's classifier trained on its real training split only (see experiment.py), given as a
function from uint8 images to class probabilities. A recipe returns a Plan: the training stages in order, each a
TrainingSet, and what it did (the share of generated images kept per class, ...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.augmentation.config import RecipeConfig
from deepgen.classify.fit import TrainingSet
from deepgen.data.imageset import ImageSet
from deepgen.registry import lookup

Judge = Callable[[Tensor], Tensor]  # uint8 images (N, C, H, W) -> class probabilities (N, K)


@dataclass
class Plan:
    stages: list[tuple[str, TrainingSet]]  # (name, training data), trained in this order on one network
    info: dict[str, object] = field(default_factory=dict)  # columns of results.csv


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    plan: Callable[[ImageSet, ImageSet, Judge, RecipeConfig], Plan]
    settings: Callable[[RecipeConfig], str]  # the settings it uses, as recorded in results.csv
    judged: bool = False  # it asks the judge (the seed's real-only classifier)


RECIPES: dict[str, Recipe] = {}


def recipe(
    name: str, description: str, settings: Callable[[RecipeConfig], str] = lambda cfg: "", judged: bool = False
) -> Callable:
    def add(plan: Callable[[ImageSet, ImageSet, Judge, RecipeConfig], Plan]) -> Callable:
        RECIPES[name] = Recipe(name, description, plan, settings, judged)
        return plan

    return add


def get_recipe(name: str) -> Recipe:
    return lookup("recipe", name, RECIPES)


@recipe("plain", "real + generated images, concatenated")
def plain(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    return Plan([("train", TrainingSet(real) + generated(synthetic))])


@recipe(
    "filter",
    "keep generated images the judge labels as asked with confidence >= tau",
    lambda c: f"tau={c.tau:g}",
    judged=True,
)
def filtered(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    keep = confident(synthetic, judge(synthetic.images), cfg.tau)
    asked, kept = synthetic.class_counts(), synthetic.subset(keep).class_counts()
    shares = {c: round(k / a, 4) for c, a, k in zip(synthetic.classes, asked, kept) if a}
    info = {"kept_share": round(len(keep) / max(1, len(synthetic)), 4), "kept_per_class": json.dumps(shares)}
    return Plan([("train", TrainingSet(real) + generated(synthetic.subset(keep)))], info)


def confident(synthetic: ImageSet, probabilities: Tensor, tau: float) -> Tensor:
    """Indices of the images whose most probable class is their label, with probability >= tau."""
    confidence, predicted = probabilities.max(1)
    return torch.nonzero((predicted == synthetic.labels) & (confidence >= tau)).flatten()


def soft_settings(cfg: RecipeConfig) -> str:
    return "judge" if cfg.soft == "judge" else f"smooth={cfg.smoothing:g}"


@recipe("soft", "generated images carry soft labels", soft_settings, judged=True)
def soft(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    return Plan([("train", TrainingSet(real) + generated(synthetic, targets=soft_labels(synthetic, judge, cfg)))])


def soft_labels(synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Tensor:
    """(N, K) rows summing to 1: the judge's probabilities, or the one-hot labels smoothed by cfg.smoothing."""
    if cfg.soft == "judge":
        return judge(synthetic.images).float()
    k = len(synthetic.classes)
    return (1 - cfg.smoothing) * F.one_hot(synthetic.labels, k).float() + cfg.smoothing / k


@recipe("weight", "generated images weigh less in the loss", lambda c: f"weight={c.synthetic_weight:g}")
def weighted(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    weights = torch.full((len(synthetic),), cfg.synthetic_weight)
    return Plan([("train", TrainingSet(real) + generated(synthetic, weights=weights))])


@recipe("two-stage", "pretrain on real + generated images, then fine-tune on real images only")
def two_stage(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    return Plan([("pretrain", TrainingSet(real) + generated(synthetic)), ("fine-tune", TrainingSet(real))])


def pseudo_settings(cfg: RecipeConfig) -> str:
    return f"{cfg.pseudo},tau={cfg.pseudo_tau:g}"


@recipe(
    "pseudo", "generated images labelled by the judge (hard or soft), the unsure ones left out", pseudo_settings, True
)
def pseudo(real: ImageSet, synthetic: ImageSet, judge: Judge, cfg: RecipeConfig) -> Plan:
    probabilities = judge(synthetic.images).float()
    confidence, labels = probabilities.max(1)
    keep = torch.nonzero(confidence >= cfg.pseudo_tau).flatten()
    relabelled = ImageSet(synthetic.images[keep], labels[keep], synthetic.classes)
    targets = probabilities[keep] if cfg.pseudo == "soft" else None
    agree = (labels == synthetic.labels).float().mean().item() if len(synthetic) else float("nan")
    info = {"kept_share": round(len(keep) / max(1, len(synthetic)), 4), "pseudo_agrees_with_asked": round(agree, 4)}
    return Plan([("train", TrainingSet(real) + generated(relabelled, targets=targets))], info)


def generated(images: ImageSet, targets: Tensor | None = None, weights: Tensor | None = None) -> TrainingSet:
    """Generated images as training data, marked as such."""
    return TrainingSet(images, targets, weights, torch.ones(len(images), dtype=torch.bool))
