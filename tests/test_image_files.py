"""poslib.image_files: reading images and refusing bad ones, naming the file."""

import numpy as np
import pytest
from PIL import Image

from poslib import image_files
from poslib.image_files import DatasetError


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_grayscale_rgba_and_16bit_images_are_converted(tmp_path, rng):
    gray = _save(tmp_path / "gray.png", rng.integers(0, 255, (8, 6), dtype=np.uint8))
    rgba = _save(tmp_path / "rgba.png", rng.integers(0, 255, (8, 6, 4), dtype=np.uint8))
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 6), 65535, dtype=np.uint16)).save(deep)
    for path in (gray, rgba, deep):
        image = image_files.load_rgb(path)
        assert image.shape == (8, 6, 3) and image.dtype == np.uint8
    assert image_files.load_rgb(deep).min() == 255  # full-scale 16-bit becomes full-scale 8-bit
    assert np.array_equal(image_files.load_rgb(rgba), np.asarray(Image.open(rgba))[..., :3])


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match="broken.jpg"):
        image_files.load_rgb(bad)


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width x height`` (no pixel data): enough for Pillow's size check."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(15000, 12000), (10000, 9000)])  # bomb error, and bomb warning
def test_decompression_bomb_is_refused_naming_the_file(tmp_path, size):
    bomb = _png_header_only(tmp_path / "huge.png", *size)
    with pytest.raises(DatasetError, match=r"huge\.png is too large.*Downscale"):
        image_files.load_rgb(bomb)
    with pytest.raises(DatasetError, match=r"huge\.png is too large"):
        image_files.load_label_map(bomb)
