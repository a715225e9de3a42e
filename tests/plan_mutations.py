"""Test helper: one-way mutations of a JSON document (a saved plan), for hypothesis.

A value replaced, removed, retyped, wrapped thousands of levels deep or given a stray key; or
the file's bytes cut, spoiled or swollen. Shared by the saved-plan tests and the hostile-input
suite.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def nodes(document: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in ``document`` (the document itself is ``()``)."""
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found += nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += nodes(value, (*path, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], make: Callable[[Any], Any]) -> Any:
    if not path:
        return make(document)
    changed = copy.deepcopy(document)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = make(node[path[-1]])
    return changed


def _remove(document: Any, path: tuple[Any, ...]) -> Any:
    changed = copy.deepcopy(document)
    node = changed
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return changed


@st.composite
def mutations(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """A saved plan changed in one way: a value replaced, removed, retyped, wrapped deep or
    given a stray key; or the file's bytes cut, spoiled or swollen."""
    path = draw(st.sampled_from(nodes(document)))
    how = draw(st.sampled_from(["replace", "remove", "retype", "wrap", "add_key", "same", "bytes"]))
    match how:
        case "replace":
            changed = _replace(document, path, lambda _: draw(_json))
        case "remove" if path:
            changed = _remove(document, path)
        case "retype":
            retypes: list[Callable[[Any], Any]] = [
                str,
                lambda v: [v],
                lambda v: {"v": v},
                lambda v: None,
            ]
            kind = draw(st.sampled_from(retypes))
            changed = _replace(document, path, kind)
        case "wrap":  # in text: deeper than Python's own recursion would go
            levels = draw(st.sampled_from([1, 8, 900, 100_000]))
            marked = json.dumps(_replace(document, path, lambda _: _MARK)).encode()
            value = json.dumps(value_at(document, path)).encode()
            return marked.replace(json.dumps(_MARK).encode(), b"[" * levels + value + b"]" * levels)
        case "add_key":
            key = draw(st.text(max_size=8))
            changed = _replace(
                document, path, lambda v: {**v, key: draw(_json)} if isinstance(v, dict) else v
            )
        case "bytes":
            text = json.dumps(document, indent=2).encode()
            cut = draw(st.integers(0, len(text)))
            spoil = draw(st.sampled_from([b"", b"\xff", b"\x00", b"}", b"[" * 2000]))
            return text[:cut] + spoil + (text[cut:] if draw(st.booleans()) else b"")
        case _:
            changed = copy.deepcopy(document)
    return json.dumps(changed, indent=draw(st.sampled_from([None, 2]))).encode()


_MARK = "\x00wrapped here\x00"


def value_at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document
