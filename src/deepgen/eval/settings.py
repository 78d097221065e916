"""How runs are evaluated (deepgen eval and deepgen compare's options) and how an evaluator classifier is trained:
plain dataclasses, importable without torch, so that those commands' --help starts at once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from deepgen.config import MAX_SEED, opt


@dataclass(frozen=True)
class Recipe:
    """How an evaluator is trained (see deepgen.classify.small_cnn.train_classifier); None: sized by `sized`."""

    steps: int | None = None  # at most this many steps (it stops earlier when validation accuracy plateaus)
    width: int | None = None  # of the SmallCNN
    epochs: float = 20  # the step limit when `steps` is None: this many passes, within MIN_STEPS ... MAX_STEPS
    batch_size: int = 128
    lr: float = 2e-3
    outlier_weight: float = 0.5
    val_fraction: float = 0.1  # of the training split, held out to stop early
    eval_every: int | None = None  # steps between validation checks
    # checks without a better validation accuracy before stopping: six epochs, as the learning rate is still high
    # early on (mnist10k: 4 stopped at step 532 of 1125, test accuracy 0.956, real test digits' mean confidence
    # 0.92; 12: all 1125 steps, 0.978 and 0.967, uniform noise 0.116)
    patience: int = 12
    seed: int = 0

    MIN_STEPS, MAX_STEPS = 200, 2000

    def sized(self, n: int, size: int) -> Recipe:
        """This recipe for `n` training images of `size` px: at most `epochs` passes (200 to 2000 steps),
        validation twice per epoch, and a width of 32 up to 32 px that shrinks as the images grow (16 from
        64 px on), which keeps a step's cost near that of 32 px images."""
        batch = min(self.batch_size, n)
        steps = self.steps or min(max(math.ceil(self.epochs * n / batch), self.MIN_STEPS), self.MAX_STEPS)
        width = self.width or max(16, 8 * round(4 * 32 / max(size, 32)))
        every = self.eval_every or max(1, round(n / batch / 2))
        return dataclasses.replace(self, steps=steps, width=width, batch_size=batch, eval_every=every)


@dataclass
class Settings:
    """How runs are evaluated; the options of deepgen eval and deepgen compare (but `recipe` and `iw_samples`)."""

    features: str = opt(
        "classifier",
        "feature network of FID, KID, precision/recall, density/coverage: classifier (trained on the run's data), "
        "classifier:DATASET, or inception (torch-fidelity's FID Inception-v3; its weights are downloaded once into "
        "the torch hub cache)",
    )
    n: int | None = opt(None, "generated images (default: as many as the real test split, at most 10,000)", ge=1)
    seed: int = opt(0, "seed of the generated images and metrics", ge=0, le=MAX_SEED)
    device: str = opt("auto", "device of the evaluation", flag="--eval-device")
    precision: Literal["fp32", "bf16"] = opt(
        "fp32",
        "bf16: feature network under bfloat16 autocast (check with bench/fid_speed.py)",
        flag="--feature-precision",
    )
    inception_weights: str | None = opt(
        None, "torch-fidelity's Inception-v3 weights file (instead of the cache)", metavar="PATH"
    )
    recipe: Recipe = field(default_factory=Recipe)  # of the evaluator classifier
    cas_steps: int = opt(500, "training steps of the CAS classifiers (conditional models)", ge=1)
    iw_samples: int = 64  # importance samples of the NLL bound
