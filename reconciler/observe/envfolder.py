"""IO: where an env-relative path really is, without ever leaving the env folder.

Nothing outside the env folder is ever opened: a symlink (the file's, or a folder's on the
way) that resolves outside is ``symlink_outside_env``. The check-then-open is not atomic
against someone swapping symlinks in the env while it runs; verify reads envs, it does not
defend against a hostile concurrent writer.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import NamedTuple

from reconciler.core.integrity import Category

Located = tuple[str, os.stat_result]
"""A regular file inside the env: its real path and its ``stat`` (a plain tuple: one per row)."""


class Trouble(NamedTuple):
    """Why a path is not a regular file inside the env: a finding's category and detail."""

    category: Category
    detail: str


def oserror_detail(exc: OSError) -> str:
    """An ``OSError`` as a finding's detail."""
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    return exc.strerror or str(exc)


class EnvFolder:
    """The env folder's real path, its folders resolved one at a time (memoized), and every
    path looked at on the way (``seen``, when kept)."""

    def __init__(self, env_real: str, seen: list[str] | None) -> None:
        self.env_real = env_real
        self.seen = seen
        self._env_key = os.path.normcase(env_real)
        self._env_prefix = os.path.normcase(env_real.rstrip(os.sep) + os.sep)
        self.real_dirs: dict[str, tuple[str, bool]] = {"": (env_real, True)}

    def inside(self, real: str) -> bool:
        """Whether a real path is the env folder or below it."""
        real = os.path.normcase(real)
        return real == self._env_key or real.startswith(self._env_prefix)

    def real_dir(self, rel: str) -> tuple[str, bool]:
        """The real path of the folder at env-relative ``rel`` (``/``-separated, normal), and
        whether it is inside the env.

        Resolved one segment at a time from the parent's memoized answer, so a tree costs one
        ``lstat`` per folder rather than one per path component per file. Below a folder that
        already resolves outside the env nothing more is looked at.
        """
        known = self.real_dirs.get(rel)
        if known is not None:
            return known
        parent, _, name = rel.rpartition("/")
        base, base_inside = self.real_dir(parent)
        found = base + name if base.endswith(os.sep) else base + os.sep + name
        if self.seen is not None:
            self.seen.append(found)
        inside = base_inside
        if base_inside:
            try:
                linked = stat.S_ISLNK(os.lstat(found).st_mode)
            except OSError:  # absent, or not a folder: the file's own lstat will say so
                linked = False
            if linked:
                found = os.path.realpath(found)
                inside = self.inside(found)
        self.real_dirs[rel] = (found, inside)
        return found, inside

    def locate(self, env_rel: str) -> Located | Trouble:
        """Resolve an env-relative path to a regular file inside the env, without reading it."""
        parent, _, name = env_rel.rpartition("/")
        parent_real, inside = self.real_dirs.get(parent) or self.real_dir(parent)
        if not inside:
            return Trouble("symlink_outside_env", f"its folder resolves to {parent_real}")
        path = parent_real + os.sep + name
        if self.seen is not None:
            self.seen.append(path)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return Trouble("missing", "")
        except OSError as exc:
            return Trouble("unreadable", oserror_detail(exc))
        if stat.S_ISREG(info.st_mode):  # nearly every row: decided in one test
            return path, info
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if not self.inside(target):
                return Trouble("symlink_outside_env", f"a symlink to {target}")
            if self.seen is not None:
                self.seen.append(target)
            try:
                info = os.stat(target)  # noqa: PTH116  str paths: one per RECORD row
            except (FileNotFoundError, NotADirectoryError):
                return Trouble("missing", f"a dangling symlink to {target}")
            except OSError as exc:
                return Trouble("unreadable", oserror_detail(exc))
            path = target
        if stat.S_ISDIR(info.st_mode):
            return Trouble("unreadable", "a directory where a file should be")
        if not stat.S_ISREG(info.st_mode):
            return Trouble("unreadable", "not a regular file")
        return path, info
