from poslib import bench, probing
from poslib.config import Profile

TINY = Profile(name="tiny", n_train=6, n_test=3, epochs=2, seeds=(0,), backbones=(), input_size=32,
               batch_size=4)


def test_cached_design_runs_each_backbone_once_per_image():
    images = probing.prepare_images(TINY, train="embedded", test="embedded")
    record = bench.cached_workload([("efficientnet-lite0", "random"), ("pixels", "none")], images,
                                   probing.readout_config_for(TINY), seeds=(0, 1))
    assert record["forward_passes_per_image"] == {"efficientnet-lite0/random": 1.0, "pixels/none": 1.0}
    assert record["rows"] == ["efficientnet-lite0/random", "pixels/none"]


def test_naive_design_runs_the_backbone_every_epoch_for_every_target():
    images = probing.prepare_images(TINY, train="embedded", test="embedded")
    record = bench.naive_workload("efficientnet-lite0", "random", images, probing.readout_config_for(TINY))
    assert record["forward_passes"] == 6 * 2 * 5  # images x epochs x targets


def test_private_cache_restores_the_callers_setting(monkeypatch):
    import os

    monkeypatch.setenv("POSLIB_CACHE", "/somewhere/mine")
    with bench.private_cache() as cache:
        assert os.environ["POSLIB_CACHE"] == cache != "/somewhere/mine"
    assert os.environ["POSLIB_CACHE"] == "/somewhere/mine"
    monkeypatch.delenv("POSLIB_CACHE")
    with bench.private_cache():
        pass
    assert "POSLIB_CACHE" not in os.environ


def test_readout_epoch_flops_counts_forward_and_weight_gradient_of_the_first_layer():
    from poslib.readout import ReadoutConfig

    flops = bench.readout_epoch_flops(ReadoutConfig(), n_images=2, in_channels=3, side=28, n_readouts=5)
    assert flops["first_layer"] == 2 * 2 * 2 * 26 * 26 * 5 * 3 * 9 and flops["later_layers"] == 0
    deep = bench.readout_epoch_flops(ReadoutConfig(depth=2, hidden_channels=4), 2, 3, 28, 5)
    assert deep["later_layers"] == 3 * 2 * 2 * 24 * 24 * 5 * 4 * 9


def test_readout_speed_record_on_tiny_features():
    import numpy as np

    from poslib.readout import ReadoutConfig

    rng = np.random.default_rng(0)
    train = rng.random((8, 6, 10, 10)).astype(np.float16)
    test = rng.random((3, 6, 10, 10)).astype(np.float16)
    record = bench.readout_speed(train, test, ReadoutConfig(epochs=2, batch_size=4, target_size=16), seeds=(0, 1),
                                 peaks={"float32": 1.0, "bfloat16": 2.0})
    assert record["reference"]["compute"] == "float32-reference"
    assert record["fast"]["compute"] in ("bfloat16", "float32")
    assert record["speedup"]["reference / fast"] > 0 and record["fast"]["gflops"] > 0  # tiny workloads still register
    assert set(record["spc_natural_test"]["fast"]) == {"H", "V", "G", "HS", "VS"}
    assert "Readout training speed" in "\n".join(bench.render_readout_speed(record, {"float32": 1.0}))


def test_readout_speed_native_path_is_measured_and_close_to_the_first_path():
    import numpy as np
    import torch
    from torch.nn import functional as F

    from poslib.readout import ReadoutConfig

    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.random((11, 400, 5, 5)).astype(np.float32))
    upsampled = F.interpolate(coarse, size=(10, 10), mode="bilinear", align_corners=False).numpy().astype(np.float16)
    record = bench.readout_speed(upsampled[:8], upsampled[8:], ReadoutConfig(epochs=2, batch_size=4, target_size=16),
                                 seeds=(0,), native_sizes=np.full(400, 5), with_reference=False)
    assert "reference" not in record and record["fast_native"]["coarse_channels"] == {5: 400}
    assert record["spc_abs_difference_max"]["fast vs fast_native"]["seed_mean_per_target"] < 0.05
    assert "fast_native" in "\n".join(bench.render_readout_speed(record, {}))


def test_each_training_call_counts_its_flops_as_the_benchmark_does_and_reused_readouts_count_none():
    import numpy as np

    from poslib import readout_store, work
    from poslib.features import FeatureConfig
    from poslib.patterns import make_patterns
    from poslib.readout import ReadoutConfig, readout_epoch_flops, train_readouts

    rng = np.random.default_rng(0)
    features = rng.random((8, 6, 10, 10)).astype(np.float16)
    config = ReadoutConfig(epochs=2, batch_size=4, target_size=16)
    targets = make_patterns(16)
    work.reset_work()
    train_readouts(features, targets, config, seeds=(0, 1), progress=False)
    done = work.work_done()
    assert done["readout_flops"] == 2 * readout_epoch_flops(config, 8, 6, 10, 2 * 5)["total"]
    assert done["readouts_trained"] == 2 and done["readout_seconds"] > 0 and done["torch_threads"] >= 1
    images = probing.prepare_images(TINY, train="embedded", test="embedded")
    bundle = probing.extract_bundle(FeatureConfig("efficientnet-lite0", "random", input_size=32), images,
                                    progress=False)
    assert work.work_done()["forward_passes"] == len(images.train) + sum(len(t) for t in images.tests)
    assert work.work_done()["feature_extraction_seconds"] > done["feature_extraction_seconds"]
    readout_config = probing.readout_config_for(TINY)
    probing.probe(bundle, readout_config, (0,), progress=False)
    trained = work.work_done()["readout_flops"]
    probing.probe(bundle, readout_config, (0,), progress=False)  # loaded from the readout store
    assert trained > done["readout_flops"] and work.work_done()["readout_flops"] == trained
    assert readout_store.readout_counts()["reused"] >= 1
