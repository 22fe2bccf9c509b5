"""The paper's claims, checked against measured tables with thresholds stated here.

Each check returns rows ``claim, subject, evidence, holds`` computed from a summary table
(:func:`poslib.probing.summarise`), so a notebook's closing cell states from the numbers,
not from prose, whether a claim holds here.

Thresholds (SPC on the natural test set unless stated):

* positive control (notebook 01): ``SPC > CONTROL_MIN_SPC`` for H, V and G on pure
  coordinate channels;
* "no position information": ``|SPC| < NO_INFO_MAX`` for H, V and G;
* "recovers position": ``SPC > RECOVERS_MIN`` for H, V and G;
* "stripes are harder": mean SPC over HS, VS below the mean over H, V, G.
"""

from __future__ import annotations

import pandas as pd

from .config import RAW_PIXELS

NO_INFO_MAX = 0.2
RECOVERS_MIN = 0.5
CONTROL_MIN_SPC = 0.95
EASY_PATTERNS = ("H", "V", "G")
STRIPE_PATTERNS = ("HS", "VS")


def _row(claim: str, subject: str, evidence: str, holds: bool) -> dict:
    return {"claim": claim, "subject": subject, "evidence": evidence, "holds": bool(holds)}


def _spc(summary: pd.DataFrame, patterns, **where) -> pd.Series:
    part = summary
    for key, value in where.items():
        part = part[part[key] == value]
    return part[part["pattern"].isin(patterns)].set_index("pattern")["spc"]


def check_claims_1_to_3(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claims 1-3 of the paper from a Table-1 summary.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns backbone, weights, test_set, pattern, spc (one row per combination).
    natural_test : str
        Name of the natural-image test set in ``summary``.

    Returns
    -------
    pandas.DataFrame
        One row per claim and backbone.
    """
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        subject = f"{backbone}/{weights}"
        natural = _spc(part, EASY_PATTERNS, test_set=natural_test)
        if backbone == RAW_PIXELS:
            rows.append(_row("1: no backbone, no position", subject,
                             ", ".join(f"{p} {v:+.3f}" for p, v in natural.items()),
                             (natural.abs() < NO_INFO_MAX).all()))
            continue
        for test_set in part["test_set"].unique():
            values = _spc(part, EASY_PATTERNS, test_set=test_set)
            rows.append(_row("2: CNN features recover position", f"{subject} on {test_set}",
                             ", ".join(f"{p} {v:.3f}" for p, v in values.items()),
                             (values > RECOVERS_MIN).all()))
        stripes = _spc(part, STRIPE_PATTERNS, test_set=natural_test)
        rows.append(_row("3: stripes are harder", subject,
                         f"mean SPC H/V/G {natural.mean():.3f} vs HS/VS {stripes.mean():.3f}",
                         stripes.mean() < natural.mean()))
    return pd.DataFrame(rows)


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


def verdict(checks: pd.DataFrame) -> pd.DataFrame:
    """One line per claim: how many of its checks hold."""
    grouped = checks.groupby("claim", sort=False)["holds"]
    return pd.DataFrame({"checks": grouped.size(), "hold": grouped.sum()}).reset_index().assign(
        verdict=lambda f: ["holds" if h == n else ("does not hold" if h == 0 else "holds partly")
                           for h, n in zip(f["hold"], f["checks"])])


def summary_lines(checks: pd.DataFrame) -> list[str]:
    """Markdown lines: each claim's verdict, then every check that does not hold with its evidence."""
    lines = [f"- **Claim {row.claim}**: {row.verdict} ({row.hold} of {row.checks} checks)."
             for row in verdict(checks).itertuples()]
    failed = checks[~checks["holds"]]
    if len(failed):
        lines.append("- Where it does not hold: " + "; ".join(f"{r.subject} ({r.evidence})" for r in failed.itertuples()))
    return lines


# ----------------------------------------------------------------------------- claims 4-6 (notebooks 03, 04)

#: Patterns of the paper's Tables 2-4 used by claims 4-6 (the mean SPC over them is compared).
POSITION_PATTERNS = ("H", "G")
#: Smallest SPC gain (mean over H and G) that counts as "creates / recovers more position".
MIN_GAIN = 0.02


def _mean_spc(part: pd.DataFrame, natural_test: str, patterns=POSITION_PATTERNS, **where) -> float:
    return float(_spc(part, patterns, test_set=natural_test, **where).mean())


def _trend(values: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in values.items())


def check_claim_4(by_depth: pd.DataFrame, by_kernel: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 4: a deeper readout and a larger kernel recover more position.

    Per backbone: mean SPC over H and G on the natural test set at the largest depth
    exceeds depth 1 by at least :data:`MIN_GAIN`; likewise the largest kernel against
    the smallest (1x1).

    Parameters
    ----------
    by_depth, by_kernel : pandas.DataFrame
        Table-2 summaries (columns backbone, weights, depth / kernel_size, test_set, pattern, spc).
    natural_test : str
    """
    rows = []
    for setting, table in (("depth", by_depth), ("kernel_size", by_kernel)):
        for (backbone, weights), part in table.groupby(["backbone", "weights"], sort=False):
            values = {v: _mean_spc(part, natural_test, **{setting: v}) for v in sorted(part[setting].unique())}
            low, high = values[min(values)], values[max(values)]
            rows.append(_row(f"4: {'deeper readout' if setting == 'depth' else 'larger kernel'} recovers more",
                             f"{backbone}/{weights}", f"mean SPC H,G by {setting}: {_trend(values)}",
                             high - low >= MIN_GAIN))
    return pd.DataFrame(rows)


def check_claim_5(levels: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 5: deeper layers hold more position information (f1 < f2 < ... < f5).

    Per backbone and channel selection (raw / controlled): the mean SPC over H and G on
    the natural test set increases strictly from each level to the next.

    Parameters
    ----------
    levels : pandas.DataFrame
        Table-3 summary (columns backbone, weights, selection, level, test_set, pattern, spc).
    natural_test : str
    """
    rows = []
    for (backbone, weights, selection), part in levels.groupby(["backbone", "weights", "selection"], sort=False):
        names = sorted(level for level in part["level"].unique() if level != "all")
        values = {level: _mean_spc(part, natural_test, level=level) for level in names}
        steps = [b - a for a, b in zip(list(values.values()), list(values.values())[1:])]
        rows.append(_row("5: deeper levels hold more position", f"{backbone}/{weights} ({selection})",
                         f"mean SPC H,G: {_trend(values)}", all(step > 0 for step in steps)))
    return pd.DataFrame(rows)


def check_claim_6(readout_paddings: pd.DataFrame, backbone_rules: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 6: zero padding is the source of position information.

    Two parts, each on the mean SPC over H and G on the natural test set:

    * removing the backbone's padding (rule ``valid``) lowers it by at least :data:`MIN_GAIN`
      compared with the same weights with zero padding (per backbone that can run unpadded);
    * zero padding in the readout (1 and 2) raises it by at least :data:`MIN_GAIN` over
      no readout padding, for the raw-pixel readout (backbone ``pixels``).

    Parameters
    ----------
    readout_paddings : pandas.DataFrame
        Summary with columns backbone, weights, readout_padding, test_set, pattern, spc.
    backbone_rules : pandas.DataFrame
        Summary with columns backbone, weights, padding, test_set, pattern, spc.
    natural_test : str
    """
    rows = []
    for (backbone, weights), part in backbone_rules.groupby(["backbone", "weights"], sort=False):
        if "valid" not in set(part["padding"]) or "zeros" not in set(part["padding"]):
            continue
        padded, unpadded = (_mean_spc(part, natural_test, padding=rule) for rule in ("zeros", "valid"))
        rows.append(_row("6: removing backbone padding cuts position", f"{backbone}/{weights}",
                         f"mean SPC H,G zeros {padded:.3f} vs valid {unpadded:.3f}", padded - unpadded >= MIN_GAIN))
    pixels = readout_paddings[readout_paddings["backbone"] == RAW_PIXELS]
    if len(pixels):
        values = {p: _mean_spc(pixels, natural_test, readout_padding=p) for p in sorted(pixels["readout_padding"].unique())}
        for padding in [p for p in values if p > 0]:
            rows.append(_row("6: readout zero padding creates position", f"{RAW_PIXELS}/none, readout padding {padding}",
                             f"mean SPC H,G by readout padding: {_trend(values)}",
                             values[padding] - values[0] >= MIN_GAIN))
    return pd.DataFrame(rows)


def check_claim_7(saliency: pd.DataFrame, segmentation: pd.DataFrame) -> pd.DataFrame:
    """Claim 7: zero padding helps salient object detection and semantic segmentation from scratch.

    Holds per saliency test set when the zero-padded model has a higher max F-measure *and*
    a lower MAE than the unpadded one; per segmentation test set when its mIoU is higher.

    Parameters
    ----------
    saliency : pandas.DataFrame
        Columns padding, test_set, max_f, mae (``poslib.tasks.evaluate_saliency``).
    segmentation : pandas.DataFrame
        Columns padding, test_set, metric, value (``poslib.tasks.evaluate_segmentation``).
    """
    rows = []
    for test_set, part in saliency.groupby("test_set", sort=False):
        by = part.set_index("padding")
        if not {"zeros", "valid"} <= set(by.index):
            continue
        z, n = by.loc["zeros"], by.loc["valid"]
        rows.append(_row("7: zero padding helps SOD / segmentation", f"saliency on {test_set}",
                         f"max F {z['max_f']:.3f} vs {n['max_f']:.3f} without padding; MAE {z['mae']:.3f} vs {n['mae']:.3f}",
                         z["max_f"] > n["max_f"] and z["mae"] < n["mae"]))
    miou = segmentation[segmentation["metric"] == "miou"]
    for test_set, part in miou.groupby("test_set", sort=False):
        by = part.set_index("padding")["value"]
        if {"zeros", "valid"} <= set(by.index):
            rows.append(_row("7: zero padding helps SOD / segmentation", f"segmentation on {test_set}",
                             f"mIoU {by['zeros']:.3f} vs {by['valid']:.3f} without padding", by["zeros"] > by["valid"]))
    return pd.DataFrame(rows)


def check_claim_8(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 8: encoders trained for SOD or segmentation encode more position than classification ones.

    Compares the mean SPC over H, V and G on the natural test set of each zero-padded task
    encoder (``task`` saliency / segmentation) with every ``classification`` row.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns model, task, padding, test_set, pattern, spc (Table 6 summary).
    natural_test : str
    """
    natural = summary[(summary["test_set"] == natural_test) & summary["pattern"].isin(EASY_PATTERNS)]
    means = natural.groupby(["model", "task", "padding"], sort=False)["spc"].mean().reset_index()
    classifiers = means[means["task"] == "classification"]
    rows = []
    for task_row in means[means["task"].isin(["saliency", "segmentation"]) & (means["padding"] == "zeros")].itertuples():
        for reference in classifiers.itertuples():
            rows.append(_row("8: task encoders hold more position", f"{task_row.model} vs {reference.model}",
                             f"mean SPC H/V/G {task_row.spc:.3f} vs {reference.spc:.3f}", task_row.spc > reference.spc))
    return pd.DataFrame(rows)


def check_claim_9(crop_summary: pd.DataFrame) -> pd.DataFrame:
    """Claim 9: a saliency model's output shifts with the image frame (Figure 1).

    Per test set and crop fraction, holds when the zero-padded model's prediction moves
    towards the centre of the cropped frame: mean ``toward_centre`` minus twice its standard
    error above 0. A second row per case compares with the unpadded model (larger move with
    padding), which is the paper's explanation of the effect.

    Parameters
    ----------
    crop_summary : pandas.DataFrame
        ``poslib.tasks.summarise_crop_shift`` output.
    """
    rows = []
    for (test_set, fraction), part in crop_summary.groupby(["test_set", "fraction"], sort=False):
        by = part.set_index("padding")
        if "zeros" not in by.index:
            continue
        z = by.loc["zeros"]
        rows.append(_row("9: saliency output shifts with the frame", f"zeros, {test_set}, cut {fraction:.2f}",
                         f"toward centre {z['toward_centre']:+.4f} +- {z['toward_centre_sem']:.4f} (sem) of the width",
                         z["toward_centre"] - 2 * z["toward_centre_sem"] > 0))
        if "valid" in by.index:
            n = by.loc["valid"]
            rows.append(_row("9: saliency output shifts with the frame", f"zeros vs valid, {test_set}, cut {fraction:.2f}",
                             f"toward centre {z['toward_centre']:+.4f} with vs {n['toward_centre']:+.4f} without padding",
                             z["toward_centre"] > n["toward_centre"]))
    return pd.DataFrame(rows)
