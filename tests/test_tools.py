"""tools/pip_config_for_uv.py: make env passes this machine's pip settings on to uv."""

import importlib.util
import subprocess
import sys

from poslib.runtime import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location("pip_config_for_uv", REPO_ROOT / "tools" / "pip_config_for_uv.py")
pip_config_for_uv = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(pip_config_for_uv)


def test_index_find_links_and_constraints_become_uv_options_and_the_environment_wins():
    listing = ("global.constraint='/etc/c.txt'\n"
               "global.extra-index-url='file:///a/simple file:///b/simple'\n"
               "global.find-links='/old'\n"
               "global.timeout='60'\n"
               ":env:.find-links='/opt/wheels'\n")
    options = pip_config_for_uv.uv_options(pip_config_for_uv.settings_from_listing(listing))
    assert options == ["--constraint", "/etc/c.txt", "--extra-index-url", "file:///a/simple",
                       "--extra-index-url", "file:///b/simple", "--find-links", "/opt/wheels",
                       "--index-strategy", "unsafe-best-match"]


def test_a_machine_without_pip_settings_gives_no_options():
    assert pip_config_for_uv.uv_options(pip_config_for_uv.settings_from_listing("global.timeout='60'\n")) == []
    assert pip_config_for_uv.uv_options(pip_config_for_uv.settings_from_listing("")) == []


def test_the_script_prints_one_shell_word_per_line():
    printed = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "pip_config_for_uv.py")],
                             capture_output=True, text=True, check=True).stdout
    words = printed.splitlines()
    assert all(word and " " not in word for word in words)
    assert len(words) % 2 == 0  # every option with its value


def test_the_docstring_examples_hold():
    import doctest

    assert doctest.testmod(pip_config_for_uv).failed == 0
