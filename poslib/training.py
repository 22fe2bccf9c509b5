"""Training the task networks of notebook 05 from scratch, with a content-keyed weight cache.

Training: Adam (lr :attr:`TrainConfig.lr`, cosine decay per step), random horizontal flips,
binary cross-entropy (saliency), cross-entropy with an ignored void id (segmentation) or
cross-entropy with a teacher's soft labels at temperature :attr:`TrainConfig.temperature`
(classification, :func:`poslib.task_data.distilled_classification_data`); seeded
initialisation and batch order, so the same seed gives the same weights on CPU.

Each pixel-task variant learns from every pixel it predicts, registered with the input
(:meth:`poslib.segnet.EncoderDecoder.output_region`: the whole image with padding, the
deepest map's footprint without). Variants are compared on the pixels all of them predict
(:func:`poslib.segnet.shared_region`); the padded ones are also scored on the whole frame.

Trained weights are cached like features: a :class:`poslib.store.CacheEntry` whose key
hashes the training configuration, the training data's content, the torch version and
:data:`MODEL_CACHE_FORMAT`.

(Longer than 400 lines: training, the weight cache, predictions and the per-image scoring of
Table 5 all work on one :class:`TrainedModel` record; the tables built from them live in
:mod:`poslib.experiments.task_training`.)
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from .backbones import seeded
from .config import ConfigError, progress_bar
from .data import DatasetError, PairedSet
from .features import images_to_tensor
from .metrics import saliency_evaluation, segmentation_evaluation
from .padding import check_padding_rule
from .segnet import (DECODER_CHANNELS, VGG_SMALL_CONVS, VGG_SMALL_WIDTHS, EncoderClassifier, EncoderDecoder, Region,
                     count_parameters, output_region, shared_region)
from .store import CacheEntry, content_key
from .task_data import TaskData

#: Bump when the meaning of cached weights changes.
MODEL_CACHE_FORMAT = 3
#: Tasks a :class:`TrainConfig` can train.
TASKS = ("saliency", "segmentation", "classification")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained weights (besides the data).

    Parameters
    ----------
    task : {"saliency", "segmentation", "classification"}
    padding_rule : str
        Encoder padding rule.
    n_outputs : int
        Output channels (classes for segmentation and classification).
    epochs, batch_size : int
    lr, weight_decay : float
        Adam settings; the learning rate follows a cosine from ``lr`` to 0 over all steps.
    ignore_index : int
        Segmentation target id left out of the loss.
    flip : bool
        Random horizontal flips.
    seed : int
        Seed of the initialisation, batch order and flips.
    widths, convs : tuple of int
    decoder_channels : int
    temperature : float
        Distillation temperature of the classification loss (the soft labels are the
        teacher's at this temperature).
    """

    task: str
    padding_rule: str
    n_outputs: int
    epochs: int
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ignore_index: int = 255
    flip: bool = True
    seed: int = 0
    widths: tuple[int, ...] = VGG_SMALL_WIDTHS
    convs: tuple[int, ...] = VGG_SMALL_CONVS
    decoder_channels: int = DECODER_CHANNELS
    temperature: float = 2.0

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; use one of {', '.join(map(repr, TASKS))}")
        object.__setattr__(self, "padding_rule", check_padding_rule(self.padding_rule))

    def build_model(self) -> EncoderDecoder | EncoderClassifier:
        """A freshly initialised model (seeded by :attr:`seed`)."""
        if self.task == "classification":
            return seeded(self.seed, lambda: EncoderClassifier(self.n_outputs, self.padding_rule, self.widths,
                                                               self.convs))
        return seeded(self.seed, lambda: EncoderDecoder(self.n_outputs, self.padding_rule, self.widths, self.convs,
                                                        self.decoder_channels))

    def region(self, height: int, width: int) -> Region | None:
        """The pixels the loss covers for a ``height`` x ``width`` input: all the variant predicts
        (:func:`poslib.segnet.output_region`; None for classification)."""
        if self.task == "classification":
            return None
        return output_region(height, width, self.convs, self.padding_rule)


def task_config(data: TaskData, padding_rule: str, epochs: int, batch_size: int, seed: int = 0,
                **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a task's data, padding rule and schedule."""
    return TrainConfig(task=data.task, padding_rule=padding_rule, n_outputs=data.n_outputs, epochs=epochs,
                       batch_size=batch_size, ignore_index=data.ignore_index, seed=seed, **overrides)


def task_loss(config: TrainConfig, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (saliency), cross-entropy ignoring :attr:`TrainConfig.ignore_index`
    (segmentation) or cross-entropy with soft labels at :attr:`TrainConfig.temperature`,
    scaled by its square as in knowledge distillation (classification)."""
    if config.task == "saliency":
        return F.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    if config.task == "classification":
        return F.cross_entropy(logits / config.temperature, targets.float()) * config.temperature ** 2
    return F.cross_entropy(logits, targets.long(), ignore_index=config.ignore_index)


def check_targets(config: TrainConfig, data: PairedSet) -> None:
    """Refuse training targets the loss would misread.

    Saliency targets must be 0/1; segmentation targets class ids ``0..n_outputs-1`` or
    :attr:`TrainConfig.ignore_index`; classification targets one probability vector of
    ``n_outputs`` classes per image. (Cross-entropy would fail with an opaque device-side
    error on an out-of-range id; binary cross-entropy would silently train on it.)

    Raises
    ------
    DatasetError
        Naming the data set, the offending values and the valid ones.
    """
    if config.task == "classification":
        targets = np.asarray(data.targets, dtype=np.float64)
        if (targets.shape != (len(data), config.n_outputs) or (targets < 0).any()
                or not np.allclose(targets.sum(axis=1), 1.0, atol=1e-3)):
            raise DatasetError(f"classification targets of {data.name!r} ({data.source}) must be one probability "
                               f"vector of {config.n_outputs} classes per image (shape ({len(data)}, "
                               f"{config.n_outputs}), non-negative, rows summing to 1); got shape {targets.shape}")
        return
    values = np.flatnonzero(np.bincount(np.asarray(data.targets, dtype=np.int64).ravel()))
    if config.task == "saliency":
        valid, what = {0, 1}, "0/1 (background / salient)"
    else:
        valid = set(range(config.n_outputs)) | {config.ignore_index}
        what = f"class ids 0..{config.n_outputs - 1} or the void id {config.ignore_index}"
    bad = [int(v) for v in values if int(v) not in valid]
    if bad:
        raise DatasetError(f"training targets of {data.name!r} ({data.source}) hold value(s) {bad[:12]}; "
                           f"{config.task} targets must be {what}. Check the masks / label maps of that set.")


def train_model(config: TrainConfig, data: PairedSet, progress: bool = True,
                description: str = "") -> tuple[EncoderDecoder | EncoderClassifier, pd.DataFrame]:
    """Train a model from scratch on ``data`` (pixel tasks: on :meth:`TrainConfig.region`).

    Returns
    -------
    model : EncoderDecoder or EncoderClassifier
        In eval mode.
    history : pandas.DataFrame
        One row per step: epoch, step, loss, lr.

    Raises
    ------
    DatasetError
        If there are no pairs or a target is out of range (:func:`check_targets`).
    """
    if len(data) == 0:
        raise DatasetError(f"no training pairs in {data.name!r}")
    check_targets(config, data)
    model = config.build_model()
    region = config.region(*data.images.shape[1:3])
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    rng = np.random.default_rng([config.seed, 17])
    rows, step = [], 0
    model.train()
    bar = progress_bar(None, description or f"train {config.task}/{config.padding_rule}", progress, total=total)
    with torch.random.fork_rng(devices=[]), bar:
        torch.manual_seed(config.seed)
        for epoch in range(config.epochs):
            order = rng.permutation(len(data))
            for start in range(0, len(data), config.batch_size):
                index = np.sort(order[start:start + config.batch_size])
                images, targets = data.images[index], data.targets[index]
                if config.flip:
                    flips = rng.random(len(index)) < 0.5
                    images = np.where(flips[:, None, None, None], images[:, :, ::-1], images)
                    if region is not None:
                        targets = np.where(flips[:, None, None], targets[:, :, ::-1], targets)
                if region is not None:
                    targets = region.crop(targets)
                inputs = images_to_tensor(images)
                loss = task_loss(config, model(inputs, region), torch.from_numpy(np.ascontiguousarray(targets)))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                rows.append({"epoch": epoch, "step": step, "loss": loss.item(), "lr": schedule.get_last_lr()[0]})
                schedule.step()
                step += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
    model.eval()
    return model, pd.DataFrame(rows)


@dataclass
class TrainedModel:
    """A trained model with its training history and its cached weights file."""

    config: TrainConfig
    model: EncoderDecoder
    history: pd.DataFrame
    weights_path: Path
    key: str
    from_cache: bool
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``<task>/<padding rule>/seed<seed>``."""
        return f"{self.config.task}/{self.config.padding_rule}/seed{self.config.seed}"


def model_cache_entry(config: TrainConfig, data: PairedSet, cache_root: Path | None = None) -> CacheEntry:
    """The cache entry of ``config`` trained on ``data`` (key: configuration, data content, torch, format)."""
    key = content_key(format=MODEL_CACHE_FORMAT, config=asdict(config), data=data.fingerprint)
    return CacheEntry(f"task_models/{config.task}", key, MODEL_CACHE_FORMAT, cache_root)


def _load_cached_model(entry: CacheEntry, meta: dict, config: TrainConfig) -> TrainedModel | None:
    """The model stored in a verified entry, or None (printing why) if it does not load."""
    try:
        model = config.build_model()
        model.load_state_dict(torch.load(entry.path("weights.pt"), map_location="cpu", weights_only=True))
        history = pd.read_csv(entry.path("history.csv"))
    except Exception as error:  # noqa: BLE001 - any unreadable part means retraining
        print(f"[poslib] retraining {config.task}/{config.padding_rule}: unusable cache entry {entry.label} ({error})")
        return None
    model.eval()
    return TrainedModel(config, model, history, entry.path("weights.pt"), entry.key, True, meta)


def trained_model(config: TrainConfig, data: PairedSet, cache_root: Path | None = None,
                  progress: bool = True) -> TrainedModel:
    """The model of ``config`` trained on ``data``: from the cache, or trained once and cached.

    The entry (:class:`poslib.store.CacheEntry`) holds ``weights.pt``, ``history.csv`` and
    ``meta.json``; an entry that is incomplete, changed on disk, from another format, or
    whose weights do not load is retrained, never reused.

    Parameters
    ----------
    config : TrainConfig
    data : PairedSet
        Training pairs.
    cache_root : Path, optional
        Cache folder (default :func:`poslib.config.cache_dir`).
    progress : bool
        Show a progress bar while training.
    """
    entry = model_cache_entry(config, data, cache_root)

    def load():
        meta = entry.read()
        return None if meta is None else _load_cached_model(entry, meta, config)

    def build():
        entry.begin()
        started = time.perf_counter()
        model, history = train_model(config, data, progress=progress)
        seconds = time.perf_counter() - started
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        entry.write_bytes("weights.pt", buffer.getvalue())
        entry.write_bytes("history.csv", history.to_csv(index=False).encode())
        meta = entry.finish({"config": asdict(config),
                             "data": {"name": data.name, "n_images": len(data), "fingerprint": data.fingerprint[:16]},
                             "parameters": count_parameters(model), "seconds": round(seconds, 1)})
        return TrainedModel(config, model, history, entry.path("weights.pt"), entry.key, False, meta)

    return entry.reuse_or_build(load, build)  # one writer per entry across processes


# ----------------------------------------------------------------------------- prediction and scores


@torch.inference_mode()
def predict_logits(model: EncoderDecoder, images: np.ndarray, region: Region | None = None,
                   batch_size: int = 16) -> np.ndarray:
    """Logits (N, n_outputs, h, w) of uint8 images (N, H, W, 3) on ``region`` (default: all the model predicts)."""
    model.eval()
    outputs = [model(images_to_tensor(images[start:start + batch_size]), region).numpy()
               for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs).astype(np.float32)


def predict_saliency(model: EncoderDecoder, images: np.ndarray, region: Region | None = None,
                     batch_size: int = 16) -> np.ndarray:
    """Saliency probabilities (N, h, w) in [0, 1] on ``region``."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, images, region, batch_size)[:, 0]))


def predict_labels(model: EncoderDecoder, images: np.ndarray, region: Region | None = None,
                   batch_size: int = 16) -> np.ndarray:
    """Class ids (N, h, w) of the most probable class on ``region``."""
    return predict_logits(model, images, region, batch_size).argmax(axis=1).astype(np.uint8)


def scoring_region(models: dict[str, list[TrainedModel]], test: PairedSet) -> Region:
    """The pixels of ``test``'s images every variant predicts (their shared region)."""
    first = next(iter(models.values()))[0].config
    return shared_region(*test.images.shape[1:3], list(models), first.convs)


#: ``scored_on`` values of the Table-5 rows.
SHARED_REGION, FULL_FRAME = "shared region", "full frame"


def _scored_predictions(models: dict[str, list[TrainedModel]], data: TaskData, predict):
    """``(labels, prediction, targets, ids)`` of every model on every test set and scored region.

    Every variant is scored on the pixels all of them predict (:data:`SHARED_REGION`);
    variants that predict the whole image are also scored on it (:data:`FULL_FRAME`).
    ``labels`` holds padding, seed, test_set and scored_on; ``ids`` the test images' ids;
    ``predict(model, images, region)``.
    """
    for test in data.tests:
        shared = scoring_region(models, test)
        for padding, trained_models in models.items():
            own = trained_models[0].model.output_region(*test.images.shape[1:3])
            regions = {SHARED_REGION: shared} if own == shared else {SHARED_REGION: shared, FULL_FRAME: own}
            for scored_on, region in regions.items():
                for trained in trained_models:
                    labels = {"padding_rule": padding, "seed": trained.config.seed, "test_set": test.name,
                              "scored_on": scored_on}
                    yield labels, predict(trained.model, test.images, region), region.crop(test.targets), test.ids


#: Columns that name a model and what it was scored on, first in every Table-5 frame.
SCORE_LABELS = ["padding_rule", "seed", "test_set", "scored_on"]


def _with_ids(per_image: pd.DataFrame, labels: dict, ids) -> pd.DataFrame:
    """``per_image`` (an ``image`` index column) with the labels first and ``image_id`` after ``image``."""
    frame = per_image.assign(**labels, image_id=[ids[i] for i in per_image["image"]] if ids else per_image["image"])
    first = SCORE_LABELS + ["image", "image_id"]
    return frame[first + [c for c in frame.columns if c not in first]]


def score_saliency(models: dict[str, list[TrainedModel]], data: TaskData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Saliency scores per model and per image, in one pass over the predictions.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]``.
    data : TaskData

    Returns
    -------
    per_seed : pandas.DataFrame
        :func:`evaluate_saliency`.
    per_image : pandas.DataFrame
        padding_rule, seed, test_set, scored_on, image (index in the test set), image_id (the
        image's file stem in its data set, or the scene's description), then the columns of
        :func:`poslib.metrics.saliency_evaluation`; the mean over a model's images of each
        score is its ``per_seed`` value.
    """
    rows, frames = [], []
    for labels, prediction, targets, ids in _scored_predictions(models, data, predict_saliency):
        scores, per_image = saliency_evaluation(prediction, targets)
        rows.append({**labels, **scores})
        frames.append(_with_ids(per_image, labels, ids))
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def evaluate_saliency(models: dict[str, list[TrainedModel]], data: TaskData) -> pd.DataFrame:
    """Saliency scores per padding rule, training seed, test set and scored region
    (:func:`_scored_predictions`): columns padding, seed, test_set, scored_on, then
    :func:`poslib.metrics.saliency_scores` (standard protocol and ``raw_*``).
    """
    return score_saliency(models, data)[0]


def score_segmentation(models: dict[str, list[TrainedModel]], data: TaskData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segmentation scores per model (long format) and pixel counts per image and class, in one pass.

    Parameters
    ----------
    models : dict
        ``padding rule -> [TrainedModel]``.
    data : TaskData

    Returns
    -------
    per_seed : pandas.DataFrame
        :func:`evaluate_segmentation`.
    per_image : pandas.DataFrame
        padding_rule, seed, test_set, scored_on, image, image_id, class, tp, fp, fn, iou
        (:func:`poslib.metrics.segmentation_evaluation`); a model's IoU, mIoU and pixel
        accuracy are recomputed from its rows by :func:`poslib.metrics.scores_from_counts`.
    """
    frames, image_frames = [], []
    for labels, prediction, targets, ids in _scored_predictions(models, data, predict_labels):
        scores, per_image = segmentation_evaluation(prediction, targets, data.class_names, data.ignore_index)
        frames.append(scores.assign(**labels))
        image_frames.append(_with_ids(per_image, labels, ids))
    per_seed = pd.concat(frames, ignore_index=True)[SCORE_LABELS + ["metric", "class", "value"]]
    return per_seed, pd.concat(image_frames, ignore_index=True)


def evaluate_segmentation(models: dict[str, list[TrainedModel]], data: TaskData) -> pd.DataFrame:
    """Per-class IoU, mIoU and pixel accuracy per padding rule, training seed, test set and scored
    region (:func:`_scored_predictions`), long format."""
    return score_segmentation(models, data)[0]


def train_task_models(data: TaskData, padding_rules, epochs: int, batch_size: int, seeds=(0,),
                      progress: bool = True, **overrides) -> dict[str, list[TrainedModel]]:
    """Train (or load from the cache) one model per padding rule and seed, with the same schedule."""
    return {rule: [trained_model(task_config(data, rule, epochs, batch_size, seed, **overrides), data.train,
                                 progress=progress) for seed in seeds]
            for rule in padding_rules}


def training_histories(models: dict[str, list[TrainedModel]]) -> pd.DataFrame:
    """Mean training loss per epoch of every model (columns task, padding, seed, epoch, loss)."""
    frames = [trained.history.groupby("epoch", as_index=False)["loss"].mean()
              .assign(task=trained.config.task, padding_rule=padding, seed=trained.config.seed)
              for padding, trained_models in models.items() for trained in trained_models]
    return pd.concat(frames, ignore_index=True)[["task", "padding_rule", "seed", "epoch", "loss"]]
