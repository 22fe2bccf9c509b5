"""Frozen backbones with multi-level taps ``f1..f5``.

The registry: :func:`register_backbone` adds a builder
``(weights, seed, input_size, padding) -> TappedBackbone``; :func:`build_backbone` builds one
(with random-init handling, padding checks and BatchNorm calibration); the networks
themselves are in :mod:`poslib.networks` (VGG16, ResNet-152, EfficientNet-Lite0, raw
pixels) and :mod:`poslib.segnet` (``vggsmall``), imported on first lookup
(:data:`BACKBONE_MODULES`), so no import order matters. Weights are :mod:`poslib.weights`
(re-exported here); :func:`backbone_label` says what a row is.

Add a backbone by writing a builder ``(weights, seed, input_size, padding) -> TappedBackbone``
that declares its taps (:class:`TapSpec`: module name, channels, stride) and returns
:func:`tapped_network`, and decorating it with :func:`register_backbone`. What weights names
mean (backbone class, input convention, source) is :mod:`poslib.weights`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .config import RAW_PIXELS, ConfigError, check_choice
from .padding import check_padding_rule
from .weights import (CONTROL_CLASS, IMAGENET_CLASS, OTHER_CLASS, RANDOM_BIAS_STD, RANDOM_BIAS_WEIGHTS,  # noqa: F401
                      WEIGHTS, WeightsNotFoundError, WeightsPathError, WeightsSpec, _weights_kind, backbone_class,
                      file_sha256, input_convention, load_state_dict_file, load_weights, torchvision_imagenet_state,
                      weights_spec)


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


@dataclass(frozen=True)
class TapSpec:
    """One tapped map of a network, declared as data (after timm's ``feature_info``).

    Parameters
    ----------
    name : str
        ``f1`` .. ``f5``.
    module : str
        Name of the module whose output is the tap (``network.get_submodule(module)``).
    channels : int
    stride : int
        Input pixels per map pixel under size-keeping padding (a test checks it against a
        forward pass; unpadded maps are smaller, and :meth:`TappedBackbone.tap_sizes` measures them).
    """

    name: str
    module: str
    channels: int
    stride: int


class _TapsComplete(Exception):
    """Raised by the last tap's hook: nothing after it needs computing."""


class HookTapper:
    """``forward_taps`` of a network from its :class:`TapSpec` list: forward hooks, one pass.

    The network's own ``forward`` runs (after ``pre``, an input conversion, when given);
    each tapped module's output is kept, and the pass stops right after the last tap. The
    hooks act only inside this call: the network's modules run as usual anywhere else.
    """

    def __init__(self, network: nn.Module, taps: list[TapSpec], pre: nn.Module | None = None):
        self.network, self.taps, self.pre = network, list(taps), pre
        self._outputs: dict[str, torch.Tensor] | None = None
        last = self.taps[-1].module
        for tap in self.taps:
            module = network.get_submodule(tap.module)
            module.register_forward_hook(self._keeper(tap.module, tap.module == last))

    def _keeper(self, name: str, last: bool):
        def hook(_module, _inputs, output):
            if self._outputs is None:
                return
            self._outputs[name] = output
            if last:
                raise _TapsComplete
        return hook

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.pre is not None:
            x = self.pre(x)
        self._outputs = {}
        try:
            self.network(x)
        except _TapsComplete:
            pass
        finally:
            outputs, self._outputs = self._outputs, None
        return [outputs[tap.module] for tap in self.taps]


def tapped_network(name: str, weights_id: str, network: nn.Module, taps: list[TapSpec],
                   pre: nn.Module | None = None) -> TappedBackbone:
    """A :class:`TappedBackbone` whose taps are declared (:class:`TapSpec`) and read by forward hooks.

    Parameters
    ----------
    name, weights_id : str
        As :class:`TappedBackbone`.
    network : torch.nn.Module
        The network; its ``forward`` is what runs.
    taps : list of TapSpec
    pre : torch.nn.Module, optional
        Input conversion before the network (e.g. :class:`poslib.vgg_ports.CaffeInput`).
    """
    tapper = HookTapper(network, taps, pre)
    # with an input conversion the held module keeps the layout ported VGG16s always had
    held = network if pre is None else nn.Sequential(OrderedDict(caffe_input=pre, features=network))
    backbone = TappedBackbone(name, weights_id, [t.name for t in taps], [t.channels for t in taps], tapper, held)
    backbone.tap_specs = list(taps)
    return backbone


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
    **{(name, "valid"): (
        "without padding every 3x3 convolution removes a 2-pixel frame, so the residual branch no longer "
        "matches the identity branch; cropping the identity branch to the residual branch's size fixes the "
        "shapes but not the size: at a 224 input the maps are 10x10 after layer2 and layer3's 36 blocks "
        "(4x4 after its stride-2 block, then -2 per block) shrink them to nothing. Circular padding, which "
        "keeps the shapes and never shows a border, stands in for it") for name in ("resnet152", "resnet152-stem")},
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
        where = f"shrink to nothing at {', '.join(empty)}"
    except RuntimeError:  # a convolution got a map smaller than its kernel (torch's own message says no more)
        empty, where = [backbone.tap_names[-1]], "become smaller than a kernel before the last tap"
    if empty:
        raise UnsupportedPaddingError(f"{backbone.name} without padding cannot run at input size {input_size}: its feature "
                                      f"maps {where}; use a larger input")


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model under a fixed torch seed, restoring the global RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


#: Human names of the backbones, for figure legends and tables.
BACKBONE_DISPLAY_NAMES = {"vgg16": "VGG16", "resnet152": "ResNet-152", "resnet152-stem": "ResNet-152 (with stem)",
                          "efficientnet-lite0": "EfficientNet-Lite0",
                          RAW_PIXELS: "no network (raw pixels)"}


#: Weights names of ImageNet-trained networks fed the input they were trained with (from :data:`WEIGHTS`).
IMAGENET_WEIGHTS = tuple(name for name, spec in WEIGHTS.items() if spec.backbone_class == IMAGENET_CLASS)


def backbone_label(name: str, weights_id: str) -> str:
    """An honest human label of a backbone and the weights it actually holds.

    Parameters
    ----------
    name : str
        Backbone name (a key of :data:`BACKBONES`).
    weights_id : str
        :attr:`TappedBackbone.weights_id` (the weights actually loaded),
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
    kind = _weights_kind(weights_id)
    spec = WEIGHTS.get(kind) or (weights_spec("file") if kind == "file" else None)
    if spec is None:
        return f"{network}, {weights_id}"
    what = spec.label
    if kind == "imagenet" and name in ("vgg16", "resnet152", "resnet152-stem"):
        what = "ImageNet (torchvision weights)"
    return f"{network}, {what}"
