"""Pure: map TOML key paths to the line that defines them, for error messages.

tomlkit keeps no line numbers on its items, so this scans the text once: table headers
(``[envs.tools]``) set the current prefix, ``key = value`` lines (dotted keys included) define
keys under it. Multi-line strings and arrays are skipped over so their contents never look
like keys.
"""

from __future__ import annotations

import re

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LITERAL = re.compile(r"'([^']*)'")


def _parse_key(text: str) -> tuple[tuple[str, ...], str] | None:
    """Parse a (dotted) key at the start of ``text``; return its parts and the rest."""
    parts: list[str] = []
    rest = text
    while True:
        rest = rest.lstrip()
        for pattern in (_BARE, _BASIC, _LITERAL):
            match = pattern.match(rest)
            if match:
                parts.append(match.group(1) if pattern is not _BARE else match.group(0))
                rest = rest[match.end() :]
                break
        else:
            return None
        rest = rest.lstrip()
        if not rest.startswith("."):
            return tuple(parts), rest
        rest = rest[1:]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Return the 1-based line of every table header and key, and of their prefixes."""
    found: dict[tuple[str, ...], int] = {}
    prefix: tuple[str, ...] = ()
    in_multiline: str | None = None
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += line.count("[") - line.count("]")
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            inner = stripped.lstrip("[")
            parsed = _parse_key(inner)
            if parsed and parsed[1].startswith("]"):
                prefix = parsed[0]
                for end in range(1, len(prefix) + 1):
                    found.setdefault(prefix[:end], number)
            continue
        parsed = _parse_key(stripped)
        if not parsed or not parsed[1].startswith("="):
            continue
        path = prefix + parsed[0]
        for end in range(len(prefix) + 1, len(path) + 1):
            found.setdefault(path[:end], number)
        value = parsed[1][1:].strip()
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                in_multiline = quote
        if value.startswith("["):
            depth = value.count("[") - value.count("]")
    return found


def line_for(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of ``path``, or of its longest located prefix (a key inside an inline table)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
