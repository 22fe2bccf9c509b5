"""Where does position come from? Readout padding, backbone padding rules, and the border.

Notebook 04 asks three things of the same backbone weights:

* **readout padding** 0, 1, 2 (the paper's Table 4, upper half): zero padding in the
  readout's own convolution marks the border, even on raw pixels;
* **backbone padding rule** (:data:`poslib.padding.PADDING_RULES`): ``zeros`` (as
  trained), ``valid`` (no padding; the paper's "w/o padding"), and, further
  than the paper, ``reflect``, ``replicate`` and ``circular``. Circular padding wraps the
  image onto a torus, so no convolution ever sees a border: the cleanest test of whether
  position comes from the border;
* **border analysis**: the readout's absolute error as a function of the distance to the
  nearest image border, and the error near each side (left, right, top, bottom). Stride-2
  layers with TF-style "same" padding (EfficientNet-Lite) pad right and bottom only; the
  side errors show whether that makes the readout asymmetric.

Backbones that cannot run a rule (ResNet-152 and EfficientNet-Lite0 without padding, see
:data:`poslib.backbones.UNSUPPORTED_PADDING_REASONS`) are skipped with the reason recorded.
Sizes come from the profile's :class:`poslib.config.PaddingStudySettings`; every
configuration trains on the first ``train_images`` cached training images.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..config import Profile
from ..features import FeatureConfig, extract_features
from ..metrics import spearman_per_image
from ..patterns import PATTERN_NAMES, make_patterns
from ..probing import (FeatureBundle, ProbedRows, ProbeImages, ProbeResult, extract_or_skip, probe, probe_rows,
                       readout_config_for)
from ..tables import aggregate_over_seeds, summarise, with_backbone_class
from ..readout import ReadoutConfig, predict


def study_readout(profile: Profile, **changes) -> ReadoutConfig:
    """Notebook 04's readout: ``readout_config_for(profile, "padding_study", **changes)``."""
    return readout_config_for(profile, "padding_study", **changes)


def probe_backbone_rules(profile: Profile, images: ProbeImages, progress: bool = False) -> ProbedRows:
    """Probe the same backbone weights under every padding rule of the study.

    Rows ``profile.padding_study.rule_rows`` x rules ``profile.padding_study.rules``;
    configurations a backbone cannot run are skipped with their cause.
    """
    settings = profile.padding_study
    configs = [FeatureConfig(backbone, weights, padding_rule=rule, input_size=profile.input_size)
               for backbone, weights in settings.rule_rows for rule in settings.rules]
    return probe_rows(configs, images, study_readout(profile), settings.seeds, train_images=settings.train_images,
                      progress=progress)


def probe_readout_paddings(profile: Profile, images: ProbeImages, rules: ProbedRows | None = None,
                           progress: bool = False) -> ProbedRows:
    """One-layer 3x3 readouts with zero padding ``profile.padding_study.readout_paddings`` on each row.

    Parameters
    ----------
    profile : Profile
    images : ProbeImages
    rules : ProbedRows, optional
        Output of :func:`probe_backbone_rules`: a row's readout padding 0 is taken from its
        ``zeros`` rule instead of being trained again.
    progress : bool

    Returns
    -------
    ProbedRows
        ``per_image`` has one block per row and readout padding (column ``readout_padding``).
    """
    settings = profile.padding_study
    known = rules.probed if rules is not None else {}
    frames, skipped, probed = [], [], {}
    for backbone, weights in settings.readout_padding_rows:
        config = FeatureConfig(backbone, weights, input_size=profile.input_size)
        if config in known:
            bundle = known[config][0]
        else:
            bundle, skip = extract_or_skip(config, images, progress)
            if skip is not None:
                skipped.append(skip)
                continue
            bundle = bundle.with_training_subset(settings.train_images)
        for padding in settings.readout_paddings:
            if padding == 0 and config in known:
                result = known[config][1]
            else:
                result = probe(bundle, study_readout(profile, readout_padding=padding), settings.seeds, progress=progress)
            frames.append(result.per_image)
            probed[(config, padding)] = (bundle, result)
    return ProbedRows(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), skipped, probed)


#: Columns of the published padding tables, in order (``readout_padding`` only in Table 4).
TABLE4_COLUMNS = ["backbone", "weights", "backbone_class", "input_convention", "padding_rule", "readout_padding",
                  "pattern", "test_set", "spc", "spc_std", "mae", "mae_std", "n_seeds", "n_images", "n_constant"]


def summarise_study(probed: ProbedRows, varied: str) -> pd.DataFrame:
    """SPC / MAE per row, studied setting, test set and target (mean and std over seeds).

    Parameters
    ----------
    probed : ProbedRows
        Output of :func:`probe_backbone_rules` or :func:`probe_readout_paddings`.
    varied : str
        The setting the study varies: ``"padding_rule"`` (backbone rule) or ``"readout_padding"``.

    Returns
    -------
    pandas.DataFrame
        :func:`poslib.probing.summarise` by backbone, weights, ``varied``, test_set, pattern.
    """
    return summarise(probed.per_image, by=["backbone", "weights", varied, "test_set", "pattern"])


def rules_table(rules: pd.DataFrame) -> pd.DataFrame:
    """The published table of backbone padding rules (``table4_padding_modes``).

    Parameters
    ----------
    rules : pandas.DataFrame
        Backbone rules summarised by :func:`summarise_study`.

    Returns
    -------
    pandas.DataFrame
        The summary with its ``backbone_class``, in the columns of :data:`TABLE4_COLUMNS`
        without ``readout_padding``.
    """
    return with_backbone_class(rules)[[c for c in TABLE4_COLUMNS if c != "readout_padding"]]


def table4(readout_paddings: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """Table 4 in long format: readout paddings on the zero-padded backbone, then the other backbone rules.

    The rows with readout padding 0 and backbone padding ``zeros`` / ``valid`` are the paper's
    Table 4; the readout-padding rows carry ``padding = "zeros"`` and the backbone-rule rows
    ``readout_padding = 0``, so each configuration appears once.

    Parameters
    ----------
    readout_paddings : pandas.DataFrame
        Readout paddings summarised by :func:`summarise_study`.
    rules : pandas.DataFrame
        Backbone rules summarised by :func:`summarise_study`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE4_COLUMNS`, rows ordered by backbone class.
    """
    return with_backbone_class(pd.concat([
        readout_paddings.assign(padding_rule="zeros"),
        rules[rules["padding_rule"] != "zeros"].assign(readout_padding=0),
    ], ignore_index=True))[TABLE4_COLUMNS]


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
              "padding_rule": bundle.config.padding_rule}
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
    keys = ["backbone", "weights", "padding_rule", "pattern"]
    wide = sides.pivot_table(index=keys + ["seed"], columns="side", values="abs_error").reset_index()
    wide = wide.assign(right_minus_left=wide["right"] - wide["left"], bottom_minus_top=wide["bottom"] - wide["top"])
    return aggregate_over_seeds(wide, keys, ["right_minus_left", "bottom_minus_top"])[
        keys + ["right_minus_left", "right_minus_left_std", "bottom_minus_top", "bottom_minus_top_std", "n_seeds"]]


def border_analysis(rules: ProbedRows, n_bins: int, band: float, patterns=("H", "V", "G"),
                    test_index: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Border errors of every probed rule: rings (mean and std over seeds) and side asymmetry.

    Parameters
    ----------
    rules : ProbedRows
        Output of :func:`probe_backbone_rules`.
    n_bins, band, patterns, test_index :
        As in :func:`border_errors`.

    Returns
    -------
    rings : pandas.DataFrame
        backbone, weights, padding, pattern, distance, abs_error, abs_error_std, n_seeds, n_pixels.
    asymmetry : pandas.DataFrame
        :func:`side_asymmetry` of the side errors.
    """
    ring_frames, side_frames = [], []
    for bundle, result in rules.probed.values():
        rings_part, sides_part = border_errors(bundle, result, n_bins, band, patterns=patterns, test_index=test_index)
        ring_frames.append(rings_part)
        side_frames.append(sides_part)
    rings = aggregate_over_seeds(pd.concat(ring_frames, ignore_index=True),
                                 ["backbone", "weights", "padding_rule", "pattern", "distance"], ["abs_error"],
                                 n_pixels=("n_pixels", "first"))
    return rings, side_asymmetry(pd.concat(side_frames, ignore_index=True))


def seam_shift(size: int, stride: int = 32) -> int:
    """A horizontal circular shift near half the width that is a multiple of the network's total stride.

    Examples
    --------
    >>> seam_shift(224), seam_shift(112)
    (128, 64)
    """
    return stride * max(1, int(np.floor(size / (2 * stride) + 0.5)))


def seam_test(rules: ProbedRows, images: ProbeImages, rule: str = "circular", patterns=("H", "V", "G"),
              progress: bool = False) -> pd.DataFrame:
    """Does a circularly padded backbone read position from the wrap-around seam?

    Circular padding joins each image edge to the opposite one, so the network never sees
    invented zeros, but the seam where the edges meet is itself an edge (for a photo, the
    left and right borders rarely match). A network with circular padding is (for shifts by
    a multiple of its stride) equivariant to circular shifts of its input. We roll every
    natural test image horizontally by :func:`seam_shift` columns, which moves the seam into
    the image, and predict with the readouts trained on unrolled images:

    * ``spc_fixed_frame``: SPC of the prediction on rolled inputs with the usual target:
      high if position comes from the image frame;
    * ``spc_seam_frame``: SPC with the target rolled by the same shift: high if the
      prediction follows the seam;
    * ``spc_unrolled``: the usual SPC on the unrolled inputs, for reference.

    Returns
    -------
    pandas.DataFrame
        backbone, weights, padding, pattern, shift and the three SPCs (mean and std over seeds).
    """
    rows = []
    for config, (bundle, result) in rules.probed.items():
        if config.padding_rule != rule:
            continue
        test, natural = bundle.tests[0], images.natural_test
        size = config.input_size
        shift = seam_shift(size)
        rolled_set = dataclasses.replace(natural, name=f"{natural.name}-rolled{shift}", _fingerprint=None,
                                         images=np.ascontiguousarray(np.roll(natural.images, shift, axis=2)))
        rolled = extract_features(config, rolled_set, progress=progress).array
        targets = make_patterns(size, PATTERN_NAMES)
        for seed, model in result.readouts.items():
            unrolled_prediction = predict(model, test.array, size)
            rolled_prediction = predict(model, rolled, size)
            for pattern in patterns:
                t = PATTERN_NAMES.index(pattern)
                rows.append({"backbone": config.backbone, "weights": config.weights, "padding_rule": rule,
                             "pattern": pattern, "shift": shift, "seed": seed,
                             "spc_unrolled": spearman_per_image(unrolled_prediction[:, t], targets[t])[0].mean(),
                             "spc_fixed_frame": spearman_per_image(rolled_prediction[:, t], targets[t])[0].mean(),
                             "spc_seam_frame": spearman_per_image(rolled_prediction[:, t],
                                                                  np.roll(targets[t], shift, axis=1))[0].mean()})
    if not rows:
        return pd.DataFrame()
    keys = ["backbone", "weights", "padding_rule", "pattern", "shift"]
    return aggregate_over_seeds(pd.DataFrame(rows), keys, ["spc_unrolled", "spc_fixed_frame", "spc_seam_frame"])


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
    from ..report import line_panels, model_label

    return line_panels(rings.assign(model=model_label(rings)), "distance", "abs_error", hue="padding_rule",
                       col=pattern_column, row="model", yerr="abs_error_std", fixed_colours=True, sharex=True,
                       sharey=False, panel_title=lambda model, pattern: f"{model}, {pattern}",
                       xlabel="distance to border (0 = border, 1 = centre)", ylabel="abs. error",
                       label_every_panel=True, legend_title="padding rule")


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
        spc = group.groupby("padding_rule", sort=False)["spc"].mean().sort_values(ascending=False)
        ranking = ", ".join(f"{rule} {value:.3f}" for rule, value in spc.items())
        lines.append(f"- **{backbone}/{weights}**, mean SPC over {'/'.join(patterns)} by padding rule: {ranking}; "
                     f"lowest: `{spc.index[-1]}`, highest: `{spc.index[0]}`.")
    h = asymmetry[asymmetry["pattern"] == "H"]
    for row in h.itertuples():
        if row.padding_rule == "zeros":
            lines.append(f"- Side errors of H on {row.backbone}/{row.weights} (zeros): right minus left "
                         f"{row.right_minus_left:+.3f} (std {row.right_minus_left_std:.3f} over {row.n_seeds} seeds).")
    return lines
