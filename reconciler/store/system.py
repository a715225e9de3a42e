"""IO: which system this process runs on, decided once. Only the edges (the CLI's commands and
``resolve()``) call :func:`current`, or :func:`current_venv` when only the venv layout is
needed; they pass the value down."""

from __future__ import annotations

import os

from reconciler.platform import POSIX_VENV, WINDOWS_VENV, Platform, VenvLayout


def current_venv() -> VenvLayout:
    """The venv layout of this system alone, for the commands that only look at envs
    (`verify`): the same decision as :func:`current`, without loading the store's operations."""
    return WINDOWS_VENV if os.name == "nt" else POSIX_VENV


def current() -> Platform:
    """The platform this process runs on. Called at the edges only; pass the value down."""
    venv = current_venv()
    if venv.windows:
        from reconciler.store.junctions import NativeWindowsOps
        from reconciler.store.winops import WindowsStoreOps

        return Platform(venv, WindowsStoreOps(NativeWindowsOps()))
    from reconciler.store.posix import PosixStoreOps

    return Platform(venv, PosixStoreOps())
