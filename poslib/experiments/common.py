"""What the experiments of notebooks 03 and 04 say alike about their readouts."""

from __future__ import annotations

from ..probing import ProbeImages, sgd_steps
from ..readout import ReadoutConfig


def readout_note(readout: ReadoutConfig, images: ProbeImages, train_images: int | None, n_seeds: int) -> str:
    """One line on how each readout of a section is trained: SGD steps, batch, epochs, images, seeds.

    Parameters
    ----------
    readout : ReadoutConfig
        The section's readout (its batch size and epochs).
    images : ProbeImages
        The probing images (their training set bounds the images used).
    train_images : int or None
        The section's ``train_images`` (first this many cached training images; None: all).
    n_seeds : int
        Readout seeds per configuration.

    Returns
    -------
    str
        ``"Each readout: <steps> SGD steps (batch <b>, <e> epochs, first <n> training images), <k> seeds"``
        (no final full stop, so a section can add to it).
    """
    n_images = min(len(images.train), train_images or len(images.train))
    return (f"Each readout: {sgd_steps(n_images, readout)} SGD steps (batch "
            f"{readout.batch_size}, {readout.epochs_for(n_images)} epochs, first {n_images} training images), "
            f"{n_seeds} seeds")
