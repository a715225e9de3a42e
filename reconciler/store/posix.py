"""IO, POSIX: the env link is a relative symlink replaced with one atomic ``rename``; a removal
is one rename into the trash, then ``rmtree`` with read-only bits cleared (:class:`StoreOps`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path, PurePath
from typing import Any

from reconciler import faults
from reconciler.errors import ReconcileError
from reconciler.store import folders, layout, removals
from reconciler.store.fsops import (
    LinkKind,
    Removal,
    forget,
    left_in_place,
    refuse_foreign,
    summarize,
)


class PosixStoreOps:
    """:class:`reconciler.store.fsops.StoreOps` on POSIX."""

    def link_target(self, root: Path, env_key: str) -> PurePath | None:
        link = layout.env_link(root, env_key)
        return link.parent / link.readlink()

    def link_kind(self, root: Path, env_key: str) -> LinkKind | None:
        return "symlink" if layout.env_link(root, env_key).is_symlink() else None

    def foreign_at_link(self, root: Path, env_key: str) -> str | None:
        link = layout.env_link(root, env_key)
        own = os.path.normpath(root / layout.GENERATIONS / env_key)
        found_kind = folders.kind(link)
        if found_kind == "missing":
            return None
        if found_kind != "link":
            return "a folder" if found_kind == "dir" else "a file"
        try:
            text = link.readlink()
        except OSError:
            return "a link"
        if str(Path(os.path.normpath(root / text)).parent) == own:
            return None
        return f"a link to {text}"

    def switch(self, root: Path, env_key: str, generation: Path) -> None:
        """A new relative link under a temporary name (recorded before it exists: a crash
        leaves it recorded), renamed over the old one: at every instant the path names the
        complete old env or the complete new one."""
        temp = root / f".{env_key}{removals.SWITCH_MARK}{uuid.uuid4().hex[:8]}"
        link = layout.env_link(root, env_key)
        target = os.path.relpath(generation, link.parent)
        removals.record(root, "switch", temp)
        try:
            temp.symlink_to(target, target_is_directory=True)
        except BaseException:
            forget(root, temp)
            raise
        faults.point("during_switch")
        try:
            refuse_foreign(self, root, env_key)  # again: something may have been put there since
            temp.replace(link)
        except BaseException:
            with contextlib.suppress(OSError):
                if temp.is_symlink():
                    temp.unlink()
            if not os.path.lexists(temp):
                forget(root, temp)
            raise
        _fsync_dir(root)
        forget(root, temp)

    def is_link(self, path: Path) -> bool:
        return path.is_symlink()

    def unlink(self, path: Path) -> None:
        if path.is_symlink():
            path.unlink()

    def delete_tree(self, root: Path, path: Path) -> Removal:
        if not _inside(root, path):
            return left_in_place(path, "outside the root; not touched")
        try:
            if path.is_symlink():
                path.unlink()
                return Removal(removed=(str(path),))
            if not path.exists():
                return Removal()
            in_trash = move_to_trash(root, path)
        except ReconcileError as error:
            return left_in_place(path, error.message)
        except OSError as exc:
            return left_in_place(path, f"{_why(exc, path)}; it stays where it is")
        faults.point("during_removal")
        return self.empty_trash_entry(root, in_trash, str(path))

    def delete_adopted(self, root: Path, folder: Path) -> Removal:
        if folder.is_symlink() or not (folder / "pyvenv.cfg").is_file():
            why = "a link, or not a venv (no pyvenv.cfg); not touched"
            if not os.path.lexists(folder):
                return Removal()
            return left_in_place(folder, why)
        real, real_root = Path(os.path.realpath(folder)), Path(os.path.realpath(root))
        if layout.overlaps(real, real_root):
            return left_in_place(folder, layout.ROOT_OVERLAP)
        try:
            aside = _move_aside(root, folder)
        except ReconcileError as error:
            return left_in_place(folder, error.message)
        except OSError as exc:
            return left_in_place(folder, f"{_why(exc, folder)}; it stays where it is")
        faults.point("during_removal")
        return self.empty_trash_entry(root, aside, str(folder))

    def empty_trash_entry(self, root: Path, entry: Path, reported_as: str | None) -> Removal:
        failures: list[tuple[str, str]] = []

        def on_error(func: Any, failed_path: str, exc: Any) -> None:
            try:
                _clear_readonly_and_retry(func, failed_path, exc)
            except OSError as err:
                # A folder left only because something inside it was left says nothing new.
                if not (failures and err.errno in (errno.ENOTEMPTY, errno.EEXIST)):
                    failures.append((failed_path, err.strerror or str(err)))

        if entry.is_symlink() or entry.is_file():
            try:
                entry.unlink()
            except OSError as err:
                failures.append((str(entry), err.strerror or str(err)))
        elif os.path.lexists(entry):
            _rmtree(entry, on_error)
        if not failures:
            forget(root, entry)
        return summarize(reported_as or str(entry), entry, failures)

    def trash_dir(self, root: Path) -> Path:
        return _trash(root)

    def list_dir(self, path: Path) -> list[str]:
        return [p.name for p in path.iterdir()]

    def recover_switch(
        self, root: Path, env_keys: Sequence[str], recorded: Collection[PurePath]
    ) -> None:
        return None  # one rename switches: nothing is ever half-done


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (its parent resolved, the last part not followed) is inside root."""
    try:
        real = path.parent.resolve() / path.name
    except OSError:
        return False
    return real.is_relative_to(root.resolve()) and real != root.resolve()


def _trash(root: Path) -> Path:
    """``<root>/.trash``, refused when it is a link (or a file), or leads out of the root:
    emptying it must never delete anything elsewhere."""
    trash = folders.folder(root, layout.TRASH)
    if trash.exists() and not _inside(root, trash.resolve()):
        raise ReconcileError(
            f"refusing to use {trash}: it leads outside the root; remove it by hand."
        )
    return trash


def move_to_trash(root: Path, path: Path) -> Path:
    """Move ``path`` into ``<root>/.trash`` with one rename, so a locked file cannot leave a
    half-deleted env in place; the new name is recorded first (:mod:`reconciler.store.removals`).
    Refuses anything outside the root."""
    if not _inside(root, path):
        raise ReconcileError(f"refusing to remove {path}: it is outside the root {root}.")
    trash = _trash(root)
    trash.mkdir(parents=True, exist_ok=True)
    destination = trash / f"{path.name}-{uuid.uuid4().hex[:8]}"
    return _recorded_rename(root, "trash", path, destination)


def _recorded_rename(root: Path, kind: removals.Kind, path: Path, destination: Path) -> Path:
    """Rename ``path`` to ``destination``, recorded first as reconcile's (so only what it
    named is ever removed), and forgotten again when the rename fails."""
    removals.record(root, kind, destination)
    try:
        path.rename(destination)
    except BaseException:
        forget(root, destination)
        raise
    return destination


def _clear_readonly_and_retry(func: Any, path: str, _exc: Any) -> None:
    """rmtree error handler: clear read-only bits (chmod -w trees) and retry once."""
    failed = Path(path)
    for target in (failed.parent, failed):
        with contextlib.suppress(OSError):
            mode = target.lstat().st_mode
            if not stat.S_ISLNK(mode):
                target.chmod(mode | stat.S_IWRITE | stat.S_IREAD | stat.S_IEXEC)
    func(path)


def _why(error: OSError, path: Path) -> str:
    """Why a removal could not start, naming the file when it was another one (the record
    of removals, on a full disk)."""
    why = error.strerror or str(error)
    if error.filename and error.filename not in (str(path), os.fspath(path)):
        return f"{why} ({error.filename})"
    return why


def _move_aside(root: Path, folder: Path) -> Path:
    """One rename of ``folder`` into the trash, or beside itself when the trash is on another
    filesystem (a rename cannot cross one); each new name is recorded before its rename."""
    trash = _trash(root)
    trash.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    destination = trash / f"{folder.name}-{tag}"
    removals.record(root, "trash", destination)
    try:
        folder.rename(destination)
        return destination
    except OSError as exc:
        forget(root, destination)
        if exc.errno != errno.EXDEV:
            raise
    return _recorded_rename(
        root, "aside", folder, folder.with_name(layout.set_aside_name(folder.name, tag))
    )


def _rmtree(path: Path, on_error: Any) -> None:
    """shutil.rmtree, which never follows symlinks inside the tree, on every Python we run on."""
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=on_error)
    else:  # pragma: no cover - exercised on 3.10 and 3.11 only
        shutil.rmtree(path, onerror=on_error)
