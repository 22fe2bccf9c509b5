"""poslib.experiments.common: the readout note of notebooks 03 and 04."""

from types import SimpleNamespace

from poslib.experiments import common
from poslib.readout import ReadoutConfig


def test_readout_note_counts_the_images_actually_used():
    images = SimpleNamespace(train=[0] * 100)
    note = common.readout_note(ReadoutConfig(epochs=2, batch_size=32), images, 40, 3)
    assert note == "Each readout: 4 SGD steps (batch 32, 2 epochs, first 40 training images), 3 seeds"
    assert "first 100 training images" in common.readout_note(ReadoutConfig(epochs=1, batch_size=32), images, None, 1)
