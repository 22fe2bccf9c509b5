"""The paper's claims, checked against measured tables with one rule that sees the spread.

Every check returns a row ``claim, subject, backbone_class, evidence, difference, se, rule,
holds`` computed from a summary table (:func:`poslib.tables.summarise`), so a notebook's
closing cell states from the numbers, not from prose, whether a claim holds here.
(About 440 lines: one verdict rule and the nine claims it is applied to belong together,
so that every threshold of the study is in one file.)

The verdict rule
----------------
Summaries give, per configuration, the mean over seeds of a per-seed score and its sample
standard deviation over ``n_seeds`` seeds; its standard error is ``std / sqrt(n_seeds)``
(:func:`standard_error`). Every check is one of three comparisons, each with a margin of
:data:`N_STANDARD_ERRORS` standard errors:

* ``A > B`` (:func:`greater`): holds when ``A - B > 2 * SE``, where
  ``SE = sqrt(SE_A^2 + SE_B^2)`` (the two are trained independently);
* ``A > t`` for a threshold ``t`` (:func:`above`): holds when ``A - t > 2 * SE_A``;
* ``A about 0`` within a margin ``m`` (:func:`about_zero`): holds when the interval
  ``A +- 2 * SE_A`` lies inside ``(-m, m)``.

A mean over several targets (H and G, say) gets ``SE = sqrt(sum SE_i^2) / k``, which
treats the targets' readouts as independent (they have disjoint parameters but share seeds
and images, so this is an approximation). With one seed there is no spread: SE is 0, the
rule degenerates to a plain comparison, and the ``rule`` column says ``1 seed``. A check
holds or fails; a claim's verdict (:func:`verdict`) counts its checks per backbone class.

Thresholds (SPC on the natural test set unless stated), all here:

* positive control (notebook 01): ``SPC > CONTROL_MIN_SPC`` for H, V and G on pure
  coordinate channels;
* "no position information": ``|SPC| < NO_INFO_MAX`` (with the interval) for H, V and G;
* "recovers position": ``SPC > RECOVERS_MIN`` (with the interval) for H, V and G;
* "stripes are harder": mean SPC over HS, VS below the mean over H, V, G.

Backbone classes
----------------
Claims 2-6 are judged on ImageNet-trained backbones (:func:`poslib.backbones.backbone_class`);
random initialisations and raw pixels are controls, reported beside them with their own
verdicts, labelled as such.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .backbones import backbone_class
from .config import RAW_PIXELS

NO_INFO_MAX = 0.2
RECOVERS_MIN = 0.5
CONTROL_MIN_SPC = 0.95
#: Standard errors a difference must exceed.
N_STANDARD_ERRORS = 2.0
EASY_PATTERNS = ("H", "V", "G")
STRIPE_PATTERNS = ("HS", "VS")
#: Patterns of the paper's Tables 2-4 used by claims 4-6 (the mean SPC over them is compared).
POSITION_PATTERNS = ("H", "G")


# ----------------------------------------------------------------------------- the rule


def standard_error(std: float, n: int) -> float:
    """Standard error of a mean over ``n`` seeds from their sample standard deviation (0 for one seed).

    Examples
    --------
    >>> standard_error(0.2, 4)
    0.1
    >>> standard_error(float("nan"), 1)
    0.0
    """
    return 0.0 if n is None or n <= 1 or not np.isfinite(std) else float(std) / math.sqrt(n)


def combined_se(*errors: float) -> float:
    """``sqrt(sum SE^2)`` of independent estimates.

    Examples
    --------
    >>> combined_se(0.3, 0.4)
    0.5
    """
    return float(math.sqrt(sum(e * e for e in errors)))


def _rule_text(text: str, n_seeds: int, unit: str = "seeds") -> str:
    return text + (f" (1 {unit.rstrip('s')}: no spread)" if n_seeds <= 1 else f" (SE over {n_seeds} {unit})")


def greater(a: float, a_se: float, b: float, b_se: float, n_seeds: int = 2, unit: str = "seeds") -> dict:
    """``A > B`` with the spread: holds when ``A - B > N_STANDARD_ERRORS * sqrt(SE_A^2 + SE_B^2)``.

    Examples
    --------
    >>> greater(0.8, 0.01, 0.5, 0.01)["holds"], greater(0.51, 0.02, 0.5, 0.02)["holds"]
    (True, False)
    """
    se = combined_se(a_se, b_se)
    difference = a - b
    return {"difference": difference, "se": se, "holds": bool(difference > N_STANDARD_ERRORS * se),
            "rule": _rule_text(f"A - B > {N_STANDARD_ERRORS:g} SE", n_seeds, unit)}


def above(value: float, se: float, threshold: float, n_seeds: int = 2, unit: str = "seeds") -> dict:
    """``A > t`` with the spread: holds when ``A - t > N_STANDARD_ERRORS * SE``."""
    difference = value - threshold
    return {"difference": difference, "se": se, "holds": bool(difference > N_STANDARD_ERRORS * se),
            "rule": _rule_text(f"A - {threshold:g} > {N_STANDARD_ERRORS:g} SE", n_seeds, unit)}


def about_zero(value: float, se: float, margin: float, n_seeds: int = 2) -> dict:
    """``A`` about 0: holds when ``|A| + N_STANDARD_ERRORS * SE < margin``.

    Examples
    --------
    >>> about_zero(0.05, 0.01, 0.2)["holds"], about_zero(0.15, 0.05, 0.2)["holds"]
    (True, False)
    """
    return {"difference": value, "se": se, "holds": bool(abs(value) + N_STANDARD_ERRORS * se < margin),
            "rule": _rule_text(f"|A| + {N_STANDARD_ERRORS:g} SE < {margin:g}", n_seeds)}


def _row(claim: str, subject: str, backbone_kind: str, evidence: str, test: dict) -> dict:
    return {"claim": claim, "subject": subject, "backbone_class": backbone_kind, "evidence": evidence,
            "difference": test["difference"], "se": test["se"], "rule": test["rule"], "holds": test["holds"]}


def _weakest(tests: list[dict]) -> dict:
    """All tests together: holds when each holds; reports the one with the smallest margin."""
    worst = min(tests, key=lambda t: (t["holds"], t["difference"] - N_STANDARD_ERRORS * t["se"]))
    return dict(worst, holds=all(t["holds"] for t in tests))


def _scores(summary: pd.DataFrame, patterns, **where) -> pd.DataFrame:
    """Rows of ``patterns`` matching ``where``, indexed by pattern, with columns spc, se, n_seeds."""
    part = summary
    for key, value in where.items():
        part = part[part[key] == value]
    part = part[part["pattern"].isin(patterns)].set_index("pattern")
    n_seeds = part["n_seeds"] if "n_seeds" in part else pd.Series(1, index=part.index)
    std = part["spc_std"] if "spc_std" in part else pd.Series(np.nan, index=part.index)
    return pd.DataFrame({"spc": part["spc"], "n_seeds": n_seeds,
                         "se": [standard_error(s, n) for s, n in zip(std, n_seeds)]}, index=part.index)


def _mean_of(scores: pd.DataFrame) -> tuple[float, float, int]:
    """Mean SPC over the rows, its SE and the smallest seed count."""
    return (float(scores["spc"].mean()), combined_se(*scores["se"]) / max(len(scores), 1),
            int(scores["n_seeds"].min()) if len(scores) else 0)


# ----------------------------------------------------------------------------- notebook 01, claims 1-3


def check_controls(positive: pd.DataFrame, negative: pd.DataFrame) -> pd.DataFrame:
    """Notebook 01's controls on H, V and G: coordinates must give SPC > :data:`CONTROL_MIN_SPC`,
    raw pixels of natural images ``|SPC| <`` :data:`NO_INFO_MAX`.

    Parameters
    ----------
    positive, negative : pandas.DataFrame
        Columns control, pattern, spc, mae.
    """
    checks = pd.concat([
        positive.assign(expected=f"SPC > {CONTROL_MIN_SPC}", holds=positive["spc"] > CONTROL_MIN_SPC),
        negative.assign(expected=f"|SPC| < {NO_INFO_MAX}", holds=negative["spc"].abs() < NO_INFO_MAX),
    ])[["control", "pattern", "spc", "mae", "expected", "holds"]]
    return checks[checks["pattern"].isin(EASY_PATTERNS)].reset_index(drop=True)


def check_claims_1_to_3(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claims 1-3 of the paper from a Table-1 summary.

    * 1: the raw-pixel readout (no backbone) has no position: H, V, G about 0 within
      :data:`NO_INFO_MAX`;
    * 2: CNN features recover position: H, V, G above :data:`RECOVERS_MIN`, per test set;
    * 3: stripes are harder: mean SPC over H, V, G greater than over HS, VS.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns backbone, weights, test_set, pattern, spc, spc_std, n_seeds.
    natural_test : str
        Name of the natural-image test set in ``summary``.

    Returns
    -------
    pandas.DataFrame
        One row per claim and backbone (and test set for claim 2).
    """
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        subject, kind = f"{backbone}/{weights}", backbone_class(backbone, weights)
        natural = _scores(part, EASY_PATTERNS, test_set=natural_test)
        if backbone == RAW_PIXELS:
            tests = [about_zero(r.spc, r.se, NO_INFO_MAX, r.n_seeds) for r in natural.itertuples()]
            rows.append(_row("1: no backbone, no position", subject, kind,
                             ", ".join(f"{p} {v:+.3f}" for p, v in natural["spc"].items()), _weakest(tests)))
            continue
        for test_set in part["test_set"].unique():
            scores = _scores(part, EASY_PATTERNS, test_set=test_set)
            tests = [above(r.spc, r.se, RECOVERS_MIN, r.n_seeds) for r in scores.itertuples()]
            rows.append(_row("2: CNN features recover position", f"{subject} on {test_set}", kind,
                             ", ".join(f"{p} {v:.3f}" for p, v in scores["spc"].items()), _weakest(tests)))
        easy, stripes = _mean_of(natural), _mean_of(_scores(part, STRIPE_PATTERNS, test_set=natural_test))
        rows.append(_row("3: stripes are harder", subject, kind,
                         f"mean SPC H/V/G {easy[0]:.3f} vs HS/VS {stripes[0]:.3f}",
                         greater(easy[0], easy[1], stripes[0], stripes[1], min(easy[2], stripes[2]))))
    return pd.DataFrame(rows)


def verdict(checks: pd.DataFrame) -> pd.DataFrame:
    """One line per claim and backbone class: how many of its checks hold."""
    keys = ["claim", "backbone_class"] if "backbone_class" in checks else ["claim"]
    grouped = checks.groupby(keys, sort=False)["holds"]
    return pd.DataFrame({"checks": grouped.size(), "hold": grouped.sum()}).reset_index().assign(
        verdict=lambda f: ["holds" if h == n else ("does not hold" if h == 0 else "holds partly")
                           for h, n in zip(f["hold"], f["checks"])])


def summary_lines(checks: pd.DataFrame) -> list[str]:
    """Markdown lines: each claim's verdict per backbone class, then every check that does not hold."""
    lines = []
    for row in verdict(checks).itertuples():
        kind = getattr(row, "backbone_class", "")
        label = f" on {kind} backbones" if kind and kind not in ("-", "") else ""
        lines.append(f"- **Claim {row.claim}**{label}: {row.verdict} ({row.hold} of {row.checks} checks).")
    failed = checks[~checks["holds"]]
    if len(failed):
        lines.append("- Where it does not hold: " + "; ".join(
            f"{r.subject} ({r.evidence}; difference {r.difference:+.3f}, SE {r.se:.3f})" for r in failed.itertuples()))
    return lines


# ----------------------------------------------------------------------------- claims 4-6 (notebooks 03, 04)


def _trend(values: dict) -> str:
    return ", ".join(f"{k} {v[0]:.3f}" for k, v in values.items())


def check_claim_4(by_depth: pd.DataFrame, by_kernel: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 4: a deeper readout and a larger kernel recover more position.

    Per backbone: mean SPC over H and G on the natural test set at the largest depth is
    greater than at depth 1 (:func:`greater`); likewise the largest kernel against 1x1.

    Parameters
    ----------
    by_depth, by_kernel : pandas.DataFrame
        Table-2 summaries (columns backbone, weights, depth / kernel_size, test_set, pattern, spc, spc_std, n_seeds).
    natural_test : str
    """
    rows = []
    for setting, table in (("depth", by_depth), ("kernel_size", by_kernel)):
        for (backbone, weights), part in table.groupby(["backbone", "weights"], sort=False):
            values = {v: _mean_of(_scores(part, POSITION_PATTERNS, test_set=natural_test, **{setting: v}))
                      for v in sorted(part[setting].unique())}
            low, high = values[min(values)], values[max(values)]
            rows.append(_row(f"4: {'deeper readout' if setting == 'depth' else 'larger kernel'} recovers more",
                             f"{backbone}/{weights}", backbone_class(backbone, weights),
                             f"mean SPC H,G by {setting}: {_trend(values)}",
                             greater(high[0], high[1], low[0], low[1], min(high[2], low[2]))))
    return pd.DataFrame(rows)


def check_claim_5(levels: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 5: deeper layers hold more position information (f1 < f2 < ... < f5).

    Per backbone and channel selection (raw / controlled): the mean SPC over H and G on
    the natural test set is greater (:func:`greater`) at each level than at the one before.

    Parameters
    ----------
    levels : pandas.DataFrame
        Table-3 summary (columns backbone, weights, selection, level, test_set, pattern, spc, spc_std, n_seeds).
    natural_test : str
    """
    rows = []
    for (backbone, weights, selection), part in levels.groupby(["backbone", "weights", "selection"], sort=False):
        names = sorted(level for level in part["level"].unique() if level != "all")
        values = {level: _mean_of(_scores(part, POSITION_PATTERNS, test_set=natural_test, level=level))
                  for level in names}
        steps = [greater(b[0], b[1], a[0], a[1], min(a[2], b[2]))
                 for a, b in zip(list(values.values()), list(values.values())[1:])]
        rows.append(_row("5: deeper levels hold more position", f"{backbone}/{weights} ({selection})",
                         backbone_class(backbone, weights), f"mean SPC H,G: {_trend(values)}", _weakest(steps)))
    return pd.DataFrame(rows)


def check_claim_6(readout_paddings: pd.DataFrame, backbone_rules: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 6: zero padding is the source of position information.

    Two parts, each on the mean SPC over H and G on the natural test set (:func:`greater`):

    * the same weights with zero padding hold more than without padding (rule ``valid``),
      per backbone that can run unpadded;
    * zero padding in the readout (1 and 2) gives more than no readout padding, for the
      raw-pixel readout (backbone ``pixels``).

    Parameters
    ----------
    readout_paddings : pandas.DataFrame
        Summary with columns backbone, weights, readout_padding, test_set, pattern, spc, spc_std, n_seeds.
    backbone_rules : pandas.DataFrame
        Summary with columns backbone, weights, padding, test_set, pattern, spc, spc_std, n_seeds.
    natural_test : str
    """
    rows = []
    for (backbone, weights), part in backbone_rules.groupby(["backbone", "weights"], sort=False):
        if "valid" not in set(part["padding"]) or "zeros" not in set(part["padding"]):
            continue
        padded, unpadded = (_mean_of(_scores(part, POSITION_PATTERNS, test_set=natural_test, padding=rule))
                            for rule in ("zeros", "valid"))
        rows.append(_row("6: removing backbone padding cuts position", f"{backbone}/{weights}",
                         backbone_class(backbone, weights),
                         f"mean SPC H,G zeros {padded[0]:.3f} vs valid {unpadded[0]:.3f}",
                         greater(padded[0], padded[1], unpadded[0], unpadded[1], min(padded[2], unpadded[2]))))
    pixels = readout_paddings[readout_paddings["backbone"] == RAW_PIXELS]
    if len(pixels):
        values = {p: _mean_of(_scores(pixels, POSITION_PATTERNS, test_set=natural_test, readout_padding=p))
                  for p in sorted(pixels["readout_padding"].unique())}
        for padding in [p for p in values if p > 0]:
            rows.append(_row("6: readout zero padding creates position", f"{RAW_PIXELS}/none, readout padding {padding}",
                             backbone_class(RAW_PIXELS, "none"), f"mean SPC H,G by readout padding: {_trend(values)}",
                             greater(values[padding][0], values[padding][1], values[0][0], values[0][1],
                                     min(values[padding][2], values[0][2]))))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- claims 7-9 (notebook 05)


def _se_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """SE of a mean over training seeds from ``<column>_std`` and ``n_seeds`` (0 without them)."""
    if f"{column}_std" not in frame or "n_seeds" not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.Series([standard_error(s, n) for s, n in zip(frame[f"{column}_std"], frame["n_seeds"])],
                     index=frame.index)


def check_claim_7(saliency: pd.DataFrame, segmentation: pd.DataFrame) -> pd.DataFrame:
    """Claim 7: zero padding helps salient object detection and semantic segmentation from scratch.

    Per saliency test set: the zero-padded model's max F-measure is greater than the
    unpadded one's *and* its MAE smaller (both :func:`greater`); per segmentation test set:
    its mIoU is greater. Standard errors over training seeds where the tables have them.

    Parameters
    ----------
    saliency : pandas.DataFrame
        Columns padding, test_set, max_f, mae (optionally max_f_std, mae_std, n_seeds).
    segmentation : pandas.DataFrame
        Columns padding, test_set, metric, value (optionally value_std, n_seeds).
    """
    rows = []
    for test_set, part in saliency.groupby("test_set", sort=False):
        by = part.assign(max_f_se=_se_column(part, "max_f"), mae_se=_se_column(part, "mae")).set_index("padding")
        if not {"zeros", "valid"} <= set(by.index):
            continue
        z, n = by.loc["zeros"], by.loc["valid"]
        seeds = int(z.get("n_seeds", 1))
        f_test = greater(z["max_f"], z["max_f_se"], n["max_f"], n["max_f_se"], seeds)
        mae_test = greater(n["mae"], n["mae_se"], z["mae"], z["mae_se"], seeds)
        rows.append(_row("7: zero padding helps SOD / segmentation", f"saliency on {test_set}", "task network",
                         f"max F {z['max_f']:.3f} vs {n['max_f']:.3f} without padding; MAE {z['mae']:.3f} vs {n['mae']:.3f}",
                         _weakest([f_test, mae_test])))
    miou = segmentation[segmentation["metric"] == "miou"]
    for test_set, part in miou.groupby("test_set", sort=False):
        by = part.assign(value_se=_se_column(part, "value")).set_index("padding")
        if {"zeros", "valid"} <= set(by.index):
            z, n = by.loc["zeros"], by.loc["valid"]
            rows.append(_row("7: zero padding helps SOD / segmentation", f"segmentation on {test_set}",
                             "task network", f"mIoU {z['value']:.3f} vs {n['value']:.3f} without padding",
                             greater(z["value"], z["value_se"], n["value"], n["value_se"], int(z.get("n_seeds", 1)))))
    return pd.DataFrame(rows)


def check_claim_8(summary: pd.DataFrame, natural_test: str, pairs) -> pd.DataFrame:
    """Claim 8: an encoder trained for SOD or segmentation encodes more position than the same
    architecture trained for classification.

    Compares the mean SPC over H, V and G on the natural test set of each pixel-task encoder
    with its classification twin (:func:`greater`); only same-architecture pairs are compared.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns model, test_set, pattern, spc, spc_std, n_seeds (Table 6 summary).
    natural_test : str
    pairs : iterable of (str, str, str)
        ``(architecture, pixel-task model, classification model)``.
    """
    rows = []
    for architecture, task_model, classifier in pairs:
        task = _mean_of(_scores(summary, EASY_PATTERNS, test_set=natural_test, model=task_model))
        reference = _mean_of(_scores(summary, EASY_PATTERNS, test_set=natural_test, model=classifier))
        if not task[2] or not reference[2]:
            continue
        rows.append(_row("8: pixel-task encoders hold more position than classification ones",
                         f"{task_model} vs {classifier}", architecture,
                         f"mean SPC H/V/G {task[0]:.3f} vs {reference[0]:.3f}",
                         greater(task[0], task[1], reference[0], reference[1], min(task[2], reference[2]))))
    return pd.DataFrame(rows)


def check_claim_9(crop_summary: pd.DataFrame) -> pd.DataFrame:
    """Claim 9: a saliency model's output shifts with the image frame (Figure 1).

    Per test set and crop fraction: the zero-padded model's prediction moves towards the
    centre of the cut frame (:func:`above` 0, standard error over images), and more than the
    unpadded model's (:func:`greater`), which is the paper's explanation of the effect.

    Parameters
    ----------
    crop_summary : pandas.DataFrame
        :func:`poslib.experiments.frame_shift.summarise_crop_shift` output.
    """
    rows = []
    for (test_set, fraction), part in crop_summary.groupby(["test_set", "fraction"], sort=False):
        by = part.set_index("padding")
        if "zeros" not in by.index:
            continue
        z = by.loc["zeros"]
        n_images = int(z["n_images"])
        rows.append(_row("9: saliency output shifts with the frame", f"zeros, {test_set}, cut {fraction:.2f}",
                         "task network", f"toward centre {z['toward_centre']:+.4f} of the width",
                         above(z["toward_centre"], z["toward_centre_sem"], 0.0, n_images, "images")))
        if "valid" in by.index:
            n = by.loc["valid"]
            rows.append(_row("9: saliency output shifts with the frame", f"zeros vs valid, {test_set}, cut {fraction:.2f}",
                             "task network",
                             f"toward centre {z['toward_centre']:+.4f} with vs {n['toward_centre']:+.4f} without padding",
                             greater(z["toward_centre"], z["toward_centre_sem"], n["toward_centre"],
                                     n["toward_centre_sem"], n_images, "images")))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- notebook 06 (beyond the paper)

#: Study B1: accuracy above chance by at least this much counts as "tells left from right".
LOCATION_MIN_GAIN = 0.2
#: Study B1: "at chance" means |accuracy - chance| (mean over distances) below this.
CHANCE_MARGIN = 0.1
#: Study B2: pooled features "hold position" when accuracy exceeds chance by this much.
GAP_MIN_GAIN = 0.1


def _se_of(row) -> float:
    return standard_error(row["accuracy_std"], int(row["n_seeds"]))


def check_absolute_location(summary: pd.DataFrame) -> pd.DataFrame:
    """Study B1 (Kayhan & van Gemert): padding lets a CNN classify absolute location near the border.

    Per depth: ``zeros`` and ``valid`` networks beat chance by :data:`LOCATION_MIN_GAIN` at the
    smallest distance (:func:`above`) and do better there than at the largest distance
    (:func:`greater`); ``full`` convolution is at chance: its accuracy, averaged over
    distances, minus chance is :func:`about_zero` within :data:`CHANCE_MARGIN`.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`poslib.experiments.absolute_location.summarise_location` output.
    """
    rows = []
    for (padding, depth), part in summary.groupby(["padding", "depth"], sort=False):
        part = part.sort_values("distance")
        near, far = part.iloc[0], part.iloc[-1]
        chance, n = float(near["chance"]), int(near["n_seeds"])
        subject = f"{padding}, depth {depth} (receptive field {int(near['receptive_field'])} px)"
        if padding == "full":
            mean = float(part["accuracy"].mean())
            se = combined_se(*[_se_of(r) for _, r in part.iterrows()]) / len(part)
            rows.append(_row("B1: full convolution cannot tell left from right", subject, "trained from scratch",
                             f"accuracy over distances {mean:.3f} (chance {chance:.2f})",
                             about_zero(mean - chance, se, CHANCE_MARGIN, n)))
            continue
        rows.append(_row("B1: padding tells left from right at the border", subject, "trained from scratch",
                         f"accuracy {near['accuracy']:.3f} at {int(near['distance'])} px",
                         above(near["accuracy"], _se_of(near), chance + LOCATION_MIN_GAIN, n)))
        rows.append(_row("B1: the border cue fades with distance", subject, "trained from scratch",
                         f"accuracy {near['accuracy']:.3f} at {int(near['distance'])} px vs "
                         f"{far['accuracy']:.3f} at {int(far['distance'])} px",
                         greater(near["accuracy"], _se_of(near), far["accuracy"], _se_of(far), n)))
    return pd.DataFrame(rows)


def check_gap_position(summary: pd.DataFrame) -> pd.DataFrame:
    """Study B2 (Islam et al. 2021): position survives global average pooling, written in channels.

    Per backbone (zero padding, as trained, all taps): accuracy exceeds chance by
    :data:`GAP_MIN_GAIN` (:func:`above`); the top-k channels by classifier weight mass beat
    k random channels (:func:`greater`, smallest k); and zero padding holds more position
    than circular padding (:func:`greater`) where both ran.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`poslib.experiments.gap_position.summarise_gap` output.
    """
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        kind, subject = backbone_class(backbone, weights), f"{backbone}/{weights}"
        joined = part[part["tap"] == "all"].set_index(["padding", "channels"])
        if ("zeros", "all") not in joined.index:
            continue
        zeros = joined.loc[("zeros", "all")]
        chance, n = float(zeros["chance"]), int(zeros["n_seeds"])
        rows.append(_row("B2: position survives global average pooling", subject, kind,
                         f"accuracy {zeros['accuracy']:.3f} (chance {chance:.3f})",
                         above(zeros["accuracy"], _se_of(zeros), chance + GAP_MIN_GAIN, n)))
        ks = sorted(int(k) for c, k in zip(part["channels"], part["k"]) if str(c).startswith("top-"))
        if ks and ("zeros", f"top-{ks[0]}") in joined.index:
            top, rand = joined.loc[("zeros", f"top-{ks[0]}")], joined.loc[("zeros", f"random-{ks[0]}")]
            rows.append(_row("B2: a few channels carry the position", f"{subject}, k = {ks[0]}", kind,
                             f"top-{ks[0]} {top['accuracy']:.3f} vs random-{ks[0]} {rand['accuracy']:.3f}",
                             greater(top["accuracy"], _se_of(top), rand["accuracy"], _se_of(rand), n)))
        if ("circular", "all") in joined.index:
            circular = joined.loc[("circular", "all")]
            rows.append(_row("B2: zero padding writes more position than circular", subject, kind,
                             f"accuracy zeros {zeros['accuracy']:.3f} vs circular {circular['accuracy']:.3f}",
                             greater(zeros["accuracy"], _se_of(zeros), circular["accuracy"], _se_of(circular), n)))
    return pd.DataFrame(rows)


def check_padding_parity(summary: pd.DataFrame, tap: str) -> pd.DataFrame:
    """Study B3 (Alsallakh et al.): input sizes that pad or pool unevenly skew the feature maps.

    On a uniform input with symmetrised filters (only geometry can make the sides differ),
    per backbone and rule: the left-right asymmetry of ``tap`` at the sizes with uneven
    layers (mean over them) is greater than at the evenly divisible sizes
    (:func:`greater`; spread over grey levels).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`poslib.experiments.padding_parity.summarise_asymmetry` output.
    tap : str
    """
    rows = []
    part = summary[(summary["filters"] == "symmetrised") & (summary["measure"] == "lr") & (summary["tap"] == tap)]
    for (backbone, weights, padding), group in part.groupby(["backbone", "weights", "padding"], sort=False):
        even, uneven = group[group["uneven_layers"] == 0], group[group["uneven_layers"] > 0]
        if not len(even) or not len(uneven):
            continue

        def mean_se(frame):
            ses = [standard_error(s, int(n)) for s, n in zip(frame["value_std"], frame["n"])]
            return float(frame["value"].mean()), combined_se(*ses) / len(frame)

        (a, a_se), (b, b_se) = mean_se(uneven), mean_se(even)
        sizes = lambda frame: "/".join(str(s) for s in frame["input_size"])  # noqa: E731
        rows.append(_row("B3: uneven padding skews the maps", f"{backbone}/{weights}, {padding}, {tap}",
                         backbone_class(backbone, weights),
                         f"left-right asymmetry {a:.3f} at {sizes(uneven)} px vs {b:.3f} at {sizes(even)} px",
                         greater(a, a_se, b, b_se, int(group["n"].min()), "grey levels")))
    return pd.DataFrame(rows)


def check_input_size(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Study B4: a larger input (beyond the receptive field) holds less position.

    Per backbone: the mean SPC over H and G on the natural test set at the smallest input
    size is greater than at the largest (:func:`greater`).

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns backbone, weights, input_size, test_set, pattern, spc, spc_std, n_seeds.
    natural_test : str
    """
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        values = {s: _mean_of(_scores(part, POSITION_PATTERNS, test_set=natural_test, input_size=s))
                  for s in sorted(part["input_size"].unique())}
        small, large = values[min(values)], values[max(values)]
        rows.append(_row("B4: larger inputs hold less position", f"{backbone}/{weights}",
                         backbone_class(backbone, weights), f"mean SPC H,G by input size: {_trend(values)}",
                         greater(small[0], small[1], large[0], large[1], min(small[2], large[2]))))
    return pd.DataFrame(rows)
