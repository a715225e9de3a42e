"""The only module that spawns processes. A command is data (argv) before it is a process.

Every child of :func:`run` starts in a process group of its own (POSIX: its own session;
Windows: ``CREATE_NEW_PROCESS_GROUP``) and is tracked while it runs. A timeout, a Ctrl-C in the
waiting thread and :func:`terminate_all` then stop the whole group: uv *and* what uv started
(build backends, the interpreters it queries), not only the direct child, whose orphans would
otherwise keep writing into a generation that apply is removing. The price: the terminal's
Ctrl-C no longer reaches these children; reconcile gets it (and SIGTERM, SIGHUP: see
reconciler/interrupts.py) and decides (apply calls :func:`terminate_all`).
:func:`run_passthrough` is the exception: the user's own command stays in the terminal's
foreground group and gets Ctrl-C itself; reconcile passes SIGTERM and SIGHUP on to it.
"""

from __future__ import annotations

import gc
import logging
import marshal
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Protocol

from reconciler import interrupts

log = logging.getLogger("reconciler")

TERMINATE_GRACE = 2.0
"""Seconds a process group gets between the polite signal and the kill."""

_DRAIN_TIMEOUT = 5.0
_CREATE_NEW_PROCESS_GROUP = 0x00000200  # subprocess.CREATE_NEW_PROCESS_GROUP, Windows only


@dataclass(frozen=True)
class Command:
    """An argv and how to run it; shown under --verbose before it runs."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    cwd: Path | None = None
    timeout: float | None = None

    def show(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandTimeout(Exception):
    """The command ran longer than its timeout and was killed, with everything it started."""


@dataclass(frozen=True)
class Unfinished:
    """A command that did not run to completion: it ran out of time (and was stopped with
    everything it started), or it could not be started (its program missing, not
    executable). Each caller words it for its user; :meth:`why` is the common half."""

    argv: tuple[str, ...]
    timeout: float | None = None
    """The seconds it was given, when it ran out of them."""
    error: str | None = None
    """Why it could not start, in the system's words ("No such file or directory")."""
    missing: bool = False
    """It could not start because its program (or its working folder) was not found."""

    @property
    def program(self) -> str:
        return self.argv[0]

    def why(self) -> str:
        """What happened, to follow the command's name in a sentence."""
        if self.timeout is not None:
            return f"did not finish within {self.timeout:g} s and was stopped"
        return f"could not start: {self.error}"


def attempt(command: Command) -> Result | Unfinished:
    """:func:`run` ``command``; a timeout, or a program that cannot be started, is an
    :class:`Unfinished` rather than an exception, for the caller to explain."""
    try:
        return run(command)
    except CommandTimeout:
        return Unfinished(command.argv, timeout=command.timeout)
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError)
        return Unfinished(command.argv, error=exc.strerror or str(exc), missing=missing)


class ProcessGroups(Protocol):
    """How children get a group of their own, and how a whole group is signalled."""

    def popen_options(self) -> dict[str, Any]: ...

    def stop(self, process: subprocess.Popen[str], *, kill: bool) -> None:
        """Ask the group led by ``process`` to end (``kill``: force it). Never raises."""


class PosixGroups:
    """Its own session per child (so also its own group, led by the child's pid)."""

    def popen_options(self) -> dict[str, Any]:
        return {"start_new_session": True}

    def stop(self, process: subprocess.Popen[str], *, kill: bool) -> None:
        # The group id is the child's pid. It stays valid after the child has exited as long as
        # a grandchild is in the group, and the kernel does not reuse it for a new process
        # meanwhile; an empty group is simply gone (ESRCH).
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)


class WindowsGroups:
    """A new process group per child; CTRL_BREAK_EVENT asks it to end, ``taskkill /T`` kills
    the process tree. Not run on real Windows yet; a Job object would also catch descendants
    whose parent already exited, which ``taskkill /T`` may miss."""

    def popen_options(self) -> dict[str, Any]:
        return {"creationflags": _CREATE_NEW_PROCESS_GROUP}

    @staticmethod
    def kill_argv(pid: int) -> tuple[str, ...]:
        return ("taskkill", "/F", "/T", "/PID", str(pid))

    def stop(self, process: subprocess.Popen[str], *, kill: bool) -> None:
        try:
            if kill:
                subprocess.run(  # noqa: S603  a fixed argv naming a pid we started
                    self.kill_argv(process.pid), capture_output=True, timeout=30, check=False
                )
            elif process.poll() is None:
                process.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
        except (OSError, subprocess.SubprocessError):
            pass


GROUPS: ProcessGroups = WindowsGroups() if os.name == "nt" else PosixGroups()

# Re-entrant: the SIGINT handler of interrupts.ChildrenStopped runs in the main thread and may
# interrupt that same thread while it holds the lock.
_lock = threading.RLock()
_running: set[subprocess.Popen[str]] = set()


def _start(command: Command) -> subprocess.Popen[str]:
    env = {**os.environ, **command.env} if command.env else None
    process = subprocess.Popen(  # noqa: S603  argv is built by the tool from validated input
        command.argv,
        stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=command.cwd,
        **GROUPS.popen_options(),
    )
    with _lock:
        _running.add(process)
    return process


def _forget(process: subprocess.Popen[str]) -> None:
    with _lock:
        _running.discard(process)


def _drain(process: subprocess.Popen[str]) -> tuple[str, str]:
    """The output of a process whose group was killed. A descendant that left the group (its
    own setsid) may still hold the pipes: then the output is abandoned rather than waited for."""
    try:
        return process.communicate(timeout=_DRAIN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return "", ""


def run(command: Command) -> Result:
    """Run ``command`` to completion, capturing text output; never raises on exit codes.

    On timeout the child's whole process group is killed and :class:`CommandTimeout` raised;
    on any exception in the waiting thread (Ctrl-C) the group is stopped before it propagates.
    """
    log.debug("$ %s", command.show())
    process = _start(command)
    try:
        stdout, stderr = process.communicate(command.stdin, timeout=command.timeout)
    except subprocess.TimeoutExpired:
        GROUPS.stop(process, kill=True)
        _drain(process)
        raise CommandTimeout(command.show()) from None
    except BaseException:
        _stop([process], TERMINATE_GRACE)
        _drain(process)
        raise
    finally:
        _forget(process)
    return Result(command.argv, process.returncode, stdout, stderr)


def running() -> tuple[int, ...]:
    """Pids of the children of :func:`run` still running (for diagnostics and tests)."""
    with _lock:
        return tuple(sorted(p.pid for p in _running))


def _stop(processes: list[subprocess.Popen[str]], grace: float) -> None:
    for process in processes:
        GROUPS.stop(process, kill=False)
    deadline = time.monotonic() + grace
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    # Killed even when the child itself has exited: a grandchild may ignore the polite signal.
    for process in processes:
        GROUPS.stop(process, kill=True)


def terminate_all(grace: float = TERMINATE_GRACE) -> int:
    """Stop every running child of :func:`run`, from any thread: each one's whole process
    group gets SIGTERM (Windows: CTRL_BREAK_EVENT), then SIGKILL (``taskkill /T /F``) after
    ``grace`` seconds. The threads waiting in :func:`run` then return the killed child's
    result. Returns how many children were running."""
    with _lock:
        processes = list(_running)
    if processes:
        log.debug("stopping %d running command(s)", len(processes))
        _stop(processes, grace)
    return len(processes)


@cache
def uv_bin() -> str:
    """Path of the uv binary shipped by the ``uv`` PyPI package."""
    import uv  # imported lazily: only commands that run uv pay for it

    return str(uv.find_uv_bin())


def run_passthrough(
    argv: tuple[str, ...], env: Mapping[str, str], *, executable: str | None
) -> int | Unfinished:
    """Run a user's command with our stdio and ``env`` as its whole environment; return its
    exit code (128 + N when it was killed by signal N, as shells report it), or
    :class:`Unfinished` when it cannot be started. ``executable`` is the program to start
    when the caller found it (``argv[0]`` stays what the user typed); None lets the system
    search for ``argv[0]``.

    The command stays in our process group, unlike the children of :func:`run`, so the
    terminal reaches it. Meanwhile SIGTERM and SIGHUP are forwarded to it (``kill PID`` and
    ``timeout`` signal reconcile alone), and reconcile waits for it to end. SIGINT is
    forwarded from the second one on, or at once when the command left our group: the
    terminal sends Ctrl-C to the whole foreground group, so the command had the first one
    already (uv run does the same). A signal ignored when reconcile started stays ignored,
    by both.
    """
    log.debug("$ %s", shlex.join(argv))
    with _forwarding_signals() as started:
        try:
            # the user's own command
            process = subprocess.Popen(argv, executable=executable, env=dict(env))  # noqa: S603
        except OSError as exc:
            missing = isinstance(exc, FileNotFoundError)
            return Unfinished(argv, error=exc.strerror or str(exc), missing=missing)
        started(process)
        code = process.wait()
    return 128 - code if code < 0 else code


@contextmanager
def _forwarding_signals() -> Iterator[Callable[[subprocess.Popen[bytes]], None]]:
    """Forward :data:`interrupts.SIGNALS` to the command of :func:`run_passthrough` (handlers,
    never SIG_IGN, which the command would inherit); yields the function that names it once
    started. A signal that arrives before is forwarded then."""
    command: list[subprocess.Popen[bytes]] = []
    early: list[int] = []
    seen: dict[int, int] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        seen[signum] = seen.get(signum, 0) + 1
        if not command:
            early.append(signum)
        elif signum != signal.SIGINT or seen[signum] > 1 or not _in_our_group(command[0]):
            with suppress(OSError, ValueError):  # ValueError: not a signal Windows sends
                command[0].send_signal(signum)

    def started(process: subprocess.Popen[bytes]) -> None:
        command.append(process)
        for signum in early:
            with suppress(OSError, ValueError):
                process.send_signal(signum)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in interrupts.SIGNALS:
            handler = signal.getsignal(signum)
            if handler != signal.SIG_IGN and handler is not None:
                previous[signum] = signal.signal(signum, forward)
    try:
        yield started
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _in_our_group(process: subprocess.Popen[bytes]) -> bool:
    if not hasattr(os, "getpgid"):
        return True
    try:
        return os.getpgid(process.pid) == os.getpgrp()
    except OSError:
        return True


# -- forked workers ------------------------------------------------------------------------


def fork_allowed() -> bool:
    """Whether work may go to forked workers: on Linux (elsewhere fork is unavailable or
    unsafe) and with no other thread running (one could hold a lock the child would inherit
    locked)."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


def _in_worker(work: Callable[[], object], write_fd: int, mask: set[int]) -> NoReturn:
    """The forked worker: do ``work``, write its result (marshal) to ``write_fd``, leave.

    Leaves with ``os._exit`` whatever happens (Ctrl-C included): no ``atexit`` handler, no
    flush of a stdio buffer inherited from the parent, no ``finally`` of the parent's stack.
    """
    code = 1
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        gc.disable()  # short-lived and makes no cycles: spare the copy-on-write of a full gc
        result: Any = work()  # builtin values only: marshal says so if not
        view = memoryview(marshal.dumps(result))
        while view:
            view = view[os.write(write_fd, view) :]
        code = 0
    finally:
        os._exit(code)


def _gather(pid: int, read_fd: int) -> object | None:
    """A worker's result once it has exited, or ``None`` when it failed in any way."""
    chunks = []
    while chunk := os.read(read_fd, 1 << 20):
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    try:
        result: object = marshal.loads(b"".join(chunks))  # noqa: S302  our own forked child
    except (EOFError, ValueError, TypeError):
        return None
    return result


def fork_map(shares: Sequence[Callable[[], object]]) -> list[object | None]:
    """Every share's result: the first computed here, each other by a forked worker (for
    CPU-bound work on every core, such as hashing: workers run Python, never a command).

    ``None`` for a worker that failed or could not be started. Whatever happens here (an
    exception, Ctrl-C), no worker outlives this call: those still running are killed and
    every one is reaped.
    """
    workers: list[tuple[int, int] | None] = []
    try:
        for work in shares[1:]:
            read_fd, write_fd = os.pipe()
            # SIGINT blocked across the fork, so Ctrl-C cannot raise in the child before it
            # is inside _in_worker, nor in the parent before the child is in `workers`.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                pid = os.fork()
            except OSError:  # no process to be had: this share is checked here instead
                os.close(read_fd)
                workers.append(None)
            else:
                if pid == 0:
                    os.close(read_fd)
                    for worker in workers:
                        if worker is not None:
                            os.close(worker[1])
                    _in_worker(work, write_fd, mask)
                workers.append((pid, read_fd))
            finally:
                os.close(write_fd)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        results: list[object | None] = [shares[0]()]
        for index, worker in enumerate(workers):
            if worker is None:
                results.append(None)
                continue
            results.append(_gather(*worker))
            workers[index] = None
            os.close(worker[1])
        return results
    finally:
        for worker in workers:
            if worker is not None:
                pid, read_fd = worker
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                os.close(read_fd)
