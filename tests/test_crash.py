"""Crash safety (SPEC 7.5): a real `reconcile apply` is SIGKILLed, at every named fault point
(``RECONCILE_FAULT=<point>@<env or model>``, see reconciler/faults.py) and at random times,
and what it leaves behind is checked.

One scenario is applied once per module and snapshotted: two envs (serving, tools) and three
models. The manifest is then changed so that the next apply replaces serving (a new lockfile),
creates batch, deletes tools and moves two models to batch. Before each run the project is
restored from the snapshot to the same path (venvs are not relocatable), the apply is killed,
and then:

(a) every env link that exists names a complete generation (receipt present) of its own env
    whose interpreter imports exactly the versions of the lockfile its receipt names;
(b) bindings.json parses, each model is bound to its old env or its new one, and resolves to
    a live generation;
(c) `reconcile plan --format json` shows exactly the steps that are left;
(d) the next apply converges: exit 0, `plan --detailed-exitcode` exits 0, and the root holds
    what an uninterrupted apply leaves: no incomplete generation, no trash, no stray
    `.switch-` link or temporary file, and no generation beyond keep_generations.

The apply runs in its own process group and the whole group is killed afterwards, so no
orphaned uv child keeps writing while the invariants are checked.

SIGTERM, SIGHUP and SIGINT are not kills but interruptions (SPEC 4): sent to reconcile's pid
(as `kill` and `timeout` do) or to its process group (as a terminal and a CI runner do) while
uv builds, or at fault points (``RECONCILE_FAULT=<point>@<target>:<SIGNAL>``), apply exits 1
in one sentence, no uv or probe process outlives it (they carry a tag in their environment,
found through /proc), the build in flight is gone, (a) to (c) hold and (d) the next apply
converges. A signal after every change was made (``faults.LATE_POINTS``) undoes nothing and is
reported after the report; one that was ignored when apply started stays ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler import faults
from reconciler.commands.which import resolve_loaded
from reconciler.observe.inputs import load_manifest
from reconciler.platform import POSIX_VENV
from reconciler.spec.lockfile import parse_lockfile
from reconciler.store import layout
from reconciler.store.system import current
from tests.helpers import require_python
from tests.processes import (
    default_signals,
    kill_survivors,
    new_tag,
    survivors,
    tagged,
    wait_for_no_survivors,
)
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow  # applies killed mid-build with the real uv

SOURCES = """\
[settings]
keep_generations = 1  # so that the replace prunes (and a kill can land in the prune)

[settings.sources]
find_links = ["wheels"]
no_index = true
"""

BEFORE = (
    SOURCES
    + """
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha", "beta"]

[envs.tools]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.chat]
env = "serving"

[models.summarize]
env = "serving"

[models.report]
env = "tools"
"""
)

AFTER = (
    SOURCES
    + """
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0", "beta==1.0"]
imports = ["alpha", "beta"]

[envs.batch]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.chat]
env = "serving"

[models.summarize]
env = "batch"

[models.report]
env = "batch"
"""
)

OLD_BINDINGS = {"chat": "serving", "report": "tools", "summarize": "serving"}
NEW_BINDINGS = {"chat": "serving", "report": "batch", "summarize": "batch"}
ENV_KEYS = ("batch", "serving", "tools")
PLANNED = {
    "env.batch": "create",
    "env.serving": "replace",
    "env.tools": "delete",
    "model.report": "rebind",
    "model.summarize": "rebind",
}

# Every fault point, for each env or model that passes it where the states differ (steps run
# in parallel, so a bare point name would stop at whichever comes first).
FAULTS = (
    "before_build@serving",
    "after_venv@serving",
    "after_sync@serving",
    "after_verify@serving",
    "after_receipt@serving",  # complete, not switched to: newer than the live generation
    "after_receipt@batch",
    "during_switch@serving",
    "during_switch@batch",
    "after_switch@serving",  # switched, old generation not pruned
    "after_switch@batch",
    "after_prune@serving",
    "after_bindings@report",
    "after_bindings@summarize",
    "after_unlink@tools",
    "during_removal@serving",  # the prune
    "during_removal@tools",  # the delete
    "after_trash@tools",
)

STARTUP_KILLS = 3
WRITING_KILLS = 10
RANDOM_SEED = 20261122

VERSIONS_SCRIPT = (
    "import importlib, json, sys; "
    "print(json.dumps({m: importlib.import_module(m).VERSION for m in sys.argv[1:]}))"
)


@dataclass(frozen=True)
class Scenario:
    """A project folder restored from an applied snapshot before every run."""

    work: Path
    snapshot: Path
    environ: Mapping[str, str]
    pins: Mapping[str, Mapping[str, Mapping[str, str]]]
    """env key -> lockfile sha256 -> {module: version}: what each allowed generation holds."""
    new_serving_lock: str

    @property
    def manifest(self) -> Path:
        return self.work / "envs.toml"

    @property
    def root(self) -> Path:
        return self.work / ".envs"

    def restore(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        shutil.copytree(self.snapshot, self.work, symlinks=True)

    def start(
        self,
        *args: str,
        fault: str | None = None,
        tag: str | None = None,
        preexec: Callable[[], None] = default_signals,
    ) -> subprocess.Popen[str]:
        """Start ``reconcile ARGS`` in its own process group (so its uv children can be
        killed with it), with the signals at their defaults (``preexec``), and ``tag`` in its
        environment (see tests/processes.py)."""
        environ = dict(self.environ) if tag is None else tagged(tag, dict(self.environ))
        if fault is not None:
            environ[faults.ENV_VAR] = fault
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.work,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=preexec,
        )

    def cli(self, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
        process = self.start(*args, fault=fault)
        try:
            stdout, stderr = process.communicate(timeout=300)
        finally:
            kill_group(process)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process and every child still in its group (orphaned uv runs)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)


def wait_for_first_build(process: subprocess.Popen[str]) -> bool:
    """Read apply's progress lines until the first build starts (False: it never did)."""
    assert process.stdout is not None
    return any(line.rstrip().endswith(": creating venv") for line in process.stdout)


def time_apply(scenario: Scenario) -> tuple[float, float]:
    """Time an uninterrupted apply: (start to its first build, first build to "Apply
    complete")."""
    scenario.restore()
    started = time.monotonic()
    process = scenario.start("apply", "--yes")
    assert wait_for_first_build(process)
    building = time.monotonic()
    assert process.stdout is not None
    assert any(line.startswith("Apply complete") for line in process.stdout)
    finished = time.monotonic()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    return building - started, finished - building


def _environ(uv_cache: Path) -> dict[str, str]:
    """The same isolation as conftest's autouse fixture, for a module-scoped fixture."""
    environ = dict(os.environ)
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "VIRTUAL_ENV"):
        environ.pop(name, None)
    environ.pop(faults.ENV_VAR, None)
    environ.update(
        UV_CACHE_DIR=str(uv_cache), UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1", NO_COLOR="1"
    )
    return environ


def _pins(text: str) -> tuple[str, dict[str, str]]:
    lock = parse_lockfile(text, "test")
    return lock.sha256, {p.name: p.version for p in lock.packages}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    require_python("3.11")
    base = tmp_path_factory.mktemp("crash")
    work, snapshot = base / "project", base / "snapshot"
    make_wheel(work / "wheels", "alpha", "1.0", requires=["beta>=1.0"])
    make_wheel(work / "wheels", "beta", "1.0")
    make_wheel(work / "wheels", "beta", "2.0")
    make_wheel(work / "wheels", "gamma", "1.0")
    setup = Scenario(work, snapshot, _environ(tmp_path_factory.getbasetemp() / "uv-cache"), {}, "")
    lockfiles = work / "lockfiles"

    setup.manifest.write_text(BEFORE, encoding="utf-8")
    for args in (("lock",), ("apply", "--yes")):
        done = setup.cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    old = {key: _pins((lockfiles / f"{key}.txt").read_text()) for key in ("serving", "tools")}

    setup.manifest.write_text(AFTER, encoding="utf-8")
    done = setup.cli("lock")
    assert done.returncode == 0, done.stdout + done.stderr
    new = {key: _pins((lockfiles / f"{key}.txt").read_text()) for key in ("serving", "batch")}
    assert old["serving"][1] != new["serving"][1], "the replace must change what is installed"

    shutil.copytree(work, snapshot, symlinks=True)
    yield Scenario(
        work,
        snapshot,
        setup.environ,
        {
            "serving": dict([old["serving"], new["serving"]]),
            "tools": dict([old["tools"]]),
            "batch": dict([new["batch"]]),
        },
        new["serving"][0],
    )


# --- invariants ------------------------------------------------------------------------------


def live_generation(scenario: Scenario, env_key: str) -> Path | None:
    """The generation ``<root>/<env_key>`` names, or None when there is no link."""
    link = layout.env_link(scenario.root, env_key)
    if not link.is_symlink():
        assert not link.exists(), f"{link} is a real folder, not a link"
        return None
    target = link.resolve()
    assert target.parent == (scenario.root / layout.GENERATIONS / env_key).resolve(), (
        f"{link} points at {target}, not at one of its own generations"
    )
    return target


def receipt_lock(generation: Path) -> str:
    receipt = layout.receipt_path(generation)
    assert receipt.is_file(), f"the live generation {generation} has no receipt (incomplete)"
    data: dict[str, Any] = json.loads(receipt.read_text(encoding="utf-8"))
    return str(data["lockfile_sha256"])


def check_live_envs(scenario: Scenario) -> dict[str, str]:
    """(a): every existing env link names a complete generation that imports what its receipt
    says, old or new, never a mix. Returns env key -> lockfile sha256 of the live generation."""
    live: dict[str, str] = {}
    for key in ENV_KEYS:
        generation = live_generation(scenario, key)
        if generation is None:
            continue
        sha = receipt_lock(generation)
        assert sha in scenario.pins[key], f"{key} runs a generation built from an unknown lock"
        expected = scenario.pins[key][sha]
        probe = subprocess.run(
            [str(POSIX_VENV.interpreter(generation)), "-c", VERSIONS_SCRIPT, *sorted(expected)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert probe.returncode == 0, f"{key}'s live generation cannot import: {probe.stderr}"
        assert json.loads(probe.stdout) == expected, f"{key} holds a mix of generations"
        live[key] = sha
    return live


def check_bindings(scenario: Scenario, live: Mapping[str, str]) -> dict[str, str]:
    """(b): bindings.json parses; each model is bound to its old or its new env, and that env
    is live, so `which` and `run` hand out a working interpreter."""
    data = json.loads(layout.bindings_path(scenario.root).read_text(encoding="utf-8"))
    bindings: dict[str, str] = data["bindings"]
    assert sorted(bindings) == sorted(OLD_BINDINGS)
    loaded = load_manifest(scenario.manifest)
    for model, env_key in bindings.items():
        assert env_key in (OLD_BINDINGS[model], NEW_BINDINGS[model]), f"{model} -> {env_key}"
        assert env_key in live, f"{model} is bound to {env_key}, which is not live"
        resolved = resolve_loaded(loaded, model, platform=current())
        assert (resolved.env_key, resolved.source) == (env_key, "env")
        assert resolved.env_dir == live_generation(scenario, env_key)
    return bindings


def check_plan_shows_what_is_left(
    scenario: Scenario, live: Mapping[str, str], bindings: Mapping[str, str]
) -> int:
    """(c): the plan holds exactly the planned steps that the killed apply did not finish;
    returns how many are left."""
    left = {}
    if "batch" not in live:
        left["env.batch"] = "create"
    if live.get("serving") != scenario.new_serving_lock:
        left["env.serving"] = "replace"
    if "tools" in live:
        left["env.tools"] = "delete"
    for model, env_key in bindings.items():
        if env_key != NEW_BINDINGS[model]:
            left[f"model.{model}"] = PLANNED[f"model.{model}"]
    done = scenario.cli("plan", "--format", "json")
    assert done.returncode == 0, done.stderr
    steps = {step["id"]: step["action"] for step in json.loads(done.stdout)["steps"]}
    assert steps == left
    return len(left)


def check_invariants(scenario: Scenario) -> int:
    """(a), (b) and (c) after a kill; returns how many planned steps are left."""
    live = check_live_envs(scenario)
    bindings = check_bindings(scenario, live)
    assert "serving" in live, "serving is replaced, never removed"
    return check_plan_shows_what_is_left(scenario, live, bindings)


def leftovers(scenario: Scenario) -> list[str]:
    """What a killed apply left that an uninterrupted one would not: incomplete generations,
    trash, switch links, temporary files."""
    root = scenario.root
    found = [
        str(generation.relative_to(root))
        for generation in root.glob(f"{layout.GENERATIONS}/*/g*")
        if not layout.receipt_path(generation).is_file()
    ]
    found += [str(p.relative_to(root)) for p in root.glob(f"{layout.GENERATIONS}/*/..last.*")]
    found += [str(p.relative_to(root)) for p in root.glob(f"{layout.TRASH}/*")]
    found += [p.name for p in root.glob(".*.switch-*")]
    found += [str(p.relative_to(root)) for p in root.glob(f"{layout.STATE}/.*")]
    return found


def check_converges(scenario: Scenario) -> None:
    """(d): the next apply finishes the job and leaves a clean root."""
    done = scenario.cli("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr, done.stderr
    done = scenario.cli("plan", "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr

    live = check_live_envs(scenario)
    assert live == {
        "batch": next(iter(scenario.pins["batch"])),
        "serving": scenario.new_serving_lock,
    }
    assert check_bindings(scenario, live) == NEW_BINDINGS

    root = scenario.root
    assert leftovers(scenario) == []
    assert {p.name for p in root.iterdir()} - {layout.TRASH, layout.CACHE} == {
        "batch",
        "serving",
        layout.GENERATIONS,
        layout.STATE,
        layout.LOCK,
    }
    assert [p.name for p in (root / layout.STATE).iterdir()] == ["bindings.json"]
    generations = root / layout.GENERATIONS
    kept = {
        p.name: sorted(g.name for g in p.iterdir() if g.name != ".last") if p.is_dir() else []
        for p in generations.iterdir()
    }
    live_ids = {key: [path.name] for key in live if (path := live_generation(scenario, key))}
    assert kept == live_ids, "keep_generations = 1 keeps the live generation only"


# --- tests -----------------------------------------------------------------------------------


def test_every_fault_point_is_exercised() -> None:
    assert sorted({fault.partition("@")[0] for fault in FAULTS}) == sorted(faults.POINTS)


@pytest.mark.parametrize("point", FAULTS)
def test_apply_killed_at_a_fault_point_leaves_old_or_new_and_the_next_apply_converges(
    scenario: Scenario, point: str
) -> None:
    scenario.restore()

    done = scenario.cli("apply", "--yes", fault=point)

    assert done.returncode == -signal.SIGKILL, (
        f"apply did not reach {point}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    check_invariants(scenario)
    check_converges(scenario)


def test_apply_killed_at_random_times_leaves_old_or_new_and_the_next_apply_converges(
    scenario: Scenario,
) -> None:
    # the shortest of two runs: a kill planned past the end of a slow run would hit nothing
    startup, writing = min(time_apply(scenario), time_apply(scenario), key=sum)

    # Kills spread over an uninterrupted run, one in each equal slice of it: a few over the
    # start (imports, lock, plan), where nothing is written yet, and most over the part that
    # writes (from the first build's progress line to "Apply complete"), timed from that line
    # so that the variable start-up time of a loaded machine does not push them out of it.
    rng = random.Random(RANDOM_SEED)  # noqa: S311  reproducible timings, not secrets
    kills = [
        (False, startup * (i + rng.random()) / STARTUP_KILLS) for i in range(STARTUP_KILLS)
    ] + [(True, writing * (i + rng.random()) / WRITING_KILLS) for i in range(WRITING_KILLS)]
    killed_while_writing = 0
    for run, (from_first_build, delay) in enumerate(kills):
        scenario.restore()
        process = scenario.start("apply", "--yes")
        if from_first_build:
            assert wait_for_first_build(process), f"run {run}: apply never started a build"
        time.sleep(delay)
        kill_group(process)
        anchor = "the first build" if from_first_build else "start"
        what = (
            f"run {run}: killed {delay:.3f} s after {anchor} "
            f"(start-up {startup:.3f} s, writing {writing:.3f} s)"
        )
        try:
            left = check_invariants(scenario)
            mid_apply = 0 < left < len(PLANNED) or bool(leftovers(scenario))
            check_converges(scenario)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from exc
        killed_while_writing += process.returncode == -signal.SIGKILL and mid_apply
    assert killed_while_writing >= WRITING_KILLS // 3, (
        f"only {killed_while_writing} of {WRITING_KILLS} kills left a half-done apply behind"
    )


# --- SIGTERM, SIGHUP and SIGINT: stopped, not killed (SPEC 4) ---------------------------------
#
# `timeout` and `kill` signal reconcile's pid alone; a terminal and a CI runner signal its
# process group. Either way uv and the probes, which run in sessions of their own, must be
# stopped by reconcile, the build in flight removed and the live envs left as they were.

SIGNALLED = (
    pytest.param(signal.SIGTERM, "pid", id="SIGTERM-to-pid"),
    pytest.param(signal.SIGTERM, "group", id="SIGTERM-to-group"),
    pytest.param(signal.SIGHUP, "pid", id="SIGHUP-to-pid"),
    pytest.param(signal.SIGINT, "group", id="SIGINT-to-group"),
)

SIGNAL_FAULTS = (
    "before_build@serving:SIGTERM",
    "after_sync@serving:SIGHUP",
    "during_switch@batch:SIGINT",
    "during_removal@tools:SIGTERM",
)

LATE_SIGNALS = ("after_apply:SIGTERM", "during_unlock:SIGHUP", "after_report:SIGINT")
"""Signals that land once apply has made every change (faults.LATE_POINTS)."""

APPLIED = "Apply complete: 1 created, 1 replaced, 1 deleted, 2 rebound."


def send(process: subprocess.Popen[str], signum: int, to: str) -> None:
    if to == "group":
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def assert_interrupted(stderr: str, signum: int) -> None:
    """One sentence naming the signal, no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: interrupted by {signal.Signals(signum).name}"), stderr


def wait_for_a_build(scenario: Scenario, process: subprocess.Popen[Any], tag: str) -> str:
    """Until a process that reconcile started works on a new generation (uv creating or
    filling it, or a probe checking it), not on one that was there (the plan's probes);
    returns that process."""
    generations = scenario.root / layout.GENERATIONS
    there = {str(path) for path in generations.glob("*/g*")}
    deadline = time.monotonic() + 120
    while True:
        for line in survivors(tag, but=process.pid):
            for word in line.split():
                if word.startswith(str(generations)):
                    generation = str(Path(*Path(word).parts[: len(generations.parts) + 2]))
                    if generation not in there:
                        return line
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "apply never started a build"
        time.sleep(0.002)


def run_to_the_end(scenario: Scenario, process: subprocess.Popen[str], tag: str) -> list[str]:
    """Wait for reconcile (and reap it); what it left running, after a short grace."""
    try:
        process.communicate(timeout=120)
        return wait_for_no_survivors(tag)
    finally:
        kill_group(process)
        kill_survivors(tag)


@pytest.mark.parametrize(("signum", "to"), SIGNALLED)
def test_sigterm_sighup_or_sigint_while_uv_builds_stops_every_child_and_the_next_apply_converges(
    scenario: Scenario, signum: int, to: str
) -> None:
    scenario.restore()
    tag = new_tag()
    process = scenario.start("apply", "--yes", tag=tag)
    try:
        wait_for_a_build(scenario, process, tag)
        send(process, signum, to)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        left = run_to_the_end(scenario, process, tag)

    assert process.returncode == 1, stdout + stderr
    assert_interrupted(stderr, signum)
    assert left == [], f"still running after reconcile exited: {left}"
    assert leftovers(scenario) == [], "the build in flight was not removed"
    check_invariants(scenario)
    check_converges(scenario)


@pytest.mark.parametrize("fault", SIGNAL_FAULTS)
def test_a_signal_at_a_fault_point_stops_apply_in_one_sentence_and_the_next_apply_converges(
    scenario: Scenario, fault: str
) -> None:
    scenario.restore()
    tag = new_tag()
    process = scenario.start("apply", "--yes", fault=fault, tag=tag)
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        left = run_to_the_end(scenario, process, tag)

    assert process.returncode == 1, stdout + stderr
    assert_interrupted(stderr, signal.Signals[fault.rpartition(":")[2]])
    assert left == [], f"still running after reconcile exited: {left}"
    check_invariants(scenario)
    check_converges(scenario)


def test_every_late_point_is_exercised() -> None:
    late = {fault.partition(":")[0] for fault in LATE_SIGNALS} | {"exiting"}
    assert sorted(late) == sorted(faults.LATE_POINTS)


@pytest.mark.parametrize("fault", LATE_SIGNALS)
def test_a_signal_after_the_apply_completed_is_one_sentence_and_exit_1_and_nothing_is_undone(
    scenario: Scenario, fault: str
) -> None:
    scenario.restore()

    done = scenario.cli("apply", "--yes", fault=fault)

    name = fault.rpartition(":")[2]
    assert done.returncode == 1, done.stdout + done.stderr
    assert APPLIED in done.stdout.splitlines(), done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert error_lines(done.stderr) == [
        f"error: interrupted by {name} after the apply completed; nothing was undone."
    ]
    check_converges(scenario)


def test_a_signal_once_the_exit_code_is_decided_neither_kills_reconcile_nor_changes_its_code(
    scenario: Scenario,
) -> None:
    scenario.restore()

    done = scenario.cli("apply", "--yes", fault="exiting:SIGTERM")

    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert APPLIED in done.stdout.splitlines(), done.stdout
    check_converges(scenario)


@pytest.mark.parametrize("name", ["SIGHUP", "SIGINT"])
def test_a_signal_ignored_when_apply_started_stays_ignored(scenario: Scenario, name: str) -> None:
    """``nohup`` starts a command with SIGHUP ignored, a shell a background job with SIGINT
    ignored: the user chose, and apply carries on."""
    scenario.restore()
    signum = signal.Signals[name]

    def ignoring() -> None:
        default_signals()
        signal.signal(signum, signal.SIG_IGN)

    process = scenario.start("apply", "--yes", fault=f"after_venv@serving:{name}", preexec=ignoring)
    try:
        stdout, stderr = process.communicate(timeout=300)
    finally:
        kill_group(process)

    assert (process.returncode, stderr) == (0, ""), stdout + stderr
    assert APPLIED in stdout.splitlines(), stdout
    check_converges(scenario)


def test_sighup_after_the_terminal_went_away_still_stops_uv_and_the_next_apply_converges(
    scenario: Scenario,
) -> None:
    """An SSH session drops: apply runs on a terminal (the live progress display), the
    terminal is gone (every write to it fails) and SIGHUP arrives. uv is stopped, the build in
    flight removed, and apply exits 1 with its one sentence (here, stderr is a log file)."""
    scenario.restore()
    tag = new_tag()
    terminal, apply_side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--yes"],
        cwd=scenario.work,
        env=tagged(tag, dict(scenario.environ)),
        stdin=apply_side,
        stdout=apply_side,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    os.close(apply_side)
    try:
        wait_for_a_build(scenario, process, tag)
        os.close(terminal)
        os.kill(process.pid, signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
        left = wait_for_no_survivors(tag)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
        kill_survivors(tag)

    assert process.returncode == 1, stderr
    assert_interrupted(stderr, signal.SIGHUP)
    assert left == [], f"still running after reconcile exited: {left}"
    assert leftovers(scenario) == [], "the build in flight was not removed"
    check_invariants(scenario)
    check_converges(scenario)
