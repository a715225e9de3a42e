"""End to end: lock from a local wheelhouse, build a real venv, plan sees it healthy."""

from __future__ import annotations

from tests.helpers import Project, require_python


def test_plan_shows_no_changes_for_a_healthy_env_built_from_its_lockfile(project: Project) -> None:
    python = require_python("3.11")
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["alpha==1.0"]
        imports = ["alpha", "beta"]
        """
    )
    project.lock()
    project.build("small", python)
    done = project.cli("plan", "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes. Environments match envs.toml." in done.stdout
