"""Data-efficient adversarial training: differentiable augmentation, adaptive p, LeCam, exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_adversarial import tiny_gan

from conftest import tiny_config
from deepgen.config import RunConfig
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.losses import lecam, realness_sign, saturation
from deepgen.nn.diffaugment import GROUPS, diff_augment
from deepgen.nn.spec import OPS
from deepgen.run import WEIGHTS, latest_checkpoint
from deepgen.training.trainer import train


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 13, 10), (1, 28, 28)])
def test_augmentations_are_differentiable_and_differ_per_sample(op: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    image = torch.rand(1, *shape, dtype=torch.float64) * 2 - 1
    x = image.expand(16, -1, -1, -1).clone().requires_grad_(True)
    y = diff_augment(x, [op])
    assert y.shape == x.shape and y.dtype == x.dtype
    assert len({tuple(v.flatten().tolist()) for v in y}) > 3  # random per sample (8 px: 9 possible shifts)
    small = image[:, :, :6, :6].expand(2, -1, -1, -1).clone().requires_grad_(True)
    seeded = lambda t: diff_augment(t, [op]) if torch.manual_seed(1) else None  # noqa: E731  same draws each call
    assert torch.autograd.gradcheck(seeded, (small,))


def test_saturation_is_a_no_op_on_one_channel_and_p_zero_is_the_identity() -> None:
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.allclose(GROUPS["color"][1](x), x)
    assert torch.equal(diff_augment(x, list(OPS), torch.tensor(0.0)), x)
    with pytest.raises(ConfigError, match="augment_ops.*'blur'"):
        tiny_gan("dcgan", augment_ops=["blur"])


@pytest.mark.parametrize("augment,changed", [("off", False), ("fixed", True)])
def test_critic_sees_augmented_real_and_fake_images_in_both_phases(augment: str, changed: bool) -> None:
    model = tiny_gan("dcgan", conditional=True, augment=augment, augment_ops=["color"])
    seen, made = [], []
    model.discriminator.register_forward_pre_hook(lambda m, args: seen.append((args[0].detach(), args[1])))
    model.generator.register_forward_hook(lambda m, args, out: made.append(out.detach()))
    x, y = torch.rand(6, 1, 8, 8) * 2 - 1, torch.arange(6) % 3
    model.loss("D", Batch(x, y))
    model.loss("G", Batch(x, y))
    assert len(seen) == 3 and all(torch.equal(labels, y) for _, labels in seen)  # labels kept
    originals = [x, made[0], made[1]]  # real and fake of the D phase, fake of the G phase
    assert [not torch.equal(s, o) for (s, _), o in zip(seen, originals)] == [changed] * 3


def constant_critic(model: torch.nn.Module, real: float, fake: float) -> None:
    """Make the critic score every real image `real` and every generated one `fake`."""
    model.discriminator.forward = lambda x, labels=None: torch.where(  # real batches are all 0.5 here
        (x == 0.5).flatten(1).all(1), torch.tensor(real), torch.tensor(fake)
    )


@pytest.mark.parametrize("score,direction", [(3.0, 1), (-3.0, -1)])
def test_p_follows_the_critics_sign_signal(score: float, direction: int) -> None:
    """r = E[sign(D(x))] = +1 (above the 0.6 target) raises p by 2 steps x 8 images / 100; r = -1 lowers it."""
    model = tiny_gan("dcgan", augment="adaptive", augment_ops=[], ada_interval=2, ada_images=100)
    model.ada_p.fill_(0.5)
    constant_critic(model, score, 0.0)
    batch = Batch(torch.full((8, 1, 8, 8), 0.5), torch.zeros(8, dtype=torch.long))
    p = [model.ada_p.item()]
    for _ in range(4):
        out = model.loss("D", batch)
        assert out.stats["r_sign"].item() == direction
        model.after_step("G")
        p.append(model.ada_p.item())
    step = direction * 2 * 8 / 100
    assert p == pytest.approx([0.5, 0.5, 0.5 + step, 0.5 + step, 0.5 + 2 * step])


def test_wasserstein_realness_is_measured_from_the_fake_scores() -> None:
    real, fake = torch.tensor([5.0, 7.0, 9.0]), torch.tensor([6.0, 8.0])
    assert realness_sign("wasserstein", real, fake).tolist() == [-1, 0, 1]
    assert realness_sign("bce", real - 7, fake).tolist() == [-1, 0, 1]


def test_saturation_is_the_share_of_scores_past_the_losss_margin() -> None:
    real, fake = torch.tensor([3.0, 0.0]), torch.tensor([-3.0, -2.0])
    assert saturation("bce", real, fake).item() == pytest.approx((1 / 2 + 1 / 2) / 2)  # margin ln 9 = 2.197
    assert saturation("hinge", real, fake).item() == pytest.approx((1 / 2 + 1) / 2)  # margin 1
    assert saturation("wasserstein", real, fake) is None


def test_lecam_equals_a_hand_computed_value() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    # ((1 + 0.5)^2 + (3 + 0.5)^2) / 2 + ((-1 - 2)^2 + (0 - 2)^2) / 2
    assert lecam(real, fake, torch.tensor(2.0), torch.tensor(-0.5)).item() == pytest.approx(7.25 + 6.5)
    model = tiny_gan("dcgan", augment="off", lecam=0.5, lecam_decay=0.9)
    constant_critic(model, 2.0, -1.0)
    batch = Batch(torch.full((4, 1, 8, 8), 0.5), torch.zeros(4, dtype=torch.long))
    out = model.loss("D", batch)
    # the averages move 10% of the way from 0: a_real = 0.2, a_fake = -0.1
    assert out.terms["lecam"].item() == pytest.approx(0.5 * ((2 + 0.1) ** 2 + (-1 - 0.2) ** 2))
    assert (model.lecam_real.item(), model.lecam_fake.item()) == pytest.approx((0.2, -0.1))


def test_resume_with_adaptive_augmentation_is_bit_exact(tmp_path: Path) -> None:
    options = {"augment": "adaptive", "ada_interval": 2, "ada_images": 200, "ada_target": -1.0, "lecam": 0.1}
    whole = train(tiny_config("dcgan", tmp_path / "whole", steps=9, checkpoint_every=100, **options))
    first = train(tiny_config("dcgan", tmp_path / "split", steps=5, checkpoint_every=100, **options))
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 9
    second = train(cfg, resume=True)
    a, b = (load_file(latest_checkpoint(r.run) / WEIGHTS) for r in (whole, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert 0 < a["ada_p"].item() < 1 and a["ada_steps"].item() == 1  # p moved; a half-filled interval is saved
    assert first.step == 5


def test_weights_saved_before_adaptive_augmentation_still_load() -> None:
    old = tiny_gan("dcgan", augment="off").state_dict()
    new = tiny_gan("dcgan", augment="adaptive", lecam=0.1)
    new.load_state_dict(old)
    assert new.ada_p.item() == 0 and new.lecam_real.item() == 0
