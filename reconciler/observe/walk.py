"""IO: check every RECORD row of every distribution in an env against the files on disk.

``verify_env`` first reads every ``*.dist-info/RECORD`` (or takes what an unchanged one
resolved to from the hash cache: ``HashCache.record``), then checks each row's file: it must
be inside the env, regular, of RECORD's size (which alone finds missing, zero-byte, wrongly
sized, unreadable and escaping files) and of RECORD's sha256. A file is trusted from the hash
cache when its stat identity is unchanged (``HashCache``; not with ``deep``), else hashed. A
deep run reads every RECORD too, and takes what it resolves to from the cache only when its
bytes are the same.

The jobs are split: ``envfolder`` resolves paths without leaving the env, ``hashing`` reads a
file safely, ``rows`` checks rows into a ``tally``, ``workers`` spreads the rows over the
cores, and ``core.integrity`` judges what was found (duplicates, baseline, ignore globs).
``hasher`` is a parameter so tests can watch or fail the reads.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.integrity import (
    IntegrityFinding,
    RecordDefect,
    VerifyReport,
    against_baseline,
    apply_baseline,
    duplicates,
    judge,
)
from reconciler.errors import ReconcileError
from reconciler.files import is_dir, site_packages
from reconciler.observe.envfolder import EnvFolder, Trouble, oserror_detail
from reconciler.observe.hashcache import HashCache
from reconciler.observe.hashing import Hasher, read_record, sha256_file
from reconciler.observe.rows import RowChecker
from reconciler.observe.tally import Item, Tally
from reconciler.observe.workers import check_all, default_workers
from reconciler.platform import VenvLayout
from reconciler.spec.record import RecordChecks, dist_name, resolve_record


class EnvNotVerifiable(ReconcileError):
    """The folder is not an env whose files can be checked (absent, or no site-packages)."""


class _Records:
    """The RECORDs of an env read, and their rows queued for checking (``items``)."""

    def __init__(
        self,
        env: EnvFolder,
        windows: bool,
        cache: HashCache | None,
        deep: bool,
        started_ns: int,
    ) -> None:
        self.env = env
        self.windows = windows
        self.cache = cache
        self.deep = deep
        self.started_ns = started_ns
        self.issues: list[IntegrityFinding] = []
        """Findings about RECORDs and folders (never subject to ``verify_ignore``)."""
        self.notes: list[str] = []
        self.items: list[Item] = []
        self.dists = 0
        self.bytecode_rows = 0

    def site(self, site: Path) -> list[tuple[str, str]]:
        """Read the RECORDs of one site-packages folder (their rows are queued in ``items``);
        return its (canonical name, dist-info) pairs."""
        site_rel = site.relative_to(self.env.env_real).as_posix()
        real, inside = self.env.real_dir(site_rel)
        if not inside:
            self.issues.append(
                IntegrityFinding(
                    "symlink_outside_env", None, site_rel, detail=f"resolves to {real}"
                )
            )
            return []
        seen: list[tuple[str, str]] = []
        try:
            folders = sorted(entry.name for entry in os.scandir(real))
        except OSError as exc:
            self.issues.append(
                IntegrityFinding("unreadable", None, site_rel, detail=oserror_detail(exc))
            )
            return []
        for folder in folders:
            if not folder.endswith(".dist-info"):
                continue
            dist_info_rel = f"{site_rel}/{folder}"
            folder_real, inside = self.env.real_dir(dist_info_rel)
            name = dist_name(folder)
            if not inside:
                self.dists += 1
                self.issues.append(
                    IntegrityFinding(
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
        where = self.env.locate(record_rel)
        if isinstance(where, Trouble):
            category = "record_missing" if where.category == "missing" else where.category
            self.issues.append(IntegrityFinding(category, name, record_rel, detail=where.detail))
            return
        checks = self._record_checks(record_rel, site_rel, *where)
        if isinstance(checks, OSError):
            detail = oserror_detail(checks)
            self.issues.append(IntegrityFinding("unreadable", name, record_rel, detail=detail))
            return
        for kind, path, detail in checks.issues:
            self.issues.append(IntegrityFinding(kind, name, path, detail=detail))
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
            data = read_record(real, info)
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
    env = EnvFolder(env_real, seen)
    records = _Records(env, venv.windows, cache, deep, started_ns)
    owners: dict[str, list[str]] = {}
    for site in sites:
        for name, dist_info_rel in records.site(site):
            owners.setdefault(name, []).append(dist_info_rel)
    records.issues.extend(duplicates(owners))
    items, defects = apply_baseline(records.items, baseline)
    checker = RowChecker(env, hasher, cache)
    tally = Tally(cache is not None, started_ns)
    rest = items if deep or cache is None else checker.from_cache(tally, items)
    check_all(checker, tally, rest, workers if workers is not None else default_workers())
    if cache is not None and tally.entries:
        cache.store_entries(tally.entries)
    findings, allowed = judge(records.issues, tally.found, ignore, venv.windows)
    findings, informed = against_baseline(findings, allowed, defects)
    return VerifyReport(
        env_dir=str(env_dir),
        site_packages=tuple(site.relative_to(env_real).as_posix() for site in sites),
        findings=tuple(sorted(findings, key=IntegrityFinding.sort_key)),
        allowed=tuple(sorted(allowed, key=lambda a: (a.finding.sort_key(), a.pattern))),
        dists=records.dists,
        rows_checked=len(items),
        files_hashed=tally.files_hashed,
        bytes_hashed=tally.bytes_hashed,
        bytecode_rows=records.bytecode_rows,
        notes=tuple(records.notes),
        files_cached=tally.files_cached,
        linked_files=tally.linked_files,
        record_defects=tuple(sorted(informed, key=IntegrityFinding.sort_key)),
    )
