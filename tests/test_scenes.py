"""Tests of poslib.scenes: the embedded default of notebook 05."""

import numpy as np

from poslib import scenes


def test_saliency_scenes_are_deterministic_and_centre_biased():
    first = scenes.saliency_scenes("train", 12, 64, seed=3)
    second = scenes.saliency_scenes("train", 12, 64, seed=3)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.targets, second.targets)
    assert first.images.shape == (12, 64, 64, 3) and set(np.unique(first.targets)) <= {0, 1}
    centre_mass = first.targets[:, 16:48, 16:48].sum() / first.targets.sum()
    assert centre_mass > 0.5
    assert first.fingerprint != scenes.saliency_scenes("test", 12, 64, seed=3).fingerprint


def test_segmentation_scenes_have_the_ground_band_at_the_bottom():
    pairs = scenes.segmentation_scenes("test", 4, (48, 64), seed=0)
    assert pairs.targets.max() < len(scenes.SEGMENTATION_CLASSES)
    ground = pairs.targets == 1
    assert ground[:, -4:].mean() > 0.3 and ground[:, :4].mean() == 0.0
