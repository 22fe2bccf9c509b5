"""How far from the border can a CNN tell absolute location? (after Kayhan & van Gemert, CVPR 2020)

The task no translation-invariant network can solve: a small patch cut from a natural photo
(grey levels) sits on a wide, short canvas either in the left or in the right half, at a
controlled horizontal distance ``d`` from its nearest (left or right) border, at a random
height. The two classes are the same patch statistics at mirrored places, so a network whose
globally pooled features do not change when the patch moves answers at chance.

The background is a noise texture around mean grey (``background + noise * N(0, 1)`` per
pixel), not the value that zero padding adds: on a black canvas with bias-free convolutions
zero padding would look exactly like the background, and the first layer would see no
border at all.

The networks are stacks of 3x3 convolutions (stride 1, batch norm, ReLU) whose horizontal
dilations grow, then global average pooling and one linear layer. Batch norm (a per-channel
affine map, the same at every position: it adds no position cue) is what lets them learn
at all in a few epochs: without it the pooled features of the two classes differ too little
and the loss stayed at log 2 (measured while building this study). Their receptive field,
``1 + 2 * sum(dilations)`` pixels wide, is chosen to span the distances tested (the default
stack, dilations 1, 2, 4, 8, 16, 1, sees 65 px); a short stack (1, 2, 4, 1: 17 px) is the
contrast. Vertical dilation is 1: only the horizontal place is the label.

Reach. An output unit sees both a pixel outside the canvas (or, without padding, a pixel
seen by fewer taps than the others) and a pixel of the patch only if ``d <= RF - 2``
(:func:`border_reach`). At larger distances every unit the patch reaches is an inner one,
the two classes are translations of each other as far as the network can see, and the
accuracy is at chance by construction: beyond its reach a network cannot tell left from
right, whatever its padding. Distances are reported in pixels and as fractions of the
receptive field (``distance_rf = d / RF``).

Paddings (:data:`LOCATION_PADDINGS`), per layer of dilation ``δ``:

``zeros``
    "same" zero padding (1 row, ``δ`` columns): a frame of zeros around a grey canvas;
``reflect``
    "same" mirror padding: no new value, the border shows only as a mirror seam (on a noise
    background a symmetry that a unit must see on both sides of the border; the patch's
    own mirror image lies ``2 d + patch`` pixels from it, so a unit sees patch and image
    together only up to about half the reach);
``circular``
    "same" wrap-around padding: the canvas is a torus with no border, every layer is
    translation-equivariant and the pooled features of a canvas and of its cyclic
    shift are equal. Left and right at mirrored places are then undecidable: **the
    negative control**, which must stay at chance at every distance;
``valid``
    no padding: pixels near the border reach fewer output units (and fewer taps);
``full``
    "full" convolution (padding ``2`` rows, ``2 δ`` columns): every input pixel reaches
    every tap equally, but on a grey canvas the padded zeros are a visible frame, so it is
    not a negative control here.

One network per (padding, dilation stack, seed) is trained on all distances together and
tested per distance; the training and test canvases of a seed are drawn from that seed (the
patches from the training and the test photos). Every test canvas's answer is kept
(:func:`run_location_canvases`), so the verdicts' intervals are over canvases and seeds.

(Longer than 400 lines, much of it documentation: the task, the networks and their reach,
training, per-canvas rows, the summary, its sentences and its plot are the steps of one study.)
"""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..config import Profile, stacked_receptive_field
from ..store import CacheEntry, content_key, tensors_digest
from ..tables import aggregate_over_seeds

#: Paddings of the networks trained here (``full`` exists only here).
LOCATION_PADDINGS = ("zeros", "reflect", "circular", "valid", "full")
#: The padding without a border: translation-equivariant, the negative control.
NO_BORDER = "circular"
#: Side of the kernels.
KERNEL = 3
#: Chance accuracy of the two-class task.
CHANCE = 0.5
#: Layout version of the trained-network cache entries (``location_nets/<padding>``).
LOCATION_NET_FORMAT = 1


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block (restored afterwards).

    The models trained here are tiny; with several threads on a shared CPU each small
    operation waits for the others (measured: 300 Adam steps of a 20-feature softmax
    regression took 12 s on 2 busy cores, 0.14 s on one thread).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def receptive_field(dilations, kernel: int = KERNEL) -> int:
    """Horizontal receptive field in pixels of stride-1 convolutions with these dilations
    (:func:`poslib.config.stacked_receptive_field`).

    Examples
    --------
    >>> receptive_field((1, 2, 4, 1)), receptive_field((1, 2, 4, 8, 16, 1))
    (17, 65)
    """
    return stacked_receptive_field(dilations, kernel)


def border_reach(dilations, kernel: int = KERNEL) -> int:
    """The largest distance (px, border to the patch's near edge) at which one output unit sees border and patch.

    A unit's window is ``RF`` pixels wide; it holds the pixel just outside the canvas and the
    patch's nearest pixel ``d`` only if ``d + 2 <= RF``. Beyond it the task is undecidable for
    the network (see the module docstring).

    Examples
    --------
    >>> border_reach((1, 2, 4, 1)), border_reach((1, 2, 4, 8, 16, 1))
    (15, 63)
    """
    return receptive_field(dilations, kernel) - 2


def stack_name(dilations) -> str:
    """The dilations as a label, e.g. ``"1-2-4-1"``.

    Examples
    --------
    >>> stack_name((1, 2, 4, 1))
    '1-2-4-1'
    """
    return "-".join(str(int(d)) for d in dilations)


def layer_padding(padding: str, dilation: int, kernel: int = KERNEL) -> tuple[int, int]:
    """(rows, columns) of padding of one layer of horizontal dilation ``dilation`` under ``padding``.

    Examples
    --------
    >>> layer_padding("zeros", 4), layer_padding("full", 4), layer_padding("valid", 4)
    ((1, 4), (2, 8), (0, 0))
    """
    if padding not in LOCATION_PADDINGS:
        raise ValueError(f"unknown location padding {padding!r}; choose from {', '.join(LOCATION_PADDINGS)}")
    if padding == "valid":
        return 0, 0
    side = kernel - 1 if padding == "full" else (kernel - 1) // 2
    return side, side * int(dilation)


def grey_patches(photos: np.ndarray | None, n: int, patch: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` grey-level patches in [0, 1] cut at random from ``photos`` (uniform noise without photos).

    Parameters
    ----------
    photos : numpy.ndarray or None
        uint8 (P, H, W, 3) photos (H, W >= ``patch``); None: uniform noise patches (a
        synthetic stand-in for tests).
    n, patch : int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float32 (n, patch, patch).

    Examples
    --------
    >>> photos = np.full((2, 10, 10, 3), 51, np.uint8)
    >>> patches = grey_patches(photos, 3, 4, np.random.default_rng(0))
    >>> patches.shape, round(float(patches.max()), 3)
    ((3, 4, 4), 0.2)
    """
    if photos is None:
        return rng.uniform(0.0, 1.0, (n, patch, patch)).astype(np.float32)
    height, width = photos.shape[1:3]
    if min(height, width) < patch:
        raise ValueError(f"photos of {height}x{width} px are smaller than the {patch} px patch")
    out = np.empty((n, patch, patch), np.float32)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        y, x = rng.integers(0, height - patch + 1), rng.integers(0, width - patch + 1)
        out[i] = photo[y:y + patch, x:x + patch].mean(axis=-1) / 255.0
    return out


def make_location_task(distances, n_per_distance: int, rng: np.random.Generator, canvas: int, height: int,
                       patch: int, photos: np.ndarray | None = None, background: float = 0.5,
                       noise: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases with a photo patch on the left (label 0) or the right (label 1).

    Parameters
    ----------
    distances : iterable of int
        Horizontal distances from the patch to its nearest border (``0`` = touching it).
    n_per_distance : int
        Canvases per distance (half left, half right).
    rng : numpy.random.Generator
    canvas, height, patch : int
        Canvas width and height, patch side, in pixels.
    photos : numpy.ndarray, optional
        Where the patches are cut (:func:`grey_patches`).
    background, noise : float
        The background is ``background + noise * N(0, 1)``, drawn per pixel (a noise texture
        around mean grey; not 0, the value zero padding adds).

    Returns
    -------
    images : numpy.ndarray
        float32 (N, 1, height, canvas).
    labels, distance : numpy.ndarray
        int64 (N,) class (0 = left, 1 = right) and the distance of each canvas.

    Examples
    --------
    >>> images, labels, distance = make_location_task([0, 3], 4, np.random.default_rng(0), 16, 6, 4, noise=0.0)
    >>> images.shape, labels.tolist(), distance.tolist()
    ((8, 1, 6, 16), [0, 1, 0, 1, 0, 1, 0, 1], [0, 0, 0, 0, 3, 3, 3, 3])
    >>> float(images[4, 0, :, :3].min()), float(images[4, 0, :, :3].max())  # left of a patch 3 px from the border
    (0.5, 0.5)
    """
    distances = [int(d) for d in distances]
    if max(distances) + patch > canvas // 2:
        raise ValueError(f"distance {max(distances)} + patch {patch} does not fit half of a {canvas} px canvas")
    if patch > height:
        raise ValueError(f"a {patch} px patch does not fit a canvas {height} px high")
    n = len(distances) * n_per_distance
    images = (background + noise * rng.standard_normal((n, 1, height, canvas))).astype(np.float32)
    labels = np.tile(np.arange(2), n // 2 + 1)[:n].astype(np.int64)
    distance = np.repeat(distances, n_per_distance).astype(np.int64)
    patches = grey_patches(photos, n, patch, rng)
    for i in range(n):
        x = distance[i] if labels[i] == 0 else canvas - patch - distance[i]
        y = rng.integers(0, height - patch + 1)
        images[i, 0, y:y + patch, x:x + patch] = patches[i]
    return images, labels, distance


class LocationNet(nn.Module):
    """3x3 convolutions (batch norm, ReLU) with growing horizontal dilation -> global average pooling -> linear classifier.

    Parameters
    ----------
    dilations : sequence of int
        Horizontal dilation of each layer (vertical: 1).
    channels : int
    padding : str
        One of :data:`LOCATION_PADDINGS` (:func:`layer_padding`).
    n_classes : int
    """

    def __init__(self, dilations, channels: int, padding: str, n_classes: int = 2):
        super().__init__()
        mode = padding if padding in ("reflect", "circular") else "zeros"
        layers, width = [], 1
        for dilation in dilations:
            layers += [nn.Conv2d(width, channels, KERNEL, padding=layer_padding(padding, dilation),
                                 dilation=(1, int(dilation)), padding_mode=mode, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU()]
            width = channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(-2, -1)))


def train_location_net(images: np.ndarray, labels: np.ndarray, dilations, channels: int, padding: str,
                       epochs: int, seed: int, batch_size: int = 32, lr: float = 3e-3) -> LocationNet:
    """Train a :class:`LocationNet` with Adam and cross-entropy (seeded init and batch order), on one thread."""
    with one_thread():
        torch.manual_seed(seed)
        model = LocationNet(dilations, channels, padding)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        x, y = torch.from_numpy(images), torch.from_numpy(labels)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=generator).split(batch_size):
                optimiser.zero_grad()
                F.cross_entropy(model(x[batch]), y[batch]).backward()
                optimiser.step()
        recalibrate_batch_norm(model, x)
    return model.eval()


def trained_location_net(images: np.ndarray, labels: np.ndarray, dilations, channels: int, padding: str,
                         epochs: int, seed: int, cache_root=None) -> LocationNet:
    """:func:`train_location_net` through a content-keyed cache entry (``location_nets/<padding>``).

    The key holds every argument and a digest of the training canvases and labels (plus the
    torch version, :func:`poslib.store.content_key`), so a warm re-render loads the network
    trained before (weights and recalibrated batch-norm statistics) and only evaluates it;
    an entry that is incomplete or does not load is retrained.
    """
    canvases = tensors_digest([("canvases", torch.from_numpy(np.ascontiguousarray(images))),
                               ("labels", torch.from_numpy(np.ascontiguousarray(labels)))])
    arguments = dict(dilations=[int(d) for d in dilations], channels=int(channels), padding=padding,
                     epochs=int(epochs), seed=int(seed))
    key = content_key(format=LOCATION_NET_FORMAT, canvases=canvases, **arguments)
    entry = CacheEntry(f"location_nets/{padding}", key, LOCATION_NET_FORMAT, cache_root)

    def load():
        if entry.read() is None:
            return None
        model = LocationNet(dilations, channels, padding)
        try:
            model.load_state_dict(torch.load(entry.path("weights.pt"), map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - any unreadable part means retraining
            print(f"[poslib] retraining location network: unusable cache entry {entry.label} ({error})")
            return None
        return model.eval()

    def build():
        entry.begin()
        started = time.perf_counter()
        model = train_location_net(images, labels, dilations, channels, padding, epochs, seed)
        seconds = time.perf_counter() - started
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        entry.write_bytes("weights.pt", buffer.getvalue())
        entry.finish({"arguments": arguments, "n_canvases": int(len(labels)), "seconds": round(seconds, 2)})
        return model

    return entry.reuse_or_build(load, build)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> None:
    """Set every batch-norm layer's running statistics to their mean over one pass of ``x`` (weights unchanged).

    The class signal in the pooled features is small beside the background's response; the
    running averages of the last training steps (momentum 0.1) differ from the population's
    enough to move every test canvas to one class (measured while building this study: the
    short stack answered one class at every distance until recalibrated).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    for start in range(0, len(x), batch_size):
        model(x[start:start + batch_size])
    for norm in norms:
        norm.momentum = 0.1


@torch.inference_mode()
def canvas_predictions(model: nn.Module, images: np.ndarray, labels: np.ndarray, distance: np.ndarray,
                       batch_size: int = 256) -> pd.DataFrame:
    """``model``'s answer on every test canvas (on one thread).

    Returns
    -------
    pandas.DataFrame
        canvas (index in the test set), distance, label (0 = left, 1 = right), predicted,
        correct (0/1).
    """
    with one_thread():
        predicted = torch.cat([model(torch.from_numpy(images[i:i + batch_size])).argmax(dim=1)
                               for i in range(0, len(images), batch_size)]).numpy()
    return pd.DataFrame({"canvas": np.arange(len(labels)), "distance": distance.astype(np.int64), "label": labels,
                         "predicted": predicted.astype(np.int64), "correct": (predicted == labels).astype(np.int64)})


#: Columns naming one network (padding and dilation stack) in the tables of study 1.
NETWORK_KEYS = ["padding_rule", "dilations", "depth", "receptive_field", "reach"]
#: Columns of the per-canvas rows of study 1 (:func:`run_location_canvases`).
CANVAS_COLUMNS = NETWORK_KEYS + ["seed", "canvas", "distance", "distance_rf", "label", "predicted", "correct"]


def location_canvases(settings, seed: int, train_photos=None, test_photos=None):
    """The training and the test canvases of one seed: ``((x, y, distance), (x, y, distance))``.

    Parameters
    ----------
    settings : poslib.config.BeyondSettings
        ``location_*`` fields.
    seed : int
    train_photos, test_photos : numpy.ndarray, optional
        Where the patches are cut (:func:`grey_patches`; None: uniform noise patches).
    """
    rng = np.random.default_rng(seed)
    geometry = dict(canvas=settings.location_canvas, height=settings.location_height, patch=settings.location_patch,
                    background=settings.location_background, noise=settings.location_noise)
    return tuple(make_location_task(settings.location_distances, n, rng, photos=photos, **geometry)
                 for n, photos in ((settings.location_train, train_photos), (settings.location_test, test_photos)))


def run_location_canvases(settings, train_photos=None, test_photos=None, seeds=None, progress=None) -> pd.DataFrame:
    """Train (or load) the location network of every padding, stack and seed; record every test canvas's answer.

    Networks come through :func:`trained_location_net` (trained once, then loaded from the cache).

    Parameters
    ----------
    settings : poslib.config.BeyondSettings
        ``location_*`` fields.
    train_photos, test_photos : numpy.ndarray, optional
        uint8 (P, H, W, 3) photos the training / test patches are cut from (None: uniform
        noise patches, :func:`grey_patches`).
    seeds : iterable of int, optional
        Default ``settings.seeds``.
    progress : callable, optional
        Wraps the configuration iterable (e.g. :func:`poslib.config.progress_bar`).

    Returns
    -------
    pandas.DataFrame
        :data:`CANVAS_COLUMNS`: one row per padding, stack, seed and test canvas. The canvases
        are drawn from the seed (the same for every padding and stack of a seed, not across seeds).
    """
    seeds = list(settings.seeds if seeds is None else seeds)
    configs = [(p, tuple(s), seed) for p in settings.location_paddings for s in settings.location_dilations
               for seed in seeds]
    frames, data = [], {}
    for padding, dilations, seed in (progress(configs) if progress else configs):
        if seed not in data:
            data[seed] = location_canvases(settings, seed, train_photos, test_photos)
        (train_x, train_y, _), (test_x, test_y, test_d) = data[seed]
        model = trained_location_net(train_x, train_y, dilations, settings.location_channels, padding,
                                     settings.location_epochs, seed)
        field = receptive_field(dilations)
        frames.append(canvas_predictions(model, test_x, test_y, test_d).assign(
            padding_rule=padding, dilations=stack_name(dilations), depth=len(dilations), receptive_field=field,
            reach=border_reach(dilations), seed=seed, distance_rf=lambda f, rf=field: f["distance"] / rf))
    return pd.concat(frames, ignore_index=True)[CANVAS_COLUMNS]


def accuracy_per_seed(per_canvas: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per network, seed and distance of per-canvas rows (:func:`run_location_canvases`).

    Returns
    -------
    pandas.DataFrame
        :data:`NETWORK_KEYS`, distance, distance_rf, seed, accuracy (networks in the order they
        were trained, distances in increasing order).
    """
    keys = NETWORK_KEYS + ["seed"]
    network = per_canvas.groupby(keys, sort=False).ngroup()
    per_seed = (per_canvas.assign(network=network).groupby(["network"] + keys + ["distance", "distance_rf"])["correct"]
                .mean().rename("accuracy").reset_index())
    return per_seed[NETWORK_KEYS + ["distance", "distance_rf", "seed", "accuracy"]]


def summarise_location(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of the accuracy per network and distance (plus ``chance``)."""
    return aggregate_over_seeds(per_seed, NETWORK_KEYS + ["distance", "distance_rf"], ["accuracy"]).assign(chance=CHANCE)


def run_location_study(settings, train_photos=None, test_photos=None, seeds=None, progress=None) -> pd.DataFrame:
    """Per-seed accuracies (:func:`accuracy_per_seed` of :func:`run_location_canvases`; same parameters)."""
    return accuracy_per_seed(run_location_canvases(settings, train_photos, test_photos, seeds, progress))


def location_study(profile: Profile, images=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Study 1 of notebook 06: the location task at every padding, dilation stack and seed, summarised.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.beyond` (``location_*`` fields and ``seeds``).
    images : poslib.probing.ProbeImages, optional
        Patches are cut from its training photos (training canvases) and its natural test
        photos (test canvases); None: uniform noise patches.

    Returns
    -------
    summary : pandas.DataFrame
        :func:`summarise_location` of the per-seed accuracies.
    per_canvas : pandas.DataFrame
        :func:`run_location_canvases`: every network's answer on every test canvas (the
        summary is the mean of ``correct`` per network, seed and distance, then the mean and
        std over seeds).
    """
    photos = (None, None) if images is None else (images.train.images, images.natural_test.images)
    per_canvas = run_location_canvases(profile.beyond, *photos)
    return summarise_location(accuracy_per_seed(per_canvas)), per_canvas


def location_sentences(summary: pd.DataFrame, min_gain: float, checks: pd.DataFrame | None = None) -> list[str]:
    """What study 1 found, in sentences rendered from its table (and its checks' outcomes).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`summarise_location` output.
    min_gain : float
        Accuracy above chance that counts as "tells left from right" (the claims' threshold,
        :data:`poslib.claims.LOCATION_MIN_GAIN`).
    checks : pandas.DataFrame, optional
        :func:`poslib.claims.check_absolute_location` rows; their outcomes are counted per claim.

    Returns
    -------
    list of str
        Per padding: the farthest distance at which each stack beats chance by ``min_gain``
        (pixels and fraction of its receptive field) and the accuracy at the largest distance;
        the largest deviation from chance of the borderless (circular) networks; then each
        claim's outcome counts.

    Examples
    --------
    >>> summary = pd.DataFrame({"padding_rule": ["zeros"] * 2 + ["circular"] * 2, "dilations": "1-1", "depth": 2,
    ...                         "receptive_field": 5, "reach": 3, "distance": [0, 4] * 2,
    ...                         "distance_rf": [0.0, 0.8] * 2, "accuracy": [0.9, 0.5, 0.52, 0.47]})
    >>> for line in location_sentences(summary, 0.2):
    ...     print(line)
    **zeros**: beats chance by more than 0.2 up to 0 px (0.00 receptive field) with dilations 1-1 (receptive field 5 px); accuracy at the largest distance, 4 px: 0.500.
    **circular** (no border): accuracy between 0.470 and 0.520 at every distance (chance 0.5).
    """
    lines = []
    for padding, part in summary.groupby("padding_rule", sort=False):
        if padding == NO_BORDER:
            lines.append(f"**{padding}** (no border): accuracy between {part['accuracy'].min():.3f} and "
                         f"{part['accuracy'].max():.3f} at every distance (chance {CHANCE}).")
            continue
        clauses = []
        for stack, rows in part.groupby("dilations", sort=False):
            rows = rows.sort_values("distance")
            field, far = int(rows["receptive_field"].iloc[0]), rows.iloc[-1]
            above = rows[rows["accuracy"] > CHANCE + min_gain]
            reach = (f"up to {int(above['distance'].max())} px ({above['distance_rf'].max():.2f} receptive field)"
                     if len(above) else "at no distance")
            clauses.append(f"beats chance by more than {min_gain} {reach} with dilations {stack} (receptive field "
                           f"{field} px); accuracy at the largest distance, {int(far['distance'])} px: "
                           f"{far['accuracy']:.3f}")
        lines.append(f"**{padding}**: " + "; ".join(clauses) + ".")
    if checks is not None and len(checks):
        for claim, part in checks.groupby("claim", sort=False):
            counts = part["outcome"].value_counts()
            lines.append(f"Check \"{claim}\": " + ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
                         + f" of {len(part)}.")
    return lines


def plot_location(summary: pd.DataFrame):
    """Accuracy against distance as a fraction of the receptive field (a panel per stack, a line per padding)."""
    from ..report import line_panels

    spread = summary["accuracy_std"].fillna(0)  # the axis holds every error bar whole (accuracy + std can pass 1)
    low, top = min(0.3, float((summary["accuracy"] - spread).min())), max(1.0, float((summary["accuracy"] + spread).max()))
    fields = summary.drop_duplicates("receptive_field").set_index("receptive_field")["dilations"]
    return line_panels(summary, "distance_rf", "accuracy", hue="padding_rule", col="receptive_field",
                       yerr="accuracy_std", col_order=sorted(fields.index), hline=CHANCE,
                       ylim=(low - 0.03, top + 0.05),
                       panel_title=lambda _, field: f"dilations {fields[field]}, receptive field {field} px",
                       xlabel="distance to the border / receptive field", ylabel="left/right accuracy",
                       legend_title="padding rule", panel_size=(3.8, 2.8))
