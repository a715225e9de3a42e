"""Pure: parse ``*.dist-info/RECORD`` files and classify their paths.

A RECORD is CSV with three fields per row: a path relative to site-packages, a hash written
``algorithm=digest`` (urlsafe base64 without padding) and a size in bytes; the last two may be
empty (pip writes compiled ``.pyc`` files and the RECORD itself that way). A row that does not
parse is never raised to the caller: ``parse_record`` returns it as a ``RowProblem`` beside the
rows that did parse, so one bad line costs one finding, not the whole distribution.

Nothing here touches the disk; ``observe.walk`` walks and hashes, and ``core.integrity`` types
what it finds.
"""

from __future__ import annotations

import base64
import csv
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

VERIFIED_ALGORITHM = "sha256"

EMPTY_SHA256 = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
"""The RECORD digest of zero bytes."""

# 32 bytes are 43 base64 characters; the last one carries 2 padding bits, which must be zero.
SHA256_DIGEST = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
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
                if not SHA256_DIGEST.fullmatch(value):
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

IssueCategory = Literal["record_invalid", "outside_env"]
"""The finding categories of a RECORD's own rows (``core.integrity.Category`` has them all)."""

_ISSUE_CATEGORIES: tuple[IssueCategory, ...] = typing.get_args(IssueCategory)

RecordIssue = tuple[IssueCategory, str, str]
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
                and issue[0] in _ISSUE_CATEGORIES
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
