"""The running system, decided once: POSIX or Windows, the venv layout that goes with it, and
the filesystem operations under the root (the env link, the switch, removal).

Plain data: :func:`reconciler.store.system.current` decides which, and only the edges call it
(the CLI's commands and ``resolve()``); everything below takes the :class:`Platform` (or its
:class:`VenvLayout`) as a parameter, so a test can judge a Windows-layout venv, or drive the
Windows store code, on Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.store.fsops import StoreOps


@dataclass(frozen=True)
class VenvLayout:
    """Where a venv keeps its interpreter, scripts and packages: ``bin/python`` and
    ``lib/pythonX.Y/site-packages`` on POSIX, ``Scripts/python.exe`` and ``Lib/site-packages``
    on Windows."""

    windows: bool
    scripts: str
    python_name: str
    site_packages: str
    """The site-packages folder relative to the env folder (a glob on POSIX)."""
    activation: tuple[str, ...]
    """The activation scripts relative to the env folder."""

    @property
    def python(self) -> str:
        """The interpreter relative to the env folder, with ``/``."""
        return f"{self.scripts}/{self.python_name}"

    def interpreter(self, env_dir: Path) -> Path:
        return env_dir / self.scripts / self.python_name


POSIX_VENV = VenvLayout(
    windows=False,
    scripts="bin",
    python_name="python",
    site_packages="lib/python*/site-packages",
    activation=("bin/activate",),
)
WINDOWS_VENV = VenvLayout(
    windows=True,
    scripts="Scripts",
    python_name="python.exe",
    site_packages="Lib/site-packages",
    activation=("Scripts/activate.bat", "Scripts/Activate.ps1"),
)


@dataclass(frozen=True)
class Platform:
    """The system reconcile runs on: its venv layout and its filesystem operations."""

    venv: VenvLayout
    ops: StoreOps

    @property
    def windows(self) -> bool:
        return self.venv.windows
