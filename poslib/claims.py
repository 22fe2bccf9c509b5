"""The paper's claims, checked against measured tables: an interval decides, with three outcomes.

Every check returns a row ``claim, subject, backbone_class, evidence, difference, low, high,
n_images, n_seeds, outcome, rule`` (:func:`poslib.evidence.compare`), so a notebook's closing
cell states from the numbers, not from prose, whether a claim holds here. Every threshold
of the study is in this file, each with its reason; the rule that turns evidence into an
outcome is :mod:`poslib.evidence` (intervals) and :mod:`poslib.verdicts` (the bootstrap,
the three outcomes).

The evidence
------------
Checks take either per-image rows (columns ``seed`` and ``image``, as
:func:`poslib.probing.probe` returns them; notebooks 02-04 pass these) or summaries with
``<value>_std`` and ``n_seeds`` (notebook 06, and notebook 05 except claim 7's saliency checks). A
check's interval is the envelope of a hierarchical bootstrap over test images and seeds
and a t interval over seeds for per-image rows, a t interval over seeds for summaries
(:mod:`poslib.evidence`). Its outcome is

* **holds**: the whole 95 % interval lies on the claimed side (and outside the margin of a
  claim that has one);
* **contradicted**: the whole interval lies on the other side;
* **inconclusive**: the interval reaches the boundary: the data cannot tell.

A claim's verdict per backbone class (:func:`verdict`) holds when every check holds, is
contradicted when any check is, and is inconclusive otherwise
(:func:`poslib.verdicts.claim_outcome`).

Thresholds (SPC on the natural test set unless stated), all here:

* positive control (notebook 01): ``SPC > CONTROL_MIN_SPC`` for H, V and G on pure
  coordinate channels;
* "no position information": SPC within ``(-NO_INFO_MAX, NO_INFO_MAX)`` for H, V and G;
* "recovers position": ``SPC > RECOVERS_MIN`` for H, V and G;
* "stripes are harder": mean SPC over HS, VS below the mean over H, V, G.

Backbone classes
----------------
Claims 2-6 are judged on ImageNet-trained backbones (:func:`poslib.weights.backbone_class`);
random initialisations and raw pixels are controls, reported beside them with their own
verdicts, labelled as such.
(Longer than 400 lines: nine claims and four studies, each a few lines of selection around
one call of :func:`poslib.evidence.compare`; the thresholds must stay side by side.)
"""

from __future__ import annotations

import pandas as pd

from .config import RAW_PIXELS
from .evidence import SeedSummary, compare, is_per_image, per_image_scores, seed_summary, select_rows, weakest
from .verdicts import (CONTRADICTED, HOLDS, INCONCLUSIVE, OUTCOMES, Interval, basic_interval, claim_outcome,
                       verdict_row)
from .weights import CONTROL_CLASS, backbone_class

#: How every verdict is read, as the notebooks state it under their claims tables.
RULE_NOTE = ("- Rule: a check **holds** when its whole 95 % interval (a bootstrap over test images and seeds, "
             "widened to the t interval over seeds where that is wider) lies on the claimed side, is **contradicted** "
             "when it lies on the other side, and is **inconclusive** when it reaches the boundary; a claim holds "
             "when every check holds.")
#: "No position information": |SPC| below this (the paper calls .0-.1 "no position"; .2 allows the
#: composition cue natural photos carry).
NO_INFO_MAX = 0.2
#: "Recovers position": SPC above this (the paper's CNN rows are .4-.9 on H and G; .5 is a clear majority).
RECOVERS_MIN = 0.5
#: Positive control: a readout on pure coordinate channels must be nearly perfect.
CONTROL_MIN_SPC = 0.95
EASY_PATTERNS = ("H", "V", "G")
STRIPE_PATTERNS = ("HS", "VS")
#: Patterns of the paper's Tables 2-4 used by claims 4-6 (the mean SPC over them is compared).
POSITION_PATTERNS = ("H", "G")


# ----------------------------------------------------------------------------- evidence rows


def _row(claim: str, subject: str, backbone_kind: str, evidence: str, test: dict) -> dict:
    return {"claim": claim, "subject": subject, "backbone_class": backbone_kind, "evidence": evidence,
            **{key: test[key] for key in ("difference", "low", "high", "n_images", "n_seeds", "outcome", "rule")}}


def _evidence(frame: pd.DataFrame, patterns, value: str = "spc", **where):
    """Per-image scores of ``patterns`` (averaged per seed and image) where ``frame`` has them, else a seed summary."""
    if is_per_image(frame):
        return per_image_scores(frame, patterns, value, **where)
    return seed_summary(frame, patterns, value, **where)


def _mean(evidence) -> float:
    """The observed mean of a condition's evidence."""
    return evidence.mean if isinstance(evidence, SeedSummary) else float(evidence["score"].mean())


def _summary_of(row, value: str, unit_std: str | None = None, n: str = "n_seeds") -> SeedSummary:
    """A :class:`SeedSummary` from one summary row: ``value``, ``<value>_std`` (or ``unit_std``) and ``n``."""
    std = row.get(unit_std or f"{value}_std", float("nan"))
    return SeedSummary(float(row[value]), float(std) if pd.notna(std) else 0.0, int(row.get(n, 1)),
                       int(row.get("n_images", 0) or 0))


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


def check_claims_1_to_3(summary: pd.DataFrame, natural_test) -> pd.DataFrame:
    """Claims 1-3 of the paper from Table 1's per-image rows (or its summary).

    * 1: the raw-pixel readout (no backbone) has no position: H, V, G about 0 within
      :data:`NO_INFO_MAX`, per natural test set;
    * 2: CNN features recover position: H, V, G above :data:`RECOVERS_MIN`, per test set;
    * 3: stripes are harder: mean SPC over H, V, G greater than over HS, VS, per natural test set.

    Parameters
    ----------
    summary : pandas.DataFrame
        Per-image rows (:func:`poslib.probing.probe`) or a Table-1 summary (columns
        backbone, weights, test_set, pattern, spc, spc_std, n_seeds).
    natural_test : str or list of str
        The natural-image test set(s) in ``summary``.

    Returns
    -------
    pandas.DataFrame
        One row per claim, backbone and test set.
    """
    naturals = [natural_test] if isinstance(natural_test, str) else list(natural_test)
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        subject, kind = f"{backbone}/{weights}", backbone_class(backbone, weights)
        if backbone == RAW_PIXELS:
            for name in naturals:
                natural = {p: _evidence(part, [p], test_set=name) for p in EASY_PATTERNS}
                tests = [compare(e, 0.0, "within", NO_INFO_MAX) for e in natural.values()]
                rows.append(_row("1: no backbone, no position", f"{subject} on {name}", kind,
                                 ", ".join(f"{p} {_mean(e):+.3f}" for p, e in natural.items()),
                                 weakest(tests, "within", NO_INFO_MAX)))
            continue
        for test_set in part["test_set"].unique():
            scores = {p: _evidence(part, [p], test_set=test_set) for p in EASY_PATTERNS}
            tests = [compare(e, RECOVERS_MIN, "greater") for e in scores.values()]
            rows.append(_row("2: CNN features recover position", f"{subject} on {test_set}", kind,
                             ", ".join(f"{p} {_mean(e):.3f}" for p, e in scores.items()),
                             weakest(tests, "greater", RECOVERS_MIN)))
        for name in naturals:
            easy = _evidence(part, EASY_PATTERNS, test_set=name)
            stripes = _evidence(part, STRIPE_PATTERNS, test_set=name)
            rows.append(_row("3: stripes are harder", f"{subject} on {name}", kind,
                             f"mean SPC H/V/G {_mean(easy):.3f} vs HS/VS {_mean(stripes):.3f}", compare(easy, stripes)))
    return pd.DataFrame(rows)


def across_training_sets(checks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per check seen with readouts trained on each training set (name -> claims table).

    A check **holds** when it holds for every training set it was seen with, is **contradicted**
    when it is contradicted for every one, and is **inconclusive** otherwise: a verdict that
    depends on which photos the readout learned from is no verdict. The interval is the envelope
    of the sets' intervals and the difference their mean; the evidence names each set, and the
    rule says when a check was seen with fewer sets than there are (a row the profile trains
    on one set only, ``second_train_rows``). With one training set its table is returned as it is.
    """
    if len(checks) == 1:
        return next(iter(checks.values())).reset_index(drop=True)
    names = list(checks)
    tagged = pd.concat([table.assign(train_set=name) for name, table in checks.items()], ignore_index=True)
    rows = []
    for (claim, subject), part in tagged.groupby(["claim", "subject"], sort=False):
        outcomes = set(part["outcome"])
        outcome = next(iter(outcomes)) if len(outcomes) == 1 else INCONCLUSIVE
        first = part.iloc[0]
        seen = list(part["train_set"])
        scope = (f"every training set ({', '.join(names)})" if len(seen) == len(names) else
                 f"every training set it was trained on ({', '.join(seen)}; not {', '.join(n for n in names if n not in seen)})")
        rows.append({"claim": claim, "subject": subject, "backbone_class": first["backbone_class"],
                     "evidence": "; ".join(f"trained on {r.train_set}: {r.evidence}" for r in part.itertuples()),
                     "difference": float(part["difference"].mean()), "low": float(part["low"].min()),
                     "high": float(part["high"].max()), "n_images": int(part["n_images"].min()),
                     "n_seeds": int(part["n_seeds"].min()), "outcome": outcome,
                     "rule": f"decided only when it comes out the same with {scope}: "
                             + "; ".join(f"{r.train_set}: {r.outcome}" for r in part.itertuples())
                             + f"; each: {first['rule']}"})
    return pd.DataFrame(rows)


def verdict(checks: pd.DataFrame) -> pd.DataFrame:
    """One line per claim and backbone class: its outcome and how many checks had each outcome."""
    keys = ["claim", "backbone_class"] if "backbone_class" in checks else ["claim"]
    rows = []
    for key, part in checks.groupby(keys, sort=False):
        outcomes = list(part["outcome"])
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), "checks": len(outcomes),
                     **{outcome: outcomes.count(outcome) for outcome in OUTCOMES},
                     "verdict": claim_outcome(outcomes)})
    return pd.DataFrame(rows)


def summary_lines(checks: pd.DataFrame) -> list[str]:
    """Markdown lines: each claim's verdict per backbone class, then every check that does not hold."""
    lines = []
    for row in verdict(checks).itertuples():
        kind = getattr(row, "backbone_class", "")
        label = f" on {kind} backbones" if kind and kind not in ("-", "") else ""
        lines.append(f"- **Claim {row.claim}**{label}: {row.verdict} ({getattr(row, HOLDS)} of {row.checks} checks "
                     f"hold, {getattr(row, CONTRADICTED)} contradicted, {getattr(row, INCONCLUSIVE)} inconclusive).")
    for outcome in (CONTRADICTED, INCONCLUSIVE):
        rows = checks[checks["outcome"] == outcome]
        if len(rows):
            lines.append(f"- {outcome.capitalize()}: " + "; ".join(
                f"{r.subject} ({r.evidence}; difference {r.difference:+.3f}, 95 % interval [{r.low:+.3f}, "
                f"{r.high:+.3f}])" for r in rows.itertuples()))
    return lines


# ----------------------------------------------------------------------------- claims 4-6 (notebooks 03, 04)


def _trend(values: dict) -> str:
    return ", ".join(f"{k} {_mean(v):.3f}" for k, v in values.items())


def check_claim_4(by_depth: pd.DataFrame, by_kernel: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 4: a deeper readout and a larger kernel recover more position.

    Per backbone: mean SPC over H and G on the natural test set at the largest depth is
    greater than at depth 1 (an interval, :func:`poslib.evidence.compare`); likewise the largest kernel against 1x1.

    Parameters
    ----------
    by_depth, by_kernel : pandas.DataFrame
        Table-2 summaries (columns backbone, weights, depth / kernel_size, test_set, pattern, spc, spc_std, n_seeds).
    natural_test : str
    """
    rows = []
    for setting, table in (("depth", by_depth), ("kernel_size", by_kernel)):
        for (backbone, weights), part in table.groupby(["backbone", "weights"], sort=False):
            values = {v: _evidence(part, POSITION_PATTERNS, test_set=natural_test, **{setting: v})
                      for v in sorted(part[setting].unique())}
            rows.append(_row(f"4: {'deeper readout' if setting == 'depth' else 'larger kernel'} recovers more",
                             f"{backbone}/{weights} on {natural_test}", backbone_class(backbone, weights),
                             f"mean SPC H,G by {setting}: {_trend(values)}",
                             compare(values[max(values)], values[min(values)])))
    return pd.DataFrame(rows)


def check_claim_5(levels: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 5: deeper layers hold more position information (f1 < f2 < ... < f5).

    Per backbone and channel selection (raw / controlled): the mean SPC over H and G on
    the natural test set is greater (an interval, :func:`poslib.evidence.compare`) at each level than at the one before.

    Parameters
    ----------
    levels : pandas.DataFrame
        Table-3 summary (columns backbone, weights, selection, level, test_set, pattern, spc, spc_std, n_seeds).
    natural_test : str
    """
    rows = []
    for (backbone, weights, selection), part in levels.groupby(["backbone", "weights", "selection"], sort=False):
        names = sorted(level for level in part["level"].unique() if level != "all")
        values = {level: _evidence(part, POSITION_PATTERNS, test_set=natural_test, level=level) for level in names}
        steps = [compare(b, a) for a, b in zip(list(values.values()), list(values.values())[1:])]
        rows.append(_row("5: deeper levels hold more position", f"{backbone}/{weights} ({selection}) on {natural_test}",
                         backbone_class(backbone, weights), f"mean SPC H,G: {_trend(values)}", weakest(steps)))
    return pd.DataFrame(rows)


def check_claim_6(readout_paddings: pd.DataFrame, backbone_rules: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Claim 6: zero padding is the source of position information.

    Two parts, each on the mean SPC over H and G on the natural test set (an interval, :func:`poslib.evidence.compare`):

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
        if "valid" not in set(part["padding_rule"]) or "zeros" not in set(part["padding_rule"]):
            continue
        padded, unpadded = (_evidence(part, POSITION_PATTERNS, test_set=natural_test, padding_rule=rule)
                            for rule in ("zeros", "valid"))
        rows.append(_row("6: removing backbone padding cuts position", f"{backbone}/{weights} on {natural_test}",
                         backbone_class(backbone, weights),
                         f"mean SPC H,G zeros {_mean(padded):.3f} vs valid {_mean(unpadded):.3f}",
                         compare(padded, unpadded)))
    pixels = readout_paddings[readout_paddings["backbone"] == RAW_PIXELS]
    if len(pixels):
        values = {p: _evidence(pixels, POSITION_PATTERNS, test_set=natural_test, readout_padding=p)
                  for p in sorted(pixels["readout_padding"].unique())}
        for padding in [p for p in values if p > 0]:
            rows.append(_row("6: readout zero padding creates position",
                             f"{RAW_PIXELS}/none, readout padding {padding}, on {natural_test}",
                             backbone_class(RAW_PIXELS, "none"), f"mean SPC H,G by readout padding: {_trend(values)}",
                             compare(values[padding], values[0])))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- claims 7-9 (notebook 05)


def _task_scores(part: pd.DataFrame, padding_rule: str, value: str):
    """One padding variant's evidence for claim 7: tidy per-image scores of ``value`` where ``part``
    has per-image rows, else a :class:`SeedSummary` of its summary row."""
    rows = part[part["padding_rule"] == padding_rule]
    if is_per_image(rows):
        return rows[["seed", "image", value]].rename(columns={value: "score"}).reset_index(drop=True)
    return _summary_of(rows.iloc[0], value)


def check_claim_7(saliency: pd.DataFrame, segmentation: pd.DataFrame,
                  margins: pd.DataFrame | None = None) -> pd.DataFrame:
    """Claim 7: zero padding helps salient object detection and semantic segmentation from scratch.

    Per saliency test set: the zero-padded model's max F-measure is greater than the
    unpadded one's *and* its MAE smaller (both an interval, :func:`poslib.evidence.compare`); per segmentation test set:
    its mIoU is greater. With per-image saliency rows the interval is over test images and
    training seeds (the per-image ``max_f`` is each image's F at the threshold of its model's
    max F, so its mean is the table's max F); with summaries it is over training seeds.
    Segmentation is judged from the summary: its mIoU is the data set's (pooled pixel
    counts), not a mean over images.

    Parameters
    ----------
    saliency : pandas.DataFrame
        Per-image rows (columns padding_rule, test_set, seed, image, max_f, mae: Table 5 (a)'s
        ``per_image``) or the summary (padding_rule, test_set, max_f, mae, optionally
        max_f_std, mae_std, n_seeds).
    segmentation : pandas.DataFrame
        Columns padding_rule, test_set, metric, value (optionally value_std, n_seeds).
    margins : pandas.DataFrame, optional
        :func:`poslib.experiments.task_baselines.margin_over_baselines` on the same rows
        (padding_rule, test_set, margin, best_baseline, beats_by). Where the zero-padded model
        does not beat the best trivial baseline by the required margin (``beats_by`` false),
        the saliency check is reported inconclusive, saying so: a model that weak cannot show
        a padding effect.
    """
    rows = []
    for test_set, part in saliency.groupby("test_set", sort=False, observed=True):
        if not {"zeros", "valid"} <= set(part["padding_rule"]):
            continue
        z_f, n_f = (_task_scores(part, rule, "max_f") for rule in ("zeros", "valid"))
        z_mae, n_mae = (_task_scores(part, rule, "mae") for rule in ("zeros", "valid"))
        test = weakest([compare(z_f, n_f), compare(n_mae, z_mae)])
        weak = None if margins is None else margins[(margins["test_set"] == test_set)
                                                    & (margins["padding_rule"] == "zeros")]
        if weak is not None and len(weak) and not bool(weak["beats_by"].iloc[0]):
            best = weak.iloc[0]
            test = {**test, "outcome": INCONCLUSIVE,
                    "rule": f"{test['rule']}; reported inconclusive: the zero-padded model's max F is only "
                            f"{best['margin']:+.3f} above the best trivial baseline ({best['best_baseline']}), "
                            f"too weak a model to show a padding effect (measured outcome: {test['outcome']})"}
        rows.append(_row("7: zero padding helps SOD / segmentation", f"saliency on {test_set}", "task network",
                         f"max F {_mean(z_f):.3f} vs {_mean(n_f):.3f} without padding; "
                         f"MAE {_mean(z_mae):.3f} vs {_mean(n_mae):.3f}", test))
    miou = segmentation[segmentation["metric"] == "miou"]
    for test_set, part in miou.groupby("test_set", sort=False):
        by = part.set_index("padding_rule")
        if {"zeros", "valid"} <= set(by.index):
            z, n = by.loc["zeros"], by.loc["valid"]
            rows.append(_row("7: zero padding helps SOD / segmentation", f"segmentation on {test_set}",
                             "task network", f"mIoU {z['value']:.3f} vs {n['value']:.3f} without padding",
                             compare(_summary_of(z, "value"), _summary_of(n, "value"))))
    return pd.DataFrame(rows)


def check_claim_8(summary: pd.DataFrame, natural_test: str, pairs) -> pd.DataFrame:
    """Claim 8: an encoder trained for SOD or segmentation encodes more position than the same
    architecture trained for classification.

    Compares the mean SPC over H, V and G on the natural test set of each pixel-task encoder
    with its classification twin (an interval, :func:`poslib.evidence.compare`); only same-architecture pairs are compared.

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
        if not ((summary["model"] == task_model).any() and (summary["model"] == classifier).any()):
            continue
        task = _evidence(summary, EASY_PATTERNS, test_set=natural_test, model=task_model)
        reference = _evidence(summary, EASY_PATTERNS, test_set=natural_test, model=classifier)
        rows.append(_row("8: pixel-task encoders hold more position than classification ones",
                         f"{task_model} vs {classifier}", architecture,
                         f"mean SPC H/V/G {_mean(task):.3f} vs {_mean(reference):.3f}", compare(task, reference)))
    return pd.DataFrame(rows)


def _image_summary(row) -> SeedSummary:
    """The crop-shift mean of one row as evidence whose units are images (the SEM times sqrt(n) is their std)."""
    n = int(row["n_images"])
    return SeedSummary(float(row["toward_centre"]), float(row["toward_centre_sem"]) * n ** 0.5, n, n)


def check_claim_9(crop_summary: pd.DataFrame) -> pd.DataFrame:
    """Claim 9: a saliency model's output shifts with the image frame (Figure 1).

    Per test set and crop fraction: the zero-padded model's prediction moves towards the
    centre of the cut frame (an interval against the threshold 0, standard error over images), and more than the
    unpadded model's (an interval, :func:`poslib.evidence.compare`), which is the paper's explanation of the effect.

    Parameters
    ----------
    crop_summary : pandas.DataFrame
        :func:`poslib.experiments.frame_shift.summarise_crop_shift` output.
    """
    rows = []
    for (test_set, fraction), part in crop_summary.groupby(["test_set", "fraction"], sort=False):
        by = part.set_index("padding_rule")
        if "zeros" not in by.index:
            continue
        z = by.loc["zeros"]
        shift = _image_summary(z)
        rows.append(_row("9: saliency output shifts with the frame", f"zeros, {test_set}, cut {fraction:.2f}",
                         "task network", f"toward centre {z['toward_centre']:+.4f} of the width", compare(shift, 0.0)))
        if "valid" in by.index:
            n = by.loc["valid"]
            rows.append(_row("9: saliency output shifts with the frame", f"zeros vs valid, {test_set}, cut {fraction:.2f}",
                             "task network",
                             f"toward centre {z['toward_centre']:+.4f} with vs {n['toward_centre']:+.4f} without padding",
                             compare(shift, _image_summary(n))))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- notebook 06 (beyond the paper)

#: Study B1: accuracy above chance by at least this much counts as "tells left from right".
LOCATION_MIN_GAIN = 0.2
#: Study B1: "at chance" means |accuracy - chance| below this.
CHANCE_MARGIN = 0.1
#: Study B1: the claims' names.
BORDER_CLAIM = "B1: the border tells left from right"
REACH_CLAIM = "B1: the cue reaches as far as the receptive field"
NO_BORDER_CLAIM = "B1: circular padding cannot tell left from right"
#: Study B1's second control: beyond its reach a network is blind by construction (exact translation
#: equivalence of the two classes), so this checks the pipeline, not the padding; kept apart from the claims.
BLIND_CONTROL = "B1 control: beyond its reach a network is at chance"
#: Study B2: pooled features "hold position" when accuracy exceeds chance by this much; the aliasing
#: check needs an untrained circular-padded network within this much of chance.
GAP_MIN_GAIN = 0.1
#: Study B2: the name of the aliasing check (the random-init circular rows).
ALIASING_CHECK = "B2: aliasing check: an untrained circular-padded network stays at chance"


def _mean_summary(summaries: list[SeedSummary]) -> SeedSummary:
    """The mean of several conditions' seed summaries (treated as independent)."""
    k = len(summaries)
    return SeedSummary(sum(s.mean for s in summaries) / k, sum(s.std ** 2 for s in summaries) ** 0.5 / k,
                       min(s.n_seeds for s in summaries), max(s.n_images for s in summaries))


def _canvas_scores(per_canvas: pd.DataFrame, **where) -> pd.DataFrame:
    """Per-canvas correctness (0/1) of the rows matching ``where`` (:func:`poslib.evidence.select_rows`), as tidy
    scores (seed, image = canvas, score) for :func:`compare`."""
    part = select_rows(per_canvas, **where)
    return pd.DataFrame({"seed": part["seed"].to_numpy(), "image": part["canvas"].to_numpy(),
                         "score": part["correct"].to_numpy(dtype=float)})


def _location_evidence(summary: pd.DataFrame, per_canvas: pd.DataFrame | None, padding: str, dilations: str,
                       distances) -> pd.DataFrame | SeedSummary:
    """Evidence of one B1 network at some distances: per-canvas correctness (seed, image = canvas, score) where the
    canvases are given, else the seed summary of its accuracy (the mean of the distances' summaries)."""
    where = {"padding_rule": padding, "dilations": dilations, "distance": list(distances)}
    if per_canvas is not None and len(per_canvas):
        return _canvas_scores(per_canvas, **where)
    rows = select_rows(summary, **where)
    return _mean_summary([_summary_of(r, "accuracy") for _, r in rows.iterrows()])


def check_absolute_location(summary: pd.DataFrame, per_canvas: pd.DataFrame | None = None) -> pd.DataFrame:
    """Study B1 (Kayhan & van Gemert): the border tells left from right, as far as the receptive field reaches.

    Three claims, named after what they test:

    :data:`BORDER_CLAIM`
        Every network with a border (every padding but ``circular``; ``valid`` has none
        added, its border is where the taps stop) beats chance by :data:`LOCATION_MIN_GAIN`
        at the smallest distance (when it is within the network's reach).
    :data:`REACH_CLAIM`
        Per padding with a border, with the longest stack ``L`` and the shortest ``S``: at
        the largest tested distance ``D`` within ``L``'s reach (``RF - 2``,
        :func:`poslib.experiments.absolute_location.border_reach`), ``L`` beats chance
        (margin 0: any cue counts); where ``D`` is beyond ``S``'s reach, ``L`` beats ``S``
        at ``D``. ``L`` at ``D`` can fail: the cue exists there only if training found it.
    :data:`BLIND_CONTROL`
        ``S``, pooled over the distances beyond its reach, is within :data:`CHANCE_MARGIN` of
        chance. The short network is blind there by construction, so this row checks the
        pipeline (if it is not at chance, something other than the border tells the classes
        apart, e.g. a label leak), not a claim; it is kept under its own name so that it
        cannot make a claim look stronger.
    :data:`NO_BORDER_CLAIM`
        The negative control: per stack, the circular network's accuracy pooled over all
        distances is within :data:`CHANCE_MARGIN` of chance. A circular network is
        translation-equivariant on a torus, so the two classes are undecidable for it at
        every distance; the distances are pooled because an interval per distance, with its
        t quantile over 3 seed means (4.30), is wider than the margin at the test sizes
        affordable here (the accuracy per distance is in the table and in the evidence).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`poslib.experiments.absolute_location.summarise_location` output.
    per_canvas : pandas.DataFrame, optional
        :func:`poslib.experiments.absolute_location.run_location_canvases` output: the intervals
        are then bootstraps over test canvases and seeds (:func:`poslib.evidence.compare`), else
        over seeds.
    """
    rows, kind = [], "trained from scratch"
    chance = float(summary["chance"].iloc[0])
    stacks = summary.drop_duplicates("dilations").sort_values("receptive_field")

    def evidence(padding, stack, distances):
        return _location_evidence(summary, per_canvas, padding, stack, distances)

    def name(padding, stack):
        return f"{padding}, dilations {stack.dilations} (receptive field {int(stack.receptive_field)} px)"

    for padding, part in summary.groupby("padding_rule", sort=False):
        present = stacks[stacks["dilations"].isin(part["dilations"])]
        if padding == "circular":
            for stack in present.itertuples():
                mine = part[part["dilations"] == stack.dilations]
                rows.append(_row(NO_BORDER_CLAIM, name(padding, stack), kind,
                                 f"accuracy over distances {mine['accuracy'].mean():.3f}, from "
                                 f"{mine['accuracy'].min():.3f} to {mine['accuracy'].max():.3f} (chance {chance:.2f})",
                                 compare(evidence(padding, stack.dilations, mine["distance"]), chance, "within",
                                         CHANCE_MARGIN)))
            continue
        for stack in present.itertuples():
            mine = part[part["dilations"] == stack.dilations].sort_values("distance")
            near = mine.iloc[0]
            if near["distance"] <= stack.reach:
                rows.append(_row(BORDER_CLAIM, name(padding, stack), kind,
                                 f"accuracy {near['accuracy']:.3f} at {int(near['distance'])} px",
                                 compare(evidence(padding, stack.dilations, [near["distance"]]),
                                         chance + LOCATION_MIN_GAIN)))
        long, short = present.iloc[-1], present.iloc[0]
        at = part.set_index(["dilations", "distance"])["accuracy"]
        within = sorted(d for d in part.loc[part["dilations"] == long.dilations, "distance"] if d <= long.reach)
        if not within:
            continue
        far = within[-1]
        where = f"{far} px = {far / long.receptive_field:.2f} receptive field"
        rows.append(_row(REACH_CLAIM, f"{name(padding, long)}, {where}", kind,
                         f"accuracy {at[(long.dilations, far)]:.3f} at {far} px (reach {int(long.reach)} px)",
                         compare(evidence(padding, long.dilations, [far]), chance)))
        if short.dilations == long.dilations or far <= short.reach:
            continue
        rows.append(_row(REACH_CLAIM, f"{padding}, {long.dilations} vs {short.dilations}, {far} px", kind,
                         f"accuracy {at[(long.dilations, far)]:.3f} (receptive field {int(long.receptive_field)} px) "
                         f"vs {at[(short.dilations, far)]:.3f} ({int(short.receptive_field)} px)",
                         compare(evidence(padding, long.dilations, [far]), evidence(padding, short.dilations, [far]))))
        beyond = sorted(d for d in part.loc[part["dilations"] == short.dilations, "distance"] if d > short.reach)
        pooled = part[(part["dilations"] == short.dilations) & part["distance"].isin(beyond)]["accuracy"].mean()
        rows.append(_row(BLIND_CONTROL, f"{name(padding, short)}, beyond its reach ({', '.join(map(str, beyond))} px)",
                         kind, f"accuracy {pooled:.3f} beyond {int(short.reach)} px (chance {chance:.2f})",
                         compare(evidence(padding, short.dilations, beyond), chance, "within", CHANCE_MARGIN)))
    return pd.DataFrame(rows)


def check_gap_position(summary: pd.DataFrame, per_canvas: pd.DataFrame | None = None) -> pd.DataFrame:
    """Study B2 (Islam et al. 2021): position survives global average pooling, written in channels.

    Per backbone (zero padding, as trained, all taps): accuracy exceeds chance by
    :data:`GAP_MIN_GAIN` (an interval against the threshold); the top-k channels by classifier
    weight mass beat k random channels (smallest k); and zero padding holds more position than
    circular padding where both ran. With ``per_canvas`` the intervals are bootstraps over test
    canvases and classifier seeds (:func:`poslib.evidence.compare`), else over seeds.

    The aliasing check: every random-init row run with circular padding must stay within
    :data:`GAP_MIN_GAIN` of chance (a translation-equivariant network whose patch origins are
    multiples of its stride cannot name the position after pooling). If any such check does
    not hold, "zero padding writes more position than circular" is not a padding effect and
    its checks are reported as inconclusive, saying why.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`poslib.experiments.gap_position.summarise_gap` output.
    per_canvas : pandas.DataFrame, optional
        :func:`poslib.experiments.gap_position.canvas_rows` output (every classifier's answer on every test canvas).
    """
    rows, circular_rows = [], []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        kind, subject = backbone_class(backbone, weights), f"{backbone}/{weights}"
        joined = part[part["tap"] == "all"].set_index(["padding_rule", "channels"])

        def evidence(rule, channels):
            if per_canvas is not None and len(per_canvas):
                return _canvas_scores(per_canvas, backbone=backbone, weights=weights, padding_rule=rule, tap="all",
                                      channels=channels)
            return _summary_of(joined.loc[(rule, channels)], "accuracy")

        chance = float(part["chance"].iloc[0])
        if ("circular", "all") in joined.index and kind == CONTROL_CLASS:
            circular = joined.loc[("circular", "all")]
            rows.append(_row(ALIASING_CHECK, subject, kind,
                             f"accuracy with circular padding {circular['accuracy']:.3f} (chance {chance:.3f})",
                             compare(evidence("circular", "all"), chance, "within", GAP_MIN_GAIN)))
        if ("zeros", "all") not in joined.index:
            continue
        zeros = joined.loc[("zeros", "all")]
        rows.append(_row("B2: position survives global average pooling", subject, kind,
                         f"accuracy {zeros['accuracy']:.3f} (chance {chance:.3f})",
                         compare(evidence("zeros", "all"), chance + GAP_MIN_GAIN)))
        ks = sorted(int(k) for c, k in zip(part["channels"], part["k"]) if str(c).startswith("top-"))
        if ks and ("zeros", f"top-{ks[0]}") in joined.index:
            top, rand = joined.loc[("zeros", f"top-{ks[0]}")], joined.loc[("zeros", f"random-{ks[0]}")]
            rows.append(_row("B2: a few channels carry the position", f"{subject}, k = {ks[0]}", kind,
                             f"top-{ks[0]} {top['accuracy']:.3f} vs random-{ks[0]} {rand['accuracy']:.3f}",
                             compare(evidence("zeros", f"top-{ks[0]}"), evidence("zeros", f"random-{ks[0]}"))))
        if ("circular", "all") in joined.index and kind != CONTROL_CLASS:
            circular = joined.loc[("circular", "all")]
            circular_rows.append(len(rows))
            rows.append(_row("B2: zero padding writes more position than circular", subject, kind,
                             f"accuracy zeros {zeros['accuracy']:.3f} vs circular {circular['accuracy']:.3f}",
                             compare(evidence("zeros", "all"), evidence("circular", "all"))))
    aliasing = [r for r in rows if r["claim"] == ALIASING_CHECK]
    failed = [r["subject"] for r in aliasing if r["outcome"] != HOLDS]
    if failed or not aliasing:
        why = (f"aliasing check did not hold ({', '.join(failed)})" if failed
               else "no aliasing check ran (no random-init row with circular padding)")
        for index in circular_rows:
            if rows[index]["outcome"] != INCONCLUSIVE:
                rows[index] = {**rows[index], "outcome": INCONCLUSIVE,
                               "rule": f"{rows[index]['rule']}; reported inconclusive: {why}, so the difference may "
                                       f"be sub-stride aliasing rather than padding (measured outcome: "
                                       f"{rows[index]['outcome']})"}
    return pd.DataFrame(rows)


def check_padding_parity(table: pd.DataFrame, resamples: dict, tap: str, reference: int,
                         confidence: float = 0.95) -> pd.DataFrame:
    """Study B3 (Alsallakh et al.): more uneven layers, more skewed maps, with the filters as trained.

    Per backbone, weights and rule, the left-right asymmetry of ``tap``'s mean map over natural
    photos and their mirror images (:func:`poslib.experiments.padding_parity.natural_asymmetry`)
    at the ``reference`` size (the size the network was trained at) is compared with every
    other size that has a different number of uneven layers: the difference "asymmetry at the
    size with more uneven layers minus asymmetry at the size with fewer" must be above 0. Its
    interval is the basic (reverse-percentile) interval of the paired bootstrap over photo
    pairs (every configuration resampled on the same pairs; see
    :func:`poslib.verdicts.basic_interval` for why not the percentile one);
    there are no seeds (nothing is trained).

    Geometry alone predicts "holds"; an untrained network (the random-init control) should
    show it. A trained network that is *less* skewed at its own, unevenly padded size than
    at a size without uneven layers contradicts it: it has learned to compensate for its
    padding (:func:`poslib.experiments.padding_parity.compensation_sentences` reads this).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`~poslib.experiments.padding_parity.NaturalAsymmetry.table`.
    resamples : dict
        :attr:`~poslib.experiments.padding_parity.NaturalAsymmetry.resamples`.
    tap : str
    reference : int
        The reference input size (:func:`poslib.experiments.padding_parity.reference_size`).
    confidence : float
    """
    rows = []
    part = table[table["tap"] == tap]
    for (backbone, weights, rule), group in part.groupby(["backbone", "weights", "padding_rule"], sort=False):
        by_size = group.set_index("input_size")
        if reference not in by_size.index:
            continue
        for size in by_size.index:
            uneven = {s: int(by_size.loc[s, "uneven_layers"]) for s in (reference, size)}
            if size == reference or uneven[size] == uneven[reference]:
                continue
            more, fewer = (size, reference) if uneven[size] > uneven[reference] else (reference, size)
            values = resamples[(backbone, weights, rule, more, tap)] - resamples[(backbone, weights, rule, fewer, tap)]
            difference = float(by_size.loc[more, "lr_asymmetry"] - by_size.loc[fewer, "lr_asymmetry"])
            low, high = basic_interval(difference, values, confidence)
            n_pairs = int(by_size.loc[reference, "n_images"])
            interval = Interval(difference, low, high, confidence, n_pairs, 0, len(values), True, False,
                                f"bootstrap over {n_pairs} photo pairs (photo and mirror image), paired across sizes, "
                                f"{len(values)} resamples, {confidence:.0%} basic (bias-correcting) interval; no seeds "
                                f"(nothing is trained)")
            rows.append(_row("B3: more uneven layers, more skewed maps (filters as trained)",
                             f"{backbone}/{weights}, {rule}, {tap}, {more} vs {fewer} px",
                             backbone_class(backbone, weights),
                             f"left-right asymmetry of the mean map over natural photos: "
                             f"{by_size.loc[more, 'lr_asymmetry']:.3f} at {more} px ({uneven[more]} uneven layers) vs "
                             f"{by_size.loc[fewer, 'lr_asymmetry']:.3f} at {fewer} px ({uneven[fewer]})",
                             verdict_row(interval, "greater")))
    return pd.DataFrame(rows)


def check_input_size(summary: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Study B4: a larger input (beyond the receptive field) holds less position.

    Per backbone: the mean SPC over H and G on the natural test set at the smallest input
    size is greater than at the largest (an interval, :func:`poslib.evidence.compare`).
    Per-image rows are paired across sizes by the image's file name (``image_id``), so a
    photo left out at one size only (a near-duplicate found at that size) is not mispaired.

    Parameters
    ----------
    summary : pandas.DataFrame
        Per-image rows (backbone, weights, input_size, seed, image, image_id, test_set,
        pattern, spc) or a summary (spc, spc_std, n_seeds instead of seed and image).
    natural_test : str
    """
    if is_per_image(summary) and "image_id" in summary:
        summary = summary.assign(image=summary["image_id"])
    rows = []
    for (backbone, weights), part in summary.groupby(["backbone", "weights"], sort=False):
        values = {s: _evidence(part, POSITION_PATTERNS, test_set=natural_test, input_size=s)
                  for s in sorted(part["input_size"].unique())}
        rows.append(_row("B4: larger inputs hold less position", f"{backbone}/{weights} on {natural_test}",
                         backbone_class(backbone, weights), f"mean SPC H,G by input size: {_trend(values)}",
                         compare(values[min(values)], values[max(values)])))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- notebook 07 (input contrast)

#: Notebook 07: the level whose position is followed as the content fades (the paper's deepest tap).
CONTRAST_DEEP_LEVEL = "f5"
#: Notebook 07: the rise must exceed this (0: any rise the interval excludes zero for, as claims 4-6).
CONTRAST_MIN_RISE = 0.0


def _channel_scores(channel_shares: pd.DataFrame, **where) -> pd.DataFrame:
    """Per-channel position shares as tidy scores (``seed`` 0, ``image`` = channel) for :func:`compare`."""
    part = select_rows(channel_shares, **where)
    return pd.DataFrame({"seed": 0, "image": part["channel"].to_numpy(), "score": part["share"].to_numpy()})


def check_contrast(per_image: pd.DataFrame, shares: pd.DataFrame, natural_test: str) -> pd.DataFrame:
    """Notebook 07: deep-layer position rises as the content fades (the border cue taking over).

    Per row: the mean SPC over H and G of :data:`CONTRAST_DEEP_LEVEL` on the natural test set
    at the lowest non-zero contrast is greater than at contrast 1 (an interval,
    :func:`poslib.evidence.compare`), and so is the level's probe-free position share (mean
    over its channels). The share's interval is a paired bootstrap over the level's channels:
    the share trains nothing, so there are no seeds, and the test images are fixed (their
    sampling is not in the interval). Channels constant at either contrast are left out.
    Contrast 0 is not compared (every image is then the same, so the share is 1 by
    construction). Random initialisations are judged as controls (their ``backbone_class``).

    Parameters
    ----------
    per_image : pandas.DataFrame
        :attr:`poslib.experiments.input_contrast.ContrastStudy.per_image` (columns backbone,
        weights, contrast, level, seed, image, test_set, pattern, spc).
    shares : pandas.DataFrame
        Per-channel shares (:attr:`~poslib.experiments.input_contrast.ContrastStudy.channel_shares`:
        backbone, weights, contrast, level, channel, share).
    natural_test : str
    """
    rows, claim = [], "C1: deep-layer position rises as content fades"
    level = CONTRAST_DEEP_LEVEL
    for (backbone, weights), part in per_image.groupby(["backbone", "weights"], sort=False):
        contrasts = sorted(part["contrast"].unique())
        faded = [c for c in contrasts if c > 0]
        if level not in set(part["level"]) or len(faded) < 2:
            continue
        low, top = faded[0], faded[-1]
        subject, kind = f"{backbone}/{weights}", backbone_class(backbone, weights)
        spc = {c: _evidence(part, POSITION_PATTERNS, test_set=natural_test, level=level, contrast=c) for c in (low, top)}
        rows.append(_row(claim, f"{subject}, {level} SPC", kind,
                         f"mean SPC H,G of {level}: {_mean(spc[low]):.3f} at a = {low:g} vs {_mean(spc[top]):.3f} "
                         f"at a = {top:g}", compare(spc[low], spc[top], "greater", CONTRAST_MIN_RISE)))
        mine = shares[(shares["backbone"] == backbone) & (shares["weights"] == weights) & (shares["level"] == level)]
        pair = (_channel_scores(mine, contrast=low).merge(_channel_scores(mine, contrast=top), on=["seed", "image"],
                                                          suffixes=("_low", "_top")).dropna())
        if len(pair) < 2:
            continue
        a, b = (pair[["seed", "image", f"score_{s}"]].rename(columns={f"score_{s}": "score"}) for s in ("low", "top"))
        test = compare(a, b, "greater", CONTRAST_MIN_RISE)
        test["rule"] = (test["rule"].replace(" x 1 seed (images only: 1 seed)", "").replace("images", "channels")
                        + "; no seeds (the share trains nothing) and the test images are fixed")
        rows.append(_row(claim, f"{subject}, {level} position share (probe-free)", kind,
                         f"mean share of {len(pair)} {level} channels: {a['score'].mean():.3f} "
                         f"at a = {low:g} vs {b['score'].mean():.3f} at a = {top:g}", test))
    return pd.DataFrame(rows)
