"""The Windows job: a venv moved or copied after it was made is ``env_moved``, as on POSIX. Its
``Scripts\\activate.bat`` (and its ``pip.exe``) still name the folder it was made in.
"""

from __future__ import annotations

import shutil

import pytest

from reconciler.store import linkfile
from tests.wine.conftest import WinProject

pytestmark = pytest.mark.slow

ADOPTED = """
[envs.legacy]
adopt = "{folder}"

[models.m1]
env = "legacy"
"""
SHARED = """
[envs.shared]
python = "3.13"
requirements = ["beta==1.0"]

[models.m2]
env = "shared"
"""


def test_a_venv_moved_after_python_m_venv_is_env_moved_and_one_in_place_is_not(
    wproject: WinProject,
) -> None:
    for name in ("mv1", "here"):
        made = wproject.python("-m", "venv", name)
        assert made.rc == 0, str(made)
    wproject.host("mv1").rename(wproject.host("mv2"))  # `move mv1 mv2`
    # the venv left in place, named with another case: the same folder
    wproject.manifest(ADOPTED.format(folder="mv2") + '[envs.kept]\nadopt = "HERE"\n')
    applied = wproject.ok("apply", "--yes")
    assert "is unhealthy: made for" in applied.out + applied.err, str(applied)

    verified = wproject.reconcile("verify", "legacy")
    assert verified.rc == 2, str(verified)
    finding = verified.out.splitlines()[0].split(None, 4)
    assert finding[:4] == ["env_moved", "legacy", "-", "."], str(verified)
    assert finding[4] == f"made for {wproject.dir}\\mv1, now at {wproject.dir}\\mv2"
    assert wproject.reconcile("verify", f"{wproject.dir}\\mv2").rc == 2
    assert wproject.ok("verify", "kept").rc == 0
    assert wproject.ok("verify", wproject.dir.lower() + "\\HERE").rc == 0
    which = wproject.ok("which", "m1")  # its interpreter still runs: handed out
    assert which.out.strip().lower().endswith("\\mv2\\scripts\\python.exe"), str(which)


def test_a_hand_copy_of_a_generation_is_env_moved_and_replaced(wproject: WinProject) -> None:
    wproject.manifest(SHARED)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    assert wproject.ok("verify", "shared").rc == 0  # a generation is made for its own folder
    generations = wproject.host("envs\\.generations\\shared")
    shutil.copytree(generations / "g0001", generations / "g0099")
    wproject.host("envs\\shared").write_bytes(linkfile.render("shared", "g0099"))  # by hand

    verified = wproject.reconcile("verify", "shared")
    assert verified.rc == 2 and "env_moved" in verified.out, str(verified)
    assert "\\g0001, now at " in verified.out, str(verified)
    planned = wproject.ok("plan")
    assert "reasons: env_moved" in planned.out, str(planned)
    wproject.ok("apply", "--yes")
    assert wproject.ok("verify", "shared").rc == 0
    assert (generations / "g0099").is_dir()  # reconcile did not make it: never removed
