"""Model -> interpreter: `reconcile which`, `reconcile run` and `reconciler.resolve()` against
real applied envs (SPEC 7.1, 7.6, 8).

They hand out the live generation's own path, never the ``<root>/<env_key>`` link, and they
read the applied bindings, never the manifest's unapplied wishes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import reconciler
from reconciler import EnvNotAvailable
from reconciler.errors import ReconcileError
from reconciler.platform import POSIX_VENV
from reconciler.store import layout
from tests.apply_helpers import apply, gen_dir, link_of, lock, relock, setup, snapshot
from tests.helpers import Project, require_python, uv
from tests.processes import LockHolders, default_signals
from tests.wheels import make_wheel

SERVING = """\
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[models.chat]
env = "serving"
"""

WITH_FALLBACK = """\
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[envs.legacy]
adopt = "legacy-venv"
imports = ["gamma"]

[models.chat]
env = "serving"
fallback = "legacy"
"""


NOT_APPLIED = "model chat has no applied env yet: run `reconcile apply` to build and bind it."


def python_of(project: Project, env_key: str, gen_id: str = "g0001") -> Path:
    return POSIX_VENV.interpreter(gen_dir(project, env_key, gen_id))


def build_legacy(project: Project) -> Path:
    """An env built by someone else, for reconcile to adopt."""
    python = require_python("3.11")
    folder = project.folder / "legacy-venv"
    uv("venv", "--quiet", "--python", str(python), str(folder))
    uv(
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(project.wheels),
        "--python",
        str(POSIX_VENV.interpreter(folder)),
        "gamma==1.0",
    )
    return folder


# --- which / run / resolve ---------------------------------------------------------------------


def test_which_prints_the_interpreter_inside_the_live_generation_not_the_link(
    project: Project,
) -> None:
    setup(project, SERVING)

    done = project.cli("which", "chat")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    printed = Path(done.stdout.strip())
    assert printed == python_of(project, "serving")
    assert printed != POSIX_VENV.interpreter(project.root / "serving")
    folder = printed.parent.parent
    assert Path(os.path.realpath(folder)) == folder  # no link on the way: pinned to g0001


def test_run_activates_the_env_and_passes_the_exit_code_through(project: Project) -> None:
    setup(project, SERVING)
    script = (
        "import os, sys, alpha; "
        "print(os.environ['VIRTUAL_ENV']); "
        "print(os.environ['PATH'].split(os.pathsep)[0]); "
        "print(sys.prefix); "
        "sys.exit(7)"
    )

    done = project.cli("run", "chat", "--", "python", "-c", script)

    assert done.returncode == 7, done.stderr
    env_dir = gen_dir(project, "serving", "g0001")
    assert done.stdout.splitlines() == [str(env_dir), str(env_dir / "bin"), str(env_dir)]

    assert project.cli("run", "chat", "--", "python", "-c", "pass").returncode == 0
    waited = project.cli("run", "chat", "--wait-timeout", "5", "--", "python", "-c", "print(1)")
    assert (waited.returncode, waited.stdout, waited.stderr) == (0, "1\n", "")


GRACEFUL = """\
import pathlib, signal, sys, time
def stop(signum, frame):
    print("cleaned up", flush=True)
    sys.exit(3)
signal.signal(signal.SIGINT, stop)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
sys.exit("no Ctrl-C came")
"""


def start_run(project: Project, command: list[str]) -> subprocess.Popen[str]:
    """``reconcile run chat -- COMMAND`` in a process group of its own (Ctrl-C reaches both,
    as on a terminal), with the signals at their defaults."""
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "run", "chat", "--", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.folder,
        start_new_session=True,
        preexec_fn=default_signals,
    )


def wait_until_ready(ready: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def run_and_signal(
    project: Project,
    tmp_path: Path,
    script: str,
    send: Callable[[subprocess.Popen[str]], None],
) -> tuple[int, str, str]:
    """``reconcile run chat -- python -c SCRIPT READY``; once the command has touched READY,
    ``send(process)`` signals reconcile; returns its exit code, stdout and stderr. A run still
    going when the test fails is killed with its group."""
    setup(project, SERVING)
    ready = tmp_path / "ready"
    proc = start_run(project, ["python", "-c", script, str(ready)])
    try:
        wait_until_ready(ready, proc)
        send(proc)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err


def test_run_leaves_ctrl_c_to_the_command_and_passes_its_exit_code_through(
    project: Project, tmp_path: Path
) -> None:
    done = run_and_signal(
        project, tmp_path, GRACEFUL, lambda proc: os.killpg(proc.pid, signal.SIGINT)
    )

    assert done == (3, "cleaned up\n", "")


STOPPABLE = """\
import os, pathlib, signal, sys, time
def stop(signum, frame):
    print(signal.Signals(signum).name, flush=True)
    os._exit(3)
for name in ("SIGINT", "SIGTERM", "SIGHUP"):
    signal.signal(getattr(signal, name), stop)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
sys.exit("no signal came")
"""


@pytest.mark.parametrize(
    ("signum", "to"),
    [
        pytest.param(signal.SIGTERM, "pid", id="SIGTERM-to-pid"),
        pytest.param(signal.SIGHUP, "pid", id="SIGHUP-to-pid"),
        pytest.param(signal.SIGTERM, "group", id="SIGTERM-to-group"),
    ],
)
def test_run_forwards_sigterm_and_sighup_to_the_command_and_passes_its_exit_code_through(
    project: Project, tmp_path: Path, signum: int, to: str
) -> None:
    kill = os.killpg if to == "group" else os.kill
    code, out, err = run_and_signal(
        project, tmp_path, STOPPABLE, lambda proc: kill(proc.pid, signum)
    )

    # to the group, the command gets the signal twice (from the sender and forwarded): any
    # program asked to end twice ends once
    name = signal.Signals(signum).name
    assert (code, err) == (3, "")
    assert out.splitlines()[:1] == [name] and set(out.splitlines()) == {name}, out


def test_run_forwards_sigint_sent_to_reconcile_alone_from_the_second_one_on(
    project: Project, tmp_path: Path
) -> None:
    """The first SIGINT is taken for the terminal's Ctrl-C, which the command got too."""

    def twice(proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None, "reconcile ended on a SIGINT its command never saw"
        os.kill(proc.pid, signal.SIGINT)

    done = run_and_signal(project, tmp_path, STOPPABLE, twice)

    assert done == (3, "SIGINT\n", "")


def test_run_without_a_command_is_a_usage_error(project: Project) -> None:
    setup(project, SERVING)

    done = project.cli("run", "chat")

    assert done.returncode == 1
    assert "nothing to run" in done.stderr


def test_resolve_returns_the_generation_interpreter_env_key_source_and_health(
    project: Project,
) -> None:
    setup(project, SERVING)

    resolved = reconciler.resolve("chat", manifest=project.manifest)

    assert resolved.python == python_of(project, "serving")
    assert resolved.env_key == "serving"
    assert resolved.source == "env"
    assert resolved.healthy is True
    assert resolved.generation == "g0001"


def test_resolve_follows_a_switch_and_a_rollback(project: Project) -> None:
    make_wheel(project.wheels, "alpha", "2.0", requires=["beta>=1.0"])
    setup(project, SERVING)
    relock(project, SERVING.replace("alpha==1.0", "alpha==2.0"))
    apply(project)

    assert reconciler.resolve("chat", manifest=project.manifest).generation == "g0002"
    assert project.cli("rollback", "serving").returncode == 0
    resolved = reconciler.resolve("chat", manifest=project.manifest)
    assert resolved.generation == "g0001"
    assert resolved.python == python_of(project, "serving", "g0001")


# --- applied bindings, not wishes (SPEC 7.6) ----------------------------------------------------


def test_a_model_never_applied_is_an_actionable_error(project: Project) -> None:
    project.write(SERVING)
    lock(project)

    which = project.cli("which", "chat")
    run = project.cli("run", "chat", "--", "python", "-c", "pass")

    for done in (which, run):
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr.splitlines() == [f"error: {NOT_APPLIED}"]
    with pytest.raises(EnvNotAvailable, match="reconcile apply"):
        reconciler.resolve("chat", manifest=project.manifest)
    assert issubclass(EnvNotAvailable, ReconcileError)


def test_an_unknown_model_is_an_error_that_says_how_to_declare_it(project: Project) -> None:
    setup(project, SERVING)

    done = project.cli("which", "chta")

    assert done.returncode == 1
    assert "model chta is not declared" in done.stderr
    assert "reconcile apply" in done.stderr


def test_which_uses_the_applied_binding_until_a_manifest_edit_is_applied(
    project: Project,
) -> None:
    tools = '\n[envs.tools]\npython = "3.11"\nrequirements = ["gamma==1.0"]\n'
    setup(project, SERVING + tools)
    relock(project, (SERVING + tools).replace('env = "serving"', 'env = "tools"'))

    before = project.cli("which", "chat")
    apply(project)
    after = project.cli("which", "chat")

    assert before.stdout.strip() == str(python_of(project, "serving"))
    assert after.stdout.strip() == str(python_of(project, "tools"))


# --- fallback ---------------------------------------------------------------------------------


def test_a_broken_env_falls_back_with_one_warning_line(project: Project) -> None:
    legacy = build_legacy(project)
    setup(project, WITH_FALLBACK)
    python_of(project, "serving").unlink()

    done = project.cli("which", "chat")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(POSIX_VENV.interpreter(legacy))
    warnings = done.stderr.splitlines()
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("warning: env serving: its interpreter")
    assert "runs in its fallback legacy" in warnings[0]
    assert "reconcile apply" in warnings[0]

    resolved = reconciler.resolve("chat", manifest=project.manifest)

    assert resolved.source == "fallback"
    assert resolved.env_key == "legacy"
    assert resolved.python == POSIX_VENV.interpreter(legacy)
    assert resolved.healthy is True

    ran = project.cli("run", "chat", "--", "python", "-c", "import gamma, sys; print(sys.prefix)")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(legacy)
    assert len(ran.stderr.splitlines()) == 1


def test_a_model_whose_env_and_fallback_are_both_broken_is_an_error(project: Project) -> None:
    legacy = build_legacy(project)
    setup(project, WITH_FALLBACK)
    python_of(project, "serving").unlink()
    POSIX_VENV.interpreter(legacy).unlink()

    done = project.cli("which", "chat")

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: model chat cannot run: env serving: its interpreter")
    assert "its fallback legacy is not usable either (its interpreter " in lines[0]
    assert "reconcile apply" in lines[0]
    with pytest.raises(EnvNotAvailable):
        reconciler.resolve("chat", manifest=project.manifest)


def site_of(project: Project, env_key: str, gen_id: str = "g0001") -> Path:
    return next(gen_dir(project, env_key, gen_id).glob("lib/python*/site-packages"))


def test_a_zero_byte_file_in_the_env_falls_back_with_one_warning_naming_it(
    project: Project,
) -> None:
    legacy = build_legacy(project)
    setup(project, WITH_FALLBACK)
    (site_of(project, "serving") / "alpha" / "__init__.py").write_bytes(b"")

    done = project.cli("which", "chat")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(POSIX_VENV.interpreter(legacy))
    assert done.stderr.splitlines() == [
        "warning: env serving: 1 file is corrupted (zero_byte alpha/__init__.py); model chat "
        "runs in its fallback legacy. Run `reconcile apply` to fix its env."
    ]
    resolved = reconciler.resolve("chat", manifest=project.manifest)
    assert (resolved.source, resolved.env_key) == ("fallback", "legacy")
    assert resolved.problem == "env serving: 1 file is corrupted (zero_byte alpha/__init__.py)"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            "uninstalled",  # `pip uninstall alpha` by hand: no RECORD left to check, no module
            "env serving: import of alpha fails: ModuleNotFoundError: No module named 'alpha'",
        ),
    ],
    ids=["uninstalled"],
)
def test_an_env_that_fails_its_probe_falls_back(
    project: Project, edit: tuple[str, str] | str, problem: str
) -> None:
    build_legacy(project)
    setup(project, WITH_FALLBACK)
    if edit == "uninstalled":
        shutil.rmtree(site_of(project, "serving") / "alpha")
        shutil.rmtree(site_of(project, "serving") / "alpha-1.0.dist-info")
    else:
        project.write(WITH_FALLBACK.replace(*edit))  # what the env must offer: the manifest's

    resolved = reconciler.resolve("chat", manifest=project.manifest)
    done = project.cli("which", "chat")

    assert (resolved.source, resolved.env_key) == ("fallback", "legacy")
    assert resolved.problem is not None and resolved.problem.startswith(problem)
    assert done.returncode == 0, done.stderr
    [warning] = done.stderr.splitlines()
    assert warning.startswith(f"warning: {problem}")


def test_an_unapplied_imports_edit_never_turns_a_working_generation_away(
    project: Project,
) -> None:
    build_legacy(project)
    setup(project, WITH_FALLBACK)
    project.write(WITH_FALLBACK.replace('imports = ["alpha"]', 'imports = ["alpha", "nope"]'))

    done = project.cli("which", "chat")

    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip() == str(python_of(project, "serving"))


def test_a_negative_wait_timeout_is_a_usage_error(project: Project) -> None:
    done = project.cli("which", "chat", "--wait-timeout", "-1")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: reconcile which: argument --wait-timeout: expected seconds >= 0, got '-1'; "
        "see `reconcile which --help`."
    ]
    with pytest.raises(ValueError, match="wait timeout"):
        reconciler.resolve("chat", manifest=project.manifest, wait=True, timeout=-1)


def test_an_adopted_env_no_longer_declared_is_forgotten_and_its_files_left_alone(
    project: Project,
) -> None:
    legacy = build_legacy(project)
    setup(project, WITH_FALLBACK)
    before = snapshot(legacy)
    project.write(SERVING)

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "legacy: forgotten (its files are left alone)" in done.stdout
    assert snapshot(legacy) == before
    assert not json.loads(layout.bindings_path(project.root).read_text())["adopted"]
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


# --- a running process and a switch (SPEC 7.1) ------------------------------------------------

IMPORT_TWICE = """\
import json, pathlib, sys, time
import mod_a
ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go on")
    time.sleep(0.02)
import mod_b
print(json.dumps({"a": mod_a.VERSION, "b": mod_b.VERSION, "b_file": mod_b.__file__}))
"""


def _two_module_wheel(folder: Path, version: str) -> None:
    make_wheel(
        folder,
        "twomods",
        version,
        files={"mod_a.py": f"VERSION = {version!r}\n", "mod_b.py": f"VERSION = {version!r}\n"},
    )


def test_a_process_started_through_which_reads_one_generation_across_a_switch(
    project: Project, tmp_path: Path
) -> None:
    _two_module_wheel(project.wheels, "1.0")
    _two_module_wheel(project.wheels, "2.0")
    manifest = SERVING.replace('"alpha==1.0"', '"alpha==1.0", "twomods==1.0"')
    setup(project, manifest)
    which = project.cli("which", "chat").stdout.strip()
    go = tmp_path / "go"
    starts = {
        "which": [which],
        "run": [sys.executable, "-m", "reconciler", "run", "chat", "--", "python"],
        "link": [str(POSIX_VENV.interpreter(project.root / "serving"))],  # for contrast
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, argv in starts.items():
            ready = tmp_path / f"ready-{name}"
            procs[name] = subprocess.Popen(
                [*argv, "-c", IMPORT_TWICE, str(ready), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=project.folder,
            )
            deadline = time.monotonic() + 60
            while not ready.exists():  # mod_a is imported
                assert procs[name].poll() is None, procs[name].communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)

        relock(project, manifest.replace("twomods==1.0", "twomods==2.0"))
        apply(project)
        assert link_of(project, "serving") == ".generations/serving/g0002"
        go.touch()
        seen = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            seen[name] = json.loads(out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    old = gen_dir(project, "serving", "g0001")
    assert old.is_dir()  # kept (keep_generations = 2) while processes may read it
    for name in ("which", "run"):
        assert (seen[name]["a"], seen[name]["b"]) == ("1.0", "1.0"), name
        assert Path(seen[name]["b_file"]).is_relative_to(old), name
    # Started through the link, Python built sys.path from <root>/serving: after the switch
    # that path names the new generation, so one process ran with modules of both.
    assert (seen["link"]["a"], seen["link"]["b"]) == ("1.0", "2.0")
    assert Path(seen["link"]["b_file"]).is_relative_to(project.root / "serving")


def test_applied_bindings_and_receipts_are_readable_by_the_users_who_run_models(
    project: Project,
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)

    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--yes"],
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=600,
        preexec_fn=lambda: os.umask(0o022) and None,  # the usual umask of an admin
    )

    assert done.returncode == 0, done.stderr
    for path in (
        layout.bindings_path(project.root),
        layout.receipt_path(gen_dir(project, "serving", "g0001")),
        project.folder / "lockfiles" / "serving.txt",
    ):
        assert path.stat().st_mode & 0o777 == 0o644, path


# --- waiting for a running apply -------------------------------------------------------------


def test_which_wait_returns_the_env_once_the_running_apply_makes_it_usable(
    project: Project, lock_holder: LockHolders
) -> None:
    setup(project, SERVING)
    python = python_of(project, "serving")
    aside = python.with_name("python.aside")
    python.rename(aside)
    holder = lock_holder(project.root)
    waiter: subprocess.Popen[str] | None = None
    try:
        waiter = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "which", "chat", "--wait-timeout", "120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=project.folder,
        )
        assert waiter.stderr is not None
        notice = waiter.stderr.readline()
        assert waiter.poll() is None  # still waiting
        aside.rename(python)  # the apply made the env usable
        out, err = waiter.communicate(timeout=60)  # while the lock is still held
    finally:
        holder.communicate("", timeout=30)
        if waiter is not None and waiter.poll() is None:
            waiter.kill()
            waiter.wait()

    assert notice == (
        f"waiting up to 120 s for the apply (pid {holder.pid}, `reconcile apply --yes`, started "
        + notice.split(", started ", 1)[1]
    )
    assert notice.endswith(") to make model chat's env usable...\n")
    assert waiter.returncode == 0, err
    assert (out.strip(), err) == (str(python), "")


def test_without_wait_a_running_apply_is_named_and_with_wait_the_timeout_is_kept(
    project: Project, lock_holder: LockHolders
) -> None:
    setup(project, SERVING)
    python_of(project, "serving").unlink()
    holder = lock_holder(project.root)
    try:
        at_once = project.cli("which", "chat")
        start = time.monotonic()
        with pytest.raises(EnvNotAvailable) as waited:
            reconciler.resolve("chat", manifest=project.manifest, wait=True, timeout=1.5)
        elapsed = time.monotonic() - start
    finally:
        holder.communicate("", timeout=30)
    start = time.monotonic()
    with pytest.raises(EnvNotAvailable) as released:
        reconciler.resolve("chat", manifest=project.manifest, wait=True, timeout=60)
    after_release = time.monotonic() - start

    who = f"(pid {holder.pid}, `reconcile apply --yes`, started "
    [line] = at_once.stderr.splitlines()
    assert at_once.returncode == 1
    assert line.startswith("error: model chat cannot run: env serving: its interpreter ")
    assert f"; an apply is running now {who}" in line
    assert line.endswith("pass --wait to wait for it (wait=True in Python).")
    message = str(waited.value)
    assert f"; waited 1.5 s for the apply {who}" in message
    assert message.endswith("check that apply, or run `reconcile apply` once it has finished.")
    assert 1.5 <= elapsed < 10
    # no apply running: the usual error at once, however long the caller would wait
    assert str(released.value).endswith("; run `reconcile apply` to rebuild it.")
    assert after_release < 10


def test_resolve_takes_the_root_the_envs_were_applied_to_as_which_takes_root(
    project: Project,
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    elsewhere = project.folder.parent / f"{project.folder.name}-fast-disk"
    done = project.cli("apply", "--yes", "--root", str(elsewhere))
    assert done.returncode == 0, done.stderr
    which = project.cli("which", "chat", "--root", str(elsewhere))

    resolved = reconciler.resolve("chat", manifest=project.manifest, root=elsewhere)

    assert resolved.python == Path(which.stdout.strip())
    assert resolved.python.is_relative_to(elsewhere / ".generations" / "serving")
    with pytest.raises(EnvNotAvailable):  # the manifest's own root holds nothing applied
        reconciler.resolve("chat", manifest=project.manifest)
    with pytest.raises(ReconcileError, match="root"):  # checked as --root is
        reconciler.resolve("chat", manifest=project.manifest, root=project.folder)
