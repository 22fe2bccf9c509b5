import pandas as pd

from poslib import claims


def _summary(none_spc, cnn_spc, stripe_spc):
    rows = []
    for pattern in ("H", "V", "G", "HS", "VS"):
        rows.append({"backbone": "pixels", "weights": "none", "test_set": "nat", "pattern": pattern, "spc": none_spc})
        spc = stripe_spc if pattern in ("HS", "VS") else cnn_spc
        rows.append({"backbone": "cnn", "weights": "w", "test_set": "nat", "pattern": pattern, "spc": spc})
    return pd.DataFrame(rows)


def test_claims_hold_on_a_table_that_shows_them():
    checks = claims.check_claims_1_to_3(_summary(0.01, 0.9, 0.4), "nat")
    assert checks["holds"].all()
    assert set(claims.verdict(checks)["verdict"]) == {"holds"}


def test_claims_fail_on_a_table_that_contradicts_them():
    checks = claims.check_claims_1_to_3(_summary(0.6, 0.3, 0.8), "nat")
    assert not checks["holds"].any()
    assert set(claims.verdict(checks)["verdict"]) == {"does not hold"}


def test_claim_5_detects_a_non_monotone_trend():
    rows = [("vgg16", "random", "raw", level, "SOD", p, spc)
            for level, spc in [("f1", .1), ("f2", .3), ("f3", .2), ("f4", .5), ("f5", .6)] for p in ("H", "G")]
    levels = pd.DataFrame(rows, columns=["backbone", "weights", "selection", "level", "test_set", "pattern", "spc"])
    assert not claims.check_claim_5(levels, "SOD")["holds"].any()
    levels.loc[levels["level"] == "f3", "spc"] = 0.4
    assert claims.check_claim_5(levels, "SOD")["holds"].all()


def test_claim_6_needs_a_drop_without_padding():
    rules = pd.DataFrame([("vgg16", "random", rule, "SOD", p, spc) for rule, spc in [("zeros", .8), ("valid", .79)]
                          for p in ("H", "G")], columns=["backbone", "weights", "padding", "test_set", "pattern", "spc"])
    pads = pd.DataFrame([("pixels", "none", rp, "SOD", p, spc) for rp, spc in [(0, 0.0), (1, .3), (2, .4)]
                         for p in ("H", "G")],
                        columns=["backbone", "weights", "readout_padding", "test_set", "pattern", "spc"])
    checks = claims.check_claim_6(pads, rules, "SOD")
    assert checks.set_index("subject")["holds"].to_dict() == {
        "vgg16/random": False, "pixels/none, readout padding 1": True, "pixels/none, readout padding 2": True}
