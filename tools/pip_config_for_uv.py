"""Print uv options that reproduce this machine's pip configuration (indexes, find-links, constraints).

``make env`` installs the requirements with uv (unpacking in parallel: about 30 s for torch's
CUDA build instead of about 2 minutes with pip). uv does not read pip's configuration files
or ``PIP_*`` variables, so a machine that points pip at a local index, a wheel folder or a
constraints file (as this project's CI machine does) would otherwise lose them. This script
asks pip (``pip config list``) and prints the equivalent uv command-line options, one
shell word per line; it prints nothing where pip has no such settings.

Usage: ``python tools/pip_config_for_uv.py`` (run with the environment's interpreter).
"""

from __future__ import annotations

import shlex
import subprocess
import sys

#: pip setting -> uv option; the value of each may hold several space-separated entries.
PIP_TO_UV = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def pip_settings() -> dict[str, list[str]]:
    """The pip settings named in :data:`PIP_TO_UV` on this machine (``pip config list``).

    Returns
    -------
    dict of str to list of str
        See :func:`settings_from_listing`.
    """
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                             capture_output=True, text=True, check=False).stdout
    return settings_from_listing(listing)


def settings_from_listing(listing: str) -> dict[str, list[str]]:
    r"""The settings named in :data:`PIP_TO_UV` from the text of ``pip config list``.

    Parameters
    ----------
    listing : str
        Lines ``<source>.<name>='<value>'`` as pip prints them: files first (``global.``,
        ``install.``), then ``PIP_*`` variables (``:env:.``).

    Returns
    -------
    dict of str to list of str
        Setting name -> its entries; a later line overrides an earlier one, as the environment
        overrides the files in pip.

    Examples
    --------
    >>> settings_from_listing("global.find-links='/a'\n:env:.find-links='/b /c'\nglobal.timeout='9'")
    {'find-links': ['/b', '/c']}
    """
    settings: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name in PIP_TO_UV and value:
            settings[name] = shlex.split(value)[0].split()
    return settings


def uv_options(settings: dict[str, list[str]]) -> list[str]:
    """uv command-line options for ``settings`` (see :func:`pip_settings`).

    Examples
    --------
    >>> uv_options({"find-links": ["/opt/wheels"], "extra-index-url": ["file:///a", "file:///b"]})
    ['--find-links', '/opt/wheels', '--extra-index-url', 'file:///a', '--extra-index-url', 'file:///b', '--index-strategy', 'unsafe-best-match']
    >>> uv_options({})
    []
    """
    options: list[str] = []
    for name, entries in settings.items():
        for entry in entries:
            options += [PIP_TO_UV[name], entry]
    if any(name in settings for name in ("index-url", "extra-index-url")):
        options += ["--index-strategy", "unsafe-best-match"]  # pip's rule: best version over all indexes
    return options


if __name__ == "__main__":
    print("\n".join(uv_options(pip_settings())))
