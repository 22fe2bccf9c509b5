"""poslib.experiments.layerwise: channel draws, training subsets, readout variants."""

import numpy as np
import pytest

from poslib import config
from poslib.config import ConfigError
from poslib.experiments import layerwise
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
    subset = bundle.with_training_subset(4)
    assert len(subset.train) == 4 and len(bundle.train) == 6 and subset.tests is bundle.tests
    assert np.shares_memory(subset.train.array, bundle.train.array)
    assert bundle.with_training_subset(None) is bundle


def test_readout_variants_share_the_baseline():
    assert layerwise.readout_variants((1, 2, 3), (1, 3, 5, 7)) == [(1, 3), (2, 3), (3, 3), (1, 1), (1, 5), (1, 7)]


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_every_profile_has_resolved_settings(name):
    profile = config.get_profile(name)
    assert profile.layerwise.epochs >= 1 and profile.layerwise.seeds
    assert all(row[0] != config.RAW_PIXELS for row in profile.layerwise.level_rows)


def test_extract_bundles_extracts_each_row_once_and_keeps_the_skips(monkeypatch):
    from poslib.probing import SkippedRow

    profile = config.get_profile("smoke")
    rows = list(profile.layerwise.readout_rows) + list(profile.layerwise.level_rows)
    seen = []

    def fake_extract_or_skip(feature_config, images, progress=False):
        seen.append((feature_config.backbone, feature_config.weights))
        if feature_config.backbone == rows[0][0] and feature_config.weights == rows[0][1]:
            return None, SkippedRow(feature_config.backbone, feature_config.weights, "zeros", "cause", "reason")
        return fake_bundle(n_images=6), None

    monkeypatch.setattr(layerwise, "extract_or_skip", fake_extract_or_skip)
    bundles, skipped = layerwise.extract_bundles(profile, images=None)
    assert len(seen) == len(dict.fromkeys(rows)) and [s.backbone for s in skipped] == [rows[0][0]]
    assert tuple(rows[0]) not in bundles and len(bundles) == len(dict.fromkeys(rows)) - 1
