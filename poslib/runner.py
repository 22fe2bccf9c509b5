"""The one driver for headless runs: papermill over the numbered notebooks, then the index.

``python -m poslib run --profile default`` executes every notebook of ``notebooks/`` with
papermill, passing ``profile``, ``data_root`` and a private staging folder as parameters
(both paths relative to the repository root, so executed notebooks and provenance hold no
absolute local path). Progress bars are turned off for headless runs (``POSLIB_PROGRESS=0``),
so executed notebooks hold no progress-bar text; in JupyterLab they render as widgets.

Where results go
----------------
* profile ``default`` on real datasets -> ``results/`` (what the repository shows);
* anything else -> ``results/runs/<profile>-<datasets|embedded>/``.

So a run on the embedded default (no ``POSLIB_DATA``) or in the smoke profile can never
replace results rendered from the real datasets.

Parameters (``-p key=value``)
-----------------------------
``-p`` sets a parameter *declared in the notebook's* ``parameters`` *cell* (read with
``papermill.inspect_notebook``): a name no selected notebook declares is an error listing the
valid ones; names must be Python identifiers (checked before anything reaches a kernel);
values are converted to the declared type (``int``, ``float``, ``bool``, ``str``); the
driver's own parameters ``profile``, ``data_root`` and ``results_dir`` are set with
``--profile``, ``--data`` and ``--out`` only. A parameter declared by some of the selected
notebooks is passed to those (the driver says so). The provenance records what was applied
(``overrides``).

Publishing: what a reader can see
---------------------------------
A notebook writes its tables, figures and provenance into a staging folder
``<out>/.staging-<notebook>-<pid>-<random>``. If it fails, nothing is published: the
staging folder is deleted and the executed notebook (with the error) is kept in a temporary
folder named in the message. If it succeeds, :func:`publish` moves its files in:

1. a journal ``<out>/.publish-<notebook>.json`` is written, listing every file and whether a
   previous version existed;
2. each file replaces its target by one atomic rename, after a hard link of the previous
   version was kept in ``<out>/.publish-<notebook>/`` -- the data files and the executed
   notebook first, the notebook's provenance record ``provenance/<notebook>.json`` last;
3. deleting the journal is the commit; then the backups are removed and the index
   (``README.md``) is regenerated.

Guarantee, honestly: every single file is always complete (old or new, never half
written). During the publish itself (milliseconds: renames within one file system) a reader
that lists the folder can see new data files beside the previous provenance record; the
journal exists exactly during that window, so a careful reader can detect it, and the
provenance record and index, which say what the files are, change last. If publishing
fails with an exception, the previous files are restored before the error is raised. If the
process is killed mid-publish, the journal remains, and the next run into that folder
(under its lock) rolls the half-published notebook back to its previous files before doing
anything else. Files keep the modes of newly created files under the umask.

Housekeeping: a run takes an exclusive lock, ``fcntl.flock`` on ``<out>/.poslib-run.lock``
(a second run into the same folder is refused with the first one's pid); then it rolls back
interrupted publishes and deletes staging folders left by runs that were killed (owner pid
no longer alive, or older than :data:`STALE_STAGING_S` if the pid cannot be read) and
temporaries ``.<name>.<random>.tmp-<pid>`` of dead processes
(:func:`poslib.store.clear_dead_temporaries`; cache entries clear theirs when rewritten).

Incremental regeneration
------------------------
Each notebook's provenance records a hash of its inputs (:func:`input_fingerprint`): the
notebook file, all of ``poslib/**/*.py``, the requirements files and ``pyproject.toml``, the
profile and applied parameters, and a cheap fingerprint of the data folder (relative names,
sizes and modification times of its files). A notebook whose recorded hash matches and whose
executed copy and artefacts all exist is *kept* ("kept (unchanged)") instead of re-run;
``--force`` re-runs everything. The index says which notebooks were re-run or kept in this
invocation and when each last ran.
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .config import PROGRESS_ENV, REPO_ROOT, ConfigError, get_profile, repo_relative
from .data import resolve_data_root
from .store import _pid_alive, _umask, atomic_write_bytes, clear_dead_temporaries, make_folder

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
RESULTS_DIR = REPO_ROOT / "results"
#: Parameters the driver sets itself, and the option that sets each.
DRIVER_PARAMETERS = {"profile": "--profile", "data_root": "--data", "results_dir": "--out"}
#: A staging folder whose owner pid cannot be read is deleted when older than this (seconds).
STALE_STAGING_S = 6 * 3600
LOCK_NAME = ".poslib-run.lock"
#: Files whose change re-runs every notebook (besides poslib/**/*.py).
ENVIRONMENT_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")


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


def output_root(profile: str, uses_datasets: bool, base: Path = RESULTS_DIR) -> Path:
    """Where a run's results go (see the module docstring)."""
    if profile == "default" and uses_datasets:
        return base
    return base / "runs" / f"{profile}-{'datasets' if uses_datasets else 'embedded'}"


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


# ----------------------------------------------------------------------------- parameters (-p)


def notebook_parameters(notebook: Path) -> dict[str, dict]:
    """The parameters declared in a notebook's ``parameters`` cell: name -> {inferred_type_name, default, help}."""
    import papermill

    return dict(papermill.inspect_notebook(str(notebook)))


def parse_parameter_items(items: list[str] | None) -> dict[str, str]:
    """``["key=value", ...]`` from the command line as a dict, keys checked.

    Raises
    ------
    ConfigError
        If an item has no ``=``, a key is not a Python identifier (nothing else may reach a
        kernel), or a key is one the driver sets (``profile``, ``data_root``, ``results_dir``).

    Examples
    --------
    >>> parse_parameter_items(["seed=1", "backbones=vgg16:random"])
    {'seed': '1', 'backbones': 'vgg16:random'}
    """
    parameters = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        key = key.strip()
        if not separator:
            raise ConfigError(f"-p {item!r}: write -p name=value")
        if not key.isidentifier() or keyword.iskeyword(key):
            raise ConfigError(f"-p {item!r}: {key!r} is not a parameter name (a Python identifier); "
                              f"see the notebook's parameters cell")
        if key in DRIVER_PARAMETERS:
            raise ConfigError(f"-p {key}=... cannot be set: the driver sets {key}; use {DRIVER_PARAMETERS[key]} instead")
        parameters[key] = value
    return parameters


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def convert_parameter(name: str, value, type_name: str | None, notebook: str = "the notebook"):
    """``value`` converted to the declared type of parameter ``name``.

    Strings (from the command line) are converted to ``int``, ``float`` or ``bool``
    (true/false, 1/0, yes/no, on/off); for a parameter whose type papermill could not infer,
    a Python literal is read (``ast.literal_eval``) and anything else stays a string.
    Values that are not strings must already have the declared type.

    Raises
    ------
    ConfigError
        If the value does not convert, naming the parameter, the notebook and the type.

    Examples
    --------
    >>> convert_parameter("seed", "1", "int"), convert_parameter("flip", "no", "bool")
    (1, False)
    """
    types = {"int": int, "float": float, "bool": bool, "str": str}
    wanted = types.get(type_name or "")
    if not isinstance(value, str):
        if wanted is None or isinstance(value, wanted) and not (wanted is int and isinstance(value, bool)):
            return value
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"parameter {name} of {notebook} is declared {type_name}, got {value!r}")
    try:
        if wanted is bool:
            if value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(value)
        if wanted is not None:
            return wanted(value.strip()) if wanted is not str else value
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    except ValueError:
        raise ConfigError(f"-p {name}={value!r}: {notebook} declares {name} as {type_name}"
                          f"{' (true/false)' if wanted is bool else ''}; give a value of that type") from None


def resolve_overrides(notebooks: list[Path], parameters: dict | None) -> dict[str, dict]:
    """Per notebook stem, the ``-p`` parameters it declares, converted to their declared types.

    Raises
    ------
    ConfigError
        If a name is declared by none of the selected notebooks (listing the valid names),
        is driver-owned, or a value does not convert.
    """
    parameters = dict(parameters or {})
    for key in parameters:
        if key in DRIVER_PARAMETERS:
            raise ConfigError(f"-p {key}=... cannot be set: the driver sets {key}; use {DRIVER_PARAMETERS[key]} instead")
        if not str(key).isidentifier() or keyword.iskeyword(key):
            raise ConfigError(f"-p {key!r}: not a parameter name (a Python identifier)")
    declared = {nb.stem: notebook_parameters(nb) for nb in notebooks} if parameters else {nb.stem: {} for nb in notebooks}
    valid = sorted({name for names in declared.values() for name in names} - set(DRIVER_PARAMETERS))
    unknown = [key for key in parameters if not any(key in names for names in declared.values())]
    if unknown:
        raise ConfigError(f"-p {', '.join(unknown)}: not a parameter of {', '.join(declared)}; "
                          f"the parameters that -p can set are {valid}")
    applied = {}
    for stem, names in declared.items():
        applied[stem] = {key: convert_parameter(key, value, names[key].get("inferred_type_name"), stem)
                         for key, value in parameters.items() if key in names}
    for key in parameters:
        without = [stem for stem in declared if key not in declared[stem]]
        if without:
            print(f"[poslib] -p {key} applies to {[s for s in declared if s not in without]} only; "
                  f"{without} do not declare it")
    return applied


# ----------------------------------------------------------------------------- inputs and incremental runs


def _hash_files(paths, root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def data_fingerprint(data_root: Path | None) -> str:
    """Cheap fingerprint of a data folder: relative name, size and mtime of every file ("embedded" without one)."""
    if data_root is None:
        return "embedded"
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(data_root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(data_root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def input_fingerprint(notebook: Path, profile: str, data_root: Path | None, overrides: dict,
                      data_hash: str | None = None) -> dict:
    """What a notebook's results depend on, hashed: ``{"hash": ..., "parts": {part: hash}}``.

    Parts: ``notebook`` (the .ipynb file), ``code`` (all ``poslib/**/*.py``), ``environment``
    (:data:`ENVIRONMENT_FILES`), ``parameters`` (profile and applied overrides) and ``data``
    (:func:`data_fingerprint`).
    """
    package = REPO_ROOT / "poslib"
    parts = {"notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
             "code": _hash_files(package.rglob("*.py"), REPO_ROOT),
             "environment": _hash_files([REPO_ROOT / name for name in ENVIRONMENT_FILES], REPO_ROOT),
             "parameters": hashlib.sha256(json.dumps({"profile": profile, **overrides}, sort_keys=True,
                                                     default=str).encode()).hexdigest(),
             "data": data_hash or data_fingerprint(data_root)}
    parts = {k: v[:16] for k, v in parts.items()}
    combined = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": combined, "parts": parts}


def read_record(out_root: Path, stem: str) -> dict | None:
    """The published provenance record of notebook ``stem`` in ``out_root``, or None."""
    path = out_root / "provenance" / f"{stem}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def unchanged_reason(record: dict | None, inputs: dict, out_root: Path) -> str | None:
    """None if a notebook can be kept (same inputs hash, every artefact present), else why it must run."""
    if record is None:
        return "no previous run"
    previous = record.get("inputs") or {}
    if not previous.get("hash"):
        return "no inputs hash recorded (made by an older driver)"
    if previous.get("hash") != inputs["hash"]:
        changed = [k for k, v in inputs["parts"].items() if previous.get("parts", {}).get(k) != v]
        return f"changed: {', '.join(changed) or 'inputs'}"
    missing = [a["path"] for a in record.get("artefacts", []) if not (out_root / a["path"]).is_file()]
    executed = record.get("executed_notebook")
    if executed and not (out_root / executed).is_file():
        missing.append(executed)
    if missing:
        return f"missing artefacts {missing[:3]}"
    return None


# ----------------------------------------------------------------------------- output folder: lock, housekeeping


def ensure_writable(out_root: Path) -> Path:
    """Create ``out_root`` and check that files can be written there.

    Raises
    ------
    ConfigError
        Naming the folder, if it cannot be created or written (permissions, read-only file
        system, a file in the way).
    """
    out_root = Path(out_root)
    make_folder(out_root, "results folder (--out)")
    try:
        with tempfile.TemporaryFile(dir=out_root):
            pass
    except OSError as error:
        raise ConfigError(f"results folder (--out) {out_root} is not writable ({error.strerror or error}); "
                          f"choose another --out or fix its permissions") from None
    return out_root


@contextmanager
def run_lock(out_root: Path):
    """Hold ``<out_root>/.poslib-run.lock`` (``fcntl.flock``, exclusive) for the duration of a run.

    Raises
    ------
    ConfigError
        If another run holds it, naming that run's pid.
    """
    import fcntl

    path = Path(out_root) / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise ConfigError(f"another poslib run (pid {owner}) is writing to {out_root}; wait for it to finish, "
                              f"or use another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock


def _staging_pid(folder: Path) -> int | None:
    parts = folder.name.split("-")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def clean_stale_staging(out_root: Path, max_age_s: float = STALE_STAGING_S) -> list[Path]:
    """Delete staging folders of killed runs: owner pid dead (or unreadable and older than ``max_age_s``).

    Call it while holding :func:`run_lock`. Returns the folders deleted.
    """
    removed = []
    for folder in sorted(Path(out_root).glob(".staging-*")):
        if not folder.is_dir():
            continue
        pid = _staging_pid(folder)
        stale = (not _pid_alive(pid)) if pid is not None else time.time() - folder.stat().st_mtime > max_age_s
        if stale and pid != os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
            print(f"[poslib] removed {folder.name}, left by a run that was killed (pid {pid})")
            removed.append(folder)
    return removed


# ----------------------------------------------------------------------------- publishing


def _journal_path(out_root: Path, stem: str) -> Path:
    return out_root / f".publish-{stem}.json"


def _backup_dir(out_root: Path, stem: str) -> Path:
    return out_root / f".publish-{stem}"


def _roll_back(out_root: Path, journal: dict) -> None:
    """Put back the previous version of every file of an interrupted publish (see the module docstring)."""
    backup = out_root / journal["backup"]
    for relative, existed in reversed(journal["files"]):
        target, previous = out_root / relative, backup / relative
        if existed:
            if previous.exists():
                os.replace(previous, target)
        else:
            target.unlink(missing_ok=True)
    shutil.rmtree(backup, ignore_errors=True)


def recover_publishes(out_root: Path) -> list[str]:
    """Roll back publishes that a killed run left half done (their journal is still there).

    Call it while holding :func:`run_lock`. Returns the notebooks rolled back.
    """
    recovered = []
    for path in sorted(Path(out_root).glob(".publish-*.json")):
        try:
            journal = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            path.unlink(missing_ok=True)
            continue
        _roll_back(Path(out_root), journal)
        path.unlink(missing_ok=True)
        print(f"[poslib] rolled back the interrupted publish of {journal.get('notebook')} (pid {journal.get('pid')}): "
              f"its previous results are in place")
        recovered.append(journal.get("notebook"))
    return recovered


def publish(staging: Path, out_root: Path, stem: str) -> list[str]:
    """Move a notebook's staged files into ``out_root`` (journal, renames, provenance record last).

    Returns
    -------
    list of str
        The published paths, relative to ``out_root``, in the order they were replaced.

    Raises
    ------
    OSError, ConfigError
        If a file cannot be moved; the previous files are restored first.
    """
    record = f"provenance/{stem}.json"
    files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    order = [f for f in files if f != record] + ([record] if record in files else [])
    backup = _backup_dir(out_root, stem)
    shutil.rmtree(backup, ignore_errors=True)
    journal = {"notebook": stem, "pid": os.getpid(), "backup": backup.name, "started": time.time(),
               "files": [[relative, (out_root / relative).is_file()] for relative in order]}
    journal_path = _journal_path(out_root, stem)
    atomic_write_bytes(journal_path, json.dumps(journal).encode())
    mode = 0o666 & ~_umask()
    try:
        for relative, existed in journal["files"]:
            source, target = staging / relative, out_root / relative
            make_folder(target.parent)
            os.chmod(source, mode)
            if existed:
                kept = backup / relative
                make_folder(kept.parent)
                try:
                    os.link(target, kept)
                except OSError:
                    shutil.copy2(target, kept)
            os.replace(source, target)
    except BaseException:
        _roll_back(out_root, journal)
        journal_path.unlink(missing_ok=True)
        raise
    journal_path.unlink()  # the commit point
    shutil.rmtree(backup, ignore_errors=True)
    return order


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


def run_notebook(notebook: Path, profile: str, data_root: str, out_root: Path, extra: dict | None = None,
                 log_output: bool = True, inputs: dict | None = None) -> dict:
    """Execute one notebook with papermill and publish its results (:func:`publish`).

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
        Echo the notebook's output.
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
    import papermill

    ensure_writable(out_root)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{notebook.stem}-{os.getpid()}-", dir=out_root))
    overrides = dict(extra or {})
    parameters = {"profile": profile, "data_root": repo_relative(data_root) if data_root else "", **overrides}
    executed = staging / "notebooks" / notebook.name
    executed.parent.mkdir(parents=True)
    started = time.perf_counter()
    progress_setting = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "0"
    try:
        papermill.execute_notebook(str(notebook), str(executed), cwd=str(notebook.parent), kernel_name="python3",
                                   parameters={**parameters, "results_dir": repo_relative(staging)},
                                   log_output=log_output, progress_bar=False)
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
        if progress_setting is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = progress_setting
    wall = time.perf_counter() - started
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
    try:
        publish(staging, out_root, notebook.stem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def _describe_images(info: dict) -> str:
    images = info.get("images")
    if not images:
        return "-"
    parts = [f"train {images['train']['name']} ({images['train']['n_images']})"]
    parts += [f"{t['name']} ({t['n_images']})" for t in images.get("tests", [])]
    return ", ".join(parts) + (" -- EMBEDDED DEFAULT" if images.get("embedded_default") else "")


def write_index(out_root: Path, statuses: dict[str, str] | None = None) -> Path:
    """Generate ``<out_root>/README.md`` from the provenance records (never edit it by hand).

    Parameters
    ----------
    out_root : Path
    statuses : dict, optional
        Notebook stem -> ``"re-run"`` or ``"kept (unchanged)"`` for the notebooks of this
        invocation; the others are listed as not run in it.
    """
    records = [json.loads(p.read_text()) for p in sorted((out_root / "provenance").glob("*.json"))]
    lines = ["# Results index", "",
             "Generated by `python -m poslib run` from the provenance records in `provenance/`; do not edit.",
             "Each section names the notebook that made the files, with its profile, parameters, data,",
             "backbone weights, seeds, commit and wall time, and whether this invocation re-ran it or kept",
             "it (inputs unchanged: notebook, package code, parameters, data, requirements).", ""]
    for info in records:
        status = (statuses or {}).get(info["notebook"])
        status = (f"{status} in this invocation" if status else
                  "not run in this invocation" if statuses is not None else "-")
        lines += [f"## {info.get('title', info['notebook'])}", "",
                  f"- notebook: `notebooks/{info['notebook']}.ipynb` (executed copy: `{info.get('executed_notebook', '-')}`)",
                  f"- status: {status}; last ran {info.get('finished', '-')}"
                  f" (inputs hash `{info.get('inputs', {}).get('hash', '-')}`)",
                  f"- profile: `{info.get('profile', '-')}`; parameters: `{json.dumps(info.get('parameters', {}))}`",
                  f"- data: {_describe_images(info)}",
                  f"- backbones / weights: {', '.join(info.get('weights', [])) or '-'}",
                  f"- seeds: {info.get('seeds', '-')}",
                  f"- commit: `{info.get('commit', '-')[:12]}`{' (with uncommitted changes)' if info.get('dirty') else ''};"
                  f" finished {info.get('finished', '-')}; wall time {info.get('wall_time_s', '-')} s"
                  f" on {info.get('platform', {}).get('device', '-')}"]
        for skipped in info.get("skipped", []):
            lines.append(f"- skipped: {skipped['backbone']}/{skipped['weights']}, padding {skipped.get('padding', 'zeros')}"
                         f" ({skipped.get('cause', 'see the notebook')})")
        lines.append("")
        for artefact in info.get("artefacts", []):
            lines.append(f"  - [`{artefact['path']}`]({artefact['path']}): {artefact.get('caption', '')}")
        lines.append("")
    path = out_root / "README.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


def run(profile: str = "default", only: list[str] | None = None, data_root: str = "",
        base: Path = RESULTS_DIR, extra: dict | None = None, log_output: bool = True, force: bool = False) -> Path:
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

    Returns
    -------
    Path
        The output folder.

    Raises
    ------
    ConfigError
        Bad profile, selector, parameter, an unwritable output folder, or another run holding its lock.
    NotebookFailed
        If a notebook fails (those before it are published).
    """
    get_profile(profile)
    root = resolve_data_root(data_root)
    data_root = str(root) if root else ""
    out_root = output_root(profile, root is not None, Path(base))
    notebooks = list_notebooks(only)
    overrides = resolve_overrides(notebooks, extra)
    ensure_writable(out_root)
    print(f"[poslib] profile {profile}; data: {data_root or 'embedded default'}; results -> {out_root}")
    statuses: dict[str, str] = {}
    with run_lock(out_root):
        recover_publishes(out_root)
        clean_stale_staging(out_root)
        for folder in (out_root, *(out_root / sub for sub in ("tables", "figures", "provenance", "notebooks"))):
            clear_dead_temporaries(folder)
        data_hash = data_fingerprint(root)
        for notebook in notebooks:
            inputs = input_fingerprint(notebook, profile, root, overrides[notebook.stem], data_hash)
            record = read_record(out_root, notebook.stem)
            reason = "--force" if force else unchanged_reason(record, inputs, out_root)
            if reason is None:
                statuses[notebook.stem] = "kept (unchanged)"
                print(f"[poslib] {notebook.name} kept (unchanged; last ran {record.get('finished', '?')})", flush=True)
                continue
            print(f"[poslib] running {notebook.name} ({reason}) ...", flush=True)
            info = run_notebook(notebook, profile, data_root, out_root, overrides[notebook.stem], log_output, inputs)
            statuses[notebook.stem] = "re-run"
            print(f"[poslib] {notebook.name} done in {info['wall_time_s']} s", flush=True)
            write_index(out_root, statuses)
        write_index(out_root, statuses)
    return out_root


def main_run(args) -> int:
    """Entry point of ``python -m poslib run``."""
    extra = parse_parameter_items(args.param)
    run(args.profile, args.only, args.data or "", Path(args.out), extra, not args.quiet, force=args.force)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m poslib {run,bench,index}``; errors are printed as one message and exit with status 2."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m poslib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="execute notebooks headless with papermill")
    run_parser.add_argument("--profile", default="default", help="smoke | default | paper")
    run_parser.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 01 02")
    run_parser.add_argument("--data", help="dataset folder (default: $POSLIB_DATA, else the embedded default)")
    run_parser.add_argument("--out", default=str(RESULTS_DIR), help="results folder")
    run_parser.add_argument("-p", "--param", action="append",
                            help="notebook parameter name=value (a name from the notebook's parameters cell; "
                                 "converted to its declared type)")
    run_parser.add_argument("--force", action="store_true", help="re-run notebooks whose inputs did not change")
    run_parser.add_argument("--quiet", action="store_true", help="do not echo notebook output")
    index_parser = commands.add_parser("index", help="regenerate results/README.md from provenance records")
    index_parser.add_argument("--out", default=str(RESULTS_DIR))
    bench_parser = commands.add_parser("bench", help="benchmark the Table-1 workload (see bench/README)")
    bench_parser.add_argument("--n-train", type=int, default=200)
    bench_parser.add_argument("--n-test", type=int, default=50)
    bench_parser.add_argument("--naive-n-train", type=int, default=24)
    bench_parser.add_argument("--data", default="")
    bench_parser.add_argument("--out", default=str(RESULTS_DIR / "bench"))
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return main_run(args)
        if args.command == "index":
            print(write_index(Path(args.out)))
            return 0
        from .bench import main_bench
        return main_bench(args)
    except (ConfigError, RuntimeError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
