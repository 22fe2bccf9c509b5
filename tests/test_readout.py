import copy

import numpy as np
import pytest
import torch

from poslib import patterns
from poslib.readout import PosENet, ReadoutConfig, evaluate, predict, train_readout


@pytest.mark.parametrize("depth", [1, 2])
def test_one_pass_training_equals_five_separate_readouts(depth, rng):
    feature_array = rng.standard_normal((12, 6, 10, 10)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(depth=depth, hidden_channels=4, epochs=3, batch_size=4, target_size=16, lr=0.05)
    torch.manual_seed(0)
    joint = PosENet(6, 5, depth=depth, hidden_channels=4)
    separate = [joint.single_target(t) for t in range(5)]
    joint_trained, _ = train_readout(feature_array, targets, config, seed=7, model=copy.deepcopy(joint), progress=False)
    joint_maps = predict(joint_trained, feature_array, 16)
    for t in range(5):
        single_trained, _ = train_readout(feature_array, targets[t:t + 1], config, seed=7, model=separate[t],
                                          progress=False)
        assert np.allclose(predict(single_trained, feature_array, 16)[:, 0], joint_maps[:, t], atol=1e-4)


def test_single_target_extracts_the_same_function(rng):
    model = PosENet(3, 5, depth=2, hidden_channels=2).eval()
    x = torch.from_numpy(rng.standard_normal((2, 3, 9, 9)).astype(np.float32))
    full = model(x)
    for t in range(5):
        assert torch.allclose(model.single_target(t).eval()(x)[:, 0], full[:, t], atol=1e-6)


def test_output_size_follows_kernel_and_padding():
    x = torch.rand(1, 8, 28, 28)
    assert PosENet(8, 5)(x).shape == (1, 5, 26, 26)
    assert PosENet(8, 5, kernel_size=7, padding=2)(x).shape == (1, 5, 26, 26)
    assert PosENet(8, 5, depth=3)(x).shape == (1, 5, 22, 22)


def test_positive_control_coordinates_recover_position():
    coordinates = np.repeat(patterns.coordinate_channels(28)[None], 32, axis=0)
    targets = patterns.make_patterns(56)
    model, losses = train_readout(coordinates, targets, ReadoutConfig(epochs=30, batch_size=16, target_size=56),
                                  progress=False)
    scores = evaluate(model, coordinates[:2], targets, patterns.PATTERN_NAMES)
    assert losses[-1] < losses[0]
    for name in ("H", "V", "G"):
        assert scores[name]["spc"].mean() > 0.95, name


def test_negative_control_shuffled_targets_stay_near_zero(rng):
    coordinates = np.repeat(patterns.coordinate_channels(28)[None], 32, axis=0)
    targets = patterns.make_patterns(56)
    permutation = rng.permutation(56 * 56)
    shuffled = targets.reshape(5, -1)[:, permutation].reshape(targets.shape)
    model, _ = train_readout(coordinates, shuffled, ReadoutConfig(epochs=30, batch_size=16, target_size=56),
                             progress=False)
    scores = evaluate(model, coordinates[:2], shuffled, patterns.PATTERN_NAMES)
    for name in ("H", "V", "G"):
        assert abs(scores[name]["spc"].mean()) < 0.1, name


def test_negative_control_translation_invariant_input_has_no_position(rng):
    """Images whose content sits anywhere: a padding-free readout on their pixels finds no position."""
    noise = rng.random((64, 3, 28, 28)).astype(np.float32)
    targets = patterns.make_patterns(56)
    model, _ = train_readout(noise, targets, ReadoutConfig(epochs=10, batch_size=16, target_size=56), progress=False)
    scores = evaluate(model, rng.random((16, 3, 28, 28)).astype(np.float32), targets, patterns.PATTERN_NAMES)
    for name in ("H", "V", "G"):
        assert abs(scores[name]["spc"].mean()) < 0.2, name


def test_training_is_deterministic(rng):
    feature_array = rng.standard_normal((8, 4, 10, 10)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16)
    a, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    b, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_memory_mapped_features_train_like_in_ram_ones(rng, monkeypatch):
    from poslib import readout

    feature_array = rng.standard_normal((8, 4, 10, 10)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16)
    monkeypatch.setattr(readout, "FLOAT32_RAM_LIMIT", 0)  # in RAM as float16, like the mapped path
    in_ram, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    monkeypatch.setattr(readout, "IN_RAM_LIMIT", 0)
    assert isinstance(readout.feature_tensor(feature_array), readout.MappedFeatures)
    mapped, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(in_ram.state_dict().values(), mapped.state_dict().values()))
