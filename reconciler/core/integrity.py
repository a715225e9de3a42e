"""Pure: the integrity report of one env (findings, allowed modifications, record defects),
and the judgement that turns what the walk found into it (duplicates, baseline, ignore globs).

``observe.walk`` checks an env's files against their RECORDs and builds a ``VerifyReport``;
``report.verify`` renders it and ``core.health`` judges an env by it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from reconciler.spec.ignore import ignore_matcher
from reconciler.spec.record import SHA256_DIGEST, RowCheck, site_relative

Category = Literal[
    "missing",
    "zero_byte",
    "size_mismatch",
    "hash_mismatch",
    "unrecorded",
    "record_missing",
    "record_invalid",
    "duplicate_dist",
    "outside_env",
    "symlink_outside_env",
    "unreadable",
    "record_defect",
]

CATEGORIES: tuple[Category, ...] = typing.get_args(Category)
"""Every finding category, in the order reports list their counts.

- ``missing``: a hashed RECORD row's file does not exist (or is a dangling symlink).
- ``zero_byte``: the file exists with zero bytes where RECORD promises content.
- ``size_mismatch``: the file's size differs from RECORD's (and is not zero).
- ``hash_mismatch``: same size (or none recorded), different sha256.
- ``unrecorded``: a row without a usable sha256 (no hash, or another algorithm) failed the only
  checks it allows: its file is missing, or its size differs from a recorded size. A hashless
  row whose file exists is not a finding.
- ``record_missing``: a ``*.dist-info`` folder without a RECORD file.
- ``record_invalid``: a RECORD row that does not parse (bad hash, size or field count).
- ``duplicate_dist``: two or more ``*.dist-info`` folders for one canonical name.
- ``outside_env``: a RECORD row whose path is absolute or climbs out of the env folder with
  ``..``; such a file is never read.
- ``symlink_outside_env``: the file (or a folder on its way, or a dist-info or site-packages
  folder) is a symlink that resolves outside the env folder; it is never followed.
- ``unreadable``: the file cannot be read: permission denied, a symlink loop, a directory or
  another non-regular file where a file should be.
- ``record_defect``: never a finding, only information: a row that is wrong in the wheel
  itself (its sha256 or size is not that of the file the same wheel ships), found when a
  build purged the uv cache, installed again and got the same bytes. reconcile kept what it
  installed as the generation's baseline (``RecordDefect``, in its receipt); while the file
  is still that, the row is reported as ``record_defect`` (``VerifyReport.record_defects``),
  and once it changes, as a finding against the baseline.

Bytecode (``__pycache__/`` or ``.pyc``/``.pyo`` rows) is never a finding.
"""

CONTENT_CATEGORIES: frozenset[Category] = frozenset(
    {"zero_byte", "size_mismatch", "hash_mismatch", "unrecorded", "symlink_outside_env"}
)
"""Categories that ``verify_ignore`` may turn into allowed modifications: the file is there but
its content is not RECORD's (a CA bundle replaced by, or linked to, the system's). A missing or
unreadable file stays a finding even when its path is ignored."""


@dataclass(frozen=True)
class IntegrityFinding:
    """One thing wrong with an env's installed files.

    ``path`` is relative to the env folder with ``/`` separators (for ``outside_env``: the
    RECORD path as written). ``dist`` is the canonical distribution name, ``None`` for a
    finding about the env itself (a site-packages folder that links outside). Digests are
    RECORD-style (urlsafe base64, no padding); sizes are bytes; ``None`` means not known or
    not applicable. ``detail`` is one human sentence fragment.
    """

    category: Category
    dist: str | None
    path: str
    expected_size: int | None = None
    actual_size: int | None = None
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    detail: str = ""

    def sort_key(self) -> tuple[str, str, str]:
        return (self.path, self.category, self.dist or "")


BASELINE_DETAIL = "its RECORD row is an upstream defect (record_defect)"
"""The detail of a finding about a file whose RECORD row is a known upstream defect: its
expected sha256 and size are the baseline's, not RECORD's."""


@dataclass(frozen=True)
class RecordDefect:
    """A RECORD row that is wrong in the wheel itself, and what reconcile installed for it.

    ``path`` is relative to the env folder (``/``-separated, as ``env_relative`` gives it);
    ``record_sha256``/``record_size`` are what the row says, ``sha256``/``size`` what the
    file was when reconcile verified the generation it built (its baseline). The baseline
    applies only while the RECORD row still says exactly what it said then.
    """

    dist: str
    path: str
    record_sha256: str | None
    record_size: int | None
    sha256: str
    size: int

    def to_plain(self) -> dict[str, object]:
        """The JSON object kept in a generation's receipt."""
        return {
            "dist": self.dist,
            "path": self.path,
            "record_sha256": self.record_sha256,
            "record_size": self.record_size,
            "sha256": self.sha256,
            "size": self.size,
        }

    @classmethod
    def from_plain(cls, value: object) -> RecordDefect | None:
        """What ``to_plain`` gave, or ``None`` for anything of another shape."""
        if not isinstance(value, dict) or set(value) != _DEFECT_FIELDS:
            return None
        dist, path, sha256, size = value["dist"], value["path"], value["sha256"], value["size"]
        record_sha256, record_size = value["record_sha256"], value["record_size"]
        if (
            not isinstance(dist, str)
            or not isinstance(path, str)
            or not isinstance(sha256, str)
            or not SHA256_DIGEST.fullmatch(sha256)
            or type(size) is not int
            or size < 0
            or not (record_sha256 is None or isinstance(record_sha256, str))
            or not (record_size is None or type(record_size) is int)
        ):
            return None
        return cls(dist, path, record_sha256, record_size, sha256, size)


_DEFECT_FIELDS = frozenset({"dist", "path", "record_sha256", "record_size", "sha256", "size"})


@dataclass(frozen=True)
class AllowedModification:
    """A file that differs from RECORD on purpose: it matches a ``verify_ignore`` glob.

    ``finding`` is what it would have been reported as; ``pattern`` is the glob that allowed it.
    """

    finding: IntegrityFinding
    pattern: str


@dataclass(frozen=True)
class VerifyReport:
    """The integrity of one env: findings, allowed modifications and what was checked.

    ``dists`` counts ``*.dist-info`` folders; ``rows_checked`` the RECORD rows whose file was
    looked at (bytecode and escaping rows excluded); ``files_hashed``/``bytes_hashed`` what was
    actually read and hashed; ``files_cached`` the files whose hash came from the hash cache
    unread (unchanged since last hashed); ``bytecode_rows`` the rows skipped as bytecode.
    ``linked_files`` counts the checked files with more than one hard link (they share their
    inode with something else, usually uv's package cache in hardlink mode, so a write there
    changes them too). ``notes`` carry what was checked less strictly than usual (rows hashed
    with another algorithm). ``record_defects`` are the rows that are wrong upstream and
    whose file is still what reconcile installed (category ``record_defect``; expected: what
    RECORD says, actual: the baseline): information, never findings.
    """

    env_dir: str
    site_packages: tuple[str, ...]
    findings: tuple[IntegrityFinding, ...]
    allowed: tuple[AllowedModification, ...]
    dists: int
    rows_checked: int
    files_hashed: int
    bytes_hashed: int
    bytecode_rows: int = 0
    notes: tuple[str, ...] = ()
    files_cached: int = 0
    linked_files: int = 0
    record_defects: tuple[IntegrityFinding, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there is no finding (allowed modifications do not count)."""
        return not self.findings

    def counts(self) -> dict[Category, int]:
        """Findings per category, in ``CATEGORIES`` order, zero counts left out."""
        found = Counter(f.category for f in self.findings)
        return {c: found[c] for c in CATEGORIES if found[c]}

    def corrupted_dists(self) -> tuple[str, ...]:
        """Sorted names of the distributions with at least one finding."""
        return tuple(sorted({f.dist for f in self.findings if f.dist is not None}))


# -- judging what the walk found --------------------------------------------------------------


def duplicates(owners: Mapping[str, Sequence[str]]) -> list[IntegrityFinding]:
    """A ``duplicate_dist`` finding for each dist-info folder of a name that has several;
    ``owners`` maps each canonical name to its dist-info folders (relative to the env)."""
    found: list[IntegrityFinding] = []
    for name, folders in owners.items():
        if len(folders) > 1:
            for folder in folders:
                others = ", ".join(f.rsplit("/", 1)[-1] for f in folders if f != folder)
                found.append(
                    IntegrityFinding("duplicate_dist", name, folder, detail=f"also {others}")
                )
    return found


def apply_baseline(
    items: Sequence[tuple[str, RowCheck]], baseline: Sequence[RecordDefect]
) -> tuple[list[tuple[str, RowCheck]], dict[str, RecordDefect]]:
    """Check the rows of ``baseline`` against what was installed, not against RECORD: each
    row of the same distribution that still says exactly what it said at build time. A row
    RECORD now says otherwise about is checked against RECORD again. Returns the rows to
    check (each with its distribution's name), and the rows replaced, by their path relative
    to the env."""
    if not baseline:
        return list(items), {}
    known = {defect.path: defect for defect in baseline}
    applied: dict[str, RecordDefect] = {}
    checked = list(items)
    for index, (name, row) in enumerate(checked):
        defect = known.get(row[1])
        if (
            defect is not None
            and defect.dist == name
            and (row[2], row[3]) == (defect.record_sha256, defect.record_size)
        ):
            checked[index] = (name, (row[0], row[1], defect.sha256, defect.size))
            applied[row[1]] = defect
    return checked, applied


def judge(
    issues: Sequence[IntegrityFinding],
    found: Sequence[tuple[IntegrityFinding, str | None]],
    ignore: Sequence[str],
    windows: bool,
) -> tuple[list[IntegrityFinding], list[AllowedModification]]:
    """The findings, and the allowed modifications: the findings about a file's content (of
    ``found``, each with its RECORD path) whose RECORD path (relative to site-packages) a
    ``verify_ignore`` glob matches. ``issues`` (about RECORDs and folders) are never allowed."""
    findings = list(issues)
    allowed: list[AllowedModification] = []
    match = ignore_matcher(ignore)
    for finding, record_path in found:
        if ignore and record_path is not None and finding.category in CONTENT_CATEGORIES:
            inside_site = site_relative(record_path, windows=windows)
            pattern = None if inside_site is None else match(inside_site)
            if pattern is not None:
                allowed.append(AllowedModification(finding, pattern))
                continue
        findings.append(finding)
    return findings, allowed


def against_baseline(
    findings: list[IntegrityFinding],
    allowed: Sequence[AllowedModification],
    defects: Mapping[str, RecordDefect],
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
        IntegrityFinding(
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
