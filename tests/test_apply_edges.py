"""Edge cases found in review: saved --target plans, pruning after a rollback, a linked
trash, unapplied adoption, and error paths that must stay one sentence."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler import generations, layout
from tests.conftest import Project
from tests.test_apply import SERVING, TOOLS, apply, generations_of, relock, setup


def test_a_saved_target_plan_applies_only_its_reviewed_steps(project: Project) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"') + TOOLS)
    done = project.cli("plan", "--target", "tools", "--out", "p.json")
    assert done.returncode == 0, done.stderr
    saved = json.loads((project.folder / "p.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in saved["steps"]] == ["env.tools", "model.report"]

    done = project.cli("apply", "p.json")

    assert done.returncode == 0, done.stdout + done.stderr
    assert generations_of(project, "tools") == ["g0001"]
    assert generations_of(project, "serving") == ["g0001"]  # its replace was not reviewed
    left = project.cli("plan", "--format", "json")
    assert [s["id"] for s in json.loads(left.stdout)["steps"]] == ["env.serving"]


def test_pruning_after_a_rollback_keeps_the_generation_that_was_live(project: Project) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    apply(project)
    assert project.cli("rollback", "serving").returncode == 0  # live: g0001, newer: g0002
    relock(project, SERVING.replace('["alpha==1.0"', '["alpha==1.0", "gamma==1.0"'))

    apply(project)

    assert generations_of(project, "serving") == ["g0001", "g0003"]
    back = project.cli("rollback", "serving")
    assert back.returncode == 0 and "g0001" in back.stdout


def test_gc_refuses_a_trash_that_links_out_of_the_root(project: Project, tmp_path: Path) -> None:
    setup(project, SERVING)
    outside = tmp_path / "outside"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "data.txt").write_text("keep", encoding="utf-8")
    (project.root / layout.TRASH).symlink_to(outside, target_is_directory=True)

    dry = project.cli("gc", "--dry-run")
    done = project.cli("gc")

    assert "precious" not in dry.stdout
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "leads outside the root" in done.stderr
    assert (outside / "precious" / "data.txt").read_text(encoding="utf-8") == "keep"


def test_which_follows_the_applied_adoption_not_an_unapplied_manifest_edit(
    project: Project, tmp_path: Path
) -> None:
    setup(project, SERVING)
    before = project.cli("which", "chat")
    assert before.returncode == 0, before.stderr
    legacy = tmp_path / "legacy"
    (legacy / "bin").mkdir(parents=True)
    text = project.manifest.read_text(encoding="utf-8")
    start = text.index("[envs.serving]")
    end = text.index("[models.chat]")
    project.manifest.write_text(
        text[:start] + f'[envs.serving]\nadopt = "{legacy}"\n\n' + text[end:], encoding="utf-8"
    )

    after = project.cli("which", "chat")

    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout


def test_run_of_a_file_that_cannot_execute_is_one_sentence(project: Project) -> None:
    setup(project, SERVING)
    script = project.folder / "not-executable.sh"
    script.write_text("echo hi\n", encoding="utf-8")

    done = project.cli("run", "chat", "--", str(script))

    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot run") and done.stderr.count("\n") == 1


def test_plan_out_to_an_unwritable_place_and_a_malformed_saved_plan_are_one_sentence(
    project: Project,
) -> None:
    setup(project, SERVING)
    done = project.cli("plan", "--out", "envs.toml/p.json")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot write the plan") and "internal" not in done.stderr
    bad = project.folder / "bad.json"
    bad.write_text(json.dumps({"format_version": "1", "fingerprint": [1]}), encoding="utf-8")
    done = project.cli("apply", str(bad))
    assert done.returncode == 1
    assert "is not a plan reconcile wrote" in done.stderr and "internal" not in done.stderr


def test_switch_over_a_hand_made_folder_swaps_it_out_in_one_exchange(tmp_path: Path) -> None:
    hand = tmp_path / "env"
    (hand / "bin").mkdir(parents=True)
    (hand / "mine.txt").write_text("hand-made", encoding="utf-8")
    _, generation = generations.next_generation_path(tmp_path, "env")
    (generation / "bin").mkdir(parents=True)
    generations.write_receipt(generation, {"generation": generation.name})

    generations.switch(tmp_path, "env", generation)

    assert (tmp_path / "env").is_symlink()
    assert (tmp_path / "env").resolve() == generation.resolve()
    trashed = list((tmp_path / layout.TRASH).iterdir())
    assert len(trashed) == 1 and (trashed[0] / "mine.txt").read_text() == "hand-made"
    assert not list(tmp_path.glob(".env.switch-*"))


def test_a_root_reached_through_a_symlink_builds_healthy_envs(
    project: Project, tmp_path: Path
) -> None:
    """A root linked to another disk (`.envs -> /data/envs`) is common on GPU hosts: the
    venvs are made for the linked path and live at the real one; that is no `env_moved`."""
    real_root = tmp_path / "data-envs"
    real_root.mkdir()
    project.root.symlink_to(real_root)
    setup(project, SERVING)
    done = project.cli("plan", "--detailed-exitcode")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (real_root / layout.GENERATIONS / "serving").is_dir()
