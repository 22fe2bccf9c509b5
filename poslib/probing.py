"""The probing protocol: image sets -> cached features -> readouts over seeds -> tidy tables.

One call of :func:`probe` trains the readouts of all five targets together for each seed
and evaluates them on every test set. :func:`extract_or_skip` is the one place that turns
a configuration that cannot run here into a :class:`SkippedRow` with its true cause
(weights not on this machine, or a padding rule the backbone does not support), and
:func:`probe_rows` is the one row runner built on it. Results come back as one long table
with a row per (configuration, seed, test set, pattern, image); the summary tables made
from it (:func:`~poslib.tables.summarise`, :func:`~poslib.tables.aggregate_over_seeds`,
:func:`~poslib.tables.with_backbone_class`) live in :mod:`poslib.tables` and are
re-exported here.
(A little over 400 lines: the protocol's steps -- image sets without near-duplicates,
features, readouts, skip records -- are kept in one module because every notebook uses
them in that order.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .backbones import TappedBackbone, UnsupportedPaddingError, WeightsNotFoundError, build_backbone
from .config import Profile, portable_text
from .data import natural_image_set, resolve_data_root, subset_indices, synthetic_image_sets
from .features import FeatureConfig, FeatureSet, extract_features
from .image_set import ImageSet
from .near_duplicates import DEFAULT_THRESHOLD, near_duplicate_records
from .patterns import PATTERN_NAMES, make_patterns
from .readout import ReadoutConfig, evaluate, feature_tensor, predict
from .readout_store import trained_readouts
from .tables import CONFIG_COLUMNS, aggregate_over_seeds, summarise, with_backbone_class  # noqa: F401


@dataclass
class ProbeImages:
    """Training images and the test sets of a probing run.

    Attributes
    ----------
    train : ImageSet
        Natural training images.
    tests : list of ImageSet
        The natural test sets first (``n_natural`` of them), then Black, White and Noise.
    uses_embedded_default : bool
        True when no dataset folder was used.
    removed_duplicates : list of dict
        Test images dropped because they are near-duplicates of a training image
        (:mod:`poslib.near_duplicates`): test id, training id, Hamming distance, test set.
    n_natural : int
        How many of ``tests`` are natural photo sets.
    """

    train: ImageSet
    tests: list[ImageSet]
    uses_embedded_default: bool
    removed_duplicates: list[dict] = field(default_factory=list)
    n_natural: int = 1

    @property
    def natural_test(self) -> ImageSet:
        """The (first) natural-image test set: the one compared with the paper."""
        return self.tests[0]

    @property
    def natural_tests(self) -> list[ImageSet]:
        """Every natural-image test set (the first, then the second photo set if any)."""
        return self.tests[:self.n_natural]

    @property
    def synthetic_tests(self) -> list[ImageSet]:
        """Black, White and Noise."""
        return self.tests[self.n_natural:]

    def notice(self) -> str:
        """A one-paragraph statement of which images are in use (shown at the top of notebooks)."""
        dropped = (f" {len(self.removed_duplicates)} candidate test images were dropped as near-duplicates of "
                   f"training images (perceptual hash within {DEFAULT_THRESHOLD} bits).")
        if self.uses_embedded_default:
            return ("NOTICE: no dataset folder is set (POSLIB_DATA / data_root), so this run uses the EMBEDDED "
                    f"DEFAULT: {len(self.train)} training crops and {len(self.natural_test)} test crops cut from "
                    "disjoint photos that installed packages ship. Numbers are not comparable with the paper's; "
                    "point POSLIB_DATA at ECSSD/ and SOD/ for the real study." + dropped)
        naturals = " and ".join(f"{len(t)} images of {t.name} ({t.source})" for t in self.natural_tests)
        noise = len(self.synthetic_tests[-1]) if self.synthetic_tests else 0
        return (f"Readouts train on {len(self.train)} images of {self.train.name} ({self.train.source}) and are "
                f"tested on {naturals}, and on the Black and White inputs and {noise} noise images." + dropped)

    def describe(self) -> dict:
        """Provenance record of every image set and of the dropped near-duplicates."""
        return {"train": self.train.describe(), "tests": [t.describe() for t in self.tests],
                "n_natural": self.n_natural,
                "embedded_default": self.uses_embedded_default,
                "near_duplicates_removed": len(self.removed_duplicates),
                "near_duplicate_threshold_bits": DEFAULT_THRESHOLD, "removed": self.removed_duplicates}


def without_near_duplicates(train: ImageSet, candidates: ImageSet, limit: int,
                            seed: int = 0) -> tuple[ImageSet, list[dict]]:
    """The test candidates that are not near-duplicates of a training image, then a seeded subset of ``limit``.

    Returns
    -------
    test : ImageSet
        At most ``limit`` (0: all) of the remaining candidates, chosen with
        :func:`poslib.data.subset_indices`.
    removed : list of dict
        ``{"test", "train", "distance"}`` for every dropped candidate.
    """
    removed = near_duplicate_records(train.images, train.ids, candidates.images, candidates.ids)
    keep = np.array([i for i in range(len(candidates)) if i not in removed], dtype=np.int64)
    keep = keep[subset_indices(len(keep), limit, seed)]
    test = dataclasses.replace(candidates, images=candidates.images[keep], ids=[candidates.ids[i] for i in keep],
                               _fingerprint=None)
    return test, list(removed.values())


def prepare_images(profile: Profile, data_root: str = "", train: str = "", test: str = "",
                   seed: int = 0, second_test: str | None = None) -> ProbeImages:
    """Resolve the training and test images of a notebook, with no test image that is also a training image.

    Every candidate test image is compared with the training images
    (:func:`without_near_duplicates`); near-duplicates are dropped before the profile's
    ``n_test`` images are drawn, so the test set keeps its size.

    Parameters
    ----------
    profile : Profile
        Gives the input size, the number of images, the default image sets
        (``train_images``, ``test_images``, ``second_test_images``) and ``n_noise``.
    data_root : str
        Dataset folder ("" -> ``$POSLIB_DATA`` -> embedded default).
    train, test : str
        Image-set settings (see :func:`poslib.data.natural_image_set`); "" -> the profile's.
    seed : int
        Seed of the image subsets and crops.
    second_test : str, optional
        A second natural test set (default: the profile's ``second_test_images`` when the
        first test set is the profile's own; never with the embedded default), tested after
        the first, with its near-duplicates of training images dropped too.
    """
    root = resolve_data_root(data_root)
    train = train or (profile.train_images if root is not None else "")
    test = test or (profile.test_images if root is not None else "")
    if second_test is None:
        second_test = profile.second_test_images if root is not None and test == profile.test_images else ""
    train_set = natural_image_set(train, "train", profile.input_size, profile.n_train, root, seed)
    naturals, removed = [], []
    for spec in [test] + ([second_test] if second_test and second_test != test else []):
        test_set, dropped = _natural_test_set(train_set, spec, profile, root, seed)
        naturals.append(test_set)
        removed += [dict(record, test_set=test_set.name) for record in dropped]
    embedded = train_set.kind == "embedded" or naturals[0].kind == "embedded"
    return ProbeImages(train_set, naturals + synthetic_image_sets(profile.input_size, seed, profile.n_noise), embedded,
                       removed, n_natural=len(naturals))


#: Candidate test images read beyond ``n_test`` before near-duplicates are dropped (all are read if too few remain).
CANDIDATE_MARGIN = 2


def _natural_test_set(train_set: ImageSet, spec: str, profile: Profile, root, seed: int) -> tuple[ImageSet, list]:
    """``profile.n_test`` test images of ``spec`` that are not near-duplicates of a training image.

    Reads a seeded subset of ``CANDIDATE_MARGIN * n_test + 16`` candidates (a dataset of 850
    photos need not be decoded for 8 test images) and reads them all only when too few
    remain after the near-duplicates are dropped.
    """
    limit = CANDIDATE_MARGIN * profile.n_test + 16 if profile.n_test else 0
    candidates = natural_image_set(spec, "test", profile.input_size, limit, root, seed)
    test_set, dropped = without_near_duplicates(train_set, candidates, profile.n_test, seed)
    if limit and len(test_set) < profile.n_test and len(candidates) == limit:
        candidates = natural_image_set(spec, "test", profile.input_size, 0, root, seed)
        test_set, dropped = without_near_duplicates(train_set, candidates, profile.n_test, seed)
    return test_set, dropped


def readout_config_for(profile: Profile, section: str | None = None, **changes) -> ReadoutConfig:
    """The readout configuration a profile implies, the one builder of every notebook's readout.

    Parameters
    ----------
    profile : Profile
    section : str, optional
        A profile section (``"layerwise"``, ``"padding_study"``...) whose ``epochs`` and
        ``batch_size`` replace the profile's (a section inherits them unless it sets its own).
    **changes
        Any other :class:`~poslib.readout.ReadoutConfig` field (depth, kernel size...). Epochs
        given here are taken as they are (no ``min_steps``, unless given too).
    """
    source = getattr(profile, section) if section else profile
    settings = {"epochs": getattr(source, "epochs", None) or profile.epochs,
                "batch_size": getattr(source, "batch_size", None) or profile.batch_size,
                "target_size": profile.input_size, "compute": profile.compute,
                "min_steps": 0 if "epochs" in changes else profile.min_steps}
    settings.update(changes)
    return ReadoutConfig(**settings)


def sgd_steps(n_images: int, readout: ReadoutConfig) -> int:
    """SGD steps of one readout training on ``n_images`` images (the last partial batch counts).

    Examples
    --------
    >>> sgd_steps(400, ReadoutConfig(epochs=77, batch_size=32))
    1001
    >>> sgd_steps(1000, ReadoutConfig(epochs=15, batch_size=32, min_steps=4950))
    4960
    """
    return readout.epochs_for(n_images) * -(-n_images // readout.batch_size)


@dataclass
class FeatureBundle:
    """Cached features of the training set and of every test set under one configuration."""

    config: FeatureConfig
    train: FeatureSet
    tests: list[FeatureSet]
    weights_id: str = ""

    @property
    def train_key(self) -> str | None:
        """The training features' cache key (None when they do not come from the cache): keys stored readouts."""
        return (self.train.meta or {}).get("key")

    def channels(self, taps: list[str] | None) -> np.ndarray | None:
        """Channel indices of ``taps`` (None for all)."""
        return None if taps is None else self.train.channel_index(taps)

    def with_training_subset(self, n_images: int | None) -> "FeatureBundle":
        """The same bundle with only its first ``n_images`` training images (None: unchanged).

        The cached array is sliced, not copied or recomputed, so the feature cache is still hit.
        """
        if not n_images or n_images >= len(self.train):
            return self
        return dataclasses.replace(self, train=dataclasses.replace(self.train, array=self.train.array[:n_images]))


@dataclass(frozen=True)
class SkippedRow:
    """A configuration that could not run here, with its true cause.

    Attributes
    ----------
    backbone, weights, padding_rule : str
        The configuration (``padding_rule``: the backbone's padding rule).
    cause : str
        :data:`SKIP_WEIGHTS_MISSING` or :data:`SKIP_PADDING_UNSUPPORTED`.
    reason : str
        The full message (where to put the weights, or why the rule cannot run).
    """

    backbone: str
    weights: str
    padding_rule: str
    cause: str
    reason: str

    def as_dict(self) -> dict:
        """Plain-dict view, for provenance records and tables."""
        return dataclasses.asdict(self)

    def markdown(self) -> str:
        """One line for a notebook."""
        return (f"> **Skipped {self.backbone} / {self.weights} / padding {self.padding_rule}** "
                f"({self.cause}): {self.reason}")


#: Causes of a skipped row.
SKIP_WEIGHTS_MISSING = "weights not on this machine"
SKIP_PADDING_UNSUPPORTED = "padding rule not supported by this backbone"


def extract_bundle(config: FeatureConfig, images: ProbeImages, progress: bool = True) -> FeatureBundle:
    """Features of all image sets of ``images`` under ``config`` (each computed once, then cached)."""
    backbone = build_backbone(config.backbone, config.weights, config.backbone_seed, config.input_size,
                              config.padding_rule)
    train = extract_features(config, images.train, backbone=backbone, progress=progress)
    tests = [extract_features(config, t, backbone=backbone, progress=progress) for t in images.tests]
    return FeatureBundle(config, train, tests, backbone.weights_id)


#: Errors that make a configuration a skipped row (with its cause) rather than a failure.
SKIPPABLE_ERRORS = (WeightsNotFoundError, UnsupportedPaddingError)


def skipped_row(backbone: str, weights: str, padding: str, error: Exception) -> SkippedRow:
    """The :class:`SkippedRow` of a configuration that raised one of :data:`SKIPPABLE_ERRORS`.

    Notebooks show it once (:func:`poslib.notebook.show_skipped`); the provenance records it.
    """
    cause = SKIP_WEIGHTS_MISSING if isinstance(error, WeightsNotFoundError) else SKIP_PADDING_UNSUPPORTED
    return SkippedRow(backbone, weights, padding, cause, portable_text(str(error)))


def build_or_skip(backbone: str, weights: str, padding: str, input_size: int,
                  seed: int = 0) -> tuple[TappedBackbone | None, SkippedRow | None]:
    """:func:`poslib.backbones.build_backbone`, or a :class:`SkippedRow` when it cannot run here."""
    try:
        return build_backbone(backbone, weights, seed, input_size, padding), None
    except SKIPPABLE_ERRORS as error:
        return None, skipped_row(backbone, weights, padding, error)


def extract_or_skip(config: FeatureConfig, images: ProbeImages,
                    progress: bool = True) -> tuple[FeatureBundle | None, SkippedRow | None]:
    """:func:`extract_bundle`, or a :class:`SkippedRow` when the configuration cannot run here.

    Only the two expected causes (:data:`SKIPPABLE_ERRORS`: ImageNet weights missing offline,
    a padding rule the backbone refuses) are turned into skips; every other error propagates.
    """
    try:
        return extract_bundle(config, images, progress), None
    except SKIPPABLE_ERRORS as error:
        return None, skipped_row(config.backbone, config.weights, config.padding_rule, error)


@dataclass
class ProbeResult:
    """Per-image results of one probed configuration, plus the trained readouts."""

    per_image: pd.DataFrame
    readouts: dict = field(default_factory=dict)
    losses: dict = field(default_factory=dict)
    #: How the readouts were trained (compute mode and why, batch-order seed, seconds per epoch).
    training: dict = field(default_factory=dict)


def probe(bundle: FeatureBundle, readout: ReadoutConfig, seeds, taps: list[str] | None = None,
          channels: np.ndarray | None = None, labels: dict | None = None, progress: bool = True,
          device: torch.device | None = None) -> ProbeResult:
    """Train readouts (all five targets together) for each seed and test them on every test set.

    Parameters
    ----------
    bundle : FeatureBundle
        Features of the training and test sets.
    readout : ReadoutConfig
    seeds : iterable of int
        Readout seeds.
    taps : list of str, optional
        Use only these taps (default: all).
    channels : numpy.ndarray, optional
        Use exactly these channel indices (overrides ``taps``).
    labels : dict, optional
        Extra constant columns for the result rows (e.g. ``{"level": "f3"}``).
    progress : bool
    device : torch.device, optional

    Returns
    -------
    ProbeResult
        ``per_image`` has columns backbone, weights, padding, taps, depth, kernel_size,
        readout_padding, seed, test_set, pattern, image (index in the test set), image_id (the
        image's file name without suffix, relative to its dataset), spc, mae, constant, plus ``labels``.
    """
    chosen = channels if channels is not None else bundle.channels(taps)
    targets = make_patterns(readout.target_size, PATTERN_NAMES)
    columns = _probe_columns(bundle, readout, taps, labels)
    seeds = list(seeds)
    frames, result = [], ProbeResult(per_image=pd.DataFrame())
    trained = trained_readouts(bundle.train.array, targets, readout, seeds, features_key=bundle.train_key,
                               channels=chosen, device=device, progress=progress,
                               description=f"readout {bundle.config.label}", info=result.training,
                               native_sizes=bundle.train.channel_sizes(chosen))
    for seed, (model, losses) in zip(seeds, trained):
        result.readouts[seed], result.losses[seed] = model, losses
    result.per_image = pd.concat(_scored_frames(bundle, [(result.readouts[seed], chosen, {**columns, "seed": seed})
                                                         for seed in seeds], targets, device), ignore_index=True)
    return result


def _probe_columns(bundle: FeatureBundle, readout: ReadoutConfig, taps, labels: dict | None) -> dict:
    """The constant columns of a probe's result rows."""
    columns = {"backbone": bundle.config.backbone, "weights": bundle.config.weights,
               "padding_rule": bundle.config.padding_rule, "taps": "all" if taps is None else "+".join(taps),
               "depth": readout.depth, "kernel_size": readout.kernel_size, "readout_padding": readout.readout_padding}
    columns.update(labels or {})
    return columns


def _scored_frames(bundle: FeatureBundle, readouts, targets: np.ndarray, device) -> list[pd.DataFrame]:
    """Per-image SPC / MAE of trained readouts on every test set of ``bundle``.

    Parameters
    ----------
    bundle : FeatureBundle
    readouts : list of (model, channels, columns)
        Each readout with the channels it reads and the constant columns of its rows.
    targets : numpy.ndarray
    device : torch.device or None

    Returns
    -------
    list of pandas.DataFrame
        One frame per readout, test set and pattern, in that order. A test set's features
        are read into a tensor once for consecutive readouts of the same channels (the seeds
        of one probe), and only one such tensor is held at a time.
    """
    frames = [[] for _ in readouts]
    for test in bundle.tests:
        inputs = {}
        for index, (model, channels, columns) in enumerate(readouts):
            channel_key = None if channels is None else np.asarray(channels).tobytes()
            if channel_key not in inputs:
                inputs = {channel_key: feature_tensor(test.array, channels)}
            scores = evaluate(model, inputs[channel_key], targets, PATTERN_NAMES, device=device)
            for pattern, values in scores.items():
                n_images = len(values["spc"])
                frames[index].append(pd.DataFrame({**columns, "test_set": test.image_set, "pattern": pattern,
                                                   "image": np.arange(n_images),
                                                   "image_id": test.ids or range(n_images), "spc": values["spc"],
                                                   "mae": values["mae"], "constant": values["constant"]}))
    return [frame for per_readout in frames for frame in per_readout]


def probe_channel_sets(bundle: FeatureBundle, readout: ReadoutConfig, channel_sets, seeds, labels,
                       progress: bool = True, device: torch.device | None = None) -> pd.DataFrame:
    """Readouts on equal-size channel sets, all trained in one grouped pass, each tested on every test set.

    Set ``i`` is read by a readout initialised with ``seeds[i]``; all share the batch order
    drawn from ``seeds[0]`` (:func:`poslib.readout.train_readouts` with per-seed channel sets).

    Parameters
    ----------
    bundle : FeatureBundle
    readout : ReadoutConfig
    channel_sets : list of numpy.ndarray
        Channel indices of each readout (all of one size).
    seeds : list of int
        Initialisation seed of each readout (same length as ``channel_sets``).
    labels : list of dict
        Extra constant columns of each readout's rows.
    progress : bool
    device : torch.device, optional

    Returns
    -------
    pandas.DataFrame
        :func:`probe`-style per-image rows of every readout.
    """
    channel_sets = [np.asarray(c) for c in channel_sets]
    targets = make_patterns(readout.target_size, PATTERN_NAMES)
    trained = trained_readouts(bundle.train.array, targets, readout, list(seeds), features_key=bundle.train_key,
                               channels=channel_sets, device=device, progress=progress,
                               description=f"readouts on channel sets of {bundle.config.label}")
    readouts = [(model, channels, {**_probe_columns(bundle, readout, None, extra), "seed": seed})
                for (model, _), channels, seed, extra in zip(trained, channel_sets, seeds, labels)]
    return pd.concat(_scored_frames(bundle, readouts, targets, device), ignore_index=True)


def predict_examples(bundle: FeatureBundle, result: ProbeResult, test_index: int, image_indices,
                     taps: list[str] | None = None) -> np.ndarray:
    """Predictions (len(image_indices), 5, size, size) of the first seed's readout on chosen test images."""
    model = next(iter(result.readouts.values()))
    features = bundle.tests[test_index].array[np.asarray(image_indices)]
    return predict(model, features, bundle.config.input_size, bundle.channels(taps))


@dataclass
class ProbedRows:
    """Results of :func:`probe_rows`.

    Attributes
    ----------
    per_image : pandas.DataFrame
        Concatenated :attr:`ProbeResult.per_image` of the rows that ran.
    skipped : list of SkippedRow
    probed : dict
        ``FeatureConfig -> (FeatureBundle, ProbeResult)`` of the rows that ran.
    """

    per_image: pd.DataFrame
    skipped: list[SkippedRow]
    probed: dict

    def skipped_records(self) -> list[dict]:
        """The skipped rows as plain dicts (provenance)."""
        return [row.as_dict() for row in self.skipped]

    def weights(self) -> list[str]:
        """``label: weights identity`` of every row that ran (provenance)."""
        return [f"{config.label}: {bundle.weights_id}" for config, (bundle, _) in self.probed.items()]


def probe_rows(configs, images: ProbeImages, readout: ReadoutConfig, seeds, labels=None,
               train_images: int | None = None, progress: bool = True) -> ProbedRows:
    """Probe every feature configuration that can run here; record the others as skipped.

    Parameters
    ----------
    configs : iterable of FeatureConfig
    images : ProbeImages
    readout : ReadoutConfig
    seeds : iterable of int
    labels : list of dict, optional
        Extra constant columns per configuration (same order as ``configs``).
    train_images : int, optional
        Train on the first this many cached training images (:meth:`FeatureBundle.with_training_subset`).
    progress : bool
    """
    configs = list(configs)
    labels = labels or [None] * len(configs)
    frames, skipped, probed = [], [], {}
    for config, extra in zip(configs, labels):
        bundle, skip = extract_or_skip(config, images, progress)
        if skip is not None:
            skipped.append(skip)
            continue
        bundle = bundle.with_training_subset(train_images)
        result = probe(bundle, readout, seeds, labels=extra, progress=progress)
        frames.append(result.per_image)
        probed[config] = (bundle, result)
    return ProbedRows(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), skipped, probed)


def probe_backbones(rows, images: ProbeImages, readout: ReadoutConfig, seeds, input_size: int,
                    progress: bool = True) -> ProbedRows:
    """:func:`probe_rows` over ``(backbone, weights)`` rows with zero padding at ``input_size``."""
    return probe_rows([FeatureConfig(backbone, weights, input_size=input_size) for backbone, weights in rows],
                      images, readout, seeds, progress=progress)
