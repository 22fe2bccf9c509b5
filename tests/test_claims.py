"""poslib.claims: the verdict rule on both sides of every threshold, for every claim."""

import pandas as pd
import pytest

from poslib import claims


def _summary(pixels_spc, cnn_spc, stripe_spc, std=0.0, n_seeds=3, weights="imagenet-caffe"):
    rows = []
    for pattern in ("H", "V", "G", "HS", "VS"):
        rows.append({"backbone": "pixels", "weights": "none", "test_set": "nat", "pattern": pattern,
                     "spc": pixels_spc, "spc_std": std, "n_seeds": n_seeds})
        spc = stripe_spc if pattern in ("HS", "VS") else cnn_spc
        rows.append({"backbone": "vgg16", "weights": weights, "test_set": "nat", "pattern": pattern, "spc": spc,
                     "spc_std": std, "n_seeds": n_seeds})
    return pd.DataFrame(rows)


def test_rule_helpers_on_both_sides():
    assert claims.greater(0.60, 0.01, 0.50, 0.01)["holds"]
    assert not claims.greater(0.52, 0.01, 0.50, 0.01)["holds"]  # 0.02 < 2 * sqrt(2) * 0.01
    assert claims.above(0.60, 0.02, 0.5)["holds"] and not claims.above(0.53, 0.02, 0.5)["holds"]
    assert claims.about_zero(0.05, 0.02, 0.2)["holds"] and not claims.about_zero(0.15, 0.03, 0.2)["holds"]
    assert claims.standard_error(0.3, 9) == pytest.approx(0.1) and claims.standard_error(0.3, 1) == 0.0
    assert "no spread" in claims.greater(1, 0, 0, 0, n_seeds=1)["rule"]


def test_claims_1_to_3_hold_on_a_table_that_shows_them():
    checks = claims.check_claims_1_to_3(_summary(0.01, 0.9, 0.4, std=0.02), "nat")
    assert checks["holds"].all() and set(checks["backbone_class"]) == {"control", "ImageNet"}
    assert set(claims.verdict(checks)["verdict"]) == {"holds"}
    assert {"difference", "se", "rule"} <= set(checks.columns)


def test_claims_1_to_3_fail_on_a_table_that_contradicts_them():
    checks = claims.check_claims_1_to_3(_summary(0.6, 0.3, 0.8), "nat")
    assert not checks["holds"].any()
    assert set(claims.verdict(checks)["verdict"]) == {"does not hold"}


def test_claims_1_and_2_see_the_seed_spread():
    # means that pass a plain threshold, but whose interval crosses it, do not hold
    checks = claims.check_claims_1_to_3(_summary(0.15, 0.55, 0.2, std=0.1, n_seeds=3), "nat").set_index("claim")
    assert not checks.loc["1: no backbone, no position", "holds"]
    assert not checks.loc["2: CNN features recover position", "holds"]
    assert checks.loc["3: stripes are harder", "holds"]


def test_control_rows_are_labelled_as_controls():
    checks = claims.check_claims_1_to_3(_summary(0.01, 0.9, 0.4, weights="random"), "nat")
    assert set(checks.loc[checks["claim"].str.startswith("2"), "backbone_class"]) == {"control"}


def _by(setting, values, std=0.0, n=3):
    return pd.DataFrame([("vgg16", "imagenet-caffe", v, "SOD", p, spc, std, n) for v, spc in values
                         for p in ("H", "G")],
                        columns=["backbone", "weights", setting, "test_set", "pattern", "spc", "spc_std", "n_seeds"])


def test_claim_4_on_both_sides():
    rising, flat = _by("depth", [(1, .5), (2, .6), (3, .7)]), _by("kernel_size", [(1, .6), (3, .6), (7, .61)], 0.05)
    checks = claims.check_claim_4(rising, flat, "SOD").set_index("claim")["holds"]
    assert checks["4: deeper readout recovers more"] and not checks["4: larger kernel recovers more"]


def test_claim_5_detects_a_non_monotone_trend():
    rows = [("vgg16", "random", "raw", level, "SOD", p, spc, 0.0, 3)
            for level, spc in [("f1", .1), ("f2", .3), ("f3", .2), ("f4", .5), ("f5", .6)] for p in ("H", "G")]
    levels = pd.DataFrame(rows, columns=["backbone", "weights", "selection", "level", "test_set", "pattern", "spc",
                                         "spc_std", "n_seeds"])
    assert not claims.check_claim_5(levels, "SOD")["holds"].any()
    levels.loc[levels["level"] == "f3", "spc"] = 0.4
    assert claims.check_claim_5(levels, "SOD")["holds"].all()


def test_claim_6_needs_a_drop_beyond_the_spread():
    rules = _by("padding", [("zeros", .8), ("valid", .79)], std=0.02)
    pads = pd.DataFrame([("pixels", "none", rp, "SOD", p, spc, 0.01, 3) for rp, spc in [(0, 0.0), (1, .3), (2, .4)]
                         for p in ("H", "G")],
                        columns=["backbone", "weights", "readout_padding", "test_set", "pattern", "spc", "spc_std",
                                 "n_seeds"])
    checks = claims.check_claim_6(pads, rules, "SOD")
    assert checks.set_index("subject")["holds"].to_dict() == {
        "vgg16/imagenet-caffe": False, "pixels/none, readout padding 1": True, "pixels/none, readout padding 2": True}
    rules = _by("padding", [("zeros", .8), ("valid", .4)], std=0.02)
    assert claims.check_claim_6(pads, rules, "SOD")["holds"].all()


def test_claim_7_on_both_sides():
    saliency = pd.DataFrame({"padding": ["zeros", "valid"], "test_set": "SOD", "max_f": [.7, .6], "mae": [.2, .3],
                             "max_f_std": [.01, .01], "mae_std": [.01, .01], "n_seeds": 3})
    segmentation = pd.DataFrame({"padding": ["zeros", "valid"], "test_set": "CamVid", "metric": "miou",
                                 "value": [.40, .39], "value_std": [.02, .02], "n_seeds": 3})
    checks = claims.check_claim_7(saliency, segmentation).set_index("subject")["holds"]
    assert checks["saliency on SOD"] and not checks["segmentation on CamVid"]


def test_claim_8_compares_only_the_given_same_architecture_pairs():
    summary = pd.DataFrame([(model, "nat", p, spc, 0.01, 3) for model, spc in [("hed", .9), ("cls", .7), ("other", .99)]
                            for p in ("H", "V", "G")],
                           columns=["model", "test_set", "pattern", "spc", "spc_std", "n_seeds"])
    checks = claims.check_claim_8(summary, "nat", [("VGG16", "hed", "cls")])
    assert len(checks) == 1 and checks["holds"].all() and checks["backbone_class"].item() == "VGG16"
    assert not claims.check_claim_8(summary, "nat", [("VGG16", "cls", "hed")])["holds"].any()


def test_claim_9_on_both_sides():
    crop = pd.DataFrame({"padding": ["zeros", "valid"], "test_set": "SOD", "fraction": 0.2,
                         "toward_centre": [0.03, 0.0], "toward_centre_sem": [0.005, 0.005], "n_images": 100})
    assert claims.check_claim_9(crop)["holds"].all()
    crop["toward_centre"] = [0.004, 0.0]
    assert not claims.check_claim_9(crop)["holds"].any()
