"""The one driver for headless runs: papermill over the numbered notebooks, then the index.

``python -m poslib run --profile default`` executes every notebook of ``notebooks/`` with
papermill, passing ``profile`` and a private staging folder (relative to the repository
root) as parameters and the data folder as ``$POSLIB_DATA`` (``data_root`` stays ``""``), so
executed notebooks and provenance hold no absolute local path and show data folders as
``$POSLIB_DATA/ECSSD/images`` (:func:`poslib.config.repo_relative`). Progress bars are turned off for headless runs (``POSLIB_PROGRESS=0``),
so executed notebooks hold no progress-bar text; in JupyterLab they render as widgets.

Where results go
----------------
* profile ``default`` on real datasets -> ``results/`` (what the repository shows);
* anything else -> ``results/runs/<profile>-<datasets|embedded>/``.

So a run on the embedded default (no ``POSLIB_DATA``) or in the smoke profile can never
replace results rendered from the real datasets.

What a run checks and records before executing (``-p`` parameters, the inputs hash that
lets an unchanged notebook be kept) is :mod:`poslib.run_inputs`; how results are published
atomically, under a lock, and cleaned up after killed runs is :mod:`poslib.publish`.

Notebooks at once
-----------------
``--jobs N`` executes N notebooks at once, each in a worker process (spawned) whose kernel
gets ``max(1, cores // N)`` threads (:func:`poslib.runtime.thread_environment`); this
process publishes each one as it finishes (one publish at a time) and writes the index
once, after the last. The notebooks share the content-keyed caches, whose entries have one
writer each (:meth:`poslib.store.CacheEntry.reuse_or_build`). torch's sums depend on its
thread count, so a run with ``--jobs N`` gives the tables of a sequential run with
``cores // N`` threads. The default, 1, runs the notebooks one after another in this
process, with the machine's threads.

Console
-------
What a notebook prints (its stdout and stderr streams, e.g. "rebuilding cache entry ..."
notices) reaches the console one line each, prefixed with the notebook's number; a Python
warning becomes one line ``Category: message`` (without the file path and source line).
Displayed values (tables) are not echoed. The kernel's own log is silenced (the warning that
it runs over TCP without encryption, "KeyboardInterrupt caught in kernel" at shutdown).
``--quiet`` echoes nothing of the notebooks: the console shows the driver's one line per
notebook and errors. The kernel's connection file is written inside the notebook's staging
folder, so a killed run leaves none in the temporary folder (the next run into the same
folder deletes the staging folder).

(About 550 lines: running a notebook, echoing its console, publishing it and scheduling the
notebooks of a run belong together; the results index is :mod:`poslib.index`.)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import DATA_ENV, PROGRESS_ENV, REPO_ROOT, ConfigError, get_profile, portable_text, repo_relative
from .runtime import thread_environment, threads_per_job, usable_relative
from .data import resolve_data_root
from .publish import clean_stale_staging, ensure_writable, publish, recover_publishes, run_lock  # noqa: F401
from .run_inputs import (data_fingerprint, input_fingerprint, notebook_parameters,  # noqa: F401
                         parse_parameter_items, read_record, read_records, resolve_overrides, unchanged_reason)
from .index import rebuild_index, verdicts_at_a_glance, write_index, write_notebook_bench  # noqa: F401
from .store import atomic_write_bytes, clear_dead_temporaries

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
RESULTS_DIR = REPO_ROOT / "results"


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the failing cell, the error and where the executed copy is."""


def list_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, optionally only those whose name starts with one of ``only``.

    Raises
    ------
    ConfigError
        If a selector matches no notebook.
    """
    notebooks = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(s) for s in only)]
    unmatched = [s for s in only if not any(nb.name.startswith(s) for nb in notebooks)]
    if unmatched:
        raise ConfigError(f"--only {unmatched} matches no notebook; notebooks are {[nb.name for nb in notebooks]}")
    return chosen


def output_root(profile: str, uses_datasets: bool, base: Path = RESULTS_DIR, profile_overrides: str = "") -> Path:
    """Where a run's results go (see the module docstring).

    A run with profile field overrides (``profile_overrides``, the JSON the notebooks get)
    goes to ``runs/<profile>-<data>-custom-<hash>/``, never to ``results/`` itself, so a
    default render is never mixed with a changed one.

    Examples
    --------
    >>> output_root("default", True, Path("results")).as_posix()
    'results'
    >>> output_root("default", True, Path("results"), '{"seeds": "0"}').as_posix()
    'results/runs/default-datasets-custom-edc5dd08'
    """
    folder = f"{profile}-{'datasets' if uses_datasets else 'embedded'}"
    if profile_overrides:
        folder += "-custom-" + hashlib.sha256(profile_overrides.encode()).hexdigest()[:8]
    elif profile == "default" and uses_datasets:
        return base
    return base / "runs" / folder


def git_commit() -> dict:
    """Commit of the working tree and whether poslib/ or notebooks/ differ from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--", "poslib", "notebooks"))}


def notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook."""
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("# ").strip()
    return path.stem


# ----------------------------------------------------------------------------- console and kernel

#: Kernel options of headless runs: the kernel's own log (TCP warning, KeyboardInterrupt at shutdown) is silenced.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
_WARNING_LINE = re.compile(r"^.+:\d+: (?P<category>\w*Warning): (?P<message>.*)$")


class ConsoleEcho:
    r"""A write-only stream that echoes a notebook's output to the console, one line each, prefixed.

    A Python warning (``<file>:<line>: <Category>: <message>`` followed by the indented
    source line) becomes one line ``<Category>: <message>``; empty lines are dropped.

    Parameters
    ----------
    prefix : str
        Put before every line (the notebook's number).
    to_stderr : bool
        Write to ``sys.stderr`` instead of ``sys.stdout`` (looked up at each write).

    Examples
    --------
    >>> echo = ConsoleEcho("[01] ")
    >>> _ = echo.write("/x/poslib/a.py:3: UserWarning: look\n  warnings.warn('look')\npart")
    [01] UserWarning: look
    >>> _ = echo.write("ial line\n")
    [01] partial line
    """

    def __init__(self, prefix: str, to_stderr: bool = False):
        self.prefix, self.to_stderr = prefix, to_stderr
        self._pending, self._after_warning = "", False

    def write(self, text: str) -> int:
        """Echo every completed line of ``text``; keep a trailing partial line for the next write."""
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._emit(line.rsplit("\r", 1)[-1])
        return len(text)

    def flush(self) -> None:
        """Echo a pending partial line."""
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def _emit(self, line: str) -> None:
        if self._after_warning and line.startswith(" "):
            self._after_warning = False
            return  # the source line that Python prints under a warning
        warning = _WARNING_LINE.match(line)
        self._after_warning = warning is not None
        if warning:
            line = f"{warning['category']}: {warning['message']}"
        if line.strip():
            print(f"{self.prefix}{line}", file=sys.stderr if self.to_stderr else sys.stdout, flush=True)


def kernel_options(notebook: Path, staging: Path, echo: bool) -> dict:
    """Keyword arguments of ``papermill.execute_notebook`` for a quiet kernel (see "Console" above).

    The kernel's connection file goes to ``<staging>/.kernel/`` (deleted with the staging
    folder); with ``echo`` the notebook's streams go to :class:`ConsoleEcho`, else nowhere.
    """
    from traitlets.config import Config

    runtime = staging / ".kernel"
    runtime.mkdir(exist_ok=True)
    prefix = f"  [{notebook.name[:2]}] "
    return {"log_output": False, "extra_arguments": list(KERNEL_ARGUMENTS),
            "config": Config({"KernelManager": {"connection_file": str(runtime / "kernel.json")}}),
            "stdout_file": ConsoleEcho(prefix) if echo else None,
            "stderr_file": ConsoleEcho(prefix, to_stderr=True) if echo else None}


# ----------------------------------------------------------------------------- parameters (-p)


def scrub_local_paths(executed: Path, staging: Path) -> None:
    """Write the executed notebook's local paths as the published ones, relative to the repository.

    Papermill records where it read and wrote the notebook (``metadata.papermill``); those are
    this machine's absolute paths (the staging folder). They become the notebook's path in
    the repository and its published path; any other mention of the repository or home
    folder becomes ``.`` or ``~`` (:func:`poslib.config.portable_text`).
    """
    text = executed.read_text()
    for local in (usable_relative(staging), str(staging)):  # the injected parameter, then papermill's metadata
        text = text.replace(local, repo_relative(staging.parent))
    atomic_write_bytes(executed, portable_text(text).encode())


def describe_failure(error: Exception) -> str:
    """The failing cell's first line and the error message of a papermill failure (else the exception).

    Examples
    --------
    >>> from papermill.exceptions import PapermillExecutionError
    >>> print(describe_failure(PapermillExecutionError(3, 4, "\\nx = load()\\n", "DatasetError", "bad file a.png", [])))
    DatasetError: bad file a.png
      in cell 3, starting: x = load()
    """
    cell_source = getattr(error, "source", None) or getattr(error, "cell_source", None) or ""
    if not isinstance(cell_source, str):
        cell_source = ""
    name, value = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    first_line = next((line for line in cell_source.splitlines() if line.strip()), "")
    where = f"cell {error.cell_index}, " if getattr(error, "cell_index", None) is not None else "the cell "
    return f"{name}: {value}" + (f"\n  in {where}starting: {first_line}" if first_line else "")


def execute_notebook(notebook: Path, profile: str, data_root: str, out_root: Path, extra: dict | None = None,
                     log_output: bool = True, inputs: dict | None = None) -> tuple[Path, dict]:
    """Execute one notebook with papermill into a staging folder of ``out_root``; publish nothing.

    Parameters are those of :func:`run_notebook`. The kernel inherits this process's
    environment (with ``$POSLIB_PROGRESS=0`` and the data folder as ``$POSLIB_DATA``, both
    restored afterwards), so a worker of :func:`run` sets its thread count before calling.

    Returns
    -------
    staging : Path
        ``<out_root>/.staging-<notebook>-<pid>-<random>``, holding the notebook's files and
        its completed provenance record; :func:`publish` moves them in.
    info : dict
        The completed provenance record.

    Raises
    ------
    NotebookFailed
        If the notebook fails; the staging folder is deleted and the executed copy is kept
        in a temporary folder named in the message.
    """
    import papermill

    ensure_writable(out_root)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{notebook.stem}-{os.getpid()}-", dir=out_root))
    overrides = dict(extra or {})
    # the kernel reads the data folder from $POSLIB_DATA (set below), so results show it as $POSLIB_DATA/...
    parameters = {"profile": profile, "data_root": "", **overrides}
    executed = staging / "notebooks" / notebook.name
    executed.parent.mkdir(parents=True)
    started = time.perf_counter()
    progress_setting, data_setting = os.environ.get(PROGRESS_ENV), os.environ.get(DATA_ENV)
    os.environ[PROGRESS_ENV] = "0"
    if data_root:
        os.environ[DATA_ENV] = str((REPO_ROOT / Path(data_root).expanduser()).resolve())
    console = kernel_options(notebook, staging, log_output)
    try:
        papermill.execute_notebook(str(notebook), str(executed), cwd=str(notebook.parent), kernel_name="python3",
                                   parameters={**parameters, "results_dir": usable_relative(staging)},
                                   progress_bar=False, **console)
    except Exception as error:
        keep = Path(tempfile.mkdtemp(prefix="poslib-failed-")) / notebook.name
        if executed.exists():
            shutil.move(str(executed), keep)
        shutil.rmtree(staging, ignore_errors=True)
        where = f"The executed notebook with the error is at {keep}" if keep.exists() else \
            "The notebook did not start (no executed copy)."
        raise NotebookFailed(f"notebook {notebook.name} failed: {describe_failure(error)}\nNothing was written to "
                             f"{out_root}. {where}") from error
    finally:
        for stream in (console["stdout_file"], console["stderr_file"]):
            if stream is not None:
                stream.flush()
        shutil.rmtree(staging / ".kernel", ignore_errors=True)
        for name, setting in ((PROGRESS_ENV, progress_setting), (DATA_ENV, data_setting)):
            if setting is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = setting
    wall = time.perf_counter() - started
    scrub_local_paths(executed, staging)
    info_path = staging / "provenance" / f"{notebook.stem}.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {"notebook": notebook.stem, "artefacts": []}
    import torch
    info.update({"title": notebook_title(notebook), "profile": profile, "parameters": parameters,
                 "overrides": overrides, "inputs": inputs or {},
                 **git_commit(), "wall_time_s": round(wall, 1),
                 "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "executed_notebook": f"notebooks/{notebook.name}",
                 "platform": {"python": platform.python_version(), "torch": torch.__version__,
                              "device": "cuda" if torch.cuda.is_available() else "cpu",
                              "cpus": os.cpu_count()}})
    atomic_write_bytes(info_path, json.dumps(info, indent=1, default=str).encode())
    return staging, info


def publish_staged(staging: Path, out_root: Path, stem: str) -> None:
    """:func:`publish` a staging folder of :func:`execute_notebook`, then delete what is left of it."""
    try:
        publish(staging, out_root, stem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_notebook(notebook: Path, profile: str, data_root: str, out_root: Path, extra: dict | None = None,
                 log_output: bool = True, inputs: dict | None = None) -> dict:
    """Execute one notebook with papermill and publish its results (:func:`execute_notebook`, :func:`publish`).

    Parameters
    ----------
    notebook : Path
    profile : str
    data_root : str
        The data folder ("" for the embedded default).
    out_root : Path
        Output folder (created; it should be locked by the caller, see :func:`run`).
    extra : dict, optional
        Parameters already resolved against the notebook (:func:`resolve_overrides`).
    log_output : bool
        Echo the notebook's output to the console, one line each (:class:`ConsoleEcho`).
    inputs : dict, optional
        The :func:`input_fingerprint`, recorded in the provenance.

    Returns
    -------
    dict
        The completed provenance record.

    Raises
    ------
    NotebookFailed
        If the notebook fails; the executed copy is kept in a temporary folder named in the message.
    """
    staging, info = execute_notebook(notebook, profile, data_root, out_root, extra, log_output, inputs)
    publish_staged(staging, out_root, notebook.stem)
    return info


def _execute_in_worker(threads: int, arguments: tuple) -> tuple[Path, dict]:
    """:func:`execute_notebook` in a worker process of ``--jobs``, its kernel limited to ``threads`` threads."""
    os.environ.update(thread_environment(threads))
    return execute_notebook(*arguments)


def _run_parallel(tasks: list[tuple[Path, tuple]], jobs: int, out_root: Path, statuses: dict[str, str]) -> None:
    """Execute ``tasks`` (notebook, :func:`execute_notebook` arguments) in ``jobs`` worker processes.

    Each worker's kernel gets ``max(1, cores // jobs)`` threads (:func:`poslib.runtime.thread_environment`).
    This process publishes each notebook as it finishes, one at a time, so publishes never
    interleave. After a failure no further notebook starts; those already running finish and
    are published, then :class:`NotebookFailed` names every failed notebook and those not run.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = threads_per_job(jobs)
    print(f"[poslib] {len(tasks)} notebooks, {jobs} at a time, {threads} torch thread(s) each", flush=True)
    failures: list[str] = []
    # spawn, not fork: a fresh interpreter per worker (this process may hold torch's thread pools)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {pool.submit(_execute_in_worker, threads, arguments): notebook for notebook, arguments in tasks}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                notebook = running.pop(future)
                if future.cancelled():
                    continue
                try:
                    staging, info = future.result()
                except Exception as error:  # noqa: BLE001 - reported below with the notebook's name
                    failures.append(str(error) if isinstance(error, NotebookFailed) else
                                    f"notebook {notebook.name} failed: {type(error).__name__}: {error}")
                    print(f"[poslib] {notebook.name} FAILED", flush=True)
                    for other in running:
                        other.cancel()  # not started yet: stays not run
                    continue
                publish_staged(staging, out_root, notebook.stem)
                statuses[notebook.stem] = "re-run"
                print(f"[poslib] {notebook.name} done in {info['wall_time_s']} s", flush=True)
    if failures:
        not_run = [notebook.name for notebook, _ in tasks
                   if notebook.stem not in statuses and not any(notebook.name in f for f in failures)]
        raise NotebookFailed("\n".join(failures) + (f"\nNot run after the failure: {', '.join(not_run)}."
                                                    if not_run else ""))


def run(profile: str = "default", only: list[str] | None = None, data_root: str = "",
        base: Path = RESULTS_DIR, extra: dict | None = None, log_output: bool = True, force: bool = False,
        jobs: int = 1) -> Path:
    """Run the selected notebooks (those whose inputs changed, or all with ``force``) and regenerate the index.

    Parameters
    ----------
    profile : str
    only : list of str, optional
        Notebook prefixes.
    data_root : str
        Data folder ("" -> ``$POSLIB_DATA`` -> embedded default).
    base : Path
        Results folder (``--out``); the run's folder is :func:`output_root` under it.
    extra : dict, optional
        ``-p`` parameters (strings are converted to the declared types; see :func:`resolve_overrides`).
    log_output : bool
        Echo the notebooks' output.
    force : bool
        Re-run notebooks whose inputs did not change.
    jobs : int
        Notebooks executed at once (``--jobs``), each in a worker process whose kernel gets
        ``max(1, cores // jobs)`` threads; 1 (the default) runs them one after another in
        this process. Notebooks are independent; those running at once share the feature
        cache and the readout store, whose entries have one writer each
        (:meth:`poslib.store.CacheEntry.reuse_or_build`).

    Returns
    -------
    Path
        The output folder.

    Raises
    ------
    ConfigError
        Bad profile, selector, parameter, ``jobs`` below 1, an unwritable output folder, or
        another run holding its lock.
    NotebookFailed
        If a notebook fails (naming it). Notebooks that finished are published whole; no
        further notebook starts.

    Notes
    -----
    The index (``README.md``) and the per-notebook benchmark (``bench/notebooks.md``,
    :func:`poslib.index.write_notebook_bench`) are written once, after the last notebook,
    also when one failed.
    """
    get_profile(profile)
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give 1 (one notebook at a time) or more")
    root = resolve_data_root(data_root)
    data_root = str(root) if root else ""
    notebooks = list_notebooks(only)
    overrides = resolve_overrides(notebooks, extra, profile)
    profile_overrides = next((o["profile_overrides"] for o in overrides.values() if "profile_overrides" in o), "")
    out_root = output_root(profile, root is not None, Path(base), profile_overrides)
    ensure_writable(out_root)
    print(f"[poslib] profile {profile}; data: {data_root or 'embedded default'}; results -> {out_root}")
    statuses: dict[str, str] = {}
    with run_lock(out_root):
        recover_publishes(out_root)
        clean_stale_staging(out_root)
        for folder in (out_root, *(out_root / sub for sub in ("tables", "figures", "provenance", "notebooks"))):
            clear_dead_temporaries(folder)
        data_hash = data_fingerprint(root)
        tasks = []
        for notebook in notebooks:
            inputs = input_fingerprint(notebook, profile, root, overrides[notebook.stem], data_hash)
            record = read_record(out_root, notebook.stem)
            reason = "--force" if force else unchanged_reason(record, inputs, out_root)
            if reason is None:
                statuses[notebook.stem] = "kept (unchanged)"
                print(f"[poslib] {notebook.name} kept (unchanged; last ran {record.get('finished', '?')})", flush=True)
                continue
            print(f"[poslib] {'running' if jobs == 1 else 'to run'} {notebook.name} ({reason}) ...", flush=True)
            arguments = (notebook, profile, data_root, out_root, overrides[notebook.stem], log_output, inputs)
            if jobs == 1:
                info = run_notebook(*arguments)
                statuses[notebook.stem] = "re-run"
                print(f"[poslib] {notebook.name} done in {info['wall_time_s']} s", flush=True)
            else:
                tasks.append((notebook, arguments))
        try:
            if tasks:
                _run_parallel(tasks, min(jobs, len(tasks)), out_root, statuses)
        finally:
            write_index(out_root, statuses)
            write_notebook_bench(out_root)
    return out_root


def main_run(args) -> int:
    """Entry point of ``python -m poslib run``."""
    extra = parse_parameter_items(args.param)
    run(args.profile, args.only, args.data or "", Path(args.out), extra, not args.quiet, force=args.force,
        jobs=args.jobs)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m poslib {run,bench,index}``; errors are printed as one message and exit with status 2."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m poslib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="execute notebooks headless with papermill")
    run_parser.add_argument("--profile", default="default",
                            help="smoke (the tests and CI: minutes for all seven notebooks) | default (the rendered "
                                 "study: hours on a 2-core CPU; the default) | paper (the paper's scale, for a GPU)")
    run_parser.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 01 02")
    run_parser.add_argument("--data", help="dataset folder (default: $POSLIB_DATA, else the embedded default)")
    run_parser.add_argument("--out", default=str(RESULTS_DIR),
                            help="results base folder (default: results/): profile default on datasets writes to OUT "
                                 "itself, every other run to OUT/runs/<profile>-<datasets|embedded>[-custom-<hash>]/")
    run_parser.add_argument("-p", "--param", action="append",
                            help="notebook parameter name=value (a name from the notebook's parameters cell; "
                                 "converted to its declared type), or a profile field by its path "
                                 "(-p seeds=0,1 -p padding_study.readout_paddings=0,1; results then go to "
                                 "runs/<profile>-<data>-custom-<hash>/)")
    run_parser.add_argument("--force", action="store_true", help="re-run notebooks whose inputs did not change")
    run_parser.add_argument("--jobs", type=int, default=1,
                            help="notebooks executed at once, each kernel with max(1, cores // JOBS) torch threads "
                                 "(default 1: one after another; on a 2-core machine keep 1)")
    run_parser.add_argument("--quiet", action="store_true",
                            help="do not echo notebook output (only the driver's line per notebook, and errors)")
    index_parser = commands.add_parser("index", help="regenerate results/README.md from provenance records")
    index_parser.add_argument("--out", default=str(RESULTS_DIR), help="the results folder whose index to rebuild")
    bench_parser = commands.add_parser("bench", help="benchmark the Table-1 workload into results/bench/ "
                                                     "(README, Design: what it measures)")
    bench_parser.add_argument("--n-train", type=int, default=200)
    bench_parser.add_argument("--n-test", type=int, default=50)
    bench_parser.add_argument("--naive-n-train", type=int, default=24)
    bench_parser.add_argument("--data", default="")
    bench_parser.add_argument("--feature-compute", action="store_true",
                              help="measure float32 against bfloat16 frozen forward passes instead "
                                   "(results/bench/feature_compute.md)")
    bench_parser.add_argument("--out", default=str(RESULTS_DIR / "bench"), help="output folder (default: results/bench/)")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return main_run(args)
        if args.command == "index":
            print(rebuild_index(Path(args.out)))
            return 0
        from .bench import main_bench
        return main_bench(args)
    except (ConfigError, RuntimeError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
