"""Forced rebuilds end to end: `plan/apply --replace ENV` builds a new generation of a
healthy env and switches to it, a saved plan keeps its replace set, and an env built with
another `link_mode` than the manifest now says is replaced (the hard-link warning goes away).
Real uv, real venvs, the installed command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.report.verify import LINKED_FILES_HINT
from reconciler.store import layout
from tests.apply_helpers import (
    SERVING,
    TOOLS,
    error_line,
    gen_dir,
    generations_of,
    legacy_venv,
    link_of,
    lock,
    setup,
)
from tests.helpers import Project
from tests.test_memo_replay import stored

pytestmark = pytest.mark.slow

LEGACY = """
[envs.legacy]
adopt = "environments/legacy/.venv"
"""


def receipt(project: Project, env_key: str, gen_id: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        layout.receipt_path(gen_dir(project, env_key, gen_id)).read_text(encoding="utf-8")
    )
    return data


def hardlink_warnings(project: Project) -> list[str]:
    done = project.cli("verify")
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "other hard links" in line]


def test_replace_rebuilds_a_healthy_env_and_switches_to_the_new_generation(
    project: Project,
) -> None:
    setup(project, SERVING + TOOLS)
    stored(project)  # the plan memo holds "No changes": a plan with --replace must not replay it

    planned = project.cli("plan", "--replace", "serving")
    assert planned.returncode == 0, planned.stderr
    assert '-/+ env "serving"' in planned.stdout
    assert "reasons: replace_requested" in planned.stdout
    assert "Plan: 0 to create, 1 to replace, 0 to delete, 0 to rebind." in planned.stdout

    done = project.cli("apply", "--replace", "serving", "--yes")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002"]
    assert link_of(project, "serving").endswith("g0002")
    assert generations_of(project, "tools") == ["g0001"]  # only the named env is rebuilt
    assert project.cli("plan").stdout.startswith("No changes.")
    assert "/serving/g0002/" in project.cli("which", "chat").stdout


def test_replace_with_a_target_rebuilds_the_named_env_too(project: Project) -> None:
    setup(project, SERVING + TOOLS)

    done = project.cli("apply", "--target", "tools", "--replace", "serving", "--yes")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002"]
    assert generations_of(project, "tools") == ["g0001"]


def test_replace_refuses_an_unknown_env_before_the_root_is_made(project: Project) -> None:
    project.write(SERVING)
    lock(project)

    for command in (("plan",), ("apply", "--yes")):
        done = project.cli(*command, "--replace", "servin")
        assert done.returncode == 1
        assert error_line(done.stderr) == (
            'error: --replace servin names no managed env in the manifest; did you mean "serving"?'
        )
    assert not project.root.exists()


def test_replace_refuses_an_adopted_env(project: Project) -> None:
    legacy_venv(project, project.folder / "environments" / "legacy" / ".venv")
    setup(project, SERVING + LEGACY)

    done = project.cli("apply", "--replace", "legacy", "--yes")

    assert done.returncode == 1
    assert error_line(done.stderr).startswith(
        "error: --replace legacy names an adopted env: reconcile never builds it"
    )
    assert generations_of(project, "serving") == ["g0001"]


def test_a_saved_plan_keeps_its_replace_set(project: Project) -> None:
    setup(project, SERVING)
    saved = project.folder / "p.json"
    assert project.cli("plan", "--replace", "serving", "--out", "p.json").returncode == 0
    assert json.loads(saved.read_text())["fingerprint"]["replace"] == ["serving"]

    refused = project.cli("apply", "p.json", "--replace", "serving", "--yes")
    assert refused.returncode == 1
    assert error_line(refused.stderr).startswith(
        "error: --replace cannot be used with a saved plan"
    )

    done = project.cli("apply", "p.json", "--yes")
    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002"]
    assert link_of(project, "serving").endswith("g0002")


def test_a_saved_plan_whose_replace_set_was_edited_is_stale(project: Project) -> None:
    setup(project, SERVING)
    saved = project.folder / "p.json"
    assert project.cli("plan", "--replace", "serving", "--out", "p.json").returncode == 0
    document = json.loads(saved.read_text())
    document["fingerprint"]["replace"] = []
    saved.write_text(json.dumps(document))

    done = project.cli("apply", "p.json", "--yes")

    assert done.returncode == 1
    line = error_line(done.stderr)
    # the edited set is what the fresh plan is made with: its steps then differ from the file's
    assert line.startswith("error: plan is stale: step env.serving is no longer planned; ")
    assert generations_of(project, "serving") == ["g0001"]


def test_a_link_mode_change_replaces_the_env_and_the_hard_link_warning_goes_away(
    project: Project, private_uv_cache: Path
) -> None:
    setup(project, '[settings]\nlink_mode = "hardlink"\n\n' + SERVING)
    assert receipt(project, "serving", "g0001")["link_mode_declared"] == "hardlink"
    assert len(hardlink_warnings(project)) == 1

    project.write('[settings]\nlink_mode = "auto"\n\n' + SERVING)
    assert hardlink_warnings(project) == [
        'warning: serving: 6 of its files have other hard links although link_mode is "auto": '
        f"{LINKED_FILES_HINT}; `reconcile apply --replace serving` rebuilds it with files of "
        "its own."
    ]
    planned = project.cli("plan")
    assert '-/+ env "serving"' in planned.stdout
    assert "reasons: link_mode_changed" in planned.stdout
    assert 'built with link_mode "hardlink", now "auto"' in planned.stdout

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0001", "g0002"]
    assert receipt(project, "serving", "g0002")["link_mode_declared"] == "auto"
    assert hardlink_warnings(project) == []
    assert project.cli("plan").stdout.startswith("No changes.")


def test_a_receipt_from_before_link_mode_declared_is_no_change(project: Project) -> None:
    setup(project, SERVING)
    path = layout.receipt_path(gen_dir(project, "serving", "g0001"))
    old = json.loads(path.read_text())
    del old["link_mode_declared"]
    path.write_text(json.dumps(old))

    assert project.cli("plan").stdout.startswith("No changes.")


def test_a_stale_plan_with_a_replace_set_says_how_to_make_it_again(project: Project) -> None:
    setup(project, SERVING)
    assert project.cli("plan", "--replace", "serving", "--out", "p.json").returncode == 0
    project.write(SERVING + "# edited\n")

    done = project.cli("apply", "p.json", "--yes")

    assert done.returncode == 1
    assert error_line(done.stderr) == (
        "error: plan is stale: the manifest changed. Make a new one with "
        "`reconcile plan --replace serving --out p.json`."
    )
