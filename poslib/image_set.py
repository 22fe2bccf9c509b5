"""The image set: RGB images at the network input size, with ids, source and fingerprint.

Its own module so that both the loaders of :mod:`poslib.data` and the embedded default of
:mod:`poslib.embedded` build on it without importing each other (``data`` imports
``embedded``, never the reverse).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """A list of RGB images at the network input size.

    Attributes
    ----------
    name : str
        Short name used in tables (``"SOD"``, ``"black"``, ``"embedded-test"``...).
    images : numpy.ndarray
        uint8 array of shape (N, size, size, 3).
    ids : list of str
        One identifier per image (file stem or crop description).
    source : str
        Where the images come from (a folder or a package), for provenance.
    kind : str
        ``"dataset"`` (a folder), ``"embedded"`` or ``"synthetic"``.
    """

    name: str
    images: np.ndarray
    ids: list[str]
    source: str
    kind: str
    _fingerprint: str | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the pixel content and ids: changes whenever any input changes."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(repr((self.images.shape, self.ids)).encode())
            digest.update(np.ascontiguousarray(self.images).tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict:
        """Provenance record: name, kind, source, count and fingerprint."""
        return {"name": self.name, "kind": self.kind, "source": self.source,
                "n_images": len(self), "fingerprint": self.fingerprint[:16]}
