"""poslib.experiments.padding_study: settings, border distance, rings and side errors."""

import numpy as np
import pandas as pd
import pytest

from poslib import config
from poslib.experiments import padding_study


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_every_profile_has_resolved_settings(name):
    settings = config.get_profile(name).padding_study
    assert all(row[0] != config.RAW_PIXELS for row in settings.rule_rows)
    assert len(settings.seeds) >= (3 if name != "smoke" else 1) and settings.epochs >= 1


def test_border_distance_and_rings():
    distance = padding_study.border_distance(8)
    assert distance.min() == 0.5 and distance.max() == 3.5
    errors = np.where(distance < 1, 1.0, 0.0)  # error only in the outermost ring
    rings = padding_study.error_by_border_distance(errors, 4)
    assert rings["abs_error"].iloc[0] == 1.0 and (rings["abs_error"].iloc[1:] == 0).all()
    assert rings["n_pixels"].sum() == 64


def test_error_by_side_sees_an_asymmetric_error():
    errors = np.zeros((10, 10))
    errors[:, -1] = 1.0  # right column only
    sides = padding_study.error_by_side(errors, 0.1)
    assert sides["right"] == 1.0 and sides["left"] == 0.0 and sides["top"] == pytest.approx(0.1)


def test_side_asymmetry_aggregates_over_seeds():
    sides = pd.DataFrame([{"backbone": "b", "weights": "w", "padding_rule": "zeros", "pattern": "H", "seed": seed,
                           "side": side, "abs_error": value}
                          for seed, shift in ((0, 0.1), (1, 0.3))
                          for side, value in (("left", 0.2), ("right", 0.2 + shift), ("top", 0.1), ("bottom", 0.1))])
    row = padding_study.side_asymmetry(sides).iloc[0]
    assert row["right_minus_left"] == pytest.approx(0.2) and row["bottom_minus_top"] == pytest.approx(0.0)
    assert row["n_seeds"] == 2 and row["right_minus_left_std"] > 0


def _summary(column, values):
    n = len(values)
    return pd.DataFrame({"backbone": ["vgg16"] * n, "weights": ["random"] * n, column: values, "pattern": ["H"] * n,
                         "test_set": ["nat"] * n, "spc": [0.5] * n, "spc_std": [0.1] * n, "mae": [0.2] * n,
                         "mae_std": [0.01] * n, "n_seeds": [2] * n, "n_images": [4] * n, "n_constant": [0] * n})


def test_table4_joins_readout_paddings_and_backbone_rules_once_each():
    table = padding_study.table4(_summary("readout_padding", [0, 1, 2]), _summary("padding_rule", ["zeros", "valid"]))
    assert list(table.columns) == padding_study.TABLE4_COLUMNS
    assert list(zip(table["padding_rule"], table["readout_padding"])) == [("zeros", 0), ("zeros", 1), ("zeros", 2),
                                                                    ("valid", 0)]
    rules = padding_study.rules_table(_summary("padding_rule", ["zeros", "valid"]))
    assert "readout_padding" not in rules and list(rules["backbone_class"].unique()) == ["control"]
