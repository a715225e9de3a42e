"""IO (threads): run a plan's steps in dependency order, independent ones at the same time.

A step that fails skips every step that depends on it, however indirectly, and every other
step still runs (as Terraform does); an interruption (Ctrl-C, SIGTERM, SIGHUP: a
KeyboardInterrupt in this thread) starts nothing more. What each step does is the caller's
(:class:`reconciler.execute.executor.Applier`); what happened goes into an ``ApplyReport``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from reconciler.core.outcome import ApplyReport, target_label
from reconciler.core.plan import Step
from reconciler.errors import ReconcileError


def run_steps(
    steps: Sequence[Step],
    execute: Callable[[Step], None],
    report: ApplyReport,
    *,
    workers: int,
    failed_step: Callable[[Step, bool], None],
    interrupted_round: Callable[[], None],
) -> KeyboardInterrupt | None:
    """Run every step with ``execute`` once what it depends on is done, filling in ``report``.

    ``failed_step(step, interrupted)`` is told of each step that raised (in this thread);
    ``interrupted_round()`` is called after an interruption and at every round after it
    until the running steps end (a build may start a process after the first call). Returns
    the interruption, if there was one."""
    pending = {s.id: s for s in steps}
    finished: set[str] = set()
    failed: dict[str, str] = {}  # a failed or skipped step's id -> the failure, named
    running: dict[Future[None], Step] = {}
    interrupted: KeyboardInterrupt | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
        while pending or running:
            try:
                if interrupted is None:
                    _skip_dependents(pending, failed, report)
                    for step in sorted(pending.values(), key=lambda s: s.id):
                        if all(dep in finished for dep in step.depends_on):
                            del pending[step.id]
                            running[pool.submit(execute, step)] = step
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED, timeout=0.5)
                for future in done:
                    step = running.pop(future)
                    error = future.exception()
                    if error is None:
                        finished.add(step.id)
                        report.done.append(step)
                    else:
                        failed[step.id] = target_label(step)
                        report.failed.append((step, describe_error(error)))
                        failed_step(step, interrupted is not None)
            except KeyboardInterrupt as interrupt:
                interrupted = interrupted or interrupt
            if interrupted is not None:
                interrupted_round()
    # What is left never started: apply was interrupted (or, were the plan's order broken,
    # it waited for a step that is not in the plan).
    report.skipped.extend((s, "") for s in sorted(pending.values(), key=lambda s: s.id))
    return interrupted


def _skip_dependents(pending: dict[str, Step], failed: dict[str, str], report: ApplyReport) -> None:
    """Move every pending step that depends on a failed or skipped one into the report's
    skipped steps, naming the failure it waits for."""
    while skipping := [s for s in pending.values() if any(d in failed for d in s.depends_on)]:
        for step in sorted(skipping, key=lambda s: s.id):
            cause = failed[min(dep for dep in step.depends_on if dep in failed)]
            failed[step.id] = cause
            del pending[step.id]
            report.skipped.append((step, cause))


def describe_error(error: BaseException) -> str:
    """One sentence for a failed step, whatever raised; an error's details (uv's reason for a
    failed Python download) follow its sentence, since the step's line is all that is shown."""
    if isinstance(error, ReconcileError):
        details = error.details()
        return f"{error.message.rstrip('.')}; {'; '.join(details)}." if details else error.message
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"{type(error).__name__}: {error}"
