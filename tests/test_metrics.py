import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata, spearmanr

from poslib import metrics


def test_spearman_agrees_with_scipy(rng):
    predictions = rng.random((4, 10, 10))
    target = rng.random((10, 10))
    spc, constant = metrics.spearman_per_image(predictions, target)
    expected = [spearmanr(p.ravel(), target.ravel())[0] for p in predictions]
    assert np.allclose(spc, expected) and not constant.any()


def test_average_ranks_equal_scipys_with_and_without_ties(rng):
    distinct = rng.random((3, 500))
    tied = np.round(rng.random((3, 500)), 1)  # about 11 values: large tie groups, at both ends too
    tied[1] = 0.5
    for values in (distinct, tied, distinct.astype(np.float32)):
        assert np.array_equal(metrics.average_ranks(values), rankdata(values, axis=1))


def test_average_ranks_differ_from_plain_positions_when_ties_exist():
    ranks = metrics.average_ranks(np.array([[2.0, 2.0, 1.0]]))
    assert ranks.tolist() == [[2.5, 2.5, 1.0]] and ranks.tolist() != [[2.0, 3.0, 1.0]]


def test_spearman_handles_ties_in_the_target():
    target = np.repeat(np.arange(4.0), 4)  # like the H ramp: every value repeated
    prediction = target + np.linspace(0, 0.1, 16)
    spc, _ = metrics.spearman_per_image(prediction[None], target)
    assert spc[0] == pytest.approx(spearmanr(prediction, target)[0])


def test_constant_prediction_scores_zero_and_is_counted():
    spc, constant = metrics.spearman_per_image(np.full((2, 5, 5), 0.3), np.arange(25.0).reshape(5, 5))
    assert spc.tolist() == [0.0, 0.0] and constant.tolist() == [True, True]


def test_mae_by_hand():
    assert metrics.mae_per_image(np.array([[0.0, 1.0, 0.5, 0.5]]), np.array([1.0, 1.0, 0.0, 0.5]))[0] == pytest.approx(0.375)


def test_rounding_noise_counts_as_constant():
    noisy = 0.3 + 1e-8 * np.random.default_rng(0).standard_normal((1, 25))
    spc, constant = metrics.spearman_per_image(noisy, np.arange(25.0))
    assert constant[0] and spc[0] == 0.0


def test_saliency_scores_hand_cases():
    mask = np.zeros((1, 10, 10), np.uint8)
    mask[0, :, :5] = 1
    perfect = metrics.saliency_scores(mask.astype(float), mask)
    assert perfect["max_f"] == pytest.approx(1.0) and perfect["mae"] == pytest.approx(0.0)
    inverted = metrics.saliency_scores(1.0 - mask.astype(float), mask)
    assert inverted["mae"] == pytest.approx(1.0)
    half = metrics.saliency_scores(np.full((1, 10, 10), 0.5), mask)
    assert half["raw_mae"] == pytest.approx(0.5)
    # everything predicted salient: precision 0.5, recall 1 -> F = 1.3 * 0.5 / (0.3 * 0.5 + 1)
    assert half["raw_max_f"] == pytest.approx(1.3 * 0.5 / (0.3 * 0.5 + 1.0), abs=1e-3)
    assert half["max_f"] == pytest.approx(half["raw_max_f"], abs=1e-3)  # a constant map is not stretched


def test_standard_protocol_normalises_each_map_and_raw_scores_do_not():
    mask = np.zeros((2, 10, 10), np.uint8)
    mask[:, :, :5] = 1
    unsure = 0.45 + 0.1 * mask  # right ranking, probabilities near 0.5
    scores = metrics.saliency_scores(unsure, mask)
    assert scores["max_f"] == pytest.approx(1.0) and scores["mae"] == pytest.approx(0.0, abs=1e-9)
    assert scores["raw_mae"] == pytest.approx(0.45, abs=1e-6) and scores["raw_mean_f"] < scores["mean_f"]


def test_confusion_matrix_and_iou_hand_case():
    target = np.array([[0, 0, 1, 1], [2, 2, 2, 9]])
    predicted = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    confusion = metrics.confusion_matrix(predicted, target, 3, ignore_index=9)
    assert confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    np.testing.assert_allclose(metrics.class_iou(confusion), [1 / 3, 2 / 3, 2 / 3])
    table = metrics.segmentation_scores(predicted, target, ("a", "b", "c"), ignore_index=9)
    assert table.loc[table["metric"] == "miou", "value"].item() == pytest.approx(5 / 9)
    assert np.isnan(metrics.class_iou(np.array([[1, 0], [0, 0]]))[1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_predictions_are_an_error_not_spc_zero(bad):
    predictions = np.tile(np.arange(25.0), (3, 1))
    predictions[1, 7] = bad
    with pytest.raises(ValueError, match=r"non-finite.*1 of 3.*\[1\].*readout or the features overflowed"):
        metrics.spearman_per_image(predictions, np.arange(25.0))
    with pytest.raises(ValueError, match="non-finite"):
        metrics.mae_per_image(predictions, np.arange(25.0))
    all_nan = np.full((1, 25), np.nan)  # used to come out as a "constant" prediction with SPC 0
    with pytest.raises(ValueError, match="non-finite"):
        metrics.spearman_per_image(all_nan, np.arange(25.0))


def test_per_image_saliency_scores_average_to_the_sets():
    rng = np.random.default_rng(0)
    masks = rng.random((6, 12, 12)) > 0.6
    probabilities = np.clip(masks * 0.5 + rng.random((6, 12, 12)) * 0.6, 0, 1)
    scores, per_image = metrics.saliency_evaluation(probabilities, masks)
    assert scores == metrics.saliency_scores(probabilities, masks) and len(per_image) == 6
    for name in ("max_f", "mean_f", "adaptive_f", "mae", "raw_max_f", "raw_mean_f", "raw_mae"):
        assert abs(per_image[name].mean() - scores[name]) < 1e-12, name
    # each image's own best threshold beats the set's on average: it is not what the table reports
    assert per_image["image_max_f"].mean() > scores["max_f"]


def test_per_image_segmentation_counts_sum_to_the_sets_scores():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, (5, 8, 8))  # 3 = void
    predicted = rng.integers(0, 3, (5, 8, 8))
    scores, per_image = metrics.segmentation_evaluation(predicted, target, ["a", "b", "c"], ignore_index=3)
    pd.testing.assert_frame_equal(scores, metrics.segmentation_scores(predicted, target, ["a", "b", "c"], 3))
    pd.testing.assert_frame_equal(metrics.scores_from_counts(per_image), scores)
    assert len(per_image) == 15 and per_image["tp"].sum() == (predicted == target).sum()
