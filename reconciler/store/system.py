"""IO: which system this process runs on, decided once. Only the edges call :func:`current`
(the CLI's commands and ``resolve()``); they pass the value down."""

from __future__ import annotations

import os

from reconciler.platform import POSIX_VENV, WINDOWS_VENV, Platform


def current() -> Platform:
    """The platform this process runs on. Called at the edges only; pass the value down."""
    if os.name == "nt":
        from reconciler.store.junctions import NativeWindowsOps
        from reconciler.store.winops import WindowsStoreOps

        return Platform(WINDOWS_VENV, WindowsStoreOps(NativeWindowsOps()))
    from reconciler.store.posix import PosixStoreOps

    return Platform(POSIX_VENV, PosixStoreOps())
