"""IO: the checks an adopted env's folder must pass before a plan, and its deletion.

An adopted env is a venv someone else built (``adopt = "path"``). reconcile observes and
verifies it but never builds, replaces or deletes it, unless the manifest marks it
``delete = true``: then apply deletes exactly that folder (SPEC 7.7), the very one it
adopted (its identity is recorded in the applied state), and forgets the env.

Bad adopt paths are manifest errors at plan time, each naming the line: a path that does
not exist, is not a venv (no ``pyvenv.cfg``), lies inside the root (the root is reconcile's
own), or is the same folder as another env's. A folder marked for deletion must also be a
real folder, not a link: removal never goes through a link. A venv that was adopted and
applied at that very folder, and has since broken or vanished, is reality, not a manifest
error: plan warns of it (``core.plan``) and verify reports it; the other rules still hold.
Marked ``delete = true``, such a folder (or one swapped since) is refused on its own step.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import ManifestError, Problem
from reconciler.files import display_path
from reconciler.observe.manifestpaths import pathsep_problem
from reconciler.spec.manifest import LoadedManifest
from reconciler.spec.problems import format_key_path
from reconciler.spec.tomllines import key_lines, line_for
from reconciler.store.bindings import AppliedState
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
    that is gone or no longer a venv is no problem of the path. A
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
    if doomed and not applied and path.is_symlink():  # applied: delete_problem tells
        return _link_problem(path)
    if doomed and not path.exists():
        return None  # already gone: nothing to delete
    # A venv that broke after apply adopted it here is reality, not a manifest error: plan
    # warns of it and verify reports it (a typo in a new adopt path stays an error); marked
    # ``delete = true``, delete_problem refuses its deletion on that env alone.
    why = None if applied else _not_a_venv(path)
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


def was_applied(loaded: LoadedManifest, env_key: str, applied: Mapping[str, str]) -> bool:
    """Whether the applied state (``applied``: adopted env -> folder) records ``env_key``
    adopted at the folder the manifest now names."""
    return applied.get(env_key) == applied_folder(loaded, env_key)


def adopt_problems(loaded: LoadedManifest, applied: Mapping[str, str]) -> list[Problem]:
    """Every bad adopt path of the manifest, each with its line and key path. ``applied``
    (the applied state's adopted env -> folder) tells the venvs adopted before, which may
    have broken since, which is no manifest error."""
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
    """The folder of an adopted env as the applied state records it: absolute, normalised
    without changing which folder it names (:func:`normalised`)."""
    return normalised(loaded.adopt_path(env_key).absolute())


def normalised(path: Path) -> str:
    """``path`` (absolute) with each ``..`` removed together with the name before it, but
    only where that name is no link: after a link, ``..`` leads to the link target's parent,
    which a textual ``os.path.normpath`` would get wrong."""
    parts: list[str] = []
    for part in path.parts:
        if part == ".." and len(parts) > 1 and parts[-1] != ".." and not _is_link(parts):
            parts.pop()
            continue
        parts.append(part)
    return str(Path(*parts))


def _is_link(parts: list[str]) -> bool:
    try:
        return Path(*parts).is_symlink()
    except (OSError, ValueError):
        return True  # cannot tell: keep the ``..``, which names the folder the kernel would


def folder_identity(path: Path) -> str | None:
    """What tells the folder at ``path`` from any other: its real path, device and inode;
    ``None`` when there is no folder there. A folder moved into that path later, or a link
    put on the way, has another identity."""
    try:
        real = os.path.realpath(path)
        info = Path(real).stat()
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    return f"{info.st_dev}:{info.st_ino}:{real}"


def delete_problem(loaded: LoadedManifest, env_key: str, state: AppliedState) -> str | None:
    """Why the adopted folder of ``env_key`` (marked ``delete = true``) must not be deleted;
    ``None`` when it may, or is already gone. Only the very folder apply adopted is ever
    deleted: the path was applied as this env (``state.adopted``), the folder there is the
    one recorded then (``state.adopted_ids``: no link put on the way, no other folder moved
    into its place), and it still looks like a venv (``pyvenv.cfg`` and an interpreter). A
    manifest edit alone (a pull request adding ``adopt`` and ``delete = true`` together)
    deletes nothing."""
    folder = loaded.adopt_path(env_key)
    try:
        if not os.path.lexists(folder):
            return None
        return (
            _never_applied(loaded, env_key, state.adopted)
            or (_link_problem(folder) if folder.is_symlink() else None)
            or _not_the_adopted(folder, env_key, state.adopted_ids.get(env_key))
            or _not_venv_like(folder)
        )
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return (
            f"{display_path(folder)} cannot be looked at ({why}); fix the path or its permissions"
        )


def _never_applied(loaded: LoadedManifest, env_key: str, applied: Mapping[str, str]) -> str | None:
    if was_applied(loaded, env_key, applied):
        return None
    return (
        f"{display_path(loaded.adopt_path(env_key))} was never applied as adopted env "
        f"{env_key} at this folder, so reconcile will not delete it: apply the env adopted "
        "first (without delete = true), then mark it delete = true"
    )


def _link_problem(path: Path) -> str:
    return (
        f"{display_path(path)} is a link; reconcile never deletes through a link: remove the "
        "link yourself, or drop delete = true"
    )


def _not_the_adopted(folder: Path, env_key: str, recorded: str | None) -> str | None:
    """Why the folder now at ``folder`` is not the one apply recorded as ``env_key``'s."""
    shown = display_path(folder)
    if recorded is None:
        return (
            f"reconcile has not recorded which folder {shown} is (env {env_key} was applied "
            "by an older reconcile), so it will not delete it: apply once without delete = "
            "true so the folder is recorded, then mark it delete = true again"
        )
    if folder_identity(folder) == recorded:
        return None
    real = os.path.realpath(folder)
    if real != recorded.split(":", 2)[2]:
        why = f"a link on the way now leads it to {real}"
    else:
        why = "another folder was put at that path since"
    return (
        f"{shown} is no longer the folder apply adopted as env {env_key} ({why}), so "
        "reconcile will not delete it: check what is there and remove by hand what should go, "
        "or drop delete = true"
    )


def _not_venv_like(folder: Path) -> str | None:
    interpreters = ("bin/python", "bin/python3", "Scripts/python.exe")
    if (folder / "pyvenv.cfg").is_file() and any(
        os.path.lexists(folder / name) for name in interpreters
    ):
        return None
    return (
        f"{display_path(folder)} no longer looks like a venv (pyvenv.cfg and bin/python or "
        "Scripts/python.exe), so reconcile will not delete it: drop delete = true and remove "
        "by hand what should go"
    )


def check_doomed(loaded: LoadedManifest, applied: Mapping[str, str]) -> None:
    """Raise one :class:`ManifestError` naming every ``delete = true`` on a folder that was
    never applied as that adopted env (a manifest edit, not reality), each at its line. The
    other refusals of :func:`delete_problem` are reality: each refuses its own env's step."""
    lines = key_lines(loaded.text)
    problems = []
    for key in loaded.manifest.doomed_envs():
        folder = loaded.adopt_path(key)
        try:
            why = _never_applied(loaded, key, applied) if os.path.lexists(folder) else None
        except (OSError, ValueError):
            why = None  # told by delete_problem on the env's own step
        if why is not None:
            loc = ("envs", key, "delete")
            problems.append(Problem(line_for(lines, loc), format_key_path(loc), why))
    if problems:
        raise ManifestError(display_path(loaded.path), problems)


def undeletable(loaded: LoadedManifest, state: AppliedState) -> dict[str, str]:
    """The adopted envs marked ``delete = true`` whose folder must not be deleted now -> why
    (:func:`delete_problem`): plan warns of each and apply refuses its step alone."""
    refused = {}
    for key in loaded.manifest.doomed_envs():
        why = delete_problem(loaded, key, state)
        if why is not None:
            refused[key] = why
    return refused


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
