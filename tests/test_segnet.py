"""poslib.segnet: the task networks, their geometry, and the encoder as a backbone."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from poslib import segnet
from poslib.backbones import build_backbone, check_backbone_name
from poslib.config import ConfigError


def test_padding_variants_have_the_same_weights_count_and_predict_their_own_region():
    counts = {rule: segnet.count_parameters(segnet.EncoderDecoder(3, rule)) for rule in ("zeros", "valid", "reflect")}
    assert len(set(counts.values())) == 1
    images = torch.rand(1, 3, 112, 144)
    assert segnet.EncoderDecoder(3, "zeros").eval()(images).shape == (1, 3, 112, 144)
    region = segnet.output_region(112, 144, padding_rule="valid")
    assert segnet.EncoderDecoder(3, "valid").eval()(images).shape == (1, 3, *region.shape)
    assert region.shape == (16, 48)  # between the first and the last f5 centre


def test_padded_decoder_equals_bilinear_resizing_of_the_taps():
    """Positive control of the geometry: with padding, reading each tap at the fusion grid's
    coordinates and the logits at the pixels' is exactly what bilinear resizing
    (align_corners=False) does for sizes the strides divide."""
    model = segnet.EncoderDecoder(2, "zeros").eval()
    images = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        taps = model.encoder(images)
        grid = taps[segnet.FUSION_TAP].shape[-2:]
        fused = sum(F.interpolate(lateral(tap), size=grid, mode="bilinear", align_corners=False)
                    for lateral, tap in zip(model.lateral, taps))
        expected = F.interpolate(model.head(fused), size=(96, 128), mode="bilinear", align_corners=False)
        torch.testing.assert_close(model(images), expected, atol=1e-5, rtol=1e-5)


def test_tap_geometry_matches_the_map_sizes_the_encoder_produces():
    encoder = segnet.EncoderDecoder(1, "valid").encoder
    with torch.no_grad():
        taps = encoder(torch.rand(1, 3, 150, 150))
    assert [t.shape[-1] for t in taps] == [g.size for g in segnet.tap_geometry(150, padding_rule="valid")]


def test_region_outside_the_variant_and_inputs_too_small_are_refused():
    model = segnet.EncoderDecoder(1, "valid").eval()
    with pytest.raises(ConfigError, match="outside the pixels"):
        model(torch.rand(1, 3, 128, 128), segnet.Region(0, 128, 0, 128))
    with pytest.raises(ConfigError, match="too small"):
        segnet.output_region(96, 96, padding_rule="valid")


def test_shared_region_is_the_intersection_and_crops_maps():
    region = segnet.shared_region(176, 176, ("zeros", "valid"))
    assert region == segnet.output_region(176, 176, padding_rule="valid") == segnet.Region(46, 126, 46, 126)
    assert region.crop(np.zeros((2, 176, 176))).shape == (2, 80, 80)
    assert "46-125" in region.describe(176, 176)


def test_classifier_shares_the_encoder_weight_names():
    classifier = segnet.EncoderClassifier(10)
    decoder = segnet.EncoderDecoder(1)
    names = {k for k in classifier.state_dict() if k.startswith("encoder.")}
    assert names == {k for k in decoder.state_dict() if k.startswith("encoder.")}
    assert classifier(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_old_padding_spelling_is_an_alias():
    assert segnet.EncoderDecoder(1, "none").padding_rule == "valid"


def test_vggsmall_is_registered_without_importing_segnet_first():
    assert check_backbone_name("vggsmall") == "vggsmall"
    assert len(build_backbone("vggsmall", "random", 0, 96, "valid")(torch.rand(1, 3, 96, 96))) == 5


def test_architecture_summary_renders_the_constants():
    text = segnet.architecture_summary()
    assert "/".join(map(str, segnet.VGG_SMALL_WIDTHS)) in text and str(segnet.DECODER_CHANNELS) in text
