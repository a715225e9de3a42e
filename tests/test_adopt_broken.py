"""An adopted venv that was applied and has since broken or vanished (issue 16): a warning in
`plan`, a finding in `verify`, unhealthy in `status`, and never a reason to refuse plan or
apply of the other envs. A bad adopt path that was never applied stays a manifest error.
Real venvs (``python -m venv`` with a real interpreter), real uv, the installed command."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.platform import POSIX_VENV
from tests.apply_helpers import apply, error_lines, lock
from tests.helpers import Project, require_python

pytestmark = pytest.mark.slow

FOLDER = "environments/local_x/.venv"

MANIFEST = f"""\
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[envs.legacy]
adopt = "{FOLDER}"
imports = ["gamma"]

[models.llm]
env = "legacy"
fallback = "serving"

[models.api]
env = "serving"
"""


@pytest.fixture
def broken(project: Project) -> Iterator[Project]:
    """serving (managed) and legacy (a `python -m venv` venv, adopted), both applied."""
    venv = project.folder / FOLDER
    python = require_python("3.11")
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)], check=True)
    project.install(venv, "gamma==1.0")
    project.write(MANIFEST)
    lock(project)
    apply(project)
    yield project


def _break_serving(project: Project) -> None:
    """A managed env that plan must replace: its package's module is gone."""
    site = next((project.root / "serving").resolve().glob("lib/python*/site-packages"))
    (site / "alpha" / "__init__.py").unlink()


def _warning(stdout: str) -> str:
    """The adopted env's warning as one line (text output wraps it)."""
    text = " ".join(stdout.split())
    start = text.index("Warning: adopted env legacy")
    return text[start : text.index("finding.", start) + len("finding.")]


def _remove_pyvenv_cfg(venv: Path) -> None:
    (venv / "pyvenv.cfg").unlink()


def _move_away(venv: Path) -> None:
    venv.rename(venv.parent / "moved")


def _make_a_file(venv: Path) -> None:
    shutil.rmtree(venv)
    venv.write_text("", encoding="utf-8")


BREAKS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "pyvenv_cfg_removed": (_remove_pyvenv_cfg, "pyvenv.cfg is missing", "pyvenv_cfg_missing"),
    "folder_moved_away": (_move_away, "its folder does not exist", "env_missing"),
    "folder_became_a_file": (_make_a_file, "is a file, not an env folder", ""),
}
"""How a venv breaks -> (the damage, what the warning says, the finding `verify` reports)."""


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_broken_adopted_venv_is_a_warning_and_the_other_envs_plan_and_apply(
    broken: Project, name: str
) -> None:
    damage, problem, finding = BREAKS[name]
    damage(broken.folder / FOLDER)
    _break_serving(broken)

    plan = broken.cli("plan", "--detailed-exitcode")
    planned = json.loads(broken.cli("plan", "--format", "json").stdout)
    targeted = broken.cli("apply", "--yes", "--target", "serving")
    again = broken.cli("plan", "--detailed-exitcode")
    _break_serving(broken)
    whole = broken.cli("apply", "--yes")
    after = broken.cli("plan", "--detailed-exitcode")

    assert plan.returncode == 2, plan.stderr
    assert [s["id"] for s in planned["steps"]] == ["env.serving"]
    warning = _warning(plan.stdout)
    assert warning.startswith(f"Warning: adopted env legacy ({FOLDER}) cannot be used: ")
    assert problem in warning
    assert "fix or recreate the venv" in warning
    assert "`reconcile verify legacy`" in warning
    assert all(len(line) <= 100 for line in plan.stdout.splitlines())
    assert [w for w in planned["warnings"] if w.startswith("adopted env legacy")] == [
        warning.removeprefix("Warning: ")
    ]
    for done in (targeted, whole):
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert again.returncode == 0 and "No changes" in again.stdout
    assert after.returncode == 0 and "Warning: adopted env legacy" in after.stdout
    assert "serving" in whole.stdout
    verify = broken.cli("verify", "legacy", "--format", "json")
    assert verify.returncode == 2, verify.stderr
    assert finding in verify.stdout


def test_verify_status_and_which_tell_a_broken_adopted_venv_and_use_the_fallback(
    broken: Project,
) -> None:
    (broken.folder / FOLDER / "pyvenv.cfg").unlink()

    verify = broken.cli("verify")
    status = json.loads(broken.cli("status", "--format", "json").stdout)
    which = broken.cli("which", "llm")

    assert verify.returncode == 2
    assert "pyvenv_cfg_missing" in verify.stdout
    [row] = [r for r in status["envs"] if r["env"] == "legacy"]
    assert "pyvenv_cfg_missing" in row["reasons"]
    assert which.returncode == 0, which.stderr
    serving = POSIX_VENV.interpreter((broken.root / "serving").resolve())
    assert Path(which.stdout.strip()) == serving


def test_a_saved_plan_is_stale_once_the_broken_adopted_venv_is_fixed(broken: Project) -> None:
    cfg = broken.folder / FOLDER / "pyvenv.cfg"
    text = cfg.read_text(encoding="utf-8")
    cfg.unlink()
    _break_serving(broken)
    assert broken.cli("plan", "--out", "p.json").returncode == 0
    cfg.write_text(text, encoding="utf-8")

    done = broken.cli("apply", "--yes", "p.json")

    assert done.returncode == 1
    assert "plan is stale" in done.stderr
    assert "legacy" in done.stderr


def test_a_bad_adopt_path_never_applied_stays_a_manifest_error(broken: Project) -> None:
    (broken.folder / FOLDER / "pyvenv.cfg").unlink()
    moved = MANIFEST.replace(FOLDER, "environments/local_y/.venv")  # a folder never applied
    typo = MANIFEST + '\n[envs.new]\nadopt = "environments/typo/.venv"\n'

    for body, line in (
        (moved, "envs.toml:10: envs.legacy.adopt: environments/local_y/.venv"),
        (typo, "envs.toml:21: envs.new.adopt: environments/typo/.venv"),
    ):
        broken.write(body)
        for command in (("plan",), ("apply", "--yes", "--target", "serving")):
            done = broken.cli(*command)

            assert done.returncode == 1, done.stdout
            assert error_lines(done.stderr)[0] == (
                f"{line} does not exist; fix the path, or remove the env from the manifest "
                "to forget it"
            )


def test_an_applied_adopt_path_that_now_leads_into_the_root_stays_an_error(
    broken: Project,
) -> None:
    venv = broken.folder / FOLDER
    shutil.rmtree(venv)
    venv.symlink_to(broken.root / "serving")

    done = broken.cli("apply", "--yes", "--target", "serving")

    assert done.returncode == 1
    assert "is inside the root" in done.stderr
    assert (broken.root / "serving").exists()
