"""IO: the `gc` use case and apply's cleanup: remove what reconcile created and recorded
and what an interrupted run left, and the generations beyond ``keep`` (the caller holds the
lock), or list it for ``--dry-run``."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import interrupts
from reconciler.core.generations import collectable
from reconciler.files import stray_temporaries
from reconciler.observe.kept import broken
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import folders, generations, layout, removals
from reconciler.store.applylock import ApplyLock, LockHolder
from reconciler.store.fsops import combined

if TYPE_CHECKING:
    from reconciler.platform import VenvLayout
    from reconciler.store.fsops import StoreOps

_REFLINK_PROBE = re.compile(r"\.reflink-[0-9a-f]{8}-[ab]")


def cleanup(
    loaded: LoadedManifest, keep: int | None = None, *, ops: StoreOps, venv: VenvLayout
) -> list[tuple[str, str]]:
    """What :func:`clean` could not remove."""
    return list(clean(loaded, keep, ops=ops, venv=venv).failed)


def adopt_folders(loaded: LoadedManifest) -> list[Path]:
    """The folders of every adopted env the manifest declares (``delete = true`` or not):
    the only places beside which a recorded set-aside folder is removed."""
    return loaded.adopt_folders()


def clean(
    loaded: LoadedManifest, keep: int | None = None, *, ops: StoreOps, venv: VenvLayout
) -> generations.Removal:
    """Remove what reconcile created and recorded and an interrupted run left (the caller
    holds the lock): incomplete generations it handed out, a switch's temporary link, the
    recorded entries of the trash and the adopted folders set aside beside themselves
    (:mod:`reconciler.store.removals`), stray temporary files of its own files, and the generations
    of undeclared envs whose link is gone. With ``keep``, also the generations of declared
    envs beyond it, which an apply killed between a switch and its prune leaves behind (those
    that can no longer start go first, ``venv`` is how they are laid out). Nothing is chosen
    by a name pattern alone: a folder that merely looks like one of
    these is left alone."""
    from reconciler.store.applylock import info_path

    root = loaded.root
    folders.check(root)
    results: list[generations.Removal] = []
    keys = generations.managed_env_keys(root)
    spare = adopt_folders(loaded)
    results.append(generations.remove_leftovers(root, keys, ops=ops, spare=spare))
    for key in keys:  # generation folders of undeclared envs whose link is already gone
        if _abandoned(loaded, key, ops):
            folder = generations.generations_dir(root, key)
            results.append(generations.delete_tree(root, folder, ops=ops, spare=spare))
        live = generations.live_generation(root, key, ops=ops)
        if keep is not None and key in loaded.manifest.envs and live is not None:
            gens = generations.owned(root, generations.list_generations(root, key))
            dead, never = broken(gens, venv=venv), generations.never_live(gens, live)
            for old in collectable(gens, live, keep, broken=dead, never_live=never):
                results.append(generations.delete_tree(root, old.path, ops=ops, spare=spare))
    for stray in _strays(root, info_path(root)):
        try:
            stray.unlink()
        except OSError as exc:
            results.append(generations.Removal(failed=((str(stray), exc.strerror or str(exc)),)))
        else:
            results.append(generations.Removal(removed=(str(stray),)))
    results.append(generations.empty_trash(root, adopt_folders(loaded), ops=ops))
    results.append(generations.Removal(failed=tuple(prune_hash_caches(loaded))))
    return combined(results)


def _abandoned(loaded: LoadedManifest, key: str, ops: StoreOps) -> bool:
    """Whether ``.generations/<key>`` is an undeclared env's, made by reconcile (its
    ``.last`` records the generations it handed out), whose link is already gone."""
    root = loaded.root
    return (
        key not in loaded.manifest.envs
        and not generations.has_link(root, key, ops=ops)
        and generations.last_number(root, key) > 0
    )


def _strays(root: Path, lock_info: Path) -> list[Path]:
    """Temporary files reconcile's own writes left when killed: each beside the file it was
    replacing, named exactly as :func:`reconciler.files.write_atomic` names them."""
    state = folders.folder(root, layout.STATE)
    strays = stray_temporaries(layout.bindings_path(root)) + stray_temporaries(lock_info)
    strays += stray_temporaries(state / removals.NAME)
    folder = folders.folder(root, layout.GENERATIONS)
    strays += _reflink_probes(folder)
    for key in generations.managed_env_keys(root):  # the generation counter's temporaries
        strays += stray_temporaries(generations.generations_dir(root, key) / ".last")
    return strays


def _reflink_probes(folder: Path) -> list[Path]:
    """The two files of build.supports_reflink, left by a kill between creating and
    removing them: ``.reflink-<8 hex>-a`` and ``-b``, regular files."""
    found = []
    for path in sorted(folder.glob(".reflink-*")):
        try:
            regular = stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            continue
        if regular and _REFLINK_PROBE.fullmatch(path.name):
            found.append(path)
    return found


def prune_hash_caches(loaded: LoadedManifest) -> list[tuple[str, str]]:
    """Remove the hash caches of env folders that are gone (removed generations, envs no
    longer adopted); they would otherwise pile up, one per generation ever built."""
    from reconciler.observe.hashcache import HASHES, cache_file
    from reconciler.store.cachedir import cache_folder

    root = loaded.root
    folder = cache_folder(root, HASHES)
    if folder is None or not folder.is_dir():  # absent, or a link never followed
        return []
    envs = [
        g.path
        for k in generations.managed_env_keys(root)
        for g in generations.list_generations(root, k)
    ]
    envs += [loaded.adopt_path(k) for k in loaded.manifest.adopted_envs()]
    keep = {cache_file(root, os.path.realpath(f)).name for f in envs}
    failures = []
    for entry in folder.iterdir():
        if entry.name in keep or entry.is_dir():
            continue
        try:
            entry.unlink()
        except OSError as exc:
            failures.append((str(entry), exc.strerror or str(exc)))
    return failures


def plan_gc(loaded: LoadedManifest, keep: int, *, ops: StoreOps, venv: VenvLayout) -> list[Path]:
    """The complete generations gc removes beyond ``keep`` (cleanup takes the rest), those
    that can no longer start first. Only generations reconcile handed out; never an entry of
    the trash (emptied where it is)."""
    root = loaded.root
    doomed: list[Path] = []
    for key in generations.managed_env_keys(root):
        live = generations.live_generation(root, key, ops=ops)
        gens = generations.owned(root, generations.list_generations(root, key))
        dead = broken(gens, venv=venv)
        never = generations.never_live(gens, live)
        doomed += [
            g.path
            for g in collectable(gens, live, keep, broken=dead, never_live=never)
            if g.complete
        ]
    return doomed


@dataclass(frozen=True)
class Collected:
    """What `gc` removed (or, for ``--dry-run``, would remove), what it could not, and what
    it left alone: trash reconcile did not put there, and records of things it never made.
    ``in_place``: the paths of ``failed`` still where they were (not even moved into the
    trash), which fail `gc`; the others are leftovers the next `gc` retries."""

    removed: tuple[Path, ...]
    failed: tuple[tuple[str, str], ...]
    unrecorded: tuple[Path, ...]
    ignored: tuple[str, ...]
    in_place: tuple[str, ...] = ()


def collect(
    loaded: LoadedManifest,
    keep: int,
    *,
    ops: StoreOps,
    venv: VenvLayout,
    lock_timeout: float,
    on_wait: Callable[[LockHolder | None], None],
    removed: Callable[[str], None],
) -> Collected:
    """Remove the leftovers and the generations beyond ``keep``, under the apply lock;
    ``removed`` hears of each path as it goes."""
    with ApplyLock(loaded.root, timeout=lock_timeout, on_wait=on_wait):
        return _collect(loaded, keep, ops=ops, venv=venv, removed=removed)


def _collect(
    loaded: LoadedManifest,
    keep: int,
    *,
    ops: StoreOps,
    venv: VenvLayout,
    removed: Callable[[str], None],
) -> Collected:
    root = loaded.root
    results = [clean(loaded, ops=ops, venv=venv)]
    for path in results[0].removed:
        removed(path)
    spare = adopt_folders(loaded)
    for doomed in plan_gc(loaded, keep, ops=ops, venv=venv):
        results.append(generations.delete_tree(root, doomed, ops=ops, spare=spare))
        for path in results[-1].removed:
            removed(path)
    # now that the generations above are gone
    results.append(generations.Removal(failed=tuple(prune_hash_caches(loaded))))
    done = combined(results)
    unrecorded = generations.unrecorded_trash(root, ops=ops)
    ignored = generations.ignored_records(root, adopt_folders(loaded), ops=ops)
    interrupts.settle("gc completed")
    return Collected((), done.failed, tuple(unrecorded), tuple(ignored), done.in_place)


def preview_gc(loaded: LoadedManifest, keep: int, *, ops: StoreOps, venv: VenvLayout) -> Collected:
    """Everything ``gc --keep KEEP`` would remove, for ``--dry-run``: what was recorded and
    is left over, incomplete generations, undeclared envs' generations, and the complete
    generations beyond ``keep``; and what it would leave alone. Reads only."""
    root = loaded.root
    folders.check(root)
    keys = generations.managed_env_keys(root)
    found = generations.recorded_leftovers(root, adopt_folders(loaded), ops=ops)
    found += [g.path for g in generations.leftover_generations(root, keys, ops=ops)]
    abandoned = [generations.generations_dir(root, k) for k in keys if _abandoned(loaded, k, ops)]
    found += abandoned
    found += [p for p in plan_gc(loaded, keep, ops=ops, venv=venv) if p.parent not in abandoned]
    spare = adopt_folders(loaded)
    found = [p for p in found if generations.spared_by(p, spare) is None]
    return Collected(
        tuple(sorted(dict.fromkeys(found))),
        (),
        tuple(generations.unrecorded_trash(root, ops=ops)),
        tuple(generations.ignored_records(root, adopt_folders(loaded), ops=ops)),
    )
