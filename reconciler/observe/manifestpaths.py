"""IO: every path a manifest names, checked in one place, and the one reader of lockfiles.

A manifest is data a pull request controls, so no key of it may make reconcile read, echo or
write a file outside the manifest's folder (SPEC 3). ``manifest.py`` refuses what can be told
from the text alone (absolute paths, ``..`` out of the folder, a NUL); this module checks the
rest on disk, after the manifest is parsed and before any command uses it:

- the lockfiles folder, every managed env's lockfile and every ``find_links`` folder must
  resolve (links followed) inside the manifest's folder: a link inside pointing out is
  refused;
- a lockfile that exists must be a regular file of at most :data:`LOCKFILE_LIMIT` bytes, not
  a FIFO, a device, a socket or a folder; it may not be the manifest itself, nor another
  env's lockfile (``lock`` would write one over the other);
- every entry of a ``find_links`` folder (a wheel, a link) must resolve inside the folder
  too, since uv reads them all; a ``file:`` URL is a path like any other, and so is a direct
  reference (``name @ file:...``) of a requirement;
- a local index (``index_url`` or ``extra_index_urls`` naming a path or a ``file:`` URL) is
  a folder inside the manifest's folder, and so is every entry under it, at any depth;
- the root (``settings.root``; ``--root`` alike) may be anywhere, but is a folder of its own:
  not the file system's root, not the manifest's folder nor a folder above it, where apply's
  own files would mix with the project's.

Each problem is a manifest error with its line and key path; no message shows a file's
content. ``root`` and ``adopt`` may lie outside the folder by design (the root is where
reconcile builds, an adopted venv is someone else's); ``adoption.py`` checks adopt paths.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from packaging.requirements import Requirement

from reconciler.errors import LockfileError, ManifestError, Problem, UnusablePath
from reconciler.files import display_path, file_kind, read_regular_file
from reconciler.spec.manifest import LoadedManifest, local_path
from reconciler.spec.problems import format_key_path
from reconciler.spec.tomllines import key_lines, line_for

LOCKFILE_LIMIT = 16 << 20
"""The largest lockfile reconcile reads: 16 MiB, hundreds of times a large real lockfile."""

_FOLDER, _FILE = "folder", "file"

Loc = tuple[str | int, ...]


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
    problems += [_located(loaded.text, loc, why) for loc, why in _shared_lockfiles(loaded)]
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
            path = local_path(link)
            if path is not None and check(
                base / path,
                (*where, index),
                frozenset({_FOLDER, _FILE}),
                "find_links names a folder of wheels",
            ):
                why = _entry_leading_out(base / path, base)
                if why is not None:
                    problems.append(_located(loaded.text, (*where, index), why))
    problems += _index_problems(loaded, check)
    for key, spec in manifest.managed_envs().items():
        for index, text in enumerate(spec.requirements):
            url = Requirement(text).url
            path = None if url is None else local_path(url)
            if path is not None:
                check(
                    base / path,
                    ("envs", key, "requirements", index),
                    frozenset({_FOLDER, _FILE}),
                    "a direct reference names a wheel or a source folder",
                )
    if loaded.root_override is None:
        why = root_place_problem(loaded.root, base)
        if why is not None:
            problems.append(_located(loaded.text, ("settings", "root"), why))
    return sorted(set(problems), key=lambda p: (p.line or 0, p.key_path, p.message))


def _index_problems(
    loaded: LoadedManifest, check: Callable[[Path, Loc, frozenset[str], str], bool]
) -> list[Problem]:
    """A local index (a path or a ``file:`` URL as ``index_url`` or in ``extra_index_urls``)
    that is not a folder inside the manifest's folder, or holds an entry leading out of it:
    uv reads the whole tree (a folder per project, its pages and wheels)."""
    base = loaded.base_dir
    tables = [("settings", loaded.manifest.settings.sources)]
    tables += [
        (f"envs.{key}", spec.sources)
        for key, spec in sorted(loaded.manifest.envs.items())
        if spec.sources is not None
    ]
    problems = []
    for where, sources in tables:
        named: list[tuple[Loc, str]] = []
        prefix: Loc = (*where.split(".", 1), "sources")
        if sources.index_url is not None:
            named.append(((*prefix, "index_url"), sources.index_url))
        named += [
            ((*prefix, "extra_index_urls", index), url)
            for index, url in enumerate(sources.extra_index_urls)
        ]
        for loc, url in named:
            path = local_path(url)
            if path is None or not check(
                base / path, loc, frozenset({_FOLDER}), "a local index is a folder"
            ):
                continue
            why = _tree_leading_out(base / path, base)
            if why is not None:
                problems.append(_located(loaded.text, loc, why))
    return problems


def _tree_leading_out(folder: Path, base: Path) -> str | None:
    """Why the local index ``folder`` may not be used: an entry under it, at any depth,
    resolves out of ``base``; ``None`` when none does (links are not followed down)."""
    entries = (
        Path(parent) / name
        for parent, folders, files in os.walk(folder)
        for name in sorted(folders + files)
    )
    return _leading_out(entries, base, "local index")


def _leading_out(entries: Iterable[Path], base: Path, what: str) -> str | None:
    """Why the first of ``entries`` (in a folder uv reads, ``what``) that resolves out of
    ``base`` may not be used; ``None`` when none does."""
    inside = os.path.realpath(base)
    for entry in entries:
        real = _real(entry)
        if real is None or not Path(real).is_relative_to(inside):
            return (
                f"{display_path(entry)} is, or goes through, a link that leads out of the "
                f"manifest's folder, and uv would read it from this {what}: replace the link "
                "with the real file, or remove it"
            )
    return None


def _real(path: Path) -> str | None:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):  # a NUL, a name too long: reported by the other checks
        return None


def _shared_lockfiles(loaded: LoadedManifest) -> list[tuple[tuple[str, ...], str]]:
    """A lockfile that is the manifest itself, or that another env's lockfile is too (links
    followed): `lock` would write over the manifest, or one env's lock over the other's."""
    found: list[tuple[tuple[str, ...], str]] = []
    manifest_real = _real(loaded.path)
    owners: dict[str, str] = {}
    for key, spec in loaded.manifest.managed_envs().items():
        loc = ("envs", key, "lockfile") if spec.lockfile is not None else ("envs", key)
        path = loaded.lockfile_path(key)
        real = _real(path)
        if real is None:
            continue
        shown = display_path(path)
        if real == manifest_real:
            found.append((loc, f"the lockfile {shown} is the manifest itself; name another file"))
        elif real in owners:
            found.append(
                (
                    loc,
                    f"the lockfile {shown} is env {owners[real]}'s lockfile too, and each env "
                    "needs its own; name another file",
                )
            )
        else:
            owners[real] = key
    return found


def _entry_leading_out(folder: Path, base: Path) -> str | None:
    """Why the ``find_links`` folder ``folder`` may not be used: it holds an entry (a wheel,
    a link) that resolves out of ``base``, which uv would read; ``None`` when none does."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return None  # none yet (uv will say), or a file of links: checked as a file above
    except OSError as exc:
        return f"{display_path(folder)} cannot be listed ({exc.strerror}); fix its permissions"
    return _leading_out((Path(entry.path) for entry in entries), base, "find_links folder")


def root_place_problem(root: Path, base: Path) -> str | None:
    """Why ``root`` may not be the root of a manifest whose folder is ``base``: it is the
    file system's root, ``base`` itself or a folder above it, where apply's ``.generations``,
    ``.state``, ``.lock`` and env links would mix with the project's files and each of
    those would look like an orphan. ``None`` when it may (anywhere else, on any disk)."""
    real, base_real = _real(root), _real(base)
    if real is None or base_real is None:
        return None
    if Path(real) == Path(Path(real).anchor):
        what = "the file system's root"
    elif real == base_real:
        what = "the manifest's folder itself"
    elif Path(base_real).is_relative_to(real):
        what = "a folder that holds the manifest's folder"
    else:
        return None
    return (
        f"the root {root} is {what}, where apply would mix its own files with those it finds "
        "there; point it at a folder of its own, such as .envs"
    )


def check_paths(loaded: LoadedManifest, label: str) -> None:
    """Raise one :class:`ManifestError` listing every path problem of the manifest (named
    ``label`` in messages, as its parse errors name it), if any."""
    problems = path_problems(loaded)
    if problems:
        raise ManifestError(label, problems)
    if loaded.root_override is not None:
        why = root_place_problem(loaded.root_override, loaded.base_dir)
        if why is not None:
            raise UnusablePath(f"{why} (--root).")


def lockfile_text(path: Path, env_key: str) -> str:
    """The text of the lockfile at ``path`` of ``env_key``, read through the one safe reader
    (a regular file of at most :data:`LOCKFILE_LIMIT` bytes, never a FIFO or a device);
    ``FileNotFoundError`` when there is none. No message shows the file's content."""
    data = read_regular_file(path, LOCKFILE_LIMIT, "lockfile")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from reconciler.spec.lockfile import written_by_reconcile

        # `lock` writes over its own lockfiles only, and cannot read this one to tell
        fix = (
            "delete it (its header says `reconcile lock` wrote it) and run "
            f"`reconcile lock {env_key}` to write it again."
            if written_by_reconcile(data[: exc.start].decode("utf-8"))
            else f"point `lockfile` of env {env_key} at a lockfile, or move this file away and "
            f"run `reconcile lock {env_key}`."
        )
        raise LockfileError(
            f"lockfile {display_path(path)} for {env_key} is not UTF-8 text (byte {exc.start}): "
            f"{fix}"
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
    """Refuse a root whose envs `run` could not start (see :func:`pathsep_problem`), or
    that uv cannot take (a name that is not valid UTF-8): at plan time, before apply builds
    anything there, and in `which` and `run`."""
    why = pathsep_problem(loaded.root, "the root") or _undecodable(loaded.root)
    if why is not None:
        raise UnusablePath(f"{why} (settings.root or --root).")


def _undecodable(path: Path) -> str | None:
    """Why ``path`` cannot be handed to uv, which takes only UTF-8 paths: a name in it is not
    valid UTF-8 (a byte such as 0xff). ``None`` when it can."""
    try:
        str(path.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path.absolute()).decode("utf-8", "backslashreplace")
        return (
            f"the root {shown} holds a name that is not valid UTF-8, and uv takes only UTF-8 "
            "paths; rename that folder or put the root elsewhere"
        )
    return None
