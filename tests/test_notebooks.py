"""Every notebook runs headless in the smoke profile, and the sources stay clean."""

import json
import re

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


#: What must never appear in rendered results (the same patterns as the repository's pre-stop check).
LOCAL_PATH = re.compile(r'["\'(\s]/(work|tmp|root|home|Users)/[^"\'\s]*')
PROGRESS_TEXT = re.compile(r"\d+/\d+ \[\d\d:\d\d<")


def assert_clean_rendered_text(text: str, name) -> None:
    """Fail naming ``name`` when rendered text shows a local path or progress-bar text."""
    local = LOCAL_PATH.search(text)
    assert not local, f"absolute local path in {name}: {local.group(0)}"
    assert not PROGRESS_TEXT.search(text), f"progress-bar text in {name}"


#: Claims table of each notebook and the claims it must check.
CLAIMS = {"02": ("claims_1_3", {"1", "2", "3"}), "03": ("claims_4_5", {"4", "5"}), "04": ("claims_6", {"6"}),
          "05": ("claims_7_9", {"7", "8", "9"}), "07": ("claims_contrast", {"C1"})}


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
        if artefact["path"].endswith(".parquet"):
            rows = pd.read_parquet(out / artefact["path"])
            assert len(rows) > 0 and "seed" in rows.columns
            if artefact["path"].endswith("_per_canvas.parquet"):  # generated canvases: each answer, right or wrong
                assert {"canvas", "label", "predicted", "correct"} <= set(rows.columns)
            elif "pattern" in rows.columns:  # position readouts
                assert {"test_set", "image", "image_id", "spc", "mae"} <= set(rows.columns)
            else:  # task networks (Table 5)
                assert {"padding_rule", "test_set", "scored_on", "image", "image_id"} <= set(rows.columns)
    assert (out / "README.md").is_file()
    for path in [out / "notebooks" / notebook.name, out / "provenance" / f"{notebook.stem}.json", out / "README.md"]:
        assert_clean_rendered_text(path.read_text(), path.name)
    prefix = notebook.name[:2]
    if prefix == "01":  # both controls must behave, or nothing later means anything
        controls = pd.read_csv(out / "tables" / "controls_01.csv")
        assert set(controls["control"]) == {"coordinate channels", "raw pixels"} and controls["holds"].all()
    if prefix in CLAIMS:
        name, expected = CLAIMS[prefix]
        checks = pd.read_csv(out / "tables" / f"{name}.csv")
        assert {claim.split(":")[0] for claim in checks["claim"]} >= expected
        assert checks["outcome"].isin(["holds", "contradicted", "inconclusive"]).all()
        assert checks["evidence"].str.len().min() > 0 and (checks["low"] <= checks["high"]).all()
        assert {"difference", "low", "high", "n_images", "n_seeds", "rule"} <= set(checks.columns)
    if prefix in ("02", "03", "04", "05", "06", "07"):  # per-image rows are kept next to the summaries
        assert any(a["path"].endswith("_per_image.parquet") for a in record["artefacts"])
    if prefix == "06":  # and the answer on every synthetic canvas (studies B1, B2)
        assert sum(a["path"].endswith("_per_canvas.parquet") for a in record["artefacts"]) == 2


@pytest.mark.notebook
def test_probing_notebook_runs_on_the_embedded_default_with_profile_fields_set_from_the_driver(tmp_path, monkeypatch):
    """One run checks both: notebook 02 without datasets, and -p fields reaching it and their own folder."""
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    out = runner.run("smoke", ["02"], "", base=tmp_path, log_output=False, extra={"seeds": "0,1", "epochs": "2"})
    assert out.parent == tmp_path / "runs" and out.name.startswith("smoke-embedded-custom-")
    executed = (out / "notebooks" / "02_backbone_probing.ipynb").read_text()
    assert "EMBEDDED DEFAULT" in executed
    record = json.loads((out / "provenance" / "02_backbone_probing.json").read_text())
    assert record["resolved_profile"]["seeds"] == [0, 1] and record["resolved_profile"]["epochs"] == 2
    assert record["resolved_profile"]["overrides"] == [["epochs", "2"], ["seeds", "0,1"]]
    table = pd.read_csv(out / "tables" / "table1_backbone_probing.csv")
    assert {"backbone", "weights", "test_set", "pattern", "spc", "mae"} <= set(table.columns)
    assert set(table["n_seeds"]) == {2}
