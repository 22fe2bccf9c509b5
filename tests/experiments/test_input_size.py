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


def test_study_4_on_the_table1_schedule_gives_table1s_numbers_at_the_input_size(monkeypatch):
    import numpy as np

    from poslib.features import FeatureConfig
    from poslib.probing import ProbeImages, prepare_images, probe_rows, readout_config_for

    monkeypatch.delenv("POSLIB_DATA", raising=False)
    profile = config.get_profile("smoke", {"n_train": 8, "n_test": 4, "epochs": 1, "seeds": "0", "input_size": 48})
    study = ins.probe_at_sizes(profile, [("pixels", "none")], [32, 48], train="embedded", test="embedded",
                               table1_schedule=True)
    images = prepare_images(profile, train="embedded", test="embedded")
    table1 = probe_rows([FeatureConfig("pixels", "none", input_size=48)],
                        ProbeImages(images.train, [images.natural_test], True), readout_config_for(profile), (0,))
    at_48 = study.per_image[study.per_image["input_size"] == 48]
    assert len(at_48) == len(table1.per_image) > 0
    assert np.array_equal(at_48["spc"].to_numpy(), table1.per_image["spc"].to_numpy())
    # the other size is trained on the same photos (as many, the same files) at its own resolution
    at_32 = study.per_image[study.per_image["input_size"] == 32]
    assert sorted(at_32["image_id"].unique()) == sorted(at_48["image_id"].unique())


def test_check_input_size_pairs_sizes_by_file_name():
    import pandas as pd

    from poslib.claims import check_input_size

    rows = [{"backbone": "b", "weights": "imagenet", "input_size": size, "seed": seed, "image": index,
             "image_id": name, "test_set": "T", "pattern": pattern, "spc": value + 0.001 * index}
            for size, names, value in ((112, ["a", "b", "c", "d"], 0.8), (448, ["b", "c", "d", "a"], 0.4))
            for index, name in enumerate(names) for seed in (0, 1) for pattern in ("H", "G")]
    [check] = check_input_size(pd.DataFrame(rows), "T").to_dict("records")
    assert check["outcome"] == "holds" and "paired on images" in check["rule"]
