"""IO: the `rollback` use case: switch an env back to its previous complete generation, once
that generation passes the check a new build passes."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from reconciler import interrupts
from reconciler.errors import ReconcileError, UsageError
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import folders, generations
from reconciler.store.applylock import ApplyLock, LockHolder

if TYPE_CHECKING:
    from reconciler.platform import Platform
    from reconciler.spec.lockfile import Lockfile
    from reconciler.store.fsops import StoreOps


class RollbackRefused(ReconcileError):
    """The previous generation fails the check a new build passes: rollback changes nothing."""


def rollback(
    loaded: LoadedManifest,
    env_key: str,
    *,
    platform: Platform,
    lock_timeout: float,
    on_wait: Callable[[LockHolder | None], None],
) -> generations.Generation:
    """Switch ``env_key`` to its previous complete generation, under the apply lock, once it
    passes the check a new build passes (:func:`check_previous`); with nothing to roll back,
    refused before the lock (which would create the root)."""
    ops = platform.ops
    rollback_target(loaded, env_key, ops=ops)
    with ApplyLock(loaded.root, timeout=lock_timeout, on_wait=on_wait):
        previous = rollback_target(loaded, env_key, ops=ops)
        problems = check_previous(loaded, previous, platform=platform)
        if problems is not None:
            raise RollbackRefused(
                f"rollback refused: generation {previous.gen_id} of {env_key} fails the check "
                f"a new build passes ({problems}); {env_key} still runs "
                f"{_live_id(loaded, env_key, ops)}, unchanged. To run what {previous.gen_id} "
                "had, put back the requirements it was built from, then lock and apply: a new "
                "generation is built."
            )
        live = generations.live_generation(loaded.root, env_key, ops=ops)
        if live is not None:  # it went live: mark it (a kill may have kept apply from it)
            generations.mark_live(live.path)
        generations.switch(loaded.root, env_key, previous.path, ops=ops)
        interrupts.settle("the rollback completed")
    return previous


def _live_id(loaded: LoadedManifest, env_key: str, ops: StoreOps) -> str:
    live = generations.live_generation(loaded.root, env_key, ops=ops)
    return f"generation {live.gen_id}" if live is not None else "what it ran"


def rollback_target(
    loaded: LoadedManifest, env_key: str, *, ops: StoreOps
) -> generations.Generation:
    """The generation rollback switches ``env_key`` to, or a UsageError saying why there is
    none. Reads only: `rollback` asks before its lock creates the root, and again under it."""
    root = loaded.root
    folders.check(root)
    live = generations.live_generation(root, env_key, ops=ops)
    if live is None:
        raise UsageError(f"{env_key} has no live generation under {root}; nothing to roll back.")
    previous = generations.previous_generation(root, env_key, ops=ops)
    if previous is None:
        raise UsageError(
            f"{env_key} has no complete generation older than {live.gen_id} that was ever "
            "live to roll back to."
        )
    return previous


def check_previous(
    loaded: LoadedManifest, generation: generations.Generation, *, platform: Platform
) -> str | None:
    """Why ``generation`` may not go live again, as one phrase; None when it passes
    the gate a new build passes (``execute.builder.gate``): first its structure (no process:
    an interpreter or base interpreter that is gone is named without hashing anything), then
    every file against RECORD, one probe of its interpreter with the imports its receipt
    names, its Python against the one it was declared with, and its distributions against
    its lockfile when the manifest's is still the one it was built from."""
    from reconciler.core.health import Expectation
    from reconciler.execute.builder import file_verifier, gate, judge_generation, problems_phrase
    from reconciler.observe.integrity import receipt_baseline
    from reconciler.observe.kept import cannot_start

    venv, key, path = platform.venv, generation.env_key, generation.path
    found = cannot_start(generation, venv=venv)
    if found:
        return "; ".join(f.detail for f in found)
    receipt = generations.read_receipt(path) or {}
    declared = receipt.get("python_declared")
    expect = Expectation(
        python=declared if isinstance(declared, str) else None,
        lock=_built_from(loaded, key, receipt),
        managed=False,
    )
    imports = receipt.get("imports")
    probed = [str(name) for name in imports] if isinstance(imports, list) else []
    problems, _ = gate(
        file_verifier(loaded.root, venv=venv),
        lambda: judge_generation(key, path, expect, probed, venv=venv),
        path,
        loaded.manifest.verify_ignore_for(key),
        receipt_baseline(loaded.root, os.path.realpath(path)),
    )
    return problems_phrase(problems) if problems else None


def _built_from(
    loaded: LoadedManifest, env_key: str, receipt: Mapping[str, object]
) -> Lockfile | None:
    """The env's lockfile when its pins are still those the generation was built from (its
    distributions are then checked against it); None otherwise (its files are still checked
    against their RECORDs)."""
    from reconciler.core.generations import built_from
    from reconciler.observe.inputs import read_lock

    lock = read_lock(loaded, env_key).lock
    return lock if lock is not None and built_from(receipt, lock) is True else None
