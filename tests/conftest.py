"""Shared test settings: a private cache, a headless plotting backend, small fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# `make test` runs the tests in several processes (pytest-xdist), each with torch's threads and
# each notebook test with its own kernel, so there are more threads than cores. OpenMP threads
# that spin while they wait then take the cores from the threads with work (a 2-core machine
# ran some tests more than 10x slower); passive waiting gives them back. Set here, before any
# test imports torch, and inherited by the kernels that the notebook tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test writes features into its own temporary cache, never the user's."""
    cache = tmp_path / "poslib-cache"
    monkeypatch.setenv("POSLIB_CACHE", str(cache))
    return cache


@pytest.fixture
def data_root() -> Path | None:
    """The datasets folder when this machine has one ($POSLIB_DATA or ../shared/data), else None."""
    configured = os.environ.get("POSLIB_DATA")
    if configured and Path(configured).is_dir():
        return Path(configured)
    return SHARED_DATA if SHARED_DATA.is_dir() else None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
