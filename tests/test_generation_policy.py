"""Unit tests of the pure generation policies: which generations pruning keeps when some can
no longer start, which kept generation is built as the manifest asks, and the plan's step that
switches back to one instead of building."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.generations import (
    Generation,
    Wanted,
    built_as_wanted,
    collectable,
    link_mode_fits,
    may_switch_back,
)
from reconciler.core.plan import Observed, build_plan
from reconciler.report.document import plan_document
from reconciler.spec.manifest import parse_manifest


def gens(*ids: str, incomplete: str = "") -> list[Generation]:
    return [Generation("env", i, Path("/r/.generations/env") / i, i != incomplete) for i in ids]


def kept(generations: list[Generation], removed: list[Generation]) -> list[str]:
    return [g.gen_id for g in generations if g not in removed]


def test_a_broken_previous_generation_is_pruned_before_a_healthy_older_one() -> None:
    """The issue: g0001 (live after a rollback, its base Python gone since) was the one live
    until g0003's switch; keep 2 kept it and pruned the healthy g0002."""
    listed = gens("g0001", "g0002", "g0003")
    live, previous = listed[2], listed[0]

    removed = collectable(listed, live, keep=2, protect=[previous], broken={"g0001"})

    assert kept(listed, removed) == ["g0002", "g0003"]


def test_without_broken_generations_the_previous_one_and_the_newest_are_kept_as_before() -> None:
    listed = gens("g0001", "g0002", "g0003", "g0004")

    removed = collectable(listed, listed[3], keep=3, protect=[listed[0]])

    assert kept(listed, removed) == ["g0001", "g0003", "g0004"]


def test_broken_generations_are_kept_only_when_no_healthy_one_wants_the_place() -> None:
    listed = gens("g0001", "g0002", "g0003", "g0004", "g0005", incomplete="g0005")

    removed = collectable(listed, listed[3], keep=3, broken={"g0002", "g0003"})

    assert kept(listed, removed) == ["g0001", "g0003", "g0004"]  # healthy g0001, then g0003
    assert listed[4] in removed  # an incomplete one always goes


def test_the_live_generation_is_kept_even_when_broken() -> None:
    listed = gens("g0001", "g0002")

    assert collectable(listed, listed[1], keep=1, broken={"g0002"}) == [listed[0]]


@pytest.mark.parametrize(
    ("setting", "built", "fits"),
    [
        ("auto", "clone", True),
        ("auto", "copy", True),
        ("auto", "hardlink", False),
        ("copy", "copy", True),
        ("copy", "clone", False),
        ("hardlink", "hardlink", True),
        ("clone", "clone", True),
        ("clone", "copy", False),
    ],
)
def test_a_link_mode_fits_when_it_is_what_the_setting_gives(
    setting: str, built: str, fits: bool
) -> None:
    assert link_mode_fits(setting, built) is fits


WANTED = Wanted("a" * 64, "b" * 64, "auto")
RECEIPT = {"lockfile_sha256": "a" * 64, "spec_sha256": "b" * 64, "link_mode": "copy"}


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({"lockfile_sha256": "c" * 64}, False),
        ({"spec_sha256": "c" * 64}, False),
        ({"link_mode": "hardlink"}, False),
        ({"link_mode": None}, False),
    ],
)
def test_a_kept_generation_is_built_as_wanted_only_with_the_same_lockfile_spec_and_link_mode(
    change: dict[str, object], matches: bool
) -> None:
    assert built_as_wanted({**RECEIPT, **change}, WANTED) is matches


def test_a_requested_replace_never_switches_back() -> None:
    assert may_switch_back(("lock_changed",))
    assert not may_switch_back(("lock_changed", "replace_requested"))


MANIFEST = parse_manifest(
    textwrap.dedent(
        """\
        [envs.web]
        python = "3.11"
        """
    ),
    "envs.toml",
)
STALE = EnvHealth("web", exists=True, findings=(Finding("lock_changed", "built from an older"),))


def test_a_replace_with_a_matching_kept_generation_says_it_switches_back_and_records_it() -> None:
    observed = Observed(
        health={"web": STALE}, orphans={}, bindings={}, switch_back={"web": "g0002"}
    )

    plan = build_plan(MANIFEST, observed, {"web": 2})

    (step,) = plan.steps
    assert (step.action, step.switch_back) == ("replace", "g0002")
    assert step.details[-1].startswith("switches back to kept generation g0002")
    assert plan_document(plan, "envs.toml")["steps"][0]["switch_back"] == "g0002"


def test_a_replace_without_a_kept_generation_has_no_switch_back_field() -> None:
    observed = Observed(health={"web": STALE}, orphans={}, bindings={})

    plan = build_plan(MANIFEST, observed, {"web": 2})

    assert plan.steps[0].switch_back is None
    assert "switch_back" not in plan_document(plan, "envs.toml")["steps"][0]


def test_a_replace_requested_builds_even_when_a_kept_generation_matches() -> None:
    asked = EnvHealth("web", exists=True, findings=(Finding("replace_requested", ""),))
    observed = Observed(health={"web": asked}, orphans={}, bindings={}, switch_back={"web": "g2"})

    (step,) = build_plan(MANIFEST, observed, {"web": 2}).steps

    assert step.switch_back is None
    assert not any("switches back" in d for d in step.details)
