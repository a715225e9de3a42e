"""IO: a venv named by its path (`reconcile verify PATH`), checked without a manifest.

The check is a declared env's (``integrity.check_at``): what keeps it from starting, then its
files against RECORD, with no ``verify_ignore``. A path where nothing is (a venv that
vanished) is an ``env_missing`` finding, as for a declared env; a path that never was a venv
(a file, a folder with nothing of a venv in it) is a mistake on the command line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.core.facts import EnvCheck
from reconciler.files import display_path, file_kind, is_file, site_packages
from reconciler.observe.integrity import VerifyTarget, check_at
from reconciler.platform import VenvLayout
from reconciler.store import layout

_OWN_FOLDER = "name the venv's own folder (the one holding pyvenv.cfg)"


def not_a_venv(path: Path, *, venv: VenvLayout) -> str | None:
    """Why ``path`` names no venv at all, as one sentence; ``None`` for a venv (broken or
    not: anything with a pyvenv.cfg, an interpreter or a site-packages folder), for a path
    where nothing is (the venv vanished) and for one that cannot be looked at (the check
    says why)."""
    shown = display_path(path)
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode):
        what = "a file" if stat.S_ISREG(info.st_mode) else file_kind(info.st_mode)
        return f"{shown} is {what}, not a venv folder; {_OWN_FOLDER}."
    marks = (path / "pyvenv.cfg", venv.interpreter(path))
    if any(os.path.lexists(mark) for mark in marks) or site_packages(path, venv=venv):
        return None
    inner = next((p for p in (path / ".venv", path / "venv") if is_file(p / "pyvenv.cfg")), None)
    hint = f"{_OWN_FOLDER}." if inner is None else f"did you mean {display_path(inner)}?"
    return (
        f"{shown} is not a venv (it holds no pyvenv.cfg, {venv.python} or "
        f"{venv.site_packages}); {hint}"
    )


def generation_root(env_real: str) -> Path | None:
    """The root whose generation the folder at ``env_real`` (a real path) is, by its place
    (``<root>/.generations/<env>/<generation>``): a managed env checked by its path then
    shares the root's hash cache and the upstream RECORD defects its receipt names, as when it
    is checked by its key. ``None`` for any other folder."""
    folder = Path(env_real)
    if folder.parent.parent.name != layout.GENERATIONS:
        return None
    return folder.parent.parent.parent


def check_folder(argument: str, *, venv: VenvLayout, deep: bool = False) -> EnvCheck:
    """Check the venv at the path ``argument`` (reported under that name, kind ``folder``)."""
    path = os.path.abspath(argument)  # noqa: PTH100  `..` as the user meant it, links kept
    target = VerifyTarget(argument, "folder", path, (), "auto")
    root = generation_root(os.path.realpath(path))
    return check_at(target, root, confine_to=None, venv=venv, deep=deep)
