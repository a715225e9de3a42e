"""Edge cases found in review: saved --target plans, pruning after a rollback, a linked
trash, unapplied adoption, and error paths that must stay one sentence."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import EnvPathOccupied
from reconciler.files import write_atomic
from reconciler.platform import POSIX_VENV
from reconciler.store import generations, layout, removals
from reconciler.store.posix import PosixStoreOps
from tests.apply_helpers import SERVING, TOOLS, apply, generations_of, lock, relock, setup, snapshot
from tests.helpers import Project, require_python

POSIX_OPS = PosixStoreOps()


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

    for run in (dry, done):
        assert run.returncode == 1 and "Traceback" not in run.stderr
        assert f"refusing to use {project.root / layout.TRASH}: it is a link" in run.stderr
        assert "precious" not in run.stdout
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

    assert done.returncode == 126  # as shells: found, but it cannot be executed
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


@pytest.mark.parametrize("what", ["folder", "file", "foreign link", "link loop"])
def test_switch_never_moves_nor_removes_what_it_did_not_create_at_the_link(
    tmp_path: Path, what: str
) -> None:
    place = tmp_path / "env"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "src").mkdir(parents=True)
    if what == "folder":
        (place / "src").mkdir(parents=True)
        (place / "src" / "f").write_text("x", encoding="utf-8")
    elif what == "file":
        place.write_text("x", encoding="utf-8")
    elif what == "foreign link":
        place.symlink_to(elsewhere, target_is_directory=True)
    else:
        place.symlink_to(place)
    before = snapshot(tmp_path)
    _, generation = generations.next_generation_path(tmp_path, "env")
    (generation / "bin").mkdir(parents=True)
    generations.write_receipt(generation, {"generation": generation.name})

    with pytest.raises(EnvPathOccupied, match="move it away"):
        generations.switch(tmp_path, "env", generation, ops=POSIX_OPS)

    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(".")} == {
        k: v for k, v in before.items() if not k.startswith(".")
    }
    assert not (tmp_path / layout.TRASH).exists()
    assert not list(tmp_path.glob(".env.switch-*"))
    assert not (tmp_path / layout.STATE / removals.NAME).exists()


def test_switch_replaces_its_own_link_even_a_dangling_one(tmp_path: Path) -> None:
    _, first = generations.next_generation_path(tmp_path, "env")
    first.mkdir(parents=True)
    generations.switch(tmp_path, "env", first, ops=POSIX_OPS)
    shutil.rmtree(first)  # dangling, but still reconcile's own link
    _, second = generations.next_generation_path(tmp_path, "env")
    second.mkdir(parents=True)

    generations.switch(tmp_path, "env", second, ops=POSIX_OPS)

    assert (tmp_path / "env").resolve() == second.resolve()


def test_apply_and_gc_never_remove_a_users_folder_where_an_env_link_goes(
    project: Project,
) -> None:
    """A project with ``root = "."`` and an env named like one of its folders: apply stops at
    that env, naming the folder, and neither apply nor gc moves or removes anything in it."""
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    mine = project.root / "serving"
    (mine / "src").mkdir(parents=True)
    (mine / "src" / "f").write_text("x", encoding="utf-8")

    plan = project.cli("plan", "--format", "json")
    step = next(s for s in json.loads(plan.stdout)["steps"] if s["id"] == "env.serving")
    assert step["action"] == "replace" and "not_created_by_reconcile" in step["reasons"]
    assert any(
        f"{mine} is a folder that reconcile did not create: apply stops" in d
        for d in step["details"]
    )
    done = project.cli("apply", "--yes")
    gc = project.cli("gc")

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{mine} is a folder that reconcile did not create" in done.stderr
    assert "move it away (reconcile never deletes it)" in done.stderr
    assert gc.returncode == 0, gc.stderr
    assert (mine / "src" / "f").read_text(encoding="utf-8") == "x"
    assert not mine.is_symlink()
    assert not (project.root / layout.TRASH).exists() or not any(
        (project.root / layout.TRASH).iterdir()
    )


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


# --- the root's own folders (SPEC 7.7) -----------------------------------------------------

COMMANDS = (
    ("plan",),
    ("apply", "--yes"),
    ("gc", "--dry-run"),
    ("gc",),
    ("rollback", "serving"),
    ("status",),
    ("verify",),
    ("which", "chat"),
    ("run", "chat", "--", "python", "-c", "pass"),
)


@pytest.mark.parametrize(
    "place",
    [
        layout.GENERATIONS,
        layout.STATE,
        layout.CACHE,
        layout.TRASH,
        f"{layout.GENERATIONS}/serving",
        f"{layout.GENERATIONS}/serving/g0001",
    ],
)
def test_a_link_in_place_of_one_of_the_root_s_own_folders_is_refused_by_every_command(
    project: Project, tmp_path: Path, place: str
) -> None:
    """A link there (to a copy of what was there, outside the root) would have reconcile
    read, write and remove files at its target: each command refuses it in one sentence
    naming the link, and nothing at the target changes."""
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))  # something to apply
    link = project.root / place
    outside = tmp_path / "outside" / link.name
    outside.parent.mkdir()
    if link.exists():
        shutil.move(link, outside)
    else:
        outside.mkdir()
    (outside / ".bindings.json.0123456789ab").write_text("a stray look-alike", encoding="utf-8")
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)

    for command in COMMANDS:
        done = project.cli(*command)

        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: refusing to use {link}: it is a link"), (
            command,
            done.stderr,
        )
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, command
    assert snapshot(outside) == before
    assert link.is_symlink()


def test_a_file_in_place_of_the_generations_folder_is_one_sentence(project: Project) -> None:
    project.write(SERVING)
    lock(project)
    project.root.mkdir()
    generations_file = project.root / layout.GENERATIONS
    generations_file.write_text("not a folder\n", encoding="utf-8")

    for command in COMMANDS:
        done = project.cli(*command)

        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.startswith(
            f"error: refusing to use {generations_file}: a file is where a folder should be"
        ), (command, done.stderr)
        assert "internal error" not in done.stderr and done.stderr.count("\n") == 1
    assert generations_file.read_text(encoding="utf-8") == "not a folder\n"


# --- orphans: only reconcile's own link is an env it may delete -----------------------------


def _copied_receipt(project: Project) -> Path:
    folder = project.root / "copied"
    folder.mkdir()
    receipt = layout.receipt_path(generations.generations_dir(project.root, "serving") / "g0001")
    shutil.copy(receipt, layout.receipt_path(folder))
    return folder


def _copied_generation(project: Project) -> Path:
    folder = project.root / "copied"
    shutil.copytree(generations.generations_dir(project.root, "serving") / "g0001", folder)
    return folder


def _link_to_another_env(project: Project) -> Path:
    folder = project.root / "copied"
    folder.symlink_to(Path(layout.GENERATIONS) / "serving" / "g0001", target_is_directory=True)
    return folder


@pytest.mark.parametrize("make", [_copied_receipt, _copied_generation, _link_to_another_env])
def test_an_orphan_reconcile_did_not_make_is_warned_about_never_deleted(
    project: Project, make: Callable[[Project], Path]
) -> None:
    """Only ``<root>/<key>`` linking into ``.generations/<key>/`` is an env reconcile made; a
    folder carrying a receipt, or a link into another env's generations, is an orphan to
    warn about, whatever it holds: apply neither deletes it nor says it did."""
    setup(project, SERVING)
    orphan = make(project)
    before = snapshot(orphan) if not orphan.is_symlink() else orphan.readlink()

    plan = project.cli("plan", "--detailed-exitcode")
    done = project.cli("apply", "--yes")
    again = project.cli("plan", "--detailed-exitcode")

    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "copied in the root is not declared and was not created by reconcile" in plan.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deleted" not in done.stdout and "Apply complete" not in done.stdout
    assert done.stdout == plan.stdout  # apply shows the warning plan shows, then "No changes"
    assert done.stdout.splitlines()[-1] == "No changes. Environments match envs.toml."
    assert again.returncode == 0, again.stdout
    assert (snapshot(orphan) if not orphan.is_symlink() else orphan.readlink()) == before


def test_a_delete_step_for_a_folder_reconcile_did_not_make_fails_naming_it(
    project: Project,
) -> None:
    """Checked again when the step runs, not trusted from the plan: a delete step for a real
    folder (or for a link that is not reconcile's) fails naming it, and nothing is removed;
    it never reports "deleted" for what is still there."""
    from reconciler.cli.progress import PlainReporter
    from reconciler.core.plan import Plan, Step
    from reconciler.execute.builder import UvBuilder, file_verifier, generation_inspector
    from reconciler.execute.executor import Applier
    from reconciler.execute.rootstore import RootStore
    from reconciler.observe.inputs import load_manifest

    setup(project, SERVING)
    folder = _copied_generation(project)
    before = snapshot(folder)
    loaded = load_manifest(project.manifest)
    applier = Applier(
        loaded,
        {},
        UvBuilder(),
        file_verifier(project.root, venv=POSIX_VENV),
        PlainReporter(quiet=True),
        store=RootStore(project.root, POSIX_OPS, venv=POSIX_VENV),
        inspect=generation_inspector(POSIX_VENV),
    )
    step = Step("env.copied", "env", "delete", "copied", ("not_declared",))

    report = applier.run(Plan((step,)))

    ((failed, why),) = report.failed
    assert failed.id == step.id
    assert re.match(r"^not deleted: .*copied is not", why), why
    assert report.done == []
    assert snapshot(folder) == before


# --- a full disk names the file -------------------------------------------------------------


def test_a_write_that_runs_out_of_room_names_the_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    """A write to an open file that fails (a full disk, here a file size limit, which fails
    the same way) raises an OSError naming no file; write_atomic names the file it writes."""
    target = tmp_path / "state" / "bindings.json"
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, hard))
    try:
        with pytest.raises(OSError) as caught:
            write_atomic(target, "x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)

    assert caught.value.errno == errno.EFBIG
    assert caught.value.filename == str(target)
    assert list(target.parent.iterdir()) == []


@pytest.fixture
def full_state(project: Project) -> Iterator[Path]:
    """SERVING applied, then ``<root>/.state`` on a tiny tmpfs that is full (root only;
    skipped elsewhere)."""
    setup(project, SERVING)
    state = project.root / layout.STATE
    saved = (state / "bindings.json").read_bytes()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(state)],
        capture_output=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        (state / "bindings.json").write_bytes(saved)
        with contextlib.suppress(OSError), (state / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield state
    finally:
        subprocess.run(["umount", str(state)], check=False)


def test_an_apply_that_finds_the_disk_full_names_the_file_it_could_not_write(
    project: Project, full_state: Path
) -> None:
    project.write(SERVING + '\n[models.other]\nenv = "serving"\n')
    lock(project)

    done = project.cli("apply", "--yes")

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"error: model other failed: No space left on device ({full_state / 'bindings.json'})"
    )
    assert "other" not in (full_state / "bindings.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "--yes", "--target", "nosuch"), "--target nosuch names no env"),
        (("rollback", "serving"), "serving has no live generation under"),
    ],
)
def test_a_refused_apply_target_or_rollback_creates_no_root_and_no_lock(
    project: Project, args: tuple[str, ...], message: str
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)

    done = project.cli(*args)

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1
    assert not project.root.exists()


@pytest.mark.parametrize("args", [("apply", "--yes"), ("gc",), ("rollback", "serving")])
def test_a_lock_file_that_is_a_link_is_named_as_a_link_and_never_followed(
    project: Project, tmp_path: Path, args: tuple[str, ...]
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    apply(project)  # two generations: something to roll back to
    lock_file = project.root / layout.LOCK
    lock_file.unlink(missing_ok=True)
    target = tmp_path / "elsewhere" / "lockfile"
    lock_file.symlink_to(target)

    done = project.cli(*args)

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"error: refusing to use {lock_file}: it is a link, and reconcile keeps its apply lock "
        "there and never reads, writes or removes anything through a link; remove the link "
        "(move back what it points at, if it was reconcile's) and run the command again.\n"
    )
    assert lock_file.is_symlink() and not os.path.lexists(target)
