"""Uneven padding and input-size parity (after Alsallakh et al., "Mind the Pad", ICLR 2021).

A stride-2 layer whose input size does not divide evenly either pads one side more (TF-style
"same" padding, as in EfficientNet-Lite0: right and bottom) or drops the last row and column
(VGG16's 2x2 max-pooling floors odd sizes). Both make a network that is otherwise
left-right symmetric see its two sides differently. EfficientNet-Lite0 pads unevenly at
every stride-2 layer at 224 px, the size it was trained at, and at none at 225 px. We
measure, for input sizes that divide evenly and unevenly:

* :func:`uneven_layers`: how many layers pad or pool unevenly at a size (counted with
  forward hooks, so it is measured on the network, not assumed);
* the primary result, :func:`natural_asymmetry`: the left-right asymmetry of each tap's
  mean map over natural photos *and their mirror images*, with the filters as trained. The
  input distribution is then exactly mirror-symmetric, so
  ``lr = mean |M - flip_lr(M)| / mean |M|`` of the mean map ``M`` is zero for a network that
  commutes with mirroring and measures the network's own skew (its padding, subsampling
  and filters together) otherwise. It is not zero by construction for any row here; its
  interval is a bootstrap over the photo pairs (:func:`asymmetry_resamples`), paired
  across sizes and rules because every configuration sees the same photos;
* the position readout's error near each side (:func:`readout_side_errors`, through
  :func:`poslib.experiments.padding_study.border_errors`), per size;
* a secondary diagnostic, :func:`uniform_asymmetry`: the same measure on uniform grey
  inputs with *symmetrised filters* (:func:`symmetrise_filters`: every kernel averaged with
  its mirror images) as well as as trained. With symmetrised filters only the geometry of
  padding and subsampling can make the sides differ, so its reference is known: exactly 0 at
  a size with no uneven layer (by construction, so no check is made on it), and under
  reflect, replicate or circular padding a uniform input stays uniform, so those rules give
  0 there too; read it as a picture of the padding geometry, not as evidence.

Whether a trained network compensates for its own uneven padding is then a comparison the
data can decide either way (:func:`poslib.claims.check_padding_parity`): geometry predicts
that a size with more uneven layers gives more skewed maps; a trained network that is less
skewed at the size it was trained at (uneven) than at sizes with fewer uneven layers
contradicts that, and has learned to compensate. The random initialisation of the same
network, which has learned nothing, is the control that should follow geometry
(:func:`compensation_sentences` states the result).

:func:`uniform_asymmetry` also keeps the channel-mean map of a tap on the grey input
(:func:`plot_blind_spots`): where uneven padding leaves a "blind spot" (a dead or skewed row
or column), it shows.

(Longer than 400 lines: three measures of one question, the natural-photo asymmetry with its
bootstrap, the readout's side errors and the uniform diagnostic, with their long table, the
sentences read from it and two plots; split by measure, the parts would import each other's
table helpers.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..backbones import build_backbone
from ..config import Profile
from ..data import natural_image_set, resolve_data_root
from ..features import FeatureConfig, extract_features
from ..image_set import ImageSet
from ..probing import ProbedRows
from ..tables import aggregate_over_seeds
from ..verdicts import CONFIDENCE, N_RESAMPLES, RANDOM_STATE, basic_interval
from ..weights import backbone_class
from .input_size import probe_at_sizes
from .padding_study import side_asymmetry, border_errors

#: Input size the ImageNet backbones were trained at (the reference of the compensation check).
NATIVE_SIZE = 224
#: Bootstrap resamples computed at a time (bounds the memory of the resampled mean maps).
RESAMPLE_BLOCK = 200


def uneven_layers(backbone: nn.Module, input_size: int) -> int:
    """Number of layers that pad or subsample unevenly at ``input_size`` (one forward pass with hooks).

    A layer counts when it is an explicit pad with more on one side, a strided
    convolution or pooling whose (padded) input does not tile evenly (the last rows /
    columns are dropped), or a strided convolution padded asymmetrically inside a
    wrapper.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2))
    >>> uneven_layers(net, 8), uneven_layers(net, 9)
    (0, 1)
    """
    count = [0]

    def hook(module, inputs, _output):
        height, width = inputs[0].shape[-2:]
        if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):  # an explicit pad layer
            pad = getattr(module, "padding", None) or getattr(module, "pad", None)
            if pad is not None and len(pad) == 4 and (pad[0] != pad[1] or pad[2] != pad[3]):
                count[0] += 1
            return
        if isinstance(getattr(module, "static_padding", None), nn.Module):
            return  # a TF-style "same" convolution: its pad layer is counted on its own
        kernel = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size,) * 2
        stride = module.stride if isinstance(module.stride, (tuple, list)) else (module.stride,) * 2
        padding = module.padding if isinstance(module.padding, (tuple, list)) else (module.padding,) * 2
        if max(stride) > 1 and any((size + 2 * p - k) % s for size, p, k, s in
                                   zip((height, width), padding, kernel, stride)):
            count[0] += 1

    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ZeroPad2d, nn.ConstantPad2d)
    handles = [m.register_forward_hook(hook) for m in backbone.modules()
               if isinstance(m, kinds) or type(m).__name__ == "ModePad2d"]
    try:
        with torch.inference_mode():
            backbone(torch.zeros(1, 3, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
    return count[0]


def map_asymmetry(feature_map: torch.Tensor) -> tuple[float, float]:
    """``(lr, tb)``: mean |F - flip(F)| over mean |F| along the width and the height.

    Examples
    --------
    >>> map_asymmetry(torch.ones(1, 2, 4, 4))
    (0.0, 0.0)
    >>> lr, tb = map_asymmetry(torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]]))
    >>> round(lr, 6), tb
    (2.0, 0.0)
    """
    scale = feature_map.abs().mean().item() + 1e-12
    lr = (feature_map - feature_map.flip(-1)).abs().mean().item() / scale
    tb = (feature_map - feature_map.flip(-2)).abs().mean().item() / scale
    return lr, tb


@torch.no_grad()
def symmetrise_filters(model: nn.Module) -> nn.Module:
    """Average every convolution kernel with its left-right, top-bottom and 180-degree mirrors (in place).

    With such filters a network is exactly mirror-symmetric wherever its padding and
    subsampling are; biases, normalisation and activations are kept.

    Examples
    --------
    >>> conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    >>> _ = symmetrise_filters(conv)
    >>> bool(torch.allclose(conv.weight, conv.weight.flip(-1)))  # equal up to float rounding
    True
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight
            w.copy_((w + w.flip(-1) + w.flip(-2) + w.flip(-1, -2)) / 4)
    return model


@torch.inference_mode()
def uniform_asymmetry(backbone, input_size: int, levels) -> tuple[list[dict], dict]:
    """Left-right and top-bottom asymmetry of every tap on uniform grey inputs.

    Returns
    -------
    rows : list of dict
        tap, level, lr_asymmetry, tb_asymmetry.
    maps : dict
        ``tap -> (H, W)`` channel-mean map at the middle grey level.
    """
    rows, maps = [], {}
    middle = sorted(levels)[len(levels) // 2]
    for level in levels:
        taps = backbone(torch.full((1, 3, input_size, input_size), float(level)))
        for name, tap in zip(backbone.tap_names, taps):
            lr, tb = map_asymmetry(tap)
            rows.append({"tap": name, "level": level, "lr_asymmetry": lr, "tb_asymmetry": tb})
            if level == middle:
                maps[name] = tap[0].mean(dim=0).numpy()
    return rows, maps


def mirrored_set(image_set: ImageSet) -> ImageSet:
    """``image_set`` flipped left to right (named ``"<name> mirrored"``; its own cache entries).

    Examples
    --------
    >>> pixels = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    >>> flipped = mirrored_set(ImageSet("t", pixels, ["a"], "test", "synthetic"))
    >>> flipped.name, bool((flipped.images[0, :, 0] == pixels[0, :, 1]).all())
    ('t mirrored', True)
    """
    return ImageSet(f"{image_set.name} mirrored", np.ascontiguousarray(image_set.images[:, :, ::-1]),
                    list(image_set.ids), f"{image_set.source}, mirrored left to right", image_set.kind)


def mean_map_asymmetry(mean_maps: np.ndarray) -> np.ndarray:
    """``mean |M - flip_lr(M)| / mean |M|`` of mean maps ``M`` of shape (..., C, S, S), per leading index.

    Examples
    --------
    >>> maps = np.array([[[[1.0, 1.0], [2.0, 2.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])
    >>> mean_map_asymmetry(maps).round(6).tolist()
    [0.0, 2.0]
    """
    maps = np.asarray(mean_maps, dtype=np.float64)
    width = maps.shape[-1]
    half, n_values = width // 2, maps.shape[-3] * maps.shape[-2] * width
    scale = np.abs(maps).sum(axis=(-3, -2, -1)) / n_values + 1e-12
    # |M - flip(M)| is itself mirror-symmetric (and 0 on an odd width's middle column): twice its
    # left half's sum is its sum, at a third of the work of forming M - flip(M) in full.
    left, right_mirrored = maps[..., :half], maps[..., width - half:][..., ::-1]
    return 2 * np.abs(left - right_mirrored).sum(axis=(-3, -2, -1)) / n_values / scale


def resample_weights(n_pairs: int, n_resamples: int = N_RESAMPLES, random_state: int = RANDOM_STATE) -> np.ndarray:
    """Bootstrap weights over photo pairs, (n_resamples, n_pairs), each row summing to 1.

    The same ``n_pairs`` and ``random_state`` give the same draws, so asymmetries of different
    configurations on the same photos are resampled on the same pairs (a paired bootstrap).
    """
    rng = np.random.default_rng(random_state)
    return rng.multinomial(n_pairs, np.full(n_pairs, 1.0 / n_pairs), size=n_resamples) / n_pairs


def asymmetry_resamples(pair_maps: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """The asymmetry of the mean of ``pair_maps`` and its value under every bootstrap resample.

    The estimate is :func:`mean_map_asymmetry` in float64. The resamples (thousands of
    resampled mean maps, the cost of study 3) are formed in float32 by two matrix products per
    block, one for the maps and one for their antisymmetric halves ``left - mirrored right``
    (the numerator of :func:`mean_map_asymmetry`), each followed by one absolute sum; they
    agree with :func:`mean_map_asymmetry` of the float32 resampled maps within 1e-5 relative
    (the tests check it; measured about 3e-7), several times faster.

    Parameters
    ----------
    pair_maps : numpy.ndarray
        (N, C, S, S): per photo pair, the mean of the maps of the photo and of its mirror image.
    weights : numpy.ndarray
        :func:`resample_weights` (n_resamples, N).

    Returns
    -------
    estimate : float
    resamples : numpy.ndarray
        (n_resamples,)
    """
    maps = torch.from_numpy(np.ascontiguousarray(pair_maps, dtype=np.float32))
    width = maps.shape[-1]
    half, n_values = width // 2, maps[0].numel()
    flat = maps.flatten(1)
    antisymmetric = (maps[..., :half] - maps[..., width - half:].flip(-1)).flatten(1)
    estimate = float(mean_map_asymmetry(flat.mean(0).reshape(pair_maps.shape[1:]).numpy()))
    blocks = []
    for start in range(0, len(weights), RESAMPLE_BLOCK):
        block = torch.from_numpy(weights[start:start + RESAMPLE_BLOCK].astype(np.float32))
        scale = (block @ flat).abs_().sum(1).double() / n_values + 1e-12
        blocks.append((2 * (block @ antisymmetric).abs_().sum(1).double() / n_values / scale).numpy())
    return estimate, np.concatenate(blocks)


@dataclass
class NaturalAsymmetry:
    """As-trained asymmetry on natural photos and their mirror images (:func:`natural_asymmetry`).

    Attributes
    ----------
    table : pandas.DataFrame
        backbone, weights, backbone_class, padding_rule, input_size, uneven_layers, tap,
        lr_asymmetry, low, high (basic bootstrap interval over photo pairs,
        :func:`poslib.verdicts.basic_interval`), n_images.
    resamples : dict
        ``(backbone, weights, padding_rule, input_size, tap) -> (n_resamples,)`` bootstrap values,
        paired across configurations (the same photo-pair draws).
    images : str
        Name of the photo set.
    """

    table: pd.DataFrame
    resamples: dict
    images: str


def parity_configurations(settings) -> list[tuple[str, str, str, int]]:
    """``(backbone, weights, padding_rule, input_size)`` of study 3: the parity rows under every
    rule, the contrast and control rows under ``zeros``, each at every parity size."""
    configs = [(b, w, r) for b, w in settings.parity_rows for r in settings.parity_rules]
    configs += [(b, w, "zeros") for b, w in settings.parity_contrast_rows + settings.parity_control_rows]
    return [(b, w, r, s) for b, w, r in configs for s in settings.parity_sizes]


def natural_asymmetry(settings, data_root: str = "", test: str = "", seed: int = 0, progress=None,
                      confidence: float = CONFIDENCE) -> NaturalAsymmetry:
    """As-trained left-right asymmetry of every tap's mean map over natural photos and their mirrors.

    Per configuration of :func:`parity_configurations`, the first ``parity_images`` natural test
    photos at the size and their mirror images go through the backbone (features from the
    cache: the taps resized to the readout grid, which keeps mirror symmetry); per photo pair
    the two maps are averaged, and :func:`asymmetry_resamples` gives the asymmetry of the mean
    map and its bootstrap over pairs.
    """
    root = resolve_data_root(data_root)
    rows, resamples, name = [], {}, ""
    weights = None
    configs = parity_configurations(settings)
    for backbone_name, weights_name, rule, size in (progress(configs) if progress else configs):
        photos = natural_image_set(test, "test", size, settings.parity_images, root, seed)
        name = photos.name
        backbone = build_backbone(backbone_name, weights_name, 0, size, rule)
        config = FeatureConfig(backbone_name, weights_name, rule, size)
        plain = extract_features(config, photos, backbone=backbone, progress=False)
        mirrored = extract_features(config, mirrored_set(photos), backbone=backbone, progress=False)
        weights = resample_weights(len(photos)) if weights is None or weights.shape[1] != len(photos) else weights
        uneven = uneven_layers(backbone, size)
        for tap in plain.tap_names:
            channels = plain.channel_index([tap])
            pair_maps = (np.asarray(plain.array[:, channels], dtype=np.float32)
                         + np.asarray(mirrored.array[:, channels], dtype=np.float32)) / 2
            estimate, values = asymmetry_resamples(pair_maps, weights)
            low, high = basic_interval(estimate, values, confidence)
            resamples[(backbone_name, weights_name, rule, size, tap)] = values
            rows.append({"backbone": backbone_name, "weights": weights_name,
                         "backbone_class": backbone_class(backbone_name, weights_name), "padding_rule": rule,
                         "input_size": size, "uneven_layers": uneven, "tap": tap, "lr_asymmetry": estimate,
                         "low": float(low), "high": float(high), "n_images": len(photos)})
    return NaturalAsymmetry(pd.DataFrame(rows), resamples, name)


def reference_size(sizes) -> int:
    """The size the compensation check compares against: :data:`NATIVE_SIZE` when studied, else the first size."""
    return NATIVE_SIZE if NATIVE_SIZE in sizes else sizes[0]


def run_parity_study(settings, progress=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Uniform-input asymmetry (the secondary diagnostic) of every configuration of :func:`parity_configurations`.

    Returns
    -------
    per_level : pandas.DataFrame
        backbone, weights, padding, input_size, uneven_layers, filters (``as trained`` /
        ``symmetrised``), tap, level, lr_asymmetry, tb_asymmetry.
    layers : pandas.DataFrame
        backbone, weights, padding, input_size, uneven_layers.
    maps : dict
        ``(backbone, weights, padding, input_size) -> {tap: channel-mean map}`` (as trained).
    """
    configs = parity_configurations(settings)
    rows, layer_rows, maps = [], [], {}
    for backbone_name, weights, rule, size in (progress(configs) if progress else configs):
        backbone = build_backbone(backbone_name, weights, 0, size, rule)
        labels = {"backbone": backbone_name, "weights": weights, "padding_rule": rule, "input_size": size}
        uneven = uneven_layers(backbone, size)
        layer_rows.append({**labels, "uneven_layers": uneven})
        found, maps[(backbone_name, weights, rule, size)] = uniform_asymmetry(backbone, size, settings.parity_levels)
        rows += [{**labels, "uneven_layers": uneven, "filters": "as trained", **row} for row in found]
        found, _ = uniform_asymmetry(symmetrise_filters(backbone), size, settings.parity_levels)
        rows += [{**labels, "uneven_layers": uneven, "filters": "symmetrised", **row} for row in found]
    return pd.DataFrame(rows), pd.DataFrame(layer_rows), maps


def summarise_asymmetry(per_level: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over grey levels of the asymmetry, long format (``measure`` lr / tb)."""
    keys = ["backbone", "weights", "padding_rule", "input_size", "uneven_layers", "filters", "tap"]
    wide = aggregate_over_seeds(per_level, keys, ["lr_asymmetry", "tb_asymmetry"], seed_column="level")
    parts = [wide[keys].assign(kind="uniform input", measure=m, value=wide[f"{m}_asymmetry"],
                               value_std=wide[f"{m}_asymmetry_std"], n=wide["n_seeds"], unit="grey levels")
             for m in ("lr", "tb")]
    return pd.concat(parts, ignore_index=True)


def natural_long(table: pd.DataFrame) -> pd.DataFrame:
    """:attr:`NaturalAsymmetry.table` in the long format of :attr:`ParityStudy.table` (kind ``natural photos``)."""
    keys = ["backbone", "weights", "padding_rule", "input_size", "uneven_layers", "tap"]
    return table[keys].assign(filters="as trained", kind="natural photos", measure="lr", value=table["lr_asymmetry"],
                              value_std=np.nan, low=table["low"], high=table["high"], n=table["n_images"],
                              unit="photo pairs (95% basic bootstrap interval)")


def readout_side_errors(probed, n_bins: int, band: float = 0.1, patterns=("H", "V", "G")) -> pd.DataFrame:
    """Right-minus-left and bottom-minus-top readout error per row and input size (long format).

    Parameters
    ----------
    probed : poslib.probing.ProbedRows
        From :func:`poslib.experiments.input_size.probe_at_sizes`.
    """
    frames = []
    for config, (bundle, result) in probed.probed.items():
        _, sides = border_errors(bundle, result, n_bins, band, patterns=patterns)
        frames.append(side_asymmetry(sides).assign(input_size=config.input_size))
    wide = pd.concat(frames, ignore_index=True)
    keys = ["backbone", "weights", "padding_rule", "input_size", "pattern"]
    parts = [wide[keys].rename(columns={"pattern": "tap"}).assign(
        filters="as trained", kind="readout side error", measure=m, value=wide[m], value_std=wide[f"{m}_std"], n=wide["n_seeds"],
        unit="seeds") for m in ("right_minus_left", "bottom_minus_top")]
    return pd.concat(parts, ignore_index=True)


def worst_size(summary: pd.DataFrame, backbone: str, tap: str, weights: str | None = None) -> int:
    """Input size with the largest left-right asymmetry of ``tap`` (zero padding, symmetrised filters, uniform input)."""
    part = summary[(summary["backbone"] == backbone) & (summary["padding_rule"] == "zeros") & (summary["tap"] == tap)
                   & ((summary["weights"] == weights) if weights else True)
                   & (summary["measure"] == "lr") & (summary["filters"] == "symmetrised")]
    return int(part.sort_values("value").iloc[-1]["input_size"])


@dataclass
class ParityStudy:
    """Study 3 of notebook 06 (:func:`parity_study`).

    Attributes
    ----------
    natural : NaturalAsymmetry
        The primary result: as-trained asymmetry on natural photos and their mirrors.
    asymmetry : pandas.DataFrame
        :func:`summarise_asymmetry` (uniform inputs; the secondary diagnostic).
    table : pandas.DataFrame
        The natural asymmetry (:func:`natural_long`), ``asymmetry`` and the readout side
        errors (:func:`readout_side_errors`), long format.
    layers : pandas.DataFrame
        Uneven layers per row, rule and size.
    maps : dict
        Channel-mean maps on the grey input (:func:`run_parity_study`).
    probed : ProbedRows
        The readouts at every parity size.
    """

    natural: NaturalAsymmetry
    asymmetry: pd.DataFrame
    table: pd.DataFrame
    layers: pd.DataFrame
    maps: dict
    probed: ProbedRows


def parity_study(profile: Profile, data_root: str = "", train: str = "", test: str = "",
                 seed: int = 0) -> ParityStudy:
    """Study 3 of notebook 06: as-trained asymmetry on natural photos, readout side errors and the
    uniform-input diagnostic at every parity size.

    Parameters
    ----------
    profile : Profile
        Gives :attr:`poslib.config.Profile.beyond` (``parity_*`` fields, ``border_bins``).
    data_root, train, test : str
        Where the readouts' natural images come from (:func:`poslib.experiments.input_size.images_at`).
    seed : int
        Seed of the image subsets.

    Returns
    -------
    ParityStudy
    """
    settings = profile.beyond
    natural = natural_asymmetry(settings, data_root, test, seed)
    levels, layers, maps = run_parity_study(settings)
    asymmetry = summarise_asymmetry(levels)
    probed = probe_at_sizes(profile, settings.parity_readout_rows, settings.parity_sizes, data_root, train, test, seed)
    table = pd.concat([natural_long(natural.table), asymmetry, readout_side_errors(probed, settings.border_bins)],
                      ignore_index=True)
    return ParityStudy(natural, asymmetry, table, layers, maps, probed)


def worst_sizes(summary: pd.DataFrame, profile: Profile, tap: str) -> dict[str, int]:
    """:func:`worst_size` of every parity row and contrast row of the profile, by backbone."""
    settings = profile.beyond
    return {b: worst_size(summary, b, tap, w) for b, w in settings.parity_rows + settings.parity_contrast_rows}


def lr_asymmetry_view(summary: pd.DataFrame, tap: str) -> pd.DataFrame:
    """Left-right asymmetry of ``tap`` per backbone, rule and size, trained against symmetrised filters (reading)."""
    return summary[(summary["tap"] == tap) & (summary["measure"] == "lr")].pivot_table(
        index=["backbone", "weights", "padding_rule", "input_size", "uneven_layers"], columns="filters",
        values="value").round(3)


def partial_rule_view(gap: pd.DataFrame, asymmetry: pd.DataFrame, tap: str,
                      rules=("zeros", "partial")) -> pd.DataFrame:
    """Study 5 of notebook 06: the ``partial`` rows of studies 2 and 3 beside zero padding (reading).

    Parameters
    ----------
    gap : pandas.DataFrame
        :func:`poslib.experiments.gap_position.summarise_gap`.
    asymmetry : pandas.DataFrame
        Long-format asymmetry rows (:attr:`ParityStudy.table`: the natural-photo rows and
        the uniform-input diagnostic; side-error rows have no ``lr`` measure and drop out).
    tap : str
        Tap whose left-right asymmetry is shown.
    rules : sequence of str
        Padding rules compared (the columns).

    Returns
    -------
    pandas.DataFrame
        A row per study, backbone and weights, a column per rule.
    """
    rules = list(rules)
    columns = ["study", "backbone", "weights", "padding_rule", "value"]
    return pd.concat([
        gap[(gap["tap"] == "all") & (gap["channels"] == "all") & gap["padding_rule"].isin(rules)]
        .assign(study="2: position accuracy after pooling", value=lambda f: f["accuracy"])[columns],
        asymmetry[(asymmetry["tap"] == tap) & (asymmetry["measure"] == "lr") & asymmetry["padding_rule"].isin(rules)]
        .assign(study=lambda f: f"3: lr asymmetry of {tap}, " + f["kind"] + ", " + f["filters"] + " filters, "
                + f["input_size"].astype(str) + " px")[columns],
    ]).pivot_table(index=["study", "backbone", "weights"], columns="padding_rule", values="value", sort=False).round(3)


def _outcome_counts(checks: pd.DataFrame) -> str:
    counts = checks["outcome"].value_counts()
    return ", ".join(f"{counts[o]} {o}" for o in ("holds", "contradicted", "inconclusive") if o in counts)


def compensation_sentences(study: "ParityStudy", checks: pd.DataFrame, settings, tap: str) -> list[str]:
    """Whether each trained parity row compensates for its own uneven padding, in sentences from the tables.

    Parameters
    ----------
    study : ParityStudy
        Its natural asymmetry and its readout side errors are read.
    checks : pandas.DataFrame
        :func:`poslib.claims.check_padding_parity` rows.
    settings : poslib.config.BeyondSettings
    tap : str

    Returns
    -------
    list of str
        Per trained parity row (zero padding, the rule it was trained with): the asymmetry at
        the reference size and at the evenest other size with intervals, the check's outcomes
        next to the control's, the conclusion, and the readout's right-minus-left error of H.
    """
    sentences, natural = [], study.natural.table
    side_errors = study.table[study.table["kind"] == "readout side error"]
    reference = reference_size(settings.parity_sizes)
    controls = dict(settings.parity_control_rows)
    for backbone, weights in settings.parity_rows + settings.parity_contrast_rows:
        rows = natural[(natural["backbone"] == backbone) & (natural["weights"] == weights)
                       & (natural["padding_rule"] == "zeros") & (natural["tap"] == tap)].set_index("input_size")
        if reference not in rows.index or len(rows) < 2:
            continue
        evenest = rows.drop(index=reference).sort_values(["uneven_layers", "lr_asymmetry"]).index[0]
        values = "; ".join(f"{rows.loc[s, 'lr_asymmetry']:.3f} [{rows.loc[s, 'low']:.3f}, {rows.loc[s, 'high']:.3f}] "
                           f"at {s} px ({int(rows.loc[s, 'uneven_layers'])} uneven layers)" for s in (reference, evenest))
        text = f"**{backbone}/{weights}, zero padding, {tap}**: as-trained asymmetry on natural photos {values}."
        mine = checks[checks["subject"].str.startswith(f"{backbone}/{weights}, zeros, {tap},")]
        control_name = controls.get(backbone)
        control = checks[checks["subject"].str.startswith(f"{backbone}/{control_name}, zeros, {tap},")] \
            if control_name else checks.iloc[:0]
        if len(mine):
            text += f" Check \"more uneven layers, more skew\": {_outcome_counts(mine)} of {len(mine)}"
            if len(control):
                text += f" (its random-init control: {_outcome_counts(control)} of {len(control)})"
            text += ". "
            own_uneven = int(rows.loc[reference, "uneven_layers"])
            if own_uneven and (mine["outcome"] == "contradicted").all() and (control["outcome"] == "holds").all() \
                    and len(control):
                text += (f"The trained network compensates for its own uneven padding: at {reference} px, where "
                         f"{own_uneven} layers pad unevenly, its maps are less skewed than at sizes with fewer "
                         f"uneven layers, while the untrained network shows the skew geometry predicts.")
            elif (mine["outcome"] == "holds").all():
                text += "No compensation: the skew grows with the number of uneven layers, as geometry predicts."
            else:
                text += "Compensation is not settled by these checks."
        side = side_errors[(side_errors["backbone"] == backbone) & (side_errors["weights"] == weights)
                           & (side_errors["tap"] == "H") & (side_errors["measure"] == "right_minus_left")]
        side = side.set_index("input_size")["value"]
        if reference in side.index and evenest in side.index:
            text += (f" The position readout's right-minus-left error of H: {side[reference]:.3f} at {reference} px "
                     f"vs {side[evenest]:.3f} at {evenest} px.")
        sentences.append(text)
    return sentences


def plot_natural_asymmetry(natural: pd.DataFrame, tap: str):
    """As-trained asymmetry of ``tap`` on natural photos against input size, a line per row and rule; 95% interval bands."""
    from ..report import line_panels

    part = natural[natural["tap"] == tap].copy()
    part["input_size"] = part["input_size"].astype(str)
    return line_panels(part, "input_size", "lr_asymmetry", hue=["backbone", "weights", "padding_rule"], col=None,
                       band=("low", "high"), categorical_x=True, figsize=(6.5, 3.4),
                       panel_title=lambda *_: f"left-right asymmetry of {tap}, natural photos and mirrors, as trained",
                       xlabel="input size (px)", ylabel="mean |M - flip M| / mean |M|")


def plot_asymmetry(summary: pd.DataFrame, tap: str):
    """Left-right asymmetry of ``tap`` against input size, a line per backbone and rule."""
    from ..report import line_panels

    part = summary[(summary["tap"] == tap) & (summary["kind"] == "uniform input") & (summary["measure"] == "lr")]
    return line_panels(part.assign(input_size=part["input_size"].astype(str)), "input_size", "value",
                       hue=["backbone", "weights", "padding_rule"], col="filters", yerr="value_std", categorical_x=True,
                       col_order=("as trained", "symmetrised"), figsize=(8, 2.9),
                       panel_title=lambda _, filters: (f"left-right asymmetry of {tap}, uniform input, "
                                                       f"{filters} filters"),
                       xlabel="input size (px)", ylabel="mean |F - flip F| / mean |F|")


def plot_blind_spots(maps: dict, keys, tap: str):
    """Channel-mean maps of ``tap`` on the grey input (each min-max scaled), one panel per configuration."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(keys), figsize=(2.4 * len(keys), 2.6), squeeze=False)
    for axis, key in zip(axes[0], keys):
        image = maps[key][tap]
        span = float(image.max() - image.min())
        axis.imshow((image - image.min()) / span if span > 0 else np.zeros_like(image), cmap="magma", vmin=0, vmax=1)
        axis.set_title(f"{key[0]}/{key[1]}\n{key[2]}, {key[3]} px", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
    figure.suptitle(f"channel mean of {tap} on a uniform grey input", fontsize=9)
    figure.tight_layout()
    return figure
