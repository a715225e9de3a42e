"""Observation and health of real venvs, judged the way `reconcile plan` judges them.

Each test builds an env with the real uv from a real lockfile, breaks it one way, and checks
what the plan makes of it: the step's action, its reasons and its details.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.cli.app import main
from reconciler.commands.gate import structure_problem
from reconciler.commands.plan import PlanRun, make_plan
from reconciler.core.health import Expectation, assess, structure
from reconciler.core.plan import Plan, Step
from reconciler.observe.env import EnvRequest, observe_env
from reconciler.observe.inputs import load_manifest, read_lockfile
from reconciler.observe.integrity import check_env, scope_of
from reconciler.observe.look import look_at
from reconciler.platform import POSIX_VENV
from reconciler.store import generations, layout
from reconciler.store.posix import PosixStoreOps
from reconciler.store.system import current
from tests.helpers import Project, build_env, require_python, uv
from tests.wheels import make_wheel

POSIX_OPS = PosixStoreOps()

ENV = "work"


def lock(project: Project) -> None:
    """Write the lockfiles in-process: faster than a subprocess; test_lock.py covers `lock`."""
    assert main(["--manifest", str(project.manifest), "--quiet", "lock"]) == 0


def declare(
    project: Project, *, python: str = "3.11", imports: tuple[str, ...] = (), extra: str = ""
) -> None:
    """Declare one managed env ``work`` (alpha 1.0, which pulls beta 2.0) and lock it."""
    names = ", ".join(f'"{name}"' for name in imports)
    project.write(
        f'[envs.{ENV}]\npython = "{python}"\nrequirements = ["alpha==1.0"]\n'
        f"imports = [{names}]\n{extra}"
    )
    lock(project)


def lockfile(project: Project, env_key: str = ENV) -> Path:
    return project.folder / "lockfiles" / f"{env_key}.txt"


def run_plan(project: Project) -> PlanRun:
    return make_plan(load_manifest(project.manifest), platform=current())


def plan_of(project: Project) -> Plan:
    return run_plan(project).plan


def env_step(plan: Plan, env_key: str = ENV) -> Step:
    """The one step of ``env_key``; fail if there is none or several."""
    found = [s for s in plan.steps if s.kind == "env" and s.target == env_key]
    assert len(found) == 1, plan.steps
    return found[0]


def occupied(project: Project, what: str = "a folder") -> str:
    """The detail a plan adds when something reconcile did not make sits at the env's place
    (these tests build it there by hand): apply stops at that env until it is moved."""
    return (
        f"{project.root / ENV} is {what} that reconcile did not create: apply stops at this "
        "env until it is moved away (reconcile never deletes it)"
    )


def wrap_interpreter(python: Path, before: str) -> None:
    """Replace a venv's ``bin/python`` with a shell script that runs ``before``, then the env.

    The real interpreter moves to ``bin/python-real`` (``python3`` links to ``python``), so
    the script's process still runs inside the venv.
    """
    real = python.with_name("python-real")
    python.rename(real)
    python.write_text(f'#!/bin/sh\n{before}\nexec "{real}" "$@"\n')
    python.chmod(0o755)


def pip(env: Path, *args: str) -> None:
    """Change an env's packages with the real uv, offline."""
    uv("pip", *args, "--quiet", "--python", str(POSIX_VENV.interpreter(env)))


def test_observation_of_a_healthy_env_reports_its_python_packages_and_receipt(
    project: Project,
) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha", "beta"))
    env = project.build(ENV, python)

    facts = observe_env(
        EnvRequest(ENV, env, ("alpha", "beta"), confine_to=project.root), venv=POSIX_VENV
    )

    assert facts.kind == "dir"
    assert facts.probe is not None, facts.probe_error
    assert facts.probe.version.startswith("3.11.")
    assert dict(facts.probe.marker_env)["python_version"] == "3.11"
    assert facts.probe.import_failures == ()
    assert [(d.name, d.version) for d in facts.installed] == [("alpha", "1.0"), ("beta", "2.0")]
    assert facts.created_by_reconcile
    assert facts.base_interpreter_present is True
    assert facts.missing_activation == ()
    assert facts.activation_venv_path == str(env.resolve())
    lock = read_lockfile(load_manifest(project.manifest), ENV)
    health = assess(facts, Expectation(python="3.11", lock=lock, managed=True))
    assert health.healthy, health.findings


def test_plan_creates_env_that_does_not_exist(project: Project) -> None:
    declare(project)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("create", ("missing",))
    assert (step.python, step.packages) == ("3.11", 2)


def test_plan_replaces_env_whose_interpreter_is_missing(project: Project) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    env = project.build(ENV, python)
    POSIX_VENV.interpreter(env).unlink()

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("interpreter_broken",))
    assert step.details == ("interpreter_broken: the interpreter is missing", occupied(project))


def test_plan_replaces_env_whose_interpreter_does_not_run(project: Project) -> None:
    python = require_python("3.11")
    declare(project)
    env = project.build(ENV, python)
    interpreter = POSIX_VENV.interpreter(env)
    interpreter.unlink()
    interpreter.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
    interpreter.chmod(0o755)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("interpreter_broken",))
    assert step.details == (
        "interpreter_broken: the interpreter exited with code 3: cannot start",
        occupied(project),
    )


def test_plan_replaces_env_whose_pyvenv_cfg_is_missing(project: Project) -> None:
    python = require_python("3.11")
    declare(project)
    env = project.build(ENV, python)
    (env / "pyvenv.cfg").unlink()

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("pyvenv_cfg_missing",))


def test_plan_replaces_env_whose_python_version_differs_from_the_manifest(
    project: Project,
) -> None:
    require_python("3.11")
    python312 = require_python("3.12")
    declare(project, python="3.11", imports=("alpha",))
    project.build(ENV, python312)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("python_changed",))
    [detail, note] = step.details
    assert note == occupied(project)
    assert detail.startswith("python_changed: Python 3.12.")
    assert detail.endswith("installed, 3.11 declared")


def test_plan_replaces_env_whose_base_interpreter_is_gone(project: Project) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    env = project.build(ENV, python)
    gone = project.folder / "uninstalled-python" / "bin"
    cfg = env / "pyvenv.cfg"
    lines = cfg.read_text().splitlines()
    assert any(line.startswith("home = ") for line in lines)
    rewritten = [f"home = {gone}" if line.startswith("home = ") else line for line in lines]
    cfg.write_text("\n".join(rewritten) + "\n")

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("base_interpreter_missing",))
    assert step.details == (
        f"base_interpreter_missing: the base interpreter folder {gone} is gone",
        occupied(project),
    )


def test_plan_replaces_env_whose_activation_script_is_missing(project: Project) -> None:
    python = require_python("3.11")
    declare(project)
    env = project.build(ENV, python)
    (env / "bin" / "activate").unlink()

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("activation_missing",))
    assert step.details == ("activation_missing: bin/activate is missing", occupied(project))


def test_plan_replaces_env_whose_import_probe_fails(project: Project) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha", "nosuchmodule"))
    project.build(ENV, python)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("probe_failed",))
    assert step.details == (
        "probe_failed: import nosuchmodule: ModuleNotFoundError: No module named 'nosuchmodule'",
        occupied(project),
    )


def test_an_import_that_resolves_to_a_namespace_package_fails_the_probe(
    project: Project,
) -> None:
    """alpha/__init__.py deleted: ``import alpha`` still works (as a namespace package),
    but a declared import must be a regular module or package."""
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    env = project.build(ENV, python)
    init = next(env.glob("lib/python3.11/site-packages/alpha/__init__.py"))
    init.unlink()

    step = env_step(plan_of(project))

    assert step.action == "replace"
    assert "probe_failed" in step.reasons  # beside the finding of the missing file
    assert (
        "probe_failed: import alpha: alpha imports as a namespace package: its __init__.py "
        "is missing"
    ) in step.details


def test_a_regular_package_inside_a_namespace_package_passes_the_probe(
    project: Project,
) -> None:
    """Only the declared name itself must be regular: ``nsp.sub`` passes, ``nsp`` (a
    namespace package on purpose, as ``google`` is) does not."""
    python = require_python("3.11")
    make_wheel(project.wheels, "nsp-sub", "1.0", files={"nsp/sub/__init__.py": "X = 1\n"})
    project.write(
        f'[envs.{ENV}]\npython = "3.11"\nrequirements = ["nsp-sub==1.0"]\n'
        'imports = ["nsp.sub", "nsp"]\n'
    )
    lock(project)
    project.build(ENV, python)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("probe_failed",))
    assert step.details == (
        "probe_failed: import nsp: nsp imports as a namespace package: its __init__.py is missing",
        occupied(project),
    )


def test_plan_replaces_env_whose_packages_drifted_from_the_lockfile(project: Project) -> None:
    python = require_python("3.11")
    declare(project)
    env = project.build(ENV, python)
    pip(env, "uninstall", "alpha")
    pip(env, "install", "--no-index", "--find-links", str(project.wheels), "beta==1.0", "gamma")

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("packages_drifted",))
    assert step.details == (
        "packages_drifted: missing: alpha==1.0",
        "packages_drifted: wrong version: beta 1.0 (lockfile: 2.0)",
        "packages_drifted: extra: gamma 1.0",
        occupied(project),
    )


def test_plan_replaces_env_that_was_moved_after_creation(project: Project) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    made_at = build_env(project.folder / "made-here", python, lockfile(project), project.wheels)
    project.root.mkdir()
    made_at.rename(project.root / ENV)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("env_moved",))
    assert step.details == (
        f"env_moved: made for {made_at}, now at {project.root / ENV}",
        occupied(project),
    )


def test_plan_replaces_env_in_the_root_that_reconcile_did_not_build(project: Project) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    project.build(ENV, python, receipt=False)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("not_created_by_reconcile",))


def test_plan_never_runs_the_interpreter_of_a_link_that_resolves_outside_the_root(
    project: Project,
) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    outside = build_env(project.folder / "outside", python, lockfile(project), project.wheels)
    started = project.folder / "outside-python-started.log"
    wrap_interpreter(POSIX_VENV.interpreter(outside), f'echo started >> "{started}"')
    subprocess.run([str(POSIX_VENV.interpreter(outside)), "-c", "pass"], check=True, timeout=60)
    assert started.read_text() == "started\n"  # the spy works: each start adds a line
    project.root.mkdir()
    (project.root / ENV).symlink_to(outside)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("replace", ("outside_root",))
    assert step.details == (
        f"outside_root: the link resolves outside the root, to {outside}",
        occupied(project, f"a link to {outside}"),
    )
    assert started.read_text() == "started\n"


def test_plan_creates_env_whose_link_is_broken(project: Project) -> None:
    declare(project)
    project.root.mkdir()
    gone = project.folder / "deleted-generation"
    (project.root / ENV).symlink_to(gone)

    step = env_step(plan_of(project))

    assert (step.action, step.reasons) == ("create", ("missing",))
    assert step.details == (
        f"missing: the link points at {gone}, which is gone",
        occupied(project, f"a link to {gone}"),
    )


def test_plan_deletes_undeclared_env_it_created_and_only_warns_about_one_it_did_not(
    project: Project,
) -> None:
    python = require_python("3.11")
    declare(project, imports=("alpha",))
    project.build(ENV, python)
    _, generation = generations.next_generation_path(project.root, "retired")  # as apply does
    build_env(generation, python, lockfile(project), project.wheels)
    generations.switch(project.root, "retired", generation, ops=POSIX_OPS)
    build_env(project.root / "by-hand", python, lockfile(project), project.wheels, receipt=False)
    build_env(project.root / "copied", python, lockfile(project), project.wheels)  # a receipt,
    (project.root / ".staging").mkdir()  # but no link; the tool's own bookkeeping is no env

    plan = plan_of(project)

    assert [(s.id, s.action, s.reasons) for s in plan.steps] == [
        ("env.retired", "delete", ("not_declared",))
    ]
    assert plan.warnings == (
        "by-hand in the root is not declared and was not created by reconcile; it is left alone",
        "copied in the root is not declared and was not created by reconcile; it is left alone",
    )


def test_plan_never_deletes_undeclared_link_that_resolves_outside_the_root(
    project: Project,
) -> None:
    python = require_python("3.11")
    declare(project)
    # A venv elsewhere that even carries a receipt: reconcile must still not claim it.
    outside = build_env(project.folder / "outside", python, lockfile(project), project.wheels)
    assert layout.receipt_path(outside).is_file()
    project.root.mkdir()
    (project.root / "linked").symlink_to(outside)

    plan = plan_of(project)

    assert [s.id for s in plan.steps] == ["env.work"]
    assert plan.warnings == (
        "linked in the root is not declared and was not created by reconcile; it is left alone",
    )


def test_plan_warns_about_unhealthy_adopted_env_and_never_rebuilds_it(project: Project) -> None:
    python = require_python("3.11")
    adopted = (
        '\n[envs.legacy]\nadopt = "legacy/.venv"\nimports = ["nosuchmodule"]\n'
        '\n[envs.legacy-ok]\nadopt = "legacy-ok/.venv"\nimports = ["alpha"]\n'
    )
    declare(project, extra=adopted)
    for name in ("legacy", "legacy-ok"):
        venv = project.folder / name / ".venv"
        build_env(venv, python, lockfile(project), project.wheels, receipt=False)

    plan = plan_of(project)

    assert [(s.id, s.action) for s in plan.steps] == [("env.work", "create")]
    [warning] = plan.warnings
    assert warning.startswith(
        "adopted env legacy (legacy/.venv) is unhealthy: import nosuchmodule: "
    )
    assert "reconcile never rebuilds an adopted env" in warning
    assert "receipt" not in warning  # adopted envs were never expected to carry one


def test_plan_probes_every_env_once_and_all_of_them_concurrently(project: Project) -> None:
    python = require_python("3.11")
    keys = ("a", "b", "c")
    project.write(
        "".join(f'[envs.{k}]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n' for k in keys)
    )
    lock(project)
    started, log = project.folder / "started", project.folder / "probes.log"
    started.mkdir()
    for key in keys:
        env = project.build(key, python)
        # Each probe waits (up to 30 s) until all three have started: only concurrent probes
        # can all report "together". Each start appends one line, so the log counts processes.
        wrap_interpreter(
            POSIX_VENV.interpreter(env),
            f'touch "{started}/{key}"\n'
            "n=0\n"
            f'while [ "$(ls "{started}" | wc -l)" -lt 3 ] && [ "$n" -lt 300 ]; do\n'
            "  sleep 0.1; n=$((n + 1))\n"
            "done\n"
            f'if [ "$n" -lt 300 ]; then echo "{key} together" >> "{log}"; '
            f'else echo "{key} alone" >> "{log}"; fi',
        )

    run = run_plan(project)

    assert sorted(log.read_text().splitlines()) == ["a together", "b together", "c together"]
    assert sorted(run.fingerprint["observed"]) == ["a", "b", "c"]
    assert run.plan.steps == ()


def _home(env: Path, value: str) -> None:
    cfg = env / "pyvenv.cfg"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    rewritten = [f"home = {value}" if line.startswith("home = ") else line for line in lines]
    cfg.write_text("\n".join(rewritten) + "\n", encoding="utf-8")


def _replace_interpreter(env: Path, make: Callable[[Path], None]) -> None:
    python = POSIX_VENV.interpreter(env)
    python.unlink()
    make(python)


def _plain_file(path: Path) -> None:
    path.write_text("#!/bin/sh\n")  # mode 0o644: no one may execute it


def _empty_activate(env: Path) -> None:
    (env / "bin" / "activate").write_bytes(b"")  # there, but it activates nothing


def _empty_executable(path: Path) -> None:
    path.write_bytes(b"")  # `: > bin/python; chmod +x bin/python`: no program at all
    path.chmod(0o755)


def _empty_base_interpreter(env: Path) -> None:
    """bin/python still a link, to an empty executable file where the base interpreter was."""
    base = env.parent / "emptied" / "python3"
    base.parent.mkdir(exist_ok=True)
    _empty_executable(base)
    _replace_interpreter(env, lambda p: p.symlink_to(base))


STRUCTURE_BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    # how the env is broken -> the one finding plan, verify and which agree on
    "interpreter deleted": (lambda env: POSIX_VENV.interpreter(env).unlink(), "interpreter_broken"),
    "interpreter a dangling link": (
        lambda env: _replace_interpreter(env, lambda p: p.symlink_to(env / "gone")),
        "interpreter_broken",
    ),
    "interpreter a link loop": (
        lambda env: _replace_interpreter(env, lambda p: p.symlink_to(p)),
        "interpreter_broken",
    ),
    "interpreter not executable": (
        lambda env: _replace_interpreter(env, _plain_file),
        "interpreter_broken",
    ),
    "interpreter an empty file": (
        lambda env: _replace_interpreter(env, _empty_executable),
        "interpreter_broken",
    ),
    "interpreter a link to an empty file": (_empty_base_interpreter, "interpreter_broken"),
    "interpreter a FIFO": (lambda env: _replace_interpreter(env, os.mkfifo), "interpreter_broken"),
    "pyvenv.cfg deleted": (lambda env: (env / "pyvenv.cfg").unlink(), "pyvenv_cfg_missing"),
    "base interpreter gone": (
        lambda env: _home(env, str(env.parent / "uninstalled" / "bin")),
        "base_interpreter_missing",
    ),
    "base interpreter path with a NUL byte": (
        lambda env: _home(env, "/opt/py\0thon/bin"),
        "base_interpreter_missing",
    ),
    "activation script deleted": (
        lambda env: (env / "bin" / "activate").unlink(),
        "activation_missing",
    ),
    "activation script empty": (
        _empty_activate,
        "activation_missing",
    ),
}


@pytest.mark.parametrize("how", sorted(STRUCTURE_BREAKS))
def test_plan_verify_and_which_judge_a_broken_structure_alike(project: Project, how: str) -> None:
    """One judgement of an env's structure: what `plan` replaces an env for, `verify` reports
    as its env-level finding, and `which` refuses it for, unless only `source bin/activate`
    is broken. Never an exception, whatever pyvenv.cfg says."""
    python = require_python("3.11")
    declare(project)
    env = project.build(ENV, python)
    breaks, category = STRUCTURE_BREAKS[how]
    breaks(env)
    loaded = load_manifest(project.manifest)
    scope = scope_of(loaded)

    step = env_step(make_plan(loaded, platform=current()).plan)
    (target,) = scope.targets
    check = check_env(scope, target, venv=POSIX_VENV)
    refused = structure_problem(env, venv=POSIX_VENV)

    assert step.action == "replace"
    assert category in step.reasons
    assert [f.reason for f in check.env_findings] == [category]
    assert not check.ok
    assert (refused is None) == (category == "activation_missing"), refused


def test_looking_at_an_env_never_waits_on_a_fifo_where_a_small_file_should_be(
    tmp_path: Path,
) -> None:
    """pyvenv.cfg and bin/activate are read by every verify: a FIFO in their place is a
    finding at once, never a read that waits for a writer."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    python = POSIX_VENV.interpreter(env)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    os.mkfifo(env / "pyvenv.cfg")
    os.mkfifo(env / "bin" / "activate")

    facts = look_at(EnvRequest(ENV, env), venv=POSIX_VENV)

    assert facts.exists
    assert [(f.reason, f.detail) for f in structure(facts, venv=POSIX_VENV)] == [
        ("pyvenv_cfg_missing", "pyvenv.cfg cannot be read (not a small regular file)"),
        ("activation_missing", "bin/activate is missing"),
    ]
