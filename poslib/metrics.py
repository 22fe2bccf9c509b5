"""Per-image position metrics at full resolution.

Both metrics compare a prediction with a target over all pixels of one image (224 x 224
in the paper) and are then averaged over images.

* SPC: Spearman's rank correlation (average ranks for ties, then Pearson on ranks).
* MAE: mean absolute error.

A constant prediction (all pixels equal) has no ranking, so SPC is undefined. We set it
to 0 -- the paper prints ``.0`` for such cases (its Black / White rows of the
no-backbone readout) -- and count those images, so a table can show how many of its SPC
values come from constant predictions rather than from measured correlation.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

#: Predictions whose range (max - min) is at or below this are treated as constant. Not 0:
#: bilinear upsampling of a constant float32 map leaves rounding noise of ~1e-8, whose
#: ranks would otherwise produce a meaningless correlation.
CONSTANT_TOLERANCE = 1e-6


def _as_2d(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(values.shape[0], -1) if values.ndim > 1 else values[None]


def is_constant(predictions) -> np.ndarray:
    """Boolean per image: is the prediction constant over its pixels?"""
    flat = _as_2d(predictions)
    return (flat.max(axis=1) - flat.min(axis=1)) <= CONSTANT_TOLERANCE


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

    Examples
    --------
    >>> target = np.arange(6.0)
    >>> spc, constant = spearman_per_image(np.stack([target ** 2, -target, np.ones(6)]), target)
    >>> spc.round(3).tolist(), constant.tolist()
    ([1.0, -1.0, 0.0], [False, False, True])
    """
    pred = _as_2d(predictions)
    targ = np.asarray(target, dtype=np.float64).reshape(-1, pred.shape[1])
    pred_ranks = rankdata(pred, axis=1)
    targ_ranks = rankdata(targ, axis=1)
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

    Examples
    --------
    >>> mae_per_image(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    pred = _as_2d(predictions)
    targ = np.asarray(target, dtype=np.float64).reshape(-1, pred.shape[1])
    return np.abs(pred - targ).mean(axis=1)
