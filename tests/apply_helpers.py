"""Helpers for the tests of apply and the commands around it: the example manifests, set-up
applies run in-process, what a root holds (generations, links, trash, a snapshot of every
entry), what a command printed, and running reconcile as a user whom file modes bind.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from reconciler.store import layout
from tests.helpers import Project, require_python, uv

SERVING = """\
[envs.serving]
python = "3.11"
requirements = ["alpha==1.0", "beta==1.0"]
imports = ["alpha", "beta"]

[models.chat]
env = "serving"
"""

TOOLS = """
[envs.tools]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.report]
env = "tools"
"""


def lock(project: Project) -> None:
    """Write the lockfiles in-process (test_lock.py covers the `lock` command itself)."""
    assert main(["--manifest", str(project.manifest), "--quiet", "lock"]) == 0


def apply(project: Project) -> None:
    """Set-up apply, in-process; the behaviour under test goes through ``project.cli``."""
    assert main(["--manifest", str(project.manifest), "--quiet", "apply", "--yes"]) == 0


def setup(project: Project, body: str) -> None:
    """Write the manifest, lock it and apply it."""
    require_python("3.11")
    project.write(body)
    lock(project)
    apply(project)


def relock(project: Project, body: str) -> None:
    project.write(body)
    lock(project)


def generations_of(project: Project, env_key: str) -> list[str]:
    """The generation folders of an env (its id counter, ``.last``, is not one)."""
    folder = project.root / layout.GENERATIONS / env_key
    return sorted(p.name for p in folder.iterdir() if p.name != ".last") if folder.is_dir() else []


def gen_dir(project: Project, env_key: str, gen_id: str) -> Path:
    return project.root / layout.GENERATIONS / env_key / gen_id


def link_of(project: Project, env_key: str) -> str:
    """Where ``<root>/<env_key>`` points, as written in the link (relative)."""
    return str((project.root / env_key).readlink())


def trash_entries(project: Project) -> list[str]:
    trash = project.root / layout.TRASH
    return sorted(p.name for p in trash.iterdir()) if trash.is_dir() else []


def snapshot(folder: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``folder``, symlinks not followed, with content digests and mtimes.

    Bytecode caches are left out: importing a module in a probe may write them, and that is
    not a change to the env.
    """
    entries: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        base = Path(dirpath)
        for name in dirnames + filenames:
            path = base / name
            rel = str(path.relative_to(folder))
            info = path.lstat()
            if path.is_symlink():
                entries[rel] = ("link", str(path.readlink()))
            elif path.is_dir():
                entries[rel] = ("dir", info.st_mode)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[rel] = ("file", info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return entries


def plan_json(project: Project) -> dict[str, Any]:
    done = project.cli("plan", "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def error_line(stderr: str) -> str:
    """The ``error:`` line of a failed command (uv's own lines may follow it)."""
    found = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(found) == 1, stderr
    return found[0]


def _drop_dac_override() -> None:
    """preexec_fn: make root obey file modes, as any other user does (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH and CAP_FOWNER leave the bounding set, so the exec'd child lacks them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2, 3):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


_CAPS_PROBE = (
    "import sys; line = [x for x in open('/proc/self/status') if x.startswith('CapEff')][0]; "
    "sys.exit(int(line.split()[1], 16) & 2)"
)


def as_plain_user() -> Callable[[], None] | None:
    """A preexec_fn under which file modes bind the child (None: they already do).

    Root ignores read-only bits, so a test of what happens when they bite would prove
    nothing as root; dropping the DAC capabilities makes it meaningful. Skips when the
    capabilities cannot be dropped (no CAP_SETPCAP in a container).
    """
    if os.geteuid() != 0:
        return None
    probe = subprocess.run(  # exits 0 only when CAP_DAC_OVERRIDE (bit 1) is gone
        [sys.executable, "-c", _CAPS_PROBE],
        preexec_fn=_drop_dac_override,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("running as root and the DAC capabilities cannot be dropped")
    return _drop_dac_override


def cli_as(
    project: Project, preexec: Callable[[], None] | None, *args: str
) -> subprocess.CompletedProcess[str]:
    """``project.cli`` with a preexec_fn (see :func:`as_plain_user`)."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=600,
        preexec_fn=preexec,
    )


def tools_with_a_folder_of_another_user(
    project: Project, readonly_cleanup: list[Path]
) -> Callable[[], None] | None:
    """Apply SERVING + TOOLS, give a folder of tools' generation to another user, read-only
    (its bits cannot be cleared), and drop tools from the manifest; returns the preexec that
    runs reconcile as a plain user, who cannot remove that folder. Skips unless root."""
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    setup(project, SERVING + TOOLS)
    preexec = as_plain_user()
    stuck = next(gen_dir(project, "tools", "g0001").glob("lib/python*/site-packages/gamma"))
    os.chown(stuck, 65534, 65534)  # someone else's read-only folder: its bits cannot be cleared
    stuck.chmod(0o555)
    readonly_cleanup.append(stuck)
    project.write(SERVING)
    return preexec


def legacy_venv(project: Project, where: Path, *requirements: str) -> Path:
    """A hand-made venv, as teams have them: `uv venv` plus `uv pip install`."""
    uv("venv", "--quiet", "--python", str(require_python("3.11")), str(where))
    for requirement in requirements:
        project.install(where, requirement)
    return where
