"""Fault injection for crash-safety tests: ``RECONCILE_FAULT=<point>`` makes the process
SIGKILL itself when it reaches that named point of apply; ``<point>@<target>`` only when it
reaches it while working on that env or model (steps run in parallel, so the first switch
could be either env's). A ``:<SIGNAL>`` suffix (``after_venv@serving:SIGTERM``) sends that
signal instead, and the process carries on to handle it. Unset, every call is a no-op."""

from __future__ import annotations

import os
import signal
import threading

ENV_VAR = "RECONCILE_FAULT"

POINTS = (
    "before_build",
    "after_venv",
    "after_sync",
    "after_verify",
    "after_receipt",
    "during_switch",
    "after_switch",
    "after_prune",
    "after_bindings",
    "after_unlink",
    "during_removal",
    "after_trash",
)

LATE_POINTS = (
    "after_apply",  # every change made and recorded; the display and the lock not yet released
    "during_unlock",  # the lock being released
    "after_report",  # "Apply complete" printed
    "exiting",  # the exit code decided
)
"""Points after apply made every change, where a signal is reported and nothing undone."""


_working_on = threading.local()


def acting_on(target: str) -> None:
    """Record the env or model this thread works on, for ``<point>@<target>``."""
    _working_on.target = target


def point(name: str) -> None:
    """Die here, as abruptly as a power cut allows in-process, when asked to (or send the
    signal asked for)."""
    wanted, _, how = os.environ.get(ENV_VAR, "").partition(":")
    wanted, _, target = wanted.partition("@")
    if wanted == name and target in ("", getattr(_working_on, "target", None)):
        os.kill(os.getpid(), signal.Signals[how] if how else signal.SIGKILL)
