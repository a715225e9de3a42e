"""IO: the root's own folders, where every path into them is made, and checked.

``<root>/.generations``, ``.state``, ``.cache`` and ``.trash`` hold reconcile's own
bookkeeping; so do the per-env folders under ``.generations`` and the generations in them.
A link in one of those places (a symlink; on Windows also a junction) would make reconcile
read, write and remove files wherever it points, and a file there makes every write fail.
So every path into them comes from :func:`folder` or :func:`env_folder`, which look at the
entry itself (never following it) each time and refuse a link, or anything but a folder,
with one sentence naming it (SPEC 7.7). ``.cache`` is the exception for a file: the cache
only saves time, so a file there means no cache (see :mod:`reconciler.store.cachedir`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import InternalFolderRefused
from reconciler.store import layout

TYPE_CHECKING = False  # typing is not imported: plan replays import this module
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["missing", "dir", "link", "other"]

INTERNAL = (layout.GENERATIONS, layout.STATE, layout.CACHE, layout.TRASH)

_WHAT = {
    layout.GENERATIONS: "the generations of every env",
    layout.STATE: "the applied bindings (bindings.json) and its records of removals",
    layout.CACHE: "its caches",
    layout.TRASH: "removals in progress",
}

_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: a junction or symlink on Windows


def kind(path: Path) -> Kind:
    """What is at ``path`` itself, a link never followed."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    if stat.S_ISLNK(info.st_mode) or getattr(info, "st_file_attributes", 0) & _REPARSE_POINT:
        return "link"
    return "dir" if stat.S_ISDIR(info.st_mode) else "other"


def checked(path: Path, what: str, files_ok: bool = False) -> Path:
    """``path``, when it is a folder or absent; a link (or, unless ``files_ok``, anything
    else) is refused with one sentence naming it."""
    found = kind(path)
    if found == "link" or (found == "other" and not files_ok):
        raise InternalFolderRefused(path, what, is_link=found == "link")
    return path


def folder(root: Path, name: str) -> Path:
    """``<root>/<name>`` for one of :data:`INTERNAL`, checked (see the module docstring)."""
    return checked(root / name, _WHAT[name], files_ok=name == layout.CACHE)


def env_folder(root: Path, env_key: str) -> Path:
    """``<root>/.generations/<env_key>``, checked, as is ``.generations`` itself."""
    return checked(folder(root, layout.GENERATIONS) / env_key, f"the generations of {env_key}")


def check(root: Path) -> None:
    """Refuse the root's own folders that are links (or files), and a link among the per-env
    folders under ``.generations`` or inside one of them (a generation, its counter), before
    a command reads or changes anything under the root."""
    for name in INTERNAL:
        folder(root, name)
    for env in _entries(root / layout.GENERATIONS):
        if kind(env) == "link":
            env_folder(root, env.name)  # refused, naming the link
        for entry in _entries(env):
            if kind(entry) == "link":
                checked(entry, f"the generations of {env.name}")


def _entries(path: Path) -> list[Path]:
    """The entries of a folder (never of a link's target); none when it cannot be listed."""
    if kind(path) != "dir":
        return []
    try:
        return sorted(path.iterdir())
    except OSError:
        return []
