"""IO: the `plan` use case. Load inputs, observe, judge, then hand pure data to plan.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.bindings import read_state
from reconciler.errors import LockfileError
from reconciler.files import display_path
from reconciler.health import Expectation, assess
from reconciler.lockfiles import Lockfile, parse_lockfile, stale_causes
from reconciler.manifest import LoadedManifest, Manifest
from reconciler.observe import (
    EnvRequest,
    created_by_reconcile,
    observe_all,
    undeclared_entries,
)
from reconciler.plan import Observed, Plan, build_plan
from reconciler.state import EnvFacts


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_lockfile(loaded: LoadedManifest, env_key: str) -> Lockfile:
    """Read an env's lockfile; missing or unreadable is one sentence with the fix."""
    path = loaded.lockfile_path(env_key)
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockfileError(
            f"lockfile for {env_key} not found at {shown}: run `reconcile lock {env_key}`."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"cannot read lockfile {shown} for {env_key}: {exc}.") from None
    return parse_lockfile(text, shown)


def fresh_locks(loaded: LoadedManifest, env_keys: Iterable[str]) -> dict[str, Lockfile]:
    """Lockfiles of the given managed envs; a stale one stops the plan, like `uv sync --locked`."""
    manifest = loaded.manifest
    locks: dict[str, Lockfile] = {}
    for key in sorted(env_keys):
        lock = read_lockfile(loaded, key)
        causes = stale_causes(lock, manifest.envs[key], manifest.sources_for(key))
        if causes:
            raise LockfileError(
                f"lockfile for {key} is stale ({', '.join(causes)}): run `reconcile lock {key}`."
            )
        locks[key] = lock
    return locks


def _facts_digest(facts: EnvFacts) -> str:
    return _sha256(json.dumps(dataclasses.asdict(facts), sort_keys=True, default=str))


def target_closure(
    manifest: Manifest, bindings: Mapping[str, str], targets: Iterable[str]
) -> list[str]:
    """The managed envs a --target plan must observe: the targets, and the envs that models
    leaving a targeted env move to (their create step comes along, SPEC 5)."""
    wanted = set(targets)
    for model, spec in manifest.models.items():
        if bindings.get(model) in wanted or spec.env in wanted:
            wanted.add(spec.env)
    return sorted(k for k in manifest.managed_envs() if k in wanted)


@dataclass(frozen=True)
class PlanRun:
    """A computed plan with the fingerprint of everything it was computed from."""

    plan: Plan
    fingerprint: dict[str, Any]


def make_plan(loaded: LoadedManifest, targets: Iterable[str] = ()) -> PlanRun:
    """Observe every declared env and every entry of the root, and build the plan."""
    manifest = loaded.manifest
    root = loaded.root
    wanted = sorted(set(targets))
    managed = manifest.managed_envs()
    state = read_state(root)
    planned = target_closure(manifest, state.bindings, wanted) if wanted else sorted(managed)
    locks = fresh_locks(loaded, planned)
    requests = [
        EnvRequest(key, root / key, spec.imports, confine_to=root)
        for key, spec in managed.items()
        if key in planned
    ]
    requests += [
        EnvRequest(key, loaded.adopt_path(key), spec.imports)
        for key, spec in manifest.adopted_envs().items()
    ]
    facts = observe_all(requests)
    health = {}
    for key, fact in facts.items():
        spec = manifest.envs[key]
        expect = Expectation(python=spec.python, lock=locks.get(key), managed=not spec.adopted)
        health[key] = assess(fact, expect)
    orphans = {
        name: created_by_reconcile(root, name) for name in undeclared_entries(root, manifest.envs)
    }
    observed = Observed(
        health=health,
        orphans=orphans,
        bindings=state.bindings,
        adopted=state.adopted,
        fallbacks=state.fallbacks,
    )
    packages = {key: len(lock.packages) for key, lock in locks.items()}
    plan = build_plan(manifest, observed, packages, wanted)
    fingerprint = {
        "manifest_sha256": _sha256(loaded.text),
        "root": str(root.resolve()),
        "lockfiles": {key: lock.sha256 for key, lock in sorted(locks.items())},
        "observed": {key: _facts_digest(f) for key, f in sorted(facts.items())},
        "orphans": sorted(orphans),
        "targets": wanted,
        "applied_state": _sha256(
            json.dumps(
                [
                    sorted(state.bindings.items()),
                    sorted(state.fallbacks.items()),
                    sorted(state.adopted),
                ]
            )
        ),
    }
    return PlanRun(plan=plan, fingerprint=fingerprint)
