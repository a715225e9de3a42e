"""IO, Windows: switching ``<root>\\<env_key>`` from one generation to another, every OS call
through a :class:`~reconciler.store.junctions.WindowsOps`.

``<root>\\<env_key>`` is a directory junction. The switch cannot be one rename: Windows
refuses to rename anything over an existing directory, and a junction is one. The best
available sequence is: create the new junction under a temporary name; rename the live one
aside; rename the new one into place; remove the old one. Between the two renames
``<root>\\<env_key>`` does not exist. ``which``, ``run`` and ``resolve()`` are unaffected: they
look the link up through :func:`link_target`, which falls back to the one set aside, and hand
out the generation's own path. A crash in that window leaves the aside, which the next apply or
gc renames back (:func:`recover_switch`).

Where the filesystem cannot make a junction (FAT32, exFAT, some network shares, Wine), a link
file stands in (:mod:`reconciler.store.linkfile`): a small text file naming the live
generation, which :func:`link_target` reads as a link. One link file replaces another with one
``os.replace`` (atomic on Windows); between a junction and a link file (a root moved to another
volume) the switch takes the sequence above. A junction that failed, or that "succeeded" but is
not there (Wine's folder symlink), leaves nothing behind: the empty folder ``CreateJunction``
made first is removed.
"""

from __future__ import annotations

import contextlib
import ntpath
import uuid
from collections.abc import Collection, Sequence
from pathlib import PurePath

from reconciler import faults
from reconciler.errors import EnvPathOccupied, ReconcileError
from reconciler.store import layout, linkfile
from reconciler.store.fsops import LinkKind
from reconciler.store.junctions import (
    ASIDE_SUFFIX,
    LINKS,
    SWITCH_MARK,
    WindowsOps,
    strip_extended,
)

ERROR_INVALID_FUNCTION = 1  # STATUS_INVALID_DEVICE_REQUEST: "does not support reparse points"
ERROR_NOT_SUPPORTED = 50  # STATUS_NOT_SUPPORTED (Wine, some network redirectors)
NO_JUNCTIONS = (ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED)
"""The errors of creating a junction that mean this volume cannot hold one (MS-FSCC: the code
"varies, depending on the file system"). Access denied, in use and the like are not: they
fail the switch as they are."""


def env_key_of(path: PurePath) -> str:
    """Whose link a name of the root holds: ``serving`` for ``serving`` and for a switch's
    temporary names (``.serving.switch-<tag>``, ``.serving.switch-<tag>-old``)."""
    name = path.name
    if name.startswith(".") and SWITCH_MARK in name:
        return name[1:].rpartition(SWITCH_MARK)[0]
    return name


def _link_file(ops: WindowsOps, path: PurePath, env_key: str) -> bytes | None:
    """The bytes at ``path`` when it is a well-formed link file of ``env_key``, else None."""
    if ops.kind(path) != "file":
        return None
    try:
        data = ops.read_file(path, linkfile.LIMIT)
    except OSError:
        return None
    return data if linkfile.generation_named(data, env_key) is not None else None


def own_kind(ops: WindowsOps, path: PurePath) -> LinkKind | None:
    """What kind of link reconcile made at ``path`` (a junction, a symlink, a well-formed link
    file of the env its name says); None for nothing there, a folder or any other file."""
    found = ops.kind(path)
    if found == "junction" or found == "symlink":
        return found
    if _link_file(ops, path, env_key_of(path)) is not None:
        return "link_file"
    return None


def foreign_file(ops: WindowsOps, path: PurePath, env_key: str) -> str | None:
    """What a file at ``<root>\\<env_key>`` is when it is not reconcile's link file (``"a
    file"``, or a link file naming no generation of ``env_key``); None when it is one."""
    try:
        data = ops.read_file(path, linkfile.LIMIT)
    except OSError:
        return "a file"
    if linkfile.generation_named(data, env_key) is not None:
        return None
    if linkfile.looks_like_one(data):
        return f"a link file that names no generation of {env_key} (or leads out of the root)"
    return "a file"


def _remove_own(ops: WindowsOps, path: PurePath) -> None:
    """Remove reconcile's junction, symlink or link file at ``path``; anything else stays."""
    kind = own_kind(ops, path)
    if kind == "link_file":
        ops.remove_file(path)
    elif kind is not None:
        ops.remove_link(path)


def _leads_to(ops: WindowsOps, path: PurePath, generation: PurePath) -> bool:
    """Whether ``path`` is a junction to ``generation`` (Wine's "success" makes nothing)."""
    if ops.kind(path) != "junction":
        return False
    try:
        found = strip_extended(ops.read_link(path))
    except OSError:
        return False
    return ntpath.normcase(ntpath.normpath(found)) == ntpath.normcase(
        ntpath.normpath(str(generation))
    )


def _clear_failed_junction(ops: WindowsOps, temp: PurePath) -> None:
    """Remove what a failed junction left at its temporary (recorded) name: the empty folder
    ``CreateJunction`` makes before it sets the reparse point, or a link that leads elsewhere.
    A folder with something in it is not what the attempt made: left alone."""
    found = ops.kind(temp)
    if found in LINKS:
        ops.remove_link(temp)
    elif found == "dir" and not ops.list_dir(temp):
        ops.remove_dir(temp)


def _make_new(
    ops: WindowsOps, root: PurePath, env_key: str, generation: PurePath, temp: PurePath
) -> LinkKind:
    """The new link at ``temp``: a junction to ``generation``, else, where the volume cannot
    make one, a link file naming it."""
    try:
        ops.create_junction(generation, temp)
    except OSError as error:
        with contextlib.suppress(OSError):
            _clear_failed_junction(ops, temp)
        if getattr(error, "winerror", None) not in NO_JUNCTIONS:
            raise
    else:
        if _leads_to(ops, temp, generation):
            return "junction"
        _clear_failed_junction(ops, temp)
    ops.write_file(temp, linkfile.render(env_key, _gen_id(root, env_key, generation)))
    return "link_file"


def _gen_id(root: PurePath, env_key: str, generation: PurePath) -> str:
    own = root / layout.GENERATIONS / env_key
    if ntpath.normcase(str(generation.parent)) != ntpath.normcase(str(own)):
        raise ReconcileError(f"{generation} is not a generation of {env_key} under {own}.")
    return generation.name


def switch(
    ops: WindowsOps,
    root: PurePath,
    env_key: str,
    generation: PurePath,
    tag: str = "",
) -> LinkKind:
    """Point ``<root>\\<env_key>`` at ``generation`` (see the module docstring for the
    sequence and its window with no env at that path); returns what now stands there.
    ``tag`` names the temporary links (random by default; the caller records both names
    first). Only reconcile's own link is replaced: a folder or any other file is someone's,
    refused with :class:`EnvPathOccupied`, nothing touched."""
    tag = tag or uuid.uuid4().hex[:8]
    link = root / env_key
    temp = root / f".{env_key}{SWITCH_MARK}{tag}"
    aside = root / f".{env_key}{SWITCH_MARK}{tag}{ASIDE_SUFFIX}"
    _refuse_foreign(ops, link, env_key)
    made = _make_new(ops, root, env_key, generation, temp)
    faults.point("during_switch")
    try:
        current = own_kind(ops, link)
        if current == "link_file" and made == "link_file":
            ops.replace(temp, link)
            return made
        if current is not None:
            ops.rename(link, aside)
            try:
                ops.rename(temp, link)
            except BaseException:
                with contextlib.suppress(OSError):
                    ops.rename(aside, link)
                raise
            with contextlib.suppress(OSError):  # a stray aside is removed by the next cleanup
                _remove_own(ops, aside)
            return made
        _refuse_foreign(ops, link, env_key)  # again: something may have been put there since
        ops.rename(temp, link)
        return made
    except BaseException:
        with contextlib.suppress(OSError):
            _remove_own(ops, temp)
        raise


def _refuse_foreign(ops: WindowsOps, link: PurePath, env_key: str) -> None:
    """A folder, or a file that is not reconcile's link file, at the link's place is
    someone's: never moved nor removed."""
    found = ops.kind(link)
    if found == "dir":
        raise EnvPathOccupied(link, "a folder")
    if found == "file" and (what := foreign_file(ops, link, env_key)) is not None:
        raise EnvPathOccupied(link, what)


def _asides(ops: WindowsOps, root: PurePath, env_key: str) -> list[PurePath]:
    prefix = f".{env_key}{SWITCH_MARK}"
    try:
        names = ops.list_dir(root)
    except OSError:
        return []
    found = [
        root / name
        for name in sorted(names)
        if name.startswith(prefix) and name.endswith(ASIDE_SUFFIX)
    ]
    return [path for path in found if own_kind(ops, path) is not None]


def link_target(ops: WindowsOps, root: PurePath, env_key: str) -> PurePath | None:
    """Where ``<root>\\<env_key>`` points (a junction's target, the generation a link file
    names); inside a switch's window, where the link set aside points (the env as it was
    until that instant). None when there is no link of reconcile's."""
    link = root / env_key
    kind = ops.kind(link)
    if kind == "missing":
        candidates = _asides(ops, root, env_key)
        if not candidates:
            return None
        link = candidates[0]
        kind = ops.kind(link)
    if kind == "file":
        data = _link_file(ops, link, env_key)
        return None if data is None else linkfile.target(root, env_key, data)
    if kind not in LINKS:
        return None
    try:
        target = strip_extended(ops.read_link(link))
    except OSError:
        return None
    path = type(root)(target)
    return path if path.is_absolute() else link.parent / path


def recover_switch(
    ops: WindowsOps,
    root: PurePath,
    env_keys: Sequence[str],
    recorded: Collection[PurePath] | None = None,
) -> list[str]:
    """After a crash between the two renames of a switch: put the link set aside back
    where ``<root>\\<env_key>`` is missing (only one of ``recorded``, when given). Returns the
    env keys restored."""
    restored = []
    for key in env_keys:
        if ops.kind(root / key) != "missing":
            continue
        for aside in _asides(ops, root, key):
            if recorded is not None and aside not in recorded:
                continue
            try:
                ops.rename(aside, root / key)
            except OSError:
                continue
            restored.append(key)
            break
    return restored


def unlink(ops: WindowsOps, link: PurePath) -> bool:
    """Remove ``link`` when it is reconcile's junction, symlink or link file; True when it
    was one. Any other file or folder is left."""
    if own_kind(ops, link) is None:
        return False
    _remove_own(ops, link)
    return True
