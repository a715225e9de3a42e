"""The actions are listed once: the table covers the Literal, in the order summaries use."""

from __future__ import annotations

from typing import get_args

import pytest

from reconciler.core.actions import ACTION_LOOKS, ACTIONS, Action
from reconciler.errors import assert_never


def test_every_action_has_one_look_in_the_literal_order() -> None:
    assert get_args(Action) == ACTIONS
    assert tuple(ACTION_LOOKS) == ACTIONS


def test_the_action_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        ACTION_LOOKS["create"] = ACTION_LOOKS["delete"]  # type: ignore[index]


def test_assert_never_names_a_value_that_got_through() -> None:
    with pytest.raises(AssertionError, match="'upgrade'"):
        assert_never("upgrade")  # type: ignore[arg-type]
