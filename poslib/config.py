"""Profiles, seeding, devices and default folders: every global setting in one place.

(About 410 lines, most of them the per-notebook settings sections and their documentation:
the single source of run sizes is meant to be read in one place.)

A *profile* fixes the size of a run. ``smoke`` is what the tests and CI run (seconds to
a couple of minutes per notebook), ``default`` is what is rendered into ``results/`` on a
2-core laptop, and ``paper`` is the paper's scale (meant for a GPU).
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

#: Environment variable naming the folder that holds the datasets (ECSSD/, SOD/, CamVid/).
DATA_ENV = "POSLIB_DATA"
#: Environment variable naming the feature / weight cache folder.
CACHE_ENV = "POSLIB_CACHE"
#: Environment variable that allows downloading ImageNet weights through torchvision.
DOWNLOAD_ENV = "POSLIB_ALLOW_DOWNLOAD"

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting (profile, backbone, pattern, folder...) has a value poslib cannot use."""


def check_choice(value: str, valid, what: str) -> str:
    """Return ``value`` if it is one of ``valid``.

    Raises
    ------
    ConfigError
        Naming the ``what`` (e.g. "backbone"), the value and the valid choices.
    """
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid choices are {sorted(valid)}")
    return value


#: The raw-pixel "backbone" (the paper's PosENet row): the readout sees the RGB image itself.
RAW_PIXELS = "pixels"
#: ImageNet-trained rows: the paper's VGG16 (original Caffe weights, installed offline),
#: ResNet-152 (torchvision's file, when present) and EfficientNet-Lite0 (installed offline).
IMAGENET_ROWS = (
    ("vgg16", "imagenet-caffe"),
    ("resnet152", "imagenet"),
    ("efficientnet-lite0", "imagenet"),
)
#: Controls: raw pixels, random initialisations (one with non-zero biases, see
#: :func:`poslib.backbones.randomise_biases`).
CONTROL_ROWS = (
    (RAW_PIXELS, "none"),
    ("vgg16", "random"),
    ("vgg16", "random-bias"),
    ("resnet152", "random"),
)
#: The paper's own input convention (unnormalised [0, 1] RGB) on the same VGG16 weights: one extra row.
PAPER_CONVENTION_ROW = ("vgg16", "imagenet-caffe-unnormalised")
#: Rows of notebook 02 (the paper's Table 1 and its controls).
TABLE1_ROWS = IMAGENET_ROWS + (PAPER_CONVENTION_ROW,) + CONTROL_ROWS


@dataclass(frozen=True)
class LayerwiseSettings:
    """Notebook 03 (readout depth and kernel, one level at a time).

    ``None`` means "as the profile's Table-1 settings" (its epochs, its backbone rows).

    Parameters
    ----------
    epochs : int or None
        Readout training epochs.
    seeds : tuple of int or None
        Readout seeds.
    depths, kernel_sizes : tuple of int
        Table 2's readout depths (3x3 kernel) and kernel sizes (one layer).
    hidden_channels : int or None
        Hidden width per target of deeper readouts (None: the input width, as the paper).
    readout_rows, level_rows : tuple of (str, str) or None
        Backbone rows of Table 2 and of Table 3 (the raw-pixel row never has levels).
    channels_per_level : int or None
        Channels of the controlled comparison (None: the smallest level's count).
    channel_draws : int
        Random channel subsets per level.
    train_images : int or None
        Readouts train on the first this many cached training images (None: all).
    batch_size : int or None
        Readout mini-batch size (None: the profile's).
    width_sweep : tuple of int
        Hidden widths per target of a depth-2 readout tried on ``width_sweep_row`` (with
        ``width_sweep_seeds``), to show whether ``hidden_channels`` is on the plateau.
    width_sweep_row : (str, str)
    width_sweep_seeds : tuple of int
    """

    epochs: int | None = None
    seeds: tuple[int, ...] | None = None
    batch_size: int | None = None
    depths: tuple[int, ...] = (1, 2, 3)
    kernel_sizes: tuple[int, ...] = (1, 3, 5, 7)
    hidden_channels: int | None = None
    readout_rows: tuple[tuple[str, str], ...] | None = None
    level_rows: tuple[tuple[str, str], ...] | None = None
    channels_per_level: int | None = None
    channel_draws: int = 3
    train_images: int | None = None
    width_sweep: tuple[int, ...] = (4, 16, 64)
    width_sweep_row: tuple[str, str] = ("efficientnet-lite0", "imagenet")
    width_sweep_seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class PaddingStudySettings:
    """Notebook 04 (readout padding, backbone padding rules, border analysis).

    ``None`` means "as the profile's Table-1 settings".

    Parameters
    ----------
    epochs : int or None
        Readout training epochs.
    seeds : tuple of int or None
        Readout seeds.
    readout_paddings : tuple of int
        Zero padding of the one-layer readout (Table 4, upper half).
    readout_padding_rows, rule_rows : tuple of (str, str) or None
        Backbone rows for the readout-padding and the padding-rule comparisons.
    rules : tuple of str
        Backbone padding rules (:data:`poslib.padding.PADDING_RULES`).
    border_bins : int
        Rings between border and centre in the border analysis.
    side_band : float
        Relative width of the band along each side for the side errors.
    train_images : int or None
        Every configuration uses the first this many training images (None: all).
    batch_size : int or None
        Readout mini-batch size (None: the profile's).
    """

    epochs: int | None = None
    seeds: tuple[int, ...] | None = None
    batch_size: int | None = None
    readout_paddings: tuple[int, ...] = (0, 1, 2)
    readout_padding_rows: tuple[tuple[str, str], ...] | None = None
    rule_rows: tuple[tuple[str, str], ...] | None = None
    # "partial" is not among them: on the Caffe VGG16 (activations up to ~1e4) its border
    # re-weighting overflows the float16 feature cache (measured: non-finite features at f4/f5);
    # notebook 06 runs it on the backbones where it fits.
    rules: tuple[str, ...] = ("zeros", "valid", "reflect", "replicate", "circular")
    border_bins: int = 16
    side_band: float = 0.1
    train_images: int | None = None


@dataclass(frozen=True)
class TaskSettings:
    """Notebook 05 (saliency, segmentation and classification networks trained from scratch).

    Every pixel-task variant learns from the pixels it predicts and all are compared on the
    pixels every variant predicts (:func:`poslib.segnet.shared_region`); without padding the
    small VGG loses 46-50 px at each side, so the inputs are larger than notebook 05 used
    before registration (176 px: the central 80 x 80 pixels are compared).

    Parameters
    ----------
    saliency_size : int
        Square input side of the saliency (and classification) models.
    saliency_train, saliency_test, sod_test : int
        Training images (of the ECSSD training split), held-out ECSSD test images and SOD
        test images; 0 keeps all. Embedded scenes: the same counts are generated.
    saliency_epochs : int
    segmentation_size : (int, int)
        (height, width) of the CamVid input (the originals are 360 x 480).
    segmentation_train, segmentation_test : int
        CamVid train / test images (0: all 367 / 233).
    segmentation_epochs : int
    classification_epochs : int
        Epochs of the classification encoder (ImageNet labels distilled from
        EfficientNet-Lite0 on the saliency training photos).
    distillation_temperature : float
    batch_size : int
    training_seeds : tuple of int
        Seeds of every trained network (initialisation, batch order, flips): tables give the
        mean and spread over them.
    padding_rules : tuple of str
        Encoder padding rules trained for each pixel task (``zeros`` and ``valid`` are compared by claim 7).
    crop_fractions : tuple of float
        Nominal fractions of the width cut away on the right for the frame-shift measurement
        (kept widths are rounded to multiples of 16 px, the encoder's total stride).
    probe_seeds : tuple of int
        Readout seeds of the Table-6 probing of the reference networks (the small-VGG rows vary
        by training seed and use the first readout seed).
    probe_padding_rules : tuple of str
        Which trained encoders (by padding rule) Table 6 probes.
    """

    saliency_size: int = 176
    saliency_train: int = 0
    saliency_test: int = 0
    sod_test: int = 0
    saliency_epochs: int = 8
    segmentation_size: tuple[int, int] = (160, 224)
    segmentation_train: int = 0
    segmentation_test: int = 0
    segmentation_epochs: int = 10
    classification_epochs: int = 8
    distillation_temperature: float = 2.0
    batch_size: int = 16
    training_seeds: tuple[int, ...] = (0, 1, 2)
    padding_rules: tuple[str, ...] = ("zeros", "valid")
    crop_fractions: tuple[float, ...] = (0.1, 0.2, 0.3)
    probe_seeds: tuple[int, ...] = (0, 1, 2)
    probe_padding_rules: tuple[str, ...] = ("zeros",)


@dataclass(frozen=True)
class BeyondSettings:
    """Notebook 06 (questions the paper's successors asked, on the same machinery).

    The default profile is scaled to finish in about 20 minutes on 2 CPU cores: small
    canvases for the absolute-location networks (48 px, 3 seeds, 8 epochs), a 112 px canvas
    for the global-pooling study (so VGG16 without padding, which needs about 220 px,
    is skipped there with its reason; random-init controls under zeros and circular only),
    60 / 30 images for the readouts of the parity and input-size studies, and one readout
    row (EfficientNet-Lite0) for the parity side errors. The paper profile runs 224 px
    canvases, more images and every row.

    Parameters
    ----------
    seeds : tuple of int
        Seeds of the networks trained from scratch (study 1), of the linear position
        classifiers (study 2) and of the readouts (studies 3, 4).
    location_canvas, location_height, location_patch : int
        Canvas width, canvas height and patch side of the absolute-location task (study 1).
    location_distances : tuple of int
        Distances in pixels from the patch to its nearest left / right border.
    location_depths : tuple of int
        Conv layers (3x3, stride 1) of the networks trained from scratch; receptive field 1 + 2 * depth.
    location_paddings : tuple of str
        ``zeros`` ("same"), ``valid`` (no padding) and ``full`` (padding kernel - 1 at every layer).
    location_channels, location_train, location_test, location_epochs : int
        Width of those networks; training / test canvases per distance; training epochs.
    gap_rows : tuple of (str, str)
        Backbones probed under every rule of ``gap_rules`` (study 2).
    gap_control_rows : tuple of (str, str)
        Random-init controls, probed under ``gap_control_rules``.
    gap_rules, gap_control_rules : tuple of str
        Padding rules (:data:`poslib.padding.ALL_PADDING_RULES`).
    gap_canvas, gap_grid, gap_patch : int
        Canvas side, grid side (``gap_grid ** 2`` positions) and patch side.
    gap_train, gap_test : int
        Training / test canvases (cut from the training / test photos).
    gap_top_k : tuple of int
        Channel counts kept by the top-k (by classifier weight mass) and random-k readouts.
    gap_epochs : int
        Full-batch Adam steps of the linear position classifier.
    parity_sizes : tuple of int
        Input sizes of study 3 (evenly and unevenly divisible).
    parity_rows, parity_rules : tuple
        Backbones and padding rules of the uniform-input asymmetry (study 3).
    parity_contrast_rows : tuple of (str, str)
        Backbones with symmetric padding shown as the contrast, as trained (``zeros``) only.
    parity_levels : tuple of float
        Grey levels of the uniform inputs (the spread of the asymmetry is over them).
    parity_readout_rows : tuple of (str, str)
        Backbones whose position readout's side errors are measured at every parity size.
    input_sizes : tuple of int
        Input sizes of study 4.
    size_rows : tuple of (str, str)
        Backbones of study 4.
    readout_train, readout_test : int
        Natural training / test images of the readouts of studies 3 and 4.
    readout_epochs : int
        Their training epochs.
    border_bins : int
        Rings between border and centre in studies 3 and 4.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    location_canvas: int = 48
    location_height: int = 12
    location_patch: int = 6
    location_distances: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
    location_depths: tuple[int, ...] = (1, 2, 4)
    location_paddings: tuple[str, ...] = ("zeros", "valid", "full")
    location_channels: int = 16
    location_train: int = 100
    location_test: int = 100
    location_epochs: int = 15
    gap_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"))
    gap_control_rows: tuple[tuple[str, str], ...] = (("vgg16", "random"), ("efficientnet-lite0", "random"))
    gap_rules: tuple[str, ...] = ("zeros", "valid", "reflect", "replicate", "circular", "partial")
    gap_control_rules: tuple[str, ...] = ("zeros", "circular")
    gap_canvas: int = 112
    gap_grid: int = 3
    gap_patch: int = 32
    gap_train: int = 180
    gap_test: int = 90
    gap_top_k: tuple[int, ...] = (8, 32)
    gap_epochs: int = 300
    parity_sizes: tuple[int, ...] = (224, 225, 226, 232)
    parity_rows: tuple[tuple[str, str], ...] = (("efficientnet-lite0", "imagenet"),)
    parity_contrast_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"),)
    parity_rules: tuple[str, ...] = ("zeros", "partial", "reflect")
    parity_levels: tuple[float, ...] = (0.25, 0.5, 0.75)
    parity_readout_rows: tuple[tuple[str, str], ...] = (("efficientnet-lite0", "imagenet"),)
    input_sizes: tuple[int, ...] = (112, 224, 448)
    size_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"))
    readout_train: int = 60
    readout_test: int = 30
    readout_epochs: int = 10
    border_bins: int = 8


@dataclass(frozen=True)
class Profile:
    """Size of a run: the single source of every notebook's run sizes.

    The top-level fields are notebook 02's (the paper's Table 1) and the defaults of the
    later notebooks; :attr:`layerwise`, :attr:`padding_study` and :attr:`tasks` hold the
    sections of notebooks 03, 04 and 05. After construction every ``None`` in a section
    that means "as Table 1" is filled in, so notebooks read concrete values.

    Parameters
    ----------
    name : str
        ``smoke``, ``default`` or ``paper``.
    n_train, n_test : int
        Number of natural training / test images (``0`` means all available).
    epochs : int
        Readout training epochs; the learning rate drops x0.1 after two thirds of them
        (the paper: 15 epochs, drop at epoch 10).
    readout_seeds : tuple of int
        Seeds of the readout (initialisation and batch order); tables report mean and
        spread over them.
    backbones : tuple of (str, str)
        ``(backbone, weights)`` rows probed by notebook 02 and reused later.
    input_size : int
        Side of the square network input (the paper: 224).
    batch_size : int
        Readout mini-batch size (the paper's code: 32).
    layerwise, padding_study, tasks :
        Sections of notebooks 03, 04, 05.
    beyond : BeyondSettings
        Section of notebook 06.
    """

    name: str
    n_train: int
    n_test: int
    epochs: int
    readout_seeds: tuple[int, ...]
    backbones: tuple[tuple[str, str], ...]
    input_size: int = 224
    batch_size: int = 32
    layerwise: LayerwiseSettings = field(default_factory=LayerwiseSettings)
    padding_study: PaddingStudySettings = field(default_factory=PaddingStudySettings)
    tasks: TaskSettings = field(default_factory=TaskSettings)
    beyond: BeyondSettings = field(default_factory=BeyondSettings)

    def __post_init__(self):
        network_rows = tuple(tuple(row) for row in self.backbones if row[0] != RAW_PIXELS)
        all_rows = tuple(tuple(row) for row in self.backbones)
        layerwise = replace(self.layerwise, epochs=self.layerwise.epochs or self.epochs,
                            seeds=self.layerwise.seeds or self.readout_seeds,
                            batch_size=self.layerwise.batch_size or self.batch_size,
                            readout_rows=self.layerwise.readout_rows or all_rows,
                            level_rows=tuple(r for r in self.layerwise.level_rows or network_rows if r[0] != RAW_PIXELS))
        study = replace(self.padding_study, epochs=self.padding_study.epochs or self.epochs,
                        seeds=self.padding_study.seeds or self.readout_seeds,
                        batch_size=self.padding_study.batch_size or self.batch_size,
                        readout_padding_rows=self.padding_study.readout_padding_rows or all_rows,
                        rule_rows=tuple(r for r in self.padding_study.rule_rows or network_rows if r[0] != RAW_PIXELS))
        object.__setattr__(self, "layerwise", layerwise)
        object.__setattr__(self, "padding_study", study)

    def as_dict(self) -> dict:
        """Plain-dict view, for provenance records."""
        return asdict(self)


#: Readout schedule of the default profile: at least 1,000 SGD steps per readout (the paper:
#: 15 epochs over 10,553 images at batch 32, about 4,950 steps). Notebook 02: 400 images at
#: batch 32 are 13 steps an epoch, 77 epochs = 1,001 steps. Notebooks 03-04: the first 200
#: images at batch 16, also 13 steps an epoch and 1,001 steps.
DEFAULT_EPOCHS = 77
#: Rows of notebooks 03-04 in the default profile: the ImageNet networks that are here and the
#: random VGG16 control. ResNet-152 (2.5x VGG16's readout cost, random init only here) is left
#: to the paper profile.
_DEFAULT_STUDY_ROWS = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"), ("vgg16", "random"))

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", n_train=24, n_test=8, epochs=4, readout_seeds=(0,),
        backbones=((RAW_PIXELS, "none"), ("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
        input_size=112, batch_size=8,
        layerwise=LayerwiseSettings(hidden_channels=4, readout_rows=((RAW_PIXELS, "none"),),
                                    level_rows=(("vgg16", "random"),), channel_draws=1, width_sweep=(2, 4),
                                    width_sweep_row=("vgg16", "random")),
        padding_study=PaddingStudySettings(
            readout_padding_rows=((RAW_PIXELS, "none"), ("vgg16", "random")),
            rule_rows=(("vgg16", "random"), ("efficientnet-lite0", "imagenet")),
            rules=("zeros", "valid", "circular"), border_bins=8),
        tasks=TaskSettings(saliency_size=128, saliency_train=16, saliency_test=8, sod_test=8, saliency_epochs=2,
                           segmentation_size=(112, 144), segmentation_train=16, segmentation_test=8,
                           segmentation_epochs=2, classification_epochs=2, batch_size=8, training_seeds=(0, 1),
                           crop_fractions=(0.15,), probe_seeds=(0,)),
        beyond=BeyondSettings(
            seeds=(0,), location_canvas=32, location_distances=(0, 2, 8), location_depths=(2,),
            location_channels=8, location_train=64, location_test=100, location_epochs=15,
            gap_rows=(("efficientnet-lite0", "imagenet"),),
            gap_control_rows=(("efficientnet-lite0", "random"),), gap_rules=("zeros", "circular", "partial"),
            gap_canvas=64, gap_patch=20, gap_train=36, gap_test=18, gap_top_k=(8,), gap_epochs=150,
            parity_sizes=(64, 65, 66), parity_rules=("zeros", "partial"), parity_levels=(0.5,),
            input_sizes=(64, 112), readout_train=16, readout_test=8, readout_epochs=3, border_bins=4),
    ),
    "default": Profile(
        name="default", n_train=400, n_test=100, epochs=DEFAULT_EPOCHS, readout_seeds=(0, 1, 2),
        backbones=TABLE1_ROWS,
        layerwise=LayerwiseSettings(
            batch_size=16, hidden_channels=4, train_images=200,
            readout_rows=((RAW_PIXELS, "none"), ("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet")),
            level_rows=_DEFAULT_STUDY_ROWS),
        padding_study=PaddingStudySettings(
            batch_size=16, train_images=200,
            readout_padding_rows=((RAW_PIXELS, "none"),) + _DEFAULT_STUDY_ROWS, rule_rows=_DEFAULT_STUDY_ROWS),
        tasks=TaskSettings(saliency_train=300, segmentation_epochs=8),
        beyond=BeyondSettings(),
    ),
    "paper": Profile(
        name="paper", n_train=0, n_test=0, epochs=15, readout_seeds=(0, 1, 2),
        backbones=TABLE1_ROWS,
        layerwise=LayerwiseSettings(channel_draws=5, readout_rows=((RAW_PIXELS, "none"),) + IMAGENET_ROWS,
                                    level_rows=IMAGENET_ROWS + CONTROL_ROWS[1:]),
        padding_study=PaddingStudySettings(readout_padding_rows=((RAW_PIXELS, "none"),) + IMAGENET_ROWS
                                           + CONTROL_ROWS[1:], rule_rows=IMAGENET_ROWS + CONTROL_ROWS[1:]),
        tasks=TaskSettings(saliency_size=224, saliency_epochs=30, segmentation_size=(352, 480),
                           segmentation_epochs=60, classification_epochs=30, training_seeds=(0, 1, 2, 3, 4),
                           padding_rules=("zeros", "valid", "reflect"), crop_fractions=(0.1, 0.2, 0.3, 0.4),
                           probe_padding_rules=("zeros", "valid")),
        beyond=BeyondSettings(
            location_canvas=64, location_height=64, location_distances=(0, 1, 2, 4, 8, 16, 24), location_depths=(1, 2, 4, 8),
            location_channels=32, location_train=500, location_test=200, location_epochs=20,
            gap_control_rules=("zeros", "valid", "reflect", "replicate", "circular", "partial"),
            gap_canvas=224, gap_patch=64, gap_train=1800, gap_test=900, gap_top_k=(8, 32, 128),
            parity_rules=("zeros", "partial", "reflect", "replicate", "circular"),
            parity_readout_rows=(("efficientnet-lite0", "imagenet"), ("vgg16", "imagenet-caffe")),
            readout_train=0, readout_test=0, readout_epochs=15, border_bins=16),
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``.

    Raises
    ------
    ConfigError
        If no such profile exists.
    """
    return PROFILES[check_choice(name, PROFILES, "profile (set it in the parameters cell or with --profile)")]


def parse_backbone_rows(text: str, default: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """``"pixels:none,vgg16:random"`` -> ``[("pixels", "none"), ("vgg16", "random")]`` ("" -> ``default``).

    Examples
    --------
    >>> parse_backbone_rows("vgg16:random, pixels:none", ())
    [('vgg16', 'random'), ('pixels', 'none')]

    Raises
    ------
    ConfigError
        For an item that is not ``backbone:weights``.
    """
    if not text.strip():
        return [tuple(row) for row in default]
    rows = []
    for item in text.split(","):
        backbone, sep, weights = item.strip().partition(":")
        if not sep or not backbone or not weights:
            raise ConfigError(f"backbones setting {text!r}: item {item.strip()!r} is not 'backbone:weights' "
                              "(e.g. 'pixels:none,vgg16:random,efficientnet-lite0:imagenet')")
        rows.append((backbone, weights))
    return rows


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    Parameters
    ----------
    seed : int
        The seed.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


#: Environment variable that turns progress bars off (the driver sets it for headless runs).
PROGRESS_ENV = "POSLIB_PROGRESS"


def progress_bar(iterable, description: str, enabled: bool = True, total: int | None = None):
    """A progress bar over ``iterable``: a widget in JupyterLab, text in a terminal.

    Bars are off when ``enabled`` is False or ``$POSLIB_PROGRESS`` is ``0`` (as in headless
    runs by the driver, so executed notebooks hold no progress-bar text). They vanish
    when done (``leave=False``).
    """
    from tqdm.auto import tqdm

    disable = not enabled or os.environ.get(PROGRESS_ENV) == "0"
    return tqdm(iterable, desc=description, total=total, disable=disable, leave=False)


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository root (``../data/ECSSD/images``): how paths are recorded.

    Rendered results and provenance never hold absolute local paths; a relative path still
    says where the data was, on this machine, for whoever reproduces the run beside it.
    """
    return os.path.relpath(Path(path).expanduser().resolve(), REPO_ROOT)


def portable_text(text: str) -> str:
    """``text`` with the repository root written as ``.`` and the home folder as ``~`` (for messages kept in results)."""
    for folder, short in ((str(REPO_ROOT), "."), (str(Path.home()), "~")):
        text = text.replace(folder, short)
    return text


def cache_dir() -> Path:
    """Folder for cached features and trained weights (``$POSLIB_CACHE`` or ``~/.cache/poslib``)."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "poslib")
    path.mkdir(parents=True, exist_ok=True)
    return path
