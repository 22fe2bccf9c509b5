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
