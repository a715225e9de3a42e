"""The apply lock (SPEC 7.4): real processes hold `<root>/.lock`, are killed with SIGKILL, and
the lock is taken, refused or waited for. Timing is only checked against generous bounds.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.errors import LockTimeout, ReconcileError
from reconciler.store import applylock
from reconciler.store.applylock import ApplyLock, LockHolder, read_holder
from tests.processes import LockHolders

COMMAND = "reconcile apply --yes"


def sigkill(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL on POSIX: no handler, no cleanup, no release by the holder itself
    proc.wait(timeout=30)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def entries(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


def test_taking_the_lock_creates_the_root_and_a_sidecar_naming_this_process(
    tmp_path: Path,
) -> None:
    root = tmp_path / "not" / "yet" / "there"
    before = datetime.now(timezone.utc) - timedelta(seconds=2)

    with ApplyLock(root, command=COMMAND) as lock:
        assert entries(root) == [".lock", ".lock.info"]
        document = json.loads((root / ".lock.info").read_text(encoding="utf-8"))
        assert set(document) == {"pid", "command", "started", "hostname"}
        assert document["started"].endswith("Z")
        holder = read_holder(root)
        assert holder is not None
        assert holder.pid == os.getpid()
        assert holder.command == COMMAND
        assert holder.hostname == socket.gethostname()
        assert before <= holder.started <= datetime.now(timezone.utc) + timedelta(seconds=2)

    assert not lock.held
    assert entries(root) == [".lock"]


def test_second_taker_with_timeout_zero_fails_at_once_naming_the_holder(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    holder = lock_holder(root, COMMAND)
    waits: list[LockHolder | None] = []

    start = time.monotonic()
    with pytest.raises(LockTimeout) as caught:
        ApplyLock(root, timeout=0, on_wait=waits.append).acquire()

    assert time.monotonic() - start < 5
    assert isinstance(caught.value, ReconcileError)
    assert caught.value.exit_code == 1
    pattern = (
        rf"another reconcile holds {re.escape(str(root / '.lock'))} "
        rf"\(pid {holder.pid}, `{re.escape(COMMAND)}`, "
        r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); "
        r"waited 0 s: try again later or pass --lock-timeout SECONDS\."
    )
    assert re.fullmatch(pattern, str(caught.value)), str(caught.value)
    assert waits == [], "no waiting notice when the taker does not wait"


def test_the_lock_a_second_taker_names_is_relative_to_the_working_folder_inside_it(
    tmp_path: Path, lock_holder: LockHolders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the user would type it (and as docs/apply.md shows it): ``.envs/.lock``."""
    root = tmp_path / ".envs"
    lock_holder(root, COMMAND)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(LockTimeout, match=r"^another reconcile holds \.envs/\.lock \(pid "):
        ApplyLock(root, timeout=0).acquire()


def test_second_taker_with_a_short_timeout_fails_after_waiting(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    holder = lock_holder(root, COMMAND)

    start = time.monotonic()
    with pytest.raises(LockTimeout, match=rf"\(pid {holder.pid}, .*\); waited 1 s: "):
        ApplyLock(root, timeout=1).acquire()
    elapsed = time.monotonic() - start

    assert 0.9 <= elapsed < 5
    assert holder.poll() is None, "a waiter never disturbs the holder"


def test_lock_can_be_taken_at_once_after_the_holder_is_sigkilled(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    holder = lock_holder(root, COMMAND)
    sigkill(holder)
    # The killed holder's sidecar is still there; it names a process that no longer runs.
    assert (root / ".lock.info").exists()
    assert read_holder(root) is None

    with ApplyLock(root, timeout=0, command="reconcile gc") as lock:
        assert lock.held
        mine = read_holder(root)
        assert mine is not None
        assert (mine.pid, mine.command) == (os.getpid(), "reconcile gc")

    assert entries(root) == [".lock"]


def test_a_waiter_is_told_once_who_it_waits_for_and_gets_the_lock_when_the_holder_dies(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    holder = lock_holder(root, COMMAND)
    waits: list[LockHolder | None] = []

    def on_wait(seen: LockHolder | None) -> None:
        waits.append(seen)
        sigkill(holder)

    start = time.monotonic()
    with ApplyLock(root, timeout=60, on_wait=on_wait) as lock:
        assert lock.held
        assert time.monotonic() - start < 10
        mine = read_holder(root)
        assert mine is not None
        assert mine.pid == os.getpid()

    assert len(waits) == 1
    assert waits[0] is not None
    assert (waits[0].pid, waits[0].command) == (holder.pid, COMMAND)
    assert entries(root) == [".lock"]


def test_a_holder_removes_its_sidecar_on_release_and_a_waiter_then_gets_the_lock(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    holder = lock_holder(root, COMMAND)
    assert entries(root) == [".lock", ".lock.info"]
    assert holder.stdin is not None
    assert holder.stdout is not None

    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert holder.stdout.readline() == "released\n"
    assert entries(root) == [".lock"]

    with ApplyLock(root, timeout=5) as lock:
        assert lock.held
    assert entries(root) == [".lock"]


def test_a_holder_without_a_sidecar_is_reported_as_unknown(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    lock_holder(root, bare=True)

    with pytest.raises(LockTimeout, match=r"\(holder unknown\); waited 0 s: "):
        ApplyLock(root, timeout=0).acquire()


@pytest.mark.skipif(sys.platform == "win32", reason="liveness of a pid is probed on POSIX only")
def test_a_stale_sidecar_from_a_dead_process_never_names_the_live_holder(
    tmp_path: Path, lock_holder: LockHolders
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    lock_holder(root, bare=True)
    stale = LockHolder(
        pid=dead_pid(),
        command="reconcile apply",
        started=datetime(2020, 1, 1, tzinfo=timezone.utc),
        hostname=socket.gethostname(),
    )
    (root / ".lock.info").write_text(stale.to_json(), encoding="utf-8")

    with pytest.raises(LockTimeout, match=r"\(holder unknown\)") as caught:
        ApplyLock(root, timeout=0).acquire()
    assert f"pid {stale.pid}" not in str(caught.value)


def test_a_stale_sidecar_does_not_stop_anyone_taking_a_free_lock(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".lock.info").write_text("{not json", encoding="utf-8")

    with ApplyLock(root, timeout=0, command=COMMAND):
        holder = read_holder(root)
        assert holder is not None
        assert holder.pid == os.getpid()
    assert entries(root) == [".lock"]


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    with (
        ApplyLock(tmp_path, timeout=0, command=COMMAND),
        pytest.raises(LockTimeout, match=rf"\(pid {os.getpid()}, `{re.escape(COMMAND)}`"),
    ):
        ApplyLock(tmp_path, timeout=0).acquire()


def test_the_same_lock_object_cannot_be_taken_twice(tmp_path: Path) -> None:
    with ApplyLock(tmp_path) as lock, pytest.raises(RuntimeError, match="already held"):
        lock.acquire()


def test_release_without_holding_does_nothing(tmp_path: Path) -> None:
    lock = ApplyLock(tmp_path / "root")
    lock.release()
    with lock:
        pass
    lock.release()
    assert entries(tmp_path / "root") == [".lock"]


@pytest.mark.parametrize("timeout", [-1.0, float("nan"), float("inf")])
def test_a_timeout_must_be_a_finite_number_of_seconds(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(ValueError, match="lock timeout"):
        ApplyLock(tmp_path, timeout=timeout)


def test_the_default_timeout_is_ten_minutes(tmp_path: Path) -> None:
    assert ApplyLock(tmp_path).timeout == applylock.DEFAULT_TIMEOUT == 600


def test_the_default_command_is_this_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/reconcile", "apply", "--yes", "plan file.json"])
    assert ApplyLock(tmp_path).command == "reconcile apply --yes 'plan file.json'"


def test_a_root_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(ReconcileError, match=r"^the root .*file/root is not a folder: a file"):
        ApplyLock(blocker / "root").acquire()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"pid": "1", "command": "x", "started": "2026-01-01T00:00:00Z", "hostname": "h"}',
        '{"pid": true, "command": "x", "started": "2026-01-01T00:00:00Z", "hostname": "h"}',
        '{"pid": 1, "command": 2, "started": "2026-01-01T00:00:00Z", "hostname": "h"}',
        '{"pid": 1, "command": "x", "started": "yesterday", "hostname": "h"}',
        '{"pid": 1, "command": "x", "started": "2026-01-01T00:00:00Z"}',
    ],
)
def test_an_unreadable_sidecar_is_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError):
        LockHolder.from_json(text)
    (tmp_path / ".lock.info").write_text(text, encoding="utf-8")
    assert read_holder(tmp_path) is None


def test_a_sidecar_round_trips_and_describes_its_holder() -> None:
    holder = LockHolder(
        pid=1234,
        command=COMMAND,
        started=datetime(2026, 11, 22, 22, 31, 5, tzinfo=timezone.utc),
        hostname=socket.gethostname(),
    )
    assert LockHolder.from_json(holder.to_json()) == holder
    assert json.loads(holder.to_json())["started"] == "2026-11-22T22:31:05Z"
    assert holder.describe() == "pid 1234, `reconcile apply --yes`, started 2026-11-22 22:31:05 UTC"


def test_a_holder_on_another_host_is_named_with_its_host(tmp_path: Path) -> None:
    elsewhere = LockHolder(
        pid=dead_pid(),
        command=COMMAND,
        started=datetime(2026, 11, 22, 22, 31, 5, tzinfo=timezone.utc),
        hostname="not-" + socket.gethostname(),
    )
    (tmp_path / ".lock.info").write_text(elsewhere.to_json(), encoding="utf-8")

    # Its pid means nothing here, so it is not judged stale by a local probe.
    assert read_holder(tmp_path) == elsewhere
    assert elsewhere.describe().endswith(f", on host not-{socket.gethostname()}")
