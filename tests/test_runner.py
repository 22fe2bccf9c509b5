import json
import os
from pathlib import Path

import nbformat
import pandas as pd
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


def _notebook(path, code, extra_parameters=""):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('profile = "default"\ndata_root = ""\nresults_dir = ""' + extra_parameters)
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
    assert "weight cache" not in index


def test_the_index_says_when_trained_models_came_from_the_cache(tmp_path):
    (tmp_path / "provenance").mkdir()
    record = {"notebook": "05_x", "wall_time_s": 10.0, "training_seeds": [0, 1],
              "models": {"a": {"from_cache": True, "seconds": 30.0}, "b": {"from_cache": False, "seconds": 5.0},
                         "c": {"from_cache": True, "seconds": 12.4}}}
    (tmp_path / "provenance" / "05_x.json").write_text(json.dumps(record))
    index = runner.write_index(tmp_path).read_text()
    assert "2 of 3 trained models loaded from the weight cache: their training, 42 s" in index and "- seeds: [0, 1]" in index


# ----------------------------------------------------------------------------- issue 8: parameters (-p)

REAL_01 = runner.NOTEBOOK_DIR / "01_position_patterns.ipynb"
REAL_05 = runner.NOTEBOOK_DIR / "05_saliency_segmentation.ipynb"


# ----------------------------------------------------------------------------- issue 8.3 / issue 9 through the driver


def _tiny_notebooks(folder, code_02="x = 1"):
    folder.mkdir(exist_ok=True)
    _notebook(folder / "01_one.ipynb", WRITE.format(stem="01_one"), "\nseed = 0")
    _notebook(folder / "02_two.ipynb", code_02)
    return folder


def test_a_failing_notebook_prints_cell_and_message_and_keeps_the_executed_copy(tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.delenv("POSLIB_DATA", raising=False)
    failing = ("# load the masks\nfrom poslib.data import DatasetError\n"
               "raise DatasetError('mask masks/7.png is neither binary nor a soft 8-bit mask')")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", _tiny_notebooks(tmp_path / "nb", failing))
    code = runner.main(["run", "--profile", "smoke", "--only", "02", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "notebook 02_two.ipynb failed: DatasetError: mask masks/7.png is neither binary" in err
    assert "starting: # load the masks" in err
    kept = Path(re.search(r"The executed notebook with the error is at (\S+)", err).group(1))
    assert kept.is_file() and "neither binary" in kept.read_text()
    assert not (tmp_path / "out" / "runs" / "smoke-embedded" / "notebooks").exists()


def test_unchanged_notebooks_are_kept_and_the_index_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    notebooks = _tiny_notebooks(tmp_path / "nb")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", notebooks)
    out = runner.run("smoke", None, "", base=tmp_path / "res", log_output=False)
    first = json.loads((out / "provenance" / "01_one.json").read_text())
    assert set(first["inputs"]["parts"]) == {"notebook", "code", "environment", "parameters", "data"}
    capsys.readouterr()
    runner.run("smoke", None, "", base=tmp_path / "res", log_output=False)
    printed = capsys.readouterr().out
    assert "01_one.ipynb kept (unchanged; last ran" in printed and "02_two.ipynb kept" in printed
    index = (out / "README.md").read_text()
    assert index.count("kept (unchanged) in this invocation") == 2
    _notebook(notebooks / "02_two.ipynb", "x = 2")  # a changed notebook re-runs, the other is kept
    runner.run("smoke", None, "", base=tmp_path / "res", log_output=False)
    printed = capsys.readouterr().out
    assert "running 02_two.ipynb (changed: notebook)" in printed and "01_one.ipynb kept" in printed
    assert "re-run in this invocation" in (out / "README.md").read_text()
    runner.run("smoke", ["01"], "", base=tmp_path / "res", log_output=False, extra={"seed": "3"})
    printed = capsys.readouterr().out
    assert "running 01_one.ipynb (changed: parameters)" in printed
    record = json.loads((out / "provenance" / "01_one.json").read_text())
    assert record["overrides"] == {"seed": 3} and record["parameters"]["seed"] == 3
    assert "not run in this invocation" in (out / "README.md").read_text()
    (out / "tables" / "t.csv").unlink()  # a missing artefact re-runs
    runner.run("smoke", ["01"], "", base=tmp_path / "res", log_output=False, extra={"seed": "3"})
    assert "missing artefacts" in capsys.readouterr().out
    runner.run("smoke", ["01"], "", base=tmp_path / "res", log_output=False, extra={"seed": "3"}, force=True)
    assert "running 01_one.ipynb (--force)" in capsys.readouterr().out


def test_the_index_gives_each_claims_verdict_from_the_claims_tables(tmp_path):
    (tmp_path / "provenance").mkdir()
    (tmp_path / "tables").mkdir()
    assert "Verdicts at a glance" not in runner.write_index(tmp_path).read_text()  # no claims table, no section
    pd.DataFrame({"claim": ["7: padding helps"] * 2 + ["8: tasks differ"] * 2 + ["9: shift"],
                  "backbone_class": ["task network"] * 5,
                  "outcome": ["holds", "inconclusive", "holds", "contradicted", "holds"]}).to_csv(
        tmp_path / "tables" / "claims_7_9.csv", index=False)
    index = runner.write_index(tmp_path).read_text()
    assert "| 7: padding helps | task network | **inconclusive** | 1 holds, 0 contradicted, 1 inconclusive (of 2) |" in index
    assert "| 8: tasks differ | task network | **contradicted** | 1 holds, 1 contradicted, 0 inconclusive (of 2) |" in index
    assert "| 9: shift | task network | **holds** | 1 holds, 0 contradicted, 0 inconclusive (of 1) |" in index


def test_the_data_folder_reaches_the_kernel_as_poslib_data_and_is_shown_so(tmp_path, monkeypatch):
    """A data folder outside the repository is shown as $POSLIB_DATA/..., never as a climb out of it."""
    data = tmp_path / "data"
    data.mkdir()
    code = ("import os\nfrom poslib import config\n"
            "print('SHOWN', config.repo_relative(os.path.join(os.environ['POSLIB_DATA'], 'ECSSD', 'images')))\n")
    notebook = _notebook(tmp_path / "96_data.ipynb", code)
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    runner.run_notebook(notebook, "smoke", str(data), tmp_path / "out", log_output=False)
    executed = (tmp_path / "out" / "notebooks" / "96_data.ipynb").read_text()
    assert "SHOWN $POSLIB_DATA/ECSSD/images" in executed and "../" not in executed.split("SHOWN")[1][:40]
    assert '"data_root": ""' in (tmp_path / "out" / "provenance" / "96_data.json").read_text()
    assert "POSLIB_DATA" not in os.environ  # restored after the run


def test_the_index_names_notebook_05s_task_data_and_the_executed_notebook_once(tmp_path):
    (tmp_path / "provenance").mkdir()
    sets = lambda train, *tests: {"train": {"name": train[0], "n_images": train[1]},  # noqa: E731
                                  "tests": [{"name": n, "n_images": k} for n, k in tests]}
    record = {"notebook": "05_x", "executed_notebook": "notebooks/05_x.ipynb",
              "data": {"saliency": sets(("ECSSD-train", 300), ("ECSSD-test", 200), ("SOD", 274)),
                       "segmentation": sets(("CamVid-train", 367), ("CamVid-test", 233))},
              "images": sets(("ECSSD", 400), ("PASCAL-S", 300))}
    (tmp_path / "provenance" / "05_x.json").write_text(json.dumps(record))
    index = runner.write_index(tmp_path).read_text()
    assert ("- data: saliency: train ECSSD-train (300), test ECSSD-test (200), test SOD (274); segmentation: train "
            "CamVid-train (367), test CamVid-test (233); readouts: train ECSSD (400), test PASCAL-S (300)") in index
    assert index.count("notebooks/05_x.ipynb") == 2  # one link: its text and its target


@pytest.mark.parametrize("notebook", sorted(runner.NOTEBOOK_DIR.glob("0*.ipynb")), ids=lambda p: p.name[:2])
def test_run_all_in_jupyterlab_is_the_smoke_profile_and_the_first_cell_says_so(notebook):
    assert runner.notebook_parameters(notebook)["profile"]["default"] == '"smoke"'
    first = "".join(nbformat.read(notebook, as_version=4).cells[0].source)
    assert "**Run All** runs this notebook in the `smoke` profile" in first and "results/interactive/" in first
    assert 'profile = \\"default\\"' in json.dumps(first) and "make results" in first


def test_the_driver_passes_the_profile_over_the_notebooks_default(tmp_path):
    notebook = _notebook(tmp_path / "95_profile.ipynb", "print('PROFILE', profile)")
    notebook.write_text(notebook.read_text().replace('profile = \\"default\\"', 'profile = \\"smoke\\"'))
    assert runner.notebook_parameters(notebook)["profile"]["default"] == '"smoke"'
    runner.run_notebook(notebook, "default", "", tmp_path / "out", log_output=False)
    assert "PROFILE default" in (tmp_path / "out" / "notebooks" / "95_profile.ipynb").read_text()
