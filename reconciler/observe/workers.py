"""IO: spread the checking of an env's rows over the cores: forked workers, else threads.

How the work is spread is chosen for CPython's GIL. The cost of a big file is hashlib
digesting megabytes with the GIL released; the cost of the ~20,000 small files of an ML env
is per-file Python and syscalls that hold the GIL, which threads cannot share (measured: a
thread pool hashing small files was slower than one thread). So the rows that need reading
are split into one share per core, of about equal cost (bytes, plus a fixed cost per file),
the biggest files dealt out first; on Linux every share but the first is checked by a forked
worker process and sent back through a pipe, and the calling process checks the first. A
worker only reads files and writes its result to its pipe: no cache, no output (it leaves
with ``os._exit``). A worker that dies or fails has its share checked again by the caller;
Ctrl-C or an error in the caller kills and reaps the workers. Where forking is not safe
(not Linux, other threads running, a ``hasher`` that is not ``sha256_file``, whose effects
must happen in the caller), the shares run on threads. Little to read (a warm cache): no
worker at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from reconciler.observe.hashing import Hasher, sha256_file
from reconciler.observe.rows import RowChecker
from reconciler.observe.tally import Item, Tally

BIG_FILE = 256 << 10
"""Files at least this big are dealt out to the shares one by one, biggest first; smaller
ones in runs of neighbouring rows."""

PER_FILE = 24 << 10
"""The fixed cost of checking one file (open, stat, read, close and the Python around them),
in bytes hashed in the same time: what balances shares of many small files against shares of
a few big ones."""

PARALLEL_MIN = 32 << 20
"""Below this cost (bytes plus ``PER_FILE`` a file) the calling thread checks everything
itself: starting workers would cost more than they save."""


def _cost(item: Item) -> int:
    return (item[1][3] or 0) + PER_FILE


def _split(items: Sequence[Item], count: int) -> list[list[Item]]:
    """``items`` in ``count`` shares of about equal cost (bytes, plus ``PER_FILE`` a file).

    Big files are dealt out first, biggest first, each to the share with least so far (and
    come first in it, so the longest hashes start at once); then the small ones fill the
    shares up in runs of neighbouring rows (a run shares folders, which each process
    resolves once). The first share is the lightest: its process also gathers the others.
    """
    if count <= 1:
        return [list(items)]
    big = sorted(
        (item for item in items if (item[1][3] or 0) >= BIG_FILE), key=lambda i: -(i[1][3] or 0)
    )
    small = [item for item in items if (item[1][3] or 0) < BIG_FILE]
    shares: list[list[Item]] = [[] for _ in range(count)]
    loads = [0] * count
    for item in big:
        least = loads.index(min(loads))
        shares[least].append(item)
        loads[least] += _cost(item)
    target = (sum(loads) + sum(_cost(item) for item in small)) / count
    start = 0
    for position, index in enumerate(sorted(range(count), key=lambda i: -loads[i])):
        last = position == count - 1
        end = start
        load = loads[index]
        while end < len(small) and (last or load < target):
            load += _cost(small[end])
            end += 1
        shares[index].extend(small[start:end])
        loads[index] = load
        start = end
    order = sorted(range(count), key=loads.__getitem__)
    return [shares[i] for i in order]


def _fork_allowed(hasher: Hasher) -> bool:
    """Whether shares may go to forked workers: where ``runner.fork_allowed`` says forking is
    safe, and with the stock hasher (a test's must run in the caller)."""
    from reconciler import runner  # only when there is enough to hash: start-up matters

    return hasher is sha256_file and runner.fork_allowed()


def _threaded(checker: RowChecker, shares: Sequence[Callable[[], None]]) -> None:
    """Run every share, the first in the calling thread and each other on a thread of its
    own. When one fails (or Ctrl-C), the others stop at their next row; the first exception
    is raised here once all threads are done."""
    failures: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the calling thread, which raises it
            checker.stopped = True
            failures.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(work,), name=f"verify-{number}", daemon=True)
        for number, work in enumerate(shares[1:], start=1)
    ]
    for thread in threads:
        thread.start()
    try:
        shares[0]()
    except BaseException:
        checker.stopped = True
        raise
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]


def check_all(checker: RowChecker, tally: Tally, items: Sequence[Item], workers: int) -> None:
    """Check ``items`` in full, spread over ``workers`` shares when there is enough to read."""
    enough = sum(_cost(item) for item in items) >= PARALLEL_MIN
    count = min(workers, len(items)) if enough else 1
    shares = _split(items, count)
    tallies = [Tally(tally.entries is not None, tally.started_ns) for _ in shares]
    if len(shares) == 1:
        checker.check(tally, items)
        return
    if _fork_allowed(checker.hasher):
        seen = checker.env.seen

        def plain(index: int) -> Callable[[], object]:
            def work() -> object:
                if seen is not None:  # a worker's own list, sent back in its tally
                    checker.env.seen = tallies[index].seen
                checker.check(tallies[index], shares[index])
                return tallies[index].to_plain()

            return work

        from reconciler import runner

        results = runner.fork_map(
            [lambda: checker.check(tallies[0], shares[0])]
            + [plain(index) for index in range(1, len(shares))]
        )
        for index, result in enumerate(results[1:], start=1):
            if result is None:  # the worker failed: its share is checked here after all
                checker.check(tallies[index], shares[index])
            else:
                tallies[index].add_plain(result)
    else:

        def run(index: int) -> Callable[[], None]:
            return lambda: checker.check(tallies[index], shares[index])

        _threaded(checker, [run(index) for index in range(len(shares))])
    for share in tallies:
        tally.add(share)
    if checker.env.seen is not None:
        checker.env.seen.extend(tally.seen)


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
