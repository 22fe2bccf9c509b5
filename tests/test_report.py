import json

import matplotlib.pyplot as plt
import pandas as pd

from poslib import reference, report


def test_tables_and_figures_are_written_atomically_with_provenance(tmp_path):
    results = report.Results(str(tmp_path), "99_test")
    frame = pd.DataFrame({"pattern": ["H"], "spc": [0.123456]})
    results.table(frame, "demo", "A demo table.")
    assert pd.read_csv(tmp_path / "tables" / "demo.csv")["spc"].iloc[0] == 0.123456
    assert "0.123" in (tmp_path / "tables" / "demo.md").read_text()
    figure, _ = plt.subplots()
    results.figure(figure, "demo", "A demo figure.")
    results.record(seeds=[0])
    info = json.loads((tmp_path / "provenance" / "99_test.json").read_text())
    assert [a["path"] for a in info["artefacts"]] == ["tables/demo.csv", "figures/demo.png"] and info["seeds"] == [0]
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_paper_reference_tables_are_complete():
    table1 = reference.paper_table1()
    assert len(table1) == 5 * 3 * 4 and (table1["source"] == "paper").all()
    vgg_h = table1.query("backbone == 'vgg16' and pattern == 'H' and test_set == 'natural'")
    assert vgg_h[["spc", "mae"]].values.tolist() == [[0.742, 0.149]]
    assert len(reference.paper_table3()) == 12 and len(reference.paper_table4()) == 15


def test_cell_format_matches_the_paper():
    assert report.fmt_pair(0.742, 0.149) == ".742/.149"
    assert report.fmt_pair(-0.001, 0.233) == "-.001/.233"


def _points():
    return pd.DataFrame({"panel": ["a"] * 4 + ["b"] * 4, "rule": ["zeros", "zeros", "valid", "valid"] * 2,
                         "x": [0, 1] * 4, "y": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                         "y_std": [0.01] * 8, "low": [0.0] * 8, "high": [1.0] * 8})


def test_line_panels_draw_a_panel_per_value_and_a_line_per_hue():
    figure = report.line_panels(_points(), "x", "y", hue="rule", col="panel", yerr="y_std", hline=0.5,
                                fixed_colours=True, panel_title=lambda _, panel: f"panel {panel}")
    axes = figure.axes
    assert len(axes) == 2 and [a.get_title() for a in axes] == ["panel a", "panel b"]
    assert [t.get_text() for t in axes[-1].get_legend().get_texts()] == ["zeros", "valid"]
    colours = [[c.lines[0].get_color() for c in a.containers] for a in axes]
    assert colours[0] == colours[1]  # one colour per rule in every panel
    plt.close(figure)


def test_line_panels_grid_band_and_categorical_x():
    frame = _points().assign(row=lambda f: f["panel"], x=lambda f: f["x"].map({0: "f1", 1: "f2"}))
    figure = report.line_panels(frame, "x", "y", hue=["rule", "panel"], col="rule", row="row", band=("low", "high"),
                                categorical_x=True, legend_panel="first")
    legend = figure.axes[1].get_legend()  # the first panel's lines, beside the first row (outside the panels)
    assert len(figure.axes) == 4 and legend is not None and [t.get_text() for t in legend.get_texts()] == ["zeros / a"]
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["f1", "f2"]
    assert len(figure.axes[0].collections) == 1  # the band of the one line in the panel
    plt.close(figure)


def test_spc_panels_keep_one_test_set_and_the_chosen_targets():
    summary = pd.DataFrame({"backbone": ["vgg16"] * 4, "weights": ["imagenet"] * 4,
                            "test_set": ["nat", "nat", "nat", "black"],
                            "pattern": ["H", "G", "HS", "H"], "depth": [1] * 4, "spc": [0.5] * 4, "spc_std": [0.1] * 4})
    figure = report.spc_panels(summary, "depth", "nat", ["H", "G"])
    assert [a.get_title() for a in figure.axes] == ["pattern = H", "pattern = G"]
    plt.close(figure)
    assert report.model_label(summary).iloc[0] == "vgg16/imagenet"


def _measured(**columns):
    base = {"backbone": ["vgg16"], "weights": ["imagenet"], "test_set": ["nat"], "pattern": ["H"], "spc": [0.7],
            "mae": [0.1]}
    return pd.DataFrame(base | {k: [v] for k, v in columns.items()})


def test_beside_paper_puts_the_papers_numbers_next_to_every_table():
    table3 = reference.beside_paper("table3", _measured(level="f1"), "nat")
    assert table3[["spc_paper", "mae_paper", "paper_weights"]].values.tolist() == [[0.101, 0.249, "imagenet"]]
    table6 = reference.beside_paper("table6", _measured(task="saliency"), "nat")
    assert "paper_weights" not in table6 and table6["spc_paper"].tolist() == [0.969]
    assert len(reference.beside_paper("table2_depth", _measured(depth=1).assign(test_set="other"), "nat")) == 0


def test_beside_paper_stacks_the_paper_rows_of_table5_under_ours():
    measured = pd.DataFrame({"padding_rule": ["zeros"], "test_set": ["ECSSD"], "scored_on": ["shared region"],
                             "metric": ["miou"], "class": ["all"], "value": [0.25], "value_std": [0.01],
                             "n_seeds": [2]})
    table = reference.beside_paper("table5_segmentation", pd.concat([measured, measured.assign(metric="iou")]))
    assert table["source"].tolist() == ["measured", "paper", "paper"]
    assert table["miou_percent"].tolist() == [25.0, 12.3, 23.1] and table["paper_test_set"].iloc[1] == "PASCAL VOC 2012"
    assert list(reference.PAPER_TABLES) == ["table1", "table2_depth", "table2_kernel", "table3", "table4",
                                            "table5_saliency", "table5_segmentation", "table6"]
