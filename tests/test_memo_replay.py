"""A plan is replayed only while every input is unchanged (reconciler/memo/plan.py).

Differential: after each kind of change to what a plan reads, the next `plan` must not
replay, and must print exactly what a plan computed afresh prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.store import layout
from tests.apply_helpers import SERVING, TOOLS, relock, setup
from tests.helpers import Project, settle

REPLAYED = "plan: replayed the stored plan"


def plan(project: Project, *args: str, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECONCILE_NO_PLAN_CACHE": "1"} if fresh else None
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "-v", *args],
        capture_output=True,
        text=True,
        cwd=project.folder,
        env=env,
        check=False,
        timeout=600,
    )


def stored(project: Project) -> None:
    """Plan until a plan is stored and the next one replays it."""
    for _ in range(4):
        settle()
        if REPLAYED in plan(project).stderr:
            return
    pytest.fail("no plan was ever replayed")


def site(project: Project, env_key: str) -> Path:
    return next((project.root / env_key).resolve().glob("lib/python*/site-packages"))


@pytest.fixture
def applied(project: Project) -> Project:
    setup(project, SERVING + TOOLS)
    stored(project)
    return project


def test_an_unchanged_root_replays_the_same_output_and_exit_code(applied: Project) -> None:
    fresh = plan(applied, "--detailed-exitcode", fresh=True)
    first = plan(applied, "--detailed-exitcode")
    settle()
    again = plan(applied, "--detailed-exitcode")

    assert REPLAYED not in fresh.stderr
    assert REPLAYED in again.stderr
    assert again.stdout == fresh.stdout == first.stdout
    assert again.returncode == fresh.returncode == 0
    assert "$ " not in again.stderr  # nothing was run: no probe, no uv


def test_out_and_deep_never_replay(applied: Project) -> None:
    assert REPLAYED not in plan(applied, "--deep").stderr
    assert REPLAYED not in plan(applied, "--out", "plan.json").stderr


def _zero_byte(project: Project) -> None:
    (site(project, "serving") / "beta" / "__init__.py").write_bytes(b"")


def _same_size_same_mtime(project: Project) -> None:
    module = site(project, "serving") / "beta" / "__init__.py"
    before = module.stat()
    module.write_text(module.read_text().replace("1.0", "6.6"))
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))


def _no_activate(project: Project) -> None:
    (project.root / "serving" / "bin" / "activate").unlink()


def _no_pyvenv_cfg(project: Project) -> None:
    (project.root / "tools" / "pyvenv.cfg").unlink()


def _no_interpreter(project: Project) -> None:
    (project.root / "tools" / "bin" / "python").unlink()


def _extra_dist(project: Project) -> None:
    project.install(project.root / "tools", "beta==2.0")


def _orphan(project: Project) -> None:
    (project.root / "stray").mkdir()


def _bindings(project: Project) -> None:
    path = layout.bindings_path(project.root)
    state = json.loads(path.read_text())
    state["bindings"].pop("chat")
    path.write_text(json.dumps(state))


def _manifest(project: Project) -> None:
    project.write(SERVING + TOOLS + '\n[models.extra]\nenv = "tools"\n')


def _lockfile(project: Project) -> None:
    relock(project, SERVING.replace("beta==1.0", "beta==2.0") + TOOLS)


def _module_removed(project: Project) -> None:
    (site(project, "tools") / "gamma" / "__init__.py").unlink()


CHANGES: dict[str, Callable[[Project], None]] = {
    "zero_byte": _zero_byte,
    "same_size_same_mtime": _same_size_same_mtime,
    "activation_missing": _no_activate,
    "pyvenv_cfg_missing": _no_pyvenv_cfg,
    "interpreter_missing": _no_interpreter,
    "extra_dist": _extra_dist,
    "orphan": _orphan,
    "bindings": _bindings,
    "manifest": _manifest,
    "lockfile": _lockfile,
    "module_removed": _module_removed,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_to_an_input_is_observed_afresh(applied: Project, change: str) -> None:
    before = plan(applied)
    CHANGES[change](applied)

    after = plan(applied)
    fresh = plan(applied, fresh=True)

    assert REPLAYED in before.stderr
    assert REPLAYED not in after.stderr
    assert after.stdout == fresh.stdout
    assert after.stdout != before.stdout


def test_a_plan_is_not_stored_while_its_inputs_are_still_settling(project: Project) -> None:
    setup(project, SERVING)
    memos = project.root / ".cache" / "plans"

    plan(project)  # the apply wrote the env a moment ago

    assert not memos.exists() or not list(memos.iterdir())


def test_a_damaged_stored_plan_is_ignored(applied: Project) -> None:
    for memo in (applied.root / ".cache" / "plans").iterdir():
        memo.write_text(memo.read_text()[:40])

    done = plan(applied)

    assert REPLAYED not in done.stderr
    assert done.returncode == 0
    assert done.stdout == plan(applied, fresh=True).stdout


def test_a_manifest_that_is_a_link_edited_in_place_is_observed_afresh(project: Project) -> None:
    setup(project, SERVING + TOOLS)
    real = project.folder / "real-envs.toml"
    project.manifest.rename(real)
    project.manifest.symlink_to(real.name)
    stored(project)

    with real.open("a") as handle:  # the link itself is untouched
        handle.write('\n[models.extra]\nenv = "tools"\n')
    after = plan(project)

    assert REPLAYED not in after.stderr
    assert 'model "extra"' in after.stdout
    assert after.stdout == plan(project, fresh=True).stdout


def test_a_pth_file_that_no_record_lists_is_an_input(project: Project) -> None:
    setup(project, SERVING + TOOLS)
    pth = site(project, "tools") / "site-extra.pth"
    pth.write_text("\n")
    stored(project)

    pth.write_text("import sys; sys.modules['gamma'] = None\n")
    after = plan(project)

    assert REPLAYED not in after.stderr
    assert "probe_failed" in after.stdout
    assert after.stdout == plan(project, fresh=True).stdout


def test_a_cache_folder_that_is_a_link_is_refused_never_written_or_pruned_through(
    project: Project, tmp_path: Path
) -> None:
    setup(project, SERVING)
    outside = tmp_path / "outside"
    (outside / "hashes").mkdir(parents=True)
    (outside / "hashes" / "notes.txt").write_text("not reconcile's")
    (outside / "plans").mkdir()
    cache = project.root / layout.CACHE
    if cache.exists():
        shutil.rmtree(cache)
    cache.symlink_to(outside)

    runs = []
    for _ in range(2):
        settle()
        runs.append(plan(project))
    runs += [project.cli("verify"), project.cli("gc")]

    for done in runs:
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"error: refusing to use {cache}: it is a link" in done.stderr

    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == [
        "hashes",
        "hashes/notes.txt",
        "plans",
    ]


@pytest.mark.parametrize(
    "place", [f"{layout.GENERATIONS}/serving", f"{layout.GENERATIONS}/serving/g0001"]
)
def test_a_stored_plan_is_not_replayed_once_a_folder_of_the_root_is_a_link(
    project: Project, tmp_path: Path, place: str
) -> None:
    """Moving an env's generations out of the root behind a link keeps every file the plan
    read (the same inodes): the link itself must stop the replay, and the fresh plan refuses."""
    setup(project, SERVING)
    stored(project)
    link = project.root / place
    outside = tmp_path / "outside"
    shutil.move(link, outside)
    link.symlink_to(outside, target_is_directory=True)

    done = plan(project)

    assert REPLAYED not in done.stderr
    assert done.returncode == 1
    assert f"error: refusing to use {link}: it is a link" in done.stderr
