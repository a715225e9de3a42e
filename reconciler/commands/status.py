"""IO: the `status` use case. Gather what is true of every env now, for one table.

Health is judged as `plan` judges it (the same observation, the same RECORD check with the
root's hash cache, the same ``assess``), so an env `status` calls healthy is one `plan` leaves
alone. Unlike `plan`, `status` never refuses: a missing or stale lockfile and a bad adopt
path become reasons in the table (``lock_missing``, ``lock_stale``, ``adopt_path_invalid``)
instead of errors; only a link (or a file) in place of one of the root's own folders is
refused, as by every command (:func:`reconciler.store.folders.check`). It reads only: no lock, and
nothing written but the hash cache under ``<root>/.cache`` (and the bytecode the import probe
may compile, as `plan`'s does).
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.facts import EnvFacts
from reconciler.observe.adoption import folder_problem, was_applied
from reconciler.observe.env import (
    created_by_reconcile,
    read_pyvenv_cfg,
    undeclared_entries,
)
from reconciler.observe.health import observe_health
from reconciler.observe.inputs import env_requests, read_lock
from reconciler.report.status import StatusRow, status_document
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import folders, generations, layout
from reconciler.store.bindings import read_state

if TYPE_CHECKING:
    from reconciler.platform import Platform
    from reconciler.store.fsops import StoreOps

_RECEIPT_TIME = "%Y-%m-%dT%H:%M:%SZ"


def status_report(
    loaded: LoadedManifest, now: datetime | None = None, *, platform: Platform
) -> dict[str, Any]:
    """The status document (``status_render.status_document``) of every declared env and
    every orphan under the root, as of ``now`` (default: this moment)."""
    rows = status_rows(loaded, platform=platform)
    moment = now if now is not None else datetime.now(timezone.utc)
    return status_document(rows, moment, loaded.path.name, shown_path(loaded, loaded.root))


def status_rows(loaded: LoadedManifest, *, platform: Platform) -> list[StatusRow]:
    """One row per declared env (managed, adopted) and per orphan under the root."""
    ops = platform.ops
    manifest, root = loaded.manifest, loaded.root
    folders.check(root)
    state = read_state(root)
    applied = state.bindings
    declared = {model: spec.env for model, spec in manifest.models.items()}

    def bound(row: StatusRow) -> StatusRow:
        """The row with the models applied to its env and those the manifest binds to it."""
        return dataclasses.replace(
            row,
            models=tuple(sorted(m for m, e in applied.items() if e == row.env)),
            models_declared=tuple(sorted(m for m, e in declared.items() if e == row.env)),
        )

    rows: list[StatusRow] = []
    for key in manifest.adopted_envs():
        path = loaded.adopt_path(key)
        before = was_applied(loaded, key, state.adopted)  # broke since: observed, as in plan
        problem = folder_problem(path, root, doomed=False, applied=before)
        if problem is not None:
            why = "missing" if not os.path.lexists(path) else "adopt_path_invalid"
            rows.append(StatusRow(key, "adopted", shown_path(loaded, path), (why,), (problem,)))
    locks = {key: _lockfile(loaded, key) for key in manifest.managed_envs()}
    facts, _, judged = observe_health(
        loaded,
        env_requests(loaded, skip={row.env for row in rows}),  # adopted envs found broken
        lambda key: locks[key][0] if key in locks else None,
        venv=platform.venv,
    )
    for key, fact in facts.items():
        spec = manifest.envs[key]
        lock_reasons = () if spec.adopted else locks[key][1]
        health = judged[key]
        real = fact.real_path if fact.exists and not fact.escapes_root else None
        gen, created, previous = (None, None, ()) if spec.adopted else _generations(root, key, ops)
        rows.append(
            StatusRow(
                env=key,
                kind="adopted" if spec.adopted else "managed",
                path=shown_path(loaded, Path(fact.path)),
                reasons=(*health.reasons, *lock_reasons),
                details=tuple(f"{f.reason}: {f.detail}" for f in health.findings if f.detail),
                python=_python(fact),
                python_declared=spec.python,
                generation=gen,
                created=created,
                previous=previous,
                size_bytes=disk_usage(Path(real)) if real is not None else None,
                created_by_reconcile=fact.created_by_reconcile,
                link=None if spec.adopted else ops.link_kind(root, key),
            )
        )
    rows += [_doomed(loaded, key) for key in manifest.doomed_envs()]
    rows += [_orphan(loaded, name, ops) for name in undeclared_entries(root, manifest.envs)]
    return [bound(row) for row in rows]


def shown_path(loaded: LoadedManifest, path: Path) -> str:
    """``path`` relative to the manifest's folder when inside it, else absolute."""
    normal = Path(os.path.normpath(path.absolute()))
    try:
        return str(normal.relative_to(loaded.base_dir))
    except ValueError:
        return str(normal)


def _lockfile(loaded: LoadedManifest, env_key: str) -> tuple[Lockfile | None, tuple[str, ...]]:
    """The env's lockfile, and ``lock_missing`` (none, unreadable or unparsable) or
    ``lock_stale`` (made from other inputs; the env is still compared with it)."""
    verdict = read_lock(loaded, env_key)
    if verdict.lock is None:
        return None, ("lock_missing",)
    return verdict.lock, ("lock_stale",) if verdict.stale else ()


def _python(fact: EnvFacts) -> str | None:
    """The version the interpreter reported, else the one pyvenv.cfg names."""
    if fact.probe is not None:
        return fact.probe.version
    return _cfg_version(fact.pyvenv_cfg)


def _cfg_version(cfg: tuple[tuple[str, str], ...] | None) -> str | None:
    values = dict(cfg or ())
    return values.get("version_info") or values.get("version") or None


def _generations(
    root: Path, env_key: str, ops: StoreOps
) -> tuple[str | None, datetime | None, tuple[str, ...]]:
    """The live generation's name and build time, and the other complete generations that
    went live once (kept for rollback), oldest first: one built but never switched to never
    ran as the env."""
    live = generations.live_generation(root, env_key, ops=ops)
    gens = generations.list_generations(root, env_key)
    never = generations.never_live(gens, live)
    previous = tuple(
        g.gen_id
        for g in gens
        if g.complete and g.gen_id not in never and (live is None or g.gen_id != live.gen_id)
    )
    if live is None:
        return None, None, previous
    return live.gen_id, _built_at(live.path), previous


def _built_at(gen_dir: Path) -> datetime | None:
    """When a generation was built: its receipt's ``created``, else the receipt's mtime."""
    receipt: Mapping[str, Any] = generations.read_receipt(gen_dir) or {}
    created = receipt.get("created")
    if isinstance(created, str):
        try:
            return datetime.strptime(created, _RECEIPT_TIME).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        mtime = layout.receipt_path(gen_dir).stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(mtime, timezone.utc)


def _doomed(loaded: LoadedManifest, env_key: str) -> StatusRow:
    """An adopted env marked ``delete = true``: not probed, since apply deletes it."""
    path = loaded.adopt_path(env_key)
    shown = shown_path(loaded, path)
    if not os.path.lexists(path):
        return StatusRow(env_key, "adopted", shown, ("already_deleted",))
    real = Path(os.path.realpath(path))
    return StatusRow(
        env_key,
        "adopted",
        shown,
        ("delete_requested",),
        python=_cfg_version(read_pyvenv_cfg(real)),
        size_bytes=disk_usage(real),
    )


def _orphan(loaded: LoadedManifest, name: str, ops: StoreOps) -> StatusRow:
    """An entry of the root that no env of the manifest names: not probed. One reconcile
    built is deleted by the next apply; any other is left alone."""
    root = loaded.root
    path = root / name
    made = created_by_reconcile(root, name, ops=ops)
    reasons = ["not_declared"] if made else ["not_declared", "not_created_by_reconcile"]
    real = Path(os.path.realpath(path))
    inside = real.is_relative_to(Path(os.path.realpath(root)))
    if not inside:
        reasons.append("outside_root")
    gen, created, previous = _generations(root, name, ops)
    return StatusRow(
        env=name,
        kind="orphan",
        path=shown_path(loaded, path),
        reasons=tuple(reasons),
        python=_cfg_version(read_pyvenv_cfg(real)) if inside else None,
        generation=gen,
        created=created,
        previous=previous,
        size_bytes=disk_usage(real) if inside else None,
        created_by_reconcile=made,
        link=ops.link_kind(root, name),
    )


def disk_usage(path: Path) -> int | None:
    """Bytes the tree at ``path`` takes on disk: ``st_blocks * 512`` of every entry (the size
    where the platform has no ``st_blocks``), a file with several hard links in the tree
    counted once. Links are counted as links, never followed, and nothing on another
    filesystem (a mount inside) is counted, so the walk stays inside ``path``. ``None`` when
    ``path`` cannot be looked at; what cannot be read inside it is left out."""
    try:
        top = os.lstat(path)
    except OSError:
        return None
    total = _allocated(top)
    seen: set[tuple[int, int]] = set()
    pending = [os.fspath(path)] if stat.S_ISDIR(top.st_mode) else []
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if info.st_dev and info.st_dev != top.st_dev:  # 0: Windows scandir
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
                    elif info.st_nlink > 1:
                        if (info.st_dev, info.st_ino) in seen:
                            continue
                        seen.add((info.st_dev, info.st_ino))
                    total += _allocated(info)
        except OSError:
            continue
    return total


def _allocated(info: os.stat_result) -> int:
    blocks: int | None = getattr(info, "st_blocks", None)
    return blocks * 512 if blocks is not None else info.st_size
