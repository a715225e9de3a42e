"""IO (threads): run a plan's steps in dependency order, independent ones at the same time.

A step that fails skips every step that depends on it, however indirectly, and every other
step still runs (as Terraform does); an interruption (Ctrl-C, SIGTERM, SIGHUP: a
KeyboardInterrupt in this thread, raised between two rounds) starts nothing more. What each
step does is the caller's (:class:`reconciler.execute.executor.Applier`); what happened goes
into an ``ApplyReport``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, SimpleQueue

from reconciler import interrupts
from reconciler.core.outcome import ApplyReport, target_label
from reconciler.core.plan import Step
from reconciler.errors import ReconcileError

_Outcome = tuple[Step, BaseException | None]
"""A step that ended, with what it raised."""


def run_steps(
    steps: Sequence[Step],
    execute: Callable[[Step], None],
    report: ApplyReport,
    *,
    workers: int,
    failed_step: Callable[[Step, bool], None],
    interrupted_round: Callable[[], None],
) -> KeyboardInterrupt | None:
    """Run every step with ``execute`` once what it depends on is done, filling in ``report``:
    each step that ran goes into its done or failed steps, each other one into its skipped.

    ``failed_step(step, interrupted)`` is told of each step that raised (in this thread);
    ``interrupted_round()`` is called after an interruption and at every round after it
    until the running steps end (a build may start a process after the first call). Returns
    the interruption, if there was one.

    A signal is held (:class:`interrupts.ChildrenStopped`, which stops the children at once)
    and raised only after a round's wait: raised at any other bytecode, it could split handing
    a step to a thread from counting it (inside ``ThreadPoolExecutor.submit``, even), or a
    step's end from its record, and a step that ran would be in none of the report's lists."""
    pending = {s.id: s for s in steps}
    finished: set[str] = set()
    failed: dict[str, str] = {}  # a failed or skipped step's id -> the failure, named
    ended: SimpleQueue[_Outcome | None] = SimpleQueue()  # None: a signal arrived
    running = 0
    interrupted: KeyboardInterrupt | None = None

    def run(step: Step) -> None:
        try:
            execute(step)
        except BaseException as error:  # whatever it was, the step failed with it
            ended.put((step, error))
        else:
            ended.put((step, None))

    with interrupts.ChildrenStopped(hold=lambda: ended.put(None)) as signals:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            while True:
                if interrupted is None:
                    _skip_dependents(pending, failed, report)
                    for step in sorted(pending.values(), key=lambda s: s.id):
                        if all(dep in finished for dep in step.depends_on):
                            del pending[step.id]
                            pool.submit(run, step)
                            running += 1
                if not running:
                    break
                try:  # the timeout: a signal that reached another thread wakes no one
                    outcome = ended.get(timeout=0.5)
                except Empty:
                    outcome = None
                interrupted = _raise_held(signals, interrupted)
                if outcome is not None:
                    running -= 1
                    step, error = outcome
                    if error is None:
                        finished.add(step.id)
                        report.done.append(step)
                    else:
                        failed[step.id] = target_label(step)
                        report.failed.append((step, describe_error(error)))
                        failed_step(step, interrupted is not None)
                if interrupted is not None:
                    interrupted_round()
        interrupted = _raise_held(signals, interrupted)  # one that came as the last step ended
        # What is left never started: apply was interrupted (or, were the plan's order broken,
        # it waited for a step that is not in the plan).
        report.skipped.extend((s, "") for s in sorted(pending.values(), key=lambda s: s.id))
    return interrupted


def _raise_held(
    signals: interrupts.ChildrenStopped, interrupted: KeyboardInterrupt | None
) -> KeyboardInterrupt | None:
    """The first interruption: ``interrupted`` or the one a held signal raises now."""
    try:
        signals.raise_held()
    except KeyboardInterrupt as interrupt:
        return interrupted or interrupt
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
