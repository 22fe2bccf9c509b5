"""Image sets: dataset folders under ``POSLIB_DATA``, any folder of photos, the embedded default.

Layout expected under the data root (see README.md, "Datasets")::

    ECSSD/images/*.jpg   ECSSD/masks/*.png
    SOD/images/*.jpg     SOD/masks/*.png
    CamVid/{train,val,test}/images/*.jpg   CamVid/{train,val,test}/labels/*.png

Images are read with Pillow and converted to 8-bit RGB: grayscale and palette images
are expanded, an alpha channel is dropped, 16-bit images are scaled to 8 bits. Natural
images are resized (squashed, bilinear) to the square network input, as in the paper's
public code.

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

With no data root, the *embedded default* is used: natural photos that installed
packages ship (scikit-image, scikit-learn, matplotlib), cut into deterministic random
crops. Training crops and test crops come from disjoint photos.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .config import DATA_ENV, REPO_ROOT, ConfigError, repo_relative
from .patterns import SYNTHETIC_NAMES, synthetic_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset folder or file cannot be used; the message names it and says what to do."""


class WeightsPathError(ConfigError):
    """A weights file the user named does not exist (an error, never a skipped row).

    Distinct from :class:`poslib.backbones.WeightsNotFoundError` (offline ImageNet weights
    missing), which probing turns into a visible skip.
    """


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


# ----------------------------------------------------------------------------- files


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
    poslib.data.DatasetError: label map a.png holds class id(s) {200} (1 distinct value(s)) outside 0..10 (void id 11); found {0, 200} (2 distinct value(s)). Fix or remove the file, or check that the dataset's class ids match this task's classes.
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


def subset_indices(n_items: int, limit: int, seed: int = 0) -> np.ndarray:
    """A deterministic, sorted random subset of ``limit`` indices out of ``n_items`` (all if limit is 0)."""
    if limit <= 0 or limit >= n_items:
        return np.arange(n_items)
    return np.sort(np.random.default_rng(seed).permutation(n_items)[:limit])


def split_indices(n_items: int, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train / test split of ``range(n_items)``; both parts sorted.

    Examples
    --------
    >>> train, test = split_indices(10, 0.3)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(10))
    (7, 3, True)
    """
    order = np.random.default_rng(seed).permutation(n_items)
    n_test = int(round(n_items * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_image_folder(folder: str | Path, size: int, limit: int = 0, name: str | None = None,
                      seed: int = 0) -> ImageSet:
    """Load (a deterministic subset of) the images of a folder at the input size.

    Parameters
    ----------
    folder : str or Path
        Folder of image files.
    size : int
        Side of the square network input.
    limit : int
        Keep at most this many images (a seeded random subset); 0 keeps all.
    name : str, optional
        Name used in tables; defaults to the folder's name (its parent's if it is ``images``).
    seed : int
        Seed of the subset.
    """
    folder = Path(folder)
    files = list_images(folder)
    files = [files[i] for i in subset_indices(len(files), limit, seed)]
    images = np.stack([resize_rgb(load_rgb(f), size) for f in files])
    default_name = folder.parent.name if folder.name == "images" else folder.name
    return ImageSet(name=name or default_name, images=images, ids=[f.stem for f in files],
                    source=repo_relative(folder), kind="dataset")


# ----------------------------------------------------------------------------- data root


def resolve_data_root(data_root: str | Path | None = None) -> Path | None:
    """The datasets folder: ``data_root`` if given, else ``$POSLIB_DATA``, else None.

    A relative path is taken relative to the repository root (so the driver can pass
    ``../data`` and recorded parameters hold no absolute path).

    Raises
    ------
    DatasetError
        If a folder is named but does not exist or is empty.
    """
    origin = "data_root setting"
    if not data_root:
        data_root, origin = os.environ.get(DATA_ENV, ""), f"environment variable {DATA_ENV}"
    if not data_root:
        return None
    root = Path(data_root).expanduser()
    root = (root if root.is_absolute() else REPO_ROOT / root).resolve()
    if not root.is_dir():
        raise DatasetError(f"data folder {root} (from the {origin}) does not exist. "
                           f"Create it with the layout in README.md, or unset it to use the embedded default.")
    if not any(root.iterdir()):
        raise DatasetError(f"data folder {root} (from the {origin}) is empty. "
                           f"Put ECSSD/, SOD/ or CamVid/ in it (README.md, 'Datasets'), or unset it.")
    return root


def dataset_image_dir(root: Path, dataset: str) -> Path:
    """The ``images/`` folder of ``dataset`` under ``root`` (error if missing)."""
    folder = root / dataset / "images"
    if not folder.is_dir():
        raise DatasetError(f"dataset {dataset!r} not found: expected a folder {folder} "
                           f"(README.md, 'Datasets', shows the layout).")
    return folder


def natural_image_set(spec: str, role: str, size: int, limit: int, data_root: Path | None,
                      seed: int = 0) -> ImageSet:
    """Resolve a notebook's image-set setting into an :class:`ImageSet`.

    Parameters
    ----------
    spec : str
        ``""`` for the role's default, a dataset name under the data root (``"ECSSD"``),
        ``"embedded"``, or a path to any folder of images.
    role : {"train", "test"}
        Which default applies: ECSSD for training, SOD for testing; the embedded
        default's training or test photos when there is no data root.
    size, limit, seed :
        As in :func:`load_image_folder`.
    data_root : Path or None
        Result of :func:`resolve_data_root`.
    """
    if role not in ("train", "test"):
        raise ConfigError(f"role must be 'train' or 'test', not {role!r}")
    if not spec:
        if data_root is None:
            spec = "embedded"
        else:
            spec = "ECSSD" if role == "train" else "SOD"
    if spec == "embedded":
        return embedded_image_set(role, size, limit or 64, seed=seed)
    path = Path(spec).expanduser()
    if not path.is_absolute() and data_root is not None and (data_root / spec).is_dir():
        folder = dataset_image_dir(data_root, spec)
        return load_image_folder(folder, size, limit, name=spec, seed=seed)
    if path.is_dir():
        folder = path / "images" if (path / "images").is_dir() else path
        return load_image_folder(folder, size, limit, seed=seed)
    where = f"under the data root {data_root}" if data_root else "(no data root is set)"
    raise DatasetError(f"{role} image set {spec!r} not found {where}: give a dataset name such as 'ECSSD', "
                       f"'embedded', or a path to a folder of images.")


def synthetic_image_sets(size: int, seed: int = 0) -> list[ImageSet]:
    """The Black, White and Noise inputs, one single-image set each."""
    return [ImageSet(name=name, images=synthetic_image(name, size, seed)[None], ids=[name],
                     source=f"poslib.patterns.synthetic_image(seed={seed})", kind="synthetic")
            for name in SYNTHETIC_NAMES]


# ----------------------------------------------------------------------------- embedded default

#: Photos shipped inside installed packages: (package, path inside it).
EMBEDDED_TRAIN_PHOTOS = (
    ("skimage", "data/astronaut.png"), ("skimage", "data/coffee.png"), ("skimage", "data/chelsea.png"),
    ("skimage", "data/rocket.jpg"), ("skimage", "data/motorcycle_left.png"), ("skimage", "data/camera.png"),
    ("skimage", "data/coins.png"), ("skimage", "data/moon.png"), ("skimage", "data/grass.png"),
    ("skimage", "data/gravel.png"), ("skimage", "data/brick.png"), ("skimage", "data/hubble_deep_field.jpg"),
)
EMBEDDED_TEST_PHOTOS = (
    ("sklearn", "datasets/images/china.jpg"), ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"), ("skimage", "data/ihc.png"),
)


def photo_list(role: str) -> tuple[tuple[str, str], ...]:
    """The (package, path) entries of the embedded photos for ``role`` ("train" or "test")."""
    return EMBEDDED_TRAIN_PHOTOS if role == "train" else EMBEDDED_TEST_PHOTOS


def embedded_photo_paths(role: str) -> list[Path]:
    """Paths of the embedded default's photos for ``role`` ("train" or "test").

    Raises
    ------
    DatasetError
        If a package that ships a photo is not installed.
    """
    paths = []
    for package, relative in photo_list(role):
        try:
            path = Path(str(resources.files(package).joinpath(relative)))
        except ModuleNotFoundError:
            raise DatasetError(f"the embedded default needs the package {package!r}: pip install -r requirements.txt") from None
        if not path.is_file():
            raise DatasetError(f"embedded photo {relative} is missing from the installed {package!r} package")
        paths.append(path)
    return paths


def random_crops(photo: np.ndarray, n_crops: int, size: int, rng: np.random.Generator,
                 min_fraction: float = 0.45) -> tuple[list[np.ndarray], list[str]]:
    """Cut ``n_crops`` random square-ish crops (random side and place, random flip) from a photo."""
    height, width = photo.shape[:2]
    crops, ids = [], []
    for _ in range(n_crops):
        side_h = int(rng.uniform(min_fraction, 1.0) * height)
        side_w = int(np.clip(side_h * rng.uniform(0.75, 1.33), 16, width))
        top = int(rng.integers(0, height - side_h + 1))
        left = int(rng.integers(0, width - side_w + 1))
        crop = photo[top:top + side_h, left:left + side_w]
        flip = bool(rng.integers(0, 2))
        if flip:
            crop = crop[:, ::-1]
        crops.append(resize_rgb(np.ascontiguousarray(crop), size))
        ids.append(f"y{top}x{left}h{side_h}w{side_w}{'f' if flip else ''}")
    return crops, ids


def embedded_image_set(role: str, size: int, n_images: int, seed: int = 0) -> ImageSet:
    """Deterministic crops of the embedded photos for ``role``; train and test photos are disjoint."""
    paths = embedded_photo_paths(role)
    rng = np.random.default_rng([seed, 0 if role == "train" else 1])
    per_photo = np.full(len(paths), n_images // len(paths))
    per_photo[: n_images % len(paths)] += 1
    images, ids = [], []
    for path, count in zip(paths, per_photo):
        crops, crop_ids = random_crops(load_rgb(path), int(count), size, rng)
        images += crops
        ids += [f"{path.stem}:{c}" for c in crop_ids]
    return ImageSet(name=f"embedded-{role}", images=np.stack(images), ids=ids,
                    source="photos shipped by " + ", ".join(sorted({package for package, _ in photo_list(role)})),
                    kind="embedded")


# ----------------------------------------------------------------------------- paired data


def find_pairs(image_dir: str | Path, target_dir: str | Path, target_suffix: str = ".png") -> list[tuple[Path, Path]]:
    """Match image files with mask / label files of the same stem.

    Raises
    ------
    DatasetError
        If either folder is missing or empty, or an image has no target file (or the reverse).
    """
    images = list_images(image_dir)
    targets = {p.stem: p for p in list_images(target_dir)}
    missing = [p.name for p in images if p.stem not in targets]
    extra = sorted(set(targets) - {p.stem for p in images})
    if missing or extra:
        raise DatasetError(
            f"images in {image_dir} and masks/labels in {target_dir} do not pair up: "
            f"{len(missing)} image(s) without a target (e.g. {missing[:3]}), "
            f"{len(extra)} target(s) without an image (e.g. {extra[:3]}). Each pair must share its file stem."
        )
    return [(p, targets[p.stem]) for p in images]


def load_pair(image_path: Path, target_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image and its mask / label map, checking that their sizes agree.

    Raises
    ------
    DatasetError
        Naming both files, if their pixel sizes differ.
    """
    image, target = load_rgb(image_path), load_label_map(target_path)
    if image.shape[:2] != target.shape:
        raise DatasetError(f"size mismatch: image {image_path} is {image.shape[1]}x{image.shape[0]} but "
                           f"{target_path} is {target.shape[1]}x{target.shape[0]}; a pair must have the same size.")
    return image, target


@dataclass
class PairedSet:
    """Images with a per-pixel target (binary saliency mask or class-id label map), resized.

    Attributes
    ----------
    name : str
        Short name used in tables (``"ECSSD-test"``, ``"SOD"``, ``"CamVid-test"``...).
    images : numpy.ndarray
        uint8, shape (N, H, W, 3).
    targets : numpy.ndarray
        uint8, shape (N, H, W): 0/1 for masks, class ids (with an ignore id) for label maps.
    ids : list of str
        File stems (or scene descriptions).
    source : str
        Folder or generator, for provenance.
    kind : str
        ``"dataset"`` or ``"embedded"``.
    """

    name: str
    images: np.ndarray
    targets: np.ndarray
    ids: list[str]
    source: str
    kind: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over images, targets and ids."""
        digest = hashlib.sha256()
        digest.update(repr((self.images.shape, self.targets.shape, self.ids)).encode())
        digest.update(np.ascontiguousarray(self.images).tobytes())
        digest.update(np.ascontiguousarray(self.targets).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict:
        """Provenance record: name, kind, source, count and fingerprint."""
        return {"name": self.name, "kind": self.kind, "source": self.source, "n_images": len(self),
                "size_hw": list(self.images.shape[1:3]), "fingerprint": self.fingerprint[:16]}


def load_paired_folder(image_dir: str | Path, target_dir: str | Path, size_hw: tuple[int, int],
                       binary: bool, limit: int = 0, name: str | None = None, seed: int = 0,
                       indices=None, n_classes: int | None = None, void_id: int | None = None) -> PairedSet:
    """Load image / mask (or label map) pairs of the same stem, resized to ``size_hw``.

    Images are resized bilinearly; targets with nearest-neighbour sampling, so class ids stay
    class ids. Masks become 0/1 by :func:`binarise_mask` (two-valued masks: the larger value
    is salient; soft 8-bit masks: ``> 127``; anything else is refused). Label maps are
    checked with :func:`check_label_ids` when ``n_classes`` is given.

    Parameters
    ----------
    image_dir, target_dir : str or Path
        Folders of images and of masks / label maps; files pair up by stem.
    size_hw : (int, int)
        Output (height, width).
    binary : bool
        Read the targets as saliency masks (:func:`binarise_mask`) instead of class ids.
    limit : int
        Keep at most this many pairs (a seeded random subset); 0 keeps all.
    name : str, optional
        Name used in tables (default: the dataset folder's name).
    seed : int
        Seed of the subset.
    indices : array_like of int, optional
        Load exactly these pairs (positions in the stem-sorted list) instead of a subset.
    n_classes : int, optional
        For label maps: valid class ids are ``0..n_classes-1`` (and ``void_id``).
    void_id : int, optional
        The label id that is ignored (void).

    Raises
    ------
    DatasetError
        If the folders do not pair up, an image and its target differ in size, a mask is
        neither binary nor soft, or a label id is out of range (naming the file).
    """
    pairs = find_pairs(image_dir, target_dir)
    chosen = subset_indices(len(pairs), limit, seed) if indices is None else np.asarray(indices, dtype=np.int64)
    pairs = [pairs[i] for i in chosen]
    height, width = size_hw
    images, targets = [], []
    for image_path, target_path in pairs:
        image, target = load_pair(image_path, target_path)
        if binary:
            target = binarise_mask(target, target_path)
        elif n_classes is not None:
            check_label_ids(target, n_classes, void_id, target_path)
        images.append(np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), dtype=np.uint8))
        targets.append(np.asarray(Image.fromarray(target).resize((width, height), Image.NEAREST), dtype=np.uint8))
    folder = Path(image_dir)
    default_name = folder.parent.name if folder.name == "images" else folder.name
    return PairedSet(name or default_name, np.stack(images), np.stack(targets), [p.stem for p, _ in pairs],
                     repo_relative(folder), "dataset")
