from poslib import bench, probing
from poslib.config import Profile

TINY = Profile(name="tiny", n_train=6, n_test=3, epochs=2, readout_seeds=(0,), backbones=(), input_size=32,
               batch_size=4)


def test_cached_design_runs_each_backbone_once_per_image():
    images = probing.prepare_images(TINY, train="embedded", test="embedded")
    record = bench.cached_workload([("efficientnet-lite0", "random"), ("none", "none")], images,
                                   probing.readout_config_for(TINY), seeds=(0, 1))
    assert record["forward_passes_per_image"] == {"efficientnet-lite0/random": 1.0, "none/none": 1.0}
    assert record["rows"] == ["efficientnet-lite0/random", "none/none"]


def test_naive_design_runs_the_backbone_every_epoch_for_every_target():
    images = probing.prepare_images(TINY, train="embedded", test="embedded")
    record = bench.naive_workload("efficientnet-lite0", "random", images, probing.readout_config_for(TINY))
    assert record["forward_passes"] == 6 * 2 * 5  # images x epochs x targets
