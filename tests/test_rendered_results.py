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

from poslib import run_inputs, verdicts
from test_notebooks import assert_clean_rendered_text

RESULTS = Path(__file__).resolve().parents[1] / "results"
RECORDS = sorted((RESULTS / "provenance").glob("*.json"))
CLAIMS_TABLES = sorted((RESULTS / "tables").glob("claims_*.csv"))
#: What a reader of the repository may download with it (the guide's "about 50 MB").
MAX_RESULTS_BYTES = 50 * 2**20
OUTCOMES = set(verdicts.OUTCOMES)

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
        assert outcome_by_rule(row.rule, row.low, row.high, row.n_images, row.n_seeds) == row.outcome, f"{table.name}: {row.claim} | {row.subject}"


def side_and_margin(rule: str) -> tuple[str, float]:
    """The claim's side and margin whose words (:func:`poslib.verdicts.decision_text`) the rule carries."""
    number = re.search(r"holds if (?:low > |high < )?(-?[\d.]+(?:e[-+]?\d+)?)", rule)
    assert number, f"no decision in the rule: {rule}"
    value = float(number.group(1))
    for side in verdicts.SIDES:
        for margin in (value, -value):
            if (side != "within" or margin > 0) and verdicts.decision_text(side, margin) in rule:
                return side, margin
    raise AssertionError(f"unknown rule shape: {rule}")


def outcome_by_rule(rule: str, low: float, high: float, n_images: int = 2, n_seeds: int = 2) -> str:
    """The outcome :func:`poslib.verdicts.decide` gives an interval under the rule's own words.

    A rule may end by overriding the interval ("reported inconclusive: ..." where the task model
    is too weak for the comparison to mean anything); that outcome is then the one expected. One
    image and one seed make a single score: a point, which ``decide`` never calls decided.
    """
    if "reported inconclusive" in rule:
        return "inconclusive"
    interval = verdicts.Interval(estimate=(low + high) / 2, low=low, high=high, confidence=verdicts.CONFIDENCE,
                                 n_images=n_images, n_seeds=n_seeds, n_resamples=0, paired=False,
                                 degenerate=n_images <= 1 and n_seeds <= 1, rule=rule)
    return verdicts.decide(interval, *side_and_margin(rule))


def test_the_rule_reader_gives_each_of_the_three_outcomes():
    one_sided = "bootstrap ...; holds if low > 0, contradicted if high < 0"
    assert [outcome_by_rule(one_sided, *interval) for interval in [(.1, .2), (-.2, -.1), (-.1, .1)]] == \
        ["holds", "contradicted", "inconclusive"]
    band = "holds if -0.1 < low and high < 0.1, contradicted if low > 0.1 or high < -0.1"
    assert [outcome_by_rule(band, *interval) for interval in [(-.05, .05), (.2, .3), (-.05, .2)]] == \
        ["holds", "contradicted", "inconclusive"]
    below = verdicts.decision_text("less", 0.05)
    assert [outcome_by_rule(below, *interval) for interval in [(-.2, -.1), (0., .1), (-.1, 0.)]] == \
        ["holds", "contradicted", "inconclusive"]
    assert outcome_by_rule(one_sided + "; reported inconclusive: too weak a model", .1, .2) == "inconclusive"
    assert outcome_by_rule(one_sided, .1, .1, n_images=1, n_seeds=1) == "inconclusive"  # a single score
    assert outcome_by_rule(one_sided, .1, .1, n_images=1, n_seeds=3) == "holds"  # seeds that agree exactly


@pytest.mark.parametrize("record", RECORDS, ids=[p.stem for p in RECORDS])
def test_every_artefact_a_provenance_record_names_is_there(record):
    provenance = json.loads(record.read_text())
    assert provenance["artefacts"], f"{record.name} names no artefact"
    # The driver's own keep-check, given the record's inputs as the current ones: what it then
    # asks is whether every artefact and the executed notebook are there.
    assert run_inputs.unchanged_reason(provenance, provenance["inputs"], RESULTS) is None
    assert record.stem in (RESULTS / "README.md").read_text(), "the results index must list every notebook"


def test_no_rendered_text_shows_a_local_path_or_a_progress_bar():
    for path in RESULTS.rglob("*"):
        if "runs" in path.parts or path.suffix not in {".ipynb", ".md", ".json", ".csv"}:
            continue
        assert_clean_rendered_text(path.read_text(), path.relative_to(RESULTS))
