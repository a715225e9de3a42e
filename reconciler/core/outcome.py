"""Pure: what an apply did, step by step; the executor fills it in and the report reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.plan import Step


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


def target_label(step: Step) -> str:
    """A step's target as the apply summary names it: ``env x``, ``model m``."""
    return f"{step.kind} {step.target}"
