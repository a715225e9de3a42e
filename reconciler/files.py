"""IO: small filesystem helpers shared by the commands."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import stat
from pathlib import Path

_HEX = "0123456789abcdef"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    The text goes to a temporary file beside ``path``, is flushed to disk, and is renamed over
    ``path``; on any failure the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}"
    # Not mkstemp: its 0600 would hide bindings, receipts and lockfiles from the users who
    # run models; os.open's 0666 is narrowed by the umask, as for any file the user creates.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
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
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*"):
        suffix = candidate.name[len(path.name) + 2 :]
        if len(suffix) != 12 or suffix.strip(_HEX):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                found.append(candidate)
    return sorted(found)


def site_packages(env_dir: Path, windows: bool = False) -> list[Path]:
    """The site-packages folders of a venv (normally exactly one): ``Lib/site-packages`` on
    Windows, else every ``lib/python*/site-packages``, sorted."""
    if windows:
        candidate = env_dir / "Lib" / "site-packages"
        return [candidate] if candidate.is_dir() else []
    return sorted(p for p in env_dir.glob("lib/python*/site-packages") if p.is_dir())


def display_path(path: Path) -> str:
    """``path`` as a user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
