"""Input contrast against position (notebook 07): does deep-layer position rise as the content fades?

Every training and test photo is blended towards ImageNet's mean colour,

    x' = mean + a (x - mean),      mean = (0.485, 0.456, 0.406) in [0, 1] RGB,

for each contrast ``a`` of :class:`poslib.config.ContrastSettings`. This is the mean
torchvision normalises by, and (to within half a grey level of 255) the mean the Caffe
VGG16 subtracts ((123.68, 116.779, 103.939) / 255 = (0.4850, 0.4580, 0.4076)): the same grey
for every row, so each network is shown the same faded images. ``a = 1`` is the photo
itself; ``a = 0.225`` is about the contrast the paper's ``ToTensor()``-only input has for
torchvision's ImageNet VGG16 (:class:`poslib.vgg_ports.TorchvisionViewOfRawInput`);
``a = 0`` is the uniform mean-colour image for every photo, the Black / White-like case
(every image is the same, so the only position cue left is the border through padding).

The faded images are new :class:`poslib.image_set.ImageSet` s named ``"<set> a=<a>"``;
their pixels (float32 on the 0-255 scale, so a = 0.02 is not rounded to a few grey levels;
``a = 1`` keeps the uint8 photos) change the content fingerprint, so the feature cache
holds one entry per contrast. Per row and contrast:

* readouts on every channel of one level at a time (Table 3's ``raw`` selection,
  :func:`poslib.experiments.layerwise.probe_raw_levels`), trained on the faded training
  photos and tested on the faded test photos (the section's seeds and epochs);
* the probe-free position share of every level (:mod:`poslib.position_share`) on the
  cached test features (the 28 x 28 resized maps the readouts see). At ``a = 0`` all test
  images are identical, so the share is 1 by construction for every channel that varies
  over positions: it is reported, but not compared.

Per-image rows keep the natural test set's name in ``test_set`` and the contrast in ``contrast``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..config import Profile
from ..features import FeatureConfig, extract_features
from ..image_set import ImageSet
from ..position_share import channel_shares, channel_table, share_table
from ..probing import (FeatureBundle, ProbeImages, SkippedRow, build_or_skip, readout_config_for, summarise,
                       with_backbone_class)
from ..readout import ReadoutConfig
from ..reference import paper_table1, paper_table3
from ..report import line_panels, model_label
from ..verdicts import OUTCOMES, claim_outcome
from ..vgg_ports import IMAGENET_RGB_MEAN
from ..weights import CONTROL_CLASS, IMAGENET_CLASS
from .layerwise import probe_raw_levels

#: The grey every photo is blended towards, on the 0-255 scale (ImageNet's mean colour, RGB).
MEAN_COLOUR = np.asarray(IMAGENET_RGB_MEAN, dtype=np.float64) * 255.0
#: Columns of the published summary.
SUMMARY_COLUMNS = ["backbone", "weights", "backbone_class", "contrast", "level", "n_channels", "test_set", "pattern",
                   "spc", "spc_std", "mae", "mae_std", "n_seeds", "n_images", "n_constant"]
#: Targets whose mean SPC the study reports (as claims 4-6).
POSITION_PATTERNS = ("H", "G")


def fade(images: np.ndarray, contrast: float) -> np.ndarray:
    """``mean + contrast * (images - mean)`` per channel: float32 (N, H, W, 3) on the 0-255 scale.

    Examples
    --------
    >>> pixel = np.array([[[[255, 0, 103]]]], dtype=np.uint8)
    >>> [round(v, 2) for v in fade(pixel, 0.5).flatten().tolist()]  # R: 123.675 + 0.5 * (255 - 123.675)
    [189.34, 58.14, 103.26]
    """
    if not 0.0 <= contrast <= 1.0:
        raise ValueError(f"contrast must lie in [0, 1], not {contrast}")
    mean = MEAN_COLOUR.reshape(1, 1, 1, 3)
    return (mean + contrast * (np.asarray(images, dtype=np.float64) - mean)).astype(np.float32)


def faded_set(image_set: ImageSet, contrast: float, limit: int | None = None) -> ImageSet:
    """The first ``limit`` images of ``image_set`` at ``contrast`` (named ``"<name> a=<contrast>"``).

    ``contrast == 1`` keeps the photos' uint8 pixels (the same content, the same
    fingerprint as the unfaded subset); any other contrast gives float32 pixels on the 0-255 scale.
    """
    keep = slice(0, limit or None)
    images = image_set.images[keep]
    pixels = images if contrast == 1 else fade(images, contrast)
    return dataclasses.replace(image_set, name=contrast_name(image_set.name, contrast), images=pixels,
                               ids=list(image_set.ids[keep]), source=f"{image_set.source}, blended to contrast "
                               f"{contrast:g} towards ImageNet's mean colour", _fingerprint=None)


def contrast_name(name: str, contrast: float) -> str:
    """``"PASCAL-S a=0.225"``."""
    return f"{name} a={contrast:g}"


def contrast_images(images: ProbeImages, contrast: float, train_images: int | None = None,
                    test_images: int | None = None) -> ProbeImages:
    """Training photos and the natural test photos, both at ``contrast`` (synthetic test sets left out)."""
    return ProbeImages(faded_set(images.train, contrast, train_images),
                       [faded_set(images.natural_test, contrast, test_images)], images.uses_embedded_default,
                       images.removed_duplicates)


@dataclass
class ContrastStudy:
    """Results of :func:`contrast_study`.

    Attributes
    ----------
    per_image : pandas.DataFrame
        :func:`poslib.probing.probe` rows plus contrast, level, selection, n_channels, draw;
        ``test_set`` is the natural test set's name.
    summary : pandas.DataFrame
        Mean and spread over seeds (:data:`SUMMARY_COLUMNS`).
    shares : pandas.DataFrame
        Position share per row, contrast and level (:func:`poslib.position_share.share_table` columns).
    channel_shares : pandas.DataFrame
        Position share per row, contrast and channel (level, channel, share, var_position, var_total).
    timings : pandas.DataFrame
        Seconds per row and contrast: features (0 when cached), readouts, position share.
    skipped : list of SkippedRow
    weights : list of str
        ``label: weights identity`` of every row that ran.
    """

    per_image: pd.DataFrame
    summary: pd.DataFrame
    shares: pd.DataFrame
    channel_shares: pd.DataFrame
    timings: pd.DataFrame
    skipped: list[SkippedRow] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)


def contrast_readout(profile: Profile) -> ReadoutConfig:
    """Notebook 07's readout: ``readout_config_for(profile, "contrast")`` (one layer, 3x3, no padding)."""
    return readout_config_for(profile, "contrast")


def contrast_study(profile: Profile, images: ProbeImages, progress: bool = False) -> ContrastStudy:
    """Readouts per level and the position share per level, for every row and contrast of the profile.

    Parameters
    ----------
    profile : Profile
        Gives the input size and :attr:`poslib.config.Profile.contrast` (rows, contrasts,
        levels, image limits, seeds, epochs, batch size).
    images : ProbeImages
        The probing images (:func:`poslib.probing.prepare_images`); their training set and
        natural test set are faded (:func:`contrast_images`).
    progress : bool

    Returns
    -------
    ContrastStudy
    """
    settings, readout = profile.contrast, contrast_readout(profile)
    frames, share_rows, channel_rows, timings, skipped, weights = [], [], [], [], [], []
    for backbone_name, weights_name in settings.rows:
        backbone, skip = build_or_skip(backbone_name, weights_name, "zeros", profile.input_size)
        if skip is not None:
            skipped.append(skip)
            continue
        config = FeatureConfig(backbone_name, weights_name, input_size=profile.input_size)
        weights.append(f"{config.label}: {backbone.weights_id}")
        levels = [level for level in settings.levels if level == "all" or level in backbone.tap_names]
        for contrast in settings.contrasts:
            faded = contrast_images(images, contrast, settings.train_images, settings.test_images)
            started = time.perf_counter()
            train, test = (extract_features(config, s, backbone=backbone, progress=progress)
                           for s in (faded.train, faded.natural_test))
            extracted = time.perf_counter()
            bundle = FeatureBundle(config, train, [test], backbone.weights_id)
            frames.append(probe_raw_levels(bundle, readout, settings.seeds, levels, {"contrast": contrast},
                                           progress=progress))
            probed = time.perf_counter()
            labels = {"backbone": backbone_name, "weights": weights_name, "contrast": contrast}
            shares = channel_shares(test.array)
            table = share_table(shares, test.tap_names, test.tap_channels)
            share_rows.append(table[table["level"].isin(levels)].assign(**labels))
            channel_rows.append(channel_table(shares, test.tap_names, test.tap_channels).assign(**labels))
            timings.append({**labels, "features_s": extracted - started, "readouts_s": probed - extracted,
                            "share_s": time.perf_counter() - probed})
    per_image = pd.concat(frames, ignore_index=True).assign(test_set=images.natural_test.name)
    summary = summarise(per_image, by=["backbone", "weights", "contrast", "level", "n_channels", "test_set", "pattern"])
    return ContrastStudy(per_image, with_backbone_class(summary)[SUMMARY_COLUMNS], _labelled(share_rows),
                         _labelled(channel_rows), pd.DataFrame(timings), skipped, weights)


def _labelled(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Share tables concatenated, with backbone, weights, backbone_class and contrast first."""
    table = pd.concat(parts, ignore_index=True)
    labels = ["backbone", "weights", "contrast"]
    return with_backbone_class(table[labels + [c for c in table.columns if c not in labels]])


def position_means(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Mean SPC over H and G per row, contrast and level on the natural test set (columns ..., spc)."""
    part = summary[(summary["test_set"] == natural_test) & summary["pattern"].isin(POSITION_PATTERNS)]
    return (part.groupby(["backbone", "weights", "backbone_class", "contrast", "level"], sort=False)["spc"].mean()
            .reset_index())


def beside_share(summary: pd.DataFrame, shares: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Mean SPC over H and G next to the position share, per row, contrast and level."""
    keys = ["backbone", "weights", "backbone_class", "contrast", "level"]
    return position_means(summary, natural_test).merge(shares[keys + ["share", "share_weighted"]], on=keys)


def rank_correlation(beside: pd.DataFrame) -> dict:
    """Spearman correlation between SPC (H, G) and the position share over every cell with contrast > 0.

    Contrast 0 is left out: every test image is then the same, so the share is 1 by construction.
    """
    part = beside[(beside["contrast"] > 0) & beside["share"].notna()]
    rho, p = stats.spearmanr(part["spc"], part["share"]) if len(part) > 2 else (np.nan, np.nan)
    return {"rho": float(rho), "p_value": float(p), "n_cells": int(len(part))}


def overtake_table(summary: pd.DataFrame, natural_test: str, deep: str = "f5", shallow: str = "f4") -> pd.DataFrame:
    """Per row: the first contrast (from 1 downwards) at which ``deep``'s mean SPC (H, G) exceeds ``shallow``'s.

    Returns
    -------
    pandas.DataFrame
        backbone, weights, backbone_class, ``deep``/``shallow`` SPC at contrast 1, ``overtakes_at``
        (NaN when it never does), ``from_full_contrast`` (already above at contrast 1).
    """
    means = position_means(summary, natural_test)
    rows = []
    for (backbone, weights, kind), part in means.groupby(["backbone", "weights", "backbone_class"], sort=False):
        wide = part.pivot(index="contrast", columns="level", values="spc").sort_index(ascending=False)
        if deep not in wide or shallow not in wide:
            continue
        above = wide.index[wide[deep] > wide[shallow]]
        top = wide.index[0]
        rows.append({"backbone": backbone, "weights": weights, "backbone_class": kind,
                     f"{deep}_at_1": float(wide.loc[top, deep]), f"{shallow}_at_1": float(wide.loc[top, shallow]),
                     "overtakes_at": float(above[0]) if len(above) else np.nan,
                     "from_full_contrast": bool(len(above) and above[0] == top)})
    return pd.DataFrame(rows)


def overtake_sentences(overtakes: pd.DataFrame, deep: str = "f5", shallow: str = "f4") -> list[str]:
    """One sentence per row of :func:`overtake_table`."""
    lines = []
    for row in overtakes.itertuples():
        head = f"{row.backbone}/{row.weights}: {deep} ({getattr(row, f'{deep}_at_1'):.3f}) vs {shallow} " \
               f"({getattr(row, f'{shallow}_at_1'):.3f}) at contrast 1"
        if row.from_full_contrast:
            lines.append(f"{head}; {deep} is above {shallow} already at full contrast.")
        elif np.isnan(row.overtakes_at):
            lines.append(f"{head}; {deep} never overtakes {shallow} at the contrasts measured.")
        else:
            lines.append(f"{head}; {deep} overtakes {shallow} at contrast {row.overtakes_at:g}.")
    return lines


def plot_contrast(summary: pd.DataFrame, natural_test: str, value: str = "spc", patterns=POSITION_PATTERNS):
    """SPC (or another summary column) per level against contrast: a line per level, a panel per row and target.

    Contrast falls from left to right (1 ... 0), evenly spaced; error bars: std over seeds.
    """
    part = summary[(summary["test_set"] == natural_test) & summary["pattern"].isin(list(patterns))]
    part = part.sort_values("contrast", ascending=False, kind="stable")
    part = part.assign(model=model_label(part), contrast=part["contrast"].map(lambda a: f"{a:g}"))
    return line_panels(part, x="contrast", y=value, hue="level", col="model", row="pattern", yerr=f"{value}_std",
                       categorical_x=True, fixed_colours=True, xlabel="input contrast a", ylabel=value.upper(),
                       legend_title="level", title=f"{value.upper()} per level against input contrast ({natural_test})")


def plot_shares(shares: pd.DataFrame):
    """Position share per level against contrast: a line per level, a panel per row.

    Contrast 0 is left out: every test image is then the same, so the share is 1 by construction.
    """
    part = shares[shares["contrast"] > 0].sort_values("contrast", ascending=False, kind="stable")
    part = part.assign(model=model_label(part), contrast=part["contrast"].map(lambda a: f"{a:g}"))
    return line_panels(part, x="contrast", y="share", hue="level", col="model", categorical_x=True,
                       fixed_colours=True, xlabel="input contrast a", ylabel="position share", legend_title="level",
                       title="Probe-free position share per level against input contrast (test images)")


#: The contrast the paper's ToTensor()-only input has for torchvision's VGG16 (about ImageNet's std).
PAPER_INPUT_CONTRAST = 0.225
#: The row compared with the paper's VGG16 numbers.
PAPER_ROW = ("vgg16", "imagenet-caffe")


def _value(means: pd.DataFrame, row, contrast: float, level: str, pattern: str) -> float:
    """SPC of one cell of the summary (NaN when absent)."""
    cell = means[(means["backbone"] == row[0]) & (means["weights"] == row[1]) & (means["contrast"] == contrast)
                 & (means["level"] == level) & (means["pattern"] == pattern)]
    return float(cell["spc"].iloc[0]) if len(cell) else np.nan


def _outcome(checks: pd.DataFrame, kind: str, measure: str) -> str:
    """The combined outcome of one measure's checks on one backbone class, with its count: ``"holds (2 of 2 rows)"``."""
    part = checks[(checks["backbone_class"] == kind) & checks["subject"].str.contains(measure, regex=False)]
    if not len(part):
        return "not measured"
    outcomes = list(part["outcome"])
    return (f"{claim_outcome(outcomes)} ("
            + ", ".join(f"{outcomes.count(o)} of {len(outcomes)} rows {o}" for o in OUTCOMES if o in outcomes) + ")")


#: The one-line answer for the combined outcomes of the SPC checks on ImageNet rows.
_ANSWERS = {"holds": "Yes", "contradicted": "No", "inconclusive": "Not settled by these data"}


def paper_comparison(summary: pd.DataFrame, natural_test: str, row=PAPER_ROW) -> list[str]:
    """Sentences comparing ``row``'s f5 (at contrast 1 and at the paper's input contrast) and its contrast-0
    readout with the paper's f5 (Table 3) and Black / White (Table 1) numbers of VGG16."""
    means = summary[summary["test_set"] == natural_test]
    contrasts = set(means["contrast"])
    if not ((means["backbone"] == row[0]) & (means["weights"] == row[1])).any() or 1.0 not in contrasts:
        return [f"{row[0]}/{row[1]} did not run here: no comparison with the paper's VGG16."]
    paper3 = paper_table3().set_index(["taps", "pattern"])["spc"]
    paper1 = paper_table1()
    paper1 = paper1[paper1["backbone"] == "vgg16"].set_index(["test_set", "pattern"])["spc"]
    lines = []
    f5 = {(a, p): _value(means, row, a, "f5", p) for a in (1.0, PAPER_INPUT_CONTRAST) for p in POSITION_PATTERNS}
    text = (f"{row[0]}/{row[1]} f5 reads H {f5[(1.0, 'H')]:.3f} / G {f5[(1.0, 'G')]:.3f} at contrast 1")
    if PAPER_INPUT_CONTRAST in contrasts:
        text += (f" and H {f5[(PAPER_INPUT_CONTRAST, 'H')]:.3f} / G {f5[(PAPER_INPUT_CONTRAST, 'G')]:.3f} at "
                 f"a = {PAPER_INPUT_CONTRAST:g} (about the contrast the paper's ToTensor() input has for torchvision's "
                 f"VGG16)")
    text += f"; the paper's f5: H {paper3[('f5', 'H')]:.3f} / G {paper3[('f5', 'G')]:.3f}."
    if PAPER_INPUT_CONTRAST in contrasts:
        parts = []
        for p in POSITION_PATTERNS:
            gap = paper3[("f5", p)] - f5[(1.0, p)]
            moved = f5[(PAPER_INPUT_CONTRAST, p)] - f5[(1.0, p)]
            if abs(gap) > 1e-9:
                parts.append(f"{p}: {moved:+.3f} of the {gap:+.3f} gap ({100 * moved / gap:.0f} %)")
        text += (" Fading to the paper's input contrast moves f5 by " + "; ".join(parts) + ".") if parts else ""
    lines.append(text)
    if 0.0 in contrasts:
        zero = {p: _value(means, row, 0.0, "all", p) for p in POSITION_PATTERNS}
        lines.append(f"At a = 0 (every image the uniform mean colour, like the paper's Black / White inputs) all "
                     f"levels together read H {zero['H']:.3f} / G {zero['G']:.3f}; the paper's VGG16 reads Black "
                     f"H {paper1[('black', 'H')]:.3f} / G {paper1[('black', 'G')]:.3f} and White H "
                     f"{paper1[('white', 'H')]:.3f} / G {paper1[('white', 'G')]:.3f} (its readout is trained on photos "
                     "and tested on the uniform image; here it is trained on the uniform image too).")
    return lines


def closing_paragraph(summary: pd.DataFrame, checks: pd.DataFrame, overtakes: pd.DataFrame,
                      natural_test: str) -> str:
    """The notebook's answer, rendered from the tables: the checks per backbone class, where f5 overtakes f4,
    and the comparison with the paper's f5 and Black / White numbers (:func:`paper_comparison`)."""
    imagenet, control = (_outcome(checks, kind, "SPC") for kind in (IMAGENET_CLASS, CONTROL_CLASS))
    imagenet_share, control_share = (_outcome(checks, kind, "share") for kind in (IMAGENET_CLASS, CONTROL_CLASS))
    answer = _ANSWERS.get(imagenet.split(" (")[0], "Not measured here")
    same = control.split(" (")[0] == imagenet.split(" (")[0]
    lines = [f"**Does position readable from deep layers rise as the content fades?** {answer}: f5's SPC at the "
             f"lowest non-zero contrast against contrast 1 {imagenet} on the ImageNet rows; the probe-free share "
             f"{imagenet_share}. The random-init control: SPC {control}, share {control_share}"
             + (" -- the same outcome as the trained rows, as expected if the border cue (padding), which needs no "
                "training, is what takes over." if same else " -- not the outcome of the trained rows.")]
    for row in checks.itertuples():
        lines.append(f"- {row.subject} ({row.backbone_class}): {row.evidence}; difference {row.difference:+.3f}, "
                     f"95 % interval [{row.low:+.3f}, {row.high:+.3f}]: **{row.outcome}**.")
    lines += [f"- {sentence}" for sentence in overtake_sentences(overtakes)]
    lines.append("\n**Does that explain the paper's f5 and Black / White numbers?** "
                 + " ".join(paper_comparison(summary, natural_test)))
    return "\n".join(lines)
