"""runner: children in process groups of their own, stopped as a whole on timeout, on
terminate_all() and on Ctrl-C; `reconcile run`'s command left in the terminal's group.

Real processes throughout: a Python child that starts a grandchild (``sleep``) and writes both
pids to a file, then waits, as uv waits for a build backend.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler import interrupts, runner
from reconciler.runner import Command, CommandTimeout, Result
from tests.apply_helpers import (
    SERVING,
    gen_dir,
    generations_of,
    link_of,
    relock,
    setup,
    snapshot,
    trash_entries,
)
from tests.helpers import Project
from tests.processes import start_apply

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups as POSIX has them")

# argv[1]: where to write "<child pid> <grandchild pid>"; argv[2] == "stubborn": both ignore
# SIGTERM, as a build that traps it would.
FAMILY = """
import os, signal, subprocess, sys, time
stubborn = sys.argv[2] == "stubborn"
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen(["sleep", "300"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print("started", flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def family(pids: Path, stubborn: bool = False, timeout: float | None = None) -> Command:
    return Command(
        (sys.executable, "-c", FAMILY, str(pids), "stubborn" if stubborn else "meek"),
        timeout=timeout,
    )


def read_pids(path: Path) -> tuple[int, int]:
    wait_until(path.exists)
    child, grandchild = path.read_text().split()
    return int(child), int(grandchild)


@pytest.fixture(autouse=True)
def _nothing_left_running() -> Iterator[None]:
    yield
    assert runner.running() == ()


class InThread:
    """``runner.run`` in a worker thread, as apply's builds call it."""

    def __init__(self, command: Command) -> None:
        self.result: Result | BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(command,))
        self.thread.start()

    def _run(self, command: Command) -> None:
        try:
            self.result = runner.run(command)
        except BaseException as error:
            self.result = error

    def join(self, timeout: float) -> Result | BaseException | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run() is still waiting"
        return self.result


def test_a_child_runs_in_a_session_of_its_own_and_a_passthrough_command_in_ours() -> None:
    ours = (os.getsid(0), os.getpgid(0))
    same = f"import os, sys; sys.exit(0 if (os.getsid(0), os.getpgid(0)) == {ours} else 3)"

    done = runner.run(
        Command((sys.executable, "-c", "import os; print(os.getsid(0), os.getpgid(0))"))
    )
    passthrough = runner.run_passthrough(
        (sys.executable, "-c", same), dict(os.environ), executable=None
    )

    session, group = map(int, done.stdout.split())
    assert done.ok and session != os.getsid(0) and group != os.getpgid(0)
    assert passthrough == 0  # `reconcile run`'s command still gets the terminal's Ctrl-C


def test_output_input_and_exit_codes_are_as_before() -> None:
    done = runner.run(
        Command(
            (
                sys.executable,
                "-c",
                "import sys; d = sys.stdin.read(); print(d.upper());"
                " print('é', file=sys.stderr); sys.exit(3)",
            ),
            stdin="hi",
        )
    )

    assert (done.returncode, done.stdout, done.stderr) == (3, "HI\n", "é\n")
    assert not runner.run(Command((sys.executable, "-c", "import sys; sys.stdin.read()"))).stdout


def test_a_timeout_kills_the_child_and_its_grandchild_without_waiting_for_them(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()

    with pytest.raises(CommandTimeout):
        runner.run(family(pids, timeout=3.0))

    # subprocess.run killed only the child, then waited for the grandchild's copy of the pipe
    assert time.monotonic() - started < 15
    child, grandchild = read_pids(pids)
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)


def test_terminate_all_stops_a_running_group_from_another_thread(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    worker = InThread(family(pids))
    child, grandchild = read_pids(pids)
    assert child in runner.running()

    started = time.monotonic()
    stopped = runner.terminate_all()
    result = worker.join(timeout=10)

    assert stopped == 1
    assert time.monotonic() - started < 5  # SIGTERM was enough: no grace spent
    assert isinstance(result, Result) and result.returncode == -signal.SIGTERM
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)


def test_terminate_all_kills_a_group_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    worker = InThread(family(pids, stubborn=True))
    child, grandchild = read_pids(pids)

    started = time.monotonic()
    runner.terminate_all(grace=0.5)
    result = worker.join(timeout=10)

    assert 0.5 <= time.monotonic() - started < 5
    assert isinstance(result, Result) and result.returncode == -signal.SIGKILL
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)


def test_terminate_all_with_nothing_running_returns_at_once() -> None:
    started = time.monotonic()
    assert runner.terminate_all() == 0
    assert time.monotonic() - started < 0.5


def test_ctrl_c_under_children_stopped_signals_the_groups_then_raises(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    worker = InThread(family(pids))
    child, grandchild = read_pids(pids)

    with pytest.raises(KeyboardInterrupt), interrupts.ChildrenStopped():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # interrupted long before

    result = worker.join(timeout=10)
    assert isinstance(result, Result) and result.returncode == -signal.SIGTERM
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_kills_a_group_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    """A probe that ignores SIGTERM must not keep plan or verify waiting after Ctrl-C."""
    pids = tmp_path / "pids"
    worker = InThread(family(pids, stubborn=True))
    child, grandchild = read_pids(pids)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), interrupts.ChildrenStopped():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # interrupted long before
    result = worker.join(timeout=runner.TERMINATE_GRACE + 10)

    assert time.monotonic() - started < runner.TERMINATE_GRACE + 5
    assert isinstance(result, Result) and result.returncode == -signal.SIGKILL
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)


def test_ctrl_c_in_the_waiting_thread_stops_the_group_before_it_propagates(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"

    def interrupt_once_started() -> None:
        read_pids(pids)
        os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread, as Ctrl-C is

    interrupter = threading.Thread(target=interrupt_once_started)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        runner.run(family(pids))
    interrupter.join()

    child, grandchild = read_pids(pids)
    wait_until(lambda: not alive(child) and not alive(grandchild), timeout=5)


# --- apply, end to end: Ctrl-C while uv builds ------------------------------------------------

BACKEND = """
import os, pathlib, subprocess

HERE = pathlib.Path({folder!r})


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if not (HERE / "hold").exists():
        raise SystemExit("this package only ever builds slowly")
    grandchild = subprocess.Popen(["sleep", "300"])
    (HERE / "pids.tmp").write_text(f"{{os.getpid()}} {{grandchild.pid}}")
    os.replace(HERE / "pids.tmp", HERE / "pids")
    grandchild.wait()
    raise SystemExit("woke up")
"""


def make_slow_sdist(wheels: Path, folder: Path) -> None:
    """An sdist whose build backend (run by uv in a Python of its own) starts a ``sleep`` and
    waits for it, once ``folder/hold`` exists. Its metadata is static, so locking it needs no
    build."""
    import io
    import tarfile

    files = {
        "pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
            '[project]\nname = "slowbuild"\nversion = "1.0"\n'
        ),
        "PKG-INFO": "Metadata-Version: 2.2\nName: slowbuild\nVersion: 1.0\n",
        "backend.py": BACKEND.format(folder=str(folder)),
        "slowbuild/__init__.py": "",
    }
    wheels.mkdir(parents=True, exist_ok=True)
    with tarfile.open(wheels / "slowbuild-1.0.tar.gz", "w:gz") as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"slowbuild-1.0/{name}")
            info.size, info.mtime, info.mode = len(data), 1577836800, 0o644
            archive.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_or_sigterm_during_a_uv_build_stops_uv_and_its_build_backend_within_seconds(
    project: Project, tmp_path: Path, signum: int
) -> None:
    watch = tmp_path / "slowbuild"
    watch.mkdir()
    make_slow_sdist(project.wheels, watch)
    setup(project, SERVING)
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==1.0", "slowbuild==1.0"'))
    (watch / "hold").touch()

    proc = start_apply(project)
    try:
        deadline = time.monotonic() + 120
        while not (watch / "pids").exists():  # uv runs the build backend, which waits
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        backend, grandchild = read_pids(watch / "pids")
        # The signal reaches reconcile alone: uv runs in a session of its own, out of the
        # terminal's reach, so nothing but apply can stop it.
        interrupted = time.monotonic()
        os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - interrupted
        wait_until(lambda: not alive(backend) and not alive(grandchild), timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if (watch / "pids").exists():  # never leave the build running, whatever happened
            for pid in read_pids(watch / "pids"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    assert proc.returncode == 1, out + err
    assert took < 10, f"apply took {took:.1f} s to stop"
    assert "interrupted" in err and "Traceback" not in err
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []


def test_a_command_that_starts_no_child_never_imports_the_runner() -> None:
    """Ctrl-C under ChildrenStopped still raises when no child was ever started, and the
    runner (subprocess, logging: most of a cached verify's start-up) is not imported for it."""
    script = (
        "import os, signal, sys\n"
        "from reconciler import interrupts\n"
        "try:\n"
        "    with interrupts.ChildrenStopped():\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        signal.pause()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', 'reconciler.runner' in sys.modules)\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )

    assert done.stdout.strip() == "interrupted False", done.stderr
