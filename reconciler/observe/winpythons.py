"""Where Python may be installed on Windows, as paths to probe (observe.pythons runs them):
the PEP 514 registry's entries, ``python.exe`` on PATH and python.org's default folders. Pure
but for the caller's inputs, so that a test lays them out with ``PureWindowsPath`` on Linux.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Literal, TypeVar

from reconciler.observe.pep514 import Registration

WindowsSource = Literal["registry", "path"]
P = TypeVar("P", bound=PurePath)

_CORE_TAG = r"{xy}(-(32|64|arm64))?"
"""PythonCore's tags of version X.Y (PEP 514): not the free-threaded ``X.Yt``."""
_STORE_ALIASES = "windowsapps"


def windows_places(
    xy: str,
    registered: Sequence[Registration],
    path: Sequence[str],
    kind: Callable[[str], P],
) -> list[tuple[P, WindowsSource]]:
    """Where Python ``xy`` may be on Windows before pyenv-win's folder (sources 2 and 3):
    the interpreters ``registered`` for it, then ``python.exe``, ``python3.exe`` and
    ``pythonX.Y.exe`` in each absolute folder of ``path`` but the Store's aliases. ``kind``
    makes a path of a string (a test passes ``PureWindowsPath``)."""
    core = re.compile(_CORE_TAG.format(xy=re.escape(xy)))
    places: list[tuple[P, WindowsSource]] = []
    for company, tag, executable, sys_version in registered:
        # PythonCore's tag names the version; another company's tag is its own, so its
        # SysVersion does (when it gives one: else the probe tells)
        ours = core.fullmatch(tag) if company == "PythonCore" else sys_version in ("", xy)
        if ours:
            places.append((kind(executable), "registry"))
    for entry in map(kind, path):
        if not entry.is_absolute() or _STORE_ALIASES in (p.lower() for p in entry.parts):
            continue
        for name in ("python.exe", "python3.exe", f"python{xy}.exe"):
            places.append((entry / name, "path"))
    return places


def windows_defaults(xy: str, environ: Mapping[str, str], kind: Callable[[str], P]) -> list[P]:
    """python.org's default install folders' ``python.exe`` for ``xy`` (source 5)."""
    folder = "Python" + xy.replace(".", "")
    places = []
    if local := environ.get("LOCALAPPDATA"):
        places.append(kind(local) / "Programs" / "Python" / folder / "python.exe")
    if programs := environ.get("ProgramFiles"):
        places.append(kind(programs) / folder / "python.exe")
    return places
