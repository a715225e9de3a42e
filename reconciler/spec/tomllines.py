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


def _scan_value(text: str, depth: int, quote: str | None) -> tuple[int, str | None]:
    """Array depth and open multi-line string after ``text``.

    Brackets inside strings and comments do not count: ``"pkg[extra]"`` or ``# see [1``
    inside a multi-line array must not end it early or keep it open forever.
    """
    i = 0
    while i < len(text):
        if quote is not None:
            if quote.startswith('"') and text[i] == "\\":
                i += 2
            elif text.startswith(quote, i):
                i += len(quote)
                # a multi-line string may end with up to two quotes of its own content
                while len(quote) == 3 and i < len(text) and text[i] == quote[0]:
                    i += 1
                quote = None
            else:
                i += 1
            continue
        char = text[i]
        if char == "#":
            break
        opener = next((q for q in ('"""', "'''", '"', "'") if text.startswith(q, i)), None)
        if opener is not None:
            quote = opener
            i += len(opener)
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        i += 1
    if quote in ('"', "'"):
        quote = None  # a one-line string cannot continue on the next line
    return max(depth, 0), quote


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Return the 1-based line of every table header and key, and of their prefixes."""
    found: dict[tuple[str, ...], int] = {}
    prefix: tuple[str, ...] = ()
    in_multiline: str | None = None
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline or depth > 0:
            depth, in_multiline = _scan_value(line, depth, in_multiline)
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
        depth, in_multiline = _scan_value(parsed[1][1:], 0, None)
    return found


def line_for(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of ``path``, or of its longest located prefix (a key inside an inline table)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
