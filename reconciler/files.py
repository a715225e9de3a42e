"""IO: small filesystem helpers shared by the commands."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


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
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stray_temporaries(path: Path) -> list[Path]:
    """Temporary files that ``write_atomic(path, ...)`` left beside ``path`` when its process
    was killed between creating and renaming them."""
    return sorted(path.parent.glob(f".{path.name}.*"))


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


def site_packages(env_dir: Path, windows: bool = False) -> list[Path]:
    """The site-packages folders of a venv (normally exactly one): ``Lib/site-packages`` on
    Windows, else every ``lib/python*/site-packages``, sorted. A folder that cannot be looked
    at is left out."""
    if windows:
        candidate = env_dir / "Lib" / "site-packages"
        return [candidate] if is_dir(candidate) else []
    return sorted(p for p in glob(env_dir, "lib/python*/site-packages") if is_dir(p))


def display_path(path: Path) -> str:
    """``path`` as a user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
