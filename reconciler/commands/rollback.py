"""IO: the `rollback` use case: switch an env back to its previous complete generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler import interrupts
from reconciler.errors import UsageError
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import folders, generations
from reconciler.store.applylock import ApplyLock, LockHolder

if TYPE_CHECKING:
    from reconciler.store.fsops import StoreOps


def rollback(
    loaded: LoadedManifest,
    env_key: str,
    *,
    ops: StoreOps,
    lock_timeout: float,
    on_wait: Callable[[LockHolder | None], None],
) -> generations.Generation:
    """Switch ``env_key`` to its previous complete generation, under the apply lock; with
    nothing to roll back, refused before the lock (which would create the root)."""
    rollback_target(loaded, env_key, ops=ops)
    with ApplyLock(loaded.root, timeout=lock_timeout, on_wait=on_wait):
        previous = rollback_target(loaded, env_key, ops=ops)
        generations.switch(loaded.root, env_key, previous.path, ops=ops)
        interrupts.settle("the rollback completed")
    return previous


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
            f"{env_key} has no complete generation older than {live.gen_id} to roll back to."
        )
    return previous
