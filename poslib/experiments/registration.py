"""Registration of notebook 05's encoder-decoders: is each output pixel fed by tap positions centred on it?

The probe is empirical, not a restatement of :func:`poslib.segnet.tap_geometry`: an encoder
with the variant's padding rule gets positive weights and identity BatchNorm, so a tap
position responds (> 0) exactly when an input column lies in its receptive field. Feeding one
bright column at a time gives every position's receptive field, hence its centre. The
decoder's mapping (which fractional tap position each output pixel reads) is then scored by
how far the centre of what it reads lies from the output pixel itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..padding import check_padding_rule
from ..segnet import (VGG_SMALL_CONVS, EncoderDecoder, VGGEncoder, decoder_read_matrix, output_region,
                      stretched_positions, tap_geometry)


def _reachability_encoder(padding_rule: str, convs: tuple[int, ...]) -> nn.Module:
    """A 1-channel-wide encoder of the variant whose taps are > 0 exactly where an input pixel reaches."""
    model = EncoderDecoder(1, padding_rule, widths=(1,) * len(convs), convs=convs).encoder
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                module.reset_running_stats()
    return model.eval()


@torch.inference_mode()
def receptive_field_centres(side: int, padding_rule: str = "zeros",
                            convs: tuple[int, ...] = VGG_SMALL_CONVS) -> list[pd.DataFrame]:
    """Measured receptive field of every column position of every tap, for a ``side`` x ``side`` input.

    Returns
    -------
    list of pandas.DataFrame
        One per tap: position, first and last input column that reaches it, centre (their
        midpoint), inside (the field does not touch the image border, so its centre is that of
        what the position sees and not clipped by the frame).
    """
    encoder: VGGEncoder = _reachability_encoder(check_padding_rule(padding_rule), convs)
    images = torch.zeros(side, 3, side, side)
    images[torch.arange(side), :, :, torch.arange(side)] = 1.0  # image p: column p bright
    tables = []
    for tap in encoder(images):
        reach = (tap[:, 0, tap.shape[2] // 2, :] > 0).numpy()  # (input column, tap position)
        first = reach.argmax(axis=0)
        last = side - 1 - reach[::-1].argmax(axis=0)
        tables.append(pd.DataFrame({"position": np.arange(reach.shape[1]), "first": first, "last": last,
                                    "centre": (first + last) / 2.0,
                                    "inside": (first > 0) & (last < side - 1) & reach.any(axis=0)}))
    return tables


def _misregistration(centres: pd.DataFrame, positions: np.ndarray, pixels: np.ndarray) -> float:
    """Largest distance between output pixels and the measured centre of the tap positions they read
    (pixels reading a position whose field is clipped by the border are left out; NaN if none remain)."""
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, len(centres) - 1)
    inside = centres["inside"].to_numpy()
    keep = inside[lower] & inside[upper]
    if not keep.any():
        return float("nan")
    centre = np.interp(positions[keep], centres["position"].to_numpy(), centres["centre"].to_numpy())
    return float(np.abs(centre - pixels[keep]).max())


def registration_table(side: int, padding_rules, convs: tuple[int, ...] = VGG_SMALL_CONVS) -> pd.DataFrame:
    """Offset between output pixels and what they see, per variant and tap, registered and stretched.

    Parameters
    ----------
    side : int
        Input side (square input).
    padding_rules : iterable of str
    convs : tuple of int

    Returns
    -------
    pandas.DataFrame
        padding, tap, stride, offset (the tap's first centre), n_positions, n_unclipped (positions
        whose receptive field lies inside the image; only pixels reading those are scored),
        registered_px (largest offset over the variant's output pixels with the decoder's
        mapping), stretched_px (the same over every input pixel for plain bilinear stretching
        of the tap to the input, the mapping notebook 05 used before registration).
    """
    rows = []
    for rule in padding_rules:
        rule = check_padding_rule(rule)
        region = output_region(side, side, convs, rule)
        pixels = np.arange(region.left, region.right)
        for index, (geometry, centres) in enumerate(zip(tap_geometry(side, convs, rule),
                                                        receptive_field_centres(side, rule, convs))):
            read = decoder_read_matrix(pixels, side, index, convs, rule) @ np.arange(geometry.size)
            every_pixel = np.arange(side)  # a stretched map covers the whole input
            rows.append({"padding_rule": rule, "tap": f"f{index + 1}", "stride": geometry.stride,
                         "offset": geometry.offset, "n_positions": geometry.size,
                         "n_unclipped": int(centres["inside"].sum()),
                         "registered_px": _misregistration(centres, read, pixels),
                         "stretched_px": _misregistration(centres, stretched_positions(side, geometry.size),
                                                          every_pixel)})
    return pd.DataFrame(rows)
