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


def test_check_gap_position_reads_the_summary():
    import pandas as pd

    rows = [{"backbone": "vgg16", "weights": "imagenet-caffe", "padding_rule": p, "tap": "all", "channels": c, "k": k,
             "accuracy": a, "accuracy_std": 0.01, "n_seeds": 3, "chance": 1 / 9}
            for p, c, k, a in (("zeros", "all", 100, 0.8), ("zeros", "top-8", 8, 0.7), ("zeros", "random-8", 8, 0.3),
                               ("circular", "all", 100, 0.2))]
    checks = claims.check_gap_position(pd.DataFrame(rows))
    assert len(checks) == 3 and (checks["outcome"] == "holds").all()
    assert gp.grid_origins(9, 3, 3) == [(0, 0), (0, 3), (0, 6), (3, 0), (3, 3), (3, 6), (6, 0), (6, 3), (6, 6)]
    with pytest.raises(ValueError):
        gp.grid_origins(9, 3, 4)


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
