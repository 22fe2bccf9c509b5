import numpy as np
import pandas as pd
import pytest

from poslib import probing
from poslib.config import Profile
from poslib.features import FeatureConfig

TINY = Profile(name="tiny", n_train=6, n_test=3, epochs=2, seeds=(0, 1), backbones=(("none", "none"),),
               input_size=32, batch_size=4)


def test_summarise_means_over_images_then_seeds():
    per_image = pd.DataFrame({
        "backbone": "b", "weights": "w", "test_set": "t", "pattern": "H",
        "seed": [0, 0, 1, 1], "image": [0, 1, 0, 1],
        "spc": [0.2, 0.4, 0.6, 0.8], "mae": [0.1, 0.1, 0.3, 0.3], "constant": [False, True, False, False]})
    row = probing.summarise(per_image, by=["backbone", "weights", "test_set", "pattern"]).iloc[0]
    # per-seed means 0.3 and 0.7: sample standard deviation (ddof=1) = 0.4 / sqrt(2)
    assert row["spc"] == pytest.approx(0.5) and row["spc_std"] == pytest.approx(0.4 / 2 ** 0.5)
    assert row["mae"] == pytest.approx(0.2) and row["n_seeds"] == 2 and row["n_images"] == 2
    assert row["n_constant"] == 1


@pytest.fixture
def tiny_images():
    return probing.prepare_images(TINY, data_root="", train="embedded", test="embedded")


def test_probe_returns_one_row_per_seed_test_set_pattern_and_image(tiny_images):
    bundle = probing.extract_bundle(FeatureConfig("none", "none", input_size=32), tiny_images, progress=False)
    result = probing.probe(bundle, probing.readout_config_for(TINY), TINY.readout_seeds, progress=False)
    per_image = result.per_image
    assert len(per_image) == 2 * 5 * (3 + 1 + 1 + TINY.n_noise)  # Noise is n_noise independent images
    assert set(per_image["test_set"]) == {"embedded-test", "black", "white", "noise"}
    black = per_image[per_image["test_set"] == "black"]
    assert black["constant"].all() and (black["spc"] == 0).all()  # a constant image gives a constant map


def test_same_seed_gives_the_same_table(tiny_images):
    def table():
        bundle = probing.extract_bundle(FeatureConfig("efficientnet-lite0", "random", input_size=32), tiny_images,
                                        progress=False)
        result = probing.probe(bundle, probing.readout_config_for(TINY), (0,), progress=False)
        return probing.summarise(result.per_image)
    pd.testing.assert_frame_equal(table(), table())


def test_missing_weights_skip_the_row_with_a_reason(tiny_images, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    probed = probing.probe_backbones([("none", "none"), ("resnet152", "imagenet")], tiny_images,
                                     probing.readout_config_for(TINY), (0,), 32, progress=False)
    assert set(probed.per_image["backbone"]) == {"pixels"}  # the old name 'none' is an alias
    skipped = probed.skipped_records()
    assert skipped[0]["backbone"] == "resnet152" and "checkpoints" in skipped[0]["reason"]
    assert skipped[0]["cause"] == probing.SKIP_WEIGHTS_MISSING


def test_an_unsupported_padding_rule_is_skipped_with_its_true_cause(tiny_images):
    probed = probing.probe_rows([FeatureConfig("pixels", "none", padding_rule="valid", input_size=32)], tiny_images,
                                probing.readout_config_for(TINY), (0,), progress=False)
    assert probed.per_image.empty
    assert probed.skipped[0].cause == probing.SKIP_PADDING_UNSUPPORTED and "no convolution" in probed.skipped[0].reason


def test_embedded_default_is_announced(tiny_images):
    assert tiny_images.uses_embedded_default and "EMBEDDED DEFAULT" in tiny_images.notice()


def test_real_data_is_not_announced_as_embedded(data_root):
    if data_root is None or not (data_root / "ECSSD").is_dir():
        pytest.skip("no datasets on this machine (set POSLIB_DATA to the dataset folder)")
    images = probing.prepare_images(TINY, data_root=str(data_root))
    assert not images.uses_embedded_default and images.train.name == "ECSSD"
    assert [t.name for t in images.natural_tests] == ["PASCAL-S", "SOD"]  # the paper's test set, then a second one
    assert [t.name for t in images.synthetic_tests] == ["black", "white", "noise"]
    assert np.all([len(images.train) == 6, len(images.natural_test) == 3, len(images.synthetic_tests[-1]) == 30])


def test_near_duplicate_test_images_are_dropped_before_the_subset(rng):
    from poslib.data import ImageSet

    photos = [np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8) for _ in range(6)]
    train = ImageSet("train", np.stack(photos[:3]), ["a", "b", "c"], "test", "dataset")
    copy_of_b = np.clip(photos[1].astype(int) + 3, 0, 255).astype(np.uint8)  # a re-encoded copy
    candidates = ImageSet("test", np.stack([photos[3], copy_of_b, photos[4], photos[5]]), ["d", "b2", "e", "f"],
                          "test", "dataset")
    test, removed = probing.without_near_duplicates(train, candidates, limit=3)
    assert removed == [{"test": "b2", "train": "b", "distance": 0}] or removed[0]["test"] == "b2"
    assert len(removed) == 1 and len(test) == 3 and "b2" not in test.ids


def test_every_image_set_keeps_its_size_after_dropping_duplicates(tiny_images):
    assert len(tiny_images.natural_test) == TINY.n_test and "near-duplicates" in tiny_images.notice()
