"""Figure 1, quantified: how far a saliency prediction moves when the image frame is cut.

A translation-equivariant network gives the same map on the same content wherever the
frame ends; a network that knows where the border is moves its prediction with the frame.
Kept widths are multiples of the encoder's total stride, so every pooled map of the cut
image covers its columns exactly, and each variant is compared on the pixels it predicts in
the cut frame (registered; with padding: the whole cut frame). Not on the pixels all variants
predict: that interior is at least one receptive-field radius from the new border, where
padding barely reaches, so it would hide the effect Figure 1 is about.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import ConfigError, Profile
from ..segnet import EncoderDecoder, encoder_output_side
from ..task_data import TaskData
from ..training import TrainedModel, predict_saliency


def saliency_centroid(maps: np.ndarray, min_mass: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (y, x) of each map, in pixel coordinates (pixel centres at i + 0.5).

    A map whose total mass is below ``min_mass`` (less than one fully salient pixel) has no
    centroid: NaN.

    Examples
    --------
    >>> m = np.zeros((1, 4, 4)); m[0, 1, 3] = 1.0
    >>> saliency_centroid(m)
    (array([1.5]), array([3.5]))
    """
    maps = np.asarray(maps, dtype=np.float64)
    mass = maps.sum(axis=(1, 2))
    ys = np.arange(maps.shape[1]) + 0.5
    xs = np.arange(maps.shape[2]) + 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (maps.sum(axis=2) * ys).sum(axis=1) / mass
        cx = (maps.sum(axis=1) * xs).sum(axis=1) / mass
    valid = mass >= min_mass
    return np.where(valid, cy, np.nan), np.where(valid, cx, np.nan)


def kept_width(width: int, fraction: float, multiple: int = 1) -> int:
    """Columns kept when the right ``fraction`` of a ``width``-pixel image is cut away, rounded to
    a multiple of ``multiple`` (the encoder's total stride: then no pooling drops a column).

    Examples
    --------
    >>> kept_width(128, 0.25), kept_width(176, 0.1, 16)
    (96, 160)
    """
    return int(round((1.0 - fraction) * width / multiple)) * multiple


def total_stride(model: EncoderDecoder) -> int:
    """Input pixels per f5 position (2 per max-pool)."""
    return 2 ** (len(model.encoder.convs) - 1)


def crop_shift(model: EncoderDecoder, images: np.ndarray, fractions, batch_size: int = 16) -> pd.DataFrame:
    """How far the predicted saliency centroid moves when the right part of the image is cut away.

    For each fraction ``c`` the image keeps its left ``W'`` columns (:func:`kept_width`, a
    multiple of the total stride) and is fed at that size (no resizing). Both predictions are
    compared in the same pixel frame, on the pixels the model predicts for the cut image
    (:meth:`~poslib.segnet.EncoderDecoder.output_region`): the full image's prediction there,
    and the cut image's. The
    content is identical, so a translation-equivariant model would give the same map; any
    move comes from the changed frame.

    Returns
    -------
    pandas.DataFrame
        One row per fraction and image: ``fraction`` (nominal), ``kept_width``, ``cut`` (the
        fraction actually cut), ``region_left`` / ``region_right`` (compared columns),
        ``image``, ``x_full``, ``x_crop`` (centroids in pixels), ``shift_x = (x_crop -
        x_full) / W'`` (negative: towards the left, i.e. towards the new centre for a cut on
        the right), ``toward_centre = (|x_full - W'/2| - |x_crop - W'/2|) / W'`` (positive:
        closer to the new frame's centre), ``shift_y`` (vertical move / H).
    """
    height, width = images.shape[1:3]
    frames = []
    for fraction in fractions:
        kept = kept_width(width, fraction, total_stride(model))
        if encoder_output_side(kept, model.encoder.convs, model.padding_rule) < 2:
            raise ConfigError(f"crop fraction {fraction} leaves {kept} px, too narrow for the encoder with padding "
                              f"rule {model.padding_rule!r}; use a smaller fraction or a larger input")
        region = model.output_region(height, kept)
        full = predict_saliency(model, images, region, batch_size)
        cropped = predict_saliency(model, np.ascontiguousarray(images[:, :, :kept]), region, batch_size)
        y_full, x_full = saliency_centroid(full)
        y_crop, x_crop = saliency_centroid(cropped)
        x_full, x_crop = x_full + region.left, x_crop + region.left
        centre = kept / 2.0
        frames.append(pd.DataFrame({
            "fraction": fraction, "kept_width": kept, "cut": 1.0 - kept / width, "region_left": region.left,
            "region_right": region.right, "image": np.arange(len(images)),
            "x_full": x_full, "x_crop": x_crop, "shift_x": (x_crop - x_full) / kept,
            "toward_centre": (np.abs(x_full - centre) - np.abs(x_crop - centre)) / kept,
            "shift_y": (y_crop - y_full) / height}))
    return pd.concat(frames, ignore_index=True)


def crop_shift_table(models: dict[str, list[TrainedModel]], data: TaskData, fractions) -> pd.DataFrame:
    """:func:`crop_shift` of every saliency model (every training seed) on every test set; columns
    padding, seed and test_set added."""
    frames = [crop_shift(trained.model, test.images, fractions)
              .assign(padding_rule=padding, seed=trained.config.seed, test_set=test.name)
              for padding, trained_models in models.items() for trained in trained_models for test in data.tests]
    return pd.concat(frames, ignore_index=True)


def summarise_crop_shift(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error and count of the shifts per padding, test set and fraction (NaN rows
    dropped; images of every training seed pooled, ``n_images`` counts image-seed pairs)."""
    valid = per_image.dropna(subset=["shift_x"])
    grouped = valid.groupby(["padding_rule", "test_set", "fraction", "kept_width", "cut"], sort=False)
    summary = grouped.agg(shift_x=("shift_x", "mean"), abs_shift_x=("shift_x", lambda s: s.abs().mean()),
                          toward_centre=("toward_centre", "mean"),
                          toward_centre_sem=("toward_centre", lambda s: s.std(ddof=1) / np.sqrt(max(len(s), 1))),
                          shift_y=("shift_y", "mean"), n_images=("shift_x", "size")).reset_index()
    return summary


def crop_shift_summary(profile: Profile, models: dict[str, list[TrainedModel]], data: TaskData) -> pd.DataFrame:
    """Figure 1, quantified: :func:`crop_shift_table` at the profile's ``tasks.crop_fractions``, summarised.

    Parameters
    ----------
    profile : Profile
    models : dict
        ``padding rule -> [TrainedModel]`` of the saliency task.
    data : TaskData
        The saliency data (its first test set is cut).

    Returns
    -------
    pandas.DataFrame
        :func:`summarise_crop_shift` of the per-image moves.
    """
    return summarise_crop_shift(crop_shift_table(models, data, profile.tasks.crop_fractions))


def plot_crop_examples(models: dict[str, TrainedModel], images: np.ndarray, fraction: float):
    """Saliency of each model on full and cut images over the pixels it predicts in the cut frame,
    with its centroid (blank: not predicted).

    Parameters
    ----------
    models : dict
        ``padding rule -> TrainedModel`` (saliency).
    images : numpy.ndarray
        (N, H, W, 3) uint8 test images, one row of panels each.
    fraction : float
        Fraction of the width cut away on the right (rounded as in :func:`crop_shift`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    height, width = images.shape[1:3]
    kept = kept_width(width, fraction, total_stride(next(iter(models.values())).model))
    n_columns = 1 + 2 * len(models)
    figure, axes = plt.subplots(len(images), n_columns, figsize=(2.0 * n_columns, 2.0 * len(images)), squeeze=False)
    for r, image in enumerate(images):
        axes[r][0].imshow(image)
        axes[r][0].set_title("input" if r == 0 else "", fontsize=8)
        for c, (rule, trained) in enumerate(models.items()):
            region = trained.model.output_region(height, kept)
            for k, shown in enumerate((image[None], np.ascontiguousarray(image[None, :, :kept]))):
                probability = predict_saliency(trained.model, shown, region)
                cy, cx = saliency_centroid(probability)
                canvas = np.full((height, width), np.nan)
                canvas[region.top:region.bottom, region.left:region.right] = probability[0]
                axis = axes[r][1 + 2 * c + k]
                axis.imshow(canvas, vmin=0, vmax=1)
                axis.axvline(kept - 0.5, color="k", lw=0.8, ls="--")
                axis.plot(cx[0] + region.left - 0.5, cy[0] + region.top - 0.5, "r+", ms=10, mew=2)
                if r == 0:
                    axis.set_title(f"pad={rule}, {'full' if k == 0 else f'cut to {kept} px'}", fontsize=8)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
    figure.tight_layout()
    return figure
