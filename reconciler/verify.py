"""IO: check every RECORD row of every distribution in an env against the files on disk.

``verify_env`` works in two overlapping phases. The walk, in the calling thread, reads each
``*.dist-info/RECORD``, resolves each row to a file inside the env and ``stat``s it: that
alone finds missing, zero-byte, wrongly sized, unreadable and escaping files. Each file whose
size matched is handed at once to a pool of hashing threads (hashlib releases the GIL while it
digests a 1 MiB buffer), so hashing a big shared library starts while the walk goes on.

Nothing outside the env folder is ever opened: a row that climbs out is ``outside_env``, and a
symlink (the file's, or a folder's on the way) that resolves outside is ``symlink_outside_env``.
Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked to be regular, so a FIFO
cannot hang the walk. The check-then-open is not atomic against someone swapping symlinks in the
env while it runs; verify reads envs, it does not defend against a hostile concurrent writer.

``hasher`` is a parameter so that a stat-keyed cache can wrap ``sha256_file`` later.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reconciler.errors import ReconcileError
from reconciler.observe import site_packages
from reconciler.records import (
    CONTENT_CATEGORIES,
    EMPTY_SHA256,
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

_BATCH_BYTES = 8 << 20
_BATCH_FILES = 256
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


class _Located(NamedTuple):
    real: str
    stat: os.stat_result


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
        self, env_real: str, windows: bool, ignore: Sequence[str], hashing: _Hashing
    ) -> None:
        self.env_real = env_real
        self.windows = windows
        self.ignore = tuple(ignore)
        self.match_ignore = ignore_matcher(ignore)
        self.findings: list[IntegrityFinding] = []
        self.allowed: list[AllowedModification] = []
        self.hashing = hashing
        self.notes: list[str] = []
        self.dists = 0
        self.rows_checked = 0
        self.bytecode_rows = 0
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
        parent_real, inside = self._real_dir(parent)
        if not inside:
            return _Trouble("symlink_outside_env", f"its folder resolves to {parent_real}")
        path = parent_real + os.sep + name
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return _Trouble("missing", "")
        except OSError as exc:
            return _Trouble("unreadable", _oserror_detail(exc))
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if not self._inside(target):
                return _Trouble("symlink_outside_env", f"a symlink to {target}")
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
        return _Located(path, info)

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
        """Check one site-packages folder; return its (canonical name, dist-info) pairs."""
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
        record_rel = f"{dist_info_rel}/RECORD"
        where = self.locate(record_rel)
        if isinstance(where, _Trouble):
            category = "record_missing" if where.category == "missing" else where.category
            self.report(_finding(category, name, record_rel, detail=where.detail))
            return
        try:
            data = _read_record(where.real, where.stat)
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
        for row in parsed.rows:
            env_rel = env_relative(row.path, site_rel, self.windows)
            if env_rel is None:
                self.report(
                    _finding(
                        "outside_env",
                        name,
                        row.path,
                        detail=f"RECORD line {row.line} points outside the env; not read",
                    )
                )
                continue
            if is_bytecode(row.path):
                self.bytecode_rows += 1
                continue
            if env_rel in done:
                continue
            done.add(env_rel)
            if row.algorithm is not None and row.sha256 is None:
                other_algorithms[row.algorithm] = other_algorithms.get(row.algorithm, 0) + 1
            self._row(name, row, env_rel)
        for algorithm, count in sorted(other_algorithms.items()):
            self.notes.append(
                f"{name}: {count} RECORD rows hashed with {algorithm}, not sha256: "
                "checked for presence and size only"
            )

    def _row(self, name: str, row: RecordRow, env_rel: str) -> None:
        self.rows_checked += 1
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
        size = where.stat.st_size
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
        promised_content = row.size != 0 if row.size is not None else expected != EMPTY_SHA256
        if size == 0 and promised_content:
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
        self.hashing.add(_Job(name, env_rel, where.real, where.stat, row))


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


def _hash_batch(hasher: Hasher, batch: Sequence[_Job]) -> list[_Outcome]:
    done: list[_Outcome] = []
    for job in batch:
        try:
            done.append((job, hasher(job.real, job.stat)))
        except OSError as exc:
            done.append((job, exc))
    return done


class _Hashing:
    """Phase two, overlapped with phase one: files are hashed while the walk goes on.

    A big file is submitted the moment the walk finds it (one shared library can be most of
    an env's bytes, and it is hashed by one thread); small ones travel in batches to keep the
    per-task overhead low. With one worker everything is hashed in this thread at the end.
    """

    def __init__(self, hasher: Hasher, workers: int) -> None:
        self.hasher = hasher
        self.pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")
            if workers > 1
            else None
        )
        self.futures: list[Future[list[_Outcome]]] = []
        self.batch: list[_Job] = []
        self.weight = 0

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def add(self, job: _Job) -> None:
        if self.pool is not None and job.stat.st_size >= _BATCH_BYTES:
            self.futures.append(self.pool.submit(_hash_batch, self.hasher, [job]))
            return
        self.batch.append(job)
        self.weight += job.stat.st_size
        if self.pool is not None and (
            self.weight >= _BATCH_BYTES or len(self.batch) >= _BATCH_FILES
        ):
            self._flush()

    def _flush(self) -> None:
        if self.pool is not None and self.batch:
            self.futures.append(self.pool.submit(_hash_batch, self.hasher, self.batch))
            self.batch, self.weight = [], 0

    def outcomes(self) -> list[_Outcome]:
        """Every job's outcome, once all are hashed."""
        if self.pool is None:
            return _hash_batch(self.hasher, self.batch)
        self._flush()
        return [outcome for future in self.futures for outcome in future.result()]


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
) -> VerifyReport:
    """Check every RECORD row of every distribution in the env at ``env_dir``.

    ``ignore`` holds ``verify_ignore`` globs relative to site-packages: a matching file whose
    content differs from RECORD is an allowed modification, not a finding. ``workers`` bounds
    the hashing threads (default: one per core). ``windows`` selects the
    ``Lib/site-packages`` layout. ``hasher`` digests one file (``sha256_file``; a stat-keyed
    cache may wrap it). ``env_dir`` may be a symlink (a live env pointing at its generation);
    everything is checked inside the folder it resolves to. Never raises for a broken file;
    raises ``EnvNotVerifiable`` when the folder is absent or has no site-packages.
    """
    if not env_dir.is_dir():
        raise EnvNotVerifiable(f"{env_dir} is not an env folder; nothing to verify there.")
    env_real = os.path.realpath(env_dir)
    sites = site_packages(Path(env_real), windows)
    if not sites:
        layout = "Lib/site-packages" if windows else "lib/python*/site-packages"
        raise EnvNotVerifiable(
            f"{env_dir} has no {layout} folder; is it a venv? Rebuild it or fix the path."
        )
    limit = workers if workers is not None else default_workers()
    with _Hashing(hasher, limit) as hashing:
        walker = _Walker(env_real, windows, ignore, hashing)
        owners: dict[str, list[str]] = {}
        for site in sites:
            for name, dist_info_rel in walker.site(site):
                owners.setdefault(name, []).append(dist_info_rel)
        _report_duplicates(walker, owners)
        outcomes = hashing.outcomes()
    files_hashed, bytes_hashed = _judge(walker, outcomes)
    return VerifyReport(
        env_dir=str(env_dir),
        site_packages=tuple(site.relative_to(env_real).as_posix() for site in sites),
        findings=tuple(sorted(walker.findings, key=IntegrityFinding.sort_key)),
        allowed=tuple(sorted(walker.allowed, key=lambda a: (a.finding.sort_key(), a.pattern))),
        dists=walker.dists,
        rows_checked=walker.rows_checked,
        files_hashed=files_hashed,
        bytes_hashed=bytes_hashed,
        bytecode_rows=walker.bytecode_rows,
        notes=tuple(walker.notes),
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
                _finding(
                    "hash_mismatch",
                    job.dist,
                    job.env_rel,
                    expected_size=job.row.size,
                    actual_size=job.stat.st_size,
                    expected_sha256=job.row.sha256,
                    actual_sha256=outcome.sha256,
                ),
                job.row.path,
            )
    return files_hashed, bytes_hashed
