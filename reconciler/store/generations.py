"""IO: generation folders, the atomic switch, rollback targets, garbage collection, removal.

A generation is a complete venv at ``<root>/.generations/<env_key>/<gen_id>``. It is built in
place (venvs are not relocatable: scripts and activation files name their own folder), and it
becomes *complete* only when its receipt is written, after verification. A generation without
a receipt is a staging leftover (a failed or killed build) and is removed by the next apply or
``gc``. ``<root>/<env_key>`` is a relative symlink to the live generation, replaced with one
``rename`` so that at every instant it names the complete old env or the complete new one.

On Windows the link is a directory junction and the switch and removal take the code paths of
:mod:`reconciler.store.windows` (chosen here through ``winpaths.native()``), which cannot offer
that instant-for-instant guarantee; see there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, cast

from reconciler import faults
from reconciler.errors import EnvPathOccupied, InternalFolderRefused, ReconcileError
from reconciler.files import STATE_LIMIT, read_regular_bytes, write_atomic
from reconciler.store import folders as store
from reconciler.store import layout
from reconciler.store import removals as journal
from reconciler.store import windows as winpaths

_GEN_NAME = re.compile(r"g(\d{4,})")


@dataclass(frozen=True)
class Generation:
    """One generation folder of an env."""

    env_key: str
    gen_id: str
    path: Path
    complete: bool

    @property
    def number(self) -> int:
        match = _GEN_NAME.fullmatch(self.gen_id)
        return int(match.group(1)) if match else -1


@dataclass(frozen=True)
class Removal:
    """What a removal did: the paths removed and those that could not be (with why)."""

    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


def generations_dir(root: Path, env_key: str) -> Path:
    """``<root>/.generations/<env_key>``; refused when it (or ``.generations``) is a link."""
    return store.env_folder(root, env_key)


def list_generations(root: Path, env_key: str) -> list[Generation]:
    """Every generation folder of an env, oldest first; one that is a link is refused."""
    folder = generations_dir(root, env_key)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        if not _GEN_NAME.fullmatch(entry.name):
            continue
        kind = store.kind(entry)
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
        entries = list(store.folder(root, layout.GENERATIONS).iterdir())
    except OSError:
        return []
    keys = []
    for entry in entries:
        kind = store.kind(entry)
        if kind == "link":
            store.env_folder(root, entry.name)  # refused, naming the link
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


def live_generation(root: Path, env_key: str) -> Generation | None:
    """The generation ``<root>/<env_key>`` links to, if it is one of ours."""
    link = layout.env_link(root, env_key)
    windows = winpaths.native()
    try:
        if windows is not None:  # a junction; inside a switch's window, the one set aside
            found = winpaths.link_target(windows, root, env_key)
            if found is None:
                return None
            target = Path(found).resolve()
        else:
            target = (link.parent / link.readlink()).resolve()
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
        data = json.loads(read_regular_bytes(layout.receipt_path(gen_dir), STATE_LIMIT))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def switch(root: Path, env_key: str, generation: Path) -> None:
    """Point ``<root>/<env_key>`` at ``generation`` with one atomic rename.

    A relative link keeps the root movable as a whole. Only reconcile's own link (into
    ``.generations/<env_key>/``) is ever replaced: anything else at that path (a folder, a
    file, a link elsewhere) is someone's, and is refused with :class:`EnvPathOccupied`,
    nothing touched (:func:`foreign_at_link`). On Windows: a junction, switched by
    :func:`reconciler.store.windows.switch`.
    """
    refuse_foreign(root, env_key)
    tag = uuid.uuid4().hex[:8]
    temp = root / f".{env_key}{journal.SWITCH_MARK}{tag}"
    windows = winpaths.native()
    if windows is not None:
        aside = temp.with_name(temp.name + winpaths.ASIDE_SUFFIX)
        journal.record(root, "switch", temp, aside)
        winpaths.switch(windows, root, env_key, generation, tag)
        _forget(root, temp, aside)
        return
    link = layout.env_link(root, env_key)
    target = os.path.relpath(generation, link.parent)
    journal.record(root, "switch", temp)  # before it exists: a crash leaves it recorded
    try:
        temp.symlink_to(target, target_is_directory=True)
    except BaseException:
        _forget(root, temp)
        raise
    faults.point("during_switch")
    try:
        refuse_foreign(root, env_key)  # again: something may have been put there since
        temp.replace(link)
    except BaseException:
        with contextlib.suppress(OSError):
            if temp.is_symlink():
                temp.unlink()
        if not os.path.lexists(temp):
            _forget(root, temp)
        raise
    _fsync_dir(root)
    _forget(root, temp)


def foreign_at_link(root: Path, env_key: str) -> str | None:
    """What sits at ``<root>/<env_key>`` that reconcile did not create (``"a folder"``,
    ``"a file"``, ``"a link to …"``), or None when nothing is there or it is reconcile's own
    link into ``.generations/<env_key>/`` (dangling or not). Reads only."""
    link = layout.env_link(root, env_key)
    own = os.path.normpath(root / layout.GENERATIONS / env_key)
    windows = winpaths.native()
    if windows is not None:
        found = windows.kind(link)
        if found == "missing":
            return None
        if found not in winpaths.LINKS:
            return "a folder" if found == "dir" else "a file"
        target = winpaths.link_target(windows, root, env_key)
        if target is None:
            return "a link"
        parent = str(type(target)(os.path.normpath(target)).parent)
        return None if parent.lower() == own.lower() else f"a link to {target}"
    found_kind = store.kind(link)
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


def refuse_foreign(root: Path, env_key: str) -> None:
    """Raise :class:`EnvPathOccupied` when ``<root>/<env_key>`` is anything but reconcile's
    own link (see :func:`foreign_at_link`): reconcile never moves nor removes it."""
    what = foreign_at_link(root, env_key)
    if what is not None:
        raise EnvPathOccupied(layout.env_link(root, env_key), what)


def _recorder(root: Path) -> winpaths.Record:
    """Records a path in the root's trash before winpaths renames something to it."""

    def record(path: PurePath) -> None:
        journal.record(root, "trash", path)

    return record


def _forget(root: Path, *paths: PurePath) -> None:
    """Drop the records of paths that are gone. A record that cannot be dropped now (a full
    disk) names a path that does not exist, which the next cleanup drops."""
    with contextlib.suppress(OSError, ReconcileError):
        journal.drop(root, *paths)


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


def has_link(root: Path, env_key: str) -> bool:
    """Whether ``<root>/<env_key>`` is a link (a symlink; on Windows a junction, which
    ``Path.is_symlink()`` does not report)."""
    windows = winpaths.native()
    if windows is not None:
        return windows.kind(layout.env_link(root, env_key)) in winpaths.LINKS
    return layout.env_link(root, env_key).is_symlink()


def unlink_env(root: Path, env_key: str) -> None:
    """Remove ``<root>/<env_key>`` when it is our link (one atomic unlink; on Windows the
    junction itself, never what it points at)."""
    link = layout.env_link(root, env_key)
    windows = winpaths.native()
    if windows is not None:
        winpaths.unlink(windows, link)
    elif link.is_symlink():
        link.unlink()


def previous_generation(root: Path, env_key: str) -> Generation | None:
    """The newest complete generation older than the live one (what rollback switches to)."""
    live = live_generation(root, env_key)
    if live is None:
        return None
    older = [g for g in list_generations(root, env_key) if g.complete and g.number < live.number]
    return older[-1] if older else None


def collectable(
    generations: Sequence[Generation],
    live: Generation | None,
    keep: int,
    protect: Sequence[Generation] = (),
) -> list[Generation]:
    """Pure: the generations gc removes. Kept: the live one, then ``protect`` (the one that
    was live until a switch just now: what rollback returns to, and what running processes
    use), then the newest other complete ones, ``keep`` in all. Incomplete ones (staging
    leftovers) always go; the live one never does."""
    kept = {live.gen_id} if live is not None else set()
    candidates = [g for g in protect if g.complete]
    candidates += reversed([g for g in generations if g.complete])
    for generation in candidates:
        if len(kept) >= keep:
            break
        kept.add(generation.gen_id)
    return [g for g in generations if g.gen_id not in kept]


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
    trash = store.folder(root, layout.TRASH)
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


def _recorded_rename(root: Path, kind: journal.Kind, path: Path, destination: Path) -> Path:
    """Rename ``path`` to ``destination``, recorded first as reconcile's (so only what it
    named is ever removed), and forgotten again when the rename fails."""
    journal.record(root, kind, destination)
    try:
        path.rename(destination)
    except BaseException:
        _forget(root, destination)
        raise
    return destination


def _clear_readonly_and_retry(func: Any, path: str, _exc: Any) -> None:
    """rmtree error handler: clear read-only bits (Windows, chmod -w trees) and retry once."""
    failed = Path(path)
    for target in (failed.parent, failed):
        with contextlib.suppress(OSError):
            mode = target.lstat().st_mode
            if not stat.S_ISLNK(mode):
                target.chmod(mode | stat.S_IWRITE | stat.S_IREAD | stat.S_IEXEC)
    func(path)


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
    if entry is None or str(entry) == reported_as:
        detail = f"{first}: {why}{more}" if first != reported_as else f"{why}{more}"
        return Removal(failed=((reported_as, detail),))
    where = f"left in {entry}; the next apply or `reconcile gc` retries"
    return Removal(failed=((reported_as, f"{first}: {why}{more}; {where}"),))


def delete_tree(root: Path, path: Path) -> Removal:
    """Remove a folder under the root: a symlink is unlinked (never followed), a folder is
    moved into the trash first and then deleted; an entry of the trash is deleted where it
    is (never moved again), and only when reconcile recorded it. What cannot be removed is
    reported, one line for ``path``; this never raises for a removal problem. On Windows:
    :func:`reconciler.store.windows.delete_tree`."""
    if path.parent == root / layout.TRASH:
        if not journal.is_recorded(root, path):
            return Removal(failed=((str(path), "reconcile did not record it; left alone"),))
        return empty_trash_entry(root, path)
    windows = winpaths.native()
    if windows is not None:
        outcome = winpaths.delete_tree(windows, root, path, _recorder(root))
        if outcome.moved_to is not None and not outcome.failures:
            _forget(root, outcome.moved_to)
        if outcome.failures:
            return summarize(str(path), outcome.moved_to, outcome.failures)
        return Removal(removed=(str(path),)) if outcome.removed else Removal()
    if not _inside(root, path):
        return Removal(failed=((str(path), "outside the root; not touched"),))
    try:
        if path.is_symlink():
            path.unlink()
            return Removal(removed=(str(path),))
        if not path.exists():
            return Removal()
        in_trash = move_to_trash(root, path)
    except ReconcileError as error:
        return Removal(failed=((str(path), error.message),))
    except OSError as exc:
        return Removal(failed=((str(path), f"{_why(exc, path)}; it stays where it is"),))
    faults.point("during_removal")
    return empty_trash_entry(root, in_trash, reported_as=str(path))


def delete_adopted(root: Path, folder: Path) -> Removal:
    """Delete an adopted env's own folder, outside the root, which the manifest asked for
    (``delete = true``; SPEC 7.7). The folder is moved aside first with one rename, into
    ``<root>/.trash`` when it is on the same filesystem, else to a hidden sibling, so a file
    that cannot be removed never leaves a half-deleted venv where the old path was; the new
    name is recorded before the rename (:mod:`reconciler.store.removals`). Then it is deleted
    without following a link, read-only bits cleared, what is left reported (the next
    apply's or gc's cleanup retries what was recorded, in the trash or beside the folder).
    A link or a folder that is not a venv is refused, and so is anything that holds the
    root. On Windows: :func:`reconciler.store.windows.delete_adopted`."""
    windows = winpaths.native()
    if windows is not None:
        outcome = winpaths.delete_adopted(windows, root, folder, _recorder(root), _aside(root))
        if outcome.moved_to is not None and not outcome.failures:
            _forget(root, outcome.moved_to)
        if outcome.failures:
            return summarize(str(folder), outcome.moved_to, outcome.failures)
        return Removal(removed=(str(folder),)) if outcome.removed else Removal()
    if folder.is_symlink() or not (folder / "pyvenv.cfg").is_file():
        why = "a link, or not a venv (no pyvenv.cfg); not touched"
        return Removal() if not os.path.lexists(folder) else Removal(failed=((str(folder), why),))
    real, real_root = Path(os.path.realpath(folder)), Path(os.path.realpath(root))
    if layout.overlaps(real, real_root):
        return Removal(failed=((str(folder), "it overlaps the root; not touched"),))
    try:
        aside = _move_aside(root, folder)
    except ReconcileError as error:
        return Removal(failed=((str(folder), error.message),))
    except OSError as exc:
        return Removal(failed=((str(folder), f"{_why(exc, folder)}; it stays where it is"),))
    faults.point("during_removal")
    return empty_trash_entry(root, aside, reported_as=str(folder))


def _why(error: OSError, path: Path) -> str:
    """Why a removal could not start, naming the file when it was another one (the record
    of removals, on a full disk)."""
    why = error.strerror or str(error)
    if error.filename and error.filename not in (str(path), os.fspath(path)):
        return f"{why} ({error.filename})"
    return why


def _aside(root: Path) -> winpaths.Record:
    """Records an adopted folder's new name beside itself before winpaths renames it."""

    def record(path: PurePath) -> None:
        journal.record(root, "aside", path)

    return record


def _move_aside(root: Path, folder: Path) -> Path:
    """One rename of ``folder`` into the trash, or beside itself when the trash is on another
    filesystem (a rename cannot cross one); each new name is recorded before its rename."""
    trash = _trash(root)
    trash.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    destination = trash / f"{folder.name}-{tag}"
    journal.record(root, "trash", destination)
    try:
        folder.rename(destination)
        return destination
    except OSError as exc:
        _forget(root, destination)
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


def empty_trash_entry(root: Path, entry: Path, reported_as: str | None = None) -> Removal:
    """Delete one recorded entry of the trash, or an adopted folder set aside beside itself
    (read-only bits cleared, links not followed); its record is dropped once it is gone."""
    name = reported_as or str(entry)
    windows = winpaths.native()
    if windows is not None:
        result = summarize(name, entry, winpaths.remove_tree(windows, entry))
        if not result.failed:
            _forget(root, entry)
        return result
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
        _forget(root, entry)
    return summarize(name, entry, failures)


def empty_trash(root: Path, adopted: Collection[PurePath] = ()) -> Removal:
    """Delete what reconcile recorded in ``<root>/.trash`` and the adopted folders it set
    aside beside themselves (only beside one of ``adopted``, the manifest's adopted
    folders); report what could not be removed. Nothing unrecorded is touched
    (:func:`unrecorded_trash` and :func:`ignored_records` name it)."""
    try:
        _checked_trash(root)
        recorded = [e for e in journal.entries(root, adopted) if e.kind in ("trash", "aside")]
    except ReconcileError as error:
        return Removal(failed=((str(root / layout.TRASH), error.message),))
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    for entry in recorded:
        if entry.kind == "aside" and store.kind(entry.path) not in ("dir", "missing"):
            failed.append((str(entry.path), "not the folder reconcile set aside; left alone"))
            continue
        result = empty_trash_entry(root, entry.path)
        removed += result.removed
        failed += result.failed
    return Removal(tuple(removed), tuple(failed))


def _checked_trash(root: Path) -> Path:
    """``<root>/.trash``, checked as :func:`_trash` does (on Windows through its OS calls)."""
    windows = winpaths.native()
    if windows is None:
        return _trash(root)
    store.folder(root, layout.TRASH)
    return cast(Path, winpaths.trash_dir(windows, root))


def unrecorded_trash(root: Path) -> list[Path]:
    """Entries of ``<root>/.trash`` that reconcile did not record: never removed by it."""
    trash = _checked_trash(root)
    recorded = {e.path for e in journal.entries(root) if e.kind == "trash"}
    windows = winpaths.native()
    try:
        if windows is not None:
            names = windows.list_dir(trash) if windows.kind(trash) == "dir" else []
        else:
            names = [p.name for p in trash.iterdir()]
    except OSError:
        return []
    return sorted(trash / name for name in names if trash / name not in recorded)


def recorded_leftovers(root: Path, adopted: Collection[PurePath] = ()) -> list[Path]:
    """What an interrupted removal or switch left, as recorded, that still exists: entries
    of the trash, adopted folders set aside (beside one of ``adopted``), a switch's
    temporary link."""
    return [
        e.path
        for e in journal.entries(root, adopted)
        if os.path.lexists(e.path) and (e.kind != "switch" or _is_link(e.path))
    ]


def ignored_records(root: Path, adopted: Collection[PurePath] = ()) -> list[str]:
    """Recorded paths reconcile leaves alone: not a shape it writes (an ``aside`` entry
    beside no adopted folder of the manifest among them), or a switch's name on something
    other than a link (reconcile only ever makes a link there)."""
    found = journal.ignored(root, adopted)
    for entry in journal.entries(root, adopted):
        if entry.kind == "switch" and os.path.lexists(entry.path) and not _is_link(entry.path):
            found.append(str(entry.path))
    return found


def _is_link(path: Path) -> bool:
    windows = winpaths.native()
    if windows is not None:
        return windows.kind(path) in winpaths.LINKS
    return store.kind(path) == "link"


def leftover_generations(root: Path, env_keys: Sequence[str]) -> list[Generation]:
    """Incomplete generations (killed or failed builds) that reconcile handed out and that
    are not live."""
    found = []
    for key in env_keys:
        live = live_generation(root, key)
        gens = owned(root, list_generations(root, key))
        found += [g for g in gens if not g.complete and g != live]
    return found


def remove_leftovers(root: Path, env_keys: Sequence[str]) -> Removal:
    """Remove incomplete generations and what an interrupted switch left, as recorded."""
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    switches = [e.path for e in journal.entries(root) if e.kind == "switch"]
    windows = winpaths.native()
    if windows is not None:  # a switch killed between its two renames: put the old link back
        winpaths.recover_switch(windows, root, env_keys, switches)
    for generation in leftover_generations(root, env_keys):
        result = delete_tree(root, generation.path)
        removed += result.removed
        failed += result.failed
    for entry in switches:
        kind = store.kind(entry)
        if kind == "link":
            try:
                if windows is not None:
                    winpaths.unlink(windows, entry)
                else:
                    entry.unlink()
            except OSError as exc:
                failed.append((str(entry), exc.strerror or str(exc)))
                continue
            removed.append(str(entry))
        elif kind != "missing":  # reconcile only makes a link there: someone else's, kept
            continue
        _forget(root, entry)
    return Removal(tuple(removed), tuple(failed))
