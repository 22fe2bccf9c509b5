"""Where is position stored? Readout depth and kernel size (Table 2) and one level at a time (Table 3).

Everything here reuses the features that notebook 02 cached (same :class:`FeatureConfig`,
same image sets), so only readouts are trained.

Readout variants
----------------
Table 2 varies the readout: depth 1, 2, 3 with a 3x3 kernel, and kernel size 1, 3, 5, 7
with one layer. The one-layer 3x3 readout is shared by both halves and trained once.
The paper's deeper readouts keep the input channel count in their hidden layers;
``hidden_channels`` in :data:`LAYERWISE_SETTINGS` sets a smaller width where the CPU
cannot afford it (``None`` = the paper's width).

Levels and the channel control
------------------------------
Table 3 taps one level (f1..f5) at a time. Deeper levels of VGG16 have more channels
(64 ... 512), so a raw comparison confounds depth with width. The *controlled* comparison
gives every level the same number of channels: ``channels_per_level`` channels drawn at
random (without replacement) from the level, by default the channel count of the smallest
level; "all" draws the same number from all levels pooled. Each draw ``i`` is trained with
readout seed ``seeds[i % len(seeds)]``, so the spread of the controlled rows is over
channel draws and readout seeds together.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .config import ConfigError, Profile, check_choice
from .probing import FeatureBundle, probe, readout_config_for
from .readout import ReadoutConfig

#: Profile-dependent sizes of notebook 03. ``epochs=None`` means the profile's epochs;
#: ``*_rows=None`` means the profile's backbone rows (those of notebook 02);
#: ``train_images``: readouts train on the first this many cached training images (None: all).
#: The default profile trains 10 epochs on 200 images and leaves ResNet-152 (2.5x the cost
#: of VGG16) to the paper profile, so notebooks 03 and 04 fit 30 minutes on 2 CPU cores.
LAYERWISE_SETTINGS: dict[str, dict] = {
    "smoke": {
        "epochs": None, "seeds": (0,), "depths": (1, 2, 3), "kernel_sizes": (1, 3, 5, 7),
        "hidden_channels": 4, "readout_rows": (("none", "none"),), "level_rows": (("vgg16", "random"),),
        "channels_per_level": None, "channel_draws": 1, "train_images": None,
    },
    "default": {
        "epochs": 10, "seeds": (0, 1, 2), "depths": (1, 2, 3), "kernel_sizes": (1, 3, 5, 7),
        "hidden_channels": 4,
        "readout_rows": (("none", "none"), ("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        "level_rows": (("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        "channels_per_level": None, "channel_draws": 3, "train_images": 200,
    },
    "paper": {
        "epochs": None, "seeds": (0, 1, 2), "depths": (1, 2, 3), "kernel_sizes": (1, 3, 5, 7),
        "hidden_channels": None, "readout_rows": None, "level_rows": None,
        "channels_per_level": None, "channel_draws": 5, "train_images": None,
    },
}


def layerwise_settings(profile: Profile) -> dict:
    """Settings of notebook 03 for ``profile``, with ``None`` rows and epochs filled in.

    Raises
    ------
    ConfigError
        If the profile has no entry in :data:`LAYERWISE_SETTINGS`.
    """
    settings = dict(LAYERWISE_SETTINGS[check_choice(profile.name, LAYERWISE_SETTINGS, "profile for notebook 03")])
    settings["epochs"] = settings["epochs"] or profile.epochs
    for key in ("readout_rows", "level_rows"):
        rows = settings[key] or profile.backbones
        if key == "level_rows":
            rows = [row for row in rows if row[0] != "none"]
        settings[key] = [tuple(row) for row in rows]
    return settings


def with_training_subset(bundle: FeatureBundle, n_images: int | None) -> FeatureBundle:
    """The same bundle with only its first ``n_images`` training images (None: unchanged).

    The cached array is sliced, not copied or recomputed, so the feature cache is still hit.
    """
    if not n_images or n_images >= len(bundle.train):
        return bundle
    train = dataclasses.replace(bundle.train, array=bundle.train.array[:n_images])
    return dataclasses.replace(bundle, train=train)


def readout_variants(depths, kernel_sizes) -> list[tuple[int, int]]:
    """Distinct ``(depth, kernel_size)`` pairs of Table 2: ``(d, 3)`` for each depth, ``(1, k)`` for each kernel."""
    pairs = [(int(d), 3) for d in depths] + [(1, int(k)) for k in kernel_sizes]
    return list(dict.fromkeys(pairs))


def probe_readout_variants(bundle: FeatureBundle, profile: Profile, settings: dict,
                           progress: bool = False) -> pd.DataFrame:
    """Per-image results of every Table-2 readout variant on one feature bundle.

    Parameters
    ----------
    bundle : FeatureBundle
        Cached features (all taps).
    profile : Profile
        Gives batch size and target size.
    settings : dict
        From :func:`layerwise_settings` (epochs, seeds, depths, kernel_sizes, hidden_channels).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows of all variants (columns depth, kernel_size tell them apart).
    """
    frames = []
    for depth, kernel_size in readout_variants(settings["depths"], settings["kernel_sizes"]):
        config = readout_config_for(profile, epochs=settings["epochs"], depth=depth, kernel_size=kernel_size,
                                    hidden_channels=settings["hidden_channels"] if depth > 1 else None)
        frames.append(probe(bundle, config, settings["seeds"], progress=progress).per_image)
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
    ``i`` uses readout seed ``seeds[i % len(seeds)]``.

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.probe` rows plus ``level``, ``selection`` ("raw" or
        "controlled"), ``n_channels`` and ``draw`` (-1 for raw rows).
    """
    seeds = list(seeds)
    frames = []
    for level in list(bundle.train.tap_names) + ["all"]:
        taps = None if level == "all" else [level]
        n_level = len(bundle.train.channel_index(taps))
        frames.append(probe(bundle, readout, seeds, taps=taps, progress=progress,
                            labels={"level": level, "selection": "raw", "n_channels": n_level, "draw": -1}).per_image)
    for item in random_channel_draws(bundle, n_channels, n_draws, draw_seed):
        seed = seeds[item["draw"] % len(seeds)]
        frames.append(probe(bundle, readout, [seed], channels=item["channels"], progress=progress,
                            labels={"level": item["level"], "selection": "controlled",
                                    "n_channels": len(item["channels"]), "draw": item["draw"]}).per_image)
    return pd.concat(frames, ignore_index=True)


def with_paper(ours: pd.DataFrame, paper: pd.DataFrame, keys: list[str], natural_test: str) -> pd.DataFrame:
    """Measured rows next to the paper's numbers for the same keys on the natural test set.

    The paper's backbones are ImageNet-trained; its weights appear in ``paper_weights``
    so a row probed with other weights (random init) is never mistaken for a match.

    Parameters
    ----------
    ours : pandas.DataFrame
        Summary with ``test_set``, ``weights``, ``spc``, ``mae`` and ``keys``.
    paper : pandas.DataFrame
        A :mod:`poslib.reference` table (``test_set == "natural"``).
    keys : list of str
        Columns to match on besides the test set.
    natural_test : str
        Name of our natural test set.
    """
    ours = ours[ours["test_set"] == natural_test]
    paper = paper.assign(paper_weights=paper.get("weights", pd.Series(index=paper.index, dtype=object)))
    paper["paper_weights"] = paper["paper_weights"].fillna(
        paper["backbone"].map(lambda b: "none" if b == "none" else "imagenet"))
    part = paper[keys + ["paper_weights", "spc", "mae"]].rename(columns={"spc": "spc_paper", "mae": "mae_paper"})
    for key in keys:
        if key in ours.columns:
            part[key] = part[key].astype(ours[key].dtype)
    return ours.merge(part, on=keys, how="left")
