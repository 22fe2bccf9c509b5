"""The rendered study in the repository's ``results/`` keeps the promises its readers rely on.

These tests read the committed results (no notebook runs): every claims table carries the
interval rule's columns and one of the three outcomes, every artefact a provenance record names
exists, the index names every notebook, nothing shows a local path or progress-bar text, and the
folder stays small enough to live in the repository.
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from test_notebooks import LOCAL_PATH, PROGRESS_TEXT

RESULTS = Path(__file__).resolve().parents[1] / "results"
RECORDS = sorted((RESULTS / "provenance").glob("*.json"))
CLAIMS_TABLES = sorted((RESULTS / "tables").glob("claims_*.csv"))
#: What a reader of the repository may download with it (the guide's "about 50 MB").
MAX_RESULTS_BYTES = 50 * 2**20
OUTCOMES = {"holds", "contradicted", "inconclusive"}

pytestmark = pytest.mark.skipif(not RECORDS, reason="no rendered results in results/")


def test_the_rendered_results_stay_small():
    size = sum(p.stat().st_size for p in RESULTS.rglob("*") if p.is_file() and "runs" not in p.parts)
    assert size < MAX_RESULTS_BYTES, f"results/ holds {size / 2**20:.1f} MiB; keep per-image tables in parquet"


@pytest.mark.parametrize("table", CLAIMS_TABLES, ids=[p.stem for p in CLAIMS_TABLES])
def test_every_rendered_verdict_is_an_interval_with_one_of_three_outcomes(table):
    checks = pd.read_csv(table)
    assert {"claim", "subject", "difference", "low", "high", "n_images", "n_seeds", "outcome", "rule"} <= set(checks.columns), \
        f"{table.name} was written by the 2-SE rule; re-render its notebook"
    assert len(checks) > 0 and set(checks["outcome"]) <= OUTCOMES
    assert (checks["low"] <= checks["high"]).all() and checks["rule"].str.len().min() > 0
    for row in checks.itertuples():
        assert outcome_by_rule(row.rule, row.low, row.high) == row.outcome, f"{table.name}: {row.claim} | {row.subject}"


#: The two rule shapes ``poslib.claims`` writes: a one-sided margin, and a band (equivalence).
ONE_SIDED = re.compile(r"holds if low > (?P<hold>-?[\d.]+), contradicted if high < (?P<contra>-?[\d.]+)")
BAND = re.compile(r"holds if (?P<lo>-?[\d.]+) < low and high < (?P<hi>-?[\d.]+), "
                  r"contradicted if low > (?P<above>-?[\d.]+) or high < (?P<below>-?[\d.]+)")


def outcome_by_rule(rule: str, low: float, high: float) -> str:
    """The outcome the rule's own words give for an interval (rounded as the rule prints it).

    A rule may end by overriding the interval ("reported inconclusive: ..." where the task model
    is too weak for the comparison to mean anything); that outcome is then the one expected.
    """
    if "reported inconclusive" in rule:
        return "inconclusive"
    if match := ONE_SIDED.search(rule):
        hold, contra = float(match["hold"]), float(match["contra"])
        return "holds" if low > hold else "contradicted" if high < contra else "inconclusive"
    match = BAND.search(rule)
    assert match, f"unknown rule shape: {rule}"
    if float(match["lo"]) < low and high < float(match["hi"]):
        return "holds"
    return "contradicted" if low > float(match["above"]) or high < float(match["below"]) else "inconclusive"


def test_the_rule_reader_gives_each_of_the_three_outcomes():
    one_sided = "bootstrap ...; holds if low > 0, contradicted if high < 0"
    assert [outcome_by_rule(one_sided, *interval) for interval in [(.1, .2), (-.2, -.1), (-.1, .1)]] == \
        ["holds", "contradicted", "inconclusive"]
    band = "holds if -0.1 < low and high < 0.1, contradicted if low > 0.1 or high < -0.1"
    assert [outcome_by_rule(band, *interval) for interval in [(-.05, .05), (.2, .3), (-.05, .2)]] == \
        ["holds", "contradicted", "inconclusive"]
    assert outcome_by_rule(one_sided + "; reported inconclusive: too weak a model", .1, .2) == "inconclusive"


@pytest.mark.parametrize("record", RECORDS, ids=[p.stem for p in RECORDS])
def test_every_artefact_a_provenance_record_names_is_there(record):
    provenance = json.loads(record.read_text())
    assert provenance["artefacts"], f"{record.name} names no artefact"
    missing = [a["path"] for a in provenance["artefacts"] if not (RESULTS / a["path"]).is_file()]
    assert not missing, f"{record.name} names missing files: {missing[:5]}"
    assert (RESULTS / "notebooks" / f"{record.stem}.ipynb").is_file()
    assert record.stem in (RESULTS / "README.md").read_text(), "the results index must list every notebook"


def test_no_rendered_text_shows_a_local_path_or_a_progress_bar():
    for path in RESULTS.rglob("*"):
        if "runs" in path.parts or path.suffix not in {".ipynb", ".md", ".json", ".csv"}:
            continue
        text = path.read_text()
        assert not LOCAL_PATH.search(text), f"local path in {path.relative_to(RESULTS)}: {LOCAL_PATH.search(text).group(0)}"
        assert not PROGRESS_TEXT.search(text), f"progress-bar text in {path.relative_to(RESULTS)}"
