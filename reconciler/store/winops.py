"""IO, Windows: :class:`reconciler.store.fsops.StoreOps` over the switch of
:mod:`reconciler.store.winswitch` (a junction, or a link file where the volume cannot make one)
and the removal of :mod:`reconciler.store.junctions`, whose OS calls go through a
:class:`WindowsOps` (the native one on Windows, a fake in tests/test_windows.py). It cannot
offer POSIX's instant-for-instant switch between junctions: see
:mod:`reconciler.store.winswitch`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path, PurePath
from typing import cast

from reconciler.store import folders, junctions, layout, removals, winswitch
from reconciler.store.fsops import LinkKind, Removal, forget, left_in_place, summarize
from reconciler.store.junctions import WindowsOps


class WindowsStoreOps:
    """:class:`reconciler.store.fsops.StoreOps` on Windows; every OS call goes through
    ``os_calls``."""

    def __init__(self, os_calls: WindowsOps) -> None:
        self.os_calls = os_calls

    def link_target(self, root: Path, env_key: str) -> PurePath | None:
        # a junction or a link file; inside a switch's window, the one set aside
        return winswitch.link_target(self.os_calls, root, env_key)

    def link_kind(self, root: Path, env_key: str) -> LinkKind | None:
        return winswitch.own_kind(self.os_calls, layout.env_link(root, env_key))

    def foreign_at_link(self, root: Path, env_key: str) -> str | None:
        link = layout.env_link(root, env_key)
        found = self.os_calls.kind(link)
        if found == "missing":
            return None
        if found == "dir":
            return "a folder"
        if found == "file":  # reconcile's link file only when it names one of the env's
            return winswitch.foreign_file(self.os_calls, link, env_key)
        target = winswitch.link_target(self.os_calls, root, env_key)
        if target is None:
            return "a link"
        own = os.path.normpath(root / layout.GENERATIONS / env_key)
        parent = str(type(target)(os.path.normpath(target)).parent)
        return None if parent.lower() == own.lower() else f"a link to {target}"

    def switch(self, root: Path, env_key: str, generation: Path) -> None:
        """Both temporary names are recorded first; see
        :func:`reconciler.store.winswitch.switch`."""
        tag = uuid.uuid4().hex[:8]
        temp = root / f".{env_key}{removals.SWITCH_MARK}{tag}"
        aside = temp.with_name(temp.name + junctions.ASIDE_SUFFIX)
        removals.record(root, "switch", temp, aside)
        winswitch.switch(self.os_calls, root, env_key, generation, tag)
        forget(root, temp, aside)

    def is_link(self, path: Path) -> bool:
        return winswitch.own_kind(self.os_calls, path) is not None

    def unlink(self, path: Path) -> None:
        winswitch.unlink(self.os_calls, path)

    def delete_tree(self, root: Path, path: Path) -> Removal:
        outcome = junctions.delete_tree(self.os_calls, root, path, _recorder(root, "trash"))
        return _removal(root, str(path), outcome)

    def delete_adopted(self, root: Path, folder: Path) -> Removal:
        outcome = junctions.delete_adopted(
            self.os_calls, root, folder, _recorder(root, "trash"), _recorder(root, "aside")
        )
        return _removal(root, str(folder), outcome)

    def empty_trash_entry(self, root: Path, entry: Path, reported_as: str | None) -> Removal:
        failures = junctions.remove_tree(self.os_calls, entry)
        result = summarize(reported_as or str(entry), entry, failures)
        if not result.failed:
            forget(root, entry)
        return result

    def trash_dir(self, root: Path) -> Path:
        folders.folder(root, layout.TRASH)
        return cast(Path, junctions.trash_dir(self.os_calls, root))

    def list_dir(self, path: Path) -> list[str]:
        return self.os_calls.list_dir(path) if self.os_calls.kind(path) == "dir" else []

    def recover_switch(
        self, root: Path, env_keys: Sequence[str], recorded: Collection[PurePath]
    ) -> None:
        """A switch killed between its two renames: put the old link back."""
        winswitch.recover_switch(self.os_calls, root, env_keys, recorded)


def _removal(root: Path, reported_as: str, outcome: junctions.Outcome) -> Removal:
    if outcome.moved_to is not None and not outcome.failures:
        forget(root, outcome.moved_to)
    if outcome.failures and outcome.moved_to is None:  # never moved: still where it was
        ((_, why), *_) = outcome.failures
        return left_in_place(reported_as, why)
    if outcome.failures:
        return summarize(reported_as, outcome.moved_to, outcome.failures)
    return Removal(removed=(reported_as,)) if outcome.removed else Removal()


def _recorder(root: Path, kind: removals.Kind) -> junctions.Record:
    """Records a path (in the trash, or an adopted folder's new name beside itself) before
    :mod:`reconciler.store.junctions` renames something to it."""

    def record(path: PurePath) -> None:
        removals.record(root, kind, path)

    return record
