"""IO: what apply shows while it works. A rich live display per env on a terminal, plain
lines otherwise (CI logs). The executor only calls its Reporter protocol
(:class:`reconciler.execute.executor.Reporter`), which both classes here implement."""

from __future__ import annotations

import sys
import threading
from contextlib import suppress
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from reconciler import interrupts


class PlainReporter:
    """One line per phase; safe from several threads."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self._stream = stream or sys.stdout
        self._quiet = quiet
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            print(text, file=self._stream, flush=True)

    def phase(self, target: str, text: str) -> None:
        if not self._quiet:
            self._line(f"{target}: {text}")

    def finished(self, target: str, ok: bool, text: str) -> None:
        if not self._quiet:  # quiet: a failure is told once, by apply's error lines
            self._line(f"{target}: {text}")


class LiveReporter:
    """A spinner line per target on a terminal, each ending in a tick or a cross."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[target]}[/bold]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> LiveReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # deferred: a signal must not leave the cursor hidden; OSError: the terminal went
        # away (SIGHUP), so there is nothing left to restore
        with interrupts.deferred(), suppress(OSError):
            self._progress.stop()

    def _task(self, target: str) -> TaskID:
        with self._lock:
            if target not in self._tasks:
                self._tasks[target] = self._progress.add_task("", total=1, target=target)
            return self._tasks[target]

    def phase(self, target: str, text: str) -> None:
        self._progress.update(self._task(target), description=text)

    def finished(self, target: str, ok: bool, text: str) -> None:
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self._progress.update(self._task(target), description=f"{mark} {text}", completed=1)
