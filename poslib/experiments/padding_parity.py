"""Uneven padding and input-size parity (after Alsallakh et al., "Mind the Pad", ICLR 2021).

A stride-2 layer whose input size does not divide evenly either pads one side more (TF-style
"same" padding, as in EfficientNet-Lite0: right and bottom) or drops the last row and column
(VGG16's 2x2 max-pooling floors odd sizes). Both make a network that is otherwise
left-right symmetric see its two sides differently. We measure it three ways, for input
sizes that divide evenly and unevenly:

* :func:`uneven_layers`: how many layers pad or pool unevenly at a size (counted with
  forward hooks, so it is measured on the network, not assumed);
* :func:`uniform_asymmetry`: on a uniform grey input every map of a left-right symmetric
  network is left-right symmetric; ``lr = mean |F - flip_lr(F)| / mean |F|`` (and ``tb``
  for top-bottom) per tap. The spread is over grey levels. Trained filters are not
  mirror-symmetric, so their border responses differ between the sides whatever the
  padding; the measure is therefore also taken with *symmetrised filters*
  (:func:`symmetrise_filters`: every kernel averaged with its mirror images), where
  only the geometry of padding and subsampling can make the two sides differ;
* the position readout's error near each side (:func:`readout_side_errors`, through
  :func:`poslib.experiments.padding_study.border_errors`).

:func:`blind_spot_maps` keeps the channel-mean map of a tap on the grey input: where
uneven padding leaves a "blind spot" (a dead or skewed row or column), it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..backbones import build_backbone
from ..config import Profile
from ..probing import ProbedRows
from ..tables import aggregate_over_seeds
from .input_size import probe_at_sizes
from .padding_study import side_asymmetry, border_errors


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


def run_parity_study(settings, progress=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Uniform-input asymmetry of every row, rule and size of the settings.

    ``parity_rows`` run under every rule of ``parity_rules``; ``parity_contrast_rows``
    (symmetric padding) under ``zeros`` only.

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
    configs = [(b, w, r) for b, w in settings.parity_rows for r in settings.parity_rules]
    configs += [(b, w, "zeros") for b, w in settings.parity_contrast_rows]
    configs = [(b, w, r, s) for b, w, r in configs for s in settings.parity_sizes]
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


def worst_size(summary: pd.DataFrame, backbone: str, tap: str) -> int:
    """Input size with the largest left-right asymmetry of ``tap`` (zero padding, symmetrised filters)."""
    part = summary[(summary["backbone"] == backbone) & (summary["padding_rule"] == "zeros") & (summary["tap"] == tap)
                   & (summary["measure"] == "lr") & (summary["filters"] == "symmetrised")]
    return int(part.sort_values("value").iloc[-1]["input_size"])


@dataclass
class ParityStudy:
    """Study 3 of notebook 06 (:func:`parity_study`).

    Attributes
    ----------
    asymmetry : pandas.DataFrame
        :func:`summarise_asymmetry` (uniform inputs).
    table : pandas.DataFrame
        ``asymmetry`` and the readout side errors (:func:`readout_side_errors`), long format.
    layers : pandas.DataFrame
        Uneven layers per row, rule and size.
    maps : dict
        Channel-mean maps on the grey input (:func:`run_parity_study`).
    probed : ProbedRows
        The readouts at every parity size.
    """

    asymmetry: pd.DataFrame
    table: pd.DataFrame
    layers: pd.DataFrame
    maps: dict
    probed: ProbedRows


def parity_study(profile: Profile, data_root: str = "", train: str = "", test: str = "",
                 seed: int = 0) -> ParityStudy:
    """Study 3 of notebook 06: uniform-input asymmetry and readout side errors at every parity size.

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
    levels, layers, maps = run_parity_study(settings)
    asymmetry = summarise_asymmetry(levels)
    probed = probe_at_sizes(profile, settings.parity_readout_rows, settings.parity_sizes, data_root, train, test, seed)
    table = pd.concat([asymmetry, readout_side_errors(probed, settings.border_bins)], ignore_index=True)
    return ParityStudy(asymmetry, table, layers, maps, probed)


def worst_sizes(summary: pd.DataFrame, profile: Profile, tap: str) -> dict[str, int]:
    """:func:`worst_size` of every parity row and contrast row of the profile, by backbone."""
    settings = profile.beyond
    return {b: worst_size(summary, b, tap) for b, _ in settings.parity_rows + settings.parity_contrast_rows}


def lr_asymmetry_view(summary: pd.DataFrame, tap: str) -> pd.DataFrame:
    """Left-right asymmetry of ``tap`` per backbone, rule and size, trained against symmetrised filters (reading)."""
    return summary[(summary["tap"] == tap) & (summary["measure"] == "lr")].pivot_table(
        index=["backbone", "padding_rule", "input_size", "uneven_layers"], columns="filters", values="value").round(3)


def partial_rule_view(gap: pd.DataFrame, asymmetry: pd.DataFrame, tap: str,
                      rules=("zeros", "partial")) -> pd.DataFrame:
    """Study 5 of notebook 06: the ``partial`` rows of studies 2 and 3 beside zero padding (reading).

    Parameters
    ----------
    gap : pandas.DataFrame
        :func:`poslib.experiments.gap_position.summarise_gap`.
    asymmetry : pandas.DataFrame
        :func:`summarise_asymmetry`.
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
        .assign(study=lambda f: f"3: lr asymmetry of {tap}, " + f["filters"] + ", " + f["input_size"].astype(str)
                + " px")[columns],
    ]).pivot_table(index=["study", "backbone", "weights"], columns="padding_rule", values="value", sort=False).round(3)


def plot_asymmetry(summary: pd.DataFrame, tap: str):
    """Left-right asymmetry of ``tap`` against input size, a line per backbone and rule."""
    from ..report import line_panels

    part = summary[(summary["tap"] == tap) & (summary["kind"] == "uniform input") & (summary["measure"] == "lr")]
    return line_panels(part.assign(input_size=part["input_size"].astype(str)), "input_size", "value",
                       hue=["backbone", "padding_rule"], col="filters", yerr="value_std", categorical_x=True,
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
        axis.set_title(f"{key[0]}\n{key[2]}, {key[3]} px", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
    figure.suptitle(f"channel mean of {tap} on a uniform grey input", fontsize=9)
    figure.tight_layout()
    return figure
