"""IO: the filesystem operations under the root that differ between POSIX and Windows, as one
protocol (:class:`StoreOps`), and what both implementations share.

POSIX (:mod:`reconciler.store.posix`): ``<root>/<env_key>`` is a relative symlink replaced
with one ``rename``; a removal is one rename into the trash, then ``rmtree``. Windows
(:mod:`reconciler.store.winops`, over :mod:`reconciler.store.winswitch` and
:mod:`reconciler.store.junctions`): a directory junction switched in two renames, or a link file
where the volume cannot make one; removal bottom-up through extended-length paths. Which one runs is
decided once, by :func:`reconciler.store.system.current`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal, Protocol

from reconciler.errors import EnvPathOccupied, ReconcileError
from reconciler.store import layout, removals

LinkKind = Literal["junction", "symlink", "link_file"]
"""What stands at ``<root>/<env_key>``: a symlink (POSIX), a directory junction (Windows), or a
link file where the Windows volume cannot make a junction (:mod:`reconciler.store.linkfile`)."""


@dataclass(frozen=True)
class Removal:
    """What a removal did: the paths removed and those that could not be (with why).
    ``in_place`` names those of ``failed`` still where they were: not even moved out of the
    way (into the trash, or an adopted folder aside), which fails the command that asked for
    it; the others were moved and only emptying them failed (a warning: gc retries them)."""

    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    in_place: tuple[str, ...] = ()

    @property
    def moved_failures(self) -> tuple[tuple[str, str], ...]:
        """The failures of what was moved out of the way and only partly emptied."""
        return tuple(f for f in self.failed if f[0] not in self.in_place)

    @property
    def in_place_failures(self) -> tuple[tuple[str, str], ...]:
        """The failures of what is still where it was."""
        return tuple(f for f in self.failed if f[0] in self.in_place)


def left_in_place(path: PurePath | str, why: str) -> Removal:
    """Pure: a removal that could not move ``path`` out of the way: it is still where it was."""
    return Removal(failed=((str(path), why),), in_place=(str(path),))


def combined(results: Sequence[Removal]) -> Removal:
    """Pure: several removals' results as one."""
    return Removal(
        tuple(p for r in results for p in r.removed),
        tuple(f for r in results for f in r.failed),
        tuple(p for r in results for p in r.in_place),
    )


class StoreOps(Protocol):
    """What the store does to the env link and to folders it removes. Every method records
    what it is about to create or rename in the record of removals
    (:mod:`reconciler.store.removals`) first, as the implementations' docstrings say."""

    def link_target(self, root: Path, env_key: str) -> PurePath | None:
        """Where ``<root>/<env_key>`` points (on Windows also the generation a link file names;
        inside a Windows switch's window, where the link set aside points); None, or OSError,
        when it is not a link."""

    def link_kind(self, root: Path, env_key: str) -> LinkKind | None:
        """What kind of reconcile's link is at ``<root>/<env_key>``; None when there is none."""

    def foreign_at_link(self, root: Path, env_key: str) -> str | None:
        """What sits at ``<root>/<env_key>`` that reconcile did not create (``"a folder"``,
        ``"a file"``, ``"a link to …"``), or None. Reads only."""

    def switch(self, root: Path, env_key: str, generation: Path) -> None:
        """Point ``<root>/<env_key>`` at ``generation``; the caller refused a foreign entry."""

    def is_link(self, path: Path) -> bool:
        """Whether ``path`` is a symlink (on Windows a junction, or reconcile's link file)."""

    def unlink(self, path: Path) -> None:
        """Remove ``path`` when it is reconcile's link, never what it points at."""

    def delete_tree(self, root: Path, path: Path) -> Removal:
        """Remove a link, or a folder under the root through the trash; never raises for a
        removal problem."""

    def delete_adopted(self, root: Path, folder: Path) -> Removal:
        """Delete an adopted venv's own folder outside the root (moved aside first)."""

    def empty_trash_entry(self, root: Path, entry: Path, reported_as: str | None) -> Removal:
        """Delete one recorded entry of the trash (or a folder set aside), its record dropped
        once it is gone."""

    def trash_dir(self, root: Path) -> Path:
        """``<root>/.trash``, refused when it is a link or leads outside the root."""

    def list_dir(self, path: Path) -> list[str]:
        """The names in a folder; empty when it is not one."""

    def recover_switch(
        self, root: Path, env_keys: Sequence[str], recorded: Collection[PurePath]
    ) -> None:
        """Undo what a switch killed half-way left (Windows: put the old junction back)."""


def refuse_foreign(ops: StoreOps, root: Path, env_key: str) -> None:
    """Raise :class:`EnvPathOccupied` when ``<root>/<env_key>`` is anything but reconcile's
    own link: reconcile never moves nor removes it."""
    what = ops.foreign_at_link(root, env_key)
    if what is not None:
        raise EnvPathOccupied(layout.env_link(root, env_key), what)


def forget(root: Path, *paths: PurePath) -> None:
    """Drop the records of paths that are gone. A record that cannot be dropped now (a full
    disk) names a path that does not exist, which the next cleanup drops."""
    with contextlib.suppress(OSError, ReconcileError):
        removals.drop(root, *paths)


def summarize(
    reported_as: str, entry: PurePath | None, failures: Sequence[tuple[str, str]]
) -> Removal:
    """Pure: one removal's result, with at most one line per thing that could not be removed
    (the first entry left inside it, with why, and how many more), so a report names the
    generation, not a thousand files. ``entry`` is where it was moved in the trash."""
    if not failures:
        return Removal(removed=(reported_as,))
    first, why = failures[0]
    if entry is not None and first != str(entry):
        with contextlib.suppress(ValueError):
            first = str(type(entry)(first).relative_to(entry))
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    if entry is None or str(entry) == reported_as:  # an entry of the trash, emptied there
        detail = f"{first}: {why}{more}" if first != reported_as else f"{why}{more}"
        return Removal(failed=((reported_as, f"{detail}; `reconcile gc` retries it"),))
    where = f"left in {entry}; the next apply or `reconcile gc` retries"
    return Removal(failed=((reported_as, f"{first}: {why}{more}; {where}"),))
