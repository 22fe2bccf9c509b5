"""Does position survive global average pooling? (after Islam et al., ICCV 2021)

A natural-image patch is placed on a black canvas at one of ``grid x grid`` positions; a
frozen backbone runs on the canvas, each tap is global-average-pooled (one number per
channel, no spatial layout left), and a linear classifier is trained to name the
position. A network whose pooled features did not depend on where the patch is would
answer at chance, ``1 / grid**2``. If position is readable after pooling it is written
into *which channels* respond and how much: the classifier's weight mass per channel
(sum of absolute weights over classes, on standardised features) ranks the channels, and a
classifier that keeps only the top-k channels is compared with one on k random channels.

Every backbone row runs under every padding rule of the settings (the backbone as trained
is ``zeros``; ``valid`` where the backbone supports it at the canvas size; ``partial``
installed with :func:`poslib.padding.apply_padding` when the backbone's builder does not
list it). Rows that cannot run are returned as :class:`poslib.probing.SkippedRow` with
the reason. Training canvases are cut from the training photos, test canvases from the
test photos; the spread is over classifier seeds (initialisation) on fixed features, as
the readouts' spread elsewhere in the project.

Aliasing. A backbone of total stride ``S`` (32 for VGG16 and EfficientNet-Lite0) samples
its deepest maps every ``S`` pixels, so patches whose origins differ by other amounts land
on different sub-stride phases and can be told apart even by a network that is perfectly
translation-equivariant (circular padding: no border at all). The patch origins are
therefore multiples of the settings' ``gap_stride`` (:func:`grid_origins`), spread evenly
from one border to the other (so most positions are not at a border). A circular-padded
network then sees every position as the same translated canvas up to its content, and its
pooled features cannot name the position: the circular row of a random initialisation must
sit at chance (the aliasing check of :func:`poslib.claims.check_gap_position`) before "zero
padding writes more position than circular" may be read as a padding effect.

Pooled features are cached (:func:`cached_pooled_taps`), keyed by the backbone, its
weights, the padding rule and the canvases' content, so a rerun costs only the classifiers.

(Longer than 400 lines, much of it documentation: the canvases, the pooled-feature cache, the
classifiers and their per-canvas rows are the steps of one study.)
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..backbones import TappedBackbone
from ..features import FEATURE_COMPUTE, frozen_forward, images_to_tensor
from ..config import Profile
from ..probing import ProbeImages, SkippedRow, build_or_skip
from ..store import CacheEntry, content_key
from ..tables import aggregate_over_seeds
from .absolute_location import one_thread

#: Value of the canvas around the patch (black).
BACKGROUND = 0


#: Layout version of the pooled-feature cache entries.
POOLED_CACHE_FORMAT = 1


def grid_origins(canvas: int, grid: int, patch: int, stride: int = 1) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the patch at each grid position (row-major).

    Per axis, ``grid`` offsets spread evenly from 0 to ``canvas - patch`` (border to
    border), each rounded to a multiple of ``stride`` so that a network of that total
    stride sees every position at the same sub-stride phase.

    Raises
    ------
    ValueError
        If the patch does not fit, or the stride leaves fewer than ``grid`` distinct offsets.

    Examples
    --------
    >>> grid_origins(12, 2, 4)
    [(0, 0), (0, 8), (8, 0), (8, 8)]
    >>> sorted({x for _, x in grid_origins(128, 4, 32, stride=32)})
    [0, 32, 64, 96]
    """
    room = canvas - patch
    if room < 0:
        raise ValueError(f"patch {patch} px does not fit a canvas of {canvas} px")
    ideal = [room * i / (grid - 1) if grid > 1 else room / 2 for i in range(grid)]
    offsets = [min(int(stride * round(v / stride)), room - room % stride) for v in ideal]
    if len(set(offsets)) != grid:
        raise ValueError(f"a {grid}x{grid} grid of {patch} px patches on {canvas} px has only {len(set(offsets))} "
                         f"distinct offsets that are multiples of the stride {stride}: enlarge the canvas "
                         f"(gap_canvas) or shrink the patch or grid")
    return [(y, x) for y in offsets for x in offsets]


def make_gap_canvases(photos: np.ndarray, n: int, canvas: int, grid: int, patch: int,
                      rng: np.random.Generator, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Canvases with a random photo crop at a random grid position.

    Parameters
    ----------
    photos : numpy.ndarray
        uint8 (P, H, W, 3) photos to cut patches from (H, W >= ``patch``).
    n, canvas, grid, patch : int
    rng : numpy.random.Generator
    stride : int
        Patch origins are multiples of it (:func:`grid_origins`).

    Returns
    -------
    images : numpy.ndarray
        uint8 (n, canvas, canvas, 3).
    labels : numpy.ndarray
        int64 (n,) grid cell index (row-major); classes are balanced (cycled).

    Examples
    --------
    >>> photos = np.full((2, 8, 8, 3), 200, np.uint8)
    >>> images, labels = make_gap_canvases(photos, 4, 12, 2, 4, np.random.default_rng(0))
    >>> labels.tolist(), int(images[0, 0:4, 0:4].min()), int(images[0, 0:4, 8:12].max())
    ([0, 1, 2, 3], 200, 0)
    """
    origins = grid_origins(canvas, grid, patch, stride)
    images = np.full((n, canvas, canvas, 3), BACKGROUND, np.uint8)
    labels = (np.arange(n) % len(origins)).astype(np.int64)
    height, width = photos.shape[1:3]
    for i, label in enumerate(labels):
        photo = photos[rng.integers(len(photos))]
        py, px = rng.integers(0, height - patch + 1), rng.integers(0, width - patch + 1)
        y, x = origins[label]
        images[i, y:y + patch, x:x + patch] = photo[py:py + patch, px:px + patch]
    return images, labels


@torch.inference_mode()
def pooled_taps(backbone: TappedBackbone, images: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Global average pool of every tap: ``{tap: float32 (N, channels)}``."""
    chunks: dict[str, list] = {name: [] for name in backbone.tap_names}
    for start in range(0, len(images), batch_size):
        taps = frozen_forward(backbone, images_to_tensor(images[start:start + batch_size]))
        for name, tap in zip(backbone.tap_names, taps):
            chunks[name].append(tap.float().mean(dim=(-2, -1)).numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def cached_pooled_taps(backbone: TappedBackbone, rule: str, images: np.ndarray,
                       cache_root=None) -> dict[str, np.ndarray]:
    """:func:`pooled_taps` through a content-keyed cache entry (``pooled/<backbone>``).

    The key covers the backbone's name, weights identity and taps, the padding rule, and the
    canvases' bytes and shape, so any change to them computes the features again.
    """
    digest = content_key(shape=images.shape, pixels=hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest())
    key = content_key(format=POOLED_CACHE_FORMAT, backbone=backbone.name, weights_id=backbone.weights_id,
                      taps=backbone.tap_names, padding_rule=rule, canvases=digest,
                      compute=FEATURE_COMPUTE)
    entry = CacheEntry(f"pooled/{backbone.name}", key, POOLED_CACHE_FORMAT, cache_root)
    meta = entry.read()
    if meta is not None:
        joined = np.load(entry.path("pooled.npy"))
    else:
        pooled = pooled_taps(backbone, images)
        joined = np.concatenate([pooled[name] for name in backbone.tap_names], axis=1).astype(np.float32)
        entry.begin()
        tmp = entry.temporary("pooled.npy")
        with open(tmp, "wb") as handle:
            np.save(handle, joined)
        entry.commit(tmp, "pooled.npy")
        entry.finish({"tap_names": backbone.tap_names, "n_canvases": len(images), "padding_rule": rule})
    bounds = np.cumsum([0] + [int(c) for c in backbone.tap_channels])
    return {name: joined[:, bounds[i]:bounds[i + 1]] for i, name in enumerate(backbone.tap_names)}


def train_linear_classifier(features: np.ndarray, labels: np.ndarray, n_classes: int, seed: int,
                            steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-3) -> dict:
    """Softmax regression on standardised features (full-batch Adam, seeded initialisation).

    Returns
    -------
    dict
        ``weight`` (n_classes, C), ``bias``, ``mean``, ``scale`` (the standardisation).
    """
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = torch.from_numpy((features - mean) / scale).float()
    y = torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(n_classes, x.shape[1], generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(n_classes, requires_grad=True)
    optimiser = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    with one_thread():
        for _ in range(steps):
            optimiser.zero_grad()
            F.cross_entropy(x @ weight.T + bias, y).backward()
            optimiser.step()
    return {"weight": weight.detach().numpy(), "bias": bias.detach().numpy(), "mean": mean, "scale": scale}


def classifier_predictions(classifier: dict, features: np.ndarray) -> np.ndarray:
    """The class (grid cell) the classifier names for each row of ``features``, int64 (N,)."""
    scores = ((features - classifier["mean"]) / classifier["scale"]) @ classifier["weight"].T + classifier["bias"]
    return scores.argmax(axis=1).astype(np.int64)


def classifier_accuracy(classifier: dict, features: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``features`` whose predicted class is ``labels``."""
    return float((classifier_predictions(classifier, features) == labels).mean())


def channel_weight_mass(classifier: dict) -> np.ndarray:
    """Sum over classes of the absolute weight of each (standardised) channel."""
    return np.abs(classifier["weight"]).sum(axis=0)


def _scored(classifier: dict, features: np.ndarray, labels: np.ndarray, **row) -> dict:
    """``row`` with the classifier's accuracy on ``features`` and its answer for each of them (``predicted``)."""
    predicted = classifier_predictions(classifier, features)
    return {**row, "accuracy": float((predicted == labels).mean()), "predicted": predicted}


#: Columns of the per-canvas rows of study 2 (:func:`run_gap_study`).
CANVAS_COLUMNS = ["backbone", "weights", "padding_rule", "tap", "channels", "k", "seed", "canvas", "label",
                  "predicted", "correct"]


def canvas_rows(rows: list[dict], test_labels: np.ndarray, **labels) -> pd.DataFrame:
    """Per-canvas answers of :func:`probe_pooled`'s classifiers: one row per classifier and test canvas.

    Parameters
    ----------
    rows : list of dict
        :func:`probe_pooled` rows (with ``predicted``).
    test_labels : numpy.ndarray
        True grid cell of each test canvas.
    **labels
        Constant columns (backbone, weights, padding_rule).

    Returns
    -------
    pandas.DataFrame
        :data:`CANVAS_COLUMNS` (those present): ``canvas`` is the index of the test canvas
        (the same canvases for every seed and configuration), ``correct`` 0/1; a
        classifier's mean ``correct`` is its ``accuracy``.
    """
    n = len(test_labels)
    frames = [pd.DataFrame({**labels, **{key: row[key] for key in ("tap", "channels", "k", "seed")},
                            "canvas": np.arange(n), "label": test_labels.astype(np.int64),
                            "predicted": row["predicted"],
                            "correct": (row["predicted"] == test_labels).astype(np.int64)}) for row in rows]
    frame = pd.concat(frames, ignore_index=True)
    return frame[[c for c in CANVAS_COLUMNS if c in frame.columns]]


def probe_pooled(train: dict, train_labels: np.ndarray, test: dict, test_labels: np.ndarray, n_classes: int,
                 seeds, top_k=(), steps: int = 300) -> tuple[list[dict], dict]:
    """Linear position classifiers on the pooled taps (each tap and ``all``), per seed.

    For ``all`` taps it also keeps the ``k`` channels of largest weight mass (chosen on the
    training canvases) and ``k`` random channels, and retrains on each.

    Returns
    -------
    rows : list of dict
        tap, channels (``all``, ``top-k``, ``random-k``), k, seed, accuracy, and ``predicted``
        (the class named for each test canvas, int64 (N,); ``accuracy`` is its share equal to
        ``test_labels``).
    mass : dict
        ``{seed: weight mass per channel}`` of the ``all`` classifier.
    """
    taps = list(train) + ["all"]
    joined_train = np.concatenate([train[t] for t in train], axis=1)
    joined_test = np.concatenate([test[t] for t in test], axis=1)
    rows, mass = [], {}
    for seed in seeds:
        for tap in taps:
            x_train, x_test = (joined_train, joined_test) if tap == "all" else (train[tap], test[tap])
            classifier = train_linear_classifier(x_train, train_labels, n_classes, seed, steps)
            rows.append(_scored(classifier, x_test, test_labels, tap=tap, channels="all", k=x_train.shape[1],
                                seed=seed))
            if tap != "all":
                continue
            mass[seed] = channel_weight_mass(classifier)
            rng = np.random.default_rng(seed)
            for k in top_k:
                if k >= x_train.shape[1]:
                    continue
                chosen = {"top": np.argsort(mass[seed])[::-1][:k],
                          "random": rng.choice(x_train.shape[1], k, replace=False)}
                for kind, index in chosen.items():
                    sub = train_linear_classifier(x_train[:, index], train_labels, n_classes, seed, steps)
                    rows.append(_scored(sub, x_test[:, index], test_labels, tap=tap, channels=f"{kind}-{k}", k=k,
                                        seed=seed))
    return rows, mass


def run_gap_study(settings, train_photos: np.ndarray, test_photos: np.ndarray, seed: int = 0,
                  progress=None) -> tuple[pd.DataFrame, list, dict, pd.DataFrame]:
    """Pooled-feature position classification for every row and padding rule of the settings.

    Parameters
    ----------
    settings : poslib.config.BeyondSettings
        ``gap_*`` fields and ``seeds``.
    train_photos, test_photos : numpy.ndarray
        uint8 photos the training / test patches are cut from.
    seed : int
        Seed of the canvases.
    progress : callable, optional
        Wraps the configuration iterable.

    Returns
    -------
    per_seed : pandas.DataFrame
        backbone, weights, padding, tap, channels, k, seed, accuracy.
    skipped : list of SkippedRow
    masses : dict
        ``(backbone, weights, padding) -> {seed: weight mass per channel}`` (all taps joined;
        channel order f1..f5).
    per_canvas : pandas.DataFrame
        Every classifier's answer on every test canvas (:func:`canvas_rows`).
    """
    rng = np.random.default_rng(seed)
    n_classes = settings.gap_grid ** 2
    train_x, train_y = make_gap_canvases(train_photos, settings.gap_train, settings.gap_canvas, settings.gap_grid,
                                         settings.gap_patch, rng, settings.gap_stride)
    test_x, test_y = make_gap_canvases(test_photos, settings.gap_test, settings.gap_canvas, settings.gap_grid,
                                       settings.gap_patch, rng, settings.gap_stride)
    configs = [(b, w, r) for b, w in settings.gap_rows for r in settings.gap_rules]
    configs += [(b, w, r) for b, w in settings.gap_control_rows for r in settings.gap_control_rules]
    frames, canvas_frames, skipped, masses = [], [], [], {}
    for backbone_name, weights, rule in (progress(configs) if progress else configs):
        backbone, skip = build_or_skip(backbone_name, weights, rule, settings.gap_canvas)
        if skip is not None:
            skipped.append(skip)
            continue
        rows, mass = probe_pooled(cached_pooled_taps(backbone, rule, train_x), train_y,
                                  cached_pooled_taps(backbone, rule, test_x), test_y,
                                  n_classes, settings.seeds, settings.gap_top_k, settings.gap_epochs)
        frames.append(pd.DataFrame(rows).drop(columns="predicted").assign(backbone=backbone_name, weights=weights,
                                                                          padding_rule=rule))
        canvas_frames.append(canvas_rows(rows, test_y, backbone=backbone_name, weights=weights, padding_rule=rule))
        masses[(backbone_name, weights, rule)] = mass
    per_seed = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    per_canvas = pd.concat(canvas_frames, ignore_index=True) if canvas_frames else pd.DataFrame(columns=CANVAS_COLUMNS)
    columns = ["backbone", "weights", "padding_rule", "tap", "channels", "k", "seed", "accuracy"]
    return per_seed[columns] if len(per_seed) else per_seed, skipped, masses, per_canvas


def summarise_gap(per_seed: pd.DataFrame, grid: int) -> pd.DataFrame:
    """Mean and std over seeds per backbone, rule, tap and channel selection (plus ``chance``)."""
    keys = ["backbone", "weights", "padding_rule", "tap", "channels", "k"]
    return aggregate_over_seeds(per_seed, keys, ["accuracy"]).assign(chance=1.0 / grid ** 2)


def mass_concentration(masses: dict, fractions=(0.01, 0.05, 0.1)) -> pd.DataFrame:
    """Share of the classifier's weight mass in the top ``fraction`` of channels, per configuration.

    Returns
    -------
    pandas.DataFrame
        backbone, weights, padding, fraction, n_channels, mass_share, mass_share_std, n_seeds.
    """
    rows = []
    for (backbone, weights, rule), by_seed in masses.items():
        for seed, mass in by_seed.items():
            ordered = np.sort(mass)[::-1]
            for fraction in fractions:
                top = max(1, int(round(fraction * len(mass))))
                rows.append({"backbone": backbone, "weights": weights, "padding_rule": rule, "fraction": fraction,
                             "n_channels": top, "seed": seed, "mass_share": float(ordered[:top].sum() / mass.sum())})
    frame = pd.DataFrame(rows)
    return aggregate_over_seeds(frame, ["backbone", "weights", "padding_rule", "fraction", "n_channels"], ["mass_share"])


def gap_study(profile: Profile, images: ProbeImages,
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict, list[SkippedRow], pd.DataFrame]:
    """Study 2 of notebook 06: pooled-feature position classification, summarised.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.beyond` (``gap_*`` fields and ``seeds``).
    images : ProbeImages
        Patches are cut from its training photos and its natural test photos.
    seed : int
        Seed of the canvases.

    Returns
    -------
    gap : pandas.DataFrame
        :func:`summarise_gap`.
    concentration : pandas.DataFrame
        :func:`mass_concentration`.
    masses : dict
        Weight mass per channel (:func:`run_gap_study`).
    skipped : list of SkippedRow
    per_canvas : pandas.DataFrame
        Every classifier's answer on every test canvas (:func:`canvas_rows`; the mean of
        ``correct`` per configuration and seed is the accuracy ``gap`` summarises over seeds).
    """
    settings = profile.beyond
    per_seed, skipped, masses, per_canvas = run_gap_study(settings, images.train.images, images.natural_test.images,
                                                          seed)
    return summarise_gap(per_seed, settings.gap_grid), mass_concentration(masses), masses, skipped, per_canvas


def plot_gap(summary: pd.DataFrame):
    """Accuracy per tap and padding rule (all channels), one panel per backbone; chance as a line."""
    from ..report import line_panels, model_label

    part = summary[summary["channels"] == "all"]
    return line_panels(part.assign(model=model_label(part)), "tap", "accuracy", hue="padding_rule", col="model",
                       yerr="accuracy_std", categorical_x=True, hline=float(part["chance"].iloc[0]), ylim=(0, 1.02),
                       panel_title=lambda _, model: model, xlabel="tap (global average pooled)",
                       ylabel="position accuracy", legend_title="padding rule", panel_size=(3.8, 3.0))


def plot_channel_mass(masses: dict, key):
    """Sorted weight mass per channel of one configuration's ``all`` classifier (first seed)."""
    import matplotlib.pyplot as plt

    mass = next(iter(masses[key].values()))
    ordered = np.sort(mass)[::-1]
    figure, axis = plt.subplots(figsize=(4.2, 2.8))
    axis.plot(np.arange(1, len(ordered) + 1), np.cumsum(ordered) / ordered.sum())
    axis.set_xscale("log")
    axis.set_xlabel("channels, by classifier weight mass")
    axis.set_ylabel("cumulative share of weight mass")
    axis.set_title("/".join(key), fontsize=9)
    figure.tight_layout()
    return figure
