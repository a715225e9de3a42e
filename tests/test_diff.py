"""`reconcile diff BASE [HEAD]` end to end: real git revisions, real lockfiles written by
`reconcile lock` with the real uv, and, for the central promise, a real host that applied
BASE: what `diff` predicts is what `plan` then finds there (SPEC 4, issue 6)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from reconciler.spec.lockfile import seal
from tests.apply_helpers import SERVING, TOOLS, apply, error_line, relock, setup, snapshot
from tests.helpers import Project
from tests.wheels import make_wheel

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

HEAD_BODY = (
    SERVING.replace('"beta==1.0"', '"beta==2.0"')
    + """
[envs.extra]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.report]
env = "extra"
fallback = "serving"
"""
)
"""From SERVING + TOOLS: serving upgrades beta, tools goes, report moves to a new env."""


def git(project: Project, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=project.folder,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return done.stdout


def commit(project: Project, message: str) -> None:
    git(project, "add", "-A", "envs.toml", "lockfiles")
    git(project, "commit", "-q", "-m", message)


def repo(project: Project, body: str) -> None:
    """A git repository holding the project's manifest and lockfiles, as origin/main too."""
    git(project, "init", "-q", "-b", "main")
    relock(project, body)
    commit(project, "base")
    git(project, "update-ref", "refs/remotes/origin/main", "HEAD")


def steps(doc: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    return [(s["id"], s["action"], s["depends_on"]) for s in doc["steps"]]  # type: ignore[attr-defined]


def test_diff_predicts_the_plan_of_a_host_that_applied_base(project: Project) -> None:
    setup(project, SERVING + TOOLS)
    repo(project, SERVING + TOOLS)
    relock(project, HEAD_BODY)

    predicted = project.cli("diff", "git:origin/main", "--format", "json")
    found = project.cli("plan", "--format", "json")

    assert predicted.returncode == 2, predicted.stderr
    assert found.returncode == 0, found.stderr
    diff_doc, plan_doc = json.loads(predicted.stdout), json.loads(found.stdout)
    assert (
        steps(diff_doc)
        == steps(plan_doc)
        == [
            ("env.extra", "create", []),
            ("env.serving", "replace", []),
            ("model.report", "rebind", ["env.extra"]),
            ("env.tools", "delete", ["model.report"]),
        ]
    )
    assert diff_doc["base"] == "git:origin/main" and diff_doc["head"] == "envs.toml"
    replace = diff_doc["steps"][1]
    assert replace["reasons"] == ["lock_changed"]
    assert replace["changes"] == [
        {"package": "beta", "old": "1.0", "new": "2.0", "change": "upgraded", "direct": True}
    ]
    assert "lock_changed" in plan_doc["steps"][1]["reasons"]

    apply(project)  # once applied, HEAD is what the host has: diff HEAD HEAD says so
    commit(project, "head")
    assert project.cli("plan", "--detailed-exitcode").returncode == 0
    same = project.cli("diff", "git:HEAD")
    assert same.returncode == 0, same.stderr
    assert "No changes. envs.toml declares the same environments as git:HEAD." in same.stdout


def test_diff_needs_no_env_on_disk_and_writes_nothing(project: Project) -> None:
    repo(project, SERVING + TOOLS)
    relock(project, HEAD_BODY)
    before = snapshot(project.folder)

    markdown = project.cli("diff", "git:origin/main", "--format", "markdown")
    text = project.cli("diff", "git:origin/main", "git:HEAD")  # HEAD still holds BASE

    assert markdown.returncode == 2, markdown.stderr
    assert markdown.stdout.startswith("### reconcile diff `git:origin/main` → `envs.toml`\n")
    assert "| `beta` | 1.0 | 2.0 | upgraded |" in markdown.stdout
    assert str(project.folder) not in markdown.stdout
    assert text.returncode == 0 and "No changes." in text.stdout
    assert not project.root.exists()
    assert snapshot(project.folder) == before


def test_diff_marks_the_manifests_own_requirements_apart_from_what_they_pull_in(
    project: Project,
) -> None:
    """alpha 2.0 needs beta>=2.0: raising alpha (asked for) lifts beta, which BASE asked for and
    HEAD only needs for alpha, and drops gamma, which BASE asked for (issue 17)."""
    make_wheel(project.wheels, "alpha", "2.0", requires=["beta>=2.0"])
    repo(project, SERVING.replace('"beta==1.0"]', '"beta==1.0", "gamma==1.0"]'))
    relock(project, SERVING.replace('["alpha==1.0", "beta==1.0"]', '["Alpha==2.0"]'))

    as_json = project.cli("diff", "git:origin/main", "--format", "json")
    markdown = project.cli("diff", "git:origin/main", "--format", "markdown")
    text = project.cli("diff", "git:origin/main")

    assert as_json.returncode == markdown.returncode == text.returncode == 2, as_json.stderr
    (step,) = json.loads(as_json.stdout)["steps"]
    assert [(c["package"], c["change"], c["direct"]) for c in step["changes"]] == [
        ("alpha", "upgraded", True),
        ("beta", "upgraded", False),
        ("gamma", "removed", True),
    ]
    packages = markdown.stdout.split("#### Package changes")[1].split("<details><summary>Details")
    assert "<details>" not in packages[0]  # three rows: shown open
    assert (
        "| `alpha` | 1.0 | 2.0 | upgraded | direct |\n"
        "| `gamma` | 1.0 |  | removed | direct |\n"
        "| `beta` | 1.0 | 2.0 | upgraded | transitive |\n"
    ) in markdown.stdout
    assert (
        "        ~ alpha 1.0 -> 2.0 (direct)\n"
        "        - gamma 1.0 (direct)\n"
        "        ~ beta 1.0 -> 2.0 (transitive)\n"
    ) in text.stdout


def older_format(text: str) -> str:
    """A lockfile as an older reconcile wrote it: lock format 1, no digest of its body."""
    return re.sub(r"body=\S+ ", "", re.sub(r"format=\d+", "format=1", text, count=1), count=1)


def edit_lock(project: Project, env: str, edit: Callable[[str], str]) -> None:
    path = project.folder / "lockfiles" / f"{env}.txt"
    path.write_text(edit(path.read_text()))


def flat(output: str) -> str:
    """Text output with its wrapped lines joined, to find a warning in it."""
    return " ".join(output.split())


def test_a_base_locked_by_an_older_reconcile_is_a_warning_and_a_relock_with_its_pins_builds_nothing(
    project: Project,
) -> None:
    """Main's lockfiles were written by an older reconcile: the pull request that re-locks them
    passes its review job; BASE's lockfile is what a host running main built, and the same
    pins under a new header are nothing to build."""
    repo(project, SERVING + TOOLS)
    edit_lock(project, "serving", older_format)
    commit(project, "as an older reconcile locked it")
    assert project.cli("lock").returncode == 0  # the pull request: re-lock, same pins
    warning = (
        "BASE git:HEAD: lockfile lockfiles/serving.txt for serving is stale (it was written "
        "by another lock format); diff takes its pins as what a host running BASE built"
    )

    as_json = project.cli("diff", "git:HEAD", "--format", "json")
    markdown = project.cli("diff", "git:HEAD", "--format", "markdown")
    text = project.cli("diff", "git:HEAD")

    assert as_json.returncode == markdown.returncode == text.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert steps(doc) == []
    assert doc["warnings"] == [warning]
    assert f"> **Warning:** {warning}" in markdown.stdout
    assert f"Warning: {warning}" in flat(text.stdout)
    assert project.cli("diff", "git:HEAD", "git:HEAD").returncode == 1  # HEAD must be fresh


def test_a_base_lockfile_whose_pins_miss_its_requirements_is_what_was_built(
    project: Project,
) -> None:
    """BASE pins alpha 0.9 against its own alpha==1.0 (its body digest sealed again, so only
    that is wrong): the plan upgrades alpha, as on a host that built those pins."""
    repo(project, SERVING + TOOLS)
    edit_lock(project, "serving", lambda text: seal(text.replace("alpha==1.0", "alpha==0.9")))
    commit(project, "pins that miss a requirement")
    assert project.cli("lock").returncode == 0

    done = project.cli("diff", "git:HEAD", "--format", "json")

    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    assert steps(doc) == [("env.serving", "replace", [])]
    assert [(c["package"], c["old"], c["new"]) for c in doc["steps"][0]["changes"]] == [
        ("alpha", "0.9", "1.0")
    ]
    assert doc["warnings"] == [
        "BASE git:HEAD: lockfile lockfiles/serving.txt for serving is stale (requirement "
        "alpha==1.0 is pinned to 0.9 which does not satisfy ==1.0); diff takes its pins as "
        "what a host running BASE built"
    ]


def test_a_lockfile_edited_by_hand_is_a_warning_at_base_and_an_error_at_head(
    project: Project,
) -> None:
    """A pull request that edits a lockfile by hand (here: drops the pin of the manifest's own
    alpha) is refused; a BASE edited so is what its hosts built, with a warning."""
    repo(project, SERVING + TOOLS)
    path = project.folder / "lockfiles" / "serving.txt"
    text = path.read_text()
    start = text.index("alpha==1.0")
    end = text.index("\n", text.index("--hash", start)) + 1
    path.write_text(text[:start] + text[end:])
    commit(project, "hand edit")
    git(project, "tag", "handedit")
    before = snapshot(project.folder)
    stale = (
        "lockfile lockfiles/serving.txt for serving is stale (edited by hand, requirement "
        "alpha==1.0 is not pinned)"
    )

    as_base = project.cli("diff", "git:handedit", "git:origin/main", "--format", "json")
    as_head = project.cli("diff", "git:origin/main")  # HEAD: the working tree, edited too

    assert as_base.returncode == 2, as_base.stderr
    doc = json.loads(as_base.stdout)
    assert steps(doc) == [("env.serving", "replace", [])]
    assert [(c["package"], c["change"]) for c in doc["steps"][0]["changes"]] == [("alpha", "added")]
    assert doc["warnings"] == [
        f"BASE git:handedit: {stale}; diff takes its pins as what a host running BASE built"
    ]
    assert as_head.returncode == 1, as_head.stdout
    assert error_line(as_head.stderr) == (
        f"error: envs.toml: {stale}: run `reconcile lock serving` and commit it."
    )
    assert snapshot(project.folder) == before


def test_an_env_base_has_no_readable_lockfile_for_was_never_built(project: Project) -> None:
    """`plan` refuses a missing or broken lockfile, so no host running BASE built that env: the
    diff creates it, with a warning, and a BASE whose manifest changed without a re-lock is
    what was built (no change)."""
    repo(project, SERVING + TOOLS)
    git(project, "rm", "-q", "lockfiles/tools.txt")
    edit_lock(project, "serving", lambda text: "<<<<<<< HEAD\n" + text)
    commit(project, "no tools lockfile, a conflict in serving's")
    git(project, "tag", "broken")
    git(project, "checkout", "-q", "origin/main", "--", "lockfiles")
    relock_needed = project.manifest.read_text().replace('"gamma==1.0"', '"gamma>=1.0"')
    project.manifest.write_text(relock_needed)
    git(project, "commit", "-q", "-am", "requirements changed, not re-locked")
    git(project, "tag", "unlocked")
    git(project, "checkout", "-q", "origin/main", "--", "envs.toml")
    before = snapshot(project.folder)

    broken = project.cli("diff", "git:broken", "--format", "json")
    unlocked = project.cli("diff", "git:unlocked")

    assert broken.returncode == 2, broken.stderr
    doc = json.loads(broken.stdout)
    assert steps(doc) == [("env.serving", "create", []), ("env.tools", "create", [])]
    assert doc["warnings"] == [
        f"BASE git:broken has no lockfile reconcile can read for env {key} (lockfiles/{key}"
        f".txt), so no host running it built {key}: diff takes {key} as absent there"
        for key in ("serving", "tools")
    ]
    assert unlocked.returncode == 0, unlocked.stderr
    assert "No changes." in unlocked.stdout
    assert (
        "Warning: BASE git:unlocked: lockfile lockfiles/tools.txt for tools is stale "
        "(requirements changed); diff takes its pins as what a host running BASE built"
    ) in flat(unlocked.stdout)
    assert snapshot(project.folder) == before


def test_base_and_head_may_be_manifest_paths(project: Project) -> None:
    relock(project, SERVING + TOOLS)
    old = project.folder / "old"
    old.mkdir()
    shutil.copy(project.manifest, old / "envs.toml")
    shutil.copytree(project.folder / "lockfiles", old / "lockfiles")
    shutil.copytree(project.wheels, old / "wheels")
    relock(project, SERVING)

    done = project.cli("diff", "old/envs.toml", "envs.toml", "--format", "json")

    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["base"], doc["head"]) == ("old/envs.toml", "envs.toml")
    assert steps(doc) == [("model.report", "unbind", []), ("env.tools", "delete", ["model.report"])]
    absolute = project.cli("diff", str(old / "envs.toml"), "--format", "json")
    assert json.loads(absolute.stdout)["base"] == "envs.toml"  # never an absolute path


def test_bad_revisions_are_one_sentence_naming_the_revision(project: Project) -> None:
    repo(project, SERVING + TOOLS)
    project.manifest.write_text(project.manifest.read_text() + "\n[models.x]\nenv = 3\n")
    git(project, "commit", "-q", "-am", "broken")
    git(project, "tag", "broken")
    git(project, "rm", "-q", "envs.toml")
    git(project, "commit", "-q", "-m", "no manifest")
    git(project, "tag", "nomanifest")
    git(project, "checkout", "-q", "origin/main", "--", "envs.toml")
    before = snapshot(project.folder)

    cases = {
        "git:nope": "error: git:nope: no such revision in ",
        "git:nomanifest": "error: git:nomanifest has no envs.toml: name a revision that has",
        "git:": "error: git: names no revision; write git:REF, e.g. git:origin/main.",
        "git:HEAD^{tree}": "error: git:HEAD^{tree} names a tree, not a commit; name a branch,",
    }
    for base, expected in cases.items():
        done = project.cli("diff", base)
        assert done.returncode == 1, (base, done.stdout)
        assert error_line(done.stderr).startswith(expected), (base, done.stderr)
        assert "Traceback" not in done.stderr
    broken = project.cli("diff", "git:broken")
    assert broken.returncode == 1
    assert "git:broken:envs.toml:" in broken.stderr and "models.x.env" in broken.stderr
    assert error_line(broken.stderr) == (
        "error: git:broken:envs.toml has 1 problem; fix it and run the command again."
    )
    assert snapshot(project.folder) == before


def test_git_ref_outside_a_repository_says_so(project: Project) -> None:
    relock(project, SERVING)
    done = project.cli("diff", "git:main")
    assert done.returncode == 1
    assert error_line(done.stderr).endswith(
        "is not inside a git repository, so git:main cannot be read; run diff from a clone or "
        "pass a manifest path."
    )


def test_diff_markdown_for_a_pr_names_sources_by_field_only(project: Project) -> None:
    repo(project, SERVING)
    url = "https://u:hunter2@x.invalid/s"
    text = project.manifest.read_text()
    text = text.replace("no_index = true", f'no_index = true\nindex_url = "{url}"')
    project.manifest.write_text(text)
    assert project.cli("lock").returncode == 0
    done = project.cli("diff", "git:origin/main", "--format", "markdown")
    assert done.returncode == 2, done.stderr
    assert "`sources_changed`" in done.stdout and "sources_changed: index_url" in done.stdout
    assert "hunter2" not in done.stdout and "x.invalid" not in done.stdout
