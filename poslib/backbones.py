"""Frozen backbones with multi-level taps ``f1..f5``.

The registry: :func:`register_backbone` adds a builder
``(weights, seed, input_size, padding) -> TappedBackbone``; :func:`build_backbone` builds one
(with random-init handling, padding checks and BatchNorm calibration); the networks
themselves are in :mod:`poslib.networks` (VGG16, ResNet-152, EfficientNet-Lite0, raw
pixels) and :mod:`poslib.segnet` (``vggsmall``), imported on first lookup
(:data:`BACKBONE_MODULES`), so no import order matters. Weights files are read here
(:func:`load_state_dict_file`, :func:`load_weights`); :func:`backbone_class` and
:func:`backbone_label` say what a row is.
(About 430 lines: what a backbone is, how any backbone is built, and how its weights are
checked belong together; the networks themselves are elsewhere.)

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

from .config import DOWNLOAD_ENV, RAW_PIXELS, ConfigError, check_choice, portable_text
from .padding import check_padding_rule


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where to put them."""


class WeightsPathError(ConfigError):
    """A weights file the user named does not exist (an error, never a skipped row).

    Distinct from :class:`WeightsNotFoundError` (offline ImageNet weights
    missing), which probing turns into a visible skip.
    """


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

    @torch.inference_mode()
    def tap_sizes(self, input_size: int) -> list[int]:
        """Side of each tapped map for a square ``input_size`` input (one blank image run through, once per size).

        The readout uses it to run its first convolution on coarse taps at their own
        resolution (:mod:`poslib.readout.fast`, "Coarse taps at their own resolution").
        """
        known = self.__dict__.setdefault("_tap_sizes", {})
        if input_size not in known:
            device = next(self.parameters(), torch.empty(0)).device
            with torch.inference_mode():
                taps = self(torch.zeros(1, 3, input_size, input_size, device=device))
            known[input_size] = [int(t.shape[-1]) if t.shape[-1] == t.shape[-2] else -1 for t in taps]
        return list(known[input_size])


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
BACKBONE_MODULES = ("poslib.networks", "poslib.segnet")


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
    from .embedded import embedded_image_set

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
    WeightsPathError
        If the file does not exist (a :class:`ConfigError`: a path the user gave is wrong,
        never a skipped row, unlike :class:`WeightsNotFoundError`).
    ConfigError
        If it is not a file written by ``torch.save`` (text, another format) or holds no
        state dict of tensors; the message names the file.
    """

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
    return load_state_dict_file(path), f"imagenet:{filename}"  # checked like any weights file


def load_weights(model: nn.Module, name: str, weights: str, seed: int,
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
