"""IO: the cache folders: the root's, ``<root>/.cache``, for the hash caches and the stored
plans; and the user's own (``user_cache_folder``), for the envs that have no root to keep a
cache in (an adopt-only manifest never applied, a venv named by its path).

Everything in them can be deleted at any time (it only costs time). Neither is ever read or
written through a link: a link in the root's could lead out of the root (SPEC 7.7), and one in
the user's could lead anywhere.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from reconciler.files import is_dir
from reconciler.store import folders, layout

CACHE_DIR_ENV = "RECONCILE_CACHE_DIR"
"""Names the user's cache folder itself, instead of the platform's default."""


def cache_folder(root: Path, *parts: str) -> Path | None:
    """``<root>/.cache/<parts...>``, or ``None`` when a folder on the way is a link or
    cannot be looked at (then there is no cache: it only costs time). ``<root>/.cache``
    itself that is a link is refused (:func:`reconciler.store.folders.folder`), as are the root's
    other folders."""
    try:
        folder = folders.folder(root, layout.CACHE)
    except OSError:  # a root that cannot be looked at (too long a name...): no cache
        return None
    for part in (None, *parts):
        folder = folder if part is None else folder / part
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                return None
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return folder


def user_cache_home(environ: Mapping[str, str], system: str, home: Path) -> Path:
    """Where this user's reconcile caches live, as uv, pip and platformdirs place theirs:
    ``$RECONCILE_CACHE_DIR`` when set; else ``%LOCALAPPDATA%\\reconcile\\Cache`` on Windows,
    ``~/Library/Caches/reconcile`` on macOS, ``$XDG_CACHE_HOME/reconcile`` or
    ``~/.cache/reconcile`` elsewhere (a relative ``XDG_CACHE_HOME`` is ignored, as the XDG
    spec says). ``system`` is ``sys.platform``."""
    override = environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).absolute()
    if system == "win32":
        local = environ.get("LOCALAPPDATA")
        return Path(local or home / "AppData" / "Local") / "reconcile" / "Cache"
    if system == "darwin":
        return home / "Library" / "Caches" / "reconcile"
    xdg = environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache") / "reconcile"


def _private(path: Path) -> bool:
    """Whether ``path`` itself (never followed) is a folder only this user may change: not a
    link, owned by this user, not writable by group or others. Where there are no owners to
    compare (Windows: a per-user folder), a folder that is not a link."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or getattr(info, "st_file_attributes", 0) & 0x400:
        return False  # a file, a symlink, or (0x400, a reparse point) a Windows junction
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return True
    return info.st_uid == geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def user_cache_folder(*parts: str) -> Path | None:
    """``<user cache>/<parts...>`` (``user_cache_home``), created with mode 0700 where
    missing; ``None`` when it cannot be created, or when it or a folder in it is not private
    (``_private``: a link, another user's, writable by others). A cache there could make
    `verify` trust a changed file, so anything but a folder of this user's own means no cache.
    """
    try:
        base = user_cache_home(os.environ, sys.platform, Path.home())
    except RuntimeError:  # no home folder to be found
        return None
    folder = base
    try:
        if not is_dir(base.parent):  # ~/.cache may be missing too
            base.parent.mkdir(parents=True, exist_ok=True)
        for part in (None, *parts):
            folder = folder if part is None else folder / part
            if _private(folder):  # the usual case: made by an earlier run
                continue
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            if not _private(folder):
                return None
    except (OSError, ValueError):  # read-only home, a NUL byte in the variable ...
        return None
    return folder
