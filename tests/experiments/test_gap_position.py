"""poslib.experiments.gap_position: canvases, pooled classifiers, controls, the partial-rule fallback."""

import numpy as np
import pytest

from poslib.backbones import build_backbone
import torch
from torch import nn

from poslib import claims
from poslib.backbones import TappedBackbone
from poslib.experiments import gap_position as gp
from poslib.padding import PartialConv2d


def toy_backbone(padding_mode: str) -> TappedBackbone:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode=padding_mode), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, padding_mode=padding_mode), nn.ReLU())
    return TappedBackbone("toy", padding_mode, ["f1"], [8], lambda x: [net(x)], net)


def pooled_accuracy(backbone, rng) -> float:
    photos = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    train_x, train_y = gp.make_gap_canvases(photos, 90, 24, 3, 6, rng)
    test_x, test_y = gp.make_gap_canvases(photos, 45, 24, 3, 6, rng)
    rows, _ = gp.probe_pooled(gp.pooled_taps(backbone, train_x), train_y, gp.pooled_taps(backbone, test_x), test_y,
                              9, [0], steps=200)
    return rows[-1]["accuracy"]


def test_circular_padding_keeps_pooled_features_blind_to_position():
    # on a torus a stride-1 network is exactly translation-equivariant: pooling removes position
    rng = np.random.default_rng(0)
    assert pooled_accuracy(toy_backbone("circular"), rng) < 0.3  # chance is 1/9
    # control: the same weights with zero padding see the border
    assert pooled_accuracy(toy_backbone("zeros"), np.random.default_rng(0)) > 0.5


def test_top_channels_and_mass():
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    features = rng.normal(size=(120, 20))
    features[:, 7] += 3 * labels  # one informative channel
    rows, mass = gp.probe_pooled({"f1": features[:80]}, labels[:80], {"f1": features[80:]}, labels[80:], 3, [0],
                                 top_k=(1,))
    by = {(r["tap"], r["channels"]): r["accuracy"] for r in rows}
    assert int(np.argmax(mass[0])) == 7
    assert by[("all", "top-1")] > 0.9 and by[("all", "top-1")] > by[("all", "random-1")]


def test_partial_rule_is_installed_on_efficientnet():
    backbone = build_backbone("efficientnet-lite0", "random", 0, 64, "partial")
    assert any(isinstance(m, PartialConv2d) for m in backbone.modules())


def gap_summary_rows(weights, circular_accuracy, zeros=(0.8, 0.7, 0.3)):
    return [{"backbone": "vgg16", "weights": weights, "padding_rule": p, "tap": "all", "channels": c, "k": k,
             "accuracy": a, "accuracy_std": 0.01, "n_seeds": 3, "chance": 1 / 9}
            for p, c, k, a in (("zeros", "all", 100, zeros[0]), ("zeros", "top-8", 8, zeros[1]),
                               ("zeros", "random-8", 8, zeros[2]), ("circular", "all", 100, circular_accuracy))]


def test_check_gap_position_reads_the_summary_and_needs_the_aliasing_check():
    import pandas as pd

    alone = claims.check_gap_position(pd.DataFrame(gap_summary_rows("imagenet-caffe", 0.2))).set_index("claim")
    assert (alone["outcome"].drop("B2: zero padding writes more position than circular") == "holds").all()
    # without a random-init circular row nothing rules out aliasing: the comparison is not read
    circular = alone.loc["B2: zero padding writes more position than circular"]
    assert circular["outcome"] == "inconclusive" and "no aliasing check ran" in circular["rule"]
    at_chance = pd.DataFrame(gap_summary_rows("imagenet-caffe", 0.2) + gap_summary_rows("random", 1 / 9 + 0.01))
    checks = claims.check_gap_position(at_chance)
    assert (checks[checks["backbone_class"] == "ImageNet"]["outcome"] == "holds").all()
    assert checks.set_index("claim").loc[claims.ALIASING_CHECK, "outcome"] == "holds"
    aliased = pd.DataFrame(gap_summary_rows("imagenet-caffe", 0.2) + gap_summary_rows("random", 0.6))
    checks = claims.check_gap_position(aliased).set_index(["claim", "backbone_class"])
    assert checks.loc[(claims.ALIASING_CHECK, "control"), "outcome"] == "contradicted"
    row = checks.loc[("B2: zero padding writes more position than circular", "ImageNet")]
    assert row["outcome"] == "inconclusive" and "measured outcome: holds" in row["rule"]


def test_grid_origins_are_stride_multiples_spread_border_to_border():
    assert gp.grid_origins(9, 3, 3) == [(0, 0), (0, 3), (0, 6), (3, 0), (3, 3), (3, 6), (6, 0), (6, 3), (6, 6)]
    assert sorted({x for _, x in gp.grid_origins(96, 3, 32, stride=32)}) == [0, 32, 64]
    with pytest.raises(ValueError, match="does not fit"):
        gp.grid_origins(9, 3, 10)
    with pytest.raises(ValueError, match="multiples of the stride"):
        gp.grid_origins(64, 3, 20, stride=32)


def strided_circular_backbone() -> TappedBackbone:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, padding_mode="circular"), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, stride=2, padding=1, padding_mode="circular"), nn.ReLU())
    return TappedBackbone("toy", "circular-stride-4", ["f1"], [16], lambda x: [net(x)], net)


def circular_accuracy(stride: int) -> float:
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    backbone = strided_circular_backbone()
    train_x, train_y = gp.make_gap_canvases(photos, 180, 24, 3, 6, rng, stride)
    test_x, test_y = gp.make_gap_canvases(photos, 90, 24, 3, 6, rng, stride)
    rows, _ = gp.probe_pooled(gp.pooled_taps(backbone, train_x), train_y, gp.pooled_taps(backbone, test_x), test_y,
                              9, [0], steps=300)
    return rows[-1]["accuracy"]


def test_stride_aligned_origins_remove_the_aliasing_a_stride_4_circular_network_reads():
    # origins 0, 9, 18 sit at phases 0, 1, 2 of the stride-4 grid: a network with no border tells
    # them apart by phase alone; origins that are multiples of 4 (0, 8, 16) leave it at chance
    assert [x for _, x in gp.grid_origins(24, 3, 6)][:3] == [0, 9, 18]
    assert [x for _, x in gp.grid_origins(24, 3, 6, stride=4)][:3] == [0, 8, 16]
    assert circular_accuracy(stride=1) > 0.3  # positive control: aliasing is readable
    assert circular_accuracy(stride=4) < 0.25  # chance is 1/9


def test_pooled_features_are_cached_by_content(tmp_path):
    backbone, rng = toy_backbone("zeros"), np.random.default_rng(0)
    canvases, _ = gp.make_gap_canvases(rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8), 5, 12, 2, 4, rng)
    first = gp.cached_pooled_taps(backbone, "zeros", canvases, tmp_path)
    assert np.allclose(first["f1"], gp.pooled_taps(backbone, canvases)["f1"])
    again = gp.cached_pooled_taps(backbone, "zeros", canvases, tmp_path)
    assert np.array_equal(first["f1"], again["f1"]) and len(list(tmp_path.glob("pooled/toy/*"))) == 1
    canvases[0, 0, 0] += 1  # other content: another entry
    gp.cached_pooled_taps(backbone, "zeros", canvases, tmp_path)
    assert len(list(tmp_path.glob("pooled/toy/*"))) == 2


def test_per_canvas_rows_give_each_classifiers_accuracy():
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    features = rng.normal(size=(120, 20))
    features[:, 7] += 3 * labels
    rows, _ = gp.probe_pooled({"f1": features[:80]}, labels[:80], {"f1": features[80:]}, labels[80:], 3, [0, 1],
                              top_k=(1,), steps=50)
    canvases = gp.canvas_rows(rows, labels[80:], backbone="toy", weights="none", padding_rule="zeros")
    assert list(canvases.columns) == gp.CANVAS_COLUMNS
    keys = ["tap", "channels", "seed"]
    assert not canvases.duplicated(keys + ["canvas"]).any() and len(canvases) == len(rows) * 40
    assert (canvases["label"] == np.tile(labels[80:], len(rows))).all()
    accuracy = canvases.groupby(keys, sort=False)["correct"].mean()
    assert accuracy.tolist() == [r["accuracy"] for r in rows]  # exactly the accuracies the summary averages
