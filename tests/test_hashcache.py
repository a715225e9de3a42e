"""The stat-keyed hash cache on its own: real files, and a run start given explicitly so a file
written a moment ago can count as old. How ``verify_env`` uses it is tested in test_verify.py,
where the real venvs are built.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import struct
import threading
import time
from pathlib import Path

import pytest

from reconciler.files import RACY_NS
from reconciler.observe.hashcache import (
    FORMAT_VERSION,
    MAGIC,
    HashCache,
    cache_file,
    entry_for,
)
from reconciler.spec.record import record_digest

LATER = 2 * RACY_NS
"""Added to ``time.time_ns()`` as a run's start, so files written just now count as old."""


def digest(data: bytes) -> str:
    return record_digest(hashlib.sha256(data).digest())


def written(path: Path, data: bytes) -> os.stat_result:
    path.write_bytes(data)
    return path.stat()


def saved_cache(root: Path, files: dict[Path, bytes], env_real: str = "/envs/a") -> HashCache:
    """A cache for ``env_real`` holding ``files`` (written now, stored as if the run started
    two seconds later), saved under ``root``."""
    cache = HashCache.load(cache_file(root, env_real), env_real)
    for path, data in files.items():
        cache.store(str(path), written(path, data), digest(data), time.time_ns() + LATER)
    cache.save()
    return cache


def reload(cache: HashCache) -> HashCache:
    return HashCache.load(cache.path, cache.env_real)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


# -- where and what ---------------------------------------------------------------------------


def test_the_cache_file_is_named_after_the_env_real_path_under_the_root(root: Path) -> None:
    path = cache_file(root, "/envs/a")
    assert path.parent == root / ".cache" / "hashes"
    assert path.name == hashlib.sha256(b"/envs/a").hexdigest()[:24]
    assert cache_file(root, "/envs/b") != path


def test_a_stored_hash_is_found_again_after_save_and_load(root: Path, tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    cache = saved_cache(root, {module: b"x = 1\n"})
    again = reload(cache)
    assert len(again) == 1
    assert again.lookup(str(module), module.stat()) == digest(b"x = 1\n")


def test_a_hash_is_not_trusted_once_any_part_of_the_identity_changed(
    root: Path, tmp_path: Path
) -> None:
    module = tmp_path / "m.py"
    cache = reload(saved_cache(root, {module: b"x = 1\n"}))
    before = module.stat()
    time.sleep(0.02)  # a later tick of the file system's clock
    module.write_bytes(b"x = 2\n")  # same size, same inode
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = module.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert cache.lookup(str(module), after) is None  # only ctime tells
    assert cache.lookup(str(module), before) == digest(b"x = 1\n")
    assert cache.lookup(str(tmp_path / "other.py"), before) is None  # same inode, other path
    other = tmp_path / "other.py"  # now the same bytes in another inode
    assert cache.lookup(str(other), written(other, b"x = 1\n")) is None


def test_a_file_written_within_a_second_of_the_run_start_is_not_stored(
    root: Path, tmp_path: Path
) -> None:
    module = tmp_path / "m.py"
    st = written(module, b"x = 1\n")
    cache = HashCache.load(cache_file(root, "/envs/a"), "/envs/a")
    cache.store(str(module), st, digest(b"x = 1\n"), time.time_ns())
    assert cache.lookup(str(module), st) is None
    cache.save()
    assert not cache.path.exists()  # nothing changed, nothing written
    old = time.time_ns() - 5 * RACY_NS
    os.utime(module, ns=(old, old))  # an old mtime is not enough: ctime is now
    cache.store(str(module), module.stat(), digest(b"x = 1\n"), time.time_ns())
    cache.save()
    assert not cache.path.exists()


def test_a_file_rewritten_during_the_run_keeps_no_entry_for_its_new_content(
    root: Path, tmp_path: Path
) -> None:
    module = tmp_path / "m.py"
    cache = reload(saved_cache(root, {module: b"x = 1\n"}))
    started = time.time_ns()
    module.write_bytes(b"x = 2\n")
    cache.store(str(module), module.stat(), digest(b"x = 2\n"), started)  # racy: written just now
    cache.save()
    again = reload(cache)
    assert again.lookup(str(module), module.stat()) is None
    assert len(again) == 0  # the old content's entry was not looked up, so it went too


# -- what a save writes -----------------------------------------------------------------------


def test_files_not_seen_in_a_run_are_dropped_on_save(root: Path, tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept.py", tmp_path / "gone.py"
    cache = reload(saved_cache(root, {kept: b"k\n", gone: b"g\n"}))
    assert cache.lookup(str(kept), kept.stat()) == digest(b"k\n")
    cache.save()
    again = reload(cache)
    assert len(again) == 1
    assert again.lookup(str(gone), gone.stat()) is None


def test_a_run_that_changed_nothing_does_not_rewrite_the_file(root: Path, tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    cache = reload(saved_cache(root, {module: b"x = 1\n"}))
    before = cache.path.stat()
    assert cache.lookup(str(module), module.stat()) is not None
    cache.store(str(module), module.stat(), digest(b"x = 1\n"), time.time_ns() + LATER)
    cache.save()
    assert cache.path.stat().st_ino == before.st_ino  # os.replace would make a new inode


def test_save_never_creates_the_root(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    missing = tmp_path / "no-root"
    saved_cache(missing, {module: b"x = 1\n"})
    assert not missing.exists()


def test_save_creates_the_cache_folders_under_an_existing_root(root: Path, tmp_path: Path) -> None:
    cache = saved_cache(root, {tmp_path / "m.py": b"x = 1\n"})
    assert cache.path.is_file()
    assert [p.name for p in cache.path.parent.iterdir()] == [cache.path.name]  # no temp left


def test_save_where_the_cache_folder_cannot_be_made_does_not_fail(
    root: Path, tmp_path: Path
) -> None:
    (root / ".cache").write_text("a file where the folder would go\n", encoding="utf-8")
    saved_cache(root, {tmp_path / "m.py": b"x = 1\n"})
    assert (root / ".cache").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_save_into_a_read_only_cache_folder_does_not_fail(root: Path, tmp_path: Path) -> None:
    hashes = root / ".cache" / "hashes"
    hashes.mkdir(parents=True)
    hashes.chmod(0o500)
    try:
        cache = saved_cache(root, {tmp_path / "m.py": b"x = 1\n"})
        assert not cache.path.exists()
    finally:
        hashes.chmod(0o700)


# -- what a load refuses ----------------------------------------------------------------------


def _with_header(cache: HashCache, version: int, marshal_version: int) -> bytes:
    """The cache's file rewritten with other versions and a checksum that matches them."""
    data = cache.path.read_bytes()[:-32]
    start = len(MAGIC)
    _, _, length = struct.unpack_from("<HHI", data, start)
    body = data[:start] + struct.pack("<HHI", version, marshal_version, length) + data[start + 8 :]
    return body + hashlib.sha256(body).digest()


def test_a_missing_truncated_corrupt_or_foreign_cache_file_loads_empty(
    root: Path, tmp_path: Path
) -> None:
    cache = saved_cache(root, {tmp_path / "a.py": b"a\n", tmp_path / "b.py": b"b\n"})
    good = cache.path.read_bytes()
    assert len(reload(cache)) == 2
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    body = good[:-32]
    not_a_dict = body[: body.index(b"/envs/a") + 7] + marshal.dumps([1, 2])
    variants = {
        "empty": b"",
        "garbage": os.urandom(4096),
        "one flipped bit": bytes(flipped),
        "another format": _with_header(cache, FORMAT_VERSION + 1, marshal.version),
        "another marshal": _with_header(cache, FORMAT_VERSION, marshal.version + 1),
        "a well-checksummed payload of another shape": not_a_dict
        + hashlib.sha256(not_a_dict).digest(),
    }
    variants |= {f"cut at {cut}": good[:cut] for cut in range(0, len(good), 7)}
    for what, data in variants.items():
        cache.path.write_bytes(data)
        assert len(reload(cache)) == 0, what
    cache.path.unlink()
    assert len(reload(cache)) == 0
    cache.path.mkdir()
    assert len(reload(cache)) == 0


def test_the_cache_of_another_env_is_not_used(root: Path, tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    cache = saved_cache(root, {module: b"x = 1\n"}, env_real="/envs/a")
    other = HashCache.load(cache.path, "/envs/b")  # same file, read for another env
    assert len(other) == 0
    assert other.lookup(str(module), module.stat()) is None


def test_two_writers_saving_in_turn_leave_a_whole_cache_of_one_of_them(
    root: Path, tmp_path: Path
) -> None:
    sets = {
        name: {tmp_path / f"{name}{i}.py": f"{name} {i}\n".encode() for i in range(200)}
        for name in ("a", "b")
    }
    for files in sets.values():
        for path, data in files.items():
            path.write_bytes(data)
    start = time.time_ns() + LATER
    failures: list[BaseException] = []

    def writer(files: dict[Path, bytes]) -> None:
        try:
            for _ in range(30):
                cache = HashCache.load(cache_file(root, "/envs/a"), "/envs/a")
                for path, data in files.items():
                    cache.store(str(path), path.stat(), digest(data), start)
                cache.save()
                assert len(HashCache.load(cache.path, "/envs/a")) in (0, 200)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(files,)) for files in sets.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    final = HashCache.load(cache_file(root, "/envs/a"), "/envs/a")
    assert len(final) == 200
    assert any(
        all(final.lookup(str(p), p.stat()) == digest(d) for p, d in files.items())
        for files in sets.values()
    )
    assert [p.name for p in final.path.parent.iterdir()] == [final.path.name]


# -- many files at once -----------------------------------------------------------------------


def test_entries_made_elsewhere_are_stored_like_single_files(root: Path, tmp_path: Path) -> None:
    old, racy = tmp_path / "old.py", tmp_path / "racy.py"
    cache = reload(saved_cache(root, {racy: b"r\n"}))
    start = time.time_ns() + LATER
    assert entry_for(str(racy), written(racy, b"r\n"), digest(b"r\n"), time.time_ns()) is None
    cache.store_entries(
        [
            entry_for(str(old), written(old, b"o\n"), digest(b"o\n"), start),
            entry_for(str(racy), racy.stat(), digest(b"r\n"), time.time_ns()),
        ]
    )
    cache.save()
    again = reload(cache)
    assert len(again) == 1
    assert again.lookup(str(old), old.stat()) == digest(b"o\n")
    assert again.lookup(str(racy), racy.stat()) is None


# -- resolved RECORDs -------------------------------------------------------------------------

RESOLVED = ((("a.py", "lib/a.py", "x" * 43, 3),), (), 0, ())
"""What verify stores for a RECORD: any value marshal can write."""


def saved_record(root: Path, record: Path, data: bytes, context: str = "ctx") -> HashCache:
    cache = HashCache.load(cache_file(root, "/envs/a"), "/envs/a")
    st = written(record, data)
    cache.store_record(
        str(record), st, context, hashlib.sha256(data).digest(), RESOLVED, time.time_ns() + LATER
    )
    cache.save()
    return reload(cache)


def test_a_resolved_record_is_found_by_its_identity_or_its_content(
    root: Path, tmp_path: Path
) -> None:
    record = tmp_path / "RECORD"
    cache = saved_record(root, record, b"a.py,,\n")
    raw = hashlib.sha256(b"a.py,,\n").digest()
    assert cache.record(str(record), record.stat(), "ctx") == RESOLVED
    os.utime(record)  # a new ctime: no longer found by identity, still by content
    assert cache.record(str(record), record.stat(), "ctx") is None
    assert cache.record_by_content(str(record), "ctx", raw) == RESOLVED
    assert cache.record_by_content(str(record), "ctx", hashlib.sha256(b"other").digest()) is None


def test_a_resolved_record_is_not_used_in_another_context(root: Path, tmp_path: Path) -> None:
    record = tmp_path / "RECORD"
    cache = saved_record(root, record, b"a.py,,\n", context="lib/site\0posix")
    raw = hashlib.sha256(b"a.py,,\n").digest()
    assert cache.record(str(record), record.stat(), "Lib/site\0windows") is None
    assert cache.record_by_content(str(record), "Lib/site\0windows", raw) is None


def test_a_racy_record_is_kept_by_its_content_only(root: Path, tmp_path: Path) -> None:
    record = tmp_path / "RECORD"
    raw = hashlib.sha256(b"a.py,,\n").digest()
    cache = HashCache.load(cache_file(root, "/envs/a"), "/envs/a")
    cache.store_record(
        str(record), written(record, b"a.py,,\n"), "ctx", raw, RESOLVED, time.time_ns()
    )
    cache.save()
    again = reload(cache)
    assert again.record(str(record), record.stat(), "ctx") is None
    assert again.record_by_content(str(record), "ctx", raw) == RESOLVED


def test_resolved_records_not_seen_in_a_run_are_dropped_on_save(root: Path, tmp_path: Path) -> None:
    record = tmp_path / "RECORD"
    cache = saved_record(root, record, b"a.py,,\n")
    cache.save()  # nothing looked up: the entry goes
    assert reload(cache).record(str(record), record.stat(), "ctx") is None


def test_a_run_that_found_every_record_unchanged_does_not_rewrite_the_file(
    root: Path, tmp_path: Path
) -> None:
    record = tmp_path / "RECORD"
    cache = saved_record(root, record, b"a.py,,\n")
    before = cache.path.stat()
    assert cache.record(str(record), record.stat(), "ctx") == RESOLVED
    cache.save()
    assert cache.path.stat().st_ino == before.st_ino
