"""Pure: drop from uv's markers what the lockfile's scope already decides.

A universal lockfile is resolved for the env's Python alone (``3.11`` is every 3.11.x) on
the six hosts it serves (Linux, macOS and Windows, on x86_64 and ARM:
:data:`~reconciler.spec.platforms.UNIVERSAL_HOSTS`). uv can only express that scope as a
marker on every pin (``alpha==1.0 ; python_full_version < '3.12' and ((platform_machine ==
'aarch64' and sys_platform == 'linux') or ...)``), which says nothing on a host of the scope,
moves with every Python bump and would rewrite every lockfile once. Here:

- each ``python_version``/``python_full_version`` comparison is judged over the whole Python
  range: one that holds for every version in it is dropped from an ``and``, one that holds
  for none from an ``or``;
- each part of a marker that names only the host (``sys_platform``, ``platform_machine``,
  ``platform_system``, ``os_name``) is judged on the six hosts: one true on all of them goes,
  and one true on some is written in the fewest clauses that pick the same hosts
  (``sys_platform == 'win32'``) when that is shorter than uv's;
- a marker left empty goes.

Anything else (``extra``, a Python clause true for part of the range, a marker this module
cannot read) is kept as uv wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reconciler.spec.platforms import UNIVERSAL_HOSTS

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
_HOST = frozenset({"sys_platform", "platform_machine", "platform_system", "os_name"})
HOSTS: tuple[Mapping[str, str], ...] = tuple(host.markers for host in UNIVERSAL_HOSTS)
"""The platform part of the marker environment of each host a universal lockfile serves."""
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
    elif low != high and not _monotone(op, value):
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


def _monotone(op: str, value: str) -> bool:
    """Whether a comparison holds over a whole X.Y range when it holds at both its ends: an
    ordering, or a wildcard no finer than X.Y (``== '3.11.*'``, not ``== '3.11.4.*'``)."""
    if op in ("<", "<=", ">", ">=", "~="):
        return True
    return op in ("==", "!=") and value.endswith(".*") and value.count(".") <= 2


def _variable(atom: str) -> str | None:
    match = _ATOM.fullmatch(atom)
    return None if match is None else match.group("left")


def _atoms(node: _Node) -> list[str]:
    return [node.text] if node.text is not None else [a for p in node.parts for a in _atoms(p)]


def _holds_on(node: _Node, host: Mapping[str, str]) -> bool:
    if node.text is not None:
        try:
            return Marker(node.text).evaluate(dict(host))
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            raise _Unknown from None
    results = (_holds_on(part, host) for part in node.parts)
    return all(results) if node.word == "and" else any(results)


def _hosts_where(node: _Node) -> frozenset[int] | None:
    """The hosts (indexes of :data:`HOSTS`) where a marker that names only the host holds;
    None for a marker that names anything else."""
    if not _is_host(node):
        return None
    try:
        return frozenset(i for i, host in enumerate(HOSTS) if _holds_on(node, host))
    except _Unknown:
        return None


def _atom(variable: str, value: str) -> _Node:
    return _Node(text=f"{variable} == '{value}'")


def _fewest(where: frozenset[int]) -> _Node:
    """The marker, in uv's style, that holds on exactly the hosts ``where``: a whole system as
    ``sys_platform == 'win32'``, one machine of it as ``platform_machine == ... and
    sys_platform == ...``."""
    terms: list[_Node] = []
    for system in sorted({host["sys_platform"] for host in HOSTS}):
        of = [i for i, host in enumerate(HOSTS) if host["sys_platform"] == system]
        if all(i in where for i in of):
            terms.append(_atom("sys_platform", system))
            continue
        for machine in sorted(HOSTS[i]["platform_machine"] for i in of if i in where):
            pair = (_atom("platform_machine", machine), _atom("sys_platform", system))
            terms.append(_Node(word="and", parts=pair))
    return terms[0] if len(terms) == 1 else _Node(word="or", parts=tuple(terms))


def _host_scoped(node: _Node) -> bool | _Node:
    """A marker naming only the host, judged on the six hosts: True or False when it holds
    on all or none, else the shorter of it and :func:`_fewest`."""
    where = _hosts_where(node)
    if where is None:
        return node
    if not where or len(where) == len(HOSTS):
        return bool(where)
    fewest = _fewest(where)
    return fewest if len(_atoms(fewest)) < len(_atoms(node)) else node


def _reduce(node: _Node, python: str) -> bool | _Node:
    """The node with the clauses the scope decides taken out: True or False when the whole
    node is decided."""
    if node.text is not None:
        judged = _judge(node.text, python)
        return _host_scoped(node) if judged is None else judged
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
    rest = kept[0] if len(kept) == 1 else _Node(word=node.word, parts=tuple(kept))
    grouped = _grouped(rest)
    if isinstance(grouped, bool):
        return grouped
    factored = _factored(grouped)
    return factored if isinstance(factored, bool) else _host_scoped(factored)


def _is_host(node: _Node) -> bool:
    return all(_variable(atom) in _HOST for atom in _atoms(node))


def _grouped(node: _Node) -> bool | _Node:
    """An ``or`` with its parts that differ only in their host clauses merged:
    ``(implementation_name == 'pypy' and sys_platform == 'linux') or (implementation_name ==
    'pypy' and sys_platform == 'win32')`` is ``implementation_name == 'pypy' and (...)``,
    whose host part is then judged on the six hosts."""
    if node.word != "or":
        return node
    groups: dict[tuple[_Node, ...], list[_Node | None]] = {}
    for part in node.parts:
        clauses = _conjuncts(part)
        rest = tuple(clause for clause in clauses if not _is_host(clause))
        host = [clause for clause in clauses if _is_host(clause)]
        groups.setdefault(rest, []).append(_and(host) if host else None)  # None: every host
    if len(groups) == len(node.parts):
        return node
    merged: list[_Node] = []
    for rest, hosts in groups.items():
        known = [host for host in hosts if host is not None]
        if len(known) < len(hosts):
            where: bool | _Node = True
        else:
            either = known[0] if len(known) == 1 else _Node(word="or", parts=tuple(known))
            where = _host_scoped(either)
        if where is False:
            continue
        parts = list(rest) if where is True else [*rest, where]
        if not parts:
            return True  # a part with no clause but its hosts, true on all of them
        merged.append(_and(parts))
    if not merged:
        return False
    return merged[0] if len(merged) == 1 else _Node(word="or", parts=tuple(merged))


def _conjuncts(node: _Node) -> tuple[_Node, ...]:
    return node.parts if node.word == "and" else (node,)


def _and(parts: list[_Node]) -> _Node:
    return parts[0] if len(parts) == 1 else _Node(word="and", parts=tuple(parts))


def _factored(node: _Node) -> bool | _Node:
    """An ``or`` whose every part shares clauses, with them taken out: uv writes the scope
    into each part (``(implementation_name == 'cpython' and platform_machine == 'arm64' and
    sys_platform == 'darwin') or ...``), and only once ``implementation_name == 'cpython'
    and (...)`` is apart can the host part be judged on its own."""
    if node.word != "or":
        return node
    groups = [_conjuncts(part) for part in node.parts]
    common = [clause for clause in groups[0] if all(clause in group for group in groups[1:])]
    if not common:
        return node
    rests = [[clause for clause in group if clause not in common] for group in groups]
    if any(not rest for rest in rests):  # one part is the common clauses alone: it covers all
        return _and(common)
    inner = _host_scoped(_Node(word="or", parts=tuple(_and(rest) for rest in rests)))
    if inner is False:
        return False
    return _and(common if inner is True else [*common, inner])


def _render(node: _Node, inside: str | None = None) -> str:
    """Marker text in uv's style: an ``or`` inside an ``and`` and an ``and`` inside an
    ``or`` in parentheses."""
    if node.text is not None:
        return node.text
    text = f" {node.word} ".join(_render(part, node.word) for part in node.parts)
    return f"({text})" if inside is not None and inside != node.word else text


def scoped_marker(marker: str, python: str) -> str | bool:
    """``marker`` without the clauses the scope (the Python range, the six hosts) decides;
    True when nothing is left (the pin applies on every host of the scope), False when it
    holds nowhere there. A marker it cannot read is returned as it is."""
    try:
        tree = _parse(_tokens(marker))
    except _Unknown:
        return marker
    reduced = _reduce(tree, python)
    if isinstance(reduced, bool):
        return reduced
    return marker if reduced == tree else _render(reduced)


def scoped(text: str, python: str) -> str:
    """uv's ``requirements.txt`` output with every pin's marker scoped to ``python`` and the
    six hosts. A pin whose marker holds nowhere there is left as uv wrote it (uv writes no
    such pin for a resolution limited to the scope)."""
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
