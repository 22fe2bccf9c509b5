"""The paper's claims, checked against measured tables with thresholds stated here.

Each check returns rows ``claim, subject, evidence, holds`` computed from a summary table
(:func:`poslib.probing.summarise`), so a notebook's closing cell states from the numbers,
not from prose, whether a claim holds here.

Thresholds (SPC on the natural test set unless stated):

* "no position information": ``|SPC| < NO_INFO_MAX`` for H, V and G;
* "recovers position": ``SPC > RECOVERS_MIN`` for H, V and G;
* "stripes are harder": mean SPC over HS, VS below the mean over H, V, G.
"""

from __future__ import annotations

import pandas as pd

NO_INFO_MAX = 0.2
RECOVERS_MIN = 0.5
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
        if backbone == "none":
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


def verdict(checks: pd.DataFrame) -> pd.DataFrame:
    """One line per claim: how many of its checks hold."""
    grouped = checks.groupby("claim", sort=False)["holds"]
    return pd.DataFrame({"checks": grouped.size(), "hold": grouped.sum()}).reset_index().assign(
        verdict=lambda f: ["holds" if h == n else ("does not hold" if h == 0 else "holds partly")
                           for h, n in zip(f["hold"], f["checks"])])
