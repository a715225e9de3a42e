"""The Windows job: the extended-length spelling ``\\\\?\\C:\\...`` names the same folder as
``C:\\...``, so it gets past none of the manifest's root checks, and ``gc`` never removes an
adopted env's folder (issue 18, hostile finding 1)."""

from __future__ import annotations

import pytest

from tests.wine.conftest import WinProject
from tests.wine.test_wine_commands import SHARED as MODELLED

pytestmark = pytest.mark.slow

SHARED = MODELLED.split("[models.")[0]


def test_the_extended_spelling_of_a_folder_in_or_around_the_root_is_refused(
    wproject: WinProject,
) -> None:
    wproject.manifest(SHARED)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    wproject.ok("apply", "--yes", "--replace", "shared")
    g0001 = f"\\\\?\\{wproject.dir}\\envs\\.generations\\shared\\g0001"
    before = sorted(p.name for p in wproject.host("envs\\.generations\\shared").iterdir())

    wproject.manifest(SHARED + f"\n[envs.a]\nadopt = '{g0001}'\n")
    adopted = wproject.reconcile("apply", "--yes")
    collected = wproject.reconcile("gc", "--keep", "1")
    wproject.manifest(SHARED)
    rooted = wproject.reconcile("--root", f"\\\\?\\{wproject.dir}", "apply", "--yes")

    assert adopted.rc == 1 and "envs.a.adopt: " in adopted.err, str(adopted)
    assert "is inside the root envs" in adopted.err, str(adopted)
    assert collected.rc == 0 and "which the manifest adopts" in collected.err, str(collected)
    assert wproject.exists("envs\\.generations\\shared\\g0001\\Scripts\\python.exe")
    assert rooted.rc == 1 and "is the manifest's folder itself" in rooted.err, str(rooted)
    assert not wproject.exists(".generations") and not wproject.exists(".state")
    after = sorted(p.name for p in wproject.host("envs\\.generations\\shared").iterdir())
    assert after == before


def test_a_folder_name_ending_in_a_dot_is_refused_before_anything_is_deleted(
    wproject: WinProject,
) -> None:
    """``C:\\x\\vc3.`` is ``vc3`` to ordinary paths and ``vc3.`` to ``\\\\?\\`` ones: the adopted
    folder that was checked would not be the one deleted (hostile finding, round 2)."""
    made = wproject.python("-m", "venv", "--without-pip", "vc3")
    assert made.rc == 0, str(made)
    wproject.manifest(SHARED + f"\n[envs.legacy]\nadopt = '{wproject.dir}\\vc3.'\ndelete = true\n")
    deleted = wproject.reconcile("apply", "--yes")
    assert deleted.rc == 1 and 'has a name ending in a dot ("vc3.")' in deleted.err, str(deleted)
    assert wproject.exists("vc3\\pyvenv.cfg")
    wproject.manifest(SHARED)
    rooted = wproject.reconcile("--root", "ENVS.", "plan")
    assert rooted.rc != 0 and 'has a name ending in a dot ("ENVS.")' in rooted.err, str(rooted)
