"""IO, Windows: the OS calls behind :class:`WindowsOps`, extended-length paths, and removal.

On Windows ``<root>/<env_key>`` is a directory junction, not a symlink: creating a symlink
needs a privilege or developer mode, a junction needs neither (``mklink /J``;
``_winapi.CreateJunction`` in CPython). A junction stores an absolute target, so on Windows
the root cannot be moved as a whole. Where the filesystem cannot make one, a link file
stands in. The switch between generations is :mod:`reconciler.store.winswitch`'s.

Removal moves a folder into the trash first (one rename, so a locked file cannot leave a
half-deleted env in place), then deletes it bottom-up through extended-length ``\\\\?\\``
paths (venv trees can pass MAX_PATH), clearing read-only attributes, never following a
junction or symlink inside, and reporting what is locked (a running interpreter keeps its
``.pyd``/``.dll`` files open) instead of hiding it.

The decision logic is exercised on Linux with ``PureWindowsPath`` and a fake
:class:`WindowsOps` (tests/test_windows.py); :class:`NativeWindowsOps` is the thin layer over
``os`` and ``_winapi``, run under Wine (which makes no junctions), not yet on real Windows.
"""

from __future__ import annotations

import importlib
import ntpath
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PureWindowsPath
from typing import Literal, Protocol

from reconciler import faults
from reconciler.errors import ReconcileError
from reconciler.spec.winpaths import plain, trailing_problem
from reconciler.store import layout

Kind = Literal["missing", "file", "dir", "junction", "symlink"]
LINKS: tuple[Kind, ...] = ("junction", "symlink")

# winnt.h and winerror.h (the stat module has the tags on Windows only)
IO_REPARSE_TAG_MOUNT_POINT = 0xA0000003
IO_REPARSE_TAG_SYMLINK = 0xA000000C
ERROR_ACCESS_DENIED = 5
ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
ERROR_NOT_SAME_DEVICE = 17
_LOCKED = (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION)
_LOADED_SUFFIXES = (".pyd", ".dll", ".exe")
_EXTENDED = "\\\\?\\"
_NT_PREFIX = "\\??\\"  # how a junction's target is stored; os.readlink may return it as is

SWITCH_MARK = ".switch-"
ASIDE_SUFFIX = "-old"

Record = Callable[[PurePath], None]
"""Writes a path down before it is created or renamed to (reconciler.store.removals): removal only
ever takes what was recorded."""


def _no_record(_path: PurePath) -> None:
    return None


class WindowsOps(Protocol):
    """The OS calls the Windows code paths make. Paths are whatever flavour the caller uses;
    the native implementation makes them absolute and extended-length."""

    def kind(self, path: PurePath) -> Kind:
        """What is at ``path``, links not followed."""

    def create_junction(self, target: PurePath, link: PurePath) -> None:
        """Create a directory junction at ``link`` pointing at the folder ``target``."""

    def read_link(self, path: PurePath) -> str:
        """The target stored in a junction or symlink, as the OS returns it."""

    def rename(self, source: PurePath, destination: PurePath) -> None:
        """Rename; fails when ``destination`` exists (Windows never replaces a directory)."""

    def remove_link(self, path: PurePath) -> None:
        """Remove a junction or symlink itself, never what it points at."""

    def remove_file(self, path: PurePath) -> None: ...

    def remove_dir(self, path: PurePath) -> None:
        """Remove an empty folder."""

    def make_dir(self, path: PurePath) -> None:
        """Create a folder (and its parents); no error when it exists."""

    def list_dir(self, path: PurePath) -> list[str]: ...

    def clear_readonly(self, path: PurePath) -> None:
        """Clear the read-only attribute."""

    def real_path(self, path: PurePath) -> PurePath:
        """``path`` with every link in it resolved."""

    def read_file(self, path: PurePath, limit: int) -> bytes:
        """At most ``limit + 1`` bytes of a file (more than ``limit`` says it is bigger)."""

    def write_file(self, path: PurePath, data: bytes) -> None:
        """Create a new file holding ``data``, flushed to disk; fails when ``path`` exists."""

    def replace(self, source: PurePath, destination: PurePath) -> None:
        """Rename a file over another file in one step (``os.replace``: atomic on Windows)."""


@dataclass(frozen=True)
class Outcome:
    """What removing one path did: ``removed`` when it is gone; ``moved_to`` is where it went
    in the trash (None when it never got there); ``failures`` name each entry left, with why."""

    removed: bool
    moved_to: PurePath | None = None
    failures: tuple[tuple[str, str], ...] = ()


# --- paths ------------------------------------------------------------------------------------


def extended(path: PureWindowsPath) -> str:
    """The extended-length form of an absolute path (``\\\\?\\C:\\...``, ``\\\\?\\UNC\\...``),
    which lifts the 260-character MAX_PATH limit. Windows does not normalise such paths, so
    ``.`` and ``..`` are resolved and ``/`` turned into ``\\`` here."""
    text = str(path)
    if text.startswith((_EXTENDED, "\\\\.\\")):
        return text
    if not path.is_absolute():
        raise ValueError(f"an extended-length path must be absolute, got {text!r}")
    normal = ntpath.normpath(text)
    problem = trailing_problem(normal)
    if problem is not None:  # refused at input; never guess which folder it is
        raise ReconcileError(f"{problem}.")
    if normal.startswith("\\\\"):  # \\server\share\... -> \\?\UNC\server\share\...
        return _EXTENDED + "UNC\\" + normal[2:]
    return _EXTENDED + normal


def strip_extended(text: str) -> str:
    """A path as users write it: without ``\\\\?\\``, ``\\\\?\\UNC\\`` or ``\\??\\`` (a
    junction's target is stored in the NT form); see :func:`reconciler.spec.winpaths.plain`."""
    return plain(text)


def is_locked(error: OSError) -> bool:
    """Whether Windows refused because another process has the file open."""
    return getattr(error, "winerror", None) in _LOCKED


def reason(error: OSError, path: PurePath) -> str:
    """Why ``path`` could not be removed, in words that say what to do about a locked file."""
    code = getattr(error, "winerror", None)
    if is_locked(error):
        return (
            f"in use by another process (WinError {code}): stop the programs running from this env"
        )
    if code == ERROR_ACCESS_DENIED and path.suffix.lower() in _LOADED_SUFFIXES:
        return (
            f"access denied (WinError {code}): a running process has it loaded, or it is "
            "not yours; stop the programs running from this env"
        )
    text = error.strerror or str(error)
    return f"{text} (WinError {code})" if code is not None else text


# --- removal ------------------------------------------------------------------------------


def _inside(ops: WindowsOps, root: PurePath, path: PurePath) -> bool:
    """Whether ``path`` (its parent resolved, the last part not followed) is inside root."""
    try:
        real_root = ops.real_path(root)
        real = ops.real_path(path.parent) / path.name
    except OSError:
        return False
    return real.is_relative_to(real_root) and real != real_root


def trash_dir(ops: WindowsOps, root: PurePath) -> PurePath:
    """``<root>/.trash``, refused when it is a junction or symlink: emptying it must never
    delete anything elsewhere."""
    trash = root / layout.TRASH
    if ops.kind(trash) in LINKS:
        raise ReconcileError(
            f"refusing to use {trash}: it is a link or leads outside the root; remove it by hand."
        )
    return trash


def move_to_trash(
    ops: WindowsOps, root: PurePath, path: PurePath, record: Record = _no_record
) -> PurePath:
    """Move ``path`` into ``<root>/.trash`` with one rename, its new name recorded first. On
    Windows that rename fails while a file inside is open without delete sharing: then
    nothing moved at all."""
    if not _inside(ops, root, path):
        raise ReconcileError(f"refusing to remove {path}: it is outside the root {root}.")
    trash = trash_dir(ops, root)
    ops.make_dir(trash)
    destination = trash / f"{path.name}-{uuid.uuid4().hex[:8]}"
    record(destination)
    ops.rename(path, destination)
    return destination


def _remove_one(ops: WindowsOps, path: PurePath, kind: Kind) -> str | None:
    """Remove one entry (not a folder's contents); None when it is gone, else why not.
    Access denied is usually the read-only attribute: cleared, then tried once more."""
    if kind in LINKS:
        remove = ops.remove_link
    elif kind == "dir":
        remove = ops.remove_dir
    else:
        remove = ops.remove_file
    try:
        remove(path)
        return None
    except FileNotFoundError:
        return None
    except OSError as error:
        if is_locked(error) or kind in LINKS:  # never touch a link's attributes: they follow it
            return reason(error, path)
    try:
        ops.clear_readonly(path)
        remove(path)
        return None
    except FileNotFoundError:
        return None
    except OSError as error:
        return reason(error, path)


def remove_tree(ops: WindowsOps, top: PurePath) -> list[tuple[str, str]]:
    """Delete ``top`` and everything under it, bottom-up, without recursion (no depth limit)
    and without following a junction or symlink. Returns each entry left, with why; a
    folder left only because something inside it was left is not listed again."""
    kind = ops.kind(top)
    if kind == "missing":
        return []
    if kind != "dir":
        why = _remove_one(ops, top, kind)
        return [(str(top), why)] if why else []
    failures: list[tuple[str, str]] = []
    blocked: set[PurePath] = set()  # folders that still hold something that was left

    def left(path: PurePath, why: str) -> None:
        failures.append((str(path), why))
        for parent in path.parents:
            blocked.add(parent)
            if parent == top:
                break

    stack: list[tuple[PurePath, bool]] = [(top, False)]
    while stack:
        folder, emptied = stack.pop()
        if emptied:
            if folder not in blocked and (why := _remove_one(ops, folder, "dir")):
                left(folder, why)
            continue
        try:
            names = ops.list_dir(folder)
        except OSError as error:
            left(folder, reason(error, folder))
            blocked.add(folder)
            continue
        stack.append((folder, True))
        for name in sorted(names, reverse=True):
            child = folder / name
            child_kind = ops.kind(child)
            if child_kind == "dir":
                stack.append((child, False))
            elif child_kind != "missing" and (why := _remove_one(ops, child, child_kind)):
                left(child, why)
    return failures


def delete_tree(
    ops: WindowsOps, root: PurePath, path: PurePath, record: Record = _no_record
) -> Outcome:
    """Remove a path under the root: a junction or symlink is removed itself (never
    followed); a folder is moved into the trash, then deleted. Nothing outside the root."""
    if not _inside(ops, root, path):
        return Outcome(False, failures=((str(path), "outside the root; not touched"),))
    kind = ops.kind(path)
    if kind == "missing":
        return Outcome(False)
    if kind in LINKS:
        why = _remove_one(ops, path, kind)
        return Outcome(not why, failures=((str(path), why),) if why else ())
    try:
        in_trash = move_to_trash(ops, root, path, record)
    except ReconcileError as error:
        return Outcome(False, failures=((str(path), error.message),))
    except OSError as error:
        # Windows refuses to rename a folder while a file in it is open (a running Python).
        held = getattr(error, "winerror", None) in (ERROR_ACCESS_DENIED, *_LOCKED)
        hint = " (a running process may hold a file in it)" if held else ""
        why = f"could not be moved into the trash{hint}, so it stays where it is: "
        return Outcome(False, failures=((str(path), why + reason(error, path)),))
    faults.point("during_removal")
    failures = remove_tree(ops, in_trash)
    return Outcome(not failures, in_trash, tuple(failures))


def delete_adopted(
    ops: WindowsOps,
    root: PurePath,
    folder: PurePath,
    record: Record = _no_record,
    record_aside: Record = _no_record,
) -> Outcome:
    """Delete an adopted env's own folder outside the root (``delete = true``): refused when
    it is a junction or symlink, has no ``pyvenv.cfg`` or overlaps the root; moved into the
    trash with one rename (beside itself when the trash is on another drive), then deleted
    bottom-up with read-only attributes cleared, locked files reported."""
    kind = ops.kind(folder)
    if kind == "missing":
        return Outcome(False)
    if kind != "dir" or ops.kind(folder / "pyvenv.cfg") != "file":
        why = "a link, or not a venv (no pyvenv.cfg); not touched"
        return Outcome(False, failures=((str(folder), why),))
    try:
        real, real_root = ops.real_path(folder), ops.real_path(root)
    except OSError as error:
        return Outcome(False, failures=((str(folder), reason(error, folder)),))
    if layout.overlaps(real, real_root):
        return Outcome(False, failures=((str(folder), layout.ROOT_OVERLAP),))
    try:
        trash = trash_dir(ops, root)
        ops.make_dir(trash)
        tag = uuid.uuid4().hex[:8]
        aside = trash / f"{folder.name}-{tag}"
        record(aside)
        try:
            ops.rename(folder, aside)
        except OSError as error:
            if getattr(error, "winerror", None) != ERROR_NOT_SAME_DEVICE:
                raise
            aside = folder.with_name(layout.set_aside_name(folder.name, tag))
            record_aside(aside)
            ops.rename(folder, aside)
    except ReconcileError as error:
        return Outcome(False, failures=((str(folder), error.message),))
    except OSError as error:
        held = getattr(error, "winerror", None) in (ERROR_ACCESS_DENIED, *_LOCKED)
        hint = " (a running process may hold a file in it)" if held else ""
        why = f"could not be moved aside{hint}, so it stays where it is: "
        return Outcome(False, failures=((str(folder), why + reason(error, folder)),))
    faults.point("during_removal")
    failures = remove_tree(ops, aside)
    return Outcome(not failures, aside, tuple(failures))


# --- the real thing -----------------------------------------------------------------------


class NativeWindowsOps:
    """:class:`WindowsOps` over ``os`` and ``_winapi``, every path made absolute and
    extended-length. Run under Wine, not yet on real Windows (see the module docstring)."""

    @staticmethod
    def _long(path: PurePath) -> Path:
        return Path(extended(PureWindowsPath(Path(path).absolute())))

    def kind(self, path: PurePath) -> Kind:
        try:
            info = self._long(path).lstat()
        except FileNotFoundError:
            return "missing"
        if getattr(info, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_REPARSE_POINT:
            tag = getattr(info, "st_reparse_tag", 0)
            if tag == IO_REPARSE_TAG_MOUNT_POINT:
                return "junction"
            if tag == IO_REPARSE_TAG_SYMLINK:
                return "symlink"
        return "dir" if stat.S_ISDIR(info.st_mode) else "file"

    def create_junction(self, target: PurePath, link: PurePath) -> None:
        # Plain absolute paths: CreateJunction writes its own \??\ prefix before the target.
        winapi = importlib.import_module("_winapi")  # Windows only, untyped off Windows
        winapi.CreateJunction(str(Path(target).absolute()), str(Path(link).absolute()))

    def read_link(self, path: PurePath) -> str:
        return str(self._long(path).readlink())

    def rename(self, source: PurePath, destination: PurePath) -> None:
        self._long(source).rename(self._long(destination))

    def remove_link(self, path: PurePath) -> None:
        # A junction, or a symlink to a folder, is removed with rmdir; a file symlink with unlink.
        try:
            self._long(path).rmdir()
        except NotADirectoryError:
            self._long(path).unlink()

    def remove_file(self, path: PurePath) -> None:
        self._long(path).unlink()

    def remove_dir(self, path: PurePath) -> None:
        self._long(path).rmdir()

    def make_dir(self, path: PurePath) -> None:
        self._long(path).mkdir(parents=True, exist_ok=True)

    def list_dir(self, path: PurePath) -> list[str]:
        return [entry.name for entry in self._long(path).iterdir()]

    def clear_readonly(self, path: PurePath) -> None:
        # On Windows chmod only sets or clears the read-only attribute. Only called on files
        # and folders, never on a link (which chmod would follow before Python 3.13).
        self._long(path).chmod(stat.S_IWRITE | stat.S_IREAD)

    def real_path(self, path: PurePath) -> PurePath:
        return PureWindowsPath(strip_extended(str(Path(path).resolve())))

    def read_file(self, path: PurePath, limit: int) -> bytes:
        with self._long(path).open("rb") as file:
            return file.read(limit + 1)

    def write_file(self, path: PurePath, data: bytes) -> None:
        with self._long(path).open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    def replace(self, source: PurePath, destination: PurePath) -> None:
        self._long(source).replace(self._long(destination))  # os.replace: MoveFileEx
