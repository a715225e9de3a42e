"""The Windows job: finding the Python an env asks for, as on a Windows machine: on PATH (the
python.org installer's "Add to PATH"), through ``RECONCILE_PYTHON_3_13``, in the PEP 514
registry (an installer that did not touch PATH), and the Windows hint when there is none.

PATH is Windows' own (Wine builds it from the registry, not from the Unix environment), so a
test that takes C:\\Python313 off it sets it inside ``cmd /c``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wine.conftest import WinProject
from tests.wine.lab import RECONCILE, Lab

pytestmark = pytest.mark.slow

ENV = """
[envs.shared]
python = "3.13"
requirements = ["beta==1.0"]
imports = ["beta"]
"""
NO_PYTHON_PATH = r"C:\windows\system32;C:\windows"
KEY = r"HKCU\Software\Python\PythonCore\3.13\InstallPath"


def _plan(project: WinProject, path: str | None = None, **env: str) -> str:
    """`reconcile plan -v`'s output (stdout and stderr), with Windows' PATH set to ``path``."""
    settings = {**project.env, "RECONCILE_NO_PLAN_CACHE": "1", **env}
    if path is None:
        ran = project.lab.run(RECONCILE, "plan", "-v", cwd=project.dir, env=settings)
    else:
        line = f"set PATH={path}&& {RECONCILE} plan -v"
        ran = project.lab.run("cmd", "/c", line, cwd=project.dir, env=settings)
    assert ran.rc == 0, str(ran)
    return ran.out + ran.err


@pytest.fixture
def registered(lab: Lab) -> Iterator[None]:
    """C:\\Python313 registered as PEP 514 says an installer registers it, for this user."""
    for value in (
        ["/ve", "/d", r"C:\Python313"],
        ["/v", "ExecutablePath", "/d", r"C:\Python313\python.exe"],
    ):
        added = lab.run("reg", "add", KEY, *value, "/f")
        assert added.rc == 0, str(added)
    yield
    lab.run("reg", "delete", r"HKCU\Software\Python", "/f")


@pytest.fixture
def project(wproject: WinProject) -> WinProject:
    wproject.manifest(ENV)
    wproject.ok("lock")
    return wproject


def test_found_on_path(project: WinProject) -> None:
    out = _plan(project)
    assert r"C:\Python313\python.exe (3.13.2, path)" in out, out


def test_found_through_the_override(project: WinProject) -> None:
    out = _plan(project, NO_PYTHON_PATH, RECONCILE_PYTHON_3_13=r"C:\Python313\python.exe")
    assert r"C:\Python313\python.exe (3.13.2, override)" in out, out


@pytest.mark.usefixtures("registered")
def test_found_in_the_registry(project: WinProject) -> None:
    out = _plan(project, NO_PYTHON_PATH)
    assert r"C:\Python313\python.exe (3.13.2, registry)" in out, out
    # and apply builds with it
    line = f"set PATH={NO_PYTHON_PATH}&& {RECONCILE} apply --yes"
    applied = project.lab.run("cmd", "/c", line, cwd=project.dir, env=project.env)
    assert applied.rc == 0, str(applied)


def test_none_found_names_what_a_windows_user_does(project: WinProject) -> None:
    out = _plan(project, NO_PYTHON_PATH)
    assert "winget install Python.Python.3.13" in out, out
    assert r"RECONCILE_PYTHON_3_13=C:\path\to\python.exe" in out, out
    assert "pyenv" not in out and "/path/to" not in out, out
