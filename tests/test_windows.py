"""The Windows code paths (reconciler/store/junctions.py and winops.py), run on any OS:
Windows-flavoured paths (PureWindowsPath) and a fake of the OS calls that behaves as Windows
does where it matters:
a rename never replaces an existing name, a junction is removed without touching its target,
read-only files refuse deletion until the attribute is cleared, open files refuse deletion and
keep their folder from being renamed.

Nothing here has run on real Windows: these tests prove the decisions, not NativeWindowsOps.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PureWindowsPath
from typing import cast

import pytest

from reconciler import runner
from reconciler.core.health import Expectation, assess
from reconciler.core.plan import Plan
from reconciler.errors import EnvPathOccupied, ReconcileError
from reconciler.observe.env import EnvRequest, observe_env
from reconciler.platform import WINDOWS_VENV
from reconciler.report.apply import apply_summary, removal_lines, removal_warnings
from reconciler.store import folders, generations, junctions, layout, removals, winswitch
from reconciler.store.bindings import AppliedState
from reconciler.store.generations import Removal
from reconciler.store.junctions import Kind
from reconciler.store.posix import PosixStoreOps
from reconciler.store.system import current
from reconciler.store.winops import WindowsStoreOps
from tests.helpers import require_python
from tests.test_executor_unit import FakeStore, World, build, delete, delete_adopted

ROOT = PureWindowsPath("C:/work/.envs")
GENS = ROOT / ".generations" / "serving"
OUTSIDE = PureWindowsPath("D:/precious")


MESSAGES = {
    2: "The system cannot find the file specified",
    5: "Access is denied",
    17: "The system cannot move the file to a different disk drive",
    50: "The request is not supported",
    32: "The process cannot access the file because it is being used by another process",
    145: "The directory is not empty",
    183: "Cannot create a file when that file already exists",
}


def _error(kind: type[OSError], code: int, winerror: int, path: PurePath) -> OSError:
    """The OSError Windows raises: errno ``code``, ``winerror``, its message."""
    error = kind(code, MESSAGES[winerror], str(path))
    setattr(error, "winerror", winerror)  # noqa: B010  typeshed has winerror on Windows only
    return error


@dataclass
class Node:
    kind: Kind
    target: str = ""
    readonly: bool = False
    open_by_process: bool = False  # WinError 32 on delete; its folders cannot be renamed
    loaded: bool = False  # a .pyd/.dll mapped by a running process: access denied, always
    data: bytes = b""


class FakeWindows:
    """An in-memory NTFS volume, enough of one for winpaths' decisions."""

    def __init__(self) -> None:
        self.nodes: dict[PureWindowsPath, Node] = {}
        self.calls: list[tuple[str, str]] = []
        self.before_rename: Callable[[PurePath, PurePath], None] | None = None
        self.fail_rename: tuple[PurePath, PurePath] | None = None
        self.junctions = "supported"  # "unsupported": as FAT32 or Wine; "silent": Wine's symlink

    # --- building the volume
    def dir(self, path: PurePath, readonly: bool = False) -> None:
        for parent in reversed(PureWindowsPath(path).parents):
            if parent != PureWindowsPath(parent.anchor):
                self.nodes.setdefault(parent, Node("dir"))
        self.nodes[PureWindowsPath(path)] = Node("dir", readonly=readonly)

    def file(
        self,
        path: PurePath,
        readonly: bool = False,
        open_by_process: bool = False,
        loaded: bool = False,
    ) -> None:
        self.dir(PureWindowsPath(path).parent)
        node = Node("file", readonly=readonly, open_by_process=open_by_process, loaded=loaded)
        self.nodes[PureWindowsPath(path)] = node

    def text(self, path: PurePath, data: bytes) -> None:
        self.file(path)
        self.nodes[PureWindowsPath(path)].data = data

    def junction(self, path: PurePath, target: PurePath) -> None:
        self.dir(PureWindowsPath(path).parent)
        self.nodes[PureWindowsPath(path)] = Node("junction", "\\\\?\\" + str(target))

    def under(self, path: PurePath) -> list[PureWindowsPath]:
        top = PureWindowsPath(path)
        return [p for p in self.nodes if p == top or p.is_relative_to(top)]

    def points_at(self, link: PurePath) -> PureWindowsPath:
        return PureWindowsPath(junctions.strip_extended(self.nodes[PureWindowsPath(link)].target))

    # --- WindowsOps
    def _node(self, path: PurePath) -> Node:
        try:
            return self.nodes[PureWindowsPath(path)]
        except KeyError:
            raise _error(FileNotFoundError, errno.ENOENT, 2, path) from None

    def kind(self, path: PurePath) -> Kind:
        node = self.nodes.get(PureWindowsPath(path))
        return node.kind if node else "missing"

    def create_junction(self, target: PurePath, link: PurePath) -> None:
        self.calls.append(("create_junction", str(link)))
        assert PureWindowsPath(target).is_absolute(), "a junction's target is absolute"
        if self.kind(link) != "missing":
            raise _error(FileExistsError, errno.EEXIST, 183, link)
        if self.junctions == "silent":  # reports success, makes nothing
            return
        if self.junctions == "unsupported":  # CreateJunction makes the folder, then fails
            self.dir(link)
            raise _error(OSError, errno.EINVAL, 50, link)
        self.junction(link, target)

    def read_link(self, path: PurePath) -> str:
        node = self._node(path)
        assert node.kind in junctions.LINKS
        return node.target

    def rename(self, source: PurePath, destination: PurePath) -> None:
        self.calls.append(("rename", f"{source} -> {destination}"))
        if self.before_rename is not None:
            self.before_rename(source, destination)
        if self.fail_rename == (source, destination):
            raise _error(PermissionError, errno.EACCES, 5, destination)
        self._node(source)
        if PureWindowsPath(source).drive.lower() != PureWindowsPath(destination).drive.lower():
            raise _error(OSError, errno.EXDEV, 17, destination)  # a rename stays on its drive
        if self.kind(destination) != "missing":  # Windows never renames over a name
            raise _error(FileExistsError, errno.EEXIST, 183, destination)
        moved = self.under(source) if self.kind(source) == "dir" else [PureWindowsPath(source)]
        if any(self.nodes[p].open_by_process for p in moved):
            raise _error(PermissionError, errno.EACCES, 5, source)
        for path in moved:
            new = PureWindowsPath(destination) / path.relative_to(PureWindowsPath(source))
            self.nodes[new] = self.nodes.pop(path)

    def remove_link(self, path: PurePath) -> None:
        self.calls.append(("remove_link", str(path)))
        assert self._node(path).kind in junctions.LINKS, f"{path} is not a link"
        del self.nodes[PureWindowsPath(path)]

    def remove_file(self, path: PurePath) -> None:
        self.calls.append(("remove_file", str(path)))
        node = self._node(path)
        assert node.kind == "file"
        if node.open_by_process:
            raise _error(PermissionError, errno.EACCES, 32, path)
        if node.readonly or node.loaded:
            raise _error(PermissionError, errno.EACCES, 5, path)
        del self.nodes[PureWindowsPath(path)]

    def remove_dir(self, path: PurePath) -> None:
        self.calls.append(("remove_dir", str(path)))
        node = self._node(path)
        assert node.kind == "dir"
        if len(self.under(path)) > 1:
            raise _error(OSError, errno.ENOTEMPTY, 145, path)
        if node.readonly:
            raise _error(PermissionError, errno.EACCES, 5, path)
        del self.nodes[PureWindowsPath(path)]

    def make_dir(self, path: PurePath) -> None:
        if self.kind(path) == "missing":
            self.dir(path)

    def list_dir(self, path: PurePath) -> list[str]:
        assert self._node(path).kind == "dir", "never list through a link"
        return [p.name for p in self.nodes if p.parent == PureWindowsPath(path) and p != p.parent]

    def clear_readonly(self, path: PurePath) -> None:
        self.calls.append(("clear_readonly", str(path)))
        node = self._node(path)
        assert node.kind not in junctions.LINKS, "attributes of a link are its target's"
        node.readonly = False

    def read_file(self, path: PurePath, limit: int) -> bytes:
        node = self._node(path)
        assert node.kind == "file", "only files are read"
        return node.data[: limit + 1]

    def write_file(self, path: PurePath, data: bytes) -> None:
        self.calls.append(("write_file", str(path)))
        if self.kind(path) != "missing":
            raise _error(FileExistsError, errno.EEXIST, 183, path)
        self.text(path, data)

    def replace(self, source: PurePath, destination: PurePath) -> None:
        self.calls.append(("replace", f"{source} -> {destination}"))
        if self.before_rename is not None:
            self.before_rename(source, destination)
        assert self._node(source).kind == "file"
        if self.kind(destination) not in ("missing", "file"):  # MoveFileEx: never a folder
            raise _error(PermissionError, errno.EACCES, 5, destination)
        self.nodes[PureWindowsPath(destination)] = self.nodes.pop(PureWindowsPath(source))

    def real_path(self, path: PurePath) -> PurePath:
        resolved = PureWindowsPath(path.anchor)
        for part in PureWindowsPath(path).parts[1:]:
            resolved = resolved / part
            node = self.nodes.get(resolved)
            if node is not None and node.kind in junctions.LINKS:
                resolved = self.points_at(resolved)
        return resolved


@pytest.fixture
def fake() -> FakeWindows:
    volume = FakeWindows()
    volume.dir(GENS)
    for gen in ("g0001", "g0002"):
        volume.file(GENS / gen / "Scripts" / "python.exe")
        volume.file(GENS / gen / "reconcile-receipt.json")
    volume.file(OUTSIDE / "data.txt")
    return volume


@pytest.fixture
def on_windows(fake: FakeWindows, monkeypatch: pytest.MonkeyPatch) -> FakeWindows:
    """For generations.* given ``ops=windows_ops(fake)`` (the Windows code paths, with the
    fake as the OS): the checks of the root's own folders look at the fake, and the record of
    removals (a file under ``.state`` on a real disk) is kept in memory."""

    def kind(path: PurePath) -> str:
        found = fake.kind(path)
        return "link" if found in junctions.LINKS else {"file": "other"}.get(found, found)

    records: dict[str, list[tuple[str, str]]] = {}
    monkeypatch.setattr(folders, "kind", kind)
    monkeypatch.setattr(removals, "_read", lambda root: list(records.get(str(root), [])))
    monkeypatch.setattr(removals, "_write", lambda root, rows: records.update({str(root): rows}))
    return fake


def windows_ops(fake: FakeWindows) -> WindowsStoreOps:
    """The store's Windows operations, the fake as the OS: what the edge builds on Windows
    from the native OS calls."""
    return WindowsStoreOps(fake)


def as_path(path: PurePath) -> Path:
    """generations' signatures say Path; its Windows branches only use pure operations."""
    return cast(Path, path)


# --- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "long", "plain"),
    [
        ("C:/envs/.generations/x", r"\\?\C:\envs\.generations\x", r"C:\envs\.generations\x"),
        (r"C:\envs\a\..\b\.\c", r"\\?\C:\envs\b\c", r"C:\envs\b\c"),
        (r"\\server\share\envs\x", r"\\?\UNC\server\share\envs\x", r"\\server\share\envs\x"),
        (r"\\?\C:\already", r"\\?\C:\already", r"C:\already"),
    ],
)
def test_extended_length_paths_are_absolute_normalised_and_prefixed(
    given: str, long: str, plain: str
) -> None:
    assert junctions.extended(PureWindowsPath(given)) == long
    assert junctions.strip_extended(long) == plain
    raw = long.replace("\\\\?\\", "\\??\\", 1)  # how a junction stores its target
    assert junctions.strip_extended(raw) == plain


def test_a_tree_deeper_than_max_path_keeps_every_part_and_a_relative_path_is_refused() -> None:
    deep = PureWindowsPath("C:/envs", *(["site-packages-with-a-long-name"] * 12), "mod.pyd")
    assert len(str(deep)) > 260
    long = junctions.extended(deep)
    assert long.startswith("\\\\?\\C:\\") and long.endswith("\\mod.pyd") and len(long) > 260
    with pytest.raises(ValueError, match="absolute"):
        junctions.extended(PureWindowsPath("envs/x"))


# --- the switch ---------------------------------------------------------------------------


def test_the_first_switch_renames_a_new_junction_into_place(fake: FakeWindows) -> None:
    winswitch.switch(fake, ROOT, "serving", GENS / "g0001", tag="t")

    assert fake.kind(ROOT / "serving") == "junction"
    assert fake.points_at(ROOT / "serving") == GENS / "g0001"
    assert [c[0] for c in fake.calls] == ["create_junction", "rename"]
    assert winswitch.link_target(fake, ROOT, "serving") == GENS / "g0001"


def test_a_switch_sets_the_old_junction_aside_renames_the_new_one_in_and_removes_the_old(
    fake: FakeWindows,
) -> None:
    fake.junction(ROOT / "serving", GENS / "g0001")
    seen_in_the_window: list[PurePath | None] = []

    def look(source: PurePath, destination: PurePath) -> None:
        if source == ROOT / ".serving.switch-t":  # the old one is aside, the new one not in
            assert fake.kind(ROOT / "serving") == "missing"
            seen_in_the_window.append(winswitch.link_target(fake, ROOT, "serving"))

    fake.before_rename = look
    winswitch.switch(fake, ROOT, "serving", GENS / "g0002", tag="t")

    assert fake.calls == [
        ("create_junction", str(ROOT / ".serving.switch-t")),
        ("rename", f"{ROOT / 'serving'} -> {ROOT / '.serving.switch-t-old'}"),
        ("rename", f"{ROOT / '.serving.switch-t'} -> {ROOT / 'serving'}"),
        ("remove_link", str(ROOT / ".serving.switch-t-old")),
    ]
    assert fake.points_at(ROOT / "serving") == GENS / "g0002"
    # which/run/resolve() look up the link this way: in the window they see the old env
    assert seen_in_the_window == [GENS / "g0001"]
    assert fake.kind(GENS / "g0001" / "Scripts" / "python.exe") == "file"  # target untouched
    assert [p.name for p in fake.under(ROOT) if p.parent == ROOT] == [".generations", "serving"]


def test_a_switch_that_cannot_rename_the_new_junction_in_puts_the_old_one_back(
    fake: FakeWindows,
) -> None:
    fake.junction(ROOT / "serving", GENS / "g0001")
    fake.fail_rename = (ROOT / ".serving.switch-t", ROOT / "serving")

    with pytest.raises(PermissionError):
        winswitch.switch(fake, ROOT, "serving", GENS / "g0002", tag="t")

    assert fake.points_at(ROOT / "serving") == GENS / "g0001"
    assert fake.kind(ROOT / ".serving.switch-t") == "missing"
    assert fake.kind(ROOT / ".serving.switch-t-old") == "missing"


def test_a_switch_over_a_hand_made_folder_or_file_refuses_and_touches_nothing(
    fake: FakeWindows,
) -> None:
    fake.file(ROOT / "serving" / "mine.txt")
    fake.file(ROOT / "tools")

    for key in ("serving", "tools"):
        with pytest.raises(EnvPathOccupied, match="move it away"):
            winswitch.switch(fake, ROOT, key, GENS / "g0001", tag="t")

    assert fake.kind(ROOT / "serving" / "mine.txt") == "file"
    assert fake.kind(ROOT / "tools") == "file"
    assert fake.kind(ROOT / ".trash") == "missing"
    assert not [c for c in fake.calls if c[0] != "kind"]


def test_a_crash_between_the_two_renames_is_repaired_by_putting_the_old_junction_back(
    fake: FakeWindows,
) -> None:
    fake.junction(ROOT / ".serving.switch-t-old", GENS / "g0001")  # the old one, aside
    fake.junction(ROOT / ".serving.switch-t", GENS / "g0002")  # the new one, not yet in

    assert winswitch.link_target(fake, ROOT, "serving") == GENS / "g0001"
    assert winswitch.recover_switch(fake, ROOT, ["serving"]) == ["serving"]
    assert fake.points_at(ROOT / "serving") == GENS / "g0001"
    stray = junctions.delete_tree(fake, ROOT, ROOT / ".serving.switch-t")
    assert stray.removed and not stray.failures
    assert fake.kind(GENS / "g0002" / "Scripts" / "python.exe") == "file"  # not followed


def test_generations_switch_and_unlink_env_take_the_junction_path_on_windows(
    on_windows: FakeWindows,
) -> None:
    generations.switch(
        as_path(ROOT), "serving", as_path(GENS / "g0001"), ops=windows_ops(on_windows)
    )
    generations.switch(
        as_path(ROOT), "serving", as_path(GENS / "g0002"), ops=windows_ops(on_windows)
    )
    assert on_windows.points_at(ROOT / "serving") == GENS / "g0002"

    assert generations.has_link(as_path(ROOT), "serving", ops=windows_ops(on_windows))
    generations.unlink_env(as_path(ROOT), "serving", ops=windows_ops(on_windows))

    assert on_windows.kind(ROOT / "serving") == "missing"
    assert not generations.has_link(as_path(ROOT), "serving", ops=windows_ops(on_windows))
    assert on_windows.kind(GENS / "g0002" / "reconcile-receipt.json") == "file"


# --- removal ------------------------------------------------------------------------------


def test_removal_clears_read_only_attributes_and_never_follows_a_junction(
    fake: FakeWindows,
) -> None:
    gen = GENS / "g0001"
    fake.file(gen / "Lib" / "site-packages" / "pkg" / "data.bin", readonly=True)
    fake.dir(gen / "Lib" / "site-packages" / "pkg" / "locked-dir", readonly=True)
    fake.junction(gen / "Lib" / "escape", OUTSIDE)

    outcome = junctions.delete_tree(fake, ROOT, gen)

    assert outcome.removed and not outcome.failures
    assert fake.under(gen) == [] and outcome.moved_to is not None
    assert fake.under(outcome.moved_to) == []
    assert fake.kind(OUTSIDE / "data.txt") == "file"
    first_removal = next(i for i, c in enumerate(fake.calls) if c[0].startswith("remove"))
    assert fake.calls[first_removal - 1][0] == "rename"  # into the trash before deleting
    assert ("remove_link", str(outcome.moved_to / "Lib" / "escape")) in fake.calls
    cleared = [c[1] for c in fake.calls if c[0] == "clear_readonly"]
    assert sorted(PureWindowsPath(c).name for c in cleared) == ["data.bin", "locked-dir"]


def test_a_locked_file_in_the_trash_is_reported_with_why_and_the_rest_is_removed(
    fake: FakeWindows,
) -> None:
    gen = GENS / "g0001"
    entry = ROOT / ".trash" / "g0001-x"
    fake.file(gen / "Lib" / "site-packages" / "fast" / "_speedups.pyd", loaded=True)
    fake.file(gen / "Lib" / "site-packages" / "fast" / "__init__.py")
    fake.rename(gen, entry)  # moved into the trash by an earlier delete

    failures = junctions.remove_tree(fake, entry)

    pyd = entry / "Lib" / "site-packages" / "fast" / "_speedups.pyd"
    assert len(failures) == 1  # its folders are left too, but only because of it
    assert failures[0][0] == str(pyd)
    assert "a running process has it loaded" in failures[0][1] and "WinError 5" in failures[0][1]
    assert sorted(p.name for p in fake.under(entry)) == [
        "Lib",
        "_speedups.pyd",
        "fast",
        "g0001-x",
        "site-packages",
    ]


def test_generations_reports_a_generation_it_could_not_move_in_one_line_and_leaves_it_whole(
    on_windows: FakeWindows,
) -> None:
    gen = GENS / "g0001"
    on_windows.file(gen / "Lib" / "site-packages" / "fast" / "_speedups.pyd", open_by_process=True)
    before = sorted(on_windows.under(gen))

    result = generations.delete_tree(as_path(ROOT), as_path(gen), ops=windows_ops(on_windows))

    assert result.removed == ()
    assert len(result.failed) == 1 and result.failed[0][0] == str(gen)
    assert (
        "could not be moved into the trash (a running process may hold a file in it)"
        in (result.failed[0][1])
    )
    assert sorted(on_windows.under(gen)) == before  # nothing half-deleted


def test_generations_reports_a_locked_file_left_in_the_trash_and_gc_retries_it(
    on_windows: FakeWindows,
) -> None:
    gen = GENS / "g0001"
    pyd = gen / "Lib" / "site-packages" / "fast" / "_speedups.pyd"
    on_windows.file(pyd)
    removing = on_windows.remove_file

    def in_use_once(path: PurePath) -> None:  # a process still had it open the first time
        if path.name == "_speedups.pyd" and not getattr(in_use_once, "done", False):
            in_use_once.done = True  # type: ignore[attr-defined]
            raise _error(PermissionError, errno.EACCES, 32, path)
        removing(path)

    on_windows.remove_file = in_use_once  # type: ignore[method-assign]

    result = generations.delete_tree(as_path(ROOT), as_path(gen), ops=windows_ops(on_windows))

    ((path, why),) = result.failed
    assert path == str(gen)
    assert why.startswith("Lib\\site-packages\\fast\\_speedups.pyd: in use by another process")
    assert "(WinError 32)" in why and "`reconcile gc` retries" in why
    assert on_windows.kind(gen) == "missing"

    again = generations.empty_trash(as_path(ROOT), ops=windows_ops(on_windows))

    assert not again.failed and len(again.removed) == 1
    assert on_windows.list_dir(ROOT / ".trash") == []


def test_removal_refuses_a_path_outside_the_root_and_a_trash_that_is_a_junction(
    fake: FakeWindows, on_windows: FakeWindows
) -> None:
    outside = junctions.delete_tree(fake, ROOT, OUTSIDE)
    assert outside.failures == ((str(OUTSIDE), "outside the root; not touched"),)
    fake.junction(ROOT / "escape", OUTSIDE)
    through = junctions.delete_tree(fake, ROOT, ROOT / "escape" / "data.txt")
    assert through.failures and fake.kind(OUTSIDE / "data.txt") == "file"

    fake.junction(ROOT / ".trash", OUTSIDE)
    result = generations.delete_tree(
        as_path(ROOT), as_path(GENS / "g0001"), ops=windows_ops(on_windows)
    )
    emptied = generations.empty_trash(as_path(ROOT), ops=windows_ops(on_windows))

    assert "refusing to use" in result.failed[0][1]
    assert "refusing to use" in emptied.failed[0][1]
    assert fake.kind(GENS / "g0001" / "Scripts" / "python.exe") == "file"
    assert fake.kind(OUTSIDE / "data.txt") == "file"
    with pytest.raises(ReconcileError):
        junctions.trash_dir(fake, ROOT)


# --- adopted envs ---------------------------------------------------------------------------

LEGACY = PureWindowsPath("D:/models/llama/.venv")


def _legacy_venv(fake: FakeWindows, folder: PurePath = LEGACY) -> None:
    fake.file(folder / "pyvenv.cfg")
    fake.file(folder / "Scripts" / "python.exe")
    fake.file(folder / "Scripts" / "Activate.ps1")
    fake.file(folder / "Lib" / "site-packages" / "torch" / "lib" / "c10.dll", readonly=True)
    fake.file(folder.parent / "weights.safetensors")  # beside the venv: never touched


def test_an_adopted_venv_on_another_drive_is_moved_aside_beside_itself_then_deleted(
    on_windows: FakeWindows,
) -> None:
    _legacy_venv(on_windows)
    deep = LEGACY / "Lib" / "site-packages" / ("d" * 60) / ("e" * 60) / ("f" * 60) / "x.py"
    on_windows.file(deep)  # deeper than MAX_PATH: NativeWindowsOps uses \\?\ paths

    result = generations.delete_adopted(as_path(ROOT), as_path(LEGACY), ops=windows_ops(on_windows))

    assert result.removed == (str(LEGACY),) and not result.failed
    assert on_windows.under(LEGACY) == []
    assert [p.name for p in on_windows.under(LEGACY.parent)] == ["llama", "weights.safetensors"]
    renames = [c[1] for c in on_windows.calls if c[0] == "rename"]
    assert renames[0].startswith(f"{LEGACY} -> {ROOT / '.trash'}")  # tried; another drive
    assert renames[1].startswith(f"{LEGACY} -> {LEGACY.parent / '.venv.reconcile-trash-'}")
    cleared = [PureWindowsPath(c[1]).name for c in on_windows.calls if c[0] == "clear_readonly"]
    assert cleared == ["c10.dll"]


def test_an_adopted_venv_on_the_roots_drive_goes_through_the_trash(fake: FakeWindows) -> None:
    legacy = PureWindowsPath("C:/legacy/.venv")
    _legacy_venv(fake, legacy)

    outcome = junctions.delete_adopted(fake, ROOT, legacy)

    assert outcome.removed and outcome.moved_to is not None
    assert outcome.moved_to.parent == ROOT / ".trash"
    assert fake.under(legacy) == [] and fake.under(outcome.moved_to) == []


def test_deleting_an_adopted_venv_refuses_links_non_venvs_and_the_root_whatever_the_case(
    fake: FakeWindows,
) -> None:
    _legacy_venv(fake)
    fake.junction(PureWindowsPath("C:/link-to-legacy"), LEGACY)
    fake.dir(PureWindowsPath("D:/plain"))
    fake.file(PureWindowsPath("D:/plain/notes.txt"))
    fake.file(ROOT / "hand" / "pyvenv.cfg")
    fake.file(PureWindowsPath("C:/work/pyvenv.cfg"))  # a venv that holds the root

    cases = {
        "C:/link-to-legacy": "a link, or not a venv (no pyvenv.cfg); not touched",
        "D:/plain": "a link, or not a venv (no pyvenv.cfg); not touched",
        "c:/WORK/.ENVS/hand": layout.ROOT_OVERLAP,
        "C:/work": layout.ROOT_OVERLAP,
    }
    for given, why in cases.items():
        outcome = junctions.delete_adopted(fake, ROOT, PureWindowsPath(given))
        assert outcome.failures == ((str(PureWindowsPath(given)), why),), given
    assert not [c for c in fake.calls if c[0] != "clear_readonly" and c[0] != "create_junction"]
    assert fake.kind(LEGACY / "Scripts" / "python.exe") == "file"
    assert junctions.delete_adopted(fake, ROOT, PureWindowsPath("D:/gone")) == junctions.Outcome(
        False
    )


def test_an_adopted_venv_in_use_is_left_whole_and_a_loaded_dll_is_reported(
    on_windows: FakeWindows,
) -> None:
    _legacy_venv(on_windows)
    python = LEGACY / "Scripts" / "python.exe"
    on_windows.nodes[python].open_by_process = True  # a model still runs from it
    before = sorted(on_windows.under(LEGACY))

    held = generations.delete_adopted(as_path(ROOT), as_path(LEGACY), ops=windows_ops(on_windows))

    assert held.failed[0][0] == str(LEGACY)
    assert "could not be moved aside (a running process may hold a file in it)" in held.failed[0][1]
    assert sorted(on_windows.under(LEGACY)) == before

    on_windows.nodes[python].open_by_process = False
    on_windows.nodes[python].loaded = True  # mapped, as a .pyd/.dll of a live process is
    left = generations.delete_adopted(as_path(ROOT), as_path(LEGACY), ops=windows_ops(on_windows))

    ((path, why),) = left.failed
    assert path == str(LEGACY)
    assert why.startswith("Scripts\\python.exe: ") and "left in D:\\models\\llama\\." in why
    assert why.endswith("; the next apply or `reconcile gc` retries")
    assert on_windows.kind(LEGACY) == "missing"  # nothing half-deleted at the old path


def test_an_adopted_venv_with_the_windows_layout_is_observed_through_the_same_functions(
    tmp_path: Path,
) -> None:
    python = require_python("3.11")
    venv = tmp_path / "legacy" / ".venv"
    (venv / "Lib" / "site-packages").mkdir(parents=True)
    (venv / "Scripts").mkdir()
    (venv / "Scripts" / "python.exe").symlink_to(python)  # the real interpreter, Windows name
    for script in ("activate.bat", "Activate.ps1"):
        (venv / "Scripts" / script).write_text(f"rem {venv}\n", encoding="utf-8")
    (venv / "pyvenv.cfg").write_text(f"home = {python.parent}\nversion = 3.11\n", encoding="utf-8")
    adopted = Expectation(python=None, lock=None, managed=False)

    healthy = assess(observe_env(EnvRequest("legacy", venv, ("json",)), venv=WINDOWS_VENV), adopted)
    (venv / "Scripts" / "Activate.ps1").unlink()
    broken = assess(observe_env(EnvRequest("legacy", venv, ("json",)), venv=WINDOWS_VENV), adopted)

    assert healthy.healthy, healthy.findings
    assert [f.reason for f in broken.findings] == ["activation_missing"]
    assert "Scripts/Activate.ps1" in (broken.findings[0].detail or "")


def test_the_windows_layout_and_ops_are_chosen_only_on_windows() -> None:
    chosen = current()
    assert chosen.windows == (os.name == "nt")
    assert isinstance(chosen.ops, WindowsStoreOps if os.name == "nt" else PosixStoreOps)


# --- processes ----------------------------------------------------------------------------


def test_windows_children_get_a_new_process_group_and_a_tree_kill() -> None:
    groups = runner.WindowsGroups()

    assert groups.popen_options() == {"creationflags": 0x00000200}  # CREATE_NEW_PROCESS_GROUP
    assert groups.kill_argv(4242) == ("taskkill", "/F", "/T", "/PID", "4242")


# --- one rule for what fails: still in place fails, moved out of the way warns -------------
#
# Real Windows refuses to rename a folder while a process holds a file in it (the fake's
# ``open_by_process``): the folder stays in its place and the step (or gc) fails. Wine renames
# it and only refuses to delete the loaded file (the fake's ``loaded``): the folder is in the
# trash (or aside) and what is left is a warning the next gc retries.

HELD = {"in_place": {"open_by_process": True}, "moved": {"loaded": True}}


class WindowsBackedStore(FakeStore):
    """The executor's fake store, its removals made by the Windows code paths on the fake
    volume: ``<root>`` is :data:`ROOT`, the adopted ``legacy/.venv`` is ``C:/legacy/.venv``."""

    def __init__(self, store: FakeStore, volume: FakeWindows) -> None:
        super().__init__(store.root, store.log, store.state)
        self.volume = volume

    def windows(self, path: Path) -> PureWindowsPath:
        if path.is_relative_to(self.root):
            return ROOT / path.relative_to(self.root).as_posix()
        return PureWindowsPath("C:/") / path.relative_to(self.root.parent).as_posix()

    def delete_tree(self, path: Path) -> Removal:
        result = generations.delete_tree(
            as_path(ROOT), as_path(self.windows(path)), ops=windows_ops(self.volume)
        )
        if self.volume.kind(self.windows(path)) == "missing":
            super().delete_tree(path)
        return result

    def delete_adopted(self, folder: Path) -> Removal:
        return generations.delete_adopted(
            as_path(ROOT), as_path(self.windows(folder)), ops=windows_ops(self.volume)
        )


def _world(tmp_path: Path, volume: FakeWindows) -> World:
    world = World(tmp_path)
    world.store = WindowsBackedStore(world.store, volume)
    return world


def _generation_in_use(volume: FakeWindows, env_key: str, gen_id: str, held: str) -> None:
    gen = ROOT / ".generations" / env_key / gen_id
    volume.file(gen / "Scripts" / "python.exe")
    volume.file(gen / "Lib" / "site-packages" / "pkg" / "_bz2.pyd", **HELD[held])


@pytest.mark.parametrize("held", HELD)
def test_deleting_a_managed_env_in_use_fails_in_place_and_warns_once_moved(
    tmp_path: Path, on_windows: FakeWindows, held: str
) -> None:
    world = _world(tmp_path, on_windows)
    world.store.add_live("old")
    _generation_in_use(on_windows, "old", "g0001", held)

    report = world.applier().run(Plan((delete("old", ()),)))

    folder = ROOT / ".generations" / "old"
    if held == "in_place":
        ((step, why),) = report.failed
        assert step.target == "old" and why.startswith(f"{folder} could not be deleted: ")
        assert "a running process may hold a file in it" in why
        assert why.endswith("then run `reconcile gc` or `reconcile apply` again")
        assert on_windows.kind(folder / "g0001" / "Scripts" / "python.exe") == "file"
        assert report.removal_failures == []
    else:
        assert not report.failed and not report.left_in_place
        ((path, why),) = report.removal_failures
        assert path == str(folder) and "_bz2.pyd: access denied (WinError 5)" in why
        assert why.endswith("the next apply or `reconcile gc` retries")
        assert on_windows.kind(folder) == "missing"  # in the trash, the rest removed
        assert world.reporter.lines[-1][1] is True


@pytest.mark.parametrize("held", HELD)
def test_deleting_an_adopted_venv_in_use_fails_in_place_and_warns_once_moved(
    tmp_path: Path, on_windows: FakeWindows, held: str
) -> None:
    world = _world(tmp_path, on_windows)
    folder = world.loaded.adopt_path("legacy")
    world.store.state = AppliedState(adopted={"legacy": str(folder)})
    legacy = PureWindowsPath("C:/legacy/.venv")
    _legacy_venv(on_windows, legacy)
    on_windows.file(legacy / "Lib" / "site-packages" / "pkg" / "_bz2.pyd", **HELD[held])

    report = world.applier().run(Plan((delete_adopted("legacy"),)))

    if held == "in_place":
        ((_, why),) = report.failed
        assert why.startswith(f"{legacy} could not be deleted: could not be moved aside")
        assert why.endswith("then run `reconcile gc` or `reconcile apply` again")
        assert "legacy" in world.store.state.adopted  # the next apply retries
        assert on_windows.kind(legacy / "pyvenv.cfg") == "file"
    else:
        assert not report.failed
        ((path, why),) = report.removal_failures
        assert path == str(legacy) and "_bz2.pyd: access denied" in why
        assert why.endswith("the next apply or `reconcile gc` retries")
        assert "legacy" not in world.store.state.adopted
        assert on_windows.kind(legacy) == "missing"


@pytest.mark.parametrize("held", HELD)
def test_a_prune_of_a_generation_in_use_fails_the_apply_in_place_and_warns_once_moved(
    tmp_path: Path, on_windows: FakeWindows, held: str
) -> None:
    world = _world(tmp_path, on_windows)
    world.store.add_live("web")
    world.store.add_live("web")  # g0002 live; the replace's g0003 makes g0001 one too many
    _generation_in_use(on_windows, "web", "g0001", held)

    report = world.applier("web").run(Plan((build("web", "replace"),)))

    assert not report.failed and world.store.live == {"web": "g0003"}  # the step was done
    old = str(ROOT / ".generations" / "web" / "g0001")
    lines = removal_warnings(report)
    if held == "in_place":
        assert [path for path, _ in report.left_in_place] == [old]
        assert apply_summary(report).startswith("Apply failed: every step was done (1 replaced)")
        assert lines[0].startswith(f"error: could not remove {old}: could not be moved")
        assert lines[0].endswith("then run `reconcile gc` or `reconcile apply` again")
    else:
        assert report.left_in_place == []
        assert apply_summary(report) == "Apply complete: 1 replaced."
        assert lines[0].startswith(f"warning: could not remove {old}: Lib\\site-packages")
        assert lines[0].endswith("the next apply or `reconcile gc` retries")


@pytest.mark.parametrize("held", HELD)
def test_gc_fails_for_a_generation_in_place_and_warns_for_a_leftover_in_the_trash(
    on_windows: FakeWindows, held: str
) -> None:
    """What `gc` removes goes through generations.delete_tree and empty_trash; its exit code
    is 1 only for what is still in place (cli/verbs.py, Collected.in_place)."""
    _generation_in_use(on_windows, "serving", "g0001", held)
    ops = windows_ops(on_windows)

    first = generations.delete_tree(as_path(ROOT), as_path(GENS / "g0001"), ops=ops)
    again = generations.empty_trash(as_path(ROOT), ops=ops)  # gc's retry of the trash

    lines = removal_lines(first.failed, first.in_place)
    if held == "in_place":
        assert first.in_place == (str(GENS / "g0001"),)
        assert lines[0].startswith("error: ")
        assert not again.failed
    else:
        assert first.in_place == () and lines[0].startswith("warning: ")
        ((entry, why),) = again.failed
        assert again.in_place == () and PureWindowsPath(entry).parent == ROOT / ".trash"
        assert why.endswith("; `reconcile gc` retries it")
