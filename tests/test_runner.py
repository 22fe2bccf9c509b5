import json
from pathlib import Path

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


# ----------------------------------------------------------------------------- issue 8: parameters (-p)

REAL_01 = runner.NOTEBOOK_DIR / "01_position_patterns.ipynb"
REAL_05 = runner.NOTEBOOK_DIR / "05_saliency_segmentation.ipynb"


def test_p_values_are_converted_to_the_declared_type():
    applied = runner.resolve_overrides([REAL_01], runner.parse_parameter_items(["seed=1", "train_images=embedded"]))
    assert applied == {"01_position_patterns": {"seed": 1, "train_images": "embedded"}}
    assert isinstance(applied["01_position_patterns"]["seed"], int)
    with pytest.raises(ConfigError, match=r"seed='one'.*declares seed as int"):
        runner.resolve_overrides([REAL_01], {"seed": "one"})
    assert runner.convert_parameter("x", "yes", "bool") is True and runner.convert_parameter("x", "2.5", "float") == 2.5


def test_p_refuses_unknown_names_listing_the_valid_ones():
    with pytest.raises(ConfigError, match=r"-p sed: not a parameter of 01_position_patterns; the parameters that "
                                          r"-p can set are \['seed', 'test_images', 'train_images'\]"):
        runner.resolve_overrides([REAL_01], {"sed": "1"})


def test_p_applies_a_parameter_only_to_the_notebooks_that_declare_it(capsys):
    applied = runner.resolve_overrides([REAL_01, REAL_05], {"train_images": "embedded"})
    assert applied["01_position_patterns"] == {"train_images": "embedded"} and applied["05_saliency_segmentation"] == {}
    assert "applies to ['01_position_patterns'] only" in capsys.readouterr().out


@pytest.mark.parametrize("item", ['__import__("os").system("touch x")#=1', "a b=1", "class=1", "1x=2", "seed"])
def test_p_names_must_be_identifiers_before_reaching_a_kernel(item):
    with pytest.raises(ConfigError, match="parameter name|name=value"):
        runner.parse_parameter_items([item])


@pytest.mark.parametrize("name, option", [("profile", "--profile"), ("data_root", "--data"), ("results_dir", "--out")])
def test_p_cannot_set_the_driver_parameters(name, option):
    with pytest.raises(ConfigError, match=f"the driver sets {name}; use {option}"):
        runner.parse_parameter_items([f"{name}=x"])
    with pytest.raises(ConfigError, match=f"use {option}"):
        runner.resolve_overrides([REAL_01], {name: "x"})


# ----------------------------------------------------------------------------- issue 8: output folder


def test_an_unwritable_out_is_a_clear_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=rf"results folder \(--out\) .*cannot be created: {blocker} is a file"):
        runner.ensure_writable(blocker / "out")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(runner.tempfile, "TemporaryFile", refuse)
    with pytest.raises(ConfigError, match=r"results folder \(--out\) .* is not writable \(Permission denied\); "
                                          r"choose another --out"):
        runner.ensure_writable(tmp_path / "ro")
    assert runner.main(["run", "--profile", "smoke", "--only", "01", "--out", str(blocker / "out")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_second_run_into_the_same_folder_is_refused_naming_the_pid(tmp_path):
    import os

    with runner.run_lock(tmp_path):
        with pytest.raises(ConfigError, match=rf"another poslib run \(pid {os.getpid()}\) is writing to"):
            with runner.run_lock(tmp_path):
                pass
    with runner.run_lock(tmp_path):  # released when the first run ends
        pass


def test_stale_staging_folders_of_killed_runs_are_removed(tmp_path):
    import os

    dead = tmp_path / ".staging-01_x-999999999-abcd"
    mine = tmp_path / f".staging-01_x-{os.getpid()}-abcd"
    old_unknown = tmp_path / ".staging-01_x-zz"
    for folder in (dead, mine, old_unknown):
        (folder / "tables").mkdir(parents=True)
        (folder / "tables" / "t.csv").write_text("a\n1\n")
    os.utime(old_unknown, (0, 0))
    removed = runner.clean_stale_staging(tmp_path)
    assert set(removed) == {dead, old_unknown} and mine.exists()


# ----------------------------------------------------------------------------- issue 8: publishing


def _stage(tmp_path, stem, content):
    staging = tmp_path / f".staging-{stem}-1-x"
    for relative in ("figures/f.png", "tables/t.csv", f"notebooks/{stem}.ipynb", f"provenance/{stem}.json"):
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o600)  # as mkstemp creates them
    return staging


def _contents(out):
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}


def test_publish_moves_every_file_with_umask_modes_and_the_record_last(tmp_path):
    import os

    out = tmp_path / "out"
    out.mkdir()
    old = os.umask(0o022)
    try:
        order = runner.publish(_stage(tmp_path, "01_x", "new"), out, "01_x")
    finally:
        os.umask(old)
    assert order[-1] == "provenance/01_x.json" and len(order) == 4
    assert all((out / p).stat().st_mode & 0o777 == 0o644 for p in order)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no journal, no backup left


def test_a_failure_mid_publish_restores_the_previous_files(tmp_path, monkeypatch):
    import os

    out = tmp_path / "out"
    out.mkdir()
    runner.publish(_stage(tmp_path, "01_x", "old"), out, "01_x")
    before = _contents(out)
    replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return replace(source, target)
    monkeypatch.setattr(runner.os, "replace", failing_replace)
    staging = _stage(tmp_path, "01_x", "new")
    (staging / "tables" / "extra.csv").write_text("new")
    with pytest.raises(OSError, match="No space"):
        runner.publish(staging, out, "01_x")
    monkeypatch.setattr(runner.os, "replace", replace)
    assert _contents(out) == before  # no new figure beside old tables; the new-only file is gone too


KILL_AT_THIRD_RENAME = """
import os, signal, sys
from pathlib import Path
from poslib import runner
replace, calls = os.replace, []
def killed(source, target):
    calls.append(target)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return replace(source, target)
runner.os.replace = killed
runner.publish(Path(sys.argv[1]), Path(sys.argv[2]), "01_x")
"""


def test_a_publish_killed_midway_is_rolled_back_by_the_next_run(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    runner.publish(_stage(tmp_path, "01_x", "old"), out, "01_x")
    before = _contents(out)
    staging = _stage(tmp_path, "01_x", "new")
    killed = subprocess.run([sys.executable, "-c", KILL_AT_THIRD_RENAME, str(staging), str(out)],
                            cwd=runner.REPO_ROOT, env={**__import__("os").environ, "PYTHONPATH": str(runner.REPO_ROOT)})
    assert killed.returncode == -9
    assert (out / ".publish-01_x.json").exists()  # the journal says a publish was interrupted
    mixed = _contents(out)
    assert "new" in mixed.values() and "old" in mixed.values()
    assert runner.recover_publishes(out) == ["01_x"]
    assert _contents(out) == before and not (out / ".publish-01_x").exists()
    assert "rolled back the interrupted publish of 01_x" in capsys.readouterr().out


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
