"""SIGINT, SIGTERM and SIGHUP stop a command the same way (SPEC 4), in-process: where the first
signal raises, where it is only recorded, and what main says about one it did not raise.

The end-to-end behaviour (uv and probes stopped, the build in flight removed, the next apply
converging) is in tests/test_crash.py and tests/test_apply.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import interrupts
from reconciler.cli.app import main


@pytest.fixture(autouse=True)
def python_defaults() -> Iterator[None]:
    """The signals as Python sets them up in a terminal, however the suite was started (a
    shell's background job has SIGINT ignored); the suite's own handlers come back after."""
    before = {
        signum: signal.signal(
            signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        )
        for signum in interrupts.SIGNALS
    }
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@pytest.fixture
def handlers() -> Iterator[interrupts.Installed]:
    """The CLI's handlers in this process, as a test or another program calling main has
    them; the caller's handlers are restored afterwards."""
    installed = interrupts.install(owns_process=False)
    try:
        yield installed
    finally:
        installed.close()


def deliver(signum: int) -> None:
    """Send ``signum`` to this process and give its handler the chance to run."""
    os.kill(os.getpid(), signum)
    time.sleep(0.2)  # interrupted at once when the handler raises


@pytest.mark.parametrize("signum", interrupts.SIGNALS)
def test_the_first_signal_raises_during_the_work_and_names_itself(
    handlers: interrupts.Installed, signum: int
) -> None:
    with pytest.raises(interrupts.Interrupt) as raised, interrupts.raising():
        deliver(signum)

    assert raised.value.signum == signum
    assert interrupts.by(raised.value) == f" by {signal.Signals(signum).name}"
    assert handlers.close() is None  # raised, so reported by the command


def test_a_later_signal_never_raises_into_the_clean_up_the_first_started(
    handlers: interrupts.Installed,
) -> None:
    with interrupts.raising():
        with pytest.raises(interrupts.Interrupt):
            deliver(signal.SIGTERM)
        deliver(signal.SIGINT)  # the clean-up goes on
        deliver(signal.SIGHUP)

    assert interrupts.received() == signal.SIGTERM
    assert handlers.close() is None


def test_a_signal_after_settle_is_recorded_and_reported_after_the_work(
    handlers: interrupts.Installed,
) -> None:
    with interrupts.raising():
        interrupts.settle("the apply completed")
        deliver(signal.SIGHUP)

    assert handlers.close() == (
        "interrupted by SIGHUP after the apply completed; nothing was undone."
    )


def test_a_signal_in_a_deferred_section_is_raised_once_the_section_is_done(
    handlers: interrupts.Installed,
) -> None:
    finished = False
    with pytest.raises(interrupts.Interrupt), interrupts.raising():
        with interrupts.deferred():
            deliver(signal.SIGTERM)
            finished = True
        pytest.fail("the signal was not raised after the section")

    assert finished


def test_a_signal_in_a_deferred_section_never_hides_the_error_on_its_way_out(
    handlers: interrupts.Installed,
) -> None:
    with pytest.raises(OSError, match="disk full"), interrupts.raising(), interrupts.deferred():
        deliver(signal.SIGTERM)
        raise OSError("disk full")

    assert handlers.close() == (
        "interrupted by SIGTERM while reconcile was exiting; nothing was undone."
    )


def test_a_signal_ignored_at_start_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts a command
    try:
        installed = interrupts.install(owns_process=False)
        try:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            with interrupts.raising():
                deliver(signal.SIGHUP)
        finally:
            assert installed.close() is None
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_main_called_in_process_gives_the_callers_handlers_back(tmp_path: Path) -> None:
    before = {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS}

    code = main(["--manifest", str(tmp_path / "absent.toml"), "status"])

    assert code == 1
    assert {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS} == before
