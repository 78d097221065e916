"""The progressive-GAN building blocks: pixel norm, equalised layers, minibatch std, fade-in."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepgen.nn.progressive import EqualConv2d, EqualLinear, MinibatchStd, PixelNorm, fade_in


def test_pixel_norm_gives_unit_mean_square_over_channels() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 16, 5, 5) * torch.logspace(-1, 2, 5).view(1, 1, 1, 5)  # very different scales per pixel
    y = PixelNorm()(x)
    assert torch.allclose(y.square().mean(dim=1), torch.ones(4, 5, 5), atol=1e-5)
    assert torch.allclose(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True), atol=1e-6)  # same direction
    z = PixelNorm()(torch.randn(8, 32) * 7)  # latent vectors
    assert torch.allclose(z.square().mean(dim=1), torch.ones(8), atol=1e-5)


@pytest.mark.parametrize("layer,fan_in", [(EqualConv2d(64, 128, 3), 64 * 9), (EqualLinear(512, 256), 512)])
def test_effective_weight_std_is_the_he_constant(layer: torch.nn.Module, fan_in: int) -> None:
    weight, bias = layer.effective()
    assert weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.02)  # stored unscaled: scaled at run time
    assert torch.equal(bias, torch.zeros_like(bias))


def test_equalised_conv_applies_its_scaled_weights() -> None:
    conv = EqualConv2d(3, 5, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 3, 6, 6)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / 27), conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6) and conv(x).shape == (2, 5, 6, 6)


@pytest.mark.parametrize("lr_mul", [1.0, 0.01])
def test_adam_moves_every_equalised_layer_by_the_same_relative_amount(lr_mul: float) -> None:
    """Adam's first step is lr * sign(grad) on the stored weights, so the effective weights move by
    lr * He constant * lr_mul: in proportion to their own scale, whatever the fan-in."""
    for fan_in in (8, 800):
        layer = EqualLinear(fan_in, 4, lr_mul=lr_mul, bias_init=1.0).double()  # raw weights ~ 1/lr_mul
        before, bias = (t.detach().clone() for t in layer.effective())
        assert torch.allclose(bias, torch.ones(4, dtype=torch.float64))
        assert before.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.25)
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
        layer(torch.randn(16, fan_in, dtype=torch.float64)).square().sum().backward()
        opt.step()
        step = (layer.effective()[0] - before).abs()
        assert torch.allclose(step, torch.full_like(step, 1e-3 * math.sqrt(2 / fan_in) * lr_mul), rtol=1e-4)


def test_minibatch_std_adds_one_channel_equal_to_the_batch_std() -> None:
    x = torch.randn(8, 3, 4, 4) * torch.arange(1.0, 4.0).view(1, 3, 1, 1)
    y = MinibatchStd()(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    expected = x.std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[:, 3], expected.expand(8, 4, 4), atol=1e-6)


def test_minibatch_std_in_groups() -> None:
    x = torch.randn(8, 2, 3, 3)
    y = MinibatchStd(group_size=4)(x)[:, 2, 0, 0]
    for member in range(2):  # groups of 4: samples {0, 2, 4, 6} and {1, 3, 5, 7}
        group = x[member::2]
        expected = group.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[member::2], expected.expand(4), atol=1e-6)
    assert not torch.allclose(y[0], y[1])
    assert MinibatchStd(group_size=4)(torch.randn(6, 2, 3, 3)).shape == (6, 3, 3, 3)  # 4 does not divide 6


def test_fade_in_ends_are_the_upsampled_old_path_and_the_new_path() -> None:
    old, new = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8)
    upsampled = old.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(fade_in(old, new, 0.0), upsampled)
    assert torch.equal(fade_in(old, new, 1.0), new)
    assert torch.allclose(fade_in(old, new, 0.25), 0.75 * upsampled + 0.25 * new, atol=1e-6)
    same = torch.randn(2, 3, 8, 8)
    assert torch.allclose(fade_in(same, new, 0.5), (same + new) / 2, atol=1e-6)
