"""Atomic writes and content-keyed cache entries: the one place poslib writes files it reuses.

Every file poslib writes goes through :func:`atomic_write_bytes` (or a temporary file
renamed with :meth:`CacheEntry.commit`), so a reader never sees half a file.

A :class:`CacheEntry` is a folder ``<cache>/<kind>/<key[:24]>`` whose name comes from a
SHA-256 key over everything that changes its content (:func:`content_key`). It holds
payload files (``features.npy``, ``weights.pt``, ``history.csv``...) and a ``meta.json``
written *last*, which records the entry's format version, its full key, and the size and
checksum of every payload file. Reading an entry checks all of that: an entry whose
``meta.json`` is missing, not a well-formed record (not a JSON object, no size and checksum
for some payload, no payload at all), from another format version or key, or whose files
are missing, truncated, changed (checksum mismatch) or not listed in ``meta.json`` (a
payload without a checksum is never taken as verified) is reported in one line and
rebuilt, never reused.
Feature caches (:mod:`poslib.features`) and trained task models (:mod:`poslib.training`)
are both such entries.

Checksums are CRC-32 over 16 MiB blocks (about 1 GB/s here); a file is verified once per
process and content (size and modification time), so reading the same entry again costs
nothing.

Concurrent processes (``python -m poslib run --jobs N``) share the cache: an entry has one
writer at a time. :meth:`CacheEntry.reuse_or_build` reads the entry and, when there is
nothing usable, takes the entry's lock (:func:`lock_file` on ``.writer.lock`` in its
folder) and reads again before building, so a process that waited while another wrote the
entry reuses it instead of writing it a second time. Readers need no lock: ``meta.json``
is written last and every file is replaced by one rename.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, TypeVar

import torch

from . import __version__
from .config import ConfigError, cache_dir

_T = TypeVar("_T")
_BLOCK = 16 * 2**20
#: (path, size, mtime_ns) of files whose checksum was verified in this process.
_VERIFIED: set[tuple[str, int, int]] = set()


def make_folder(folder: Path, what: str = "folder") -> Path:
    """``mkdir -p folder``, with an error that names a file standing in the way.

    Raises
    ------
    ConfigError
        If ``folder`` or one of its parents exists as a file (naming it and saying to delete
        it), or the folder cannot be created (permissions).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise ConfigError(f"{what} {folder} cannot be created: {blocker} is a file, not a folder. Delete it "
                          f"(rm {blocker}) or choose another location.") from None
    except PermissionError:
        raise ConfigError(f"{what} {folder} cannot be created: permission denied. Choose a writable "
                          f"location.") from None
    return folder


def atomic_write_bytes(path: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the permissions of a newly created file under the process umask.

    Raises
    ------
    ConfigError
        If the folder cannot be created (see :func:`make_folder`).
    """
    path = Path(path)
    make_folder(path.parent)
    # named .<name>.<random>.tmp-<pid>, so a run killed mid-write leaves a temporary that
    # clear_dead_temporaries recognises as its own
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp-{os.getpid()}")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def lock_file(path: Path, wait: bool = True):
    """Open ``path`` (created if missing) and take an exclusive ``fcntl.flock`` on it.

    The lock belongs to the open file: closing the returned handle (or the process ending)
    releases it.

    Parameters
    ----------
    path : Path
        The lock file; its folder is created.
    wait : bool
        Block until the lock is free; with False, return None at once when another
        process holds it.

    Returns
    -------
    file object or None
        The open handle (mode ``a+``) holding the lock; None when ``wait`` is False and the
        lock is held elsewhere.
    """
    import fcntl

    path = Path(path)
    make_folder(path.parent)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    except BaseException:
        handle.close()
        raise
    return handle


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_checksum(path: Path) -> str:
    """CRC-32 of a file's content, as 8 hex digits.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> file_checksum(p)
    '352441c2'
    """
    crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            crc = zlib.crc32(block, crc)
    return f"{crc & 0xFFFFFFFF:08x}"


def release_mapped_pages(array) -> bool:
    """Drop this process's resident pages of a memory-mapped array (``np.load(..., mmap_mode="r")``).

    Reading a cached feature file through its memory map leaves every page read counted in
    the process's resident memory until the map is closed, although the data then lives in
    a tensor as well. ``madvise(MADV_DONTNEED)`` unmaps those pages from the process; they
    stay in the OS page cache, so reading them again costs a page fault, not a disk read.
    Arrays that are not memory-mapped (or platforms without ``madvise``) are left alone.

    Returns
    -------
    bool
        Whether pages were released.
    """
    mapping = getattr(array, "_mmap", None)  # numpy.memmap keeps its mmap.mmap (also in slices) here
    if mapping is None or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    mapping.madvise(mmap.MADV_DONTNEED)
    return True


def content_key(**parts) -> str:
    """SHA-256 over ``parts`` (JSON, sorted keys) plus the torch version: the name of a cache entry."""
    payload = dict(parts, torch=torch.__version__.split("+")[0])
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor (any dtype, any device)."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def tensors_digest(named_tensors) -> str:
    """SHA-256 over ``(name, tensor)`` pairs: names, dtypes, shapes and bytes, in order.

    Parameters
    ----------
    named_tensors : iterable of (str, torch.Tensor)

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    for name, tensor in named_tensors:
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def clear_dead_temporaries(folder: Path, recursive: bool = False) -> list[Path]:
    """Delete ``.<name>...tmp-<pid>`` temporaries in ``folder`` whose writing process is gone.

    Returns the files deleted; temporaries of live processes are kept.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in (folder.rglob(".*.tmp-*") if recursive else folder.glob(".*.tmp-*")):
        pid = tmp.name.rsplit("-", 1)[-1]
        if tmp.is_file() and pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CacheEntry:
    """One content-keyed cache folder (see the module docstring).

    Parameters
    ----------
    kind : str
        Sub-folder of the cache (``"features/vgg16"``, ``"task_models/saliency"``...).
    key : str
        Full SHA-256 key (:func:`content_key`); the folder is named by its first 24 digits.
    format_version : int
        Version of the entry's layout and meaning; an entry written by another is rebuilt.
    root : Path, optional
        Cache root (default :func:`poslib.config.cache_dir`).
    """

    def __init__(self, kind: str, key: str, format_version: int, root: Path | None = None):
        self.kind, self.key, self.format_version = kind, key, format_version
        self.folder = Path(root or cache_dir()) / kind / key[:24]

    @property
    def label(self) -> str:
        """``<kind>/<key prefix>``, for messages."""
        return f"{self.kind}/{self.key[:12]}"

    def path(self, name: str) -> Path:
        """Path of payload file ``name`` inside the entry."""
        return self.folder / name

    def _payload_files(self) -> list[Path]:
        """The payload files in the folder: every file but ``meta.json`` and hidden temporaries."""
        return sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")
                      and p.name != "meta.json")

    def read(self, verify: bool = True) -> dict | None:
        """The entry's metadata if it is complete, current and intact, else None.

        A reason is printed (one line) for every entry that exists but cannot be used.
        """
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError(f"meta.json holds a JSON {type(meta).__name__}, not a cache record")
            if meta.get("format") != self.format_version or meta.get("key") != self.key:
                raise ValueError(f"written by cache format {meta.get('format')} (poslib {meta.get('poslib')}), "
                                 f"this is format {self.format_version}")
            files = meta.get("files")
            if not isinstance(files, dict) or not files:
                raise ValueError("meta.json records no payload file with its size and checksum")
            unlisted = [p.name for p in self._payload_files() if p.name not in files]
            if unlisted:
                raise ValueError(f"payload {unlisted[0]} has no checksum in meta.json")
            for name, record in files.items():
                if not (isinstance(record, dict) and isinstance(record.get("bytes"), int)
                        and isinstance(record.get("crc32"), str)) or Path(name).name != name:
                    raise ValueError(f"meta.json has no well-formed size and checksum for {name!r}")
                self._check_file(self.folder / name, record, verify)
        except (OSError, ValueError, json.JSONDecodeError) as error:
            print(f"[poslib] rebuilding cache entry {self.label}: {error}", flush=True)
            return None
        return meta

    @staticmethod
    def _check_file(path: Path, record: dict, verify: bool) -> None:
        stat = path.stat()
        if stat.st_size != record["bytes"]:
            raise ValueError(f"{path.name} has {stat.st_size} bytes, expected {record['bytes']} (truncated or replaced)")
        token = (str(path), stat.st_size, stat.st_mtime_ns)
        if verify and token not in _VERIFIED:
            if file_checksum(path) != record["crc32"]:
                raise ValueError(f"{path.name} does not match its checksum (the file was changed or corrupted)")
            _VERIFIED.add(token)

    @contextmanager
    def writer_lock(self):
        """Hold the entry's writer lock (``.writer.lock`` in its folder) while the block runs; waits for it.

        Raises
        ------
        ConfigError
            If the entry's folder (or a parent) is a file (see :func:`make_folder`).
        """
        make_folder(self.folder, f"cache entry {self.label}:")
        handle = lock_file(self.folder / ".writer.lock")
        try:
            yield self
        finally:
            handle.close()

    def _meta_stamp(self) -> tuple[int, int, int] | None:
        """Identity of ``meta.json`` (inode, modification time, size), None when it is missing."""
        try:
            stat = (self.folder / "meta.json").stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def reuse_or_build(self, load: Callable[[], _T | None], build: Callable[[], _T]) -> _T:
        """The entry's content from ``load``, or from ``build`` with one writer at a time.

        ``load()`` reads and checks the entry (None: nothing usable). When it finds nothing,
        the entry's writer lock is taken (:meth:`writer_lock`, waiting for another process
        that writes it); if ``meta.json`` changed meanwhile, that process finished the entry
        and ``load()`` runs again; otherwise (or if that fails too) ``build()`` writes it
        (:meth:`begin` ... :meth:`finish`) under the lock.

        Parameters
        ----------
        load : callable
            ``() -> value or None``.
        build : callable
            ``() -> value``; writes the entry.

        Returns
        -------
        The loaded or built value.
        """
        stamp = self._meta_stamp()
        value = load()
        if value is not None:
            return value
        with self.writer_lock():
            if self._meta_stamp() not in (None, stamp):  # written by another process while this one waited
                value = load()
            return build() if value is None else value

    def begin(self) -> None:
        """Start (re)writing the entry: create the folder, invalidate old metadata, clear dead temporaries.

        Raises
        ------
        ConfigError
            If the entry's folder (or a parent) is a file: names it and what to delete.
        """
        make_folder(self.folder, f"cache entry {self.label}:")
        (self.folder / "meta.json").unlink(missing_ok=True)
        clear_dead_temporaries(self.folder)

    def temporary(self, name: str) -> Path:
        """A private temporary path for payload ``name``, to be moved in with :meth:`commit`."""
        return self.folder / f".{name}.tmp-{os.getpid()}"

    def commit(self, tmp: Path, name: str) -> Path:
        """Move a finished temporary file into place as payload ``name``."""
        target = self.folder / name
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        return target

    def write_bytes(self, name: str, payload: bytes) -> Path:
        """Write payload ``name`` atomically."""
        return atomic_write_bytes(self.folder / name, payload)

    def finish(self, meta: dict) -> dict:
        """Write ``meta.json`` last, with format, key, poslib version and every payload's size and checksum."""
        files = {}
        for path in self._payload_files():
            files[path.name] = {"bytes": path.stat().st_size, "crc32": file_checksum(path)}
            stat = path.stat()
            _VERIFIED.add((str(path), stat.st_size, stat.st_mtime_ns))
        record = {"format": self.format_version, "key": self.key, "poslib": __version__, **meta, "files": files}
        atomic_write_bytes(self.folder / "meta.json", json.dumps(record, indent=1, default=str).encode())
        return record
