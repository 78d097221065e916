"""Denoising diffusion (Ho et al. 2020): a UNet learns the noise eps in x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps.

Why DDPM eps-prediction rather than EDM preconditioning: a discrete schedule of T steps makes SDEdit (noise a real
image to level s, then denoise) and both samplers one short loop over timesteps; eps-prediction with the cosine
schedule (Nichol & Dhariwal 2021) trains well on small images and small networks, which is what a CPU can afford.

- Schedule: a_t (alpha-bar) for t = 0..T-1, cosine (default) or linear betas 1e-4..0.02 (Ho et al.).
- Class conditioning with classifier-free guidance (Ho & Salimans 2022): the label is dropped (replaced by the
  "no label" entry) for `label_dropout` of the training images; sampling mixes the two predictions as
  eps = eps_uncond + w (eps_cond - eps_uncond), so guidance w = 0 is the unconditional model, w = 1 the plain
  conditional one and w > 1 pushes samples towards their class.
- Samplers: DPM-Solver++(2M) (`dpm++`, the default, Lu et al. 2022: deterministic, second order), or one DDIM
  update (Song et al. 2021) with eta = 1 (`ancestral`: the DDPM posterior, fresh noise every step) or eta = 0
  (`ddim`: deterministic), over `sample_steps` evenly spaced timesteps; x_0 is clipped to [-1, 1].
- On a CPU the UNet works on 2 x 2 pixel patches from 28 px on, with attention only at its lowest resolution, and
  the loss is min-SNR weighted (`DiffusionConfig.sized`); on a GPU it keeps the full resolution and uniform loss.
- Samples come from an exponential moving average of the weights, whose decay ramps up as
  min(ema_decay, (1 + n) / (10 + n)) after n updates, so that short runs do not average in their first steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.diffusion import DiffusionConfig, Schedule
from deepgen.nn.unet import UNet
from deepgen.registry import register


def alpha_bar(schedule: Schedule, steps: int) -> Tensor:
    """a_t = prod_{s<=t} (1 - beta_s) for t = 0..steps-1 (float64)."""
    if schedule == "linear":
        betas = torch.linspace(1e-4 * 1000 / steps, 0.02 * 1000 / steps, steps, dtype=torch.float64)
    else:
        s = 0.008
        f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


def ema_with_warmup(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor | int], None]:
    """An AveragedModel update whose decay ramps up as min(decay, (1 + n) / (10 + n)) after n updates."""

    def update(averaged: list[Tensor], current: list[Tensor], n: Tensor | int) -> None:
        d = min(decay, (1 + int(n)) / (10 + int(n)))
        torch._foreach_lerp_(averaged, current, 1 - d)

    return update


def min_snr(a: Tensor, gamma: float = 5.0) -> Tensor:
    """min(SNR, gamma) / SNR with SNR = a / (1 - a): the eps-prediction loss weights of Min-SNR-gamma (Hang et al.
    2023), which stop the low-noise timesteps from dominating training."""
    snr = a / (1 - a)
    return snr.clamp(max=gamma) / snr


WEIGHTINGS: dict[str, Callable[[Tensor], Tensor]] = {"uniform": torch.ones_like, "min-snr": min_snr}


@register("diffusion", "denoising diffusion (DDPM eps-prediction, UNet, classifier-free guidance, DDIM/DPM++ sampling)")
class Diffusion(GenerativeModel):
    Config = DiffusionConfig
    can_vary = True
    can_condition = True
    sampling_options = ("sampler", "sample_steps", "guidance")

    def __init__(self, config: DiffusionConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        c = self.config
        if c.timesteps < 2 or c.sample_steps < 1 or not c.widths or not 0 <= c.label_dropout <= 1:
            raise ConfigError(
                f"diffusion needs --timesteps >= 2, --sample-steps >= 1, at least one --widths entry and "
                f"--label-dropout in [0, 1]; got {c.timesteps}, {c.sample_steps}, {c.widths}, {c.label_dropout}"
            )
        k = len(classes) if c.conditional else 0
        self.net = UNet(self.shape, c.widths, c.blocks, c.attention_size, k, c.dropout, c.patch)
        self.ema = AveragedModel(self.net, multi_avg_fn=ema_with_warmup(c.ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)
        self.register_buffer("alpha_bar", alpha_bar(c.schedule, c.timesteps).float(), persistent=False)

    def phases(self) -> list[Phase]:
        return [Phase("diffusion", adam(self.net.parameters(), self.config.lr))]

    def compile_targets(self) -> list[torch.nn.Module]:
        return [self.net]

    def num_parameters(self) -> int:
        """The UNet's parameters (its EMA copy not counted again)."""
        return sum(p.numel() for p in self.net.parameters())

    def noised(self, x: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps."""
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        return a.sqrt() * x + (1 - a).sqrt() * eps

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        x = batch.x
        t = torch.randint(0, self.config.timesteps, (len(x),), device=x.device)
        eps = torch.randn_like(x)
        labels = None
        if self.conditional:
            drop = torch.rand(len(x), device=x.device) < self.config.label_dropout
            labels = torch.where(drop, len(self.classes), batch.y)
        mse = (self.net(self.noised(x, t, eps), t, labels) - eps).square().mean(dim=(1, 2, 3))
        return StepLoss({"mse": (WEIGHTINGS[self.config.loss_weighting](self.alpha_bar[t]) * mse).mean()})

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        self.ema.update_parameters(self.net)

    # --- sampling ---------------------------------------------------------------------------
    def guided_eps(self, x: Tensor, t: Tensor, labels: Tensor | None, guidance: float) -> Tensor:
        """The EMA network's noise prediction, eps_u + w (eps_c - eps_u) for conditional models (one batch)."""
        net = self.ema.module
        if labels is None or not self.conditional:
            return net(x, t, None)
        null = torch.full_like(labels, len(self.classes))
        eps_c, eps_u = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
        return eps_u + guidance * (eps_c - eps_u)

    def denoise(self, x: Tensor, start: int, steps: int, labels: Tensor | None, generator: torch.Generator | None):
        """Run the configured sampler from x at timestep `start` down to a clean image in `steps` updates: each
        predicts x_0 (clipped to [-1, 1]) and moves x to the next timestep (t = -1: the clean image)."""
        c = self.config
        update = SAMPLERS[c.sampler]
        ts = torch.linspace(start, 0, max(1, min(steps, start + 1))).round().long().unique_consecutive().tolist()
        state: dict[str, Tensor] = {}
        for t, t_prev in zip(ts, ts[1:] + [-1]):
            a = self.alpha_bar[t]
            a_prev = self.alpha_bar[t_prev] if t_prev >= 0 else torch.ones_like(a)
            eps = self.guided_eps(x, torch.full((len(x),), t, device=x.device), labels, c.guidance)
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            x = x0 if t_prev < 0 else update(self, x, x0, a, a_prev, state, generator)
        return x

    def ddim_update(self, x: Tensor, x0: Tensor, a: Tensor, a_prev: Tensor, state: dict, generator, eta: float = 0.0):
        """One DDIM update (Song et al. 2021) from alpha-bar a to a_prev; eta = 1 is the DDPM posterior."""
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp_min(0).sqrt() * eps
        return x + sigma * self.noise(len(x), self.shape, generator) if eta > 0 else x

    def ancestral_update(self, x: Tensor, x0: Tensor, a: Tensor, a_prev: Tensor, state: dict, generator) -> Tensor:
        return self.ddim_update(x, x0, a, a_prev, state, generator, eta=1.0)

    def dpm_update(self, x: Tensor, x0: Tensor, a: Tensor, a_prev: Tensor, state: dict, generator) -> Tensor:
        """One DPM-Solver++(2M) update (Lu et al. 2022): exact in the linear part, the x_0 predictions of this
        and the previous step extrapolated in lambda = log(alpha / sigma) (first order on the first step)."""
        lam, lam_prev = (0.5 * (v / (1 - v)).log() for v in (a, a_prev))
        h = lam_prev - lam
        d = x0
        if "x0" in state:
            r = state["h"] / h
            d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * state["x0"]
        state["x0"], state["h"] = x0, h
        return ((1 - a_prev) / (1 - a)).sqrt() * x - a_prev.sqrt() * torch.expm1(-h) * d

    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pure noise x_T."""
        return self.noise(n, self.shape, generator)

    def decode(self, z: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Denoise x_T = z over the whole schedule."""
        return self.denoise(z, self.config.timesteps - 1, self.config.sample_steps, labels, generator)

    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        labels = self.sampling_labels(n, labels)
        return self.decode(self.prior(n, generator), labels, generator)

    def vary(
        self, x: Tensor, strength: float, generator: torch.Generator | None = None, labels: Tensor | None = None
    ) -> Tensor:
        """SDEdit (Meng et al. 2022): noise real images to timestep s (T - 1) and denoise them with
        round(s * sample_steps) sampler steps; labels (if given) steer them by guidance."""
        self.check_strength(strength)
        start = round(strength * (self.config.timesteps - 1))
        t = torch.full((len(x),), start, device=x.device)
        x_t = self.noised(x, t, self.noise(len(x), self.shape, generator))
        steps = max(1, round(strength * self.config.sample_steps))
        return self.denoise(x_t, start, steps, labels if self.conditional else None, generator)


SAMPLERS = {"ddim": Diffusion.ddim_update, "ancestral": Diffusion.ancestral_update, "dpm++": Diffusion.dpm_update}
