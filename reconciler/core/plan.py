"""Pure: desired state + observed state -> a dependency-ordered plan (a networkx DAG).

Every step carries one action, which drives apply, and reasons, which only explain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from reconciler.core.actions import REMOVES, Action
from reconciler.core.adopted import adopted_warning, rebind_detail, unusable
from reconciler.core.facts import EnvHealth
from reconciler.core.generations import REPLACE_REQUESTED, may_switch_back
from reconciler.errors import PlanCycleError, UnknownEnv, UsageError
from reconciler.spec.lockdiff import PackageChange
from reconciler.spec.manifest import Manifest, ModelSpec

StepKind = Literal["env", "model"]


@dataclass(frozen=True)
class Step:
    """One unit of work. ``action`` drives apply; ``reasons`` explain it."""

    id: str
    kind: StepKind
    action: Action
    target: str
    reasons: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    python: str | None = None
    packages: int | None = None
    from_env: str | None = None
    to_env: str | None = None
    changes: tuple[PackageChange, ...] = ()
    """Package by package, what the env's lockfile changes (``reconcile diff`` only)."""
    python_download: str | None = None
    """The ``X.Y.Z`` a create/replace step will download first (core.pythons.foresee)."""
    blocked: str | None = None
    """Why apply will fail this step at once, building nothing (its Python cannot be had)."""
    switch_back: str | None = None
    """A create/replace step's kept generation that already matches: apply switches to it
    (after checking it as a new build is checked) instead of building."""


@dataclass(frozen=True)
class Plan:
    """Steps in a deterministic dependency order, plus warnings that are not steps."""

    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def has_changes(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True)
class Observed:
    """Everything plan needs to know about reality, already judged."""

    health: Mapping[str, EnvHealth]
    """Health of every declared env (managed and adopted)."""
    orphans: Mapping[str, bool]
    """Undeclared entries of the root -> whether reconcile created them."""
    bindings: Mapping[str, str]
    """Applied model -> env bindings (empty until something was applied)."""
    adopted: frozenset[str] = frozenset()
    """Adopted envs recorded in the applied state."""
    fallbacks: Mapping[str, str] = field(default_factory=dict)
    """Applied model -> fallback env."""
    doomed: Mapping[str, str] = field(default_factory=dict)
    """Adopted envs marked ``delete = true`` whose folder still exists -> that folder."""
    undeletable: Mapping[str, str] = field(default_factory=dict)
    """Those of ``doomed`` whose folder must not be deleted now -> why (one sentence): the
    step stays, blocked, and apply refuses that env alone."""
    adopt_moves: Mapping[str, str] = field(default_factory=dict)
    """Adopted envs whose manifest folder differs from the applied one -> what changes."""
    occupied: Mapping[str, str] = field(default_factory=dict)
    """Managed envs whose place under the root holds something reconcile did not create (a
    folder, a file, a link elsewhere) -> that path and what it is; apply never touches it."""
    switch_back: Mapping[str, str] = field(default_factory=dict)
    """Managed envs to build -> their newest kept generation that already matches what the
    manifest asks for (receipt and health)."""


def env_step_id(env_key: str) -> str:
    return f"env.{env_key}"


def model_step_id(model: str) -> str:
    return f"model.{model}"


def _env_steps(
    manifest: Manifest,
    observed: Observed,
    packages: Mapping[str, int],
    replace: frozenset[str] = frozenset(),
) -> list[Step]:
    steps: list[Step] = []
    for key, spec in manifest.managed_envs().items():
        health = observed.health.get(key)
        forced = key in replace and health is not None and health.exists
        if health is None or (health.healthy and not forced):
            continue
        action: Action = "create" if not health.exists else "replace"
        reasons = health.reasons + ((REPLACE_REQUESTED,) if forced else ())
        kept = observed.switch_back.get(key) if may_switch_back(reasons) else None
        steps.append(
            Step(
                id=env_step_id(key),
                kind="env",
                action=action,
                target=key,
                reasons=tuple(sorted(reasons)),
                details=tuple(f"{f.reason}: {f.detail}" for f in health.findings if f.detail)
                + _occupied_detail(observed, key)
                + _switch_back_detail(kept),
                python=spec.python,
                packages=packages.get(key),
                switch_back=kept,
            )
        )
    for name, created in sorted(observed.orphans.items()):
        if created:
            steps.append(Step(env_step_id(name), "env", "delete", name, ("not_declared",)))
    for name in sorted(observed.adopted - set(manifest.envs)):
        steps.append(Step(env_step_id(name), "env", "forget", name, ("not_declared",)))
    for name, folder in sorted(observed.doomed.items()):
        refused = observed.undeletable.get(name)
        detail = f"deletes the adopted folder {folder} (delete = true)"
        if refused is not None:
            detail = f"will not delete the adopted folder {folder}: see the warning"
        steps.append(
            Step(
                env_step_id(name),
                "env",
                "delete",
                name,
                ("delete_requested",),
                details=(detail,),
                blocked=refused,
            )
        )
    for name in sorted(observed.adopted & set(manifest.doomed_envs()) - set(observed.doomed)):
        steps.append(Step(env_step_id(name), "env", "forget", name, ("already_deleted",)))
    return steps


def _switch_back_detail(kept: str | None) -> tuple[str, ...]:
    if kept is None:
        return ()
    return (
        f"switches back to kept generation {kept}: it was built as the manifest now asks, "
        "so nothing is built",
    )


def _occupied_detail(observed: Observed, key: str) -> tuple[str, ...]:
    what = observed.occupied.get(key)
    if what is None:
        return ()
    return (
        f"{what} that reconcile did not create: apply stops at this env until it is moved "
        "away (reconcile never deletes it)",
    )


def _rebind_why(
    current: str | None, old_fallback: str | None, spec: ModelSpec, moved: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(reasons, details) of a model's rebind step."""
    if current == spec.env and old_fallback == spec.fallback:  # only an adopted folder moved
        return ("adopt_path_changed",), tuple(moved)
    reasons = ["new_model"] if current is None else []
    if current is not None and current != spec.env:
        reasons.append("env_changed")
    if old_fallback == spec.fallback:
        return tuple(reasons), ()
    if current is not None:
        reasons.append("fallback_changed")
    return tuple(reasons), (f"fallback: {old_fallback or '(none)'} -> {spec.fallback or '(none)'}",)


def _model_steps(manifest: Manifest, observed: Observed) -> list[Step]:
    steps: list[Step] = []
    for model, spec in sorted(manifest.models.items()):
        current = observed.bindings.get(model)
        old_fallback = observed.fallbacks.get(model) if current is not None else None
        uses = [e for e in (current, spec.fallback) if e is not None]
        moved = [observed.adopt_moves[e] for e in uses if e in observed.adopt_moves]
        if current == spec.env and old_fallback == spec.fallback and not moved:
            continue
        reasons, details = _rebind_why(current, old_fallback, spec, moved)
        if spec.env != current and _cannot_be_used(manifest, observed, spec.env):
            details += (rebind_detail(spec.env),)
        steps.append(
            Step(
                model_step_id(model),
                "model",
                "rebind",
                model,
                reasons,
                details=details,
                from_env=current,
                to_env=spec.env,
            )
        )
    for model, env in sorted(observed.bindings.items()):
        if model not in manifest.models:
            steps.append(
                Step(
                    model_step_id(model), "model", "unbind", model, ("model_removed",), from_env=env
                )
            )
    return steps


def _cannot_be_used(manifest: Manifest, observed: Observed, env_key: str) -> bool:
    """Whether ``env_key`` is an adopted env that is gone or cannot start."""
    health = observed.health.get(env_key)
    return env_key in manifest.adopted_envs() and health is not None and unusable(health)


def _warnings(manifest: Manifest, observed: Observed) -> list[str]:
    found: list[str] = []
    for key, spec in manifest.adopted_envs().items():
        health = observed.health.get(key)
        if health is not None and not health.healthy:
            found.append(adopted_warning(key, str(spec.adopt), health))
    for key, why in sorted(observed.undeletable.items()):
        if key in observed.doomed:
            found.append(f"adopted env {key} (delete = true): {why}.")
    for name, created in sorted(observed.orphans.items()):
        if not created:
            found.append(
                f"{name} in the root is not declared and was not created by reconcile; "
                "it is left alone"
            )
    return found


def _select(steps: list[Step], targets: frozenset[str]) -> list[Step]:
    """Keep the steps of the targeted envs, of the models bound to or from them, and every
    step those depend on (as Terraform's -target does): a rebind never runs before its env."""

    def wanted(step: Step) -> bool:
        if step.kind == "env":
            return step.target in targets
        return bool({step.from_env, step.to_env} & targets)

    by_id = {s.id: s for s in steps}
    kept = {s.id for s in steps if wanted(s)}
    todo = sorted(kept)
    while todo:
        for dep in by_id[todo.pop()].depends_on:
            if dep in by_id and dep not in kept:
                kept.add(dep)
                todo.append(dep)
    return [s for s in steps if s.id in kept]


def check_targets(manifest: Manifest, observed: Observed, targets: Iterable[str]) -> None:
    known = sorted(set(manifest.envs) | set(observed.orphans) | observed.adopted)
    for target in targets:
        if target not in known:
            raise UnknownEnv(
                f"--target {target} names no env in the manifest or root", target, known
            )


def check_replace(manifest: Manifest, replace: Iterable[str]) -> None:
    """Every ``--replace`` names a managed env of the manifest: reconcile never builds an
    adopted env, and a name that is not a managed env gets the closest one."""
    managed = sorted(manifest.managed_envs())
    for key in replace:
        spec = manifest.envs.get(key)
        if spec is not None and spec.adopted:
            raise UsageError(
                f"--replace {key} names an adopted env: reconcile never builds it, so it "
                "cannot be replaced; recreate the venv by hand, or move its models to a "
                "managed env."
            )
        if key not in managed:
            raise UnknownEnv(f"--replace {key} names no managed env in the manifest", key, managed)


def _order(steps: list[Step]) -> tuple[Step, ...]:
    if not steps:
        return ()
    import networkx as nx  # imported only when there is a graph: a no-op plan starts faster

    by_id = {s.id: s for s in steps}
    graph = nx.DiGraph()
    graph.add_nodes_from(by_id)
    for step in steps:
        for dep in step.depends_on:
            if dep in by_id:
                graph.add_edge(dep, step.id)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        raise PlanCycleError(f"the plan has a dependency cycle: {names}; break it in envs.toml.")
    ordered = nx.lexicographical_topological_sort(graph, key=str)
    return tuple(by_id[i] for i in ordered)


def _with_dependencies(steps: list[Step], fallbacks: Mapping[str, str]) -> list[Step]:
    """Each step's prerequisites: a model's new env before its rebind; every model step that
    moves a model off an env (as its env, or as its applied fallback) before that env goes."""
    ids = {s.id for s in steps}
    out: list[Step] = []
    for step in steps:
        deps: set[str] = set()
        if step.kind == "model" and step.to_env is not None:
            deps.add(env_step_id(step.to_env))
        if step.action in REMOVES:
            deps |= {s.id for s in steps if s.kind == "model" and s.from_env == step.target}
            deps |= {model_step_id(m) for m, env in fallbacks.items() if env == step.target}
        kept = tuple(sorted(d for d in deps if d in ids))
        out.append(
            Step(**{**step.__dict__, "depends_on": kept})  # frozen: rebuild with dependencies
        )
    return out


def build_plan(
    manifest: Manifest,
    observed: Observed,
    packages: Mapping[str, int],
    targets: Iterable[str] = (),
    replace: Iterable[str] = (),
) -> Plan:
    """Compute the ordered plan. ``packages`` is env_key -> number of locked packages;
    ``replace`` names envs rebuilt even when healthy (with ``targets``, they are targets too)."""
    forced = frozenset(replace)
    check_replace(manifest, sorted(forced))
    chosen = frozenset(targets)
    wanted = chosen | forced if chosen else chosen
    check_targets(manifest, observed, sorted(wanted))
    steps = _env_steps(manifest, observed, packages, forced) + _model_steps(manifest, observed)
    steps = _with_dependencies(steps, observed.fallbacks)
    if wanted:
        steps = _select(steps, wanted)
    return Plan(steps=_order(steps), warnings=tuple(_warnings(manifest, observed)))
