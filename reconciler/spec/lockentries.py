"""Pure: read a lockfile's pins as uv's requirements.txt parser reads them, and refuse, naming
the file and the line, every shape uv could read otherwise.

uv (`uv pip sync`, `uv pip install -r`) ends a comment at the end of its line whatever it
ends with, continues a line at a backslash right before the line break, ends a requirement
at a ``#`` or a ``--`` that follows a space, and reads a leading byte-order mark as nothing.
Of that grammar this module takes what ``uv pip compile`` writes and its plain variations::

    name==version ; marker \\
        --hash=sha256:<64 hex digits> \\
        --hash=sha256:<64 hex digits>
        # via other

(one line or several, spaces or tabs, comments on their own lines or after a space). It
refuses what uv would read as something else or not at all: a comment that ends with a
backslash (uv reads the next line on its own, so a pin there would be installed unseen), a
continued line that goes on with anything but ``--hash`` options (a comment, a blank line,
a pin), a backslash followed by spaces or right after a word, and, outside comments, any
character but printable ASCII, space and tab (uv reads other spaces and control characters
its own way; none may reach a terminal through a version).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reconciler.errors import LockfileError

REWRITE = "run `reconcile lock` to rewrite it."
_BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SPACE = " \t"
_COMMENT = re.compile(r"(?:^|[ \t])#")
_ENTRY_TEXT = re.compile(r"[ -~\t]*")
_OPTIONS = re.compile(r"[ \t]+(?=--)")
_HASH = re.compile(r"--hash=(sha256):([0-9a-f]{64})")
_PINNED_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
# what is wrong with a line, one phrase each (never what the line says)
_COMMENT_BACKSLASH = (
    "a comment ends with a backslash (uv ends a comment at the end of its line and reads the "
    "next line on its own)"
)
_SPACED_BACKSLASH = (
    "a backslash followed by spaces or tabs ends the line (uv reads it as part of the line, "
    "not as a continuation)"
)
_ODD_CHARACTER = "a character other than printable ASCII, space or tab outside a comment"
_VARIABLE = (
    "a ${...} outside a comment (uv puts an environment variable's value there, so the line "
    "would mean what each machine's environment says)"
)
_BROKEN_CONTINUATION = (
    "the line before ends with a backslash, but this line holds no --hash options to go on with"
)
_CUT_SHORT = (
    "a comment where the line before, ending with a backslash, goes on (uv ends the pin there)"
)
# pip's requirement-file options, named in an error when a lockfile holds one; any other word
# of a bad line is never shown (the file may be a .env a manifest points at).
_KNOWN_OPTIONS = frozenset(
    {
        "-c", "--constraint", "-e", "--editable", "-r", "--requirement", "-i", "--index-url",
        "--extra-index-url", "--no-index", "-f", "--find-links", "--pre", "--prefer-binary",
        "--only-binary", "--no-binary", "--require-hashes", "--trusted-host", "--use-feature",
        "--config-settings", "--global-option", "--hash",
    }
)  # fmt: skip


@dataclass(frozen=True)
class LockedPackage:
    """One pinned package of a lockfile."""

    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]
    line: int

    def applies_to(self, marker_env: Mapping[str, str]) -> bool:
        """Whether this pin is installed in an env with ``marker_env`` (PEP 508 markers)."""
        if self.marker is None:
            return True
        try:
            return Marker(self.marker).evaluate(dict(marker_env))
        except (UndefinedComparison, UndefinedEnvironmentName):
            return False


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` as uv splits them (LF, CRLF or CR), a leading byte-order mark
    set aside as uv sets it aside."""
    return _LINE_BREAK.split(text.removeprefix(_BOM))


def _refuse(where: str, problem: str) -> LockfileError:
    return LockfileError(f"{where}: {problem}; {REWRITE}")


def _continues(where: str, raw: str, line: str, text: str) -> bool:
    """Whether a line (``raw``; ``line`` without its trailing spaces, ``text`` without its
    comment and spaces) goes on to the next one: it ends with a backslash after a space."""
    if not line.endswith("\\"):
        return False
    if raw != line:
        raise _refuse(where, _SPACED_BACKSLASH)
    if len(text) < 2 or text[-2] not in _SPACE:
        raise _refuse(where, "a backslash at the end of the line does not follow a space")
    return True


def _entries(text: str, label: str) -> list[tuple[int, str]]:
    """Each pin with its ``--hash`` options, joined from its lines, and its first line number;
    comments and blank lines left out. Raises on a shape uv could read otherwise."""
    entries: list[tuple[int, list[str]]] = []
    continued = False
    lines = physical_lines(text)
    for number, raw in enumerate(lines, start=1):
        where = f"{label}:{number}"
        line = raw.rstrip(_SPACE)
        comment = _COMMENT.search(line)
        body = (line[: comment.start()] if comment else line).strip(_SPACE)
        if comment and line.endswith("\\"):
            raise _refuse(where, _COMMENT_BACKSLASH)
        if continued and not body.startswith("--"):
            raise _refuse(where, _BROKEN_CONTINUATION if body or not comment else _CUT_SHORT)
        if not continued and not body:
            continue
        if not _ENTRY_TEXT.fullmatch(body):
            raise _refuse(where, _ODD_CHARACTER)
        if "${" in body:
            raise _refuse(where, _VARIABLE)
        goes_on = not comment and _continues(where, raw, line, body)
        body = body[:-1].rstrip(_SPACE) if goes_on else body
        if continued:
            entries[-1][1].append(body)
        else:
            entries.append((number, [body]))
        continued = goes_on
    if continued:
        raise _refuse(f"{label}:{len(lines)}", "the last line ends with a backslash")
    return [(number, " ".join(parts)) for number, parts in entries]


def _option_named(word: str) -> str:
    """How an error names an option word: itself if pip knows it, never what follows ``=``."""
    name = word.partition("=")[0]
    return repr(name) if name in _KNOWN_OPTIONS else "an option"


def _parse_pin(label: str, number: int, text: str) -> LockedPackage:
    where = f"{label}:{number}"
    only = "lockfiles hold only pins and --hash lines: " + REWRITE
    if text.startswith("-"):  # -e, --index-url, or --hash lines whose pin lost its backslash
        words = _HASH.sub("", text).split()
        problem = (
            f"unsupported option {_option_named(words[0])}"
            if words
            else "--hash lines without a pin"
        )
        raise LockfileError(f"{where}: {problem}; {only}")
    spec_part, *rest = _OPTIONS.split(text, maxsplit=1)
    options = rest[0] if rest else ""
    hashes = tuple(f"{algo}:{digest}" for algo, digest in _HASH.findall(options))
    leftover = _HASH.sub("", options).split()
    if leftover:
        first = leftover[0]
        problem = (
            "a --hash that is not sha256 with 64 hex digits"
            if first.startswith("--hash")
            else f"unsupported option {_option_named(first)}"
            if first.startswith("-")
            else "words after the --hash options (a second pin?)"
        )
        raise LockfileError(f"{where}: {problem}; {only}")
    try:
        requirement = Requirement(spec_part)
    except InvalidRequirement:
        # neither the line nor packaging's reason (which may quote it) is shown
        raise _refuse(
            where, "not a pin (name==version, an optional ; marker, --hash lines)"
        ) from None
    pins = [s for s in requirement.specifier if s.operator == "=="]
    if len(requirement.specifier) != 1 or not (pins and _PINNED_VERSION.fullmatch(pins[0].version)):
        # no name: a bare word is all a token file holds, and it parses as one. `===` pins
        # any text (escape sequences too) and uv never writes one; `==1.*` is no one version
        raise _refuse(where, "not pinned to one version (name==version)")
    marker = str(requirement.marker) if requirement.marker is not None else None
    if marker is not None and "===" in marker:
        raise _refuse(where, "a marker compares with ===, which uv does not read")
    if not hashes:
        raise _refuse(
            where,
            f"{requirement.name} has no --hash=sha256: lines, so its files cannot be checked",
        )
    return LockedPackage(
        name=canonicalize_name(requirement.name),
        version=pins[0].version,
        marker=marker,
        hashes=tuple(sorted(hashes)),
        line=number,
    )


def read_pins(text: str, label: str) -> list[LockedPackage]:
    """Every pin of a lockfile's text, in order; raise LockfileError naming ``label`` and the
    line on a line uv could read otherwise or that is not a pin with hashes."""
    return [_parse_pin(label, number, entry) for number, entry in _entries(text, label)]
