"""poslib.experiments.task_training: Table 5 helpers and the training-curve figure."""

import pandas as pd

from poslib.experiments import task_training
from poslib.training import FULL_FRAME, SHARED_REGION


def test_shared_rows_keep_what_claim_7_compares():
    table = pd.DataFrame({"scored_on": [SHARED_REGION, FULL_FRAME], "value": [1, 2]})
    (a, b) = task_training.shared_rows(table, table)
    assert a["value"].tolist() == [1] and b["value"].tolist() == [1]


def test_iou_by_class_has_a_column_per_region_and_rule():
    table = pd.DataFrame({"metric": ["iou", "iou", "miou"], "class": ["sky", "sky", "all"],
                          "scored_on": [SHARED_REGION] * 3, "padding_rule": ["zeros", "valid", "zeros"],
                          "value": [0.5, 0.25, 0.4]})
    view = task_training.iou_by_class(table)
    assert view.loc["sky"].tolist() == [0.5, 0.25] and "all" not in view.index


def test_training_curves_have_a_panel_per_task_and_a_band_per_rule():
    history = pd.DataFrame([{"task": task, "padding_rule": rule, "seed": seed, "epoch": epoch, "loss": 1.0 / (epoch + 1)}
                            for task in ("saliency", "segmentation", "classification")
                            for rule in ("zeros", "valid") for seed in (0, 1) for epoch in range(3)])
    figure = task_training.plot_training_curves(history)
    assert [a.get_title() for a in figure.axes] == ["saliency", "segmentation", "classification"]
    assert all(len(a.lines) == 2 and len(a.collections) == 2 for a in figure.axes)
    assert figure.axes[0].lines[0].get_xdata().tolist() == [1, 2, 3]


# ----------------------------------------------------------------------------- per-image rows behind Table 5

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from poslib import metrics, scenes  # noqa: E402
from poslib.tables import aggregate_over_seeds  # noqa: E402
from poslib.task_data import TaskData  # noqa: E402
from poslib.training import SCORE_LABELS, TrainConfig, TrainedModel  # noqa: E402

RULES, SEEDS = ("zeros", "valid"), (0, 1)


def untrained_models(task: str, n_outputs: int) -> dict:
    """One freshly initialised model per padding rule and seed (their predictions differ: all scoring needs)."""
    def model(rule, seed):
        config = TrainConfig(task, rule, n_outputs, epochs=1, seed=seed)
        return TrainedModel(config, config.build_model().eval(), pd.DataFrame(), Path("unused"), "", False)
    return {rule: [model(rule, seed) for seed in SEEDS] for rule in RULES}


@pytest.fixture(scope="module")
def saliency_data():
    tests = [scenes.saliency_scenes("test", 5, 112, seed=1, name="A"),
             scenes.saliency_scenes("test", 3, 112, seed=2, name="B")]
    return TaskData("saliency", tests[0], tests, ("salient",), 255, True)


@pytest.fixture(scope="module")
def segmentation_data():
    test = scenes.segmentation_scenes("test", 4, (112, 112), seed=1, name="S")
    return TaskData("segmentation", test, [test], tuple(scenes.SEGMENTATION_CLASSES), scenes.SCENE_IGNORE_INDEX, True)


def model_keys(table):
    """(padding rule, test set, scored region) rows of a Table-5 summary."""
    return table[["padding_rule", "test_set", "scored_on"]].drop_duplicates()


def test_saliency_per_image_rows_recompute_table_5a(saliency_data):
    scored = task_training.score_saliency(untrained_models("saliency", 1), saliency_data)
    rows, table = scored.per_image, scored.table
    expected = SCORE_LABELS + ["image", "image_id", "max_f", "mean_f", "mae", "raw_max_f", "raw_mae"]
    assert set(expected) <= set(rows.columns)
    # one row per (rule, seed, test set, region, image), every image of every test set
    assert not rows.duplicated(SCORE_LABELS + ["image"]).any()
    sizes = {t.name: len(t) for t in saliency_data.tests}
    counts = rows.groupby(SCORE_LABELS).size().reset_index(name="n")
    assert (counts["n"] == counts["test_set"].map(sizes)).all()
    assert len(rows) == sum(len(model_keys(table)[model_keys(table)["test_set"] == n]) * len(SEEDS) * k
                            for n, k in sizes.items())
    assert rows[rows["test_set"] == "B"]["image_id"].tolist()[:3] == saliency_data.tests[1].ids
    # the mean over a model's images, then mean and std over seeds, is the table (max F from the set's curve)
    per_seed = rows.groupby(SCORE_LABELS, sort=False)[task_training.SALIENCY_SCORES].mean().reset_index()
    again = aggregate_over_seeds(per_seed, ["padding_rule", "test_set", "scored_on"], task_training.SALIENCY_SCORES)
    columns = task_training.SALIENCY_SCORES + [f"{s}_std" for s in task_training.SALIENCY_SCORES]
    np.testing.assert_allclose(again[columns].to_numpy(float), table[columns].to_numpy(float), rtol=0, atol=1e-12)
    # an image's own best threshold is an upper bound of its F at the model's threshold
    assert (rows["image_max_f"] >= rows["max_f"] - 1e-12).all()


def test_segmentation_per_image_counts_recompute_table_5b(segmentation_data):
    scored = task_training.score_segmentation(untrained_models("segmentation", len(segmentation_data.class_names)),
                                              segmentation_data)
    rows, table = scored.per_image, scored.table
    assert set(SCORE_LABELS + ["image", "image_id", "class", "tp", "fp", "fn", "iou"]) <= set(rows.columns)
    n_classes, n_images = len(segmentation_data.class_names), len(segmentation_data.tests[0])
    assert not rows.duplicated(SCORE_LABELS + ["image", "class"]).any()
    assert (rows.groupby(SCORE_LABELS).size() == n_images * n_classes).all()
    per_seed = pd.concat([metrics.scores_from_counts(part, segmentation_data.class_names).assign(
        **dict(zip(SCORE_LABELS, key))) for key, part in rows.groupby(SCORE_LABELS, sort=False)], ignore_index=True)
    again = aggregate_over_seeds(per_seed, ["padding_rule", "test_set", "scored_on", "metric", "class"], ["value"])
    keys = ["padding_rule", "test_set", "scored_on", "metric", "class"]
    merged = table.merge(again, on=keys, suffixes=("", "_again"))
    assert len(merged) == len(table) > 0
    np.testing.assert_allclose(merged["value_again"], merged["value"], rtol=0, atol=1e-12)  # NaN where NaN
    np.testing.assert_allclose(merged["value_std_again"], merged["value_std"], rtol=0, atol=1e-12)
