"""Input size against position: is position weaker far from the border once the image
outgrows the receptive field?

The same frozen backbones run at several input sizes; every tap is resized to the same
28 x 28 readout grid (:class:`poslib.features.FeatureConfig` does it), the PosENet readout
is trained for all five targets at each size, and its error is measured against the
distance to the nearest border, in pixels and in receptive fields of the deepest tap.
The receptive field is measured, not looked up: the extent of the non-zero input
gradient of the deepest tap's centre unit (:func:`measured_receptive_field`).

Study 4 (:func:`size_study`) trains its readouts as Table 1 does: notebook 02's training
images and first natural test set (:func:`table1_images_at`: the profile's ``n_train`` and
``n_test``, near-duplicates removed) with the profile's readout schedule, so its row at the
profile's input size is Table 1's row (the readout store gives back the very same readouts).
Study 3's side errors (:mod:`poslib.experiments.padding_parity`) train lighter readouts on the
first ``readout_train`` natural training images and test them on ``readout_test`` natural
test images (:func:`images_at`). The synthetic test images are left out here; sizes come from
:class:`poslib.config.BeyondSettings`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..backbones import build_backbone
from ..config import Profile
from ..data import natural_image_set, resolve_data_root
from ..features import FeatureConfig
from ..probing import ProbedRows, ProbeImages, prepare_images, probe_rows, readout_config_for
from ..tables import aggregate_over_seeds, summarise
from .padding_study import border_errors


def images_at(profile: Profile, size: int, data_root: str = "", train: str = "", test: str = "",
              seed: int = 0) -> ProbeImages:
    """Natural training and test images at ``size`` (``readout_train`` / ``readout_test`` of the profile's section)."""
    settings, root = profile.beyond, resolve_data_root(data_root)
    train_set = natural_image_set(train, "train", size, settings.readout_train, root, seed)
    test_set = natural_image_set(test, "test", size, settings.readout_test, root, seed)
    return ProbeImages(train_set, [test_set], train_set.kind == "embedded" or test_set.kind == "embedded")


def table1_images_at(profile: Profile, size: int, data_root: str = "", train: str = "", test: str = "",
                     seed: int = 0) -> ProbeImages:
    """Notebook 02's training images and first natural test set (:func:`poslib.probing.prepare_images`), at ``size``."""
    images = prepare_images(dataclasses.replace(profile, input_size=size), data_root, train, test, seed,
                            second_test="")
    return ProbeImages(images.train, [images.natural_test], images.uses_embedded_default, images.removed_duplicates)


def probe_at_sizes(profile: Profile, rows, sizes, data_root: str = "", train: str = "", test: str = "",
                   seed: int = 0, progress: bool = False, table1_schedule: bool = False) -> ProbedRows:
    """PosENet readouts on every row at every input size.

    Per-image rows carry an ``input_size`` column; the readout compares at the input size.
    With ``table1_schedule`` the readouts train as Table 1's (:func:`table1_images_at`, the
    profile's epochs and seeds); otherwise on the section's ``readout_*`` images with its
    ``readout_epochs`` (:func:`images_at`; the paper profile raises them to its steps).
    """
    settings = profile.beyond
    results = []
    for size in sizes:
        configs = [FeatureConfig(backbone, weights, input_size=size) for backbone, weights in rows]
        if table1_schedule:
            images = table1_images_at(profile, size, data_root, train, test, seed)
            readout = readout_config_for(profile, target_size=size)
        else:
            images = images_at(profile, size, data_root, train, test, seed)
            readout = readout_config_for(profile, epochs=settings.readout_epochs, target_size=size,
                                         min_steps=profile.min_steps)  # the paper profile: at least the paper's steps
        results.append(probe_rows(configs, images, readout, settings.seeds, labels=[{"input_size": size}] * len(configs),
                                  progress=progress))
    per_image = [r.per_image for r in results if len(r.per_image)]
    return ProbedRows(pd.concat(per_image, ignore_index=True) if per_image else pd.DataFrame(),
                      [s for r in results for s in r.skipped], {k: v for r in results for k, v in r.probed.items()})


def measured_receptive_field(backbone, input_size: int, tap: int = -1) -> int:
    """Receptive field in pixels of a tap's centre unit: the width of its non-zero input gradient.

    Measured on a noise input along the centre row; a receptive field larger than the
    input is reported as the input size (capped).

    Examples
    --------
    >>> from torch import nn
    >>> from poslib.backbones import TappedBackbone
    >>> net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    >>> measured_receptive_field(TappedBackbone("t", "t", ["f1"], [2], lambda x: [net(x)], net), 32)
    5
    """
    x = torch.rand(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0)).requires_grad_()
    tapped = backbone(x)[tap]
    h, w = tapped.shape[-2:]
    tapped[..., h // 2, w // 2].sum().backward()
    active = np.flatnonzero(x.grad[0].abs().sum(dim=0).amax(dim=0).numpy() > 0)
    return int(active.max() - active.min() + 1) if len(active) else 0


def receptive_fields(rows, size: int) -> dict[tuple[str, str], int]:
    """:func:`measured_receptive_field` of the deepest tap of every ``(backbone, weights)`` row at ``size``."""
    return {(b, w): measured_receptive_field(build_backbone(b, w, 0, size), size) for b, w in rows}


def border_rings(probed: ProbedRows, n_bins: int, fields: dict, patterns=("H", "G")) -> pd.DataFrame:
    """Readout error in rings from the border, in relative units, pixels and receptive fields.

    Returns
    -------
    pandas.DataFrame
        backbone, weights, input_size, pattern, distance (0 border, 1 centre), distance_px,
        distance_rf, receptive_field, abs_error, abs_error_std, n_seeds.
    """
    frames = []
    for config, (bundle, result) in probed.probed.items():
        rings, _ = border_errors(bundle, result, n_bins, 0.1, patterns=patterns)
        frames.append(rings.assign(input_size=config.input_size))
    rings = aggregate_over_seeds(pd.concat(frames, ignore_index=True),
                                 ["backbone", "weights", "input_size", "pattern", "distance"], ["abs_error"])
    field_px = [fields[(b, w)] for b, w in zip(rings["backbone"], rings["weights"])]
    return rings.assign(distance_px=rings["distance"] * rings["input_size"] / 2, receptive_field=field_px,
                        distance_rf=rings["distance"] * rings["input_size"] / 2 / np.asarray(field_px, float))


def summarise_sizes(probed: ProbedRows) -> pd.DataFrame:
    """SPC / MAE per backbone, input size and target (mean over images, mean and std over seeds)."""
    return summarise(probed.per_image, by=["backbone", "weights", "input_size", "test_set", "pattern"])


@dataclass
class SizeStudy:
    """Study 4 of notebook 06 (:func:`size_study`).

    Attributes
    ----------
    sizes : pandas.DataFrame
        :func:`summarise_sizes`.
    rings : pandas.DataFrame
        :func:`border_rings`.
    fields : dict
        Receptive field (px) of each row's deepest tap at the largest size.
    probed : ProbedRows
    """

    sizes: pd.DataFrame
    rings: pd.DataFrame
    fields: dict
    probed: ProbedRows


def size_study(profile: Profile, data_root: str = "", train: str = "", test: str = "", seed: int = 0) -> SizeStudy:
    """Study 4 of notebook 06: readouts on Table 1's schedule at every input size, error against distance to the border.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.beyond` (``size_rows``, ``input_sizes``, ``border_bins``).
    data_root, train, test : str
        Where the natural images come from (:func:`images_at`).
    seed : int
        Seed of the image subsets.

    Returns
    -------
    SizeStudy
    """
    settings = profile.beyond
    probed = probe_at_sizes(profile, settings.size_rows, settings.input_sizes, data_root, train, test, seed,
                            table1_schedule=True)
    fields = receptive_fields(settings.size_rows, max(settings.input_sizes))
    return SizeStudy(summarise_sizes(probed), border_rings(probed, settings.border_bins, fields), fields, probed)


def plot_size_rings(rings: pd.DataFrame):
    """Error against distance to the border, in pixels and in receptive fields (a line per input size)."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(rings["backbone"] + "/" + rings["weights"]))
    figure, axes = plt.subplots(len(models), 2, figsize=(8, 2.8 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        part = rings[(rings["backbone"] + "/" + rings["weights"] == model)]
        part = part.groupby(["input_size", "distance", "distance_px", "distance_rf"], as_index=False)["abs_error"].mean()
        for c, unit in enumerate(("distance_px", "distance_rf")):
            axis = axes[r][c]
            for size, line in part.groupby("input_size"):
                axis.plot(line[unit], line["abs_error"], marker="o", markersize=3, label=f"{size} px")
            axis.set_xlabel("distance to border (px)" if unit == "distance_px" else "distance to border (receptive fields)")
            axis.set_ylabel("abs. error (mean of targets)")
            axis.set_title(model, fontsize=9)
        axes[r][1].legend(fontsize=7, title="input", title_fontsize=7)
    figure.tight_layout()
    return figure
