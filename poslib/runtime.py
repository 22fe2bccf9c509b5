"""Process runtime: environment variables, errors of settings, seeding, devices, progress bars, paths.

Everything here is about the process that runs a study, not about its size (that is
:mod:`poslib.config`, which re-exports these names for older imports).
"""

from __future__ import annotations

import os
import random
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


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Threads each of ``jobs`` notebooks run at once may use: ``max(1, cores // jobs)``.

    Examples
    --------
    >>> threads_per_job(2, cores=16), threads_per_job(3, cores=2), threads_per_job(1, cores=2)
    (8, 1, 2)
    """
    return max(1, (cores or available_cores()) // jobs)


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that give a new process (a notebook's kernel) ``threads`` compute threads.

    torch reads ``OMP_NUM_THREADS`` when it starts (its intra-op pool); MKL and OpenBLAS
    read their own variables. Set them before the process starts; a running process keeps
    its pools (:func:`torch.set_num_threads` is the in-process way).

    Examples
    --------
    >>> thread_environment(4)["OMP_NUM_THREADS"]
    '4'
    """
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


#: Environment variable that turns progress bars off (the driver sets it for headless runs).
PROGRESS_ENV = "POSLIB_PROGRESS"


def progress_bar(iterable, description: str, enabled: bool = True, total: int | None = None):
    """A progress bar over ``iterable``: a widget in JupyterLab, text in a terminal.

    Bars are off when ``enabled`` is False or ``$POSLIB_PROGRESS`` is ``0`` (as in headless
    runs by the driver, so executed notebooks hold no progress-bar text). They vanish
    when done (``leave=False``).
    """
    from tqdm.auto import tqdm

    disable = not enabled or os.environ.get(PROGRESS_ENV) == "0"
    return tqdm(iterable, desc=description, total=total, disable=disable, leave=False)


def repo_relative(path: str | Path) -> str:
    """``path`` as results show it: how paths are recorded and printed, never an absolute local path.

    Inside the repository: relative to its root (``results/x``). Outside it: under the data
    folder ``$POSLIB_DATA`` names, ``$POSLIB_DATA/ECSSD/images``; under the home folder,
    ``~/data/ECSSD``; elsewhere, relative to the repository root (``../data``) as before.
    A shown path outside the repository is for reading, not for opening: code that needs a
    path to open passes the path itself (:func:`usable_relative`).

    Examples
    --------
    >>> repo_relative(REPO_ROOT / "results")
    'results'
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.is_relative_to(REPO_ROOT):
        return os.path.relpath(resolved, REPO_ROOT)
    data = Path(os.environ.get(DATA_ENV, "") or "/").expanduser()  # relative: to the repository root, as data.py reads it
    roots = [((REPO_ROOT / data).resolve(), f"${DATA_ENV}")] if data != Path("/") else []
    for root, shown in roots + [(Path.home().resolve(), "~")]:
        if resolved.is_relative_to(root) and root != Path("/"):
            rest = resolved.relative_to(root).as_posix()
            return shown if rest == "." else f"{shown}/{rest}"
    return os.path.relpath(resolved, REPO_ROOT)


def usable_relative(path: str | Path) -> str:
    """``path`` relative to the repository root (climbing out of it if need be), for code that opens it."""
    return os.path.relpath(Path(path).expanduser().resolve(), REPO_ROOT)


def portable_text(text: str) -> str:
    """``text`` with the repository root written as ``.`` and the home folder as ``~`` (for messages kept in results)."""
    for folder, short in ((str(REPO_ROOT), "."), (str(Path.home()), "~")):
        text = text.replace(folder, short)
    return text


def cache_dir() -> Path:
    """Folder for cached features and trained weights (``$POSLIB_CACHE`` or ``~/.cache/poslib``)."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "poslib")
    path.mkdir(parents=True, exist_ok=True)
    return path
