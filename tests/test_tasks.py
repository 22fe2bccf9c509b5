"""Tests of poslib.tasks: training, weight cache, metrics, crop shift, paired loaders."""

import numpy as np
import pytest
import torch
from PIL import Image

from poslib import data, scenes, tasks
from poslib.backbones import build_backbone


@pytest.fixture(scope="module")
def tiny_scenes():
    return scenes.saliency_scenes("train", 8, 96, seed=0)


def test_padding_variants_have_the_same_weights_count():
    counts = {p: tasks.count_parameters(tasks.EncoderDecoder(3, p)) for p in ("zeros", "none", "reflect")}
    assert len(set(counts.values())) == 1
    output = tasks.EncoderDecoder(3, "none").eval()(torch.rand(1, 3, 96, 96))
    assert output.shape == (1, 3, 96, 96)  # the smaller unpadded output is resized to the input


def test_short_training_reduces_the_loss(tiny_scenes):
    config = tasks.TrainConfig("saliency", "zeros", 1, epochs=4, batch_size=4, lr=3e-3)
    _, history = tasks.train_model(config, tiny_scenes, progress=False)
    per_epoch = history.groupby("epoch")["loss"].mean()
    assert per_epoch.iloc[-1] < 0.8 * per_epoch.iloc[0]


def test_segmentation_training_ignores_void_and_is_deterministic():
    pairs = scenes.segmentation_scenes("train", 4, (96, 96), seed=0)
    pairs.targets[:, :10] = scenes.SCENE_IGNORE_INDEX
    config = tasks.TrainConfig("segmentation", "zeros", 4, epochs=1, batch_size=2)
    first = tasks.train_model(config, pairs, progress=False)[1]["loss"].to_numpy()
    second = tasks.train_model(config, pairs, progress=False)[1]["loss"].to_numpy()
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


def test_weight_cache_reuses_and_rebuilds_a_corrupt_entry(tmp_path, tiny_scenes):
    config = tasks.TrainConfig("saliency", "none", 1, epochs=1, batch_size=4)
    first = tasks.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    second = tasks.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    assert not first.from_cache and second.from_cache
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name])
    first.weights_path.write_bytes(b"truncated")
    third = tasks.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    assert not third.from_cache
    assert tasks.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False).from_cache


def test_trained_encoder_loads_as_a_tapped_backbone(tmp_path, tiny_scenes):
    config = tasks.TrainConfig("saliency", "zeros", 1, epochs=1, batch_size=4)
    trained = tasks.trained_model(config, tiny_scenes, cache_root=tmp_path, progress=False)
    backbone = build_backbone("vggsmall", str(trained.weights_path), 0, 96, "zeros")
    assert backbone.weights_id.startswith("file:") and backbone.tap_channels == list(tasks.VGG_SMALL_WIDTHS)
    taps = backbone(torch.rand(1, 3, 96, 96))
    expected = trained.model.encoder(torch.rand(1, 3, 96, 96))
    assert [t.shape for t in taps] == [t.shape for t in expected]
    assert len(build_backbone("vggsmall", "random", 0, 96, "none")(torch.rand(1, 3, 96, 96))) == 5


def test_saliency_scores_hand_cases():
    mask = np.zeros((1, 10, 10), np.uint8)
    mask[0, :, :5] = 1
    perfect = tasks.saliency_scores(mask.astype(float), mask)
    assert perfect["max_f"] == pytest.approx(1.0) and perfect["mae"] == pytest.approx(0.0)
    inverted = tasks.saliency_scores(1.0 - mask.astype(float), mask)
    assert inverted["mae"] == pytest.approx(1.0)
    half = tasks.saliency_scores(np.full((1, 10, 10), 0.5), mask)
    assert half["mae"] == pytest.approx(0.5)
    # everything predicted salient: precision 0.5, recall 1 -> F = 1.3 * 0.5 / (0.3 * 0.5 + 1)
    assert half["max_f"] == pytest.approx(1.3 * 0.5 / (0.3 * 0.5 + 1.0), abs=1e-3)


def test_confusion_matrix_and_iou_hand_case():
    target = np.array([[0, 0, 1, 1], [2, 2, 2, 9]])
    predicted = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    confusion = tasks.confusion_matrix(predicted, target, 3, ignore_index=9)
    assert confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    iou = tasks.class_iou(confusion)
    np.testing.assert_allclose(iou, [1 / 3, 2 / 3, 2 / 3])
    table = tasks.segmentation_scores(predicted, target, ("a", "b", "c"), ignore_index=9)
    miou = table.loc[table["metric"] == "miou", "value"].item()
    assert miou == pytest.approx(5 / 9)
    assert np.isnan(tasks.class_iou(np.array([[1, 0], [0, 0]]))[1])


def test_centroid_and_crop_shift_of_a_translation_invariant_model():
    maps = np.zeros((2, 6, 8))
    maps[0, 2, 6] = 1.0
    cy, cx = tasks.saliency_centroid(maps)
    assert (cy[0], cx[0]) == (2.5, 6.5) and np.isnan(cx[1])
    model = tasks.EncoderDecoder(1, "none").eval()
    images = scenes.saliency_scenes("test", 2, 112, seed=1).images
    table = tasks.crop_shift(model, images, (0.1,))
    assert set(table.columns) >= {"shift_x", "toward_centre", "kept_width"}
    with pytest.raises(Exception, match="too narrow"):
        tasks.crop_shift(model, images, (0.5,))


def _write_pair(folder, stem, image_size, mask_size):
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(image_size[::-1] + (3,), np.uint8)).save(folder / "images" / f"{stem}.jpg")
    Image.fromarray(np.full(mask_size[::-1], 255, np.uint8)).save(folder / "masks" / f"{stem}.png")


def test_loader_rejects_mismatched_sizes_naming_the_file(tmp_path):
    _write_pair(tmp_path, "good", (40, 30), (40, 30))
    _write_pair(tmp_path, "bad", (40, 30), (20, 30))
    with pytest.raises(data.DatasetError, match="bad"):
        data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (32, 32), binary=True)


def test_loader_rejects_unpaired_files_and_binarises_masks(tmp_path):
    _write_pair(tmp_path, "a", (40, 30), (40, 30))
    loaded = data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (16, 24), binary=True)
    assert loaded.images.shape == (1, 16, 24, 3) and set(np.unique(loaded.targets)) == {1}
    (tmp_path / "masks" / "a.png").rename(tmp_path / "masks" / "b.png")
    with pytest.raises(data.DatasetError, match="do not pair up"):
        data.load_paired_folder(tmp_path / "images", tmp_path / "masks", (16, 16), binary=True)
