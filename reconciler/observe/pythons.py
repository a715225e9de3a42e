"""Find a working base interpreter for a declared Python version, without trusting names:
read-only (installing one is execute.pythons's; what a plan makes of it, observe.pythonlookup).

A name proves nothing: pyenv's shims answer to every ``pythonX.Y`` on PATH and exit 127 for
each version but the global one, and ``uv python find`` gives up at the first such shim. So
every candidate is run once (``-I -c``, at most ``PROBE_TIMEOUT`` seconds) and asked for its
own ``sys.version_info`` and ``sys.executable``; only its answer counts. Virtual environments
and interpreters other than CPython are rejected: a managed env needs a base CPython.

Search order:

0. The override ``RECONCILE_PYTHON_<X>_<Y>`` (``RECONCILE_PYTHON_3_11=/opt/py/bin/python3.11``,
   ``RECONCILE_PYTHON_3_13=C:\\Python313\\python.exe``), or ``RECONCILE_PYTHON_<X>_<Y>_<Z>``
   for an exact request such as ``"3.11.7"``. The variable named after the declared string
   wins outright; if it is set but does not run the declared version, that is an error,
   never a silent fallback. For an exact request the ``X_Y`` variable is also consulted, and
   used only when its interpreter matches.
1. uv's own discovery: ``uv python find --system --no-project <version>`` with downloads off
   (it sees uv-managed installs first, and may stop at a broken shim).

On POSIX:

2. ``pythonX.Y`` in every absolute folder of PATH (not only the first hit).
3. pyenv's versions folder (``$PYENV_ROOT``, default ``~/.pyenv``), newest patch first:
   ``versions/<name>/bin/pythonX.Y``.
4. System locations: ``SYSTEM_DIRS`` and the python.org framework on macOS.

On Windows, where no ``pythonX.Y.exe`` is installed but by uv:

2. The PEP 514 registry (observe.pep514): HKEY_CURRENT_USER then HKEY_LOCAL_MACHINE,
   PythonCore first, the tags of that version (``3.13``, ``3.13-32``; not ``3.13t``).
3. ``python.exe``, ``python3.exe`` and ``pythonX.Y.exe`` in every absolute folder of PATH,
   each asked its version, but for the Microsoft Store's ``WindowsApps`` aliases, which
   open the Store when Python is not installed from it.
4. pyenv-win's ``versions\\<name>\\python.exe`` (``$PYENV_ROOT``, default
   ``~/.pyenv/pyenv-win``), newest patch first.
5. python.org's default folders: ``%LOCALAPPDATA%\\Programs\\Python\\PythonXY`` and
   ``%ProgramFiles%\\PythonXY`` (its installers register there too).

The ``py`` launcher is not run: it finds what the registry lists.

Every matching candidate of 2-5 is verified (in parallel); the newest patch version wins and
a tie goes to the earlier source. ``"3.11"`` matches any 3.11.x, ``"3.11.7"`` only itself
(:func:`reconciler.core.health.python_matches`). Results are cached per process, keyed on the
version, the uv binary and the environment variables. Which system's places are searched is
the caller's ``windows``, decided at the edge.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.version import InvalidVersion, Version

from reconciler.core.health import python_matches
from reconciler.core.pythons import override_variable
from reconciler.errors import PythonNotFound
from reconciler.observe import pep514
from reconciler.observe.winpythons import windows_defaults, windows_places
from reconciler.runner import Command, Unfinished, attempt, uv_bin

log = logging.getLogger("reconciler")

PROBE_TIMEOUT = 10.0  # one interpreter answering two attributes; a hung shim must not stall us
FIND_TIMEOUT = 15.0
"""Seconds ``uv python find`` gets: it inspects every interpreter it meets."""
SYSTEM_DIRS: tuple[str, ...] = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")

Source = Literal["override", "uv", "registry", "path", "pyenv", "system"]

_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
_MARKER = "@@reconcile-python@@"

# Runs in an unknown interpreter, possibly an old one: sys only, no f-strings, one line so
# that --verbose shows it as one command.
PROBE_SCRIPT = "; ".join(
    (
        "import sys",
        "v = sys.version_info",
        'pre = "" if v[3] == "final" else v[3][0] + str(v[4])',
        'impl = getattr(getattr(sys, "implementation", None), "name", "cpython")',
        'venv = int(sys.prefix != getattr(sys, "base_prefix", sys.prefix))',
        f'sys.stdout.write("\\n{_MARKER}%d.%d.%d%s|%s|%d|%s\\n"'
        " % (v[0], v[1], v[2], pre, impl, venv, sys.executable))",
    )
)


@dataclass(frozen=True)
class Interpreter:
    """A verified base interpreter: its own ``sys.executable`` and ``X.Y.Z`` version."""

    path: Path
    version: str
    source: Source


@dataclass(frozen=True)
class _Candidate:
    path: Path
    source: Source


@dataclass(frozen=True)
class _Answer:
    """What a candidate said about itself, or why it is unusable (``version`` is then None)."""

    version: str | None
    executable: str = ""
    reason: str = ""


_Key = tuple[str, str, bool, tuple[tuple[str, str], ...]]
_lock = threading.Lock()
_cache: dict[_Key, Interpreter | None] = {}
_searches: dict[_Key, threading.Lock] = {}
_quick: dict[_Key, Interpreter] = {}


def clear_cache() -> None:
    """Forget every interpreter found so far in this process."""
    with _lock:
        _cache.clear()
        _searches.clear()
        _quick.clear()


def installed(
    version: str,
    *,
    windows: bool,
    uv: str | None = None,
    fresh: bool = False,
    quick: bool = False,
) -> Interpreter | None:
    """The newest working CPython installed for ``version`` (``"3.11"`` or ``"3.11.7"``), or
    None, searched where ``windows`` (or POSIX) installs them. ``uv`` is the uv binary to
    run (default: the one of the ``uv`` package). The answer is kept for the process;
    ``fresh`` searches again (after an install). ``quick`` (for a plan, which needs to know
    only whether there is one) first tries without uv's discovery, which is slow where
    pyenv's shims are on PATH: any interpreter found so is one the full search finds too, so
    that answer (kept apart) may be another patch than a build's. Raises
    :class:`PythonNotFound` when a ``RECONCILE_PYTHON_*`` variable points at something that
    is not that Python."""
    if not _VERSION.match(version):
        raise ValueError(f"expected a Python version like 3.11 or 3.11.7, got {version!r}")
    uv = uv or uv_bin()
    key = (version, uv, windows, tuple(sorted(os.environ.items())))
    with _lock:
        search = _searches.setdefault(key, threading.Lock())
    with search:  # one search per version at a time, even from parallel builds
        if quick and not fresh and key in _quick:  # the same answer for every plan
            return _quick[key]
        if not fresh and key in _cache:
            return _cache[key]
        if quick and (found := _discover(version, None, windows)) is not None:
            _quick[key] = found
            return found
        _cache[key] = _discover(version, uv, windows)
        return _cache[key]


def python_find_command(uv: str, version: str) -> Command:
    """Find an installed CPython of ``version``, never downloading one."""
    return Command(
        (uv, "python", "find", "--system", "--no-project", version),
        env={"UV_PYTHON_DOWNLOADS": "never"},
        timeout=FIND_TIMEOUT,
    )


def _discover(version: str, uv: str | None, windows: bool) -> Interpreter | None:
    """The newest verified candidate; without ``uv``, only of sources 2-5 (no uv discovery)."""
    chosen = _from_override(version)
    if chosen is not None:
        log.debug("python %s: using %s (%s, override)", version, chosen.path, chosen.version)
        return chosen
    with ThreadPoolExecutor(max_workers=8) as pool:
        from_uv = pool.submit(_uv_find, version, uv) if uv is not None else None
        others = _unique(_static_candidates(version, windows))
        answers = [pool.submit(_probe, c.path) for c in others]
        uv_path = from_uv.result() if from_uv is not None else None
        candidates = others
        if uv_path:  # usually one of the others: reuse its probe rather than run it twice
            probing = {os.path.realpath(c.path): a for c, a in zip(others, answers, strict=True)}
            probe = probing.get(os.path.realpath(uv_path)) or pool.submit(_probe, uv_path)
            candidates = [_Candidate(uv_path, "uv"), *others]
            answers.insert(0, probe)
        results = [a.result() for a in answers]
    best: Interpreter | None = None  # the newest; among equals, the earliest source
    seen: set[str] = set()
    for candidate, answer in zip(candidates, results, strict=True):
        if answer.version is None:
            log.debug("python %s: skipped %s: %s", version, candidate.path, answer.reason)
            continue
        real = os.path.realpath(answer.executable)
        if real in seen:
            continue
        seen.add(real)
        if not python_matches(version, answer.version):
            log.debug("python %s: %s is %s", version, candidate.path, answer.version)
            continue
        if best is None or version_key(answer.version) > version_key(best.version):
            best = Interpreter(Path(answer.executable), answer.version, candidate.source)
    if best is not None:
        log.debug("python %s: using %s (%s, %s)", version, best.path, best.version, best.source)
    return best


def _from_override(version: str) -> Interpreter | None:
    name = override_variable(version)
    value = os.environ.get(name)
    if value:
        answer = _probe(Path(value))
        if answer.version is None or not python_matches(version, answer.version):
            why = answer.reason or f"it is Python {answer.version}"
            raise PythonNotFound(
                version,
                f"{name}={value} is not a working Python {version} ({why}): "
                f"point it at a Python {version} executable or unset it.",
            )
        return Interpreter(Path(answer.executable), answer.version, "override")
    xy = ".".join(version.split(".")[:2])
    if xy != version and (value := os.environ.get(override_variable(xy))):
        answer = _probe(Path(value))
        if answer.version is not None and python_matches(version, answer.version):
            return Interpreter(Path(answer.executable), answer.version, "override")
        log.debug("python %s: %s=%s does not match", version, override_variable(xy), value)
    return None


def search_folders(version: str, *, windows: bool) -> list[str]:
    """The folders searched for ``version`` besides uv's discovery (sources 2-5)."""
    return [str(c.path.parent) for c in _static_candidates(version, windows)]


def _static_candidates(version: str, windows: bool) -> Iterator[_Candidate]:
    xy = ".".join(version.split(".")[:2])
    if windows:
        places = windows_places(xy, pep514.registered(), os.get_exec_path(), Path)
        yield from (_Candidate(path, source) for path, source in places)
    else:
        for entry in map(Path, os.get_exec_path()):
            if entry.is_absolute():  # a relative PATH entry would run whatever is in cwd
                yield _Candidate(entry / f"python{xy}", "path")
    versions = pyenv_versions(windows=windows)
    try:
        folders = sorted(versions.iterdir(), key=lambda p: version_key(p.name), reverse=True)
    except OSError:
        folders = []
    for folder in folders:
        exe = folder / "python.exe" if windows else folder / "bin" / f"python{xy}"
        yield _Candidate(exe, "pyenv")
    if windows:
        yield from (_Candidate(path, "system") for path in windows_defaults(xy, os.environ, Path))
    else:
        for system_dir in SYSTEM_DIRS:
            yield _Candidate(Path(system_dir) / f"python{xy}", "system")
        if sys.platform == "darwin":
            framework = Path("/Library/Frameworks/Python.framework/Versions") / xy / "bin"
            yield _Candidate(framework / f"python{xy}", "system")


def uv_python_dirs(*, windows: bool) -> list[str]:
    """Where uv installs Pythons (``uv python dir``), and its parent, without running uv."""
    chosen = os.environ.get("UV_PYTHON_INSTALL_DIR")
    if chosen:
        return [chosen, str(Path(chosen).parent)]
    if windows:
        appdata = os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming"
        base = Path(appdata) / "uv" / "data"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "uv"
    return [str(base / "python"), str(base)]


def pyenv_versions(*, windows: bool) -> Path:
    """pyenv's (or pyenv-win's) folder of installed versions."""
    default_root = Path.home() / ".pyenv"
    if windows:
        default_root /= "pyenv-win"
    return Path(os.environ.get("PYENV_ROOT") or default_root) / "versions"


def _unique(candidates: Iterator[_Candidate]) -> list[_Candidate]:
    """Existing files only, each real file once (``/bin`` is often ``/usr/bin``)."""
    kept: list[_Candidate] = []
    seen: set[str] = set()
    for candidate in candidates:
        try:
            if not candidate.path.is_file():
                continue
        except OSError:  # a PATH folder this user may not enter holds no Python for it
            continue
        real = os.path.realpath(candidate.path)
        if real not in seen:
            seen.add(real)
            kept.append(candidate)
    return kept


def version_key(version: str) -> Version:
    """Newest first when sorted in reverse; names that are not versions sort last."""
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def _probe(python: Path) -> _Answer:
    command = Command((str(python), "-I", "-c", PROBE_SCRIPT), timeout=PROBE_TIMEOUT)
    result = attempt(command)
    if isinstance(result, Unfinished):
        if result.timeout is not None:
            return _Answer(None, reason=f"no answer within {result.timeout:g} s")
        return _Answer(None, reason=f"cannot be run: {result.error}")
    if not result.ok:
        first = next((line for line in result.stderr.splitlines() if line.strip()), "")
        return _Answer(None, reason=f"exit status {result.returncode}: {first}".rstrip(": "))
    line = next((x for x in result.stdout.splitlines() if x.startswith(_MARKER)), None)
    if line is None or line.count("|") < 3:
        return _Answer(None, reason="did not answer like a Python interpreter")
    version, implementation, venv, executable = line[len(_MARKER) :].split("|", 3)
    if implementation != "cpython":
        return _Answer(None, reason=f"is {implementation}, not CPython")
    if venv == "1":
        return _Answer(None, reason="is a virtual environment, not a base interpreter")
    return _Answer(version, executable or str(python))


def _uv_find(version: str, uv: str) -> Path | None:
    result = attempt(python_find_command(uv, version))
    if isinstance(result, Unfinished):
        log.debug("python %s: uv python find %s", version, result.why())
        return None
    lines = result.stdout.strip().splitlines()
    if not result.ok or not lines:
        log.debug("python %s: uv python find: %s", version, uv_reason(result.stderr))
        return None
    return Path(lines[-1].strip())


def uv_reason(stderr: str) -> str:
    """uv's first error line and its innermost cause, which together say what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no output"
    causes = [line.removeprefix("cause: ") for line in lines if line.startswith("cause: ")]
    return f"{lines[0]} ({causes[-1]})" if causes else lines[0]
