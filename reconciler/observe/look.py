"""IO: look at an env folder without running or walking anything.

What is at its path (a folder, a link, nothing), its interpreter, pyvenv.cfg, the base
interpreter pyvenv.cfg names and its activation scripts: a few ``stat`` calls and two small
reads. `verify` and `which` judge an env's structure from these alone (``health.structure``);
``observe`` adds the receipt, one probe of the interpreter and the installed distributions.
Stdlib only: `verify` and `which` import this and nothing heavier. Nothing in an env that
cannot be looked at (a folder the user may not enter) raises: it is a fact, with its reason.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.facts import EnvFacts, PathKind
from reconciler.core.moved import RECORDED_BY, one_folder, recorded_folder
from reconciler.errors import PathUnreadable
from reconciler.files import NotARegularFile, file_kind, read_regular_bytes, site_packages
from reconciler.platform import VenvLayout
from reconciler.store import linkfile


@dataclass(frozen=True)
class EnvRequest:
    """Which folder to observe for an env, and which imports to probe."""

    env_key: str
    path: Path
    imports: tuple[str, ...] = ()
    confine_to: Path | None = None
    """For envs under the root: a link that resolves outside this folder is not followed."""


def _path_kind(path: Path, link_files: bool) -> tuple[PathKind, str | None, Path]:
    """What is at ``path``, where a link there points, and the path that leads to the env
    (``path``, or the generation a Windows link file names: a link too); ``PathUnreadable``
    when not even the kind can be told (a folder on its way the user may not enter)."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = str(path.readlink())
            return ("symlink" if _lands(path) else "broken_symlink"), target, path
        if stat.S_ISREG(info.st_mode) and link_files and (named := linkfile.live_in(str(path))):
            return ("symlink" if _lands(Path(named)) else "broken_symlink"), named, Path(named)
        info = path.stat()  # a Windows junction is no symlink to lstat: follow it
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte
        return "absent", None, path
    except OSError as exc:
        raise PathUnreadable(path, exc) from exc
    return ("dir" if stat.S_ISDIR(info.st_mode) else "other"), None, path


def _lands(link: Path) -> bool:
    """Whether a link leads to something: a link into a folder the user may not enter does
    (its env then cannot be looked at, which the structure's findings say), a dangling one
    or a loop does not."""
    try:
        link.stat()
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _problem(exc: OSError, unreadable: str) -> str:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "is missing"
    return f"{unreadable} ({exc.strerror or exc})"


def interpreter_problem(python: Path) -> str | None:
    """Why the interpreter at ``python`` cannot be started, seen without running it (a
    phrase: ``"is missing"``, ``"is not executable"``, ``"cannot be looked at (Permission
    denied)"``); ``None`` when it is an executable file. Never raises."""
    try:
        info = python.stat()
    except OSError as exc:
        return _problem(exc, "cannot be looked at")
    except ValueError:  # a NUL byte in the path: nothing can be there
        return "is missing"
    if not stat.S_ISREG(info.st_mode):
        return "is not a file"
    if info.st_size == 0:  # no program at all: `: > bin/python` (a wrong program needs a run)
        return "is an empty file"
    if not os.access(python, os.X_OK):
        return "is not executable"
    return None


def _home_problem(folder: Path) -> str | None:
    """``None`` when ``folder`` is a folder, else ``"is gone"`` or why it cannot be looked at."""
    try:
        if stat.S_ISDIR(folder.stat().st_mode):
            return None
    except OSError as exc:
        if not isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return _problem(exc, "cannot be looked at")
    except ValueError:  # a NUL byte in pyvenv.cfg's home: nothing can be there
        pass
    return "is gone"


def read_pyvenv_cfg(env_dir: Path) -> tuple[tuple[str, str], ...] | None:
    """The ``key = value`` pairs of an env's pyvenv.cfg, or None when it cannot be read."""
    return _pyvenv_cfg(env_dir)[0]


def _pyvenv_cfg(env_dir: Path) -> tuple[tuple[tuple[str, str], ...] | None, str | None]:
    """pyvenv.cfg's pairs, or ``None`` and why it could not be read."""
    try:
        text = _read_small(env_dir / "pyvenv.cfg")
    except OSError as exc:
        return None, _problem(exc, "cannot be read")
    except ValueError:  # a NUL byte in the path
        return None, "cannot be read"
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs), None


SMALL = 1 << 20
"""pyvenv.cfg and bin/activate are a few KB; more than this is not one of them."""


def _read_small(path: Path) -> str:
    """The text of a small regular file; ``OSError`` for anything else (a FIFO an env holds
    where its pyvenv.cfg should be is refused, never waited on)."""
    try:
        data = read_regular_bytes(path, SMALL)
    except NotARegularFile:
        raise OSError(errno.EINVAL, "not a small regular file", str(path)) from None
    return data.decode("utf-8", errors="replace")


def _file_size(path: Path) -> int | None:
    """The size of the regular file at ``path``; ``None`` when there is none."""
    try:
        info = path.stat()
    except (OSError, ValueError):  # missing, or cannot be looked at: not there for whoever
        return None  # activates it
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _activation(
    env_dir: Path, venv: VenvLayout
) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The activation scripts that are missing, those that are empty, and the folder
    ``bin/activate`` (``Scripts\\activate.bat``) was made for."""
    sizes = {name: _file_size(env_dir / name) for name in venv.activation}
    missing = tuple(name for name, size in sizes.items() if size is None)
    empty = tuple(name for name, size in sizes.items() if size == 0)
    try:
        text = _read_small(env_dir / RECORDED_BY[venv.windows])
    except (OSError, ValueError):
        text = ""
    return missing, empty, recorded_folder(text, windows=venv.windows)


def _made_for(recorded: str | None, real: Path, *, venv: VenvLayout) -> str | None:
    """The folder the env was made for, resolved like ``real`` (a root reached through a link
    is not a moved env), and ``real`` itself when the system takes both for one folder (on
    Windows, whatever the case or the slashes); ``None`` when its script names none."""
    if recorded is None:
        return None
    if one_folder(recorded, str(real), windows=venv.windows):
        return str(real)
    resolved = os.path.realpath(recorded)  # only now: it may ask a server that is gone
    if one_folder(resolved, str(real), windows=venv.windows):
        return str(real)
    return recorded if venv.windows else resolved


def pth_not_files(env_dir: Path, *, venv: VenvLayout) -> tuple[str, ...]:
    """Each ``*.pth`` in the env's site-packages that is a FIFO, a device or a socket (or a
    link to one), as ``lib/python3.12/site-packages/x.pth is a FIFO``: Python's ``site``
    opens every ``*.pth`` there at start, and waits forever on a FIFO. Seen with ``stat``
    only, never opened; a folder or a dangling link is left out (``site`` passes over it)."""
    found = []
    for site in site_packages(env_dir, venv=venv):
        try:
            entries = sorted(os.scandir(site), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".pth") or entry.name.startswith("."):
                continue  # the names site.addsitedir opens
            try:
                mode = entry.stat().st_mode
            except (OSError, ValueError):
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                shown = Path(entry.path).relative_to(env_dir).as_posix()
                found.append(f"{shown} is {file_kind(mode)}")
    return tuple(found)


def look_at(request: EnvRequest, *, venv: VenvLayout) -> EnvFacts:
    """The facts about one env folder that need no process and no walk: what is at its
    path, its interpreter, pyvenv.cfg, base interpreter and activation scripts.
    `verify` and `which` judge an env's structure from these alone; ``observe_env`` adds the
    probe and the installed distributions. Raises ``PathUnreadable`` only when not even the
    kind of the env's path can be told; anything inside it that cannot be looked at is a
    fact."""
    path = request.path
    # a link file is read only where reconcile writes one: an env's place under the root
    link_files = venv.windows and request.confine_to is not None
    kind, target, through = _path_kind(path, link_files)
    if kind not in ("dir", "symlink"):
        return EnvFacts(env_key=request.env_key, path=str(path), kind=kind, link_target=target)
    real = Path(os.path.realpath(through))
    confine = request.confine_to
    if confine is not None and not real.is_relative_to(os.path.realpath(confine)):
        return EnvFacts(
            env_key=request.env_key,
            path=str(path),
            kind=kind,
            link_target=target,
            real_path=str(real),
            escapes_root=True,
        )
    cfg, cfg_problem = _pyvenv_cfg(real)
    home = dict(cfg or ()).get("home")
    python_problem = interpreter_problem(venv.interpreter(real))
    home_problem = _home_problem(Path(home)) if home else None
    missing_activation, empty_activation, recorded = _activation(real, venv)
    return EnvFacts(
        env_key=request.env_key,
        path=str(path),
        kind=kind,
        link_target=target,
        interpreter_present=python_problem is None,
        interpreter_problem=python_problem,
        pyvenv_cfg=cfg,
        pyvenv_cfg_problem=cfg_problem,
        base_interpreter_present=home_problem is None if home else None,
        base_interpreter_problem=home_problem,
        missing_activation=missing_activation,
        empty_activation=empty_activation,
        activation_venv_path=_made_for(recorded, real, venv=venv),
        pth_not_files=pth_not_files(real, venv=venv),
        real_path=str(real),
    )
