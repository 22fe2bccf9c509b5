"""Procedurally generated scenes: the embedded default of notebook 05 (no dataset folder).

Saliency scenes paste one object on a natural-photo background (crops of the embedded
photos of :mod:`poslib.data`, training and test scenes on disjoint photos). The object is
an ellipse, a box or a triangle filled with a saturated colour over a texture from another
crop, and its centre is drawn with the centre bias of real saliency data (a Gaussian around
the image centre, ``sigma = CENTRE_SIGMA`` of the side, clipped). A second test set places
objects uniformly instead (``centre_bias=False``), a stand-in for the cross-dataset test.

Segmentation scenes have :data:`SEGMENTATION_CLASSES`: a background photo, a textured
"ground" band along the bottom edge (a position-bound class, like a road) and discs and
boxes anywhere; no pixel is void.
"""

from __future__ import annotations

import numpy as np

from .data import PairedSet
from .embedded import embedded_image_set

#: Standard deviation of the object-centre position, as a fraction of the image side.
CENTRE_SIGMA = 0.15
#: Class names of the segmentation scenes (ids are the positions).
SEGMENTATION_CLASSES = ("background", "ground", "disc", "box")
#: Label id that marks ignored pixels in scene label maps (none are generated).
SCENE_IGNORE_INDEX = 255


def shape_mask(height: int, width: int, kind: str, centre: tuple[float, float], radius: tuple[float, float],
               angle: float) -> np.ndarray:
    """Boolean mask of an ellipse, box or triangle.

    Parameters
    ----------
    height, width : int
        Image size.
    kind : {"ellipse", "box", "triangle"}
    centre : (float, float)
        (y, x) in pixels.
    radius : (float, float)
        Half-extent along the shape's own axes, in pixels.
    angle : float
        Rotation in radians.

    Examples
    --------
    >>> int(shape_mask(5, 5, "box", (2, 2), (1, 1), 0.0).sum())
    9
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dy, dx = ys - centre[0], xs - centre[1]
    u = (np.cos(angle) * dx + np.sin(angle) * dy) / max(radius[1], 1e-6)
    v = (-np.sin(angle) * dx + np.cos(angle) * dy) / max(radius[0], 1e-6)
    if kind == "ellipse":
        return u**2 + v**2 <= 1.0
    if kind == "box":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if kind == "triangle":
        return (v <= 1.0) & (v >= 2.0 * np.abs(u) - 1.0)
    raise ValueError(f"unknown shape {kind!r}; use ellipse, box or triangle")


def _fill(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A saturated random colour blended over a texture (float RGB in [0, 255])."""
    colour = rng.uniform(0, 255, size=3)
    colour[rng.integers(0, 3)] = rng.choice([10.0, 245.0])
    return 0.65 * colour + 0.35 * texture.astype(np.float64)


def saliency_scenes(role: str, n_scenes: int, size: int, seed: int = 0, centre_bias: bool = True,
                    name: str | None = None) -> PairedSet:
    """Scenes with one salient object each and its binary mask.

    Parameters
    ----------
    role : {"train", "test"}
        Which embedded photos provide the backgrounds (disjoint between roles).
    n_scenes : int
    size : int
        Square side.
    seed : int
    centre_bias : bool
        Draw object centres around the image centre (True) or uniformly (False).
    name : str, optional
        Name for tables (default ``scenes-<role>`` or ``scenes-<role>-uniform``).
    """
    rng = np.random.default_rng([seed, 5, 0 if role == "train" else 1, int(centre_bias)])
    photos = embedded_image_set(role, size, 2 * n_scenes, seed=seed + 101).images
    images = np.empty((n_scenes, size, size, 3), np.uint8)
    masks = np.empty((n_scenes, size, size), np.uint8)
    ids = []
    for index in range(n_scenes):
        background, texture = photos[2 * index], photos[2 * index + 1]
        if centre_bias:
            cy, cx = np.clip(rng.normal(0.5, CENTRE_SIGMA, size=2), 0.2, 0.8) * size
        else:
            cy, cx = rng.uniform(0.15, 0.85, size=2) * size
        kind = str(rng.choice(["ellipse", "box", "triangle"]))
        radius = rng.uniform(0.12, 0.28, size=2) * size
        mask = shape_mask(size, size, kind, (cy, cx), tuple(radius), float(rng.uniform(0, np.pi)))
        image = background.astype(np.float64)
        image[mask] = _fill(texture, rng)[mask]
        images[index] = np.clip(np.round(image), 0, 255).astype(np.uint8)
        masks[index] = mask
        ids.append(f"{kind}@y{cy:.0f}x{cx:.0f}")
    default = f"scenes-{role}" + ("" if centre_bias else "-uniform")
    return PairedSet(name or default, images, masks, ids, "poslib.scenes on embedded photos", "embedded")


def segmentation_scenes(role: str, n_scenes: int, size_hw: tuple[int, int], seed: int = 0,
                        name: str | None = None) -> PairedSet:
    """Scenes labelled with :data:`SEGMENTATION_CLASSES` (ground band at the bottom, discs, boxes).

    Parameters
    ----------
    role : {"train", "test"}
    n_scenes : int
    size_hw : (int, int)
        (height, width).
    seed : int
    name : str, optional
    """
    height, width = size_hw
    rng = np.random.default_rng([seed, 6, 0 if role == "train" else 1])
    side = max(height, width)
    photos = embedded_image_set(role, side, 2 * n_scenes, seed=seed + 202).images[:, :height, :width]
    images = np.empty((n_scenes, height, width, 3), np.uint8)
    labels = np.zeros((n_scenes, height, width), np.uint8)
    ground_colour = np.array([120.0, 110.0, 100.0])
    for index in range(n_scenes):
        image = photos[2 * index].astype(np.float64)
        texture = photos[2 * index + 1].astype(np.float64)
        label = labels[index]
        horizon = int(height * rng.uniform(0.6, 0.8))
        image[horizon:] = 0.6 * ground_colour + 0.4 * texture[horizon:]
        label[horizon:] = 1
        for _ in range(int(rng.integers(1, 4))):
            class_id = int(rng.integers(2, 4))
            centre = (rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width)
            radius = tuple(rng.uniform(0.07, 0.18, size=2) * side)
            mask = shape_mask(height, width, "ellipse" if class_id == 2 else "box", centre, radius,
                              float(rng.uniform(0, np.pi)))
            image[mask] = _fill(texture, rng)[mask]
            label[mask] = class_id
        images[index] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return PairedSet(name or f"seg-scenes-{role}", images, labels, [f"scene{i}" for i in range(n_scenes)],
                     "poslib.scenes on embedded photos", "embedded")
