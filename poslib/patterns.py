"""Position targets and synthetic test inputs.

Every target is the same map for every input image, min-max normalised to [0, 1]:

* ``H``  horizontal ramp, 0 at the left column, 1 at the right one;
* ``V``  vertical ramp, 0 at the top row, 1 at the bottom one;
* ``G``  isotropic Gaussian centred in the image with sigma = 127/256 of the side,
  min-max normalised so that the corners are 0 and the centre is 1;
* ``HS`` horizontal stripes: a cosine along y with 2.5 periods over the image height;
* ``VS`` vertical stripes: the same along x.

The synthetic inputs are ``black`` (all 0), ``white`` (all 1) and ``noise``: i.i.d. per
pixel and channel, half-normal with mean 25/255 (scale 0.1229), clipped at 200/255,
drawn from ``numpy.random.default_rng(seed)``. This imitates the dark, clipped noise
image of the paper's public code (mean 25/255, max 200/255).
"""

from __future__ import annotations

import numpy as np

from .config import ConfigError, check_choice

#: Target names in the order every table and tensor uses.
PATTERN_NAMES: tuple[str, ...] = ("H", "V", "G", "HS", "VS")
#: Names of the synthetic test inputs.
SYNTHETIC_NAMES: tuple[str, ...] = ("black", "white", "noise")

GAUSSIAN_SIGMA_FRACTION = 127 / 256
STRIPE_PERIODS = 2.5
NOISE_MEAN = 25 / 255
NOISE_MAX = 200 / 255


def _minmax(values: np.ndarray) -> np.ndarray:
    values = values - values.min()
    return (values / values.max()).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1], as (x, y) arrays of shape (size, size)."""
    axis = (np.arange(size) + 0.5) / size
    return np.meshgrid(axis, axis, indexing="xy")


def horizontal_ramp(size: int) -> np.ndarray:
    """``H``: a linear ramp from 0 (left) to 1 (right)."""
    x, _ = _grid(size)
    return _minmax(x)


def vertical_ramp(size: int) -> np.ndarray:
    """``V``: a linear ramp from 0 (top) to 1 (bottom)."""
    _, y = _grid(size)
    return _minmax(y)


def centre_gaussian(size: int) -> np.ndarray:
    """``G``: a centred isotropic Gaussian, sigma = 127/256 of the side, corners at 0."""
    x, y = _grid(size)
    sigma = GAUSSIAN_SIGMA_FRACTION
    return _minmax(np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / (2 * sigma**2)))


def horizontal_stripes(size: int) -> np.ndarray:
    """``HS``: a cosine along y with 2.5 periods over the height (constant along x)."""
    _, y = _grid(size)
    return _minmax(np.cos(2 * np.pi * STRIPE_PERIODS * y))


def vertical_stripes(size: int) -> np.ndarray:
    """``VS``: a cosine along x with 2.5 periods over the width (constant along y)."""
    x, _ = _grid(size)
    return _minmax(np.cos(2 * np.pi * STRIPE_PERIODS * x))


_PATTERN_FUNCTIONS = {
    "H": horizontal_ramp,
    "V": vertical_ramp,
    "G": centre_gaussian,
    "HS": horizontal_stripes,
    "VS": vertical_stripes,
}


def check_pattern_names(names) -> tuple[str, ...]:
    """Validate pattern names and return them as a tuple.

    Raises
    ------
    ConfigError
        Naming the unknown pattern and the valid ones.
    """
    return tuple(check_choice(name, _PATTERN_FUNCTIONS, "position pattern") for name in names)


def make_pattern(name: str, size: int) -> np.ndarray:
    """Return the target ``name`` as a float32 array of shape (size, size) in [0, 1].

    Examples
    --------
    >>> make_pattern("H", 4)[0]
    array([0.        , 0.33333334, 0.6666667 , 1.        ], dtype=float32)
    """
    check_pattern_names([name])
    return _PATTERN_FUNCTIONS[name](size)


def make_patterns(size: int, names=PATTERN_NAMES) -> np.ndarray:
    """Stack the named targets into a float32 array of shape (len(names), size, size)."""
    return np.stack([make_pattern(n, size) for n in check_pattern_names(names)])


def synthetic_image(name: str, size: int, seed: int = 0) -> np.ndarray:
    """Return a synthetic RGB input as uint8 (size, size, 3).

    Parameters
    ----------
    name : {"black", "white", "noise"}
        Which input.
    size : int
        Side in pixels.
    seed : int
        Seed of the noise image (ignored for black and white).
    """
    if name == "black":
        image = np.zeros((size, size, 3))
    elif name == "white":
        image = np.ones((size, size, 3))
    elif name == "noise":
        rng = np.random.default_rng(seed)
        scale = NOISE_MEAN * np.sqrt(np.pi / 2)  # half-normal mean = scale * sqrt(2/pi)
        image = np.clip(np.abs(rng.normal(0.0, scale, size=(size, size, 3))), 0.0, NOISE_MAX)
    else:
        raise ConfigError(f"unknown synthetic input {name!r}; valid names are {list(SYNTHETIC_NAMES)}")
    return np.round(image * 255).astype(np.uint8)


def coordinate_channels(size: int) -> np.ndarray:
    """Pure position input for the positive control: (4, size, size) float32 channels.

    The channels are x, y (ramps in [0, 1]) and the squared distances from the centre
    along x and along y. A one-layer readout can express H and V (from x, y) and G (a
    monotone function of the summed squared distances) from them, so its SPC on H, V
    and G must come close to 1.
    """
    x, y = _grid(size)
    return np.stack([x, y, (x - 0.5) ** 2, (y - 0.5) ** 2]).astype(np.float32)
