"""Where is position stored? Readout depth and kernel size (Table 2) and one level at a time (Table 3).

Everything here reuses the features that notebook 02 cached (same :class:`FeatureConfig`,
same image sets), so only readouts are trained.

Readout variants
----------------
Table 2 varies the readout: depth 1, 2, 3 with a 3x3 kernel, and kernel size 1, 3, 5, 7
with one layer. The one-layer 3x3 readout is shared by both halves and trained once.
The paper's deeper readouts keep the input channel count in their hidden layers;
``hidden_channels`` in the profile's :class:`poslib.config.LayerwiseSettings` sets a
smaller width where the CPU cannot afford it (``None`` = the paper's width).

Levels and the channel control
------------------------------
Table 3 taps one level (f1..f5) at a time. Deeper levels of VGG16 have more channels
(64 ... 512), so a raw comparison confounds depth with width. The *controlled* comparison
gives every level the same number of channels: ``channels_per_level`` channels drawn at
random (without replacement) from the level, by default the channel count of the smallest
level; "all" draws the same number from all levels pooled. Each draw ``i`` is initialised
with readout seed ``seeds[i % len(seeds)]``, so the spread of the controlled rows is over
channel draws and readout initialisations together. All draws of a backbone train in one
grouped pass (:func:`poslib.probing.probe_channel_sets`), sharing the batch order of the
first seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import ConfigError, LayerwiseSettings, Profile
from ..features import FeatureConfig
from ..probing import (FeatureBundle, ProbeImages, SkippedRow, extract_bundle, extract_or_skip, probe,
                       probe_channel_sets, readout_config_for, summarise, with_backbone_class)
from ..readout import ReadoutConfig

#: Columns of the published Table 2; the varied column (depth or kernel_size) follows ``pattern``.
TABLE2_COLUMNS = ["backbone", "weights", "backbone_class", "input_convention", "pattern", "test_set", "spc", "spc_std",
                  "mae", "mae_std", "n_seeds", "n_images", "n_constant"]
#: Columns of the published hidden-width sweep.
WIDTH_COLUMNS = ["backbone", "weights", "hidden_channels", "pattern", "spc", "spc_std", "n_seeds"]
#: Columns of the published Table 3.
TABLE3_COLUMNS = ["backbone", "weights", "backbone_class", "input_convention", "pattern", "level", "selection",
                  "n_channels", "test_set", "spc", "spc_std", "mae", "mae_std", "n_seeds", "n_images", "n_constant"]


def extract_bundles(profile: Profile, images: ProbeImages,
                    progress: bool = False) -> tuple[dict[tuple, FeatureBundle], list[SkippedRow]]:
    """Features of every row of Tables 2 and 3 that can run here (each row once); the others skipped.

    Parameters
    ----------
    profile : Profile
        Gives the input size and :attr:`poslib.config.Profile.layerwise` (``readout_rows``,
        ``level_rows``, ``train_images``).
    images : ProbeImages
    progress : bool

    Returns
    -------
    bundles : dict
        ``row -> FeatureBundle`` limited to the section's first ``train_images`` training images.
    skipped : list of SkippedRow
        Rows that cannot run here (:func:`poslib.probing.extract_or_skip`), with their cause.
    """
    settings = profile.layerwise
    bundles, skipped = {}, []
    for row in dict.fromkeys(settings.readout_rows + settings.level_rows):
        bundle, skip = extract_or_skip(FeatureConfig(*row, input_size=profile.input_size), images, progress=progress)
        if skip is not None:
            skipped.append(skip)
        else:
            bundles[row] = bundle.with_training_subset(settings.train_images)
    return bundles, skipped


def table2(profile: Profile, bundles: dict[tuple, FeatureBundle],
           progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: every readout variant on every ``readout_rows`` row that ran, summarised over seeds.

    Parameters
    ----------
    profile : Profile
    bundles : dict
        Output of :func:`extract_bundles`.
    progress : bool

    Returns
    -------
    by_depth, by_kernel : pandas.DataFrame
        The depth half and the kernel half (:func:`split_table2`) in the columns of
        :data:`TABLE2_COLUMNS` with ``depth`` / ``kernel_size`` after ``pattern``.
    per_image : pandas.DataFrame
        The per-image rows of every variant (:func:`poslib.probing.probe`), for the claims and to publish.
    """
    frames = [probe_readout_variants(bundles[row], profile, progress=progress)
              for row in profile.layerwise.readout_rows if row in bundles]
    per_image = pd.concat(frames, ignore_index=True)
    variants = summarise(per_image, by=["backbone", "weights", "depth", "kernel_size", "test_set", "pattern"])
    by_depth, by_kernel = split_table2(with_backbone_class(variants))
    head, tail = TABLE2_COLUMNS[:5], TABLE2_COLUMNS[5:]
    return by_depth[head + ["depth"] + tail], by_kernel[head + ["kernel_size"] + tail], per_image


def width_sweep(profile: Profile, images: ProbeImages, bundles: dict[tuple, FeatureBundle], natural_test: str,
                progress: bool = False) -> pd.DataFrame:
    """The hidden-width sweep (:func:`probe_width_sweep`) on ``width_sweep_row``, natural test set.

    Parameters
    ----------
    profile : Profile
    images : ProbeImages
        Used only when the sweep's row is not among ``bundles``.
    bundles : dict
        Output of :func:`extract_bundles`.
    natural_test : str
        Name of the natural test set (the rows kept).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        Summary by backbone, weights, hidden_channels, test_set, pattern (publish
        :data:`WIDTH_COLUMNS` of it).
    """
    settings = profile.layerwise
    row = tuple(settings.width_sweep_row)
    bundle = bundles.get(row)
    if bundle is None:
        bundle = extract_bundle(FeatureConfig(*row, input_size=profile.input_size), images,
                                progress=progress).with_training_subset(settings.train_images)
    widths = summarise(probe_width_sweep(bundle, profile, progress=progress),
                       by=["backbone", "weights", "hidden_channels", "test_set", "pattern"])
    return widths[widths["test_set"] == natural_test]


def table3(profile: Profile, bundles: dict[tuple, FeatureBundle], draw_seed: int = 0,
           progress: bool = False) -> pd.DataFrame:
    """Table 3: one level at a time, raw and channel-controlled, on every ``level_rows`` row that ran.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.layerwise` (seeds, ``channels_per_level``,
        ``channel_draws``) and the readout (:func:`layerwise_readout`).
    bundles : dict
        Output of :func:`extract_bundles`.
    draw_seed : int
        Seed of the random channel draws.
    progress : bool

    Returns
    -------
    table : pandas.DataFrame
        Summary over seeds (and draws) in the columns of :data:`TABLE3_COLUMNS`.
    per_image : pandas.DataFrame
        The per-image rows (:func:`probe_levels`), for the claims and to publish.
    """
    settings = profile.layerwise
    readout = layerwise_readout(profile)
    frames = [probe_levels(bundles[row], readout, settings.seeds, settings.channels_per_level, settings.channel_draws,
                           draw_seed=draw_seed, progress=progress)
              for row in settings.level_rows if row in bundles]
    per_image = pd.concat(frames, ignore_index=True)
    levels = summarise(per_image, by=["backbone", "weights", "selection", "level", "n_channels", "test_set", "pattern"])
    return with_backbone_class(levels)[TABLE3_COLUMNS], per_image


def readout_variants(depths, kernel_sizes) -> list[tuple[int, int]]:
    """Distinct ``(depth, kernel_size)`` pairs of Table 2: ``(d, 3)`` for each depth, ``(1, k)`` for each kernel."""
    pairs = [(int(d), 3) for d in depths] + [(1, int(k)) for k in kernel_sizes]
    return list(dict.fromkeys(pairs))


def probe_readout_variants(bundle: FeatureBundle, profile: Profile, progress: bool = False) -> pd.DataFrame:
    """Per-image results of every Table-2 readout variant on one feature bundle.

    Parameters
    ----------
    bundle : FeatureBundle
        Cached features (all taps).
    profile : Profile
        Gives batch size, target size and :attr:`poslib.config.Profile.layerwise` (epochs,
        seeds, depths, kernel sizes, hidden width).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows of all variants (columns depth, kernel_size tell them apart).
    """
    settings: LayerwiseSettings = profile.layerwise
    frames = []
    for depth, kernel_size in readout_variants(settings.depths, settings.kernel_sizes):
        config = layerwise_readout(profile, depth=depth, kernel_size=kernel_size,
                                   hidden_channels=settings.hidden_channels if depth > 1 else None)
        frames.append(probe(bundle, config, settings.seeds, progress=progress).per_image)
    return pd.concat(frames, ignore_index=True)


def layerwise_readout(profile: Profile, **changes) -> ReadoutConfig:
    """Notebook 03's readout: ``readout_config_for(profile, "layerwise", **changes)``."""
    return readout_config_for(profile, "layerwise", **changes)


def probe_width_sweep(bundle: FeatureBundle, profile: Profile, progress: bool = False) -> pd.DataFrame:
    """Depth-2 readouts of every hidden width of ``profile.layerwise.width_sweep`` on one bundle.

    Shows whether the hidden width of the deeper readouts (``hidden_channels``) is on the
    plateau, i.e. whether a wider readout would find more position.

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows with an extra column ``hidden_channels``.
    """
    settings = profile.layerwise
    frames = [probe(bundle, layerwise_readout(profile, depth=2, hidden_channels=width), settings.width_sweep_seeds,
                    labels={"hidden_channels": width}, progress=progress).per_image
              for width in settings.width_sweep]
    return pd.concat(frames, ignore_index=True)


def split_table2(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The depth half (3x3 kernel) and the kernel half (one layer) of a Table-2 summary."""
    by_depth = summary[summary["kernel_size"] == 3].sort_values(["backbone", "pattern", "depth"], kind="stable")
    by_kernel = summary[summary["depth"] == 1].sort_values(["backbone", "pattern", "kernel_size"], kind="stable")
    return by_depth.reset_index(drop=True), by_kernel.reset_index(drop=True)


def random_channel_draws(bundle: FeatureBundle, n_channels: int | None, n_draws: int,
                         seed: int = 0) -> list[dict]:
    """Equal-size random channel subsets of every level, and of all levels pooled.

    Parameters
    ----------
    bundle : FeatureBundle
        Gives the taps and their channel counts.
    n_channels : int or None
        Channels per subset; None -> the smallest level's channel count.
    n_draws : int
        Subsets per level.
    seed : int
        Seed of the draws.

    Returns
    -------
    list of dict
        ``{"level", "draw", "channels"}``, ``level`` being a tap name or ``"all"``.

    Raises
    ------
    ConfigError
        If a level has fewer than ``n_channels`` channels.
    """
    taps, counts = bundle.train.tap_names, bundle.train.tap_channels
    n_channels = n_channels or min(counts)
    if n_channels > min(counts):
        raise ConfigError(f"channels_per_level={n_channels} exceeds the smallest level of "
                          f"{bundle.config.label} ({min(counts)} channels)")
    rng = np.random.default_rng(seed)
    draws = []
    for level in list(taps) + ["all"]:
        pool = bundle.train.channel_index(None if level == "all" else [level])
        for draw in range(n_draws):
            draws.append({"level": level, "draw": draw,
                          "channels": np.sort(rng.choice(pool, size=n_channels, replace=False))})
    return draws


def probe_levels(bundle: FeatureBundle, readout: ReadoutConfig, seeds, n_channels: int | None = None,
                 n_draws: int = 3, draw_seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Per-image results of readouts on one level at a time, raw and channel-controlled.

    Raw: every channel of the level (and of all levels, ``level="all"``), each readout seed.
    Controlled: ``n_channels`` random channels per level (see the module docstring); draw
    ``i`` is initialised with readout seed ``seeds[i % len(seeds)]`` (all draws in one grouped pass).

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows plus ``level``, ``selection`` ("raw" or
        "controlled"), ``n_channels`` and ``draw`` (-1 for raw rows).
    """
    seeds = list(seeds)
    frames = [probe_raw_levels(bundle, readout, seeds, progress=progress)]
    draws = random_channel_draws(bundle, n_channels, n_draws, draw_seed)
    frames.append(probe_channel_sets(
        bundle, readout, [item["channels"] for item in draws], [seeds[item["draw"] % len(seeds)] for item in draws],
        [{"level": item["level"], "selection": "controlled", "n_channels": len(item["channels"]),
          "draw": item["draw"]} for item in draws], progress=progress))
    return pd.concat(frames, ignore_index=True)


def probe_raw_levels(bundle: FeatureBundle, readout: ReadoutConfig, seeds, levels=None, labels: dict | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """Per-image results of readouts on every channel of one level at a time (Table 3's ``raw`` selection).

    Parameters
    ----------
    bundle : FeatureBundle
    readout : ReadoutConfig
    seeds : iterable of int
    levels : iterable of str, optional
        Tap names and ``"all"`` (every level together); default: every tap, then ``"all"``.
    labels : dict, optional
        Extra constant columns of every row.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows plus ``level``, ``selection`` ("raw"), ``n_channels``
        and ``draw`` (-1).
    """
    seeds = list(seeds)
    levels = list(bundle.train.tap_names) + ["all"] if levels is None else list(levels)
    frames = []
    for level in levels:
        taps = None if level == "all" else [level]
        n_level = len(bundle.train.channel_index(taps))
        frames.append(probe(bundle, readout, seeds, taps=taps, progress=progress,
                            labels={**(labels or {}), "level": level, "selection": "raw", "n_channels": n_level,
                                    "draw": -1}).per_image)
    return pd.concat(frames, ignore_index=True)
