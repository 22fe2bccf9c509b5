"""Find near-duplicate photos between a training and a test image set.

Position readouts are trained on one photo set (ECSSD) and tested on another (SOD); a test
photo that also sits in the training set, resized or re-encoded, leaks. ECSSD and SOD
overlap: both contain photos of the Berkeley segmentation dataset (BSDS300), and 74 of
SOD's 300 photos are also ECSSD photos (ECSSD stores them with the long side resized to
400 px and re-encoded as JPEG).

Method: a perceptual hash (DCT "pHash", Zauner 2010), implemented with numpy and PIL.

1. Decode the image in grayscale at reduced scale (JPEG DCT-domain scaling, fast), then
   resize it to a 32x32 thumbnail with a box filter. The aspect ratio is dropped, so a
   resized copy gives the same thumbnail up to resampling noise.
2. Take the 2-D DCT-II of the thumbnail and keep the 8x8 lowest frequencies, without the
   DC term (mean brightness): 63 coefficients that describe the image's coarse layout.
3. One bit per coefficient: above or below their median. The bits do not change when the
   brightness or contrast changes, and hardly when the image is resized, re-encoded as
   JPEG, or cropped by a few percent (a crop shifts and stretches the coarse layout a
   little; the low frequencies move slowly).

Two images are near-duplicates when their hashes differ in at most ``threshold`` of the
:data:`HASH_BITS` bits (Hamming distance). Barring ties, every hash has 31 bits set (above the
median of 63), so distances are even. Bits of unrelated photos agree by chance: their
distance is about 31.5 +- 4 bits (Binomial(63, 1/2)); real photos are not coin flips
(sky-over-ground layouts share low frequencies), so the tail is heavier than binomial.

Measured on ECSSD (1,000 photos) vs SOD (300): the 74 SOD photos that are ECSSD photos lie
at distance 0-6 from their copy (40 at 0, 30 at 2, 3 at 4, 1 at 6); the closest unrelated
pair lies at 14 (three SOD photos, checked by eye: different scenes), then 16.
:data:`DEFAULT_THRESHOLD` = 10 sits in that gap. On scikit-image's test photos, copies
resized to 2/3 and re-encoded at JPEG quality 60 stay at distance 0; crops of 2% of each
side reach 2-8 bits; crops of 5% a side reach 8-18 bits, so larger crops are not reliably
found (a hash of local features would be needed for those).
Hashing the 1,300 photos takes 1.5-3 s on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
from PIL import Image

from .image_files import DatasetError, list_images

#: Side of the grayscale thumbnail the DCT is taken of.
THUMBNAIL_SIDE = 32
#: Side of the block of lowest DCT frequencies kept (the DC term is dropped).
LOW_FREQUENCY_SIDE = 8
#: Bits in a hash: the low-frequency block without its DC term.
HASH_BITS = LOW_FREQUENCY_SIDE * LOW_FREQUENCY_SIDE - 1
#: Largest Hamming distance counted as a near-duplicate by default. Chosen on ECSSD vs SOD
#: (see the module docstring and ``tests/test_near_duplicates.py``): the SOD photos that are
#: also in ECSSD lie at distance 0-6 from their copy; the closest unrelated pair at 14.
DEFAULT_THRESHOLD = 10

ImageLike = Union[str, Path, np.ndarray, Image.Image]


@dataclass(frozen=True)
class NearDuplicatePair:
    """A training image and a test image whose hashes are within the threshold.

    Attributes
    ----------
    train_index, test_index : int
        Positions in the two input lists.
    distance : int
        Hamming distance of the two hashes, in bits (0 .. :data:`HASH_BITS`).
    train_name, test_name : str or None
        File paths when the inputs were paths, else None.
    """

    train_index: int
    test_index: int
    distance: int
    train_name: str | None = None
    test_name: str | None = None


def _dct_matrix(size: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``D`` (``D @ x`` transforms the columns of ``x``)."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT = _dct_matrix(THUMBNAIL_SIDE)


def grayscale_thumbnail(image: ImageLike, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A ``side`` x ``side`` float32 grayscale thumbnail of an image (aspect ratio dropped).

    Parameters
    ----------
    image : str, Path, numpy.ndarray or PIL.Image.Image
        A file path, a uint8 array (H, W, 3) RGB or (H, W) grayscale, or a PIL image.

    Returns
    -------
    numpy.ndarray
        Shape (side, side), values 0-255.
    """
    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            opened.draft("L", (4 * side, 4 * side))  # JPEG: decode at 1/2..1/8 scale, >= 4*side
            pil = opened.convert("L")
    elif isinstance(image, Image.Image):
        pil = image.convert("L")
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise TypeError(f"image arrays must be uint8 (H, W[, 3]), got {array.dtype}")
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
            raise ValueError(f"image arrays must have shape (H, W) or (H, W, 3), got {array.shape}")
        pil = Image.fromarray(array[..., :3] if array.ndim == 3 else array).convert("L")
    return np.asarray(pil.resize((side, side), Image.Resampling.BOX), dtype=np.float32)


def perceptual_hash(image: ImageLike) -> np.ndarray:
    """The DCT perceptual hash of one image, as :data:`HASH_BITS` booleans.

    Parameters
    ----------
    image : str, Path, numpy.ndarray or PIL.Image.Image
        See :func:`grayscale_thumbnail`.

    Returns
    -------
    numpy.ndarray
        Bool, shape (HASH_BITS,).
    """
    thumbnail = grayscale_thumbnail(image)
    coefficients = _DCT @ thumbnail @ _DCT.T
    low = coefficients[:LOW_FREQUENCY_SIDE, :LOW_FREQUENCY_SIDE].ravel()[1:]  # drop the DC term
    return low > np.median(low)


def perceptual_hashes(images: Iterable[ImageLike]) -> np.ndarray:
    """Hashes of many images, shape (N, HASH_BITS), bool."""
    hashes = [perceptual_hash(image) for image in images]
    return np.stack(hashes) if hashes else np.zeros((0, HASH_BITS), dtype=bool)


def hamming_distances(hashes_a: np.ndarray, hashes_b: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances between two sets of hashes.

    Parameters
    ----------
    hashes_a, hashes_b : numpy.ndarray
        Bool, shapes (N, bits) and (M, bits).

    Returns
    -------
    numpy.ndarray
        Int32, shape (N, M).
    """
    a = np.asarray(hashes_a, dtype=np.float32)
    b = np.asarray(hashes_b, dtype=np.float32)
    # bits that differ: a=1,b=0 plus a=0,b=1 (exact in float32 for counts this small)
    return np.rint(a @ (1.0 - b).T + (1.0 - a) @ b.T).astype(np.int32)


def _as_image_list(images: Sequence[ImageLike] | np.ndarray | str | Path) -> list[ImageLike]:
    if isinstance(images, (str, Path)):
        return list(list_images(images))
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    return list(images)


def find_near_duplicates(train_images: Sequence[ImageLike] | np.ndarray | str | Path,
                         test_images: Sequence[ImageLike] | np.ndarray | str | Path,
                         threshold: int = DEFAULT_THRESHOLD) -> list[NearDuplicatePair]:
    """Pairs (training image, test image) whose perceptual hashes are within ``threshold`` bits.

    Parameters
    ----------
    train_images, test_images : sequence, numpy.ndarray, str or Path
        Lists of file paths, uint8 arrays (H, W, 3) or PIL images; a uint8 array of shape
        (N, H, W, 3); or a folder (its image files, sorted by name).
    threshold : int
        Largest Hamming distance (out of :data:`HASH_BITS` bits) counted as a
        near-duplicate; :data:`DEFAULT_THRESHOLD` (10) separates resized/re-encoded copies
        (0-6 bits) from unrelated photos (>= 14 bits on ECSSD vs SOD); see the module
        docstring for the measurements and the chance level.

    Returns
    -------
    list of NearDuplicatePair
        Every pair within the threshold (a test image can match several training images),
        sorted by distance, then test index, then training index.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> photo = np.kron(rng.integers(0, 256, (8, 12, 3)), np.ones((20, 20, 1))).astype(np.uint8)
    >>> [(p.train_index, p.test_index) for p in find_near_duplicates([photo], [photo[:, ::-1], photo])]
    [(0, 1)]
    """
    if not 0 <= threshold <= HASH_BITS:
        raise ValueError(f"threshold must be between 0 and {HASH_BITS} bits, got {threshold}")
    train = _as_image_list(train_images)
    test = _as_image_list(test_images)
    distances = hamming_distances(perceptual_hashes(train), perceptual_hashes(test))
    train_idx, test_idx = np.nonzero(distances <= threshold)
    order = np.lexsort((train_idx, test_idx, distances[train_idx, test_idx]))

    def name(image: ImageLike) -> str | None:
        return str(image) if isinstance(image, (str, Path)) else None

    return [NearDuplicatePair(int(i), int(j), int(distances[i, j]), name(train[i]), name(test[j]))
            for i, j in zip(train_idx[order], test_idx[order])]


def near_duplicate_records(train_images, train_ids, test_images, test_ids,
                           threshold: int = DEFAULT_THRESHOLD) -> dict[int, dict]:
    """Test positions that are near-duplicates of a training image, each with its closest match.

    Returns
    -------
    dict
        Test index -> ``{"test": test id, "train": training id, "distance": bits}`` (the
        closest training image; ties: the first).

    Raises
    ------
    DatasetError
        If every test image is a near-duplicate (nothing would be left to test on), naming
        the count removed and the settings that chose the two sets.
    """
    records = {}
    for pair in find_near_duplicates(train_images, test_images, threshold):
        records.setdefault(pair.test_index, {"test": test_ids[pair.test_index], "train": train_ids[pair.train_index],
                                             "distance": pair.distance})
    if records and len(records) == len(test_ids):
        example = next(iter(records.values()))
        raise DatasetError(
            f"removing near-duplicates of training images left no test image: all {len(records)} of "
            f"{len(test_ids)} test images were removed (e.g. test {example['test']} matches training "
            f"{example['train']} at {example['distance']} bits). The training and test image settings "
            f"(train_images and test_images, or the dataset folders they default to) hold the same photos; "
            f"choose a test_images (or train_images) set that differs.")
    return records
