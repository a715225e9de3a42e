"""`reconcile apply` and the commands around it, end to end: the installed command, the real
uv, real venvs, a local wheelhouse, no network (SPEC 7, issue 4).

Each test builds what it installs (tests/wheels.py) and applies with the real engine: the
generations on disk, the link, the receipts, the bindings and the exit codes are what a user
and a CI pipeline see. Set-up applies run in-process (faster); the behaviour under test runs
through ``python -m reconciler`` as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import resource
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from reconciler.platform import POSIX_VENV
from reconciler.spec.lockfile import seal
from reconciler.store import generations, layout, removals
from tests.apply_helpers import (
    SERVING,
    TOOLS,
    apply,
    as_plain_user,
    cli_as,
    error_line,
    error_lines,
    gen_dir,
    generations_of,
    link_of,
    lock,
    plan_json,
    relock,
    setup,
    snapshot,
    tools_with_a_folder_of_another_user,
    trash_entries,
)
from tests.helpers import Project, require_python, uv
from tests.processes import (
    LockHolders,
    kill_survivors,
    new_tag,
    start_apply,
    start_reconcile,
    wait_for_no_survivors,
)
from tests.wheels import make_wheel

RECEIPT_FIELDS = {
    "generation",
    "env_key",
    "python",
    "lockfile_sha256",
    "spec_sha256",
    "uv_version",
    "created",
}


# --- helpers -------------------------------------------------------------------------------


def _documented_receipt_fields() -> set[str]:
    """The fields docs/apply.md's table of the receipt lists."""
    text = (Path(__file__).parent.parent / "docs" / "apply.md").read_text(encoding="utf-8")
    section = text.split("### The receipt", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M))


def send(process: subprocess.Popen[str], signum: int, to: str) -> None:
    """``to`` "pid": reconcile alone, as `kill` and `timeout` do; "group": its process group,
    as a terminal and a CI runner do."""
    if to == "group":
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)


# --- apply creates generations ---------------------------------------------------------------


def test_apply_creates_each_env_as_a_generation_behind_a_relative_link_with_a_receipt(
    project: Project,
) -> None:
    require_python("3.11")
    project.write(SERVING + TOOLS)
    lock(project)

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "Apply complete: 2 created, 2 rebound." in done.stdout
    receipts: dict[str, dict[str, Any]] = {}
    for key in ("serving", "tools"):
        link = project.root / key
        assert link.is_symlink()
        assert link_of(project, key) == f".generations/{key}/g0001"  # relative: root movable
        assert generations_of(project, key) == ["g0001"]
        receipt = json.loads(layout.receipt_path(gen_dir(project, key, "g0001")).read_text())
        assert receipt.keys() >= RECEIPT_FIELDS
        assert set(receipt) == _documented_receipt_fields()
        assert receipt["env_key"] == key
        assert receipt["generation"] == "g0001"
        assert receipt["python"].startswith("3.11.")
        lock_bytes = (project.folder / "lockfiles" / f"{key}.txt").read_bytes()
        assert receipt["lockfile_sha256"] == hashlib.sha256(lock_bytes).hexdigest()
        assert len(receipt["spec_sha256"]) == 64
        assert receipt["uv_version"] not in ("", "unknown")
        assert receipt["created"].endswith("Z")
        receipts[key] = receipt
    assert receipts["serving"]["spec_sha256"] != receipts["tools"]["spec_sha256"]
    bindings = json.loads(layout.bindings_path(project.root).read_text())
    assert bindings["bindings"] == {"chat": "serving", "report": "tools"}
    assert trash_entries(project) == []

    again = project.cli("plan", "--detailed-exitcode")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1] == "No changes. Environments match envs.toml."

    noop = project.cli("apply", "--yes")

    assert noop.returncode == 0, noop.stderr
    assert noop.stdout.splitlines() == ["No changes. Environments match envs.toml."]
    assert generations_of(project, "serving") == ["g0001"]


def test_apply_counts_the_packages_it_installs_on_this_platform_and_python(
    project: Project,
) -> None:
    """The lockfile pins 3 packages; winonly is for Windows, newer for Python 3.12 and up:
    the env (3.12; reconcile itself may run on another) gets 2."""
    require_python("3.12")
    requires = ['winonly; sys_platform == "win32"', 'newer; python_version >= "3.12"']
    make_wheel(project.wheels, "delta", "1.0", requires=requires)
    make_wheel(project.wheels, "winonly", "1.0")
    make_wheel(project.wheels, "newer", "1.0")
    project.write('[envs.small]\npython = "3.12"\nrequirements = ["delta==1.0"]\n')
    lock(project)

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "small: installing 2 packages" in done.stdout.splitlines(), done.stdout
    site = project.root / "small" / "lib" / "python3.12" / "site-packages"
    assert sorted(p.name for p in site.glob("*.dist-info")) == [
        "delta-1.0.dist-info",
        "newer-1.0.dist-info",
    ]


def test_apply_progress_is_plain_lines_per_env_when_not_on_a_terminal(project: Project) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    phases = [line for line in done.stdout.splitlines() if line.startswith("serving: ")]
    assert phases == [
        "serving: creating venv",
        "serving: installing 2 packages",
        "serving: verifying",
        "serving: switching",
        "serving: created generation g0001",
    ]
    assert "\x1b[" not in done.stdout  # no terminal: no escape codes


def test_apply_target_builds_only_that_env(project: Project) -> None:
    require_python("3.11")
    project.write(SERVING + TOOLS)
    lock(project)

    done = project.cli("apply", "--yes", "--target", "tools")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "tools") == ["g0001"]
    assert generations_of(project, "serving") == []
    assert json.loads(layout.bindings_path(project.root).read_text())["bindings"] == {
        "report": "tools"
    }


def _inodes(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(device, inode, link count) of every regular file under ``folder``."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            info = path.stat()
            found[str(path.relative_to(folder))] = (info.st_dev, info.st_ino, info.st_nlink)
    return found


@pytest.mark.parametrize(("link_mode", "shared"), [("auto", False), ("hardlink", True)])
def test_envs_share_inodes_with_the_uv_cache_only_when_link_mode_is_hardlink(
    project: Project, private_uv_cache: Path, link_mode: str, shared: bool
) -> None:
    setup(project, f'[settings]\nlink_mode = "{link_mode}"\n\n' + SERVING)
    site = next(gen_dir(project, "serving", "g0001").glob("lib/python*/site-packages"))
    installed = _inodes(site / "beta")
    cached = [_inodes(folder / "beta") for folder in private_uv_cache.glob("archive-v0/*")]
    cached_inodes = {(dev, ino) for files in cached for dev, ino, _ in files.values()}

    assert installed
    assert any(cached)  # the cache holds beta's files: the comparison below means something
    in_cache = [rel for rel, (dev, ino, _) in installed.items() if (dev, ino) in cached_inodes]
    receipt = json.loads(layout.receipt_path(gen_dir(project, "serving", "g0001")).read_text())
    if shared:
        assert in_cache == sorted(installed)
        assert receipt["link_mode"] == "hardlink"
    else:
        assert in_cache == []
        assert all(links == 1 for _, _, links in installed.values())
        assert receipt["link_mode"] in ("clone", "copy")


def test_apply_without_yes_refuses_when_stdin_is_not_a_terminal(project: Project) -> None:
    project.write(SERVING)
    lock(project)

    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=120,
    )

    assert done.returncode == 1
    assert "refusing to apply without --yes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not project.root.exists()  # not even the lock file: nothing was changed


@pytest.mark.parametrize(("answer", "applied"), [("no", False), ("yes", True)])
def test_apply_on_a_terminal_acts_only_on_the_answer_yes(
    project: Project, answer: str, applied: bool
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project.folder,
        )
        os.close(terminal)
        os.write(controller, f"{answer}\n".encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(controller)

    assert "Only 'yes' will be accepted" in out
    if applied:
        assert proc.returncode == 0, err
        assert link_of(project, "serving") == ".generations/serving/g0001"
    else:
        assert proc.returncode == 1
        assert "apply cancelled: nothing was changed." in err
        assert not (project.root / "serving").exists()
        assert not (project.root / layout.GENERATIONS).exists()


# --- replace, keep_generations ---------------------------------------------------------------


def test_changed_requirement_builds_a_new_generation_and_keeps_keep_generations(
    project: Project,
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))

    steps = plan_json(project)["steps"]

    assert [(s["id"], s["action"]) for s in steps] == [("env.serving", "replace")]
    assert {"lock_changed", "packages_drifted"} <= set(steps[0]["reasons"])

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert generations_of(project, "serving") == ["g0001", "g0002"]  # keep_generations = 2
    assert project.cli("plan", "--detailed-exitcode").returncode == 0

    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0", "gamma==1.0"'))
    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0003"
    assert generations_of(project, "serving") == ["g0002", "g0003"]
    assert trash_entries(project) == []


def test_pruning_never_removes_the_live_generation_even_with_keep_generations_1(
    project: Project,
) -> None:
    keep_one = "[settings]\nkeep_generations = 1\n\n"
    setup(project, keep_one + SERVING)
    relock(project, keep_one + SERVING.replace('"beta==1.0"', '"beta==2.0"'))

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0002"]
    assert link_of(project, "serving") == ".generations/serving/g0002"
    which = project.cli("which", "chat").stdout.strip()
    assert which == str(POSIX_VENV.interpreter(gen_dir(project, "serving", "g0002")))


# --- failures leave the live env untouched ----------------------------------------------------


def _break_wheel(project: Project, how: str) -> None:
    wheel = project.wheels / "beta-2.0-py3-none-any.whl"
    wheel.unlink()
    if how == "wheel_corrupted":  # same name, other bytes: the lockfile's hash no longer matches
        make_wheel(project.wheels, "beta", "2.0", files={"beta/__init__.py": "TAMPERED = 1\n"})
    # `lock` read the good wheel into the uv cache, which would still answer for it
    uv("cache", "clean", "--quiet", "beta")


@pytest.mark.parametrize("how", ["wheel_deleted", "wheel_corrupted"])
def test_failed_build_leaves_the_live_env_untouched_and_no_generation_behind(
    project: Project, how: str
) -> None:
    setup(project, SERVING)
    live = gen_dir(project, "serving", "g0001")
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    _break_wheel(project, how)
    before = snapshot(live)

    done = project.cli("apply", "--yes")

    assert done.returncode == 1
    assert error_line(done.stderr).startswith("error: env serving failed")
    assert "beta" in done.stderr
    if how == "wheel_corrupted":
        assert "Hash mismatch for `beta==2.0`" in done.stderr
    assert "Traceback" not in done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []
    assert json.loads(layout.bindings_path(project.root).read_text())["bindings"] == {
        "chat": "serving"
    }


def test_failed_verification_keeps_the_live_env_and_removes_the_new_generation(
    project: Project,
) -> None:
    make_wheel(project.wheels, "delta", "1.0")
    make_wheel(
        project.wheels,
        "delta",
        "2.0",
        files={"delta/__init__.py": "raise ImportError('delta 2.0 is broken')\n"},
    )
    body = SERVING.replace('imports = ["alpha", "beta"]', 'imports = ["alpha", "delta"]')
    setup(project, body.replace('"beta==1.0"', '"beta==1.0", "delta==1.0"'))
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    summary = '\n[models.summary]\nenv = "serving"\n'  # new: bound only after serving is
    relock(project, body.replace('"beta==1.0"', '"beta==1.0", "delta==2.0"') + summary)

    done = project.cli("apply", "--yes")

    assert done.returncode == 1
    assert "the new generation of serving failed verification" in done.stderr
    assert "delta 2.0 is broken" in done.stderr
    assert "the live env is untouched" in done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []
    assert json.loads(layout.bindings_path(project.root).read_text())["bindings"] == {
        "chat": "serving"
    }
    assert "no applied env yet" in project.cli("which", "summary").stderr


def test_a_corrupted_uv_cache_entry_is_purged_and_never_reaches_the_live_env(
    project: Project, private_uv_cache: Path
) -> None:
    setup(project, SERVING)
    cached = list(private_uv_cache.glob("archive-v0/*/beta/__init__.py"))
    assert len(cached) == 1, cached
    cached[0].write_text("VERSION = 'rotten'\n")
    relock(project, SERVING.replace('"beta==1.0"', '"beta==1.0", "gamma==1.0"'))

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "serving: bad files from the cache; purging beta" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0002"
    installed = next(gen_dir(project, "serving", "g0002").glob("lib/python*/site-packages"))
    assert (installed / "beta" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


def _lying_wheel(folder: Path, name: str, version: str) -> None:
    """A wheel whose module is empty where its RECORD says otherwise (a bad build, not a bad
    download: the lockfile hash, taken from this very file, matches). An empty file is never
    taken for an upstream RECORD defect: it is what a truncated cache entry looks like."""
    wheel = make_wheel(folder, name, version)
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[f"{name}/__init__.py"] = b""
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)


def test_files_still_bad_after_the_cache_purge_fail_the_apply_naming_them(
    project: Project, private_uv_cache: Path
) -> None:
    _lying_wheel(project.wheels, "liar", "1.0")
    setup(project, SERVING)
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==1.0", "liar==1.0"'))

    done = project.cli("apply", "--yes")

    assert done.returncode == 1
    assert "serving: bad files from the cache; purging liar" in done.stdout
    assert "upstream RECORD defect" not in done.stdout
    line = error_line(done.stderr)
    assert "the new generation of serving failed verification" in line
    assert "zero_byte: lib/python3.11/site-packages/liar/__init__.py" in line
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []


def test_a_missing_python_fails_only_its_env_naming_the_version(project: Project) -> None:
    """A missing 3.99 fails env future at once; serving, which does not depend on it, is
    still built and switched in, and the apply exits 1 naming what failed and what was done."""
    require_python("3.11")
    future = '\n[envs.future]\npython = "3.99"\nrequirements = ["gamma==1.0"]\n'
    project.write('[settings]\npython_downloads = "never"\n\n' + SERVING + future)
    lock(project)

    done = project.cli("apply", "--yes")

    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: env future needs Python 3.99")
    assert "which is not installed" in lines[0]
    assert "Traceback" not in done.stderr
    assert "Apply failed: 1 failed (env future)" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert generations_of(project, "serving") == ["g0001"]
    assert not (project.root / "future").exists()
    assert not (project.root / layout.GENERATIONS / "future").exists()


def test_permission_denied_during_a_build_leaves_the_live_env_untouched(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    setup(project, SERVING)
    preexec = as_plain_user()
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    generations = live.parent
    generations.chmod(0o555)
    readonly_cleanup.append(generations)

    done = cli_as(project, preexec, "apply", "--yes")

    generations.chmod(0o755)
    assert done.returncode == 1
    assert error_line(done.stderr).startswith("error: env serving failed")
    assert "Permission denied" in done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]


def _limit_file_size() -> None:
    """preexec_fn: files may not grow past 256 KiB, and writing past it is an error (EFBIG),
    not a signal; inherited by uv, so a big wheel fails mid-install like a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_a_full_disk_mid_install_removes_the_staging_generation(project: Project) -> None:
    big = os.urandom(1024 * 1024).hex()  # 2 MiB of text, hardly compressible
    make_wheel(project.wheels, "bulky", "1.0", files={"bulky/__init__.py": f"DATA = {big!r}\n"})
    setup(project, SERVING)
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==1.0", "bulky==1.0"'))

    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--yes"],
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=600,
        preexec_fn=_limit_file_size,
    )

    assert done.returncode == 1
    assert error_line(done.stderr).startswith("error: env serving failed")
    assert "installing the lockfile failed for serving" in done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []


def slow_import_wheels(project: Project, started: Path) -> None:
    """``slow`` 1.0, and 2.0 whose import touches ``started`` and then sleeps two minutes."""
    make_wheel(project.wheels, "slow", "1.0")
    make_wheel(
        project.wheels,
        "slow",
        "2.0",
        files={
            "slow/__init__.py": "\n".join(
                [
                    "import pathlib, time",
                    f"pathlib.Path({str(started)!r}).touch()",
                    "time.sleep(120)",
                ]
            )
        },
    )


def wait_for(path: Path, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "to"),
    [
        pytest.param(signal.SIGINT, "group", id="Ctrl-C"),
        pytest.param(signal.SIGTERM, "pid", id="SIGTERM-to-pid"),
        pytest.param(signal.SIGHUP, "group", id="SIGHUP-to-group"),
    ],
)
def test_ctrl_c_sigterm_or_sighup_during_a_build_stops_apply_and_its_probe_and_keeps_the_live_env(
    project: Project, tmp_path: Path, signum: int, to: str
) -> None:
    started = tmp_path / "slow-import-started"
    slow_import_wheels(project, started)
    body = SERVING.replace('imports = ["alpha", "beta"]', 'imports = ["slow"]')
    setup(project, body.replace('"beta==1.0"', '"beta==1.0", "slow==1.0"'))
    live = gen_dir(project, "serving", "g0001")
    before = snapshot(live)
    relock(project, body.replace('"beta==1.0"', '"beta==1.0", "slow==2.0"'))

    tag = new_tag()
    proc = start_apply(project, tag=tag)
    try:
        # the new generation is being verified: a probe runs, importing slow for two minutes
        wait_for(started, proc, "the build never reached verification")
        assert generations_of(project, "serving") == ["g0001", "g0002"]
        send(proc, signum, to)
        out, err = proc.communicate(timeout=60)  # one signal is enough; the sleep is 120 s
        left = wait_for_no_survivors(tag)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_survivors(tag)

    assert proc.returncode == 1, out + err
    assert error_line(err).startswith(f"error: interrupted by {signal.Signals(signum).name}: ")
    assert "Traceback" not in err
    assert left == [], f"the probe outlived apply: {left}"
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert snapshot(live) == before
    assert generations_of(project, "serving") == ["g0001"]
    assert trash_entries(project) == []


@pytest.mark.parametrize("command", ["plan", "status", "which chat"])
def test_sigterm_stops_a_reading_command_and_its_probe_with_one_sentence_and_exit_1(
    project: Project, tmp_path: Path, command: str
) -> None:
    started = tmp_path / "slow-import-started"
    slow_import_wheels(project, started)
    body = SERVING.replace('imports = ["alpha", "beta"]', 'imports = ["slow"]')
    setup(project, body.replace('"beta==1.0"', '"beta==1.0", "slow==1.0"'))
    # the live env now holds the slow import, which every probe of it runs
    project.install(gen_dir(project, "serving", "g0001"), "slow==2.0")

    tag = new_tag()
    proc = start_reconcile(project, *command.split(), tag=tag)
    try:
        wait_for(started, proc, f"{command} never probed the env")
        os.kill(proc.pid, signal.SIGTERM)  # as `timeout` and `kill` do
        out, err = proc.communicate(timeout=60)
        left = wait_for_no_survivors(tag)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_survivors(tag)

    assert (proc.returncode, error_lines(err)) == (1, ["error: interrupted by SIGTERM."]), out + err
    assert left == [], f"the probe outlived {command}: {left}"


def test_ctrl_c_while_waiting_for_the_lock_exits_1_and_changes_nothing(
    project: Project, lock_holder: LockHolders
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    holder = lock_holder(project.root)
    waiter: subprocess.Popen[str] | None = None
    try:
        waiter = start_apply(project, "--lock-timeout", "60")
        assert waiter.stderr is not None
        assert waiter.stderr.readline().startswith("waiting up to 60 s for the lock")
        os.killpg(waiter.pid, signal.SIGINT)
        _, err = waiter.communicate(timeout=60)
    finally:
        holder.communicate("", timeout=30)
        if waiter is not None and waiter.poll() is None:
            os.killpg(waiter.pid, signal.SIGKILL)
            waiter.wait()

    assert waiter.returncode == 1, err  # SPEC 4: 0, 1 or 2, everywhere
    assert error_line(err) == "error: interrupted by SIGINT."
    assert "Traceback" not in err
    assert generations_of(project, "serving") == ["g0001"]


# --- saved plans ------------------------------------------------------------------------------


def _save_plan(project: Project) -> None:
    done = project.cli("plan", "--out", "p.json")
    assert done.returncode == 0, done.stderr


def _apply_saved(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "p.json"],
        stdin=subprocess.DEVNULL,  # no terminal: a saved plan needs no confirmation
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=600,
    )


def test_a_saved_plan_applies_without_confirmation(project: Project) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    _save_plan(project)

    done = _apply_saved(project)

    assert done.returncode == 0, done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


def test_a_saved_plan_is_stale_after_the_manifest_a_lockfile_the_root_or_an_env_changes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))  # a replace is pending
    lockfile = project.folder / "lockfiles" / "serving.txt"
    manifest_text, lock_text = project.manifest.read_text(), lockfile.read_text()
    stranger = project.root / "stranger"

    def reviewed_manifest() -> None:
        project.manifest.write_text(manifest_text + "# reviewed\n")

    def reviewed_lockfile() -> None:
        lockfile.write_text(seal(lock_text + "# reviewed\n"))  # as a new `reconcile lock` may

    def changed_env() -> None:
        project.install(project.root / "serving", "gamma==1.0")

    changes: list[tuple[Callable[[], None], str]] = [
        (reviewed_manifest, "the manifest changed"),
        (reviewed_lockfile, "lockfile serving changed"),
        (stranger.mkdir, "stranger appeared in the root"),
        (changed_env, "env serving changed"),  # last: it cannot be undone
    ]
    saved = str(project.folder / "p.json")
    for change, why in changes:
        # in-process, four times over: test_a_saved_plan_applies_without_confirmation runs
        # the same commands as processes
        assert main(["--manifest", str(project.manifest), "plan", "--out", saved]) == 0
        change()
        capsys.readouterr()

        code = main(["--manifest", str(project.manifest), "apply", saved])

        stderr = capsys.readouterr().err
        assert code == 1, why
        assert error_line(stderr).startswith("error: plan is stale: "), why
        assert why in stderr
        assert link_of(project, "serving") == ".generations/serving/g0001"
        assert generations_of(project, "serving") == ["g0001"]
        project.manifest.write_text(manifest_text)
        lockfile.write_text(lock_text)
        if stranger.exists():
            stranger.rmdir()


def test_stale_checks_cover_an_env_that_did_not_exist_when_planned(project: Project) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    _save_plan(project)
    apply(project)  # someone else created it in the meantime

    done = _apply_saved(project)

    assert done.returncode == 1
    assert "plan is stale" in done.stderr
    assert "env serving changed" in done.stderr


def test_target_with_a_saved_plan_is_a_usage_error(project: Project) -> None:
    project.write(SERVING)
    lock(project)
    _save_plan(project)

    done = project.cli("apply", "p.json", "--target", "serving")

    assert done.returncode == 1
    assert "--target cannot be used with a saved plan" in done.stderr
    assert not project.root.exists()


# --- the lock ---------------------------------------------------------------------------------


def test_apply_with_lock_timeout_0_fails_at_once_naming_the_holder_while_reads_go_on(
    project: Project, lock_holder: LockHolders
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    holder = lock_holder(project.root)
    try:
        start = time.monotonic()
        done = project.cli("apply", "--yes", "--lock-timeout", "0")
        elapsed = time.monotonic() - start
        planned = project.cli("plan")
        which = project.cli("which", "chat")
        others = [project.cli("gc", "--lock-timeout", "0")]
        rolled = project.cli("rollback", "serving", "--lock-timeout", "0")
    finally:
        holder.communicate("", timeout=30)

    assert done.returncode == 1
    assert f"pid {holder.pid}, `reconcile apply --yes`, started " in done.stderr
    assert elapsed < 10  # the default would wait 600 s
    for other in others:  # the other mutating commands take the same lock
        assert other.returncode == 1
        assert f"pid {holder.pid}" in error_line(other.stderr)
    # nothing to roll back to: refused before it would wait for the lock
    assert rolled.returncode == 1
    assert "no complete generation older than g0001" in error_line(rolled.stderr)
    assert generations_of(project, "serving") == ["g0001"]
    assert planned.returncode == 0, planned.stderr
    assert "-/+" in planned.stdout
    assert which.returncode == 0, which.stderr
    assert which.stdout.strip() == str(POSIX_VENV.interpreter(gen_dir(project, "serving", "g0001")))


def test_apply_waits_for_the_lock_and_proceeds_when_the_holder_finishes(
    project: Project, lock_holder: LockHolders
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    holder = lock_holder(project.root)
    waiter: subprocess.Popen[str] | None = None
    try:
        assert holder.stdin is not None
        waiter = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--yes", "--lock-timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project.folder,
        )
        assert waiter.stderr is not None
        notice = waiter.stderr.readline()  # printed after about a second of waiting
        assert notice.startswith("waiting up to 60 s for the lock (pid ")
        assert generations_of(project, "serving") == ["g0001"]  # nothing done while waiting
        holder.stdin.close()
        _, err = waiter.communicate(timeout=120)
    finally:
        holder.wait(timeout=30)
        if waiter is not None and waiter.poll() is None:
            waiter.kill()
            waiter.wait()

    assert waiter.returncode == 0, err
    assert link_of(project, "serving") == ".generations/serving/g0002"


# --- rollback and gc --------------------------------------------------------------------------


def test_rollback_switches_to_the_previous_generation_and_which_follows(
    project: Project,
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    apply(project)
    assert link_of(project, "serving") == ".generations/serving/g0002"

    done = project.cli("rollback", "serving")

    assert done.returncode == 0, done.stderr
    assert "serving now runs generation g0001" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert generations_of(project, "serving") == ["g0001", "g0002"]
    assert [p.name for p in project.root.iterdir() if ".switch-" in p.name] == []
    g0001_python = str(POSIX_VENV.interpreter(gen_dir(project, "serving", "g0001")))
    assert project.cli("which", "chat").stdout.strip() == g0001_python

    again = project.cli("rollback", "serving")

    assert again.returncode == 1
    assert "no complete generation older than g0001" in again.stderr
    assert link_of(project, "serving") == ".generations/serving/g0001"


def test_rollback_of_an_env_never_applied_is_a_clear_error(project: Project) -> None:
    project.write(SERVING)
    lock(project)

    done = project.cli("rollback", "serving")

    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: serving has no live generation under {project.root}; nothing to roll back."
    ]


def test_gc_dry_run_lists_and_keeps_gc_removes_leftovers_and_keep_1_keeps_only_the_live(
    project: Project,
) -> None:
    keep_three = "[settings]\nkeep_generations = 3\n\n"
    setup(project, keep_three + SERVING)
    relock(project, keep_three + SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    apply(project)
    relock(project, keep_three + SERVING.replace('"beta==1.0"', '"beta==2.0", "gamma==1.0"'))
    apply(project)
    assert project.cli("rollback", "serving").returncode == 0  # live: g0002, the middle one
    _, incomplete = generations.next_generation_path(project.root, "serving")  # then killed
    assert incomplete == gen_dir(project, "serving", "g0004")
    (incomplete / "bin").mkdir(parents=True)
    removals.record(project.root, "trash", project.root / layout.TRASH / "serving-1234abcd")
    trash = project.root / layout.TRASH / "serving-1234abcd" / "lib"  # renamed, then killed
    trash.mkdir(parents=True)
    (trash / "left.py").write_text("")
    everything = snapshot(project.root)

    dry = project.cli("gc", "--keep", "1", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    would = sorted(line.removeprefix("would remove ") for line in dry.stdout.splitlines())
    assert would == sorted(
        [
            str(gen_dir(project, "serving", "g0001")),
            str(gen_dir(project, "serving", "g0003")),
            str(incomplete),
            str(project.root / layout.TRASH / "serving-1234abcd"),
        ]
    )
    assert snapshot(project.root) == everything

    done = project.cli("gc")  # keep_generations = 3: only the leftovers go

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002", "g0003"]
    assert trash_entries(project) == []

    done = project.cli("gc", "--keep", "1")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0002"]
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert trash_entries(project) == []
    assert project.cli("plan", "--detailed-exitcode").returncode == 2  # g0002 is not g0003


def test_gc_and_its_dry_run_say_so_when_there_is_nothing_to_remove(project: Project) -> None:
    setup(project, SERVING)

    runs = [project.cli("gc", "--dry-run"), project.cli("gc")]
    quiet = [project.cli("--quiet", "gc", "--dry-run"), project.cli("--quiet", "gc")]

    for done in runs:
        assert (done.returncode, done.stdout, done.stderr) == (0, "Nothing to remove.\n", "")
    for done in quiet:
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert generations_of(project, "serving") == ["g0001"]


# --- removal (SPEC 7.7) -----------------------------------------------------------------------


def test_deleting_an_undeclared_env_never_follows_a_link_out_of_the_root(
    project: Project, tmp_path: Path
) -> None:
    setup(project, SERVING + TOOLS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    tools = gen_dir(project, "tools", "g0001")
    (tools / "escape").symlink_to(outside, target_is_directory=True)
    site = next(tools.glob("lib/python*/site-packages"))
    (site / "escape-too").symlink_to(outside / "precious.txt")
    project.write(SERVING)

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "Apply complete: 1 deleted, 1 unbound." in done.stdout
    assert "warning" not in done.stderr
    assert not (project.root / "tools").exists()
    assert not (project.root / "tools").is_symlink()
    assert not (project.root / layout.GENERATIONS / "tools").exists()
    assert (outside / "precious.txt").read_text() == "keep me"
    assert trash_entries(project) == []
    assert link_of(project, "serving") == ".generations/serving/g0001"


def test_deleting_an_env_clears_read_only_bits_and_leaves_nothing_in_the_trash(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    setup(project, SERVING + TOOLS)
    preexec = as_plain_user()
    tools = gen_dir(project, "tools", "g0001")
    read_only = [next(tools.glob("lib/python*/site-packages/gamma")), tools / "bin"]
    for folder in read_only:
        folder.chmod(0o555)
    readonly_cleanup.extend(read_only)
    project.write(SERVING)

    done = cli_as(project, preexec, "apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert not (project.root / layout.GENERATIONS / "tools").exists()
    assert trash_entries(project) == []


def test_what_cannot_be_removed_is_reported_and_gc_finishes_it_later(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    preexec = tools_with_a_folder_of_another_user(project, readonly_cleanup)

    done = cli_as(project, preexec, "apply", "--yes")

    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings
    assert all("could not remove" in line for line in warnings)
    assert any("gamma/__init__.py: Permission denied" in line for line in warnings)
    assert not (project.root / "tools").is_symlink()
    assert not (project.root / layout.GENERATIONS / "tools").exists()  # moved to the trash
    assert len(trash_entries(project)) == 1

    done = project.cli("gc")  # as a user who may remove it

    assert done.returncode == 0, done.stderr
    assert trash_entries(project) == []


def test_apply_with_nothing_to_change_still_shows_what_plan_warns_of(project: Project) -> None:
    setup(project, SERVING)
    (project.root / "stray").mkdir()  # an entry in the root reconcile did not make

    planned = project.cli("plan")
    applied = project.cli("apply", "--yes")
    quiet = project.cli("apply", "--yes", "--quiet")

    assert applied.returncode == 0, applied.stderr
    assert applied.stdout == planned.stdout
    assert "Warning: stray in the root is not declared" in applied.stdout
    assert applied.stdout.splitlines()[-1] == "No changes. Environments match envs.toml."
    assert quiet.stdout.splitlines() == ["No changes. Environments match envs.toml."]
    assert (project.root / "stray").is_dir()
