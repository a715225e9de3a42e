"""Pure: the lines that close an apply: what was done, what failed and what was skipped
because of it, and what could not be removed."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from reconciler.core.actions import ACTION_LOOKS, ACTIONS
from reconciler.core.outcome import IN_PLACE_TODO, ApplyReport, in_place_todo, target_label


def apply_summary(report: ApplyReport) -> str:
    """``Apply complete: 2 created, 2 rebound.``, or when a step failed, what failed, what was
    skipped because of it and what was done: ``Apply failed: 1 failed (env x), 1 skipped
    (model m: it depends on env x), 1 done (1 created). ...``."""
    counts = {a: sum(1 for s in report.done if s.action == a) for a in ACTIONS}
    done = ", ".join(f"{n} {ACTION_LOOKS[a].done}" for a, n in counts.items() if n)
    if not report.failed and not report.skipped and report.left_in_place:
        count = len(report.left_in_place)
        return (
            f"Apply failed: every step was done ({done}), but {count} old "
            f"generation{'s' if count != 1 else ''} could not be removed (see the errors): "
            f"{IN_PLACE_TODO}."
        )
    if not report.failed and not report.skipped:
        return f"Apply complete: {done or 'nothing to do'}."
    failed = sorted(target_label(step) for step, _ in report.failed)
    parts = [f"{len(failed)} failed ({', '.join(failed)})"]
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped ({_skipped(report)})")
    parts.append(f"{len(report.done)} done ({done})" if done else "nothing done")
    return (
        f"Apply failed: {', '.join(parts)}. Fix what failed and apply again: "
        "`reconcile plan` shows what is left."
    )


def _skipped(report: ApplyReport) -> str:
    """The skipped steps, grouped by the failure they depend on."""
    by_cause: dict[str, list[str]] = {}
    for step, cause in report.skipped:
        by_cause.setdefault(cause, []).append(target_label(step))
    groups = []
    for cause, labels in sorted(by_cause.items()):
        names = ", ".join(sorted(labels))
        if not cause:
            groups.append(f"{names}: not started")
        else:
            depends = "it depends" if len(labels) == 1 else "they depend"
            groups.append(f"{names}: {depends} on {cause}")
    return "; ".join(groups)


def failure_lines(report: ApplyReport) -> list[str]:
    """One ``error:`` line per failed step (for stderr): its target and why, in step order. A
    cause that already names the target (``env x needs Python 3.14, ...``) is said as it is."""
    lines = []
    for step, why in sorted(report.failed, key=lambda failure: failure[0].id):
        label = target_label(step)
        lines.append(
            f"error: {why}" if why.startswith(f"{label} ") else f"error: {label} failed: {why}"
        )
    return lines


def removal_lines(failed: Sequence[tuple[str, str]], in_place: Collection[str]) -> list[str]:
    """One line per path that could not be removed (for stderr), with why: an ``error:``
    for one still where it was (``in_place``: it fails the command), saying what to do; a
    ``warning:`` for one moved out of the way, whose leftover the next `gc` retries."""
    return [
        f"error: could not remove {path}: {why}{in_place_todo(why)}"
        if path in in_place
        else f"warning: could not remove {path}: {why}"
        for path, why in failed
    ]


def removal_warnings(report: ApplyReport) -> list[str]:
    """The lines of what an apply could not remove (see :func:`removal_lines`)."""
    stuck = report.left_in_place
    return removal_lines([*stuck, *report.removal_failures], {path for path, _ in stuck})
