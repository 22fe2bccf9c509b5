"""poslib.padding.apply_padding and the padding rules of the backbones."""

import pytest
import torch
from torch import nn

from poslib.backbones import build_backbone
from poslib.config import ConfigError
from poslib.padding import PADDING_RULES, ModePad2d, apply_padding


def shift_right_conv(padding_mode: str = "zeros") -> nn.Conv2d:
    """A 3x3 convolution whose output at column j is the input at column j - 1."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False, padding_mode=padding_mode)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 0] = 1.0
    return conv


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)),
                         nn.Conv2d(4, 2, 3, stride=2))


@pytest.mark.parametrize("rule, side", [("zeros", 8), ("reflect", 8), ("replicate", 8), ("circular", 8), ("none", 6)])
def test_output_shape_per_rule(rule, side):
    conv = apply_padding(nn.Conv2d(2, 3, 3, padding=1), rule)
    assert conv(torch.rand(1, 2, 8, 8)).shape == (1, 3, side, side)


@pytest.mark.parametrize("rule", PADDING_RULES)
def test_explicit_pad_layers_follow_the_rule(rule):
    net = apply_padding(small_net(), rule)
    out = net(torch.rand(2, 3, 16, 16))
    # zeros/reflect/replicate/circular keep "same" sizes: 16 -> pad to 17 -> stride 2 -> 8; valid: 14 -> 6
    assert out.shape == ((2, 2, 6, 6) if rule == "valid" else (2, 2, 8, 8))
    pads = [m for m in net.modules() if isinstance(m, (nn.ZeroPad2d, ModePad2d))]
    if rule == "zeros":
        assert isinstance(pads[0], nn.ZeroPad2d)
    elif rule == "valid":
        assert pads == []
    else:
        assert isinstance(pads[0], ModePad2d) and pads[0].mode == rule and pads[0].pad == (0, 1, 0, 1)


def test_circular_padding_wraps_around():
    x = torch.rand(1, 1, 6, 7)
    out = apply_padding(shift_right_conv(), "circular")(x)
    assert torch.allclose(out, torch.roll(x, shifts=1, dims=-1))


def test_zero_padding_does_not_wrap_around():
    # control: the same convolution with zero padding must differ from the roll in column 0
    x = torch.rand(1, 1, 6, 7) + 0.1
    out = shift_right_conv()(x)
    rolled = torch.roll(x, shifts=1, dims=-1)
    assert torch.allclose(out[..., 1:], rolled[..., 1:])
    assert torch.all(out[..., 0] == 0) and not torch.allclose(out, rolled)


@pytest.mark.parametrize("rule", ["reflect", "replicate", "circular"])
def test_non_zero_rules_differ_from_zeros_only_at_the_border(rule):
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    x = torch.rand(1, 1, 9, 9) + 0.5
    zeros, other = conv(x), apply_padding(conv, rule)(x)
    assert torch.allclose(zeros[..., 1:-1, 1:-1], other[..., 1:-1, 1:-1])
    assert not torch.allclose(zeros[..., 0, :], other[..., 0, :])


def test_apply_padding_copies_unless_inplace():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    changed = apply_padding(conv, "none")
    assert conv.padding == (1, 1) and changed.padding == (0, 0)
    assert torch.equal(conv.weight, changed.weight)
    assert apply_padding(conv, "none", inplace=True) is conv and conv.padding == (0, 0)


def test_unknown_rule_is_refused():
    with pytest.raises(ConfigError, match="unknown padding rule"):
        apply_padding(nn.Conv2d(1, 1, 3), "mirror")


def test_vgg16_without_padding_shrinks_its_maps():
    padded = build_backbone("vgg16", "random", 0, 224, "zeros")
    unpadded = build_backbone("vgg16", "random", 0, 224, "none")
    x = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        sides_padded = [t.shape[-1] for t in padded(x)]
        sides_unpadded = [t.shape[-1] for t in unpadded(x)]
    assert sides_padded == [224, 112, 56, 28, 14]
    assert sides_unpadded == [220, 106, 47, 17, 2]


def test_too_small_input_without_padding_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot run at input size 112: its feature maps become smaller") as caught:
        build_backbone("vgg16", "random", 0, 112, "none")
    assert "Kernel size" not in str(caught.value)  # said in the study's words, not torch's raw error


@pytest.mark.parametrize("name, weights", [("resnet152", "random"), ("efficientnet-lite0", "random")])
def test_residual_backbones_refuse_no_padding_with_a_reason(name, weights):
    with pytest.raises(ConfigError, match="circular padding stands in|Circular padding"):
        build_backbone(name, weights, 0, 224, "none")


def test_efficientnet_circular_keeps_shapes_and_changes_border():
    x = torch.rand(1, 3, 64, 64)
    zeros = build_backbone("efficientnet-lite0", "random", 0, 64, "zeros")
    circular = build_backbone("efficientnet-lite0", "random", 0, 64, "circular")
    with torch.inference_mode():
        a, b = zeros(x), circular(x)
    assert [t.shape for t in a] == [t.shape for t in b]
    assert not torch.allclose(a[0], b[0])


# ----------------------------------------------------------------------------- partial-convolution padding


def equal_weights_conv(stride: int = 1, bias: bool = False) -> nn.Conv2d:
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=1, bias=bias)
    with torch.no_grad():
        conv.weight.fill_(0.5)
        if bias:
            conv.bias.fill_(0.25)
    return conv


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_padding_keeps_a_constant_input_constant(stride):
    x = torch.full((1, 2, 9, 9), 0.7)
    partial = apply_padding(equal_weights_conv(stride), "partial")(x)
    assert torch.allclose(partial, torch.full_like(partial, 0.7 * 0.5 * 18), atol=1e-5)


def test_zero_padding_does_not_keep_a_constant_input_constant():
    # control: the same convolution with zero padding is darker at the border
    x = torch.full((1, 2, 9, 9), 0.7)
    zeros = apply_padding(equal_weights_conv(), "zeros")(x)
    assert zeros[..., 0, 0].max() < zeros[..., 4, 4].min() - 1.0


def test_partial_padding_equals_zeros_inside_and_rescales_bias_free_part():
    torch.manual_seed(0)
    conv = equal_weights_conv(bias=True)
    x = torch.rand(1, 2, 8, 8)
    zeros, partial = conv(x), apply_padding(conv, "partial")(x)
    assert torch.allclose(zeros[..., 1:-1, 1:-1], partial[..., 1:-1, 1:-1])
    corner = (zeros[..., 0, 0] - 0.25) * 9 / 4 + 0.25  # 4 of 9 taps see real pixels at a corner
    assert torch.allclose(partial[..., 0, 0], corner)


def test_partial_padding_counts_static_same_pads():
    # a TF-style "same" convolution: pad (0, 1, 0, 1) then a stride-2 convolution without padding
    from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

    conv = Conv2dStaticSamePadding(1, 1, 3, stride=2, image_size=8, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.ones(1, 1, 8, 8)
    assert conv(x).min() < 9  # zero padded: the right / bottom outputs see fewer pixels
    out = apply_padding(conv, "partial")(x)
    assert out.shape == (1, 1, 4, 4) and torch.allclose(out, torch.full_like(out, 9.0))


def test_partial_padding_on_backbones_keeps_shapes():
    from poslib.padding import PartialConv2d

    x = torch.rand(1, 3, 64, 64)
    for name in ("vgg16", "efficientnet-lite0"):
        zeros = build_backbone(name, "random", 0, 64, "zeros")
        partial = apply_padding(build_backbone(name, "random", 0, 64, "zeros"), "partial", inplace=True)
        assert any(isinstance(m, PartialConv2d) for m in partial.modules())
        with torch.inference_mode():
            a, b = zeros(x), partial(x)
        assert [t.shape for t in a] == [t.shape for t in b]
        assert not torch.allclose(a[-1], b[-1])
