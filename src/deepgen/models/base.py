"""The interface every model implements; the trainer, sampler and evaluators rely on nothing else."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from deepgen.config import validate
from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.models.sizing import filled


@dataclass
class Phase:
    """One optimisation phase of a training step, e.g. the critic repeated 5 times, then the generator; a phase
    with `every` k > 1 runs only in every k-th step (lazy regularisation: StyleGAN2's R1 every 16 steps)."""

    name: str
    optimizer: torch.optim.Optimizer
    repeat: int = 1
    every: int = 1


@dataclass
class StepLoss:
    terms: dict[str, Tensor]  # summed and backpropagated
    stats: dict[str, Tensor] = field(default_factory=dict)  # logged only


class GenerativeModel(nn.Module):
    """A model family: its networks, its optimisation phases and the loss of each phase.

    Subclasses set `Config` (a dataclass of their options) and are registered with
    `deepgen.registry.register`; they read their options from `self.config`, whose `auto` options are filled.
    Images enter and leave as float tensors in [-1, 1]. What a model can do is declared here (can_sample,
    can_encode, can_vary, can_condition, can_mix_styles, conditional, has_likelihood, sampling_options); callers
    ask these, never probe for methods or config fields.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type]
    can_sample: ClassVar[bool] = True  # has a prior: sample() works
    can_encode: ClassVar[bool] = False  # has an encoder: encode() and reconstruct() work
    can_condition: ClassVar[bool] = False  # Config has a `conditional` option (generate a requested class)
    can_mix_styles: ClassVar[bool] = False  # style_mix() works: grids of coarse and fine styles of two noises
    sampling_options: ClassVar[tuple[str, ...]] = ()  # Config fields `deepgen sample` may change (e.g. guidance)
    conditional: bool  # this model generates images of a requested class (see is_conditional)

    def __init__(self, config: Any, shape: tuple[int, int, int], classes: list[str]):
        super().__init__()
        self.config, self.shape, self.classes = filled(config, shape), tuple(shape), list(classes)
        self.conditional = self.is_conditional(self.config)

    @classmethod
    def is_conditional(cls, config: Any) -> bool:
        """Whether a model of this family built from `config` generates images of a requested class."""
        return cls.can_condition and bool(config.conditional)

    # --- training -------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The optimisation phases of one training step, each with its own optimizer (called once)."""
        raise NotImplementedError

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        """The named loss terms of `phase` on `batch`."""
        raise NotImplementedError

    def after_step(self, phase: str) -> None:
        """Called after each optimizer step of `phase` (weight clipping, EMA updates, schedules)."""

    def compile_targets(self) -> list[nn.Module]:
        """The networks torch.compile may compile (those never differentiated twice)."""
        return list(self.children())

    def current_batch_size(self, default: int) -> int:
        """The number of real images for the next phase step (ProGAN varies it with resolution)."""
        return default

    def stage(self) -> str:
        """The current stage of a staged schedule (e.g. ProGAN's "16px-fade"); the trainer saves a sample
        grid named after each stage as it ends."""
        return ""

    # --- use ------------------------------------------------------------------------------
    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` codes drawn from the model's prior (noise for GANs)."""
        raise NotImplementedError(f"{self.name} has no prior to sample from")

    def encode(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] -> codes (the posterior mean for VAEs)."""
        raise NotImplementedError(f"{self.name} has no encoder")

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Codes (and classes, when conditional) -> images in [-1, 1]."""
        raise NotImplementedError(f"{self.name} has no decoder")

    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """`n` new images in [-1, 1]; conditional models cycle through the classes unless `labels` are given."""
        labels = self.sampling_labels(n, labels)
        return self.decode(self.prior(n, generator), labels)

    def sampling_labels(self, n: Any, labels: Tensor | None) -> Tensor | None:
        """The classes of `n` samples on the model's device (cycling through the classes unless `labels` are
        given), once the request and the model's options are checked as the command line checks them: a
        ConfigError for a bad `n`, labels on an unconditional model or outside the classes, or an option set in
        code to a value the command line refuses (`model.config.guidance = float('nan')`)."""
        check_count(n)
        if self.config is not None:  # a model built in code without a config has no options to check
            validate(self.config)
        if labels is None:
            return (torch.arange(n) % len(self.classes)).to(self.device) if self.conditional else None
        if not self.conditional:
            raise ConfigError(f"sample(labels=...): this {self.name} was trained without conditional=True")
        k = len(self.classes)
        if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.shape != (n,):
            raise ConfigError(f"sample(labels=...): expected {n} whole class numbers (a tensor of shape ({n},))")
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < k:
            got = f"{int(labels.min())} to {int(labels.max())}"
            raise ConfigError(f"sample(labels=...): expected classes 0 to {k - 1}, got {got}")
        return labels.to(self.device)

    def style_mix(self, rows: Tensor, cols: Tensor, labels: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """A grid (as images, row by row, (R + 1) x (C + 1)) mixing the coarse styles of the codes `rows` with the
        fine styles of the codes `cols`; the first row and column show the codes' own images (where can_mix_styles)."""
        raise NotImplementedError(f"{self.name} has no styles to mix")

    def reconstruct(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] -> their reconstructions in [-1, 1]."""
        return self.decode(self.encode(x))

    @property
    def can_vary(self) -> bool:
        """Makes variations of given real images: vary() works."""
        return self.can_encode

    @property
    def has_likelihood(self) -> bool:
        """Bounds the likelihood of images: importance_weighted_nll() works."""
        return False

    def importance_weighted_nll(self, x: Tensor, k: int = 64, generator: torch.Generator | None = None) -> Tensor:
        """Per-image upper bound on -log p(x) in nats from `k` importance samples (where has_likelihood)."""
        raise NotImplementedError(f"{self.name} has no likelihood to bound")

    def vary(
        self, x: Tensor, strength: float, generator: torch.Generator | None = None, labels: Tensor | None = None
    ) -> Tensor:
        """Variations of real images `x` in [-1, 1]; `strength` 0 keeps them (up to reconstruction), 1 ignores them.

        Models with an encoder encode, move each code towards noise of the codes' own scale and decode:
        z' = sqrt(1 - s^2) z + s rms(z) eps, with rms(z) per code dimension over the batch (about 1 for VAEs,
        whose codes follow the N(0, I) prior, so that s = 1 gives prior samples)."""
        self.check_strength(strength)
        z = self.encode(x)
        eps = self.noise(len(z), tuple(z.shape[1:]), generator)
        z = math.sqrt(1 - strength**2) * z + strength * z.square().mean(0).sqrt() * eps
        return self.decode(z, labels if self.conditional else None)

    def check_strength(self, strength: float) -> None:
        if not 0 <= strength <= 1:
            raise ConfigError(f"the variation strength must lie in [0, 1], got {strength}")

    def noise(self, n: int, dim: int | tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise of shape (n, dim) or (n, *dim) on the model's device; drawn on the CPU from
        `generator` when one is given, so that seeded samples are the same on every device."""
        shape = (n, *dim) if isinstance(dim, tuple) else (n, dim)
        if generator is None:
            return torch.randn(shape, device=self.device)
        return torch.randn(shape, generator=generator).to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def evaluate(self, test: ImageSet, batch_size: int = 500) -> dict[str, float]:
        """Held-out metrics computed at the end of training (reconstruction error for autoencoders)."""
        if not self.can_encode:
            return {}
        sq_err, psnr = 0.0, 0.0
        for images in test.images.split(batch_size):
            x = to_float(images.to(self.device))
            mse = ((self.reconstruct(x) - x) / 2).square().flatten(1).mean(1)  # on the [0, 1] pixel scale
            sq_err += mse.sum().item()
            psnr += (-10 * torch.log10(mse.clamp_min(1e-10))).sum().item()
        n = len(test)
        return {"recon_mse": sq_err / n, "recon_psnr": psnr / n}

    def init_args(self) -> dict[str, Any]:
        """Everything needed to rebuild this model (saved in each checkpoint's metadata)."""
        return {
            "model": self.name,
            "model_config": dataclasses.asdict(self.config),
            "shape": list(self.shape),
            "classes": self.classes,
        }

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def check_count(n: Any) -> None:
    """A ConfigError unless `n` (images asked of sample()) is a whole number >= 1."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"sample(n): expected a whole number of images >= 1, got {n!r}")


def adam(params: Any, lr: float, betas: list[float] | tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam; the fused implementation (one kernel for all parameters) when they are on a GPU."""
    params = list(params)
    return torch.optim.Adam(params, lr=lr, betas=(betas[0], betas[1]), fused=params[0].is_cuda)
