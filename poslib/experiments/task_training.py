"""Table 5: the task networks of notebook 05, trained with and without padding, and their scores.

One small VGG-style encoder-decoder per task (saliency, segmentation), padding rule and
training seed, and the same encoder trained for classification (ImageNet labels distilled
from EfficientNet-Lite0), all with the schedule of the profile's
:class:`poslib.config.TaskSettings`. The models come from :mod:`poslib.training` (trained
once, then loaded from the weight cache); this module turns them into the published tables
and figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Profile
from ..tables import aggregate_over_seeds
from ..segnet import Region, shared_region
from ..task_data import TaskData
from ..training import SHARED_REGION, TrainedModel, predict_labels, predict_saliency, scoring_region
from ..training import score_saliency as training_score_saliency
from ..training import score_segmentation as training_score_segmentation
from ..training import train_task_models, training_histories

#: Score columns of Table 5 (a), each with its ``_std`` over training seeds.
SALIENCY_SCORES = ["max_f", "mean_f", "mae", "raw_max_f", "raw_mean_f", "raw_mae"]
#: The scoring protocol named in every Table 5 (a) row.
SALIENCY_PROTOCOL = "standard (per-image min-max normalised 8-bit maps); raw_*: unnormalised"

Models = dict[str, list[TrainedModel]]


def train_task_networks(profile: Profile, saliency: TaskData, segmentation: TaskData,
                        classification: TaskData) -> dict[str, Models]:
    """Every task network of notebook 05 (trained, or loaded from the weight cache).

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.tasks` (padding rules, epochs, batch size,
        training seeds, distillation temperature).
    saliency, segmentation, classification : TaskData
        The three tasks' data; classification trains with zero padding only.

    Returns
    -------
    dict
        ``task -> padding rule -> [TrainedModel, one per training seed]``.
    """
    settings = profile.tasks
    return {"saliency": train_task_models(saliency, settings.padding_rules, settings.saliency_epochs,
                                          settings.batch_size, settings.training_seeds),
            "segmentation": train_task_models(segmentation, settings.padding_rules, settings.segmentation_epochs,
                                              settings.batch_size, settings.training_seeds),
            "classification": train_task_models(classification, ("zeros",), settings.classification_epochs,
                                                settings.batch_size, settings.training_seeds,
                                                temperature=settings.distillation_temperature)}


def histories(trained: dict[str, Models]) -> pd.DataFrame:
    """Mean training loss per epoch of every network (:func:`poslib.training.training_histories`, all tasks)."""
    return pd.concat([training_histories(models) for models in trained.values()], ignore_index=True)


def model_records(trained: dict[str, Models]) -> dict[str, dict]:
    """Provenance of every network: ``label -> {"from_cache", **meta}``."""
    return {m.label: {"from_cache": m.from_cache, **m.meta}
            for models in trained.values() for per_rule in models.values() for m in per_rule}


def plot_training_curves(history: pd.DataFrame):
    """Training loss per epoch: a panel per task, a line per padding rule (mean over seeds; band: min to max).

    Parameters
    ----------
    history : pandas.DataFrame
        Output of :func:`histories`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..report import line_panels

    curves = (history.groupby(["task", "padding_rule", "epoch"], sort=False)["loss"].agg(["mean", "min", "max"])
              .reset_index().sort_values("epoch", kind="stable"))
    return line_panels(curves.assign(epoch=curves["epoch"] + 1), "epoch", "mean", hue="padding_rule", col="task",
                       band=("min", "max"), figsize=(12, 3.2), sharey=False, panel_title=lambda _, task: task,
                       panel_title_size=None, xlabel="epoch", ylabel="training loss", label_every_panel=True,
                       legend_title="padding rule", legend_panel="first")


def shared_regions(datasets, padding_rules) -> dict[str, Region]:
    """The pixels every padding variant predicts, per task: what Table 5 scores all variants on.

    Parameters
    ----------
    datasets : iterable of TaskData
    padding_rules : iterable of str

    Returns
    -------
    dict
        ``task -> Region`` at the task's training image size.
    """
    return {data.task: shared_region(*data.train.images.shape[1:3], padding_rules) for data in datasets}


def describe_regions(regions: dict[str, Region], datasets, padding_rules) -> str:
    """Markdown lines naming each task's shared region (:func:`shared_regions`)."""
    return "\n".join(f"- {task}: all variants scored on {region.describe(*data.train.images.shape[1:3])}, the pixels "
                     f"every variant ({', '.join(padding_rules)}) predicts."
                     for (task, region), data in zip(regions.items(), datasets))


@dataclass
class Table5:
    """One half of Table 5 and the per-image rows behind it.

    Attributes
    ----------
    table : pandas.DataFrame
        The published summary (mean and std over training seeds).
    per_image : pandas.DataFrame
        One row per padding rule, training seed, test set, scored region and test image
        (and class, for segmentation): what every number of ``table`` is recomputed from.
    """

    table: pd.DataFrame
    per_image: pd.DataFrame


def score_saliency(models: Models, data: TaskData) -> Table5:
    """Table 5 (a): saliency scores per padding rule, test set and scored region, mean and std over seeds.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]`` of the saliency task.
    data : TaskData

    Returns
    -------
    Table5
        ``table``: padding, test_set, scored_on, :data:`SALIENCY_SCORES` with their ``_std``,
        n_seeds, n_images and ``protocol``. ``per_image``:
        :func:`poslib.training.score_saliency` (per image, the mean over a model's images of
        each score is the model's value, whose mean over seeds is the table's).
    """
    per_seed, per_image = training_score_saliency(models, data)
    table = aggregate_over_seeds(per_seed, ["padding_rule", "test_set", "scored_on"], SALIENCY_SCORES,
                                 n_images=("n_images", "max")).assign(protocol=SALIENCY_PROTOCOL)
    return Table5(table, per_image)


def score_segmentation(models: Models, data: TaskData) -> Table5:
    """Table 5 (b): IoU per class, mIoU and pixel accuracy per padding rule, mean and std over seeds.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]`` of the segmentation task.
    data : TaskData

    Returns
    -------
    Table5
        ``table``: padding, test_set, scored_on, metric, class, value, value_std, n_seeds.
        ``per_image``: pixel counts (tp, fp, fn) and IoU per image and class
        (:func:`poslib.training.score_segmentation`); a model's scores are its summed counts'
        (:func:`poslib.metrics.scores_from_counts`), the data set's IoU as the literature
        reports it, not a mean of per-image IoUs.
    """
    per_seed, per_image = training_score_segmentation(models, data)
    table = aggregate_over_seeds(per_seed, ["padding_rule", "test_set", "scored_on", "metric", "class"], ["value"])
    return Table5(table, per_image)


def plot_examples(models: Models, data: TaskData, n_images: int = 4):
    """Test images, ground truth and each variant's prediction (first training seed) on the shared region.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]`` of one pixel task.
    data : TaskData
        Saliency (maps in [0, 1]) or segmentation (class ids coloured with ``tab20``; void dark).
    n_images : int
        First images of the first test set shown (at most).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..report import show_maps

    test = data.tests[0]
    shown = list(range(min(n_images, len(test))))
    region = scoring_region(models, test)
    inputs = [region.crop(test.images[i].transpose(2, 0, 1)).transpose(1, 2, 0) for i in shown]
    if data.task == "saliency":
        grid = [inputs, [region.crop(test.targets[i]).astype(float) for i in shown]]
        grid += [list(predict_saliency(m[0].model, test.images[shown], region)) for m in models.values()]
        return show_maps(grid, ["input", "mask"] + [f"pad={p}" for p in models], [test.ids[i] for i in shown],
                         title=f"Saliency on {test.name} (compared region)", size=1.8)
    n_classes = len(data.class_names)

    def colour(labels):
        return np.where(labels >= n_classes, 0.0, (labels + 1) / (n_classes + 1))

    grid = [inputs, [colour(region.crop(test.targets[i])) for i in shown]]
    grid += [list(colour(predict_labels(m[0].model, test.images[shown], region))) for m in models.values()]
    return show_maps(grid, ["input", "labels"] + [f"pad={p}" for p in models], [test.ids[i] for i in shown],
                     title=f"Segmentation on {test.name} (compared region)", cmap="tab20", size=1.8)


def iou_by_class(table: pd.DataFrame) -> pd.DataFrame:
    """Per-class IoU of a Table 5 (b) summary, a column per scored region and padding rule (for reading)."""
    return table[table["metric"] == "iou"].pivot_table(
        index="class", columns=["scored_on", "padding_rule"], values="value", sort=False).round(3)


def shared_rows(*tables: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """The rows of each Table-5 frame (summary or per-image) scored on the shared region (what claim 7 compares)."""
    return tuple(table[table["scored_on"] == SHARED_REGION] for table in tables)


def data_notes(data: TaskData) -> list[str]:
    """Markdown notes on the data behind the task tables (a warning when it is the embedded default)."""
    return (["- These numbers come from the embedded default (generated scenes), not from the datasets."]
            if data.uses_embedded_default else [])
