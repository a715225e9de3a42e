"""The actions are listed once: the table covers the Literal, in the order summaries use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from reconciler.core.actions import ACTION_LOOKS, ACTIONS, BUILDS, REMOVES, Action
from reconciler.errors import assert_never
from reconciler.report.plan import summary_line

REPO = Path(__file__).resolve().parent.parent


def test_every_action_has_one_look_in_the_literal_order() -> None:
    assert get_args(Action) == ACTIONS
    assert tuple(ACTION_LOOKS) == ACTIONS


def test_the_action_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        ACTION_LOOKS["create"] = ACTION_LOOKS["delete"]  # type: ignore[index]


def test_assert_never_names_a_value_that_got_through() -> None:
    with pytest.raises(AssertionError, match="'upgrade'"):
        assert_never("upgrade")  # type: ignore[arg-type]


def test_the_published_plan_schema_names_exactly_the_actions_of_the_table() -> None:
    schema = json.loads((REPO / "docs" / "plan.schema.json").read_text(encoding="utf-8"))

    assert tuple(schema["$defs"]["step"]["properties"]["action"]["enum"]) == ACTIONS
    assert tuple(schema["properties"]["summary"]["required"]) == ACTIONS


def test_the_summary_line_counts_each_action_of_the_table_once() -> None:
    counts: dict[str, int] = {action: index + 1 for index, action in enumerate(ACTIONS)}

    line = summary_line(counts)

    for action, count in counts.items():
        assert line.count(f"{count} to {action}") == 1


def test_build_and_removal_actions_are_the_ones_the_plan_orders_by() -> None:
    assert {"create", "replace"} == BUILDS
    assert {"delete", "forget"} == REMOVES
