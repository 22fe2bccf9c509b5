"""poslib.experiments.registration: the probe measures receptive fields, and the decoder is registered."""

import numpy as np
import pytest

from poslib.experiments import registration


def test_probe_measures_a_single_unpadded_convolution_exactly():
    (centres,) = registration.receptive_field_centres(16, "valid", convs=(1,))
    assert len(centres) == 14
    np.testing.assert_array_equal(centres["first"], np.arange(14))
    np.testing.assert_array_equal(centres["centre"], np.arange(14) + 1.0)


@pytest.mark.parametrize("side", [128, 176])
def test_every_variant_is_registered_within_one_pixel_and_stretching_is_not(side):
    table = registration.registration_table(side, ("zeros", "valid", "reflect"))
    assert (table["n_unclipped"] > 0).all()
    assert table["registered_px"].max() <= 1.0
    # negative control: the probe does see misregistration where there is some
    unpadded = table[table["padding_rule"] == "valid"].set_index("tap")["stretched_px"]
    assert unpadded["f5"] > 10 and unpadded["f1"] > 1
