"""IO: the checks an adopted env's folder must pass before a plan, and its deletion.

An adopted env is a venv someone else built (``adopt = "path"``). reconcile observes and
verifies it but never builds, replaces or deletes it, unless the manifest marks it
``delete = true``: then apply deletes exactly that folder (SPEC 7.7) and forgets the env.

Bad adopt paths are manifest errors at plan time, each naming the line: a path that does
not exist, is not a venv (no ``pyvenv.cfg``), lies inside the root (the root is reconcile's
own), or is the same folder as another env's. A folder marked for deletion must also be a
real folder, not a link: removal never goes through a link. A venv that was adopted and
applied at that very folder, and has since broken or vanished, is reality, not a manifest
error: plan warns of it (``core.plan``) and verify reports it; the other rules still hold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import ManifestError, Problem
from reconciler.files import display_path
from reconciler.observe.manifestpaths import pathsep_problem
from reconciler.spec.manifest import LoadedManifest
from reconciler.spec.problems import format_key_path
from reconciler.spec.tomllines import key_lines, line_for
from reconciler.store.layout import overlaps


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def folder_problem(
    path: Path,
    root: Path,
    *,
    doomed: bool,
    keep: Sequence[tuple[str, Path]] = (),
    applied: bool = False,
) -> str | None:
    """Why ``path`` cannot be adopted (or deleted, when ``doomed``); ``None`` when it can.
    A folder to delete must not hold any of ``keep`` ((what, path): the manifest's folder,
    the lockfiles). ``applied``: the env was adopted and applied at this folder, so a folder
    that is gone or no longer a venv is no problem of the path (see :func:`broken_ok`). A
    path that cannot even be looked at is a problem too, never an exception."""
    try:
        return _folder_problem(path, root, doomed, keep, applied)
    except (OSError, ValueError) as exc:  # too long, a NUL byte, permission denied, ...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"{display_path(path)} cannot be looked at ({why}); fix the path or its permissions"


def _folder_problem(
    path: Path, root: Path, doomed: bool, keep: Sequence[tuple[str, Path]], applied: bool
) -> str | None:
    shown = display_path(path)
    if doomed and path.is_symlink():
        return (
            f"{shown} is a link; reconcile never deletes through a link: remove the link "
            "yourself, or drop delete = true"
        )
    if doomed and not path.exists():
        return None  # already gone: nothing to delete
    why = None if broken_ok(doomed=doomed, applied=applied) else _not_a_venv(path)
    if why is not None:
        return why
    if not doomed:
        why = pathsep_problem(path, "the folder")
        if why is not None:
            return f"{why}, or recreate the venv in such a folder"
    real, real_root = _real(path), _real(root)
    if overlaps(real, real_root):
        where = "is inside" if real != real_root and real.is_relative_to(real_root) else "holds"
        return (
            f"{shown} {where} the root {display_path(root)}, where reconcile keeps the envs it "
            "builds; adopt a venv outside the root"
        )
    for what, kept in keep if doomed else ():
        if _real(kept).is_relative_to(real):  # the folder is, or holds, what must stay
            return (
                f"{shown} holds {what}, which must stay; drop delete = true and remove by "
                "hand what should go"
            )
    return None


def _not_a_venv(path: Path) -> str | None:
    """Why the folder at ``path`` is no venv (gone, a file, no ``pyvenv.cfg``); ``None`` when
    it is one."""
    shown = display_path(path)
    if not path.exists():
        return (
            f"{shown} does not exist; fix the path, or remove the env from the manifest to "
            "forget it"
        )
    if not path.is_dir() or not (path / "pyvenv.cfg").is_file():
        return f"{shown} is not a venv (no pyvenv.cfg in it); adopt the venv's own folder"
    return None


def broken_ok(*, doomed: bool, applied: bool) -> bool:
    """Whether an adopted env's folder may be gone or no longer a venv without that being a
    manifest error: when apply adopted it at this very folder (``applied``) and it is not
    marked for deletion. A typo in a new adopt path stays an error; a venv that broke after
    it was applied is reality, for plan to warn of and verify to report."""
    return applied and not doomed


def was_applied(loaded: LoadedManifest, env_key: str, applied: Mapping[str, str]) -> bool:
    """Whether the applied state (``applied``: adopted env -> folder) records ``env_key``
    adopted at the folder the manifest now names."""
    return applied.get(env_key) == applied_folder(loaded, env_key)


def adopt_problems(loaded: LoadedManifest, applied: Mapping[str, str]) -> list[Problem]:
    """Every bad adopt path of the manifest, each with its line and key path. ``applied``
    (the applied state's adopted env -> folder) tells the venvs adopted before, which may
    have broken since (:func:`broken_ok`)."""
    lines = key_lines(loaded.text)
    problems: list[Problem] = []
    seen: dict[Path, str] = {}
    keep = protected(loaded)
    for key, spec in sorted(loaded.manifest.envs.items()):
        if not spec.adopted:
            continue
        path = loaded.adopt_path(key)
        before = was_applied(loaded, key, applied)
        why = folder_problem(path, loaded.root, doomed=spec.delete, keep=keep, applied=before)
        real = _real(path) if why is None else None
        if real is not None:
            why = _clash(display_path(path), real, seen)
            seen.setdefault(real, key)
        if why is not None:
            loc = ("envs", key, "adopt")
            problems.append(Problem(line_for(lines, loc), format_key_path(loc), why))
    return sorted(problems, key=lambda p: (p.line or 0, p.key_path))


def applied_folder(loaded: LoadedManifest, env_key: str) -> str:
    """The folder of an adopted env as the applied state records it: absolute, normalised."""
    return os.path.normpath(loaded.adopt_path(env_key).absolute())


def delete_problem(loaded: LoadedManifest, env_key: str, applied: Mapping[str, str]) -> str | None:
    """Why the adopted folder of ``env_key`` (marked ``delete = true``) must not be deleted;
    ``None`` when it may, or is already gone. Only a folder that apply adopted before, at
    that very folder (``applied``: the applied state's adopted envs -> folder), and that
    still looks like a venv (``pyvenv.cfg`` and an interpreter) is ever deleted: a manifest
    edit alone (a pull request adding ``adopt`` and ``delete = true`` together) deletes
    nothing."""
    folder = loaded.adopt_path(env_key)
    shown = display_path(folder)
    try:
        if not os.path.lexists(folder):
            return None
        if not was_applied(loaded, env_key, applied):
            return (
                f"{shown} was never applied as adopted env {env_key} at this folder, so "
                "reconcile will not delete it: apply the env adopted first (without delete = "
                "true), then mark it delete = true"
            )
        interpreters = ("bin/python", "bin/python3", "Scripts/python.exe")
        if not (folder / "pyvenv.cfg").is_file() or not any(
            os.path.lexists(folder / name) for name in interpreters
        ):
            return (
                f"{shown} no longer looks like a venv (pyvenv.cfg and bin/python or "
                "Scripts/python.exe), so reconcile will not delete it: drop delete = true and "
                "remove by hand what should go"
            )
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"{shown} cannot be looked at ({why}); fix the path or its permissions"
    return None


def check_doomed(loaded: LoadedManifest, applied: Mapping[str, str]) -> None:
    """Raise one :class:`ManifestError` naming every ``delete = true`` that
    :func:`delete_problem` refuses, each at its line."""
    lines = key_lines(loaded.text)
    problems = []
    for key in loaded.manifest.doomed_envs():
        why = delete_problem(loaded, key, applied)
        if why is not None:
            loc = ("envs", key, "delete")
            problems.append(Problem(line_for(lines, loc), format_key_path(loc), why))
    if problems:
        raise ManifestError(display_path(loaded.path), problems)


def protected(loaded: LoadedManifest) -> list[tuple[str, Path]]:
    """What deleting an adopted folder must never take with it: the manifest's folder and
    the lockfiles folder."""
    lockfiles = loaded.base_dir / loaded.manifest.settings.lockfiles
    return [(f"the folder of {loaded.path.name}", loaded.base_dir), ("the lockfiles", lockfiles)]


def _clash(shown: str, real: Path, seen: dict[Path, str]) -> str | None:
    """Why a folder cannot be an env of its own beside the ones already ``seen``: the same
    folder, or one inside the other (deleting the outer one would take the inner one)."""
    for other, key in seen.items():
        if other == real:
            return (
                f"{shown} is the same folder as env {key}'s; declare each venv once and bind "
                "several models to it"
            )
        if overlaps(other, real):
            where = "inside" if real.is_relative_to(other) else "around"
            return f"{shown} is {where} env {key}'s folder; adopt folders that do not nest"
    return None


def check_adopted(loaded: LoadedManifest, applied: Mapping[str, str]) -> None:
    """Raise one :class:`ManifestError` listing every bad adopt path, if any (``applied``: the
    applied state's adopted env -> folder)."""
    problems = adopt_problems(loaded, applied)
    if problems:
        raise ManifestError(display_path(loaded.path), problems)
