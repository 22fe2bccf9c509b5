"""The interval rule of poslib.verdicts: coverage, outcomes, pairing, degenerate cases, validation."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from poslib.verdicts import (CONTRADICTED, HOLDS, INCONCLUSIVE, N_RESAMPLES, Interval, average_over_targets,
                             claim_outcome, decide, hierarchical_bootstrap, verdict_row)

TRUE_DIFFERENCE = 0.05


def tidy(values: np.ndarray, seeds=None, images=None) -> pd.DataFrame:
    """A (seeds x images) array as a tidy frame with columns seed, image, score."""
    values = np.atleast_2d(values)
    n_seeds, n_images = values.shape
    seeds = np.arange(n_seeds) if seeds is None else np.asarray(seeds)
    images = np.array([f"img{i:04d}.png" for i in range(n_images)]) if images is None else np.asarray(images)
    return pd.DataFrame({"seed": np.repeat(seeds, n_images), "image": np.tile(images, n_seeds),
                         "score": values.ravel()})


def crossed_scores(rng, effect=TRUE_DIFFERENCE, n_images=50, n_seeds=3, hardness=0.2, image_sd=0.05,
                   seed_sd=0.005, noise_sd=0.03):
    """Scores of A and B from a crossed random-effects model with population mean difference ``effect``.

    ``score_A[s, i] = 0.5 + effect + h_i + a_i + u_s + e_si`` and
    ``score_B[t, i] = 0.5 + h_i + b_i + v_t + f_ti``: test images are a random draw from a
    population (``h_i`` shared hardness, ``a_i``, ``b_i`` each condition's own image
    effects), seeds are independent training runs of each condition (``u_s``, ``v_t``),
    plus residual noise. All effects have mean zero, so the true difference (the mean
    over the population of images and of training runs) is ``effect``, the quantity the
    bootstrap's interval is about. The spread over seeds is small next to that over
    images, as in the study (seed SEs .0002-.001 against an image spread of about .2).
    """
    shared = rng.normal(0.0, hardness, n_images)

    def condition(mean):
        return (mean + shared + rng.normal(0.0, image_sd, n_images) + rng.normal(0.0, seed_sd, (n_seeds, 1))
                + rng.normal(0.0, noise_sd, (n_seeds, n_images)))

    return tidy(condition(0.5 + effect)), tidy(condition(0.5))


# ----------------------------------------------------------------------------- statistical behaviour


def test_interval_covers_the_true_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    repetitions = 200
    covered = 0
    for _ in range(repetitions):
        a, b = crossed_scores(rng)
        interval = hierarchical_bootstrap(a, b, n_resamples=1000, random_state=rng)
        covered += interval.low <= TRUE_DIFFERENCE <= interval.high
    coverage = covered / repetitions
    assert 0.90 <= coverage <= 0.99, coverage


def test_a_zero_effect_almost_never_holds_for_a_one_sided_claim():
    rng = np.random.default_rng(7)
    repetitions = 200
    outcomes = []
    for _ in range(repetitions):
        a, b = crossed_scores(rng, effect=0.0)
        outcomes.append(decide(hierarchical_bootstrap(a, b, n_resamples=1000, random_state=rng), "greater"))
    assert outcomes.count(HOLDS) / repetitions <= 0.05, outcomes.count(HOLDS)
    assert set(outcomes) <= {HOLDS, INCONCLUSIVE, CONTRADICTED}
    assert outcomes.count(INCONCLUSIVE) > repetitions / 2  # mostly "cannot tell", not "contradicted"


def test_a_clear_effect_holds_and_the_reversed_effect_is_contradicted():
    rng = np.random.default_rng(1)
    a, b = crossed_scores(rng, effect=0.3)
    forward = hierarchical_bootstrap(a, b, random_state=0)
    backward = hierarchical_bootstrap(b, a, random_state=0)
    assert forward.low > 0.2 and forward.high < 0.4
    assert decide(forward, "greater") == HOLDS
    assert decide(backward, "greater") == CONTRADICTED
    assert decide(backward, "less") == HOLDS
    assert decide(forward, "less") == CONTRADICTED
    assert decide(forward, "greater", margin=0.5) == CONTRADICTED  # more than 0.5 better: no
    assert decide(forward, "greater", margin=0.3) == INCONCLUSIVE  # the margin lies inside the interval


def test_within_a_margin_holds_near_zero_and_is_contradicted_far_from_it():
    rng = np.random.default_rng(3)
    near_zero = tidy(rng.normal(0.0, 0.01, (3, 100)))
    far = tidy(rng.normal(0.5, 0.05, (3, 100)))
    far_below = tidy(rng.normal(-0.5, 0.05, (3, 100)))
    on_the_edge = tidy(rng.normal(0.2, 0.05, (3, 100)))
    assert decide(hierarchical_bootstrap(near_zero), "within", 0.2) == HOLDS
    assert decide(hierarchical_bootstrap(far), "within", 0.2) == CONTRADICTED
    assert decide(hierarchical_bootstrap(far_below), "within", 0.2) == CONTRADICTED
    assert decide(hierarchical_bootstrap(on_the_edge), "within", 0.2) == INCONCLUSIVE


def test_a_threshold_claim_compares_the_mean_with_a_constant():
    rng = np.random.default_rng(4)
    scores = tidy(rng.normal(0.7, 0.1, (3, 200)))
    interval = hierarchical_bootstrap(scores, 0.5)
    assert interval.estimate == pytest.approx(scores["score"].mean() - 0.5)
    assert decide(interval, "greater") == HOLDS
    assert decide(hierarchical_bootstrap(scores, 0.9), "greater") == CONTRADICTED
    assert "against 0.5" in interval.rule and interval.images_per_condition == (200,)


def test_pairing_on_images_removes_the_shared_image_variance():
    rng = np.random.default_rng(5)
    hardness = rng.normal(0.0, 0.3, 150)  # large, shared by both conditions
    a = tidy(0.55 + hardness + rng.normal(0.0, 0.01, (3, 150)))
    b = tidy(0.50 + hardness + rng.normal(0.0, 0.01, (3, 150)))
    paired = hierarchical_bootstrap(a, b)
    unpaired = hierarchical_bootstrap(a, b, paired=False)
    assert paired.paired and not unpaired.paired
    assert paired.estimate == pytest.approx(unpaired.estimate)
    assert (paired.high - paired.low) < 0.1 * (unpaired.high - unpaired.low)
    assert decide(paired, "greater") == HOLDS and decide(unpaired, "greater") == INCONCLUSIVE
    assert "paired on images" in paired.rule and "unpaired" in unpaired.rule


def test_different_image_sets_fall_back_to_unpaired():
    rng = np.random.default_rng(6)
    a = tidy(rng.normal(0.6, 0.1, (3, 40)))
    b = tidy(rng.normal(0.5, 0.1, (3, 30)), images=[f"other{i}.png" for i in range(30)])
    interval = hierarchical_bootstrap(a, b)
    assert not interval.paired and interval.images_per_condition == (40, 30) and interval.n_images == 30
    with pytest.raises(ValueError, match="'image'"):
        hierarchical_bootstrap(a, b, paired=True)


def test_conditions_with_different_numbers_of_seeds_are_paired_on_images():
    rng = np.random.default_rng(8)
    hardness = rng.normal(0.0, 0.3, 80)
    a = tidy(0.6 + hardness + rng.normal(0.0, 0.01, (3, 80)))
    b = tidy(0.5 + hardness + rng.normal(0.0, 0.01, (5, 80)), seeds=[10, 11, 12, 13, 14])
    interval = hierarchical_bootstrap(a, b)
    assert interval.paired and interval.seeds_per_condition == (3, 5) and interval.n_seeds == 3
    assert "3 (A) / 5 (B) seeds" in interval.rule
    assert interval.high - interval.low < 0.03  # the shared hardness cancels
    with pytest.raises(ValueError, match="'seed'"):
        hierarchical_bootstrap(a, b, pair_seeds=True)


def test_pairing_seeds_cancels_a_random_source_the_conditions_share():
    rng = np.random.default_rng(9)
    shared_seed_effect = rng.normal(0.0, 0.1, (4, 1))  # e.g. a batch order both conditions saw
    noise = rng.normal(0.0, 0.01, (2, 4, 60))
    a = tidy(0.6 + shared_seed_effect + noise[0])
    b = tidy(0.5 + shared_seed_effect + noise[1])
    independent = hierarchical_bootstrap(a, b)
    seed_paired = hierarchical_bootstrap(a, b, pair_seeds=True)
    assert (seed_paired.high - seed_paired.low) < 0.2 * (independent.high - independent.low)
    assert "paired on images and seeds" in seed_paired.rule


def test_the_single_level_case_agrees_with_scipy_bootstrap():
    """With one seed only images are resampled: the same percentile interval as scipy's paired bootstrap."""
    rng = np.random.default_rng(10)
    a_values, b_values = rng.normal(0.6, 0.2, 120), rng.normal(0.5, 0.2, 120)
    ours = hierarchical_bootstrap(tidy(a_values), tidy(b_values), n_resamples=4000)
    theirs = stats.bootstrap((a_values, b_values), lambda x, y, axis: x.mean(axis) - y.mean(axis), paired=True,
                             vectorized=True, n_resamples=4000, method="percentile", random_state=0)
    width = theirs.confidence_interval.high - theirs.confidence_interval.low
    assert abs(ours.low - theirs.confidence_interval.low) < 0.05 * width
    assert abs(ours.high - theirs.confidence_interval.high) < 0.05 * width


# ----------------------------------------------------------------------------- determinism, speed


def test_the_same_random_state_gives_the_same_interval():
    rng = np.random.default_rng(11)
    a, b = crossed_scores(rng)
    first = hierarchical_bootstrap(a, b, random_state=42)
    assert hierarchical_bootstrap(a, b, random_state=42) == first
    assert hierarchical_bootstrap(a, b, random_state=np.random.default_rng(42)) == first
    shuffled = hierarchical_bootstrap(a.sample(frac=1.0, random_state=0), b.sample(frac=1.0, random_state=1),
                                      random_state=42)
    assert shuffled == first  # the row order of the input does not matter
    assert hierarchical_bootstrap(a, b, random_state=43) != first


def test_two_thousand_resamples_of_300_images_and_3_seeds_are_fast():
    rng = np.random.default_rng(12)
    a, b = crossed_scores(rng, n_images=300)
    started = time.perf_counter()
    interval = hierarchical_bootstrap(a, b)
    elapsed = time.perf_counter() - started
    assert interval.n_resamples == N_RESAMPLES == 2000
    assert (interval.n_images, interval.n_seeds) == (300, 3)
    assert elapsed < 1.0, elapsed


# ----------------------------------------------------------------------------- degenerate cases


def test_a_single_seed_resamples_images_only():
    rng = np.random.default_rng(13)
    interval = hierarchical_bootstrap(tidy(rng.normal(0.6, 0.1, (1, 100))), tidy(rng.normal(0.5, 0.1, (1, 100))))
    assert interval.n_seeds == 1 and not interval.degenerate and interval.high > interval.low
    assert "images only: 1 seed" in interval.rule
    assert np.isnan(interval.seed_share)


def test_a_single_image_resamples_seeds_only_and_says_the_seeds_dominate():
    rng = np.random.default_rng(14)
    interval = hierarchical_bootstrap(tidy(rng.normal(0.6, 0.05, (5, 1))), tidy(rng.normal(0.5, 0.05, (5, 1))))
    assert interval.n_images == 1 and not interval.degenerate and interval.high > interval.low
    assert "seeds only: 1 image" in interval.rule and "seed spread dominates" in interval.rule
    assert interval.seed_share == pytest.approx(1.0)


def test_a_single_score_is_a_point_and_never_holds():
    a, b = tidy(np.array([[0.9]])), tidy(np.array([[0.1]]))
    interval = hierarchical_bootstrap(a, b)
    assert interval.degenerate and interval.low == interval.high == interval.estimate == pytest.approx(0.8)
    assert decide(interval, "greater") == INCONCLUSIVE
    assert decide(interval, "less") == INCONCLUSIVE
    assert decide(hierarchical_bootstrap(a, 0.0), "greater") == INCONCLUSIVE
    assert decide(hierarchical_bootstrap(tidy(np.array([[0.0]]))), "within", 0.2) == INCONCLUSIVE
    assert "no spread" in verdict_row(interval, "greater")["rule"]


# ----------------------------------------------------------------------------- the decision rule


POINT = dict(confidence=0.95, n_images=100, n_seeds=3, n_resamples=2000, paired=True, degenerate=False, rule="")


@pytest.mark.parametrize("low, high, side, margin, expected", [
    (0.01, 0.05, "greater", 0.0, HOLDS),
    (-0.05, -0.01, "greater", 0.0, CONTRADICTED),
    (-0.01, 0.05, "greater", 0.0, INCONCLUSIVE),
    (0.0, 0.05, "greater", 0.0, INCONCLUSIVE),  # touching the boundary decides nothing
    (-0.05, 0.0, "greater", 0.0, INCONCLUSIVE),
    (0.11, 0.2, "greater", 0.1, HOLDS),
    (0.02, 0.08, "greater", 0.1, CONTRADICTED),
    (-0.04, -0.02, "greater", -0.05, HOLDS),  # non-inferiority: not worse by more than .05
    (-0.05, -0.01, "less", 0.0, HOLDS),
    (0.01, 0.05, "less", 0.0, CONTRADICTED),
    (-0.2, -0.12, "less", 0.1, HOLDS),
    (-0.08, -0.02, "less", 0.1, CONTRADICTED),
    (-0.05, 0.05, "within", 0.1, HOLDS),
    (0.05, 0.15, "within", 0.1, INCONCLUSIVE),
    (0.1, 0.15, "within", 0.1, INCONCLUSIVE),
    (0.11, 0.15, "within", 0.1, CONTRADICTED),
    (-0.3, -0.12, "within", 0.1, CONTRADICTED),
    (-0.3, 0.3, "within", 0.1, INCONCLUSIVE),
])
def test_decide_reads_the_interval_against_the_claim(low, high, side, margin, expected):
    assert decide(Interval(estimate=(low + high) / 2, low=low, high=high, **POINT), side, margin) == expected


def test_decide_rejects_unknown_sides_and_bad_margins():
    interval = Interval(0.0, -0.1, 0.1, **POINT)
    with pytest.raises(ValueError, match="side"):
        decide(interval, "bigger")
    with pytest.raises(ValueError, match="margin"):
        decide(interval, "within", 0.0)
    with pytest.raises(ValueError, match="margin"):
        decide(interval, "greater", float("nan"))


def test_verdict_row_has_the_table_columns_and_a_readable_rule():
    rng = np.random.default_rng(15)
    a, b = crossed_scores(rng, effect=0.3, n_images=300, seed_sd=0.001)
    row = verdict_row(hierarchical_bootstrap(a, b), "greater")
    assert set(row) == {"difference", "low", "high", "n_images", "n_seeds", "outcome", "rule"}
    assert (row["n_images"], row["n_seeds"], row["outcome"]) == (300, 3, HOLDS)
    assert row["low"] < row["difference"] < row["high"]
    assert row["rule"] == ("hierarchical bootstrap over 300 images x 3 seeds, paired on images, 2000 resamples, "
                           "95% interval; holds if low > 0, contradicted if high < 0")


@pytest.mark.parametrize("outcomes, rule, expected", [
    ([HOLDS, HOLDS, HOLDS], "every", HOLDS),
    ([HOLDS, HOLDS, INCONCLUSIVE], "every", INCONCLUSIVE),
    ([HOLDS, CONTRADICTED, INCONCLUSIVE], "every", CONTRADICTED),
    ([CONTRADICTED, CONTRADICTED], "every", CONTRADICTED),
    ([HOLDS, HOLDS, CONTRADICTED], "majority", HOLDS),
    ([HOLDS, INCONCLUSIVE], "majority", INCONCLUSIVE),
    ([CONTRADICTED, CONTRADICTED, HOLDS], "majority", CONTRADICTED),
    ([HOLDS, CONTRADICTED], "majority", INCONCLUSIVE),
])
def test_claim_outcome_combines_checks(outcomes, rule, expected):
    assert claim_outcome(outcomes, rule=rule) == expected


def test_claim_outcome_rejects_empty_and_unknown_input():
    with pytest.raises(ValueError, match="at least one"):
        claim_outcome([])
    with pytest.raises(ValueError, match="does not hold"):
        claim_outcome([HOLDS, "does not hold"])
    with pytest.raises(ValueError, match="rule"):
        claim_outcome([HOLDS], rule="most")


# ----------------------------------------------------------------------------- input


def test_average_over_targets_gives_one_score_per_seed_and_image():
    rng = np.random.default_rng(16)
    h, g, v = (tidy(rng.normal(size=(2, 5))) for _ in range(3))
    frame = pd.concat([h.assign(target="H"), g.assign(target="G"), v.assign(target="V")], ignore_index=True)
    averaged = average_over_targets(frame, ["H", "G"])
    assert list(averaged.columns) == ["seed", "image", "score"] and len(averaged) == 10
    expected = (h["score"].to_numpy() + g["score"].to_numpy()) / 2
    assert np.allclose(averaged.sort_values(["seed", "image"])["score"].to_numpy(), expected)
    with pytest.raises(ValueError, match="'target'"):
        average_over_targets(frame.iloc[1:], ["H", "G"])  # (seed 0, first image) lacks H
    with pytest.raises(ValueError, match="'seed', 'image'"):
        hierarchical_bootstrap(frame)  # three rows per (seed, image): average the targets first


@pytest.mark.parametrize("column", ["seed", "image", "score"])
def test_a_missing_column_is_named(column):
    frame = tidy(np.ones((2, 3))).drop(columns=column)
    with pytest.raises(ValueError, match=f"'{column}'"):
        hierarchical_bootstrap(frame)
    with pytest.raises(ValueError, match=f"'{column}'"):
        hierarchical_bootstrap(tidy(np.ones((2, 3))), frame)


@pytest.mark.parametrize("column", ["seed", "image", "score"])
def test_missing_values_are_named(column):
    frame = tidy(np.ones((2, 3)))
    frame[column] = frame[column].astype(object)
    frame.loc[2, column] = np.nan
    with pytest.raises(ValueError, match=f"'{column}'"):
        hierarchical_bootstrap(frame)


def test_infinite_scores_and_incomplete_grids_are_rejected():
    frame = tidy(np.ones((2, 3)))
    frame.loc[0, "score"] = np.inf
    with pytest.raises(ValueError, match="'score'"):
        hierarchical_bootstrap(frame)
    with pytest.raises(ValueError, match="complete grid"):
        hierarchical_bootstrap(tidy(np.ones((2, 3))).iloc[1:])


def test_options_are_checked():
    frame = tidy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_resamples"):
        hierarchical_bootstrap(frame, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        hierarchical_bootstrap(frame, confidence=95)
    with pytest.raises(TypeError, match="random_state"):
        hierarchical_bootstrap(frame, random_state=1.5)
    with pytest.raises(TypeError, match="DataFrame"):
        hierarchical_bootstrap(frame["score"])
