"""The public API: :func:`poslib.probe` on any network, its cache key, controls, :func:`poslib.probe_backbone`.

Everything runs on the embedded default's smoke counts (24 training / 8 test crops) at 32 px
with one to three readout epochs: seconds per test.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import poslib
from poslib import api
from poslib.config import ConfigError
from poslib.data import rolled_image_set
from poslib.features import extract_features
from poslib.patterns import coordinate_channels
from poslib.probing import ProbeImages

SIZE = 32


class ThreeLayerCNN(nn.Module):
    """A user's own network: three 3x3 convolutions (the second with stride 2)."""

    def __init__(self, padding_mode: str = "zeros", width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, padding_mode=padding_mode)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1, padding_mode=padding_mode)
        self.conv3 = nn.Conv2d(width, width, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x):
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


class Coordinates(nn.Module):
    """Outputs the coordinate channels (x, y, squared distances from the centre), whatever the input."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("coords", torch.from_numpy(coordinate_channels(size))[None])

    def forward(self, x):
        return self.coords + 0 * x[:, :1]


class CoordinateModel(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.coordinates = Coordinates(size)

    def forward(self, x):
        return self.coordinates(x)


def seeded(make, seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


@pytest.fixture(scope="module")
def images() -> ProbeImages:
    return api.probe_images("smoke", input_size=SIZE)


def test_resnet18_report(images):
    model = seeded(torchvision.models.resnet18)
    report = poslib.probe(model, ["layer1", "layer2"], images, targets=("H", "G"), input_size=SIZE, epochs=1,
                          per_tap=True, progress=False, name="resnet18 random")
    per_image, summary = report.per_image, report.summary
    assert {"seed", "test_set", "image", "pattern", "spc", "mae", "taps", "backbone"} <= set(per_image.columns)
    # three readouts (both taps, each alone) x 2 patterns x (8 test crops + black + white + noise)
    assert len(per_image) == 3 * 2 * (8 + 3)
    assert set(per_image["pattern"]) == {"H", "G"}
    assert set(per_image["taps"]) == {"all", "layer1", "layer2"}
    assert set(per_image["backbone"]) == {"resnet18 random"} and set(per_image["padding_rule"]) == {api.AS_BUILT}
    assert {"spc", "spc_std", "mae", "mae_std", "n_seeds", "n_images", "test_set", "pattern"} <= set(summary.columns)
    assert len(summary) == 3 * 2 * 4 and set(summary["n_images"]) == {8, 1}
    assert report.tap_channels == [64, 128] and report.tap_sizes == [8, 4]
    table = report.table()
    assert list(table.columns) == ["H", "G"] and list(table.index) == ["all", "layer1", "layer2"]
    assert np.isfinite(per_image["spc"]).all()
    assert set(report.cache_keys) == {"embedded-train", "embedded-test", "black", "white", "noise"}
    assert "resnet18 random" in str(report)


def test_custom_cnn_over_seeds_and_model_left_alone(images):
    model = seeded(ThreeLayerCNN)
    before = copy.deepcopy(model.state_dict())
    report = poslib.probe(model, ["conv1", "conv3"], images, seeds=(0, 1), input_size=SIZE, epochs=1, progress=False)
    assert report.name == "ThreeLayerCNN" and report.tap_channels == [8, 8]
    natural = report.summary[report.summary["test_set"] == "embedded-test"]
    assert set(natural["n_seeds"]) == {2} and natural["spc_std"].notna().all()
    assert set(report.per_image["pattern"]) == set(poslib.patterns.PATTERN_NAMES)
    # the user's model keeps its mode, flags and weights
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _key(model, images, **settings) -> str:
    backbone = api.tap_model(model, settings.pop("taps", ["conv3"]), input_size=SIZE, **settings)
    return api.feature_cache_key(backbone, images.natural_test, SIZE)


def test_cache_key_follows_the_model(images):
    model = seeded(ThreeLayerCNN)
    key = _key(model, images)
    assert _key(copy.deepcopy(model), images) == key, "same weights and code: same key"
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.conv2.weight[0, 0, 0, 0] += 1e-3
    assert _key(changed, images) != key, "one weight changed"
    circular = copy.deepcopy(model)
    for conv in (circular.conv1, circular.conv2, circular.conv3):
        conv.padding_mode = "circular"
    assert _key(circular, images) != key, "same state dict, other padding"
    assert _key(model, images, taps=["conv2"]) != key
    assert _key(model, images, preprocess="imagenet") != key
    assert _key(model, images, name="other") != key

    def scaled(factor):
        return lambda x: x * factor

    assert _key(model, images, preprocess=scaled(2.0)) == _key(model, images, preprocess=scaled(2.0))
    assert _key(model, images, preprocess=scaled(2.0)) != _key(model, images, preprocess=scaled(3.0))


def test_changed_weights_never_read_stale_features(images):
    model = seeded(ThreeLayerCNN)
    first = api.tap_model(model, ["conv3"], input_size=SIZE)
    config = api.model_feature_config(first, SIZE)
    before = np.array(extract_features(config, images.natural_test, backbone=first, progress=False).array)
    with torch.no_grad():
        model.conv3.bias += 1.0
    second = api.tap_model(model, ["conv3"], input_size=SIZE)
    after = extract_features(api.model_feature_config(second, SIZE), images.natural_test, backbone=second,
                             progress=False)
    assert after.meta["weights_id"] == second.weights_id != first.weights_id
    assert not np.allclose(before, np.asarray(after.array))


def test_positive_control_coordinate_tap(images):
    report = poslib.probe(CoordinateModel(SIZE), ["coordinates"], images, targets=("H", "V", "G"), input_size=SIZE,
                          epochs=10, progress=False)
    table = report.table()
    assert (table.loc["coordinates", ["H", "V"]] > 0.9).all(), table
    # the map is the same for every input, so Black and White read it too
    assert (report.table(test_set="black").loc["coordinates", ["H", "V"]] > 0.9).all()


def test_negative_control_circular_padding_on_rolled_images(images):
    """Circular padding is exactly translation-equivariant; rolled photos put content anywhere: nothing to read."""
    rolled = ProbeImages(rolled_image_set(images.train, 1), [rolled_image_set(images.natural_test, 2)]
                         + images.tests[1:], True)
    report = poslib.probe(seeded(lambda: ThreeLayerCNN("circular")), ["conv3"], rolled, targets=("H", "V", "G"),
                          seeds=(0, 1), input_size=SIZE, epochs=3, progress=False)
    spc = report.table(test_set="embedded-test-rolled")
    assert (spc.abs() < 0.2).all().all(), spc
    uniform = report.summary[report.summary["test_set"].isin(["black", "white"])]
    assert (uniform["spc"] == 0).all() and (uniform["n_constant"] == uniform["n_seeds"]).all()


def test_tap_errors():
    model = seeded(torchvision.models.resnet18)
    with pytest.raises(ConfigError, match="layer1"):
        api.tap_model(model, ["layer_1"], input_size=SIZE)
    with pytest.raises(ConfigError, match="feature maps"):
        api.tap_model(model, ["fc"], input_size=SIZE)
    assert "layer4.1.relu_1" in api.tap_names(model)


def test_probe_backbone_goes_through_the_same_report(images):
    report = poslib.probe_backbone("pixels", "none", images, input_size=SIZE, epochs=1, targets=("H",),
                                   progress=False)
    assert isinstance(report, poslib.ProbeReport) and report.taps == ["pixels"]
    assert set(report.per_image["backbone"]) == {"pixels"} and len(report.per_image) == 8 + 3


def test_package_exposes_the_api_lazily():
    assert {"probe", "probe_backbone", "position_share"} <= set(dir(poslib))
    assert "Where to start" in poslib.__doc__
    code = "import sys, poslib; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_readme_quick_start_runs(monkeypatch, capsys):
    """The README's "Quick start from Python" block, as written but at 48 px (to keep the test fast)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Quick start from Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert code.count("input_size=112") == 2
    code = code.replace("input_size=112", "input_size=48")
    monkeypatch.setenv("POSLIB_PROGRESS", "0")
    with torch.random.fork_rng(devices=[]):
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "spc on embedded-test" in out and "share_weighted" in out and "layer3" in out


def test_images_from_two_folders(tmp_path):
    from PIL import Image

    for role, count in (("train", 5), ("test", 3)):
        folder = tmp_path / role
        folder.mkdir()
        for i, image in enumerate(poslib.embedded.embedded_image_set(role, 40, count).images):
            Image.fromarray(image).save(folder / f"{role}{i}.png")
    probe_set = api.probe_images((tmp_path / "train", tmp_path / "test"), input_size=SIZE)
    assert len(probe_set.train) == 5 and [t.name for t in probe_set.tests] == ["test", "black", "white", "noise"]
    assert len(probe_set.natural_test) == 3 and probe_set.train.images.shape[1:] == (SIZE, SIZE, 3)
    assert not probe_set.uses_embedded_default
    with pytest.raises(ConfigError, match="one folder"):
        api.probe_images(str(tmp_path / "train"), input_size=SIZE)
    with pytest.raises(ConfigError, match="input_size"):
        api.probe_images(probe_set, input_size=SIZE * 2)
