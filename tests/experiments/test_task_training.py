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
