"""Fixtures and hooks: an isolated uv cache, a local wheelhouse, a project folder, holders of
the apply lock, the schema check of every plan, and the fast tier.

Helpers to import live in modules of their own (tests/helpers.py, tests/apply_helpers.py,
tests/processes.py, tests/wheels.py); no test module imports from another.

The fast tier (``just test-fast``, ``-m "not slow"``) is every test not marked ``slow``. A
test is slow when it builds real envs with uv, creates a venv or runs the ``reconcile``
command: one that uses a fixture of :data:`SLOW_FIXTURES` is marked here, others carry
``@pytest.mark.slow`` (or a module's ``pytestmark``). A test not marked slow that starts uv,
``python -m venv`` or reconcile fails, in every run, with a message saying so, so a slow test
cannot land in the fast tier unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Project
from tests.plan_schema import PLANS_CHECKED, check_plan
from tests.processes import LockHolders
from tests.wheels import make_wheel

REGISTRY_ENV = "RECONCILE_REGISTRY_TESTS"

SLOW_FIXTURES = frozenset({"project"})
"""Fixtures whose tests are slow: a project is there to be locked, applied and planned by
the real command (fixtures that use one, such as ``applied``, count too)."""

_SLOW_PROGRAMS = frozenset({"uv", "uv.exe", "reconcile", "reconcile.exe"})
_SLOW_MODULES = frozenset({"reconciler", "venv", "uv"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if os.environ.get(REGISTRY_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"needs the package registry; set {REGISTRY_ENV}=1")
    for item in items:
        if "registry" in item.keywords:
            item.add_marker(skip)


def _slow_start(args: Any) -> str | None:
    """What makes starting ``args`` slow (uv, a venv, the reconcile command), or None."""
    argv = [os.fspath(a) for a in args] if isinstance(args, (list, tuple)) else [os.fspath(args)]
    if Path(argv[0]).name in _SLOW_PROGRAMS:
        return f"runs {Path(argv[0]).name}"
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1] in _SLOW_MODULES:
        return f"runs python -m {argv[argv.index('-m') + 1]}"
    return None


_RUNNING: list[pytest.Item] = []
"""The test being set up, run or torn down (its module fixtures are set up on its behalf)."""

_SLOW_STARTS = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _RUNNING.append(item)
    try:
        return (yield)
    finally:
        _RUNNING.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A fast test that started something slow fails, even where the code under test caught
    the failure raised at the start."""
    report: pytest.TestReport = yield
    starts = item.stash.get(_SLOW_STARTS, [])
    if starts and report.passed and report.when == "call":
        report.outcome = "failed"
        report.longrepr = _slow_message(starts[0])
    return report


def _slow_message(reason: str) -> str:
    return f"{reason}: a slow test; mark it @pytest.mark.slow (see tests/conftest.py)"


class _FastTierPopen(subprocess.Popen[Any]):
    """subprocess.Popen, refusing to start uv, a venv or reconcile for a test not marked slow."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        reason = _slow_start(args)
        if reason is not None and _RUNNING and not _RUNNING[-1].get_closest_marker("slow"):
            item = _RUNNING[-1]
            item.stash.setdefault(_SLOW_STARTS, []).append(reason)
            pytest.fail(_slow_message(reason))
        super().__init__(args, *rest, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _fast_tests_start_nothing_slow() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", _FastTierPopen)
        yield


@pytest.fixture(autouse=True)
def _plans_match_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plan document made in-process (plan, apply's confirmation, saved plans) is
    checked against docs/plan.schema.json; those made by the command are checked in
    :meth:`Project.cli`."""
    from reconciler.report import document

    for name in ("plan_document", "diff_document"):
        monkeypatch.setattr(document, name, _checked(getattr(document, name)))


def _checked(made: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def checked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        doc = made(*args, **kwargs)
        check_plan(doc)
        PLANS_CHECKED[0] += 1
        return doc

    return checked


@pytest.fixture(autouse=True)
def _isolated_uv(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private uv cache (a corrupted hardlinked file must not poison the machine's cache)."""
    cache_dir = tmp_path_factory.getbasetemp() / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "VIRTUAL_ENV"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def private_uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A uv cache of this test's own, to look into or to corrupt."""
    cache = tmp_path / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """A folder of tiny wheels: alpha 1.0 (needs beta), beta 1.0 and 2.0, gamma 1.0."""
    folder = tmp_path / "wheels"
    make_wheel(folder, "alpha", "1.0", requires=["beta>=1.0"])
    make_wheel(folder, "beta", "1.0")
    make_wheel(folder, "beta", "2.0")
    make_wheel(folder, "gamma", "1.0")
    return folder


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path) -> Iterator[Project]:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copytree(wheelhouse, folder / "wheels")
    yield Project(folder=folder, wheels=folder / "wheels")


@pytest.fixture
def readonly_cleanup() -> Iterator[list[Path]]:
    """Folders a test made read-only; made writable again so tmp_path can be removed."""
    folders: list[Path] = []
    yield folders
    for folder in folders:
        if folder.exists():
            folder.chmod(0o755)


@pytest.fixture
def lock_holder() -> Iterator[LockHolders]:
    """``lock_holder(root)``: a process holding the apply lock of ``root``, as a running
    apply does (tests/processes.py); what is left running is killed at teardown."""
    holders = LockHolders()
    yield holders
    holders.kill_all()
