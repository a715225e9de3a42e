"""Fixtures of the Windows job: the lab (skipped where there is none, a failure where
``RECONCILE_WINE_REQUIRED=1``, as ``just test-windows`` sets) and a project under ``C:\\rt``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.wheels import make_wheel
from tests.wine.lab import LAB_ENV, PYTHON, RECONCILE, REQUIRED_ENV, Lab, Ran, find_lab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def lab() -> Lab:
    found = find_lab()
    if found is None:
        message = (
            f"no Windows lab here: run `bash scripts/winlab.sh` as root (or set {LAB_ENV}), "
            "or `just test-windows`"
        )
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    found.serve()
    return found


MANIFEST = """\
version = 1
[settings]
root = "envs"
lockfiles = "lockfiles"
python_downloads = "never"
keep_generations = {keep}
[settings.sources]
find_links = ["wheels"]
no_index = true
"""


class WinProject:
    """A project folder under ``C:\\rt`` with a wheelhouse, run by the Windows reconcile."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.dir = f"C:\\rt\\{name}"
        self.path = lab.host(self.dir)
        self.cache = f"C:\\rt\\cache-{name}"
        self.wheels = self.path / "wheels"
        self.wheels.mkdir(parents=True)
        self.env = {"UV_CACHE_DIR": self.cache, "UV_PYTHON_DOWNLOADS": "never"}

    def wheel(self, name: str, version: str, **kwargs: object) -> None:
        make_wheel(self.wheels, name, version, **kwargs)  # type: ignore[arg-type]

    def manifest(self, body: str, keep: int = 2) -> None:
        text = MANIFEST.format(keep=keep) + body
        (self.path / "envs.toml").write_text(text, encoding="utf-8")

    def reconcile(self, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        return self.lab.run(RECONCILE, *args, cwd=self.dir, env={**self.env, **(env or {})})

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        """Run reconcile; it must exit 0."""
        ran = self.reconcile(*args, env=env)
        assert ran.rc == 0, str(ran)
        return ran

    def python(self, *args: str, env: Mapping[str, str] | None = None) -> Ran:
        return self.lab.run(PYTHON, *args, cwd=self.dir, env={**self.env, **(env or {})})

    def exists(self, windows_relative: str) -> bool:
        return self.path.joinpath(*windows_relative.split("\\")).exists()

    def host(self, windows_relative: str) -> Path:
        return self.path.joinpath(*windows_relative.split("\\"))


@pytest.fixture
def wproject(lab: Lab) -> Iterator[WinProject]:
    name = uuid.uuid4().hex[:8]
    project = WinProject(lab, name)
    project.wheel("alpha", "1.0")
    project.wheel("alpha", "2.0")
    project.wheel("beta", "1.0", requires=["alpha"])
    yield project
    lab.remove(project.dir)
    lab.remove(project.cache)
