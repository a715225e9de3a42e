"""Pure: the actions a plan step can take, listed once with how plans and reports show them.

A new action is added here (and to ``Action``); mypy's exhaustive-match then names every
dispatch that has to handle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Action = Literal["create", "replace", "delete", "rebind", "unbind", "forget"]


@dataclass(frozen=True)
class ActionLook:
    """How one action reads: in the plan's text (``symbol``, ``style``, ``verb``) and in the
    apply report (``done``)."""

    symbol: str
    """Terraform-like marker before a step: ``+``, ``-/+``, ``~``, ``-``."""
    style: str
    """The rich style of the marker."""
    verb: str
    """What the plan says will happen to the step's target: ``will be created``."""
    done: str
    """Past tense, for the apply report: ``created``."""


ACTION_LOOKS: MappingProxyType[Action, ActionLook] = MappingProxyType(
    {
        "create": ActionLook("+", "green", "will be created", "created"),
        "replace": ActionLook("-/+", "yellow", "must be replaced", "replaced"),
        "delete": ActionLook("-", "red", "will be deleted", "deleted"),
        "rebind": ActionLook("~", "cyan", "will be rebound", "rebound"),
        "unbind": ActionLook("-", "red", "will be unbound", "unbound"),
        "forget": ActionLook(
            "-", "magenta", "will be forgotten (its files are left alone)", "forgotten"
        ),
    }
)
"""Every action, in the order summaries and reports list them."""

ACTIONS: tuple[Action, ...] = tuple(ACTION_LOOKS)
