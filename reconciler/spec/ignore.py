"""Pure: ``verify_ignore`` globs, matched against RECORD paths relative to site-packages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable


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
