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
    builds: bool = False
    """The step builds a new generation of its env (with a lockfile and a Python)."""
    removes: bool = False
    """The step takes an env out of the manifest's world (models must move off it first)."""
    summarized: bool = True
    """Always counted in the plan's summary line, even at 0 (else only when it occurs)."""


ACTION_LOOKS: MappingProxyType[Action, ActionLook] = MappingProxyType(
    {
        "create": ActionLook("+", "green", "will be created", "created", builds=True),
        "replace": ActionLook("-/+", "yellow", "must be replaced", "replaced", builds=True),
        "delete": ActionLook("-", "red", "will be deleted", "deleted", removes=True),
        "rebind": ActionLook("~", "cyan", "will be rebound", "rebound"),
        "unbind": ActionLook("-", "red", "will be unbound", "unbound", summarized=False),
        "forget": ActionLook(
            "-",
            "magenta",
            "will be forgotten (its files are left alone)",
            "forgotten",
            removes=True,
            summarized=False,
        ),
    }
)
"""Every action, in the order summaries and reports list them."""

ACTIONS: tuple[Action, ...] = tuple(ACTION_LOOKS)
BUILDS: frozenset[str] = frozenset(a for a, look in ACTION_LOOKS.items() if look.builds)
"""The actions that build a generation: ``create`` and ``replace``."""
REMOVES: frozenset[str] = frozenset(a for a, look in ACTION_LOOKS.items() if look.removes)
"""The actions after which no model may still use the env: ``delete`` and ``forget``."""
