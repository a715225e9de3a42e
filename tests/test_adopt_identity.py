"""`delete = true` deletes only the very folder apply adopted: a link put on the way since, or
another venv moved into the adopted path, is refused on that env alone (plan warns, apply fails
that step, nothing outside is touched); a state written before the folder's identity was kept
refuses until one apply without `delete = true` records it; a broken adopted venv marked for
deletion blocks no other env. Real venvs, real uv, the installed command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reconciler.store import layout
from reconciler.store.bindings import read_state
from tests.apply_helpers import legacy_venv, lock, snapshot
from tests.helpers import Project

pytestmark = pytest.mark.slow

ADOPTED = '[envs.old]\nadopt = "legacy/.venv"\n'
DOOMED = '[envs.old]\nadopt = "legacy/.venv"\ndelete = true\n'


def _adopted(project: Project) -> Path:
    """A legacy venv at legacy/.venv, adopted and applied."""
    venv = legacy_venv(project, project.folder / "legacy/.venv", "alpha==1.0")
    project.write(ADOPTED)
    done = project.cli("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


@pytest.mark.parametrize("swap", ["link on the way", "another folder"])
def test_delete_true_refuses_a_folder_swapped_since_apply_adopted_it(
    project: Project, tmp_path: Path, swap: str
) -> None:
    venv = _adopted(project)
    victim = legacy_venv(project, tmp_path / "victim/.venv", "alpha==1.0")
    (victim / "precious.txt").write_text("someone else's", encoding="utf-8")
    if swap == "link on the way":  # the parent folder replaced by a link to another one
        (project.folder / "legacy").rename(project.folder / "legacy.moved")
        (project.folder / "legacy").symlink_to(victim.parent, target_is_directory=True)
        why = f"a link on the way now leads it to {os.path.realpath(victim)}"
    else:  # another real venv (another inode) moved into the adopted path
        venv.rename(project.folder / "legacy/.venv.moved")
        victim = victim.rename(venv)
        why = "another folder was put at that path since"
    before = snapshot(victim)
    again = project.cli("apply", "--yes")  # must not record the swapped-in folder
    project.write(DOOMED)

    plan = project.cli("plan", "--format", "json")
    done = project.cli("apply", "--yes")

    sentence = (
        f"legacy/.venv is no longer the folder apply adopted as env old ({why}), so reconcile "
        "will not delete it: check what is there and remove by hand what should go, or drop "
        "delete = true"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert plan.returncode == 0, plan.stderr
    [step] = json.loads(plan.stdout)["steps"]
    assert (step["action"], step["blocked"]) == ("delete", sentence)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"env old failed: not deleted: {sentence}" in done.stderr
    assert snapshot(victim) == before
    assert "old" in read_state(project.root).adopted


def test_delete_true_refuses_an_old_state_until_one_apply_records_the_folder(
    project: Project,
) -> None:
    venv = _adopted(project)
    state_file = project.root / layout.STATE / "bindings.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    assert set(state["adopted_ids"]) == {"old"}
    del state["adopted_ids"]  # as an older reconcile wrote it
    state_file.write_text(json.dumps(state), encoding="utf-8")
    project.write(DOOMED)

    refused = project.cli("apply", "--yes")
    project.write(ADOPTED)
    recorded = project.cli("apply", "--yes")
    project.write(DOOMED)
    deleted = project.cli("apply", "--yes")

    assert refused.returncode == 1
    assert (
        "reconcile has not recorded which folder legacy/.venv is (env old was applied by an "
        "older reconcile), so it will not delete it: apply once without delete = true so the "
        "folder is recorded, then mark it delete = true again"
    ) in refused.stderr
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "deleted its adopted folder legacy/.venv" in deleted.stdout
    assert not venv.exists()
    assert read_state(project.root).adopted_ids == {}


def test_a_broken_adopted_venv_marked_for_deletion_blocks_no_other_env(project: Project) -> None:
    managed = '[envs.serving]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n'
    venv = legacy_venv(project, project.folder / "legacy/.venv", "alpha==1.0")
    project.write(managed + ADOPTED)
    lock(project)
    assert project.cli("apply", "--yes").returncode == 0
    (venv / "pyvenv.cfg").unlink()
    project.write(managed + DOOMED)
    shutil.rmtree(project.root / "serving", ignore_errors=True)
    (project.root / "serving").unlink(missing_ok=True)  # the managed env needs building

    plan = project.cli("plan")
    done = project.cli("apply", "--yes", "--target", "serving")

    assert plan.returncode == 0, plan.stderr
    assert "legacy/.venv no longer looks like a venv" in plan.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project.root / "serving").is_symlink() and venv.is_dir()
