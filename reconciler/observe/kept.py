"""IO: look at an env's kept generations (complete, not live): which can no longer start, for
the prune policy, and which one already is what the manifest asks for, for `plan`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.core.facts import Finding
from reconciler.core.generations import Generation, Wanted, built_as_wanted
from reconciler.core.health import Expectation, assess, structure
from reconciler.observe.look import EnvRequest, look_at

if TYPE_CHECKING:
    from reconciler.platform import VenvLayout
    from reconciler.spec.lockfile import Lockfile
    from reconciler.spec.manifest import LoadedManifest
    from reconciler.store.fsops import StoreOps


def broken(generations: Sequence[Generation], *, venv: VenvLayout) -> frozenset[str]:
    """The ids of the complete generations that cannot pass the gate a new build passes,
    told from their structure alone (a few ``stat`` calls each, no process, no walk): their
    interpreter, pyvenv.cfg, the base interpreter it names, the activation scripts. Cheap
    enough for every prune; a bad file or a failing import is left to the full check."""
    return frozenset(g.gen_id for g in generations if g.complete and cannot_start(g, venv=venv))


def cannot_start(generation: Generation, *, venv: VenvLayout) -> tuple[Finding, ...]:
    """What keeps a generation from starting or being activated, told from its structure
    alone (``health.structure``); none when it looks sound."""
    facts = look_at(EnvRequest(generation.env_key, generation.path), venv=venv)
    if not facts.exists:
        return (Finding("env_missing", f"{generation.path} is gone", "."),)
    return tuple(structure(facts, venv=venv))


def switch_back_target(
    loaded: LoadedManifest,
    env_key: str,
    lock: Lockfile,
    wanted: Wanted,
    *,
    venv: VenvLayout,
    ops: StoreOps,
    seen: list[str] | None = None,
) -> str | None:
    """The newest kept generation of ``env_key`` that its receipt says was built as the
    manifest asks (:func:`~reconciler.core.generations.built_as_wanted`) and that `plan`
    judges healthy as it judges a live env (its probe, its distributions against ``lock``,
    its files against RECORD through the hash cache); None when there is none. Only a
    generation whose receipt matches is probed. ``seen`` gets every path looked at."""
    from reconciler.observe.env import observe_env
    from reconciler.observe.integrity import verify_dir
    from reconciler.observe.walk import EnvNotVerifiable
    from reconciler.store import generations, layout

    root = loaded.root
    live = generations.live_generation(root, env_key, ops=ops)
    kept = generations.owned(root, generations.list_generations(root, env_key))
    spec = loaded.manifest.envs[env_key]
    for generation in reversed(kept):
        if not generation.complete or generation == live:
            continue
        receipt = generations.read_receipt(generation.path)
        if seen is not None:
            seen.append(str(layout.receipt_path(generation.path)))
        if receipt is None or not built_as_wanted(receipt, wanted):
            continue
        facts = observe_env(EnvRequest(env_key, generation.path, spec.imports), venv=venv)
        ignore = loaded.manifest.verify_ignore_for(env_key)
        try:
            report = verify_dir(root, generation.path, ignore, venv=venv, seen=seen)
        except EnvNotVerifiable:
            continue
        expect = Expectation(python=spec.python, lock=lock, managed=True)
        if assess(facts, expect, report).healthy:
            return generation.gen_id
    return None
