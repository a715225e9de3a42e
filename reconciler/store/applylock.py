"""IO: the apply lock. One mutating command at a time per root (SPEC 7.4).

``<root>/.lock`` is a :class:`filelock.FileLock`. On POSIX that is an ``flock`` on the file,
which the kernel drops when the holder exits for any reason, SIGKILL included, so a crashed
apply never leaves the root locked. The lock file itself is never removed: unlinking a lock
file while others wait on it would split them across two inodes and break mutual exclusion.

``<root>/.lock.info`` is a sidecar naming the holder (pid, command, start time, host) so a
waiter that gives up can say who is in the way. It is written right after the lock is taken
and removed just before it is released. It is informational only: the lock decides who holds
the root, and a sidecar left behind by a killed holder is overwritten by the next one.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from reconciler import faults, interrupts
from reconciler.errors import InternalFolderRefused, LockTimeout, ReconcileError, RootNotAFolder
from reconciler.files import (
    STATE_LIMIT,
    display_path,
    load_json,
    read_regular_bytes,
    write_atomic,
)
from reconciler.store import folders, layout

LOCK_INFO = ".lock.info"
DEFAULT_TIMEOUT = layout.LOCK_WAIT
WAIT_NOTICE_AFTER = 1.0
"""Seconds of waiting after which ``on_wait`` is called (once)."""
_POLL_INTERVAL = 0.1


def lock_path(root: Path) -> Path:
    """``<root>/.lock``, the file the lock is taken on."""
    return root / layout.LOCK


def info_path(root: Path) -> Path:
    """``<root>/.lock.info``, the sidecar naming the current holder."""
    return root / LOCK_INFO


def current_command() -> str:
    """This process's command line as a user typed it, e.g. ``reconcile apply --yes``."""
    return shlex.join(["reconcile", *sys.argv[1:]])


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock, as recorded in the sidecar."""

    pid: int
    command: str
    started: datetime
    hostname: str

    def describe(self) -> str:
        """``pid 1234, `reconcile apply --yes`, started 2026-11-22 22:31:05 UTC``."""
        started = self.started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        text = f"pid {self.pid}, `{self.command}`, started {started}"
        if self.hostname != socket.gethostname():
            text += f", on host {self.hostname}"
        return text

    def to_json(self) -> str:
        started = self.started.astimezone(timezone.utc).isoformat(timespec="seconds")
        document = {
            "pid": self.pid,
            "command": self.command,
            "started": started.replace("+00:00", "Z"),
            "hostname": self.hostname,
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LockHolder:
        """Parse a sidecar; raises ``ValueError`` when it is not one."""
        document = load_json(text)
        if not isinstance(document, dict):
            raise ValueError("lock info is not a JSON object")
        pid, command = document.get("pid"), document.get("command")
        started, hostname = document.get("started"), document.get("hostname")
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"pid: expected a positive integer, got {pid!r}")
        if not isinstance(command, str):
            raise ValueError(f"command: expected a string, got {command!r}")
        if not isinstance(hostname, str):
            raise ValueError(f"hostname: expected a string, got {hostname!r}")
        if not isinstance(started, str):
            raise ValueError(f"started: expected an ISO 8601 time, got {started!r}")
        if started.endswith("Z"):  # datetime.fromisoformat accepts "Z" only from Python 3.11 on
            started = started[:-1] + "+00:00"
        when = datetime.fromisoformat(started)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return cls(pid=pid, command=command, started=when, hostname=hostname)

    @classmethod
    def of_this_process(cls, command: str) -> LockHolder:
        return cls(
            pid=os.getpid(),
            command=command,
            started=datetime.now(timezone.utc).replace(microsecond=0),
            hostname=socket.gethostname(),
        )


def read_holder(root: Path) -> LockHolder | None:
    """The holder named by the sidecar, or None when it is missing, unreadable or plainly stale.

    Stale means it names a process on this host that is no longer running: the sidecar of a
    killed holder, read in the moment before the next holder overwrites it.
    """
    try:
        holder = LockHolder.from_json(read_regular_bytes(info_path(root), STATE_LIMIT).decode())
    except (OSError, ValueError):
        return None
    if holder.hostname == socket.gethostname() and not _is_running(holder.pid):
        return None
    return holder


def _is_running(pid: int) -> bool:
    if sys.platform == "win32":
        # os.kill(pid, 0) on Windows sends CTRL_C_EVENT rather than probing; assume alive.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just belongs to someone else
    return True


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


class ApplyLock:
    """The exclusive lock every mutating command holds on ``<root>/.lock``.

    Use it as a context manager::

        with ApplyLock(root, timeout=args.lock_timeout, on_wait=tell_user):
            ...

    Taking it creates ``root`` if needed. When another process holds it, this waits up to
    ``timeout`` seconds (0 fails at once), calling ``on_wait(holder)`` once if the wait lasts
    longer than about a second, then raises :class:`~reconciler.errors.LockTimeout` naming the
    holder. The lock is not reentrant: one ``ApplyLock`` per command.
    """

    def __init__(
        self,
        root: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        command: str | None = None,
        on_wait: Callable[[LockHolder | None], None] | None = None,
    ) -> None:
        if not math.isfinite(timeout) or timeout < 0:
            raise ValueError(f"lock timeout must be a finite number >= 0 seconds, got {timeout!r}")
        self.root = root
        self.timeout = timeout
        self.command = current_command() if command is None else command
        self._on_wait = on_wait
        # thread_local=False: the lock belongs to this object, whichever thread releases it.
        self._lock = FileLock(str(lock_path(root)), thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock and write the sidecar; raise LockTimeout if it stays taken too long."""
        if self.held:
            raise RuntimeError(f"{lock_path(self.root)} is already held by this ApplyLock")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a file where the root (or above) goes
            raise RootNotAFolder(self.root) from None
        except OSError as error:
            raise self._io_error("cannot create", self.root, error) from error
        if folders.kind(lock_path(self.root)) == "link":  # never lock (or create) through one
            raise InternalFolderRefused(lock_path(self.root), "its apply lock", is_link=True)
        start = time.monotonic()
        acquired = self._try(min(self.timeout, WAIT_NOTICE_AFTER))
        if not acquired and self.timeout > WAIT_NOTICE_AFTER:
            if self._on_wait is not None:
                self._on_wait(read_holder(self.root))
            acquired = self._try(max(0.0, self.timeout - (time.monotonic() - start)))
        if not acquired:
            raise LockTimeout(self._timeout_message())
        try:
            write_atomic(info_path(self.root), LockHolder.of_this_process(self.command).to_json())
        except OSError as error:
            self._lock.release()
            raise self._io_error("cannot write", info_path(self.root), error) from error

    def release(self) -> None:
        """Remove the sidecar, then release the lock. Does nothing if the lock is not held."""
        if not self.held:
            return
        with interrupts.deferred():  # a signal is raised once the lock is released in full
            try:
                # The sidecar goes first, while it is still ours; a leftover one would be
                # harmless (the next holder overwrites it), so failing to remove it must not
                # keep the lock.
                with suppress(OSError):
                    info_path(self.root).unlink(missing_ok=True)
                faults.point("during_unlock")
            finally:
                self._lock.release()

    def __enter__(self) -> ApplyLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _try(self, timeout: float) -> bool:
        try:
            self._lock.acquire(timeout=timeout, poll_interval=_POLL_INTERVAL)
        except FileLockTimeout:  # a TimeoutError, hence an OSError: catch it first
            return False
        except OSError as error:
            raise self._io_error("cannot open", lock_path(self.root), error) from error
        return True

    def _timeout_message(self) -> str:
        holder = read_holder(self.root)
        who = holder.describe() if holder is not None else "holder unknown"
        return (
            f"another reconcile holds {display_path(lock_path(self.root))} ({who}); "
            f"waited {_seconds(self.timeout)} s: try again later or pass --lock-timeout SECONDS."
        )

    def _io_error(self, what: str, path: Path, error: OSError) -> ReconcileError:
        reason = error.strerror or str(error)
        return ReconcileError(
            f"{what} {path}: {reason}; check that {self.root} is writable by this user."
        )
