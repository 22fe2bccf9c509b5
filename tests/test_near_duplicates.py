"""Near-duplicate detection between training and test photo sets (poslib.near_duplicates)."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from poslib import near_duplicates
from poslib.near_duplicates import DEFAULT_THRESHOLD, find_near_duplicates, perceptual_hash

skimage_data = pytest.importorskip("skimage.data")


def _resized_jpeg_copy(image: np.ndarray, scale: float = 0.6, quality: int = 60) -> np.ndarray:
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((round(width * scale), round(height * scale)), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _hamming(a, b) -> int:
    return int((perceptual_hash(a) != perceptual_hash(b)).sum())


def test_resized_reencoded_and_slightly_cropped_copies_are_found_different_photos_are_not(tmp_path):
    astronaut, coffee, cat = skimage_data.astronaut(), skimage_data.coffee(), skimage_data.chelsea()
    height, width = astronaut.shape[:2]
    copy = _resized_jpeg_copy(astronaut)
    cropped = astronaut[height // 50: height - height // 50, width // 50: width - width // 50]  # 2% a side
    assert _hamming(astronaut, copy) <= 2
    assert _hamming(astronaut, cropped) <= DEFAULT_THRESHOLD
    assert min(_hamming(astronaut, coffee), _hamming(astronaut, cat), _hamming(coffee, cat)) > 2 * DEFAULT_THRESHOLD

    pairs = find_near_duplicates([astronaut, coffee], [cat, copy, cropped])
    assert [(p.train_index, p.test_index) for p in pairs] == [(0, 1), (0, 2)]
    assert pairs[0].distance <= pairs[1].distance and pairs[0].train_name is None

    # file paths and folders work too, and give the same distances
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    Image.fromarray(copy).save(tmp_path / "b.jpg", quality=90)
    Image.fromarray(cat).save(tmp_path / "c.jpg")
    by_path = find_near_duplicates([tmp_path / "a.png"], [tmp_path / "b.jpg", tmp_path / "c.jpg"])
    assert [(p.test_index, p.test_name) for p in by_path] == [(0, str(tmp_path / "b.jpg"))]
    by_folder = find_near_duplicates(tmp_path, [copy])  # a.png, b.jpg, c.jpg, sorted by name
    assert sorted(p.train_name for p in by_folder) == [str(tmp_path / "a.png"), str(tmp_path / "b.jpg")]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        find_near_duplicates([], [], threshold=64)
    with pytest.raises(TypeError, match="uint8"):
        perceptual_hash(np.zeros((8, 8, 3), dtype=np.float32))
    assert find_near_duplicates([], []) == []


def test_ecssd_and_sod_share_74_photos(data_root):
    folders = [data_root / name / "images" for name in ("ECSSD", "SOD")] if data_root is not None else []
    if not folders or not all(folder.is_dir() for folder in folders):
        pytest.skip("ECSSD and SOD are not on this machine (set POSLIB_DATA)")
    ecssd, sod = (near_duplicates.list_images(folder) for folder in folders)
    assert (len(ecssd), len(sod)) == (1000, 300)
    start = time.perf_counter()
    ecssd_hashes = near_duplicates.perceptual_hashes(ecssd)
    sod_hashes = near_duplicates.perceptual_hashes(sod)
    assert time.perf_counter() - start < 30  # ~2 s on one core; generous for a loaded machine
    distances = near_duplicates.hamming_distances(ecssd_hashes, sod_hashes)

    pairs = find_near_duplicates(ecssd, sod)
    matched_sod = {p.test_index for p in pairs}
    # Known: 74 of SOD's 300 photos are ECSSD photos. Measured at the default threshold: 74,
    # one ECSSD match each, all within 6 bits; the next-closest (unrelated) pairs are at 14.
    assert 70 <= len(matched_sod) <= 78
    assert len(pairs) == len(matched_sod)
    assert max(p.distance for p in pairs) <= 6
    # a far-apart pair is not flagged: the SOD photo farthest from ECSSD photo 0
    far = int(distances[0].argmax())
    assert distances[0, far] > 3 * DEFAULT_THRESHOLD and (0, far) not in {(p.train_index, p.test_index) for p in pairs}
    # matches pair an ECSSD photo with a BSDS photo of the same aspect (resized, not cropped)
    for pair in pairs[:5]:
        with Image.open(pair.train_name) as train, Image.open(pair.test_name) as test:
            assert abs(train.width / train.height - test.width / test.height) < 0.02
