"""poslib.training: training from scratch, determinism, the weight cache, evaluation."""

import dataclasses

import numpy as np
import pytest
import torch

from poslib import scenes, segnet, training
from poslib.backbones import build_backbone
from poslib.segnet import VGG_SMALL_WIDTHS


@pytest.fixture(scope="module")
def tiny_scenes():
    return scenes.saliency_scenes("train", 8, 112, seed=0)


def test_short_training_reduces_the_loss(tiny_scenes):
    config = training.TrainConfig("saliency", "zeros", 1, epochs=4, batch_size=4, lr=3e-3)
    _, history = training.train_model(config, tiny_scenes, progress=False)
    per_epoch = history.groupby("epoch")["loss"].mean()
    assert per_epoch.iloc[-1] < 0.8 * per_epoch.iloc[0]


def test_pixel_tasks_learn_only_from_the_pixels_they_predict(tiny_scenes):
    config = training.TrainConfig("saliency", "valid", 1, epochs=1, batch_size=4)
    region = config.region(112, 112)
    assert region == segnet.output_region(112, 112, padding_rule="valid")
    changed = dataclasses.replace(tiny_scenes, targets=tiny_scenes.targets.copy())
    changed.targets[:, :region.top] = 1 - changed.targets[:, :region.top]  # outside the region only
    same = training.train_model(config, tiny_scenes, progress=False)[1]["loss"]
    np.testing.assert_array_equal(same, training.train_model(config, changed, progress=False)[1]["loss"])
    changed.targets[:, region.top] = 1 - changed.targets[:, region.top]  # one row inside: the loss changes
    assert not np.array_equal(same, training.train_model(config, changed, progress=False)[1]["loss"])


def test_classification_learns_soft_labels_and_refuses_non_distributions(tiny_scenes):
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(5), size=len(tiny_scenes)).astype(np.float32)
    pairs = dataclasses.replace(tiny_scenes, targets=soft)
    config = training.TrainConfig("classification", "zeros", 5, epochs=12, batch_size=8, lr=3e-3, flip=False)
    model, history = training.train_model(config, pairs, progress=False)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert set(model.state_dict()) >= {"encoder.stages.0.0.0.weight", "classifier.weight"}
    from poslib.data import DatasetError

    with pytest.raises(DatasetError, match="probability vector of 5 classes"):
        training.train_model(config, dataclasses.replace(tiny_scenes, targets=soft * 2), progress=False)


def test_segmentation_training_ignores_void_and_is_deterministic():
    pairs = scenes.segmentation_scenes("train", 4, (112, 112), seed=0)
    pairs.targets[:, :10] = scenes.SCENE_IGNORE_INDEX
    config = training.TrainConfig("segmentation", "zeros", 4, epochs=1, batch_size=2)
    first = training.train_model(config, pairs, progress=False)[1]["loss"].to_numpy()
    second = training.train_model(config, pairs, progress=False)[1]["loss"].to_numpy()
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


def test_weight_cache_loads_the_trained_weights_and_rebuilds_a_corrupt_entry(tmp_path, tiny_scenes):
    config = training.TrainConfig("saliency", "valid", 1, epochs=1, batch_size=4)
    first = training.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    second = training.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    assert not first.from_cache and second.from_cache
    images = tiny_scenes.images[:2]
    fresh = config.build_model().eval()  # same seed, untrained: a loaded model must differ from it
    np.testing.assert_array_equal(training.predict_logits(first.model, images),
                                  training.predict_logits(second.model, images))
    assert not np.allclose(training.predict_logits(fresh, images), training.predict_logits(second.model, images))
    first.weights_path.write_bytes(b"truncated")
    third = training.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    assert not third.from_cache
    assert training.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False).from_cache


def test_trained_encoder_loads_as_a_tapped_backbone(tmp_path, tiny_scenes):
    config = training.TrainConfig("saliency", "zeros", 1, epochs=1, batch_size=4)
    trained = training.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    backbone = build_backbone("vggsmall", str(trained.weights_path), 0, 112, "zeros")
    assert backbone.weights_id.startswith("file:") and backbone.tap_channels == list(VGG_SMALL_WIDTHS)
    image = torch.rand(1, 3, 112, 112)
    with torch.no_grad():
        for tap, expected in zip(backbone(image), trained.model.encoder(image)):
            torch.testing.assert_close(tap, expected)


def test_out_of_range_targets_are_refused_before_training():
    from poslib.data import DatasetError

    pairs = scenes.segmentation_scenes("train", 2, (32, 32), seed=0)
    pairs.targets[0, 0, 0] = 200
    config = training.TrainConfig("segmentation", "zeros", 4, epochs=1, batch_size=2,
                                  ignore_index=scenes.SCENE_IGNORE_INDEX)
    with pytest.raises(DatasetError, match=r"hold value\(s\) \[200\].*class ids 0\.\.3"):
        training.train_model(config, pairs, progress=False)
    masks = scenes.saliency_scenes("train", 2, 32, seed=0)
    masks.targets[0, 0, 0] = 255  # a 0/255 mask that skipped binarisation
    with pytest.raises(DatasetError, match=r"\[255\].*0/1"):
        training.train_model(training.TrainConfig("saliency", "zeros", 1, epochs=1), masks, progress=False)
