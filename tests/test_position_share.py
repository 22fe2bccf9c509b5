"""The probe-free position share: controls that can fail, chunked reading, every source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import poslib
from poslib import api
from poslib.backbones import build_backbone
from poslib.config import ConfigError
from poslib.embedded import embedded_image_set
from poslib.features import extract_features, frozen_forward
from poslib.position_share import backbone_channel_shares, channel_shares, position_share


def direct_shares(features: np.ndarray) -> np.ndarray:
    """The definition, computed on the whole array at once."""
    x = features.astype(np.float64)
    return x.mean(axis=0).var(axis=(1, 2)) / x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1).var(axis=1)


@pytest.mark.parametrize("n_images", [25, 100, 400])
def test_pure_content_gives_about_one_over_n(rng, n_images):
    """Random maps with no shared pattern: the mean map keeps 1/N of the variance, no more."""
    features = rng.normal(3.0, 2.0, size=(n_images, 6, 8, 8)).astype(np.float16)
    table = position_share(features)
    share = float(table["share"][0])
    assert share < 2.0 / n_images, share
    assert share > 0.3 / n_images  # the floor is real: the estimate is not forced to zero
    assert table["content_floor"][0] == pytest.approx(1.0 / n_images)


def test_fixed_pattern_plus_noise_gives_its_variance_fraction(rng):
    x = np.linspace(-1.0, 1.0, 12)
    pattern = 0.8 * (x[None, :] + x[:, None] ** 2)  # a ramp and a bowl
    noise_std = 1.0
    features = pattern[None, None] + rng.normal(0.0, noise_std, size=(400, 3, 12, 12))
    expected = pattern.var() / (pattern.var() + noise_std ** 2)
    shares = channel_shares(features).share
    assert shares == pytest.approx(expected, abs=0.03)
    # the same pattern with no noise is all position
    assert channel_shares(np.repeat(pattern[None, None], 5, axis=0)).share[0] == pytest.approx(1.0)


def test_chunked_float16_memmap_equals_the_definition(rng, tmp_path):
    values = (rng.normal(0.0, 1.0, size=(37, 5, 6, 6)) + np.linspace(0, 2, 6)[None, None, None]
              + 40.0).astype(np.float16)  # a large mean: the shifted sums must not cancel
    path = tmp_path / "features.npy"
    np.save(path, values)
    mapped = np.load(path, mmap_mode="r")
    one_image_at_a_time = channel_shares(mapped, chunk_bytes=1)
    assert one_image_at_a_time.n_images == 37
    assert one_image_at_a_time.share == pytest.approx(direct_shares(values), rel=1e-6)
    assert channel_shares(mapped).share == pytest.approx(one_image_at_a_time.share, rel=1e-9)


def test_constant_channel_is_counted_not_scored(rng):
    features = rng.normal(size=(20, 3, 4, 4))
    features[:, 1] = 5.0
    table = position_share(features)
    assert table["constant_channels"][0] == 1 and np.isfinite(table["share"][0])
    assert np.isnan(position_share(features, per_channel=True)["share"][1])


def test_vgg16_zero_padding_shows_position_on_uniform_grey_and_circular_does_not():
    """Uniform grey inputs hold no position; only the border, seen through zero padding, can put it in the maps."""
    grey = np.stack([np.full((64, 64, 3), round(a * 255), np.uint8) for a in np.linspace(0.2, 0.8, 6)])
    shares = {rule: position_share(build_backbone("vgg16", "random", 0, 64, rule), grey).set_index("level")
              for rule in ("zeros", "circular")}
    assert list(shares["zeros"].index) == ["f1", "f2", "f3", "f4", "f5", "all"]
    assert (shares["circular"]["share"] < 1e-6).all(), shares["circular"]
    assert (shares["zeros"].loc[["f3", "f4", "f5", "all"], "share"] > 0.3).all(), shares["zeros"]
    assert shares["zeros"].loc["all", "share_weighted"] > 0.3


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def test_every_source_gives_the_same_table(rng):
    torch.manual_seed(0)
    model = Tiny()
    images = embedded_image_set("test", 32, 6)
    backbone = api.tap_model(model, ["conv1", "conv2"], input_size=32)
    # the cached features are resized to 28 x 28: compare the cache path with its own array
    cached = extract_features(api.model_feature_config(backbone, 32), images, backbone=backbone, progress=False)
    from_cache = position_share(cached)
    assert list(from_cache["level"]) == ["conv1", "conv2", "all"] and list(from_cache["channels"]) == [4, 6, 10]
    assert from_cache["share"].to_numpy()[:2] == pytest.approx(
        [np.nanmean(direct_shares(np.asarray(cached.array)[:, :4])),
         np.nanmean(direct_shares(np.asarray(cached.array)[:, 4:]))], rel=1e-5)
    # the backbone path reads the maps at their own resolution: the definition on the unresized maps
    from_backbone = poslib.position_share(backbone, images.images)
    maps = frozen_forward(backbone, torch.from_numpy(images.images).permute(0, 3, 1, 2).float() / 255)
    assert from_backbone["share"].to_numpy()[:2] == pytest.approx(
        [np.nanmean(direct_shares(m.numpy())) for m in maps], rel=1e-6)
    parts = backbone_channel_shares(backbone, images, batch_size=4)
    assert [len(p.share) for p in parts] == [4, 6]
    assert len(position_share(backbone, images, per_channel=True)) == 10
    assert list(position_share(cached, taps=["conv2"])["level"]) == ["conv2"]


def test_errors_and_callable_module():
    import poslib.position_share as module

    assert callable(module) and callable(poslib.position_share)
    with pytest.raises(ConfigError, match="needs images"):
        position_share(api.tap_model(Tiny(), "conv1", input_size=8))
    with pytest.raises(ConfigError, match="tap_model"):
        position_share(Tiny(), np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="unknown tap"):
        position_share(np.zeros((2, 1, 3, 3)), taps=["f1"])
