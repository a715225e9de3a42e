"""Forced rebuilds, pure: `--replace ENV` and `link_mode_changed` in the planner, the health
judgement, `diff`, and the saved plan's replace set. No venv and no process (the real
builds are tests/test_replace_apply.py's)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.commands.savedplan import parse_plan, stale_parts
from reconciler.core.diffplan import Side, diff_plan
from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.generations import REPLACE_REQUESTED
from reconciler.core.health import LINK_MODE_CHANGED, Expectation, assess, link_mode_change
from reconciler.core.plan import build_plan
from reconciler.errors import UsageError
from reconciler.report.document import plan_document
from reconciler.spec.lockfile import Lockfile
from tests.test_health_table import HEALTHY, LOCK, facts
from tests.test_plan import MANIFEST_TEXT, PACKAGES, manifest, observed

ALL_HEALTHY = {
    key: EnvHealth(key, exists=True) for key in ("new", "tools", "ok", "legacy", "retired")
}
BOUND = {"m-new": "new", "m-moved": "new", "m-same": "ok", "m-retired": "ok"}
FALLBACKS = {"m-retired": "legacy"}


def healthy(**health: EnvHealth) -> list[tuple[str, str, tuple[str, ...]]]:
    """(id, action, reasons) of the plan of a host where everything matches, but ``health``."""
    seen = observed({**ALL_HEALTHY, **health}, {}, BOUND, frozenset({"legacy"}), FALLBACKS)
    return [(s.id, s.action, s.reasons) for s in build_plan(manifest(), seen, PACKAGES).steps]


def replaced(
    replace: list[str], targets: list[str] | None = None, **health: EnvHealth
) -> list[tuple[str, str, tuple[str, ...]]]:
    seen = observed({**ALL_HEALTHY, **health}, {}, BOUND, frozenset({"legacy"}), FALLBACKS)
    plan = build_plan(manifest(), seen, PACKAGES, targets or [], replace)
    return [(s.id, s.action, s.reasons) for s in plan.steps]


def test_a_host_that_matches_has_no_changes() -> None:
    assert healthy() == []


def test_replace_rebuilds_a_healthy_env_and_leaves_its_bindings_alone() -> None:
    assert replaced(["ok"]) == [("env.ok", "replace", (REPLACE_REQUESTED,))]
    assert REPLACE_REQUESTED == "replace_requested"


def test_replace_adds_its_reason_to_the_env_s_own() -> None:
    drifted = EnvHealth("tools", True, (Finding("packages_drifted", "extra: six 1.16.0"),))
    assert replaced(["tools"], tools=drifted) == [
        ("env.tools", "replace", ("packages_drifted", REPLACE_REQUESTED))
    ]


def test_a_missing_env_named_by_replace_is_created() -> None:
    missing = EnvHealth("new", False, (Finding("missing", ""),))
    plan = replaced(["new"], new=missing)
    assert plan[0] == ("env.new", "create", ("missing",))


def test_replace_with_targets_targets_the_replaced_env_too() -> None:
    drifted = EnvHealth("tools", True, (Finding("packages_drifted", "extra: six 1.16.0"),))
    assert replaced(["ok"], ["tools"], tools=drifted) == [
        ("env.ok", "replace", (REPLACE_REQUESTED,)),
        ("env.tools", "replace", ("packages_drifted",)),
    ]
    assert replaced(["ok"], ["ok"]) == [("env.ok", "replace", (REPLACE_REQUESTED,))]


def test_replace_refuses_an_adopted_env() -> None:
    with pytest.raises(UsageError) as caught:
        replaced(["legacy"])
    assert str(caught.value) == (
        "--replace legacy names an adopted env: reconcile never builds it, so it cannot be "
        "replaced; recreate the venv by hand, or move its models to a managed env."
    )


@pytest.mark.parametrize(
    ("name", "hint"),
    [("tool", 'did you mean "tools"?'), ("zzz", "pass a key from [envs].")],
)
def test_replace_refuses_an_unknown_env_with_a_hint(name: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        replaced([name])
    assert str(caught.value) == f"--replace {name} names no managed env in the manifest; {hint}"


# --- link_mode_changed: what the receipt says it was built with, against the manifest ------


@pytest.mark.parametrize(
    ("receipt", "wanted", "changed"),
    [
        ({"link_mode_declared": "hardlink", "link_mode": "hardlink"}, "auto", True),
        ({"link_mode_declared": "auto", "link_mode": "copy"}, "hardlink", True),
        ({"link_mode_declared": "auto", "link_mode": "copy"}, "copy", True),
        ({"link_mode_declared": "auto", "link_mode": "clone"}, "auto", False),
        ({"link_mode_declared": "copy", "link_mode": "copy"}, "copy", False),
        # receipts written before the manifest's mode was recorded: judged by uv's mode
        ({"link_mode": "hardlink"}, "auto", True),
        ({"link_mode": "hardlink"}, "copy", True),
        ({"link_mode": "hardlink"}, "hardlink", False),
        ({"link_mode": "copy"}, "auto", False),
        ({"link_mode": "clone"}, "auto", False),
        ({"link_mode": "copy"}, "hardlink", True),
        ({"link_mode": "copy"}, "clone", True),
        ({}, "auto", False),
        ({}, "hardlink", False),
    ],
)
def test_link_mode_change(receipt: dict[str, str], wanted: str, changed: bool) -> None:
    found = link_mode_change(receipt, wanted)
    assert (found is not None) == changed
    if found is not None:
        assert found.reason == LINK_MODE_CHANGED == "link_mode_changed"


def test_assess_finds_a_generation_built_with_another_link_mode() -> None:
    assert HEALTHY.receipt is not None
    built = facts(receipt=(*HEALTHY.receipt, ("link_mode", "hardlink")))
    managed = Expectation(python="3.11", lock=LOCK, managed=True, link_mode="auto")
    health = assess(built, managed)
    assert health.reasons == (LINK_MODE_CHANGED,)
    assert health.findings[0].detail == 'files linked by uv as "hardlink", link_mode now "auto"'
    assert assess(built, dataclasses.replace(managed, link_mode="hardlink")).healthy
    assert assess(built, dataclasses.replace(managed, link_mode=None)).healthy
    declared = facts(receipt=(*HEALTHY.receipt, ("link_mode_declared", "hardlink")))
    assert assess(declared, managed).findings[0].detail == (
        'built with link_mode "hardlink", now "auto"'
    )


def test_a_link_mode_change_plans_a_replace_with_that_reason() -> None:
    changed = EnvHealth("ok", True, (Finding(LINK_MODE_CHANGED, "built with ..."),))
    assert healthy(ok=changed) == [("env.ok", "replace", (LINK_MODE_CHANGED,))]


def test_diff_replaces_every_kept_managed_env_when_link_mode_changes() -> None:
    def side(link_mode: str) -> Side:
        text = f'[settings]\nlink_mode = "{link_mode}"\n\n' + MANIFEST_TEXT
        lock = Lockfile(label="x", packages=(), inputs=None, sha256="0" * 64)
        locks = dict.fromkeys(("new", "tools", "ok"), lock)
        folders = {"legacy": "environments/legacy/.venv"}
        return Side(manifest(text), locks, ".envs", folders, folders)

    steps = diff_plan(side("hardlink"), side("auto")).steps
    assert [(s.id, s.reasons) for s in steps] == [
        (f"env.{key}", (LINK_MODE_CHANGED,)) for key in ("new", "ok", "tools")
    ]
    assert steps[0].details == ('link_mode_changed: "hardlink" -> "auto"',)
    assert diff_plan(side("auto"), side("auto")).steps == ()


# --- the saved plan's replace set ----------------------------------------------------------


def test_a_saved_plan_carries_its_replace_set_and_a_changed_one_is_stale() -> None:
    seen = observed(ALL_HEALTHY, {}, BOUND, frozenset({"legacy"}), FALLBACKS)
    plan = build_plan(manifest(), seen, PACKAGES, (), ["ok"])
    fingerprint = {"manifest_sha256": "0" * 64, "targets": [], "replace": ["ok"]}
    document = parse_plan(json.dumps(plan_document(plan, "envs.toml", fingerprint)).encode(), "p")
    assert document["fingerprint"]["replace"] == ["ok"]
    assert stale_parts(fingerprint, {**fingerprint, "replace": []}) == [
        "the envs to replace differ"
    ]
