"""IO: check every RECORD row of every distribution in an env against the files on disk.

``verify_env`` first reads every ``*.dist-info/RECORD``, then walks the rows in the calling
thread: each is resolved to a file inside the env and ``stat``ed, which alone finds missing,
zero-byte, wrongly sized, unreadable and escaping files. A file whose size matched is then
trusted from the hash cache when its stat identity is unchanged (``HashCache``; not with
``deep``), else hashed.

Where the hashing happens is chosen for CPython's GIL, not for symmetry. Small files are hashed
right there in the walking thread: their cost is per-file Python and syscalls that hold or
bounce the GIL, and handing them to other threads only adds contention (measured: a pool
hashing small files was slower than one thread). Big files go to ``workers - 1`` helper
threads, largest first, where hashlib digests megabytes with the GIL released; the walk
visits rows whose RECORD size is big first, so the biggest file (a 400 MB shared library in
a torch env) starts hashing at once and the walking thread does everything else meanwhile,
then helps with the big files left.

Nothing outside the env folder is ever opened: a row that climbs out is ``outside_env``, and a
symlink (the file's, or a folder's on the way) that resolves outside is ``symlink_outside_env``.
Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked to be regular, so a FIFO
cannot hang the walk. The check-then-open is not atomic against someone swapping symlinks in the
env while it runs; verify reads envs, it does not defend against a hostile concurrent writer.

``hasher`` is a parameter so tests can watch or fail the reads.
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import io
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reconciler.errors import ReconcileError
from reconciler.hashcache import HashCache
from reconciler.records import (
    CONTENT_CATEGORIES,
    EMPTY_SHA256,
    VERIFIED_ALGORITHM,
    AllowedModification,
    Category,
    IntegrityFinding,
    RecordRow,
    VerifyReport,
    dist_name,
    env_relative,
    ignore_matcher,
    is_bytecode,
    parse_record,
    record_digest,
    site_relative,
)

CHUNK = 1 << 20
"""Bytes read per ``readinto``: large enough that hashlib drops the GIL while digesting."""

MAX_INVALID_ROWS = 10
"""``record_invalid`` findings listed one by one per RECORD; the rest are counted in one more."""

_BYTECODE_SUFFIXES = (".pyc", ".pyo")

BIG_FILE = 256 << 10
"""Files at least this big are hashed by helper threads (when there are any), the rest by the
walking thread."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


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
        digest = hashlib.sha256()
        total = 0
        if now.st_size < CHUNK:
            # Most files: one read and no buffer juggling (per-file overhead is what holds
            # the GIL); reading one byte more than the size notices a file that grew.
            data = os.read(fd, now.st_size + 1)
            digest.update(data)
            total = len(data)
        if now.st_size >= CHUNK or total > now.st_size:
            with io.FileIO(fd, "rb", closefd=False) as handle:
                view = _buffer()
                while count := handle.readinto(view):
                    digest.update(view[:count])
                    total += count
    finally:
        os.close(fd)
    return FileHash(record_digest(digest.digest()), total)


class _Job(NamedTuple):
    """A file whose size matched RECORD and whose content must now be hashed."""

    dist: str
    env_rel: str
    real: str
    stat: os.stat_result
    row: RecordRow


_Located = tuple[str, os.stat_result]
"""A regular file inside the env: its real path and its ``stat`` (a plain tuple: one per row)."""


class _Trouble(NamedTuple):
    category: Category
    detail: str


def _oserror_detail(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    return exc.strerror or str(exc)


class _Walker:
    """The walk: RECORDs read, rows resolved and stat'ed, findings kept, hash jobs handed on."""

    def __init__(
        self,
        env_real: str,
        windows: bool,
        ignore: Sequence[str],
        hashing: _Hashing,
        cache: HashCache | None,
        seen: list[str] | None,
    ) -> None:
        self.env_real = env_real
        self.windows = windows
        self.ignore = tuple(ignore)
        self.match_ignore = ignore_matcher(ignore)
        self.findings: list[IntegrityFinding] = []
        self.allowed: list[AllowedModification] = []
        self.hashing = hashing
        self.cache = cache
        self.seen = seen
        self.notes: list[str] = []
        self.items: list[tuple[str, RecordRow, str]] = []
        """The rows to check: (canonical name, row, where it lands relative to the env)."""
        self.dists = 0
        self.bytecode_rows = 0
        self.files_cached = 0
        self.linked_files = 0
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

    # -- reporting ----------------------------------------------------------------------

    def report(self, finding: IntegrityFinding, record_path: str | None = None) -> None:
        """Record a finding, or an allowed modification when ``verify_ignore`` covers the
        RECORD path (as written, relative to site-packages) it came from."""
        if record_path is not None and self.ignore and finding.category in CONTENT_CATEGORIES:
            inside_site = site_relative(record_path, self.windows)
            pattern = None if inside_site is None else self.match_ignore(inside_site)
            if pattern is not None:
                self.allowed.append(AllowedModification(finding, pattern))
                return
        self.findings.append(finding)

    # -- the walk -----------------------------------------------------------------------

    def site(self, site: Path) -> list[tuple[str, str]]:
        """Read the RECORDs of one site-packages folder (their rows are checked by ``check``);
        return its (canonical name, dist-info) pairs."""
        site_rel = site.relative_to(self.env_real).as_posix()
        real, inside = self._real_dir(site_rel)
        if not inside:
            self.report(
                IntegrityFinding(
                    "symlink_outside_env", None, site_rel, detail=f"resolves to {real}"
                )
            )
            return []
        seen: list[tuple[str, str]] = []
        try:
            folders = sorted(entry.name for entry in os.scandir(real))
        except OSError as exc:
            self.report(_finding("unreadable", None, site_rel, detail=_oserror_detail(exc)))
            return []
        for folder in folders:
            if not folder.endswith(".dist-info"):
                continue
            dist_info_rel = f"{site_rel}/{folder}"
            folder_real, inside = self._real_dir(dist_info_rel)
            name = dist_name(folder)
            if not inside:
                self.dists += 1
                self.report(
                    _finding(
                        "symlink_outside_env",
                        name,
                        dist_info_rel,
                        detail=f"a link to {folder_real}",
                    )
                )
                continue
            if not Path(folder_real).is_dir():
                continue
            self.dists += 1
            seen.append((name, dist_info_rel))
            self._dist(name, site_rel, dist_info_rel)
        return seen

    def _dist(self, name: str, site_rel: str, dist_info_rel: str) -> None:
        """Read and parse one RECORD; queue its rows for ``check``."""
        record_rel = f"{dist_info_rel}/RECORD"
        where = self.locate(record_rel)
        if isinstance(where, _Trouble):
            category = "record_missing" if where.category == "missing" else where.category
            self.report(_finding(category, name, record_rel, detail=where.detail))
            return
        try:
            data = _read_record(*where)
        except OSError as exc:
            self.report(_finding("unreadable", name, record_rel, detail=_oserror_detail(exc)))
            return
        parsed = parse_record(data)
        for problem in parsed.problems[:MAX_INVALID_ROWS]:
            self.report(
                _finding(
                    "record_invalid",
                    name,
                    record_rel,
                    detail=f"line {problem.line}: {'; '.join(problem.issues)}",
                )
            )
        if len(parsed.problems) > MAX_INVALID_ROWS:
            more = len(parsed.problems) - MAX_INVALID_ROWS
            self.report(
                _finding(
                    "record_invalid",
                    name,
                    record_rel,
                    detail=f"and {more} more lines that do not parse",
                )
            )
        other_algorithms: dict[str, int] = {}
        done: set[str] = set()
        items = self.items
        windows = self.windows
        for row in parsed.rows:
            path = row.path
            env_rel = env_relative(path, site_rel, windows)
            if env_rel is None:
                self.report(
                    _finding(
                        "outside_env",
                        name,
                        path,
                        detail=f"RECORD line {row.line} points outside the env; not read",
                    )
                )
                continue
            # is_bytecode only when it could be true: the substring tests are much cheaper
            if ("__pycache__" in path or path.endswith(_BYTECODE_SUFFIXES)) and is_bytecode(path):
                self.bytecode_rows += 1
                continue
            if env_rel in done:
                continue
            done.add(env_rel)
            algorithm = row.algorithm
            if algorithm is not None and algorithm != VERIFIED_ALGORITHM:
                other_algorithms[algorithm] = other_algorithms.get(algorithm, 0) + 1
            items.append((name, row, env_rel))
        for algorithm, count in sorted(other_algorithms.items()):
            self.notes.append(
                f"{name}: {count} RECORD rows hashed with {algorithm}, not sha256: "
                "checked for presence and size only"
            )

    def check(self) -> None:
        """Check every queued row: those RECORD says are big first, biggest first, so the
        longest hashes start at once on the helper threads; then the rest in RECORD order."""
        row_ = self._row
        big = [item for item in self.items if (item[1].size or 0) >= BIG_FILE]
        big.sort(key=lambda item: -(item[1].size or 0))
        for name, row, env_rel in big:
            row_(name, row, env_rel)
        for name, row, env_rel in self.items:
            if (row.size or 0) < BIG_FILE:
                row_(name, row, env_rel)

    def _row(self, name: str, row: RecordRow, env_rel: str) -> None:
        expected = row.sha256
        where = self.locate(env_rel)
        if isinstance(where, _Trouble):
            category = where.category
            if category == "missing" and expected is None:
                category = "unrecorded"
                detail = "missing (RECORD has no sha256 for it)"
            else:
                detail = where.detail
            self.report(
                _finding(
                    category,
                    name,
                    env_rel,
                    expected_size=row.size,
                    expected_sha256=expected,
                    detail=detail,
                ),
                row.path,
            )
            return
        real, info = where
        size = info.st_size
        if info.st_nlink > 1:
            self.linked_files += 1
        if expected is None:
            if row.size is not None and size != row.size:
                self.report(
                    _finding(
                        "unrecorded",
                        name,
                        env_rel,
                        expected_size=row.size,
                        actual_size=size,
                        detail="size differs (RECORD has no sha256 for it)",
                    ),
                    row.path,
                )
            return
        if size == 0 and (row.size != 0 if row.size is not None else expected != EMPTY_SHA256):
            self.report(
                _finding(
                    "zero_byte",
                    name,
                    env_rel,
                    expected_size=row.size,
                    actual_size=0,
                    expected_sha256=expected,
                    actual_sha256=EMPTY_SHA256,
                ),
                row.path,
            )
            return
        if row.size is not None and size != row.size:
            self.report(
                _finding(
                    "size_mismatch",
                    name,
                    env_rel,
                    expected_size=row.size,
                    actual_size=size,
                    expected_sha256=expected,
                ),
                row.path,
            )
            return
        if self.cache is not None:
            known = self.cache.lookup(real, info)
            if known is not None:
                self.files_cached += 1
                if known != expected:
                    self.report(_mismatch(name, env_rel, row, size, known), row.path)
                return
        self.hashing.add(_Job(name, env_rel, real, info, row))


def _mismatch(dist: str, env_rel: str, row: RecordRow, size: int, actual: str) -> IntegrityFinding:
    return _finding(
        "hash_mismatch",
        dist,
        env_rel,
        expected_size=row.size,
        actual_size=size,
        expected_sha256=row.sha256,
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


def _read_record(path: str, expected: os.stat_result) -> bytes:
    fd = os.open(path, _OPEN_FLAGS)
    with io.FileIO(fd, "rb", closefd=True) as handle:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
            raise OSError(errno.ESTALE, "the file changed while it was being read", path)
        return handle.readall()


_Outcome = tuple[_Job, FileHash | OSError]


def _hash_one(hasher: Hasher, job: _Job) -> _Outcome:
    try:
        return job, hasher(job.real, job.stat)
    except OSError as exc:
        return job, exc


class _Hashing:
    """Hashes files as the walk hands them over: small ones at once in the walking thread, big
    ones on ``workers - 1`` helper threads, largest first (module docstring: why).

    The helpers start with the first big file. When the walk is done, ``finish`` lets the
    walking thread take big files too until none is left, then waits for the helpers.
    """

    def __init__(self, hasher: Hasher, workers: int) -> None:
        self.hasher = hasher
        self.helpers = max(0, workers - 1)
        self.done: list[_Outcome] = []
        self._queue: list[tuple[int, int, _Job]] = []
        self._queued = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._results: list[list[_Outcome]] = []
        self._failure: BaseException | None = None

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._cond:
            self._queue.clear()  # after an error nobody wants the rest
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def add(self, job: _Job) -> None:
        if not self.helpers or job.stat.st_size < BIG_FILE:
            self.done.append(_hash_one(self.hasher, job))
            return
        with self._cond:
            self._queued += 1
            heapq.heappush(self._queue, (-job.stat.st_size, self._queued, job))
            self._cond.notify()
        if not self._threads:
            for number in range(self.helpers):
                results: list[_Outcome] = []
                self._results.append(results)
                thread = threading.Thread(
                    target=self._help, args=(results,), name=f"verify-{number}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _take(self, wait: bool) -> _Job | None:
        with self._cond:
            while wait and not self._queue and not self._closed:
                self._cond.wait()
            return heapq.heappop(self._queue)[2] if self._queue else None

    def _help(self, results: list[_Outcome]) -> None:
        try:
            while (job := self._take(wait=True)) is not None:
                results.append(_hash_one(self.hasher, job))
        except BaseException as exc:  # handed to the walking thread, which raises it
            self._failure = exc

    def finish(self) -> list[_Outcome]:
        """Every job's outcome, once all are hashed (the calling thread helps)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        while (job := self._take(wait=False)) is not None:
            self.done.append(_hash_one(self.hasher, job))
        for thread in self._threads:
            thread.join()
        if self._failure is not None:
            raise self._failure
        return self.done + [outcome for results in self._results for outcome in results]


def site_packages(env_dir: Path, windows: bool = False) -> list[Path]:
    """The site-packages folders of a venv (normally exactly one).

    The same answer as ``reconciler.observe.site_packages``; not imported from there because
    observe's imports (the runner, the email parser, generations) would double the import
    time of a verify that needs none of them.
    """
    if windows:
        candidate = env_dir / "Lib" / "site-packages"
        return [candidate] if candidate.is_dir() else []
    return sorted(p for p in env_dir.glob("lib/python*/site-packages") if p.is_dir())


def default_workers() -> int:
    """One hashing thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def verify_env(
    env_dir: Path,
    ignore: Sequence[str] = (),
    workers: int | None = None,
    *,
    windows: bool = False,
    hasher: Hasher = sha256_file,
    cache: HashCache | None = None,
    deep: bool = False,
    seen: list[str] | None = None,
) -> VerifyReport:
    """Check every RECORD row of every distribution in the env at ``env_dir``.

    ``ignore`` holds ``verify_ignore`` globs relative to site-packages: a matching file whose
    content differs from RECORD is an allowed modification, not a finding. ``workers`` bounds
    the hashing threads, the calling one included (default: one per core). ``windows``
    selects the ``Lib/site-packages`` layout. ``hasher`` digests one file (``sha256_file``).
    ``env_dir`` may be a symlink (a live env pointing at its generation); everything is
    checked inside the folder it resolves to.

    ``cache`` (loaded for this env's real path) answers for every file whose stat identity is
    unchanged, so it is not read; every file that is hashed is stored in it (racy files
    excepted, see ``reconciler.hashcache``). ``deep`` reads every file even so, and refreshes
    the cache with what it found. The findings are the same either way. The caller saves the
    cache (``cache.save()``); this function never writes. ``seen``, when given, gets every
    path the walk looked at, present or not: each folder on the way (once), each RECORD,
    each file a row names, each symlink target followed; a caller can tell from their stat
    identities whether anything the report depends on changed since.

    Never raises for a broken file; raises ``EnvNotVerifiable`` when the folder is absent or
    has no site-packages, and ``ValueError`` for a cache of another env.
    """
    started_ns = time.time_ns()  # before any stat: the racy rule's reference
    if not env_dir.is_dir():
        raise EnvNotVerifiable(f"{env_dir} is not an env folder; nothing to verify there.")
    env_real = os.path.realpath(env_dir)
    if cache is not None and cache.env_real != env_real:
        raise ValueError(f"the hash cache is for {cache.env_real}, not {env_real}")
    sites = site_packages(Path(env_real), windows)
    if not sites:
        layout = "Lib/site-packages" if windows else "lib/python*/site-packages"
        raise EnvNotVerifiable(
            f"{env_dir} has no {layout} folder; is it a venv? Rebuild it or fix the path."
        )
    limit = workers if workers is not None else default_workers()
    with _Hashing(hasher, limit) as hashing:
        walker = _Walker(env_real, windows, ignore, hashing, None if deep else cache, seen)
        owners: dict[str, list[str]] = {}
        for site in sites:
            for name, dist_info_rel in walker.site(site):
                owners.setdefault(name, []).append(dist_info_rel)
        _report_duplicates(walker, owners)
        walker.check()
        outcomes = hashing.finish()
    files_hashed, bytes_hashed = _judge(walker, outcomes)
    if cache is not None:
        for job, outcome in outcomes:
            if isinstance(outcome, FileHash):
                cache.store(job.real, job.stat, outcome.sha256, started_ns)
    return VerifyReport(
        env_dir=str(env_dir),
        site_packages=tuple(site.relative_to(env_real).as_posix() for site in sites),
        findings=tuple(sorted(walker.findings, key=IntegrityFinding.sort_key)),
        allowed=tuple(sorted(walker.allowed, key=lambda a: (a.finding.sort_key(), a.pattern))),
        dists=walker.dists,
        rows_checked=len(walker.items),
        files_hashed=files_hashed,
        bytes_hashed=bytes_hashed,
        bytecode_rows=walker.bytecode_rows,
        notes=tuple(walker.notes),
        files_cached=walker.files_cached,
        linked_files=walker.linked_files,
    )


def _report_duplicates(walker: _Walker, owners: dict[str, list[str]]) -> None:
    for name, folders in owners.items():
        if len(folders) > 1:
            for folder in folders:
                others = ", ".join(f.rsplit("/", 1)[-1] for f in folders if f != folder)
                walker.report(_finding("duplicate_dist", name, folder, detail=f"also {others}"))


def _judge(walker: _Walker, outcomes: Sequence[_Outcome]) -> tuple[int, int]:
    """Turn hashing outcomes into findings; return (files hashed, bytes read)."""
    files_hashed = bytes_hashed = 0
    for job, outcome in outcomes:
        if isinstance(outcome, OSError):
            walker.report(
                _finding(
                    "unreadable",
                    job.dist,
                    job.env_rel,
                    expected_size=job.row.size,
                    actual_size=job.stat.st_size,
                    expected_sha256=job.row.sha256,
                    detail=_oserror_detail(outcome),
                ),
                job.row.path,
            )
            continue
        files_hashed += 1
        bytes_hashed += outcome.bytes_read
        if outcome.sha256 != job.row.sha256:
            walker.report(
                _mismatch(job.dist, job.env_rel, job.row, job.stat.st_size, outcome.sha256),
                job.row.path,
            )
    return files_hashed, bytes_hashed
