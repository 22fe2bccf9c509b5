"""poslib.publish: writable output, the run lock, stale staging, atomic publish with rollback."""

import pytest

from poslib import publish, runner
from poslib.config import ConfigError


def test_an_unwritable_out_is_a_clear_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=rf"results folder \(--out\) .*cannot be created: {blocker} is a file"):
        publish.ensure_writable(blocker / "out")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(publish.tempfile, "TemporaryFile", refuse)
    with pytest.raises(ConfigError, match=r"results folder \(--out\) .* is not writable \(Permission denied\); "
                                          r"choose another --out"):
        publish.ensure_writable(tmp_path / "ro")
    assert runner.main(["run", "--profile", "smoke", "--only", "01", "--out", str(blocker / "out")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_second_run_into_the_same_folder_is_refused_naming_the_pid(tmp_path):
    import os

    with publish.run_lock(tmp_path):
        with pytest.raises(ConfigError, match=rf"another poslib run \(pid {os.getpid()}\) is writing to"):
            with publish.run_lock(tmp_path):
                pass
    with publish.run_lock(tmp_path):  # released when the first run ends
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
    removed = publish.clean_stale_staging(tmp_path)
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
        order = publish.publish(_stage(tmp_path, "01_x", "new"), out, "01_x")
    finally:
        os.umask(old)
    assert order[-1] == "provenance/01_x.json" and len(order) == 4
    assert all((out / p).stat().st_mode & 0o777 == 0o644 for p in order)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no journal, no backup left


def test_a_failure_mid_publish_restores_the_previous_files(tmp_path, monkeypatch):
    import os

    out = tmp_path / "out"
    out.mkdir()
    publish.publish(_stage(tmp_path, "01_x", "old"), out, "01_x")
    before = _contents(out)
    replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return replace(source, target)
    monkeypatch.setattr(publish.os, "replace", failing_replace)
    staging = _stage(tmp_path, "01_x", "new")
    (staging / "tables" / "extra.csv").write_text("new")
    with pytest.raises(OSError, match="No space"):
        publish.publish(staging, out, "01_x")
    monkeypatch.setattr(publish.os, "replace", replace)
    assert _contents(out) == before  # no new figure beside old tables; the new-only file is gone too


KILL_AT_THIRD_RENAME = """
import os, signal, sys
from pathlib import Path
from poslib import publish
replace, calls = os.replace, []
def killed(source, target):
    calls.append(target)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return replace(source, target)
os.replace = killed
publish.publish(Path(sys.argv[1]), Path(sys.argv[2]), "01_x")
"""


def _publish_killed_midway(tmp_path, old: str, new: str):
    """Publish ``old``, then kill a publish of ``new`` at its third rename; returns the folder and its old contents."""
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    publish.publish(_stage(tmp_path, "01_x", old), out, "01_x")
    before = _contents(out)
    staging = _stage(tmp_path, "01_x", new)
    killed = subprocess.run([sys.executable, "-c", KILL_AT_THIRD_RENAME, str(staging), str(out)],
                            cwd=runner.REPO_ROOT, env={**__import__("os").environ, "PYTHONPATH": str(runner.REPO_ROOT)})
    assert killed.returncode == -9
    assert (out / ".publish-01_x.json").exists()  # the journal says a publish was interrupted
    return out, before


def test_a_publish_killed_midway_is_rolled_back_by_the_next_run(tmp_path, capsys):
    out, before = _publish_killed_midway(tmp_path, "old", "new")
    mixed = _contents(out)
    assert "new" in mixed.values() and "old" in mixed.values()
    assert publish.recover_publishes(out) == ["01_x"]
    assert _contents(out) == before and not (out / ".publish-01_x").exists()
    assert "rolled back the interrupted publish of 01_x" in capsys.readouterr().out


def test_issue_23_9_python_m_poslib_index_rolls_back_a_publish_killed_midway(tmp_path, capsys):
    out, before = _publish_killed_midway(tmp_path, '{"notebook": "01_x", "v": "old"}', '{"notebook": "01_x", "v": "new"}')
    assert runner.main(["index", "--out", str(out)]) == 0  # the index command rolls back first (it did not)
    after = _contents(out)
    after.pop(publish.LOCK_NAME)
    assert "| 01_x " in after.pop("bench/notebooks.md") and after.pop("bench/notebooks.csv")  # regenerated too
    assert after.pop("README.md").count("## 01_x") == 1 and after == before
    assert not (out / ".publish-01_x.json").exists() and not (out / ".publish-01_x").exists()
    assert "rolled back the interrupted publish of 01_x" in capsys.readouterr().out
    with publish.run_lock(out):  # index takes the run lock: it never rolls back under a live run
        assert runner.main(["index", "--out", str(out)]) == 2
    assert "another poslib run" in capsys.readouterr().err
