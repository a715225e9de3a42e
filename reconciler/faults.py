"""Fault injection for crash-safety tests: ``RECONCILE_FAULT=<point>`` makes the process
SIGKILL itself when it reaches that named point of apply. Unset, every call is a no-op."""

from __future__ import annotations

import os
import signal

ENV_VAR = "RECONCILE_FAULT"

POINTS = (
    "before_build",
    "after_venv",
    "after_sync",
    "after_verify",
    "after_receipt",
    "after_switch",
    "after_prune",
    "after_bindings",
    "after_unlink",
    "after_trash",
)


def point(name: str) -> None:
    """Die here, as abruptly as a power cut allows in-process, when asked to."""
    if os.environ.get(ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)
