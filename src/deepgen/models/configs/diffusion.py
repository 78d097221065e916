"""The options of denoising diffusion (deepgen.models.diffusion) and the UNet's sizing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from deepgen.config import auto, opt
from deepgen.models.sizing import AutoSized, Sizing, default_batch

Schedule = Literal["cosine", "linear"]


@dataclass
class DiffusionConfig(AutoSized):
    widths: list[int] | None = auto("UNet channels per resolution level (each level halves the image)", ge=1)
    patch: int | None = auto("fold P x P pixel patches into channels before the UNet (1: none)", ge=1)
    blocks: int = opt(1, "residual blocks per UNet level (the upsampling path has one more)", ge=1, le=16)
    attention_size: int | None = auto(
        "self-attention in UNet levels whose feature maps are at most this many pixels", ge=0
    )
    dropout: float = opt(0.0, "dropout in the residual blocks", ge=0, lt=1)
    conditional: bool = opt(True, "class-conditional, with classifier-free guidance")
    label_dropout: float = opt(
        0.1, "share of training images whose label is dropped (trains the unconditional model)", ge=0, le=1
    )
    schedule: Schedule = opt("cosine", "noise schedule: cosine (Nichol & Dhariwal 2021) or linear (Ho et al. 2020)")
    timesteps: int = opt(1000, "diffusion steps T of training", ge=2, le=100_000)
    loss_weighting: Literal["uniform", "min-snr"] | None = auto(
        "weight of each timestep's loss: uniform (Ho et al. 2020) or min-snr (min(SNR, 5) / SNR, Hang et al. 2023)"
    )
    lr: float = opt(1e-3, "Adam learning rate", gt=0)
    ema_decay: float = opt(0.999, "decay of the weights' moving average that samples are drawn from", ge=0, lt=1)
    sampler: Literal["ddim", "ancestral", "dpm++"] = opt(
        "dpm++", "dpm++ (DPM-Solver++ 2M), ddim (deterministic) or ancestral (DDPM, fresh noise)", resumable=True
    )
    sample_steps: int = opt(20, "denoising steps of the sampler", resumable=True, ge=1, le=100_000)
    guidance: float = opt(
        2.0,
        "classifier-free guidance w: 0 unconditional, 1 conditional, >1 stronger class (beyond 100 every image "
        "saturates)",
        resumable=True,
        needs="conditional",
        ge=0,
        le=100,
    )

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """On a GPU the small UNet of before: widths 16 32 32 at the image size, attention at maps of 16 px or
        less, the paper's uniform loss. On a CPU, from 28 px on, 2 x 2 patches (see `cpu_unet`), attention only at
        the lowest resolution, and min-SNR weighting: in 5 minutes on mnist10k it took FID from 12.6 to 3.3 (one
        thread, dpm++ 20 steps; bench/diffusion_cpu.py). Widths given (as in runs from before `patch` existed)
        keep the full resolution unless --patch says."""
        widths, patch = ([16, 32, 32], 1) if s.gpu else cpu_unet(s.image_size)
        if self.widths is not None:
            widths, patch = self.widths, 1
        patch = self.patch or patch
        lowest = s.image_size // patch // 2 ** (len(widths) - 1)
        return super().sized(s, batch_size) | {
            "batch_size": batch_size or default_batch(s),
            "widths": widths,
            "patch": patch,
            "attention_size": 16 if s.gpu else lowest,
            "loss_weighting": "uniform" if s.gpu else "min-snr",
        }


def cpu_unet(size: int) -> tuple[list[int], int]:
    """UNet widths and patch size for a CPU: from 28 px on (sizes divisible by 4), 2 x 2 patches and up to three
    levels of 32 channels, as many as halve the patched size evenly down to 4 px or more (28 px: 14 and 7); below,
    16 32 32 unpatched. At 28 px a training step is 1.6 to 3 times as fast as unpatched 16 32 32 with attention
    at 16 px, and sampling 3.6 times (bench/diffusion_cpu.py, one thread)."""
    if size < 28 or size % 4:
        return [16, 32, 32], 1
    levels, inner = 1, size // 2
    while levels < 3 and inner % 2 == 0 and inner // 2 >= 4:
        levels, inner = levels + 1, inner // 2
    return [32] * levels, 2
