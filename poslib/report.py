"""Tables, figures, plotting style and the record of where every artefact came from.

A notebook creates one :class:`Results` for its output folder and saves every table and
figure through it. Tables are written as long-format CSV plus a markdown rendering;
figures as PNG; every write is atomic. The :class:`Results` object also keeps the
notebook's part of the provenance record (data, weights, seeds, artefacts) in
``provenance/<notebook>.json``, which the driver (``python -m poslib run``) completes
with profile, parameters, commit and wall time and turns into ``results/README.md``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND") or matplotlib.get_backend())
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import REPO_ROOT  # noqa: E402
from .readout_store import readout_counts  # noqa: E402
from .store import atomic_write_bytes  # noqa: E402
from .work import work_done  # noqa: E402

FIGURE_DPI = 110


def set_style() -> None:
    """The project's one plotting style (seaborn ``whitegrid``, ``colorblind`` palette, fixed dpi)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI, "savefig.bbox": "tight",
                         "image.cmap": "viridis"})


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A markdown rendering of ``frame`` with floats rounded to ``digits``."""
    return frame.to_markdown(index=False, floatfmt=f".{digits}f")


class Results:
    """Output folder of one notebook run.

    Parameters
    ----------
    results_dir : str
        Output folder, absolute or relative to the repository root; ``""`` means
        ``results/interactive/`` (for stepping through a notebook by hand; not committed).
    notebook : str
        Notebook stem, e.g. ``"02_backbone_probing"``.
    """

    def __init__(self, results_dir: str, notebook: str):
        self.root = REPO_ROOT / (results_dir or "results/interactive")  # a relative path is the repository's
        self.notebook = notebook
        self.info: dict = {"notebook": notebook, "artefacts": []}

    def _artefact(self, path: Path, kind: str, caption: str) -> None:
        relative = str(path.relative_to(self.root))
        self.info["artefacts"] = [a for a in self.info["artefacts"] if a["path"] != relative]
        self.info["artefacts"].append({"path": relative, "kind": kind, "caption": caption})
        self._save_info()

    def table(self, frame: pd.DataFrame, name: str, caption: str = "", digits: int = 3) -> None:
        """Save ``frame`` as ``tables/<name>.csv`` and ``tables/<name>.md``."""
        csv_path = self.root / "tables" / f"{name}.csv"
        atomic_write_bytes(csv_path, frame.to_csv(index=False, float_format="%.6g").encode())
        text = (f"{caption}\n\n" if caption else "") + markdown_table(frame, digits) + "\n"
        atomic_write_bytes(self.root / "tables" / f"{name}.md", text.encode())
        self._artefact(csv_path, "table", caption)

    def per_image(self, frame: pd.DataFrame, name: str, caption: str = "") -> None:
        """Save per-image (or per-canvas) rows as ``tables/<name>.parquet`` (zstd-compressed).

        Scores are stored as float32 and repeated labels as categories, so any reader can
        recompute every statistic of the study from them (``pandas.read_parquet``).
        """
        compact = frame.reset_index(drop=True).copy()
        for column in compact.columns:
            if compact[column].dtype == np.float64:
                compact[column] = compact[column].astype(np.float32)
            elif compact[column].dtype == object:
                compact[column] = compact[column].astype(str).astype("category")
        buffer = io.BytesIO()
        compact.to_parquet(buffer, index=False, compression="zstd")
        path = atomic_write_bytes(self.root / "tables" / f"{name}.parquet", buffer.getvalue())
        self._artefact(path, "per-image table", caption)

    def figure(self, figure, name: str, caption: str = "") -> None:
        """Save a matplotlib figure as ``figures/<name>.png``."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        path = atomic_write_bytes(self.root / "figures" / f"{name}.png", buffer.getvalue())
        self._artefact(path, "figure", caption)

    def record(self, **info) -> None:
        """Add provenance fields (data, weights, seeds, skipped rows...)."""
        self.info.update(info)
        self._save_info()

    def _save_info(self) -> None:
        self.info["readouts"] = readout_counts()  # trained and reused from the store, so far in this run
        self.info["work"] = work_done()  # readout FLOPs and seconds, feature-extraction seconds (poslib.work)
        payload = json.dumps(self.info, indent=1, default=str).encode()
        atomic_write_bytes(self.root / "provenance" / f"{self.notebook}.json", payload)


def fmt_pair(spc: float, mae: float) -> str:
    """The paper's cell format, e.g. ``.742/.149``."""
    def one(x: float) -> str:
        if pd.isna(x):
            return "-"
        text = f"{x:.3f}"
        return text.replace("0.", ".", 1) if abs(x) < 1 else text
    return f"{one(spc)}/{one(mae)}"


def wide_view(summary: pd.DataFrame, index: list[str], columns: str) -> pd.DataFrame:
    """Paper-style view: one ``spc/mae`` cell per ``index`` row and ``columns`` value."""
    cells = summary.assign(cell=[fmt_pair(s, m) for s, m in zip(summary["spc"], summary["mae"])])
    table = cells.pivot_table(index=index, columns=columns, values="cell", aggfunc="first", sort=False)
    return table.reset_index().rename_axis(columns=None)


def show_maps(maps, row_labels, column_labels, title: str = "", cmap: str = "viridis", size: float = 1.6):
    """Grid of images: ``maps[r][c]`` is an (H, W) map in [0, 1] or an (H, W, 3) uint8 image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_rows, n_cols = len(maps), len(maps[0])
    figure, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            axis = axes[r][c]
            image = maps[r][c]
            if image is not None:
                axis.imshow(image, cmap=None if getattr(image, "ndim", 2) == 3 else cmap, vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.grid(False)
            if c == 0:
                axis.set_ylabel(row_labels[r], fontsize=8, rotation=0, ha="right", va="center")
            if r == 0:
                axis.set_title(column_labels[c], fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def bar_plot(summary: pd.DataFrame, x: str, hue: str, value: str = "spc", title: str = "", col: str | None = None):
    """Bars of ``value`` with seed-spread error bars (``<value>_std``), one bar group per ``x``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = [None] if col is None else list(dict.fromkeys(summary[col]))
    hues = list(dict.fromkeys(summary[hue]))  # the same colour for a hue in every panel
    legend_width = 0.3 + 0.055 * max((len(str(h)) for h in hues), default=0)  # inches, beside the panels
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels) + legend_width, 3.4), squeeze=False,
                                sharey=True)
    for axis, panel in zip(axes[0], panels):
        part = summary if panel is None else summary[summary[col] == panel]
        xs = list(dict.fromkeys(part[x]))
        width = 0.8 / max(len(hues), 1)
        for h_index, h in enumerate(hues):
            rows = part[part[hue] == h].set_index(x).reindex(xs)
            positions = [i + (h_index - (len(hues) - 1) / 2) * width for i in range(len(xs))]
            axis.bar(positions, rows[value], width, yerr=rows.get(f"{value}_std"), label=str(h), capsize=2)
        axis.set_xticks(range(len(xs)), [str(v) for v in xs])
        axis.set_xlabel(x)
        axis.set_ylabel(value.upper())
        if panel is not None:
            axis.set_title(f"{col} = {panel}")
    outside_legend(axes[0][-1])
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def outside_legend(axis, title: str | None = None, fontsize: float = 7, source=None):
    """A legend right of ``axis``, outside the plotted area, of the lines or bars of ``source`` (default: ``axis``).

    So a legend never covers data; ``figure.tight_layout()`` afterwards makes room for it (an
    axes legend is part of the axes' tight bounding box). ``tests/test_figures.py`` checks that
    legends overlap no bar, line or error bar.
    """
    handles, labels = (source or axis).get_legend_handles_labels()
    return axis.legend(handles, labels, fontsize=fontsize, title=title, title_fontsize=fontsize, loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def model_label(frame: pd.DataFrame) -> pd.Series:
    """``backbone/weights`` of every row: the one name of a probed model in plots and panels."""
    return frame["backbone"] + "/" + frame["weights"]


def spc_panels(summary: pd.DataFrame, x: str, test_set: str, patterns, title: str = ""):
    """:func:`bar_plot` of SPC on one test set: a panel per target in ``patterns``, a bar per model.

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary with backbone, weights, test_set, pattern, spc, spc_std and ``x``.
    x : str
        Column whose values make the bar groups of each panel.
    test_set : str
        The test set shown (usually the natural one).
    patterns : iterable of str
        Targets shown, one panel each, in the order of ``summary``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    part = summary[(summary["test_set"] == test_set) & summary["pattern"].isin(list(patterns))]
    return bar_plot(part.assign(model=model_label(part)), x=x, hue="model", col="pattern", title=title)


def line_panels(frame: pd.DataFrame, x: str, y: str, hue, col: str | None = None, row: str | None = None,
                yerr: str | None = None, band: tuple[str, str] | None = None, col_order=None,
                panel_title=None, panel_title_size: float | None = 9,
                xlabel: str | None = None, ylabel: str | None = None,
                label_every_panel: bool = False, legend_title: str | None = None, legend_panel: str = "last",
                hline: float | None = None, ylim: tuple[float, float] | None = None, categorical_x: bool = False,
                panel_size: tuple[float, float] = (3.6, 2.8), figsize: tuple[float, float] | None = None,
                sharex: bool = False, sharey: bool = True, fixed_colours: bool = False, title: str = ""):
    """Lines with a seed spread (error bars or a band): a panel per ``row`` x ``col`` value, a line per ``hue``.

    The one plot of "a measured quantity against a setting, with its spread" used by the
    notebooks and the experiments.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per point.
    x, y : str
        Columns plotted on the axes.
    hue : str or list of str
        Column(s) naming a line; several columns are joined with ``" / "``.
    col, row : str, optional
        Columns whose values make the panel columns and rows (in order of appearance).
    yerr : str, optional
        Column of error-bar half widths (e.g. ``<y>_std``); missing column: no bars.
    band : (str, str), optional
        Columns of the lower and upper edge of a shaded band around each line.
    col_order : list, optional
        Panel-column values and their order (default: order of appearance).
    panel_title : callable, optional
        ``(row value, col value) -> str``; default: the panel's row and column values.
    panel_title_size : float, optional
        Font size of the panel titles (None: matplotlib's default).
    xlabel, ylabel : str, optional
        Axis labels (default: the column names); with several panel columns the x label is
        written once under the figure.
    label_every_panel : bool
        Put the y label on every panel (default: the first panel column only).
    legend_title : str, optional
    legend_panel : str
        ``"last"`` (beside the last panel of each row) or ``"first"`` (once, beside the first
        row); legends sit outside the panels (:func:`outside_legend`).
    hline : float, optional
        A dotted grey reference line (e.g. chance).
    ylim : (float, float), optional
    categorical_x : bool
        Plot ``x`` as evenly spaced categories (in order of appearance) instead of numbers.
    panel_size : (float, float)
        Width and height of one panel in inches (ignored when ``figsize`` is given).
    figsize : (float, float), optional
    sharex, sharey : bool
    fixed_colours : bool
        Give each hue value one colour in every panel (otherwise each panel's lines take the
        palette in their own order).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    hue_columns = [hue] if isinstance(hue, str) else list(hue)
    labels = frame[hue_columns].astype(str).agg(" / ".join, axis=1)
    frame = frame.assign(_line=labels)
    cols = list(col_order) if col_order is not None else (
        [None] if col is None else list(dict.fromkeys(frame[col])))
    rows = [None] if row is None else list(dict.fromkeys(frame[row]))
    size = figsize or (panel_size[0] * len(cols), panel_size[1] * len(rows))
    figure, axes = plt.subplots(len(rows), len(cols), figsize=size, squeeze=False, sharex=sharex, sharey=sharey)
    colours = dict(zip(dict.fromkeys(labels), sns.color_palette(n_colors=labels.nunique()))) if fixed_colours else {}
    for r, row_value in enumerate(rows):
        for c, col_value in enumerate(cols):
            axis = axes[r][c]
            keep = np.ones(len(frame), dtype=bool)
            if row is not None:
                keep &= (frame[row] == row_value).to_numpy()
            if col is not None:
                keep &= (frame[col] == col_value).to_numpy()
            part = frame[keep]
            ticks = list(dict.fromkeys(part[x])) if categorical_x else None
            for label, line in part.groupby("_line", sort=False):
                if categorical_x:
                    line = line.set_index(x).reindex(ticks).reset_index()
                xs = range(len(ticks)) if categorical_x else line[x]
                style = {"color": colours[label]} if label in colours else {}
                if band is not None:
                    drawn = axis.plot(xs, line[y], marker="o", label=label, **style)
                    axis.fill_between(xs, line[band[0]], line[band[1]], alpha=0.2,
                                      **({"color": drawn[0].get_color()} if style else {}))
                else:
                    axis.errorbar(xs, line[y], yerr=line.get(yerr) if yerr else None, label=label, marker="o",
                                  markersize=3, capsize=2, **style)
            if categorical_x:
                axis.set_xticks(range(len(ticks)), [str(t) for t in ticks])
            if hline is not None:
                axis.axhline(hline, color="grey", linestyle=":", linewidth=1)
            if panel_title is not None:
                axis.set_title(panel_title(row_value, col_value), fontsize=panel_title_size)
            elif col is not None or row is not None:
                axis.set_title(", ".join(str(v) for v in (row_value, col_value) if v is not None),
                               fontsize=panel_title_size)
            if len(cols) == 1:  # several panel columns share one x label (long labels of neighbours collide)
                axis.set_xlabel(xlabel if xlabel is not None else x)
            if label_every_panel or c == 0:
                axis.set_ylabel(ylabel if ylabel is not None else y)
            if ylim is not None:
                axis.set_ylim(*ylim)
        if legend_panel == "last":
            outside_legend(axes[r][-1], legend_title)
    if legend_panel == "first":
        outside_legend(axes[0][-1], legend_title, fontsize=8, source=axes[0][0])  # once, beside the first row
    if len(cols) > 1:
        figure.supxlabel(xlabel if xlabel is not None else x, fontsize=plt.rcParams["axes.labelsize"])
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
