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
