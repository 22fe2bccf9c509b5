"""Trivial predictions beside Table 5: what a task network must beat before a padding effect can show.

A saliency network whose max F is barely above "every pixel is salient" has learned little
about objects, and the difference between its padded and unpadded variants then says little
about padding. Every Table 5 score is therefore shown next to predictions that use no image
at all, scored exactly as the networks are (same test sets, same scored regions, same
protocol):

saliency (:data:`SALIENCY_BASELINES`)
    ``all salient`` (a constant map: the standard protocol's per-image min-max normalisation
    leaves it constant, so only its raw scores are meaningful and both are reported as
    computed), ``centre prior`` (an isotropic Gaussian at the frame's centre, standard
    deviation a quarter of the shorter side: the centre bias of salient-object datasets) and
    ``mean training mask`` (the mean of the training masks: the data set's own position prior);
segmentation (:data:`SEGMENTATION_BASELINES`)
    ``majority class`` (every pixel the most frequent training class) and ``per-pixel
    training mode`` (each pixel the class most frequent at that place in the training label
    maps: the position prior of the road scenes).

:func:`margin_over_baselines` puts each network's score beside the best baseline; claim 7
reads it (:func:`poslib.claims.check_claim_7`): a saliency comparison whose zero-padded
model does not beat the best trivial baseline by :data:`MIN_GAIN_OVER_BASELINE` max F is
reported inconclusive, not as a finding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..metrics import saliency_scores, segmentation_scores
from ..segnet import Region
from ..task_data import TaskData
from ..training import FULL_FRAME, SHARED_REGION, scoring_region

#: Saliency predictions that use no image (see the module docstring).
SALIENCY_BASELINES = ("all salient", "centre prior", "mean training mask")
#: Segmentation predictions that use no image.
SEGMENTATION_BASELINES = ("majority class", "per-pixel training mode")
#: A saliency network must beat the best baseline's max F by this much before claim 7 reads it.
MIN_GAIN_OVER_BASELINE = 0.10
#: Standard deviation of the centre prior, as a fraction of the frame's shorter side.
CENTRE_PRIOR_SIGMA = 0.25


def centre_prior(height: int, width: int, sigma_fraction: float = CENTRE_PRIOR_SIGMA) -> np.ndarray:
    """An isotropic Gaussian in [0, 1] centred in a ``height`` x ``width`` frame.

    Examples
    --------
    >>> prior = centre_prior(5, 7)
    >>> float(prior[2, 3]), bool(prior[0, 0] < prior[2, 3])
    (1.0, True)
    """
    sigma = sigma_fraction * min(height, width)
    rows = (np.arange(height) - (height - 1) / 2) ** 2
    columns = (np.arange(width) - (width - 1) / 2) ** 2
    return np.exp(-(rows[:, None] + columns[None, :]) / (2 * sigma ** 2))


def _resized(prior: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 2-D map resized bilinearly to ``height`` x ``width`` (unchanged when it already is)."""
    if prior.shape == (height, width):
        return prior
    tensor = torch.from_numpy(np.ascontiguousarray(prior, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def saliency_baseline_maps(data: TaskData, height: int, width: int) -> dict[str, np.ndarray]:
    """The maps of :data:`SALIENCY_BASELINES` for a ``height`` x ``width`` frame (each in [0, 1])."""
    mean_mask = (data.train.targets > 0).mean(axis=0)
    return {"all salient": np.ones((height, width)), "centre prior": centre_prior(height, width),
            "mean training mask": _resized(mean_mask, height, width)}


def segmentation_baseline_maps(data: TaskData, height: int, width: int) -> dict[str, np.ndarray]:
    """The label maps of :data:`SEGMENTATION_BASELINES` for a ``height`` x ``width`` frame."""
    n_classes = len(data.class_names)
    targets = data.train.targets
    counts = np.stack([(targets == c).sum(axis=0) for c in range(n_classes)])  # (classes, H, W)
    mode = counts.argmax(axis=0).astype(np.uint8)
    if mode.shape != (height, width):
        mode = _resized(mode.astype(np.float32), height, width).round().astype(np.uint8)  # nearest enough for a prior
    majority = int(counts.sum(axis=(1, 2)).argmax())
    return {"majority class": np.full((height, width), majority, np.uint8), "per-pixel training mode": mode}


def _regions(models, test) -> dict[str, Region]:
    """The scored regions of Table 5 on ``test``: the shared region and the full frame."""
    height, width = test.images.shape[1:3]
    shared = scoring_region(models, test)
    full = Region(0, height, 0, width)
    return {SHARED_REGION: shared} if shared == full else {SHARED_REGION: shared, FULL_FRAME: full}


def _baseline_cases(models, data: TaskData, baseline_maps):
    """``(test set, scored_on, targets, baseline name, prediction)`` for every baseline of ``baseline_maps``
    on every test set and scored region, the prediction broadcast over the test images."""
    for test in data.tests:
        maps = baseline_maps(data, *test.images.shape[1:3])
        for scored_on, region in _regions(models, test).items():
            targets = region.crop(test.targets)
            for name, prior in maps.items():
                yield test.name, scored_on, targets, name, np.broadcast_to(region.crop(prior), targets.shape)


def saliency_baselines(models, data: TaskData) -> pd.DataFrame:
    """Table 5 (a)'s scores of every saliency baseline on every test set and scored region.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]``: only their scored regions are used.
    data : TaskData

    Returns
    -------
    pandas.DataFrame
        baseline, test_set, scored_on, then :func:`poslib.metrics.saliency_scores` columns.
    """
    return pd.DataFrame([{"baseline": name, "test_set": test_set, "scored_on": scored_on,
                          **saliency_scores(prediction, targets)}
                         for test_set, scored_on, targets, name, prediction
                         in _baseline_cases(models, data, saliency_baseline_maps)])


def segmentation_baselines(models, data: TaskData) -> pd.DataFrame:
    """mIoU and pixel accuracy of every segmentation baseline on every test set and scored region.

    Returns
    -------
    pandas.DataFrame
        baseline, test_set, scored_on, metric (``miou``, ``pixel_accuracy``), value.
    """
    rows = []
    for test_set, scored_on, targets, name, prediction in _baseline_cases(models, data, segmentation_baseline_maps):
        scores = segmentation_scores(np.ascontiguousarray(prediction), targets, data.class_names, data.ignore_index)
        scores = scores[scores["metric"].isin(["miou", "pixel_accuracy"])]
        rows += [{"baseline": name, "test_set": test_set, "scored_on": scored_on, "metric": metric,
                  "value": float(value)} for metric, value in zip(scores["metric"], scores["value"])]
    return pd.DataFrame(rows)


def margin_over_baselines(table: pd.DataFrame, baselines: pd.DataFrame, score: str = "max_f") -> pd.DataFrame:
    """Each network's ``score`` beside the best baseline's, per test set and scored region.

    Parameters
    ----------
    table : pandas.DataFrame
        Table 5 (a) (padding_rule, test_set, scored_on, ``score``).
    baselines : pandas.DataFrame
        :func:`saliency_baselines`.
    score : str
        A higher-is-better score column of both (``max_f`` or ``raw_max_f``).

    Returns
    -------
    pandas.DataFrame
        padding_rule, test_set, scored_on, ``score``, best_baseline, baseline_score, margin,
        beats_by (``margin >= MIN_GAIN_OVER_BASELINE``).

    Examples
    --------
    >>> table = pd.DataFrame({"padding_rule": ["zeros"], "test_set": ["T"], "scored_on": ["full frame"],
    ...                       "max_f": [0.8]})
    >>> baselines = pd.DataFrame({"baseline": ["a", "b"], "test_set": ["T", "T"], "scored_on": ["full frame"] * 2,
    ...                           "max_f": [0.6, 0.75]})
    >>> row = margin_over_baselines(table, baselines).iloc[0]
    >>> row["best_baseline"], round(float(row["margin"]), 3), bool(row["beats_by"])
    ('b', 0.05, False)
    """
    keys = ["test_set", "scored_on"]
    best = (baselines.sort_values(score, ascending=False, kind="stable").drop_duplicates(keys)
            [keys + ["baseline", score]].rename(columns={"baseline": "best_baseline", score: "baseline_score"}))
    joined = table[["padding_rule"] + keys + [score]].merge(best, on=keys, how="left")
    joined["margin"] = joined[score] - joined["baseline_score"]
    return joined.assign(beats_by=joined["margin"] >= MIN_GAIN_OVER_BASELINE)
