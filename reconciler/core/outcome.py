"""Pure: what an apply did, step by step; the executor fills it in and the report reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.plan import Step

IN_PLACE_TODO = (
    "stop the programs running from it, then run `reconcile gc` or `reconcile apply` again"
)
"""What to do about a folder that could not even be moved out of the way (a process holds a
file in it: Windows refuses to rename such a folder)."""


def in_place_todo(why: str) -> str:
    """What to add to ``why`` a folder is still in its place: :data:`IN_PLACE_TODO`, unless a
    rule refused to touch it (``why`` ends with "not touched" and says what to do), when
    stopping programs would not help."""
    return "" if why.endswith("not touched") else f"; {IN_PLACE_TODO}"


@dataclass
class ApplyReport:
    """The steps done, failed (with why) and skipped, and what could not be removed.

    Mutable: the executor appends to it as steps finish; read it once the run is over."""

    done: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)
    skipped: list[tuple[Step, str]] = field(default_factory=list)
    """Steps never started, each with the failed step it depends on, named as by
    :func:`target_label` ("env x"); empty when apply was interrupted before it started."""
    removal_failures: list[tuple[str, str]] = field(default_factory=list)
    """What was moved out of the way (into the trash) but not all removed: warnings."""
    left_in_place: list[tuple[str, str]] = field(default_factory=list)
    """Old generations pruning could not even move into the trash (a process holds a file
    in them): still where they were, which fails the apply though every step was done."""


def target_label(step: Step) -> str:
    """A step's target as the apply summary names it: ``env x``, ``model m``."""
    return f"{step.kind} {step.target}"
