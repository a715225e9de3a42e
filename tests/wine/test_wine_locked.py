"""The Windows job: an env whose ``.pyd`` a running process has loaded, during replace (the
old generation pruned), gc and delete. Windows (and Wine) refuse to delete a loaded ``.pyd``;
reconcile reports it, keeps what it could not remove recorded, and `gc` removes it once the
process has ended.

The ``.pyd`` is the real one of CPython's ``_bz2`` module, copied into a package as
``locky\\_bz2.pyd``: an extension's init function is named after the last part of its module
name, so ``import locky._bz2`` loads it from the env. Under Wine the folder holding it can be
renamed into the trash (Windows refuses that), so the env is always out of the way and only
emptying the trash waits: apply and gc exit 0 and say what is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.wine.conftest import WinProject

pytestmark = pytest.mark.slow

LOCKY = """
[envs.shared]
python = "3.13"
requirements = ["locky==1.0"]
imports = ["locky"]

[models.m1]
env = "shared"
"""
HOLD = """
import pathlib, sys, time
import locky._bz2
here = pathlib.Path(sys.argv[1])
(here / "held").write_text(sys.executable)
deadline = time.monotonic() + 300
while not (here / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""


@pytest.fixture
def project(wproject: WinProject) -> WinProject:
    pyd = wproject.lab.host(r"C:\Python313\DLLs\_bz2.pyd").read_bytes()
    wproject.wheel("locky", "1.0", files={"locky/__init__.py": "", "locky/_bz2.pyd": pyd})
    wproject.manifest(LOCKY, keep=1)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    return wproject


@contextmanager
def _held(project: WinProject) -> Iterator[str]:
    """A process of the env's own Python with ``locky\\_bz2.pyd`` loaded, until the block ends;
    yields the generation it runs in."""
    (project.path / "hold.py").write_text(HOLD, encoding="utf-8")
    for name in ("held", "release"):
        (project.path / name).unlink(missing_ok=True)
    python = project.ok("which", "m1").out.strip()
    process = project.lab.start(python, "hold.py", project.dir, cwd=project.dir, env=project.env)
    try:
        project.lab.wait_for(f"{project.dir}\\held")
        yield python.rsplit("\\Scripts\\", 1)[0].rsplit("\\", 1)[1]
    finally:
        (project.path / "release").write_text("")
        process.wait(timeout=60)


def _trash(project: WinProject) -> list[str]:
    trash = project.host("envs\\.trash")
    return sorted(p.name for p in trash.iterdir()) if trash.is_dir() else []


def test_replace_prunes_around_a_loaded_pyd_and_gc_finishes(project: WinProject) -> None:
    with _held(project) as generation:
        assert generation == "g0001"
        replaced = project.ok("apply", "--yes", "--replace", "shared")
        out = replaced.out + replaced.err
        assert "g0001" in out and "could not be removed" in out, str(replaced)
        assert "_bz2.pyd" in out, str(replaced)
        assert project.ok("which", "m1").out.strip().endswith("\\g0002\\Scripts\\python.exe")
        assert project.ok("verify").rc == 0
        held = project.reconcile("gc")
        assert "_bz2.pyd" in held.out + held.err, str(held)
        assert _trash(project), "the loaded generation is kept recorded in the trash"
    project.ok("gc")
    assert _trash(project) == []
    assert not project.exists("envs\\.generations\\shared\\g0001")


def test_delete_with_a_loaded_pyd_then_gc(project: WinProject) -> None:
    with _held(project):
        project.manifest("", keep=1)
        deleted = project.reconcile("apply", "--yes")
        out = deleted.out + deleted.err
        assert "_bz2.pyd" in out and "gc" in out, str(deleted)
        assert deleted.rc == 0, str(deleted)
        assert not project.exists("envs\\shared")
        assert "No changes." in project.ok("plan").out
    project.ok("gc")
    assert _trash(project) == []
    assert not project.exists("envs\\.generations\\shared")


ADOPTED = """
[envs.legacy]
adopt = "legacy"
imports = ["locky"]
{delete}

[models.m1]
env = "legacy"
"""


def test_delete_an_adopted_venv_with_a_loaded_pyd_then_gc(wproject: WinProject) -> None:
    """The same rule as for a managed env: moved out of its place, the env is gone (exit 0) and
    what is loaded waits in the trash for `gc`."""
    pyd = wproject.lab.host(r"C:\Python313\DLLs\_bz2.pyd").read_bytes()
    wproject.wheel("locky", "1.0", files={"locky/__init__.py": "", "locky/_bz2.pyd": pyd})
    assert wproject.python("-m", "venv", "--without-pip", "legacy").rc == 0
    installed = wproject.lab.run(
        r"C:\reconcile\Scripts\uv.exe",
        *("pip", "install", "--python", "legacy\\Scripts\\python.exe", "--no-index"),
        *("--find-links", "wheels", "locky==1.0"),
        cwd=wproject.dir,
        env=wproject.env,
    )
    assert installed.rc == 0, str(installed)
    wproject.manifest(ADOPTED.format(delete=""))
    wproject.ok("apply", "--yes")
    with _held(wproject):
        wproject.manifest(ADOPTED.format(delete="delete = true").split("[models.m1]")[0])
        deleted = wproject.reconcile("apply", "--yes")
        out = deleted.out + deleted.err
        assert deleted.rc == 0, str(deleted)
        assert "_bz2.pyd" in out and "gc" in out, str(deleted)
        assert not wproject.exists("legacy")
    wproject.manifest("")
    wproject.ok("gc")
    assert _trash(wproject) == []
