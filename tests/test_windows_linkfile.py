"""The link file: the stand-in for ``<root>\\<env_key>`` where the Windows volume cannot make a
junction (reconciler/store/winswitch.py, linkfile.py), run on any OS with the fake Windows of
tests/test_windows.py. Wine makes no junctions, so this is the path the Windows job takes there;
what a failed junction leaves, and a kill between the steps, are proven here.
"""

from __future__ import annotations

import errno
from datetime import datetime, timezone
from pathlib import Path, PurePath, PureWindowsPath

import pytest

from reconciler.errors import EnvPathOccupied
from reconciler.memo.stamps import identity
from reconciler.observe.env import EnvRequest
from reconciler.observe.look import look_at
from reconciler.platform import POSIX_VENV, WINDOWS_VENV
from reconciler.report.status import StatusRow, render_text, status_document
from reconciler.store import generations, linkfile, removals, winswitch
from tests import test_windows
from tests.test_windows import GENS, ROOT, FakeWindows, _error, as_path, windows_ops

fake = test_windows.fake  # the fixtures: an in-memory NTFS volume, and generations.* over it
on_windows = test_windows.on_windows

LINK = ROOT / "serving"
TEMP = ROOT / ".serving.switch-t"
ASIDE = ROOT / ".serving.switch-t-old"
RECORDED = ROOT / ".serving.switch-0123abcd"  # a tag as WindowsStoreOps.switch records it
RECORDED_ASIDE = ROOT / ".serving.switch-0123abcd-old"


def _names(fake: FakeWindows) -> list[str]:
    """The entries of the root."""
    return sorted(p.name for p in fake.nodes if p.parent == ROOT and p != ROOT)


def _no_junctions(fake: FakeWindows) -> FakeWindows:
    fake.junctions = "unsupported"
    return fake


@pytest.mark.parametrize("how", ["unsupported", "silent"])
def test_where_no_junction_can_be_made_the_env_path_becomes_a_link_file_and_nothing_is_left(
    fake: FakeWindows, how: str
) -> None:
    fake.junctions = how  # WinError 50 after making the folder (Wine, FAT32); or a no-op

    made = winswitch.switch(fake, ROOT, "serving", GENS / "g0001", tag="t")

    assert made == "link_file"
    assert fake.kind(LINK) == "file"
    assert fake.nodes[LINK].data == (
        b"# reconcile link file: this filesystem cannot make junctions; the live generation is:"
        b"\r\n.generations\\serving\\g0001\r\n"
    )
    assert _names(fake) == [".generations", "serving"]  # no .serving.switch-* folder left
    assert winswitch.link_target(fake, ROOT, "serving") == GENS / "g0001"
    assert winswitch.own_kind(fake, LINK) == "link_file"
    if how == "unsupported":
        assert ("remove_dir", str(TEMP)) in fake.calls  # the folder CreateJunction made


def test_a_junction_that_fails_for_another_reason_fails_the_switch_and_leaves_nothing(
    fake: FakeWindows,
) -> None:
    def denied(target: PurePath, link: PurePath) -> None:
        fake.dir(link)  # made, then the reparse point refused
        raise _error(PermissionError, errno.EACCES, 5, link)

    fake.create_junction = denied  # type: ignore[method-assign]

    with pytest.raises(PermissionError):
        winswitch.switch(fake, ROOT, "serving", GENS / "g0001", tag="t")

    assert _names(fake) == [".generations"]
    assert not [c for c in fake.calls if c[0] == "write_file"]  # no link file for that


def test_one_link_file_replaces_another_in_one_step(fake: FakeWindows) -> None:
    _no_junctions(fake)
    winswitch.switch(fake, ROOT, "serving", GENS / "g0001", tag="a")
    seen: list[PurePath | None] = []

    def look(source: PurePath, destination: PurePath) -> None:
        seen.append(winswitch.link_target(fake, ROOT, "serving"))

    fake.before_rename = look
    fake.calls.clear()
    winswitch.switch(fake, ROOT, "serving", GENS / "g0002", tag="b")

    assert [c[0] for c in fake.calls] == ["create_junction", "remove_dir", "write_file", "replace"]
    assert seen == [GENS / "g0001"]  # the path never went missing: os.replace is atomic
    assert winswitch.link_target(fake, ROOT, "serving") == GENS / "g0002"
    assert _names(fake) == [".generations", "serving"]


def test_a_junction_becomes_a_link_file_and_back_through_the_aside_rename(
    fake: FakeWindows,
) -> None:
    fake.junction(LINK, GENS / "g0001")
    _no_junctions(fake)
    seen: list[PurePath | None] = []

    def look(source: PurePath, destination: PurePath) -> None:
        if source == TEMP:  # the old link aside, the new not in yet
            assert fake.kind(LINK) == "missing"
            seen.append(winswitch.link_target(fake, ROOT, "serving"))

    fake.before_rename = look
    assert winswitch.switch(fake, ROOT, "serving", GENS / "g0002", tag="t") == "link_file"
    assert fake.kind(LINK) == "file"
    fake.junctions = "supported"  # the root moved back to an NTFS volume
    assert winswitch.switch(fake, ROOT, "serving", GENS / "g0001", tag="t") == "junction"

    assert seen == [GENS / "g0001", GENS / "g0002"]  # in each window: the env as it was
    assert fake.points_at(LINK) == GENS / "g0001"
    assert _names(fake) == [".generations", "serving"]
    assert fake.kind(GENS / "g0002" / "Scripts" / "python.exe") == "file"


@pytest.mark.parametrize(
    ("old", "new"),
    [("link_file", "junction"), ("junction", "link_file"), ("link_file", "link_file")],
)
def test_a_switch_killed_between_its_steps_is_recovered_by_the_next_cleanup(
    on_windows: FakeWindows, old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a kill leaves (the old link aside, or not yet replaced; the new one under its
    recorded temporary name): the env stays the old one for which/run, and the next
    apply's or gc's cleanup puts the old link back and removes the new one."""

    def put(path: PurePath, kind: str, gen: str) -> None:
        if kind == "junction":
            on_windows.junction(path, GENS / gen)
        else:
            on_windows.text(path, linkfile.render("serving", gen))

    aside_taken = not (old == new == "link_file")  # two link files: replaced in one step
    put(RECORDED_ASIDE if aside_taken else LINK, old, "g0001")
    put(RECORDED, new, "g0002")
    removals.record(as_path(ROOT), "switch", as_path(RECORDED), as_path(RECORDED_ASIDE))
    ops = windows_ops(on_windows)
    monkeypatch.setattr(generations, "leftover_generations", lambda *_, **__: [])  # real folders

    assert ops.link_target(as_path(ROOT), "serving") == GENS / "g0001"  # what which/run read
    cleaned = generations.remove_leftovers(as_path(ROOT), ["serving"], ops=ops)

    assert cleaned.removed == (str(RECORDED),) and not cleaned.failed
    assert winswitch.link_target(on_windows, ROOT, "serving") == GENS / "g0001"
    assert winswitch.own_kind(on_windows, LINK) == old
    assert _names(on_windows) == [".generations", "serving"]
    assert removals.entries(as_path(ROOT)) == []


HEADER = linkfile.FIRST_LINE.encode() + b"\r\n"
BAD_LINK_FILE = "a link file that names no generation of serving"
FOREIGN = {  # what sits at <root>\serving -> what the refusal calls it
    "notes": (b"my own notes\r\n", "a file that reconcile did not create"),
    "malformed": (HEADER + b".generations\\serving\\g0001\r\nmore\r\n", BAD_LINK_FILE),
    "outside the root": (HEADER + b"..\\..\\elsewhere\\g0001\r\n", BAD_LINK_FILE),
    "absolute": (HEADER + b"D:\\precious\\g0001\r\n", BAD_LINK_FILE),
    "another env's": (HEADER + b".generations\\tools\\g0001\r\n", BAD_LINK_FILE),
    "not a generation": (HEADER + b".generations\\serving\\..\r\n", BAD_LINK_FILE),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_a_file_that_is_not_a_well_formed_link_file_of_the_env_is_refused_never_removed(
    on_windows: FakeWindows, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, what = FOREIGN[case]
    on_windows.text(LINK, data)
    on_windows.junctions = "unsupported"
    ops = windows_ops(on_windows)

    monkeypatch.setattr(generations, "leftover_generations", lambda *_, **__: [])  # real folders
    with pytest.raises(EnvPathOccupied) as refused:
        generations.switch(as_path(ROOT), "serving", as_path(GENS / "g0002"), ops=ops)
    generations.unlink_env(as_path(ROOT), "serving", ops=ops)
    cleaned = generations.remove_leftovers(as_path(ROOT), ["serving"], ops=ops)

    assert what in refused.value.message and str(LINK) in refused.value.message
    assert ops.link_target(as_path(ROOT), "serving") is None  # never followed
    assert not generations.has_link(as_path(ROOT), "serving", ops=ops)
    assert ops.link_kind(as_path(ROOT), "serving") is None
    assert not cleaned.removed and on_windows.nodes[LINK].data == data
    assert _names(on_windows) == [".generations", "serving"]


def test_generations_switch_and_unlink_env_handle_the_link_file(on_windows: FakeWindows) -> None:
    on_windows.junctions = "unsupported"
    ops = windows_ops(on_windows)

    generations.switch(as_path(ROOT), "serving", as_path(GENS / "g0001"), ops=ops)
    generations.switch(as_path(ROOT), "serving", as_path(GENS / "g0002"), ops=ops)

    assert ops.link_target(as_path(ROOT), "serving") == GENS / "g0002"
    assert generations.has_link(as_path(ROOT), "serving", ops=ops)
    assert ops.foreign_at_link(as_path(ROOT), "serving") is None
    assert ops.link_kind(as_path(ROOT), "serving") == "link_file"
    assert removals.entries(as_path(ROOT)) == []  # the temporary names were dropped

    generations.unlink_env(as_path(ROOT), "serving", ops=ops)

    assert on_windows.kind(LINK) == "missing"
    assert on_windows.kind(GENS / "g0002" / "reconcile-receipt.json") == "file"


# --- what reads the env through it ------------------------------------------------------


def _venv(folder: Path) -> None:
    (folder / "Scripts").mkdir(parents=True)
    (folder / "Lib" / "site-packages").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /nowhere\nversion = 3.13.2\n", encoding="utf-8")


def test_observation_reads_a_link_file_as_a_link_on_windows_only(tmp_path: Path) -> None:
    root = tmp_path / "envs"
    _venv(root / ".generations" / "serving" / "g0003")
    (root / "serving").write_bytes(linkfile.render("serving", "g0003"))
    (root / "tools").write_bytes(linkfile.FIRST_LINE.encode() + b"\r\n..\\..\\etc\r\n")
    (root / "gone").write_bytes(linkfile.render("gone", "g0001"))

    def look(key: str, windows: bool, managed: bool = True) -> tuple[str, str | None, str | None]:
        request = EnvRequest(key, root / key, confine_to=root if managed else None)
        facts = look_at(request, venv=WINDOWS_VENV if windows else POSIX_VENV)
        return facts.kind, facts.link_target, facts.real_path

    generation = str(root / ".generations" / "serving" / "g0003")
    assert look("serving", True) == ("symlink", generation, generation)
    assert look("serving", False) == ("other", None, None)  # POSIX makes no link files
    assert look("serving", True, managed=False) == ("other", None, None)  # an adopted path
    assert look("tools", True) == ("other", None, None)  # malformed: a file, not followed
    assert look("gone", True)[0] == "broken_symlink"


def test_replacing_a_link_file_changes_the_identity_the_which_memo_checks(tmp_path: Path) -> None:
    link = tmp_path / "serving"
    link.write_bytes(linkfile.render("serving", "g0003"))
    before = identity(str(link))
    temp = tmp_path / ".serving.switch-x"
    temp.write_bytes(linkfile.render("serving", "g0004"))  # the same size
    temp.replace(link)

    assert identity(str(link)) != before


def test_status_says_how_each_env_is_linked_and_why_a_link_file() -> None:
    rows = [
        StatusRow("serving", "managed", "envs\\serving", link="link_file"),
        StatusRow("tools", "managed", "envs/tools", link="symlink"),
        StatusRow("legacy", "adopted", "D:\\legacy\\.venv"),
    ]
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    doc = status_document(rows, now, "envs.toml", "C:\\work\\envs")
    text = render_text(doc)

    links = {e["env"]: (e["link"], e["link_note"]) for e in doc["envs"]}
    assert links == {
        "serving": ("link_file", "this filesystem cannot make junctions"),
        "tools": ("symlink", None),
        "legacy": (None, None),
    }
    header, *lines = text.splitlines()
    assert header.split()[-2:] == ["link", "path"]
    assert [line.split()[-3:-1] for line in lines[:3]] == [
        ["-", "-"],
        ["link", "file"],
        ["-", "symlink"],
    ]
    assert (
        "link file (this filesystem cannot make junctions): envs\\serving is a text file naming "
        "the live generation, not a folder; reach the env through `reconcile which` or "
        "`reconcile run`."
    ) in text.splitlines()


def test_a_link_file_target_is_inside_its_envs_generations_only() -> None:
    root = PureWindowsPath("C:/envs")
    good = linkfile.render("serving", "g0012")
    assert linkfile.target(root, "serving", good) == root / ".generations" / "serving" / "g0012"
    assert linkfile.target(root, "tools", good) is None
    assert linkfile.generation_named(good.replace(b"\r\n", b"\n"), "serving") == "g0012"
    assert linkfile.generation_named(b"\xff\xfe", "serving") is None
