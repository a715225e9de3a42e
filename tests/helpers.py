"""What the tests build and run: real interpreters, the real uv, venvs built from lockfiles, and
a project folder with its manifest, wheelhouse and the ``reconcile`` command.

Nothing here touches the network: wheels are written with zipfile (tests/wheels.py) and
installed by the real uv with ``--no-index --find-links``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from reconciler.files import RACY_NS
from reconciler.platform import POSIX_VENV
from reconciler.runner import uv_bin
from reconciler.store import layout
from tests.plan_schema import check_plans_of


def settle() -> None:
    """Wait until files written so far are old enough to be trusted: a file changed within
    ``RACY_NS`` of a run is hashed but never cached, and a plan reading one is never stored
    (the racy rule, reconciler/observe/hashcache.py and reconciler/memo/identity.py)."""
    time.sleep((RACY_NS + 100_000_000) / 1e9)


def _runs(python: Path) -> bool:
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


@cache
def find_python(version: str) -> Path | None:
    """A real interpreter for ``X.Y``: pyenv's versions folder first, then PATH, verified."""
    candidates: list[Path] = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for folder in sorted(versions.glob(f"{version}.*"), reverse=True):
            candidates.append(folder / "bin" / f"python{version}")
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        candidates.append(Path(sys.executable))
    found = shutil.which(f"python{version}")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists() and _runs(candidate):
            return candidate
    return None


def require_python(version: str) -> Path:
    """The interpreter for ``version``, or skip the test cleanly when it is absent."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed on this machine")
    return python


def uv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real uv; fail the test with its stderr when it fails."""
    done = subprocess.run(
        [uv_bin(), *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=300
    )
    if done.returncode != 0:
        pytest.fail(f"uv {' '.join(args)} failed:\n{done.stderr}")
    return done


def build_env(
    path: Path,
    python: Path,
    lockfile: Path,
    wheelhouse: Path,
    receipt: bool = True,
) -> Path:
    """Build a venv at ``path`` from ``lockfile`` with the real uv, the way apply will.

    ``receipt`` writes the generation receipt that marks an env as built by reconcile.
    """
    uv("venv", "--quiet", "--python", str(python), str(path))
    uv(
        "pip",
        "sync",
        "--quiet",
        "--require-hashes",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--python",
        str(POSIX_VENV.interpreter(path)),
        str(lockfile),
    )
    if receipt:
        layout.receipt_path(path).write_text(
            json.dumps({"format_version": "1", "generation": "test"}), encoding="utf-8"
        )
    return path


@dataclass
class Project:
    """A temp folder with envs.toml, a wheelhouse and (after ``lock()``) lockfiles."""

    folder: Path
    wheels: Path

    @property
    def manifest(self) -> Path:
        return self.folder / "envs.toml"

    @property
    def root(self) -> Path:
        return self.folder / ".envs"

    def write(self, body: str) -> None:
        header = textwrap.dedent(
            """\
            [settings.sources]
            find_links = ["wheels"]
            no_index = true
            """
        )
        self.manifest.write_text(header + textwrap.dedent(body), encoding="utf-8")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed ``reconcile`` command in the project folder. A plan it prints
        as JSON or saves is checked against docs/plan.schema.json."""
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            cwd=self.folder,
            check=False,
            timeout=600,
        )
        if ("plan" in args or "diff" in args) and done.returncode in (0, 2):
            check_plans_of(args, done.stdout, self.folder)
        return done

    def lock(self) -> None:
        done = self.cli("lock")
        assert done.returncode == 0, done.stderr

    def install(self, env: Path, requirement: str) -> None:
        """``uv pip install`` one more package from the wheelhouse into ``env`` (drift)."""
        uv(
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(self.wheels),
            "--python",
            str(POSIX_VENV.interpreter(env)),
            requirement,
        )

    def build(self, env_key: str, python: Path, receipt: bool = True) -> Path:
        """Build ``<root>/<env_key>`` from its lockfile (a plain folder, as apply will link)."""
        return build_env(
            self.root / env_key,
            python,
            self.folder / "lockfiles" / f"{env_key}.txt",
            self.wheels,
            receipt=receipt,
        )


def lockfile(project: Project, env_key: str) -> Path:
    """Where `reconcile lock` writes ``env_key``'s lockfile by default."""
    return project.folder / "lockfiles" / f"{env_key}.txt"


def replace_in_manifest(project: Project, old: str, new: str) -> None:
    """Edit the manifest: ``old``, which must be in it once, becomes ``new``."""
    text = project.manifest.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in the manifest"
    project.manifest.write_text(text.replace(old, new), encoding="utf-8")
