"""Profiles: the single source of every run size, and how a run changes them.

A *profile* fixes the size of a run. ``smoke`` is what the tests, CI and JupyterLab's Run All
run (15 s to 4.5 minutes per notebook on a 2-core CPU), ``default`` is what is rendered into
``results/`` on a 2-core laptop, and ``paper`` is the paper's scale (meant for a GPU; at least
the paper's 4,950 SGD steps per readout). The README's profile table is :func:`profile_table`. One ``seeds`` tuple per
profile is inherited by every section that does not set its own (:func:`inherited`); the
driver changes any field by its dotted path (``-p seeds=0,1 -p padding_study.readout_paddings=0,1``,
:func:`apply_overrides`). Process settings (environment variables, seeding, devices,
progress bars, paths) are :mod:`poslib.runtime`, re-exported here.
(Longer than 400 lines, most of them the per-notebook settings sections and their
documentation: the single source of run sizes is meant to be read in one place.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from difflib import get_close_matches
from types import UnionType
from typing import Union, get_args, get_origin, get_type_hints

from .runtime import (CACHE_ENV, DATA_ENV, DOWNLOAD_ENV, PROGRESS_ENV, REPO_ROOT, ConfigError,  # noqa: F401
                      cache_dir, check_choice, default_device, portable_text, progress_bar, repo_relative,
                      seed_everything)

#: Metadata key of a section field that takes the profile's value when left ``None``.
INHERIT_KEY = "inherit_from_profile"
#: Metadata key: the inherited backbone rows keep networks only (no raw-pixel row).
NETWORKS_ONLY_KEY = "networks_only"


def inherited(source: str, networks_only: bool = False):
    """A section field that defaults to ``None``, meaning "the profile's ``source`` field".

    This is the one rule that fills sections from their profile (:meth:`Profile.resolved`):
    no section copies a profile value by hand. ``networks_only`` drops the raw-pixel row from
    inherited (or given) backbone rows, for studies of a network's layers or padding.
    """
    return field(default=None, metadata={INHERIT_KEY: source, NETWORKS_ONLY_KEY: networks_only})


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
#: The same Caffe VGG16 weights under the other input conventions (:mod:`poslib.weights`): what torchvision's
#: ImageNet VGG16 sees from the paper's ToTensor()-only input, and unnormalised [0, 1] RGB fed as it is.
CONVENTION_ROWS = (("vgg16", "imagenet-caffe-paper-input"), ("vgg16", "imagenet-caffe-unnormalised"))
#: Old name of the unnormalised-input row.
PAPER_CONVENTION_ROW = CONVENTION_ROWS[1]
#: Rows of notebook 02 (the paper's Table 1 and its controls).
TABLE1_ROWS = IMAGENET_ROWS + CONVENTION_ROWS + CONTROL_ROWS


@dataclass(frozen=True)
class LayerwiseSettings:
    """Notebook 03 (readout depth and kernel, one level at a time).

    ``None`` means "as the profile" (its epochs, seeds, batch size, backbone rows): see
    :func:`inherited`.

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
        Its own seeds on purpose: the sweep asks where the plateau is, not how much it varies.
    """

    epochs: int | None = inherited("epochs")
    seeds: tuple[int, ...] | None = inherited("seeds")
    batch_size: int | None = inherited("batch_size")
    depths: tuple[int, ...] = (1, 2, 3)
    kernel_sizes: tuple[int, ...] = (1, 3, 5, 7)
    hidden_channels: int | None = None
    readout_rows: tuple[tuple[str, str], ...] | None = inherited("backbones")
    level_rows: tuple[tuple[str, str], ...] | None = inherited("backbones", networks_only=True)
    channels_per_level: int | None = None
    channel_draws: int = 3
    train_images: int | None = None
    width_sweep: tuple[int, ...] = (4, 16, 64)
    width_sweep_row: tuple[str, str] = ("efficientnet-lite0", "imagenet")
    width_sweep_seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class PaddingStudySettings:
    """Notebook 04 (readout padding, backbone padding rules, border analysis).

    ``None`` means "as the profile" (see :func:`inherited`).

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

    epochs: int | None = inherited("epochs")
    seeds: tuple[int, ...] | None = inherited("seeds")
    batch_size: int | None = inherited("batch_size")
    readout_paddings: tuple[int, ...] = (0, 1, 2)
    readout_padding_rows: tuple[tuple[str, str], ...] | None = inherited("backbones")
    rule_rows: tuple[tuple[str, str], ...] | None = inherited("backbones", networks_only=True)
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
        Seeds of every trained network (their own, on purpose: a trained task network costs
        minutes where a readout costs seconds) (initialisation, batch order, flips): tables give the
        mean and spread over them.
    padding_rules : tuple of str
        Encoder padding rules trained for each pixel task (``zeros`` and ``valid`` are compared by claim 7).
    crop_fractions : tuple of float
        Nominal fractions of the width cut away on the right for the frame-shift measurement
        (kept widths are rounded to multiples of 16 px, the encoder's total stride).
    seeds : tuple of int or None
        Readout seeds of the Table-6 probing of the reference networks (the small-VGG rows vary
        by training seed and use the first readout seed); None: the profile's ``seeds``.
        (``probe_seeds`` is an alias.)
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
    seeds: tuple[int, ...] | None = inherited("seeds")
    probe_padding_rules: tuple[str, ...] = ("zeros",)

    @property
    def probe_seeds(self) -> tuple[int, ...]:
        """Old name of :attr:`seeds` (the readout seeds of Table 6)."""
        return self.seeds


@dataclass(frozen=True)
class BeyondSettings:
    """Notebook 06 (questions the paper's successors asked, on the same machinery).

    The default profile is scaled to fit notebook 06's share of the study's time budget: 128 x 16 px
    canvases for the absolute-location networks (receptive fields 17 and 65 px, distances up to
    56 px; 4.4 minutes measured on 2 shared cores), a 128 px canvas with a 4 x 4 grid of
    stride-aligned positions and 960 test canvases for the global-pooling study (so VGG16
    without padding, which needs about 220 px, is skipped there with its reason; random-init
    controls under zeros and circular only, the circular ones being the aliasing check),
    60 / 30 images for the readouts of the parity study (the input-size study trains as Table 1:
    400 / 300 images, 1,001 SGD steps), and 60 photos (with
    their mirror images) for the as-trained asymmetry. The paper profile runs 224 px
    canvases, more images and every row.

    Parameters
    ----------
    seeds : tuple of int or None
        Seeds of the networks trained from scratch (study 1), of the linear position
        classifiers (study 2) and of the readouts (studies 3, 4); None: the profile's ``seeds``.
    location_canvas, location_height, location_patch : int
        Canvas width, canvas height and patch side of the absolute-location task (study 1).
    location_distances : tuple of int
        Distances in pixels from the patch to its nearest left / right border (at most half
        the canvas minus the patch).
    location_dilations : tuple of tuple of int
        Horizontal dilations of the 3x3 convolutions (stride 1) of each network trained from
        scratch; receptive field 1 + 2 * sum(dilations) px (65 for 1, 2, 4, 8, 16, 1). On the
        command line: ``1:2:4:1,1:2:4:8:16:1``.
    location_paddings : tuple of str
        ``zeros``, ``reflect``, ``circular`` ("same"), ``valid`` (no padding) and ``full``
        (padding (kernel - 1) x dilation at every layer).
    location_background, location_noise : float
        Grey level of the background and standard deviation of its per-pixel Gaussian noise.
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
    gap_stride : int
        Patch origins are multiples of it: the total stride of the studied backbones (32 for
        VGG16 and EfficientNet-Lite0), so no position differs from another by a sub-stride
        phase (aliasing); see :mod:`poslib.experiments.gap_position`.
    gap_train, gap_test : int
        Training / test canvases (cut from the training / test photos).
    gap_top_k : tuple of int
        Channel counts kept by the top-k (by classifier weight mass) and random-k readouts.
    gap_epochs : int
        Full-batch Adam steps of the linear position classifier.
    parity_sizes : tuple of int
        Input sizes of study 3 (evenly and unevenly divisible).
    parity_rows, parity_rules : tuple
        Backbones and padding rules of the asymmetry measures (study 3).
    parity_contrast_rows : tuple of (str, str)
        Backbones with symmetric padding shown as the contrast, as trained (``zeros``) only.
    parity_control_rows : tuple of (str, str)
        Random initialisations of the parity rows (``zeros`` only): untrained filters cannot
        compensate for uneven padding, so the compensation check must not hold on them.
    parity_images : int
        Natural test photos (each with its mirror image) of the as-trained asymmetry.
    parity_levels : tuple of float
        Grey levels of the uniform inputs of the symmetrised-filter diagnostic.
    parity_readout_rows : tuple of (str, str)
        Backbones whose position readout's side errors are measured at every parity size.
    input_sizes : tuple of int
        Input sizes of study 4.
    size_rows : tuple of (str, str)
        Backbones of study 4.
    readout_train, readout_test : int
        Natural training / test images of the readouts of study 3 (study 4 trains on Table 1's
        images with Table 1's schedule: the profile's ``n_train``, ``n_test`` and ``epochs``).
    readout_epochs : int
        Their training epochs.
    border_bins : int
        Rings between border and centre in studies 3 and 4.
    """

    seeds: tuple[int, ...] | None = inherited("seeds")
    location_canvas: int = 128
    location_height: int = 16
    location_patch: int = 8
    location_distances: tuple[int, ...] = (0, 4, 8, 16, 32, 48, 56)
    location_dilations: tuple[tuple[int, ...], ...] = ((1, 2, 4, 1), (1, 2, 4, 8, 16, 1))
    location_paddings: tuple[str, ...] = ("zeros", "reflect", "circular", "valid", "full")
    location_background: float = 0.5
    location_noise: float = 0.1
    location_channels: int = 16
    location_train: int = 48
    location_test: int = 200
    location_epochs: int = 10
    gap_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"))
    gap_control_rows: tuple[tuple[str, str], ...] = (("vgg16", "random"), ("efficientnet-lite0", "random"))
    gap_rules: tuple[str, ...] = ("zeros", "valid", "reflect", "replicate", "circular", "partial")
    gap_control_rules: tuple[str, ...] = ("zeros", "circular")
    gap_canvas: int = 128
    gap_grid: int = 4
    gap_patch: int = 32
    gap_stride: int = 32
    gap_train: int = 480
    gap_test: int = 960
    gap_top_k: tuple[int, ...] = (8, 32)
    gap_epochs: int = 300
    parity_sizes: tuple[int, ...] = (224, 225, 226, 232)
    parity_rows: tuple[tuple[str, str], ...] = (("efficientnet-lite0", "imagenet"),)
    parity_contrast_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"),)
    parity_control_rows: tuple[tuple[str, str], ...] = (("efficientnet-lite0", "random"),)
    parity_rules: tuple[str, ...] = ("zeros", "partial", "reflect", "replicate", "circular")
    parity_images: int = 60
    parity_levels: tuple[float, ...] = (0.25, 0.5, 0.75)
    parity_readout_rows: tuple[tuple[str, str], ...] = (("efficientnet-lite0", "imagenet"), ("vgg16", "imagenet-caffe"))
    input_sizes: tuple[int, ...] = (112, 224, 448)
    size_rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"))
    readout_train: int = 60
    readout_test: int = 30
    readout_epochs: int = 10
    border_bins: int = 8


#: Input contrasts of notebook 07 (1: the photo; 0.225: about the contrast the paper's ToTensor()-only input
#: has for torchvision's VGG16; 0: the uniform mean-colour image, like Black / White).
CONTRASTS = (1.0, 0.5, 0.225, 0.1, 0.02, 0.0)


@dataclass(frozen=True)
class ContrastSettings:
    """Notebook 07 (input contrast against position).

    Every training and test photo is blended towards ImageNet's mean colour,
    ``x' = mean + a (x - mean)`` (:mod:`poslib.experiments.input_contrast`); per row and
    contrast, one-layer readouts are trained on every level (raw channels, as Table 3) and the
    probe-free position share (:mod:`poslib.position_share`) is measured on the test features.
    ``None`` means "as the profile" (see :func:`inherited`).

    Budget (default profile, this 2-core machine, warm feature caches): about 10 minutes, at
    most about 15. Basis: one (row, contrast) unit of the Caffe VGG16 at the default sizes
    (one seed; the first 100 training photos at batch 8 for 77 epochs, i.e. 1,001 SGD steps
    per readout; 6 levels; the first 80 test photos) measured 40 s with torch's 2 threads
    (machine load about 2) and 63 s on one thread (which bounds a machine where the second
    thread gives nothing); of the one-thread time 43 s train the six readouts, 13 s evaluate
    them (SPC ranks 224 x 224 maps: 0.16 s per test image and unit) and 4 s load the
    features. EfficientNet-Lite0 measured 26 s a unit on one thread. With 60 test images:
    12 VGG16 units (Caffe and random init: same channels) and 6 EfficientNet units, plus
    about 30 s of images, shares and plots, give about 580 s on 2 threads and about 910 s on
    one. Cold caches add the forward passes (2 x 6 x 160 VGG16 images, about 0.4 s each on
    this machine: roughly 13 minutes more). The budget is met with one seed: the claims'
    intervals are then over test images only (their rule says so); the paper profile has
    three seeds and every image.

    Parameters
    ----------
    epochs, seeds, batch_size : int, tuple of int, int, or None
        The readouts' training epochs, seeds and mini-batch size (None: the profile's).
    contrasts : tuple of float
        Contrasts ``a`` in [0, 1] (1 first: the photos as they are).
    rows : tuple of (str, str)
        Backbone rows; random initialisations are the controls.
    levels : tuple of str
        Tapped levels read one at a time (``all``: every level together).
    train_images, test_images : int or None
        The first this many natural training / test images (None: all of the profile's).
    """

    epochs: int | None = inherited("epochs")
    seeds: tuple[int, ...] | None = inherited("seeds")
    batch_size: int | None = inherited("batch_size")
    contrasts: tuple[float, ...] = CONTRASTS
    rows: tuple[tuple[str, str], ...] = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"),
                                         ("vgg16", "random"))
    levels: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5", "all")
    train_images: int | None = None
    test_images: int | None = None


@dataclass(frozen=True)
class Profile:
    """Size of a run: the single source of every notebook's run sizes.

    The top-level fields are notebook 02's (the paper's Table 1) and the defaults of the
    later notebooks; :attr:`layerwise`, :attr:`padding_study`, :attr:`tasks` and
    :attr:`beyond` hold the sections of notebooks 03, 04, 05 and 06. A section field declared
    with :func:`inherited` and left ``None`` takes the profile's value when the profile is
    resolved (:meth:`resolved`, done by :func:`get_profile`), so notebooks read concrete values
    and one change of :attr:`seeds` moves every notebook.

    Parameters
    ----------
    name : str
        ``smoke``, ``default`` or ``paper``.
    n_train, n_test : int
        Number of natural training / test images (``0`` means all available).
    train_images, test_images : str
        The natural training and test sets (:func:`poslib.data.natural_image_set`; a notebook's
        parameter of the same name overrides them): ECSSD and PASCAL-S, the paper's test set.
    second_test_images : str
        A second natural test set, so every verdict is seen on two photo sets ("" for none).
    second_train_images : str
        A second training set for notebook 02, whose readouts are tested on the same test
        sets: Black and White are single images, so their verdicts need the spread over
        training sets ("" for none).
    second_train_rows : tuple of (str, str) or None
        The rows of ``backbones`` whose readouts also train on ``second_train_images`` (None:
        every row). The default profile keeps the rows Black and White are judged on most
        (the raw pixels, the paper's VGG16, EfficientNet-Lite0 and the random VGG16 control),
        to fit its time budget; the other rows' checks rest on one training set, and say so.
    n_noise : int
        Independent noise images (same generator, different seeds) in the Noise test set.
    epochs : int
        Readout training epochs (at least; see ``min_steps``); the learning rate drops x0.1 after
        two thirds of them (the paper: 15 epochs, drop at epoch 10).
    seeds : tuple of int
        Seeds of the readouts (initialisation and batch order) and of every study that does
        not set its own; tables report mean and spread over them. (``readout_seeds`` is an alias.)
    backbones : tuple of (str, str)
        ``(backbone, weights)`` rows probed by notebook 02 and reused later.
    input_size : int
        Side of the square network input (the paper: 224).
    batch_size : int
        Readout mini-batch size (the paper's code: 32).
    compute : str
        The readouts' numeric path (:data:`poslib.readout.COMPUTE_MODES`), pinned so that the
        same commit gives the same tables on a busy and on a quiet machine: ``"bfloat16"``
        (grouped, bfloat16 convolutions, float32 master weights) by default; ``"auto"`` would
        choose by a timing probe and is never a profile's setting.
    min_steps : int
        Least SGD steps of every readout built by :func:`poslib.probing.readout_config_for`
        (0: none): where ``epochs`` epochs over the training set would be fewer steps, the
        epochs are raised when the readout is trained, from the number of images it trains on
        (:func:`epochs_for_steps`). The paper profile sets the paper's 4,950 (15 epochs over
        DUT-S's 10,553 images at batch 32), whatever the size of the training set here.
    layerwise, padding_study, tasks, beyond, contrast :
        Sections of notebooks 03, 04, 05, 06, 07.
    overrides : tuple of (str, str)
        The ``field=value`` overrides this profile was built with (:func:`get_profile`); empty
        for a profile as defined here.
    """

    name: str
    n_train: int
    n_test: int
    epochs: int
    seeds: tuple[int, ...]
    backbones: tuple[tuple[str, str], ...]
    input_size: int = 224
    batch_size: int = 32
    compute: str = "bfloat16"
    min_steps: int = 0
    train_images: str = "ECSSD"
    test_images: str = "PASCAL-S"
    second_test_images: str = "SOD"
    second_train_images: str = "CamVid/train"
    second_train_rows: tuple[tuple[str, str], ...] | None = None
    n_noise: int = 30
    layerwise: LayerwiseSettings = field(default_factory=LayerwiseSettings)
    padding_study: PaddingStudySettings = field(default_factory=PaddingStudySettings)
    tasks: TaskSettings = field(default_factory=TaskSettings)
    beyond: BeyondSettings = field(default_factory=BeyondSettings)
    contrast: ContrastSettings = field(default_factory=ContrastSettings)
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def readout_seeds(self) -> tuple[int, ...]:
        """Old name of :attr:`seeds`."""
        return self.seeds

    def resolved(self) -> "Profile":
        """This profile with every inherited section field filled in (see :func:`inherited`)."""
        sections = {name: _resolve_section(getattr(self, name), self) for name in SECTIONS}
        return replace(self, **sections)

    def as_dict(self) -> dict:
        """Plain-dict view, for provenance records."""
        return asdict(self)


#: Profile fields that are sections (one per notebook from 03 on).
SECTIONS = ("layerwise", "padding_study", "tasks", "beyond", "contrast")


def _resolve_section(section, profile: Profile):
    """``section`` with each ``None`` field declared by :func:`inherited` set from ``profile``."""
    changes = {}
    for item in fields(section):
        source = item.metadata.get(INHERIT_KEY)
        value = getattr(section, item.name)
        if source is None:
            continue
        if value is None:
            value = getattr(profile, source)
        if item.metadata.get(NETWORKS_ONLY_KEY):
            value = tuple(tuple(row) for row in value if row[0] != RAW_PIXELS)
        elif source == "backbones":
            value = tuple(tuple(row) for row in value)
        changes[item.name] = value
    return replace(section, **changes)


#: Readout schedule of the default profile: at least 1,000 SGD steps per readout (the paper:
#: 15 epochs over 10,553 images at batch 32, about 4,950 steps). Notebook 02: 400 images at
#: batch 32 are 13 steps an epoch, 77 epochs = 1,001 steps. Notebooks 03-04: the first 200
#: images at batch 16, also 13 steps an epoch and 1,001 steps.
DEFAULT_EPOCHS = 77
#: SGD steps of one readout in the paper: 15 epochs over DUT-S's 10,553 training images at batch 32.
PAPER_READOUT_STEPS = 15 * -(-10_553 // 32)


def epochs_for_steps(epochs: int, min_steps: int, n_images: int, batch_size: int) -> int:
    """Epochs of a readout trained on ``n_images`` images: ``epochs``, raised to reach ``min_steps`` SGD steps.

    Examples
    --------
    >>> epochs_for_steps(15, 4950, 1000, 32)   # ECSSD: 32 steps an epoch
    155
    >>> epochs_for_steps(77, 0, 400, 32)
    77
    """
    if min_steps <= 0 or n_images <= 0:
        return epochs
    steps_per_epoch = -(-n_images // batch_size)
    return max(epochs, -(-min_steps // steps_per_epoch))


#: Readout epochs of notebooks 03-04 in the default profile: 39 epochs over 200 images at batch 16 (13 steps
#: an epoch) are 507 SGD steps, half of notebook 02's, so that the whole default study renders in one
#: sitting on a 2-core CPU with three independent seeds per readout (each seed's own batch order costs
#: about 2.7x a shared one). Their tables compare readouts with one another (depths, kernels, levels,
#: padding rules), all on this one schedule.
DEFAULT_STUDY_EPOCHS = 39
#: Rows of notebook 02 that the default profile also trains on its second training set.
_DEFAULT_SECOND_TRAIN_ROWS = ((RAW_PIXELS, "none"), ("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"),
                              ("vgg16", "random"))
#: Rows of notebooks 03-04 in the default profile: the ImageNet networks that are here and the
#: random VGG16 control. ResNet-152 (2.5x VGG16's readout cost, random init only here) is left
#: to the paper profile.
_DEFAULT_STUDY_ROWS = (("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"), ("vgg16", "random"))

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", n_train=24, n_test=8, epochs=4, seeds=(0,), n_noise=4,
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
                           crop_fractions=(0.15,)),
        beyond=BeyondSettings(
            location_canvas=64, location_height=12, location_patch=6, location_distances=(0, 8, 16, 26),
            location_dilations=((1, 2, 1), (1, 2, 4, 8, 1)), location_channels=8, location_train=32,
            location_test=50, location_epochs=6,
            gap_rows=(("efficientnet-lite0", "imagenet"),),
            gap_control_rows=(("efficientnet-lite0", "random"),), gap_rules=("zeros", "circular", "partial"),
            gap_canvas=96, gap_grid=3, gap_patch=32, gap_train=36, gap_test=18, gap_top_k=(8,), gap_epochs=150,
            parity_sizes=(64, 65), parity_rules=("zeros", "partial"), parity_levels=(0.5,), parity_images=6,
            parity_readout_rows=(("efficientnet-lite0", "imagenet"),),
            input_sizes=(64, 112), readout_train=16, readout_test=8, readout_epochs=3, border_bins=4),
        contrast=ContrastSettings(contrasts=(1.0, 0.1, 0.0),
                                  rows=(("efficientnet-lite0", "imagenet"), ("vgg16", "random"))),
    ),
    "default": Profile(
        name="default", n_train=400, n_test=300, epochs=DEFAULT_EPOCHS, seeds=(0, 1, 2),
        backbones=TABLE1_ROWS, second_train_rows=_DEFAULT_SECOND_TRAIN_ROWS,
        layerwise=LayerwiseSettings(
            epochs=DEFAULT_STUDY_EPOCHS, batch_size=16, hidden_channels=4, train_images=200,
            readout_rows=((RAW_PIXELS, "none"), ("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet")),
            level_rows=_DEFAULT_STUDY_ROWS),
        padding_study=PaddingStudySettings(
            epochs=DEFAULT_STUDY_EPOCHS, batch_size=16, train_images=200,
            readout_padding_rows=((RAW_PIXELS, "none"),) + _DEFAULT_STUDY_ROWS, rule_rows=_DEFAULT_STUDY_ROWS),
        tasks=TaskSettings(saliency_train=300, segmentation_epochs=8),
        beyond=BeyondSettings(),
        contrast=ContrastSettings(seeds=(0,), batch_size=8, train_images=100, test_images=60),
    ),
    "paper": Profile(
        name="paper", n_train=0, n_test=0, epochs=15, seeds=(0, 1, 2), min_steps=PAPER_READOUT_STEPS,
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
            location_canvas=256, location_height=32, location_patch=16, location_distances=(0, 8, 16, 32, 64, 96, 112),
            location_dilations=((1, 2, 4, 1), (1, 2, 4, 8, 16, 1), (1, 2, 4, 8, 16, 32, 1)), location_channels=32,
            location_train=200, location_test=200, location_epochs=20,
            gap_control_rules=("zeros", "valid", "reflect", "replicate", "circular", "partial"),
            gap_canvas=224, gap_grid=3, gap_patch=64, gap_train=1800, gap_test=1800, gap_top_k=(8, 32, 128),
            parity_rules=("zeros", "partial", "reflect", "replicate", "circular"), parity_images=300,
            readout_train=0, readout_test=0, readout_epochs=15, border_bins=16),
        contrast=ContrastSettings(rows=IMAGENET_ROWS + (("vgg16", "random"),)),
    ),
}


def get_profile(name: str, overrides=None) -> Profile:
    """The profile called ``name``, with ``overrides`` applied, resolved (see :meth:`Profile.resolved`).

    Parameters
    ----------
    name : str
        ``smoke``, ``default`` or ``paper``.
    overrides : dict or sequence of (str, value), optional
        Field paths and values, e.g. ``{"seeds": "0,1", "padding_study.readout_paddings": "0,1"}``
        (:func:`apply_overrides`); a section field set here is not inherited.

    Raises
    ------
    ConfigError
        If no such profile exists, or an override names no field or has a value of the wrong type.
    """
    spec = PROFILES[check_choice(name, PROFILES, "profile (set it in the parameters cell or with --profile)")]
    return apply_overrides(spec, overrides).resolved()


def profile_field_types() -> dict[str, object]:
    """Every overridable field path (``"seeds"``, ``"layerwise.depths"``...) and its type."""
    paths = {}
    for item in fields(Profile):
        if item.name in SECTIONS:
            section_type = get_type_hints(Profile)[item.name]
            for sub, hint in get_type_hints(section_type).items():
                paths[f"{item.name}.{sub}"] = hint
        elif item.name not in ("name", "overrides"):
            paths[item.name] = get_type_hints(Profile)[item.name]
    return paths


def parse_field_value(path: str, value, hint):
    """``value`` (text from the command line, or a Python value) as a value of type ``hint``.

    Text forms: numbers and words as such; tuples comma-separated (``0,1,2``); backbone rows
    as ``backbone:weights`` items (``vgg16:random,pixels:none``) and tuples of number tuples as
    colon-separated items (``1:2:4:1,1:2``); ``none`` for an optional field.

    Examples
    --------
    >>> parse_field_value("seeds", "0, 1", tuple[int, ...])
    (0, 1)
    >>> parse_field_value("backbones", "vgg16:random", tuple[tuple[str, str], ...])
    (('vgg16', 'random'),)
    >>> parse_field_value("beyond.location_dilations", "1:2:4:1,1:2", tuple[tuple[int, ...], ...])
    ((1, 2, 4, 1), (1, 2))

    Raises
    ------
    ConfigError
        Naming the field, the value and the type it needs.
    """
    try:
        return _convert(value, hint)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"profile field {path}={value!r}: needs {_type_text(hint)} ({error})") from None


def _convert(value, hint):
    """:func:`parse_field_value` without the message (raises ValueError or TypeError)."""
    origin, arguments = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        if value is None or isinstance(value, str) and value.strip().lower() in ("none", ""):
            return None
        return _convert(value, next(a for a in arguments if a is not type(None)))
    if origin is tuple:
        items = value if not isinstance(value, str) else [v for v in value.split(",") if v.strip()]
        if arguments and arguments[-1] is Ellipsis:
            if get_origin(arguments[0]) is tuple and isinstance(value, str) and get_args(arguments[0])[-1] is Ellipsis:
                return tuple(_convert(v.split(":"), arguments[0]) for v in items)  # e.g. dilation stacks 1:2:4,1:2
            if get_origin(arguments[0]) is tuple and isinstance(value, str):
                try:
                    return tuple(parse_backbone_rows(value, ()))
                except ConfigError as error:
                    raise ValueError(str(error)) from None
            return tuple(_convert(v, arguments[0]) for v in items)
        items = list(items)
        if len(items) != len(arguments):
            raise ValueError(f"{len(arguments)} values, got {len(items)}")
        return tuple(_convert(v, a) for v, a in zip(items, arguments))
    if hint is bool:
        word = str(value).strip().lower()
        if word not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{value!r} is not true/false")
        return word in ("true", "1", "yes")
    if hint in (int, float):
        if isinstance(value, bool) or isinstance(value, float) and hint is int:
            raise TypeError(f"{value!r} is not {hint.__name__}")
        return hint(value.strip() if isinstance(value, str) else value)
    if hint is str:
        return str(value).strip()
    raise TypeError(f"the driver cannot set a field of type {hint}")


def _type_text(hint) -> str:
    return str(hint).replace("typing.", "")


def apply_overrides(spec: Profile, overrides=None) -> Profile:
    """``spec`` with dotted field overrides applied (typed and validated against the dataclasses).

    Raises
    ------
    ConfigError
        For a path that names no field (listing the valid ones) or a value of the wrong type.
    """
    items = list(dict(overrides or {}).items())
    if not items:
        return spec
    types = profile_field_types()
    top, sections = {}, {name: {} for name in SECTIONS}
    for path, value in items:
        if path not in types:
            close = get_close_matches(path, types, n=3)
            raise ConfigError(f"no profile field {path!r}{f' (did you mean {close}?)' if close else ''}; the fields "
                              f"that can be set are {sorted(types)}")
        parsed = parse_field_value(path, value, types[path])
        section, _, name = path.rpartition(".")
        (sections[section] if section else top)[name] = parsed
    changed = {name: replace(getattr(spec, name), **values) for name, values in sections.items() if values}
    recorded = tuple(spec.overrides) + tuple((path, str(value)) for path, value in items)
    return replace(spec, **top, **changed, overrides=recorded)


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




# ----------------------------------------------------------------------------- the README's profile table

#: What each profile is for (the first columns of :func:`profile_table`).
PROFILE_PURPOSES = {
    "smoke": "what the tests and CI run, and JupyterLab's Run All (every parameters cell's default)",
    "default": "what is rendered into `results/` on a 2-core laptop (`make results`)",
    "paper": "the paper's scale, meant for a GPU",
}
#: Images in the datasets as laid out in the README, for :func:`profile_table` only (a run counts the files):
#: a size of 0 ("all") is shown as this count.
DATASET_SIZES = {"ECSSD": 1000, "PASCAL-S": 850, "SOD": 300, "CamVid/train": 367, "CamVid/test": 233}
#: Notebook 05's ECSSD training split (80 % of ECSSD, :func:`poslib.task_data.saliency_data`).
SALIENCY_TRAIN_SPLIT = 800


def _count(n: int, dataset: str) -> int:
    """``n`` images of ``dataset``, with 0 meaning all of it (:data:`DATASET_SIZES`)."""
    return n or DATASET_SIZES.get(dataset, 0)


def readout_steps_text(profile: Profile, section: str | None = None) -> str:
    """SGD steps of each readout of notebook 02 (``section=None``) or of a section, with epochs and batch.

    Examples
    --------
    >>> readout_steps_text(get_profile("paper"))
    '4,960 (155 epochs at batch 32)'
    """
    source = getattr(profile, section) if section else profile
    n_images, subset = _count(profile.n_train, profile.train_images), ""
    if section and getattr(source, "train_images", None) and source.train_images < n_images:
        n_images, subset = source.train_images, f"first {source.train_images:,} images, "
    batch = getattr(source, "batch_size", None) or profile.batch_size
    epochs = epochs_for_steps(getattr(source, "epochs", None) or profile.epochs, profile.min_steps, n_images, batch)
    return f"{epochs * -(-n_images // batch):,} ({subset}{epochs} epochs at batch {batch})"


def _seeds_text(seeds: tuple[int, ...]) -> str:
    """``0``, ``0-2`` or ``0, 2, 5``."""
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def stacked_receptive_field(dilations, kernel: int = 3) -> int:
    """Receptive field in pixels of stride-1 convolutions of side ``kernel`` with these dilations (by formula).

    Study B1's networks (:mod:`poslib.experiments.absolute_location`) and the profile table use it.

    Examples
    --------
    >>> stacked_receptive_field((1, 2, 4, 1)), stacked_receptive_field((1, 2, 4, 8, 16, 1)), stacked_receptive_field((1, 1))
    (17, 65, 5)
    """
    return 1 + (kernel - 1) * sum(int(d) for d in dilations)


def profile_table() -> str:
    """The README's profile table, rendered from :data:`PROFILES` (so it cannot drift; a test compares them).

    One row per profile: images and input size of notebooks 02-04, the SGD steps of every
    readout (epochs derived from the training-set size where ``min_steps`` asks for more),
    readout seeds, notebook 05's trained task networks and notebook 06's sizes.
    """
    lines = ["| profile | what | nb02-04 images (training / each test set) | input | SGD steps per readout: nb02; "
             "nb03-04 | readout seeds | nb05 task networks | nb06 |",
             "|---|---|---|---|---|---|---|---|"]
    for name in PROFILES:
        p = get_profile(name)
        tests = ", ".join(f"{_count(p.n_test, t):,} {t}" for t in (p.test_images, p.second_test_images) if t)
        images = f"{_count(p.n_train, p.train_images):,} {p.train_images} / {tests}"
        sections = {readout_steps_text(p, s) for s in ("layerwise", "padding_study")}
        steps = f"{readout_steps_text(p)}; {'; '.join(sorted(sections))}"
        if p.min_steps:
            steps = f"at least {p.min_steps:,}: " + steps
        t = p.tasks
        tasks = (f"{len(t.training_seeds)} training seeds; saliency {_count(t.saliency_train, '') or SALIENCY_TRAIN_SPLIT:,}"
                 f" ECSSD at {t.saliency_size} px, {t.saliency_epochs} epochs; CamVid "
                 f"{_count(t.segmentation_train, 'CamVid/train'):,} frames at {t.segmentation_size[0]}x"
                 f"{t.segmentation_size[1]}, {t.segmentation_epochs} epochs; classification {t.classification_epochs} "
                 f"epochs; padding {', '.join(t.padding_rules)}")
        b = p.beyond
        n_readout = _count(b.readout_train, p.train_images)
        fields = ", ".join(str(stacked_receptive_field(d)) for d in b.location_dilations)
        beyond = (f"location canvas {b.location_canvas} px, receptive fields {fields} px, {b.location_epochs} epochs; "
                  f"pooling canvas {b.gap_canvas} px; "
                  f"readouts {n_readout:,} / {_count(b.readout_test, p.test_images):,} images, "
                  f"{epochs_for_steps(b.readout_epochs, p.min_steps, n_readout, p.batch_size)} epochs")
        lines.append(f"| `{name}` | {PROFILE_PURPOSES.get(name, '')} | {images} | {p.input_size} px | {steps} | "
                     f"{_seeds_text(p.seeds)} | {tasks} | {beyond} |")
    return "\n".join(lines) + "\n"
