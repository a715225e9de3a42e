"""IO: check RECORD rows against the files on disk: located, stat'ed, judged and hashed.

A file is trusted from the hash cache when its stat identity is unchanged (``from_cache``),
else read. A file that must be read is opened first (``O_NOFOLLOW``) and ``fstat``ed, one
syscall less than ``lstat`` then open; anything but a regular file of RECORD's size takes the
careful path (``lstat``, symlinks followed only inside the env, then the hasher).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Sequence

from reconciler.core.integrity import IntegrityFinding
from reconciler.observe.envfolder import EnvFolder, Trouble, oserror_detail
from reconciler.observe.hashcache import HashCache, entry_for
from reconciler.observe.hashing import (
    CHUNK,
    OPEN_FIRST,
    OPEN_FLAGS,
    FileHash,
    Hasher,
    hash_open,
    sha256_file,
)
from reconciler.observe.tally import Item, Tally, mismatch
from reconciler.spec.record import EMPTY_SHA256, RowCheck


class RowChecker:
    """Checks rows of an env's RECORDs with ``hasher``, answering from ``cache`` what it can.

    ``stopped`` is set when another share failed: ``check`` then stops at its next row.
    """

    def __init__(self, env: EnvFolder, hasher: Hasher, cache: HashCache | None) -> None:
        self.env = env
        self.hasher = hasher
        self.open_first = hasher is sha256_file and OPEN_FIRST
        self.cache = cache
        self.stopped = False

    def from_cache(self, tally: Tally, items: Sequence[Item]) -> list[Item]:
        """Settle every row whose file is regular, of RECORD's size and unchanged since the
        cache hashed it; return the others, to be checked in full."""
        cache = self.cache
        assert cache is not None
        rest: list[Item] = []
        lookup = cache.lookup
        known_dirs = self.env.real_dirs.get
        real_dir = self.env.real_dir
        lstat = os.lstat
        is_regular = stat.S_ISREG
        seen = self.env.seen
        found = tally.found
        cached = linked = 0
        for item in items:
            row = item[1]
            expected = row[2]
            parent, _, name = row[1].rpartition("/")
            folder, inside = known_dirs(parent) or real_dir(parent)
            if expected is None or not inside:
                rest.append(item)
                continue
            real = folder + os.sep + name
            try:
                info = lstat(real)
            except OSError:
                rest.append(item)
                continue
            if info.st_size != row[3] or not is_regular(info.st_mode):
                rest.append(item)
                continue
            known = lookup(real, info)
            if known is None:
                rest.append(item)
                continue
            if seen is not None:
                seen.append(real)
            cached += 1
            if info.st_nlink > 1:
                linked += 1
            if known != expected:
                found.append((mismatch(item[0], row, info.st_size, known), row[0]))
        tally.files_cached += cached
        tally.linked_files += linked
        return rest

    def check(self, tally: Tally, items: Sequence[Item]) -> None:
        """Check rows in full: located, stat'ed, judged and hashed. Stops early, with the
        tally incomplete, once ``stopped`` is set (another thread failed)."""
        if not self.open_first:
            for name, row in items:
                if self.stopped:
                    return
                self._row(tally, name, row)
            return
        # The common row, a small regular file of RECORD's size, is checked right here: the
        # function calls and objects of _open_row are a fifth of its cost. Anything else, or
        # anything unexpected on the way, goes to _open_row, which starts afresh.
        env = self.env
        known_dirs, real_dir, other = env.real_dirs.get, env.real_dir, self._open_row
        open_, fstat, read, close = os.open, os.fstat, os.read, os.close
        sha256, encode, is_regular = hashlib.sha256, base64.urlsafe_b64encode, stat.S_ISREG
        seen, entries, found, started_ns = env.seen, tally.entries, tally.found, tally.started_ns
        files = read_bytes = linked = 0
        try:
            for name, row in items:
                if self.stopped:
                    return
                path, env_rel, expected, size = row
                if expected is None or not size or size >= CHUNK:
                    other(tally, name, row)
                    continue
                parent, _, base = env_rel.rpartition("/")
                folder, inside = known_dirs(parent) or real_dir(parent)
                real = folder + os.sep + base
                try:
                    fd = open_(real, OPEN_FLAGS) if inside else -1
                except OSError:
                    fd = -1
                if fd < 0:
                    other(tally, name, row)
                    continue
                try:
                    info = fstat(fd)
                    regular = is_regular(info.st_mode) and info.st_size == size
                    data = read(fd, size + 1) if regular else b""
                except OSError:
                    data = b""
                finally:
                    close(fd)
                if len(data) != size:  # not the common case after all
                    other(tally, name, row)
                    continue
                digest = encode(sha256(data).digest()).rstrip(b"=").decode("ascii")
                files += 1
                read_bytes += size
                if info.st_nlink > 1:
                    linked += 1
                if seen is not None:
                    seen.append(real)
                if entries is not None:
                    entries.append(entry_for(real, info, digest, started_ns))
                if digest != expected:
                    found.append((mismatch(name, row, size, digest), path))
        finally:
            tally.add_counts(files, read_bytes, 0, linked)

    def _open_row(self, tally: Tally, name: str, row: RowCheck) -> None:
        """``_row`` for a file opened first: one syscall less for a regular file. Anything
        else (a symlink, which ``O_NOFOLLOW`` refuses, a folder, a FIFO, a missing or
        unreadable file) is left to ``_row`` to classify."""
        parent, _, base = row[1].rpartition("/")
        folder, inside = self.env.real_dirs.get(parent) or self.env.real_dir(parent)
        if row[2] is None or not inside:
            self._row(tally, name, row)
            return
        real = folder + os.sep + base
        try:
            fd = os.open(real, OPEN_FLAGS)
        except OSError:
            self._row(tally, name, row)
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                outcome: FileHash | OSError | None = None
            else:
                if self.env.seen is not None:
                    self.env.seen.append(real)
                if self._stat_judged(tally, name, row, info):
                    return
                try:
                    outcome = hash_open(fd, info.st_size)
                except OSError as exc:
                    outcome = exc
        finally:
            os.close(fd)
        if outcome is None:
            self._row(tally, name, row)
        else:
            self._hash_judged(tally, name, row, real, info, outcome)

    def _row(self, tally: Tally, name: str, row: RowCheck) -> None:
        """Check one row the careful way: ``locate`` (symlinks followed only inside the env),
        judge the stat, then hash with ``hasher``."""
        path, env_rel, expected, size = row
        where = self.env.locate(env_rel)
        if isinstance(where, Trouble):
            category = where.category
            if category == "missing" and expected is None:
                category = "unrecorded"
                detail = "missing (RECORD has no sha256 for it)"
            else:
                detail = where.detail
            finding = IntegrityFinding(
                category,
                name,
                env_rel,
                expected_size=size,
                expected_sha256=expected,
                detail=detail,
            )
            tally.found.append((finding, path))
            return
        real, info = where
        if self._stat_judged(tally, name, row, info):
            return
        try:
            outcome: FileHash | OSError = self.hasher(real, info)
        except OSError as exc:
            outcome = exc
        self._hash_judged(tally, name, row, real, info, outcome)

    def _stat_judged(self, tally: Tally, name: str, row: RowCheck, info: os.stat_result) -> bool:
        """Judge what the stat of a row's regular file shows; True when that settled the row
        (a finding, or a hashless row), False when the file must be hashed."""
        path, env_rel, expected, size = row
        actual = info.st_size
        if info.st_nlink > 1:
            tally.linked_files += 1
        if expected is None:
            if size is not None and actual != size:
                finding = IntegrityFinding(
                    "unrecorded",
                    name,
                    env_rel,
                    expected_size=size,
                    actual_size=actual,
                    detail="size differs (RECORD has no sha256 for it)",
                )
                tally.found.append((finding, path))
            return True
        if actual == 0 and (size != 0 if size is not None else expected != EMPTY_SHA256):
            finding = IntegrityFinding(
                "zero_byte",
                name,
                env_rel,
                expected_size=size,
                actual_size=0,
                expected_sha256=expected,
                actual_sha256=EMPTY_SHA256,
            )
            tally.found.append((finding, path))
            return True
        if size is not None and actual != size:
            finding = IntegrityFinding(
                "size_mismatch",
                name,
                env_rel,
                expected_size=size,
                actual_size=actual,
                expected_sha256=expected,
            )
            tally.found.append((finding, path))
            return True
        return False

    def _hash_judged(
        self,
        tally: Tally,
        name: str,
        row: RowCheck,
        real: str,
        info: os.stat_result,
        outcome: FileHash | OSError,
    ) -> None:
        if isinstance(outcome, OSError):
            finding = IntegrityFinding(
                "unreadable",
                name,
                row[1],
                expected_size=row[3],
                actual_size=info.st_size,
                expected_sha256=row[2],
                detail=oserror_detail(outcome),
            )
            tally.found.append((finding, row[0]))
            return
        tally.files_hashed += 1
        tally.bytes_hashed += outcome.bytes_read
        if tally.entries is not None:
            tally.entries.append(entry_for(real, info, outcome.sha256, tally.started_ns))
        if outcome.sha256 != row[2]:
            tally.found.append((mismatch(name, row, info.st_size, outcome.sha256), row[0]))
