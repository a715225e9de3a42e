"""`plan` foresees the Python each env it builds will use: an env whose Python is not installed
and may not be downloaded is named by the plan (a flagged step and a warning), apply fails it
at once with the same sentence, and installing the Python makes a replayed or saved plan stale.

Python 3.13 comes from pyenv's versions folder on this machine; each test hides it behind a
private PYENV_ROOT and a PATH without pyenv's shims, then "installs" it by linking the real
folder into that root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.apply_helpers import SERVING, lock, setup
from tests.helpers import Project, require_python, settle

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name == "nt", reason="pyenv's POSIX layout"),
]

TOOLS_313 = """
[envs.tools]
python = "3.13"
requirements = ["gamma==1.0"]
imports = ["gamma"]
"""

NAMED = "env tools needs Python 3.13, which is not installed"
REPLAYED = "plan: replayed the stored plan"


@pytest.fixture
def hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Python 3.13 hidden from reconcile and uv; the folder to link it into to install it."""
    real = require_python("3.13")
    if real.parent.parent.parent.name != "versions":
        pytest.skip("Python 3.13 on this machine does not come from pyenv")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", os.pathsep.join(("/usr/bin", "/bin")))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-pythons"))
    versions = tmp_path / "pyenv" / "versions"
    versions.mkdir(parents=True)
    return versions


def install(versions: Path) -> None:
    real = require_python("3.13")
    (versions / real.parents[1].name).symlink_to(real.parents[1])


def declare(project: Project, downloads: str) -> None:
    """SERVING applied; then a manifest adding tools on the hidden Python 3.13, locked."""
    setup(project, SERVING)
    project.write(f'[settings]\npython_downloads = "{downloads}"\n' + SERVING + TOOLS_313)
    lock(project)


@pytest.mark.parametrize("downloads", ["never", "manual"])
def test_plan_names_the_env_whose_python_is_missing_and_apply_fails_it_at_once(
    project: Project, hidden: Path, downloads: str
) -> None:
    declare(project, downloads)

    planned = project.cli("plan")
    document = json.loads(project.cli("plan", "--format", "json").stdout)
    applied = project.cli("apply", "--yes")

    assert planned.returncode == 0, planned.stderr
    flat = " ".join(planned.stdout.split())  # the text wraps warnings
    assert f'Warning: {NAMED}, and python_downloads = "{downloads}"' in flat
    assert 'env "tools" {python 3.13 (missing: see the warning), 1 package}' in planned.stdout
    (step,) = [s for s in document["steps"] if s["target"] == "tools"]
    assert step["action"] == "create" and step["blocked"].startswith(NAMED)
    assert step["blocked"] in document["warnings"]
    assert applied.returncode == 1
    assert f"error: {step['blocked']}" in applied.stderr
    assert "uv python install" not in applied.stderr.split(step["blocked"])[-1]  # no download
    assert not (project.root / "tools").exists()


def test_a_plan_that_builds_nothing_looks_up_no_python(project: Project, hidden: Path) -> None:
    declare(project, "never")
    project.write('[settings]\npython_downloads = "never"\n' + SERVING)

    planned = project.cli("plan", "-v")

    assert planned.returncode == 0, planned.stderr
    assert "No changes" in planned.stdout
    assert "python find" not in planned.stderr and "python list" not in planned.stderr


def test_installing_the_missing_python_is_seen_by_the_next_plan_not_replayed(
    project: Project, hidden: Path
) -> None:
    declare(project, "never")
    for _ in range(4):  # until the plan that names the missing Python is stored and replayed
        settle()
        before = project.cli("plan", "-v")
        if REPLAYED in before.stderr:
            break
    else:
        pytest.fail("the plan was never replayed")
    assert NAMED in before.stdout

    install(hidden)
    after = project.cli("plan", "-v")

    assert REPLAYED not in after.stderr
    assert "Warning" not in after.stdout and "(missing" not in after.stdout
    assert 'env "tools" {python 3.13, 1 package}' in after.stdout


def test_a_plan_saved_while_the_python_was_missing_is_stale_once_it_is_installed(
    project: Project, hidden: Path
) -> None:
    declare(project, "never")
    saved = project.cli("plan", "--out", "plan.json")
    assert saved.returncode == 0, saved.stderr

    install(hidden)
    applied = project.cli("apply", "plan.json")

    assert applied.returncode == 1
    assert "stale" in applied.stderr
    assert not (project.root / "tools").exists()
