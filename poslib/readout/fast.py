"""The fast training path: the compute mode, convolutions in bfloat16, coarse taps at their own side, the exact loss.

:func:`resolve_compute` turns :attr:`~poslib.readout.model.ReadoutConfig.compute` into a
concrete mode (``"auto"`` asks :func:`fast_dtype`). :func:`fast_forward` runs a
:class:`~poslib.readout.model.PosENet` with its convolutions in that dtype and everything
else in float32, and :class:`UpsampledMSE` computes the loss at the target size without
upsampling the maps.

Coarse taps at their own resolution
-----------------------------------
Taps coarser than the readout's grid (VGG16's f5 at 14 x 14, ResNet-152's f4 at 14 x 14
and f5 at 7 x 7) are cached bilinearly upsampled to 28 x 28: ``X = A x A^T`` per channel,
``A`` being :func:`~poslib.readout.model.bilinear_matrix`. A convolution is linear in its
input, and the upsampling acts on space while the weights act on channels, so for each
kernel tap ``(i, j)`` with weights ``W_ij``::

    conv(X, W) = sum_ij shift_ij( upsample( x . W_ij ) )

The grouped training path (:func:`poslib.readout.training.train_readouts`) uses it when it
is told each channel's side before resizing (``native_sizes``, from
:meth:`poslib.features.FeatureSet.channel_sizes`): the ``k*k*O`` products of a coarse group
run on its ``n x n`` maps, not on 28 x 28 (16x fewer positions at 7 x 7), and their small
outputs are upsampled and shift-summed by two matrix products (:func:`_tap_lift`). Which
groups run at their own side, and how their maps are recovered from the cache, is decided
by :func:`poslib.readout.inputs.readout_inputs`. The trained readout is an ordinary
:class:`~poslib.readout.model.PosENet` on the 28 x 28 features, evaluated as any other; the
tests check that both formulations train the same readout.
"""

from __future__ import annotations

import functools
import time

import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_choice
from .model import COMPUTE_MODES, PosENet, bilinear_matrix


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


@functools.lru_cache(maxsize=64)
def _tap_lift(side: int, size: int, kernel: int, padding: int) -> torch.Tensor:
    """(out, kernel * side) matrix ``L``: ``L Z L^T`` upsamples and shift-sums the k x k tap maps of ``Z``.

    ``Z`` holds the tap maps ``z_ij`` (side x side each) as blocks ``(i, j)``; with ``A`` the
    upsampling (zero rows added for the readout's padding), ``L = [A_0 ... A_{k-1}]`` with
    ``A_i = A[i:i + out]``, so ``L Z L^T = sum_ij A_i z_ij A_j^T``, the convolution output.
    """
    upsampling = F.pad(bilinear_matrix(side, size).float(), (0, 0, padding, padding))
    out = size + 2 * padding - kernel + 1
    return torch.cat([upsampling[i:i + out] for i in range(kernel)], dim=1)


def _first_convolution(weight: torch.Tensor, bias: torch.Tensor, padding: int, full: torch.Tensor | None,
                       coarse: list[torch.Tensor], side: int, dtype: torch.dtype) -> torch.Tensor:
    """A first convolution (``weight``, ``bias``) on full-resolution channels plus coarse groups at their own side.

    Float32 out; ``weight`` may be a slice of a grouped model's rows (one seed's block).
    """
    out_channels, kernel = weight.shape[0], weight.shape[-1]
    n_full = 0 if full is None else full.shape[1]
    if full is None:
        result = bias.float().view(1, -1, 1, 1)
    else:
        result = F.conv2d(full, weight[:, :n_full].to(dtype), bias.to(dtype), padding=padding).float()
    start = n_full
    for group in coarse:
        stop, n, native = start + group.shape[1], len(group), group.shape[-1]
        # one 1x1 product per kernel tap: output channel o * k * k + i * k + j holds tap (i, j) of output o
        per_tap = weight[:, start:stop].permute(0, 2, 3, 1).reshape(-1, stop - start, 1, 1)
        taps = F.conv2d(group, per_tap.to(dtype)).float()
        blocks = taps.reshape(n, out_channels, kernel, kernel, native, native).permute(0, 1, 2, 4, 3, 5)
        blocks = blocks.reshape(n, out_channels, kernel * native, kernel * native)
        lift = _tap_lift(native, side, kernel, padding).to(blocks.device)
        result = result + lift @ blocks @ lift.T
        start = stop
    return result


def _seed_blocks_convolution(conv: nn.Conv2d, xs: list, per_seed_channels: bool, dtype: torch.dtype) -> torch.Tensor:
    """A grouped model's first convolution when seed block ``s`` reads its own batch ``xs[s]``.

    One convolution per seed (block ``s``'s output rows of the weight on batch ``s``), the
    outputs concatenated. Stacking the seeds' batches along the channels for one grouped
    convolution costs a copy of every batch in channels-last memory, which dominated the
    step (measured on the idle machine, VGG16-shaped batch of 32 x 1,472 x 28 x 28 in
    bfloat16, forward and weight gradient: 173 ms stacked and grouped, 91 ms one convolution
    per seed, 31 ms when all seeds share one batch; three batches are inherently about three
    times the work of one). Coarse groups (``xs[s]`` a ``(full, coarse, side)`` tuple) run
    per seed at their own resolution and are added. With per-seed channel sets each batch is
    cut to the seed's own set.
    """
    n_seeds = len(xs)
    rows = conv.out_channels // n_seeds
    fulls, coarse, side = [], [], 0
    for index, x in enumerate(xs):
        full, groups, side = x if isinstance(x, tuple) else (x, [], 0)
        if per_seed_channels and full is not None:
            full = full[:, index * conv.in_channels:(index + 1) * conv.in_channels]
        fulls.append(full)
        coarse.append(groups)
    n_full = 0 if fulls[0] is None else fulls[0].shape[1]
    if n_full:
        weight, bias = conv.weight[:, :n_full].to(dtype), conv.bias.to(dtype)
        result = torch.cat([F.conv2d(full.to(dtype), weight[s * rows:(s + 1) * rows], bias[s * rows:(s + 1) * rows],
                                     padding=conv.padding).float() for s, full in enumerate(fulls)], dim=1)
    else:
        result = conv.bias.float().view(1, -1, 1, 1)
    if any(coarse):
        no_bias = torch.zeros(rows, dtype=conv.bias.dtype, device=conv.bias.device)
        result = result + torch.cat([
            _first_convolution(conv.weight[s * rows:(s + 1) * rows, n_full:], no_bias, conv.padding[0], None,
                               coarse[s], side, dtype) for s in range(n_seeds)], dim=1)
    return result


def fast_forward(model: PosENet, x, dtype: torch.dtype, first_groups: int = 1) -> torch.Tensor:
    """:meth:`PosENet.forward` with convolutions in ``dtype`` (float32 master weights), BN in float32.

    Convolution weights are cast to ``dtype`` inside the autograd graph, so gradients reach
    the float32 parameters; convolution outputs, BatchNorm, ReLU and the sigmoid are float32.
    ``x`` is a channels-last batch, or ``(full, coarse, side)`` from :meth:`ReadoutInputs.batch`
    plus the side (coarse groups at their own resolution, see the module docstring), or a
    *list* of those, one per seed block of a grouped model: block ``s`` then reads its own
    batch ``x[s]`` (independent batch orders, :func:`poslib.readout.train_readouts`).
    ``first_groups`` > 1 makes the first convolution grouped: output block ``g`` (one seed's
    targets) reads only input channel set ``g`` (per-seed channel sets of :func:`train_readouts`).
    (A per-pixel matrix-product formulation of the whole first convolution, ``(B*H*W, C) @
    (C, k*k*O)`` plus k*k shifted sums, measured slower than oneDNN's bfloat16 convolution
    at 28 x 28, so it is used for coarse groups only.)
    """
    first = True
    for layer in model.layers:
        if isinstance(layer, nn.Conv2d):
            if first and isinstance(x, list):
                x = _seed_blocks_convolution(layer, x, first_groups > 1, dtype)
            elif first and isinstance(x, tuple):
                x = _first_convolution(layer.weight, layer.bias, layer.padding[0], *x, dtype)
            else:
                x = F.conv2d(x.to(dtype), layer.weight.to(dtype), layer.bias.to(dtype), padding=layer.padding,
                             groups=first_groups if first else layer.groups).float()
            first = False
        else:
            x = layer(x)
    return torch.sigmoid(x)


class UpsampledMSE:
    """The training loss of :func:`train_readout` without materialising the upsampled maps.

    For a native map ``p`` (s x s), its bilinear upsampling ``A p A^T`` (``A`` from
    :func:`bilinear_matrix`) and a target ``T``::

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
        a = bilinear_matrix(in_size, size).to(targets.device)
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
