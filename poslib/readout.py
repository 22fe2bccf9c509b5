"""The PosENet readout and its training on cached features.

(Longer than the package's other modules, on purpose: the readout, its grouped fast
training path, the float32 reference path and the exact loss on the small maps must stay
side by side, because the tests and the benchmark compare them to each other.)

PosENet (paper, Sec. 3): k x k convolutions on the 28 x 28 concatenated features; the last
one has one output channel, followed by BatchNorm and a sigmoid; intermediate layers keep
the channel count and use BN + ReLU; Xavier initialisation. The 26 x 26 output (one 3x3
layer, padding 0) is bilinearly upsampled to the target size (224) for the loss and the
metrics.

Five targets, one pass
----------------------
:class:`PosENet` holds the readouts of all ``n_targets`` targets in one module whose
parameters are *disjoint per target*:

* the first convolution maps the shared input to ``n_targets`` blocks of output channels
  (one block per target; a block's weights see the whole input, as a separate readout's
  would);
* every later convolution is grouped with ``groups=n_targets``, so block ``t`` only reads
  block ``t``;
* BatchNorm normalises each channel on its own, so its statistics are per target;
* the loss is the *sum* of the per-target MSEs, so the gradient of a target's parameters
  is exactly the gradient of its own loss; SGD with momentum and weight decay updates
  every parameter from its own gradient alone;
* each target's block is Xavier-initialised with the fan-in / fan-out of a single readout.

Hence training the module once on a batch sequence equals training ``n_targets`` separate
readouts on the same batch sequence, up to floating-point summation order;
:meth:`PosENet.single_target` extracts one of them, and the tests check the equality.

Coarse taps at their own resolution
-----------------------------------
Taps coarser than the readout's grid (VGG16's f5 at 14 x 14, ResNet-152's f4 at 14 x 14
and f5 at 7 x 7) are cached bilinearly upsampled to 28 x 28: ``X = A x A^T`` per channel,
``A`` being :func:`interpolation_matrix`. A convolution is linear in its input, and the
upsampling acts on space while the weights act on channels, so for each kernel tap
``(i, j)`` with weights ``W_ij``::

    conv(X, W) = sum_ij shift_ij( upsample( x . W_ij ) )

The grouped training path (:func:`train_readouts`) uses it when it is told each channel's
side before resizing (``native_sizes``, from :meth:`poslib.features.FeatureSet.channel_sizes`):
the ``k*k*O`` products of a coarse group run on its ``n x n`` maps, not on 28 x 28 (16x
fewer positions at 7 x 7), and their small outputs are upsampled and shift-summed by two
matrix products (:func:`_tap_lift`). Groups too small to gain
(:data:`NATIVE_MIN_SAVED_CHANNELS`) stay at 28 x 28. The coarse maps
are recovered once from the cache, ``x = P X P^T`` with ``P`` the pseudo-inverse of ``A``
(exact for an upsampled map; the float16 rounding of the cache is all that differs), and
a group whose recovery does not reproduce its cached maps within
:data:`NATIVE_RESIDUAL_LIMIT` is used as cached. The trained readout is an ordinary
:class:`PosENet` on the 28 x 28 features, evaluated as any other; the tests check that
both formulations train the same readout.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import ConfigError, check_choice, default_device, progress_bar
from .metrics import mae_per_image, spearman_per_image
from .store import release_mapped_pages


#: Values of :attr:`ReadoutConfig.compute`.
COMPUTE_MODES = ("auto", "bfloat16", "float32", "float32-reference")


@dataclass(frozen=True)
class ReadoutConfig:
    """Architecture and training schedule of the readout.

    Parameters
    ----------
    depth : int
        Number of convolution layers (the paper: 1, 2, 3).
    kernel_size : int
        Kernel side (the paper: 1, 3, 5, 7).
    padding : int
        Zero padding of each readout convolution (the paper: 0, 1, 2).
    hidden_channels : int or None
        Channels of intermediate layers per target; None keeps the input count (the paper).
    epochs : int
        Training epochs; the learning rate drops x0.1 after ``round(2/3 * epochs)`` of them.
    lr, momentum, weight_decay, batch_size :
        SGD settings (the paper's code: 0.1, 0.9, 1e-4, 32).
    target_size : int
        Side at which the loss and the metrics compare prediction and target.
    compute : str
        How :func:`train_readouts` computes (see :data:`COMPUTE_MODES`): ``"auto"`` (bfloat16
        where this device runs it fast, else float32; the choice is recorded in ``info``),
        ``"bfloat16"``, ``"float32"`` (both: all seeds and targets in one grouped model) or
        ``"float32-reference"`` (the original path: one float32 model per seed, loss on the
        upsampled maps).
    """

    depth: int = 1
    kernel_size: int = 3
    padding: int = 0
    hidden_channels: int | None = None
    epochs: int = 15
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 32
    target_size: int = 224
    compute: str = "auto"

    def __post_init__(self):
        if self.depth < 1 or self.kernel_size < 1 or self.padding < 0 or self.epochs < 1:
            raise ConfigError(f"invalid readout configuration {self}")
        check_choice(self.compute, COMPUTE_MODES, "readout compute mode")

    @property
    def milestone(self) -> int:
        """Epoch after which the learning rate is divided by 10."""
        return max(1, round(self.epochs * 2 / 3))


class PosENet(nn.Module):
    """Position readout for ``n_targets`` targets with disjoint parameters (see module docstring).

    Parameters
    ----------
    in_channels : int
        Channels of the concatenated features.
    n_targets : int
        Number of position targets trained together.
    depth, kernel_size, padding, hidden_channels :
        As in :class:`ReadoutConfig`.
    """

    def __init__(self, in_channels: int, n_targets: int = 5, depth: int = 1, kernel_size: int = 3,
                 padding: int = 0, hidden_channels: int | None = None):
        super().__init__()
        self.in_channels, self.n_targets = in_channels, n_targets
        self.depth, self.kernel_size, self.padding = depth, kernel_size, padding
        self.hidden_channels = hidden_channels or in_channels
        widths = [self.hidden_channels] * (depth - 1) + [1]
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths):
            groups = 1 if index == 0 else n_targets
            in_total = previous if index == 0 else previous * n_targets
            layers.append(nn.Conv2d(in_total, width * n_targets, kernel_size, padding=padding, groups=groups))
            layers.append(nn.BatchNorm2d(width * n_targets))
            if index < len(widths) - 1:
                layers.append(nn.ReLU(inplace=True))
            previous = width
        self.layers = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform init of each target's block with a single readout's fans; zero biases."""
        for conv in self.convolutions():
            block = conv.out_channels // self.n_targets
            for t in range(self.n_targets):
                nn.init.xavier_uniform_(conv.weight.data[t * block:(t + 1) * block])
            nn.init.zeros_(conv.bias)

    def convolutions(self) -> list[nn.Conv2d]:
        """The convolution layers in order."""
        return [m for m in self.layers if isinstance(m, nn.Conv2d)]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Maps in [0, 1] of shape (B, n_targets, h, w), at the readout's native resolution."""
        return torch.sigmoid(self.layers(features))

    def single_target(self, target: int) -> "PosENet":
        """A one-target PosENet holding a copy of target ``target``'s parameters and BN statistics."""
        return self.blocks(target, 1)

    def blocks(self, start: int, count: int) -> "PosENet":
        """A ``count``-target PosENet holding copies of targets ``start .. start + count - 1``."""
        part = PosENet(self.in_channels, count, self.depth, self.kernel_size, self.padding, self.hidden_channels)
        for mine, theirs in zip(self.layers, part.layers):
            if isinstance(mine, (nn.Conv2d, nn.BatchNorm2d)):
                block = (mine.out_channels if isinstance(mine, nn.Conv2d) else mine.num_features) // self.n_targets
                rows = slice(start * block, (start + count) * block)
                for name, tensor in list(mine.named_parameters(recurse=False)) + list(mine.named_buffers(recurse=False)):
                    value = tensor.data if tensor.ndim == 0 else tensor.data[rows]
                    getattr(theirs, name).data.copy_(value)
        return part

    @classmethod
    def stack(cls, models: list["PosENet"]) -> "PosENet":
        """One PosENet whose target blocks are those of ``models`` in order (inverse of :meth:`blocks`).

        All models must share the architecture; BN step counters are taken from the first.
        """
        first = models[0]
        total = sum(m.n_targets for m in models)
        stacked = cls(first.in_channels, total, first.depth, first.kernel_size, first.padding, first.hidden_channels)
        for index, layer in enumerate(stacked.layers):
            if isinstance(layer, (nn.Conv2d, nn.BatchNorm2d)):
                for name, tensor in list(layer.named_parameters(recurse=False)) + list(layer.named_buffers(recurse=False)):
                    parts = [getattr(m.layers[index], name).data for m in models]
                    tensor.data.copy_(parts[0] if tensor.ndim == 0 else torch.cat(parts))
        return stacked


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


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling of readout maps to (size, size)."""
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def _timed_matmul(dtype: torch.dtype, device: torch.device, size: int, repeats: int) -> float:
    """Seconds per ``size`` x ``size`` matrix product in ``dtype`` on ``device`` (best of ``repeats``)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


@functools.lru_cache(maxsize=None)
def fast_dtype(device_type: str = "cpu") -> tuple[str, str]:
    """The training dtype :attr:`ReadoutConfig.compute` ``"auto"`` picks on this device, and why.

    CUDA: bfloat16 when the GPU supports it. CPU: bfloat16 only when oneDNN reports
    bfloat16 support (AVX512-BF16 or AMX) *and* a tiny timing probe (512 x 512 products)
    finds bfloat16 products at least 1.5x faster than float32; otherwise float32. Cached
    per process.

    Returns
    -------
    mode : str
        ``"bfloat16"`` or ``"float32"``.
    reason : str
        What decided it (capability and measured ratio).
    """
    if device_type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ("bfloat16" if ok else "float32"), f"cuda bf16 supported: {ok}"
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    capable = bool(supported()) if supported is not None else False
    capability = torch.backends.cpu.get_cpu_capability()
    if not capable:
        return "float32", f"cpu capability {capability}, no oneDNN bfloat16"
    device = torch.device("cpu")
    ratio = _timed_matmul(torch.float32, device, 512, 3) / _timed_matmul(torch.bfloat16, device, 512, 3)
    mode = "bfloat16" if ratio >= 1.5 else "float32"
    return mode, f"cpu capability {capability}, oneDNN bfloat16, measured bf16/fp32 speed {ratio:.1f}x"


def resolve_compute(compute: str, device: torch.device) -> tuple[str, str]:
    """Concrete compute mode for :attr:`ReadoutConfig.compute` on ``device`` and the reason."""
    check_choice(compute, COMPUTE_MODES, "readout compute mode")
    if compute != "auto":
        return compute, "requested"
    return fast_dtype(device.type)


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

    def batch(self, index: np.ndarray, device: torch.device, dtype: torch.dtype):
        """``(full_batch or None, [coarse batches])`` of images ``index``, channels-last, in ``dtype``.

        The batches live in buffers kept by this object (:func:`load_batch`): each call
        overwrites the previous call's batches.
        """
        full = None if self.full is None else load_batch(self.full, index, device, dtype, self.buffers)
        return full, [load_batch(group, index, device, dtype, self.buffers) for group in self.coarse]


def _recover_native(features: np.ndarray, channels: np.ndarray, side: int, dtype: torch.dtype,
                    chunk: int = 32) -> tuple[torch.Tensor, float]:
    """Maps of ``channels`` at ``side`` x ``side`` recovered from their upsampled cache, and the relative residual."""
    size = features.shape[-1]
    upsampling = interpolation_matrix(side, size)
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


@functools.lru_cache(maxsize=64)
def _tap_lift(side: int, size: int, kernel: int, padding: int) -> torch.Tensor:
    """(out, kernel * side) matrix ``L``: ``L Z L^T`` upsamples and shift-sums the k x k tap maps of ``Z``.

    ``Z`` holds the tap maps ``z_ij`` (side x side each) as blocks ``(i, j)``; with ``A`` the
    upsampling (zero rows added for the readout's padding), ``L = [A_0 ... A_{k-1}]`` with
    ``A_i = A[i:i + out]``, so ``L Z L^T = sum_ij A_i z_ij A_j^T``, the convolution output.
    """
    upsampling = F.pad(interpolation_matrix(side, size).float(), (0, 0, padding, padding))
    out = size + 2 * padding - kernel + 1
    return torch.cat([upsampling[i:i + out] for i in range(kernel)], dim=1)


def _first_convolution(conv: nn.Conv2d, full: torch.Tensor | None, coarse: list[torch.Tensor], side: int,
                       dtype: torch.dtype) -> torch.Tensor:
    """The first convolution on full-resolution channels plus coarse groups at their own side (float32 out)."""
    kernel, padding = conv.kernel_size[0], conv.padding[0]
    n_full = 0 if full is None else full.shape[1]
    if full is None:
        result = conv.bias.float().view(1, -1, 1, 1)
    else:
        result = F.conv2d(full, conv.weight[:, :n_full].to(dtype), conv.bias.to(dtype), padding=padding).float()
    start = n_full
    for group in coarse:
        stop, n, native = start + group.shape[1], len(group), group.shape[-1]
        # one 1x1 product per kernel tap: output channel o * k * k + i * k + j holds tap (i, j) of output o
        per_tap = conv.weight[:, start:stop].permute(0, 2, 3, 1).reshape(-1, stop - start, 1, 1)
        taps = F.conv2d(group, per_tap.to(dtype)).float()
        blocks = taps.reshape(n, conv.out_channels, kernel, kernel, native, native).permute(0, 1, 2, 4, 3, 5)
        blocks = blocks.reshape(n, conv.out_channels, kernel * native, kernel * native)
        lift = _tap_lift(native, side, kernel, padding).to(blocks.device)
        result = result + lift @ blocks @ lift.T
        start = stop
    return result


def fast_forward(model: PosENet, x, dtype: torch.dtype, first_groups: int = 1) -> torch.Tensor:
    """:meth:`PosENet.forward` with convolutions in ``dtype`` (float32 master weights), BN in float32.

    Convolution weights are cast to ``dtype`` inside the autograd graph, so gradients reach
    the float32 parameters; convolution outputs, BatchNorm, ReLU and the sigmoid are float32.
    ``x`` is a channels-last batch, or ``(full, coarse, side)`` from :meth:`ReadoutInputs.batch`
    plus the side (coarse groups at their own resolution, see the module docstring).
    ``first_groups`` > 1 makes the first convolution grouped: output block ``g`` (one seed's
    targets) reads only input channel set ``g`` (per-seed channel sets of :func:`train_readouts`).
    (A per-pixel matrix-product formulation of the whole first convolution, ``(B*H*W, C) @
    (C, k*k*O)`` plus k*k shifted sums, measured slower than oneDNN's bfloat16 convolution
    at 28 x 28, so it is used for coarse groups only.)
    """
    first = True
    for layer in model.layers:
        if isinstance(layer, nn.Conv2d):
            if first and isinstance(x, tuple):
                x = _first_convolution(layer, *x, dtype)
            else:
                x = F.conv2d(x.to(dtype), layer.weight.to(dtype), layer.bias.to(dtype), padding=layer.padding,
                             groups=first_groups if first else layer.groups).float()
            first = False
        else:
            x = layer(x)
    return torch.sigmoid(x)


def interpolation_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """(out_size, in_size) matrix ``A`` with ``upsample(p) == A @ p @ A.T`` for square maps ``p``.

    :func:`upsample` (bilinear, ``align_corners=False``) is separable, so each axis is the
    1-D linear interpolation of the identity's columns.
    """
    eye = torch.eye(in_size, dtype=torch.float64)[None]
    return F.interpolate(eye, size=out_size, mode="linear", align_corners=False)[0].T.contiguous()


class UpsampledMSE:
    """The training loss of :func:`train_readout` without materialising the upsampled maps.

    For a native map ``p`` (s x s), its bilinear upsampling ``A p A^T`` (``A`` from
    :func:`interpolation_matrix`) and a target ``T``::

        ||A p A^T - T||^2 = <G p G, p> - 2 <p, A^T T A> + ||T||^2,   G = A^T A,

    so the mean squared error at the target size costs two s x s products per map instead
    of a 224 x 224 upsampling forward and backward (which took most of the original epoch).
    The value is the same function of ``p`` (float32 rounding differs); autograd gives
    its exact gradient.

    Parameters
    ----------
    targets : torch.Tensor
        (K, S, S) target maps, one per output channel.
    in_size : int
        Side ``s`` of the readout's native output.
    """

    def __init__(self, targets: torch.Tensor, in_size: int):
        size = targets.shape[-1]
        a = interpolation_matrix(in_size, size).to(targets.device)
        t = targets.double()
        self.gram = (a.T @ a).float()
        self.projected = (a.T @ t @ a).float()
        self.constant = (t ** 2).sum(dim=(1, 2)).float()
        self.pixels = size * size

    def per_channel(self, maps: torch.Tensor) -> torch.Tensor:
        """Mean over batch and pixels of the squared error, per channel (K,)."""
        quadratic = (self.gram @ maps @ self.gram * maps).sum(dim=(2, 3))
        linear = (maps * self.projected).sum(dim=(2, 3))
        return (quadratic - 2 * linear + self.constant).mean(dim=0) / self.pixels


def train_readouts(features: np.ndarray, targets: np.ndarray, config: ReadoutConfig, seeds,
                   channels: np.ndarray | None = None, device: torch.device | None = None,
                   progress: bool = True, description: str = "readout",
                   models: list[PosENet] | None = None,
                   info: dict | None = None,
                   native_sizes: np.ndarray | None = None) -> list[tuple[PosENet, list[float]]]:
    """Train readouts for every seed (all targets each) in one pass over the features per epoch.

    The ``len(seeds)`` readouts are blocks of one grouped :class:`PosENet` with
    ``len(seeds) * T`` disjoint target blocks (see the module docstring), so every epoch
    reads each feature batch once for all seeds and targets. Seed ``s``'s block is
    initialised exactly as ``PosENet(...)`` under ``torch.manual_seed(s)``. **All seeds
    share one batch order, drawn from the first seed** (``batch_order(..., seeds[0])``):
    within a call, seeds differ by their initialisation only. (A single-seed call, as
    :func:`train_readout` makes, therefore has that seed's own batch order.)

    The compute mode is ``config.compute`` (see :func:`resolve_compute`):

    * ``"bfloat16"``: features held in RAM as bfloat16, convolutions in bfloat16 with
      float32 master weights, BatchNorm / sigmoid / loss / SGD in float32;
    * ``"float32"``: the same grouped model in float32;
    * ``"float32-reference"``: the original path, one float32 model per seed trained on the
      upsampled maps (the same shared batch order), kept as the benchmark's reference.

    The grouped modes compute the loss with :class:`UpsampledMSE` (no 224 x 224 maps) and
    the convolutions with :func:`fast_forward`; given ``native_sizes`` they run the first
    convolution of coarse taps at those taps' own resolution (module docstring).

    Parameters
    ----------
    features : numpy.ndarray
        (N, C, S, S) features, e.g. :attr:`poslib.features.FeatureSet.array`.
    targets : numpy.ndarray
        (T, size, size) position maps in [0, 1] with ``size == config.target_size``.
    config : ReadoutConfig
    seeds : sequence of int
        Seeds of the initialisations; the first also draws the shared batch order.
    channels : numpy.ndarray or list of numpy.ndarray, optional
        Use only these feature channels (e.g. one tap). A list gives each seed's readout its
        own channel set (all of one size; a seed may then repeat): the blocks read their
        sets through one grouped first convolution, so e.g. all random channel draws of a
        backbone train in one pass (``native_sizes`` is then not used).
    device : torch.device, optional
    progress : bool
        Show a progress bar over epochs.
    description : str
        Progress-bar label.
    models : list of PosENet, optional
        Start from these readouts (one per seed, ``T`` targets each) instead of fresh ones.
    info : dict, optional
        Filled with ``compute`` (the concrete mode), ``compute_reason``, ``batch_order_seed``,
        ``epoch_seconds`` (wall time per epoch, all seeds together) and, in the grouped
        modes, ``coarse_channels`` and ``kept_as_cached`` (:class:`ReadoutInputs`).
    native_sizes : numpy.ndarray, optional
        Side of each selected channel before it was resized to the cached side
        (:meth:`poslib.features.FeatureSet.channel_sizes`); ignored by the reference mode.

    Returns
    -------
    list of (PosENet, list of float)
        Per seed, in order: the trained single-seed readout (``T`` targets, eval mode, on
        the CPU, float32) and its mean training loss (sum over its targets) per epoch.
    """
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("train_readouts needs at least one seed")
    device = device or default_device()
    compute, reason = resolve_compute(config.compute, device)
    info = {} if info is None else info
    info.update(compute=compute, compute_reason=reason, batch_order_seed=seeds[0], epoch_seconds=[])
    n_targets = len(targets)
    per_seed_channels = isinstance(channels, (list, tuple))
    if per_seed_channels and (len(channels) != len(seeds) or len({len(c) for c in channels}) != 1):
        raise ConfigError(f"train_readouts: {len(channels)} channel sets for {len(seeds)} seeds; one set per seed, "
                          "all of the same size, is needed")
    batches = batch_order(len(features), config.batch_size, config.epochs, seeds[0])
    if compute == "float32-reference":
        results = []
        shared = None if per_seed_channels else feature_tensor(features, channels)
        for index, seed in enumerate(seeds):
            model = models[index] if models is not None else None
            inputs = feature_tensor(features, channels[index]) if per_seed_channels else shared
            results.append(_train_reference(inputs, targets, config, seed, batches, device, progress,
                                            f"{description} seed {seed}", model, info["epoch_seconds"]))
        return results

    dtype = torch.bfloat16 if compute == "bfloat16" else torch.float32
    if per_seed_channels:
        inputs = readout_inputs(features, np.concatenate(channels), None, dtype)
        in_channels, first_groups = len(channels[0]), len(seeds)
    else:
        inputs = readout_inputs(features, channels, native_sizes, dtype)
        in_channels, first_groups = len(inputs.order), 1
    info.update(inputs.info)
    if models is None:
        models = []
        for seed in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                models.append(PosENet(in_channels, n_targets, config.depth, config.kernel_size,
                                      config.padding, config.hidden_channels))
    # channels-last weights: oneDNN's convolution (backward above all) is faster with them
    model = PosENet.stack(models).to(device=device, memory_format=torch.channels_last)
    first = model.convolutions()[0]
    order = torch.from_numpy(inputs.order if first_groups == 1 else np.arange(in_channels))
    with torch.no_grad():  # input channels in training order (undone below); SGD is elementwise, so it commutes
        first.weight.copy_(first.weight[:, order])
    out_size = inputs.side
    for _ in range(config.depth):
        out_size = out_size + 2 * config.padding - config.kernel_size + 1
    target_tensor = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
    criterion = UpsampledMSE(target_tensor.repeat(len(seeds), 1, 1), out_size)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[config.milestone], gamma=0.1)
    per_epoch = len(batches) // config.epochs
    losses = [[] for _ in seeds]
    model.train()
    for epoch in progress_bar(range(config.epochs), description, progress):
        started = time.perf_counter()
        totals = torch.zeros(len(seeds), dtype=torch.float64)
        for index in batches[epoch * per_epoch:(epoch + 1) * per_epoch]:
            full, coarse = inputs.batch(index, device, dtype)
            batch = (full, coarse, inputs.side) if coarse else full
            per_channel = criterion.per_channel(fast_forward(model, batch, dtype, first_groups))
            optimiser.zero_grad(set_to_none=True)
            per_channel.sum().backward()
            optimiser.step()
            totals += per_channel.detach().view(len(seeds), n_targets).sum(dim=1).double().cpu() * len(index)
        schedule.step()
        for s, total in enumerate(totals.tolist()):
            losses[s].append(total / len(features))
        info["epoch_seconds"].append(time.perf_counter() - started)
    model = model.eval().cpu()
    with torch.no_grad():
        first.weight.copy_(first.weight[:, torch.argsort(order)])
    return [(model.blocks(s * n_targets, n_targets).eval(), losses[s]) for s in range(len(seeds))]


def _train_reference(inputs, targets: np.ndarray, config: ReadoutConfig, seed: int, batches, device,
                     progress: bool, description: str, model: PosENet | None,
                     epoch_seconds: list) -> tuple[PosENet, list[float]]:
    """The original per-seed float32 training (loss on the upsampled maps) on given batches."""
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = PosENet(inputs.shape[1], len(targets), config.depth, config.kernel_size, config.padding,
                            config.hidden_channels)
    model = model.to(device=device, memory_format=torch.channels_last)
    target_tensor = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[config.milestone], gamma=0.1)
    per_epoch = len(batches) // config.epochs
    losses = []
    model.train()
    for epoch in progress_bar(range(config.epochs), description, progress):
        started = time.perf_counter()
        total = 0.0
        for index in batches[epoch * per_epoch:(epoch + 1) * per_epoch]:
            batch = load_batch(inputs, index, device)
            prediction = upsample(model(batch), config.target_size)
            loss = ((prediction - target_tensor) ** 2).mean(dim=(0, 2, 3)).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        schedule.step()
        losses.append(total / len(inputs))
        epoch_seconds.append(time.perf_counter() - started)
    return model.eval().cpu().to(memory_format=torch.contiguous_format), losses


def train_readout(features: np.ndarray, targets: np.ndarray, config: ReadoutConfig, seed: int = 0,
                  channels: np.ndarray | None = None, device: torch.device | None = None,
                  progress: bool = True, description: str = "readout",
                  model: PosENet | None = None, info: dict | None = None) -> tuple[PosENet, list[float]]:
    """Train one :class:`PosENet` for all targets in one pass over the features (one seed).

    :func:`train_readouts` with ``seeds=[seed]``: ``seed`` draws the initialisation and the
    batch order; ``config.compute`` selects the compute mode.

    Parameters
    ----------
    features : numpy.ndarray
        (N, C, S, S) features, e.g. :attr:`poslib.features.FeatureSet.array`.
    targets : numpy.ndarray
        (T, size, size) position maps in [0, 1] with ``size == config.target_size``.
    config : ReadoutConfig
    seed : int
        Seed of the initialisation and of the batch order.
    channels : numpy.ndarray, optional
        Use only these feature channels (e.g. one tap).
    device : torch.device, optional
    progress : bool
        Show a progress bar over epochs.
    description : str
        Progress-bar label.
    model : PosENet, optional
        Start from this readout (trained in place in the reference mode, copied otherwise)
        instead of a fresh one initialised with ``seed``.
    info : dict, optional
        Filled as by :func:`train_readouts`.

    Returns
    -------
    model : PosENet
        The trained readout, in eval mode, on the CPU.
    losses : list of float
        Mean training loss (sum over targets) per epoch.
    """
    return train_readouts(features, targets, config, [seed], channels, device, progress, description,
                          None if model is None else [model], info)[0]


@torch.inference_mode()
def predict(model: PosENet, features: np.ndarray | torch.Tensor, size: int, channels: np.ndarray | None = None,
            batch_size: int = 32, device: torch.device | None = None) -> np.ndarray:
    """Predicted maps (N, T, size, size) as float32, the model in eval mode.

    ``features`` is a cached array (channels selected by ``channels``) or the output of
    :func:`feature_tensor`.
    """
    device = device or default_device()
    inputs = features if isinstance(features, (torch.Tensor, MappedFeatures)) else feature_tensor(features, channels)
    model = model.to(device).eval()
    outputs = [upsample(model(load_batch(inputs, np.arange(i, min(i + batch_size, len(inputs))), device)),
                        size).cpu().numpy()
               for i in range(0, len(inputs), batch_size)]
    model.cpu()
    return np.concatenate(outputs)


def evaluate(model: PosENet, features: np.ndarray, targets: np.ndarray, pattern_names,
             channels: np.ndarray | None = None, batch_size: int = 32,
             device: torch.device | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Per-image SPC, MAE and constant flags of every target.

    Returns
    -------
    dict
        ``{pattern: {"spc": (N,), "mae": (N,), "constant": (N,)}}``.
    """
    size = targets.shape[-1]
    inputs = feature_tensor(features, channels)
    results = {name: {"spc": [], "mae": [], "constant": []} for name in pattern_names}
    for start in range(0, len(inputs), batch_size):
        prediction = predict(model, inputs[start:start + batch_size], size, batch_size=batch_size, device=device)
        for t, name in enumerate(pattern_names):
            spc, constant = spearman_per_image(prediction[:, t], targets[t])
            results[name]["spc"].append(spc)
            results[name]["constant"].append(constant)
            results[name]["mae"].append(mae_per_image(prediction[:, t], targets[t]))
    return {name: {k: np.concatenate(v) for k, v in values.items()} for name, values in results.items()}

