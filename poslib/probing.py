"""The probing protocol: image sets -> cached features -> readouts over seeds -> tidy tables.

One call of :func:`probe` trains the readouts of all five targets together for each seed
and evaluates them on every test set; :func:`probe_backbones` repeats it for the rows of
a table, skipping (with the reason recorded) rows whose weights are not on this machine.
Results come back as one long table with a row per (configuration, seed, test set,
pattern, image); :func:`summarise` turns it into means over images, then mean and spread
over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .backbones import WeightsNotFoundError, build_backbone
from .config import Profile
from .data import ImageSet, natural_image_set, resolve_data_root, synthetic_image_sets
from .features import FeatureConfig, FeatureSet, extract_features
from .patterns import PATTERN_NAMES, make_patterns
from .readout import ReadoutConfig, evaluate, predict, train_readout


@dataclass
class ProbeImages:
    """Training images and the test sets of a probing run.

    Attributes
    ----------
    train : ImageSet
        Natural training images.
    tests : list of ImageSet
        The natural test set first, then Black, White and Noise.
    uses_embedded_default : bool
        True when no dataset folder was used.
    """

    train: ImageSet
    tests: list[ImageSet]
    uses_embedded_default: bool

    @property
    def natural_test(self) -> ImageSet:
        """The natural-image test set."""
        return self.tests[0]

    def notice(self) -> str:
        """A one-paragraph statement of which images are in use (shown at the top of notebooks)."""
        if self.uses_embedded_default:
            return ("NOTICE: no dataset folder is set (POSLIB_DATA / data_root), so this run uses the EMBEDDED "
                    f"DEFAULT: {len(self.train)} training crops and {len(self.natural_test)} test crops cut from "
                    "disjoint photos that installed packages ship. Numbers are not comparable with the paper's; "
                    "point POSLIB_DATA at ECSSD/ and SOD/ for the real study.")
        return (f"Readouts train on {len(self.train)} images of {self.train.name} ({self.train.source}) and are "
                f"tested on {len(self.natural_test)} images of {self.natural_test.name} ({self.natural_test.source}) "
                "and on the Black, White and Noise inputs.")

    def describe(self) -> dict:
        """Provenance record of every image set."""
        return {"train": self.train.describe(), "tests": [t.describe() for t in self.tests],
                "embedded_default": self.uses_embedded_default}


def prepare_images(profile: Profile, data_root: str = "", train: str = "", test: str = "",
                   seed: int = 0) -> ProbeImages:
    """Resolve the training and test images of a notebook.

    Parameters
    ----------
    profile : Profile
        Gives the input size and the number of images.
    data_root : str
        Dataset folder ("" -> ``$POSLIB_DATA`` -> embedded default).
    train, test : str
        Image-set settings (see :func:`poslib.data.natural_image_set`).
    seed : int
        Seed of the image subsets and crops.
    """
    root = resolve_data_root(data_root)
    train_set = natural_image_set(train, "train", profile.input_size, profile.n_train, root, seed)
    test_set = natural_image_set(test, "test", profile.input_size, profile.n_test, root, seed)
    embedded = train_set.kind == "embedded" or test_set.kind == "embedded"
    return ProbeImages(train_set, [test_set] + synthetic_image_sets(profile.input_size, seed), embedded)


def readout_config_for(profile: Profile, **overrides) -> ReadoutConfig:
    """The readout configuration a profile implies (epochs, batch, target size), with overrides."""
    settings = {"epochs": profile.epochs, "batch_size": profile.batch_size, "target_size": profile.input_size}
    settings.update(overrides)
    return ReadoutConfig(**settings)


@dataclass
class FeatureBundle:
    """Cached features of the training set and of every test set under one configuration."""

    config: FeatureConfig
    train: FeatureSet
    tests: list[FeatureSet]
    weights_id: str = ""

    def channels(self, taps: list[str] | None) -> np.ndarray | None:
        """Channel indices of ``taps`` (None for all)."""
        return None if taps is None else self.train.channel_index(taps)


def extract_bundle(config: FeatureConfig, images: ProbeImages, progress: bool = True) -> FeatureBundle:
    """Features of all image sets of ``images`` under ``config`` (each computed once, then cached)."""
    backbone = build_backbone(config.backbone, config.weights, config.backbone_seed, config.input_size,
                              config.padding)
    train = extract_features(config, images.train, backbone=backbone, progress=progress)
    tests = [extract_features(config, t, backbone=backbone, progress=progress) for t in images.tests]
    return FeatureBundle(config, train, tests, backbone.weights_id)


@dataclass
class ProbeResult:
    """Per-image results of one probed configuration, plus the trained readouts."""

    per_image: pd.DataFrame
    readouts: dict = field(default_factory=dict)
    losses: dict = field(default_factory=dict)


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
        readout_padding, seed, test_set, pattern, image, spc, mae, constant, plus ``labels``.
    """
    chosen = channels if channels is not None else bundle.channels(taps)
    targets = make_patterns(readout.target_size, PATTERN_NAMES)
    columns = {"backbone": bundle.config.backbone, "weights": bundle.config.weights,
               "padding": bundle.config.padding, "taps": "all" if taps is None else "+".join(taps),
               "depth": readout.depth, "kernel_size": readout.kernel_size, "readout_padding": readout.padding}
    columns.update(labels or {})
    frames, result = [], ProbeResult(per_image=pd.DataFrame())
    for seed in seeds:
        model, losses = train_readout(bundle.train.array, targets, readout, seed=seed, channels=chosen,
                                      device=device, progress=progress,
                                      description=f"readout {bundle.config.label} seed {seed}")
        result.readouts[seed], result.losses[seed] = model, losses
        for test in bundle.tests:
            scores = evaluate(model, test.array, targets, PATTERN_NAMES, channels=chosen, device=device)
            for pattern, values in scores.items():
                frames.append(pd.DataFrame({**columns, "seed": seed, "test_set": test.image_set,
                                            "pattern": pattern, "image": np.arange(len(values["spc"])),
                                            "spc": values["spc"], "mae": values["mae"],
                                            "constant": values["constant"]}))
    result.per_image = pd.concat(frames, ignore_index=True)
    return result


def predict_examples(bundle: FeatureBundle, result: ProbeResult, test_index: int, image_indices,
                     taps: list[str] | None = None) -> np.ndarray:
    """Predictions (len(image_indices), 5, size, size) of the first seed's readout on chosen test images."""
    model = next(iter(result.readouts.values()))
    features = bundle.tests[test_index].array[np.asarray(image_indices)]
    return predict(model, features, bundle.config.input_size, bundle.channels(taps))


def probe_backbones(rows, images: ProbeImages, readout: ReadoutConfig, seeds, input_size: int,
                    progress: bool = True, keep_readouts: bool = False):
    """Probe several ``(backbone, weights)`` rows; rows whose weights are missing are skipped.

    Returns
    -------
    per_image : pandas.DataFrame
        Concatenated :attr:`ProbeResult.per_image` of the probed rows.
    skipped : list of dict
        ``{"backbone", "weights", "reason"}`` for each skipped row.
    bundles : dict
        ``(backbone, weights) -> (FeatureBundle, ProbeResult)`` when ``keep_readouts``.
    """
    frames, skipped, bundles = [], [], {}
    for backbone, weights in rows:
        try:
            bundle = extract_bundle(FeatureConfig(backbone, weights, input_size=input_size), images, progress)
        except WeightsNotFoundError as error:
            skipped.append({"backbone": backbone, "weights": weights, "reason": str(error)})
            print(f"SKIPPED {backbone}/{weights}: {error}")
            continue
        result = probe(bundle, readout, seeds, progress=progress)
        frames.append(result.per_image)
        if keep_readouts:
            bundles[(backbone, weights)] = (bundle, result)
    per_image = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return per_image, skipped, bundles


#: Columns that identify a configuration in per-image results.
CONFIG_COLUMNS = ["backbone", "weights", "padding", "taps", "depth", "kernel_size", "readout_padding"]


def summarise(per_image: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean over images per seed, then mean and standard deviation over seeds.

    Parameters
    ----------
    per_image : pandas.DataFrame
        Output of :func:`probe` (or several, concatenated).
    by : list of str, optional
        Grouping columns (default: every configuration column present, plus test_set and pattern).

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` + spc, spc_std, mae, mae_std, n_seeds, n_images, n_constant
        (constant predictions summed over seeds and images; their SPC counts as 0).
    """
    if by is None:
        extra = [c for c in per_image.columns if c not in CONFIG_COLUMNS + [
            "seed", "test_set", "pattern", "image", "spc", "mae", "constant"]]
        by = [c for c in CONFIG_COLUMNS if c in per_image.columns] + extra + ["test_set", "pattern"]
    per_seed = (per_image.groupby(by + ["seed"], sort=False)
                .agg(spc=("spc", "mean"), mae=("mae", "mean"), n_images=("image", "size"),
                     n_constant=("constant", "sum"))
                .reset_index())
    summary = (per_seed.groupby(by, sort=False)
               .agg(spc=("spc", "mean"), spc_std=("spc", lambda s: s.std(ddof=0)), mae=("mae", "mean"),
                    mae_std=("mae", lambda s: s.std(ddof=0)), n_seeds=("seed", "nunique"),
                    n_images=("n_images", "max"), n_constant=("n_constant", "sum"))
               .reset_index())
    return summary
