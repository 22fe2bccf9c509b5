"""poslib.store: atomic writes and verified cache entries."""

import json
import os

import pytest

from poslib import store


def _entry(tmp_path, key="k" * 64, version=1):
    return store.CacheEntry("demo", key, version, root=tmp_path)


def _write(entry, payload=b"0123456789" * 1000):
    entry.begin()
    entry.write_bytes("data.bin", payload)
    return entry.finish({"note": "test"})


def test_a_finished_entry_reads_back_with_checksums(tmp_path):
    meta = _write(_entry(tmp_path))
    assert meta["files"]["data.bin"]["bytes"] == 10000 and len(meta["files"]["data.bin"]["crc32"]) == 8
    assert _entry(tmp_path).read()["note"] == "test"


def test_an_unfinished_entry_is_not_reused(tmp_path):
    entry = _entry(tmp_path)
    entry.begin()
    entry.write_bytes("data.bin", b"x")
    assert entry.read() is None  # no meta.json yet: nothing half-written is ever read


@pytest.mark.parametrize("damage", ["flip", "truncate", "zero"])
def test_changed_contents_are_detected(tmp_path, damage, capsys):
    _write(_entry(tmp_path))
    store._VERIFIED.clear()
    path = _entry(tmp_path).path("data.bin")
    payload = bytearray(path.read_bytes())
    if damage == "flip":
        payload[5000] ^= 0xFF
    elif damage == "truncate":
        payload = payload[:-1]
    else:
        payload = bytearray(len(payload))
    path.write_bytes(bytes(payload))
    assert _entry(tmp_path).read() is None
    assert "rebuilding cache entry" in capsys.readouterr().out


def test_another_format_version_is_rebuilt(tmp_path, capsys):
    _write(_entry(tmp_path, version=1))
    assert _entry(tmp_path, version=2).read() is None
    assert "format 1" in capsys.readouterr().out


def test_a_swapped_entry_is_detected_by_its_key(tmp_path):
    _write(_entry(tmp_path, key="a" * 64))
    _write(_entry(tmp_path, key="b" * 64))
    a, b = _entry(tmp_path, key="a" * 64).folder / "meta.json", _entry(tmp_path, key="b" * 64).folder / "meta.json"
    meta_a, meta_b = a.read_text(), b.read_text()
    a.write_text(meta_b)
    b.write_text(meta_a)
    assert _entry(tmp_path, key="a" * 64).read() is None and _entry(tmp_path, key="b" * 64).read() is None


def test_temporary_files_of_dead_processes_are_cleared(tmp_path):
    entry = _entry(tmp_path)
    entry.folder.mkdir(parents=True)
    stale = entry.folder / ".data.bin.tmp-999999999"
    mine = entry.temporary("data.bin")
    stale.write_bytes(b"x")
    mine.write_bytes(b"y")
    entry.begin()
    assert not stale.exists() and mine.exists()


def test_atomic_writes_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = store.atomic_write_bytes(tmp_path / "a.json", json.dumps({"a": 1}).encode())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_cache_entry_path_that_is_a_file_names_what_to_delete(tmp_path):
    entry = _entry(tmp_path)
    entry.folder.parent.mkdir(parents=True)
    entry.folder.write_bytes(b"not a folder")
    assert entry.read() is None
    with pytest.raises(store.ConfigError, match=rf"{entry.folder} is a file, not a folder\. Delete it \(rm "):
        entry.begin()
    entry.folder.unlink()
    entry.folder.parent.rmdir()
    entry.folder.parent.write_bytes(b"a file where the kind folder should be")
    with pytest.raises(store.ConfigError, match=rf"{entry.folder.parent} is a file"):
        entry.begin()


def test_checksums_hold_for_a_real_feature_entry(tmp_path):
    """Issue 8.1 holds: a payload changed after it was verified once is caught when its stat changes."""
    meta = _write(_entry(tmp_path))
    path = _entry(tmp_path).path("data.bin")
    assert _entry(tmp_path).read() is not None
    payload = bytearray(path.read_bytes())
    payload[0] ^= 0x01
    path.write_bytes(bytes(payload))
    os.utime(path, ns=(0, 12345))  # a different mtime: the once-per-process verification must run again
    assert _entry(tmp_path).read() is None and meta["files"]["data.bin"]["crc32"] != store.file_checksum(path)


def test_temporaries_of_atomic_writes_carry_the_pid_and_are_cleared_when_dead(tmp_path):
    dead = tmp_path / ".a.json.x1y2.tmp-999999999"
    live = tmp_path / f".a.json.x1y2.tmp-{os.getpid()}"
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    assert store.clear_dead_temporaries(tmp_path) == [dead] and live.exists()
    seen = []
    original = store.os.replace

    def spy(source, target):
        seen.append(os.path.basename(source))
        return original(source, target)
    store.os.replace = spy
    try:
        store.atomic_write_bytes(tmp_path / "b.json", b"{}")
    finally:
        store.os.replace = original
    assert seen[0].startswith(".b.json.") and seen[0].endswith(f".tmp-{os.getpid()}")


def _resident_file_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    pytest.skip("no RssFile in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_released_pages_of_a_memory_map_leave_the_resident_memory(tmp_path):
    import numpy as np

    path = tmp_path / "features.npy"
    np.save(path, np.ones((64, 2**20 // 2), dtype=np.float16))  # 64 MiB
    mapped = np.load(path, mmap_mode="r")
    before = _resident_file_kib()
    assert float(mapped[:, ::2048].astype(np.float32).sum()) > 0  # touch every 4 KiB page
    touched = _resident_file_kib()
    assert touched - before > 48 * 1024  # positive control: reading made the pages resident
    assert store.release_mapped_pages(mapped[:32])  # a slice releases the whole map
    assert _resident_file_kib() - before < 8 * 1024
    assert float(mapped[0, 0]) == 1.0  # still readable afterwards
    assert not store.release_mapped_pages(np.ones(4))  # not a memory map: nothing to do


# ----------------------------------------------------------------------------- concurrent writers (--jobs)


def _write_concurrently(root, barrier, log, results):
    """One process's attempt at the same entry: reuse it, or build it (slowly) under the writer lock."""
    import time

    entry = store.CacheEntry("demo", "c" * 64, 1, root=root)

    def build():
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        entry.begin()
        time.sleep(0.3)  # the other process meanwhile finds nothing and waits on the lock
        entry.write_bytes("data.bin", b"payload" * 1000)
        return entry.finish({"writer": os.getpid()})

    barrier.wait()
    meta = entry.reuse_or_build(entry.read, build)
    results.put((meta["files"]["data.bin"]["crc32"], meta["writer"]))


def test_two_processes_writing_one_entry_build_it_once_and_both_use_it(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the children only write files
    barrier, log, queue = context.Barrier(2), tmp_path / "builds.log", context.Queue()
    writers = [context.Process(target=_write_concurrently, args=(tmp_path, barrier, log, queue)) for _ in range(2)]
    for writer in writers:
        writer.start()
    results = [queue.get(timeout=60) for _ in writers]
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    assert results[0] == results[1]  # the same entry: the waiting process reused the other's
    assert len(log.read_text().split()) == 1  # one writer
    store._VERIFIED.clear()
    meta = _entry(tmp_path, key="c" * 64).read()
    assert meta is not None and meta["files"]["data.bin"]["crc32"] == results[0][0]
    assert not list(_entry(tmp_path, key="c" * 64).folder.glob(".*.tmp-*"))  # no temporary left


def test_a_damaged_entry_is_rebuilt_under_the_lock_with_one_notice(tmp_path, capsys):
    entry = _entry(tmp_path)
    _write(entry)
    (entry.folder / "meta.json").write_text("[]")
    built = entry.reuse_or_build(entry.read, lambda: _write(entry))
    assert built["note"] == "test" and _entry(tmp_path).read()["note"] == "test"
    assert capsys.readouterr().out.count("rebuilding cache entry") == 1
