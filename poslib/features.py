"""Run a frozen backbone once per image and configuration, and cache the tapped features.

Every tap is bilinearly resized to ``feature_size`` x ``feature_size`` (28 in the paper)
and the taps are concatenated on channels, giving one float16 array of shape
(N, C, 28, 28) per image set and configuration. It is stored as ``features.npy`` with a
``meta.json`` beside it, in a folder named by a key that hashes everything that changes
the features: backbone, weights identity, padding rule, taps, input and feature size,
the image set's content fingerprint, the torch version, the numeric path
(:data:`FEATURE_COMPUTE`) and :data:`CACHE_FORMAT_VERSION`.

Frozen forward passes (:func:`frozen_forward`) run on channels-last tensors under bfloat16
autocast: on a 2-core CPU a VGG16 batch of 16 images at 224 px takes 1.3 s instead of 4.8 s
(float32, contiguous), and the features differ from float32 by about 0.7 % (relative norm of
the difference at the deepest tap; ``bench/feature_compute.md`` records the measurement and
its effect on the readout scores). The cached array is float16 in either case.

Each entry is a :class:`poslib.store.CacheEntry`: writes are atomic, ``meta.json`` (with
the size and checksum of ``features.npy``) comes last, and an entry that is incomplete,
from another format version, changed on disk (checksum) or of the wrong shape is rebuilt,
never reused; concurrent processes write an entry once (:meth:`~poslib.store.CacheEntry.reuse_or_build`).
Each call adds its wall time and forward passes to :mod:`poslib.work`.
The array is opened memory-mapped, so even
the paper profile's 10,553 x 3,904 x 28 x 28 ResNet-152 features need not fit in RAM.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .backbones import TappedBackbone, build_backbone, check_backbone_name
from .config import ConfigError, default_device, progress_bar
from .image_set import ImageSet
from .padding import check_padding_rule
from .store import CacheEntry, content_key
from .work import add_feature_extraction

#: Images run through each backbone configuration in this process (read by the benchmark).
FORWARD_PASSES: dict[str, int] = {}
#: Bump when the layout or the meaning of cached arrays changes.
CACHE_FORMAT_VERSION = 4
#: Numeric path of frozen forward passes: ``"bfloat16"`` (autocast, channels-last; the default) or
#: ``"float32"``. Part of every feature cache key.
FEATURE_COMPUTE = "bfloat16"


@dataclass(frozen=True)
class FeatureConfig:
    """Everything about a backbone run that changes its features.

    Parameters
    ----------
    backbone : str
        Registry name (``poslib.backbones.BACKBONES``); old aliases become canonical names.
    weights : str
        ``"imagenet"``, ``"random"``, ``"none"`` or a state-dict path.
    padding_rule : str
        Padding rule of the backbone's convolutions (canonical spelling after construction).
    input_size : int
        Side of the square network input.
    feature_size : int
        Side every tap is resized to.
    backbone_seed : int
        Seed of a random initialisation.
    """

    backbone: str
    weights: str
    padding_rule: str = "zeros"
    input_size: int = 224
    feature_size: int = 28
    backbone_seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "backbone", check_backbone_name(self.backbone))
        object.__setattr__(self, "padding_rule", check_padding_rule(self.padding))

    @property
    def padding(self) -> str:
        """Old name of :attr:`padding_rule`."""
        return self.padding_rule

    @property
    def label(self) -> str:
        """Short human-readable label, e.g. ``vgg16/imagenet`` or ``vgg16/random/pad=valid``."""
        text = f"{self.backbone}/{self.weights}"
        return text if self.padding_rule == "zeros" else f"{text}/pad={self.padding_rule}"


@dataclass
class FeatureSet:
    """Cached features of one image set under one configuration.

    Attributes
    ----------
    array : numpy.ndarray
        float16, shape (N, C, S, S); memory-mapped from the cache.
    tap_names, tap_channels : list
        Which channel ranges belong to which tap, in order.
    config : FeatureConfig
    image_set : str
        Name of the image set.
    meta : dict
        The cache entry's ``meta.json``.
    tap_sizes : list of int or None
        Side of each tap before it was resized to ``S`` (-1 for a non-square map; None: not known).
    ids : list of str or None
        The images' ids (file names without suffix, relative to their dataset), in order.
    """

    array: np.ndarray
    tap_names: list[str]
    tap_channels: list[int]
    config: FeatureConfig
    image_set: str
    meta: dict
    tap_sizes: list[int] | None = None
    ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.array)

    def channel_index(self, taps: list[str] | None = None) -> np.ndarray:
        """Indices of the channels of ``taps`` (all taps when None).

        Raises
        ------
        ConfigError
            For a tap name the backbone does not have.
        """
        if taps is None:
            return np.arange(sum(self.tap_channels))
        unknown = [t for t in taps if t not in self.tap_names]
        if unknown:
            raise ConfigError(f"unknown tap(s) {unknown} for {self.config.label}; taps are {self.tap_names}")
        bounds = np.cumsum([0] + self.tap_channels)
        return np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i, name in enumerate(self.tap_names)
                               if name in taps])

    def channel_sizes(self, channels: np.ndarray | None = None) -> np.ndarray | None:
        """Side of each of ``channels`` (all when None) before resizing (None when the tap sizes are unknown)."""
        if self.tap_sizes is None:
            return None
        sizes = np.repeat(np.asarray(self.tap_sizes), self.tap_channels)
        return sizes if channels is None else sizes[np.asarray(channels)]


def cache_key(config: FeatureConfig, weights_id: str, image_set: ImageSet, tap_names: list[str]) -> str:
    """SHA-256 key of a feature cache entry (see the module docstring for what it covers)."""
    return content_key(format=CACHE_FORMAT_VERSION, config=asdict(config), weights_id=weights_id, taps=tap_names,
                       images=image_set.fingerprint, compute=FEATURE_COMPUTE)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.inference_mode()
def frozen_forward(backbone: TappedBackbone, images: torch.Tensor, compute: str | None = None) -> list[torch.Tensor]:
    """The backbone's tapped maps for ``images`` on the numeric path of the feature cache, as float32.

    Parameters
    ----------
    backbone : TappedBackbone
        A frozen backbone; its 4-D weights are moved to channels-last memory (in place, once).
    images : torch.Tensor
        (B, 3, H, W) in [0, 1], on the backbone's device.
    compute : str, optional
        ``"bfloat16"`` or ``"float32"`` (default :data:`FEATURE_COMPUTE`).

    Returns
    -------
    list of torch.Tensor
        One float32 map per tap.
    """
    compute = compute or FEATURE_COMPUTE
    if compute not in ("bfloat16", "float32"):
        raise ConfigError(f"feature compute {compute!r} is not 'bfloat16' or 'float32'")
    backbone.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=compute == "bfloat16"):
        taps = backbone(images)
    return [tap.float() for tap in taps]


@torch.inference_mode()
def tapped_features(backbone: TappedBackbone, images: torch.Tensor, feature_size: int) -> torch.Tensor:
    """Run ``backbone`` (:func:`frozen_forward`) and return its taps resized to ``feature_size`` and concatenated."""
    taps = frozen_forward(backbone, images)
    resized = [F.interpolate(t, size=(feature_size, feature_size), mode="bilinear", align_corners=False)
               for t in taps]
    return torch.cat(resized, dim=1)


def _open_array(entry: CacheEntry, meta: dict | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The entry's features memory-mapped, if its metadata is valid and the array has ``shape``."""
    if meta is None:
        return None
    try:
        array = np.load(entry.path("features.npy"), mmap_mode="r")
    except (OSError, ValueError) as error:
        print(f"[poslib] rebuilding cache entry {entry.label}: unreadable features ({error})")
        return None
    if array.shape != shape or array.dtype != np.float16:
        print(f"[poslib] rebuilding cache entry {entry.label}: shape {array.shape} / dtype {array.dtype} "
              f"instead of {shape} / float16")
        return None
    return array


def extract_features(config: FeatureConfig, image_set: ImageSet, cache_root: Path | None = None,
                     device: torch.device | None = None, batch_size: int = 16,
                     backbone: TappedBackbone | None = None, progress: bool = True) -> FeatureSet:
    """Features of ``image_set`` under ``config``, from the cache or computed once and cached.

    Parameters
    ----------
    config : FeatureConfig
        Backbone configuration.
    image_set : ImageSet
        Images at ``config.input_size``.
    cache_root : Path, optional
        Cache folder (default :func:`poslib.config.cache_dir`).
    device : torch.device, optional
        Where the backbone runs (default: CUDA when present).
    batch_size : int
        Images per forward pass.
    backbone : TappedBackbone, optional
        An already built backbone for ``config`` (saves rebuilding it for several image sets).
    progress : bool
        Show a progress bar.

    Returns
    -------
    FeatureSet
    """
    if image_set.images.shape[1:3] != (config.input_size, config.input_size):
        raise ConfigError(f"image set {image_set.name!r} is {image_set.images.shape[1:3]} but the feature "
                          f"configuration expects input_size={config.input_size}")
    started, passes = time.perf_counter(), sum(FORWARD_PASSES.values())
    if backbone is None:
        backbone = build_backbone(config.backbone, config.weights, config.backbone_seed, config.input_size,
                                  config.padding_rule)
    key = cache_key(config, backbone.weights_id, image_set, backbone.tap_names)
    entry = CacheEntry(f"features/{config.backbone}", key, CACHE_FORMAT_VERSION, cache_root)
    shape = (len(image_set), sum(backbone.tap_channels), config.feature_size, config.feature_size)

    def load():
        meta = entry.read()
        array = _open_array(entry, meta, shape)
        return None if array is None else (meta, array)

    def build():
        meta = _compute_entry(entry, config, backbone, image_set, shape, device or default_device(), batch_size,
                              progress)
        return meta, np.load(entry.path("features.npy"), mmap_mode="r")

    meta, array = entry.reuse_or_build(load, build)  # one writer per entry across processes
    add_feature_extraction(time.perf_counter() - started, sum(FORWARD_PASSES.values()) - passes)
    return FeatureSet(array=array, tap_names=backbone.tap_names, tap_channels=backbone.tap_channels,
                      config=config, image_set=image_set.name, meta=meta,
                      tap_sizes=backbone.tap_sizes(config.input_size), ids=list(image_set.ids))


def _compute_entry(entry: CacheEntry, config: FeatureConfig, backbone: TappedBackbone, image_set: ImageSet,
                   shape: tuple[int, ...], device: torch.device, batch_size: int, progress: bool) -> dict:
    """Run the backbone over the image set once and write the cache entry (features, then metadata)."""
    entry.begin()
    started = time.perf_counter()
    backbone = backbone.to(device)
    tmp = entry.temporary("features.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
    try:
        for start in progress_bar(range(0, len(image_set), batch_size), f"features {config.label} on {image_set.name}",
                                  progress):
            images = images_to_tensor(image_set.images[start:start + batch_size]).to(device)
            batch = tapped_features(backbone, images, config.feature_size).cpu().half()
            if not torch.isfinite(batch).all():
                raise ConfigError(f"backbone {config.label} produced non-finite features on {image_set.name} "
                                  f"(images {start}..{start + len(images) - 1}): activations overflow float16. "
                                  "Check the weights (a random init needs calibrated normalisation).")
            out[start:start + len(images)] = batch.numpy()
            FORWARD_PASSES[config.label] = FORWARD_PASSES.get(config.label, 0) + len(images)
        out.flush()
    except BaseException:
        del out
        tmp.unlink(missing_ok=True)
        raise
    del out
    entry.commit(tmp, "features.npy")
    return entry.finish({"config": asdict(config), "weights_id": backbone.weights_id,
                         "tap_names": backbone.tap_names, "tap_channels": backbone.tap_channels,
                         "image_set": image_set.describe(), "forward_passes": len(image_set), "compute": FEATURE_COMPUTE,
                         "seconds": round(time.perf_counter() - started, 3)})
