"""The fast tier (``just test-fast``: ``pytest -m "not slow"``), a pytest plugin that
tests/conftest.py loads.

A test is slow when it builds real envs with uv, creates a venv or runs the ``reconcile``
command. A test that uses a fixture of :data:`SLOW_FIXTURES` is marked slow here; any other
slow test carries ``@pytest.mark.slow`` (or its module a ``pytestmark``). A test not marked
slow that starts uv, ``python -m venv`` or ``python -m reconciler`` fails, in every run, the
whole suite's too, with a message saying so: a slow test cannot land in the fast tier
unnoticed. (A ``python -c`` that imports reconciler is not caught; a test that waits, as
``settle()`` does, is marked by hand.)
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

SLOW_FIXTURES = frozenset({"project"})
"""Fixtures whose tests are slow: a project is there to be locked, applied and planned by
the real command (fixtures that use one count too)."""

_SLOW_PROGRAMS = frozenset({"uv", "uv.exe", "reconcile", "reconcile.exe"})
_SLOW_MODULES = frozenset({"reconciler", "venv", "uv"})

_RUNNING: list[pytest.Item] = []
"""The test being set up, run or torn down (its module fixtures are set up on its behalf)."""

_SLOW_STARTS = pytest.StashKey[list[str]]()


def slow_start(args: Any) -> str | None:
    """What makes starting ``args`` (as Popen takes it) slow, or None."""
    if isinstance(args, (list, tuple)):
        argv = [os.fsdecode(a) for a in args]
    else:  # one string: a program, or a command line for the shell
        argv = os.fsdecode(args).split()
    if not argv:
        return None
    if Path(argv[0]).name in _SLOW_PROGRAMS:
        return f"runs {Path(argv[0]).name}"
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1] in _SLOW_MODULES:
        return f"runs python -m {argv[argv.index('-m') + 1]}"
    return None


def _message(reason: str) -> str:
    return f"{reason}: a slow test; mark it @pytest.mark.slow (see tests/fasttier.py)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _RUNNING.append(item)
    try:
        return (yield)
    finally:
        _RUNNING.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fail a fast test that started something slow even where the code under test caught
    the failure raised at the start."""
    report = yield
    starts = item.stash.get(_SLOW_STARTS, [])
    if starts and report.passed and report.when == "call":
        report.outcome = "failed"
        report.longrepr = _message(starts[0])
    return report


class _FastTierPopen(subprocess.Popen[Any]):
    """subprocess.Popen, refusing to start uv, a venv or reconcile for a test not marked slow
    (refused before the object exists, so that no half-made process is left to clean up)."""

    def __new__(cls, args: Any, *rest: Any, **kwargs: Any) -> _FastTierPopen:
        reason = slow_start(args)
        if reason is not None and _RUNNING and _RUNNING[-1].get_closest_marker("slow") is None:
            _RUNNING[-1].stash.setdefault(_SLOW_STARTS, []).append(reason)
            pytest.fail(_message(reason))
        return super().__new__(cls)


@pytest.fixture(autouse=True, scope="session")
def _fast_tests_start_nothing_slow() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", _FastTierPopen)
        yield
