"""Trained readouts in the content-keyed store: each readout is trained once.

Tables 1-4 train the same readout on the same features more than once (Table 2's one-layer
3x3 row, Table 3's "all" row and Table 4's zero-padding row are one configuration, trained
for each notebook and seed). :func:`trained_readouts` wraps
:func:`poslib.readout.train_readouts`: a group of readouts is stored as a
:class:`poslib.store.CacheEntry` keyed by everything that decides it, and a later call
with the same key loads it instead of training:

* the training features' own cache key (backbone, weights identity, padding rule, taps,
  sizes, the training images' content, torch version) and how many of them are used;
* the channels read (a digest of their indices, or of each seed's channel set);
* the readout configuration (architecture, schedule, numeric path, minimum steps);
* the seeds, in order (a group of seeds trains in one grouped pass; reusing only a whole
  group keeps the tables byte-identical to training them);
* the store's format version.

Each readout of a group is stored under its position in the group (layout ``"by position"``):
a group may hold several readouts with the same seed (notebook 03's channel draws: draw ``i``
is initialised with ``seeds[i % len(seeds)]``, each on its own channel set). Entries of the
first layout, keyed by seed, are reused only when their seeds are distinct (keyed by seed,
a repeated seed's readouts overwrote each other, and loading gave every draw of that seed the
last draw's readout); otherwise they are retrained with a notice.

The loaded readouts are the stored float32 parameters and BatchNorm statistics, so their
predictions, and every table made from them, equal those of the readouts that were
trained (a test checks it on per-image rows). Processes running at once (``--jobs``) train a
group once: the others wait for its entry and load it
(:meth:`poslib.store.CacheEntry.reuse_or_build`). ``POSLIB_READOUT_STORE=0`` turns the store off.
:func:`readout_counts` says how many readouts were trained and reused in this process; a
notebook's provenance records it and the results index shows it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict

import numpy as np
import torch

from .readout import PosENet, ReadoutConfig, train_readouts
from .store import CacheEntry, content_key

#: Version of the stored layout; entries written by another are retrained.
READOUT_STORE_FORMAT = 1
#: Environment variable: "0" turns the store off (every readout is trained).
READOUT_STORE_ENV = "POSLIB_READOUT_STORE"

_COUNTS = {"trained": 0, "reused": 0}


def readout_counts() -> dict[str, int]:
    """Readouts (one per seed and configuration) trained and loaded from the store in this process."""
    return dict(_COUNTS)


def reset_readout_counts() -> None:
    """Start counting afresh (a notebook's setup does this)."""
    _COUNTS.update(trained=0, reused=0)


def _channels_digest(channels) -> str:
    """A digest of the channels read: ``"all"``, one index array, or one per seed."""
    if channels is None:
        return "all"
    sets = channels if isinstance(channels, (list, tuple)) else [channels]
    digest = hashlib.sha256()
    for one in sets:
        digest.update(np.asarray(one, dtype=np.int64).tobytes() + b"|")
    return digest.hexdigest()


def readout_entry(features_key: str, n_train: int, channels, config: ReadoutConfig, seeds,
                  n_targets: int) -> CacheEntry:
    """The store entry of a group of readouts (see the module docstring for what is keyed)."""
    key = content_key(format=READOUT_STORE_FORMAT, features=features_key, n_train=n_train,
                      channels=_channels_digest(channels), readout=asdict(config), seeds=list(seeds),
                      n_targets=n_targets, torch=torch.__version__)
    return CacheEntry("readouts", key, READOUT_STORE_FORMAT)


#: How readouts are named inside an entry: by their position in the group.
LAYOUT = "by position"


def _payload_names(meta: dict, seeds) -> list[str] | None:
    """The payload name of each readout of the group, or None when the entry cannot give them."""
    if meta.get("layout") == LAYOUT:
        return [str(position) for position in range(len(seeds))]
    if len(set(seeds)) == len(seeds):  # first layout, keyed by seed: sound only without repeated seeds
        return [str(seed) for seed in seeds]
    return None


def _load(entry: CacheEntry, config: ReadoutConfig, in_channels: int, n_targets: int, seeds):
    """The stored readouts and losses, or None when the entry is missing, damaged or does not load."""
    meta = entry.read()
    if meta is None:
        return None
    names = _payload_names(meta, seeds)
    if names is None:
        print(f"[poslib] retraining readouts: store entry {entry.label} keeps one readout per seed, and its "
              f"group repeats seeds {list(seeds)}", flush=True)
        return None
    try:
        states = torch.load(entry.path("readouts.pt"), map_location="cpu", weights_only=True)
        losses = json.loads(entry.path("losses.json").read_text())
        models = []
        for name in names:
            model = PosENet(in_channels, n_targets, config.depth, config.kernel_size, config.readout_padding,
                            config.hidden_channels)
            model.load_state_dict(states[name])
            models.append((model.eval(), list(losses[name])))
    except Exception as error:  # noqa: BLE001 - an unusable entry is retrained, never reused
        print(f"[poslib] retraining readouts: unusable store entry {entry.label} ({error})", flush=True)
        return None
    return models, meta.get("training", {})


def trained_readouts(features, targets: np.ndarray, config: ReadoutConfig, seeds, *, features_key: str | None,
                     channels=None, info: dict | None = None, **train_options) -> list[tuple[PosENet, list[float]]]:
    """:func:`poslib.readout.train_readouts`, stored and reused by content (module docstring).

    Parameters
    ----------
    features, targets, config, seeds, channels :
        As :func:`poslib.readout.train_readouts`.
    features_key : str or None
        The training features' cache key; None (features not from the cache) trains without storing.
    info : dict, optional
        Filled as by :func:`~poslib.readout.train_readouts`; a reused group gets
        ``reused_from`` (the entry) and the stored training record.
    **train_options
        Passed on (device, progress, description, native_sizes...).
    """
    seeds = list(seeds)
    info = {} if info is None else info
    if features_key is None or os.environ.get(READOUT_STORE_ENV) == "0":
        _COUNTS["trained"] += len(seeds)
        return train_readouts(features, targets, config, seeds, channels=channels, info=info, **train_options)
    per_seed_sets = isinstance(channels, (list, tuple))
    in_channels = len(channels[0]) if per_seed_sets else (features.shape[1] if channels is None else len(channels))
    entry = readout_entry(features_key, len(features), channels, config, seeds, len(targets))
    trained = None

    def build():
        nonlocal trained
        trained = train_readouts(features, targets, config, seeds, channels=channels, info=info, **train_options)
        entry.begin()
        buffer = io.BytesIO()
        torch.save({str(position): model.state_dict() for position, (model, _) in enumerate(trained)}, buffer)
        entry.write_bytes("readouts.pt", buffer.getvalue())
        entry.write_bytes("losses.json", json.dumps({str(position): losses for position, (_, losses)
                                                     in enumerate(trained)}).encode())
        entry.finish({"training": {k: v for k, v in info.items() if k != "epoch_seconds"}, "seeds": seeds,
                      "layout": LAYOUT})
        return trained, None

    # one writer per entry: a process that waited while another trained this group loads it
    models, training = entry.reuse_or_build(lambda: _load(entry, config, in_channels, len(targets), seeds), build)
    if trained is not None:
        _COUNTS["trained"] += len(seeds)
        return trained
    info.update(training, reused_from=entry.label)
    _COUNTS["reused"] += len(seeds)
    return models
