"""Metrics: position (SPC, MAE per image), saliency (F-measure, MAE) and segmentation (IoU).

Position metrics
----------------
Both metrics compare a prediction with a target over all pixels of one image (224 x 224
in the paper) and are then averaged over images.

* SPC: Spearman's rank correlation (average ranks for ties, then Pearson on ranks).
* MAE: mean absolute error.

A constant prediction (all pixels equal) has no ranking, so SPC is undefined. We set it
to 0 -- the paper prints ``.0`` for such cases (its Black / White rows of the
no-backbone readout) -- and count those images, so a table can show how many of its SPC
values come from constant predictions rather than from measured correlation.

A prediction with a NaN or infinite pixel is an error (:class:`ValueError`), never a score:
ranking NaNs would silently give an SPC (or a constant prediction's 0) that measures
nothing. It means the readout diverged or the features overflowed.

Task metrics
------------
Saliency maps are scored with pysodmetrics under the standard protocol (per-image
normalised 8-bit maps; F-measure with beta^2 = 0.3, MAE), and on the raw maps;
segmentation with a confusion matrix, per-class IoU and mean IoU (void pixels left out). Both also
keep each image's scores (:func:`saliency_evaluation`, :func:`segmentation_evaluation`), from which the
set's numbers can be recomputed.

(Longer than 400 lines, much of it doctests: each score comes with its per-image form.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Predictions whose range (max - min) is at or below this are treated as constant. Not 0:
#: bilinear upsampling of a constant float32 map leaves rounding noise of ~1e-8, whose
#: ranks would otherwise produce a meaningless correlation.
CONSTANT_TOLERANCE = 1e-6


def _as_2d(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(values.shape[0], -1) if values.ndim > 1 else values[None]


def check_finite(predictions, what: str = "predictions") -> np.ndarray:
    """``predictions`` as (N, P) float64, or a :class:`ValueError` if any value is NaN or infinite.

    Raises
    ------
    ValueError
        Naming how many images (and which, by position) hold non-finite values.

    Examples
    --------
    >>> check_finite(np.array([[0.0, np.nan]]))
    Traceback (most recent call last):
    ...
    ValueError: predictions are non-finite (NaN or inf) in 1 of 1 image(s), e.g. image(s) [0]: the readout or the features overflowed (diverging training, float16 features out of range); SPC / MAE of such predictions would be meaningless
    """
    flat = _as_2d(predictions)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        where = np.flatnonzero(bad)
        raise ValueError(f"{what} are non-finite (NaN or inf) in {len(where)} of {len(flat)} image(s), e.g. image(s) "
                         f"{where[:5].tolist()}: the readout or the features overflowed (diverging training, "
                         f"float16 features out of range); SPC / MAE of such predictions would be meaningless")
    return flat


def is_constant(predictions) -> np.ndarray:
    """Boolean per image: is the prediction constant over its pixels?"""
    flat = _as_2d(predictions)
    return (flat.max(axis=1) - flat.min(axis=1)) <= CONSTANT_TOLERANCE


def average_ranks(values) -> np.ndarray:
    """Ranks of each row of ``values`` (1-based; ties get the average of their ranks), as float64.

    Equal to ``scipy.stats.rankdata(values, method="average", axis=1)`` (the tests check it),
    several times faster on 224 x 224 maps: one unstable sort per row with NumPy's vectorised
    quicksort (the average rank of a tie group does not depend on the order inside it; on this
    machine it sorts a row about 4x faster than ``torch.sort``), then, only where a row has
    ties, group boundaries from running maxima and minima.

    Parameters
    ----------
    values : array_like, shape (N, P)

    Examples
    --------
    >>> average_ranks(np.array([[3.0, 1.0, 3.0, 2.0]])).tolist()
    [[3.5, 1.0, 3.5, 2.0]]
    """
    values = np.asarray(values)
    n_rows, n = values.shape
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    starts_group = np.ones((n_rows, n), dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts_group[:, 1:])
    if starts_group.all():
        sorted_ranks = np.broadcast_to(np.arange(1, n + 1, dtype=np.float64), (n_rows, n))
    else:
        positions = np.arange(n)
        group_start = np.maximum.accumulate(np.where(starts_group, positions, 0), axis=1)
        ends_group = np.ones((n_rows, n), dtype=bool)
        ends_group[:, :-1] = starts_group[:, 1:]
        group_end = np.minimum.accumulate(np.where(ends_group, positions, n)[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks = (group_start + group_end) / 2.0 + 1.0
    ranks = np.empty((n_rows, n), dtype=np.float64)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    return ranks


def spearman_per_image(predictions, target) -> tuple[np.ndarray, np.ndarray]:
    """Spearman correlation of each prediction with the target.

    Parameters
    ----------
    predictions : array_like, shape (N, H, W) or (N, P)
        One prediction per image.
    target : array_like, shape (H, W), (P,) or like ``predictions``
        The target (broadcast to every image when it has no image axis).

    Returns
    -------
    spc : numpy.ndarray, shape (N,)
        Correlation per image; 0 where the prediction (or target) is constant.
    constant : numpy.ndarray of bool, shape (N,)
        True where the prediction is constant.

    Raises
    ------
    ValueError
        If a prediction holds NaN or inf (see :func:`check_finite`).

    Examples
    --------
    >>> target = np.arange(6.0)
    >>> spc, constant = spearman_per_image(np.stack([target ** 2, -target, np.ones(6)]), target)
    >>> spc.round(3).tolist(), constant.tolist()
    ([1.0, -1.0, 0.0], [False, False, True])
    """
    pred = check_finite(predictions)
    targ = np.asarray(target, dtype=np.float64).reshape(-1, pred.shape[1])
    pred_ranks = average_ranks(pred)
    targ_ranks = average_ranks(targ)
    pred_centred = pred_ranks - pred_ranks.mean(axis=1, keepdims=True)
    targ_centred = targ_ranks - targ_ranks.mean(axis=1, keepdims=True)
    numerator = (pred_centred * targ_centred).sum(axis=1)
    denominator = np.sqrt((pred_centred**2).sum(axis=1) * (targ_centred**2).sum(axis=1))
    constant = is_constant(pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        spc = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)
    return np.where(constant, 0.0, spc), constant


def mae_per_image(predictions, target) -> np.ndarray:
    """Mean absolute error of each prediction against the target, shape (N,).

    Raises
    ------
    ValueError
        If a prediction holds NaN or inf (see :func:`check_finite`).

    Examples
    --------
    >>> mae_per_image(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    pred = check_finite(predictions)
    targ = np.asarray(target, dtype=np.float64).reshape(-1, pred.shape[1])
    return np.abs(pred - targ).mean(axis=1)


# ----------------------------------------------------------------------------- saliency and segmentation

#: F-measure weight of precision (the saliency literature's beta^2 = 0.3).
F_BETA2 = 0.3


def _fmeasure_and_mae(predictions, masks, normalize: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pysodmetrics' per-image F-measure curves (beta^2 = :data:`F_BETA2`), adaptive F and MAE.

    Returns
    -------
    curves : numpy.ndarray
        float64 (N, 256): each image's F-measure at pysodmetrics' 256 thresholds.
    adaptive, mae : numpy.ndarray
        float64 (N,).
    """
    import py_sod_metrics

    handler = py_sod_metrics.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=F_BETA2)
    fmeasure, mae = py_sod_metrics.FmeasureV2({"fm": handler}), py_sod_metrics.MAE()
    for prediction, mask in zip(predictions, masks):
        fmeasure.step(prediction, mask, normalize=normalize)
        mae.step(prediction, mask, normalize=normalize)
    return (np.array(handler.dynamic_results, dtype=np.float64), np.array(handler.adaptive_results, dtype=np.float64),
            np.array(mae.maes, dtype=np.float64))


def _set_and_image_scores(curves: np.ndarray, adaptive: np.ndarray, mae: np.ndarray) -> tuple[dict, dict]:
    """The set's scores (as pysodmetrics' ``get_results``) and each image's, from :func:`_fmeasure_and_mae`.

    The set's max F is the maximum of the mean curve; an image's ``max_f`` is its F at that
    threshold (so their mean is the set's max F), ``image_max_f`` the maximum of its own curve.
    """
    curve = np.mean(curves, axis=0)
    best = int(np.argmax(curve))
    whole = {"max_f": float(np.max(curve)), "mean_f": float(np.mean(curve)), "adaptive_f": float(np.mean(adaptive)),
             "mae": float(np.mean(mae))}
    each = {"max_f": curves[:, best], "mean_f": curves.mean(axis=1), "adaptive_f": adaptive, "mae": mae,
            "image_max_f": curves.max(axis=1), "max_f_threshold": np.full(len(curves), best)}
    return whole, each


def saliency_evaluation(probabilities: np.ndarray, masks: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Salient-object scores of a set (:func:`saliency_scores`) and of each of its images, in one pass.

    Parameters
    ----------
    probabilities : numpy.ndarray
        (N, H, W) floats in [0, 1].
    masks : numpy.ndarray
        (N, H, W), nonzero = salient.

    Returns
    -------
    scores : dict
        :func:`saliency_scores`.
    per_image : pandas.DataFrame
        One row per image: ``image`` (index), ``max_f`` (the image's F-measure at the
        threshold where the set's mean F curve peaks, so the mean over images is the set's
        max F), ``mean_f`` (mean over the 256 thresholds; the mean over images is the set's
        mean F), ``adaptive_f``, ``mae`` (their means are the set's), ``image_max_f`` (the
        peak of the image's own curve, an upper bound), ``max_f_threshold`` (index of the
        set's peak on pysodmetrics' 256-threshold curve), and the same ``raw_*`` columns of
        the unnormalised maps.

    Examples
    --------
    >>> mask = np.zeros((2, 4, 4)); mask[:, :2] = 1
    >>> scores, per_image = saliency_evaluation(np.stack([mask[0], 1 - mask[1]]), mask)
    >>> bool(per_image["max_f"].mean() == scores["max_f"]), per_image["mae"].tolist()
    (True, [0.0, 1.0])
    """
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    binary = np.asarray(masks) > 0
    as_8bit = np.rint(probabilities * 255).astype(np.uint8)
    standard, standard_each = _set_and_image_scores(*_fmeasure_and_mae(as_8bit, binary.astype(np.uint8) * 255,
                                                                       normalize=True))
    raw, raw_each = _set_and_image_scores(*_fmeasure_and_mae(probabilities, binary, normalize=False))
    scores = {**standard, **{f"raw_{key}": value for key, value in raw.items()}, "n_images": len(binary)}
    per_image = pd.DataFrame({"image": np.arange(len(binary)), **standard_each,
                              **{f"raw_{key}": value for key, value in raw_each.items()}})
    return scores, per_image


def saliency_scores(probabilities: np.ndarray, masks: np.ndarray) -> dict:
    """Salient-object scores under the standard protocol, and the same on the raw maps.

    Standard protocol (as the public SOD evaluation toolboxes): each map is stored as an
    8-bit image (``round(255 p)``) and min-max normalised per image; the F-measure
    (beta^2 = 0.3) is computed at 256 thresholds and averaged over images (pysodmetrics'
    ``FmeasureV2`` dynamic curve): *max F* is the curve's maximum, *mean F* its mean,
    *adaptive F* thresholds each map at twice its mean; *MAE* is the mean absolute error of
    the normalised maps. The ``raw_*`` scores use the probabilities as they are (no
    stretching), so an unsure model (all probabilities near 0.5) is not rescued by the
    normalisation. Each image's scores: :func:`saliency_evaluation`.

    Parameters
    ----------
    probabilities : numpy.ndarray
        (N, H, W) floats in [0, 1].
    masks : numpy.ndarray
        (N, H, W), nonzero = salient.

    Returns
    -------
    dict
        max_f, mean_f, adaptive_f, mae, raw_max_f, raw_mean_f, raw_adaptive_f, raw_mae, n_images.

    Examples
    --------
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2] = 1
    >>> scores = saliency_scores(0.4 + 0.2 * mask, mask)  # unsure, but ranked right
    >>> round(scores["max_f"], 3), round(scores["mae"], 3), round(scores["raw_mae"], 3)
    (1.0, 0.0, 0.4)
    """
    return saliency_evaluation(probabilities, masks)[0]


def confusion_matrix(predicted: np.ndarray, target: np.ndarray, n_classes: int, ignore_index: int) -> np.ndarray:
    """(n_classes, n_classes) counts, rows = true class, columns = predicted; ignored pixels left out.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 9]), 2, ignore_index=9).tolist()
    [[1, 1], [0, 1]]
    """
    predicted, target = np.asarray(predicted).ravel(), np.asarray(target).ravel()
    keep = (target != ignore_index) & (target < n_classes)
    index = target[keep].astype(np.int64) * n_classes + predicted[keep].astype(np.int64)
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both prediction and target.

    Examples
    --------
    >>> class_iou(np.array([[1, 1], [0, 1]])).round(3).tolist()
    [0.5, 0.5]
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / np.where(union > 0, union, 1.0), np.nan)


def scores_from_confusion(confusion: np.ndarray, class_names) -> pd.DataFrame:
    """Per-class IoU, the mean IoU (over classes present) and pixel accuracy of a confusion matrix, long format.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` (``iou`` / ``miou`` / ``pixel_accuracy``), ``class``, ``value``.
    """
    iou = class_iou(confusion)
    rows = [{"metric": "iou", "class": name, "value": value} for name, value in zip(class_names, iou)]
    rows.append({"metric": "miou", "class": "all", "value": float(np.nanmean(iou))})
    rows.append({"metric": "pixel_accuracy", "class": "all",
                 "value": float(np.trace(confusion) / max(confusion.sum(), 1))})
    return pd.DataFrame(rows)


def segmentation_scores(predicted: np.ndarray, target: np.ndarray, class_names, ignore_index: int) -> pd.DataFrame:
    """Per-class IoU and the mean IoU (over classes present) as a long table.

    The IoU is the data set's (one confusion matrix over all pixels of all images), as the
    segmentation literature reports it. Each image's counts: :func:`segmentation_evaluation`.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` (``iou`` / ``miou`` / ``pixel_accuracy``), ``class``, ``value``.
    """
    return scores_from_confusion(confusion_matrix(predicted, target, len(class_names), ignore_index), class_names)


def segmentation_evaluation(predicted: np.ndarray, target: np.ndarray, class_names,
                            ignore_index: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The set's scores (:func:`segmentation_scores`) and each image's pixel counts per class, in one pass.

    Parameters
    ----------
    predicted, target : numpy.ndarray
        (N, H, W) class ids; target pixels equal to ``ignore_index`` (or ``>= len(class_names)``) are left out.
    class_names : sequence of str
    ignore_index : int

    Returns
    -------
    scores : pandas.DataFrame
        :func:`segmentation_scores` (the sum of the images' confusion matrices).
    per_image : pandas.DataFrame
        One row per image and class: ``image`` (index), ``class``, ``tp``, ``fp``, ``fn``
        (pixel counts) and ``iou`` (the image's IoU of the class, NaN where the class is in
        neither its prediction nor its target). The set's IoU of a class is
        ``sum(tp) / sum(tp + fp + fn)`` over images, its pixel accuracy
        ``sum(tp) / sum(tp + fn)`` over images and classes (:func:`scores_from_counts`).

    Examples
    --------
    >>> scores, per_image = segmentation_evaluation(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 9]]),
    ...                                             ["a", "b"], ignore_index=9)
    >>> per_image[["image", "class", "tp", "fp", "fn"]].values.tolist()
    [[0, 'a', 1, 0, 0], [0, 'b', 1, 0, 0], [1, 'a', 0, 0, 1], [1, 'b', 0, 1, 0]]
    >>> scores_from_counts(per_image).equals(scores)
    True
    """
    n_classes = len(class_names)
    confusions = np.stack([confusion_matrix(p, t, n_classes, ignore_index) for p, t in zip(predicted, target)])
    true_positive = np.diagonal(confusions, axis1=1, axis2=2)
    per_image = pd.DataFrame({"image": np.repeat(np.arange(len(confusions)), n_classes),
                              "class": np.tile(np.asarray(class_names, dtype=object), len(confusions)),
                              "tp": true_positive.ravel(),
                              "fp": (confusions.sum(axis=1) - true_positive).ravel(),
                              "fn": (confusions.sum(axis=2) - true_positive).ravel(),
                              "iou": np.concatenate([class_iou(c) for c in confusions])})
    return scores_from_confusion(confusions.sum(axis=0), class_names), per_image


def scores_from_counts(per_image: pd.DataFrame, class_names=None) -> pd.DataFrame:
    """:func:`segmentation_scores` recomputed from per-image counts (:func:`segmentation_evaluation`).

    Parameters
    ----------
    per_image : pandas.DataFrame
        Columns ``class``, ``tp``, ``fp``, ``fn`` of one model and test set (any number of images).
    class_names : sequence of str, optional
        Class order (default: as they first appear).
    """
    names = list(dict.fromkeys(per_image["class"])) if class_names is None else list(class_names)
    sums = per_image.groupby("class", sort=False, observed=True)[["tp", "fp", "fn"]].sum().reindex(names)
    tp, fp, fn = (sums[c].to_numpy(dtype=np.int64) for c in ("tp", "fp", "fn"))
    iou = np.where(tp + fp + fn > 0, tp / np.where(tp + fp + fn > 0, tp + fp + fn, 1), np.nan)
    rows = [{"metric": "iou", "class": name, "value": value} for name, value in zip(names, iou)]
    rows.append({"metric": "miou", "class": "all", "value": float(np.nanmean(iou))})
    rows.append({"metric": "pixel_accuracy", "class": "all", "value": float(tp.sum() / max((tp + fn).sum(), 1))})
    return pd.DataFrame(rows)
