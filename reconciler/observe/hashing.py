"""IO: read one installed file safely: its RECORD-style sha256, or a RECORD's bytes.

Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` and checked (``fstat``) to be the
regular file the walk stat'ed, so a final symlink is never followed and a FIFO cannot hang the
walk.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.spec.record import record_digest

CHUNK = 1 << 20
"""Bytes read per ``readinto``: large enough that hashlib drops the GIL while digesting."""

OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)
OPEN_FIRST = hasattr(os, "O_NOFOLLOW")
"""Whether a file may be opened before it is ``lstat``ed: only where opening can refuse to
follow a final symlink (elsewhere a link out of the env would be read)."""


@dataclass(frozen=True)
class FileHash:
    """What hashing one file gave: its RECORD-style sha256 and how many bytes were read
    (zero when a cache answered)."""

    sha256: str
    bytes_read: int


Hasher = Callable[[str, os.stat_result], FileHash]
"""Hash the regular file at a path whose ``stat`` the walk already took (a cache's key)."""

_buffers = threading.local()


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(CHUNK))
        _buffers.view = view
    return view


def hash_open(fd: int, size: int) -> FileHash:
    """sha256 of an open regular file of ``size`` bytes (by its ``fstat``): small files in
    one read, big ones in 1 MiB chunks read into a per-thread buffer."""
    digest = hashlib.sha256()
    total = 0
    if size < CHUNK:
        # Most files: one read and no buffer juggling (per-file overhead is what holds the
        # GIL); reading one byte more than the size notices a file that grew.
        data = os.read(fd, size + 1)
        digest.update(data)
        total = len(data)
    if size >= CHUNK or total > size:
        with io.FileIO(fd, "rb", closefd=False) as handle:
            view = _buffer()
            while count := handle.readinto(view):
                digest.update(view[:count])
                total += count
    return FileHash(record_digest(digest.digest()), total)


def sha256_file(path: str, expected: os.stat_result) -> FileHash:
    """sha256 of a regular file: small files in one read, big ones in 1 MiB chunks read into a
    per-thread buffer.

    Never follows a final symlink and never blocks on a FIFO; raises ``OSError`` when the
    file cannot be read or is no longer the regular file ``expected`` describes.
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (
            expected.st_dev,
            expected.st_ino,
        ):
            raise OSError(errno.ESTALE, "the file changed while it was being verified", path)
        return hash_open(fd, now.st_size)
    finally:
        os.close(fd)


RECORD_FILE_LIMIT = 64 << 20
"""A RECORD lists every file of a distribution: a few MB for the biggest; more is no RECORD."""


def read_record(path: str, expected: os.stat_result) -> bytes:
    """The bytes of the RECORD at ``path``, which must still be the file ``expected`` describes
    and no bigger than ``RECORD_FILE_LIMIT``; raises ``OSError`` otherwise."""
    fd = os.open(path, OPEN_FLAGS)
    with io.FileIO(fd, "rb", closefd=True) as handle:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino):
            raise OSError(errno.ESTALE, "the file changed while it was being read", path)
        if not stat.S_ISREG(now.st_mode) or now.st_size > RECORD_FILE_LIMIT:
            raise OSError(errno.EINVAL, "not a regular file of a RECORD's size", path)
        data = handle.read(RECORD_FILE_LIMIT + 1)
        if len(data) > RECORD_FILE_LIMIT:
            raise OSError(errno.EFBIG, "larger than a RECORD can be", path)
        return data
