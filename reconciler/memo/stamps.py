"""IO: the stat identity of a path, and whether remembered identities still hold.

The half of ``memo.identity`` that a remembered answer is checked with, apart so that a
command answered from a memo (`which`) imports nothing but the standard library's ``os``.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing itself is not imported: start-up is what the memos save
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

Identity = tuple[int, ...]


def _fields(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def identity(path: str) -> Identity | None:
    """The ``lstat`` identity of ``path`` (device, inode, mode, size, mtime_ns, ctime_ns);
    for a symlink, followed by the identity of what it leads to (a manifest or lockfile may be
    a link to a file edited in place), or -1 when that is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISLNK(st.st_mode):
        return _fields(st)
    try:
        return _fields(st) + _fields(os.stat(path))
    except OSError:
        return (*_fields(st), -1)


def unchanged(inputs: Iterable[Sequence[Any]]) -> bool:
    """Whether every ``[path, identity]`` pair that ``identity.identities`` gave still holds."""
    for path, known in inputs:
        now = identity(path)
        if (None if now is None else list(now)) != known:
            return False
    return True
