"""How far from the border can a CNN tell absolute location? (after Kayhan & van Gemert, CVPR 2020)

The task no translation-invariant network can solve: a small random patch sits on a black
canvas either in the left or in the right part, at a controlled horizontal distance ``d``
from its nearest (left or right) border, at a random height. The two classes are the same
patch statistics at mirrored places, so a network whose global-average-pooled features do
not change when the patch moves (a translation-invariant one) answers at chance.

Small CNNs are trained from scratch (3x3 convolutions, stride 1, ReLU, global average
pooling, one linear layer) with three paddings:

``zeros``
    "same" zero padding (1 pixel): a kernel that overlaps the border sees invented zeros;
``valid``
    no padding: pixels near the border reach fewer output positions than inner ones;
``full``
    "full" convolution (padding ``kernel - 1`` = 2 at every layer): every input pixel
    reaches every filter tap equally. On a black canvas, moving the patch only moves
    the maps, and the pooled features are exactly the same (up to float summation), so
    it must stay at chance: the negative control.

The convolutions have no bias, so the black background stays exactly 0 at every layer and
the zeros that padding adds look like the background. With biases the background becomes
``relu(b) != 0`` after the first layer, the zeros that full convolution pads at the later
layers are then a visible frame, and deep enough "full" networks do find the border
(measured while building this study: depth 4 solved ``d <= 2``); without bias "full"
convolution is the exact negative control that Kayhan & van Gemert describe.

One network per (padding, depth, seed) is trained on all distances together and tested
per distance; the receptive field of a depth-``L`` network is ``1 + 2 L`` pixels.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..config import Profile
from ..tables import aggregate_over_seeds

#: Paddings of the networks trained here (not backbone rules: ``full`` exists only here).
LOCATION_PADDINGS = {"zeros": 1, "valid": 0, "full": 2}
#: Chance accuracy of the two-class task.
CHANCE = 0.5


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


def stacked_receptive_field(depth: int, kernel: int = 3) -> int:
    """Receptive field in pixels of ``depth`` stride-1 convolutions of side ``kernel`` (by formula).

    Examples
    --------
    >>> stacked_receptive_field(1), stacked_receptive_field(4)
    (3, 9)
    """
    return 1 + (kernel - 1) * depth


#: Former name of :func:`stacked_receptive_field` (notebook 06 uses it).
receptive_field = stacked_receptive_field


def make_location_task(canvas: int, patch: int, distances, n_per_distance: int,
                       rng: np.random.Generator, height: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases with a random patch on the left (label 0) or the right (label 1).

    Parameters
    ----------
    canvas, patch : int
        Canvas width and patch side in pixels.
    distances : iterable of int
        Horizontal distances from the patch to its nearest border (``0`` = touching it).
    n_per_distance : int
        Canvases per distance (half left, half right).
    rng : numpy.random.Generator
    height : int, optional
        Canvas height (default ``canvas``: square). Only the horizontal place is the
        label, so a strip a little taller than the patch is as good and much cheaper.

    Returns
    -------
    images : numpy.ndarray
        float32 (N, 1, height, canvas): black, with a uniform-noise patch in (0.2, 1].
    labels, distance : numpy.ndarray
        int64 (N,) class (0 = left, 1 = right) and the distance of each canvas.

    Examples
    --------
    >>> images, labels, distance = make_location_task(16, 4, [0, 3], 4, np.random.default_rng(0))
    >>> images.shape, labels.tolist(), distance.tolist()
    ((8, 1, 16, 16), [0, 1, 0, 1, 0, 1, 0, 1], [0, 0, 0, 0, 3, 3, 3, 3])
    >>> bool(images[0, 0, :, 0].any()), bool(images[1, 0, :, -1].any())
    (True, True)
    """
    distances = [int(d) for d in distances]
    if max(distances) + patch > canvas // 2:
        raise ValueError(f"distance {max(distances)} + patch {patch} does not fit half of a {canvas} px canvas")
    height = canvas if height is None else height
    n = len(distances) * n_per_distance
    images = np.zeros((n, 1, height, canvas), np.float32)
    labels = np.tile(np.arange(2), n // 2 + 1)[:n].astype(np.int64)
    distance = np.repeat(distances, n_per_distance).astype(np.int64)
    for i in range(n):
        x = distance[i] if labels[i] == 0 else canvas - patch - distance[i]
        y = rng.integers(0, height - patch + 1)
        images[i, 0, y:y + patch, x:x + patch] = rng.uniform(0.2, 1.0, (patch, patch))
    return images, labels, distance


class LocationNet(nn.Module):
    """``depth`` 3x3 convolutions without bias (ReLU) -> global average pooling -> linear classifier.

    Parameters
    ----------
    depth, channels : int
    padding : {"zeros", "valid", "full"}
    n_classes : int
    """

    def __init__(self, depth: int, channels: int, padding: str, n_classes: int = 2):
        super().__init__()
        pad = LOCATION_PADDINGS[padding]
        layers, width = [], 1
        for _ in range(depth):
            layers += [nn.Conv2d(width, channels, 3, padding=pad, bias=False), nn.ReLU()]
            width = channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(-2, -1)))


def train_location_net(images: np.ndarray, labels: np.ndarray, depth: int, channels: int, padding: str,
                       epochs: int, seed: int, batch_size: int = 32, lr: float = 3e-3) -> LocationNet:
    """Train a :class:`LocationNet` with Adam and cross-entropy (seeded init and batch order), on one thread."""
    with one_thread():
        return _train_location_net(images, labels, depth, channels, padding, epochs, seed, batch_size, lr)


def _train_location_net(images, labels, depth, channels, padding, epochs, seed, batch_size, lr) -> LocationNet:
    torch.manual_seed(seed)
    model = LocationNet(depth, channels, padding)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            optimiser.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


@torch.inference_mode()
def accuracy_by_distance(model: nn.Module, images: np.ndarray, labels: np.ndarray,
                         distance: np.ndarray) -> dict[int, float]:
    """Test accuracy of ``model`` per distance to the border."""
    predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    return {int(d): float((predicted[distance == d] == labels[distance == d]).mean()) for d in np.unique(distance)}


@torch.inference_mode()
def canvas_predictions(model: nn.Module, images: np.ndarray, labels: np.ndarray, distance: np.ndarray) -> pd.DataFrame:
    """``model``'s answer on every test canvas.

    Returns
    -------
    pandas.DataFrame
        canvas (index in the test set), distance, label (0 = left, 1 = right), predicted,
        correct (0/1).
    """
    predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    return pd.DataFrame({"canvas": np.arange(len(labels)), "distance": distance.astype(np.int64), "label": labels,
                         "predicted": predicted.astype(np.int64), "correct": (predicted == labels).astype(np.int64)})


#: Columns of the per-canvas rows of study 1 (:func:`run_location_canvases`).
CANVAS_COLUMNS = ["padding_rule", "depth", "receptive_field", "seed", "canvas", "distance", "label", "predicted",
                  "correct"]


def run_location_canvases(settings, seeds=None, progress=None) -> pd.DataFrame:
    """Train the location networks of every padding, depth and seed and record their answer on every test canvas.

    Parameters
    ----------
    settings : poslib.config.BeyondSettings
        ``location_*`` fields.
    seeds : iterable of int, optional
        Default ``settings.seeds``.
    progress : callable, optional
        Wraps the configuration iterable (e.g. :func:`poslib.config.progress_bar`).

    Returns
    -------
    pandas.DataFrame
        :data:`CANVAS_COLUMNS`: one row per padding, depth, seed and test canvas. The test
        canvases are drawn from the seed (the same for every padding and depth of a seed, not
        across seeds).
    """
    seeds = list(settings.seeds if seeds is None else seeds)
    configs = [(p, d, s) for p in settings.location_paddings for d in settings.location_depths for s in seeds]
    frames, data = [], {}
    for padding, depth, seed in (progress(configs) if progress else configs):
        if seed not in data:
            rng = np.random.default_rng(seed)
            data[seed] = [make_location_task(settings.location_canvas, settings.location_patch,
                                             settings.location_distances, n, rng, settings.location_height)
                          for n in (settings.location_train, settings.location_test)]
        (train_x, train_y, _), (test_x, test_y, test_d) = data[seed]
        model = train_location_net(train_x, train_y, depth, settings.location_channels, padding,
                                   settings.location_epochs, seed)
        frames.append(canvas_predictions(model, test_x, test_y, test_d).assign(
            padding_rule=padding, depth=depth, receptive_field=stacked_receptive_field(depth), seed=seed))
    return pd.concat(frames, ignore_index=True)[CANVAS_COLUMNS]


def accuracy_per_seed(per_canvas: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per padding, depth, seed and distance of per-canvas rows (:func:`run_location_canvases`).

    Returns
    -------
    pandas.DataFrame
        padding_rule, depth, receptive_field, distance, seed, accuracy (distances in increasing order).
    """
    keys = ["padding_rule", "depth", "receptive_field", "seed"]
    network = per_canvas.groupby(keys, sort=False).ngroup()  # the networks in the order they were trained
    per_seed = (per_canvas.assign(network=network).groupby(["network"] + keys + ["distance"])["correct"].mean()
                .rename("accuracy").reset_index())
    return per_seed[["padding_rule", "depth", "receptive_field", "distance", "seed", "accuracy"]]


def run_location_study(settings, seeds=None, progress=None) -> pd.DataFrame:
    """Train and test the location networks of every padding, depth and seed.

    Parameters
    ----------
    settings : poslib.config.BeyondSettings
        ``location_*`` fields.
    seeds : iterable of int, optional
        Default ``settings.seeds``.
    progress : callable, optional
        Wraps the configuration iterable (e.g. :func:`poslib.config.progress_bar`).

    Returns
    -------
    pandas.DataFrame
        Per seed: padding, depth, receptive_field, distance, seed, accuracy
        (:func:`accuracy_per_seed` of :func:`run_location_canvases`).
    """
    return accuracy_per_seed(run_location_canvases(settings, seeds, progress))


def summarise_location(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of the accuracy per padding, depth and distance (plus ``chance``)."""
    keys = ["padding_rule", "depth", "receptive_field", "distance"]
    return aggregate_over_seeds(per_seed, keys, ["accuracy"]).assign(chance=CHANCE)


def location_study(profile: Profile) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Study 1 of notebook 06: the location task at every padding, depth and seed, summarised.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.beyond` (``location_*`` fields and ``seeds``).

    Returns
    -------
    summary : pandas.DataFrame
        :func:`summarise_location` of the per-seed accuracies.
    per_canvas : pandas.DataFrame
        :func:`run_location_canvases`: every network's answer on every test canvas (the
        summary is the mean of ``correct`` per padding, depth, seed and distance, then the
        mean and std over seeds).
    """
    per_canvas = run_location_canvases(profile.beyond)
    return summarise_location(accuracy_per_seed(per_canvas)), per_canvas


def describe_reach(summary: pd.DataFrame, min_gain: float) -> str:
    """One markdown line: the farthest distance at which each padding and depth beats chance by ``min_gain``.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarise_location`.
    min_gain : float
        Accuracy above chance that counts (the claims' threshold).

    Returns
    -------
    str
    """
    reach = summary[summary["accuracy"] > CHANCE + min_gain].groupby(["padding_rule", "depth"])["distance"].max()
    return (f"Farthest distance (px) at which accuracy exceeds chance by more than {min_gain}: "
            + "; ".join(f"{p}, depth {d} (receptive field {stacked_receptive_field(d)} px): {v} px"
                        for (p, d), v in reach.items())
            + (" (none for the others)." if len(reach) else "none."))


def plot_location(summary: pd.DataFrame):
    """Accuracy against distance to the border (one panel per depth / receptive field, a line per padding)."""
    from ..report import line_panels

    spread = summary["accuracy_std"].fillna(0)  # the axis holds every error bar whole (accuracy + std can pass 1)
    low, top = min(0.3, float((summary["accuracy"] - spread).min())), max(1.0, float((summary["accuracy"] + spread).max()))
    return line_panels(summary, "distance", "accuracy", hue="padding_rule", col="depth", yerr="accuracy_std",
                       col_order=sorted(summary["depth"].unique()), hline=CHANCE, ylim=(low - 0.03, top + 0.05),
                       panel_title=lambda _, depth: f"depth {depth}, receptive field {stacked_receptive_field(depth)} px",
                       xlabel="distance to the border (px)", ylabel="left/right accuracy", legend_title="padding rule",
                       panel_size=(3.4, 2.8))
