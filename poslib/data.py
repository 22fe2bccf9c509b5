"""Image sets: dataset folders under ``POSLIB_DATA``, any folder of photos, the embedded default.

Layout expected under the data root (see README.md, "Datasets")::

    ECSSD/images/*.jpg   ECSSD/masks/*.png
    SOD/images/*.jpg     SOD/masks/*.png
    CamVid/{train,val,test}/images/*.jpg   CamVid/{train,val,test}/labels/*.png

Files are read and checked by :mod:`poslib.image_files`. Natural images are resized
(squashed, bilinear) to the square network input, as in the paper's public code.

With no data root, the *embedded default* is used (:mod:`poslib.embedded`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .config import DATA_ENV, REPO_ROOT, ConfigError, repo_relative
from .embedded import embedded_image_set
from .image_files import (IMAGE_SUFFIXES, DatasetError, DatasetWarning, binarise_mask, check_label_ids,  # noqa: F401
                          list_images, load_label_map, load_rgb, resize_rgb)
from .image_set import ImageSet
from .patterns import SYNTHETIC_NAMES, synthetic_image


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


#: The natural image sets used when a setting is empty and a data root is set.
DEFAULT_IMAGE_SETS = {"train": "ECSSD", "test": "PASCAL-S"}


def natural_image_set(spec: str, role: str, size: int, limit: int, data_root: Path | None,
                      seed: int = 0) -> ImageSet:
    """Resolve a notebook's image-set setting into an :class:`ImageSet`.

    Parameters
    ----------
    spec : str
        ``""`` for the role's default, a dataset name or sub-folder under the data root
        (``"ECSSD"``, ``"CamVid/test"``), ``"embedded"``, or a path to any folder of images
        (a relative path is taken relative to the repository root, as for the data root).
    role : {"train", "test"}
        Which default applies: :data:`DEFAULT_IMAGE_SETS` (a profile's ``train_images`` /
        ``test_images`` are passed as ``spec``); the embedded default's training or test
        photos when there is no data root.
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
            spec = DEFAULT_IMAGE_SETS[role]
    if spec == "embedded":
        return embedded_image_set(role, size, limit or 64, seed=seed)
    path = Path(spec).expanduser()
    if not path.is_absolute():
        if data_root is not None and (data_root / spec).is_dir():
            return load_image_folder(dataset_image_dir(data_root, spec), size, limit, name=spec, seed=seed)
        path = REPO_ROOT / path  # like the data root: relative to the repository, not the kernel's folder
    if path.is_dir():
        folder = path / "images" if (path / "images").is_dir() else path
        return load_image_folder(folder, size, limit, seed=seed)
    where = f"under the data root {data_root}" if data_root else "(no data root is set)"
    raise DatasetError(f"{role} image set {spec!r} not found {where}: give a dataset name such as 'ECSSD', "
                       f"'embedded', or a path to a folder of images.")


def rolled_image_set(image_set: ImageSet, seed: int = 0) -> ImageSet:
    """The same images, each shifted circularly by its own random offset in x and y.

    Photos put their subject near the centre, so their content alone predicts position (a
    readout on raw pixels finds it). Rolling each image by a uniform random offset keeps
    every pixel and every local pattern but places the content anywhere, so nothing but the
    network itself can tie an output to a position: the negative control of notebook 01.

    Parameters
    ----------
    image_set : ImageSet
    seed : int
        Seed of the offsets (one (dy, dx) pair per image).

    Examples
    --------
    >>> images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    >>> rolled = rolled_image_set(ImageSet("t", images, ["a", "b"], "test", "synthetic"), seed=1)
    >>> rolled.name, rolled.images.shape, sorted(rolled.images.ravel()) == sorted(images.ravel())
    ('t-rolled', (2, 4, 4, 3), True)
    """
    rng = np.random.default_rng(seed)
    height, width = image_set.images.shape[1:3]
    offsets = np.stack([rng.integers(0, height, len(image_set)), rng.integers(0, width, len(image_set))], axis=1)
    images = np.stack([np.roll(image, (int(dy), int(dx)), axis=(0, 1))
                       for image, (dy, dx) in zip(image_set.images, offsets)])
    return ImageSet(name=f"{image_set.name}-rolled", images=images,
                    ids=[f"{i} rolled by ({dy}, {dx})" for i, (dy, dx) in zip(image_set.ids, offsets)],
                    source=f"{image_set.source}, each image rolled circularly (seed {seed})", kind=image_set.kind)


def synthetic_image_sets(size: int, seed: int = 0, n_noise: int = 1) -> list[ImageSet]:
    """The Black and White inputs (one image each: they are unique) and Noise (``n_noise`` images).

    Noise image ``i`` is the same generator with seed ``seed + i``, so a verdict on Noise has a
    spread over images like a natural test set.
    """
    sets = []
    for name in SYNTHETIC_NAMES:
        count = max(1, n_noise) if name == "noise" else 1
        images = np.stack([synthetic_image(name, size, seed + i) for i in range(count)])
        ids = [name] if count == 1 else [f"{name}-{seed + i}" for i in range(count)]
        sets.append(ImageSet(name=name, images=images, ids=ids, kind="synthetic",
                             source=f"poslib.patterns.synthetic_image(seed={seed}{f'..{seed + count - 1}' if count > 1 else ''})"))
    return sets


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


def load_pair(image_path: Path, target_path: Path, mask: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read an image and its mask / label map, checking that their sizes agree.

    ``mask`` reads a palette target by its visible value (see
    :func:`poslib.image_files.load_label_map`).

    Raises
    ------
    DatasetError
        Naming both files, if their pixel sizes differ.
    """
    image, target = load_rgb(image_path), load_label_map(target_path, mask)
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
    is salient; soft 8-bit masks: ``> 127``; anything else is refused). Masks that mark no
    salient pixel (all background; PASCAL-S holds five) are kept, counted and named in one
    :class:`poslib.image_files.DatasetWarning`. Label maps are checked with
    :func:`check_label_ids` when ``n_classes`` is given.

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
    images, targets, empty = [], [], []
    for image_path, target_path in pairs:
        image, target = load_pair(image_path, target_path, mask=binary)
        if binary:
            target = binarise_mask(target, target_path)
            if not target.any():
                empty.append(target_path.name)
        elif n_classes is not None:
            check_label_ids(target, n_classes, void_id, target_path)
        if target.max(initial=0) > 255:
            raise DatasetError(f"label map {target_path} holds ids above 255 ({int(target.max())}); targets are "
                               f"stored in 8 bits, so give n_classes to check the ids, or renumber them.")
        images.append(np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), dtype=np.uint8))
        targets.append(np.asarray(Image.fromarray(target).resize((width, height), Image.NEAREST), dtype=np.uint8))
    if empty:
        warnings.warn(DatasetWarning(
            f"{len(empty)} of {len(pairs)} masks in {repo_relative(target_dir)} mark no salient pixel (all "
            f"background): {', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}. They are kept; a prediction "
            f"on them scores F = 0. Remove those pairs if the object was lost when the masks were made."),
            stacklevel=2)
    folder = Path(image_dir)
    default_name = folder.parent.name if folder.name == "images" else folder.name
    return PairedSet(name or default_name, np.stack(images), np.stack(targets), [p.stem for p, _ in pairs],
                     repo_relative(folder), "dataset")
