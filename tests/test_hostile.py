"""The hostile-input suite: whatever a pull request writes into envs.toml or a lockfile, and
whatever a RECORD in an adopted venv says, every command answers with exit 0, 1 or 2, without
a traceback or "internal error", never shows a secret, and reads, writes or removes nothing
outside the folders it may use: the manifest's folder, the root, the adopted venvs, the uv
cache and the Python installation it runs from.

The last point is checked in-process: a ``sys.addaudithook`` hook records the path of every
``open`` and ``os.*``/``shutil.*`` path event while a command runs, and each one is resolved
(links followed) and compared with the allowed folders. A command that would block (a FIFO
opened for reading) is stopped by an alarm and fails the example.

The world of each example: ``outside/`` holds a secret, a FIFO and a folder; ``project/``
holds the manifest, lockfiles, a tiny wheelhouse, a FIFO, links that point out, a ``.env``
with a secret, and an adopted venv. Hypothesis picks which manifest key gets which hostile
value; explicit examples pin the shapes that broke before.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import stat
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from reconciler.cli.app import main
from tests.helpers import require_python, uv
from tests.plan_mutations import mutations
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow  # a legacy venv built with the real uv; runs every command

SECRET = "RECONCILE-HOSTILE-SECRET-7f3a"  # noqa: S105  a marker to look for, not a password
CANARY_ENV = "RECONCILE_HOSTILE_CANARY"
CANARY = "RECONCILE-CANARY-IN-THE-ENVIRONMENT-91c2"
PASSWD_MARK = "root:x:0:0"  # noqa: S105  the first line of /etc/passwd

# ---------------------------------------------------------------------------------------------
# Watching what a command touches


@dataclass(frozen=True)
class Touch:
    event: str
    path: str
    writes: bool


_RECORDING: list[list[Touch]] = []
_READS = {"os.listdir", "os.scandir", "os.chdir"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "open": (0,),
    "os.remove": (0,),
    "os.unlink": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.symlink": (1,),
    "os.link": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "os.listdir": (0,),
    "os.scandir": (0,),
    "os.chdir": (0,),
    "shutil.rmtree": (0,),
    "shutil.move": (0, 1),
    "shutil.copyfile": (0, 1),
}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _RECORDING:
        return
    where = _PATH_EVENTS.get(event)
    if where is None:
        return
    if event == "open":
        mode, flags = (*args, None, 0)[1:3]
        writes = bool(set(mode or "") & set("wax+")) or bool((flags or 0) & _WRITE_FLAGS)
    else:
        writes = event not in _READS
    for index in where:
        if index < len(args):
            value = args[index]
            if isinstance(value, bytes):
                value = os.fsdecode(value)
            if isinstance(value, (str, os.PathLike)):
                _RECORDING[-1].append(Touch(event, os.fspath(value), writes))


sys.addaudithook(_hook)


class Hang(BaseException):
    """A command blocked (a FIFO opened for reading, a device read to its end)."""


@contextlib.contextmanager
def recording(seconds: float) -> Iterator[list[Touch]]:
    touches: list[Touch] = []

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"the command blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    # A command that reads /dev/zero or a sparse 3 GiB file to its end would take the
    # machine's memory: cap this process's address space while it runs (MemoryError instead).
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + MEMORY_HEADROOM, hard))
    _RECORDING.append(touches)
    try:
        yield touches
    finally:
        _RECORDING.pop()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


MEMORY_HEADROOM = 2 * 1024**3


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux)."""
    with Path("/proc/self/statm").open(encoding="ascii") as handle:
        pages = int(handle.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    return any(path == f or path.is_relative_to(f) for f in folders)


# ---------------------------------------------------------------------------------------------
# The world


@dataclass(frozen=True)
class World:
    top: Path
    project: Path
    outside: Path
    cache: Path

    @property
    def manifest(self) -> Path:
        return self.project / "envs.toml"

    def writable(self, root: Path | None, adopted: Path | None) -> tuple[Path, ...]:
        """Where a command may write: the project, the root, the uv cache, the adopted venv,
        and the user's cache folder (where envs with no root keep their hash cache)."""
        user_cache = Path(os.environ["RECONCILE_CACHE_DIR"])  # tests/conftest.py sets it
        folders = [self.project.resolve(), self.cache.resolve(), user_cache.resolve()]
        folders += [p for p in (root, adopted) if p is not None]
        return tuple(folders)

    def readable(self, root: Path | None, adopted: Path | None) -> tuple[Path, ...]:
        """Where it may also read: its own installation and where interpreters are found."""
        folders = list(self.writable(root, adopted))
        for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
            folders.append(Path(prefix).resolve())
        for name in ("stdlib", "platstdlib", "purelib", "platlib"):
            folders.append(Path(sysconfig.get_paths()[name]).resolve())
        folders += [Path(p).resolve() for p in sys.path if p and Path(p).is_dir()]
        folders += [Path(p).resolve() for p in os.get_exec_path() if p]
        pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
        folders.append(Path(pyenv).resolve())
        return tuple(folders)


def _snapshot(folder: Path, skip: Path | None = None) -> dict[str, tuple[int, int, bytes | None]]:
    """Mode, size and content of everything under ``folder`` (except under ``skip``)."""
    seen: dict[str, tuple[int, int, bytes | None]] = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and _inside(path, (skip,)):
            continue
        info = path.lstat()
        content = None
        if stat.S_ISREG(info.st_mode) and info.st_size < 1_000_000:
            content = path.read_bytes()
        seen[str(path.relative_to(folder))] = (info.st_mode, info.st_size, content)
    return seen


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a locked env, an adopted venv and its hostile neighbours, made once."""
    python = require_python("3.11")
    top = tmp_path_factory.mktemp("hostile-template")
    project = top / "project"
    wheels = project / "wheels"
    make_wheel(wheels, "alpha", "1.0")
    (project / "lockfiles").mkdir(parents=True)
    adopted = project / "legacy" / ".venv"
    uv("venv", "--quiet", "--python", str(python), str(adopted))
    uv(
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheels),
        "--python",
        str(adopted / "bin" / "python"),
        "alpha==1.0",
    )
    (project / "envs.toml").write_text(_manifest({}), encoding="utf-8")
    with _uv_cache(top / "uv-cache"):
        assert main(["--manifest", str(project / "envs.toml"), "lock"]) == 0
    return top


@contextlib.contextmanager
def _uv_cache(cache: Path) -> Iterator[None]:
    before = os.environ.get("UV_CACHE_DIR")
    os.environ["UV_CACHE_DIR"] = str(cache)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("UV_CACHE_DIR", None)
        else:
            os.environ["UV_CACHE_DIR"] = before


def _make_world(template: Path, into: Path) -> World:
    top = into
    shutil.copytree(template, top, symlinks=True)
    project, outside = top / "project", top / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"SECRET={SECRET}\n", encoding="utf-8")
    (outside / "folder").mkdir()
    (outside / "folder" / "x.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    os.mkfifo(outside / "fifo")
    os.mkfifo(project / "fifo-in")
    (project / ".env").write_text(f"API_TOKEN={SECRET}\n", encoding="utf-8")
    (project / "link-out").symlink_to(outside / "secret.txt")
    (project / "dir-out").symlink_to(outside / "folder", target_is_directory=True)
    (project / "loop").symlink_to(project / "loop")
    with (project / "huge.txt").open("wb") as handle:  # sparse: 3 GiB of nothing
        handle.truncate(3 * 1024**3)
    return World(top=top, project=project, outside=outside, cache=top / "uv-cache")


# ---------------------------------------------------------------------------------------------
# Manifests


HOSTILE_PATHS = (
    "/proc/self/environ",
    "/etc/passwd",
    "../outside/secret.txt",
    "../outside/fifo",
    "../outside/folder",
    "link-out",
    "dir-out",
    "dir-out/x.txt",
    "fifo-in",
    "/dev/zero",
    "/dev/null",
    ".env",
    "huge.txt",
    "loop",
    "lockfiles",
    ".",
    "",
    "a\x00b",
    "q'uote\"d/x.txt",
    "with:colon",
    "hash#mark",
    "percent%20",
    "new\nline",
    "back\\slash",
    "~/x",
    "$HOME/x",
    "legacy/.venv",
    "legacy/.venv/bin/python",
    "envs.toml",
    "/",
    "..",
    "file:///etc",
    "file:../outside/folder",
)

hostile_path = st.sampled_from(HOSTILE_PATHS) | st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs", "Cc")),
    max_size=12,
)

KEYS = ("lockfile", "lockfiles", "root", "find_links", "adopt", "verify_ignore", "python")


def _toml_string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _manifest(hostile: dict[str, str], nesting: int = 0) -> str:
    """A manifest with one managed env ``serving``, one adopted env ``legacy`` and one model,
    where ``hostile`` replaces (or adds) the value of some keys."""
    settings_lines = [
        f"root = {_toml_string(hostile.get('root', '.envs'))}",
        f"lockfiles = {_toml_string(hostile.get('lockfiles', 'lockfiles'))}",
        f"verify_ignore = [{_toml_string(hostile.get('verify_ignore', 'x/*.txt'))}]",
    ]
    find_links = _toml_string(hostile.get("find_links", "wheels"))
    imports = "[" * nesting + '"alpha"' + "]" * nesting if nesting else '["alpha"]'
    serving = [
        f"python = {_toml_string(hostile.get('python', '3.11'))}",
        'requirements = ["alpha==1.0"]',
        f"imports = {imports}",
    ]
    if "lockfile" in hostile:
        serving.append(f"lockfile = {_toml_string(hostile['lockfile'])}")
    adopt = _toml_string(hostile.get("adopt", "legacy/.venv"))
    return "\n".join(
        [
            "[settings]",
            *settings_lines,
            "[settings.sources]",
            f"find_links = [{find_links}]",
            "no_index = true",
            "[envs.serving]",
            *serving,
            "[envs.legacy]",
            f"adopt = {adopt}",
            'imports = ["alpha"]',
            '[models."chat"]',
            'env = "serving"',
            'fallback = "legacy"',
            "",
        ]
    )


COMMANDS: tuple[tuple[str, ...], ...] = (
    ("lock", "--check"),
    ("plan",),
    ("plan", "--format", "json"),
    ("verify",),
    ("status",),
    ("gc", "--dry-run"),
    ("diff", "envs.toml"),
    ("which", "chat"),
    ("lock",),
    ("apply", "--yes"),
    ("run", "chat", "--", "true"),
    ("rollback", "serving"),
    ("gc",),
)


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    touches: tuple[Touch, ...]


def _run(world: World, args: tuple[str, ...]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(world.project)
    try:
        with (
            _uv_cache(world.cache),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            recording(30.0) as touches,
        ):
            code = main(["--manifest", str(world.manifest), *args])
    except Hang as hang:
        pytest.fail(f"`reconcile {' '.join(args)}` hung: {hang}\n{err.getvalue()}")
    finally:
        os.chdir(before)
    return Outcome(code, out.getvalue(), err.getvalue(), tuple(touches))


def _resolved(world: World, value: str) -> Path | None:
    """Where a manifest path value points (links followed), or None if it cannot."""
    if "\x00" in value:
        return None
    try:
        return (world.project / value).resolve()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a link loop (Python < 3.13)
        return None


def _root_of(world: World, hostile: dict[str, str]) -> Path | None:
    return _resolved(world, hostile.get("root", ".envs"))


def _check(
    world: World,
    args: tuple[str, ...],
    outcome: Outcome,
    root: Path | None,
    adopted: Path | None = None,
) -> None:
    said = f"`reconcile {' '.join(args)}` exited {outcome.code}\n{outcome.err}"
    assert outcome.code in (0, 1, 2), said
    assert "Traceback" not in outcome.err, said
    assert "internal error" not in outcome.err, said
    for text in (outcome.out, outcome.err):
        assert SECRET not in text, said
        assert CANARY not in text, said
        assert PASSWD_MARK not in text, said
    if adopted is None:
        adopted = (world.project / "legacy" / ".venv").resolve()
    readable, writable = world.readable(root, adopted), world.writable(root, adopted)
    for touch in outcome.touches:
        if touch.path in ("/dev/null", "/dev/urandom", "/dev/tty"):
            continue
        try:
            real = Path(os.path.realpath(world.project / touch.path))
        except (OSError, ValueError):
            continue
        own = ("/proc/self/fd", "/proc/self/stat", f"/proc/{os.getpid()}/")
        if not touch.writes and str(real).startswith(own) and "environ" not in str(real):
            continue
        if _lock_work_folder(real):
            continue
        allowed = writable if touch.writes else readable
        assert _inside(real, allowed), f"{said}\n{touch.event} {touch.path} -> {real}"


def _lock_work_folder(path: Path) -> bool:
    """Whether ``path`` is in a work folder `lock` made for uv with ``tempfile.mkdtemp`` (a
    fresh name in the system's temporary folder, whatever the manifest says)."""
    temp = Path(tempfile.gettempdir()).resolve()
    if not path.is_relative_to(temp):
        return False
    parts = path.relative_to(temp).parts
    return bool(parts) and parts[0].startswith("reconcile-lock-")


HOSTILE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

known_bad = {key: [{key: value} for value in HOSTILE_PATHS] for key in KEYS}


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
@HOSTILE
@given(hostile=st.dictionaries(st.sampled_from(KEYS), hostile_path, min_size=1, max_size=2))
@example(hostile={"lockfile": "/proc/self/environ"})
@example(hostile={"lockfile": "/etc/passwd"})
@example(hostile={"lockfile": "../outside/secret.txt"})
@example(hostile={"lockfile": "link-out"})
@example(hostile={"lockfile": "fifo-in"})
@example(hostile={"lockfile": "../outside/fifo"})
@example(hostile={"lockfile": "/dev/zero"})
@example(hostile={"lockfile": ".env"})
@example(hostile={"lockfile": "huge.txt"})
@example(hostile={"lockfile": "loop"})
@example(hostile={"lockfiles": "dir-out"})
@example(hostile={"lockfiles": "../outside/folder"})
@example(hostile={"root": "a\x00b"})
@example(hostile={"root": "with:colon"})
@example(hostile={"root": "q'uote\"d"})
@example(hostile={"find_links": "../outside/folder"})
@example(hostile={"find_links": "hash#mark"})
@example(hostile={"adopt": "../outside/folder"})
@example(hostile={"adopt": "a\x00b"})
@example(hostile={"lockfile": "envs.toml"})
@example(hostile={"lockfile": "legacy/.venv/pyvenv.cfg"})
@example(hostile={"root": "."})
@example(hostile={"root": ".."})
@example(hostile={"root": "/"})
@example(hostile={"find_links": "file:///etc"})
@example(hostile={"find_links": "file:../outside/folder"})
def test_no_manifest_makes_a_command_leak_hang_crash_or_step_outside(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    hostile: dict[str, str],
) -> None:
    monkeypatch.setenv(CANARY_ENV, CANARY)
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    world.manifest.write_text(_manifest(hostile), encoding="utf-8")
    root = _root_of(world, hostile)  # the root may be anywhere: it is the user's to choose
    outside_before = _snapshot(world.outside, skip=root)
    project_before = _snapshot(world.project, skip=root)
    outcome = _run(world, args)
    adopted = _resolved(world, hostile.get("adopt", "legacy/.venv"))
    _check(world, args, outcome, root, adopted)
    assert _snapshot(world.outside, skip=root) == outside_before
    # No file of the project is changed, but the lockfile reconcile wrote (`lock` rewrites
    # it): not .env, not the manifest, not the adopted venv, whatever `lockfile` names.
    project_after = _snapshot(world.project, skip=root)
    changed = [
        name
        for name, before in project_before.items()
        if project_after.get(name) != before and name != "lockfiles/serving.txt"
    ]
    assert not changed, f"`reconcile {' '.join(args)}` changed {changed}\n{outcome.err}"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_manifest_nested_deeper_than_python_recurses_is_one_sentence(
    template: Path, tmp_path_factory: pytest.TempPathFactory, args: tuple[str, ...]
) -> None:
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    world.manifest.write_text(_manifest({}, nesting=5000), encoding="utf-8")
    before = _snapshot(world.project)
    outcome = _run(world, args)
    _check(world, args, outcome, _root_of(world, {}))
    assert outcome.code == 1, outcome.err
    assert len(outcome.err.strip().splitlines()) <= 3, outcome.err
    assert _snapshot(world.project) == before


LOCK_BODIES = (
    f"SECRET={SECRET}\n",
    f"{SECRET}==1.0 \\\n    --hash=sha256:{'0' * 64}\n",
    f"alpha==1.0 --index-url https://user:{SECRET}@example.invalid/simple\n",
    f"-e ./{SECRET}\n",
    f"alpha @ file:///{SECRET}\n",
    "alpha==1.0 \\\n",
    "\x00\x01\x02",
    "alpha==1.0; " + "(" * 2000 + "python_version > '3'" + ")" * 2000 + "\n",
)


@pytest.mark.parametrize("command", [("lock", "--check"), ("plan",), ("diff", "envs.toml")])
@HOSTILE
@given(body=st.sampled_from(LOCK_BODIES) | st.text(max_size=200), keep_header=st.booleans())
def test_no_lockfile_body_is_echoed_or_crashes_a_command(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    command: tuple[str, ...],
    body: str,
    keep_header: bool,
) -> None:
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    lockfile = world.project / "lockfiles" / "serving.txt"
    header = [line for line in lockfile.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
    text = ("\n".join(header) + "\n" if keep_header else "") + body
    lockfile.write_text(text, encoding="utf-8", errors="surrogateescape")
    outcome = _run(world, command)
    _check(world, command, outcome, _root_of(world, {}))
    assert outcome.code in (1, 2) or body.strip() == "", outcome.err


RECORD_ROWS = (
    "../../../../outside/secret.txt,sha256=AAAA,10",
    "/etc/passwd,,",
    "../../../../../proc/self/environ,,",
    "alpha/__init__.py,sha256=,-1",
    "alpha/__init__.py,sha256=" + "A" * 43 + ",99999999999999999999",
    '"unterminated,quote',
    "\x00,,",
    "alpha/" + "x" * 5000 + ",,",
    "C:\\Windows\\system.ini,,",
    "\\\\server\\share\\x,,",
    "alpha/../../../../../../outside/folder/x.txt,sha256=AAAA,1",
)


@pytest.mark.parametrize("command", [("verify",), ("plan",), ("status",)])
@HOSTILE
@given(rows=st.lists(st.sampled_from(RECORD_ROWS) | st.text(max_size=60), max_size=6))
def test_no_record_in_an_adopted_venv_makes_a_command_step_outside(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    command: tuple[str, ...],
    rows: list[str],
) -> None:
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    site = next((world.project / "legacy" / ".venv" / "lib").glob("python*/site-packages"))
    record = next(site.glob("alpha-*.dist-info")) / "RECORD"
    record.write_text("\n".join(rows) + "\n", encoding="utf-8", errors="surrogateescape")
    (world.project / "legacy" / ".venv" / "link-out").symlink_to(world.outside / "secret.txt")
    outcome = _run(world, command)
    _check(world, command, outcome, _root_of(world, {}))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_sound_manifest_passes_the_same_checks(
    template: Path, tmp_path_factory: pytest.TempPathFactory, args: tuple[str, ...]
) -> None:
    """The checks above are not vacuous: a sound manifest runs every command to a normal end
    (the managed env is not built: verify finds it missing, which has nothing applied)."""
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    outcome = _run(world, args)
    _check(world, args, outcome, _root_of(world, {}))
    assert outcome.touches, "the audit hook saw nothing"
    expected = {"lock": 0, "plan": 0, "verify": 2, "status": 0, "gc": 0, "diff": 0, "which": 1}
    expected |= {"apply": 0, "run": 1, "rollback": 1}
    assert outcome.code == expected[args[0]], outcome.err


@HOSTILE
@given(data=st.data())
def test_no_saved_plan_makes_apply_leak_hang_crash_or_step_outside(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    world = _make_world(template, tmp_path_factory.mktemp("w") / "world")
    saved = _run(world, ("plan", "--out", "saved.json"))  # it creates serving, binds chat
    assert saved.code == 0, saved.err
    plan = json.loads((world.project / "saved.json").read_text(encoding="utf-8"))
    mutated = data.draw(mutations(plan))
    (world.project / "mutated.json").write_bytes(mutated)
    outside_before = _snapshot(world.outside)
    outcome = _run(world, ("apply", "--yes", "mutated.json"))
    _check(world, ("apply", "--yes", "mutated.json"), outcome, _root_of(world, {}))
    assert _snapshot(world.outside) == outside_before
    event(f"exit {outcome.code}")
    if outcome.code != 0:
        assert len(outcome.err.strip().splitlines()) == 1, outcome.err
        assert not (world.project / ".envs" / ".generations").exists(), outcome.err
