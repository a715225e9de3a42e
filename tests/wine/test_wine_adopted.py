"""The Windows job: adopting a legacy venv made by the Windows ``python -m venv``, migrating its
model to a shared env with the legacy venv as fallback, and deleting it (``delete = true``).
"""

from __future__ import annotations

import pytest

from tests.wine.conftest import WinProject

pytestmark = pytest.mark.slow

LEGACY = """
[envs.legacy]
adopt = "legacy\\\\m1"
imports = ["alpha"]
{delete}
"""
SHARED = """
[envs.shared]
python = "3.13"
requirements = ["beta==1.0"]
imports = ["beta"]
"""


def _legacy_venv(project: WinProject) -> None:
    """A legacy per-model venv, as a Windows user made it: ``python -m venv`` and an install."""
    made = project.python("-m", "venv", "legacy\\m1")
    assert made.rc == 0, str(made)
    installed = project.lab.run(
        r"C:\reconcile\Scripts\uv.exe",
        "pip",
        "install",
        "--python",
        "legacy\\m1\\Scripts\\python.exe",
        "--no-index",
        "--find-links",
        "wheels",
        "alpha==1.0",
        cwd=project.dir,
        env=project.env,
    )
    assert installed.rc == 0, str(installed)


def test_adopt_migrate_with_fallback_then_delete(wproject: WinProject) -> None:
    _legacy_venv(wproject)
    wproject.manifest(LEGACY.format(delete="") + '\n[models.m1]\nenv = "legacy"\n')
    wproject.ok("apply", "--yes")
    which = wproject.ok("which", "m1").out.strip()
    assert which.lower().endswith("\\legacy\\m1\\scripts\\python.exe"), which
    assert wproject.ok("verify").rc == 0
    assert wproject.ok("verify", "--deep").rc == 0

    # migrate: the model moves to a shared env, the legacy venv stays as its fallback
    wproject.manifest(
        LEGACY.format(delete="") + SHARED + '\n[models.m1]\nenv = "shared"\nfallback = "legacy"\n'
    )
    wproject.ok("lock")
    planned = wproject.ok("plan")
    assert "1 to create" in planned.out and "1 to rebind" in planned.out, str(planned)
    wproject.ok("apply", "--yes")
    assert "\\.generations\\shared\\" in wproject.ok("which", "m1").out

    # the shared env breaks: the model runs in its fallback until apply heals the env
    live = wproject.ok("which", "m1").out.strip()
    generation = live.rsplit("\\Scripts\\", 1)[0].rsplit("\\envs\\", 1)[1]
    wproject.host(f"envs\\{generation}\\Scripts\\python.exe").unlink()
    fallback = wproject.ok("which", "m1")
    assert fallback.out.strip().lower().endswith("\\legacy\\m1\\scripts\\python.exe"), str(fallback)
    ran = wproject.ok("run", "m1", "--", "python", "-c", "import alpha, sys; print(sys.prefix)")
    assert ran.out.strip().lower().endswith("\\legacy\\m1"), str(ran)
    wproject.ok("apply", "--yes")
    assert "\\.generations\\shared\\g0002\\" in wproject.ok("which", "m1").out

    # the legacy venv is no longer needed: delete = true removes that very folder
    wproject.manifest(
        LEGACY.format(delete="delete = true") + SHARED + '\n[models.m1]\nenv = "shared"\n'
    )
    planned = wproject.ok("plan")
    assert "delete = true" in planned.out, str(planned)
    wproject.ok("apply", "--yes")
    assert not wproject.exists("legacy\\m1")
    wproject.manifest(SHARED + '\n[models.m1]\nenv = "shared"\n')
    assert "No changes." in wproject.ok("plan").out


def test_a_broken_adopted_venv_is_reported_not_fatal(wproject: WinProject) -> None:
    _legacy_venv(wproject)
    wproject.manifest(LEGACY.format(delete="") + '\n[models.m1]\nenv = "legacy"\n')
    wproject.ok("apply", "--yes")
    wproject.host("legacy\\m1\\pyvenv.cfg").unlink()
    verified = wproject.reconcile("verify")
    assert verified.rc == 2 and "pyvenv_cfg_missing" in verified.out, str(verified)
    which = wproject.reconcile("which", "m1")
    assert which.rc == 1 and "legacy" in which.err, str(which)
