"""Processes for the tests: reconcile started as a terminal starts it, a holder of the apply
lock, and finding what reconcile left running.

Every process reconcile starts (uv, the build backends uv runs, health probes) inherits its
environment, so a tag put there finds them all through ``/proc``, even once reconcile has
exited and they have been handed to init.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from tests.helpers import Project

TAG = "RECONCILE_TEST_TAG"
REPO = Path(__file__).resolve().parents[1]
APPLY_COMMAND = "reconcile apply --yes"

# Takes the lock as a running apply does, says "held", releases it at a line or the end of
# stdin and says "released", then idles until stdin ends (or it is killed).
_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from reconciler.store.applylock import ApplyLock

    lock = ApplyLock(Path(sys.argv[1]), timeout=0, command=sys.argv[2])
    lock.acquire()
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()
    print("released", flush=True)
    sys.stdin.read()
    """
)

# Holds <root>/.lock through filelock alone, as a holder that wrote no sidecar would.
_BARE_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from filelock import FileLock

    lock = FileLock(Path(sys.argv[1]) / ".lock")
    lock.acquire()
    print("held", flush=True)
    sys.stdin.read()
    """
)


class LockHolders:
    """Starts processes that hold the apply lock, as a running apply does (the
    ``lock_holder`` fixture); :meth:`kill_all` ends whatever a test left running."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[str]] = []

    def __call__(
        self, root: Path, command: str = APPLY_COMMAND, *, bare: bool = False
    ) -> subprocess.Popen[str]:
        """A process holding the lock of ``root`` under ``command``, once it holds it. A line
        on its stdin releases the lock (it then says "released"); closing its stdin
        (``communicate("")``) releases the lock and ends it. ``bare`` holds the lock file
        alone, with no sidecar naming the holder."""
        script, args = (_BARE_HOLDER, [str(root)]) if bare else (_HOLDER, [str(root), command])
        holder = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._started.append(holder)
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n", "the holder did not take the lock"
        return holder

    def kill_all(self) -> None:
        for holder in self._started:
            holder.kill()
            holder.wait(timeout=30)
            for stream in (holder.stdin, holder.stdout):
                if stream is not None:
                    stream.close()


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


def start_apply(project: Project, *args: str, tag: str | None = None) -> subprocess.Popen[str]:
    """``reconcile apply --yes`` in a process group of its own, which a test signals as a
    whole, as a terminal does on Ctrl-C; with the signals at their defaults, and ``tag`` in
    its environment (:func:`survivors` finds what it started)."""
    return start_reconcile(project, "apply", "--yes", *args, tag=tag)


def start_reconcile(project: Project, *args: str, tag: str | None = None) -> subprocess.Popen[str]:
    """``reconcile ARGS``, as :func:`start_apply` starts apply."""
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.folder,
        env=None if tag is None else tagged(tag),
        start_new_session=True,
        preexec_fn=default_signals,
    )
