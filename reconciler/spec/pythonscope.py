"""Pure: drop from uv's markers what the env's Python version already decides.

A lockfile is resolved for the env's Python alone (``3.11`` is every 3.11.x), which uv can
only express as a marker on every pin (``alpha==1.0 ; python_full_version < '3.12'``). Such
a clause says nothing on a 3.11 host, yet moves with every Python bump and would rewrite
every lockfile once. Here each ``python_version``/``python_full_version`` comparison is judged
over the whole range: one that holds for every version in it is dropped from an ``and``, one
that holds for none from an ``or``, and a marker left empty goes. Anything not understood
(another shape of marker, a clause true for part of the range) is kept as uv wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_TOKEN = re.compile(
    r"""\s*(?:(?P<paren>[()])|(?P<word>and|or)(?![\w.])|(?P<atom>"""
    r"""(?:[A-Za-z_][\w.]*|'[^']*'|"[^"]*")\s*(?:===|==|!=|<=|>=|~=|<|>|not\s+in|in)\s*"""
    r"""(?:[A-Za-z_][\w.]*|'[^']*'|"[^"]*")))"""
)
_ATOM = re.compile(
    r"""(?P<left>[A-Za-z_][\w.]*|'[^']*'|"[^"]*")\s*(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in|in)"""
    r"""\s*(?P<right>[A-Za-z_][\w.]*|'[^']*'|"[^"]*")"""
)
_PYTHON = frozenset({"python_version", "python_full_version"})
_PIN_LINE = re.compile(r"^(?P<pin>[^\s#;][^;]*?) ; (?P<marker>.+?)(?P<cont> \\)?$")


@dataclass(frozen=True)
class _Node:
    """A parsed marker: an atom (``text`` set), or ``and``/``or`` over ``parts``."""

    text: str | None = None
    word: str | None = None
    parts: tuple[_Node, ...] = ()


class _Unknown(Exception):
    """A marker of a shape this module does not read: it is left as it is."""


def _tokens(marker: str) -> list[str]:
    out: list[str] = []
    at = 0
    while at < len(marker.rstrip()):
        match = _TOKEN.match(marker, at)
        if match is None or match.end() == at:
            raise _Unknown
        out.append((match.group("paren") or match.group("word") or match.group("atom")).strip())
        at = match.end()
    return out


def _parse(tokens: list[str]) -> _Node:
    at = 0

    def expression(word: str) -> _Node:
        nonlocal at
        inner = "and" if word == "or" else None
        parts = [expression(inner) if inner else primary()]
        while at < len(tokens) and tokens[at] == word:
            at += 1
            parts.append(expression(inner) if inner else primary())
        return parts[0] if len(parts) == 1 else _Node(word=word, parts=tuple(parts))

    def primary() -> _Node:
        nonlocal at
        if at >= len(tokens):
            raise _Unknown
        item = tokens[at]
        at += 1
        if item == "(":
            node = expression("or")
            if at >= len(tokens) or tokens[at] != ")":
                raise _Unknown
            at += 1
            return node
        if item in ("and", "or", ")"):
            raise _Unknown
        return _Node(text=item)

    node = expression("or")
    if at != len(tokens):
        raise _Unknown
    return node


def _unquoted(text: str) -> str | None:
    return text[1:-1] if text[:1] in "'\"" and text[-1:] == text[:1] else None


def _bounds(python: str) -> tuple[Version, Version]:
    """The first and last version of the range ``python`` names (``3.11``: 3.11.0 to a
    patch release no one will make; ``3.11.7``: that one)."""
    parts = python.split(".")
    if len(parts) >= 3:
        return Version(python), Version(python)
    return Version(f"{python}.0"), Version(f"{python}.99999")


def _judge(atom: str, python: str) -> bool | None:
    """Whether a Python-version clause holds over the whole range (True), nowhere in it
    (False), or in part of it, or is not a Python-version clause (None)."""
    match = _ATOM.fullmatch(atom)
    if match is None or match.group("left") not in _PYTHON:
        return None
    value, op = _unquoted(match.group("right")), match.group("op")
    if value is None:
        return None
    low, high = _bounds(python)
    if match.group("left") == "python_version":  # one value over the whole range
        low = high = Version(".".join(python.split(".")[:2]))
    elif op not in ("<", "<=", ">", ">=", "~=") and not (
        op in ("==", "!=") and value.endswith(".*")
    ):
        return None  # a point (== 3.11.4) can hold inside a range without holding at its ends
    try:
        spec = SpecifierSet(f"{op}{value}")
    except InvalidSpecifier:
        return None
    try:
        held = {spec.contains(low, prereleases=True), spec.contains(high, prereleases=True)}
    except InvalidVersion:  # pragma: no cover - both bounds are versions
        return None
    return held.pop() if len(held) == 1 else None


def _reduce(node: _Node, python: str) -> bool | _Node:
    """The node with the clauses the range decides taken out: True or False when the whole
    node is decided."""
    if node.text is not None:
        judged = _judge(node.text, python)
        return node if judged is None else judged
    kept: list[_Node] = []
    for part in node.parts:
        reduced = _reduce(part, python)
        if isinstance(reduced, bool):
            if reduced == (node.word == "or"):
                return reduced  # a true clause of an `or`, a false one of an `and`
            continue
        kept.append(reduced)
    if not kept:
        return node.word == "and"
    return kept[0] if len(kept) == 1 else _Node(word=node.word, parts=tuple(kept))


def _render(node: _Node, inside: str | None = None) -> str:
    if node.text is not None:
        return node.text
    text = f" {node.word} ".join(_render(part, node.word) for part in node.parts)
    return f"({text})" if inside == "and" and node.word == "or" else text


def scoped_marker(marker: str, python: str) -> str | bool:
    """``marker`` without the clauses the Python range decides; True when nothing is left
    (the pin applies on every host of that Python), False when it holds nowhere there.
    A marker it cannot read is returned as it is."""
    try:
        tree = _parse(_tokens(marker))
    except _Unknown:
        return marker
    reduced = _reduce(tree, python)
    if isinstance(reduced, bool):
        return reduced
    return marker if reduced == tree else _render(reduced)


def scoped(text: str, python: str) -> str:
    """uv's ``requirements.txt`` output with every pin's marker scoped to ``python``. A pin
    whose marker holds nowhere in the range is left as uv wrote it (uv does not write such
    pins for a resolution limited to the range)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _PIN_LINE.match(line)
        if match is None:
            continue
        marker = scoped_marker(match.group("marker"), python)
        if marker is False:
            continue
        tail = match.group("cont") or ""
        shown = "" if marker is True else f" ; {marker}"
        lines[index] = f"{match.group('pin')}{shown}{tail}"
    return "\n".join(lines)
