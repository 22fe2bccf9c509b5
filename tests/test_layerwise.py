"""poslib.layerwise and poslib.padding_study (channel draws, settings, border analysis)."""

import numpy as np
import pandas as pd
import pytest

from poslib import claims, config, layerwise, padding_study
from poslib.config import ConfigError
from poslib.features import FeatureConfig, FeatureSet
from poslib.probing import FeatureBundle


def fake_bundle(channels=(4, 8, 16), n_images=6):
    array = np.zeros((n_images, sum(channels), 4, 4), dtype=np.float16)
    train = FeatureSet(array, [f"f{i + 1}" for i in range(len(channels))], list(channels),
                       FeatureConfig("vgg16", "random"), "train", {})
    return FeatureBundle(train.config, train, [train])


def test_channel_draws_are_equal_sized_and_inside_their_level():
    bundle = fake_bundle()
    draws = layerwise.random_channel_draws(bundle, None, 3, seed=0)
    assert {d["level"] for d in draws} == {"f1", "f2", "f3", "all"}
    bounds = {"f1": (0, 4), "f2": (4, 12), "f3": (12, 28), "all": (0, 28)}
    for d in draws:
        low, high = bounds[d["level"]]
        assert len(d["channels"]) == 4 and len(set(d["channels"])) == 4
        assert d["channels"].min() >= low and d["channels"].max() < high
    f3 = [tuple(d["channels"]) for d in draws if d["level"] == "f3"]
    assert len(set(f3)) > 1  # draws differ


def test_channel_draws_refuse_more_than_the_smallest_level():
    with pytest.raises(ConfigError, match="smallest level"):
        layerwise.random_channel_draws(fake_bundle(), 5, 1)


def test_training_subset_slices_without_copying():
    bundle = fake_bundle()
    subset = layerwise.with_training_subset(bundle, 4)
    assert len(subset.train) == 4 and len(bundle.train) == 6 and subset.tests is bundle.tests
    assert layerwise.with_training_subset(bundle, None) is bundle


def test_readout_variants_share_the_baseline():
    assert layerwise.readout_variants((1, 2, 3), (1, 3, 5, 7)) == [(1, 3), (2, 3), (3, 3), (1, 1), (1, 5), (1, 7)]


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_every_profile_has_settings(name):
    profile = config.get_profile(name)
    assert layerwise.layerwise_settings(profile)["epochs"] >= 1
    settings = padding_study.padding_study_settings(profile)
    assert all(row[0] != "none" for row in settings["rule_rows"])
    assert len(settings["seeds"]) >= (3 if name != "smoke" else 1)


def test_border_distance_and_rings():
    distance = padding_study.border_distance(8)
    assert distance.min() == 0.5 and distance.max() == 3.5
    errors = np.where(distance < 1, 1.0, 0.0)  # error only in the outermost ring
    rings = padding_study.error_by_border_distance(errors, 4)
    assert rings["abs_error"].iloc[0] == 1.0 and (rings["abs_error"].iloc[1:] == 0).all()
    assert rings["n_pixels"].sum() == 64


def test_error_by_side_sees_an_asymmetric_error():
    errors = np.zeros((10, 10))
    errors[:, -1] = 1.0  # right column only
    sides = padding_study.error_by_side(errors, 0.1)
    assert sides["right"] == 1.0 and sides["left"] == 0.0 and sides["top"] == pytest.approx(0.1)


def _summary(rows):
    return pd.DataFrame(rows, columns=["backbone", "weights", "setting", "test_set", "pattern", "spc"])


def test_claim_5_detects_a_non_monotone_trend():
    rows = [("vgg16", "random", "raw", level, "SOD", p, spc)
            for level, spc in [("f1", .1), ("f2", .3), ("f3", .2), ("f4", .5), ("f5", .6)] for p in ("H", "G")]
    levels = pd.DataFrame(rows, columns=["backbone", "weights", "selection", "level", "test_set", "pattern", "spc"])
    assert not claims.check_claim_5(levels, "SOD")["holds"].any()
    levels.loc[levels["level"] == "f3", "spc"] = 0.4
    assert claims.check_claim_5(levels, "SOD")["holds"].all()


def test_claim_6_needs_a_drop_without_padding():
    rules = pd.DataFrame([("vgg16", "random", rule, "SOD", p, spc) for rule, spc in [("zeros", .8), ("none", .79)]
                          for p in ("H", "G")], columns=["backbone", "weights", "padding", "test_set", "pattern", "spc"])
    pads = pd.DataFrame([("none", "none", rp, "SOD", p, spc) for rp, spc in [(0, 0.0), (1, .3), (2, .4)]
                         for p in ("H", "G")],
                        columns=["backbone", "weights", "readout_padding", "test_set", "pattern", "spc"])
    checks = claims.check_claim_6(pads, rules, "SOD")
    assert checks.set_index("subject")["holds"].to_dict() == {
        "vgg16/random": False, "none/none, readout padding 1": True, "none/none, readout padding 2": True}
