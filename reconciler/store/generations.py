"""IO: generation folders, the atomic switch, rollback targets, garbage collection, removal.

A generation is a complete venv at ``<root>/.generations/<env_key>/<gen_id>``. It is built in
place (venvs are not relocatable: scripts and activation files name their own folder), and it
becomes *complete* only when its receipt is written, after verification. A generation without
a receipt is a staging leftover (a failed or killed build) and is removed by the next apply or
``gc``. ``<root>/<env_key>`` is a relative symlink to the live generation, replaced with one
``rename`` so that at every instant it names the complete old env or the complete new one.
Once switched to, its receipt records that it went live (:func:`mark_live`): a generation
whose switch failed or was killed never becomes what `rollback` returns to.

What differs between POSIX and Windows (the link is a directory junction there, switched in
two renames) is done through the :class:`~reconciler.store.fsops.StoreOps` every function
here that touches the link or removes something takes as ``ops``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from reconciler.core.generations import GEN_NAME, LIVE_SINCE, rollback_choice, went_live
from reconciler.core.generations import Generation as Generation
from reconciler.errors import InternalFolderRefused, ReconcileError
from reconciler.files import STATE_LIMIT, load_json, read_regular_bytes, write_atomic
from reconciler.store import folders, fsops, layout, removals
from reconciler.store.fsops import Removal as Removal
from reconciler.store.fsops import StoreOps, forget
from reconciler.store.fsops import summarize as summarize


def generations_dir(root: Path, env_key: str) -> Path:
    """``<root>/.generations/<env_key>``; refused when it (or ``.generations``) is a link."""
    return folders.env_folder(root, env_key)


def list_generations(root: Path, env_key: str) -> list[Generation]:
    """Every generation folder of an env, oldest first; one that is a link is refused."""
    folder = generations_dir(root, env_key)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if not GEN_NAME.fullmatch(entry.name):
            continue
        kind = folders.kind(entry)
        if kind == "link":
            raise InternalFolderRefused(entry, f"generation {entry.name} of {env_key}", True)
        if kind != "dir":
            continue
        found.append(Generation(env_key, entry.name, entry, _has_receipt(entry)))
    return sorted(found, key=lambda g: g.number)


def _has_receipt(gen_dir: Path) -> bool:
    """Whether a generation folder holds its receipt (the build completed). One whose receipt
    may not be looked at counts as complete: what cannot be read is never taken for a killed
    build, which `gc` removes."""
    try:
        return stat.S_ISREG(layout.receipt_path(gen_dir).stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True


def managed_env_keys(root: Path) -> list[str]:
    """Env keys that have generation folders under the root; a link there is refused."""
    try:
        entries = list(folders.folder(root, layout.GENERATIONS).iterdir())
    except OSError:
        return []
    keys = []
    for entry in entries:
        kind = folders.kind(entry)
        if kind == "link":
            folders.env_folder(root, entry.name)  # refused, naming the link
        elif kind == "dir":
            keys.append(entry.name)
    return sorted(keys)


def last_number(root: Path, env_key: str) -> int:
    """The last generation number handed out for ``env_key`` (its ``.last``), 0 when none
    was: the record of which generation folders, and which env folder, reconcile made."""
    counter = generations_dir(root, env_key) / ".last"
    try:
        if not stat.S_ISREG(os.lstat(counter).st_mode):
            return 0
        return int(read_regular_bytes(counter, 64).decode("utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def owned(root: Path, generations: Sequence[Generation]) -> list[Generation]:
    """Pure but for one read: the generations reconcile handed out (numbered up to the
    env's ``.last``), the only ones it may remove; a folder that merely looks like one is
    left alone."""
    if not generations:
        return []
    last = last_number(root, generations[0].env_key)
    return [g for g in generations if 0 < g.number <= last]


def live_generation(root: Path, env_key: str, *, ops: StoreOps) -> Generation | None:
    """The generation ``<root>/<env_key>`` links to, if it is one of ours."""
    try:
        found = ops.link_target(root, env_key)
        if found is None:
            return None
        target = Path(found).resolve()
    except (OSError, RuntimeError):  # not a link, removed since we looked, or a link loop
        return None
    for generation in list_generations(root, env_key):
        if generation.path.resolve() == target:
            return generation
    return None


def next_generation_path(root: Path, env_key: str) -> tuple[str, Path]:
    """A generation id never used before for this env, and its path, not yet created.

    Ids are never reused, not even those of removed leftovers: a uv killed along with an
    apply may still be writing into its old folder, which must not be a new build's folder.
    The last number handed out is kept in ``.generations/<env_key>/.last`` (the caller holds
    the apply lock, so there is one writer); it is also the record of which generation
    folders reconcile made (:func:`owned`), so a folder someone else put there is stepped
    over, not counted from. Without a counter (lost), numbering goes on after every folder.
    """
    folder = generations_dir(root, env_key)
    counter = folder / ".last"
    last = last_number(root, env_key)
    existing = {g.number for g in list_generations(root, env_key)}
    number = (last or max(existing, default=0)) + 1
    while number in existing or os.path.lexists(folder / f"g{number:04d}"):
        number += 1
    write_atomic(counter, f"{number}\n")
    gen_id = f"g{number:04d}"
    return gen_id, folder / gen_id


def write_receipt(gen_dir: Path, receipt: Mapping[str, Any]) -> None:
    """Mark a verified generation complete. Written last: no receipt means not complete."""
    write_atomic(layout.receipt_path(gen_dir), json.dumps(dict(receipt), indent=2) + "\n")


def read_receipt(gen_dir: Path) -> dict[str, Any] | None:
    try:
        data = load_json(read_regular_bytes(layout.receipt_path(gen_dir), STATE_LIMIT))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def switch(root: Path, env_key: str, generation: Path, *, ops: StoreOps) -> None:
    """Point ``<root>/<env_key>`` at ``generation``: on POSIX with one atomic rename of a
    relative link (which keeps the root movable as a whole), on Windows a junction switched
    by :func:`reconciler.store.winswitch.switch` (a link file where the volume cannot
    make a junction).

    Only reconcile's own link (into ``.generations/<env_key>/``) is ever replaced: anything
    else at that path (a folder, a file, a link elsewhere) is someone's, and is refused with
    :class:`EnvPathOccupied`, nothing touched (:func:`foreign_at_link`).
    """
    refuse_foreign(root, env_key, ops=ops)
    ops.switch(root, env_key, generation)


def foreign_at_link(root: Path, env_key: str, *, ops: StoreOps) -> str | None:
    """What sits at ``<root>/<env_key>`` that reconcile did not create (``"a folder"``,
    ``"a file"``, ``"a link to …"``), or None when nothing is there or it is reconcile's own
    link into ``.generations/<env_key>/`` (dangling or not). Reads only."""
    return ops.foreign_at_link(root, env_key)


def refuse_foreign(root: Path, env_key: str, *, ops: StoreOps) -> None:
    """Raise :class:`EnvPathOccupied` when ``<root>/<env_key>`` is anything but reconcile's
    own link (see :func:`foreign_at_link`): reconcile never moves nor removes it."""
    fsops.refuse_foreign(ops, root, env_key)


def has_link(root: Path, env_key: str, *, ops: StoreOps) -> bool:
    """Whether ``<root>/<env_key>`` is a link (a symlink; on Windows a junction, which
    ``Path.is_symlink()`` does not report)."""
    return ops.is_link(layout.env_link(root, env_key))


def unlink_env(root: Path, env_key: str, *, ops: StoreOps) -> None:
    """Remove ``<root>/<env_key>`` when it is our link (one atomic unlink; on Windows the
    junction itself, never what it points at)."""
    ops.unlink(layout.env_link(root, env_key))


def mark_live(gen_dir: Path) -> None:
    """Record in its receipt, rewritten atomically, that a generation went live (the callers:
    apply and rollback, right after a switch to it and right before a switch away from it,
    so one whose mark a kill prevented gets it before it stops being live). A receipt that
    already says so, or that cannot be read, is left as it is."""
    receipt = read_receipt(gen_dir)
    if receipt is None or went_live(receipt):
        return
    receipt[LIVE_SINCE] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_receipt(gen_dir, receipt)


def never_live(generations: Sequence[Generation], live: Generation | None) -> frozenset[str]:
    """The ids of those complete ``generations`` that never went live: their receipt says
    so, and they are not live now (see :func:`reconciler.core.generations.went_live`)."""
    return frozenset(
        g.gen_id
        for g in generations
        if g.complete and g != live and not went_live(read_receipt(g.path))
    )


def previous_generation(root: Path, env_key: str, *, ops: StoreOps) -> Generation | None:
    """The newest complete generation older than the live one that went live once (what
    rollback switches to)."""
    live = live_generation(root, env_key, ops=ops)
    if live is None:
        return None
    gens = list_generations(root, env_key)
    return rollback_choice(gens, live, never_live(gens, live))


def delete_tree(root: Path, path: Path, *, ops: StoreOps, spare: Collection[Path] = ()) -> Removal:
    """Remove a folder under the root: a symlink is unlinked (never followed), a folder is
    moved into the trash first and then deleted; an entry of the trash is deleted where it
    is (never moved again), and only when reconcile recorded it. What cannot be removed is
    reported, one line for ``path``; this never raises for a removal problem. A folder that
    is, holds or lies inside one of ``spare`` (the adopted envs' folders, which reconcile did
    not create) is left alone, whatever the checks before let through. On Windows:
    :func:`reconciler.store.junctions.delete_tree`."""
    adopted = spared_by(path, spare)
    if adopted is not None:
        why = (
            f"it is, holds or lies inside {adopted}, which the manifest adopts, and reconcile "
            "never removes an adopted env's folder; left alone"
        )
        return Removal(failed=((str(path), why),))
    if path.parent == root / layout.TRASH:
        if not removals.is_recorded(root, path):
            return Removal(failed=((str(path), "reconcile did not record it; left alone"),))
        return ops.empty_trash_entry(root, path, None)
    return ops.delete_tree(root, path)


def spared_by(path: Path, spare: Collection[Path]) -> Path | None:
    """The first of ``spare`` that ``path`` is, holds or lies inside (links followed)."""
    try:
        real = Path(os.path.realpath(path))
        return next((s for s in spare if layout.overlaps(real, Path(os.path.realpath(s)))), None)
    except (OSError, ValueError):  # cannot tell: keep it
        return path


def delete_adopted(root: Path, folder: Path, *, ops: StoreOps) -> Removal:
    """Delete an adopted env's own folder, outside the root, which the manifest asked for
    (``delete = true``; SPEC 7.7). The folder is moved aside first with one rename, into
    ``<root>/.trash`` when it is on the same filesystem, else to a hidden sibling, so a file
    that cannot be removed never leaves a half-deleted venv where the old path was; the new
    name is recorded before the rename (:mod:`reconciler.store.removals`). Then it is deleted
    without following a link, read-only bits cleared, what is left reported (the next
    apply's or gc's cleanup retries what was recorded, in the trash or beside the folder).
    A link or a folder that is not a venv is refused, and so is anything that holds the
    root. On Windows: :func:`reconciler.store.junctions.delete_adopted`."""
    return ops.delete_adopted(root, folder)


def empty_trash(root: Path, adopted: Collection[PurePath] = (), *, ops: StoreOps) -> Removal:
    """Delete what reconcile recorded in ``<root>/.trash`` and the adopted folders it set
    aside beside themselves (only beside one of ``adopted``, the manifest's adopted
    folders); report what could not be removed. Nothing unrecorded is touched
    (:func:`unrecorded_trash` and :func:`ignored_records` name it)."""
    try:
        ops.trash_dir(root)
        recorded = [e for e in removals.entries(root, adopted) if e.kind in ("trash", "aside")]
    except ReconcileError as error:
        return fsops.left_in_place(root / layout.TRASH, error.message)
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    for entry in recorded:
        if entry.kind == "aside" and folders.kind(entry.path) not in ("dir", "missing"):
            failed.append((str(entry.path), "not the folder reconcile set aside; left alone"))
            continue
        result = ops.empty_trash_entry(root, entry.path, None)
        removed += result.removed
        failed += result.failed
    return Removal(tuple(removed), tuple(failed))


def unrecorded_trash(root: Path, *, ops: StoreOps) -> list[Path]:
    """Entries of ``<root>/.trash`` that reconcile did not record: never removed by it."""
    trash = ops.trash_dir(root)
    recorded = {e.path for e in removals.entries(root) if e.kind == "trash"}
    try:
        names = ops.list_dir(trash)
    except OSError:
        return []
    return sorted(trash / name for name in names if trash / name not in recorded)


def recorded_leftovers(
    root: Path, adopted: Collection[PurePath] = (), *, ops: StoreOps
) -> list[Path]:
    """What an interrupted removal or switch left, as recorded, that still exists: entries
    of the trash, adopted folders set aside (beside one of ``adopted``), a switch's
    temporary link."""
    return [
        e.path
        for e in removals.entries(root, adopted)
        if os.path.lexists(e.path) and (e.kind != "switch" or ops.is_link(e.path))
    ]


def ignored_records(root: Path, adopted: Collection[PurePath] = (), *, ops: StoreOps) -> list[str]:
    """Recorded paths reconcile leaves alone: not a shape it writes (an ``aside`` entry
    beside no adopted folder of the manifest among them), or a switch's name on something
    other than a link (reconcile only ever makes a link there)."""
    found = removals.ignored(root, adopted)
    for entry in removals.entries(root, adopted):
        if entry.kind == "switch" and os.path.lexists(entry.path) and not ops.is_link(entry.path):
            found.append(str(entry.path))
    return found


def leftover_generations(root: Path, env_keys: Sequence[str], *, ops: StoreOps) -> list[Generation]:
    """Incomplete generations (killed or failed builds) that reconcile handed out and that
    are not live."""
    found = []
    for key in env_keys:
        live = live_generation(root, key, ops=ops)
        gens = owned(root, list_generations(root, key))
        found += [g for g in gens if not g.complete and g != live]
    return found


def remove_leftovers(
    root: Path, env_keys: Sequence[str], *, ops: StoreOps, spare: Collection[Path] = ()
) -> Removal:
    """Remove incomplete generations and what an interrupted switch left, as recorded; never
    an adopted env's folder (``spare``: see :func:`delete_tree`)."""
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    switches = [e.path for e in removals.entries(root) if e.kind == "switch"]
    ops.recover_switch(root, env_keys, switches)
    doomed = leftover_generations(root, env_keys, ops=ops)
    results = fsops.combined([delete_tree(root, g.path, ops=ops, spare=spare) for g in doomed])
    for entry in switches:
        if ops.is_link(entry):  # a link, or a Windows link file: what a switch makes there
            try:
                ops.unlink(entry)
            except OSError as exc:
                failed.append((str(entry), exc.strerror or str(exc)))
                continue
            removed.append(str(entry))
        elif folders.kind(entry) != "missing":  # reconcile makes only a link there: kept
            continue
        forget(root, entry)
    return fsops.combined([results, Removal(tuple(removed), tuple(failed))])
