"""What a plan needs to know of the Python each env it builds will use: whether one is
installed (observe.pythons's search, answered as soon as one is found), and when none is,
whether uv has a download of it: ``uv python list --only-downloads --offline`` reads uv's
own list, without the network. :func:`lookup_paths` names the paths whose state decides the
answer, for the plan replay.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from reconciler.core.health import python_matches
from reconciler.core.pythons import PythonLookup
from reconciler.errors import PythonNotFound
from reconciler.observe.pythons import (
    installed,
    pyenv_versions,
    search_folders,
    uv_python_dirs,
    uv_reason,
    version_key,
)
from reconciler.runner import Command, Unfinished, attempt, uv_bin
from reconciler.spec.manifest import PythonDownloads

log = logging.getLogger("reconciler")

LIST_TIMEOUT = 15.0
"""Seconds ``uv python list --only-downloads --offline`` gets (it reads a list built into uv)."""


def lookups(
    versions: Sequence[str], downloads: PythonDownloads, *, windows: bool, uv: str | None = None
) -> dict[str, PythonLookup]:
    """:func:`lookup` of each version, the versions searched in parallel."""
    if len(versions) < 2:
        return {version: lookup(version, downloads, windows=windows, uv=uv) for version in versions}
    with ThreadPoolExecutor(max_workers=min(len(versions), 4)) as pool:
        found = pool.map(
            lambda version: lookup(version, downloads, windows=windows, uv=uv), versions
        )
        return dict(zip(versions, found, strict=True))


def lookup(
    version: str, downloads: PythonDownloads, *, windows: bool, uv: str | None = None
) -> PythonLookup:
    """What a build of ``version`` will find: the installed interpreter (where ``windows``,
    or POSIX, installs them), or else (when ``downloads`` lets uv fetch one) the version uv
    would download."""
    uv = uv or uv_bin()
    try:
        found = installed(version, windows=windows, uv=uv, quick=True)
    except PythonNotFound as error:
        return PythonLookup(version, error=str(error).removesuffix("."))
    if found is not None:
        return PythonLookup(version, found=found.version, path=str(found.path))
    if downloads != "automatic":
        return PythonLookup(version)
    return PythonLookup(version, download=_download(version, uv))


def lookup_paths(found: PythonLookup, *, windows: bool) -> list[str]:
    """The paths whose state decides what :func:`lookup` found: the folders it searches (an
    interpreter added or removed changes their entries), uv's own folder of installed
    Pythons, and the interpreter found (and what it links to)."""
    paths = search_folders(found.version, windows=windows)
    versions = pyenv_versions(windows=windows)
    paths += [str(versions), str(versions.parent), *uv_python_dirs(windows=windows)]
    if found.path is not None:
        paths += [found.path, os.path.realpath(found.path)]
    return list(dict.fromkeys(paths))


def _download(version: str, uv: str) -> str | None:
    """The ``X.Y.Z`` of the newest CPython download uv knows for ``version`` on this
    machine, from the list built into uv (``--offline``: no network); None when it has none
    or cannot tell."""
    result = attempt(python_downloads_command(uv, version))
    if isinstance(result, Unfinished):
        log.debug("python %s: uv python list %s", version, result.why())
        return None
    if not result.ok:
        log.debug("python %s: uv python list: %s", version, uv_reason(result.stderr))
        return None
    try:
        rows = json.loads(result.stdout or "[]")
    except ValueError:
        return None
    found = [
        str(row["version"])
        for row in rows
        if isinstance(row, dict)
        and row.get("implementation") == "cpython"
        and row.get("variant", "default") == "default"  # not freethreaded nor debug builds
        and isinstance(row.get("version"), str)
        and python_matches(version, row["version"])
    ]
    return max(found, key=version_key, default=None)


def python_downloads_command(uv: str, version: str) -> Command:
    """List the CPython downloads uv knows for ``version``, from its built-in list (as
    ``uv python install`` would see it: downloads allowed, whatever the caller's uv says)."""
    return Command(
        (uv, "python", "list", "--only-downloads", "--offline", "--output-format", "json", version),
        env={"UV_PYTHON_DOWNLOADS": "automatic"},
        timeout=LIST_TIMEOUT,
    )
