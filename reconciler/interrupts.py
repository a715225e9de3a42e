"""What SIGINT (Ctrl-C), SIGTERM (``kill``, ``timeout``, a CI job's cancel button) and SIGHUP
(the terminal went away) do to a command: the same thing, an interruption (SPEC 4).

``cli.main`` installs the handlers first thing (:func:`install`) and keeps them to its exit, so
no signal lands outside a handled region. Inside :func:`raising` (the command's work) the first
signal raises :class:`Interrupt`, a ``KeyboardInterrupt``: every ``except KeyboardInterrupt``
that stops children and removes the build in flight handles the three signals alike.
Everywhere else the signal is only recorded, and main reports it in one sentence with exit 1:

- after :func:`settle`, once a command has made all its changes ("interrupted by SIGTERM after
  the apply completed; nothing was undone"), while it releases the lock and prints its report;
- inside :func:`deferred`, a section that must not be cut in two (releasing the lock,
  restoring the terminal): the signal is raised when the section is done;
- while an error is reported, and between the exit code being decided and the process exit.

Only the first signal raises. A later one would abort the clean-up the first one started
(stopping children, removing a generation, joining threads); runner's handler kills the
children at once instead, which is what a user pressing Ctrl-C twice wants.

A signal that was ignored when reconcile started stays ignored: ``nohup`` ignores SIGHUP so
that a closed terminal does not stop the command, and a shell starts background jobs with
SIGINT ignored; those users chose.
"""

from __future__ import annotations

import signal

TYPE_CHECKING = False  # not typing's: every command imports this module first
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any, TypeAlias

    _Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers

SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")  # SIGBREAK: Ctrl-Break on Windows
    if hasattr(signal, name)
)
"""The signals that interrupt a command, where the platform has them."""


class Interrupt(KeyboardInterrupt):
    """A signal of :data:`SIGNALS` arrived during a command's work."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def by(error: BaseException) -> str:
    """`` by SIGTERM`` for an :class:`Interrupt`; empty for any other KeyboardInterrupt."""
    return f" by {signal_name(error.signum)}" if isinstance(error, Interrupt) else ""


class _State:
    """Process-wide, as signal dispositions are."""

    def __init__(self) -> None:
        self.first: int | None = None
        """The first signal received since :func:`install`."""
        self.raised = False
        """Whether it was raised (then the command reported it) rather than only recorded."""
        self.raising = False
        self.settled: str | None = None


_state = _State()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _state.first is not None:
        return  # recorded already; runner's handler, which called this one, escalates
    _state.first = signum
    if _state.raising:
        _state.raised = True
        raise Interrupt(signum)


class Installed:
    """The handlers of one command; :meth:`close` ends them and says what was not reported."""

    def __init__(self, previous: dict[int, _Handler], owns_process: bool) -> None:
        self._previous = previous
        self._owns_process = owns_process

    def close(self) -> str | None:
        """Stop handling signals; return the sentence for a signal that was recorded but not
        raised (None when there was none).

        When the command owns the process, its handlers stay and the signals are blocked
        from here on: a signal that arrives after this moment is held pending and dropped at
        exit, so it can neither change the exit code main is returning nor kill the process
        during interpreter shutdown (which resets handlers to the default). Otherwise the
        caller's handlers are restored."""
        _state.raising = False
        if self._owns_process and hasattr(signal, "pthread_sigmask"):
            # Runs the handler of a signal that arrived just before (it only records).
            signal.pthread_sigmask(signal.SIG_BLOCK, set(self._previous))
        elif not self._owns_process:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        if _state.first is None or _state.raised:
            return None
        name = signal_name(_state.first)
        if _state.settled is None:
            return f"interrupted by {name} while reconcile was exiting; nothing was undone."
        return f"interrupted by {name} after {_state.settled}; nothing was undone."


def install(*, owns_process: bool) -> Installed:
    """Handle :data:`SIGNALS` for one command (from the main thread; elsewhere a no-op).

    ``owns_process``: the command is the process (``reconcile``, ``python -m reconciler``),
    not a call from a test or another program, whose handlers :meth:`Installed.close`
    restores. A signal ignored now stays ignored (see the module docstring)."""
    global _state
    _state = _State()
    previous: dict[int, _Handler] = {}
    for signum in SIGNALS:
        handler = signal.getsignal(signum)
        if handler == signal.SIG_IGN or handler is None:  # None: not set from Python
            continue
        try:
            signal.signal(signum, _on_signal)
        except ValueError:  # not the main thread: signals are the caller's business
            break
        previous[signum] = handler
    return Installed(previous, owns_process)


class raising:  # lower case: used like a function, `with interrupts.raising():`
    """The command's work: here the first signal raises :class:`Interrupt`."""

    def __enter__(self) -> None:
        if _state.first is not None and not _state.raised:  # recorded before the work began
            _state.raised = True
            raise Interrupt(_state.first)
        _state.raising = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        _state.raising = False


def settle(what: str) -> None:
    """The command made all its changes (``what``: "the apply completed"): from here on a
    signal is reported after its output, never raised into the teardown."""
    _state.raising = False
    if _state.settled is None:
        _state.settled = what


class deferred:  # lower case: used like a function, `with interrupts.deferred():`
    """A section that a signal must not cut in two: a signal that arrives in it is raised
    when it ends, unless an exception is already on its way out (then main reports the
    signal after that exception's error)."""

    def __enter__(self) -> None:
        self._was = _state.raising
        _state.raising = False

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        _state.raising = self._was
        if kind is None and self._was and _state.first is not None and not _state.raised:
            _state.raised = True
            raise Interrupt(_state.first)


def received() -> int | None:
    """The first signal received during the current command, if any."""
    return _state.first


class ChildrenStopped:
    """While active in the main thread, an interrupting signal first asks every running
    child's process group to end (without waiting: a thread does it, since a handler must not
    block), then goes to the handler that was there before (the CLI's raises
    ``KeyboardInterrupt``). A second signal kills the groups at once. Children run out of the
    terminal's reach (see ``runner``); without this, a signal that lands while the main
    thread waits for worker threads would wait for their children too.

    With ``hold``, the signal goes on to the handler before only at :meth:`raise_held`, so
    its ``KeyboardInterrupt`` lands where the code chooses, never between two bytecodes of
    its bookkeeping (nor inside a library's, such as ``ThreadPoolExecutor.submit``); the
    handler calls ``hold()`` to wake that code, from within the signal handler, so it must be
    reentrant (``SimpleQueue.put`` is). Signals still held at the exit go on there.

    The children are ``reconciler.runner``'s, looked up when a signal lands: a command that
    never started one never imports the runner (subprocess, logging), which is most of the
    start-up of a cached ``verify``. A no-op outside the main thread, and for a signal whose
    handler is not a Python function (ignored, or the default): someone chose; leave it."""

    def __init__(self, hold: Callable[[], object] | None = None) -> None:
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self._signals = 0
        self._hold = hold
        self._held: list[int] = []

    def __enter__(self) -> ChildrenStopped:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                self._previous[signum] = handler
                signal.signal(signum, self._on_interrupt)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if kind is None:
            self._raise_held(previous)
        else:  # that exception goes on; the handler before still hears of the signal
            import contextlib

            with contextlib.suppress(KeyboardInterrupt):
                self._raise_held(previous)

    def raise_held(self) -> None:
        """Pass each signal held so far on to the handler that was there before (which raises
        ``KeyboardInterrupt``, or for a signal after the first, may only record it)."""
        self._raise_held(self._previous)

    def _raise_held(self, handlers: dict[int, Callable[[int, FrameType | None], Any]]) -> None:
        while self._held:
            signum = self._held.pop(0)
            handlers[signum](signum, None)

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> Any:
        import sys
        import threading

        self._signals += 1
        if self._hold is not None:
            # Held before the children are told to stop, so that a step their end fails is
            # seen as stopped by the code that raises the signal.
            self._held.append(signum)
            self._hold()
        runner = sys.modules.get("reconciler.runner")
        if runner is not None:  # never imported: no child was ever started
            grace = runner.TERMINATE_GRACE if self._signals == 1 else 0.0
            # Not a daemon: the interpreter waits for it at exit, so no group is ever left
            # with only the polite signal.
            threading.Thread(
                target=runner.terminate_all, args=(grace,), name="stop-children"
            ).start()
        if self._hold is not None:
            return None
        return self._previous[signum](signum, frame)
