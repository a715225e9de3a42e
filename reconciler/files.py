"""IO: small filesystem helpers shared by the commands."""

from __future__ import annotations

import contextlib
import glob as globbing
import json
import os
import stat
from pathlib import Path

from reconciler.errors import InputFileError

TYPE_CHECKING = False  # typing itself is not imported: plan replays start with this module
if TYPE_CHECKING:
    from typing import Any

    from reconciler.platform import VenvLayout

_HEX = "0123456789abcdef"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

RACY_NS = 1_000_000_000
"""How much older than a run's start a file's mtime and ctime must be for an answer computed
from it to be remembered (the hash cache, stored plans, health verdicts): a write within the
same timestamp tick as the run could keep the file's identity unchanged."""


def load_json(data: str | bytes) -> Any:
    """The JSON document in ``data``, read from a file; ``ValueError`` for anything that is
    not one, including a document nested too deep for the decoder (which recurses per level)
    or too large to build: every reader of a file treats those as any other malformed
    content."""
    try:
        return json.loads(data)
    except (RecursionError, MemoryError):
        raise ValueError("nested too deep or too large to read") from None


def racy(started_ns: int, *times_ns: int) -> bool:
    """Whether a file whose mtime and ctime are ``times_ns`` changed too close to a run's
    start (``started_ns``) for an answer computed from it to be remembered (:data:`RACY_NS`)."""
    return max(times_ns) >= started_ns - RACY_NS


def write_atomic(path: Path, data: str | bytes, *, sync: bool = True) -> None:
    """Write ``data`` (text goes as UTF-8, line ends as given) to ``path`` so that readers
    see the old file or the new one, never half.

    The data goes to a temporary file beside ``path``, is flushed to disk (unless ``sync`` is
    false: a cache, safe to lose), and is renamed over ``path``; on any failure the temporary
    file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}"  # secrets costs start-up
    # Not mkstemp: its 0600 would hide bindings, receipts and lockfiles from the users who
    # run models; os.open's 0666 is narrowed by the umask, as for any file the user creates.
    # O_EXCL (and O_NOFOLLOW) so that a planted file or link is never written through.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        try:
            view = memoryview(data.encode("utf-8") if isinstance(data, str) else data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from exc
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path``: a write to an open file (a full disk, a file size limit)
    raises an OSError that names no file, and the temporary's name means nothing to a user.
    The same class (``OSError(errno, ...)`` picks it), so callers catch it as before."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def stray_temporaries(path: Path) -> list[Path]:
    """Temporary files that ``write_atomic(path, ...)`` left beside ``path`` when its process
    was killed between creating and renaming them: regular files named exactly as it names
    them (``.<name>.`` and 12 hex digits), nothing else."""
    found = []
    for candidate in path.parent.glob(f".{globbing.escape(path.name)}.*"):
        suffix = candidate.name[len(path.name) + 2 :]
        if len(suffix) != 12 or suffix.strip(_HEX):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                found.append(candidate)
    return sorted(found)


def is_dir(path: Path) -> bool:
    """Whether ``path`` leads to a folder; False, never an exception, when it cannot be looked
    at (``Path.is_dir`` raises for a folder on its way the user may not enter)."""
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """Whether ``path`` leads to a regular file; False, never an exception, when it cannot be
    looked at."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def glob(folder: Path, pattern: str) -> list[Path]:
    """``folder.glob(pattern)``, empty when ``folder`` cannot be looked at (``Path.glob``
    raises for a folder on its way the user may not enter)."""
    try:
        return list(folder.glob(pattern))
    except (OSError, ValueError):
        return []


def site_packages(env_dir: Path, *, venv: VenvLayout) -> list[Path]:
    """The site-packages folders of a venv (normally exactly one): ``Lib/site-packages`` on
    Windows, else every ``lib/python*/site-packages``, sorted. A folder that cannot be looked
    at is left out."""
    if venv.windows:
        candidate = env_dir / venv.site_packages
        return [candidate] if is_dir(candidate) else []
    return sorted(p for p in glob(env_dir, venv.site_packages) if is_dir(p))


def display_path(path: Path) -> str:
    """``path`` as a user would type it: relative to the working folder when inside it, with
    control characters shown escaped (:func:`printable`)."""
    try:
        return printable(str(path.relative_to(Path.cwd())))
    except ValueError:
        return printable(str(path))


_CONTROLS = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    if code not in (0x09, 0x0A)
}


def printable(text: str) -> str:
    """``text`` with every control character but tab and newline written as an escape
    (``\\x1b``, ``\\r``...): a manifest, a path or a file is data a pull request controls,
    and an escape sequence in it must not erase or fake a line on a terminal or in a CI log.
    Bidirectional overrides are escaped too, so what is shown reads in the order it is."""
    return text.translate(_CONTROLS) if not text.isprintable() else text


STATE_LIMIT = 16 << 20
"""A JSON record reconcile keeps for itself (a generation's receipt, the applied bindings,
the journal of removals, a lock's holder): a few KB, a few MB for thousands of models."""

METADATA_LIMIT = 16 << 20
"""A ``METADATA`` of an installed distribution: its long description makes the biggest a few
MB."""

CACHE_LIMIT = 256 << 20
"""A cache file (hashes, plan and health memos): a hash cache holds an entry for each file
of an env, some tens of MB for the biggest; more is not one reconcile wrote."""


class NotARegularFile(ValueError):
    """What :func:`read_regular_bytes` refuses; ``str()`` says why, as a fragment that fits
    after a file's name ("is a FIFO, not a regular file")."""


def file_kind(mode: int) -> str:
    """What a file of ``mode`` is, in words: ``a FIFO``, ``a folder``, ``a character device``."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular_bytes(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file (a link to one is followed) of at
    most ``limit`` bytes; anything else raises :class:`NotARegularFile` without reading it.

    A FIFO would block the reader until some writer appears, and a device such as
    ``/dev/zero`` never ends: the file is opened without waiting (``O_NONBLOCK``) and judged by
    ``fstat`` of what was opened, so a file swapped after a check cannot slip through.
    OS errors (missing, permission denied) are raised as they are.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise NotARegularFile(f"is larger than {_size(limit)}")
        chunks: list[bytes] = []
        left = limit + 1  # one byte more than allowed tells a file that grew since the fstat
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise NotARegularFile(f"is larger than {_size(limit)}")
    return data


def _size(limit: int) -> str:
    return (
        f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit:,} bytes"
    )


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """:func:`read_regular_bytes` for a file reconcile was told to read, named ``what`` in
    messages ("lockfile"): anything but a readable regular file of at most ``limit`` bytes is
    an :class:`InputFileError` naming the path, never its content. A missing file raises
    ``FileNotFoundError`` for the caller to explain."""
    shown = display_path(path)
    try:
        return read_regular_bytes(path, limit)
    except FileNotFoundError:
        raise
    except NotARegularFile as exc:
        fix = "check that it names the right file" if "larger" in str(exc) else "name a file"
        raise InputFileError(f"the {what} {shown} {exc}; {fix}.") from None
    except PermissionError:
        raise InputFileError(
            f"cannot read the {what} {shown}: permission denied; fix its permissions."
        ) from None
    except (OSError, ValueError) as exc:  # a socket (ENXIO), a NUL byte, a name too long
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputFileError(
            f"cannot open the {what} {shown} ({why}); name a regular file."
        ) from None
