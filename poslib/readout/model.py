"""The PosENet readout: its configuration, the model and the upsampling of its output.

PosENet (paper, Sec. 3): k x k convolutions on the 28 x 28 concatenated features; the last
one has one output channel, followed by BatchNorm and a sigmoid; intermediate layers keep
the channel count and use BN + ReLU; Xavier initialisation. The 26 x 26 output (one 3x3
layer, padding 0) is bilinearly upsampled (:func:`upsample`) to the target size (224) for
the loss and the metrics; :func:`bilinear_matrix` is that upsampling as a matrix.

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
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, check_choice, epochs_for_steps


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
    readout_padding : int
        Zero padding of each readout convolution (the paper: 0, 1, 2); ``padding`` is its old name.
    hidden_channels : int or None
        Channels of intermediate layers per target; None keeps the input count (the paper).
    epochs : int
        Training epochs; the learning rate drops x0.1 after ``round(2/3 * epochs)`` of them.
    min_steps : int
        Least SGD steps (0: none): :func:`train_readouts` trains
        :meth:`for_training_set` of this configuration, whose ``epochs`` are raised to reach
        ``min_steps`` on the images it is given (:func:`poslib.config.epochs_for_steps`).
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
    readout_padding: int = 0
    hidden_channels: int | None = None
    epochs: int = 15
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 32
    target_size: int = 224
    compute: str = "auto"
    min_steps: int = 0

    def __post_init__(self):
        if (self.depth < 1 or self.kernel_size < 1 or self.readout_padding < 0 or self.epochs < 1
                or self.min_steps < 0):
            raise ConfigError(f"invalid readout configuration {self}")
        check_choice(self.compute, COMPUTE_MODES, "readout compute mode")

    @property
    def padding(self) -> int:
        """Old name of :attr:`readout_padding`."""
        return self.readout_padding

    def epochs_for(self, n_images: int) -> int:
        """Epochs trained on ``n_images`` images: :attr:`epochs`, raised to reach :attr:`min_steps`."""
        return epochs_for_steps(self.epochs, self.min_steps, n_images, self.batch_size)

    def for_training_set(self, n_images: int) -> "ReadoutConfig":
        """This configuration with the epochs it trains on ``n_images`` images (:meth:`epochs_for`)."""
        epochs = self.epochs_for(n_images)
        return self if epochs == self.epochs else replace(self, epochs=epochs)

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
    depth, kernel_size, hidden_channels :
        As in :class:`ReadoutConfig`.
    padding : int
        :attr:`ReadoutConfig.readout_padding`.
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


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling of readout maps to (size, size)."""
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def bilinear_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """(out_size, in_size) matrix ``A`` with ``upsample(p) == A @ p @ A.T`` for square maps ``p``.

    :func:`upsample` (bilinear, ``align_corners=False``) is separable, so each axis is the
    1-D linear interpolation of the identity's columns.
    """
    eye = torch.eye(in_size, dtype=torch.float64)[None]
    return F.interpolate(eye, size=out_size, mode="linear", align_corners=False)[0].T.contiguous()


#: Former name of :func:`bilinear_matrix` (kept for callers outside the package).
interpolation_matrix = bilinear_matrix


def readout_epoch_flops(config: ReadoutConfig, n_images: int, in_channels: int, side: int,
                        n_readouts: int) -> dict:
    """Convolution FLOPs of one training epoch of ``n_readouts`` readouts (each all targets' outputs).

    The one count of readout work: the benchmark's GFLOP/s (:mod:`poslib.bench`) and each
    notebook's readout FLOPs (:func:`poslib.readout.train_readouts` adds them to
    :mod:`poslib.work`) both use it.

    Counted: multiply-adds x 2 of every convolution. The first convolution counts its
    forward and its weight gradient (the features need no gradient); later (grouped)
    convolutions count forward, weight gradient and input gradient. BatchNorm, sigmoid,
    the loss, the upsampling and SGD are not counted (element-wise work).

    Parameters
    ----------
    config : ReadoutConfig
        Depth, kernel, padding and hidden width of the readout.
    n_images : int
        Training images per epoch.
    in_channels : int
        Feature channels each readout reads.
    side : int
        Side of the cached features (28); coarse taps run at their own side count as this.
    n_readouts : int
        Readouts trained together: seeds x targets.

    Returns
    -------
    dict
        ``first_layer`` and ``later_layers`` FLOPs and their ``total``.
    """
    hidden = config.hidden_channels or in_channels
    widths = [hidden] * (config.depth - 1) + [1]
    first = later = 0
    previous, size = in_channels, side
    for index, width in enumerate(widths):
        size = size + 2 * config.readout_padding - config.kernel_size + 1
        macs = n_images * size * size * width * n_readouts * previous * config.kernel_size ** 2
        if index == 0:
            first += 2 * 2 * macs
        else:
            later += 3 * 2 * macs
        previous = width
    return {"first_layer": first, "later_layers": later, "total": first + later}
