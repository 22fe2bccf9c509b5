"""poslib.experiments.input_size: receptive field measurement and the rings in pixels / receptive fields."""

from torch import nn

from poslib import config
from poslib.backbones import TappedBackbone
from poslib.experiments import input_size as ins


def test_receptive_field_grows_with_depth_and_stride():
    one = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1))
    two = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))
    measure = lambda net: ins.measured_receptive_field(TappedBackbone("t", "t", ["f"], [2], lambda x: [net(x)], net), 32)
    assert measure(one) == 3 and measure(two) == 8


def test_probe_at_sizes_and_rings_on_embedded_images(monkeypatch):
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    profile = config.get_profile("smoke")
    profile = type(profile)(**{**profile.__dict__, "beyond": config.BeyondSettings(
        seeds=(0,), readout_train=8, readout_test=4, readout_epochs=1)})
    probed = ins.probe_at_sizes(profile, [("pixels", "none")], [32, 48], train="embedded",
                                test="embedded")
    assert sorted(probed.per_image["input_size"].unique()) == [32, 48]
    rings = ins.border_rings(probed, 4, {("pixels", "none"): 1})
    big = rings[rings["input_size"] == 48]
    assert big["distance_px"].max() == 48 / 2 * big["distance"].max() and (big["distance_rf"] == big["distance_px"]).all()
    sizes = ins.summarise_sizes(probed)
    assert set(sizes["pattern"]) >= {"H", "G"}
