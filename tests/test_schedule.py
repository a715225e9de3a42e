"""Unit tests of ``run_steps`` under interruption: wherever Ctrl-C lands, the report accounts
for every step once, and the steps that ran are the ones it says ran.

The signal is real (SIGINT to the main thread, Python's own handler), sent at many moments
of a run whose steps start and end all the time, so it lands on many different bytecodes of
the scheduling loop and of the thread pool under it.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler import interrupts
from reconciler.core.outcome import ApplyReport
from reconciler.core.plan import Step
from reconciler.execute.schedule import run_steps

WAIT = 5.0
"""Seconds a step waits for the interruption before the test fails (never reached when green)."""


@pytest.fixture(autouse=True)
def python_sigint() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal, however the suite was started (a
    shell's background job has it ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def env(key: str, *after: str) -> Step:
    return Step(f"env.{key}", "env", "create", key, ("missing",), tuple(f"env.{a}" for a in after))


PLAN = (
    env("held"),  # ends only once told to stop: the run cannot end before the signal lands
    *(env(f"chain{i}", *([f"chain{i - 1}"] if i else [])) for i in range(8)),
    *(env(f"quick{i}") for i in range(6)),
    env("fails"),
    env("after-fails", "fails"),
    env("after-held", "held"),
)
"""Steps that start and end all the time, a failure that skips its dependent, and one that
waits for the held step and so never starts."""


class Run:
    """One interrupted run: what the steps did, seen from their threads."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)  # noqa: S311  reproducible timings, not secrets
        self.pauses = {s.id: self.random.choice((0.0, 0.0, 0.0002, 0.001)) for s in PLAN}
        self.started: list[str] = []
        self.first = threading.Event()
        self.stop = threading.Event()

    def execute(self, step: Step) -> None:
        self.started.append(step.id)
        self.first.set()
        if self.stop.is_set():
            raise RuntimeError("not started: interrupted")
        if step.id == "env.held":
            assert self.stop.wait(WAIT), "the held step was never stopped"
            raise RuntimeError("stopped")
        time.sleep(self.pauses[step.id])
        if step.id == "env.fails":
            raise RuntimeError("failed")

    def interrupt(self, delay: float) -> None:
        if self.first.wait(WAIT):
            time.sleep(delay)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


@pytest.mark.parametrize("seed", range(8))
def test_wherever_an_interrupt_lands_every_step_is_in_exactly_one_list_of_the_report(
    seed: int,
) -> None:
    """Each started step is done or failed, each other one skipped; never in two lists, never
    in none. A KeyboardInterrupt raised between two bytecodes of the loop's bookkeeping (or
    inside ThreadPoolExecutor.submit) lost the step it was handing over or recording."""
    for attempt in range(12):
        run = Run(seed * 100 + attempt)
        report = ApplyReport()
        delay = run.random.choice((0.0, 0.0, 0.00005, 0.0002, 0.0005, 0.001, 0.003))
        sender = threading.Thread(target=run.interrupt, args=(delay,), daemon=True)
        sender.start()

        interrupted = run_steps(
            PLAN,
            run.execute,
            report,
            workers=4,
            failed_step=lambda step, interrupted: None,
            interrupted_round=run.stop.set,
        )
        sender.join(WAIT)

        assert isinstance(interrupted, KeyboardInterrupt)
        done = [s.id for s in report.done]
        failed = [s.id for s, _ in report.failed]
        skipped = [s.id for s, _ in report.skipped]
        listed = done + failed + skipped
        assert sorted(listed) == sorted(s.id for s in PLAN), f"delay {delay}: {listed}"
        assert sorted(done + failed) == sorted(run.started), f"delay {delay}"
        assert "env.after-held" in skipped


def test_a_held_signal_raises_only_where_the_code_asks_and_wakes_it() -> None:
    woken: list[str] = []
    with interrupts.ChildrenStopped(hold=lambda: woken.append("woken")) as signals:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.05)  # the handler ran: it would have raised by now
        assert woken == ["woken"]
        with pytest.raises(KeyboardInterrupt):
            signals.raise_held()
        signals.raise_held()  # nothing more held

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_still_held_at_the_end_raises_there_unless_an_error_is_on_its_way_out() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.ChildrenStopped(hold=bool):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.05)

    with pytest.raises(ValueError), interrupts.ChildrenStopped(hold=bool):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        time.sleep(0.05)
        raise ValueError("the error that is reported")
