"""Weights files a user names: missing, text, or of the wrong shape are errors naming the file (issue 8)."""

import pytest
import torch

from poslib import backbones, probing
from poslib.config import ConfigError
from poslib.backbones import WeightsPathError


def test_a_missing_weights_path_is_an_error_not_a_skip(tmp_path):
    missing = tmp_path / "nowhere" / "weights.pth"
    with pytest.raises(WeightsPathError, match=r"weights\.pth does not exist"):
        backbones.load_state_dict_file(missing)
    with pytest.raises(WeightsPathError):
        backbones.build_backbone("vgg16", str(missing), input_size=32)
    with pytest.raises(WeightsPathError):  # no suffix, but clearly a path
        backbones.build_backbone("vgg16", str(tmp_path / "nowhere" / "weights"), input_size=32)
    assert isinstance(WeightsPathError("x"), ConfigError)
    # probing turns only WeightsNotFoundError (offline ImageNet weights) into a skipped row
    assert not issubclass(WeightsPathError, backbones.WeightsNotFoundError)
    assert not issubclass(WeightsPathError, backbones.UnsupportedPaddingError)


def test_probing_does_not_swallow_a_missing_weights_path(tmp_path):
    assert not issubclass(backbones.WeightsPathError, probing.SKIPPABLE_ERRORS)
    with pytest.raises(backbones.WeightsPathError, match="missing.pth"):
        probing.build_or_skip("vgg16", str(tmp_path / "missing.pth"), "zeros", 32)


def test_a_text_file_as_weights_names_the_file(tmp_path):
    text = tmp_path / "weights.pth"
    text.write_text("these are not weights\n")
    with pytest.raises(ConfigError, match=r"weights\.pth was not written by torch\.save .*text"):
        backbones.load_state_dict_file(text)
    with pytest.raises(ConfigError, match=r"weights\.pth"):
        backbones.build_backbone("vgg16", str(text), input_size=32)


def test_a_truncated_weights_file_names_the_file(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save({"a": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ConfigError, match=r"cannot load weights file .*cut\.pt"):
        backbones.load_state_dict_file(path)


def test_wrong_tensor_shapes_name_the_file_and_keys(tmp_path):
    import torchvision

    state = torchvision.models.vgg16().features.state_dict()
    state = {f"features.{k}": v for k, v in state.items()}
    state["features.0.weight"] = torch.zeros(32, 3, 3, 3)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"wrong\.pth.*do not fit backbone 'vgg16': 1 tensor\(s\) have the wrong "
                                          r"shape: features\.0\.weight \(32, 3, 3, 3\) \(backbone expects "
                                          r"\(64, 3, 3, 3\)\)"):
        backbones.build_backbone("vgg16", str(path), input_size=32)
