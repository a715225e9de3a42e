"""IO: every path a manifest names, checked in one place, and the one reader of lockfiles.

A manifest is data a pull request controls, so no key of it may make reconcile read, echo or
write a file outside the manifest's folder (SPEC 3). ``manifest.py`` refuses what can be told
from the text alone (absolute paths, ``..`` out of the folder, a NUL); this module checks the
rest on disk, after the manifest is parsed and before any command uses it:

- the lockfiles folder, every managed env's lockfile and every ``find_links`` folder must
  resolve (links followed) inside the manifest's folder: a link inside pointing out is
  refused;
- a lockfile that exists must be a regular file of at most :data:`LOCKFILE_LIMIT` bytes, not
  a FIFO, a device, a socket or a folder.

Each problem is a manifest error with its line and key path; no message shows a file's
content. ``root`` and ``adopt`` may lie outside the folder by design (the root is where
reconcile builds, an adopted venv is someone else's); ``adoption.py`` checks adopt paths.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import LockfileError, ManifestError, Problem, UnusablePath
from reconciler.files import display_path, file_kind, read_regular_file
from reconciler.manifest import LoadedManifest, format_key_path, is_url
from reconciler.tomllines import key_lines, line_for

LOCKFILE_LIMIT = 16 << 20
"""The largest lockfile reconcile reads: 16 MiB, hundreds of times a large real lockfile."""

_FOLDER, _FILE = "folder", "file"


def _located(text: str, loc: tuple[str | int, ...], why: str) -> Problem:
    return Problem(line_for(key_lines(text), tuple(str(p) for p in loc)), format_key_path(loc), why)


def place_problem(
    path: Path, base: Path, wants: frozenset[str], fix: str, limit: int | None = None
) -> str | None:
    """Why ``path`` (named by a manifest whose folder is ``base``) may not be used; ``None``
    when it may. It must resolve inside ``base``, and, when it exists, be one of ``wants``
    (a ``folder``, a regular ``file``, the latter of at most ``limit`` bytes); ``fix`` ends
    the sentence when it is of the wrong kind. A path that does not exist yet is fine:
    ``lock`` writes lockfiles, ``plan`` names a missing one."""
    shown = display_path(path)
    try:
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(os.path.realpath(base)):
            return (
                f"{shown} is, or goes through, a link that leads out of the manifest's "
                "folder, and reconcile reads only files inside it: replace the link with the "
                "real file or folder"
            )
        info = real.stat()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a link loop, a name too long, permission denied
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"{shown} cannot be looked at ({why}); fix the path or its permissions"
    if stat.S_ISDIR(info.st_mode):
        if _FOLDER in wants:
            return None
        return f"{shown} is a folder, not a file; {fix}"
    if stat.S_ISREG(info.st_mode):
        if _FILE not in wants:
            return f"{shown} is a file, not a folder; {fix}"
        if limit is not None and info.st_size > limit:
            return (
                f"{shown} is larger than {limit >> 20} MiB, the most reconcile reads from a "
                "lockfile; check that it names the right file"
            )
        return None
    return f"{shown} is {file_kind(info.st_mode)}, not a regular file; {fix}"


def path_problems(loaded: LoadedManifest) -> list[Problem]:
    """Every path of the manifest that resolves out of its folder or is of the wrong kind."""
    manifest = loaded.manifest
    base = loaded.base_dir
    problems: list[Problem] = []

    def check(
        path: Path,
        loc: tuple[str | int, ...],
        wants: frozenset[str],
        fix: str,
        limit: int | None = None,
    ) -> bool:
        why = place_problem(path, base, wants, fix, limit)
        if why is not None:
            problems.append(_located(loaded.text, loc, why))
        return why is None

    folder_ok = check(
        base / manifest.settings.lockfiles,
        ("settings", "lockfiles"),
        frozenset({_FOLDER}),
        "settings.lockfiles names the folder that holds the lockfiles",
    )
    for key, spec in manifest.managed_envs().items():
        loc: tuple[str, ...] = (
            ("envs", key, "lockfile") if spec.lockfile is not None else ("envs", key)
        )
        if spec.lockfile is not None or folder_ok:
            check(
                loaded.lockfile_path(key),
                loc,
                frozenset({_FILE}),
                f"a lockfile is a file: move that away and run `reconcile lock {key}`",
                LOCKFILE_LIMIT,
            )
    tables: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("settings", "sources", "find_links"), manifest.settings.sources.find_links)
    ]
    tables += [
        (("envs", key, "sources", "find_links"), spec.sources.find_links)
        for key, spec in sorted(manifest.envs.items())
        if spec.sources is not None
    ]
    for where, links in tables:
        for index, link in enumerate(links):
            if not is_url(link):
                check(
                    base / link,
                    (*where, index),
                    frozenset({_FOLDER, _FILE}),
                    "find_links names a folder of wheels",
                )
    return sorted(set(problems), key=lambda p: (p.line or 0, p.key_path, p.message))


def check_paths(loaded: LoadedManifest, label: str) -> None:
    """Raise one :class:`ManifestError` listing every path problem of the manifest (named
    ``label`` in messages, as its parse errors name it), if any."""
    problems = path_problems(loaded)
    if problems:
        raise ManifestError(label, problems)


def lockfile_text(path: Path, env_key: str) -> str:
    """The text of the lockfile at ``path`` of ``env_key``, read through the one safe reader
    (a regular file of at most :data:`LOCKFILE_LIMIT` bytes, never a FIFO or a device);
    ``FileNotFoundError`` when there is none. No message shows the file's content."""
    data = read_regular_file(path, LOCKFILE_LIMIT, "lockfile")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LockfileError(
            f"lockfile {display_path(path)} for {env_key} is not UTF-8 text (byte {exc.start}): "
            f"run `reconcile lock {env_key}` to write it again."
        ) from None


def pathsep_problem(path: Path, what: str) -> str | None:
    """Why ``path`` (``what``: "the root", "the adopted env x") cannot hold envs that `run`
    starts: it holds ``os.pathsep`` (":"; ";" on Windows), which splits PATH, so an env's bin
    folder under it could never be put on PATH. ``None`` when it can."""
    text = str(path.absolute())
    if os.pathsep not in text:
        return None
    return (
        f'{what} {text} holds "{os.pathsep}", which separates the folders of PATH, so '
        f"`reconcile run` could never put an env's bin folder there on PATH; use a path "
        f'without "{os.pathsep}"'
    )


def check_root_usable(loaded: LoadedManifest) -> None:
    """Refuse a root whose envs `run` could not start (see :func:`pathsep_problem`): at
    plan time, before apply builds anything there, and in `which` and `run`."""
    why = pathsep_problem(loaded.root, "the root")
    if why is not None:
        raise UnusablePath(f"{why} (settings.root or --root).")
