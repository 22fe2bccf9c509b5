import json

import numpy as np
import pytest

from poslib import features
from poslib.config import ConfigError, cache_dir
from poslib.data import ImageSet
from poslib.features import FeatureConfig, extract_features


@pytest.fixture
def tiny_set(rng):
    images = rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    return ImageSet("tiny", images, [str(i) for i in range(5)], "test", "dataset")


CONFIG = FeatureConfig("efficientnet-lite0", "random", input_size=32, feature_size=8)


def test_features_are_computed_once_then_read_from_the_cache(tiny_set, private_cache):
    features.FORWARD_PASSES.clear()
    first = extract_features(CONFIG, tiny_set, progress=False)
    assert first.array.shape == (5, 16 + 24 + 40 + 112 + 320, 8, 8) and first.array.dtype == np.float16
    second = extract_features(CONFIG, tiny_set, progress=False)
    assert features.FORWARD_PASSES == {CONFIG.label: 5}
    assert np.array_equal(first.array, second.array)
    assert not list(private_cache.rglob(".features.*"))  # no temporary file left behind


def test_key_changes_with_padding_and_images(tiny_set):
    features.FORWARD_PASSES.clear()
    extract_features(CONFIG, tiny_set, progress=False)
    extract_features(FeatureConfig("efficientnet-lite0", "random", padding_rule="replicate", input_size=32, feature_size=8),
                     tiny_set, progress=False)
    changed = ImageSet("tiny", tiny_set.images.copy(), tiny_set.ids, "test", "dataset")
    changed.images[0, 0, 0, 0] ^= 1
    extract_features(CONFIG, changed, progress=False)
    assert sum(features.FORWARD_PASSES.values()) == 15


def _entry(feature_set):
    return next(p for p in (cache_dir() / "features").rglob("meta.json")
                if json.loads(p.read_text())["key"] == feature_set.meta["key"]).parent


def test_truncated_cache_file_is_rebuilt(tiny_set):
    reference = np.array(extract_features(CONFIG, tiny_set, progress=False).array)
    folder = _entry(extract_features(CONFIG, tiny_set, progress=False))
    path = folder / "features.npy"
    path.write_bytes(path.read_bytes()[:1000])
    features.FORWARD_PASSES.clear()
    rebuilt = extract_features(CONFIG, tiny_set, progress=False)
    assert features.FORWARD_PASSES == {CONFIG.label: 5}
    assert np.array_equal(rebuilt.array, reference)


def test_cache_from_another_format_version_is_rebuilt(tiny_set, capsys):
    folder = _entry(extract_features(CONFIG, tiny_set, progress=False))
    meta = json.loads((folder / "meta.json").read_text())
    meta["format"] = features.CACHE_FORMAT_VERSION - 1
    (folder / "meta.json").write_text(json.dumps(meta))
    features.FORWARD_PASSES.clear()
    extract_features(CONFIG, tiny_set, progress=False)
    assert features.FORWARD_PASSES == {CONFIG.label: 5}
    assert "cache format" in capsys.readouterr().out


def test_channel_index_selects_taps(tiny_set):
    feature_set = extract_features(CONFIG, tiny_set, progress=False)
    assert feature_set.channel_index(["f1"]).tolist() == list(range(16))
    assert len(feature_set.channel_index(["f2", "f5"])) == 24 + 320
    with pytest.raises(ConfigError, match="f9"):
        feature_set.channel_index(["f9"])


def test_wrong_input_size_is_refused(tiny_set):
    with pytest.raises(ConfigError, match="input_size"):
        extract_features(FeatureConfig("none", "none", input_size=64), tiny_set, progress=False)


def test_non_finite_features_stop_with_a_clear_error(tiny_set, monkeypatch):
    from poslib import backbones

    def overflowing(weights, seed, input_size, padding):
        return backbones.TappedBackbone("overflow", "test", ["f1"], [3], lambda x: [x * 1e6], None)

    monkeypatch.setitem(backbones.BACKBONES, "overflow", overflowing)
    with pytest.raises(ConfigError, match="non-finite features"):
        extract_features(FeatureConfig("overflow", "test", input_size=32, feature_size=8), tiny_set, progress=False)
    # nothing half-written: no payload, no metadata (the entry's empty writer lock may stay; it holds nothing)
    assert not [p for p in cache_dir().rglob("*") if p.is_file() and p.name != ".writer.lock"]


def test_corrupted_features_of_the_same_size_are_rebuilt(tiny_set, capsys):
    from poslib import store

    reference = np.array(extract_features(CONFIG, tiny_set, progress=False).array)
    path = _entry(extract_features(CONFIG, tiny_set, progress=False)) / "features.npy"
    payload = bytearray(path.read_bytes())
    payload[-200:] = bytes(200)  # zero the end of the array: same size, same header
    path.write_bytes(bytes(payload))
    store._VERIFIED.clear()
    features.FORWARD_PASSES.clear()
    rebuilt = extract_features(CONFIG, tiny_set, progress=False)
    assert features.FORWARD_PASSES == {CONFIG.label: 5}
    assert np.array_equal(rebuilt.array, reference)
    assert "checksum" in capsys.readouterr().out


def test_tap_sizes_are_the_sides_before_resizing(tiny_set):
    feature_set = extract_features(CONFIG, tiny_set, progress=False)
    assert feature_set.tap_sizes == [16, 8, 4, 2, 1]  # strides 2, 4, 8, 16, 32 at a 32 px input
    sizes = feature_set.channel_sizes(np.array([0, 16, 511]))
    assert sizes.tolist() == [16, 8, 1]


def test_bfloat16_forward_is_close_to_float32_but_not_equal_and_is_part_of_the_key(tiny_set, monkeypatch):
    import torch

    from poslib.backbones import build_backbone

    backbone = build_backbone("vgg16", "random", 0, 32)
    images = features.images_to_tensor(tiny_set.images)
    with torch.inference_mode():
        plain = backbone(images)
    exact = features.frozen_forward(backbone, images, "float32")
    fast = features.frozen_forward(backbone, images, "bfloat16")
    for reference, same, rounded in zip(plain, exact, fast):
        assert same.dtype == rounded.dtype == torch.float32
        assert torch.allclose(same, reference, rtol=1e-4, atol=1e-5)
        difference = float((rounded - reference).norm() / reference.norm())
        assert 0 < difference < 0.03  # rounded, by less than 3 %: the stated tolerance's basis
    with pytest.raises(ConfigError, match="float64"):
        features.frozen_forward(backbone, images, "float64")
    features.FORWARD_PASSES.clear()
    extract_features(CONFIG, tiny_set, progress=False)
    monkeypatch.setattr(features, "FEATURE_COMPUTE", "float32")
    extract_features(CONFIG, tiny_set, progress=False)
    assert features.FORWARD_PASSES == {CONFIG.label: 10}  # the other numeric path is another cache entry
