"""The one training loop for every classifier, and the one predict.

`fit` trains with Adam (optionally with cosine decay), stops early on a validation split keeping the best weights,
and can add classic augmentation, mixup/CutMix, adversarial training (fgsm, pgd, trades: classify/adversarial.py),
outlier exposure, class-balanced loss weights, soft labels and per-image loss weights (the last two come with a
`TrainingSet`, as does a fixed share of generated images in every batch)."""

from __future__ import annotations

import copy
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from deepgen.classify.adversarial import get_objective, pgd
from deepgen.classify.base import Classifier
from deepgen.classify.classic import Augment, mix
from deepgen.classify.config import FitConfig
from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batches
from deepgen.data.mixing import MixedBatchSampler


@dataclass
class TrainingSet:
    """Labelled images with, optionally, soft labels `targets` (N, K; rows sum to 1) used in place of the labels,
    a loss weight per image `weights` (N,), and which images are `generated` (N, bool). With `fraction`, every batch
    holds that share of generated images (see mixing.MixedBatchSampler), else batches draw from all images alike."""

    data: ImageSet
    targets: Tensor | None = None
    weights: Tensor | None = None
    generated: Tensor | None = None
    fraction: float | None = None

    def __len__(self) -> int:
        return len(self.data)

    @property
    def n_generated(self) -> int:
        return 0 if self.generated is None else int(self.generated.sum())

    def __add__(self, other: TrainingSet) -> TrainingSet:
        def join(mine: Tensor | None, theirs: Tensor | None, default: Callable[[TrainingSet], Tensor]) -> Tensor | None:
            if mine is None and theirs is None:
                return None
            return torch.cat([default(self) if mine is None else mine, default(other) if theirs is None else theirs])

        data = ImageSet(
            torch.cat([self.data.images, other.data.images]),
            torch.cat([self.data.labels, other.data.labels]),
            self.data.classes,
        )
        return TrainingSet(
            data,
            join(self.targets, other.targets, lambda t: F.one_hot(t.data.labels, len(t.data.classes)).float()),
            join(self.weights, other.weights, lambda t: torch.ones(len(t))),
            join(self.generated, other.generated, lambda t: torch.zeros(len(t), dtype=torch.bool)),
            self.fraction if self.fraction is not None else other.fraction,
        )


@dataclass
class EarlyStopping:
    """Checks accuracy on `val` every `every` steps (and at the last), keeps the weights that scored best,
    and says to stop after `patience` checks in a row without a better accuracy. With an `attack` (a function of
    the model, images in [-1, 1] and labels to attacked images), the score is the robust accuracy on the first
    `images` of `val` under it, and every check's is kept in `curve` (model selection by validation robust
    accuracy, as Rice et al. 2020 keep against robust overfitting); `clean` is the best checkpoint's clean
    accuracy."""

    val: ImageSet
    every: int = 50
    patience: int = 6
    attack: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None
    images: int = 500
    best: float = -1.0
    best_step: int = 0
    steps: int = 0
    waited: int = 0
    clean: float = -1.0
    curve: list[dict] = field(default_factory=list)
    state: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def __call__(self, model: nn.Module, step: int, last: bool = False) -> bool:
        """After training step `step`: True when training should stop."""
        self.steps = step
        if step % self.every and not last:
            return False
        training = model.training
        accuracy = (predict(model.eval(), self.val.images).argmax(1) == self.val.labels).float().mean().item()
        score = accuracy if self.attack is None else self.robust(model)
        if self.attack is not None:
            self.curve.append({"step": step, "robust": round(score, 4), "clean": round(accuracy, 4)})
        model.train(training)
        if score > self.best:
            self.best, self.best_step, self.clean, self.waited = score, step, accuracy, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.waited += 1
        return self.waited >= self.patience

    def robust(self, model: nn.Module) -> float:
        """Accuracy under `attack` on the first `images` validation images (the model in eval mode)."""
        device = next(model.parameters()).device
        x, y = to_float(self.val.images[: self.images].to(device)), self.val.labels[: self.images].to(device)
        adv = self.attack(model, x, y)
        with torch.no_grad():
            return (model(adv).argmax(1) == y).float().mean().item()

    def restore(self, model: nn.Module) -> None:
        """Load the best weights into `model`."""
        model.load_state_dict(self.state)

    def figures(self) -> dict[str, float | str]:
        """The validation figures of the run: best (clean) accuracy and its step; by robust accuracy also the best
        and last robust accuracy, their gap (robust overfitting) and the curve (JSON)."""
        found: dict[str, float | str] = {"val_accuracy": self.clean, "best_step": self.best_step, "steps": self.steps}
        if self.attack is not None and self.curve:
            last = self.curve[-1]["robust"]
            found |= {"val_robust_best": self.best, "val_robust_last": last, "val_robust_gap": self.best - last}
            found |= {"val_robust_curve": json.dumps(self.curve)}
        return found


def early_stopping(val: ImageSet, cfg: FitConfig) -> EarlyStopping:
    """The early stopping of `cfg`: by validation accuracy, or with select "robust" and adversarial training, by
    validation robust accuracy under PGD (select_steps steps of eps/4, no random start so that the check draws
    nothing from torch's generator, at the training eps in [0, 1] pixel units) on at most select_images images."""
    attack = None
    if cfg.select == "robust" and cfg.adversarial != "none":
        attack = functools.partial(pgd, eps=cfg.attack.eps, steps=cfg.select_steps, random_start=False)
    return EarlyStopping(val, cfg.eval_every, cfg.patience, attack, cfg.select_images)


def class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """Inverse class frequencies, scaled so that the weights of all images average 1 (absent classes get 0)."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    present = int((counts > 0).sum())
    return torch.where(counts > 0, len(labels) / (present * counts.clamp(min=1)), torch.zeros(()))


def fit(
    model: Classifier,
    train: ImageSet | TrainingSet,
    cfg: FitConfig,
    device: torch.device | str,
    seed: int,
    early: EarlyStopping | None = None,
    augment: Augment | None = None,
    progress: str | None = None,
) -> dict[str, float | str]:
    """Train `model` in place (the caller seeds torch before building it, for a reproducible start) and return it in
    eval mode; with `early`, stop when its validation accuracy (or robust accuracy) stops improving and keep the best
    weights. `augment`
    changes each batch (see classify/classic.py) before mixup/CutMix and the attack of adversarial training.
    `progress` names a progress bar (on stderr). Returns the steps run (and the validation figures)."""
    train = train if isinstance(train, TrainingSet) else TrainingSet(train)
    device = torch.device(device)
    model.to(device)
    if model.pretrains:
        model.pretrain(to_float(train.data.images).to(device), steps=cfg.pretrain_steps, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.max_steps) if cfg.cosine else None
    draw = batch_indices(train, min(cfg.batch_size, len(train)), device, seed)
    images = train.data.images.to(device)
    labels, targets, weights = loss_terms(train, cfg.balance, cfg.mix != "none", device)
    train_on = get_objective(cfg.adversarial)
    bar = tqdm(
        total=cfg.max_steps,
        desc=progress,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.1 if sys.stderr.isatty() else 10,
        disable=progress is None,
    )
    model.train()
    for step in range(1, cfg.max_steps + 1):
        index = draw()
        x = to_float(images[index])
        if augment is not None:
            x = augment(x)
        soft, weight = (None if t is None else t[index] for t in (targets, weights))
        if cfg.mix != "none":
            x, soft = mix(cfg.mix, x, soft, cfg.mix_alpha)

        def supervised(
            x: Tensor, y: Tensor = labels[index], soft: Tensor | None = soft, w: Tensor | None = weight
        ) -> tuple[Tensor, Tensor]:
            if cfg.outlier_weight > 0:
                logits = model(torch.cat([x, outliers(x)]))
                loss = supervised_loss(logits[: len(x)], y, soft, w)
                return loss - cfg.outlier_weight * logits[len(x) :].log_softmax(1).mean(), logits[: len(x)]
            logits = model(x)
            return supervised_loss(logits, y, soft, w), logits

        loss = train_on(model, x, labels[index] if soft is None else soft, supervised, cfg.attack)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        bar.update()
        if early is not None:
            stop = early(model, step, last=step == cfg.max_steps)
            if early.best_step:
                name = "best_val_acc" if early.attack is None else "best_val_robust_acc"
                bar.set_postfix({name: f"{early.best:.4f}"}, refresh=False)
            if stop:
                break
    bar.close()
    model.eval()
    if early is None:
        return {"steps": cfg.max_steps}
    early.restore(model)
    return early.figures()


def batch_indices(train: TrainingSet, batch_size: int, device: torch.device, seed: int) -> Callable[[], Tensor]:
    """The indices of each next batch (on `device`): shuffled epochs over all images, or, when the set asks for a
    `fraction`, that share of generated images in every batch (one sampler for fit and for users' DataLoaders)."""
    if train.fraction is not None and train.generated is not None and 0 < train.n_generated < len(train):
        sampler = MixedBatchSampler.of(train.generated, batch_size, train.fraction, seed)
        return lambda: torch.as_tensor(sampler.next(), device=device)
    order = ImageSet(train.data.images, torch.arange(len(train)), train.data.classes)
    batches = Batches(order, batch_size, device, seed)
    return lambda: batches.next()[1]


def loss_terms(
    train: TrainingSet, balance: bool, soft: bool, device: torch.device
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Labels, soft labels (or None; always when `soft`) and per-image loss weights (or None: all 1) on `device`;
    `balance`: weighted by the inverse frequency of each image's class."""
    targets = train.targets
    if soft and targets is None:
        targets = F.one_hot(train.data.labels, len(train.data.classes)).float()
    weights = train.weights
    if balance:
        per_class = class_weights(train.data.labels, len(train.data.classes))[train.data.labels]
        weights = per_class if weights is None else weights * per_class
    targets, weights = (None if t is None else t.to(device) for t in (targets, weights))
    return train.data.labels.to(device), targets, weights


def supervised_loss(logits: Tensor, labels: Tensor, targets: Tensor | None, weights: Tensor | None) -> Tensor:
    """Cross-entropy with the labels, or with soft labels `targets`; averaged with `weights` per image."""
    if targets is None and weights is None:
        return F.cross_entropy(logits, labels)
    per_image = F.cross_entropy(logits, labels if targets is None else targets, reduction="none")
    return per_image.mean() if weights is None else (weights * per_image).mean()


def outliers(x: Tensor) -> Tensor:
    """Images of no class, as many as `x`: a third each of uniform noise, flat grey levels, and images
    of `x` with their pixels shuffled. Trained towards the uniform class distribution (outlier exposure,
    Hendrycks et al. 2019), they teach a classifier to be unsure of images that are not of any class."""
    a, b = len(x) // 3, 2 * len(x) // 3
    noise = torch.rand_like(x[:a]) * 2 - 1
    flat = (torch.rand(b - a, 1, 1, 1, device=x.device) * 2 - 1).expand_as(x[a:b])
    pixels = x[b:].flatten(1)
    shuffled = pixels.gather(1, torch.rand_like(pixels).argsort(1)).view_as(x[b:])
    return torch.cat([noise, flat, shuffled])


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Class probabilities (N, K), on the CPU, of uint8 images (the model in eval mode on its own device)."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(to_float(chunk.to(device))).softmax(1).cpu() for chunk in images.split(batch_size)])
