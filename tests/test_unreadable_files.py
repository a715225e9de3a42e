"""Files reconcile reads from an env or from under its root, in shapes a hostile or broken
machine leaves: a FIFO (opening one waits for a writer forever), a link to /dev/zero (a read
that never ends) and a huge sparse file (a read that eats the memory). Every command that
reads such a file treats it as unreadable, as it treats a corrupt one: a finding, a warning,
a sentence, or (a cache) nothing at all. Never a hang, never "internal error (MemoryError)".

One world (a managed env and an adopted venv, applied, with every cache filled) serves every
case; each case swaps one file for a shape, runs the commands that read it under a timeout
and a capped address space, and puts the file back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.store import layout, removals
from tests.helpers import Project, require_python, uv
from tests.wheels import make_wheel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX"),
]

WORLD = """\
[envs.serve]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[envs.legacy]
adopt = "legacy/.venv"
imports = ["gamma"]

[models.m1]
env = "serve"

[models.m2]
env = "legacy"
"""

HUGE = 8 << 30
"""Bigger than the address space a command may use (below): a read of it whole must fail."""


def _limit_memory() -> None:
    import resource  # POSIX only, as this module

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=folder,
            check=False,
            timeout=30,  # a FIFO read without the safe reader blocks forever
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`reconcile {' '.join(args)}` hung")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("unreadable") / "project"
    wheels = folder / "wheels"
    make_wheel(wheels, "alpha", "1.0", requires=["beta>=1.0"])
    make_wheel(wheels, "beta", "1.0")
    make_wheel(wheels, "gamma", "1.0")
    project = Project(folder=folder, wheels=wheels)
    uv("venv", "--quiet", "--python", str(require_python("3.11")), str(folder / "legacy/.venv"))
    project.install(folder / "legacy/.venv", "gamma==1.0")
    project.write(WORLD)
    for args in (("lock",), ("apply", "--yes"), ("plan",), ("verify",), ("which", "m1")):
        done = project.cli(*args)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
    done = project.cli("which", "m2")
    assert done.returncode == 0, done.stdout + done.stderr
    # an adopted venv holding a receipt (copied, or planted): read as any receipt is
    layout.receipt_path(folder / "legacy/.venv").write_text("{}", encoding="utf-8")
    # a journal of removals, as an interrupted removal leaves it
    removals.journal_path(project.root).write_text('{"entries": []}', encoding="utf-8")
    yield project


def _dist_info(env: Path, name: str) -> Path:
    (found,) = env.glob(f"lib/python*/site-packages/{name}-*.dist-info")
    return found


def _cache(kind: str) -> Callable[[Project], list[Path]]:
    def files(project: Project) -> list[Path]:
        found = sorted(p for p in (project.root / ".cache" / kind).iterdir() if p.is_file())
        assert found, f"no {kind} cache was written"
        return found

    return files


FILES: dict[str, tuple[Callable[[Project], list[Path]], tuple[tuple[str, ...], ...]]] = {
    "adopted_receipt": (
        lambda p: [layout.receipt_path(p.folder / "legacy/.venv")],
        (("plan",), ("apply",), ("status",), ("verify",)),
    ),
    "generation_receipt": (
        lambda p: [layout.receipt_path(p.root / "serve")],
        (("plan",), ("status",), ("verify",), ("which", "m1")),
    ),
    "metadata": (
        lambda p: [_dist_info(p.folder / "legacy/.venv", "gamma") / "METADATA"],
        (("plan",), ("status",), ("verify",)),
    ),
    "record": (
        lambda p: [_dist_info(p.folder / "legacy/.venv", "gamma") / "RECORD"],
        (("verify",), ("plan",)),
    ),
    "hash_cache": (_cache("hashes"), (("verify",), ("plan",), ("status",), ("which", "m1"))),
    "health_memo": (_cache("health"), (("which", "m1"), ("which", "m2"))),
    "plan_memo": (_cache("plans"), (("plan",),)),
    "verify_memo": (_cache("verify"), (("verify",),)),
    "bindings": (
        lambda p: [layout.bindings_path(p.root)],
        (("which", "m1"), ("plan",), ("status",)),
    ),
    "removals": (lambda p: [removals.journal_path(p.root)], (("gc", "--dry-run"), ("apply",))),
}

SENTENCES = {  # the one sentence a command stops with (elsewhere: findings or nothing)
    "bindings": "error: cannot read the applied bindings at ",
    "removals": "error: cannot read reconcile's record of removals at ",
}

CACHES = {"hash_cache": "hashes", "health_memo": "health", "plan_memo": "plans"}
CACHES["verify_memo"] = "verify"
FILLS = {"hashes": ("verify",), "health": ("which", "m1"), "plans": ("plan",)}
FILLS["verify"] = ("verify",)


def _shape(path: Path, shape: str) -> None:
    match shape:
        case "fifo":
            os.mkfifo(path)
        case "dev_zero":
            path.symlink_to("/dev/zero")
        case "huge":
            with path.open("wb") as handle:
                handle.truncate(HUGE)
        case _:
            raise AssertionError(f"no such shape: {shape}")


@pytest.mark.parametrize("shape", ["fifo", "dev_zero", "huge"])
@pytest.mark.parametrize("kind", sorted(FILES))
def test_a_file_that_is_not_a_small_regular_file_is_unreadable_never_a_hang(
    world: Project, kind: str, shape: str
) -> None:
    where, commands = FILES[kind]
    for own in ("plans", "health", "verify"):  # a replayed answer would read nothing
        if CACHES.get(kind) != own:
            shutil.rmtree(world.root / ".cache" / own, ignore_errors=True)
    if kind in CACHES:  # written again by the command that fills it
        shutil.rmtree(world.root / ".cache" / CACHES[kind], ignore_errors=True)
        time.sleep(1.1)  # nothing is remembered from inputs changed within the last second
        done = _run(world.folder, *FILLS[CACHES[kind]])
        assert done.returncode == 0, done.stdout + done.stderr
    targets = where(world)
    saved = [t.with_name(t.name + ".saved") for t in targets]
    for target, keep in zip(targets, saved, strict=True):
        target.rename(keep)
        _shape(target, shape)
    try:
        for args in commands:
            done = _run(world.folder, *args)
            said = done.stdout + done.stderr
            assert done.returncode in (0, 1, 2), (args, said)
            assert "internal error" not in said, (args, said)
            assert "Traceback" not in said, (args, said)
            # an apply with nothing to change never gets to the journal of removals
            if kind in SENTENCES and (done.returncode != 0 or args == commands[0]):
                assert done.returncode == 1, (args, said)
                assert done.stderr.startswith(SENTENCES[kind]), (args, said)
                assert len(done.stderr.strip().splitlines()) == 1, (args, said)
    finally:
        for target, keep in zip(targets, saved, strict=True):
            if target.is_symlink() or target.exists():
                target.unlink()
            keep.rename(target)


@pytest.mark.parametrize(
    "args", [("plan",), ("verify",), ("status",), ("which", "m1"), ("apply", "--yes"), ("lock",)]
)
def test_a_huge_sparse_manifest_is_refused_in_one_sentence_never_read_whole(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """The manifest is read by every command (and first by the plan memo's guess of the
    root): a huge regular file is refused by its size, never read into memory."""
    with (tmp_path / "envs.toml").open("wb") as handle:
        handle.truncate(HUGE)

    done = _run(tmp_path, *args)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "error: envs.toml is larger than 16 MiB, which no manifest is; pass --manifest with "
        "the path of envs.toml."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["envs.toml"]
