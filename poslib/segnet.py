"""The task networks of notebook 05: a small VGG-style encoder-decoder, and its encoder as a backbone.

Architecture (:class:`EncoderDecoder`)
--------------------------------------
* Encoder :class:`VGGEncoder`: five stages of 3x3 conv + BatchNorm + ReLU with widths
  :data:`VGG_SMALL_WIDTHS` and :data:`VGG_SMALL_CONVS` convolutions per stage, a 2x2
  max-pool before stages 2-5. The last activation of each stage is a tap (``f1..f5``), as
  relu1_2 .. relu5_3 are for VGG16. The paper used VGG16 (13 convs, 64..512 channels) at
  224 px; this one is about 1/40 of its compute so that training several models fits a
  2-core CPU.
* Decoder: a 1x1 convolution per tap to :data:`DECODER_CHANNELS` channels, each bilinearly
  resized to the f1 map and summed, then BN + ReLU + a 1x1 convolution to the outputs, resized
  to the input. Only 1x1 convolutions, so the decoder itself never pads: the padding rule of
  the encoder is the only difference between variants.
* ``padding_rule="valid"`` sets every encoder convolution to padding 0
  (:func:`poslib.padding.apply_padding`): same weights count, smaller maps; the output is
  resized to the target like the padded one's.

The encoder is registered as the backbone ``vggsmall`` (:func:`build_vggsmall`), so a
trained encoder can be probed like any other backbone.
"""

from __future__ import annotations

from pathlib import Path

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
    padding_rule = check_padding_rule(padding_rule)
    for index, n_convs in enumerate(convs):
        if index:
            side //= 2
        if padding_rule == "valid":
            side -= 2 * n_convs
        if side < 1:
            return 0
    return side


class EncoderDecoder(nn.Module):
    """:class:`VGGEncoder` plus a 1x1-convolution decoder over all taps (see the module docstring).

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

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_outputs, H, W) at the input size."""
        height, width = images.shape[-2:]
        if min(encoder_output_side(height, self.encoder.convs, self.padding_rule),
               encoder_output_side(width, self.encoder.convs, self.padding_rule)) < 1:
            raise ConfigError(f"input {height}x{width} is too small for the encoder with padding rule "
                              f"{self.padding_rule!r}")
        taps = self.encoder(images)
        size = taps[0].shape[-2:]
        fused = sum(F.interpolate(lateral(tap), size=size, mode="bilinear", align_corners=False)
                    for lateral, tap in zip(self.lateral, taps))
        return F.interpolate(self.head(fused), size=(height, width), mode="bilinear", align_corners=False)


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
