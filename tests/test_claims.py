"""poslib.claims: three outcomes on both sides of every threshold, for every claim, from per-image rows or summaries."""

import numpy as np
import pandas as pd
import pytest

from poslib import claims, evidence


def _summary(pixels_spc, cnn_spc, stripe_spc, std=0.0, n_seeds=3, weights="imagenet-caffe"):
    rows = []
    for pattern in ("H", "V", "G", "HS", "VS"):
        rows.append({"backbone": "pixels", "weights": "none", "test_set": "nat", "pattern": pattern,
                     "spc": pixels_spc, "spc_std": std, "n_seeds": n_seeds})
        spc = stripe_spc if pattern in ("HS", "VS") else cnn_spc
        rows.append({"backbone": "vgg16", "weights": weights, "test_set": "nat", "pattern": pattern, "spc": spc,
                     "spc_std": std, "n_seeds": n_seeds})
    return pd.DataFrame(rows)


def _per_image(pixels_spc, cnn_spc, stripe_spc, spread=0.05, n_images=60, seeds=(0, 1, 2), seed=0):
    """Per-image rows as probing.probe writes them: image effects shared across patterns, seed effects, noise."""
    rng = np.random.default_rng(seed)
    image_effect = rng.normal(0, spread, n_images)
    rows = []
    for backbone, weights, easy, hard in (("pixels", "none", pixels_spc, pixels_spc),
                                          ("vgg16", "imagenet-caffe", cnn_spc, stripe_spc)):
        for s in seeds:
            seed_effect = rng.normal(0, spread / 5)
            for pattern in ("H", "V", "G", "HS", "VS"):
                base = hard if pattern in ("HS", "VS") else easy
                spc = base + image_effect + seed_effect + rng.normal(0, spread / 2, n_images)
                rows.append(pd.DataFrame({"backbone": backbone, "weights": weights, "seed": s, "test_set": "nat",
                                          "pattern": pattern, "image": np.arange(n_images), "spc": spc}))
    return pd.concat(rows, ignore_index=True)


def test_every_check_row_carries_the_interval_and_one_of_three_outcomes():
    checks = claims.check_claims_1_to_3(_per_image(0.01, 0.9, 0.4), "nat")
    assert {"difference", "low", "high", "n_images", "n_seeds", "outcome", "rule"} <= set(checks.columns)
    assert set(checks["outcome"]) <= {"holds", "contradicted", "inconclusive"}
    assert (checks["low"] <= checks["difference"]).all() and (checks["difference"] <= checks["high"]).all()
    assert set(checks["n_images"]) == {60} and set(checks["n_seeds"]) == {3}
    assert checks["rule"].str.contains("bootstrap").all() and checks["rule"].str.contains("t over seeds").all()


def test_claims_1_to_3_hold_on_per_image_rows_that_show_them():
    checks = claims.check_claims_1_to_3(_per_image(0.01, 0.9, 0.4), "nat")
    assert (checks["outcome"] == "holds").all(), checks
    assert set(claims.verdict(checks)["verdict"]) == {"holds"}


def test_claims_1_to_3_are_contradicted_on_per_image_rows_that_contradict_them():
    checks = claims.check_claims_1_to_3(_per_image(0.6, 0.3, 0.8), "nat")
    assert (checks["outcome"] == "contradicted").all(), checks
    assert set(claims.verdict(checks)["verdict"]) == {"contradicted"}


def test_a_difference_inside_the_noise_is_inconclusive_not_a_failure():
    # the CNN row sits right at the recovery threshold and stripes equal the easy targets
    checks = claims.check_claims_1_to_3(_per_image(0.01, claims.RECOVERS_MIN, claims.RECOVERS_MIN), "nat")
    by_claim = checks.set_index("claim")["outcome"]
    assert by_claim["2: CNN features recover position"] == "inconclusive"
    assert by_claim["3: stripes are harder"] == "inconclusive"


def test_summaries_use_a_t_interval_over_seeds_not_two_standard_errors():
    # 3 seeds, std .02 per pattern: the difference of the pattern means has SE .0105; a gap of .025 exceeds
    # 2 SE (.021) but not the Welch t interval's half-width (about 2.8 SE with its 3.8 degrees of freedom)
    gap = claims.check_claims_1_to_3(_summary(0.01, 0.9, 0.875, std=0.02), "nat").set_index("claim")
    assert gap.loc["3: stripes are harder", "outcome"] == "inconclusive"
    assert "t over seeds" in gap.loc["3: stripes are harder", "rule"]
    wide = claims.check_claims_1_to_3(_summary(0.15, 0.55, 0.2, std=0.1), "nat").set_index("claim")["outcome"]
    assert wide["1: no backbone, no position"] == "inconclusive" and wide["2: CNN features recover position"] == "inconclusive"
    assert wide["3: stripes are harder"] == "holds"


def test_one_seed_one_image_is_never_a_verdict():
    single = _per_image(0.0, 0.9, 0.1, n_images=1, seeds=(0,))
    assert set(claims.check_claims_1_to_3(single, "nat")["outcome"]) == {"inconclusive"}


def test_control_rows_are_labelled_as_controls():
    checks = claims.check_claims_1_to_3(_summary(0.01, 0.9, 0.4, weights="random"), "nat")
    assert set(checks.loc[checks["claim"].str.startswith("2"), "backbone_class"]) == {"control"}


def _by(setting, values, std=0.0, n=3):
    return pd.DataFrame([("vgg16", "imagenet-caffe", v, "SOD", p, spc, std, n) for v, spc in values
                         for p in ("H", "G")],
                        columns=["backbone", "weights", setting, "test_set", "pattern", "spc", "spc_std", "n_seeds"])


def test_claim_4_on_both_sides():
    rising, flat = _by("depth", [(1, .5), (2, .6), (3, .7)], 0.01), _by("kernel_size", [(1, .6), (3, .6), (7, .61)], 0.05)
    checks = claims.check_claim_4(rising, flat, "SOD").set_index("claim")["outcome"]
    assert checks["4: deeper readout recovers more"] == "holds"
    assert checks["4: larger kernel recovers more"] == "inconclusive"
    falling = _by("depth", [(1, .7), (3, .5)], 0.01)
    assert claims.check_claim_4(falling, flat, "SOD").set_index("claim")["outcome"][
        "4: deeper readout recovers more"] == "contradicted"


def test_claim_5_detects_a_non_monotone_trend():
    rows = [("vgg16", "random", "raw", level, "SOD", p, spc, 0.01, 3)
            for level, spc in [("f1", .1), ("f2", .3), ("f3", .2), ("f4", .5), ("f5", .6)] for p in ("H", "G")]
    levels = pd.DataFrame(rows, columns=["backbone", "weights", "selection", "level", "test_set", "pattern", "spc",
                                         "spc_std", "n_seeds"])
    assert claims.check_claim_5(levels, "SOD")["outcome"].item() == "contradicted"  # f3 < f2
    levels.loc[levels["level"] == "f3", "spc"] = 0.4
    assert claims.check_claim_5(levels, "SOD")["outcome"].item() == "holds"


def test_claim_6_needs_a_drop_beyond_the_interval():
    rules = _by("padding_rule", [("zeros", .8), ("valid", .79)], std=0.02)
    pads = pd.DataFrame([("pixels", "none", rp, "SOD", p, spc, 0.01, 3) for rp, spc in [(0, 0.0), (1, .3), (2, .4)]
                         for p in ("H", "G")],
                        columns=["backbone", "weights", "readout_padding", "test_set", "pattern", "spc", "spc_std",
                                 "n_seeds"])
    checks = claims.check_claim_6(pads, rules, "SOD")
    assert checks.set_index("subject")["outcome"].to_dict() == {
        "vgg16/imagenet-caffe on SOD": "inconclusive", "pixels/none, readout padding 1, on SOD": "holds",
        "pixels/none, readout padding 2, on SOD": "holds"}
    rules = _by("padding_rule", [("zeros", .8), ("valid", .4)], std=0.02)
    assert (claims.check_claim_6(pads, rules, "SOD")["outcome"] == "holds").all()


def test_claim_7_on_both_sides():
    saliency = pd.DataFrame({"padding_rule": ["zeros", "valid"], "test_set": "SOD", "max_f": [.7, .6], "mae": [.2, .3],
                             "max_f_std": [.01, .01], "mae_std": [.01, .01], "n_seeds": 3})
    segmentation = pd.DataFrame({"padding_rule": ["zeros", "valid"], "test_set": "CamVid", "metric": "miou",
                                 "value": [.40, .39], "value_std": [.02, .02], "n_seeds": 3})
    checks = claims.check_claim_7(saliency, segmentation).set_index("subject")["outcome"]
    assert checks["saliency on SOD"] == "holds" and checks["segmentation on CamVid"] == "inconclusive"


def test_claim_7_from_per_image_saliency_rows():
    rng = np.random.default_rng(0)

    def rows(rule, f, mae):
        return pd.DataFrame([{"padding_rule": rule, "test_set": "SOD", "scored_on": "shared region", "seed": seed,
                              "image": image, "max_f": f + rng.normal(0, 0.05), "mae": mae + rng.normal(0, 0.05)}
                             for seed in (0, 1, 2) for image in range(30)])

    segmentation = pd.DataFrame({"padding_rule": ["zeros", "valid"], "test_set": "CamVid", "metric": "miou",
                                 "value": [.40, .39], "value_std": [.02, .02], "n_seeds": 3})
    per_image = pd.concat([rows("zeros", .7, .2), rows("valid", .5, .3)], ignore_index=True)
    checks = claims.check_claim_7(per_image, segmentation).set_index("subject")
    saliency = checks.loc["saliency on SOD"]
    assert saliency["outcome"] == "holds" and saliency["n_images"] == 30 and saliency["n_seeds"] == 3
    assert "bootstrap" in saliency["rule"]  # the interval is over images and seeds, not seed summaries
    assert f"max F {per_image[per_image['padding_rule'] == 'zeros']['max_f'].mean():.3f}" in saliency["evidence"]
    flipped = per_image.assign(padding_rule=per_image["padding_rule"].map({"zeros": "valid", "valid": "zeros"}))
    flipped_checks = claims.check_claim_7(flipped, segmentation).set_index("subject")
    assert flipped_checks.loc["saliency on SOD", "outcome"] == "contradicted"


def test_claim_8_compares_only_the_given_same_architecture_pairs():
    summary = pd.DataFrame([(model, "nat", p, spc, 0.01, 3) for model, spc in [("hed", .9), ("cls", .7), ("other", .99)]
                            for p in ("H", "V", "G")],
                           columns=["model", "test_set", "pattern", "spc", "spc_std", "n_seeds"])
    checks = claims.check_claim_8(summary, "nat", [("VGG16", "hed", "cls")])
    assert len(checks) == 1 and checks["outcome"].item() == "holds" and checks["backbone_class"].item() == "VGG16"
    assert claims.check_claim_8(summary, "nat", [("VGG16", "cls", "hed")])["outcome"].item() == "contradicted"


def test_claim_9_on_both_sides():
    crop = pd.DataFrame({"padding_rule": ["zeros", "valid"], "test_set": "SOD", "fraction": 0.2,
                         "toward_centre": [0.03, 0.0], "toward_centre_sem": [0.005, 0.005], "n_images": 100})
    assert (claims.check_claim_9(crop)["outcome"] == "holds").all()
    crop["toward_centre"] = [0.004, 0.0]
    assert set(claims.check_claim_9(crop)["outcome"]) == {"inconclusive"}


def test_the_claim_verdict_is_contradicted_by_one_counterexample_and_inconclusive_otherwise():
    checks = pd.DataFrame({"claim": ["x"] * 3, "backbone_class": "ImageNet",
                           "outcome": ["holds", "inconclusive", "holds"]})
    row = claims.verdict(checks).iloc[0]
    assert row["verdict"] == "inconclusive" and (row["holds"], row["inconclusive"], row["contradicted"]) == (2, 1, 0)
    checks.loc[1, "outcome"] = "contradicted"
    assert claims.verdict(checks).iloc[0]["verdict"] == "contradicted"


def test_the_envelope_is_never_narrower_than_the_bootstrap_or_the_t_interval():
    frame = _per_image(0.0, 0.6, 0.4, spread=0.1)
    a = evidence.per_image_scores(frame, ["H", "G"], backbone="vgg16")
    b = evidence.per_image_scores(frame, ["HS", "VS"], backbone="vgg16")
    row = evidence.compare(a, b)
    boot = evidence.hierarchical_bootstrap(a, b)
    _, t_low, t_high, _ = evidence.welch_interval(a, b)
    assert row["low"] == pytest.approx(min(boot.low, t_low)) and row["high"] == pytest.approx(max(boot.high, t_high))


def test_a_check_is_decided_only_when_every_training_set_agrees():
    base = claims.check_claims_1_to_3(_per_image(0.01, 0.9, 0.4), "nat")
    same = claims.across_training_sets({"A": base, "B": base.copy()})
    assert list(same["outcome"]) == list(base["outcome"]) and "every training set (A, B)" in same["rule"].iloc[0]
    flipped = base.copy()
    flipped.loc[flipped["claim"].str.startswith("3"), "outcome"] = "contradicted"
    mixed = claims.across_training_sets({"A": base, "B": flipped}).set_index("subject")
    assert (mixed.loc[mixed["claim"].str.startswith("3"), "outcome"] == "inconclusive").all()
    assert claims.across_training_sets({"A": base}).equals(base)



def test_a_check_trained_on_one_set_only_is_judged_on_that_set_and_says_so():
    base = claims.check_claims_1_to_3(_per_image(0.01, 0.9, 0.4), "nat")
    first = base["subject"].iloc[0]
    partial = base[base["subject"] != first]  # the second set lacks one row (second_train_rows)
    joined = claims.across_training_sets({"A": base, "B": partial}).set_index("subject")
    alone = joined.loc[[first]]
    assert list(alone["outcome"]) == list(base[base["subject"] == first]["outcome"])
    assert alone["rule"].str.contains("every training set it was trained on \\(A; not B\\)").all()
    others = joined.drop(index=first)
    assert others["rule"].str.contains("every training set \\(A, B\\)").all()
    flipped = partial.copy()
    flipped["outcome"] = "contradicted"
    mixed = claims.across_training_sets({"A": base, "B": flipped}).set_index("subject")
    assert set(mixed.drop(index=first)["outcome"]) == {"inconclusive"} or (base["outcome"] == "contradicted").all()
