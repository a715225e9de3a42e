"""`reconcile plan` end to end: the installed command against real venvs built with uv.

These tests hold the CLI contract (SPEC 4 and 5): exit codes, the JSON document, markdown
for PR comments, saved plans and their fingerprint, --target, and what plan refuses to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reconciler.cli.app import main
from reconciler.spec.lockfile import seal
from tests.helpers import Project, build_env, require_python

ENVS = """\
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[envs.tools]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]
"""

MODELS = """
[models.chat]
env = "serving"

[models.report]
env = "tools"
"""


def lock(project: Project) -> None:
    """Write the lockfiles in-process: faster than a subprocess; test_lock.py covers `lock`."""
    assert main(["--manifest", str(project.manifest), "--quiet", "lock"]) == 0


def lockfile(project: Project, env_key: str) -> Path:
    return project.folder / "lockfiles" / f"{env_key}.txt"


def plan_json(project: Project, *args: str) -> dict[str, Any]:
    done = project.cli("plan", "--format", "json", *args)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def saved_plan(project: Project, name: str) -> dict[str, Any]:
    done = project.cli("plan", "--out", name)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads((project.folder / name).read_text())
    return document


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_plan_detailed_exitcode_is_2_with_changes_and_0_without(project: Project) -> None:
    python = require_python("3.11")
    project.write(ENVS)
    lock(project)
    assert project.cli("plan", "--detailed-exitcode").returncode == 2
    assert project.cli("plan").returncode == 0  # changes alone are not an error

    serving = project.build("serving", python)
    project.build("tools", python)
    done = project.cli("plan", "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "No changes. Environments match envs.toml."

    project.install(serving, "beta==1.0")
    done = project.cli("plan", "--detailed-exitcode")
    assert done.returncode == 2, done.stdout + done.stderr


def test_plan_text_uses_terraform_symbols_and_ends_with_the_summary(project: Project) -> None:
    project.write(ENVS + MODELS)
    lock(project)

    done = project.cli("plan")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert '  + env "serving" {python 3.11, 2 packages}' in lines
    assert '  ~ model "chat": (unbound) -> serving' in lines
    assert lines[-1] == "Plan: 2 to create, 0 to replace, 0 to delete, 2 to rebind."


def test_plan_json_is_a_versioned_document_whose_rebinds_depend_on_their_env(
    project: Project,
) -> None:
    project.write(ENVS + MODELS)
    lock(project)

    doc = plan_json(project)

    assert doc["format_version"] == "1"
    for step in doc["steps"]:
        assert {"id", "action", "target", "reasons", "depends_on"} <= set(step)
    rows = [
        (s["id"], s["action"], s["target"], s["reasons"], s["depends_on"]) for s in doc["steps"]
    ]
    assert rows == [
        ("env.serving", "create", "serving", ["missing"], []),
        ("env.tools", "create", "tools", ["missing"], []),
        ("model.chat", "rebind", "chat", ["new_model"], ["env.serving"]),
        ("model.report", "rebind", "report", ["new_model"], ["env.tools"]),
    ]
    assert doc["summary"]["create"] == 2
    assert doc["summary"]["rebind"] == 2


def test_plan_json_on_stdout_stays_parseable_when_the_plan_is_also_saved(
    project: Project,
) -> None:
    project.write(ENVS)
    lock(project)

    done = project.cli("plan", "--format", "json", "--out", "plan.json")

    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert "Saved the plan to plan.json" in done.stderr
    saved = json.loads((project.folder / "plan.json").read_text())
    assert printed["steps"] == saved["steps"]


def test_plan_replaces_a_broken_env_and_explains_it_in_json(project: Project) -> None:
    python = require_python("3.11")
    project.write(ENVS)
    lock(project)
    serving = project.build("serving", python)
    project.build("tools", python)
    (serving / "bin" / "activate").unlink()

    doc = plan_json(project)

    assert [(s["id"], s["action"], s["reasons"], s["details"]) for s in doc["steps"]] == [
        (
            "env.serving",
            "replace",
            ["activation_missing"],
            [
                "activation_missing: bin/activate is missing",
                f"{serving} is a folder that reconcile did not create: apply stops at this env "
                "until it is moved away (reconcile never deletes it)",
            ],
        )
    ]


def test_plan_markdown_has_no_absolute_paths(project: Project, tmp_path: Path) -> None:
    python = require_python("3.11")
    project.write(ENVS)
    lock(project)
    project.root.mkdir()
    made_at = project.folder / "made-here"
    build_env(made_at, python, lockfile(project, "serving"), project.wheels)
    made_at.rename(project.root / "serving")  # env_moved: its details name both folders
    (project.root / "tools").symlink_to(project.folder / "gone")  # names the link target

    as_json = project.cli("plan", "--format", "json").stdout
    markdown = project.cli("plan", "--format", "markdown").stdout

    assert str(made_at) in as_json  # the plan does carry absolute paths...
    assert str(tmp_path) not in markdown  # ...which the PR comment must not show
    assert str(tmp_path.resolve()) not in markdown
    assert "`env_moved`" in markdown
    assert ".../made-here" in markdown
    assert markdown == project.cli("plan", "--format", "markdown").stdout


def test_saved_plan_fingerprint_is_stable_and_changes_when_an_env_changes(
    project: Project,
) -> None:
    python = require_python("3.11")
    project.write(ENVS)
    lock(project)
    serving = project.build("serving", python)

    first = saved_plan(project, "first.json")
    second = saved_plan(project, "second.json")

    assert first["format_version"] == "1"
    fingerprint = first["fingerprint"]
    manifest_sha = hashlib.sha256(project.manifest.read_bytes()).hexdigest()
    assert fingerprint["manifest_sha256"] == manifest_sha
    lock_sha = hashlib.sha256(lockfile(project, "serving").read_bytes()).hexdigest()
    assert fingerprint["lockfiles"]["serving"] == lock_sha
    assert sorted(fingerprint["lockfiles"]) == ["serving", "tools"]
    assert sorted(fingerprint["observed"]) == ["serving", "tools"]  # tools does not exist yet
    assert second["fingerprint"] == fingerprint

    project.install(serving, "gamma==1.0")
    third = saved_plan(project, "third.json")

    assert third["fingerprint"]["observed"]["serving"] != fingerprint["observed"]["serving"]
    assert third["fingerprint"]["observed"]["tools"] == fingerprint["observed"]["tools"]
    assert third["fingerprint"]["manifest_sha256"] == fingerprint["manifest_sha256"]
    assert third["fingerprint"]["lockfiles"] == fingerprint["lockfiles"]


def test_saved_plan_fingerprint_changes_when_a_lockfile_changes(project: Project) -> None:
    project.write(ENVS)
    lock(project)
    before = saved_plan(project, "before.json")["fingerprint"]

    path = lockfile(project, "tools")
    path.write_text(seal(path.read_text() + "# reviewed\n"))  # as a new `reconcile lock` may
    after = saved_plan(project, "after.json")["fingerprint"]

    assert after["lockfiles"]["tools"] != before["lockfiles"]["tools"]
    assert after["lockfiles"]["serving"] == before["lockfiles"]["serving"]


def test_plan_target_limits_steps_to_that_env_and_its_models(project: Project) -> None:
    project.write(ENVS + MODELS)
    lock(project)

    doc = plan_json(project, "--target", "serving")

    assert [s["id"] for s in doc["steps"]] == ["env.serving", "model.chat"]


def test_plan_rejects_an_unknown_target_with_a_did_you_mean(project: Project) -> None:
    project.write(ENVS)
    lock(project)

    done = project.cli("plan", "--target", "servng")

    assert done.returncode == 1
    assert 'did you mean "serving"?' in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_plan_refuses_a_stale_lockfile_and_names_the_lock_command(project: Project) -> None:
    project.write(ENVS)
    lock(project)
    project.write(ENVS.replace('["alpha==1.0"]', '["alpha==1.0", "gamma==1.0"]'))

    done = project.cli("plan")

    assert done.returncode == 1
    assert "lockfile lockfiles/serving.txt for serving is stale (requirements changed)" in (
        done.stderr
    )
    assert "`reconcile lock serving`" in done.stderr
    assert done.stdout == ""


def test_a_lockfile_that_lost_the_manifests_own_requirement_is_refused_not_no_changes(
    project: Project,
) -> None:
    """The env matches its hand-edited lockfile, which no longer pins alpha: once that read
    "No changes" and apply rebuilt the env without alpha. Every command that reads it now
    says the lockfile is stale and names it; nothing is built."""
    python = require_python("3.11")
    project.write(ENVS + MODELS)
    lock(project)
    serving = project.build("serving", python)
    project.build("tools", python)
    path = lockfile(project, "serving")
    text = path.read_text()
    start = text.index("alpha==1.0")
    end = text.index("\n", text.index("--hash", start)) + 1
    path.write_text(text[:start] + text[end:])
    stale = (
        "lockfile lockfiles/serving.txt for serving is stale (edited by hand, requirement "
        "alpha==1.0 is not pinned)"
    )

    for command in (("plan",), ("plan", "--detailed-exitcode"), ("apply", "--yes")):
        done = project.cli(*command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr == f"error: {stale}: run `reconcile lock serving`.\n", command
        assert done.stdout == ""
    check = project.cli("lock", "--check", "serving")
    assert check.returncode == 2
    assert f"serving: {stale}" in check.stderr
    status = json.loads(project.cli("status", "--format", "json").stdout)
    reasons = {env["env"]: env["reasons"] for env in status["envs"]}
    assert "lock_stale" in reasons["serving"] and "lock_stale" not in reasons["tools"]
    assert sorted(p.name for p in (serving / "lib").glob("python*/site-packages/alpha")) != []
    assert not (project.root / ".generations").exists()


def test_plan_refuses_a_missing_lockfile_and_names_the_lock_command(project: Project) -> None:
    project.write(ENVS)

    done = project.cli("plan")

    assert done.returncode == 1
    assert "lockfile for serving not found" in done.stderr
    assert "`reconcile lock serving`" in done.stderr


def test_plan_never_creates_the_root_folder(project: Project) -> None:
    project.write(ENVS + MODELS)
    lock(project)

    for args in (("plan",), ("plan", "--format", "markdown"), ("plan", "--out", "plan.json")):
        done = project.cli(*args)
        assert done.returncode == 0, done.stderr

    assert (project.folder / "plan.json").is_file()
    assert not project.root.exists()


def test_plan_with_a_bad_manifest_exits_1_and_creates_nothing(project: Project) -> None:
    project.write(ENVS)
    lock(project)
    project.write(ENVS.replace('[envs.tools]\npython = "3.11"', '[envs.tools]\npythn = "3.11"'))
    before = files_under(project.folder)

    done = project.cli("plan", "--out", "plan.json")

    assert done.returncode == 1
    assert "envs.tools.pythn" in done.stderr
    assert "Traceback" not in done.stderr
    assert files_under(project.folder) == before


def test_a_root_that_is_a_file_is_one_sentence_and_nothing_changes(project: Project) -> None:
    project.write(ENVS + MODELS)
    lock(project)
    project.root.write_text("not a folder\n", encoding="utf-8")
    before = files_under(project.folder)

    done = [project.cli(*args) for args in (("plan",), ("apply", "--yes"), ("status",))]

    for run in done[:2]:
        assert run.returncode == 1, run.stderr
        assert run.stderr.strip() == (
            f"error: the root {project.root} is not a folder: a file or a broken link is in "
            "its place or on its path; point settings.root (or --root) at a folder, or move "
            "that away."
        )
    assert "Traceback" not in done[2].stderr
    assert files_under(project.folder) == before


def test_a_state_folder_that_is_a_file_is_named_as_such(project: Project) -> None:
    project.write(ENVS + MODELS)
    lock(project)
    project.root.mkdir()
    (project.root / ".state").write_text("not a folder\n", encoding="utf-8")

    done = project.cli("plan")

    assert done.returncode == 1
    assert "bindings.json" in done.stderr
    assert "a file is where a folder should be" in done.stderr
    assert "the root" not in done.stderr


def test_plan_and_apply_name_every_missing_lockfile_not_only_the_first(project: Project) -> None:
    project.write(ENVS)

    for command in (("plan",), ("apply", "--yes")):
        done = project.cli(*command)

        assert done.returncode == 1, command
        lines = done.stderr.splitlines()
        assert len(lines) == 2, lines
        assert (
            "lockfile for serving not found" in lines[0] and "`reconcile lock serving`" in lines[0]
        )
        assert "lockfile for tools not found" in lines[1] and "`reconcile lock tools`" in lines[1]
        assert all(line.startswith("error: ") for line in lines)
        assert done.stdout == ""
    assert not project.root.exists()
