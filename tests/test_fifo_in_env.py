"""A FIFO where an env's Python opens a file at start (pyvenv.cfg, a ``*.pth`` in
site-packages) is judged from its structure, and no interpreter is run on it: the run would
wait on the FIFO until the probe's timeout, stalling plan, status and `which` for minutes.

Each test keeps a watchdog that opens every FIFO for writing whenever a reader waits on it:
the waiting reader then reads an end of file and goes on, so code that waits fails the test
in a second instead of hanging it, and the watchdog says that someone waited.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.commands.gate import Expect, env_problem
from reconciler.core.facts import EnvFacts
from reconciler.core.health import Expectation, assess, structure
from reconciler.observe.env import EnvRequest, observe_env
from reconciler.observe.look import pth_not_files
from reconciler.platform import POSIX_VENV
from tests.helpers import Project, require_python
from tests.test_observe_health import ENV, declare, env_step, plan_of


class Watchdog:
    """Opens each FIFO for writing (without blocking) every 50 ms; one that opens had a
    reader waiting on it, which is released with an end of file and counted."""

    def __init__(self) -> None:
        self.fifos: list[Path] = []
        self.waited: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, path: Path) -> Path:
        os.mkfifo(path)
        self.fifos.append(path)
        return path

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for fifo in list(self.fifos):
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as exc:
                    if exc.errno not in (errno.ENXIO, errno.ENOENT):
                        raise
                    continue
                os.close(fd)
                self.waited.append(fifo.name)


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    dog._thread.start()
    yield dog
    dog._stop.set()
    dog._thread.join()


def _site(env: Path) -> Path:
    return next(env.resolve().glob("lib/python*/site-packages"))


def test_every_pth_that_is_no_file_is_named_without_opening_it(
    tmp_path: Path, watchdog: Watchdog
) -> None:
    site = tmp_path / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (site / "ok.pth").write_text("")
    (site / "folder.pth").mkdir()  # site passes over a folder (opening it fails at once)
    (site / "dangling.pth").symlink_to(tmp_path / "gone")
    watchdog.watch(site / ".hidden.pth")  # site skips hidden names
    fifo = watchdog.watch(tmp_path / "elsewhere")
    (site / "link.pth").symlink_to(fifo)
    watchdog.watch(site / "zz.pth")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(site / "sock.pth"))
    try:
        found = pth_not_files(tmp_path, venv=POSIX_VENV)
    finally:
        server.close()

    where = "lib/python3.12/site-packages"
    assert found == (
        f"{where}/link.pth is a FIFO",
        f"{where}/sock.pth is a socket",
        f"{where}/zz.pth is a FIFO",
    )
    assert watchdog.waited == []


def test_a_pth_that_is_no_file_keeps_the_env_from_starting() -> None:
    facts = EnvFacts(
        "e",
        "/e",
        "dir",
        interpreter_present=True,
        pyvenv_cfg=(("home", "/usr/bin"),),
        pth_not_files=("lib/python3.12/site-packages/zz.pth is a FIFO",),
    )

    [finding] = structure(facts, venv=POSIX_VENV)

    assert (finding.reason, finding.detail) == (
        "interpreter_broken",
        "lib/python3.12/site-packages/zz.pth is a FIFO, not a file (Python opens every .pth "
        "at start)",
    )


@pytest.mark.slow
def test_plan_replaces_env_with_a_fifo_pth_without_running_its_interpreter(
    project: Project, watchdog: Watchdog
) -> None:
    declare(project, python="3.12", imports=("alpha",))
    env = project.build(ENV, require_python("3.12"))
    watchdog.watch(_site(env) / "zz.pth")

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("interpreter_broken",))
    assert step.details[0] == (
        "interpreter_broken: lib/python3.12/site-packages/zz.pth is a FIFO, not a file "
        "(Python opens every .pth at start)"
    )
    assert watchdog.waited == []


@pytest.mark.slow
def test_which_refuses_env_with_a_fifo_pth_at_once(project: Project, watchdog: Watchdog) -> None:
    declare(project, python="3.12", imports=("alpha",))
    env = project.build(ENV, require_python("3.12"))
    watchdog.watch(_site(env) / "zz.pth")

    started = time.monotonic()
    problem = env_problem(project.root, env, Expect(imports=("alpha",)), venv=POSIX_VENV)

    assert problem == (
        "its lib/python3.12/site-packages/zz.pth is a FIFO, not a file (Python opens every "
        ".pth at start)"
    )
    assert watchdog.waited == []
    assert time.monotonic() - started < 5


def _cfg_fifo(project: Project, watchdog: Watchdog) -> Path:
    """A built env whose pyvenv.cfg is a FIFO."""
    declare(project, imports=("alpha",))
    env = project.build(ENV, require_python("3.11"))
    (env / "pyvenv.cfg").unlink()
    watchdog.watch(env / "pyvenv.cfg")
    return env


@pytest.mark.slow
def test_plan_replaces_env_whose_pyvenv_cfg_is_a_fifo_without_running_it(
    project: Project, watchdog: Watchdog
) -> None:
    _cfg_fifo(project, watchdog)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("pyvenv_cfg_missing",))
    assert watchdog.waited == []


@pytest.mark.slow
def test_an_adopted_venv_whose_pyvenv_cfg_is_a_fifo_is_judged_without_running_it(
    project: Project, watchdog: Watchdog
) -> None:
    venv = _cfg_fifo(project, watchdog)

    facts = observe_env(EnvRequest("legacy", venv, ("alpha",)), venv=POSIX_VENV)
    health = assess(facts, Expectation(python=None, lock=None, managed=False))

    assert facts.probe is None
    assert [f.reason for f in health.findings] == ["pyvenv_cfg_missing"]
    assert watchdog.waited == []
