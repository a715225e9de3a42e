"""Pure: the lines that close an apply: what was done, and what could not be removed."""

from __future__ import annotations

from reconciler.core.actions import ACTION_LOOKS, ACTIONS
from reconciler.core.outcome import ApplyReport


def apply_summary(report: ApplyReport) -> str:
    """``Apply complete: 2 created, 2 rebound.``: the steps done, per action."""
    counts = {a: sum(1 for s in report.done if s.action == a) for a in ACTIONS}
    summary = ", ".join(f"{n} {ACTION_LOOKS[a].done}" for a, n in counts.items() if n)
    return f"Apply complete: {summary or 'nothing to do'}."


def removal_warnings(report: ApplyReport) -> list[str]:
    """One line per path that could not be removed (for stderr), with why."""
    return [f"warning: could not remove {path}: {why}" for path, why in report.removal_failures]
