"""poslib.experiments.padding_parity: uneven layers, asymmetry with symmetrised filters, and the contrast."""

import torch
from torch import nn

from poslib.backbones import TappedBackbone
from poslib.experiments import padding_parity as pp


def strided_net(pad) -> TappedBackbone:
    torch.manual_seed(0)
    net = nn.Sequential(nn.ZeroPad2d(pad), nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    return TappedBackbone("toy", "t", ["f1"], [4], lambda x: [net(x)], net)


def test_one_sided_padding_skews_a_symmetric_network_and_even_padding_does_not():
    even = pp.symmetrise_filters(strided_net((1, 1, 1, 1)))
    uneven = pp.symmetrise_filters(strided_net((0, 1, 0, 1)))
    assert pp.uneven_layers(even, 17) == 0 and pp.uneven_layers(uneven, 16) == 1
    rows_even, _ = pp.uniform_asymmetry(even, 17, [0.5])
    rows_uneven, maps = pp.uniform_asymmetry(uneven, 16, [0.5])
    assert rows_even[0]["lr_asymmetry"] < 1e-6 and rows_even[0]["tb_asymmetry"] < 1e-6
    assert rows_uneven[0]["lr_asymmetry"] > 1e-3 and rows_uneven[0]["tb_asymmetry"] > 1e-3
    assert maps["f1"].shape == (8, 8)


def test_trained_filters_are_asymmetric_even_with_even_padding():
    # why the symmetrised view exists: raw random filters differ left and right on a uniform input
    rows, _ = pp.uniform_asymmetry(strided_net((1, 1, 1, 1)), 17, [0.5])
    assert rows[0]["lr_asymmetry"] > 0.01


def test_vgg_pooling_counts_odd_sizes_as_uneven():
    from poslib.backbones import build_backbone

    vgg = build_backbone("vgg16", "random", 0, 64)
    assert pp.uneven_layers(vgg, 64) == 0 and pp.uneven_layers(vgg, 65) > 0


def test_partial_rule_view_sets_studies_2_and_3_side_by_side():
    import pandas as pd

    gap = pd.DataFrame({"tap": ["all", "all", "f1"], "channels": ["all"] * 3, "padding_rule": ["zeros", "partial", "zeros"],
                        "backbone": ["b"] * 3, "weights": ["w"] * 3, "accuracy": [0.9, 0.8, 0.1]})
    asymmetry = pd.DataFrame({"tap": ["f4"] * 2, "measure": ["lr"] * 2, "padding_rule": ["zeros", "partial"],
                              "backbone": ["b"] * 2, "weights": ["w"] * 2, "filters": ["as trained"] * 2,
                              "input_size": [33] * 2, "value": [0.2, 0.3]})
    view = pp.partial_rule_view(gap, asymmetry, "f4")
    assert set(view.columns) == {"partial", "zeros"}
    assert view.loc[("2: position accuracy after pooling", "b", "w"), "zeros"] == 0.9
    assert view.loc[("3: lr asymmetry of f4, as trained, 33 px", "b", "w"), "partial"] == 0.3
