"""Pure: the root a manifest names (``[settings] root``), told from its text without a TOML
parser, for the commands that must start in milliseconds (`which`).

Importing ``tomllib`` costs more than all the rest of a remembered `which`, and the root is
the one thing that command needs from the manifest. This reads the text as TOML would only as
far as it must: table headers, keys, and the extent of each value (strings, comments, arrays
and inline tables over several lines). Whenever the text is anything but plain (a multi-line
string, a quoted or dotted key that may be ``settings`` or ``root``, a root that is not a plain
string, a table given twice), the answer is ``None``: ask the real parser. A manifest that is
not valid TOML may get an answer; the full load, which every other command makes, reports it.
"""

from __future__ import annotations

DEFAULT_ROOT = ".envs"

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Unsure(Exception):
    """The text is not plain enough to tell the root without a TOML parser."""


def settings_root(text: str) -> str | None:
    """``[settings] root`` of the manifest ``text`` (``".envs"`` when it names none), or
    ``None`` when that cannot be told without a TOML parser. A leading byte-order mark is
    read as the full load reads it: as if absent."""
    text = text.removeprefix("\ufeff")  # spec.manifest.BOM: importing it costs pydantic
    if '"""' in text or "'''" in text:
        return None
    try:
        return _scan(text)
    except _Unsure:
        return None


def _scan(text: str) -> str:
    table: str | None = ""  # the table the next key belongs to; None: a table of no interest
    tables: set[str] = set()
    root: str | None = None
    at = 0
    while at < len(text):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[at:end].strip()
        if not line or line.startswith("#"):
            at = end + 1
            continue
        if line.startswith("["):
            table = _header(line, tables)
            at = end + 1
            continue
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise _Unsure
        if table is not None and any(c not in _BARE and c != "." for c in key):
            raise _Unsure  # a quoted key here may spell settings or root
        first = key.split(".")[0]
        if (table == "" and first == "settings") or (table == "settings" and first == "root"):
            if table == "" or key != "root" or root is not None:
                raise _Unsure  # settings.root = ..., settings = {...}, root.x, root twice
            root = _plain_string(rest)
        value_at = at + text[at:end].index("=") + 1
        at = _value_end(text, value_at) + 1
    return DEFAULT_ROOT if root is None else root


def _header(line: str, tables: set[str]) -> str | None:
    """``"settings"`` for the line ``[settings]``, ``None`` for any other table header."""
    close = line.find("]")
    name = line[2 : line.find("]]")] if line.startswith("[[") else line[1:close]
    rest = line[line.rfind("]") + 1 :].strip()
    parts = [part.strip() for part in name.split(".")]
    if close < 0 or (rest and not rest.startswith("#")) or not all(parts):
        raise _Unsure
    if any(c not in _BARE for c in parts[0]):
        raise _Unsure  # a quoted first name may spell settings
    if parts[0] != "settings":
        return None
    if line.startswith("[["):
        raise _Unsure  # an array of settings tables: not a manifest the real load takes
    if len(parts) == 1:
        if "settings" in tables:
            raise _Unsure  # [settings] twice
        tables.add("settings")
        return "settings"
    return None


def _plain_string(rest: str) -> str:
    """The value of ``root = <rest>``: one string without escapes, then nothing but a comment."""
    rest = rest.strip()
    quote = rest[:1]
    close = rest.find(quote, 1) if quote in ('"', "'") else -1
    value = rest[1:close]
    after = rest[close + 1 :].strip()
    if close < 0 or (quote == '"' and "\\" in value) or (after and not after.startswith("#")):
        raise _Unsure
    if "\x00" in value or not value:
        raise _Unsure  # the full load names what is wrong
    return value


def _value_end(text: str, at: int) -> int:
    """Where the value that starts at ``at`` ends: the newline after it (or the text's end),
    past strings, comments and brackets that span lines."""
    depth = 0
    while at < len(text):
        char = text[at]
        if char in "\"'":
            close = _string_end(text, at)
            at = close + 1
            continue
        if char == "#":
            newline = text.find("\n", at)
            at = len(text) if newline < 0 else newline
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth < 0:
                raise _Unsure
        elif char == "\n" and depth == 0:
            return at
        at += 1
    if depth:
        raise _Unsure
    return at


def _string_end(text: str, at: int) -> int:
    """Where the one-line string that opens at ``at`` closes."""
    quote = text[at]
    here = at + 1
    while here < len(text):
        char = text[here]
        if char == "\n":
            raise _Unsure
        if char == "\\" and quote == '"':
            here += 2
            continue
        if char == quote:
            return here
        here += 1
    raise _Unsure
