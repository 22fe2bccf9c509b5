"""poslib.segnet: the task encoder-decoder and its encoder as a backbone."""

import torch

from poslib import segnet
from poslib.backbones import build_backbone, check_backbone_name


def test_padding_variants_have_the_same_weights_count():
    counts = {rule: segnet.count_parameters(segnet.EncoderDecoder(3, rule)) for rule in ("zeros", "valid", "reflect")}
    assert len(set(counts.values())) == 1
    output = segnet.EncoderDecoder(3, "valid").eval()(torch.rand(1, 3, 96, 96))
    assert output.shape == (1, 3, 96, 96)  # the smaller unpadded output is resized to the input


def test_old_padding_spelling_is_an_alias():
    assert segnet.EncoderDecoder(1, "none").padding_rule == "valid"


def test_vggsmall_is_registered_without_importing_segnet_first():
    assert check_backbone_name("vggsmall") == "vggsmall"
    assert len(build_backbone("vggsmall", "random", 0, 96, "valid")(torch.rand(1, 3, 96, 96))) == 5


def test_architecture_summary_renders_the_constants():
    text = segnet.architecture_summary()
    assert "/".join(map(str, segnet.VGG_SMALL_WIDTHS)) in text and str(segnet.DECODER_CHANNELS) in text
