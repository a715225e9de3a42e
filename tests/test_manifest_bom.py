"""A manifest saved with a UTF-8 byte-order mark (Windows PowerShell 5.1's `Set-Content
-Encoding UTF8` writes one) works as the same manifest without it, through the real command:
`plan` says the same, `apply` builds from it, and `which` answers from its fast path."""

from __future__ import annotations

import shutil

import pytest

from tests.apply_helpers import apply, gen_dir, lock, plan_json
from tests.helpers import Project, require_python
from tests.test_diff import commit, repo
from tests.test_which_memo import SERVING, remembered, which

pytestmark = pytest.mark.slow  # locks, applies and runs reconcile

BOM = b"\xef\xbb\xbf"


def marked(project: Project) -> None:
    """Save the project's manifest again with a byte-order mark first."""
    project.manifest.write_bytes(BOM + project.manifest.read_bytes())


def test_a_bom_manifest_plans_exactly_as_without(project: Project) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    plain = plan_json(project)

    marked(project)
    with_bom = plan_json(project)

    assert with_bom == plain
    assert [step["action"] for step in with_bom["steps"]] == ["create", "create", "rebind"]


def test_a_bom_manifest_locks_applies_and_which_answers_from_its_fast_path(
    project: Project,
) -> None:
    require_python("3.11")
    project.write(SERVING)
    marked(project)
    lock(project)
    apply(project)

    first = remembered(project)  # the answer is stored under the root the fast path reads
    code, out, err = which(project, "chat")

    python = str(gen_dir(project, "serving", "g0001") / "bin" / "python")
    assert (code, out, err) == (0, python, "[]")  # no manifest parser loaded
    assert first == python
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_reads_a_bom_manifest_from_a_git_revision_as_without(project: Project) -> None:
    require_python("3.11")
    repo(project, SERVING)
    marked(project)
    commit(project, "saved on Windows")
    project.write(SERVING)  # the working tree's manifest has none

    done = project.cli("diff", "git:HEAD")

    assert done.returncode == 0, done.stderr
    assert "No changes. envs.toml declares the same environments as git:HEAD." in done.stdout
