"""poslib.config: profiles as the one source of run sizes, settings parsing, portable paths."""

import pytest

from poslib import config
from poslib.config import ConfigError


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_every_profile_has_every_section_resolved(name):
    profile = config.get_profile(name)
    for section in (profile.layerwise, profile.padding_study):
        assert section.epochs and section.seeds
    assert profile.tasks.padding_rules[0] == "zeros"


def test_unknown_profile_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="smoke"):
        config.get_profile("huge")


def test_backbone_rows_parse_and_bad_items_are_named():
    assert config.parse_backbone_rows("", (("a", "b"),)) == [("a", "b")]
    with pytest.raises(ConfigError, match="'vgg16' is not 'backbone:weights'"):
        config.parse_backbone_rows("vgg16", ())


def test_recorded_paths_are_relative_to_the_repository(tmp_path):
    assert not config.repo_relative(tmp_path).startswith("/")
    assert config.portable_text(f"file {config.REPO_ROOT}/x") == "file ./x"


def test_one_seeds_tuple_moves_every_section_unless_a_section_sets_its_own():
    profile = config.get_profile("default", {"seeds": "4,5"})
    assert profile.seeds == profile.layerwise.seeds == profile.padding_study.seeds == (4, 5)
    assert profile.beyond.seeds == profile.tasks.seeds == (4, 5)
    assert profile.tasks.training_seeds == (0, 1, 2)  # trained task networks keep their own
    own = config.get_profile("default", {"seeds": "4,5", "layerwise.seeds": "9"})
    assert own.layerwise.seeds == (9,) and own.padding_study.seeds == (4, 5)
    assert own.overrides == (("seeds", "4,5"), ("layerwise.seeds", "9"))
    assert config.get_profile("default").overrides == ()


def test_inherited_rows_drop_raw_pixels_where_a_study_needs_layers():
    profile = config.get_profile("smoke", {"backbones": "pixels:none,vgg16:random"})
    assert profile.layerwise.level_rows == (("vgg16", "random"),) != profile.backbones
    assert config.get_profile("default", {"epochs": "3"}).padding_study.epochs == 3


@pytest.mark.parametrize("path, value, message", [
    ("sedes", "1", r"no profile field 'sedes' \(did you mean \['seeds'\]\?\); the fields that can be set are \["),
    ("seeds", "x", r"needs tuple\[int, ...\]"),
    ("tasks.segmentation_size", "1", r"needs tuple\[int, int\] \(2 values, got 1\)"),
    ("layerwise.hidden_channels", "1.5", r"needs int \| None"),
    ("backbones", "vgg16", "is not 'backbone:weights'"),
])
def test_bad_overrides_name_the_field_and_what_it_needs(path, value, message):
    with pytest.raises(ConfigError, match=message):
        config.get_profile("smoke", {path: value})


def test_field_values_parse_by_their_declared_types():
    types = config.profile_field_types()
    assert config.parse_field_value("x", "none", types["layerwise.hidden_channels"]) is None
    assert config.parse_field_value("x", "8", types["layerwise.hidden_channels"]) == 8
    assert config.parse_field_value("x", "0.5,1", types["tasks.crop_fractions"]) == (0.5, 1.0)
    assert config.parse_field_value("x", "vgg16:random", types["beyond.gap_rows"]) == (("vgg16", "random"),)
