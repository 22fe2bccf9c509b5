import numpy as np
import pytest

from poslib import patterns
from poslib.config import ConfigError


@pytest.mark.parametrize("name", patterns.PATTERN_NAMES)
def test_patterns_are_normalised(name):
    target = patterns.make_pattern(name, 64)
    assert target.shape == (64, 64) and target.dtype == np.float32
    assert target.min() == pytest.approx(0.0) and target.max() == pytest.approx(1.0)


def test_ramps_run_left_to_right_and_top_to_bottom():
    h, v = patterns.make_pattern("H", 32), patterns.make_pattern("V", 32)
    assert np.all(np.diff(h, axis=1) > 0) and np.allclose(np.diff(h, axis=0), 0)
    assert np.allclose(v, h.T)


def test_gaussian_peaks_in_the_centre_with_zero_corners():
    g = patterns.make_pattern("G", 64)
    assert g[31:33, 31:33].min() > 0.99
    assert g[0, 0] == pytest.approx(0.0, abs=1e-6) and g[-1, -1] == pytest.approx(0.0, abs=1e-6)


def test_stripes_have_two_and_a_half_periods():
    hs = patterns.make_pattern("HS", 200)[:, 0]
    crossings = np.sum(np.diff(np.sign(hs - 0.5)) != 0)
    assert crossings == 5  # 2.5 periods of a cosine cross its mean 5 times
    assert np.allclose(patterns.make_pattern("VS", 200), patterns.make_pattern("HS", 200).T)


def test_unknown_pattern_is_named_in_the_error():
    with pytest.raises(ConfigError, match="'diagonal'"):
        patterns.make_pattern("diagonal", 8)


def test_noise_matches_documented_statistics_and_seed():
    noise = patterns.synthetic_image("noise", 224, seed=3)
    assert noise.mean() / 255 == pytest.approx(25 / 255, abs=0.005)
    assert noise.max() <= 200
    assert np.array_equal(noise, patterns.synthetic_image("noise", 224, seed=3))
    assert not np.array_equal(noise, patterns.synthetic_image("noise", 224, seed=4))


def test_black_and_white():
    assert patterns.synthetic_image("black", 8).max() == 0
    assert patterns.synthetic_image("white", 8).min() == 255
    with pytest.raises(ConfigError):
        patterns.synthetic_image("grey", 8)
