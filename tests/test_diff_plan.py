"""Table tests of the pure parts of `reconcile diff`: lockfile changes package by package, the
stand-in observation of a host that matches BASE, and the PR-comment markdown (issue 6)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reconciler.core.diffplan import Side, diff_plan
from reconciler.report.document import diff_document
from reconciler.report.plan import (
    COLLAPSE_AFTER,
    MAX_COMMENT_CHARS,
    MAX_PACKAGE_ROWS,
    render_markdown,
    render_text,
)
from reconciler.spec.lockdiff import PackageChange, package_changes, summarise
from reconciler.spec.lockfile import parse_lockfile
from tests.diff_helpers import lock, pins_text, side


def steps_of(base: Side, head: Side) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.id, s.action, s.reasons) for s in diff_plan(base, head).steps]


# --- lockfile changes -------------------------------------------------------------------------


def test_each_kind_of_package_change_is_named_with_old_and_new_versions() -> None:
    old = lock("same==1.0", "up==1.0", "down==2.0", "gone==1.0", "rehashed==1.0")
    new = parse_lockfile(
        pins_text("same==1.0", "up==1.10", "down==1.9", "fresh==0.1")
        + pins_text("rehashed==1.0", salt="rebuilt"),
        "new.txt",
    )
    assert package_changes(old, new) == (
        PackageChange("down", "2.0", "1.9", "downgraded"),
        PackageChange("fresh", None, "0.1", "added"),
        PackageChange("gone", "1.0", None, "removed"),
        PackageChange("rehashed", "1.0", "1.0", "changed"),
        PackageChange("up", "1.0", "1.10", "upgraded"),
    )
    assert (
        summarise(package_changes(old, new))
        == "1 upgraded, 1 downgraded, 1 added, 1 removed, 1 changed"
    )


def test_a_package_pinned_per_platform_lists_its_versions() -> None:
    old = lock('numpy==1.26.4; python_version < "3.12"', 'numpy==2.0.0; python_version >= "3.12"')
    new = lock('numpy==2.1.0; python_version < "3.12"', 'numpy==2.0.0; python_version >= "3.12"')
    assert package_changes(old, new) == (
        PackageChange("numpy", "1.26.4, 2.0.0", "2.0.0, 2.1.0", "changed"),
    )


def test_one_version_spelt_two_ways_is_a_change_not_a_downgrade() -> None:
    (change,) = package_changes(lock("a==1.0"), lock("a==1.0.0"))
    assert change.change == "changed"


def test_identical_lockfiles_have_no_changes() -> None:
    assert package_changes(lock("a==1"), lock("a==1")) == ()
    assert summarise(()) == ""


# --- the stand-in observation -----------------------------------------------------------------

BASE = """\
[envs.serving]
python = "3.11"
requirements = ["torch==2.3.1"]

[envs.tools]
python = "3.12"
requirements = ["six"]

[envs.legacy]
adopt = "old/.venv"

[models.chat]
env = "serving"

[models.report]
env = "tools"

[models.llama]
env = "legacy"
"""
BASE_LOCKS = {"serving": lock("torch==2.3.1"), "tools": lock("six==1.16.0")}


def test_the_same_revision_on_both_sides_is_no_change() -> None:
    base = side(BASE, BASE_LOCKS)
    assert diff_plan(base, base).steps == ()


def test_a_lockfile_change_replaces_the_env_and_names_its_packages() -> None:
    head = side(BASE, {**BASE_LOCKS, "serving": lock("torch==2.4.0", "filelock==3.0")})
    plan = diff_plan(side(BASE, BASE_LOCKS), head)
    (step,) = plan.steps
    assert (step.id, step.action, step.reasons) == ("env.serving", "replace", ("lock_changed",))
    assert step.details == ("lock_changed: 1 upgraded, 1 added",)
    assert [(c.name, c.old, c.new) for c in step.changes] == [
        ("filelock", None, "3.0"),
        ("torch", "2.3.1", "2.4.0"),
    ]


def test_a_python_change_and_a_source_change_are_both_named() -> None:
    text = BASE.replace('python = "3.12"', 'python = "3.13"') + (
        '\n[envs.tools.sources]\nindex_url = "https://user:secret@mirror.example/simple"\n'
    )
    head = side(text, {**BASE_LOCKS, "tools": lock("six==1.16.0", salt="relocked")})
    (step,) = diff_plan(side(BASE, BASE_LOCKS), head).steps
    assert step.reasons == ("lock_changed", "python_changed", "sources_changed")
    assert "python_changed: 3.12 -> 3.13" in step.details
    assert "sources_changed: index_url" in step.details
    assert not any("secret" in d or "mirror" in d for d in step.details)  # names, never URLs


def test_a_migration_creates_first_then_rebinds_then_deletes() -> None:
    text = (
        BASE.replace('env = "tools"', 'env = "serving"').replace(
            '[envs.tools]\npython = "3.12"\nrequirements = ["six"]\n', ""
        )
        + '\n[envs.vision]\npython = "3.11"\nrequirements = ["pillow"]\n'
        + '\n[models.ocr]\nenv = "vision"\n'
    )
    head = side(text, {"serving": BASE_LOCKS["serving"], "vision": lock("pillow==10.4.0")})
    plan = diff_plan(side(BASE, BASE_LOCKS), head)
    assert [(s.id, s.action, s.depends_on) for s in plan.steps] == [
        ("env.vision", "create", ()),
        ("model.ocr", "rebind", ("env.vision",)),
        ("model.report", "rebind", ()),  # serving is unchanged: nothing to wait for
        ("env.tools", "delete", ("model.report",)),
    ]
    create = plan.steps[0]
    assert [(c.name, c.change) for c in create.changes] == [("pillow", "added")]
    assert plan.steps[2].from_env == "tools" and plan.steps[2].to_env == "serving"


def test_an_env_base_has_no_lockfile_for_was_never_built() -> None:
    """BASE without tools' lockfile: no host running it built tools, so HEAD's tools is created
    with every package added, and a HEAD without tools deletes nothing."""
    base = side(BASE, {"serving": BASE_LOCKS["serving"]})
    plan = diff_plan(base, side(BASE, BASE_LOCKS))
    (create,) = plan.steps
    assert (create.id, create.action, create.reasons) == ("env.tools", "create", ("missing",))
    assert [(c.name, c.change) for c in create.changes] == [("six", "added")]
    without = BASE.replace('[envs.tools]\npython = "3.12"\nrequirements = ["six"]\n', "")
    head = side(without.replace('env = "tools"', 'env = "serving"'), BASE_LOCKS)
    assert steps_of(base, head) == [("model.report", "rebind", ("env_changed",))]
    assert steps_of(side(BASE, BASE_LOCKS), head)[-1] == ("env.tools", "delete", ("not_declared",))


def test_adopted_envs_are_forgotten_deleted_or_moved_as_the_manifest_says() -> None:
    base = side(BASE, BASE_LOCKS)
    moved = side(BASE.replace("old/.venv", "elsewhere/.venv"), BASE_LOCKS)
    assert steps_of(base, moved) == [("model.llama", "rebind", ("adopt_path_changed",))]
    gone = BASE.replace('env = "legacy"', 'env = "serving"')
    doomed = side(
        gone.replace('adopt = "old/.venv"', 'adopt = "old/.venv"\ndelete = true'), BASE_LOCKS
    )
    assert steps_of(base, doomed) == [
        ("model.llama", "rebind", ("env_changed",)),
        ("env.legacy", "delete", ("delete_requested",)),
    ]
    forgotten = side(gone.replace('[envs.legacy]\nadopt = "old/.venv"\n', ""), BASE_LOCKS)
    assert steps_of(base, forgotten)[-1] == ("env.legacy", "forget", ("not_declared",))
    assert steps_of(doomed, doomed) == []  # deleted at BASE already: nothing left to do


def test_a_new_root_builds_every_env_afresh_and_says_so() -> None:
    plan = diff_plan(side(BASE, BASE_LOCKS), side(BASE, BASE_LOCKS, root="/data/.envs"))
    assert [(s.id, s.action, s.reasons) for s in plan.steps] == [
        ("env.serving", "create", ("missing",)),
        ("env.tools", "create", ("missing",)),
        ("model.chat", "rebind", ("new_model",)),  # the new root has no applied bindings
        ("model.llama", "rebind", ("new_model",)),
        ("model.report", "rebind", ("new_model",)),
    ]
    assert any("settings.root changed" in w for w in plan.warnings)


# --- rendering for a pull request -------------------------------------------------------------


def big_sides(envs: int = 30, models: int = 100) -> tuple[Side, Side]:
    """A fleet-sized manifest: every env upgraded, every model moved to the next env."""

    def text(shift: int) -> str:
        body = "".join(
            f'[envs.e{i:02}]\npython = "3.11"\nrequirements = ["torch"]\n\n' for i in range(envs)
        )
        body += "".join(
            f'[models.m{i:03}]\nenv = "e{(i + shift) % envs:02}"\n\n' for i in range(models)
        )
        return body

    base = side(text(0), {f"e{i:02}": lock("torch==2.3.1", "numpy==1.26.4") for i in range(envs)})
    head = side(text(1), {f"e{i:02}": lock("torch==2.4.0", "numpy==1.26.4") for i in range(envs)})
    return base, head


def test_markdown_for_a_large_manifest_folds_long_tables_and_shows_a_short_package_table() -> None:
    base, head = big_sides()
    doc = diff_document(diff_plan(base, head), "envs.toml", "git:origin/main", "envs.toml")
    text = render_markdown(doc)
    assert text.startswith("### reconcile diff `git:origin/main` → `envs.toml`\n\n")
    assert "**Plan: 0 to create, 30 to replace, 0 to delete, 100 to rebind.**" in text
    assert "<details><summary>Show the 30 envs</summary>" in text
    assert "<details><summary>Show the 100 models</summary>" in text
    assert "#### Package changes (30 in 30 envs)" in text
    assert text.count("| `torch` | 2.3.1 | 2.4.0 | upgraded | direct |") == 1  # one for all 30
    assert "**`e00` (replace), `e01` (replace), " in text
    visible = re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)
    assert "| `torch` | 2.3.1 | 2.4.0 |" in visible  # one row: shown open
    assert len(visible.splitlines()) < 25  # what shows before anything is unfolded
    assert render_markdown(doc) == text  # deterministic
    assert not re.search(r"(^|\s)/srv", text)  # no absolute paths


def test_markdown_too_long_for_one_comment_is_shortened_step_by_step() -> None:
    """30 new envs of 120 packages each, all different: far past GitHub's comment limit."""
    body = "".join(f'[envs.e{i:02}]\npython = "3.11"\n\n' for i in range(30))
    locks = {f"e{i:02}": lock(*(f"package-{i}-{n}==1.{n}" for n in range(120))) for i in range(30)}
    doc = diff_document(
        diff_plan(side("", {}), side(body, locks)), "envs.toml", "git:main", "envs.toml"
    )
    text = render_markdown(doc)
    assert len(text) <= MAX_COMMENT_CHARS
    assert "#### Package changes (3600 in 30 envs)" in text
    assert text.count("and 110 more (see `--format json`)") == 30  # 10 rows per env left
    assert text.count("<details><summary>Show the 120 package changes</summary>") == 30
    assert "<details><summary>Show the 30 envs</summary>" in text  # the steps stay
    assert text.rstrip().endswith("lists every package and detail._")
    assert "**Plan: 30 to create, 0 to replace, 0 to delete, 0 to rebind.**" in text

    huge = {f"e{i:02}": lock(*(f"p-{i}-{n}==1.{n}" for n in range(120))) for i in range(300)}
    body = "".join(f'[envs.e{i:02}]\npython = "3.11"\n\n' for i in range(300))
    doc = diff_document(diff_plan(side("", {}), side(body, huge)), "envs.toml", "a", "b")
    text = render_markdown(doc)
    assert "- `e00` (create): 120 added" in text  # only the counts are left
    assert "| added |" not in text
    assert "<details><summary>Show the counts of the 300 envs</summary>" in text


def test_markup_from_the_reviewed_change_cannot_inject_html() -> None:
    # the lockfile parser refuses such a version; the renderer escapes it all the same
    clean = lock("evil==1.0")
    evil = replace(clean, packages=(replace(clean.packages[0], version="1.0<img>"),))
    head = side('[envs.x]\npython = "3.11"\n', {"x": evil})
    doc = diff_document(diff_plan(side("", {}), head), "envs.toml", "git:we`ird", "envs.toml")
    text = render_markdown(doc)
    assert "<img>" not in text and "1.0&lt;img>" in text
    assert text.startswith("### reconcile diff `` git:we`ird `` → `envs.toml`")


def test_a_long_package_list_is_cut_and_counted() -> None:
    head = side('[envs.big]\npython = "3.11"\n', {"big": lock(*(f"p{n}==1.0" for n in range(80)))})
    doc = diff_document(diff_plan(side("", {}), head), "envs.toml", "git:main", "envs.toml")
    text = render_markdown(doc)
    assert text.count(" | added |") == MAX_PACKAGE_ROWS
    assert f"and {80 - MAX_PACKAGE_ROWS} more (see `--format json`)" in text
    assert len(doc["steps"][0]["changes"]) == 80  # the document keeps every one


def test_a_short_table_is_shown_open() -> None:
    base, head = big_sides(envs=COLLAPSE_AFTER, models=COLLAPSE_AFTER)
    text = render_markdown(diff_document(diff_plan(base, head), "envs.toml", "a.toml", "b.toml"))
    assert "Show the" not in text
    assert "#### `~` 10 models to rebind" in text


def test_text_names_both_sides_and_each_package_of_a_replace() -> None:
    head = side(BASE, {**BASE_LOCKS, "serving": lock("torch==2.4.0")})
    doc = diff_document(
        diff_plan(side(BASE, BASE_LOCKS), head), "envs.toml", "git:main", "envs.toml"
    )
    text = render_text(doc).plain
    assert text.startswith("Comparing git:main (as if applied and healthy) with envs.toml.\n")
    assert "        ~ torch 2.3.1 -> 2.4.0 (direct)\n" in text
    assert text.endswith("Plan: 0 to create, 1 to replace, 0 to delete, 0 to rebind.\n")


@pytest.mark.parametrize("render", [render_markdown, lambda d: render_text(d).plain])
def test_no_changes_names_both_sides(render: object) -> None:
    base = side(BASE, BASE_LOCKS)
    doc = diff_document(diff_plan(base, base), "envs.toml", "git:main", "envs.toml")
    assert "No changes. envs.toml declares the same environments as git:main." in render(doc)  # type: ignore[operator]
