"""Pure: the spellings of one Windows path made one, and the path shapes a manifest may not hold.

``\\\\?\\C:\\x``, ``\\\\.\\C:\\x`` and ``\\??\\C:\\x`` name the folder ``C:\\x``, and
``\\\\?\\UNC\\server\\share\\x`` names ``\\\\server\\share\\x``. Every manifest and command-line
path goes through :func:`plain_path` before reconcile compares or uses it, so the checks that
keep apply's files apart from the project's (inside the root, holds the root, the manifest's
folder) see one spelling whatever was written, and what is checked is what is used. Which
system this is comes with the path itself: a ``WindowsPath`` (or, in a test, a
``PureWindowsPath``) is read as Windows reads it; a POSIX path is left as it is.
"""

from __future__ import annotations

import re
from pathlib import PurePath, PureWindowsPath
from typing import TypeVar

_DEVICE_PREFIXES = ("\\\\?\\", "\\\\.\\", "\\??\\")
_DRIVE = re.compile(r"[A-Za-z]:")
_ABSOLUTE_DRIVE = re.compile(r"[A-Za-z]:[\\/]")

P = TypeVar("P", bound=PurePath)


def plain(text: str) -> str:
    """``text`` (a Windows path) without the extended-length or device prefix in front of a
    drive letter or ``UNC\\``, with ``\\`` for separators; any other ``text`` as it is (a
    device path such as ``\\\\.\\PIPE\\x`` or ``\\\\?\\Volume{...}`` has no plain form)."""
    normal = text.replace("/", "\\")
    for prefix in _DEVICE_PREFIXES:
        if normal.startswith(prefix):
            rest = normal[len(prefix) :]
            if rest[:4].upper() == "UNC\\":
                return "\\\\" + rest[4:]
            if _DRIVE.fullmatch(rest[:2]) and rest[2:3] in ("", "\\"):
                return rest if rest[2:] else rest + "\\"  # the drive, never ``C:`` alone
            return text
    return text


def plain_path(path: P) -> P:
    """``path`` in its plain spelling when it is a Windows path (:func:`plain`); a POSIX path
    as it is."""
    if not isinstance(path, PureWindowsPath):
        return path
    text = str(path)
    simple = plain(text)
    return path if simple == text else type(path)(simple)


def trailing_name(value: str) -> str | None:
    """The first name in ``value`` that ends in a dot or a space (``.`` and ``..`` aside), or
    None. Windows drops those from ordinary paths but keeps them in ``\\\\?\\`` paths, the
    ones reconcile removes through: one spelling would name two folders (``C:\\x\\vc3.`` is
    ``vc3`` when checked and ``vc3.`` when deleted)."""
    for part in re.split(r"[\\\\/]", plain(value)):
        if part not in ("", ".", "..") and part.endswith((".", " ")):
            return part
    return None


def trailing_problem(value: str) -> str | None:
    """Why ``value`` may not be used: a name in it ends in a dot or a space
    (:func:`trailing_name`); None when none does."""
    part = trailing_name(value)
    if part is None:
        return None
    return (
        f'"{value}" has a name ending in a {"dot" if part.endswith(".") else "space"} '
        f'("{part}"), which Windows drops from some paths and keeps in others, so the path '
        "could name two folders; rename the folder, or write the path without it"
    )


def path_trailing_problem(path: PurePath) -> str | None:
    """:func:`trailing_problem` for a Windows path; None for a POSIX one, where a trailing dot
    or space is part of the name everywhere (which system this is comes with the path, as in
    :func:`plain_path`)."""
    return trailing_problem(str(path)) if isinstance(path, PureWindowsPath) else None


def form_problem(value: str) -> str | None:
    """Why ``value``, a path written in a manifest, may not be used on some system the
    manifest serves; ``None`` when it may. Refused everywhere, since one manifest serves POSIX
    and Windows hosts: a path relative to the current folder of a drive (``C:x``) or to the
    current drive (``\\x``), which on Windows depend on the process; a device path with no
    plain spelling; a name ending in a dot or a space (:func:`trailing_name`); a ``:`` anywhere
    but after a drive letter, which on NTFS names a stream of
    another file (``lockfiles\\a.txt::$DATA`` is ``a.txt`` itself) and on POSIX splits PATH."""
    text = plain(value)
    if text.replace("/", "\\").startswith(_DEVICE_PREFIXES):
        return (
            f'"{value}" is a Windows device path, which names no folder reconcile can compare; '
            "write it as C:\\... or as a path relative to the folder of envs.toml"
        )
    if _DRIVE.match(text) and not _ABSOLUTE_DRIVE.match(text):
        return (
            f'"{value}" is relative to the current folder of drive {text[:2]} on Windows, '
            "which depends on the process; write it as "
            f"{text[:2]}\\... or as a path relative to the folder of envs.toml"
        )
    if text.startswith("\\") and not text.startswith("\\\\"):
        return (
            f'"{value}" is relative to the current drive on Windows, which depends on the '
            "process; write it as C:\\... or as a path relative to the folder of envs.toml"
        )
    trailing = trailing_problem(value)
    if trailing is not None:
        return trailing
    rest = text[2:] if _ABSOLUTE_DRIVE.match(text) else text
    if ":" in rest:
        return (
            f'"{value}" holds ":", which on Windows names a stream of another file (an NTFS '
            "alternate data stream), and a manifest serves Windows hosts too; use a path "
            'without ":" (but for a drive letter, as in C:\\...)'
        )
    return None
