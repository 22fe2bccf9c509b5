import pandas as pd

from poslib import claims


def _summary(none_spc, cnn_spc, stripe_spc):
    rows = []
    for pattern in ("H", "V", "G", "HS", "VS"):
        rows.append({"backbone": "none", "weights": "none", "test_set": "nat", "pattern": pattern, "spc": none_spc})
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
