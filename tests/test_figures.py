"""Figures read cleanly: no legend over plotted data, no colliding labels, no error bar cut by the axis.

:func:`layout_problems` draws a figure and compares window extents (display pixels): each
legend against the bars, line points and error bars of every axes, each visible text label
(titles, axis labels, tick labels) against every other (closer than :data:`MIN_TEXT_GAP`
counts), and each error bar against its axes'
y limits. It is applied to figures of :func:`poslib.report.bar_plot`,
:func:`poslib.report.line_panels` and the three figures that had such faults
(``02_spc_natural``, ``04_border_error``, ``06_absolute_location``), built from small
synthetic frames, and to the old layouts of those three, to show that it can fail.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from poslib import report
from poslib.experiments import absolute_location, padding_study

#: Pixels two boxes must share before they count as overlapping (anti-aliasing and touching edges do not).
TOLERANCE = 1.0
#: Least gap in pixels between two text labels: closer, they read as one ("...centre)distance to...").
MIN_TEXT_GAP = 6.0


def _shrunk(box: Bbox) -> Bbox:
    return Bbox.from_extents(box.x0 + TOLERANCE, box.y0 + TOLERANCE, box.x1 - TOLERANCE, box.y1 - TOLERANCE)


def _points_inside(points: np.ndarray, box: Bbox) -> bool:
    box = _shrunk(box)
    return bool(((points[:, 0] > box.x0) & (points[:, 0] < box.x1)
                 & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)).any())


def _densified(points: np.ndarray, steps: int = 25) -> np.ndarray:
    """Points along every segment of a polyline (display coordinates), so a line crossing a box is caught."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 2:
        return points
    t = np.linspace(0, 1, steps)[:, None, None]
    return (points[:-1] + t * (points[1:] - points[:-1])).reshape(-1, 2)


def _data_artists(axis):
    """(kind, display points or box) of what an axes plots: bars, line points and error bars."""
    for patch in axis.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() and np.isfinite(patch.get_height()):
            yield "bar", patch.get_window_extent()
    for line in axis.lines:
        if line.get_visible() and line.get_label() != "_nolegend_" and len(line.get_xydata()):
            if line.get_linestyle() == ":":  # reference lines (chance) are not data
                continue
            yield "line", _densified(line.get_transform().transform(line.get_xydata()))
    for collection in axis.collections:
        if isinstance(collection, LineCollection) and collection.get_visible():
            for segment in collection.get_segments():
                yield "error bar", _densified(collection.get_transform().transform(segment))


def _texts(figure):
    """Visible, non-empty text labels: titles, axis labels, tick labels, figure titles."""
    texts = [t for t in (figure._suptitle, figure._supxlabel, figure._supylabel) if t is not None]
    for axis in figure.axes:
        texts += [axis.title, axis._left_title, axis._right_title, axis.xaxis.label, axis.yaxis.label]
        for ticks in (axis.xaxis, axis.yaxis):  # the ticks drawn (those outside the view limits are not)
            texts += [tick.label1 for tick in ticks._update_ticks()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def layout_problems(figure) -> list[str]:
    """What makes ``figure`` hard to read: legends over data, overlapping labels, error bars cut off.

    Returns
    -------
    list of str
        One line per problem (empty: the figure is clean).
    """
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    problems = []
    legends = list(figure.legends) + [axis.get_legend() for axis in figure.axes if axis.get_legend() is not None]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axis in figure.axes:
            for kind, data in _data_artists(axis):
                covered = _shrunk(box).overlaps(_shrunk(data)) if isinstance(data, Bbox) else _points_inside(data, box)
                if covered:
                    problems.append(f"legend covers a {kind} in panel {axis.get_title()!r}")
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in _texts(figure)]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        if box_a.padded(MIN_TEXT_GAP / 2).overlaps(box_b.padded(MIN_TEXT_GAP / 2)):
            problems.append(f"labels {a!r} and {b!r} overlap or touch")
    for axis in figure.axes:
        low, high = sorted(axis.get_ylim())
        for collection in axis.collections:
            if isinstance(collection, LineCollection):
                ys = np.concatenate([segment[:, 1] for segment in collection.get_segments()] or [np.zeros(0)])
                if len(ys) and (ys.max() > high + 1e-9 or ys.min() < low - 1e-9):
                    problems.append(f"an error bar is cut by the y limits {low:.2f}..{high:.2f} in {axis.get_title()!r}")
    return sorted(set(problems))


# ----------------------------------------------------------------------------- synthetic frames

MODELS = ["vgg16/imagenet-caffe (ImageNet)", "efficientnet-lite0/imagenet (ImageNet)",
          "vgg16/imagenet-caffe-unnormalised (other)", "pixels/none (control)", "vgg16/random (control)",
          "vgg16/random-bias (control)", "resnet152/random (control)"]
PATTERNS = ["H", "V", "G", "HS", "VS"]


def table1_frame() -> pd.DataFrame:
    """Notebook 02's labelled Table 1 on one test set: high SPC bars everywhere (where the legend used to sit)."""
    rng = np.random.default_rng(0)
    rows = [{"model": m, "pattern": p, "test_set": "SOD", "spc": 0.55 + 0.4 * rng.random(), "spc_std": 0.1 * rng.random()}
            for m in MODELS for p in PATTERNS]
    return pd.DataFrame(rows)


def rings_frame() -> pd.DataFrame:
    """Notebook 04's border errors: three backbones x H, V, G, five padding rules, 16 rings."""
    rng = np.random.default_rng(1)
    rows = []
    for backbone, weights in [("vgg16", "imagenet-caffe"), ("efficientnet-lite0", "imagenet"), ("vgg16", "random")]:
        for pattern, rule in itertools.product(["H", "V", "G"], ["zeros", "valid", "reflect", "replicate", "circular"]):
            base = rng.random() * 0.2
            for distance in np.linspace(0.03, 0.97, 16):
                rows.append({"backbone": backbone, "weights": weights, "pattern": pattern, "padding_rule": rule,
                             "distance": distance, "abs_error": 0.1 + base * distance, "abs_error_std": 0.01})
    return pd.DataFrame(rows)


def location_frame() -> pd.DataFrame:
    """Notebook 06's study 1, with a spread that reaches past 1.0 (valid padding, short stack, 4 px)."""
    rows = []
    stacks = {"1-2-4-1": 17, "1-2-4-8-16-1": 65}
    for rule, (stack, field), distance in itertools.product(["zeros", "valid", "circular"], stacks.items(),
                                                            [0, 4, 8, 16, 32, 48, 56]):
        accuracy = 1.0 if rule != "circular" and distance <= field - 2 else 0.5
        std = 0.21 if (rule, field, distance) == ("valid", 17, 4) else 0.01
        accuracy = 0.85 if std > 0.2 else accuracy
        rows.append({"padding_rule": rule, "dilations": stack, "depth": stack.count("-") + 1, "receptive_field": field,
                     "reach": field - 2, "distance": distance, "distance_rf": distance / field, "accuracy": accuracy,
                     "accuracy_std": std})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the old layouts, rebuilt


def old_bar_plot(summary):
    """bar_plot before the fix: legend at loc='best' inside a 4.5-inch panel."""
    figure, axis = plt.subplots(figsize=(4.5, 3.4))
    width = 0.8 / len(MODELS)
    for index, model in enumerate(MODELS):
        rows = summary[summary["model"] == model].set_index("pattern").reindex(PATTERNS)
        axis.bar([i + (index - (len(MODELS) - 1) / 2) * width for i in range(len(PATTERNS))], rows["spc"], width,
                 yerr=rows["spc_std"], label=model, capsize=2)
    axis.set_xticks(range(len(PATTERNS)), PATTERNS)
    axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def old_line_panels(frame, x, y, hue, col, row=None, ylim=None, xlabel=None):
    """line_panels before the fix: an x label under every panel, the legend inside the last panel."""
    cols = list(dict.fromkeys(frame[col]))
    rows = [None] if row is None else list(dict.fromkeys(frame[row]))
    figure, axes = plt.subplots(len(rows), len(cols), figsize=(3.6 * len(cols), 2.8 * len(rows)), squeeze=False)
    for (r, row_value), (c, col_value) in itertools.product(enumerate(rows), enumerate(cols)):
        axis = axes[r][c]
        part = frame[(frame[col] == col_value) & ((frame[row] == row_value) if row else True)]
        for label, line in part.groupby(hue, sort=False):
            axis.errorbar(line[x], line[y], yerr=line[f"{y}_std"], label=label, marker="o", markersize=3, capsize=2)
        axis.set_xlabel(xlabel or x)
        if ylim:
            axis.set_ylim(*ylim)
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------- tests


@pytest.fixture(autouse=True)
def project_style():
    """The notebooks' plotting style (fonts decide whether labels collide), restored afterwards."""
    with plt.rc_context():
        report.set_style()
        yield
        plt.close("all")


def test_the_check_fails_on_the_old_layouts():
    assert any("legend covers a bar" in p for p in layout_problems(old_bar_plot(table1_frame())))
    rings = rings_frame().assign(model=lambda f: f["backbone"] + "/" + f["weights"])
    old_border = old_line_panels(rings, "distance", "abs_error", "padding_rule", "pattern", row="model",
                                 xlabel="distance to border (0 = border, 1 = centre)")
    assert any("overlap" in p and "distance to border" in p for p in layout_problems(old_border))
    old_location = old_line_panels(location_frame(), "distance", "accuracy", "padding_rule", "depth", ylim=(0.3, 1.02))
    assert any("error bar is cut" in p for p in layout_problems(old_location))


def test_the_natural_spc_bars_of_notebook_02_read_cleanly():
    frame = table1_frame()
    assert layout_problems(report.bar_plot(frame, x="pattern", hue="model", title="Position readout SPC on SOD")) == []


def test_bar_plot_panels_read_cleanly():
    frame = pd.concat([table1_frame().assign(test_set=t) for t in ("SOD", "black", "white")])
    frame = frame[frame["pattern"].isin(["H", "G"])]
    assert layout_problems(report.bar_plot(frame, x="test_set", hue="model", col="pattern", title="SPC")) == []


def test_the_border_errors_of_notebook_04_read_cleanly():
    assert layout_problems(padding_study.plot_border_errors(rings_frame())) == []


def test_the_absolute_location_of_notebook_06_keeps_every_error_bar_whole():
    assert layout_problems(absolute_location.plot_location(location_frame())) == []


@pytest.mark.parametrize("legend_panel", ["last", "first"])
def test_line_panels_read_cleanly(legend_panel):
    frame = rings_frame()
    frame = frame[frame["backbone"] == "vgg16"].assign(model=lambda f: f["backbone"] + "/" + f["weights"])
    figure = report.line_panels(frame, "distance", "abs_error", hue="padding_rule", col="pattern", row="model",
                                yerr="abs_error_std", xlabel="distance to border (0 = border, 1 = centre)",
                                legend_title="padding rule", legend_panel=legend_panel, sharey=False)
    assert layout_problems(figure) == []
