"""poslib.experiments.frame_shift: a known synthetic shift is measured exactly; an equivariant model does not move."""

import numpy as np
import pytest
import torch
from torch import nn

from poslib import scenes
from poslib.experiments import frame_shift
from poslib.segnet import EncoderDecoder, Region


class StandIn(nn.Module):
    """What crop_shift needs of a model besides its forward pass: an encoder shape, a padding rule,
    and a forward pass that answers on a region (here a crop of a full-frame map)."""

    padding_rule = "zeros"

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.convs = (1,)

    def output_region(self, height, width):
        return Region(0, height, 0, width)

    def forward(self, images, region=None):
        maps = self.full_frame(images)
        return maps if region is None else maps[..., region.top:region.bottom, region.left:region.right]


class FrameCentredBlob(StandIn):
    """A stand-in model that always predicts a blob at the centre of whatever frame it gets."""

    def full_frame(self, images):
        height, width = images.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
        inside = ((ys - height / 2).abs() <= 4) & ((xs - width / 2).abs() <= 4)
        return torch.where(inside, 20.0, -20.0).expand(images.shape[0], 1, height, width)


class Brightness(StandIn):
    """A translation-equivariant stand-in: saliency is the pixel's own brightness."""

    def full_frame(self, images):
        return 40.0 * (images.mean(dim=1, keepdim=True) - 0.5)


def test_centroid_of_a_single_pixel_and_of_an_empty_map():
    maps = np.zeros((2, 6, 8))
    maps[0, 2, 6] = 1.0
    cy, cx = frame_shift.saliency_centroid(maps)
    assert (cy[0], cx[0]) == (2.5, 6.5) and np.isnan(cx[1])


def test_a_frame_centred_model_moves_by_the_known_amount():
    images = np.zeros((2, 40, 100, 3), np.uint8)
    table = frame_shift.crop_shift(FrameCentredBlob(), images, (0.2,))
    kept = frame_shift.kept_width(100, 0.2)
    assert kept == 80 and (table["kept_width"] == kept).all()
    # full frame: blob centred at x = 50; cut frame of 80 columns: blob centred at x = 40
    assert table["shift_x"].to_numpy() == pytest.approx(-10 / 80, abs=1e-3)
    assert table["toward_centre"].to_numpy() == pytest.approx(10 / 80, abs=1e-3)
    assert table["shift_y"].to_numpy() == pytest.approx(0.0, abs=1e-6)


def test_an_equivariant_model_does_not_move():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 64, 3)).astype(np.uint8)
    table = frame_shift.crop_shift(Brightness(), images, (0.25,))
    assert table["shift_x"].abs().max() < 1e-6 and table["toward_centre"].abs().max() < 1e-6


def test_kept_widths_are_multiples_of_the_total_stride():
    model = EncoderDecoder(1, "valid").eval()
    images = scenes.saliency_scenes("test", 1, 176, seed=1).images
    table = frame_shift.crop_shift(model, images, (0.1, 0.3))
    assert table["kept_width"].tolist() == [160, 128] and (table["kept_width"] % 16 == 0).all()
    assert table["cut"].tolist() == pytest.approx([16 / 176, 48 / 176])
    # a registered unpadded network is translation-equivariant on the compared pixels: it does not move
    assert table["shift_x"].abs().max() < 1e-6


def test_a_cut_too_narrow_for_the_unpadded_encoder_is_refused():
    model = EncoderDecoder(1, "valid").eval()
    images = scenes.saliency_scenes("test", 1, 128, seed=1).images
    assert set(frame_shift.crop_shift(model, images, (0.1,)).columns) >= {"shift_x", "toward_centre", "kept_width"}
    with pytest.raises(Exception, match="too narrow"):
        frame_shift.crop_shift(model, images, (0.5,))
