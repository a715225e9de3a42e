"""Starting reconcile for the signal tests, and finding what it left running.

Every process reconcile starts (uv, the build backends uv runs, health probes) inherits its
environment, so a tag put there finds them all through ``/proc``, even once reconcile has
exited and they have been handed to init.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

TAG = "RECONCILE_TEST_TAG"


def default_signals() -> None:
    """preexec_fn: SIGINT, SIGTERM and SIGHUP at their defaults in the child, whatever the
    suite was started from (a shell starts a background job with SIGINT ignored; nohup
    ignores SIGHUP), so that reconcile handles them as it does for a user."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged(tag: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with the tag that :func:`survivors` looks for."""
    return {**(dict(os.environ) if environ is None else environ), TAG: tag}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def survivors(tag: str, but: int | None = None) -> list[str]:
    """``pid: command line`` of every live process (zombies aside) carrying ``tag``, except
    the process ``but``."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), but):
            continue
        if needle not in _read(entry / "environ").split(b"\0"):
            continue
        stat = _read(entry / "stat")
        if stat[stat.rfind(b")") + 2 :].startswith(b"Z"):
            continue
        command = _read(entry / "cmdline").replace(b"\0", b" ").decode(errors="replace")
        found.append(f"{entry.name}: {command.strip()}")
    return sorted(found)


def wait_for_no_survivors(tag: str, grace: float = 3.0) -> list[str]:
    """:func:`survivors` once none is left, or as they are after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while (left := survivors(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_survivors(tag: str) -> None:
    """Never leave a test's processes running, whatever the test found."""
    for line in survivors(tag):
        with contextlib.suppress(OSError):
            os.kill(int(line.partition(":")[0]), signal.SIGKILL)
