"""Fixtures and hooks: an isolated uv cache, a local wheelhouse, a project folder, holders of
the apply lock, the schema check of every plan, registry tests skipped by default, and the
fast tier (tests/fasttier.py: which tests are slow, and how a fast one is kept fast).

Helpers to import live in modules of their own (tests/helpers.py, tests/apply_helpers.py,
tests/processes.py, tests/wheels.py); no test module imports from another.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Project
from tests.plan_schema import PLANS_CHECKED, check_plan
from tests.processes import LockHolders
from tests.wheels import make_wheel

pytest_plugins = ["pytester", "tests.fasttier"]

REGISTRY_ENV = "RECONCILE_REGISTRY_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(REGISTRY_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"needs the package registry; set {REGISTRY_ENV}=1")
    for item in items:
        if "registry" in item.keywords:
            item.add_marker(skip)


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
    """A private uv cache (a corrupted hardlinked file must not poison the machine's cache),
    and a private reconcile cache."""
    cache_dir = tmp_path_factory.getbasetemp() / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    # the user's cache folder (envs without a root): one per test, never the machine's
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path_factory.mktemp("reconcile-cache")))
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
