import json

import nbformat
import pytest

from poslib import runner
from poslib.config import ConfigError


def test_embedded_or_smoke_runs_never_land_in_results_root(tmp_path):
    assert runner.output_root("default", True, tmp_path) == tmp_path
    assert runner.output_root("default", False, tmp_path) == tmp_path / "runs" / "default-embedded"
    assert runner.output_root("smoke", True, tmp_path) == tmp_path / "runs" / "smoke-datasets"


def test_unknown_notebook_selector_and_profile_are_refused():
    with pytest.raises(ConfigError, match="99"):
        runner.list_notebooks(["99"])
    with pytest.raises(ConfigError, match="profile"):
        runner.run(profile="huge")


def _notebook(path, code):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('profile = "default"\ndata_root = ""\nresults_dir = ""')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell("# A test notebook"), parameters, nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)
    return path


WRITE = ("from poslib import report\nimport pandas as pd\n"
         "r = report.Results(results_dir, '{stem}')\nr.table(pd.DataFrame({{'a': [1]}}), 't', 'cap')\n")


def test_a_failing_notebook_leaves_nothing_behind(tmp_path):
    notebook = _notebook(tmp_path / "98_fails.ipynb", WRITE.format(stem="98_fails") + "raise ValueError('boom')")
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="Nothing was written"):
        runner.run_notebook(notebook, "smoke", "", out, log_output=False)
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_a_successful_notebook_is_published_with_provenance_and_index(tmp_path):
    notebook = _notebook(tmp_path / "97_works.ipynb", WRITE.format(stem="97_works"))
    out = tmp_path / "out"
    info = runner.run_notebook(notebook, "smoke", "", out, log_output=False)
    assert (out / "tables" / "t.csv").exists() and (out / "notebooks" / "97_works.ipynb").exists()
    assert info["title"] == "A test notebook" and info["profile"] == "smoke" and "commit" in info
    index = runner.write_index(out).read_text()
    assert "A test notebook" in index and "tables/t.csv" in index
    assert json.loads((out / "provenance" / "97_works.json").read_text())["wall_time_s"] >= 0
