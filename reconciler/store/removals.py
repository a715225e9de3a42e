"""IO: the record of what reconcile set aside to remove, ``<root>/.state/removals.json``.

Removal only takes what reconcile itself created and recorded (SPEC 7.7), never a path
chosen by a name pattern: a user's folder that merely looks like one of reconcile's is never
touched. Before reconcile gives something a name of its own choosing (an entry of
``<root>/.trash``, an adopted folder set aside beside itself on another filesystem, the
temporary link of a switch), it writes that name here, atomically, and only then renames or
creates. A crash between the two leaves a record of a path that does not exist, which the
next cleanup drops; a crash after it leaves a recorded path that the next apply or ``gc``
removes. An entry is dropped once its path is gone; the file is removed when it is empty.

Entries inside the root are kept relative to it (a root moves as a whole); a folder set
aside outside the root is kept absolute. The caller holds the apply lock (one process
writes); a lock here serialises the threads of one apply.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

from reconciler.errors import ReconcileError
from reconciler.files import STATE_LIMIT, load_json, read_regular_bytes, write_atomic
from reconciler.store import folders, layout
from reconciler.store.junctions import ASIDE_SUFFIX

NAME = "removals.json"
FORMAT_VERSION = "1"
SWITCH_MARK = ".switch-"  # in the names both switches give (store.posix, store.windows)
ASIDE_MARK = ".reconcile-trash-"  # in the names layout.set_aside_name gives

Kind = Literal["trash", "aside", "switch"]
"""``trash``: an entry of ``<root>/.trash``; ``aside``: an adopted folder renamed beside
itself; ``switch``: a switch's temporary link (or the folder an exchange displaced)."""

_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    """One recorded path (absolute) and what reconcile made it for."""

    kind: Kind
    path: Path


def journal_path(root: Path) -> Path:
    """``<root>/.state/removals.json`` (``.state`` checked: never through a link)."""
    return folders.folder(root, layout.STATE) / NAME


def _relative(root: Path, kind: Kind, path: PurePath) -> str:
    """How an entry is written down: relative to the root inside it, else absolute."""
    if kind == "aside":
        return str(path)
    return path.relative_to(root).as_posix()


_TAG = "[0-9a-f]{8}"
_TRASH_NAME = re.compile(rf"[^/\\\x00]+-{_TAG}")  # move_to_trash: ``<name>-<tag>``
_SWITCH_NAME = re.compile(  # switch: ``.<env>.switch-<tag>``, on Windows also ``…-old``
    rf"\.[^/\\\x00]+{re.escape(SWITCH_MARK)}{_TAG}(?:{re.escape(ASIDE_SUFFIX)})?"
)
_ASIDE_TAG = re.compile(rf"{re.escape(ASIDE_MARK)}({_TAG})")


def _parse(root: Path, kind: str, text: str, adopted: Collection[PurePath] = ()) -> Entry | None:
    """An entry as written down, if it has exactly the shape reconcile writes for its kind:
    an entry of ``<root>/.trash`` named ``<name>-<8 hex>``; a switch's temporary in the root
    named ``.<env>.switch-<8 hex>``; an adopted folder of ``adopted`` (the manifest's) set
    aside beside itself, ``<parent>/.<name>.reconcile-trash-<8 hex>``. Anything else is never
    removed (:func:`ignored` names it)."""
    if not text or "\x00" in text:
        return None
    if kind == "aside":
        path = Path(text)
        if not path.is_absolute() or os.path.normpath(text) != text:
            return None
        tag = _ASIDE_TAG.search(path.name)
        if tag is None or not path.name.endswith(tag.group(0)):
            return None
        for folder in adopted:
            plain = Path(os.path.normpath(folder))
            if path == plain.parent / layout.set_aside_name(plain.name, tag.group(1)):
                return Entry("aside", path)
        return None
    parts = PurePath(text).parts
    if PurePath(text).is_absolute() or ".." in parts:
        return None
    if kind == "trash" and len(parts) == 2 and parts[0] == layout.TRASH:
        return (
            Entry("trash", root / layout.TRASH / parts[1])
            if _TRASH_NAME.fullmatch(parts[1])
            else None
        )
    if kind == "switch" and len(parts) == 1 and _SWITCH_NAME.fullmatch(parts[0]):
        return Entry("switch", root / parts[0])
    return None


def _read(root: Path) -> list[tuple[str, str]]:
    """The raw (kind, path) pairs of the journal; empty when there is none."""
    path = journal_path(root)
    try:
        data = load_json(read_regular_bytes(path, STATE_LIMIT))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ReconcileError(
            f"cannot read reconcile's record of removals at {path} ({exc}); delete that file "
            "(reconcile then leaves what it recorded alone: remove leftovers named "
            "*.reconcile-trash-* and the entries of .trash yourself) and run the command again."
        ) from None
    rows = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return []
    return [
        (str(row.get("kind")), str(row.get("path")))
        for row in rows
        if isinstance(row, dict) and isinstance(row.get("path"), str)
    ]


def _write(root: Path, rows: Sequence[tuple[str, str]]) -> None:
    path = journal_path(root)
    if not rows:
        path.unlink(missing_ok=True)
        return
    document = {
        "format_version": FORMAT_VERSION,
        "entries": [{"kind": kind, "path": text} for kind, text in rows],
    }
    write_atomic(path, json.dumps(document, indent=2) + "\n")


def entries(root: Path, adopted: Collection[PurePath] = ()) -> list[Entry]:
    """Every recorded entry of a well-formed shape, in the order recorded. An ``aside``
    entry counts only beside one of ``adopted``, the adopted folders the manifest declares."""
    found = []
    for kind, text in _read(root):
        entry = _parse(root, kind, text, adopted)
        if entry is not None:
            found.append(entry)
    return found


def ignored(root: Path, adopted: Collection[PurePath] = ()) -> list[str]:
    """The recorded paths (as written) that :func:`entries` leaves out: not a shape reconcile
    writes, so never removed (edited by hand, or by someone who could write the file)."""
    return [text for kind, text in _read(root) if _parse(root, kind, text, adopted) is None]


def record(root: Path, kind: Kind, *paths: PurePath) -> None:
    """Write ``paths`` down before reconcile creates or renames anything to them (durably:
    the record reaches the disk before this returns)."""
    with _lock:
        rows = _read(root)
        for path in paths:
            row = (kind, _relative(root, kind, path))
            if row not in rows:
                rows.append(row)
        _write(root, rows)


def drop(root: Path, *paths: PurePath) -> None:
    """Forget ``paths``: they are gone (or were never made)."""
    with _lock:
        rows = _read(root)
        gone = {_normal(root, p) for p in paths}
        kept = [(kind, text) for kind, text in rows if _normal(root, PurePath(text)) not in gone]
        if len(kept) != len(rows):
            _write(root, kept)


def is_recorded(root: Path, path: PurePath) -> bool:
    """Whether ``path`` is a recorded entry (of a well-formed shape)."""
    wanted = _normal(root, path)
    return any(_normal(root, e.path) == wanted for e in entries(root))


def _normal(root: Path, path: PurePath) -> str:
    """``path`` made absolute against the root (an absolute one stays) and normalised."""
    return os.path.normpath(root / path)
