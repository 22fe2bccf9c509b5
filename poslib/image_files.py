"""Reading image files, masks and label maps: one place that turns files into checked arrays.

Every file is read as it is displayed: an EXIF orientation tag (a photo stored rotated) is
applied to images and masks alike (``PIL.ImageOps.exif_transpose``), so a mask drawn on the
displayed photo stays aligned with it.

Images are read with Pillow and converted to 8-bit RGB: grayscale and palette images
are expanded, an alpha channel is dropped, 16-bit images are scaled to 8 bits.
Floating-point images must hold finite values in ``[0, 1]`` (scaled by 255); a NaN or
infinite pixel, or a value outside ``[0, 1]``, is refused naming the file, never clipped.

Masks and label maps are read in their stored bit depth, never scaled
(:func:`load_label_map`): a 16-bit label map keeps its ids (an id of 300 is refused by
:func:`check_label_ids`, not folded into 0/1) and a 16-bit mask with values 0/256 is a
two-valued mask. Transparency and palettes are read by their *visible* value: a mask whose
colour is constant carries its shape in the alpha channel; a palette mask is read through
its palette (an inverted palette is an inverted mask), a palette *label map* by its index
(the class id, as PASCAL VOC stores them); a file that carries values both in colour and in
transparency is refused.

Masks and label maps are checked when they are read, never silently reinterpreted
(:func:`binarise_mask`, :func:`check_label_ids`): a mask with exactly two values is
binary (the larger value is salient: 0/1, 0/255, 3/7 alike); an 8-bit mask with
intermediate values is a soft (antialiased) mask, thresholded at 127, only if it spans
the 8-bit range (darkest value <= 15, brightest >= 240) and at most a quarter of its
pixels are mid-grey (32..223); a 16-bit mask is judged by the same rule on the 0..65535
scale; anything else (a label map or a photo in the masks folder)
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
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import DATA_ENV

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset folder or file cannot be used; the message names it and says what to do."""


class DatasetWarning(UserWarning):
    """Dataset files that are used but deserve a look (e.g. masks with no salient pixel); names them."""


#: Soft (antialiased) 8-bit masks: darkest value at most this, brightest at least 255 - this.
SOFT_MASK_EXTREME = 15
#: Soft masks: at most this fraction of pixels may be mid-grey (32..223).
SOFT_MASK_MAX_MIDTONES = 0.25
#: EXIF tag of the orientation (1: stored as displayed).
EXIF_ORIENTATION = 0x0112
#: Pillow modes of integer single-channel images (8 bits are mode ``L``).
_INTEGER_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


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


def _upright(image: Image.Image) -> Image.Image:
    """The decoded image as displayed: turned by its EXIF orientation tag when it has one other than 1."""
    if image.getexif().get(EXIF_ORIENTATION, 1) in (None, 1):
        return image
    return ImageOps.exif_transpose(image)


def _integer_values(image: Image.Image, path: Path, what: str) -> np.ndarray:
    """The pixels of a 16/32-bit integer image as int64, refusing values outside 0..65535."""
    array = np.asarray(image, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise DatasetError(f"{what} {path} holds values {array.min()}..{array.max()}, outside the 16-bit range "
                           f"0..65535; save it as an 8- or 16-bit image.")
    return array


def check_float_pixels(array: np.ndarray, path: str | Path = "image") -> np.ndarray:
    """Refuse a floating-point image with a NaN or infinite pixel or a value outside ``[0, 1]``.

    Parameters
    ----------
    array : numpy.ndarray
        Decoded float pixels.
    path : str or Path
        The file, for messages.

    Returns
    -------
    numpy.ndarray
        ``array``, unchanged.

    Raises
    ------
    DatasetError
        Naming the file, the number of non-finite pixels and where the first one is, or the
        range found.

    Examples
    --------
    >>> check_float_pixels(np.array([[0.0, np.nan]]), "a.tif")
    Traceback (most recent call last):
    ...
    poslib.image_files.DatasetError: image a.tif holds 1 NaN or infinite pixel value(s) (the first at row 0, column 1); replace or remove the file.
    """
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0][:2])
        raise DatasetError(f"image {path} holds {int(bad.sum())} NaN or infinite pixel value(s) (the first at row "
                           f"{row}, column {column}); replace or remove the file.")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise DatasetError(f"image {path} is a floating-point image with values {array.min():.4g}..{array.max():.4g}; "
                           f"floating-point images must lie in [0, 1] (they are scaled by 255). Rescale it to "
                           f"[0, 1] or save it as an 8-bit image.")
    return array


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3), turned as displayed (EXIF orientation).

    Grayscale, palette and RGBA images are converted; 16-bit images are scaled to 8 bits;
    floating-point images must hold finite values in ``[0, 1]`` (scaled by 255).

    Raises
    ------
    DatasetError
        If the file is missing, cannot be decoded, is larger than Pillow's
        decompression-bomb limit, or holds NaN, infinite or out-of-range pixels, naming the file.
    """
    path = Path(path)
    try:
        with _open_image(path) as opened:
            opened.load()
            image = _upright(opened)
            if image.mode in _INTEGER_MODES:
                array = _integer_values(image, path, "image")
                top = 65535.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
                gray = np.round(array / top * 255.0).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            if image.mode == "F":
                array = check_float_pixels(np.asarray(image, dtype=np.float64), path)
                gray = np.round(array * 255.0).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {path}") from None
    except DatasetError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(
            f"cannot read image {path}: {error}. Replace or remove the file (it may be truncated or not an image)."
        ) from None


def _visible_gray(image: Image.Image, path: Path) -> np.ndarray:
    """One channel of an 8-bit image as displayed: its gray value, or its alpha when only the alpha varies.

    Raises
    ------
    DatasetError
        If the colour channels differ (a colour image), or both the colour and the
        transparency vary.
    """
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    rgba = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)
    rgb = rgba[..., :3]
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
        raise DatasetError(f"mask / label file {path} is a colour image; expected one channel of class ids or 0/255")
    gray = rgb[..., 0]
    if not has_alpha or (rgba[..., 3] == 255).all():
        return gray
    if gray.min() == gray.max():  # constant colour: the shape is in the transparency
        return rgba[..., 3]
    raise DatasetError(f"mask / label file {path} carries values both in its gray levels and in its transparency "
                       f"(alpha), so what it marks is ambiguous; save it as a one-channel (L) PNG without alpha.")


def load_label_map(path: str | Path, mask: bool = False) -> np.ndarray:
    """Read a single-channel mask or label map in its stored bit depth, without any resampling or scaling.

    The file is turned as displayed (EXIF orientation). 16-bit files keep their values;
    alpha and palettes are read as described in the module docstring.

    Parameters
    ----------
    path : str or Path
    mask : bool
        A saliency mask: a palette file is read through its palette (its visible gray
        value). Otherwise (a label map) a palette file is read by its index, the class id.

    Returns
    -------
    numpy.ndarray
        (H, W): uint8 when every value fits in 8 bits, else uint16.

    Raises
    ------
    DatasetError
        If the file is missing, unreadable, too large (decompression bomb), a floating-point
        image, has colour channels that differ, or holds values both in colour and in alpha.
    """
    path = Path(path)
    try:
        with _open_image(path) as opened:
            opened.load()
            image = _upright(opened)
            if image.mode in _INTEGER_MODES:
                array = _integer_values(image, path, "mask / label file")
                return array.astype(np.uint8 if array.max(initial=0) <= 255 else np.uint16)
            if image.mode == "F":
                raise DatasetError(f"mask / label file {path} is a floating-point image; save masks and label maps "
                                   f"as 8- or 16-bit integer images (0/255 or class ids).")
            if image.mode in ("1", "L") or (image.mode == "P" and not mask):
                return np.asarray(image if image.mode != "1" else image.convert("L"), dtype=np.uint8)
            return _visible_gray(image, path)
    except FileNotFoundError:
        raise DatasetError(f"mask / label file not found: {path}") from None
    except DatasetError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"cannot read mask / label file {path}: {error}") from None


def _values_text(values: np.ndarray, limit: int = 12) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return f"{{{shown}{', ...' if len(values) > limit else ''}}} ({len(values)} distinct value(s))"


def binarise_mask(mask: np.ndarray, path: str | Path = "mask") -> np.ndarray:
    """A saliency mask as 0/1 uint8, by the rules of the module docstring.

    * one value: all background if it is 0, else all salient;
    * exactly two values (0/1, 0/255, any two): the larger value is salient;
    * more values: a soft 8-bit mask (darkest <= :data:`SOFT_MASK_EXTREME`, brightest >=
      255 - :data:`SOFT_MASK_EXTREME`, at most :data:`SOFT_MASK_MAX_MIDTONES` of the pixels
      in 32..223) is thresholded at ``> 127``; a mask with values above 255 (16-bit) is judged
      by the same rule scaled to 0..65535; anything else is refused.

    The two-value rule is applied to the stored values, before any scaling: a 16-bit mask
    holding 0 and 256 is a binary mask.

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
    scale = 257 if values[-1] > 255 else 1  # 65535 = 255 * 257: the 8-bit rule on the 16-bit scale
    midtones = float(((mask >= 32 * scale) & (mask <= 223 * scale)).mean())
    if (values[0] <= SOFT_MASK_EXTREME * scale and values[-1] >= (255 - SOFT_MASK_EXTREME) * scale
            and midtones <= SOFT_MASK_MAX_MIDTONES):
        return (mask > 127 * scale).astype(np.uint8)
    raise DatasetError(
        f"mask {path} is neither binary nor a soft 8-bit mask: values {_values_text(values)}, "
        f"{midtones:.0%} of pixels mid-grey. A saliency mask must hold two values (e.g. 0/1 or 0/255; the larger "
        f"is salient) or be an antialiased 0..255 (or 0..65535) mask; is this a label map or a photo in the masks "
        f"folder?")


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
