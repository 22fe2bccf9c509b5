"""Training the readout on cached features, and its predictions and per-image scores.

:func:`train_readouts` trains the readouts of every seed (all targets each) in one pass
over the features per epoch, as blocks of one grouped
:class:`~poslib.readout.model.PosENet`, on the fast path of :mod:`poslib.readout.fast`; the
compute mode ``"float32-reference"`` keeps the original per-seed float32 training
(:func:`_train_reference`) that the tests and the benchmark compare it with.
:func:`train_readout` is the one-seed call; :func:`predict` and :func:`evaluate` give the
upsampled maps and their per-image SPC and MAE. Every training call adds its FLOPs and
epoch seconds to :mod:`poslib.work` (a notebook's provenance records them).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..config import ConfigError, default_device, progress_bar
from ..metrics import mae_per_image, spearman_per_image
from ..work import add_readout_training
from .fast import UpsampledMSE, fast_forward, resolve_compute
from .inputs import MappedFeatures, batch_order, feature_tensor, load_batch, readout_inputs
from .model import PosENet, ReadoutConfig, readout_epoch_flops, upsample


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
    initialised exactly as ``PosENet(...)`` under ``torch.manual_seed(s)`` **and trained on
    its own batch order** (``batch_order(..., s)``): at every step each seed block reads its
    own mini-batch (:func:`poslib.readout.fast.fast_forward` with a list of batches), so a
    grouped call equals separate single-seed calls seed by seed, and the spread over seeds
    holds the noise of initialisation *and* of batch order. (A repeated seed, as in
    per-seed channel sets, repeats its order.)

    The compute mode is ``config.compute`` (see :func:`resolve_compute`):

    * ``"bfloat16"``: features held in RAM as bfloat16, convolutions in bfloat16 with
      float32 master weights, BatchNorm / sigmoid / loss / SGD in float32;
    * ``"float32"``: the same grouped model in float32;
    * ``"float32-reference"``: the original path, one float32 model per seed trained on the
      upsampled maps (each seed's own batch order), kept as the benchmark's reference.

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
        Seeds of the initialisations and of the batch orders, one per readout.
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
        Filled with ``compute`` (the concrete mode), ``compute_reason``, ``batch_order_seeds``,
        ``epochs`` and ``sgd_steps`` (as trained: ``config.min_steps`` may raise the epochs),
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
    config = config.for_training_set(len(features))  # epochs raised to config.min_steps SGD steps
    compute, reason = resolve_compute(config.compute, device)
    info = {} if info is None else info
    info.update(compute=compute, compute_reason=reason, batch_order_seeds=list(seeds), epoch_seconds=[],
                epochs=config.epochs, sgd_steps=config.epochs * -(-len(features) // config.batch_size))
    n_targets = len(targets)
    per_seed_channels = isinstance(channels, (list, tuple))
    if per_seed_channels and (len(channels) != len(seeds) or len({len(c) for c in channels}) != 1):
        raise ConfigError(f"train_readouts: {len(channels)} channel sets for {len(seeds)} seeds; one set per seed, "
                          "all of the same size, is needed")
    orders = {seed: batch_order(len(features), config.batch_size, config.epochs, seed) for seed in dict.fromkeys(seeds)}
    if compute == "float32-reference":
        results = []
        shared = None if per_seed_channels else feature_tensor(features, channels)
        for index, seed in enumerate(seeds):
            model = models[index] if models is not None else None
            inputs = feature_tensor(features, channels[index]) if per_seed_channels else shared
            results.append(_train_reference(inputs, targets, config, seed, orders[seed], device, progress,
                                            f"{description} seed {seed}", model, info["epoch_seconds"]))
        _count_work(config, features, channels, len(seeds), n_targets, info["epoch_seconds"])
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
                                      config.readout_padding, config.hidden_channels))
    # channels-last weights: oneDNN's convolution (backward above all) is faster with them
    model = PosENet.stack(models).to(device=device, memory_format=torch.channels_last)
    first = model.convolutions()[0]
    order = torch.from_numpy(inputs.order if first_groups == 1 else np.arange(in_channels))
    with torch.no_grad():  # input channels in training order (undone below); SGD is elementwise, so it commutes
        first.weight.copy_(first.weight[:, order])
    out_size = inputs.side
    for _ in range(config.depth):
        out_size = out_size + 2 * config.readout_padding - config.kernel_size + 1
    target_tensor = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
    criterion = UpsampledMSE(target_tensor.repeat(len(seeds), 1, 1), out_size)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[config.milestone], gamma=0.1)
    per_epoch = len(orders[seeds[0]]) // config.epochs
    losses = [[] for _ in seeds]
    model.train()
    for epoch in progress_bar(range(config.epochs), description, progress):
        started = time.perf_counter()
        totals = torch.zeros(len(seeds), dtype=torch.float64)
        for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            batch = []
            for slot, seed in enumerate(seeds):  # every seed block reads its own mini-batch
                full, coarse = inputs.batch(orders[seed][step], device, dtype, slot)
                batch.append((full, coarse, inputs.side) if coarse else full)
            index = orders[seeds[0]][step]  # batch sizes agree across seeds (same images, same batch size)
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
    _count_work(config, features, channels, len(seeds), n_targets, info["epoch_seconds"])
    return [(model.blocks(s * n_targets, n_targets).eval(), losses[s]) for s in range(len(seeds))]


def _count_work(config: ReadoutConfig, features: np.ndarray, channels, n_seeds: int, n_targets: int,
                epoch_seconds: list[float]) -> None:
    """Add a training call's FLOPs (:func:`readout_epoch_flops` x epochs) and epoch seconds to :mod:`poslib.work`.

    Each readout reads ``len(channels)`` channels (of one seed's set when ``channels`` is a
    list), at the cached side, whatever the compute path (as the benchmark counts).
    """
    if channels is None:
        in_channels = features.shape[1]
    else:
        in_channels = len(channels[0]) if isinstance(channels, (list, tuple)) else len(channels)
    per_epoch = readout_epoch_flops(config, len(features), in_channels, features.shape[-1], n_seeds * n_targets)
    add_readout_training(per_epoch["total"] * config.epochs, sum(epoch_seconds), n_seeds)


def _train_reference(inputs, targets: np.ndarray, config: ReadoutConfig, seed: int, batches, device,
                     progress: bool, description: str, model: PosENet | None,
                     epoch_seconds: list) -> tuple[PosENet, list[float]]:
    """The original per-seed float32 training (loss on the upsampled maps) on given batches."""
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = PosENet(inputs.shape[1], len(targets), config.depth, config.kernel_size, config.readout_padding,
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
    features, targets, config, device, progress, description :
        As in :func:`train_readouts`.
    seed : int
        Seed of the initialisation and of the batch order.
    channels : numpy.ndarray, optional
        Use only these feature channels (e.g. one tap).
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

    ``features`` is a cached array (channels selected by ``channels``) or the output of
    :func:`feature_tensor` (read once and shared by several readouts of the same channels).

    Returns
    -------
    dict
        ``{pattern: {"spc": (N,), "mae": (N,), "constant": (N,)}}``.
    """
    size = targets.shape[-1]
    inputs = features if isinstance(features, (torch.Tensor, MappedFeatures)) else feature_tensor(features, channels)
    results = {name: {"spc": [], "mae": [], "constant": []} for name in pattern_names}
    for start in range(0, len(inputs), batch_size):
        prediction = predict(model, inputs[start:start + batch_size], size, batch_size=batch_size, device=device)
        for t, name in enumerate(pattern_names):
            spc, constant = spearman_per_image(prediction[:, t], targets[t])
            results[name]["spc"].append(spc)
            results[name]["constant"].append(constant)
            results[name]["mae"].append(mae_per_image(prediction[:, t], targets[t]))
    return {name: {k: np.concatenate(v) for k, v in values.items()} for name, values in results.items()}
