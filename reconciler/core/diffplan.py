"""Pure: the plan that takes a host matching BASE (applied and healthy) to HEAD.

Nothing is observed: BASE's manifest and lockfiles stand in for reality. Every env BASE
declares exists, healthy, built from BASE's lockfile (stale or not: it is what was built),
but a managed env BASE has no lockfile for, which nothing could have built; every model is
bound as BASE says.
The plan itself comes from plan.build_plan, so `diff` and `plan` can never disagree on
what an edit means; this module only builds the stand-in observation and names, for each
replace, what changed (Python, packages, sources).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.actions import BUILDS
from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.health import LINK_MODE_CHANGED, python_matches
from reconciler.core.plan import Observed, Plan, Step, build_plan
from reconciler.spec.lockdiff import (
    PackageChange,
    mark_direct,
    package_changes,
    pins_digest,
    summarise,
)
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import Manifest


@dataclass(frozen=True)
class Side:
    """One revision of the project: its manifest, the lockfiles of its managed envs, and
    where things live, normalised. Paths are compared as the manifests write them (relative
    to their own folder), so a BASE manifest copied elsewhere compares by its content."""

    manifest: Manifest
    locks: Mapping[str, Lockfile]
    """Managed env -> its lockfile; at BASE, one it lacks (none could be read) was never built."""
    root: str
    folders: Mapping[str, str]
    """Adopted env -> its folder as written, normalised."""
    shown: Mapping[str, str]
    """Adopted env -> its folder as the manifest writes it (plans carry no absolute paths)."""


def _health(key: str, base: Side, head: Side, same_root: bool) -> EnvHealth:
    """A managed env of HEAD as a BASE host has it: missing, or built from BASE's inputs."""
    old = base.manifest.envs.get(key)
    if old is None or old.adopted or key not in base.locks or not same_root:
        return EnvHealth(key, exists=False, findings=(Finding("missing", ""),))
    new = head.manifest.envs[key]
    found: list[Finding] = []
    if old.python != new.python and not python_matches(new.python or "", old.python or ""):
        found.append(Finding("python_changed", f"{old.python} -> {new.python}"))
    old_lock, new_lock = base.locks[key], head.locks[key]
    if pins_digest(old_lock) != pins_digest(new_lock):  # a new header alone builds nothing
        what = summarise(package_changes(old_lock, new_lock))
        found.append(Finding("lock_changed", what or "the same versions, other hashes or markers"))
    old_mode, new_mode = base.manifest.settings.link_mode, head.manifest.settings.link_mode
    if old_mode != new_mode:
        found.append(Finding(LINK_MODE_CHANGED, f'"{old_mode}" -> "{new_mode}"'))
    moved = _source_fields(base.manifest, head.manifest, key)
    if moved:
        found.append(Finding("sources_changed", ", ".join(moved)))
    return EnvHealth(key, exists=True, findings=tuple(found))


def _source_fields(base: Manifest, head: Manifest, key: str) -> list[str]:
    """The names of the source settings that differ (never their values: index URLs may
    carry credentials)."""
    old = base.sources_for(key).model_dump(mode="json")
    new = head.sources_for(key).model_dump(mode="json")
    return [name for name in sorted(new) if old.get(name) != new[name]]


def stand_in(base: Side, head: Side) -> Observed:
    """What observing a host that matches BASE would find, judged against HEAD."""
    same_root = base.root == head.root
    health = {key: _health(key, base, head, same_root) for key in head.manifest.managed_envs()}
    health |= {key: EnvHealth(key, exists=True) for key in head.manifest.adopted_envs()}
    existing = set(base.manifest.adopted_envs())  # folders on the host, deleted or not
    doomed = {
        key: head.shown[key]
        for key in head.manifest.doomed_envs()
        if key in existing or key not in base.manifest.envs
    }
    if not same_root:  # what apply recorded lives in the old root: the new one knows nothing
        return Observed(health=health, orphans={}, bindings={}, doomed=doomed)
    moves = {
        key: f"adopted folder: {base.shown[key]} -> {head.shown[key]}"
        for key in sorted(existing & set(head.manifest.adopted_envs()))
        if base.folders[key] != head.folders[key]
    }
    built = set(base.manifest.managed_envs()) & set(base.locks)
    return Observed(
        health=health,
        orphans=dict.fromkeys(sorted(built - set(head.manifest.envs)), True),
        bindings={m: spec.env for m, spec in base.manifest.models.items()},
        adopted=frozenset(existing),
        fallbacks={m: s.fallback for m, s in base.manifest.models.items() if s.fallback},
        doomed=doomed,
        adopt_moves=moves,
    )


def diff_plan(base: Side, head: Side) -> Plan:
    """The plan from BASE to HEAD; each env step that builds carries its package changes,
    each marked direct (one of the env's requirements) or not (pulled in by another)."""
    packages = {key: len(lock.packages) for key, lock in head.locks.items()}
    plan = build_plan(head.manifest, stand_in(base, head), packages)
    steps = tuple(_with_changes(step, base, head) for step in plan.steps)
    warnings = list(plan.warnings)
    if base.root != head.root:
        warnings.append(
            "settings.root changed, so every managed env is built afresh in the new root; "
            "the envs in the old root are left alone (remove them with care)"
        )
    return Plan(steps=steps, warnings=tuple(warnings))


def _with_changes(step: Step, base: Side, head: Side) -> Step:
    if step.kind != "env" or step.action not in BUILDS:
        return step
    new = head.locks.get(step.target)
    if new is None:
        return step
    old = base.locks.get(step.target) if step.action == "replace" else None
    changes: tuple[PackageChange, ...] = (
        package_changes(old, new) if old is not None else _all_added(new)
    )
    before = base.manifest.envs.get(step.target)
    wanted = head.manifest.envs[step.target].requirements
    changes = mark_direct(changes, before.requirements if before else (), wanted)
    return dataclasses.replace(step, changes=changes)


def _all_added(lock: Lockfile) -> tuple[PackageChange, ...]:
    empty = Lockfile(label="", packages=(), inputs=None, sha256="")
    return package_changes(empty, lock)
