"""Feeding cached features to the readout: batch order, tensors in RAM or mapped, coarse groups.

The cached features (:class:`poslib.features.FeatureSet`) are read once into a
channels-last tensor (:func:`feature_tensor`: float32, float16 or the training dtype; above
:data:`IN_RAM_LIMIT` they stay memory-mapped, :class:`MappedFeatures`), and batches are
gathered from it in a seeded order (:func:`batch_order`, :func:`load_batch`).

For the grouped training path, :func:`readout_inputs` splits the selected channels into
those used as cached and *coarse groups*: taps coarser than the cached side, recovered at
their own side from their bilinearly upsampled cache, ``x = P X P^T`` with ``P`` the
pseudo-inverse of :func:`poslib.readout.model.bilinear_matrix` (exact for an upsampled map;
the float16 rounding of the cache is all that differs). A group is recovered only if it
saves enough work (:data:`NATIVE_MIN_SAVED_CHANNELS`), and used as cached if its recovery
does not reproduce its cached maps within :data:`NATIVE_RESIDUAL_LIMIT`. How the coarse
groups are convolved is in :mod:`poslib.readout.fast`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import ConfigError
from ..store import release_mapped_pages
from .model import bilinear_matrix


def batch_order(n_items: int, batch_size: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The mini-batches of every epoch: a seeded shuffle per epoch, last partial batch kept."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n_items)
        batches += [np.sort(order[i:i + batch_size]) for i in range(0, n_items, batch_size)]
    return batches


#: Features up to this size are held in RAM as float32 during training; larger ones as float16.
FLOAT32_RAM_LIMIT = 2 * 2**30
#: Features larger than this stay memory-mapped on disk and are read batch by batch.
IN_RAM_LIMIT = 12 * 2**30


class MappedFeatures:
    """Cached features read from their memory map batch by batch (for sets larger than RAM).

    Indexing with a tensor of image indices returns a channels-last float16 tensor, like
    indexing the in-RAM tensor of :func:`feature_tensor`.
    """

    def __init__(self, features: np.ndarray, channels: np.ndarray | None):
        self.features, self.channels = features, channels
        n_channels = features.shape[1] if channels is None else len(channels)
        self.shape = (features.shape[0], n_channels, *features.shape[2:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        batch = np.asarray(self.features[np.asarray(index)])
        if self.channels is not None:
            batch = batch[:, self.channels]
        return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)


def _image_chunks(features: np.ndarray, channels: np.ndarray | None, chunk: int = 32):
    """Yield ``(start, array)``: ``chunk`` images at a time of ``features`` (the selected channels).

    After each chunk the memory map's resident pages are released
    (:func:`poslib.store.release_mapped_pages`), so reading a cached set into a tensor does
    not also hold the whole file in the process's resident memory.
    """
    for start in range(0, len(features), chunk):
        block = np.asarray(features[start:start + chunk])
        yield start, block if channels is None else block[:, channels]
        release_mapped_pages(features)


def feature_tensor(features: np.ndarray, channels: np.ndarray | None = None, dtype: torch.dtype | None = None):
    """Read (the selected channels of) cached features once into a channels-last torch tensor.

    Convolutions with few output channels run about three times faster on the CPU in
    channels-last layout. With ``dtype=None`` the tensor is float32 when it fits
    :data:`FLOAT32_RAM_LIMIT`, else float16 (converted batch by batch); with a ``dtype``
    (e.g. ``torch.bfloat16`` for the fast training path) it is filled chunk by chunk in
    that dtype, so no full-size intermediate copy exists. Above :data:`IN_RAM_LIMIT` the
    features stay memory-mapped (:class:`MappedFeatures`).
    """
    n_channels = features.shape[1] if channels is None else len(channels)
    if features.shape[0] * n_channels * np.prod(features.shape[2:]) * 2 > IN_RAM_LIMIT:
        return MappedFeatures(features, channels)
    if dtype is not None:
        n, _, height, width = features.shape
        tensor = torch.empty((n, height, width, n_channels), dtype=dtype)
        for start, chunk in _image_chunks(features, channels):
            tensor[start:start + len(chunk)] = torch.from_numpy(np.ascontiguousarray(np.moveaxis(chunk, 1, 3))).to(dtype)
        return tensor.permute(0, 3, 1, 2)
    source = features if channels is None else features[:, channels]
    # One copy out of the memory map, straight into channels-last order.
    tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(source, 1, 3))).permute(0, 3, 1, 2)
    release_mapped_pages(features)
    if tensor.numel() * 4 <= FLOAT32_RAM_LIMIT:
        tensor = tensor.float()
    return tensor


def load_batch(features, index: np.ndarray, device: torch.device, dtype: torch.dtype = torch.float32,
               buffers: dict | None = None) -> torch.Tensor:
    """Channels-last batch ``features[index]`` on ``device`` in ``dtype`` (from a tensor or :class:`MappedFeatures`).

    ``buffers`` (a dict owned by the caller, e.g. one per training run) keeps the gathered
    batch's storage between calls when the batch needs no conversion: the next batch is
    gathered into it, which overwrites the previous one. A fresh batch-sized block from the
    allocator costs a page fault per 4 KiB page (measured: a 48 MB VGG16 batch takes 16 ms
    to gather fresh and 1.7 ms into a kept buffer).
    """
    index = torch.from_numpy(np.asarray(index))
    if isinstance(features, torch.Tensor) and features.is_contiguous(memory_format=torch.channels_last):
        # gather whole (H, W, C) rows of the channels-last storage: one copy, already channels-last
        rows = features.permute(0, 2, 3, 1)
        if buffers is not None and rows.device == device and rows.dtype == dtype:
            key = (rows.data_ptr(), tuple(rows.shape[1:]))
            kept = buffers.get(key)
            if kept is None or len(kept) < len(index):
                kept = buffers[key] = torch.empty((len(index), *rows.shape[1:]), dtype=dtype, device=device)
            return torch.index_select(rows, 0, index, out=kept[:len(index)]).permute(0, 3, 1, 2)
        batch = rows[index].permute(0, 3, 1, 2)
    else:
        batch = features[index]
    return batch.to(device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)


#: A coarse group runs at its own resolution only if it saves at least this many channels' worth of
#: full-resolution work, ``channels * (1 - side**2 / S**2)``: smaller groups cost more in their fixed
#: per-batch work than they save (measured with 15 outputs, 3x3 kernels, batch 32, bfloat16:
#: 512 channels at 14 x 14 take 8.7 ms instead of 20.8, 320 at 7 x 7 3.6 instead of 13.8, but
#: 112 at 14 x 14 5.5 instead of 4.1).
NATIVE_MIN_SAVED_CHANNELS = 256
#: A coarse channel group is used at its own resolution only if its maps recovered from the cache
#: reproduce the cached ones within this relative root-mean-square residual (float16 rounding: ~1e-4).
NATIVE_RESIDUAL_LIMIT = 1e-2


@dataclass
class ReadoutInputs:
    """Training inputs of the grouped readout: full-resolution channels, then coarse groups.

    Attributes
    ----------
    full : torch.Tensor, MappedFeatures or None
        (N, C_full, S, S) channels used as cached.
    coarse : list of torch.Tensor
        (N, C_g, n_g, n_g) channels-last maps of each coarse group at its own side ``n_g``.
    order : numpy.ndarray
        Positions, among the selected channels, of the model's input channels in training
        order (full channels first, then each coarse group).
    side : int
        ``S``, the side of the cached features.
    info : dict
        ``coarse_channels`` (side -> channels used at that side) and ``kept_as_cached``
        (side -> relative residual of groups whose recovery failed).
    """

    full: object
    coarse: list
    order: np.ndarray
    side: int
    info: dict
    buffers: dict = field(default_factory=dict, repr=False)

    def batch(self, index: np.ndarray, device: torch.device, dtype: torch.dtype, slot: int = 0):
        """``(full_batch or None, [coarse batches])`` of images ``index``, channels-last, in ``dtype``.

        The batches live in buffers kept by this object (:func:`load_batch`), one set per
        ``slot`` (e.g. per seed of a grouped pass): each call overwrites the previous call's
        batches of the same slot.
        """
        buffers = self.buffers.setdefault(slot, {})
        full = None if self.full is None else load_batch(self.full, index, device, dtype, buffers)
        return full, [load_batch(group, index, device, dtype, buffers) for group in self.coarse]


def _recover_native(features: np.ndarray, channels: np.ndarray, side: int, dtype: torch.dtype,
                    chunk: int = 32) -> tuple[torch.Tensor, float]:
    """Maps of ``channels`` at ``side`` x ``side`` recovered from their upsampled cache, and the relative residual."""
    size = features.shape[-1]
    upsampling = bilinear_matrix(side, size)
    inverse = torch.linalg.pinv(upsampling).float()
    upsampling = upsampling.float()
    native = torch.empty((len(features), side, side, len(channels)), dtype=dtype)
    residual, total = 0.0, 0.0
    for start, block in _image_chunks(features, channels, chunk):
        cached = torch.from_numpy(block.astype(np.float32))
        recovered = inverse @ cached @ inverse.T
        residual += float(((upsampling @ recovered @ upsampling.T - cached) ** 2).sum())
        total += float((cached ** 2).sum())
        native[start:start + chunk] = recovered.permute(0, 2, 3, 1).to(dtype)
    return native.permute(0, 3, 1, 2), (residual / total) ** 0.5 if total > 0 else 0.0


def readout_inputs(features: np.ndarray, channels: np.ndarray | None, native_sizes: np.ndarray | None,
                   dtype: torch.dtype) -> ReadoutInputs:
    """Split the selected channels into full-resolution ones and coarse groups at their own side.

    Parameters
    ----------
    features : numpy.ndarray
        (N, C, S, S) cached features.
    channels : numpy.ndarray or None
        Selected channel indices (None: all).
    native_sizes : numpy.ndarray or None
        Side of each selected channel before resizing (None: all used as cached).
    dtype : torch.dtype
    """
    size = features.shape[-1]
    selected = np.arange(features.shape[1]) if channels is None else np.asarray(channels)
    sizes = np.full(len(selected), size) if native_sizes is None else np.asarray(native_sizes)
    if len(sizes) != len(selected):
        raise ConfigError(f"native_sizes has {len(sizes)} entries for {len(selected)} selected channels")
    info = {"coarse_channels": {}, "kept_as_cached": {}}
    coarse, coarse_positions, is_full = [], [], np.ones(len(selected), dtype=bool)
    for side in sorted({int(s) for s in sizes if 0 < s < size}):
        positions = np.flatnonzero(sizes == side)
        if len(positions) * (1 - side ** 2 / size ** 2) < NATIVE_MIN_SAVED_CHANNELS:
            continue
        native, residual = _recover_native(features, selected[positions], side, dtype)
        if residual > NATIVE_RESIDUAL_LIMIT:
            info["kept_as_cached"][side] = round(residual, 6)
            continue
        coarse.append(native)
        coarse_positions.append(positions)
        is_full[positions] = False
        info["coarse_channels"][side] = len(positions)
    full_positions = np.flatnonzero(is_full)
    if len(full_positions) == len(selected):
        full = feature_tensor(features, channels, dtype=dtype)
    else:
        full = feature_tensor(features, selected[full_positions], dtype=dtype) if len(full_positions) else None
    order = np.concatenate([full_positions] + coarse_positions)
    return ReadoutInputs(full, coarse, order, size, info)
