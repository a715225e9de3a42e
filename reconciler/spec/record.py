"""Pure: parse ``*.dist-info/RECORD`` files, classify their paths, and type the integrity report.

A RECORD is CSV with three fields per row: a path relative to site-packages, a hash written
``algorithm=digest`` (urlsafe base64 without padding) and a size in bytes; the last two may be
empty (pip writes compiled ``.pyc`` files and the RECORD itself that way). A row that does not
parse is never raised to the caller: ``parse_record`` returns it as a ``RowProblem`` beside the
rows that did parse, so one bad line costs one finding, not the whole distribution.

Nothing here touches the disk; ``verify.py`` walks and hashes.
"""

from __future__ import annotations

import base64
import csv
import re
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

VERIFIED_ALGORITHM = "sha256"

EMPTY_SHA256 = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
"""The RECORD digest of zero bytes."""

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

# 32 bytes are 43 base64 characters; the last one carries 2 padding bits, which must be zero.
_SHA256_DIGEST = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
_SIZE = re.compile(r"[0-9]+")
# A row needing no CSV quoting, with a well-formed sha256 and a size: what from_elements would
# accept unchanged. Most rows look like this, so parse_record takes them without the checks.
_PLAIN_SHA256_ROW = re.compile(
    r"([^\",\x00\ufffd]+),sha256=([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]),([0-9]+)"
)


def record_digest(raw: bytes) -> str:
    """A raw digest written the way RECORD writes it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class InvalidRecordRow(ValueError):
    """A RECORD row that does not parse; ``issues`` names every problem with it at once."""

    def __init__(self, line: int, elements: Sequence[str], issues: Sequence[str]) -> None:
        super().__init__(f"line {line}: " + "; ".join(issues))
        self.line = line
        self.elements = tuple(elements)
        self.issues = tuple(issues)


@dataclass(frozen=True)
class RecordRow:
    """One parsed RECORD row.

    ``path`` is exactly as written (relative to site-packages). ``algorithm``/``digest`` are
    ``None`` when the row has no hash. ``note`` explains why a hashed row is not verified by
    hash (an algorithm other than sha256).
    """

    path: str
    algorithm: str | None
    digest: str | None
    size: int | None
    line: int = 0
    note: str | None = None

    @property
    def sha256(self) -> str | None:
        """The expected sha256 digest, or ``None`` when this row cannot be hash-verified."""
        return self.digest if self.algorithm == VERIFIED_ALGORITHM else None

    @classmethod
    def from_elements(cls, elements: Sequence[str], line: int = 0) -> RecordRow:
        """Build a row from its CSV fields, collecting every problem before raising.

        Raises ``InvalidRecordRow`` naming all issues (field count, empty path, NUL, hash
        format, sha256 digest shape, size) rather than stopping at the first.
        """
        if len(elements) != 3:
            raise InvalidRecordRow(
                line,
                elements,
                [f"expected 3 fields (path, hash, size), got {len(elements)}"],
            )
        path, hash_text, size_text = elements
        issues: list[str] = []
        if not path:
            issues.append("the path is empty")
        elif "\0" in path:
            issues.append("the path contains a NUL character")
        elif "\ufffd" in path:
            issues.append("the path is not valid UTF-8")

        algorithm: str | None = None
        digest: str | None = None
        note: str | None = None
        if hash_text:
            name, sep, value = hash_text.partition("=")
            if not sep or not name or not value.rstrip("="):
                issues.append(f'the hash "{hash_text}" is not written as algorithm=digest')
            elif name.lower() == VERIFIED_ALGORITHM:
                value = value.rstrip("=")
                if not _SHA256_DIGEST.fullmatch(value):
                    issues.append(
                        f'the sha256 digest "{value}" is not 43 characters of urlsafe base64'
                    )
                algorithm, digest = VERIFIED_ALGORITHM, value
            else:
                algorithm, digest = name.lower(), value
                note = (
                    f"hash algorithm {algorithm} is not verified (only sha256): "
                    "checked for presence and size only"
                )

        size: int | None = None
        if size_text:
            if _SIZE.fullmatch(size_text):
                size = int(size_text)
            else:
                issues.append(f'the size "{size_text}" is not a whole number of bytes')

        if issues:
            raise InvalidRecordRow(line, elements, issues)
        return cls(path, algorithm, digest, size, line, note)


@dataclass(frozen=True)
class RowProblem:
    """A RECORD line that did not parse: its 1-based number, its text and every issue."""

    line: int
    text: str
    issues: tuple[str, ...]


@dataclass(frozen=True)
class ParsedRecord:
    """The rows of one RECORD that parsed, and the problems of those that did not."""

    rows: tuple[RecordRow, ...]
    problems: tuple[RowProblem, ...]


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
    else:
        text = data
    return text.removeprefix("\ufeff")


def _parse_line(line: str, number: int) -> RecordRow | RowProblem:
    """One non-blank RECORD line, the slow way: every field checked, every problem named."""
    if '"' in line:
        try:
            elements = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            return RowProblem(number, line, (f"not a CSV row: {exc}",))
    else:  # without quotes, CSV is a plain split (the common case, and much faster)
        elements = line.split(",")
    try:
        return RecordRow.from_elements(elements, number)
    except InvalidRecordRow as exc:
        return RowProblem(number, line, exc.issues)


def parse_record(data: bytes | str) -> ParsedRecord:
    """Parse a whole RECORD. Never raises: unparseable lines become ``problems``.

    Lines are parsed one at a time so each problem carries its line number; a quoted path
    that spans lines is therefore reported as invalid (no installer writes one). Bytes that
    are not UTF-8 spoil only the rows that contain them.
    """
    rows: list[RecordRow] = []
    problems: list[RowProblem] = []
    for number, raw in enumerate(_text(data).split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        fast = _PLAIN_SHA256_ROW.fullmatch(line)
        if fast is not None:  # the common shape, already known valid: skip the field checks
            path, digest, size = fast.groups()
            rows.append(RecordRow(path, VERIFIED_ALGORITHM, digest, int(size), number))
            continue
        parsed = _parse_line(line, number)
        if isinstance(parsed, RowProblem):
            problems.append(parsed)
        else:
            rows.append(parsed)
    return ParsedRecord(tuple(rows), tuple(problems))


def is_bytecode(path: str) -> bool:
    """Whether a RECORD path is a bytecode cache, which is never a finding.

    True for anything under a ``__pycache__`` folder and for ``.pyc``/``.pyo`` files (pip
    records the files it compiles without a hash; Python rewrites them at will).
    """
    normal = path.replace("\\", "/")
    return "__pycache__" in normal.split("/") or normal.endswith((".pyc", ".pyo"))


_DOT_OR_EMPTY_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")


def _is_absolute(path: str, windows: bool) -> bool:
    if path.startswith(("/", "\\")):
        return True
    # A drive ("C:x", "C:\\x") is absolute or drive-relative on Windows: outside either way.
    return windows and len(path) >= 2 and path[1] == ":"


def env_relative(path: str, site: str, *, windows: bool) -> str | None:
    """Where a RECORD path lands, relative to the env folder, or ``None`` if it escapes.

    ``path`` is relative to site-packages, which is ``site`` relative to the env folder
    (``lib/python3.11/site-packages``, or ``Lib/site-packages`` on Windows). ``..`` is
    resolved lexically: scripts recorded as ``../../../bin/foo`` stay inside the env and are
    legal; an absolute path, or ``..`` that climbs above the env folder, escapes. On Windows
    both slashes separate; elsewhere only ``/`` does (a backslash is part of a file name).
    The result uses ``/`` and has no ``.``, ``..`` or empty segments (``""`` is the env
    folder itself).
    """
    if windows:
        path = path.replace("\\", "/")
        site = site.replace("\\", "/")
    if _is_absolute(path, windows):
        return None
    if not _DOT_OR_EMPTY_SEGMENT.search(path):  # already normal: most rows of most RECORDs
        return f"{site}/{path}" if site else path
    parts = [p for p in site.split("/") if p not in ("", ".")]
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(segment)
    return "/".join(parts)


def site_relative(path: str, *, windows: bool) -> str | None:
    """A RECORD path normalized inside site-packages (for ``verify_ignore``), or ``None`` when
    it is absolute or leaves site-packages (scripts, headers, data files)."""
    return env_relative(path, "", windows=windows)


MAX_INVALID_ROWS = 10
"""``record_invalid`` findings listed one by one per RECORD; the rest are counted in one more."""

_BYTECODE_SUFFIXES = (".pyc", ".pyo")

RowCheck = tuple[str, str, str | None, int | None]
"""One file a RECORD asks to check, as plain values (a tuple is the cheapest thing to build,
keep and cache, and there is one per installed file): the path as written (relative to
site-packages: what ``verify_ignore`` matches), where it lands relative to the env folder
(as ``env_relative`` gives it), the expected sha256 (``None`` when the row has none, or one
of another algorithm) and the expected size (``None`` when not recorded)."""

RecordIssue = tuple[Category, str, str]
"""A finding about a RECORD's own rows (``record_invalid`` or ``outside_env``): category, the
finding's path (the RECORD's, or the escaping row's as written) and detail."""


@dataclass(frozen=True)
class RecordChecks:
    """What one RECORD asks to check, resolved for the site-packages folder it lies in.

    ``rows`` holds each file once (its first row), in RECORD order, without bytecode rows and
    rows that escape the env; ``issues`` the findings about the RECORD itself;
    ``bytecode_rows`` counts the rows skipped as bytecode; ``other_algorithms`` says how many
    rows were hashed with each algorithm other than sha256 (sorted by name).
    """

    rows: tuple[RowCheck, ...]
    issues: tuple[RecordIssue, ...] = ()
    bytecode_rows: int = 0
    other_algorithms: tuple[tuple[str, int], ...] = ()

    def to_plain(self) -> tuple[object, ...]:
        """Builtin values only (``marshal`` can write them), for ``from_plain``."""
        return (self.rows, self.issues, self.bytecode_rows, self.other_algorithms)

    @classmethod
    def from_plain(cls, value: object) -> RecordChecks | None:
        """What ``to_plain`` gave, or ``None`` when ``value`` does not have its exact shape."""
        if type(value) is not tuple or len(value) != 4:
            return None
        rows, issues, bytecode_rows, other = value
        if (
            type(rows) is not tuple
            or type(issues) is not tuple
            or type(bytecode_rows) is not int
            or type(other) is not tuple
            or not all(
                type(row) is tuple
                and len(row) == 4
                and type(row[0]) is str
                and type(row[1]) is str
                and (row[2] is None or type(row[2]) is str)
                and (row[3] is None or type(row[3]) is int)
                for row in rows
            )
            or not all(
                type(issue) is tuple
                and len(issue) == 3
                and issue[0] in CATEGORIES
                and type(issue[1]) is str
                and type(issue[2]) is str
                for issue in issues
            )
            or not all(
                type(pair) is tuple
                and len(pair) == 2
                and type(pair[0]) is str
                and type(pair[1]) is int
                for pair in other
            )
        ):
            return None
        return cls(
            typing.cast("tuple[RowCheck, ...]", rows),
            typing.cast("tuple[RecordIssue, ...]", issues),
            bytecode_rows,
            typing.cast("tuple[tuple[str, int], ...]", other),
        )


def resolve_record(data: bytes | str, record_rel: str, site: str, *, windows: bool) -> RecordChecks:
    """Parse a RECORD and resolve its rows for checking. Never raises.

    ``record_rel`` is the RECORD's own path relative to the env folder (where its
    ``record_invalid`` findings point) and ``site`` its site-packages folder's (see
    ``env_relative``). Rows that do not parse become ``record_invalid`` issues, the first
    ``MAX_INVALID_ROWS`` one by one and the rest counted in one more; rows that escape the env
    become ``outside_env`` issues.
    """
    rows: list[RowCheck] = []
    issues: list[RecordIssue] = []
    problems: list[RowProblem] = []
    other: dict[str, int] = {}
    done: set[str] = set()
    bytecode_rows = 0
    plain = _PLAIN_SHA256_ROW.fullmatch
    for number, raw in enumerate(_text(data).split("\n"), start=1):
        line = raw.removesuffix("\r")
        fast = plain(line)
        algorithm: str | None
        sha256: str | None
        size: int | None
        if fast is not None:  # the common shape, already known valid: skip the field checks
            path, sha256, size_text = fast.groups()
            algorithm, size = VERIFIED_ALGORITHM, int(size_text)
        elif not line.strip():
            continue
        else:
            parsed = _parse_line(line, number)
            if isinstance(parsed, RowProblem):
                problems.append(parsed)
                continue
            path, algorithm, sha256, size = (
                parsed.path,
                parsed.algorithm,
                parsed.sha256,
                parsed.size,
            )
        env_rel = env_relative(path, site, windows=windows)
        if env_rel is None:
            issues.append(
                ("outside_env", path, f"RECORD line {number} points outside the env; not read")
            )
            continue
        # is_bytecode only when it could be true: the substring tests are much cheaper
        if ("__pycache__" in path or path.endswith(_BYTECODE_SUFFIXES)) and is_bytecode(path):
            bytecode_rows += 1
            continue
        if env_rel in done:
            continue
        done.add(env_rel)
        if algorithm is not None and algorithm != VERIFIED_ALGORITHM:
            other[algorithm] = other.get(algorithm, 0) + 1
        rows.append((path, env_rel, sha256, size))
    for problem in problems[:MAX_INVALID_ROWS]:
        detail = f"line {problem.line}: {'; '.join(problem.issues)}"
        issues.append(("record_invalid", record_rel, detail))
    if len(problems) > MAX_INVALID_ROWS:
        more = len(problems) - MAX_INVALID_ROWS
        issues.append(("record_invalid", record_rel, f"and {more} more lines that do not parse"))
    return RecordChecks(tuple(rows), tuple(issues), bytecode_rows, tuple(sorted(other.items())))


def dist_name(dist_info_folder: str) -> str:
    """The canonical distribution name of a ``<name>-<version>.dist-info`` folder name.

    Wheel-installed folders escape ``-`` in the name to ``_``, so the version starts after the
    last ``-``; a folder without a version is all name.
    """
    stem = dist_info_folder.removesuffix(".dist-info")
    name, sep, _version = stem.rpartition("-")
    # PEP 503 normalization, as packaging.utils.canonicalize_name does it; not imported from
    # there because packaging would add a third of verify's import time.
    return _NAME_SEPARATORS.sub("-", name if sep else stem).lower()


_NAME_SEPARATORS = re.compile(r"[-_.]+")


def _glob_segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = i + 1
            if end < len(segment) and segment[end] in "!^":
                end += 1
            if end < len(segment) and segment[end] == "]":
                end += 1
            end = segment.find("]", end)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = segment[i + 1 : end]
                negate = body[:1] in ("!", "^")
                body = body[1:] if negate else body
                body = body.replace("\\", "\\\\")
                out.append(f"[{'^/' if negate else ''}{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a ``verify_ignore`` glob, anchored at site-packages.

    ``*`` and ``?`` stay within one path segment, ``[...]`` is a character class, and a
    ``**`` segment matches any number of segments: ``**/cacert.pem`` matches every
    ``cacert.pem``, ``certifi/**`` everything under ``certifi/``.
    """
    segments = [s for s in pattern.strip("/").split("/") if s not in ("", ".")]
    regex: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex.append(".*" if last else "(?:[^/]+/)*")
        else:
            regex.append(_glob_segment(segment) + ("" if last else "/"))
    return re.compile("".join(regex), re.DOTALL)


def ignore_matcher(patterns: Iterable[str]) -> Callable[[str], str | None]:
    """A function from a site-relative path to the first pattern that matches it, or None."""
    compiled = [(pattern, glob_regex(pattern)) for pattern in patterns]

    def match(path: str) -> str | None:
        for pattern, regex in compiled:
            if regex.fullmatch(path):
                return pattern
        return None

    return match


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
            or not _SHA256_DIGEST.fullmatch(sha256)
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
