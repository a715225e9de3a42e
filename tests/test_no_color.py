"""`--no-color` and ``NO_COLOR`` on a terminal: apply's plan and its live progress display
carry no styling (no colour, no bold, no dim), only the cursor movement the live display
needs. Run on a pseudo-terminal, as a user sees it."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from tests.apply_helpers import SERVING, lock
from tests.helpers import Project, require_python

_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # Select Graphic Rendition: colour, bold, dim, reset


def _apply_on_a_terminal(project: Project, *options: str, no_color_env: bool) -> bytes:
    """What `reconcile apply --yes` writes to a terminal (stdout and stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color_env:
        env["NO_COLOR"] = "1"
    env.update(TERM="xterm-256color", COLUMNS="120")
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *options, "apply", "--yes"],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            cwd=project.folder,
            env=env,
        )
        os.close(terminal)
        written = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command closed the terminal's last end
                break
            if not chunk:
                break
            written += chunk
        assert proc.wait(timeout=120) == 0, written
    finally:
        os.close(controller)
    return written


@pytest.mark.parametrize(
    ("options", "no_color_env"), [(("--no-color",), False), ((), True)], ids=["flag", "env"]
)
def test_no_color_apply_on_a_terminal_prints_no_styling(
    project: Project, options: tuple[str, ...], no_color_env: bool
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)

    written = _apply_on_a_terminal(project, *options, no_color_env=no_color_env)

    assert b"created generation g0001" in written  # the live display ran
    assert _SGR.findall(written) == []


def test_apply_on_a_terminal_is_styled_without_no_color(project: Project) -> None:
    """The check above can see styling: without either, the env names are bold."""
    require_python("3.11")
    project.write(SERVING)
    lock(project)

    written = _apply_on_a_terminal(project, no_color_env=False)

    assert b"\x1b[1mserving" in written
