"""End to end: an env locked for one platform (issue 17), with the real uv, offline.

The wheelhouse is a one-platform mirror: ``app`` needs ``winonly`` on Windows, which the mirror
lacks, so a universal lock fails; ``native`` has only Linux builds (``manylinux_2_28`` wheels,
one per machine), so uv must pick the platform's wheel. Locked for ``x86_64-manylinux_2_28``,
the env builds on this machine (an x86_64 Linux with glibc >= 2.28); locked for
``aarch64-manylinux_2_28``, `plan` and `apply` refuse it in one sentence and build nothing,
while `lock --check`, `diff` and `status` do not refuse.
"""

from __future__ import annotations

import re

import pytest

from reconciler.observe.machine import this_machine
from reconciler.spec.lockfile import parse_lockfile
from reconciler.spec.platforms import PLATFORMS, runs_on
from reconciler.store import layout
from tests.helpers import Project, require_python
from tests.wheels import make_wheel, wheel_sha256

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not runs_on(PLATFORMS["x86_64-manylinux_2_28"], this_machine()),
        reason="builds an env locked for x86_64-manylinux_2_28 on this machine",
    ),
]

GPU = """
[settings]
platform = "{platform}"

[envs.gpu]
python = "3.11"
requirements = ["app==1.0"]
imports = ["app", "native"]

[models.llm]
env = "gpu"
"""
UNIVERSAL = GPU.replace('platform = "{platform}"\n', "")
ELSEWHERE = (
    "env gpu is locked for aarch64-manylinux_2_28 (Linux aarch64, glibc >= 2.28) and this "
    f"machine is {this_machine().describe()}: build it on such a machine, or change or remove "
    "its `platform` in envs.toml and run `reconcile lock gpu`."
)


@pytest.fixture
def mirror(project: Project) -> Project:
    """The project with a one-platform mirror as its wheelhouse."""
    make_wheel(
        project.wheels, "app", "1.0", requires=["winonly ; sys_platform == 'win32'", "native"]
    )
    for machine in ("x86_64", "aarch64"):
        make_wheel(project.wheels, "native", "1.0", tag=f"py3-none-manylinux_2_28_{machine}")
    return project


def _lockfile(project: Project) -> str:
    return (project.folder / "lockfiles" / "gpu.txt").read_text(encoding="utf-8")


def _native(project: Project, machine: str) -> str:
    return wheel_sha256(project.wheels / f"native-1.0-py3-none-manylinux_2_28_{machine}.whl")


def test_a_universal_lock_fails_on_a_one_platform_mirror_and_writes_nothing(
    mirror: Project,
) -> None:
    mirror.write(UNIVERSAL)
    done = mirror.cli("lock")
    assert done.returncode == 1, done.stderr
    assert "could not lock gpu" in done.stderr and "winonly" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (mirror.folder / "lockfiles" / "gpu.txt").exists()


def test_a_one_platform_lock_pins_that_platforms_wheels_without_markers(mirror: Project) -> None:
    mirror.write(GPU.format(platform="x86_64-manylinux_2_28"))
    mirror.lock()
    text = _lockfile(mirror)
    assert re.search(
        r"^# reconcile-inputs: .* platform=x86_64-manylinux_2_28 python=3\.11 ", text, re.M
    )
    lock = parse_lockfile(text, "gpu.txt")
    assert [(p.name, p.marker) for p in lock.packages] == [("app", None), ("native", None)]
    native = next(p for p in lock.packages if p.name == "native")
    assert native.hashes == (f"sha256:{_native(mirror, 'x86_64')}",)
    assert "winonly" not in text
    assert mirror.cli("lock", "--check").returncode == 0
    relocked = mirror.cli("lock")
    assert relocked.returncode == 0 and "unchanged" in relocked.stdout, relocked.stdout
    assert _lockfile(mirror) == text


def test_an_env_locked_for_this_machines_platform_builds_and_stays_healthy(mirror: Project) -> None:
    require_python("3.11")
    mirror.write(GPU.format(platform="x86_64-manylinux_2_28"))
    mirror.lock()
    plan = mirror.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert '+ env "gpu" {python 3.11, 2 packages}' in plan.stdout
    done = mirror.cli("apply", "--yes")
    assert done.returncode == 0, done.stderr
    assert "gpu: installing 2 packages" in done.stdout + done.stderr
    assert mirror.cli("verify").returncode == 0
    again = mirror.cli("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout
    status = mirror.cli("status")
    assert status.returncode == 0 and "healthy" in status.stdout


def test_plan_and_apply_refuse_an_env_locked_for_another_platform_and_build_nothing(
    mirror: Project,
) -> None:
    mirror.write(GPU.format(platform="aarch64-manylinux_2_28"))
    mirror.lock()
    native = next(
        p for p in parse_lockfile(_lockfile(mirror), "gpu.txt").packages if p.name == "native"
    )
    assert native.hashes == (f"sha256:{_native(mirror, 'aarch64')}",)
    for command in (("plan",), ("apply", "--yes")):
        done = mirror.cli(*command)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip() == f"error: {ELSEWHERE}"
    assert not (mirror.root / layout.GENERATIONS).exists()
    assert mirror.cli("lock", "--check").returncode == 0
    assert mirror.cli("diff", "envs.toml").returncode == 0
    status = mirror.cli("status")
    assert status.returncode == 0, status.stderr


def test_a_live_env_is_left_as_it_was_when_its_platform_moves_to_another_machine(
    mirror: Project,
) -> None:
    require_python("3.11")
    mirror.write(GPU.format(platform="x86_64-manylinux_2_28"))
    mirror.lock()
    assert mirror.cli("apply", "--yes").returncode == 0
    live = (mirror.root / "gpu").readlink()
    mirror.write(GPU.format(platform="aarch64-manylinux_2_28"))
    stale = mirror.cli("plan")
    assert stale.returncode == 1
    assert "is stale (platform changed): run `reconcile lock gpu`." in stale.stderr
    check = mirror.cli("lock", "--check")
    assert check.returncode == 2 and "platform changed" in check.stdout + check.stderr
    mirror.lock()
    refused = mirror.cli("apply", "--yes")
    assert refused.returncode == 1 and ELSEWHERE in refused.stderr
    assert (mirror.root / "gpu").readlink() == live
    assert mirror.cli("verify").returncode == 0
