"""Pure: what an apply did, step by step; the executor fills it in and the report reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.plan import Step


@dataclass
class ApplyReport:
    """The steps done, failed (with why) and never started, and what could not be removed.

    Mutable: the executor appends to it as steps finish; read it once the run is over."""

    done: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)
    skipped: list[Step] = field(default_factory=list)
    removal_failures: list[tuple[str, str]] = field(default_factory=list)
