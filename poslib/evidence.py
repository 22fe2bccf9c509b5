"""What a claims check compares, and the one interval that decides it.

A check compares two conditions A and B ("zero padding" and "no padding", "depth 3" and
"depth 1"...) or one condition with a threshold. Its evidence is either

* **per-image scores** (a tidy frame with ``seed``, ``image`` and ``score``; several
  targets averaged per seed and image), as notebooks 02-04 keep them, or
* a **seed summary** (:class:`SeedSummary`: mean over seeds, sample standard deviation,
  number of seeds) where only per-seed aggregates exist.

:func:`compare` returns the check's row: the observed difference, a 95 % interval, the
numbers of images and seeds, the outcome (``holds`` / ``contradicted`` / ``inconclusive``,
:func:`poslib.verdicts.decide`) and the rule in words. The interval is

* for per-image scores, the **envelope** of two intervals: the hierarchical bootstrap
  over test images and seeds (:func:`poslib.verdicts.hierarchical_bootstrap`, the spread
  over images and seeds together) and a Welch t interval over the per-seed means (the
  spread over training runs with the t quantile of its few degrees of freedom: 4.30 for 3
  seeds). The bootstrap alone is too narrow when the seeds' spread dominates, because 3
  seeds carry 2/3 of their variance into it and its percentile interval of 3 seed means
  is their range; the t interval alone ignores the images. The envelope is never
  narrower than either, so a "holds" survives both views of the noise;
* for seed summaries, the Welch t interval alone.

With one seed the t interval does not exist and the interval is over images only (the rule
says so); with one image and one seed it is a point, and the outcome is ``inconclusive``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .verdicts import (CONFIDENCE, INCONCLUSIVE, Interval, average_over_targets, claim_outcome, decide,
                       decision_text, hierarchical_bootstrap)


#: Rows of random channel draws count each (seed, draw) as one unit of the seed level (more draws per seed than this
#: would collide).
DRAWS_PER_SEED = 1000


@dataclass(frozen=True)
class SeedSummary:
    """A mean over seeds with its spread: the evidence of a check when per-image scores are not kept.

    Parameters
    ----------
    mean : float
        Mean over seeds (of a per-seed mean over images or canvases).
    std : float
        Sample standard deviation over seeds (NaN or 0 for one seed).
    n_seeds : int
    n_images : int
        Images (or canvases, grey levels...) behind each per-seed mean; 0 if unknown.
    """

    mean: float
    std: float
    n_seeds: int
    n_images: int = 0


def select_rows(frame: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of ``frame`` whose columns equal ``where``'s values (a list or tuple value: any of its items).

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"]})
    >>> select_rows(frame, a=1, b=["x", "z"]).index.tolist()
    [0]
    """
    part = frame
    for key, wanted in where.items():
        part = part[part[key].isin(wanted) if isinstance(wanted, (list, tuple)) else part[key] == wanted]
    return part


def per_image_scores(frame: pd.DataFrame, patterns, value: str = "spc", **where) -> pd.DataFrame:
    """Tidy per-image scores (``seed``, ``image``, ``score``) of ``frame``'s rows that match ``where``.

    The scores of ``patterns`` are averaged per seed and image (:func:`poslib.verdicts.average_over_targets`).
    Rows of random channel draws (a ``draw`` column >= 0) count each (seed, draw) pair as one
    training run.
    """
    part = select_rows(frame, **where)
    part = part[part["pattern"].isin(patterns)]
    if "draw" in part and (part["draw"] >= 0).any():  # random channel draws: each (seed, draw) is one training run
        part = part.assign(seed=part["seed"].astype(int) * DRAWS_PER_SEED + part["draw"].astype(int))
    tidy = part[["seed", "image", "pattern", value]].rename(columns={value: "score", "pattern": "target"})
    if tidy["target"].nunique() > 1:
        return average_over_targets(tidy, list(patterns))
    return tidy.drop(columns="target").reset_index(drop=True)


def seed_summary(summary: pd.DataFrame, patterns, value: str = "spc", **where) -> SeedSummary:
    """A :class:`SeedSummary` of ``summary``'s rows of ``patterns`` that match ``where`` (mean over patterns).

    The standard deviation of a mean over ``k`` patterns is ``sqrt(sum std_i^2) / k``, which
    treats the patterns' readouts as independent (they are disjoint blocks of one readout).
    """
    part = select_rows(summary, **where)
    part = part[part["pattern"].isin(patterns)]
    stds = part[f"{value}_std"].fillna(0.0) if f"{value}_std" in part else pd.Series(0.0, index=part.index)
    n_seeds = int(part["n_seeds"].min()) if "n_seeds" in part and len(part) else 1
    n_images = int(part["n_images"].max()) if "n_images" in part and len(part) else 0
    return SeedSummary(float(part[value].mean()), float(np.sqrt((stds ** 2).sum())) / max(len(part), 1),
                       n_seeds, n_images)


def is_per_image(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds per-image rows (columns ``seed`` and ``image``) rather than a summary."""
    return {"seed", "image"} <= set(frame.columns)


def _seed_means(evidence) -> tuple[float, float, int]:
    """Mean, sample std (ddof 1) and count of the per-seed means of a condition."""
    if isinstance(evidence, SeedSummary):
        return evidence.mean, evidence.std, evidence.n_seeds
    means = evidence.groupby("seed")["score"].mean()
    return float(means.mean()), float(means.std(ddof=1)) if len(means) > 1 else float("nan"), len(means)


def welch_interval(a, b=0.0, confidence: float = CONFIDENCE) -> tuple[float, float, float, str] | None:
    """``(difference, low, high, text)`` of a Welch t interval over seeds, or None with one seed.

    ``a`` and ``b`` are per-image frames or :class:`SeedSummary`; ``b`` may be a number.

    Examples
    --------
    >>> difference, low, high, _ = welch_interval(SeedSummary(0.6, 0.01, 3), SeedSummary(0.5, 0.01, 3))
    >>> round(difference, 3), round(low, 3), round(high, 3)
    (0.1, 0.077, 0.123)
    """
    mean_a, std_a, n_a = _seed_means(a)
    if isinstance(b, (int, float)):
        mean_b, var_b, n_b, df_b = float(b), 0.0, 1, None
    else:
        mean_b, std_b, n_b = _seed_means(b)
        var_b, df_b = (std_b ** 2 / n_b if n_b > 1 else float("nan")), n_b - 1
    if n_a < 2 or (df_b is not None and n_b < 2):
        return None
    var_a = std_a ** 2 / n_a
    se = math.sqrt(var_a + var_b)
    if se == 0:
        df = n_a - 1 + (df_b or 0)
    elif df_b is None:
        df = n_a - 1
    else:
        df = (var_a + var_b) ** 2 / (var_a ** 2 / (n_a - 1) + var_b ** 2 / df_b)
    quantile = float(stats.t.ppf(0.5 + confidence / 2, df))
    difference = mean_a - mean_b
    return difference, difference - quantile * se, difference + quantile * se, f"t over seeds (df {df:.1f})"


def compare(a, b=0.0, side: str = "greater", margin: float = 0.0, confidence: float = CONFIDENCE) -> dict:
    """One check: the interval of ``A - B`` (or ``A - b`` for a number), its outcome and rule.

    Parameters
    ----------
    a : pandas.DataFrame or SeedSummary
        Per-image scores (:func:`per_image_scores`) or a seed summary.
    b : pandas.DataFrame, SeedSummary or float
        The other condition, or a threshold.
    side : {"greater", "less", "within"}
        The claim: ``A - B > margin``, ``A - B < -margin`` or ``|A - B| < margin``.
    margin : float
    confidence : float

    Returns
    -------
    dict
        ``difference``, ``low``, ``high``, ``n_images``, ``n_seeds``, ``outcome``, ``rule``
        (see the module docstring for how the interval is made).

    Examples
    --------
    >>> compare(SeedSummary(0.8, 0.01, 3), SeedSummary(0.5, 0.01, 3))["outcome"]
    'holds'
    >>> compare(SeedSummary(0.52, 0.01, 3), SeedSummary(0.5, 0.01, 3))["outcome"]  # 2 SE, not 95 %
    'inconclusive'
    """
    welch = welch_interval(a, b, confidence)
    if isinstance(a, SeedSummary) or isinstance(b, SeedSummary):
        if welch is None:
            estimate = a.mean - (b if isinstance(b, (int, float)) else b.mean)
            interval = Interval(estimate, estimate, estimate, confidence, a.n_images, a.n_seeds, 0, False, True,
                                "1 seed, seed means only: no interval")
        else:
            n_seeds = min(a.n_seeds, b.n_seeds) if isinstance(b, SeedSummary) else a.n_seeds
            interval = Interval(welch[0], welch[1], welch[2], confidence, a.n_images, n_seeds, 0, False, False,
                                f"{welch[3]} of seed means ({n_seeds} seeds)")
    else:
        boot = hierarchical_bootstrap(a, b, confidence=confidence)
        if welch is None:
            interval = boot
        else:
            low, high = min(boot.low, welch[1]), max(boot.high, welch[2])
            interval = Interval(boot.estimate, low, high, confidence, boot.n_images, boot.n_seeds, boot.n_resamples,
                                boot.paired, boot.degenerate, f"envelope of {boot.rule} and {welch[3]}")
    return {"difference": float(interval.estimate), "low": float(interval.low), "high": float(interval.high),
            "n_images": int(interval.n_images), "n_seeds": int(interval.n_seeds),
            "outcome": decide(interval, side, margin), "rule": f"{interval.rule}; {decision_text(side, margin)}"}


#: Order of outcomes from worst to best, to report a claim's weakest check.
_OUTCOME_RANK = {"contradicted": 0, INCONCLUSIVE: 1, "holds": 2}


def weakest(checks: list[dict], side: str = "greater", margin: float = 0.0) -> dict:
    """Several checks of one claim as one row: the outcome of all (:func:`poslib.verdicts.claim_outcome`,
    every check must hold) and the numbers of the weakest check (worst outcome, then smallest
    distance of its interval from the claim's boundary)."""
    def distance(check: dict) -> float:
        if side == "greater":
            return check["low"] - margin
        if side == "less":
            return -margin - check["high"]
        return min(check["low"] + margin, margin - check["high"])

    worst = min(checks, key=lambda c: (_OUTCOME_RANK[c["outcome"]], distance(c)))
    return dict(worst, outcome=claim_outcome([c["outcome"] for c in checks]))
