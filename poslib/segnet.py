"""The task networks of notebook 05: a small VGG-style encoder-decoder, and its encoder as a backbone.

Architecture (:class:`EncoderDecoder`)
--------------------------------------
* Encoder :class:`VGGEncoder`: five stages of 3x3 conv + BatchNorm + ReLU with widths
  :data:`VGG_SMALL_WIDTHS` and :data:`VGG_SMALL_CONVS` convolutions per stage, a 2x2
  max-pool before stages 2-5. The last activation of each stage is a tap (``f1..f5``), as
  relu1_2 .. relu5_3 are for VGG16. The paper used VGG16 (13 convs, 64..512 channels) at
  224 px; this one is about 1/40 of its compute so that training several models fits a
  2-core CPU.
* Decoder: a 1x1 convolution per tap to :data:`DECODER_CHANNELS` channels, each read at the
  input coordinates of the f2 grid (:func:`tap_geometry`, :func:`resample_axis`) and summed,
  then BN + ReLU + a 1x1 convolution to the outputs, read at the output pixels' own
  coordinates (:func:`decoder_read_matrix`). Only 1x1 convolutions, so
  the decoder itself never pads: the padding rule of the encoder is the only difference
  between variants.
* Registration: an output pixel reads every tap at the fractional position whose receptive
  field is centred on it, so nothing is stretched. With padding this equals bilinear resizing
  of each tap to the input; without padding (``padding_rule="valid"``) each 3x3 convolution
  drops a pixel per side and each pooling shifts the centres by half a stride, so the network
  predicts only the pixels between its first and last f5 centre (:func:`output_region`; 46 px
  in from each side at 176 px). Variants are compared on the pixels all of them predict
  (:func:`shared_region`); :mod:`poslib.experiments.registration` measures the alignment.
* :class:`EncoderClassifier`: the same encoder with global average pooling and a linear
  layer, for the classification task of Table 6.

The encoder is registered as the backbone ``vggsmall`` (:func:`build_vggsmall`), so a
trained encoder can be probed like any other backbone.

(A little over 400 lines: the network, the geometry that registers its taps and the regions
it is scored on are one design and are tested together.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch
from torch import nn
from torch.nn import functional as F

from .backbones import TappedBackbone, file_sha256, load_state_dict_file, register_backbone, seeded
from .config import ConfigError
from .padding import apply_padding, check_padding_rule

#: Channels of the five encoder stages.
VGG_SMALL_WIDTHS = (16, 32, 64, 96, 128)
#: 3x3 convolutions per stage (VGG16: 2, 2, 3, 3, 3).
VGG_SMALL_CONVS = (2, 2, 2, 1, 1)
#: Channels of the decoder's fused map.
DECODER_CHANNELS = 32


def architecture_summary(widths: tuple[int, ...] = VGG_SMALL_WIDTHS, convs: tuple[int, ...] = VGG_SMALL_CONVS) -> str:
    """One sentence describing the encoder, rendered from its constants (for notebooks).

    Examples
    --------
    >>> architecture_summary((8, 16), (1, 2))[:48]
    'The encoder has 2 stages of 8/16 channels with 1'
    """
    return (f"The encoder has {len(widths)} stages of {'/'.join(map(str, widths))} channels with "
            f"{'/'.join(map(str, convs))} 3x3 convolutions ({sum(convs)} in all; VGG16: 64..512 channels, "
            f"13 convolutions) and a decoder of 1x1 convolutions with {DECODER_CHANNELS} channels.")


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (padding 1, no bias) + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class VGGEncoder(nn.Module):
    """Five VGG-style stages; :meth:`forward` returns the last activation of each (``f1..f5``).

    Parameters
    ----------
    widths : tuple of int
        Channels per stage.
    convs : tuple of int
        3x3 convolutions per stage.
    """

    def __init__(self, widths: tuple[int, ...] = VGG_SMALL_WIDTHS, convs: tuple[int, ...] = VGG_SMALL_CONVS):
        super().__init__()
        self.widths, self.convs = tuple(widths), tuple(convs)
        stages, in_channels = [], 3
        for width, n_convs in zip(widths, convs):
            layers = []
            for _ in range(n_convs):
                layers.append(ConvBNReLU(in_channels, width))
                in_channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        taps, x = [], images
        for index, stage in enumerate(self.stages):
            if index:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            taps.append(x)
        return taps


def encoder_output_side(side: int, convs: tuple[int, ...] = VGG_SMALL_CONVS, padding_rule: str = "zeros") -> int:
    """Side of the f5 map for an input side (0 or less: the input is too small).

    Examples
    --------
    >>> encoder_output_side(128), encoder_output_side(128, padding_rule="valid")
    (8, 3)
    """
    return tap_geometry(side, convs, padding_rule)[-1].size


# ----------------------------------------------------------------------------- geometry and registration


@dataclass(frozen=True)
class TapGeometry:
    """Where a tap's positions sit along one axis of the input.

    Position ``j`` of the tap is centred on input coordinate ``offset + stride * j``
    (coordinates in pixel indices: input pixel ``i`` has its centre at ``i``), i.e. on the
    centre of its receptive field when that field lies inside the input.

    Attributes
    ----------
    offset : float
    stride : int
    size : int
        Number of positions (0: the input is too small for this tap).
    """

    offset: float
    stride: int
    size: int

    def centre(self, position) -> np.ndarray:
        """Input coordinate of tap position(s) ``position`` (fractional positions interpolate)."""
        return self.offset + self.stride * np.asarray(position, dtype=np.float64)

    @property
    def span(self) -> tuple[float, float]:
        """Input coordinates of the first and the last position's centre."""
        return self.offset, self.offset + self.stride * (self.size - 1)


def tap_geometry(side: int, convs: tuple[int, ...] = VGG_SMALL_CONVS, padding_rule: str = "zeros") -> list[TapGeometry]:
    """:class:`TapGeometry` of every tap (``f1..f5``) along an input axis of ``side`` pixels.

    A padded ("same") 3x3 convolution keeps size and centres; an unpadded one drops one
    position on each side (the centre moves inwards by one stride); a 2x2 max-pool (floor
    mode) halves the size, averages each pair's centres and doubles the stride.

    Examples
    --------
    >>> [(g.offset, g.stride, g.size) for g in tap_geometry(128, padding_rule="valid")][-1]
    (45.5, 16, 3)
    >>> [(g.offset, g.stride, g.size) for g in tap_geometry(128)][-1]
    (7.5, 16, 8)
    """
    padding_rule = check_padding_rule(padding_rule)
    offset, stride, size, taps = 0.0, 1, side, []
    for index, n_convs in enumerate(convs):
        if index:
            offset, stride, size = offset + stride / 2, stride * 2, size // 2
        if padding_rule == "valid":
            offset, size = offset + n_convs * stride, size - 2 * n_convs
        taps.append(TapGeometry(offset, stride, max(size, 0)))
    return taps


@dataclass(frozen=True)
class Region:
    """A rectangle of input pixels: rows ``top:bottom``, columns ``left:right``."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return self.bottom - self.top, self.right - self.left

    def crop(self, maps: np.ndarray) -> np.ndarray:
        """The region of (..., H, W) maps (a view)."""
        return maps[..., self.top:self.bottom, self.left:self.right]

    def contains(self, other: "Region") -> bool:
        """Whether ``other`` lies inside this region."""
        return (self.top <= other.top and other.bottom <= self.bottom and self.left <= other.left
                and other.right <= self.right)

    def describe(self, height: int, width: int) -> str:
        """One phrase for notebooks, e.g. ``rows 46-109, columns 46-173 of 160 x 224 (23% of the pixels)``."""
        share = 100.0 * (self.bottom - self.top) * (self.right - self.left) / (height * width)
        return (f"rows {self.top}-{self.bottom - 1}, columns {self.left}-{self.right - 1} of {height} x {width} "
                f"({share:.0f}% of the pixels)")


def _axis_extent(side: int, convs: tuple[int, ...], padding_rule: str) -> tuple[int, int]:
    """Input pixels (start, stop) that every tap covers without extrapolation (padded: the whole axis)."""
    if check_padding_rule(padding_rule) != "valid":
        return 0, side
    first, last = tap_geometry(side, convs, padding_rule)[-1].span
    return int(np.ceil(first)), int(np.floor(last)) + 1


def output_region(height: int, width: int, convs: tuple[int, ...] = VGG_SMALL_CONVS,
                  padding_rule: str = "zeros") -> Region:
    """The input pixels a variant predicts, registered: all of them with padding; without
    padding, those between the first and the last f5 centre (the deepest map's footprint).

    Raises
    ------
    ConfigError
        If the input is too small for the encoder with this padding rule.

    Examples
    --------
    >>> output_region(128, 128, padding_rule="valid")
    Region(top=46, bottom=78, left=46, right=78)
    """
    for side in (height, width):
        if tap_geometry(side, convs, padding_rule)[-1].size < 1:
            raise ConfigError(f"input {height}x{width} is too small for the encoder with padding rule "
                              f"{check_padding_rule(padding_rule)!r}")
    (top, bottom), (left, right) = (_axis_extent(side, convs, padding_rule) for side in (height, width))
    if bottom <= top or right <= left:
        raise ConfigError(f"input {height}x{width} is too small for the encoder with padding rule "
                          f"{check_padding_rule(padding_rule)!r}: its f5 map needs at least 2 positions per side "
                          f"to cover any pixel")
    return Region(top, bottom, left, right)


def shared_region(height: int, width: int, padding_rules, convs: tuple[int, ...] = VGG_SMALL_CONVS) -> Region:
    """The input pixels every padding variant predicts (the intersection of :func:`output_region`).

    All variants are scored on this region, so they answer for the same pixels. It is the
    interior of the image: padding reaches a padded network's outputs here only near the
    region's edges (through the deepest taps, whose fields there extend past the border).
    """
    regions = [output_region(height, width, convs, rule) for rule in padding_rules]
    return Region(max(r.top for r in regions), min(r.bottom for r in regions),
                  max(r.left for r in regions), min(r.right for r in regions))


def interpolation_weights(coordinates: np.ndarray, geometry: TapGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of a tap at input coordinates: ``(lower, upper, weight)`` per coordinate.

    Each coordinate ``x`` reads the tap at fractional position ``(x - offset) / stride``,
    clamped to the first / last position (as bilinear resizing clamps at the border): the
    value is ``(1 - weight) * tap[lower] + weight * tap[upper]``.
    """
    positions = np.clip((np.asarray(coordinates, np.float64) - geometry.offset) / geometry.stride,
                        0, geometry.size - 1)
    lower = np.floor(positions).astype(np.int64)
    return lower, np.minimum(lower + 1, geometry.size - 1), positions - lower


def tap_interpolation_matrix(coordinates: np.ndarray, geometry: TapGeometry) -> np.ndarray:
    """(len(coordinates), geometry.size) weights of :func:`interpolation_weights` as a matrix.

    With ``offset = (stride - 1) / 2`` this equals ``F.interpolate(..., align_corners=False)``.
    """
    lower, upper, weight = interpolation_weights(coordinates, geometry)
    matrix = np.zeros((len(lower), geometry.size))
    rows = np.arange(len(lower))
    np.add.at(matrix, (rows, lower), 1.0 - weight)
    np.add.at(matrix, (rows, upper), weight)
    return matrix


def resample_axis(maps: torch.Tensor, dim: int, coordinates: np.ndarray, geometry: TapGeometry) -> torch.Tensor:
    """``maps`` read along ``dim`` at input ``coordinates`` (:func:`interpolation_weights`); two
    gathers and a blend, so the cost grows with the output, not with the product of the sizes."""
    lower, upper, weight = interpolation_weights(coordinates, geometry)
    if np.array_equal(lower, np.arange(maps.shape[dim])) and not weight.any():
        return maps  # the tap already sits on these coordinates
    shape = [1] * maps.dim()
    shape[dim] = len(weight)
    weight = torch.from_numpy(weight).to(maps.dtype).reshape(shape)
    low = maps.index_select(dim, torch.from_numpy(lower))
    high = maps.index_select(dim, torch.from_numpy(upper))
    return low + (high - low) * weight


#: The decoder fuses the taps on this tap's grid (f2, stride 2: a quarter of the full-resolution
#: work), then reads the logits at the output pixels.
FUSION_TAP = 1


def decoder_read_matrix(pixels: np.ndarray, side: int, tap_index: int, convs: tuple[int, ...] = VGG_SMALL_CONVS,
                        padding_rule: str = "zeros") -> np.ndarray:
    """(len(pixels), positions of the tap) weights with which the decoder reads tap ``tap_index``
    at input ``pixels`` along one axis: the fusion grid read at the pixels, composed with the
    tap read at the fusion grid's centres (the linear map :meth:`EncoderDecoder.forward` applies)."""
    geometries = tap_geometry(side, convs, padding_rule)
    fusion = geometries[FUSION_TAP]
    at_pixels = tap_interpolation_matrix(pixels, fusion)
    return at_pixels @ tap_interpolation_matrix(fusion.centre(np.arange(fusion.size)), geometries[tap_index])


def stretched_positions(n_output: int, n_tap: int) -> np.ndarray:
    """Fractional tap positions that plain bilinear resizing (``align_corners=False``) reads for
    each of ``n_output`` pixels: the stretched mapping, for comparison with the registered one."""
    return np.clip((np.arange(n_output) + 0.5) * n_tap / n_output - 0.5, 0, n_tap - 1)


class EncoderDecoder(nn.Module):
    """:class:`VGGEncoder` plus a registered 1x1-convolution decoder over all taps (module docstring).

    Parameters
    ----------
    n_outputs : int
        Output channels (1 for saliency logits, classes for segmentation).
    padding_rule : str
        Padding rule of the encoder's convolutions (:data:`poslib.padding.PADDING_RULES`).
    widths, convs : tuple of int
        Encoder shape.
    decoder_channels : int
    """

    def __init__(self, n_outputs: int, padding_rule: str = "zeros", widths: tuple[int, ...] = VGG_SMALL_WIDTHS,
                 convs: tuple[int, ...] = VGG_SMALL_CONVS, decoder_channels: int = DECODER_CHANNELS):
        super().__init__()
        self.padding_rule = check_padding_rule(padding_rule)
        self.encoder = apply_padding(VGGEncoder(widths, convs), self.padding_rule, inplace=True)
        self.lateral = nn.ModuleList(nn.Conv2d(w, decoder_channels, 1) for w in widths)
        self.head = nn.Sequential(nn.BatchNorm2d(decoder_channels), nn.ReLU(inplace=True),
                                  nn.Conv2d(decoder_channels, n_outputs, 1))

    def output_region(self, height: int, width: int) -> Region:
        """The pixels this variant predicts for a ``height`` x ``width`` input (:func:`output_region`)."""
        return output_region(height, width, self.encoder.convs, self.padding_rule)

    def forward(self, images: torch.Tensor, region: Region | None = None) -> torch.Tensor:
        """Logits (B, n_outputs, h, w) on the pixels of ``region`` (default: :meth:`output_region`).

        Every tap is read at the centres of the fusion grid (tap :data:`FUSION_TAP`) through
        its :class:`TapGeometry`, and the logits at each output pixel's own coordinate
        (:func:`decoder_read_matrix`), so an output pixel and the tap positions fused into it
        are centred on the same input pixel (no stretching). A region outside what this
        variant predicts is refused (:class:`poslib.config.ConfigError`).
        """
        height, width = images.shape[-2:]
        own = self.output_region(height, width)
        region = own if region is None else region
        if not own.contains(region):
            raise ConfigError(f"{region} is outside the pixels the {self.padding_rule!r} variant predicts for a "
                              f"{height}x{width} input ({own}); use poslib.segnet.shared_region")
        row_geometry = tap_geometry(height, self.encoder.convs, self.padding_rule)
        column_geometry = tap_geometry(width, self.encoder.convs, self.padding_rule)
        fusion_rows, fusion_columns = (g[FUSION_TAP].centre(np.arange(g[FUSION_TAP].size))
                                       for g in (row_geometry, column_geometry))
        fused = 0
        for lateral, tap, along_rows, along_columns in zip(self.lateral, self.encoder(images), row_geometry,
                                                          column_geometry):
            read = resample_axis(lateral(tap), 2, fusion_rows, along_rows)
            fused = fused + resample_axis(read, 3, fusion_columns, along_columns)
        logits = resample_axis(self.head(fused), 2, np.arange(region.top, region.bottom), row_geometry[FUSION_TAP])
        return resample_axis(logits, 3, np.arange(region.left, region.right), column_geometry[FUSION_TAP])


class EncoderClassifier(nn.Module):
    """:class:`VGGEncoder` + global average pooling of f5 + a linear layer: the classification twin.

    Same encoder (and the same ``encoder.*`` weight names) as :class:`EncoderDecoder`, so a
    trained classifier's encoder is probed as the backbone ``vggsmall`` like the pixel-task ones.
    """

    def __init__(self, n_outputs: int, padding_rule: str = "zeros", widths: tuple[int, ...] = VGG_SMALL_WIDTHS,
                 convs: tuple[int, ...] = VGG_SMALL_CONVS):
        super().__init__()
        self.padding_rule = check_padding_rule(padding_rule)
        self.encoder = apply_padding(VGGEncoder(widths, convs), self.padding_rule, inplace=True)
        self.classifier = nn.Linear(widths[-1], n_outputs)

    def forward(self, images: torch.Tensor, region: Region | None = None) -> torch.Tensor:
        """Class logits (B, n_outputs); ``region`` is ignored (one output per image)."""
        return self.classifier(self.encoder(images)[-1].mean(dim=(2, 3)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- encoder as a probed backbone


@register_backbone("vggsmall")
def build_vggsmall(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """The encoder of :class:`EncoderDecoder` as a frozen backbone with taps f1..f5.

    ``weights`` is ``"random"`` (seeded initialisation) or the path of a cached
    ``weights.pt`` of a trained :class:`EncoderDecoder` (its ``encoder.*`` entries are used).
    Pass the padding rule the encoder was trained with.
    """
    encoder = seeded(seed, VGGEncoder)
    if weights == "random":
        identity = f"random:seed={seed}"
    else:
        state = load_state_dict_file(weights)
        encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        try:
            encoder.load_state_dict(encoder_state)
        except RuntimeError as error:
            raise ConfigError(f"weights {weights} do not fit the vggsmall encoder: {error}") from None
        identity = f"file:{file_sha256(Path(weights))[:16]}"
    encoder = apply_padding(encoder, padding)
    return TappedBackbone("vggsmall", identity, [f"f{i}" for i in range(1, 6)], list(encoder.widths),
                          encoder.forward, encoder)
