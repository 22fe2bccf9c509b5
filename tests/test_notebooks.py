"""Every notebook runs headless in the smoke profile, and the sources stay clean."""

import json

import pandas as pd
import pytest

from poslib import runner

NOTEBOOKS = runner.list_notebooks()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_source_has_no_outputs_and_one_parameters_cell(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "strip outputs before committing"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "profile" in "".join(tagged[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_the_smoke_profile(notebook, tmp_path, data_root):
    out = runner.run("smoke", [notebook.name[:2]], str(data_root or ""), base=tmp_path, log_output=False)
    record = json.loads((out / "provenance" / f"{notebook.stem}.json").read_text())
    assert record["artefacts"], "a notebook must save at least one table or figure"
    for artefact in record["artefacts"]:
        assert (out / artefact["path"]).is_file()
        if artefact["path"].endswith(".csv"):
            assert len(pd.read_csv(out / artefact["path"])) > 0
    assert (out / "README.md").is_file()


@pytest.mark.notebook
def test_probing_notebook_runs_on_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    out = runner.run("smoke", ["02"], "", base=tmp_path, log_output=False)
    assert out == tmp_path / "runs" / "smoke-embedded"
    executed = (out / "notebooks" / "02_backbone_probing.ipynb").read_text()
    assert "EMBEDDED DEFAULT" in executed
    table = pd.read_csv(out / "tables" / "table1_backbone_probing.csv")
    assert {"backbone", "weights", "test_set", "pattern", "spc", "mae"} <= set(table.columns)
