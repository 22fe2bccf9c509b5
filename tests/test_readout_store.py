"""poslib.readout_store: each readout is trained once; a reused readout gives the same rows to the bit."""

import json

import numpy as np
import pandas as pd
import pytest

from poslib import probing, readout_store
from poslib.config import Profile
from poslib.features import FeatureConfig

TINY = Profile(name="tiny", n_train=6, n_test=3, epochs=2, seeds=(0, 1), backbones=(("none", "none"),),
               input_size=32, batch_size=4, n_noise=2)


@pytest.fixture
def bundle():
    images = probing.prepare_images(TINY, data_root="", train="embedded", test="embedded")
    return probing.extract_bundle(FeatureConfig("efficientnet-lite0", "random", input_size=32), images, progress=False)


def _rows(bundle, **changes):
    return probing.probe(bundle, probing.readout_config_for(TINY, **changes), TINY.seeds, progress=False).per_image


def test_a_stored_readout_gives_the_same_rows_as_training_it(bundle, monkeypatch):
    monkeypatch.setenv(readout_store.READOUT_STORE_ENV, "0")
    without_store = _rows(bundle)
    monkeypatch.delenv(readout_store.READOUT_STORE_ENV)
    readout_store.reset_readout_counts()
    trained = _rows(bundle)
    assert readout_store.readout_counts() == {"trained": 2, "reused": 0}
    reused = _rows(bundle)
    assert readout_store.readout_counts() == {"trained": 2, "reused": 2}
    pd.testing.assert_frame_equal(trained, without_store)
    pd.testing.assert_frame_equal(reused, without_store)  # bit for bit: the same float32 parameters


def test_anything_that_changes_a_readout_trains_it_anew(bundle):
    readout_store.reset_readout_counts()
    _rows(bundle)
    _rows(bundle, epochs=3)  # another schedule
    probing.probe(bundle, probing.readout_config_for(TINY), (1, 0), progress=False)  # another seed group
    probing.probe(bundle, probing.readout_config_for(TINY), TINY.seeds, taps=["f1"], progress=False)  # other channels
    assert readout_store.readout_counts() == {"trained": 8, "reused": 0}
    half = bundle.with_training_subset(4)  # fewer training images
    probing.probe(half, probing.readout_config_for(TINY), TINY.seeds, progress=False)
    assert readout_store.readout_counts()["trained"] == 10


def test_a_damaged_store_entry_is_retrained_with_a_notice(bundle, capsys):
    readout_store.reset_readout_counts()
    expected = _rows(bundle)
    entry = readout_store.readout_entry(bundle.train_key, len(bundle.train.array), None,
                                        probing.readout_config_for(TINY), TINY.seeds, 5)
    entry.path("readouts.pt").write_bytes(b"not a state dict")
    again = _rows(bundle)
    assert "rebuilding cache entry readouts/" in capsys.readouterr().out
    assert readout_store.readout_counts() == {"trained": 4, "reused": 0}
    pd.testing.assert_frame_equal(again, expected)


def _channel_set_rows(bundle, channel_sets, seeds):
    labels = [{"draw": draw} for draw in range(len(channel_sets))]
    return probing.probe_channel_sets(bundle, probing.readout_config_for(TINY), channel_sets, seeds, labels,
                                      progress=False)


def test_a_group_that_repeats_seeds_reuses_each_readout_not_the_last_of_its_seed(bundle, monkeypatch, capsys):
    # Notebook 03's channel draws: draw i starts from seeds[i % n], each on its own channel set.
    channel_sets = [np.arange(0, 4), np.arange(4, 8), np.arange(8, 12), np.arange(12, 16)]
    seeds = [0, 1, 0, 1]
    monkeypatch.setenv(readout_store.READOUT_STORE_ENV, "0")
    without_store = _channel_set_rows(bundle, channel_sets, seeds)
    monkeypatch.delenv(readout_store.READOUT_STORE_ENV)
    readout_store.reset_readout_counts()
    pd.testing.assert_frame_equal(_channel_set_rows(bundle, channel_sets, seeds), without_store)
    pd.testing.assert_frame_equal(_channel_set_rows(bundle, channel_sets, seeds), without_store)
    assert readout_store.readout_counts() == {"trained": 4, "reused": 4}
    # An entry of the first layout (one readout per seed) cannot hold this group: it is retrained.
    entry = readout_store.readout_entry(bundle.train_key, len(bundle.train.array), channel_sets,
                                        probing.readout_config_for(TINY), seeds, 5)
    meta = json.loads(entry.path("meta.json").read_text())
    del meta["layout"]
    entry.path("meta.json").write_text(json.dumps(meta))
    pd.testing.assert_frame_equal(_channel_set_rows(bundle, channel_sets, seeds), without_store)
    assert "repeats seeds" in capsys.readouterr().out
    assert readout_store.readout_counts() == {"trained": 8, "reused": 4}
