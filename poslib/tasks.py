"""Saliency and segmentation networks trained from scratch, with and without zero padding.

Notebook 05 (the paper's Tables 5-6 and Figure 1) trains a small VGG-style encoder-decoder
for salient object detection and for semantic segmentation under several padding rules of
the encoder (``zeros``, ``none``, ``reflect``), scores it, probes its frozen encoder with
the position readout, and measures how a saliency prediction moves when the image frame
is cut.

Architecture (:class:`EncoderDecoder`)
--------------------------------------
* Encoder :class:`VGGEncoder`: five stages of 3x3 conv + BatchNorm + ReLU with widths
  :data:`VGG_SMALL_WIDTHS` and :data:`VGG_SMALL_CONVS` convolutions per stage, a 2x2
  max-pool before stages 2-5. The last activation of each stage is a tap (``f1..f5``), as
  relu1_2 .. relu5_3 are for VGG16. The paper used VGG16 (13 convs, 64..512 channels) at
  224 px; this one is about 1/40 of its compute so that training several models fits a
  2-core CPU.
* Decoder: a 1x1 convolution per tap to :data:`DECODER_CHANNELS` channels, each bilinearly
  resized to the f1 map and summed, then BN + ReLU + a 1x1 convolution to the outputs, resized
  to the input. Only 1x1 convolutions, so the decoder itself never pads: the padding rule of
  the encoder is the only difference between variants.
* ``padding="none"`` sets every encoder convolution to padding 0
  (:func:`poslib.padding.apply_padding`): same weights count, smaller maps; the output is
  resized to the target like the padded one's.

Training: Adam (lr :attr:`TrainConfig.lr`, cosine decay per step), random horizontal flips,
binary cross-entropy (saliency) or cross-entropy with an ignored void id (segmentation);
seeded initialisation and batch order, so the same seed gives the same weights on CPU.

Trained weights are cached like features (:mod:`poslib.features`): a folder named by a key
that hashes the training configuration, the training data's content, the torch version and
:data:`MODEL_CACHE_FORMAT`, holding ``weights.pt``, ``history.csv`` and ``meta.json``
(written last, each through an atomic rename). An entry that is incomplete, from another
format, or whose weights do not load is retrained, never reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import __version__
from .backbones import TappedBackbone, _seeded, file_sha256, load_state_dict_file, register_backbone
from .config import ConfigError, cache_dir, check_choice
from .features import FeatureConfig
from .data import (DatasetError, PairedSet, dataset_image_dir, find_pairs, load_paired_folder, resolve_data_root,
                   split_indices, subset_indices)
from .features import images_to_tensor
from .padding import apply_padding, check_padding_rule
from .report import atomic_write_bytes
from .scenes import SCENE_IGNORE_INDEX, SEGMENTATION_CLASSES, saliency_scenes, segmentation_scenes

#: Channels of the five encoder stages.
VGG_SMALL_WIDTHS = (16, 32, 64, 96, 128)
#: 3x3 convolutions per stage (VGG16: 2, 2, 3, 3, 3).
VGG_SMALL_CONVS = (2, 2, 2, 1, 1)
#: Channels of the decoder's fused map.
DECODER_CHANNELS = 32
#: Bump when the meaning of cached weights changes.
MODEL_CACHE_FORMAT = 1
#: F-measure weight of precision (the saliency literature's beta^2 = 0.3).
F_BETA2 = 0.3

#: CamVid's 11 classes (SegNet version); id 11 is void and ignored.
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist")
CAMVID_IGNORE_INDEX = 11


@dataclass(frozen=True)
class TaskSettings:
    """Size of notebook 05's run in one profile.

    Parameters
    ----------
    saliency_size : int
        Square input side of the saliency models.
    saliency_train, saliency_test, sod_test : int
        Training images (of the ECSSD training split), held-out ECSSD test images and SOD
        test images; 0 keeps all. Embedded scenes: the same counts are generated.
    saliency_epochs : int
    segmentation_size : (int, int)
        (height, width) of the CamVid input (the originals are 360 x 480).
    segmentation_train, segmentation_test : int
        CamVid train / test images (0: all 367 / 233).
    segmentation_epochs : int
    batch_size : int
    paddings : tuple of str
        Encoder padding rules trained for each task (the first is the reference, ``zeros``).
    crop_fractions : tuple of float
        Fractions of the width cut away on the right for the crop-shift measurement.
    probe_seeds : tuple of int
        Readout seeds of the Table-6 probing.
    probe_paddings : tuple of str
        Which trained encoders (by padding rule) Table 6 probes.
    """

    saliency_size: int
    saliency_train: int
    saliency_test: int
    sod_test: int
    saliency_epochs: int
    segmentation_size: tuple[int, int]
    segmentation_train: int
    segmentation_test: int
    segmentation_epochs: int
    batch_size: int
    paddings: tuple[str, ...]
    crop_fractions: tuple[float, ...]
    probe_seeds: tuple[int, ...]
    probe_paddings: tuple[str, ...] = ("zeros",)


TASK_SETTINGS: dict[str, TaskSettings] = {
    "smoke": TaskSettings(saliency_size=112, saliency_train=16, saliency_test=8, sod_test=8, saliency_epochs=2,
                          segmentation_size=(96, 128), segmentation_train=16, segmentation_test=8,
                          segmentation_epochs=2, batch_size=8, paddings=("zeros", "none"),
                          crop_fractions=(0.15,), probe_seeds=(0,)),
    "default": TaskSettings(saliency_size=128, saliency_train=600, saliency_test=0, sod_test=0, saliency_epochs=8,
                            segmentation_size=(120, 160), segmentation_train=0, segmentation_test=0,
                            segmentation_epochs=12, batch_size=16, paddings=("zeros", "none", "reflect"),
                            crop_fractions=(0.1, 0.2, 0.25), probe_seeds=(0,)),
    "paper": TaskSettings(saliency_size=224, saliency_train=0, saliency_test=0, sod_test=0, saliency_epochs=30,
                          segmentation_size=(360, 480), segmentation_train=0, segmentation_test=0,
                          segmentation_epochs=60, batch_size=16, paddings=("zeros", "none", "reflect"),
                          crop_fractions=(0.1, 0.2, 0.3, 0.4), probe_seeds=(0, 1, 2),
                          probe_paddings=("zeros", "none")),
}


def task_settings(profile: str) -> TaskSettings:
    """Notebook 05's settings for ``profile``.

    Raises
    ------
    ConfigError
        For an unknown profile.
    """
    return TASK_SETTINGS[check_choice(profile, TASK_SETTINGS, "profile for notebook 05")]


# ----------------------------------------------------------------------------- data


@dataclass
class TaskData:
    """Training pairs and test sets of one task.

    Attributes
    ----------
    task : {"saliency", "segmentation"}
    train : PairedSet
    tests : list of PairedSet
    class_names : tuple of str
        Output classes (``("salient",)`` for saliency).
    ignore_index : int
        Target id that is ignored in the loss and the metrics.
    uses_embedded_default : bool
    """

    task: str
    train: PairedSet
    tests: list[PairedSet]
    class_names: tuple[str, ...]
    ignore_index: int
    uses_embedded_default: bool

    @property
    def n_outputs(self) -> int:
        """Output channels of the network (1 for saliency, one per class otherwise)."""
        return 1 if self.task == "saliency" else len(self.class_names)

    def notice(self) -> str:
        """One line on which data this task uses."""
        tests = ", ".join(f"{t.name} ({len(t)})" for t in self.tests)
        text = f"{self.task}: train on {self.train.name} ({len(self.train)} images), test on {tests}."
        if self.uses_embedded_default:
            return ("NOTICE: no dataset folder is set (POSLIB_DATA / data_root), so this run uses the EMBEDDED "
                    "DEFAULT: procedurally generated scenes (poslib.scenes) on the embedded photos. Numbers are "
                    "not comparable with the paper's. " + text)
        return text

    def describe(self) -> dict:
        """Provenance record."""
        return {"task": self.task, "train": self.train.describe(), "tests": [t.describe() for t in self.tests],
                "embedded_default": self.uses_embedded_default}


def saliency_data(settings: TaskSettings, data_root: str = "", seed: int = 0) -> TaskData:
    """ECSSD train split / ECSSD held-out / SOD, or centre-biased scenes when there is no data folder.

    ECSSD is split 80 / 20 with :func:`poslib.data.split_indices` (seeded); the training
    subset and the test sets are then limited to the settings' counts.
    """
    size = settings.saliency_size
    root = resolve_data_root(data_root)
    if root is None:
        n_train = settings.saliency_train or 600
        n_test = settings.saliency_test or 200
        train = saliency_scenes("train", n_train, size, seed)
        tests = [saliency_scenes("test", n_test, size, seed, name="scenes-test"),
                 saliency_scenes("test", settings.sod_test or n_test, size, seed + 1, centre_bias=False)]
        return TaskData("saliency", train, tests, ("salient",), 255, True)
    ecssd_images, ecssd_masks = dataset_image_dir(root, "ECSSD"), root / "ECSSD" / "masks"
    train_index, test_index = split_indices(len(find_pairs(ecssd_images, ecssd_masks)), 0.2, seed)
    train_index = train_index[subset_indices(len(train_index), settings.saliency_train, seed)]
    test_index = test_index[subset_indices(len(test_index), settings.saliency_test, seed)]
    train, test = (load_paired_folder(ecssd_images, ecssd_masks, (size, size), binary=True, name=name, indices=index)
                   for name, index in (("ECSSD-train", train_index), ("ECSSD-test", test_index)))
    sod = load_paired_folder(dataset_image_dir(root, "SOD"), root / "SOD" / "masks", (size, size), binary=True,
                             limit=settings.sod_test, name="SOD", seed=seed)
    return TaskData("saliency", train, [test, sod], ("salient",), 255, False)


def segmentation_data(settings: TaskSettings, data_root: str = "", seed: int = 0) -> TaskData:
    """CamVid train / test (SegNet split, 11 classes, void ignored), or labelled scenes without a data folder."""
    root = resolve_data_root(data_root)
    size_hw = settings.segmentation_size
    if root is None:
        train = segmentation_scenes("train", settings.segmentation_train or 367, size_hw, seed)
        test = segmentation_scenes("test", settings.segmentation_test or 233, size_hw, seed)
        return TaskData("segmentation", train, [test], SEGMENTATION_CLASSES, SCENE_IGNORE_INDEX, True)
    sets = []
    for split, limit in (("train", settings.segmentation_train), ("test", settings.segmentation_test)):
        folder = root / "CamVid" / split
        if not (folder / "images").is_dir():
            raise DatasetError(f"CamVid split {split!r} not found: expected {folder / 'images'} and "
                               f"{folder / 'labels'} (README.md, 'Datasets').")
        sets.append(load_paired_folder(folder / "images", folder / "labels", size_hw, binary=False, limit=limit,
                                       name=f"CamVid-{split}", seed=seed))
    return TaskData("segmentation", sets[0], [sets[1]], CAMVID_CLASSES, CAMVID_IGNORE_INDEX, False)


# ----------------------------------------------------------------------------- model


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (padding 1, no bias) + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class VGGEncoder(nn.Module):
    """Five VGG-style stages; :meth:`forward` returns the last activation of each (``f1..f5``).

    Parameters
    ----------
    widths : tuple of int
        Channels per stage.
    convs : tuple of int
        3x3 convolutions per stage.
    """

    def __init__(self, widths: tuple[int, ...] = VGG_SMALL_WIDTHS, convs: tuple[int, ...] = VGG_SMALL_CONVS):
        super().__init__()
        self.widths, self.convs = tuple(widths), tuple(convs)
        stages, in_channels = [], 3
        for width, n_convs in zip(widths, convs):
            layers = []
            for _ in range(n_convs):
                layers.append(ConvBNReLU(in_channels, width))
                in_channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        taps, x = [], images
        for index, stage in enumerate(self.stages):
            if index:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            taps.append(x)
        return taps


def encoder_output_side(side: int, convs: tuple[int, ...] = VGG_SMALL_CONVS, padding: str = "zeros") -> int:
    """Side of the f5 map for an input side (0 or less: the input is too small).

    Examples
    --------
    >>> encoder_output_side(128), encoder_output_side(128, padding="none")
    (8, 3)
    """
    for index, n_convs in enumerate(convs):
        if index:
            side //= 2
        if padding == "none":
            side -= 2 * n_convs
        if side < 1:
            return 0
    return side


class EncoderDecoder(nn.Module):
    """:class:`VGGEncoder` plus a 1x1-convolution decoder over all taps (see the module docstring).

    Parameters
    ----------
    n_outputs : int
        Output channels (1 for saliency logits, classes for segmentation).
    padding : str
        Padding rule of the encoder's convolutions (:data:`poslib.padding.PADDING_RULES`).
    widths, convs : tuple of int
        Encoder shape.
    decoder_channels : int
    """

    def __init__(self, n_outputs: int, padding: str = "zeros", widths: tuple[int, ...] = VGG_SMALL_WIDTHS,
                 convs: tuple[int, ...] = VGG_SMALL_CONVS, decoder_channels: int = DECODER_CHANNELS):
        super().__init__()
        self.padding = check_padding_rule(padding)
        self.encoder = apply_padding(VGGEncoder(widths, convs), padding, inplace=True)
        self.lateral = nn.ModuleList(nn.Conv2d(w, decoder_channels, 1) for w in widths)
        self.head = nn.Sequential(nn.BatchNorm2d(decoder_channels), nn.ReLU(inplace=True),
                                  nn.Conv2d(decoder_channels, n_outputs, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_outputs, H, W) at the input size."""
        height, width = images.shape[-2:]
        if min(encoder_output_side(height, self.encoder.convs, self.padding),
               encoder_output_side(width, self.encoder.convs, self.padding)) < 1:
            raise ConfigError(f"input {height}x{width} is too small for the encoder with padding {self.padding!r}")
        taps = self.encoder(images)
        size = taps[0].shape[-2:]
        fused = sum(F.interpolate(lateral(tap), size=size, mode="bilinear", align_corners=False)
                    for lateral, tap in zip(self.lateral, taps))
        return F.interpolate(self.head(fused), size=(height, width), mode="bilinear", align_corners=False)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained weights (besides the data).

    Parameters
    ----------
    task : {"saliency", "segmentation"}
    padding : str
        Encoder padding rule.
    n_outputs : int
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
    """

    task: str
    padding: str
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

    def __post_init__(self):
        if self.task not in ("saliency", "segmentation"):
            raise ConfigError(f"unknown task {self.task!r}; use 'saliency' or 'segmentation'")
        check_padding_rule(self.padding)

    def build_model(self) -> EncoderDecoder:
        """A freshly initialised model (seeded by :attr:`seed`)."""
        return _seeded(self.seed, lambda: EncoderDecoder(self.n_outputs, self.padding, self.widths, self.convs,
                                                         self.decoder_channels))


def task_config(data: TaskData, padding: str, epochs: int, batch_size: int, seed: int = 0, **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a task's data, padding rule and schedule."""
    return TrainConfig(task=data.task, padding=padding, n_outputs=data.n_outputs, epochs=epochs,
                       batch_size=batch_size, ignore_index=data.ignore_index, seed=seed, **overrides)


def task_loss(config: TrainConfig, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (saliency) or cross-entropy ignoring :attr:`TrainConfig.ignore_index`."""
    if config.task == "saliency":
        return F.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    return F.cross_entropy(logits, targets.long(), ignore_index=config.ignore_index)


def train_model(config: TrainConfig, data: PairedSet, progress: bool = True,
                description: str = "") -> tuple[EncoderDecoder, pd.DataFrame]:
    """Train a model from scratch on ``data``.

    Returns
    -------
    model : EncoderDecoder
        In eval mode.
    history : pandas.DataFrame
        One row per step: epoch, step, loss, lr.
    """
    if len(data) == 0:
        raise DatasetError(f"no training pairs in {data.name!r}")
    model = config.build_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    rng = np.random.default_rng([config.seed, 17])
    rows, step = [], 0
    model.train()
    with torch.random.fork_rng(devices=[]), tqdm(total=total, desc=description or f"train {config.task}/{config.padding}",
                                                 disable=not progress, leave=False) as bar:
        torch.manual_seed(config.seed)
        for epoch in range(config.epochs):
            order = rng.permutation(len(data))
            for start in range(0, len(data), config.batch_size):
                index = np.sort(order[start:start + config.batch_size])
                images, targets = data.images[index], data.targets[index]
                if config.flip:
                    flips = rng.random(len(index)) < 0.5
                    images = np.where(flips[:, None, None, None], images[:, :, ::-1], images)
                    targets = np.where(flips[:, None, None], targets[:, :, ::-1], targets)
                inputs = images_to_tensor(images)
                loss = task_loss(config, model(inputs), torch.from_numpy(np.ascontiguousarray(targets)))
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
        """``<task>/<padding>``."""
        return f"{self.config.task}/{self.config.padding}"


def model_cache_key(config: TrainConfig, data: PairedSet) -> str:
    """SHA-256 over the training configuration, the training data's content, torch and the format."""
    payload = {"format": MODEL_CACHE_FORMAT, "config": asdict(config), "data": data.fingerprint,
               "torch": torch.__version__.split("+")[0]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_cached_model(folder: Path, key: str, config: TrainConfig) -> TrainedModel | None:
    """The cached model in ``folder`` if complete and current, else None (printing why)."""
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != MODEL_CACHE_FORMAT or meta.get("key") != key:
            raise ValueError(f"written by format {meta.get('format')} / another key")
        model = config.build_model()
        model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
        history = pd.read_csv(folder / "history.csv")
    except Exception as error:  # noqa: BLE001 - any unreadable part means retraining
        print(f"[poslib] retraining {config.task}/{config.padding}: unusable cache entry {folder} ({error})")
        return None
    model.eval()
    return TrainedModel(config, model, history, folder / "weights.pt", key, True, meta)


def trained_model(config: TrainConfig, data: PairedSet, cache_root: Path | None = None,
                  progress: bool = True) -> TrainedModel:
    """The model of ``config`` trained on ``data``: from the cache, or trained once and cached.

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
    key = model_cache_key(config, data)
    folder = (cache_root or cache_dir()) / "task_models" / config.task / key[:24]
    cached = _read_cached_model(folder, key, config)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    started = time.perf_counter()
    model, history = train_model(config, data, progress=progress)
    seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(folder / "weights.pt", buffer.getvalue())
    atomic_write_bytes(folder / "history.csv", history.to_csv(index=False).encode())
    meta = {"format": MODEL_CACHE_FORMAT, "key": key, "poslib": __version__, "config": asdict(config),
            "data": {"name": data.name, "n_images": len(data), "fingerprint": data.fingerprint[:16]},
            "parameters": count_parameters(model), "seconds": round(seconds, 1),
            "weights_sha256": file_sha256(folder / "weights.pt")[:16]}
    atomic_write_bytes(folder / "meta.json", json.dumps(meta, indent=1).encode())
    return TrainedModel(config, model, history, folder / "weights.pt", key, False, meta)


# ----------------------------------------------------------------------------- prediction and metrics


@torch.inference_mode()
def predict_logits(model: EncoderDecoder, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Logits (N, n_outputs, H, W) of uint8 images (N, H, W, 3)."""
    model.eval()
    outputs = [model(images_to_tensor(images[start:start + batch_size])).numpy()
               for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs).astype(np.float32)


def predict_saliency(model: EncoderDecoder, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Saliency probabilities (N, H, W) in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, images, batch_size)[:, 0]))


def predict_labels(model: EncoderDecoder, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Class ids (N, H, W) of the most probable class."""
    return predict_logits(model, images, batch_size).argmax(axis=1).astype(np.uint8)


def saliency_scores(probabilities: np.ndarray, masks: np.ndarray) -> dict:
    """Max F-measure, mean F-measure, adaptive F-measure (beta^2 = 0.3) and MAE, via pysodmetrics.

    The F-measure curve is pysodmetrics' ``FmeasureV2`` dynamic curve (the F-measure of each
    image at 256 thresholds, averaged over images); *max F* is its maximum, *mean F* its
    mean over thresholds, *adaptive F* uses twice the mean prediction as the threshold.
    Predictions are passed as probabilities in [0, 1] without per-image min-max stretching
    (``normalize=False``), so MAE measures the network's actual output.

    Parameters
    ----------
    probabilities : numpy.ndarray
        (N, H, W) floats in [0, 1].
    masks : numpy.ndarray
        (N, H, W), nonzero = salient.

    Examples
    --------
    >>> mask = np.zeros((1, 4, 4)); mask[0, :2] = 1
    >>> scores = saliency_scores(mask.astype(float), mask)
    >>> round(scores["max_f"], 3), round(scores["mae"], 3)
    (1.0, 0.0)
    """
    import py_sod_metrics

    handler = py_sod_metrics.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=F_BETA2)
    fmeasure, mae = py_sod_metrics.FmeasureV2({"fm": handler}), py_sod_metrics.MAE()
    for prediction, mask in zip(probabilities, masks):
        prediction = np.clip(np.asarray(prediction, dtype=np.float64), 0.0, 1.0)
        mask = np.asarray(mask) > 0
        fmeasure.step(prediction, mask, normalize=False)
        mae.step(prediction, mask, normalize=False)
    curve = fmeasure.get_results()["fm"]
    return {"max_f": float(np.max(curve["dynamic"])), "mean_f": float(np.mean(curve["dynamic"])),
            "adaptive_f": float(curve["adaptive"]), "mae": float(mae.get_results()["mae"]), "n_images": len(masks)}


def confusion_matrix(predicted: np.ndarray, target: np.ndarray, n_classes: int, ignore_index: int) -> np.ndarray:
    """(n_classes, n_classes) counts, rows = true class, columns = predicted; ignored pixels left out.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 9]), 2, ignore_index=9).tolist()
    [[1, 1], [0, 1]]
    """
    predicted, target = np.asarray(predicted).ravel(), np.asarray(target).ravel()
    keep = (target != ignore_index) & (target < n_classes)
    index = target[keep].astype(np.int64) * n_classes + predicted[keep].astype(np.int64)
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both prediction and target.

    Examples
    --------
    >>> class_iou(np.array([[1, 1], [0, 1]])).round(3).tolist()
    [0.5, 0.5]
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / np.where(union > 0, union, 1.0), np.nan)


def segmentation_scores(predicted: np.ndarray, target: np.ndarray, class_names, ignore_index: int) -> pd.DataFrame:
    """Per-class IoU and the mean IoU (over classes present) as a long table.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` (``iou`` / ``miou`` / ``pixel_accuracy``), ``class``, ``value``.
    """
    confusion = confusion_matrix(predicted, target, len(class_names), ignore_index)
    iou = class_iou(confusion)
    rows = [{"metric": "iou", "class": name, "value": value} for name, value in zip(class_names, iou)]
    rows.append({"metric": "miou", "class": "all", "value": float(np.nanmean(iou))})
    rows.append({"metric": "pixel_accuracy", "class": "all",
                 "value": float(np.trace(confusion) / max(confusion.sum(), 1))})
    return pd.DataFrame(rows)


def evaluate_saliency(models: dict[str, TrainedModel], data: TaskData) -> pd.DataFrame:
    """Saliency scores of every model on every test set (one row per padding and test set)."""
    rows = []
    for padding, trained in models.items():
        for test in data.tests:
            scores = saliency_scores(predict_saliency(trained.model, test.images), test.targets)
            rows.append({"padding": padding, "test_set": test.name, **scores})
    return pd.DataFrame(rows)


def evaluate_segmentation(models: dict[str, TrainedModel], data: TaskData) -> pd.DataFrame:
    """Per-class IoU and mIoU of every model on every test set, long format."""
    frames = []
    for padding, trained in models.items():
        for test in data.tests:
            scores = segmentation_scores(predict_labels(trained.model, test.images), test.targets,
                                         data.class_names, data.ignore_index)
            frames.append(scores.assign(padding=padding, test_set=test.name))
    return pd.concat(frames, ignore_index=True)[["padding", "test_set", "metric", "class", "value"]]


def train_task_models(data: TaskData, paddings, epochs: int, batch_size: int, seed: int = 0,
                      progress: bool = True) -> dict[str, TrainedModel]:
    """Train (or load from the cache) one model per padding rule, with the same schedule and seed."""
    return {padding: trained_model(task_config(data, padding, epochs, batch_size, seed), data.train,
                                   progress=progress)
            for padding in paddings}


def training_histories(models: dict[str, TrainedModel]) -> pd.DataFrame:
    """Mean training loss per epoch of every model (columns task, padding, epoch, loss)."""
    frames = [trained.history.groupby("epoch", as_index=False)["loss"].mean()
              .assign(task=trained.config.task, padding=padding) for padding, trained in models.items()]
    return pd.concat(frames, ignore_index=True)[["task", "padding", "epoch", "loss"]]


# ----------------------------------------------------------------------------- crop shift (Figure 1)


def saliency_centroid(maps: np.ndarray, min_mass: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass (y, x) of each map, in pixel coordinates (pixel centres at i + 0.5).

    A map whose total mass is below ``min_mass`` (less than one fully salient pixel) has no
    centroid: NaN.

    Examples
    --------
    >>> m = np.zeros((1, 4, 4)); m[0, 1, 3] = 1.0
    >>> saliency_centroid(m)
    (array([1.5]), array([3.5]))
    """
    maps = np.asarray(maps, dtype=np.float64)
    mass = maps.sum(axis=(1, 2))
    ys = np.arange(maps.shape[1]) + 0.5
    xs = np.arange(maps.shape[2]) + 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (maps.sum(axis=2) * ys).sum(axis=1) / mass
        cx = (maps.sum(axis=1) * xs).sum(axis=1) / mass
    valid = mass >= min_mass
    return np.where(valid, cy, np.nan), np.where(valid, cx, np.nan)


def crop_shift(model: EncoderDecoder, images: np.ndarray, fractions, batch_size: int = 16) -> pd.DataFrame:
    """How far the predicted saliency centroid moves when the right part of the image is cut away.

    For each fraction ``c`` the image keeps its left ``W' = round((1 - c) W)`` columns and is
    fed at that size (no resizing). Both predictions are compared on the kept columns only, in
    the same pixel frame: the full image's prediction restricted to them, and the cropped
    image's prediction. The content there is identical, so a translation-equivariant model
    would give the same map; any move comes from the changed frame.

    Returns
    -------
    pandas.DataFrame
        One row per fraction and image: ``fraction``, ``image``, ``kept_width``,
        ``x_full``, ``x_crop`` (centroids in pixels), ``shift_x = (x_crop - x_full) / W'``
        (negative: towards the left, i.e. towards the new centre for a cut on the right),
        ``toward_centre = (|x_full - W'/2| - |x_crop - W'/2|) / W'`` (positive: closer to
        the new frame's centre), ``shift_y`` (vertical move / H).
    """
    height, width = images.shape[1:3]
    full = predict_saliency(model, images, batch_size)
    frames = []
    for fraction in fractions:
        kept = int(round((1.0 - fraction) * width))
        if encoder_output_side(kept, model.encoder.convs, model.padding) < 1:
            raise ConfigError(f"crop fraction {fraction} leaves {kept} px, too narrow for the encoder with "
                              f"padding {model.padding!r}; use a smaller fraction or a larger input")
        cropped = predict_saliency(model, np.ascontiguousarray(images[:, :, :kept]), batch_size)
        y_full, x_full = saliency_centroid(full[:, :, :kept])
        y_crop, x_crop = saliency_centroid(cropped)
        centre = kept / 2.0
        frames.append(pd.DataFrame({
            "fraction": fraction, "image": np.arange(len(images)), "kept_width": kept,
            "x_full": x_full, "x_crop": x_crop, "shift_x": (x_crop - x_full) / kept,
            "toward_centre": (np.abs(x_full - centre) - np.abs(x_crop - centre)) / kept,
            "shift_y": (y_crop - y_full) / height}))
    return pd.concat(frames, ignore_index=True)


def crop_shift_table(models: dict[str, TrainedModel], data: TaskData, fractions) -> pd.DataFrame:
    """:func:`crop_shift` of every saliency model on every test set, with columns padding and test_set."""
    frames = [crop_shift(trained.model, test.images, fractions).assign(padding=padding, test_set=test.name)
              for padding, trained in models.items() for test in data.tests]
    return pd.concat(frames, ignore_index=True)


def summarise_crop_shift(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard error and count of the shifts per padding, test set and fraction (NaN rows dropped)."""
    valid = per_image.dropna(subset=["shift_x"])
    grouped = valid.groupby(["padding", "test_set", "fraction"], sort=False)
    summary = grouped.agg(shift_x=("shift_x", "mean"), abs_shift_x=("shift_x", lambda s: s.abs().mean()),
                          toward_centre=("toward_centre", "mean"),
                          toward_centre_sem=("toward_centre", lambda s: s.std(ddof=1) / np.sqrt(max(len(s), 1))),
                          shift_y=("shift_y", "mean"), n_images=("shift_x", "size")).reset_index()
    return summary


# ----------------------------------------------------------------------------- encoder as a probed backbone


@register_backbone("vggsmall")
def build_vggsmall(weights: str, seed: int, input_size: int, padding: str) -> TappedBackbone:
    """The encoder of :class:`EncoderDecoder` as a frozen backbone with taps f1..f5.

    ``weights`` is ``"random"`` (seeded initialisation) or the path of a cached
    ``weights.pt`` of a trained :class:`EncoderDecoder` (its ``encoder.*`` entries are used).
    Pass the padding rule the encoder was trained with.
    """
    encoder = _seeded(seed, VGGEncoder)
    if weights == "random":
        identity = f"random:seed={seed}"
    else:
        state = load_state_dict_file(weights)
        encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        try:
            encoder.load_state_dict(encoder_state)
        except RuntimeError as error:
            raise ConfigError(f"weights {weights} do not fit the vggsmall encoder: {error}") from None
        identity = f"file:{file_sha256(Path(weights))[:16]}"
    encoder = apply_padding(encoder, padding)
    return TappedBackbone("vggsmall", identity, [f"f{i}" for i in range(1, 6)], list(encoder.widths),
                          encoder.forward, encoder)


#: The ImageNet (classification) backbone that is available offline, probed next to the task encoders.
CLASSIFICATION_BACKBONE = ("efficientnet-lite0", "imagenet")


def table6_configs(trained: dict[str, dict[str, TrainedModel]], paddings, input_size: int) -> list[dict]:
    """Rows of Table 6: the trained task encoders, the same encoder at random init, an ImageNet backbone.

    Parameters
    ----------
    trained : dict
        ``task -> padding -> TrainedModel``.
    paddings : iterable of str
        Which padding variants to probe.
    input_size : int
        Input side of the probing images.

    Returns
    -------
    list of dict
        ``{"model", "task", "padding", "config"}`` with a :class:`poslib.features.FeatureConfig`.
    """
    rows = []
    for task, models in trained.items():
        for padding in paddings:
            if padding in models:
                rows.append({"model": f"vggsmall-{task}/{padding}", "task": task, "padding": padding,
                             "config": FeatureConfig("vggsmall", str(models[padding].weights_path), padding=padding,
                                                     input_size=input_size)})
    rows.append({"model": "vggsmall/random", "task": "random init", "padding": "zeros",
                 "config": FeatureConfig("vggsmall", "random", input_size=input_size)})
    backbone, weights = CLASSIFICATION_BACKBONE
    rows.append({"model": f"{backbone}/{weights}", "task": "classification", "padding": "zeros",
                 "config": FeatureConfig(backbone, weights, input_size=input_size)})
    return rows


def probe_table6(rows: list[dict], images, readout, seeds, progress: bool = True):
    """Probe each row of :func:`table6_configs` with the position readout (notebook 02's protocol).

    Returns
    -------
    per_image : pandas.DataFrame
        :func:`poslib.probing.probe` rows with extra columns model and task.
    skipped : list of dict
        Rows whose weights are not on this machine, with the reason.
    weights : list of str
        ``model: weights identity`` of every probed row.
    """
    from .backbones import WeightsNotFoundError
    from .probing import extract_bundle, probe

    frames, skipped, weights = [], [], []
    for row in rows:
        try:
            bundle = extract_bundle(row["config"], images, progress)
        except WeightsNotFoundError as error:
            skipped.append({"backbone": row["config"].backbone, "weights": row["config"].weights, "reason": str(error)})
            continue
        result = probe(bundle, readout, seeds, labels={"model": row["model"], "task": row["task"]},
                       progress=progress)
        frames.append(result.per_image.assign(weights=bundle.weights_id))
        weights.append(f"{row['model']}: {bundle.weights_id}")
    return pd.concat(frames, ignore_index=True), skipped, weights
