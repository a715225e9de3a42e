"""Table tests of the pure planner: hand-made observations in, ordered steps out (SPEC 5)."""

from __future__ import annotations

import itertools
import random
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from typing import TypeVar

import pytest

from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.plan import Observed, Plan, Step, _order, build_plan
from reconciler.errors import PlanCycleError, UsageError
from reconciler.spec.manifest import Manifest, parse_manifest

MANIFEST_TEXT = """\
[envs.new]
python = "3.11"

[envs.tools]
python = "3.12"

[envs.ok]
python = "3.11"

[envs.legacy]
adopt = "environments/legacy/.venv"

[models.m-new]
env = "new"

[models.m-moved]
env = "new"

[models.m-same]
env = "ok"

[models.m-retired]
env = "ok"
fallback = "legacy"
"""

HEALTHY = {
    "new": EnvHealth("new", exists=True),
    "tools": EnvHealth("tools", exists=True),
    "ok": EnvHealth("ok", exists=True),
    "legacy": EnvHealth("legacy", exists=True),
}
MISSING = Finding("missing", "")
DRIFTED = Finding("packages_drifted", "wrong version: six 1.15.0 (lockfile: 1.16.0)")
PYTHON = Finding("python_changed", "Python 3.11.7 installed, 3.12 declared")

HEALTH = {
    **HEALTHY,
    "new": EnvHealth("new", exists=False, findings=(MISSING,)),
    "tools": EnvHealth("tools", exists=True, findings=(PYTHON, DRIFTED, DRIFTED)),
    "legacy": EnvHealth("legacy", exists=True, findings=(Finding("probe_failed", "import torch"),)),
}
BINDINGS = {"m-moved": "old", "m-same": "ok", "m-gone": "old", "m-retired": "retired"}
ORPHANS = {"old": True, "stray": False}
ADOPTED = frozenset({"legacy", "retired"})
FALLBACKS = {"m-retired": "legacy"}  # as applied; the manifest declares the same fallback
PACKAGES = {"new": 3, "tools": 5, "ok": 2}


def manifest(text: str = MANIFEST_TEXT) -> Manifest:
    return parse_manifest(textwrap.dedent(text), "envs.toml")


def observed(
    health: Mapping[str, EnvHealth] = HEALTH,
    orphans: Mapping[str, bool] = ORPHANS,
    bindings: Mapping[str, str] = BINDINGS,
    adopted: frozenset[str] = ADOPTED,
    fallbacks: Mapping[str, str] = FALLBACKS,
) -> Observed:
    return Observed(
        health=health, orphans=orphans, bindings=bindings, adopted=adopted, fallbacks=fallbacks
    )


def summary(plan: Plan) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(id, action, reasons, depends_on) of every step, in plan order."""
    return [(s.id, s.action, s.reasons, s.depends_on) for s in plan.steps]


FULL_PLAN = [
    ("env.new", "create", ("missing",), ()),
    ("env.tools", "replace", ("packages_drifted", "python_changed"), ()),
    ("model.m-gone", "unbind", ("model_removed",), ()),
    ("model.m-moved", "rebind", ("env_changed",), ("env.new",)),
    ("env.old", "delete", ("not_declared",), ("model.m-gone", "model.m-moved")),
    ("model.m-new", "rebind", ("new_model",), ("env.new",)),
    ("model.m-retired", "rebind", ("env_changed",), ()),
    ("env.retired", "forget", ("not_declared",), ("model.m-retired",)),
]


def test_every_action_is_planned_in_dependency_order() -> None:
    plan = build_plan(manifest(), observed(), PACKAGES)
    assert summary(plan) == FULL_PLAN
    assert plan.has_changes
    assert [
        plan.count(a) for a in ("create", "replace", "delete", "rebind", "unbind", "forget")
    ] == [
        1,
        1,
        1,
        3,
        1,
        1,
    ]


def test_env_steps_carry_python_package_count_and_the_details_of_findings() -> None:
    steps = {s.id: s for s in build_plan(manifest(), observed(), PACKAGES).steps}
    create, replace = steps["env.new"], steps["env.tools"]
    assert (create.kind, create.target, create.python, create.packages) == ("env", "new", "3.11", 3)
    assert create.details == (), "a finding without detail adds no detail line"
    assert (replace.python, replace.packages) == ("3.12", 5)
    assert replace.details == (
        "python_changed: Python 3.11.7 installed, 3.12 declared",
        "packages_drifted: wrong version: six 1.15.0 (lockfile: 1.16.0)",
        "packages_drifted: wrong version: six 1.15.0 (lockfile: 1.16.0)",
    )
    assert steps["env.old"].python is None


def test_model_steps_name_where_the_model_moves_from_and_to() -> None:
    steps = {s.id: s for s in build_plan(manifest(), observed(), PACKAGES).steps}
    assert (steps["model.m-moved"].from_env, steps["model.m-moved"].to_env) == ("old", "new")
    assert (steps["model.m-new"].from_env, steps["model.m-new"].to_env) == (None, "new")
    assert (steps["model.m-gone"].from_env, steps["model.m-gone"].to_env) == ("old", None)
    assert all(steps[i].kind == "model" for i in ("model.m-moved", "model.m-new", "model.m-gone"))


def test_a_rebind_depends_on_the_replace_of_its_env() -> None:
    health = {**HEALTHY, "ok": EnvHealth("ok", exists=True, findings=(DRIFTED,))}
    plan = build_plan(manifest(), observed(health, {}, {"m-same": "tools"}, frozenset()), {})
    assert summary(plan) == [
        ("env.ok", "replace", ("packages_drifted",), ()),
        ("model.m-moved", "rebind", ("new_model",), ()),
        ("model.m-new", "rebind", ("new_model",), ()),
        ("model.m-retired", "rebind", ("new_model",), ("env.ok",)),
        ("model.m-same", "rebind", ("env_changed",), ("env.ok",)),
    ]


def test_a_delete_waits_for_every_model_moved_away_and_runs_after_them() -> None:
    plan = build_plan(manifest(), observed(HEALTHY, {"old": True}, BINDINGS, ADOPTED), {})
    ids = [s.id for s in plan.steps]
    assert ids.index("env.old") > ids.index("model.m-moved")
    assert ids.index("env.old") > ids.index("model.m-gone")
    assert ids.index("env.retired") > ids.index("model.m-retired")


def test_an_adopted_env_that_is_unhealthy_is_a_warning_not_a_step() -> None:
    health = {**HEALTHY, "legacy": EnvHealth("legacy", exists=False, findings=(MISSING,))}
    current = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
    plan = build_plan(manifest(), observed(health, {}, current, frozenset({"legacy"})), {})
    assert plan.steps == ()
    assert plan.warnings == (
        "adopted env legacy (environments/legacy/.venv) cannot be used: its folder does not "
        "exist. reconcile never rebuilds an adopted env: fix or recreate the venv, or change "
        "the manifest (another adopt path, or its models on a managed env); until then its "
        "models run on their fallback, if any. `reconcile verify legacy` lists every finding.",
    )


def test_an_orphan_not_created_by_reconcile_is_left_alone_with_a_warning() -> None:
    current = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
    plan = build_plan(manifest(), observed(HEALTHY, {"mine": False}, current, frozenset()), {})
    assert plan.steps == ()
    assert plan.warnings == (
        "mine in the root is not declared and was not created by reconcile; it is left alone",
    )


def test_when_everything_is_healthy_and_bound_there_are_no_steps() -> None:
    current = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
    plan = build_plan(manifest(), observed(HEALTHY, {}, current, frozenset({"legacy"})), {})
    assert plan == Plan(steps=(), warnings=())
    assert not plan.has_changes


def test_an_env_that_was_not_observed_gets_no_step() -> None:
    plan = build_plan(manifest(), observed({}, {}, {}, frozenset()), {})
    assert [s.action for s in plan.steps] == ["rebind"] * 4
    assert all(s.depends_on == () for s in plan.steps)


def shuffled_text(rng: random.Random) -> str:
    """The manifest with its tables in a random order (same meaning)."""
    tables = MANIFEST_TEXT.strip().split("\n\n")
    rng.shuffle(tables)
    return "\n\n".join(tables) + "\n"


V = TypeVar("V")


def shuffled(mapping: Mapping[str, V], rng: random.Random) -> dict[str, V]:
    """The same mapping, its insertion order shuffled."""
    items = list(mapping.items())
    rng.shuffle(items)
    return dict(items)


@pytest.mark.parametrize("seed", range(8))
def test_the_plan_does_not_depend_on_the_order_of_its_inputs(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  a seeded shuffle, not cryptography
    again = observed(shuffled(HEALTH, rng), shuffled(ORPHANS, rng), shuffled(BINDINGS, rng))
    plan = build_plan(manifest(shuffled_text(rng)), again, shuffled(PACKAGES, rng))
    assert plan == build_plan(manifest(), observed(), PACKAGES)
    assert summary(plan) == FULL_PLAN


@pytest.mark.parametrize(
    ("targets", "ids"),
    [
        (["tools"], ["env.tools"]),
        (["new"], ["env.new", "model.m-moved", "model.m-new"]),
        # a model moved away from "old" is rebound to "new", so "new" must be created first
        (["old"], ["env.new", "model.m-gone", "model.m-moved", "env.old"]),
        (["retired"], ["model.m-retired", "env.retired"]),
        (["ok"], ["model.m-retired"]),
        (["tools", "retired"], ["env.tools", "model.m-retired", "env.retired"]),
        (["stray"], []),
    ],
    ids=[
        "replace_only",
        "create_and_rebinds",
        "delete_pulls_in_create",
        "forget",
        "to_env",
        "two",
        "nothing_to_do",
    ],
)
def test_targets_select_their_steps_and_the_steps_those_depend_on(
    targets: list[str], ids: list[str]
) -> None:
    plan = build_plan(manifest(), observed(), PACKAGES, targets)
    assert [s.id for s in plan.steps] == ids
    selected = {s.id for s in plan.steps}
    for step in plan.steps:
        assert set(step.depends_on) <= selected, f"{step.id} would run before its dependency"


@pytest.mark.parametrize(
    ("target", "hint"),
    [("tols", 'did you mean "tools"?'), ("zzz", "pass a key from [envs].")],
)
def test_an_unknown_target_is_a_usage_error_with_a_hint(target: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        build_plan(manifest(), observed(), PACKAGES, [target])
    assert caught.value.message == (
        f"--target {target} names no env in the manifest or root; {hint}"
    )
    assert caught.value.exit_code == 1


def step(id_: str, *depends_on: str) -> Step:
    return Step(id_, "env", "create", id_.removeprefix("env."), ("missing",), depends_on)


def test_a_dependency_cycle_is_an_error_that_names_the_cycle() -> None:
    steps = [step("env.a", "env.c"), step("env.b", "env.a"), step("env.c", "env.b"), step("env.d")]
    with pytest.raises(PlanCycleError) as caught:
        _order(steps)
    message = caught.value.message
    assert message.startswith("the plan has a dependency cycle: ")
    assert message.endswith("; break it in envs.toml.")
    cycle = message.removeprefix("the plan has a dependency cycle: ").split("; ")[0].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["env.a", "env.b", "env.c"]
    for before, after in itertools.pairwise(cycle):
        assert before in {s.id: s for s in steps}[after].depends_on


def test_order_is_lexicographic_among_independent_steps_and_ignores_unknown_dependencies() -> None:
    steps = [step("env.c"), step("env.a", "env.c", "env.gone"), step("env.b")]
    assert [s.id for s in _order(steps)] == ["env.b", "env.c", "env.a"]
    assert _order([]) == ()


def test_a_changed_fallback_rebinds_the_model_to_the_same_env() -> None:
    bound = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
    plan = build_plan(
        manifest(),
        observed(
            health=HEALTHY, orphans={}, bindings=bound, adopted=frozenset({"legacy"}), fallbacks={}
        ),
        PACKAGES,
    )
    assert summary(plan) == [("model.m-retired", "rebind", ("fallback_changed",), ())]
    assert (plan.steps[0].from_env, plan.steps[0].to_env) == ("ok", "ok")


def test_an_adopted_env_goes_only_after_no_model_has_it_as_fallback_any_more() -> None:
    bound = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
    text = MANIFEST_TEXT.replace('fallback = "legacy"\n', "")
    gone = manifest(text.replace('[envs.legacy]\nadopt = "environments/legacy/.venv"\n', ""))
    doomed = manifest(text.replace('legacy/.venv"\n', 'legacy/.venv"\ndelete = true\n'))
    state = observed(health=HEALTHY, orphans={}, bindings=bound, adopted=frozenset({"legacy"}))

    forget = build_plan(gone, state, PACKAGES)
    delete = build_plan(doomed, replace(state, doomed={"legacy": "environments/legacy/.venv"}), {})

    assert summary(forget) == [
        ("model.m-retired", "rebind", ("fallback_changed",), ()),
        ("env.legacy", "forget", ("not_declared",), ("model.m-retired",)),
    ]
    assert summary(delete) == [
        ("model.m-retired", "rebind", ("fallback_changed",), ()),
        ("env.legacy", "delete", ("delete_requested",), ("model.m-retired",)),
    ]
    assert delete.steps[1].details == (
        "deletes the adopted folder environments/legacy/.venv (delete = true)",
    )


def test_an_adopted_env_marked_for_deletion_whose_folder_is_gone_is_only_forgotten() -> None:
    text = MANIFEST_TEXT.replace('fallback = "legacy"\n', "")
    doomed = manifest(text.replace('legacy/.venv"\n', 'legacy/.venv"\ndelete = true\n'))
    bound = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}

    plan = build_plan(
        doomed,
        observed(
            health=HEALTHY, orphans={}, bindings=bound, adopted=frozenset({"legacy"}), fallbacks={}
        ),
        PACKAGES,
    )

    assert summary(plan) == [("env.legacy", "forget", ("already_deleted",), ())]


def test_a_rebind_names_the_fallback_it_adds_removes_or_changes() -> None:
    bound = {"m-new": "new", "m-moved": "ok", "m-same": "ok", "m-retired": "ok"}
    text = MANIFEST_TEXT.replace(
        '[models.m-moved]\nenv = "new"\n', '[models.m-moved]\nenv = "new"\nfallback = "legacy"\n'
    )
    plan = build_plan(
        manifest(text),
        observed(
            health=HEALTHY,
            orphans={},
            bindings=bound,
            adopted=frozenset({"legacy"}),
            fallbacks={"m-new": "legacy", "m-retired": "ok"},
        ),
        PACKAGES,
    )
    steps = {s.id: (s.reasons, s.details) for s in plan.steps}
    assert steps == {
        "model.m-moved": (("env_changed", "fallback_changed"), ("fallback: (none) -> legacy",)),
        "model.m-new": (("fallback_changed",), ("fallback: legacy -> (none)",)),
        "model.m-retired": (("fallback_changed",), ("fallback: ok -> legacy",)),
    }
