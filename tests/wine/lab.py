"""Test helper: drive the Windows lab (scripts/winlab.sh) from pytest on Linux.

Every Windows program runs under Wine in the lab's chroot, started as a Windows user starts it:
the real ``python.exe`` and ``uv.exe`` for Windows, ``reconcile.exe`` from a venv it was
pip-installed into, ``C:\\`` paths, Windows' PATH. Projects live under ``C:\\rt``; the host
writes their wheels and manifests and reads what the commands left, through :meth:`Lab.host`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

LAB_ENV = "RECONCILE_WINLAB"
REQUIRED_ENV = "RECONCILE_WINE_REQUIRED"
DEFAULT_LAB = Path("/var/cache/reconcile/winlab")
PREFIX = "/opt/winlab/wpfx"
RECONCILE = r"C:\reconcile\Scripts\reconcile.exe"
PYTHON = r"C:\Python313\python.exe"
UV = "/opt/winlab/uv/uv.exe"
_WINE_ENV = {
    "PATH": "/usr/bin:/bin",
    "WINEPREFIX": PREFIX,
    "WINEDEBUG": "-all",
    "WINEDLLOVERRIDES": "mscoree,mshtml=;winedbg.exe=d",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "XDG_RUNTIME_DIR": "/tmp",
}


@dataclass(frozen=True)
class Ran:
    """What a Windows program did: its exit code and its output, decoded as UTF-8 (what is
    not UTF-8 shows as U+FFFD)."""

    argv: tuple[str, ...]
    rc: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"{' '.join(self.argv)} -> {self.rc}\n--- stdout\n{self.out}--- stderr\n{self.err}"


class Lab:
    """The lab's chroot (``trixie``) seen from the host."""

    def __init__(self, chroot: Path) -> None:
        self.chroot = chroot
        self.drive_c = chroot / PREFIX.lstrip("/") / "drive_c"

    def host(self, windows_path: str) -> Path:
        """The host path of a ``C:\\`` path."""
        path = PureWindowsPath(windows_path)
        if path.drive.upper() != "C:":
            raise ValueError(f"not on C: {windows_path}")
        return self.drive_c.joinpath(*path.parts[1:])

    def unix(self, windows_path: str) -> str:
        """The chroot's path of a ``C:\\`` path (for Wine's working folder)."""
        return "/" + str(self.host(windows_path).relative_to(self.chroot))

    def _argv(
        self, program: str, args: Sequence[str], cwd: str, env: Mapping[str, str]
    ) -> list[str]:
        settings = {**_WINE_ENV, **env}
        return [
            "chroot",
            str(self.chroot),
            "/usr/bin/env",
            "-i",
            *(f"{key}={value}" for key, value in settings.items()),
            "env",
            "-C",
            self.unix(cwd),
            "wine",
            program,
            *args,
        ]

    def run(
        self,
        program: str,
        *args: str,
        cwd: str = "C:\\",
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> Ran:
        """Run a Windows program to its end."""
        done = subprocess.run(
            self._argv(program, args, cwd, env or {}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        out = done.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
        err = done.stderr.decode("utf-8", "replace").replace("\r\n", "\n")
        return Ran((program, *args), done.returncode, out, err)

    def start(
        self, program: str, *args: str, cwd: str = "C:\\", env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a Windows program in the background (stop it with :meth:`stop`)."""
        return subprocess.Popen(
            self._argv(program, args, cwd, env or {}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_for(self, windows_path: str, timeout: float = 60) -> None:
        """Wait until a file exists (a background program says it is ready so)."""
        deadline = time.monotonic() + timeout
        while not self.host(windows_path).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{windows_path} did not appear in {timeout} s")
            time.sleep(0.1)

    def serve(self) -> None:
        """Start Wine's server persistent (idempotent): a Windows program then starts in a
        tenth of a second instead of seconds, and its pipes close when it ends."""
        subprocess.run(
            [
                "chroot",
                str(self.chroot),
                "/usr/bin/env",
                "-i",
                *(f"{key}={value}" for key, value in _WINE_ENV.items()),
                "wineserver",
                "-p",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )

    def remove(self, windows_path: str) -> None:
        """Remove a folder of a test's own from the host side."""
        shutil.rmtree(self.host(windows_path), ignore_errors=True)


def find_lab() -> Lab | None:
    """The lab scripts/winlab.sh built, or None when there is none here."""
    folder = Path(os.environ.get(LAB_ENV) or DEFAULT_LAB)
    ready = folder / "ready"
    if os.geteuid() != 0 or not ready.is_file():
        return None
    return Lab(Path(ready.read_text(encoding="utf-8").strip()))
