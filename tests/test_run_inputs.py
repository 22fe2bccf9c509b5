"""poslib.run_inputs: -p parameters checked against the notebook's declared ones, typed."""

import os

import pytest

from poslib import run_inputs, runner
from poslib.config import ConfigError

REAL_01 = runner.NOTEBOOK_DIR / "01_position_patterns.ipynb"
REAL_05 = runner.NOTEBOOK_DIR / "05_saliency_segmentation.ipynb"


def test_p_values_are_converted_to_the_declared_type():
    applied = run_inputs.resolve_overrides([REAL_01], run_inputs.parse_parameter_items(["seed=1", "train_images=embedded"]))
    assert applied == {"01_position_patterns": {"seed": 1, "train_images": "embedded"}}
    assert isinstance(applied["01_position_patterns"]["seed"], int)
    with pytest.raises(ConfigError, match=r"seed='one'.*declares seed as int"):
        run_inputs.resolve_overrides([REAL_01], {"seed": "one"})
    assert run_inputs.convert_parameter("x", "yes", "bool") is True and run_inputs.convert_parameter("x", "2.5", "float") == 2.5


def test_p_refuses_unknown_names_listing_the_valid_ones():
    with pytest.raises(ConfigError, match=r"-p sed: not a parameter of 01_position_patterns nor a profile field; the "
                                          r"notebook parameters that -p can set are \['seed', 'test_images', "
                                          r"'train_images'\], and any profile field"):
        run_inputs.resolve_overrides([REAL_01], {"sed": "1"})


def test_p_profile_fields_reach_every_notebook_as_one_typed_checked_parameter():
    applied = run_inputs.resolve_overrides([REAL_01, REAL_05], {"seeds": "0,1", "padding_study.readout_paddings": "0",
                                                                "seed": "2"})
    expected = '{"padding_study.readout_paddings": "0", "seeds": "0,1"}'
    assert applied["01_position_patterns"] == {"seed": 2, "profile_overrides": expected}
    assert applied["05_saliency_segmentation"]["profile_overrides"] == expected
    with pytest.raises(ConfigError, match=r"no profile field 'layerwise.depth' \(did you mean \['layerwise.depths'"):
        run_inputs.resolve_overrides([REAL_01], {"layerwise.depth": "1"})
    with pytest.raises(ConfigError, match=r"profile field seeds='a': needs tuple\[int, ...\]"):
        run_inputs.resolve_overrides([REAL_01], {"seeds": "a"})
    with pytest.raises(ConfigError, match="the driver sets profile_overrides"):
        run_inputs.resolve_overrides([REAL_01], {"profile_overrides": "{}"})


def test_p_applies_a_parameter_only_to_the_notebooks_that_declare_it(capsys):
    applied = run_inputs.resolve_overrides([REAL_01, REAL_05], {"train_images": "embedded"})
    assert applied["01_position_patterns"] == {"train_images": "embedded"} and applied["05_saliency_segmentation"] == {}
    assert "applies to ['01_position_patterns'] only" in capsys.readouterr().out


@pytest.mark.parametrize("item", ['__import__("os").system("touch x")#=1', "a b=1", "class=1", "1x=2", "seed"])
def test_p_names_must_be_identifiers_before_reaching_a_kernel(item):
    with pytest.raises(ConfigError, match="parameter name|name=value"):
        run_inputs.parse_parameter_items([item])


@pytest.mark.parametrize("name, option", [("profile", "--profile"), ("data_root", "--data"), ("results_dir", "--out")])
def test_p_cannot_set_the_driver_parameters(name, option):
    with pytest.raises(ConfigError, match=f"the driver sets {name}; use {option}"):
        run_inputs.parse_parameter_items([f"{name}=x"])
    with pytest.raises(ConfigError, match=f"use {option}"):
        run_inputs.resolve_overrides([REAL_01], {name: "x"})


# ----------------------------------------------------------------------------- issue 8: output folder


def test_the_data_fingerprint_follows_the_contents_not_the_file_times(tmp_path):
    image = tmp_path / "SOD" / "images" / "a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"first")
    before = run_inputs.data_fingerprint(tmp_path)
    os.utime(image, (1, 1))  # a copy or restore that keeps the contents: same fingerprint
    assert run_inputs.data_fingerprint(tmp_path) == before
    stat = image.stat()
    image.write_bytes(b"other")  # same size, same time, new contents: a new fingerprint
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = run_inputs.data_fingerprint(tmp_path)
    assert edited != before
    image.rename(image.with_name("b.jpg"))  # a renamed file changes it too
    assert run_inputs.data_fingerprint(tmp_path) != edited
    assert run_inputs.data_fingerprint(None) == "embedded"
