"""Rollback and kept generations with real uv and real venvs: rollback refuses a generation
that fails the check a new build passes, pruning keeps a healthy generation over a broken one,
and apply switches back to a kept generation that already matches instead of building."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.platform import POSIX_VENV
from tests.apply_helpers import (
    SERVING,
    apply,
    error_line,
    gen_dir,
    generations_of,
    link_of,
    plan_json,
    relock,
    setup,
    snapshot,
)
from tests.helpers import Project

pytestmark = pytest.mark.slow

BETA_2 = SERVING.replace('"beta==1.0"', '"beta==2.0"')


def remove_base_interpreter(generation: Path, gone: Path) -> None:
    """What uninstalling the Python a generation was built on leaves it: its interpreter
    links to a file that is gone, and pyvenv.cfg's ``home`` names a folder that is gone.
    (The real base interpreter is never touched: the generation is pointed at ``gone``.)"""
    python = generation / "bin" / "python"
    python.unlink()
    python.symlink_to(gone / "bin" / "python3.11")
    cfg = generation / "pyvenv.cfg"
    lines = [
        f"home = {gone / 'bin'}" if line.startswith("home") else line
        for line in cfg.read_text(encoding="utf-8").splitlines()
    ]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")


def two_generations(project: Project) -> None:
    """serving: g0001 (beta 1.0), then g0002 live (beta 2.0)."""
    setup(project, SERVING)
    relock(project, BETA_2)
    apply(project)
    assert link_of(project, "serving") == ".generations/serving/g0002"


def test_rollback_refuses_a_generation_whose_base_interpreter_is_gone(
    project: Project, tmp_path: Path
) -> None:
    two_generations(project)
    gone = tmp_path / "removed-python"
    remove_base_interpreter(gen_dir(project, "serving", "g0001"), gone)
    before = snapshot(project.root / ".generations")

    done = project.cli("rollback", "serving")

    assert done.returncode == 1, done.stdout
    assert error_line(done.stderr) == (
        "error: rollback refused: generation g0001 of serving fails the check a new build "
        f"passes (the interpreter is missing; the base interpreter folder {gone / 'bin'} is "
        "gone); serving still runs generation g0002, unchanged. To run what g0001 had, put "
        "back the requirements it was built from, then lock and apply: a new generation is "
        "built."
    )
    assert "Traceback" not in done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert snapshot(project.root / ".generations") == before
    which = project.cli("which", "chat")
    assert which.returncode == 0
    assert which.stdout.strip() == str(POSIX_VENV.interpreter(gen_dir(project, "serving", "g0002")))


def test_rollback_refuses_a_generation_with_a_file_unlike_its_record(project: Project) -> None:
    two_generations(project)
    g0001 = gen_dir(project, "serving", "g0001")
    (module,) = g0001.glob("lib/python3.11/site-packages/alpha/__init__.py")
    with module.open("a", encoding="utf-8") as out:
        out.write("# edited\n")

    done = project.cli("rollback", "serving")

    assert done.returncode == 1
    line = error_line(done.stderr)
    assert line.startswith("error: rollback refused: generation g0001 of serving fails the check")
    assert "(alpha: size_mismatch: lib/python3.11/site-packages/alpha/__init__.py)" in line
    assert link_of(project, "serving") == ".generations/serving/g0002"


def test_rollback_to_a_healthy_generation_still_switches(project: Project) -> None:
    two_generations(project)

    done = project.cli("rollback", "serving")

    assert done.returncode == 0, done.stderr
    assert "serving now runs generation g0001" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0001"


def test_pruning_keeps_the_healthy_generation_over_the_broken_one_that_was_live(
    project: Project, tmp_path: Path
) -> None:
    """The issue: after a rollback to g0001 its base Python went away; the next apply built
    g0003, kept the broken g0001 (live until then) and pruned the healthy g0002."""
    two_generations(project)
    assert project.cli("rollback", "serving").returncode == 0
    remove_base_interpreter(gen_dir(project, "serving", "g0001"), tmp_path / "removed-python")
    relock(project, BETA_2.replace('["alpha==1.0"', '["alpha==1.0", "gamma==1.0"'))

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert generations_of(project, "serving") == ["g0002", "g0003"]
    assert link_of(project, "serving") == ".generations/serving/g0003"
    back = project.cli("rollback", "serving")
    assert back.returncode == 0 and "now runs generation g0002" in back.stdout


def test_gc_removes_a_broken_generation_before_a_healthy_one(
    project: Project, tmp_path: Path
) -> None:
    keep_three = "[settings]\nkeep_generations = 3\n\n"
    setup(project, keep_three + SERVING)
    relock(project, keep_three + BETA_2)
    apply(project)
    relock(project, keep_three + BETA_2.replace('["alpha==1.0"', '["alpha==1.0", "gamma==1.0"'))
    apply(project)
    remove_base_interpreter(gen_dir(project, "serving", "g0002"), tmp_path / "removed-python")

    dry = project.cli("gc", "--keep", "2", "--dry-run")
    done = project.cli("gc", "--keep", "2")

    assert dry.stdout.splitlines() == [f"would remove {gen_dir(project, 'serving', 'g0002')}"]
    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0003"]


def test_rollback_then_apply_switches_back_to_the_kept_generation_without_building(
    project: Project,
) -> None:
    two_generations(project)
    assert project.cli("rollback", "serving").returncode == 0
    last = (project.root / ".generations" / "serving" / ".last").read_text()

    plan = project.cli("plan")
    document = plan_json(project)

    assert plan.returncode == 0, plan.stderr
    assert "switches back to kept generation g0002" in plan.stdout
    (step,) = document["steps"]
    assert (step["id"], step["action"], step["switch_back"]) == ("env.serving", "replace", "g0002")
    assert "lock_changed" in step["reasons"]

    started = time.monotonic()
    done = project.cli("apply", "--yes")
    took = time.monotonic() - started

    assert done.returncode == 0, done.stdout + done.stderr
    assert "switched back to kept generation g0002" in done.stdout + done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002"]  # nothing new was built
    assert (project.root / ".generations" / "serving" / ".last").read_text() == last
    assert link_of(project, "serving") == ".generations/serving/g0002"
    which = project.cli("which", "chat")
    assert which.stdout.strip() == str(POSIX_VENV.interpreter(gen_dir(project, "serving", "g0002")))
    assert plan_json(project)["steps"] == []
    assert took < 30, took


def test_a_kept_generation_that_is_no_longer_healthy_is_not_switched_back_to(
    project: Project,
) -> None:
    two_generations(project)
    assert project.cli("rollback", "serving").returncode == 0
    (module,) = gen_dir(project, "serving", "g0002").glob("lib/python3.11/site-packages/beta/*.py")
    module.write_text("broken = True\n", encoding="utf-8")

    (step,) = plan_json(project)["steps"]
    done = project.cli("apply", "--yes")

    assert step["action"] == "replace" and "switch_back" not in step
    assert done.returncode == 0, done.stdout + done.stderr
    assert link_of(project, "serving") == ".generations/serving/g0003"


def test_a_saved_plan_that_switches_back_is_stale_once_the_kept_generation_is_gone(
    project: Project,
) -> None:
    two_generations(project)
    assert project.cli("rollback", "serving").returncode == 0
    saved = project.folder / "plan.json"
    assert project.cli("plan", "--out", str(saved)).returncode == 0
    assert json.loads(saved.read_text())["steps"][0]["switch_back"] == "g0002"
    assert project.cli("gc", "--keep", "1").returncode == 0  # g0002 goes: g0001 is live

    done = project.cli("apply", str(saved))

    assert done.returncode == 1
    assert "stale" in done.stderr or "changed" in done.stderr, done.stderr
    assert generations_of(project, "serving") == ["g0001"]
    assert link_of(project, "serving") == ".generations/serving/g0001"
