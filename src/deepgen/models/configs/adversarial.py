"""The options of the adversarial step that every GAN variant shares (deepgen.models.adversarial) and their sizing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from deepgen.config import auto, opt
from deepgen.models.sizing import DEFAULT_STEPS, AutoSized, Sizing, default_batch, pow2
from deepgen.nn.spec import OPS, AdversarialLoss

Noise = Literal["normal", "uniform", "poisson"]
Augment = Literal["off", "fixed", "adaptive"]
SCARCE_IMAGES = 400  # below this many training images the critic sees augmented images (see `sized`)
SCARCE_OPS = ("translation", "color")
SCARCE_STEPS = 3000  # training steps on such scarce data


@dataclass
class AdversarialConfig(AutoSized):
    scarce_augment: ClassVar[str] = "fixed"  # the augmentation `sized` turns on for scarce data
    noise: Noise = opt("normal", "noise distribution: normal N(0, 1), uniform U(-1, 1) or poisson Poisson(1)")
    noise_dim: int | None = auto("size of the noise vector", ge=1)
    conditional: bool = opt(False, "condition generator and discriminator on the class label")
    loss: AdversarialLoss = opt("bce", "adversarial loss: bce (non-saturating), hinge or wasserstein")
    regularizer: Literal["none", "gp", "clip"] = opt("none", "critic regulariser: none, gp (gradient penalty), clip")
    gp_lambda: float = opt(10.0, "weight of the gradient penalty", needs="regularizer=gp", ge=0)
    clip_value: float = opt(
        0.01, "critic weights are clipped to [-c, c] (regularizer=clip)", needs="regularizer=clip", gt=0
    )
    r1_gamma: float = opt(0.0, "R1 penalty weight on real images (0 = off)", ge=0)
    r1_interval: int = opt(
        1,
        "lazy R1: the penalty gets a critic step of its own every N steps, weighted by N, and the critic's Adam "
        "lr and betas are scaled by N / (N + 1) (StyleGAN2); 1: R1 is part of every critic step",
        ge=1,
    )
    drift: float = opt(
        0.0, "weight of the drift penalty E[D(x)^2] that keeps critic scores near 0 (ProGAN: 0.001)", ge=0
    )
    critic_steps: int | None = auto("discriminator updates per generator update", ge=1)
    optimizer: Literal["adam", "rmsprop"] = opt("adam", "optimizer of both networks")
    lr_g: float | None = auto("generator learning rate", gt=0)
    lr_d: float | None = auto("discriminator learning rate", gt=0)
    betas_g: list[float] = opt([0.5, 0.999], "generator Adam betas", ge=0, lt=1, size=2)
    betas_d: list[float] = opt([0.5, 0.999], "discriminator Adam betas", ge=0, lt=1, size=2)
    ema_decay: float | None = auto(
        "keep an exponential moving average of the generator and sample from it (0 = off)", ge=0, lt=1
    )
    augment: Augment | None = auto(
        "differentiable augmentation of every image the critic sees: off, fixed (always applied, DiffAugment) "
        "or adaptive (applied with a probability p that rises while the critic overfits, ADA); auto: fixed below "
        f"{SCARCE_IMAGES} training images, else off"
    )
    augment_ops: list[str] | None = auto(
        f"augmentations: {', '.join(OPS)} (auto: {' '.join(SCARCE_OPS)} below {SCARCE_IMAGES} training images, "
        "else all)",
        choices=tuple(OPS),
    )
    ada_target: float = opt(
        0.6, "adaptive augmentation: p rises while r = E[sign(D(real))] is above this target", ge=-1, le=1
    )
    ada_interval: int = opt(4, "adaptive augmentation: steps between adjustments of p", ge=1)
    ada_images: int = opt(20000, "adaptive augmentation: real images shown while p can move from 0 to 1", ge=1)
    lecam: float = opt(0.0, "weight of the LeCam regulariser of the critic (Tseng et al. 2021; 0 = off)", ge=0)
    lecam_decay: float = opt(0.99, "decay of the moving averages of critic scores that LeCam anchors to", ge=0, lt=1)

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """Noise of about one dimension per 12 pixel values (32 to 128); one critic step, or for a Wasserstein
        critic 5 on a GPU (the papers') and 2 on a CPU (twice the generator steps in a time budget); learning
        rates 2e-4 (the DCGAN paper's), but for RMSprop on a GPU the WGAN paper's 5e-5 (on a CPU 2e-4 trained
        far faster: WGAN on mnist10k after 75 s, FID 11.4 against 82 with 5e-5); no moving
        average of the generator: averaging a BatchNorm generator's weights blurs its samples in short runs
        (a DCGAN after 348 steps on mnist10k: FID 121 from the average, 10.6 from the generator itself).
        On scarce data (below SCARCE_IMAGES training images) the critic memorises the images: the critic sees them
        through fixed differentiable augmentation (translation, colour) and training runs SCARCE_STEPS steps. On
        mnist10k (conditional DCGAN, bench/scarce_gan.py; see the README's "Scarce data") it paid at 10 and 25
        images per class (100 and 250 images: FID 45.6 -> 16.8 and 26.0 -> 18.9 at 2000 steps; 17.5 -> 1.9 at
        3000) and not at 50 or 200 per class (500, 2000 images: FID 19.0 -> 20.2, 20.7 -> 18.0); the count is of
        all training images, not per class, because the critic memorises images: 250 brain scans in 2 classes
        (about 100 per class) were seen to need it too."""
        lr = 5e-5 if self.optimizer == "rmsprop" and s.gpu else 2e-4
        scarce = s.n_images is not None and s.n_images < SCARCE_IMAGES
        return {
            "batch_size": batch_size or default_batch(s),
            "steps": SCARCE_STEPS if scarce else DEFAULT_STEPS,
            "augment": self.scarce_augment if scarce else "off",
            "augment_ops": list(SCARCE_OPS if scarce else OPS),
            "noise_dim": pow2(s.pixels / 12, 32, 128),
            "critic_steps": (5 if s.gpu else 2) if self.loss == "wasserstein" else 1,
            "lr_g": lr,
            "lr_d": lr,
            "ema_decay": 0.0,
        }
