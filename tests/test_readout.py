import copy

import numpy as np
import pytest
import torch

from poslib import patterns, readout
from poslib.config import ConfigError
from poslib.readout import (PosENet, ReadoutConfig, UpsampledMSE, bilinear_matrix, evaluate, load_batch, predict,
                            train_readout, train_readouts, upsample)


@pytest.mark.parametrize("depth", [1, 2])
def test_one_pass_training_equals_five_separate_readouts(depth, rng):
    feature_array = rng.standard_normal((12, 6, 10, 10)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(depth=depth, hidden_channels=4, epochs=3, batch_size=4, target_size=16, lr=0.05,
                           compute="float32")
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
    from poslib.readout import inputs

    feature_array = rng.standard_normal((8, 4, 10, 10)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16)
    monkeypatch.setattr(inputs, "FLOAT32_RAM_LIMIT", 0)  # in RAM as float16, like the mapped path
    in_ram, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    monkeypatch.setattr(inputs, "IN_RAM_LIMIT", 0)
    assert isinstance(readout.feature_tensor(feature_array), readout.MappedFeatures)
    mapped, _ = train_readout(feature_array, targets, config, seed=3, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(in_ram.state_dict().values(), mapped.state_dict().values()))


def test_upsampled_mse_equals_the_loss_on_upsampled_maps(rng):
    maps = torch.from_numpy(rng.random((3, 4, 9, 9)).astype(np.float32)).requires_grad_()
    targets = torch.from_numpy(patterns.make_patterns(40)[:4])
    assert torch.allclose(upsample(maps, 40), bilinear_matrix(9, 40).float() @ maps @ bilinear_matrix(9, 40).float().T,
                          atol=1e-6)
    assert readout.interpolation_matrix is bilinear_matrix  # the former name still works
    direct = ((upsample(maps, 40) - targets) ** 2).mean(dim=(0, 2, 3))
    analytic = UpsampledMSE(targets, 9).per_channel(maps)
    assert torch.allclose(direct, analytic, atol=1e-6)
    grad_direct, = torch.autograd.grad(direct.sum(), maps)
    grad_analytic, = torch.autograd.grad(analytic.sum(), maps)
    assert torch.allclose(grad_direct, grad_analytic, atol=1e-7)


@pytest.mark.parametrize("depth,kernel_size,padding", [(1, 3, 0), (2, 1, 0), (3, 5, 2), (1, 7, 2)])
def test_grouped_seeds_equal_separate_single_seed_trainings(depth, kernel_size, padding, rng):
    """float32 mode: one grouped model over 3 seeds == 3 single-seed trainings, each on its own batch order."""
    feature_array = rng.standard_normal((12, 6, 12, 12)).astype(np.float16)
    targets = patterns.make_patterns(16)
    config = ReadoutConfig(depth=depth, kernel_size=kernel_size, readout_padding=padding, hidden_channels=4, epochs=3,
                           batch_size=4, target_size=16, lr=0.05, compute="float32")
    seeds = [5, 1, 2]
    grouped = train_readouts(feature_array, targets, config, seeds, progress=False)
    for seed, (model, losses) in zip(seeds, grouped):
        torch.manual_seed(seed)
        fresh = PosENet(6, 5, depth, kernel_size, padding, 4)
        # each seed block of the group trains on its own seed's batch order, as a single-seed call does
        single, single_losses = train_readouts(feature_array, targets, config, [seed], progress=False,
                                               models=[fresh])[0]
        assert np.allclose(predict(model, feature_array, 16), predict(single, feature_array, 16), atol=1e-4)
        assert np.allclose(losses, single_losses, rtol=1e-4)


def test_seeds_of_a_grouped_pass_see_different_batch_orders(rng):
    from poslib.readout import batch_order
    first, second = batch_order(40, 8, 2, 0), batch_order(40, 8, 2, 1)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
    # and the grouped pass uses them: seed 1's block equals seed 1 alone, not seed 1's init on seed 0's order
    features = rng.standard_normal((16, 4, 8, 8)).astype(np.float16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16, compute="float32")
    targets = patterns.make_patterns(16)
    grouped = train_readouts(features, targets, config, [0, 1], progress=False)[1][0]
    alone = train_readouts(features, targets, config, [1], progress=False)[0][0]
    torch.manual_seed(1)
    on_seed_0_order = train_readouts(features, targets, config, [0], progress=False,
                                     models=[PosENet(4, 5)])[0][0]
    assert np.allclose(predict(grouped, features, 16), predict(alone, features, 16), atol=1e-5)
    assert not np.allclose(predict(grouped, features, 16), predict(on_seed_0_order, features, 16), atol=1e-3)


def test_grouped_initialisation_is_the_single_seed_initialisation():
    config = ReadoutConfig(depth=2, hidden_channels=3, epochs=1, batch_size=4, target_size=16, lr=0.0,
                           momentum=0.0, weight_decay=0.0, compute="float32")
    features = np.zeros((4, 6, 10, 10), dtype=np.float16)
    for seed, (model, _) in zip([3, 4], train_readouts(features, patterns.make_patterns(16), config, [3, 4],
                                                        progress=False)):
        torch.manual_seed(seed)
        expected = PosENet(6, 5, depth=2, hidden_channels=3)
        for (name, p), q in zip(model.named_parameters(), expected.parameters()):
            assert torch.equal(p, q), name


def test_info_records_the_compute_mode_and_batch_order():
    info = {}
    config = ReadoutConfig(epochs=1, batch_size=4, target_size=16)
    train_readouts(np.ones((4, 2, 8, 8), np.float16), patterns.make_patterns(16), config, [7, 1], progress=False,
                   info=info)
    assert info["compute"] in ("bfloat16", "float32") and info["batch_order_seeds"] == [7, 1]
    assert len(info["epoch_seconds"]) == 1


def _natural_problem(rng, n_train=48, n_test=16, size=14, channels=24):
    """Features with position information through zero padding: random filters over smooth images."""
    images = rng.random((n_train + n_test, 3, size // 2, size // 2)).astype(np.float32)
    images = torch.nn.functional.interpolate(torch.from_numpy(images), size=(size, size), mode="bilinear")
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, channels, 5, padding=2)
    with torch.no_grad():
        features = torch.relu(conv(images)).numpy().astype(np.float16)
    grid = patterns.coordinate_channels(size)
    coordinates = np.broadcast_to(grid[None], (len(features), *grid.shape))
    features = np.concatenate([features, coordinates.astype(np.float16)], axis=1)
    return features[:n_train], features[n_train:]


@pytest.mark.parametrize("compute", ["bfloat16", "float32"])
def test_fast_paths_match_the_float32_reference_within_0_01_spc(compute, rng):
    train, test = _natural_problem(rng)
    targets = patterns.make_patterns(28)
    config = ReadoutConfig(epochs=6, batch_size=8, target_size=28)
    seeds = [0, 1]
    reference = train_readouts(train, targets, ReadoutConfig(**{**config.__dict__, "compute": "float32-reference"}),
                               seeds, progress=False)
    fast = train_readouts(train, targets, ReadoutConfig(**{**config.__dict__, "compute": compute}), seeds,
                          progress=False)
    for (ref_model, _), (fast_model, _) in zip(reference, fast):
        ref_scores = evaluate(ref_model, test, targets, patterns.PATTERN_NAMES)
        fast_scores = evaluate(fast_model, test, targets, patterns.PATTERN_NAMES)
        for name in patterns.PATTERN_NAMES:
            assert abs(ref_scores[name]["spc"].mean() - fast_scores[name]["spc"].mean()) < 0.01, name


def test_reference_mode_single_seed_is_the_original_training(rng):
    """train_readout in the reference mode trains in place, as the original code did."""
    feature_array = rng.standard_normal((8, 4, 10, 10)).astype(np.float16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16, compute="float32-reference")
    torch.manual_seed(0)
    start = PosENet(4, 5)
    trained, losses = train_readout(feature_array, patterns.make_patterns(16), config, seed=3, model=start,
                                    progress=False)
    assert trained is start and len(losses) == 2


def _coarse_problem(rng, n_images=24):
    """Features whose channels 0-1 and 9-10 are 8x8 maps and 5-7 are 4x4 maps, bilinearly upsampled to 16x16."""
    from torch.nn import functional as F

    def upsampled(side, count, cue=0.0):
        maps = torch.from_numpy(rng.standard_normal((n_images, count, side, side)).astype(np.float32))
        maps[:, 0] += torch.linspace(-cue, cue, side)  # a position cue, so training moves the weights
        return F.interpolate(maps, size=(16, 16), mode="bilinear", align_corners=False).numpy()

    fine = rng.standard_normal((n_images, 6, 16, 16)).astype(np.float32)
    coarse8, coarse4 = upsampled(8, 4), upsampled(4, 3, cue=2.0)
    features = np.concatenate([coarse8[:, :2], fine[:, :3], coarse4, fine[:, 3:], coarse8[:, 2:]], axis=1)
    sizes = np.array([8, 8, 16, 16, 16, 4, 4, 4, 16, 16, 16, 8, 8])
    return features.astype(np.float16), sizes


@pytest.mark.parametrize("kernel_size,padding,depth", [(3, 0, 1), (3, 1, 1), (1, 0, 1), (5, 2, 1), (3, 0, 2)])
def test_coarse_taps_at_their_own_resolution_train_the_same_readout(kernel_size, padding, depth, rng, monkeypatch):
    monkeypatch.setattr("poslib.readout.inputs.NATIVE_MIN_SAVED_CHANNELS", 0)
    features, sizes = _coarse_problem(rng)
    config = ReadoutConfig(epochs=4, batch_size=8, target_size=32, kernel_size=kernel_size, readout_padding=padding,
                           depth=depth, hidden_channels=2, compute="float32")
    targets = patterns.make_patterns(32)
    as_cached = train_readouts(features, targets, config, [0, 1], progress=False)
    info = {}
    native = train_readouts(features, targets, config, [0, 1], progress=False, native_sizes=sizes, info=info)
    assert info["coarse_channels"] == {4: 3, 8: 4} and info["kept_as_cached"] == {}
    for (a, losses_a), (b, losses_b) in zip(as_cached, native):
        for name, value in a.state_dict().items():
            assert torch.allclose(value.float(), b.state_dict()[name].float(), rtol=1e-3, atol=5e-4), name  # float32 rounding
        assert np.allclose(losses_a, losses_b, rtol=1e-4)
    moved = native[0][0].convolutions()[0].weight
    torch.manual_seed(0)
    assert not torch.allclose(moved, PosENet(13, 5, depth, kernel_size, padding, 2).convolutions()[0].weight,
                              atol=1e-3)  # training changed the weights, so the equality above says something


def test_a_wrong_native_size_is_caught_and_the_group_used_as_cached(rng, monkeypatch):
    monkeypatch.setattr("poslib.readout.inputs.NATIVE_MIN_SAVED_CHANNELS", 0)
    features, sizes = _coarse_problem(rng)
    wrong = sizes.copy()
    wrong[2:5] = 8  # full-resolution channels claimed to be 8x8
    info = {}
    config = ReadoutConfig(epochs=2, batch_size=8, target_size=32, compute="float32")
    trained = train_readouts(features, patterns.make_patterns(32), config, [0], progress=False, native_sizes=wrong,
                             info=info)
    plain = train_readouts(features, patterns.make_patterns(32), config, [0], progress=False)
    assert info["coarse_channels"] == {4: 3} and info["kept_as_cached"][8] > 0.1
    assert np.allclose(trained[0][1], plain[0][1], rtol=1e-5)


def test_small_coarse_groups_stay_at_full_resolution(rng):
    features, sizes = _coarse_problem(rng)  # 3 and 4 channels: far below the threshold
    info = {}
    train_readouts(features, patterns.make_patterns(32), ReadoutConfig(epochs=1, batch_size=8, target_size=32),
                   [0], progress=False, native_sizes=sizes, info=info)
    assert info["coarse_channels"] == {}


@pytest.mark.parametrize("compute", ["float32", "float32-reference"])
def test_per_seed_channel_sets_equal_separate_readouts_on_each_set(compute, rng):
    features = rng.standard_normal((16, 9, 10, 10)).astype(np.float16)
    features[:, 4] += np.linspace(-1, 1, 10).astype(np.float16)  # position in channel 4 only
    sets = [np.array([0, 4, 7]), np.array([1, 2, 3])]
    config = ReadoutConfig(epochs=3, batch_size=4, target_size=16, compute=compute)
    targets = patterns.make_patterns(16)
    grouped = train_readouts(features, targets, config, [5, 5], channels=sets, progress=False)
    for (model, losses), channels in zip(grouped, sets):
        alone, alone_losses = train_readout(features, targets, config, seed=5, channels=channels, progress=False)
        assert model.in_channels == 3 and np.allclose(losses, alone_losses, rtol=1e-4)
        for name, value in model.state_dict().items():
            assert torch.allclose(value.float(), alone.state_dict()[name].float(), rtol=1e-3, atol=1e-4), name
    # same initialisation (seed 5) and batches: the blocks differ only because they read different sets
    first, second = (m.convolutions()[0].weight for m, _ in grouped)
    assert not torch.allclose(first, second, atol=1e-3)


def test_per_seed_channel_sets_must_match_the_seeds():
    with pytest.raises(ConfigError, match="one set per seed"):
        train_readouts(np.ones((4, 3, 8, 8), np.float16), patterns.make_patterns(16), ReadoutConfig(target_size=16),
                       [0, 1], channels=[np.array([0, 1]), np.array([2])], progress=False)


def test_batches_gathered_into_kept_buffers_equal_fresh_ones(rng):
    features = torch.from_numpy(rng.standard_normal((10, 4, 6, 6)).astype(np.float32)).to(
        memory_format=torch.channels_last)
    buffers = {}
    first = load_batch(features, np.array([3, 1, 7]), torch.device("cpu"), torch.float32, buffers)
    assert torch.equal(first, features[[3, 1, 7]])
    assert first.is_contiguous(memory_format=torch.channels_last)
    pointer = first.data_ptr()
    second = load_batch(features, np.array([0, 9]), torch.device("cpu"), torch.float32, buffers)
    assert torch.equal(second, features[[0, 9]]) and second.data_ptr() == pointer  # storage reused
    converted = load_batch(features, np.array([2]), torch.device("cpu"), torch.bfloat16, buffers)
    assert converted.dtype == torch.bfloat16 and len(buffers) == 1  # a conversion is never buffered


def _busy(seconds: float) -> None:
    import time
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(i * i for i in range(1000))


def test_the_pinned_numeric_path_gives_identical_readouts_under_machine_load(rng):
    """Only the machine's load changes: a competing process on every core must not change a single bit."""
    import multiprocessing

    from poslib import config, probing
    features = rng.normal(size=(24, 6, 28, 28)).astype(np.float32)
    targets = np.stack(patterns.make_patterns(32))
    readout_config = probing.readout_config_for(config.get_profile("smoke", {"epochs": "3"}))
    assert readout_config.compute == "bfloat16"  # a profile pins it; "auto" would time the machine

    def weights() -> list[torch.Tensor]:
        info = {}
        trained = readout.train_readouts(features, targets, readout_config, (0, 1), progress=False, info=info)
        assert info["compute"] == "bfloat16" and info["compute_reason"] == "requested"
        return [p.detach().clone() for model, _ in trained for p in model.state_dict().values()]

    quiet = weights()
    workers = [multiprocessing.get_context("fork").Process(target=_busy, args=(20.0,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        loaded = weights()
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()
    assert all(torch.equal(a, b) for a, b in zip(quiet, loaded))
