"""A generation that never went live (its switch failed, or apply was killed between its
receipt and its switch) is never what `rollback` returns to nor what `status` names as
previous; a live one whose mark a kill prevented keeps its history. Real uv, real venvs."""

from __future__ import annotations

import errno
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from reconciler.platform import POSIX_VENV, Platform
from reconciler.store import generations, system
from reconciler.store.posix import PosixStoreOps
from tests.apply_helpers import SERVING, apply, gen_dir, generations_of, relock, setup
from tests.helpers import Project

pytestmark = pytest.mark.slow

BETA_2 = SERVING.replace('"beta==1.0"', '"beta==2.0"')
WITH_GAMMA = SERVING.replace('["alpha==1.0"', '["alpha==1.0", "gamma==1.0"')


class NoSwitchOps(PosixStoreOps):
    """A filesystem where the env link cannot be made (Wine has no junctions)."""

    def switch(self, root: Path, env_key: str, generation: Path) -> None:
        raise OSError(errno.EOPNOTSUPP, "Request not supported")


def serving_status(project: Project) -> dict[str, Any]:
    done = project.cli("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)["envs"]
    (row,) = [e for e in rows if e["env"] == "serving"]
    return row


def live_since(project: Project, gen_id: str) -> object:
    receipt = generations.read_receipt(gen_dir(project, "serving", gen_id))
    assert receipt is not None
    return receipt["live_since"]


def test_a_switch_that_fails_after_the_receipt_leaves_no_previous_and_nothing_to_roll_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(project, SERVING)
    relock(project, BETA_2)
    monkeypatch.setattr(system, "current", lambda: Platform(POSIX_VENV, NoSwitchOps()))

    code = main(["--manifest", str(project.manifest), "--quiet", "apply", "--yes"])

    monkeypatch.undo()
    assert code == 1
    assert generations_of(project, "serving") == ["g0001"]  # g0002 removed as a failed build
    row = serving_status(project)
    assert row["generation"]["name"] == "g0001" and row["previous_generations"] == []
    back = project.cli("rollback", "serving")
    assert back.returncode != 0
    assert "no complete generation older than g0001 that was ever live" in back.stderr


def test_a_generation_killed_before_its_switch_is_never_previous_nor_rolled_back_to(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(project, "[settings]\nkeep_generations = 3\n" + SERVING)
    relock(project, "[settings]\nkeep_generations = 3\n" + BETA_2)
    monkeypatch.setenv("RECONCILE_FAULT", "after_receipt@serving")
    killed = project.cli("apply", "--yes")
    monkeypatch.delenv("RECONCILE_FAULT")
    assert killed.returncode == -signal.SIGKILL
    relock(project, "[settings]\nkeep_generations = 3\n" + WITH_GAMMA)
    apply(project)  # g0003 live; g0002 built, never switched to, kept

    assert generations_of(project, "serving") == ["g0001", "g0002", "g0003"]
    assert live_since(project, "g0002") is None
    row = serving_status(project)
    assert row["generation"]["name"] == "g0003" and row["previous_generations"] == ["g0001"]
    back = project.cli("rollback", "serving")
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == "serving now runs generation g0001."


def test_a_kill_between_the_switch_and_its_mark_keeps_the_live_generation_s_history(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(project, SERVING)
    assert live_since(project, "g0001") is not None
    relock(project, BETA_2)
    monkeypatch.setenv("RECONCILE_FAULT", "after_switch@serving")
    killed = project.cli("apply", "--yes")
    monkeypatch.delenv("RECONCILE_FAULT")
    assert killed.returncode == -signal.SIGKILL
    assert live_since(project, "g0002") is None  # live, not marked: it counts all the same
    assert serving_status(project)["previous_generations"] == ["g0001"]

    back = project.cli("rollback", "serving")

    assert back.returncode == 0, back.stderr
    assert live_since(project, "g0002") is not None  # marked before the switch away
    row = serving_status(project)
    assert row["generation"]["name"] == "g0001" and row["previous_generations"] == ["g0002"]
