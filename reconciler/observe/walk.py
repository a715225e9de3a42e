"""IO: check every RECORD row of every distribution in an env against the files on disk.

``verify_env`` first reads every ``*.dist-info/RECORD`` (or takes what an unchanged one
resolved to from the hash cache: ``HashCache.record``), then checks each row's file: it must
be inside the env, regular, of RECORD's size (which alone finds missing, zero-byte, wrongly
sized, unreadable and escaping files) and of RECORD's sha256. A file is trusted from the hash
cache when its stat identity is unchanged (``HashCache``; not with ``deep``), else hashed.

How the work is spread is chosen for CPython's GIL. The cost of a big file is hashlib
digesting megabytes with the GIL released; the cost of the ~20,000 small files of an ML env
is per-file Python and syscalls that hold the GIL, which threads cannot share (measured: a
thread pool hashing small files was slower than one thread). So the rows that need reading
are split into one share per core, of about equal cost (bytes, plus a fixed cost per file),
the biggest files dealt out first; on Linux every share but the first is checked by a forked
worker process and sent back through a pipe, and the calling process checks the first. A
worker only reads files and writes its result to its pipe: no cache, no output (it leaves
with ``os._exit``). A worker that dies or fails has its share checked again by the caller;
Ctrl-C or an error in the caller kills and reaps the workers. Where forking is not safe
(not Linux, other threads running, a ``hasher`` that is not ``sha256_file``, whose effects
must happen in the caller), the shares run on threads. Little to read (a warm cache): no
worker at all.

With the cache (and without ``deep``), the caller first ``lstat``s every row's file and
answers what it can from the cache; only the rest is read. A file that must be read is opened
first (``O_NOFOLLOW``) and ``fstat``ed, one syscall less than ``lstat`` then open; anything
but a regular file of RECORD's size takes the careful path (``lstat``, symlinks followed only
inside the env, then the hasher). A deep run reads every RECORD too, and takes what it
resolves to from the cache only when its bytes are the same.

Nothing outside the env folder is ever opened: a row that climbs out is ``outside_env``, and a
symlink (the file's, or a folder's on the way) that resolves outside is ``symlink_outside_env``.
Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked to be regular, so a FIFO
cannot hang the walk. The check-then-open is not atomic against someone swapping symlinks in the
env while it runs; verify reads envs, it does not defend against a hostile concurrent writer.

``hasher`` is a parameter so tests can watch or fail the reads.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import hashlib
import io
import os
import stat
import threading
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from reconciler import runner
from reconciler.errors import ReconcileError
from reconciler.files import is_dir, site_packages
from reconciler.observe.hashcache import Entry, HashCache, entry_for
from reconciler.platform import VenvLayout
from reconciler.spec.record import (
    BASELINE_DETAIL,
    CONTENT_CATEGORIES,
    EMPTY_SHA256,
    AllowedModification,
    Category,
    IntegrityFinding,
    RecordChecks,
    RecordDefect,
    RowCheck,
    VerifyReport,
    dist_name,
    ignore_matcher,
    record_digest,
    resolve_record,
    site_relative,
)

CHUNK = 1 << 20
"""Bytes read per ``readinto``: large enough that hashlib drops the GIL while digesting."""

BIG_FILE = 256 << 10
"""Files at least this big are dealt out to the shares one by one, biggest first; smaller
ones in runs of neighbouring rows."""

PER_FILE = 24 << 10
"""The fixed cost of checking one file (open, stat, read, close and the Python around them),
in bytes hashed in the same time: what balances shares of many small files against shares of
a few big ones."""

PARALLEL_MIN = 32 << 20
"""Below this cost (bytes plus ``PER_FILE`` a file) the calling thread checks everything
itself: starting workers would cost more than they save."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)
_OPEN_FIRST = hasattr(os, "O_NOFOLLOW")
"""Whether a file may be opened before it is ``lstat``ed: only where opening can refuse to
follow a final symlink (elsewhere a link out of the env would be read)."""


class EnvNotVerifiable(ReconcileError):
    """The folder is not an env whose files can be checked (absent, or no site-packages)."""


@dataclass(frozen=True)
class FileHash:
    """What hashing one file gave: its RECORD-style sha256 and how many bytes were read
    (zero when a cache answered)."""

    sha256: str
    bytes_read: int


Hasher = Callable[[str, os.stat_result], FileHash]
"""Hash the regular file at a path whose ``stat`` the walk already took (a cache's key)."""

_buffers = threading.local()


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(CHUNK))
        _buffers.view = view
    return view


def _hash_open(fd: int, size: int) -> FileHash:
    """sha256 of an open regular file of ``size`` bytes (by its ``fstat``): small files in
    one read, big ones in 1 MiB chunks read into a per-thread buffer."""
    digest = hashlib.sha256()
    total = 0
    if size < CHUNK:
        # Most files: one read and no buffer juggling (per-file overhead is what holds the
        # GIL); reading one byte more than the size notices a file that grew.
        data = os.read(fd, size + 1)
        digest.update(data)
        total = len(data)
    if size >= CHUNK or total > size:
        with io.FileIO(fd, "rb", closefd=False) as handle:
            view = _buffer()
            while count := handle.readinto(view):
                digest.update(view[:count])
                total += count
    return FileHash(record_digest(digest.digest()), total)


def sha256_file(path: str, expected: os.stat_result) -> FileHash:
    """sha256 of a regular file: small files in one read, big ones in 1 MiB chunks read into a
    per-thread buffer.

    Never follows a final symlink and never blocks on a FIFO; raises ``OSError`` when the
    file cannot be read or is no longer the regular file ``expected`` describes.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (
            expected.st_dev,
            expected.st_ino,
        ):
            raise OSError(errno.ESTALE, "the file changed while it was being verified", path)
        return _hash_open(fd, now.st_size)
    finally:
        os.close(fd)


_Item = tuple[str, RowCheck]
"""A row to check and the canonical name of its distribution."""

_Located = tuple[str, os.stat_result]
"""A regular file inside the env: its real path and its ``stat`` (a plain tuple: one per row)."""


class _Trouble(NamedTuple):
    category: Category
    detail: str


def _oserror_detail(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    return exc.strerror or str(exc)


_PlainTally = tuple[
    list[tuple[tuple[Any, ...], "str | None"]],
    "list[Entry | None] | None",
    tuple[int, int, int, int],
    list[str],
]
"""A ``_Tally`` as builtin values: what a worker process sends back."""


class _Tally:
    """What checking one share of the rows found: findings (each with its RECORD path, which
    ``verify_ignore`` matches), hash cache entries for the files it hashed, and counts.

    Plain values throughout, so a worker process can send it back with ``marshal``.
    """

    def __init__(self, keep_entries: bool, started_ns: int) -> None:
        self.found: list[tuple[IntegrityFinding, str | None]] = []
        self.entries: list[Entry | None] | None = [] if keep_entries else None
        self.started_ns = started_ns
        self.files_hashed = 0
        self.bytes_hashed = 0
        self.files_cached = 0
        self.linked_files = 0
        self.seen: list[str] = []
        """Paths seen by a worker process (in-process, the walker's ``seen`` gets them)."""

    def to_plain(self) -> _PlainTally:
        found = [
            (
                (
                    f.category,
                    f.dist,
                    f.path,
                    f.expected_size,
                    f.actual_size,
                    f.expected_sha256,
                    f.actual_sha256,
                    f.detail,
                ),
                record_path,
            )
            for f, record_path in self.found
        ]
        counts = (self.files_hashed, self.bytes_hashed, self.files_cached, self.linked_files)
        return (found, self.entries, counts, self.seen)

    def add_plain(self, plain: object) -> None:
        """Add what a worker's ``to_plain`` sent."""
        found, entries, counts, seen = typing.cast("_PlainTally", plain)
        self.found.extend((IntegrityFinding(*fields), where) for fields, where in found)
        if self.entries is not None and entries is not None:
            self.entries.extend(entries)
        self.add_counts(*counts)
        self.seen.extend(seen)

    def add(self, other: _Tally) -> None:
        self.found.extend(other.found)
        if self.entries is not None and other.entries is not None:
            self.entries.extend(other.entries)
        self.add_counts(
            other.files_hashed, other.bytes_hashed, other.files_cached, other.linked_files
        )
        self.seen.extend(other.seen)

    def add_counts(self, hashed: int, read: int, cached: int, linked: int) -> None:
        self.files_hashed += hashed
        self.bytes_hashed += read
        self.files_cached += cached
        self.linked_files += linked


class _Walker:
    """The walk: RECORDs read, rows resolved inside the env, stat'ed, judged and hashed."""

    def __init__(
        self,
        env_real: str,
        windows: bool,
        hasher: Hasher,
        cache: HashCache | None,
        deep: bool,
        seen: list[str] | None,
        started_ns: int,
    ) -> None:
        self.env_real = env_real
        self.windows = windows
        self.hasher = hasher
        self.open_first = hasher is sha256_file and _OPEN_FIRST
        self.cache = cache
        self.deep = deep
        self.seen = seen
        self.started_ns = started_ns
        self.issues: list[IntegrityFinding] = []
        """Findings about RECORDs and folders (never subject to ``verify_ignore``)."""
        self.notes: list[str] = []
        self.items: list[_Item] = []
        self.dists = 0
        self.bytecode_rows = 0
        self.stopped = False
        self._env_key = os.path.normcase(env_real)
        self._env_prefix = os.path.normcase(env_real.rstrip(os.sep) + os.sep)
        self._real_dirs: dict[str, tuple[str, bool]] = {"": (env_real, True)}

    # -- where things are ---------------------------------------------------------------

    def _inside(self, real: str) -> bool:
        real = os.path.normcase(real)
        return real == self._env_key or real.startswith(self._env_prefix)

    def _real_dir(self, rel: str) -> tuple[str, bool]:
        """The real path of the folder at env-relative ``rel`` (``/``-separated, normal), and
        whether it is inside the env.

        Resolved one segment at a time from the parent's memoized answer, so a tree costs one
        ``lstat`` per folder rather than one per path component per file. Below a folder that
        already resolves outside the env nothing more is looked at.
        """
        known = self._real_dirs.get(rel)
        if known is not None:
            return known
        parent, _, name = rel.rpartition("/")
        base, base_inside = self._real_dir(parent)
        found = base + name if base.endswith(os.sep) else base + os.sep + name
        if self.seen is not None:
            self.seen.append(found)
        inside = base_inside
        if base_inside:
            try:
                linked = stat.S_ISLNK(os.lstat(found).st_mode)
            except OSError:  # absent, or not a folder: the file's own lstat will say so
                linked = False
            if linked:
                found = os.path.realpath(found)
                inside = self._inside(found)
        self._real_dirs[rel] = (found, inside)
        return found, inside

    def locate(self, env_rel: str) -> _Located | _Trouble:
        """Resolve an env-relative path to a regular file inside the env, without reading it."""
        parent, _, name = env_rel.rpartition("/")
        parent_real, inside = self._real_dirs.get(parent) or self._real_dir(parent)
        if not inside:
            return _Trouble("symlink_outside_env", f"its folder resolves to {parent_real}")
        path = parent_real + os.sep + name
        if self.seen is not None:
            self.seen.append(path)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return _Trouble("missing", "")
        except OSError as exc:
            return _Trouble("unreadable", _oserror_detail(exc))
        if stat.S_ISREG(info.st_mode):  # nearly every row: decided in one test
            return path, info
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if not self._inside(target):
                return _Trouble("symlink_outside_env", f"a symlink to {target}")
            if self.seen is not None:
                self.seen.append(target)
            try:
                info = os.stat(target)  # noqa: PTH116  str paths: one per RECORD row
            except (FileNotFoundError, NotADirectoryError):
                return _Trouble("missing", f"a dangling symlink to {target}")
            except OSError as exc:
                return _Trouble("unreadable", _oserror_detail(exc))
            path = target
        if stat.S_ISDIR(info.st_mode):
            return _Trouble("unreadable", "a directory where a file should be")
        if not stat.S_ISREG(info.st_mode):
            return _Trouble("unreadable", "not a regular file")
        return path, info

    # -- the RECORDs --------------------------------------------------------------------

    def site(self, site: Path) -> list[tuple[str, str]]:
        """Read the RECORDs of one site-packages folder (their rows are checked by
        ``check``); return its (canonical name, dist-info) pairs."""
        site_rel = site.relative_to(self.env_real).as_posix()
        real, inside = self._real_dir(site_rel)
        if not inside:
            self.issues.append(
                _finding("symlink_outside_env", None, site_rel, detail=f"resolves to {real}")
            )
            return []
        seen: list[tuple[str, str]] = []
        try:
            folders = sorted(entry.name for entry in os.scandir(real))
        except OSError as exc:
            self.issues.append(_finding("unreadable", None, site_rel, detail=_oserror_detail(exc)))
            return []
        for folder in folders:
            if not folder.endswith(".dist-info"):
                continue
            dist_info_rel = f"{site_rel}/{folder}"
            folder_real, inside = self._real_dir(dist_info_rel)
            name = dist_name(folder)
            if not inside:
                self.dists += 1
                self.issues.append(
                    _finding(
                        "symlink_outside_env",
                        name,
                        dist_info_rel,
                        detail=f"a link to {folder_real}",
                    )
                )
                continue
            if not is_dir(Path(folder_real)):
                continue
            self.dists += 1
            seen.append((name, dist_info_rel))
            self._dist(name, site_rel, dist_info_rel)
        return seen

    def _dist(self, name: str, site_rel: str, dist_info_rel: str) -> None:
        """Read one RECORD, or take what it resolved to from the cache; queue its rows."""
        record_rel = f"{dist_info_rel}/RECORD"
        where = self.locate(record_rel)
        if isinstance(where, _Trouble):
            category = "record_missing" if where.category == "missing" else where.category
            self.issues.append(_finding(category, name, record_rel, detail=where.detail))
            return
        checks = self._record_checks(record_rel, site_rel, *where)
        if isinstance(checks, OSError):
            detail = _oserror_detail(checks)
            self.issues.append(_finding("unreadable", name, record_rel, detail=detail))
            return
        for kind, path, detail in checks.issues:
            self.issues.append(_finding(kind, name, path, detail=detail))
        self.bytecode_rows += checks.bytecode_rows
        for algorithm, count in checks.other_algorithms:
            self.notes.append(
                f"{name}: {count} RECORD rows hashed with {algorithm}, not sha256: "
                "checked for presence and size only"
            )
        self.items.extend([(name, row) for row in checks.rows])

    def _record_checks(
        self, record_rel: str, site_rel: str, real: str, info: os.stat_result
    ) -> RecordChecks | OSError:
        """What the RECORD asks to check: from the cache when its identity is unchanged (not
        with ``deep``) or its bytes are, else parsed (and cached)."""
        cache = self.cache
        context = f"{record_rel}\0{'windows' if self.windows else 'posix'}"
        if cache is not None and not self.deep:
            known = RecordChecks.from_plain(cache.record(real, info, context))
            if known is not None:
                return known
        try:
            data = _read_record(real, info)
        except OSError as exc:
            return exc
        if cache is None:
            return resolve_record(data, record_rel, site_rel, windows=self.windows)
        digest = hashlib.sha256(data).digest()
        checks = RecordChecks.from_plain(cache.record_by_content(real, context, digest))
        if checks is None:
            checks = resolve_record(data, record_rel, site_rel, windows=self.windows)
        cache.store_record(real, info, context, digest, checks.to_plain(), self.started_ns)
        return checks

    # -- the rows -----------------------------------------------------------------------

    def from_cache(self, tally: _Tally, items: Sequence[_Item]) -> list[_Item]:
        """Settle every row whose file is regular, of RECORD's size and unchanged since the
        cache hashed it; return the others, to be checked in full."""
        cache = self.cache
        assert cache is not None
        rest: list[_Item] = []
        lookup = cache.lookup
        known_dirs = self._real_dirs.get
        real_dir = self._real_dir
        lstat = os.lstat
        is_regular = stat.S_ISREG
        seen = self.seen
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
                found.append((_mismatch(item[0], row, info.st_size, known), row[0]))
        tally.files_cached += cached
        tally.linked_files += linked
        return rest

    def check(self, tally: _Tally, items: Sequence[_Item]) -> None:
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
        known_dirs, real_dir, other = self._real_dirs.get, self._real_dir, self._open_row
        open_, fstat, read, close = os.open, os.fstat, os.read, os.close
        sha256, encode, is_regular = hashlib.sha256, base64.urlsafe_b64encode, stat.S_ISREG
        seen, entries, found, started_ns = self.seen, tally.entries, tally.found, tally.started_ns
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
                    fd = open_(real, _OPEN_FLAGS) if inside else -1
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
                    found.append((_mismatch(name, row, size, digest), path))
        finally:
            tally.add_counts(files, read_bytes, 0, linked)

    def _open_row(self, tally: _Tally, name: str, row: RowCheck) -> None:
        """``_row`` for a file opened first: one syscall less for a regular file. Anything
        else (a symlink, which ``O_NOFOLLOW`` refuses, a folder, a FIFO, a missing or
        unreadable file) is left to ``_row`` to classify."""
        parent, _, base = row[1].rpartition("/")
        folder, inside = self._real_dirs.get(parent) or self._real_dir(parent)
        if row[2] is None or not inside:
            self._row(tally, name, row)
            return
        real = folder + os.sep + base
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError:
            self._row(tally, name, row)
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                outcome: FileHash | OSError | None = None
            else:
                if self.seen is not None:
                    self.seen.append(real)
                if self._stat_judged(tally, name, row, info):
                    return
                try:
                    outcome = _hash_open(fd, info.st_size)
                except OSError as exc:
                    outcome = exc
        finally:
            os.close(fd)
        if outcome is None:
            self._row(tally, name, row)
        else:
            self._hash_judged(tally, name, row, real, info, outcome)

    def _row(self, tally: _Tally, name: str, row: RowCheck) -> None:
        """Check one row the careful way: ``locate`` (symlinks followed only inside the env),
        judge the stat, then hash with ``hasher``."""
        path, env_rel, expected, size = row
        where = self.locate(env_rel)
        if isinstance(where, _Trouble):
            category = where.category
            if category == "missing" and expected is None:
                category = "unrecorded"
                detail = "missing (RECORD has no sha256 for it)"
            else:
                detail = where.detail
            finding = _finding(
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

    def _stat_judged(self, tally: _Tally, name: str, row: RowCheck, info: os.stat_result) -> bool:
        """Judge what the stat of a row's regular file shows; True when that settled the row
        (a finding, or a hashless row), False when the file must be hashed."""
        path, env_rel, expected, size = row
        actual = info.st_size
        if info.st_nlink > 1:
            tally.linked_files += 1
        if expected is None:
            if size is not None and actual != size:
                finding = _finding(
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
            finding = _finding(
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
            finding = _finding(
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
        tally: _Tally,
        name: str,
        row: RowCheck,
        real: str,
        info: os.stat_result,
        outcome: FileHash | OSError,
    ) -> None:
        if isinstance(outcome, OSError):
            finding = _finding(
                "unreadable",
                name,
                row[1],
                expected_size=row[3],
                actual_size=info.st_size,
                expected_sha256=row[2],
                detail=_oserror_detail(outcome),
            )
            tally.found.append((finding, row[0]))
            return
        tally.files_hashed += 1
        tally.bytes_hashed += outcome.bytes_read
        if tally.entries is not None:
            tally.entries.append(entry_for(real, info, outcome.sha256, tally.started_ns))
        if outcome.sha256 != row[2]:
            tally.found.append((_mismatch(name, row, info.st_size, outcome.sha256), row[0]))


def _mismatch(dist: str, row: RowCheck, size: int, actual: str) -> IntegrityFinding:
    return _finding(
        "hash_mismatch",
        dist,
        row[1],
        expected_size=row[3],
        actual_size=size,
        expected_sha256=row[2],
        actual_sha256=actual,
    )


def _finding(
    category: Category,
    dist: str | None,
    path: str,
    *,
    expected_size: int | None = None,
    actual_size: int | None = None,
    expected_sha256: str | None = None,
    actual_sha256: str | None = None,
    detail: str = "",
) -> IntegrityFinding:
    return IntegrityFinding(
        category,
        dist,
        path,
        expected_size,
        actual_size,
        expected_sha256,
        actual_sha256,
        detail,
    )


RECORD_FILE_LIMIT = 64 << 20
"""A RECORD lists every file of a distribution: a few MB for the biggest; more is no RECORD."""


def _read_record(path: str, expected: os.stat_result) -> bytes:
    fd = os.open(path, _OPEN_FLAGS)
    with io.FileIO(fd, "rb", closefd=True) as handle:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
            raise OSError(errno.ESTALE, "the file changed while it was being read", path)
        if not stat.S_ISREG(now.st_mode) or now.st_size > RECORD_FILE_LIMIT:
            raise OSError(errno.EINVAL, "not a regular file of a RECORD's size", path)
        data = handle.read(RECORD_FILE_LIMIT + 1)
        if len(data) > RECORD_FILE_LIMIT:
            raise OSError(errno.EFBIG, "larger than a RECORD can be", path)
        return data


# -- spreading the work ---------------------------------------------------------------------


def _cost(item: _Item) -> int:
    return (item[1][3] or 0) + PER_FILE


def _split(items: Sequence[_Item], count: int) -> list[list[_Item]]:
    """``items`` in ``count`` shares of about equal cost (bytes, plus ``PER_FILE`` a file).

    Big files are dealt out first, biggest first, each to the share with least so far (and
    come first in it, so the longest hashes start at once); then the small ones fill the
    shares up in runs of neighbouring rows (a run shares folders, which each process
    resolves once). The first share is the lightest: its process also gathers the others.
    """
    if count <= 1:
        return [list(items)]
    big = sorted(
        (item for item in items if (item[1][3] or 0) >= BIG_FILE), key=lambda i: -(i[1][3] or 0)
    )
    small = [item for item in items if (item[1][3] or 0) < BIG_FILE]
    shares: list[list[_Item]] = [[] for _ in range(count)]
    loads = [0] * count
    for item in big:
        least = loads.index(min(loads))
        shares[least].append(item)
        loads[least] += _cost(item)
    target = (sum(loads) + sum(_cost(item) for item in small)) / count
    start = 0
    for position, index in enumerate(sorted(range(count), key=lambda i: -loads[i])):
        last = position == count - 1
        end = start
        load = loads[index]
        while end < len(small) and (last or load < target):
            load += _cost(small[end])
            end += 1
        shares[index].extend(small[start:end])
        loads[index] = load
        start = end
    order = sorted(range(count), key=loads.__getitem__)
    return [shares[i] for i in order]


def _fork_allowed(hasher: Hasher) -> bool:
    """Whether shares may go to forked workers: where ``runner.fork_allowed`` says forking is
    safe, and with the stock hasher (a test's must run in the caller)."""
    return hasher is sha256_file and runner.fork_allowed()


def _threaded(walker: _Walker, shares: Sequence[Callable[[], None]]) -> None:
    """Run every share, the first in the calling thread and each other on a thread of its
    own. When one fails (or Ctrl-C), the others stop at their next row; the first exception
    is raised here once all threads are done."""
    failures: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the calling thread, which raises it
            walker.stopped = True
            failures.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(work,), name=f"verify-{number}", daemon=True)
        for number, work in enumerate(shares[1:], start=1)
    ]
    for thread in threads:
        thread.start()
    try:
        shares[0]()
    except BaseException:
        walker.stopped = True
        raise
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]


def _check_all(walker: _Walker, tally: _Tally, items: Sequence[_Item], workers: int) -> None:
    """Check ``items`` in full, spread over ``workers`` shares when there is enough to read."""
    enough = sum(_cost(item) for item in items) >= PARALLEL_MIN
    count = min(workers, len(items)) if enough else 1
    shares = _split(items, count)
    tallies = [_Tally(tally.entries is not None, tally.started_ns) for _ in shares]
    if len(shares) == 1:
        walker.check(tally, items)
        return
    if _fork_allowed(walker.hasher):
        seen = walker.seen

        def plain(index: int) -> Callable[[], object]:
            def work() -> object:
                if seen is not None:  # a worker's own list, sent back in its tally
                    walker.seen = tallies[index].seen
                walker.check(tallies[index], shares[index])
                return tallies[index].to_plain()

            return work

        results = runner.fork_map(
            [lambda: walker.check(tallies[0], shares[0])]
            + [plain(index) for index in range(1, len(shares))]
        )
        for index, result in enumerate(results[1:], start=1):
            if result is None:  # the worker failed: its share is checked here after all
                walker.check(tallies[index], shares[index])
            else:
                tallies[index].add_plain(result)
    else:

        def run(index: int) -> Callable[[], None]:
            return lambda: walker.check(tallies[index], shares[index])

        _threaded(walker, [run(index) for index in range(len(shares))])
    for share in tallies:
        tally.add(share)
    if walker.seen is not None:
        walker.seen.extend(tally.seen)


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def verify_env(
    env_dir: Path,
    ignore: Sequence[str] = (),
    workers: int | None = None,
    *,
    venv: VenvLayout,
    hasher: Hasher = sha256_file,
    cache: HashCache | None = None,
    deep: bool = False,
    seen: list[str] | None = None,
    baseline: Sequence[RecordDefect] = (),
) -> VerifyReport:
    """Check every RECORD row of every distribution in the env at ``env_dir``.

    ``ignore`` holds ``verify_ignore`` globs relative to site-packages: a matching file whose
    content differs from RECORD is an allowed modification, not a finding. ``workers`` bounds
    the processes (or threads) that check files, the calling one included (default: one per
    core). ``venv`` says where site-packages is (``Lib/site-packages`` on Windows). ``hasher``
    digests one file
    (``sha256_file``; another one runs in this process only). ``env_dir`` may be a symlink (a
    live env pointing at its generation); everything is checked inside the folder it
    resolves to.

    ``cache`` (loaded for this env's real path) answers for every file whose stat identity is
    unchanged, so it is not read, and for every RECORD likewise; every file that is hashed is
    stored in it (racy files excepted, see ``reconciler.observe.hashcache``). ``deep`` reads every
    file even so, and refreshes the cache with what it found. The findings are the same
    either way. The caller saves the cache (``cache.save()``); this function never writes.
    ``seen``, when given, gets every path the walk looked at, present or not: each folder on
    the way (once), each RECORD, each file a row names, each symlink target followed; a
    caller can tell from their stat identities whether anything the report depends on
    changed since.

    ``baseline`` holds the rows known to be wrong upstream, with what was installed for them
    (the generation's receipt keeps it): a row that still says what it said then is checked
    against the baseline instead, and is a ``record_defect`` (``report.record_defects``, not
    a finding) while its file is unchanged, a finding naming the baseline once it is not.

    Never raises for a broken file; raises ``EnvNotVerifiable`` when the folder is absent or
    has no site-packages, and ``ValueError`` for a cache of another env.
    """
    started_ns = time.time_ns()  # before any stat: the racy rule's reference
    env_real = os.path.realpath(env_dir)
    try:
        with os.scandir(env_real):  # a folder, and one this user may list
            pass
    except (FileNotFoundError, NotADirectoryError):
        raise EnvNotVerifiable(
            f"{env_dir} is not an env folder; nothing to verify there."
        ) from None
    except OSError as exc:
        raise EnvNotVerifiable(
            f"{env_dir} cannot be read ({exc.strerror or exc}); verify it as a user who may "
            "read it."
        ) from None
    if cache is not None and cache.env_real != env_real:
        raise ValueError(f"the hash cache is for {cache.env_real}, not {env_real}")
    sites = site_packages(Path(env_real), venv=venv)
    if not sites:
        raise EnvNotVerifiable(
            f"{env_dir} has no {venv.site_packages} folder; is it a venv? Rebuild it or fix "
            "the path."
        )
    walker = _Walker(env_real, venv.windows, hasher, cache, deep, seen, started_ns)
    owners: dict[str, list[str]] = {}
    for site in sites:
        for name, dist_info_rel in walker.site(site):
            owners.setdefault(name, []).append(dist_info_rel)
    _report_duplicates(walker, owners)
    defects = _apply_baseline(walker, baseline)
    tally = _Tally(cache is not None, started_ns)
    rest = walker.items if deep or cache is None else walker.from_cache(tally, walker.items)
    _check_all(walker, tally, rest, workers if workers is not None else default_workers())
    if cache is not None and tally.entries:
        cache.store_entries(tally.entries)
    findings, allowed = _judge(walker, tally, ignore, venv.windows)
    findings, informed = _against_baseline(findings, allowed, defects)
    return VerifyReport(
        env_dir=str(env_dir),
        site_packages=tuple(site.relative_to(env_real).as_posix() for site in sites),
        findings=tuple(sorted(findings, key=IntegrityFinding.sort_key)),
        allowed=tuple(sorted(allowed, key=lambda a: (a.finding.sort_key(), a.pattern))),
        dists=walker.dists,
        rows_checked=len(walker.items),
        files_hashed=tally.files_hashed,
        bytes_hashed=tally.bytes_hashed,
        bytecode_rows=walker.bytecode_rows,
        notes=tuple(walker.notes),
        files_cached=tally.files_cached,
        linked_files=tally.linked_files,
        record_defects=tuple(sorted(informed, key=IntegrityFinding.sort_key)),
    )


def _apply_baseline(walker: _Walker, baseline: Sequence[RecordDefect]) -> dict[str, RecordDefect]:
    """Check the rows of ``baseline`` against what was installed, not against RECORD: each
    row of the same distribution that still says exactly what it said at build time. A row
    RECORD now says otherwise about is checked against RECORD again. Returns the rows
    replaced, by their path relative to the env."""
    if not baseline:
        return {}
    known = {defect.path: defect for defect in baseline}
    applied: dict[str, RecordDefect] = {}
    for index, (name, row) in enumerate(walker.items):
        defect = known.get(row[1])
        if (
            defect is not None
            and defect.dist == name
            and (row[2], row[3]) == (defect.record_sha256, defect.record_size)
        ):
            walker.items[index] = (name, (row[0], row[1], defect.sha256, defect.size))
            applied[row[1]] = defect
    return applied


def _against_baseline(
    findings: list[IntegrityFinding],
    allowed: Sequence[AllowedModification],
    defects: dict[str, RecordDefect],
) -> tuple[list[IntegrityFinding], list[IntegrityFinding]]:
    """The findings, those about a baseline row saying so; and one ``record_defect`` for
    each baseline row whose file is still what was installed."""
    if not defects:
        return findings, []
    settled = {f.path for f in findings} | {a.finding.path for a in allowed}
    marked = [
        dataclasses.replace(
            f, detail=f"{f.detail}; {BASELINE_DETAIL}" if f.detail else BASELINE_DETAIL
        )
        if f.path in defects and f.dist == defects[f.path].dist
        else f
        for f in findings
    ]
    informed = [
        _finding(
            "record_defect",
            defect.dist,
            path,
            expected_size=defect.record_size,
            actual_size=defect.size,
            expected_sha256=defect.record_sha256,
            actual_sha256=defect.sha256,
            detail="the wheel's own RECORD row is wrong (an upstream defect); the file is "
            "as reconcile installed it",
        )
        for path, defect in defects.items()
        if path not in settled
    ]
    return marked, informed


def _report_duplicates(walker: _Walker, owners: dict[str, list[str]]) -> None:
    for name, folders in owners.items():
        if len(folders) > 1:
            for folder in folders:
                others = ", ".join(f.rsplit("/", 1)[-1] for f in folders if f != folder)
                walker.issues.append(
                    _finding("duplicate_dist", name, folder, detail=f"also {others}")
                )


def _judge(
    walker: _Walker, tally: _Tally, ignore: Sequence[str], windows: bool
) -> tuple[list[IntegrityFinding], list[AllowedModification]]:
    """The findings, and the allowed modifications: findings about a file's content whose
    RECORD path (relative to site-packages) a ``verify_ignore`` glob matches."""
    findings = list(walker.issues)
    allowed: list[AllowedModification] = []
    match = ignore_matcher(ignore)
    for finding, record_path in tally.found:
        if ignore and record_path is not None and finding.category in CONTENT_CATEGORIES:
            inside_site = site_relative(record_path, windows=windows)
            pattern = None if inside_site is None else match(inside_site)
            if pattern is not None:
                allowed.append(AllowedModification(finding, pattern))
                continue
        findings.append(finding)
    return findings, allowed
