r"""A probe-free position measure: the share of a channel's variance that is a fixed map over positions.

For one channel with activations :math:`x_{n,p}` (test image :math:`n`, position :math:`p`),
average the maps over the images, :math:`m_p = \frac1N \sum_n x_{n,p}`; the *position share*
is the variance over positions of that mean map divided by the channel's total variance over
images and positions,

.. math:: s = \frac{\operatorname{Var}_p(m_p)}{\operatorname{Var}_{n,p}(x_{n,p})} \in [0, 1].

Content that falls anywhere averages out of :math:`m`; a pattern every image shares (the
border's imprint through padding, a fixed ramp) stays. No readout is trained, so the measure
cannot learn position from the photos' layout or from its own padding (the critique of Lin
et al., arXiv 2206.01202).

Reading the numbers
-------------------
* Content alone does not give exactly 0: the mean of :math:`N` images keeps
  :math:`1/N` of the per-position variance, so content with no shared layout gives
  :math:`s \approx 1/N` at most (less when images differ in brightness or their maps are
  smooth). Tables give this floor as ``content_floor``.
* A channel that is constant over images and positions has no share (NaN) and is counted in
  ``constant_channels``; a channel whose maps are identical for all images but vary over
  positions has :math:`s = 1`.
* Per level, ``share`` is the mean over the level's channels and ``share_weighted`` the
  variance-weighted share :math:`\sum_c \operatorname{Var}_p(m_c) / \sum_c \operatorname{Var}(x_c)`
  (channels with large activations count more). The ``all`` row does the same over every
  channel, so each level counts by its channel count.

Sources: cached features (:class:`poslib.features.FeatureSet`, float16 memory-mapped,
read in chunks: :func:`channel_shares`), a backbone and images (the maps at their own
resolution, streamed batch by batch: :func:`backbone_channel_shares`; any model becomes one
with :func:`poslib.api.tap_model`). :func:`position_share` takes any of them.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .backbones import TappedBackbone
from .config import ConfigError, default_device, progress_bar
from .features import FeatureSet, frozen_forward, images_to_tensor
from .image_set import ImageSet

#: Bytes of float64 workspace one chunk of cached features may take.
CHUNK_BYTES = 64 * 2**20


class _Moments:
    """Running sums of one channel block over images: the mean map and the total variance, shifted for accuracy.

    Every value is taken relative to a per-channel reference (the first batch's channel
    mean), so the sums of squares do not cancel catastrophically for channels whose mean is
    large against their spread.
    """

    def __init__(self):
        self.n, self.shift, self.sum_map, self.sum_squares = 0, None, None, None

    def add(self, batch: np.ndarray) -> None:
        """Add a (B, C, H, W) batch (any float dtype)."""
        batch = np.asarray(batch, dtype=np.float64)
        if self.shift is None:
            self.shift = batch.mean(axis=(0, 2, 3))
            self.sum_map = np.zeros(batch.shape[1:])
            self.sum_squares = np.zeros(batch.shape[1])
        centred = batch - self.shift[None, :, None, None]
        self.sum_map += centred.sum(axis=0)
        self.sum_squares += np.einsum("nchw,nchw->c", centred, centred)
        self.n += len(batch)

    def result(self) -> "ChannelShares":
        """Position variance, total variance and share of every channel."""
        if not self.n:
            raise ConfigError("no images: the position share needs at least one")
        mean_map = self.sum_map / self.n
        positions = mean_map.shape[1] * mean_map.shape[2]
        grand_mean = mean_map.mean(axis=(1, 2))
        var_position = mean_map.var(axis=(1, 2))
        var_total = np.maximum(self.sum_squares / (self.n * positions) - grand_mean ** 2, 0.0)
        return ChannelShares.from_variances(var_position, var_total, self.n)


@dataclass
class ChannelShares:
    """Position share of every channel.

    Attributes
    ----------
    share : numpy.ndarray
        (C,) share in [0, 1]; NaN for a constant channel.
    var_position, var_total : numpy.ndarray
        (C,) variance over positions of the mean map, and over images and positions.
    n_images : int
    """

    share: np.ndarray
    var_position: np.ndarray
    var_total: np.ndarray
    n_images: int

    @classmethod
    def from_variances(cls, var_position: np.ndarray, var_total: np.ndarray, n_images: int) -> "ChannelShares":
        """Shares from the two variances (NaN where the total variance is zero to float32 precision)."""
        scale = max(float(np.max(var_total, initial=0.0)), 1e-30)
        constant = var_total <= 1e-12 * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(constant, np.nan, np.minimum(var_position / np.where(constant, 1.0, var_total), 1.0))
        return cls(share, var_position, var_total, n_images)

    @classmethod
    def concatenate(cls, parts: list["ChannelShares"]) -> "ChannelShares":
        """The channels of several parts (same images), in order."""
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("share", "var_position", "var_total")),
                   parts[0].n_images)


def channel_shares(features: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> ChannelShares:
    """Position share of every channel of an (N, C, S, S) feature array, read a chunk of images at a time.

    Parameters
    ----------
    features : numpy.ndarray
        E.g. :attr:`poslib.features.FeatureSet.array` (float16, memory-mapped): only
        ``chunk_bytes`` of float64 copies are held at once.
    chunk_bytes : int
        Workspace per chunk.
    """
    if features.ndim != 4:
        raise ConfigError(f"features must be (N, C, H, W), not {features.shape}")
    per_image = int(np.prod(features.shape[1:])) * 8
    step = max(1, chunk_bytes // per_image)
    moments = _Moments()
    for start in range(0, len(features), step):
        moments.add(features[start:start + step])
    return moments.result()


def share_table(shares: ChannelShares, tap_names: list[str], tap_channels: list[int]) -> pd.DataFrame:
    """Per-level table of channel shares (module docstring, "Reading the numbers").

    Parameters
    ----------
    shares : ChannelShares
        Of all channels, taps in order.
    tap_names, tap_channels : list
        The taps and their channel counts.

    Returns
    -------
    pandas.DataFrame
        One row per tap, then ``all`` (when there are several taps): level, channels,
        n_images, share, share_weighted, share_median, constant_channels, content_floor.
    """
    if sum(tap_channels) != len(shares.share):
        raise ConfigError(f"taps have {sum(tap_channels)} channels but the shares {len(shares.share)}")
    bounds = np.cumsum([0] + list(tap_channels))
    parts = [(name, slice(bounds[i], bounds[i + 1])) for i, name in enumerate(tap_names)]
    if len(tap_names) > 1:
        parts.append(("all", slice(0, bounds[-1])))
    rows = []
    for level, part in parts:
        share, total = shares.share[part], shares.var_total[part]
        varying = ~np.isnan(share)
        rows.append({"level": level, "channels": int(len(share)), "n_images": shares.n_images,
                     "share": float(np.mean(share[varying])) if varying.any() else np.nan,
                     "share_weighted": float(shares.var_position[part].sum() / total.sum()) if total.sum() > 0
                     else np.nan,
                     "share_median": float(np.median(share[varying])) if varying.any() else np.nan,
                     "constant_channels": int((~varying).sum()), "content_floor": 1.0 / shares.n_images})
    return pd.DataFrame(rows)


def channel_table(shares: ChannelShares, tap_names: list[str], tap_channels: list[int]) -> pd.DataFrame:
    """One row per channel: level, channel (index within its level), share, var_position, var_total."""
    levels = np.repeat(np.asarray(tap_names, dtype=object), tap_channels)
    within = np.concatenate([np.arange(c) for c in tap_channels])
    return pd.DataFrame({"level": levels, "channel": within, "share": shares.share,
                         "var_position": shares.var_position, "var_total": shares.var_total})


def _as_tensor(images) -> torch.Tensor:
    """An ImageSet, uint8 (N, H, W, 3) array or float (N, 3, H, W) tensor in [0, 1] as the float tensor."""
    if isinstance(images, ImageSet):
        images = images.images
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ConfigError(f"images as an array must be uint8 (N, H, W, 3), not {images.dtype} {images.shape}")
        return images_to_tensor(images)
    if isinstance(images, torch.Tensor) and images.dim() == 4 and images.shape[1] == 3:
        return images.float()
    raise ConfigError("images must be an ImageSet, a uint8 (N, H, W, 3) array or a float (N, 3, H, W) tensor in [0, 1]")


@torch.inference_mode()
def backbone_channel_shares(backbone: TappedBackbone, images, batch_size: int = 16,
                            device: torch.device | None = None, progress: bool = False) -> list[ChannelShares]:
    """Position share of every channel of every tap, each at its own resolution, images streamed in batches.

    Parameters
    ----------
    backbone : TappedBackbone
        E.g. :func:`poslib.backbones.build_backbone` or :func:`poslib.api.tap_model`.
    images : ImageSet, numpy.ndarray or torch.Tensor
        uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1].
    batch_size : int
    device : torch.device, optional
    progress : bool

    Returns
    -------
    list of ChannelShares
        One per tap, in ``backbone.tap_names`` order.
    """
    images = _as_tensor(images)
    device = device or default_device()
    backbone = backbone.to(device)
    moments = [_Moments() for _ in backbone.tap_names]
    for start in progress_bar(range(0, len(images), batch_size), f"position share {backbone.name}", progress):
        maps = frozen_forward(backbone, images[start:start + batch_size].to(device))
        for accumulator, tap in zip(moments, maps):
            accumulator.add(tap.float().cpu().numpy())
    return [m.result() for m in moments]


def position_share(source, images=None, *, taps=None, per_channel: bool = False, batch_size: int = 16,
                   device: torch.device | None = None, progress: bool = False) -> pd.DataFrame:
    """Probe-free position share per level (module docstring), from cached features or from a backbone.

    Parameters
    ----------
    source : FeatureSet, numpy.ndarray or TappedBackbone
        Cached features (:class:`~poslib.features.FeatureSet`: its taps are the levels), an
        (N, C, H, W) array (one level, ``all``), or a backbone (its taps at their own
        resolution): :func:`poslib.backbones.build_backbone`, or any model with node-name
        taps through :func:`poslib.api.tap_model`.
    images : ImageSet, numpy.ndarray or torch.Tensor, optional
        The test images, needed for a backbone (uint8 (N, H, W, 3) or float (N, 3, H, W)
        in [0, 1]).
    taps : sequence of str, optional
        Levels to report (default: all, and ``all`` when there are several).
    per_channel : bool
        Return one row per channel (:func:`channel_table`) instead of one per level.
    batch_size, device, progress :
        For a backbone.

    Returns
    -------
    pandas.DataFrame
        :func:`share_table` (or :func:`channel_table`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ramp = np.linspace(-1, 1, 8)[None, None, None, :].repeat(8, axis=2)
    >>> features = ramp + rng.normal(0, 1, (200, 2, 8, 8))
    >>> round(float(position_share(features)["share"][0]), 1)  # ramp variance 0.43 of 1.43
    0.3
    """
    if isinstance(source, FeatureSet):
        shares = channel_shares(source.array)
        names, channels = source.tap_names, source.tap_channels
    elif isinstance(source, np.ndarray):
        shares, names, channels = channel_shares(source), ["all"], [source.shape[1]]
    elif isinstance(source, TappedBackbone):
        if images is None:
            raise ConfigError("position_share of a backbone needs images")
        parts = backbone_channel_shares(source, images, batch_size, device, progress)
        shares, names, channels = ChannelShares.concatenate(parts), source.tap_names, source.tap_channels
    elif isinstance(source, nn.Module):
        raise ConfigError(f"position_share takes a tapped backbone, not a plain {type(source).__name__}: wrap the "
                          "model with poslib.api.tap_model(model, taps) (taps: node names)")
    else:
        raise ConfigError(f"position_share takes a FeatureSet, an array or a backbone, not {type(source).__name__}")
    table = (channel_table if per_channel else share_table)(shares, names, channels)
    if taps is not None:
        unknown = [t for t in taps if t not in names]
        if unknown:
            raise ConfigError(f"unknown tap(s) {unknown}; the levels are {names}")
        table = table[table["level"].isin(list(taps))].reset_index(drop=True)
    return table

class _CallableModule(types.ModuleType):
    """This module, callable as :func:`position_share`.

    ``poslib.position_share`` is the function (loaded on first use by ``poslib.__getattr__``),
    but importing this module from elsewhere first makes the package attribute the module
    itself (Python's import system sets it); being callable, it works the same either way.
    """

    def __call__(self, *args, **kwargs) -> pd.DataFrame:
        return position_share(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
