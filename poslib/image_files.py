"""Reading image files, masks and label maps: one place that turns files into checked arrays.

Images are read with Pillow and converted to 8-bit RGB: grayscale and palette images
are expanded, an alpha channel is dropped, 16-bit images are scaled to 8 bits.

Masks and label maps are checked when they are read, never silently reinterpreted
(:func:`binarise_mask`, :func:`check_label_ids`): a mask with exactly two values is
binary (the larger value is salient: 0/1, 0/255, 3/7 alike); an 8-bit mask with
intermediate values is a soft (antialiased) mask, thresholded at 127, only if it spans
the 8-bit range (darkest value <= 15, brightest >= 240) and at most a quarter of its
pixels are mid-grey (32..223); anything else (a label map or a photo in the masks folder)
is refused, naming the file and the values found. Label ids outside ``0..n_classes-1``
other than the void id are refused the same way. Images larger than Pillow's
decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 Mpx) are refused,
naming the file and its size.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .config import DATA_ENV

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset folder or file cannot be used; the message names it and says what to do."""


#: Soft (antialiased) 8-bit masks: darkest value at most this, brightest at least 255 - this.
SOFT_MASK_EXTREME = 15
#: Soft masks: at most this fraction of pixels may be mid-grey (32..223).
SOFT_MASK_MAX_MIDTONES = 0.25


@contextmanager
def _open_image(path: Path):
    """``Image.open`` that turns Pillow's decompression-bomb error *and* warning into a DatasetError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetError(
            f"image {path} is too large to read safely ({error}). Downscale it (or remove it from the folder); "
            f"Pillow's limit is PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS} pixels."
        ) from None


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3).

    Grayscale, palette and RGBA images are converted; 16-bit images are scaled to 8 bits.

    Raises
    ------
    DatasetError
        If the file is missing, cannot be decoded, or is larger than Pillow's
        decompression-bomb limit, naming the file.
    """
    path = Path(path)
    try:
        with _open_image(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                top = 65535.0 if array.max() > 255 or image.mode.startswith("I;16") else 255.0
                gray = np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            if image.mode == "F":
                array = np.asarray(image, dtype=np.float64)
                gray = np.clip(np.round(array * (255.0 if array.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(
            f"cannot read image {path}: {error}. Replace or remove the file (it may be truncated or not an image)."
        ) from None


def load_label_map(path: str | Path) -> np.ndarray:
    """Read a single-channel mask or label map as uint8 (H, W), without any resampling.

    Raises
    ------
    DatasetError
        If the file is missing, unreadable, too large (decompression bomb), or has colour
        channels that differ.
    """
    path = Path(path)
    try:
        with _open_image(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.int64)
                if array.max() > 255:
                    array = array * 255 // 65535
                return array.astype(np.uint8)
            if image.mode in ("1", "L", "P"):
                return np.asarray(image if image.mode != "1" else image.convert("L"), dtype=np.uint8)
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"mask / label file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"cannot read mask / label file {path}: {error}") from None
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
        raise DatasetError(f"mask / label file {path} is a colour image; expected one channel of class ids or 0/255")
    return rgb[..., 0]


def _values_text(values: np.ndarray, limit: int = 12) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return f"{{{shown}{', ...' if len(values) > limit else ''}}} ({len(values)} distinct value(s))"


def binarise_mask(mask: np.ndarray, path: str | Path = "mask") -> np.ndarray:
    """A saliency mask as 0/1 uint8, by the rules of the module docstring.

    * one value: all background if it is 0, else all salient;
    * exactly two values (0/1, 0/255, any two): the larger value is salient;
    * more values: a soft 8-bit mask (darkest <= :data:`SOFT_MASK_EXTREME`, brightest >=
      255 - :data:`SOFT_MASK_EXTREME`, at most :data:`SOFT_MASK_MAX_MIDTONES` of the pixels
      in 32..223) is thresholded at ``> 127``; anything else is refused.

    Parameters
    ----------
    mask : numpy.ndarray
        (H, W) integer mask as read by :func:`load_label_map`.
    path : str or Path
        The file, for messages.

    Raises
    ------
    DatasetError
        Naming the file and the values found, for a mask that is neither binary nor soft.

    Examples
    --------
    >>> binarise_mask(np.array([[0, 1], [1, 0]])).tolist()
    [[0, 1], [1, 0]]
    >>> binarise_mask(np.array([[3, 7]])).tolist()
    [[0, 1]]
    """
    mask = np.asarray(mask)
    values = np.unique(mask)
    if len(values) == 1:
        return np.full(mask.shape, int(values[0] != 0), np.uint8)
    if len(values) == 2:
        return (mask == values[1]).astype(np.uint8)
    midtones = float(((mask >= 32) & (mask <= 223)).mean())
    if values[0] <= SOFT_MASK_EXTREME and values[-1] >= 255 - SOFT_MASK_EXTREME and midtones <= SOFT_MASK_MAX_MIDTONES:
        return (mask > 127).astype(np.uint8)
    raise DatasetError(
        f"mask {path} is neither binary nor a soft 8-bit mask: values {_values_text(values)}, "
        f"{midtones:.0%} of pixels mid-grey. A saliency mask must hold two values (e.g. 0/1 or 0/255; the larger "
        f"is salient) or be an antialiased 0..255 mask; is this a label map or a photo in the masks folder?")


def check_label_ids(labels: np.ndarray, n_classes: int, void_id: int | None, path: str | Path = "labels") -> None:
    """Refuse a label map with ids outside ``0..n_classes-1`` other than ``void_id``.

    Raises
    ------
    DatasetError
        Naming the file, the offending ids and the valid ones.

    Examples
    --------
    >>> check_label_ids(np.array([[0, 10, 11]]), 11, 11)
    >>> check_label_ids(np.array([[0, 200]]), 11, 11, "a.png")
    Traceback (most recent call last):
    ...
    poslib.image_files.DatasetError: label map a.png holds class id(s) {200} (1 distinct value(s)) outside 0..10 (void id 11); found {0, 200} (2 distinct value(s)). Fix or remove the file, or check that the dataset's class ids match this task's classes.
    """
    values = np.flatnonzero(np.bincount(np.asarray(labels, dtype=np.int64).ravel()))
    bad = values[(values >= n_classes) & (values != (-1 if void_id is None else void_id))]
    if len(bad):
        void = f" (void id {void_id})" if void_id is not None else ""
        raise DatasetError(
            f"label map {path} holds class id(s) {_values_text(bad)} outside 0..{n_classes - 1}{void}; found "
            f"{_values_text(values)}. Fix or remove the file, or check that the dataset's class ids match this "
            f"task's classes.")


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Squash-resize a uint8 RGB image to (size, size, 3) with bilinear interpolation."""
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def list_images(folder: str | Path) -> list[Path]:
    """Sorted image files directly inside ``folder``.

    Raises
    ------
    DatasetError
        If the folder is missing or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder not found: {folder}. Check the data root ({DATA_ENV}) or the folder setting.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f"image folder {folder} is empty: it holds no {'/'.join(IMAGE_SUFFIXES)} file.")
    return files
