"""The Windows job: every command on a Windows layout, run by the real Windows CPython 3.13
and uv.exe under Wine (scripts/winlab.sh builds the lab; ``just test-windows`` runs this).

Wine differs from Windows where it matters here: it cannot make junctions, so the env link is
the link file stand-in (a real Windows NTFS volume gets a junction: unit-tested only, in
tests/test_windows.py); and it renames a folder that holds a loaded file, which Windows
refuses, so a removal under Wine always gets the env out of the way and only emptying the
trash waits for the file.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.wine.conftest import WinProject

pytestmark = pytest.mark.slow

SHARED = """
[envs.shared]
python = "3.13"
requirements = ["beta==1.0"]
imports = ["beta"]

[models.m1]
env = "shared"
"""


def _live(project: WinProject) -> str:
    """The generation m1 runs in, from `which`."""
    ran = project.ok("which", "m1")
    found = re.search(r"\\\.generations\\shared\\(g\d{4})\\Scripts\\python\.exe$", ran.out.strip())
    assert found, str(ran)
    return found.group(1)


def test_lock_plan_apply_which_run_status_verify(wproject: WinProject) -> None:
    wproject.manifest(SHARED)
    assert "written (new, 2 packages)" in wproject.ok("lock").out
    assert wproject.exists("lockfiles\\shared.txt")
    planned = wproject.ok("plan")
    assert "Plan: 1 to create, 0 to replace, 0 to delete, 1 to rebind." in planned.out

    wproject.ok("apply", "--yes")
    assert wproject.exists("envs\\.generations\\shared\\g0001\\Scripts\\python.exe")
    assert wproject.exists("envs\\.generations\\shared\\g0001\\Lib\\site-packages\\beta")
    assert not any(p.name.startswith(".shared.switch-") for p in wproject.host("envs").iterdir())
    assert _live(wproject) == "g0001"

    # `run` starts the env's python, not the one reconcile.exe was started from
    ran = wproject.ok("run", "m1", "--", "python", "-c", "import sys, beta; print(sys.executable)")
    assert ran.out.strip().endswith("\\.generations\\shared\\g0001\\Scripts\\python.exe"), str(ran)
    show = "import os; print(os.environ['VIRTUAL_ENV'])"
    env = wproject.ok("run", "m1", "--", "python", "-c", show)
    assert env.out.strip().endswith("\\.generations\\shared\\g0001"), str(env)

    # the Python API hands out the same generation
    api = wproject.lab.run(
        r"C:\reconcile\Scripts\python.exe",
        "-c",
        "import reconciler; r = reconciler.resolve('m1'); print(r.python, r.source, r.healthy)",
        cwd=wproject.dir,
        env=wproject.env,
    )
    assert api.rc == 0, str(api)
    assert api.out.split() == [ran.out.strip(), "env", "True"], str(api)

    status = json.loads(wproject.ok("status", "--format", "json").out)
    (row,) = [r for r in status["envs"] if r["env"] == "shared"]
    assert row["healthy"], row
    assert row["link"] == "link_file", row  # Wine cannot make junctions (docs/windows.md)
    assert "shared" in wproject.ok("status").out

    assert wproject.ok("verify").rc == 0
    assert wproject.ok("verify", "--deep").rc == 0
    assert "No changes." in wproject.ok("plan").out
    assert wproject.ok("lock", "--check").rc == 0


def test_replace_rollback_gc(wproject: WinProject) -> None:
    wproject.manifest(SHARED, keep=3)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    wproject.ok("apply", "--yes", "--replace", "shared")
    assert _live(wproject) == "g0002"
    wproject.ok("rollback", "shared")
    assert _live(wproject) == "g0001"
    assert "No changes." in wproject.ok("plan").out
    wproject.ok("apply", "--yes", "--replace", "shared")
    assert _live(wproject) == "g0003"
    wproject.ok("gc", "--keep", "1")
    folder = wproject.host("envs\\.generations\\shared")
    kept = sorted(p.name for p in folder.iterdir() if p.name.startswith("g"))
    assert kept == ["g0003"], kept
    assert wproject.ok("verify").rc == 0


@pytest.mark.parametrize(
    ("seed", "reason"),
    [
        ("Scripts\\python.exe", "interpreter_broken"),
        ("pyvenv.cfg", "pyvenv_cfg_missing"),
        ("Scripts\\Activate.ps1", "activation_missing"),
    ],
)
def test_seed_incidents_are_seen_and_healed(wproject: WinProject, seed: str, reason: str) -> None:
    wproject.manifest(SHARED)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    victim = wproject.host(f"envs\\.generations\\shared\\g0001\\{seed}")
    if not victim.exists():  # Wine keeps Windows' case-insensitive names on a Linux folder
        matches = [p for p in victim.parent.iterdir() if p.name.lower() == victim.name.lower()]
        assert matches, sorted(p.name for p in victim.parent.iterdir())
        victim = matches[0]
    victim.unlink()

    verified = wproject.reconcile("verify")
    assert verified.rc == 2, str(verified)
    assert reason in verified.out + verified.err
    planned = wproject.ok("plan")
    assert "1 to replace" in planned.out and reason in planned.out, str(planned)
    wproject.ok("apply", "--yes")
    assert _live(wproject) == "g0002"
    assert wproject.ok("verify").rc == 0


def test_delete_a_managed_env(wproject: WinProject) -> None:
    wproject.manifest(SHARED)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    wproject.manifest("")
    planned = wproject.ok("plan")
    assert "1 to delete" in planned.out, str(planned)
    wproject.ok("apply", "--yes")
    assert not wproject.exists("envs\\shared")
    assert not wproject.exists("envs\\.generations\\shared")
    assert "No changes." in wproject.ok("plan").out
