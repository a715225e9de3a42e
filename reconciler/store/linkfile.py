"""The link file: on Windows, the stand-in for ``<root>\\<env_key>`` where the filesystem
cannot make a junction (FAT32, exFAT, some network shares, Wine). A small text file, written
by reconcile only, whose first line says what it is and whose second names the live
generation relative to the root::

    # reconcile link file: this filesystem cannot make junctions; the live generation is:
    .generations\\serving\\g0003

Only a file of exactly that shape, naming a generation of its own env (``.generations\\<env_key>
\\gNNNN``, nothing else), is reconcile's; any other file is someone's, never followed nor
removed. Stdlib only: observation reads link files too.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePath

from reconciler.store import layout

FIRST_LINE = "# reconcile link file: this filesystem cannot make junctions; the live generation is:"
LIMIT = 1024
"""A link file is under 200 bytes; a bigger file is not one, and is never read whole."""
_GEN_NAME = re.compile(r"g\d{4,}")  # core.generations.GEN_NAME; stdlib only here


def render(env_key: str, gen_id: str) -> bytes:
    """The bytes of the link file naming generation ``gen_id`` of ``env_key``."""
    relative = "\\".join((layout.GENERATIONS, env_key, gen_id))
    return f"{FIRST_LINE}\r\n{relative}\r\n".encode()


def generation_named(data: bytes, env_key: str) -> str | None:
    """The generation id a well-formed link file of ``env_key`` names; None for anything
    else (another first line, more lines, a path out of ``.generations\\<env_key>``)."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    if len(lines) != 2 or lines[0] != FIRST_LINE:
        return None
    parts = lines[1].replace("/", "\\").split("\\")
    if len(parts) != 3 or parts[0] != layout.GENERATIONS or parts[1] != env_key:
        return None
    return parts[2] if _GEN_NAME.fullmatch(parts[2]) else None


def looks_like_one(data: bytes) -> bool:
    """Whether ``data`` starts as a link file does (then a bad target is named as such)."""
    return data.startswith(FIRST_LINE.encode())


def target(root: PurePath, env_key: str, data: bytes) -> PurePath | None:
    """``<root>\\.generations\\<env_key>\\<gen_id>`` from a well-formed link file's bytes."""
    gen_id = generation_named(data, env_key)
    return None if gen_id is None else root / layout.GENERATIONS / env_key / gen_id


def read(path: str) -> bytes | None:
    """The bytes of the small regular file at ``path`` (a link not followed), or None: not
    there, not a regular file, too big to be a link file, unreadable."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > LIMIT:
            return None
        with Path(path).open("rb") as file:
            return file.read(LIMIT + 1)
    except (OSError, ValueError):
        return None


def live_in(path: str) -> str | None:
    """Where the link file at ``<root>\\<env_key>`` (``path``) leads, as a path string; None
    when ``path`` holds no well-formed link file."""
    data = read(path)
    if data is None:
        return None
    link = PurePath(path)
    found = target(link.parent, link.name, data)
    return None if found is None else str(found)
