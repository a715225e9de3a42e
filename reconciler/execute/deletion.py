"""IO: what the executor removes (a managed env's delete step, an adopted env's folder, the
prune after a switch), under one rule: a folder still in its place (it could not even be
moved out of the way: Windows refuses to rename a folder holding a loaded file) fails the
apply, naming what to do; one moved out of the way whose emptying failed is a warning, its
leftover retried by the next `gc` or apply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler import faults
from reconciler.core.generations import collectable
from reconciler.core.outcome import in_place_todo
from reconciler.errors import ReconcileError
from reconciler.execute.rootstore import ApplyStore
from reconciler.execute.schedule import describe_error
from reconciler.store import layout
from reconciler.store.fsops import combined
from reconciler.store.generations import Generation, Removal


class ApplyFailed(ReconcileError):
    """A step failed; the live envs it touched are as they were."""


def refuse_in_place(result: Removal) -> None:
    """Raise :class:`ApplyFailed` naming the first folder ``result`` left in its place."""
    if result.in_place:
        where, why = result.in_place_failures[0]
        raise ApplyFailed(f"{where} could not be deleted: {why}{in_place_todo(why)}")


def delete_managed(store: ApplyStore, root: Path, key: str) -> tuple[bool, Removal]:
    """Remove a managed env's link, then the generations reconcile made for it (the caller
    checked the link is its own). Returns whether there was a link, and what the removal did;
    raises :class:`ApplyFailed` when its generations are still in place."""
    linked = store.has_link(key)
    if linked and store.live_generation(key) is None:
        raise ApplyFailed(
            f"not deleted: {layout.env_link(root, key)} does not link to a generation "
            "of its own, so reconcile did not make it; it is left alone"
        )
    if not linked and store.occupied(key):
        raise ApplyFailed(
            f"not deleted: {layout.env_link(root, key)} is not an env reconcile "
            "created (a folder, not its link); it is left alone"
        )
    store.unlink_env(key)
    faults.point("after_unlink")
    result = Removal()
    if store.last_number(key) > 0:  # the generations it made for it
        result = store.delete_tree(store.generations_dir(key))
    faults.point("after_trash")
    refuse_in_place(result)  # the link is gone: the next apply's cleanup or gc retries it
    return linked, result


def prune(
    store: ApplyStore, key: str, keep: int, previous: Sequence[Generation]
) -> tuple[Removal, list[tuple[str, str]]]:
    """Remove the generations beyond ``keep`` after a switch; ``previous``, the one live
    until now, stays first. Returns what the removals did, and why the generations could
    not even be listed (a warning)."""
    try:
        live = store.live_generation(key)
        gens = store.owned_generations(key)
        broken = store.broken(gens)
        never = store.never_live(gens, live)
        doomed = collectable(gens, live, keep, previous, broken, never)
        results = [store.delete_tree(old.path) for old in doomed]
    except (OSError, ReconcileError) as error:
        return Removal(), [(str(store.generations_dir(key)), describe_error(error))]
    return combined(results), []
