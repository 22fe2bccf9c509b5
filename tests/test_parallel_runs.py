"""``python -m poslib run --jobs N``: notebooks at once give the tables of a sequential run, byte for byte.

The comparison run is sequential with the thread count that ``--jobs 2`` gives each kernel
(:func:`poslib.runtime.threads_per_job`): torch's results depend on its thread count (the
order of its reductions), so only that isolates what running notebooks at once changes.
Concurrent writers of one cache entry are tested in ``test_store.py``.
"""

import json

import pandas as pd
import pytest

from poslib import runner
from poslib.config import ConfigError
from poslib.runtime import thread_environment, threads_per_job

from test_runner import WRITE, _notebook


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


#: Both notebooks probe the same network at the same tap (one feature-cache entry, written by whichever
#: finishes first, read by the other) with different readout seeds.
PROBE = ("import torch, poslib\nfrom poslib import report\ntorch.manual_seed(0)\n"
         "cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), "
         "torch.nn.Conv2d(8, 8, 3, padding=1))\n"
         "found = poslib.probe(cnn, taps=['2'], images='smoke', input_size=112, seeds=({seed},), name='cnn')\n"
         "r = report.Results(results_dir, '{stem}')\n"
         "r.table(found.summary, 'summary_{stem}', 'SPC per target')\n"
         "r.per_image(found.per_image, 'per_image_{stem}', 'per-image SPC')\n")


@pytest.mark.notebook
def test_two_notebooks_at_once_give_the_tables_of_a_sequential_run(tmp_path, monkeypatch, capsys):
    """Two notebooks that train readouts (poslib.probe on a small CNN, embedded default), --jobs 2, one cache.

    Small notebooks keep this test cheap; what it checks (worker processes, thread limits, results
    published whole, tables equal to the bit) does not depend on which notebook runs.
    """
    import time

    monkeypatch.delenv("POSLIB_DATA", raising=False)
    folder = tmp_path / "nb"
    folder.mkdir()
    for number, stem in ((1, "01_probe_one"), (2, "02_probe_two")):
        _notebook(folder / f"{stem}.ipynb", PROBE.format(seed=number, stem=stem))
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setenv("POSLIB_CACHE", str(tmp_path / "cache-parallel"))
    started = time.perf_counter()
    parallel = runner.run("smoke", None, "", base=tmp_path / "parallel", log_output=False, jobs=2)
    parallel_s = time.perf_counter() - started
    monkeypatch.setenv("POSLIB_CACHE", str(tmp_path / "cache-sequential"))
    for name, value in thread_environment(threads_per_job(2)).items():
        monkeypatch.setenv(name, value)  # the kernels of the sequential run inherit them
    started = time.perf_counter()
    sequential = runner.run("smoke", None, "", base=tmp_path / "sequential", log_output=False)
    sequential_s = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n[timing] --jobs 2: {parallel_s:.1f} s; sequential ({threads_per_job(2)} thread(s)): "
              f"{sequential_s:.1f} s")
    tables = _files(parallel / "tables")
    assert set(tables) >= {"summary_01_probe_one.csv", "summary_02_probe_two.csv",
                           "per_image_01_probe_one.parquet", "per_image_02_probe_two.parquet"}
    assert tables == _files(sequential / "tables")  # CSV, markdown and parquet, byte for byte
    seeds = [set(pd.read_parquet(parallel / "tables" / f"per_image_{stem}.parquet")["seed"])
             for stem in ("01_probe_one", "02_probe_two")]
    assert seeds == [{1}, {2}]
    for out in (parallel, sequential):
        index = (out / "README.md").read_text()
        assert index.count("re-run in this invocation") == 2
        bench = (out / "bench" / "notebooks.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in bench[1:]] == ["01_probe_one", "02_probe_two", "all"]
        assert not list(out.glob(".staging-*")) and not list(out.glob(".publish-*"))
    work = json.loads((parallel / "provenance" / "02_probe_two.json").read_text())["work"]
    assert work["torch_threads"] == threads_per_job(2) and work["readout_flops"] > 0


def test_a_failing_notebook_among_parallel_ones_is_named_and_the_others_are_published_whole(tmp_path, monkeypatch,
                                                                                           capsys):
    monkeypatch.delenv("POSLIB_DATA", raising=False)
    folder = tmp_path / "nb"
    folder.mkdir()
    _notebook(folder / "01_one.ipynb", WRITE.format(stem="01_one"))
    _notebook(folder / "02_two.ipynb", WRITE.format(stem="02_two").replace("'t'", "'t2'") + "raise ValueError('boom')")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    calls = []
    write_index = runner.write_index
    monkeypatch.setattr(runner, "write_index", lambda *a, **k: calls.append(a) or write_index(*a, **k))
    with pytest.raises(runner.NotebookFailed, match=r"notebook 02_two.ipynb failed: ValueError: boom"):
        runner.run("smoke", None, "", base=tmp_path / "res", log_output=False, jobs=2)
    out = tmp_path / "res" / "runs" / "smoke-embedded"
    assert (out / "tables" / "t.csv").is_file() and (out / "provenance" / "01_one.json").is_file()
    assert not (out / "tables" / "t2.csv").exists() and not (out / "provenance" / "02_two.json").exists()
    assert not list(out.glob(".staging-*")) and not list(out.glob(".publish-*"))
    assert len(calls) == 1  # the index is written once, after every notebook finished
    index = (out / "README.md").read_text()
    assert "re-run in this invocation" in index and "02_two" not in index
    assert "02_two.ipynb FAILED" in capsys.readouterr().out


def test_jobs_below_one_are_refused():
    with pytest.raises(ConfigError, match="--jobs 0"):
        runner.run("smoke", jobs=0)
    assert runner.main(["run", "--profile", "smoke", "--jobs", "0"]) == 2
