"""Profiles, seeding, devices and default folders: every global setting in one place.

A *profile* fixes the size of a run. ``smoke`` is what the tests and CI run (seconds to
a couple of minutes per notebook), ``default`` is what is rendered into ``results/`` on a
2-core laptop, and ``paper`` is the paper's scale (meant for a GPU).
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

#: Environment variable naming the folder that holds the datasets (ECSSD/, SOD/, CamVid/).
DATA_ENV = "POSLIB_DATA"
#: Environment variable naming the feature / weight cache folder.
CACHE_ENV = "POSLIB_CACHE"
#: Environment variable that allows downloading ImageNet weights through torchvision.
DOWNLOAD_ENV = "POSLIB_ALLOW_DOWNLOAD"

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting (profile, backbone, pattern, folder...) has a value poslib cannot use."""


def check_choice(value: str, valid, what: str) -> str:
    """Return ``value`` if it is one of ``valid``.

    Raises
    ------
    ConfigError
        Naming the ``what`` (e.g. "backbone"), the value and the valid choices.
    """
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid choices are {sorted(valid)}")
    return value


@dataclass(frozen=True)
class Profile:
    """Size of a run.

    Parameters
    ----------
    name : str
        ``smoke``, ``default`` or ``paper``.
    n_train, n_test : int
        Number of natural training / test images (``0`` means all available).
    epochs : int
        Readout training epochs; the learning rate drops x0.1 after two thirds of them
        (the paper: 15 epochs, drop at epoch 10).
    readout_seeds : tuple of int
        Seeds of the readout (initialisation and batch order); tables report mean and
        spread over them.
    backbones : tuple of (str, str)
        ``(backbone, weights)`` rows probed by notebook 02 and reused later.
    input_size : int
        Side of the square network input (the paper: 224).
    batch_size : int
        Readout mini-batch size (the paper's code: 32).
    """

    name: str
    n_train: int
    n_test: int
    epochs: int
    readout_seeds: tuple[int, ...]
    backbones: tuple[tuple[str, str], ...]
    input_size: int = 224
    batch_size: int = 32
    extras: dict = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict:
        """Plain-dict view, for provenance records."""
        return asdict(self)


_TABLE1_ROWS = (
    ("none", "none"),
    ("vgg16", "random"),
    ("resnet152", "random"),
    ("efficientnet-lite0", "imagenet"),
    ("vgg16", "imagenet"),
    ("resnet152", "imagenet"),
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", n_train=24, n_test=8, epochs=4, readout_seeds=(0,),
        backbones=(("none", "none"), ("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        input_size=112, batch_size=8,
    ),
    "default": Profile(
        name="default", n_train=400, n_test=100, epochs=20, readout_seeds=(0, 1, 2),
        backbones=_TABLE1_ROWS,
    ),
    "paper": Profile(
        name="paper", n_train=0, n_test=0, epochs=15, readout_seeds=(0, 1, 2),
        backbones=_TABLE1_ROWS,
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``.

    Raises
    ------
    ConfigError
        If no such profile exists.
    """
    return PROFILES[check_choice(name, PROFILES, "profile (set it in the parameters cell or with --profile)")]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    Parameters
    ----------
    seed : int
        The seed.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_dir() -> Path:
    """Folder for cached features and trained weights (``$POSLIB_CACHE`` or ``~/.cache/poslib``)."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "poslib")
    path.mkdir(parents=True, exist_ok=True)
    return path
