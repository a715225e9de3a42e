"""The only module that spawns processes. A command is data (argv) before it is a process."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

log = logging.getLogger("reconciler")


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
    """The command ran longer than its timeout and was killed."""


def run(command: Command) -> Result:
    """Run ``command`` to completion, capturing text output; never raises on exit codes."""
    log.debug("$ %s", command.show())
    env = {**os.environ, **command.env} if command.env else None
    try:
        done = subprocess.run(  # noqa: S603  argv is built by the tool from validated input
            command.argv,
            input=command.stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=command.cwd,
            timeout=command.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CommandTimeout(command.show()) from None
    return Result(command.argv, done.returncode, done.stdout, done.stderr)


@cache
def uv_bin() -> str:
    """Path of the uv binary shipped by the ``uv`` PyPI package."""
    import uv  # imported lazily: only commands that run uv pay for it

    return str(uv.find_uv_bin())


def run_passthrough(argv: tuple[str, ...], env: Mapping[str, str]) -> int:
    """Run a user's command with our stdio and ``env`` as its whole environment; return its
    exit code (128 + N when it was killed by signal N, as shells report it)."""
    log.debug("$ %s", shlex.join(argv))
    # Ctrl-C belongs to the command (the terminal sends it to both of us): while it runs we
    # ignore SIGINT with a handler, not SIG_IGN, which the command would inherit.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _ignore_signal) if main else None
    try:
        code = subprocess.call(argv, env=dict(env))  # noqa: S603  the user's own command
    finally:
        if previous is not None:  # None: not set from Python, or not the main thread
            signal.signal(signal.SIGINT, previous)
    return 128 - code if code < 0 else code


def _ignore_signal(signum: int, frame: object) -> None:
    """A no-op handler: reset to the default in a child, unlike SIG_IGN."""
