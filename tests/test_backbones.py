import pytest
import torch

from poslib import backbones
from poslib.backbones import WeightsNotFoundError
from poslib.config import ConfigError


def test_unknown_backbone_lists_the_registered_ones():
    with pytest.raises(ConfigError, match="valid choices"):
        backbones.build_backbone("alexnet")


def test_vgg16_taps_match_the_paper():
    backbone = backbones.build_backbone("vgg16", "random", input_size=64)
    taps = backbone(torch.rand(1, 3, 64, 64))
    assert [t.shape[1] for t in taps] == [64, 128, 256, 512, 512] == backbone.tap_channels
    assert [t.shape[-1] for t in taps] == [64, 32, 16, 8, 4]
    assert not any(p.requires_grad for p in backbone.parameters())


def test_random_weights_are_seeded():
    a = backbones.build_backbone("efficientnet-lite0", "random", seed=1, input_size=64)
    b = backbones.build_backbone("efficientnet-lite0", "random", seed=1, input_size=64)
    c = backbones.build_backbone("efficientnet-lite0", "random", seed=2, input_size=64)
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(a(x)[-1], b(x)[-1]) and not torch.equal(a(x)[-1], c(x)[-1])


def test_missing_imagenet_weights_offline_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("POSLIB_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "hub" / "checkpoints")):
        backbones.build_backbone("resnet152", "imagenet")


def test_imagenet_weights_are_found_in_the_torch_cache(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    checkpoint = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    checkpoint.parent.mkdir(parents=True)
    torch.save(torchvision.models.vgg16(weights=None).features.state_dict(), checkpoint)
    with pytest.raises(ConfigError, match="do not fit"):  # a features-only dict lacks the 'features.' prefix
        backbones.build_backbone("vgg16", "imagenet", input_size=32)
    model = torchvision.models.vgg16(weights=None)
    torch.save(model.state_dict(), checkpoint)
    backbone = backbones.build_backbone("vgg16", "imagenet", input_size=32)
    assert backbone.weights_id == f"imagenet:{checkpoint.name}"
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(backbone(x)[-1], model.features[:30](x))


def test_weights_from_a_state_dict_path(tmp_path):
    source = backbones.build_backbone("efficientnet-lite0", "random", seed=5, input_size=64)
    path = tmp_path / "lite0.pth"
    torch.save(source.network.state_dict(), path)
    loaded = backbones.build_backbone("efficientnet-lite0", str(path), input_size=64)
    assert loaded.weights_id.startswith("file:")
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(loaded(x)[2], source(x)[2])
    with pytest.raises(backbones.WeightsPathError, match="missing.pth"):  # an error, never a skipped row
        backbones.build_backbone("efficientnet-lite0", str(tmp_path / "missing.pth"))


def test_efficientnet_imagenet_weights_install_offline():
    backbone = backbones.build_backbone("efficientnet-lite0", "imagenet", input_size=64)
    assert backbone.weights_id.startswith("imagenet:efficientnet-lite0")
    assert backbone.tap_channels == [16, 24, 40, 112, 320]


def test_none_backbone_passes_pixels_through():
    backbone = backbones.build_backbone("none", "none")
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(backbone(x)[0], x)
    with pytest.raises(ConfigError):
        backbones.build_backbone("none", "imagenet")


def test_random_batchnorm_networks_are_calibrated_and_stay_finite():
    backbone = backbones.build_backbone("resnet152", "random", input_size=64)
    assert backbone.weights_id == "random:seed=0:bn-calibrated"
    with torch.no_grad():
        taps = backbone(torch.rand(2, 3, 64, 64))
    assert all(t.abs().max() < 6e4 for t in taps)  # fits float16, which an uncalibrated ResNet-152 does not
    assert backbones.build_backbone("vgg16", "random", input_size=32).weights_id == "random:seed=0"  # no BN


def test_random_bias_control_sees_the_black_image():
    black = torch.zeros(1, 3, 64, 64)
    zero_bias = backbones.build_backbone("vgg16", "random", 0, 64)
    with_bias = backbones.build_backbone("vgg16", "random-bias", 0, 64)
    assert zero_bias(black)[-1].abs().max() == 0  # torchvision's zero biases: all-zero features on black
    taps = with_bias(black)
    assert taps[-1].abs().max() > 0 and (taps[0][0, :, 0, 0] - taps[0][0, :, 32, 32]).abs().max() > 0  # border differs
    assert with_bias.weights_id.startswith("random-bias") and backbones.backbone_class("vgg16", "random-bias") == "control"


@pytest.mark.parametrize("name, weights", [("vgg16", "random"), ("resnet152", "random"), ("resnet152-stem", "random"),
                                           ("efficientnet-lite0", "random")])
def test_declared_taps_match_the_measured_maps(name, weights):
    backbone = backbones.build_backbone(name, weights, input_size=64)
    specs = backbone.tap_specs
    with torch.inference_mode():
        maps = backbone(torch.rand(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == [s.channels for s in specs] == backbone.tap_channels
    assert [m.shape[-1] for m in maps] == [64 // s.stride for s in specs] == backbone.tap_sizes(64)
    assert [s.name for s in specs] == backbone.tap_names == [f"f{i}" for i in range(1, len(specs) + 1)]


def test_resnet152_taps_layer1_to_layer4_as_the_papers_code_and_the_stem_is_an_option():
    plain = backbones.build_backbone("resnet152", "random", input_size=64)
    stem = backbones.build_backbone("resnet152-stem", "random", input_size=64)
    assert [s.module for s in plain.tap_specs] == ["layer1", "layer2", "layer3", "layer4"]
    assert sum(plain.tap_channels) == 3840 and stem.tap_channels == [64] + plain.tap_channels
    with torch.inference_mode():
        x = torch.rand(1, 3, 64, 64)
        assert all(torch.equal(a, b) for a, b in zip(plain(x), stem(x)[1:]))  # the same network, one tap fewer


def test_hooks_act_only_inside_the_tapped_call():
    backbone = backbones.build_backbone("vgg16", "random", input_size=32)
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        direct = backbone.network(x)  # the whole truncated network, no tap stops it
        taps = backbone(x)
    assert torch.equal(direct, taps[-1]) and len(taps) == 5


def test_weights_specs_say_class_and_input_convention():
    from poslib import weights
    assert weights.input_convention("vgg16", "imagenet-caffe-paper-input") == "paper-input"
    assert backbones.backbone_class("vgg16", "imagenet-caffe-paper-input") == "other"
    assert backbones.backbone_class("vgg16", "/some/file.pth") == "other"
    assert set(weights.INPUT_CONVENTIONS) >= {s.input_convention for s in weights.WEIGHTS.values()}
