"""The PosENet readout and its training on cached features.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .config import ConfigError, default_device
from .metrics import mae_per_image, spearman_per_image


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

    def __post_init__(self):
        if self.depth < 1 or self.kernel_size < 1 or self.padding < 0 or self.epochs < 1:
            raise ConfigError(f"invalid readout configuration {self}")

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
        single = PosENet(self.in_channels, 1, self.depth, self.kernel_size, self.padding, self.hidden_channels)
        for mine, theirs in zip(self.layers, single.layers):
            if isinstance(mine, (nn.Conv2d, nn.BatchNorm2d)):
                block = (mine.out_channels if isinstance(mine, nn.Conv2d) else mine.num_features) // self.n_targets
                rows = slice(target * block, (target + 1) * block)
                for name, tensor in list(mine.named_parameters(recurse=False)) + list(mine.named_buffers(recurse=False)):
                    value = tensor.data if tensor.ndim == 0 else tensor.data[rows]
                    getattr(theirs, name).data.copy_(value)
        return single


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


def feature_tensor(features: np.ndarray, channels: np.ndarray | None = None):
    """Read (the selected channels of) cached features once into a channels-last torch tensor.

    Convolutions with few output channels run about three times faster on the CPU in
    channels-last layout. The tensor is float32 when it fits :data:`FLOAT32_RAM_LIMIT`,
    else float16 (converted batch by batch); above :data:`IN_RAM_LIMIT` the features stay
    memory-mapped (:class:`MappedFeatures`).
    """
    n_channels = features.shape[1] if channels is None else len(channels)
    if features.shape[0] * n_channels * np.prod(features.shape[2:]) * 2 > IN_RAM_LIMIT:
        return MappedFeatures(features, channels)
    source = features if channels is None else features[:, channels]
    # One copy out of the memory map, straight into channels-last order.
    tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(source, 1, 3))).permute(0, 3, 1, 2)
    if tensor.numel() * 4 <= FLOAT32_RAM_LIMIT:
        tensor = tensor.float()
    return tensor


def load_batch(features, index: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 channels-last batch ``features[index]`` on ``device`` (a tensor or :class:`MappedFeatures`)."""
    batch = features[torch.from_numpy(np.asarray(index))].to(device=device, dtype=torch.float32)
    return batch.contiguous(memory_format=torch.channels_last)


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling of readout maps to (size, size)."""
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)


def train_readout(features: np.ndarray, targets: np.ndarray, config: ReadoutConfig, seed: int = 0,
                  channels: np.ndarray | None = None, device: torch.device | None = None,
                  progress: bool = True, description: str = "readout",
                  model: PosENet | None = None) -> tuple[PosENet, list[float]]:
    """Train one :class:`PosENet` for all targets in one pass over the features.

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
        Start from this readout (trained in place) instead of a fresh one initialised with ``seed``.

    Returns
    -------
    model : PosENet
        The trained readout, in eval mode, on the CPU.
    losses : list of float
        Mean training loss (sum over targets) per epoch.
    """
    device = device or default_device()
    inputs = feature_tensor(features, channels)
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
    batches = batch_order(len(features), config.batch_size, config.epochs, seed)
    per_epoch = len(batches) // config.epochs
    losses = []
    model.train()
    for epoch in tqdm(range(config.epochs), desc=description, disable=not progress, leave=False):
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
        losses.append(total / len(features))
    return model.eval().cpu().to(memory_format=torch.contiguous_format), losses


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

