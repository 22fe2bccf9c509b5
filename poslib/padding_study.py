"""Where does position come from? Readout padding, backbone padding rules, and the border.

Notebook 04 asks three things of the same backbone weights:

* **readout padding** 0, 1, 2 (the paper's Table 4, upper half): zero padding in the
  readout's own convolution marks the border, even on raw pixels;
* **backbone padding rule** (:data:`poslib.padding.PADDING_RULES`): ``zeros`` (as
  trained), ``none`` (every convolution "valid"; the paper's "w/o padding"), and, further
  than the paper, ``reflect``, ``replicate`` and ``circular``. Circular padding wraps the
  image onto a torus, so no convolution ever sees a border: the cleanest test of whether
  position comes from the border;
* **border analysis**: the readout's absolute error as a function of the distance to the
  nearest image border, and the error near each side (left, right, top, bottom). Stride-2
  layers with TF-style "same" padding (EfficientNet-Lite) pad right and bottom only; the
  side errors show whether that makes the readout asymmetric.

Backbones that cannot run a rule (ResNet-152 and EfficientNet-Lite0 without padding, see
:data:`poslib.backbones.UNSUPPORTED_PADDING_REASONS`) are skipped with the reason recorded.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .backbones import WeightsNotFoundError
from .config import ConfigError, Profile, check_choice
from .features import FeatureConfig
from .patterns import PATTERN_NAMES, make_patterns
from .probing import FeatureBundle, ProbeImages, ProbeResult, extract_bundle, probe, readout_config_for
from .readout import ReadoutConfig, predict

#: Profile-dependent sizes of notebook 04. ``epochs=None`` means the profile's epochs;
#: ``*_rows=None`` means the profile's backbone rows (those of notebook 02);
#: ``train_images``: every configuration (all padding rules alike) uses only the first this
#: many training images (None: all), which halves the new feature extractions and the
#: readout training in the default profile; ResNet-152 is left to the paper profile.
PADDING_STUDY_SETTINGS: dict[str, dict] = {
    "smoke": {
        "epochs": None, "seeds": (0,), "readout_paddings": (0, 1, 2),
        "readout_padding_rows": (("none", "none"), ("vgg16", "random")),
        "rule_rows": (("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        "rules": ("zeros", "none", "circular"), "border_bins": 8, "side_band": 0.1, "train_images": None,
    },
    "default": {
        "epochs": 10, "seeds": (0, 1, 2), "readout_paddings": (0, 1, 2),
        "readout_padding_rows": (("none", "none"), ("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        "rule_rows": (("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        "rules": ("zeros", "none", "reflect", "replicate", "circular"), "border_bins": 16, "side_band": 0.1,
        "train_images": 200,
    },
    "paper": {
        "epochs": None, "seeds": (0, 1, 2), "readout_paddings": (0, 1, 2),
        "readout_padding_rows": None, "rule_rows": None,
        "rules": ("zeros", "none", "reflect", "replicate", "circular"), "border_bins": 16, "side_band": 0.1,
        "train_images": None,
    },
}

def padding_study_settings(profile: Profile) -> dict:
    """Settings of notebook 04 for ``profile``, with ``None`` rows and epochs filled in.

    Raises
    ------
    ConfigError
        If the profile has no entry in :data:`PADDING_STUDY_SETTINGS`.
    """
    settings = dict(PADDING_STUDY_SETTINGS[check_choice(profile.name, PADDING_STUDY_SETTINGS, "profile for notebook 04")])
    settings["epochs"] = settings["epochs"] or profile.epochs
    settings["readout_padding_rows"] = [tuple(r) for r in settings["readout_padding_rows"] or profile.backbones]
    settings["rule_rows"] = [tuple(r) for r in settings["rule_rows"] or profile.backbones if r[0] != "none"]
    return settings


def first_training_images(images: ProbeImages, n_images: int | None) -> ProbeImages:
    """The same image sets with only the first ``n_images`` training images (None: unchanged)."""
    train = images.train
    if not n_images or n_images >= len(train):
        return images
    subset = dataclasses.replace(train, images=train.images[:n_images], ids=train.ids[:n_images],
                                 source=f"{train.source} (first {n_images})", _fingerprint=None)
    return dataclasses.replace(images, train=subset)


def probe_readout_paddings(rows, images: ProbeImages, profile: Profile, settings: dict,
                           reuse: dict | None = None, progress: bool = False):
    """One-layer 3x3 readouts with zero padding ``settings["readout_paddings"]`` on each row.

    Parameters
    ----------
    rows : list of (str, str)
        ``(backbone, weights)`` rows (features as cached by notebook 02).
    images : ProbeImages
    profile : Profile
    settings : dict
        From :func:`padding_study_settings`.
    reuse : dict, optional
        ``probed`` of :func:`probe_backbone_rules`: a row's readout padding 0 is taken
        from its ``zeros`` rule instead of being trained again.
    progress : bool

    Returns
    -------
    per_image : pandas.DataFrame
        :func:`poslib.probing.probe` rows (column ``readout_padding``).
    skipped : list of dict
        Rows whose weights are missing.
    """
    frames, skipped = [], []
    for backbone, weights in rows:
        known = (reuse or {}).get((backbone, weights, "zeros"))
        try:
            bundle = known[0] if known else extract_bundle(
                FeatureConfig(backbone, weights, input_size=profile.input_size), images, progress)
        except WeightsNotFoundError as error:
            skipped.append({"backbone": backbone, "weights": weights, "padding": "zeros", "reason": str(error)})
            continue
        for padding in settings["readout_paddings"]:
            if padding == 0 and known:
                frames.append(known[1].per_image)
                continue
            config = readout_config_for_study(profile, settings, padding=padding)
            frames.append(probe(bundle, config, settings["seeds"], progress=progress).per_image)
    per_image = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return per_image, skipped


def readout_config_for_study(profile: Profile, settings: dict, **overrides) -> ReadoutConfig:
    """The one-layer 3x3 readout of notebook 04 (``settings["epochs"]``), with overrides."""
    return readout_config_for(profile, epochs=settings["epochs"], **overrides)


def probe_backbone_rules(rows, rules, images: ProbeImages, readout: ReadoutConfig, seeds,
                         input_size: int, progress: bool = False):
    """Probe the same backbone weights under several padding rules.

    Parameters
    ----------
    rows : list of (str, str)
        ``(backbone, weights)``.
    rules : tuple of str
        Padding rules (:data:`poslib.padding.PADDING_RULES`).
    images : ProbeImages
    readout : ReadoutConfig
    seeds : iterable of int
    input_size : int

    Returns
    -------
    per_image : pandas.DataFrame
        :func:`poslib.probing.probe` rows (column ``padding`` is the rule).
    skipped : list of dict
        ``{"backbone", "weights", "padding", "reason"}`` for each configuration that could not run.
    probed : dict
        ``(backbone, weights, rule) -> (FeatureBundle, ProbeResult)``.
    """
    frames, skipped, probed = [], [], {}
    for backbone, weights in rows:
        for rule in rules:
            try:
                bundle = extract_bundle(FeatureConfig(backbone, weights, padding=rule, input_size=input_size),
                                        images, progress)
            except (WeightsNotFoundError, ConfigError) as error:
                skipped.append({"backbone": backbone, "weights": weights, "padding": rule, "reason": str(error)})
                continue
            result = probe(bundle, readout, seeds, progress=progress)
            frames.append(result.per_image)
            probed[(backbone, weights, rule)] = (bundle, result)
    per_image = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return per_image, skipped, probed


def border_distance(size: int) -> np.ndarray:
    """Distance in pixels from each pixel centre to the nearest image border, shape (size, size).

    Examples
    --------
    >>> border_distance(4).tolist()[0]
    [0.5, 0.5, 0.5, 0.5]
    >>> float(border_distance(4)[1, 1])
    1.5
    """
    coordinate = np.arange(size) + 0.5
    to_edge = np.minimum(coordinate, size - coordinate)
    return np.minimum(to_edge[:, None], to_edge[None, :])


def error_by_border_distance(errors: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Mean of a per-pixel error map in rings of equal width around the border.

    Parameters
    ----------
    errors : numpy.ndarray
        (size, size) error map (e.g. absolute error averaged over images).
    n_bins : int
        Number of rings between the border and the centre.

    Returns
    -------
    pandas.DataFrame
        ``distance`` (ring centre as a fraction of the half side, 0 = border, 1 = centre),
        ``abs_error`` and ``n_pixels``.
    """
    size = errors.shape[-1]
    distance = border_distance(size) / (size / 2)
    ring = np.minimum((distance * n_bins).astype(int), n_bins - 1)
    rows = [{"distance": (b + 0.5) / n_bins, "abs_error": float(errors[ring == b].mean()),
             "n_pixels": int((ring == b).sum())} for b in range(n_bins) if (ring == b).any()]
    return pd.DataFrame(rows)


def error_by_side(errors: np.ndarray, band: float) -> dict[str, float]:
    """Mean error in a band of relative width ``band`` along each side of an (size, size) error map."""
    size = errors.shape[-1]
    width = max(1, int(round(band * size)))
    return {"left": float(errors[:, :width].mean()), "right": float(errors[:, -width:].mean()),
            "top": float(errors[:width].mean()), "bottom": float(errors[-width:].mean())}


def border_errors(bundle: FeatureBundle, result: ProbeResult, n_bins: int, band: float,
                  patterns=PATTERN_NAMES, test_index: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Absolute error of every seed's readout against border distance and per side.

    Parameters
    ----------
    bundle : FeatureBundle
    result : ProbeResult
        With its trained readouts (one per seed).
    n_bins : int
        Rings for :func:`error_by_border_distance`.
    band : float
        Relative band width for :func:`error_by_side`.
    patterns : sequence of str
        Targets to analyse.
    test_index : int
        Which test set of the bundle (0 = natural test images).

    Returns
    -------
    rings : pandas.DataFrame
        backbone, weights, padding, seed, pattern, distance, abs_error, n_pixels.
    sides : pandas.DataFrame
        backbone, weights, padding, seed, pattern, side, abs_error.
    """
    size = bundle.config.input_size
    targets = make_patterns(size, PATTERN_NAMES)
    labels = {"backbone": bundle.config.backbone, "weights": bundle.config.weights,
              "padding": bundle.config.padding}
    rings, sides = [], []
    for seed, model in result.readouts.items():
        predictions = predict(model, bundle.tests[test_index].array, size)
        for pattern in patterns:
            t = PATTERN_NAMES.index(pattern)
            errors = np.abs(predictions[:, t] - targets[t]).mean(axis=0)
            rings.append(error_by_border_distance(errors, n_bins).assign(**labels, seed=seed, pattern=pattern))
            sides += [{**labels, "seed": seed, "pattern": pattern, "side": side, "abs_error": value}
                      for side, value in error_by_side(errors, band).items()]
    return pd.concat(rings, ignore_index=True), pd.DataFrame(sides)


def side_asymmetry(sides: pd.DataFrame) -> pd.DataFrame:
    """Right-minus-left and bottom-minus-top error per configuration and pattern (mean, std over seeds)."""
    keys = ["backbone", "weights", "padding", "pattern"]
    wide = sides.pivot_table(index=keys + ["seed"], columns="side", values="abs_error").reset_index()
    wide = wide.assign(right_minus_left=wide["right"] - wide["left"], bottom_minus_top=wide["bottom"] - wide["top"])
    return (wide.groupby(keys, sort=False)
            .agg(right_minus_left=("right_minus_left", "mean"), right_minus_left_std=("right_minus_left", lambda s: s.std(ddof=0)),
                 bottom_minus_top=("bottom_minus_top", "mean"), bottom_minus_top_std=("bottom_minus_top", lambda s: s.std(ddof=0)),
                 n_seeds=("seed", "nunique"))
            .reset_index())


def plot_border_errors(rings: pd.DataFrame, pattern_column: str = "pattern"):
    """Absolute error against border distance: one panel per backbone and pattern, one line per padding rule.

    Parameters
    ----------
    rings : pandas.DataFrame
        Columns backbone, weights, padding, pattern, distance, abs_error, abs_error_std.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    import seaborn as sns

    models = list(dict.fromkeys(rings["backbone"] + "/" + rings["weights"]))
    rules = list(dict.fromkeys(rings["padding"]))
    colours = dict(zip(rules, sns.color_palette(n_colors=len(rules))))  # one colour per rule in every panel
    patterns = list(dict.fromkeys(rings[pattern_column]))
    figure, axes = plt.subplots(len(models), len(patterns), figsize=(3.6 * len(patterns), 2.8 * len(models)),
                                squeeze=False, sharex=True)
    for r, model in enumerate(models):
        for c, pattern in enumerate(patterns):
            axis = axes[r][c]
            part = rings[(rings["backbone"] + "/" + rings["weights"] == model) & (rings[pattern_column] == pattern)]
            for rule, line in part.groupby("padding", sort=False):
                axis.errorbar(line["distance"], line["abs_error"], yerr=line.get("abs_error_std"), label=rule,
                              color=colours[rule], capsize=2, marker="o", markersize=3)
            axis.set_title(f"{model}, {pattern}", fontsize=9)
            axis.set_xlabel("distance to border (0 = border, 1 = centre)")
            axis.set_ylabel("abs. error")
    for row in axes:
        row[-1].legend(fontsize=7, title="padding", title_fontsize=7)
    figure.tight_layout()
    return figure


def describe_padding_rules(rules: pd.DataFrame, asymmetry: pd.DataFrame, natural_test: str,
                           patterns=("H", "G")) -> list[str]:
    """Markdown lines, computed from the tables, saying what the padding rules and the side errors show.

    Parameters
    ----------
    rules : pandas.DataFrame
        Summary with backbone, weights, padding, test_set, pattern, spc.
    asymmetry : pandas.DataFrame
        Output of :func:`side_asymmetry`.
    natural_test : str
    patterns : sequence of str
        Targets whose mean SPC ranks the rules.
    """
    lines = []
    part = rules[(rules["test_set"] == natural_test) & rules["pattern"].isin(patterns)]
    for (backbone, weights), group in part.groupby(["backbone", "weights"], sort=False):
        spc = group.groupby("padding", sort=False)["spc"].mean().sort_values(ascending=False)
        ranking = ", ".join(f"{rule} {value:.3f}" for rule, value in spc.items())
        lines.append(f"- **{backbone}/{weights}**, mean SPC over {'/'.join(patterns)} by padding rule: {ranking}; "
                     f"lowest: `{spc.index[-1]}`, highest: `{spc.index[0]}`.")
    h = asymmetry[asymmetry["pattern"] == "H"]
    for row in h.itertuples():
        if row.padding == "zeros":
            lines.append(f"- Side errors of H on {row.backbone}/{row.weights} (zeros): right minus left "
                         f"{row.right_minus_left:+.3f} (std {row.right_minus_left_std:.3f} over {row.n_seeds} seeds).")
    return lines
