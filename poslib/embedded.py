"""The embedded default: natural photos that installed packages ship, cut into deterministic crops.

Used when no data folder is set (README.md, "Datasets"): training crops and test crops come
from disjoint photos (scikit-image, scikit-learn, matplotlib), so no test crop shows a
training photo.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .image_set import ImageSet
from .image_files import DatasetError, load_rgb, resize_rgb

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
