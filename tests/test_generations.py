"""Generation folders: ids, the switch, gc selection and removal, on real files; and what
apply reports when pruning old generations fails after a switch that succeeded."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.generations import collectable
from reconciler.files import stray_temporaries
from reconciler.store import generations, layout
from reconciler.store.posix import PosixStoreOps
from tests.apply_helpers import (
    SERVING,
    TOOLS,
    as_plain_user,
    cli_as,
    error_line,
    gen_dir,
    generations_of,
    link_of,
    relock,
    setup,
    snapshot,
    tools_with_a_folder_of_another_user,
    trash_entries,
)
from tests.helpers import Project

POSIX_OPS = PosixStoreOps()

KEEP_ONE = "[settings]\nkeep_generations = 1\n\n"


def _complete(root: Path, env_key: str) -> Path:
    _, path = generations.next_generation_path(root, env_key)
    (path / "bin").mkdir(parents=True)
    generations.write_receipt(path, {"generation": path.name})
    return path


def test_generation_ids_are_never_reused_even_after_a_leftover_is_removed(tmp_path: Path) -> None:
    first = _complete(tmp_path, "env")
    gen_id, leftover = generations.next_generation_path(tmp_path, "env")
    leftover.mkdir()  # a killed build: no receipt
    generations.remove_leftovers(tmp_path, ["env"], ops=POSIX_OPS)
    assert not leftover.exists()
    next_id, _ = generations.next_generation_path(tmp_path, "env")
    assert (first.name, gen_id, next_id) == ("g0001", "g0002", "g0003")


def test_switch_replaces_the_link_and_rollback_target_is_the_newest_older_one(
    tmp_path: Path,
) -> None:
    one, two, three = (_complete(tmp_path, "env") for _ in range(3))
    generations.switch(tmp_path, "env", three, ops=POSIX_OPS)
    link = layout.env_link(tmp_path, "env")
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == three.resolve()
    previous = generations.previous_generation(tmp_path, "env", ops=POSIX_OPS)
    assert previous is not None and previous.path == two
    generations.switch(tmp_path, "env", one, ops=POSIX_OPS)
    assert generations.previous_generation(tmp_path, "env", ops=POSIX_OPS) is None
    assert not list(tmp_path.glob(".*.switch-*"))


def test_gc_keeps_the_live_one_and_the_newest_others_and_drops_incomplete_ones(
    tmp_path: Path,
) -> None:
    gens = [_complete(tmp_path, "env") for _ in range(4)]
    _, incomplete = generations.next_generation_path(tmp_path, "env")
    incomplete.mkdir()
    # rolled back: live is not the newest
    generations.switch(tmp_path, "env", gens[1], ops=POSIX_OPS)
    listed = generations.list_generations(tmp_path, "env")
    live = generations.live_generation(tmp_path, "env", ops=POSIX_OPS)
    doomed = [g.gen_id for g in collectable(listed, live, keep=2)]
    assert doomed == ["g0001", "g0003", "g0005"]  # kept: live g0002 and the newest other, g0004
    assert [g.gen_id for g in collectable(listed, live, keep=1)] == [
        "g0001",
        "g0003",
        "g0004",
        "g0005",
    ]


def test_removal_refuses_paths_outside_the_root_and_never_follows_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me", encoding="utf-8")
    result = generations.delete_tree(root, outside, ops=POSIX_OPS)
    assert result.failed and (outside / "precious.txt").exists()
    gen = _complete(root, "env")
    (gen / "escape").symlink_to(outside, target_is_directory=True)
    result = generations.delete_tree(root, gen, ops=POSIX_OPS)
    assert not result.failed and not gen.exists()
    assert (outside / "precious.txt").read_text(encoding="utf-8") == "keep me"
    assert not any((root / layout.TRASH).iterdir())


def test_a_removal_is_reported_in_one_line_naming_the_first_entry_left_and_the_retry() -> None:
    entry = PurePosixPath("/r/.trash/g0001-abcd1234")
    failures = [
        (str(entry / "lib/site/alpha/__init__.py"), "Permission denied"),
        (str(entry / "lib/site/alpha/core.py"), "Permission denied"),
    ]

    moved = generations.summarize("/r/.generations/env/g0001", entry, failures)
    in_place = generations.summarize(str(entry), entry, failures[:1])
    clean = generations.summarize("/r/.generations/env/g0001", entry, [])

    assert moved.failed == (
        (
            "/r/.generations/env/g0001",
            "lib/site/alpha/__init__.py: Permission denied (and 1 more); left in "
            "/r/.trash/g0001-abcd1234; the next apply or `reconcile gc` retries",
        ),
    )
    assert in_place.failed == (
        (str(entry), "lib/site/alpha/__init__.py: Permission denied; `reconcile gc` retries it"),
    )
    assert clean.removed == ("/r/.generations/env/g0001",) and not clean.failed


def test_a_prune_that_cannot_remove_an_old_generation_reports_it_exits_0_and_gc_retries(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    setup(project, KEEP_ONE + SERVING)
    preexec = as_plain_user()
    old = gen_dir(project, "serving", "g0001")
    stuck = next(old.glob("lib/python*/site-packages/alpha"))
    os.chown(stuck, 65534, 65534)  # someone else's read-only folder: its bits cannot be cleared
    stuck.chmod(0o555)
    readonly_cleanup.append(stuck)
    relock(project, KEEP_ONE + SERVING.replace('"beta==1.0"', '"beta==2.0"'))

    done = cli_as(project, preexec, "apply", "--yes")

    assert done.returncode == 0, done.stderr  # the switch succeeded; the prune is a warning
    assert "Apply complete: 1 replaced" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0002"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, done.stderr  # one line for the generation, not one per file
    assert warnings[0].startswith(f"warning: could not remove {old}: lib/python")
    assert "alpha/__init__.py: Permission denied" in warnings[0]
    assert "`reconcile gc` retries" in warnings[0]
    assert generations_of(project, "serving") == ["g0002"]  # the rest waits in the trash
    assert len(trash_entries(project)) == 1

    done = project.cli("gc")  # as a user who may remove it

    assert done.returncode == 0, done.stderr
    assert trash_entries(project) == []


def test_a_trash_that_is_a_link_stops_apply_before_anything_changes_and_gc_as_well(
    project: Project, tmp_path: Path
) -> None:
    setup(project, KEEP_ONE + SERVING)
    outside = tmp_path / "outside"
    outside.mkdir()
    relock(project, KEEP_ONE + SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    trash = project.root / layout.TRASH
    trash.symlink_to(outside, target_is_directory=True)

    done = project.cli("apply", "--yes")
    gc = project.cli("gc")

    for run in (done, gc):
        assert run.returncode == 1, run.stdout + run.stderr
        assert run.stderr.startswith(f"error: refusing to use {trash}: it is a link")
        assert run.stderr.count("\n") == 1
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert generations_of(project, "serving") == ["g0001"]
    assert not list(outside.iterdir())

    trash.unlink()  # the user follows the advice and removes the link
    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert generations_of(project, "serving") == ["g0002"]


def _look_alikes(root: Path) -> dict[Path, str]:
    """A user's files and folders named like what reconcile makes and removes, in every place
    its cleanup looks: a switch's temporary, a trash entry, a killed build, an undeclared
    env's generations, stray temporaries, a reflink probe. Path -> what it is."""
    folders = {
        root / ".serving.switch-deadbeef": "a folder named like a displaced switch folder",
        root / layout.TRASH / "serving-0badc0de": "a folder in the trash nobody recorded",
        root
        / layout.GENERATIONS
        / "serving"
        / "g0099": "an incomplete generation never handed out",
        root / layout.GENERATIONS / "backup": "an undeclared env's folder without a counter",
    }
    files = {
        root / "..lock.info.notes": "a file named like the lock's temporary",
        root / layout.STATE / ".bindings.json.old": "a file named like the bindings' temporary",
        root / layout.GENERATIONS / ".reflink-notes": "a file named like a reflink probe",
        root / layout.GENERATIONS / "serving" / "..last.bak": "a file named like the counter's",
    }
    for folder in folders:
        (folder / "keep").mkdir(parents=True)
        (folder / "keep" / "notes.txt").write_text("mine", encoding="utf-8")
    for file in files:
        file.write_text("mine", encoding="utf-8")
    link = root / ".serving.switch-cafef00d"
    link.symlink_to(Path(layout.GENERATIONS) / "serving" / "g0001", target_is_directory=True)
    return {**folders, **files, link: "a link named like a switch's temporary"}


def _state(path: Path) -> object:
    if path.is_symlink():
        return ("link", str(path.readlink()))
    if path.is_dir():
        return snapshot(path)
    return (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns)


def test_apply_and_gc_never_remove_what_merely_looks_like_reconcile_s_own(
    project: Project,
) -> None:
    """SPEC 7.7: removal takes only what reconcile created and recorded, never a path chosen
    by a name pattern; gc --dry-run lists none of them, and the next build steps over a
    generation folder it never handed out."""
    setup(project, KEEP_ONE + SERVING)
    planted = _look_alikes(project.root)
    before = {path: _state(path) for path in planted}
    relock(project, KEEP_ONE + SERVING.replace('"beta==1.0"', '"beta==2.0"'))

    dry = project.cli("gc", "--dry-run")
    runs = [project.cli("apply", "--yes"), project.cli("gc"), project.cli("gc", "--keep", "1")]

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == "Nothing to remove.\n", dry.stdout  # nothing of reconcile's
    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "warning" not in done.stderr, done.stderr
    trash_entry = project.root / layout.TRASH / "serving-0badc0de"
    assert f"note: left {trash_entry} alone" in runs[1].stderr  # gc names what it leaves
    for path, what in planted.items():
        assert _state(path) == before[path], f"{what} ({path}) was touched"
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert generations_of(project, "serving") == ["..last.bak", "g0002", "g0099"]


def test_a_gc_that_still_cannot_empty_a_trash_entry_warns_once_and_never_renames_it(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    preexec = tools_with_a_folder_of_another_user(project, readonly_cleanup)
    assert cli_as(project, preexec, "apply", "--yes").returncode == 0
    left = trash_entries(project)
    assert len(left) == 1

    for _ in range(2):  # each retry fails the same way: one warning, the same entry
        done = cli_as(project, preexec, "gc")

        # out of the way in the trash: a warning, not a failure (the next gc retries it)
        assert done.returncode == 0, done.stdout + done.stderr
        warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 1, done.stderr
        assert "gamma/__init__.py: Permission denied" in warnings[0]
        assert trash_entries(project) == left

    done = project.cli("gc")  # as a user who may remove it

    assert done.returncode == 0, done.stderr
    assert trash_entries(project) == []


# --- what counts as recorded, whatever the names (hypothesis) -------------------------------

_NAMES = st.one_of(
    st.text(alphabet="abcdef0123456789.-_/\\ ", min_size=0, max_size=30),
    st.sampled_from(["..", ".", "/", "//x", "../x", ".trash/..", ".trash/../x", "/etc", ""]),
    st.builds(lambda tag: f".bindings.json.{tag}", st.text("0123456789abcdefABCDEF.", max_size=14)),
)


@given(rows=st.lists(st.tuples(st.sampled_from(["trash", "aside", "switch", "x"]), _NAMES)))
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_recorded_entry_is_only_ever_one_of_the_shapes_reconcile_writes(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    """Whatever the record of removals holds (edited by hand, or by an attacker who can
    write it), an entry is only ever an entry of the trash, a switch's temporary in the
    root, or an absolute folder named as reconcile sets one aside."""
    from reconciler.store import removals

    root = tmp_path / "root"
    path = root / layout.STATE / removals.NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"entries": [{"kind": k, "path": p} for k, p in rows]}), encoding="utf-8"
    )

    adopted = [tmp_path / "project" / ".venv", tmp_path / "legacy"]
    for entry in removals.entries(root, adopted):
        if entry.kind == "trash":
            assert entry.path.parent == root / layout.TRASH
            assert re.fullmatch(r"[^/\\]+-[0-9a-f]{8}", entry.path.name), entry.path.name
        elif entry.kind == "switch":
            assert entry.path.parent == root
            assert re.fullmatch(r"\.[^/\\]+\.switch-[0-9a-f]{8}(-old)?", entry.path.name)
        else:
            assert any(
                entry.path == f.parent / layout.set_aside_name(f.name, entry.path.name[-8:])
                for f in adopted
            )
            assert re.fullmatch(r"\..+\.reconcile-trash-[0-9a-f]{8}", entry.path.name)


_TAGS = st.text("0123456789abcdef", min_size=8, max_size=8)


@given(
    rows=st.lists(
        st.one_of(
            st.builds(lambda t: ("aside", f"/tmp/victim/photos.reconcile-trash-{t}"), _TAGS),
            st.builds(lambda t: ("aside", f"/tmp/victim/.photos.reconcile-trash-{t}"), _TAGS),
            st.builds(lambda t: ("aside", f"/LEGACY/../x/.legacy.reconcile-trash-{t}"), _TAGS),
            st.builds(lambda t: ("trash", f".trash/{t}"), _TAGS),
            st.builds(lambda n: ("trash", f".trash/{n}"), st.sampled_from(["x", "..", "a-b"])),
            st.builds(lambda n: ("switch", f".{n}"), st.sampled_from(["x.switch-y", "a"])),
            st.builds(lambda n: ("switch", n), st.sampled_from(["x.switch-0badc0de", "/etc"])),
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_hand_edited_record_of_a_shape_reconcile_never_writes_is_ignored(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    """An ``aside`` entry beside no adopted folder of the manifest, a trash entry not named
    ``<name>-<8 hex>``, a switch entry not named ``.<env>.switch-<8 hex>``: never removed."""
    from reconciler.store import removals

    root = tmp_path / "root"
    path = root / layout.STATE / removals.NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [(k, p.replace("/LEGACY", str(tmp_path / "legacy"))) for k, p in rows]
    path.write_text(
        json.dumps({"entries": [{"kind": k, "path": p} for k, p in rows]}), encoding="utf-8"
    )

    assert removals.entries(root, [tmp_path / "legacy"]) == []
    assert removals.ignored(root, [tmp_path / "legacy"]) == [p for _, p in rows]


@given(names=st.lists(_NAMES.map(lambda n: n.replace("/", "").replace("\\", "")), max_size=8))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_stray_temporaries_are_only_files_named_exactly_as_write_atomic_names_them(
    tmp_path: Path, names: list[str]
) -> None:
    folder = tmp_path / "state"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        (old.rmdir if old.is_dir() and not old.is_symlink() else old.unlink)()
    for i, name in enumerate(names):
        if name in ("", ".", "..", "bindings.json"):
            continue
        made = folder / name
        if made.exists() or made.is_symlink():
            continue
        if i % 3 == 0:
            made.mkdir()
        elif i % 3 == 1:
            made.symlink_to(tmp_path)
        else:
            made.write_text("x", encoding="utf-8")

    found = stray_temporaries(folder / "bindings.json")

    for path in found:
        assert re.fullmatch(r"\.bindings\.json\.[0-9a-f]{12}", path.name), path.name
        assert path.is_file() and not path.is_symlink()


def test_an_unreadable_record_of_removals_stops_gc_and_apply_in_one_sentence(
    project: Project,
) -> None:
    from reconciler.store import removals

    setup(project, SERVING)
    record = project.root / layout.STATE / removals.NAME
    record.write_text("{not json", encoding="utf-8")
    before = snapshot(project.root)

    runs = [project.cli("gc", "--dry-run"), project.cli("gc"), project.cli("apply", "--yes")]

    for done in runs:
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.startswith(
            f"error: cannot read reconcile's record of removals at {record}"
        )
        assert done.stderr.count("\n") == 1
    assert snapshot(project.root) == before


def test_gc_never_removes_what_a_hand_edited_record_names_and_says_so(
    project: Project, tmp_path: Path
) -> None:
    """The record of removals is only ever a list of names reconcile gave: an ``aside`` entry
    outside any adopted folder's parent, a trash entry or a switch name of another shape, or
    a switch name on a folder, is left alone, and gc names each one in a note."""
    from reconciler.store import removals

    setup(project, SERVING)
    victim = tmp_path / "victim"
    photos = [victim / "photos.reconcile-trash-2024", victim / ".photos.reconcile-trash-0badc0de"]
    inside = [
        project.root / layout.TRASH / "mine",
        project.root / ".serving.switch-y",
        project.root / ".serving.switch-0badc0de",  # the right name, but a folder
    ]
    for folder in photos + inside:
        (folder / "keep").mkdir(parents=True)
    rows = [("aside", str(p)) for p in photos] + [
        ("trash", ".trash/mine"),
        ("switch", ".serving.switch-y"),
        ("switch", ".serving.switch-0badc0de"),
    ]
    record = project.root / layout.STATE / removals.NAME
    record.write_text(
        json.dumps({"format_version": "1", "entries": [{"kind": k, "path": p} for k, p in rows]}),
        encoding="utf-8",
    )

    dry = project.cli("gc", "--dry-run")
    done = project.cli("gc")
    again = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert again.returncode == 0, again.stderr
    for folder in photos + inside:
        assert (folder / "keep").is_dir(), folder
        assert str(folder) not in dry.stdout and str(folder) not in done.stdout
    for path in [*(str(p) for p in photos), ".trash/mine", ".serving.switch-y"]:
        assert f"note: left {path} alone: {record} lists it" in done.stderr, done.stderr
        assert f"note: left {path} alone" in dry.stderr
    assert f"note: left {inside[2]} alone" in done.stderr


def test_gc_says_what_its_cleanup_removed(project: Project) -> None:
    setup(project, SERVING)
    leftover = project.root / layout.GENERATIONS / "serving" / "g0002"
    (leftover / "bin").mkdir(parents=True)
    (project.root / layout.GENERATIONS / "serving" / ".last").write_text("2\n")
    stray = project.root / layout.STATE / ".bindings.json.0123456789ab"
    stray.write_text("{}", encoding="utf-8")

    done = project.cli("gc")

    assert done.returncode == 0, done.stderr
    assert f"removed {leftover}" in done.stdout.splitlines()
    assert f"removed {stray}" in done.stdout.splitlines()
    assert not leftover.exists() and not stray.exists()


def test_a_delete_whose_generations_cannot_be_moved_into_the_trash_fails_and_gc_as_well(
    project: Project, readonly_cleanup: list[Path]
) -> None:
    """What is still in its place fails the command (on Windows, a running process keeps a
    folder from being renamed; here, a folder of another user, read-only), naming it and
    what to do; nothing in it is deleted. Once it can be moved, gc removes it."""
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    setup(project, SERVING + TOOLS)
    preexec = as_plain_user()
    folder = project.root / layout.GENERATIONS / "tools"
    os.chown(folder, 65534, 65534)  # a folder is renamed only with write access to it
    folder.chmod(0o555)
    readonly_cleanup.append(folder)
    project.write(SERVING)

    done = cli_as(project, preexec, "apply", "--yes")
    gc = cli_as(project, preexec, "gc")

    assert done.returncode == 1, done.stdout + done.stderr
    assert error_line(done.stderr).startswith(
        f"error: env tools failed: {folder} could not be deleted: Permission denied; "
        "it stays where it is; stop the programs running from it, then run `reconcile gc`"
    )
    assert gc.returncode == 1, gc.stdout + gc.stderr
    assert gc.stderr.startswith(f"error: could not remove {folder}: Permission denied")
    assert next(folder.glob("g0001/lib/python*/site-packages/gamma/__init__.py")).is_file()

    folder.chmod(0o755)
    again = project.cli("gc")

    assert again.returncode == 0, again.stderr
    assert not folder.exists() and trash_entries(project) == []
