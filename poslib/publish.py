"""Publishing a notebook's results atomically, under a lock, and cleaning up after killed runs.

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
3. deleting the journal is the commit; then the backups are removed. The driver regenerates
   the index (``README.md``) once, after the run's last notebook.

Guarantee, honestly: every single file is always complete (old or new, never half
written). During the publish itself (milliseconds: renames within one file system) a reader
that lists the folder can see new data files beside the previous provenance record; the
journal exists exactly during that window, so a careful reader can detect it, and the
provenance record and index, which say what the files are, change last. If publishing
fails with an exception, the previous files are restored before the error is raised. If the
process is killed mid-publish (``kill -9``), the journal remains and the folder stays mixed
(some new data files beside the previous ones and the previous provenance record and index)
until the next ``python -m poslib run`` *or* ``python -m poslib index`` into that folder:
under the lock, before anything else, :func:`recover_publishes` puts back the hard-linked
previous version of every journal file that existed before, deletes the files that are new,
deletes the backup folder and then the journal. While ``.publish-<notebook>.json`` exists the
folder is in that state; run ``python -m poslib index --out <folder>`` to restore it.
Files keep the modes of newly created files under the umask.

Housekeeping: a run (and ``python -m poslib index``) takes an exclusive lock, ``fcntl.flock``
(:func:`poslib.store.lock_file`) on ``<out>/.poslib-run.lock`` (a second run into the same folder is refused with the first
one's pid); then it rolls back
interrupted publishes and deletes staging folders left by runs that were killed (owner pid
no longer alive, or older than :data:`STALE_STAGING_S` if the pid cannot be read) and
temporaries ``.<name>.<random>.tmp-<pid>`` of dead processes
(:func:`poslib.store.clear_dead_temporaries`; cache entries clear theirs when rewritten).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .config import ConfigError
from .store import _pid_alive, _umask, atomic_write_bytes, lock_file, make_folder

#: A staging folder whose owner pid cannot be read is deleted when older than this (seconds).
STALE_STAGING_S = 6 * 3600
LOCK_NAME = ".poslib-run.lock"

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
    """Hold ``<out_root>/.poslib-run.lock`` (:func:`poslib.store.lock_file`, exclusive) for the duration of a run.

    Raises
    ------
    ConfigError
        If another run holds it, naming that run's pid.
    """
    path = Path(out_root) / LOCK_NAME
    handle = lock_file(path, wait=False)
    if handle is None:
        owner = path.read_text().strip() or "unknown"
        raise ConfigError(f"another poslib run (pid {owner}) is writing to {out_root}; wait for it to finish, "
                          f"or use another --out")
    try:
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
