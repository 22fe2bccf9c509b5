"""The paper's reported numbers, typed from its tables as reference data.

These values are *the paper's*, not measurements of this project; tables that show them
label them ``source = "paper"``. Names follow this project's registry: ``pixels`` is
the paper's PosENet (no backbone), padding ``valid`` its "w/o padding", and the paper's
VGG16 / ResNet152 are ImageNet-trained. The paper's natural test set (PASCAL-S) is called ``natural`` here.
The paper's stripe (HS, VS) MAEs exceed 0.5, which a [0, 1] prediction of a [0, 1]
cosine only reaches when far off; treat them as not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from .config import RAW_PIXELS

_TABLE1_TEXT = """
H none .012/.251 .0/.251 .0/.251 .001/.251
H vgg16 .742/.149 .751/.164 .873/.157 .591/.173
H resnet152 .933/.084 .987/.080 .994/.078 .973/.077
V none .131/.248 .0/.251 .0/.251 .053/.250
V vgg16 .816/.129 .846/.146 .927/.138 .771/.150
V resnet152 .951/.083 .978/.069 .979/.072 .968/.074
G none -.001/.233 .0/.186 .0/.186 -.034/.214
G vgg16 .814/.109 .842/.123 .898/.116 .762/.129
G resnet152 .936/.070 .953/.068 .964/.064 .971/.055
HS none -.001/.712 -.055/.704 .0/.704 .023/.710
HS vgg16 .405/.556 .532/.583 .576/.574 .375/.573
HS resnet152 .534/.528 .566/.518 .562/.515 .471/.530
VS none .006/.723 .081/.709 .081/.709 .018/.714
VS vgg16 .374/.567 .538/.575 .437/.578 .526/.566
VS resnet152 .520/.537 .574/.523 .593/.514 .523/.545
"""

_TABLE2_DEPTH_TEXT = """
H 1 none .012/.251
H 2 none .056/.250
H 3 none .055/.250
G 1 none -.001/.233
G 2 none .067/.187
G 3 none .126/.186
HS 1 none -.001/.712
HS 2 none -.006/.628
HS 3 none .003/.628
H 1 vgg16 .742/.149
H 2 vgg16 .797/.128
H 3 vgg16 .830/.117
G 1 vgg16 .814/.109
G 2 vgg16 .828/.105
G 3 vgg16 .835/.104
HS 1 vgg16 .405/.556
HS 2 vgg16 .483/.538
HS 3 vgg16 .491/.540
"""

_TABLE2_KERNEL_TEXT = """
H 1 none .013/.251
H 3 none .012/.251
H 7 none .060/.250
G 1 none .017/.188
G 3 none -.001/.233
G 7 none .068/.187
HS 1 none -.004/.628
HS 3 none -.001/.723
HS 7 none .002/.628
H 1 vgg16 .542/.196
H 3 vgg16 .742/.149
H 7 vgg16 .828/.120
G 1 vgg16 .724/.127
G 3 vgg16 .814/.109
G 7 vgg16 .816/.111
HS 1 vgg16 .317/.576
HS 3 vgg16 .405/.556
HS 7 vgg16 .487/.532
"""

_TABLE3_TEXT = """
H f1 .101/.249
H f2 .344/.225
H f3 .472/.203
H f4 .610/.181
H f5 .657/.177
H all .742/.149
G f1 .241/.182
G f2 .404/.168
G f3 .588/.146
G f4 .653/.138
G f5 .693/.135
G all .814/.109
"""

_TABLE4_TEXT = """
none zeros 0 H .012/.251
none zeros 0 G -.001/.233
none zeros 0 HS -.001/.712
none zeros 1 H .274/.239
none zeros 1 G .205/.184
none zeros 1 HS .148/.608
none zeros 2 H .397/.223
none zeros 2 G .380/.177
none zeros 2 HS .214/.595
vgg16 zeros 0 H .742/.149
vgg16 zeros 0 G .814/.109
vgg16 zeros 0 HS .405/.556
vgg16 none 0 H .381/.223
vgg16 none 0 G .359/.174
vgg16 none 0 HS .011/.628
"""

_TABLE6_TEXT = """
H classification .742/.149
H saliency .969/.055
H segmentation .982/.038
G classification .814/.109
G saliency .948/.067
G segmentation .971/.055
HS classification .405/.556
HS saliency .667/.476
HS segmentation .810/.430
"""

#: Table 5 (a): salient object detection, VGG trained from scratch on MSRA (F-measure, MAE).
PAPER_TABLE5_SALIENCY = pd.DataFrame(
    [("ECSSD", "valid", .36, .48), ("ECSSD", "zeros", .78, .17), ("PASCAL-S", "valid", .32, .48),
     ("PASCAL-S", "zeros", .66, .21), ("DUT-OMRON", "valid", .25, .48), ("DUT-OMRON", "zeros", .63, .18)],
    columns=["test_set", "padding_rule", "f_measure", "mae"]).assign(source="paper")
#: Table 5 (b): semantic segmentation, VGG16 on PASCAL VOC 2012 (mIoU in %).
PAPER_TABLE5_SEGMENTATION = pd.DataFrame(
    [("PASCAL VOC 2012", "valid", 12.3), ("PASCAL VOC 2012", "zeros", 23.1)],
    columns=["test_set", "padding_rule", "miou_percent"]).assign(source="paper")


#: The papers' word "none" in the typed tables, as this project's names.
_NAMES = {"backbone": {"none": RAW_PIXELS}, "padding_rule": {"none": "valid"}}


def _project_names(frame: pd.DataFrame) -> pd.DataFrame:
    for column, mapping in _NAMES.items():
        if column in frame.columns:
            frame[column] = frame[column].replace(mapping)
    return frame


def _pairs(token: str) -> tuple[float, float]:
    spc, mae = token.split("/")
    return float(spc), float(mae)


def paper_table1() -> pd.DataFrame:
    """Table 1: SPC / MAE per pattern, backbone and test set (long format)."""
    rows = []
    for line in _TABLE1_TEXT.strip().splitlines():
        pattern, backbone, *cells = line.split()
        for test_set, cell in zip(("natural", "black", "white", "noise"), cells):
            spc, mae = _pairs(cell)
            rows.append({"backbone": backbone, "weights": "none" if backbone == "none" else "imagenet",
                         "test_set": test_set, "pattern": pattern, "spc": spc, "mae": mae})
    return _project_names(pd.DataFrame(rows).assign(source="paper"))


def _simple(text: str, names: list[str]) -> pd.DataFrame:
    rows = []
    for line in text.strip().splitlines():
        *keys, cell = line.split()
        spc, mae = _pairs(cell)
        rows.append(dict(zip(names, keys)) | {"spc": spc, "mae": mae})
    return _project_names(pd.DataFrame(rows).assign(source="paper", test_set="natural"))


def paper_table2_depth() -> pd.DataFrame:
    """Table 2 (a): readout depth (3x3 kernel), natural test set."""
    frame = _simple(_TABLE2_DEPTH_TEXT, ["pattern", "depth", "backbone"])
    return frame.astype({"depth": int})


def paper_table2_kernel() -> pd.DataFrame:
    """Table 2 (b): readout kernel size (one layer), natural test set."""
    frame = _simple(_TABLE2_KERNEL_TEXT, ["pattern", "kernel_size", "backbone"])
    return frame.astype({"kernel_size": int})


def paper_table3() -> pd.DataFrame:
    """Table 3: VGG16 (ImageNet), one tapped level at a time, natural test set."""
    return _simple(_TABLE3_TEXT, ["pattern", "taps"]).assign(backbone="vgg16", weights="imagenet")


def paper_table4() -> pd.DataFrame:
    """Table 4: backbone padding (zeros / none) and readout padding (0, 1, 2)."""
    frame = _simple(_TABLE4_TEXT, ["backbone", "padding_rule", "readout_padding", "pattern"])
    return frame.astype({"readout_padding": int})


def paper_table6() -> pd.DataFrame:
    """Table 6: VGG trained for classification, saliency or segmentation, natural test set."""
    return _simple(_TABLE6_TEXT, ["pattern", "task"]).assign(backbone="vgg16")


def compare_with_paper(ours: pd.DataFrame, paper: pd.DataFrame, keys: list[str], natural_test: str,
                       test_roles: bool = False) -> pd.DataFrame:
    """Measured rows next to the paper's numbers for the same keys: the one comparison join.

    The paper's backbones are ImageNet-trained; its weights appear in ``paper_weights``
    so a row probed with other weights (random init) is never mistaken for a match.

    Parameters
    ----------
    ours : pandas.DataFrame
        Summary with ``test_set``, ``weights``, ``spc``, ``mae`` and ``keys``.
    paper : pandas.DataFrame
        A table of this module (its natural test set is called ``natural``).
    keys : list of str
        Columns to match on besides the test set.
    natural_test : str
        Name of our natural test set.
    test_roles : bool
        Keep every test set of ``ours`` and match synthetic ones by name (Table 1's black,
        white, noise); otherwise keep the natural test set only.

    Returns
    -------
    pandas.DataFrame
        ``ours`` plus ``paper_weights``, ``spc_paper``, ``mae_paper`` (empty where the
        paper has no number).
    """
    if not test_roles:
        ours = ours[ours["test_set"] == natural_test]
    paper = paper.assign(paper_weights=paper.get("weights", pd.Series(index=paper.index, dtype=object)))
    paper["paper_weights"] = paper["paper_weights"].fillna(
        paper["backbone"].map(lambda b: "none" if b == RAW_PIXELS else "imagenet"))
    part = paper[keys + ["test_set", "paper_weights", "spc", "mae"]].rename(
        columns={"spc": "spc_paper", "mae": "mae_paper", "test_set": "test_role"})
    for key in keys:
        if key in ours.columns:
            part[key] = part[key].astype(ours[key].dtype)
    role = ours["test_set"].where(ours["test_set"] != natural_test, "natural")
    merged = ours.assign(test_role=role).merge(part, on=keys + ["test_role"], how="left")
    return merged.drop(columns="test_role")


@dataclass(frozen=True)
class PaperTable:
    """How one of this project's tables sits next to the paper's numbers.

    Attributes
    ----------
    paper : callable
        ``() -> DataFrame``: the paper's rows in this project's names and units.
    keys : tuple of str
        Columns matched besides the test set (layout ``"columns"``).
    layout : str
        ``"columns"``: the paper's SPC / MAE beside each measured row
        (:func:`compare_with_paper`); ``"rows"``: the paper's rows under the measured rows,
        told apart by ``source`` (the paper's test set in ``paper_test_set``).
    test_roles : bool
        Layout ``"columns"``: keep synthetic test sets and match them by name.
    paper_weights : bool
        Layout ``"columns"``: keep the ``paper_weights`` column.
    measured : tuple of str
        Layout ``"rows"``: the measured columns shown.
    prepare : callable, optional
        Layout ``"rows"``: puts the measured table into the paper's units first.
    """

    paper: Callable[[], pd.DataFrame]
    keys: tuple[str, ...] = ()
    layout: str = "columns"
    test_roles: bool = False
    paper_weights: bool = True
    measured: tuple[str, ...] = ()
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def _miou_percent(table: pd.DataFrame) -> pd.DataFrame:
    """The mIoU rows of a Table 5 (b) summary in percent, as the paper reports them."""
    return table[table["metric"] == "miou"].assign(miou_percent=lambda f: 100 * f["value"],
                                                   miou_percent_std=lambda f: 100 * f["value_std"])


#: Every table of this project that is shown next to the paper, by name.
PAPER_TABLES = {
    "table1": PaperTable(paper_table1, ("backbone", "pattern"), test_roles=True),
    "table2_depth": PaperTable(paper_table2_depth, ("backbone", "pattern", "depth")),
    "table2_kernel": PaperTable(paper_table2_kernel, ("backbone", "pattern", "kernel_size")),
    "table3": PaperTable(lambda: paper_table3().rename(columns={"taps": "level"}), ("backbone", "pattern", "level")),
    "table4": PaperTable(paper_table4, ("backbone", "padding_rule", "readout_padding", "pattern")),
    "table5_saliency": PaperTable(
        lambda: PAPER_TABLE5_SALIENCY.rename(columns={"f_measure": "max_f"}), layout="rows",
        measured=("padding_rule", "test_set", "scored_on", "max_f", "max_f_std", "mae", "mae_std", "n_seeds")),
    "table5_segmentation": PaperTable(
        lambda: PAPER_TABLE5_SEGMENTATION, layout="rows", prepare=_miou_percent,
        measured=("padding_rule", "test_set", "scored_on", "miou_percent", "miou_percent_std", "n_seeds")),
    "table6": PaperTable(paper_table6, ("task", "pattern"), paper_weights=False),
}


def beside_paper(table: str, ours: pd.DataFrame, natural_test: str = "") -> pd.DataFrame:
    """A measured table next to the paper's numbers: the one paper join of Tables 1-6.

    Parameters
    ----------
    table : str
        A key of :data:`PAPER_TABLES` (``"table1"``, ``"table2_depth"``, ...,
        ``"table5_saliency"``, ``"table5_segmentation"``, ``"table6"``).
    ours : pandas.DataFrame
        The measured summary, as saved on its own.
    natural_test : str
        Name of our natural test set (the paper's is PASCAL-S); not needed by the tables
        whose paper rows stand under the measured ones (Table 5).

    Returns
    -------
    pandas.DataFrame
        Layout ``"columns"``: :func:`compare_with_paper` (natural test set, or every test set
        for Table 1). Layout ``"rows"``: the measured columns with ``source = "measured"``,
        then the paper's rows with ``source = "paper"`` and their test set in ``paper_test_set``.

    Raises
    ------
    KeyError
        If ``table`` is not in :data:`PAPER_TABLES`.
    """
    spec = PAPER_TABLES[table]
    if spec.layout == "rows":
        measured = (spec.prepare(ours) if spec.prepare else ours)[list(spec.measured)].assign(source="measured")
        paper = spec.paper().rename(columns={"test_set": "paper_test_set"})
        return pd.concat([measured, paper], ignore_index=True)
    joined = compare_with_paper(ours, spec.paper(), list(spec.keys), natural_test, test_roles=spec.test_roles)
    return joined if spec.paper_weights else joined.drop(columns="paper_weights")
