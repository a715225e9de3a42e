"""IO: replay a plan whose every input is unchanged, before any heavy import.

A plan is a function of files: the manifest, the lockfiles, the applied state, the root's
entries, and every file of every env it observed (pyvenv.cfg, interpreters, activation
scripts, receipts, dist-info folders, and each file RECORD lists). After a plan is computed,
the ``lstat`` identity of each of those paths (device, inode, mode, size, mtime and ctime in
nanoseconds, or "absent") is stored with the plan's output under
``<root>/.cache/plans/``. The next `plan` with the same arguments stats the same paths; when
every identity is unchanged it prints the stored output instead of observing again.

Why that is sound: any write to a file changes its mtime and ctime, replacing it changes its
inode, adding or removing a folder entry changes the folder's mtime, and nobody can set a
ctime back. Two precautions keep it so: a plan is stored only when every input is older than
one second before the plan started (a write in the same timestamp tick as the observation
would keep the identity), and the tool's own source files are inputs too, so a new version
of reconcile never replays an old one's output (nor another copy's: the key names the copy).
What the recorded paths do not cover: bytecode caches (``__pycache__``; not findings either,
SPEC 6, and Python recompiles a damaged one from its source), and the probe's view of things
outside the env (the base Python's standard library, system libraries an ``imports`` module
loads). `plan --deep` never replays, and nor does `plan --out`. The same identities and
racy rule (``identities``, ``unchanged``, ``write_memo``) keep gate.py's health verdicts.

Stdlib only: this module runs before pydantic, rich and networkx are imported, which is
the point.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from reconciler.errors import ReconcileError
from reconciler.files import CACHE_LIMIT, read_regular_bytes, write_atomic
from reconciler.store import layout
from reconciler.store.cachedir import cache_folder

TYPE_CHECKING = False  # typing itself is not imported: start-up is what this module saves
if TYPE_CHECKING:
    from typing import Any, TextIO

    from reconciler.platform import VenvLayout

FORMAT = 1
RACY_NS = 1_000_000_000
KEEP = 16
"""Stored plans kept per root (one per distinct command line and terminal)."""

DISABLE_ENV = "RECONCILE_NO_PLAN_CACHE"
_KEY_ENV = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES", "TTY_COMPATIBLE")

Identity = tuple[int, ...]


def _fields(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def identity(path: str) -> Identity | None:
    """The ``lstat`` identity of ``path`` (device, inode, mode, size, mtime_ns, ctime_ns);
    for a symlink, followed by the identity of what it leads to (a manifest or lockfile may be
    a link to a file edited in place), or -1 when that is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISLNK(st.st_mode):
        return _fields(st)
    try:
        return _fields(st) + _fields(Path(path).stat())
    except OSError:
        return (*_fields(st), -1)


def source_paths() -> list[str]:
    """reconcile's own source files: a new version never replays an old one's answer."""
    return [str(p) for p in sorted(Path(__file__).resolve().parent.glob("*.py"))]


def tool_paths() -> list[str]:
    """reconcile's own source files, the interpreter running it, and the folders its imports
    come from (installing or upgrading a dependency such as rich changes their entries)."""
    paths = [*source_paths(), os.path.realpath(sys.executable)]
    return paths + [entry for entry in sys.path if entry and Path(entry).is_dir()]


def memo_key(options: Mapping[str, str], stdout: TextIO) -> str:
    """What besides the inputs decides the output: the command's options, the working
    folder, the terminal, and the environment variables that change rendering."""
    tty = stdout.isatty()
    size = os.get_terminal_size(stdout.fileno()) if tty else None
    parts = {
        "format": FORMAT,
        "options": dict(options),
        "cwd": str(Path.cwd()),
        "python": sys.version,
        "tty": tty,
        "size": list(size) if size else None,
        "env": {k: os.environ.get(k) for k in _KEY_ENV},
        "tool": str(Path(__file__).resolve().parent),  # another copy never replays this one's
        "reconcile": {k: v for k, v in sorted(os.environ.items()) if k.startswith("RECONCILE_")},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def root_of(manifest: Path, root_override: Path | None) -> Path | None:
    """The root the manifest names, read with the stdlib TOML parser; ``None`` when that
    cannot be told cheaply (no tomllib, unreadable or invalid TOML) or the manifest is not a
    regular file (a pipe, ``--manifest <(git show ...)``, must be left whole for the real
    load, and has no identity worth remembering): then no replay."""
    try:
        if not stat.S_ISREG(manifest.stat().st_mode):
            return None
    except OSError:
        return None
    if root_override is not None:
        return root_override.absolute()
    try:  # by name: the type checker targets 3.10, which has no tomllib (then: no replay)
        tomllib = importlib.import_module("tomllib")
    except ModuleNotFoundError:
        return None
    try:
        # manifest.MANIFEST_LIMIT (not imported: too heavy here); the real load refuses more
        data = tomllib.loads(read_regular_bytes(manifest, 16 << 20).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # arrays nested deep
        return None
    settings = data.get("settings", {})
    root = settings.get("root", ".envs") if isinstance(settings, dict) else None
    if not isinstance(root, str) or "\x00" in root:  # the real load names what is wrong
        return None
    return manifest.absolute().parent / root


def memo_file(root: Path, key: str) -> Path | None:
    """Where the plan stored under ``key`` lives; ``None`` when the cache folder is a link."""
    folder = cache_folder(root, "plans")
    return None if folder is None else folder / f"{key}.json"


def unchanged(inputs: Iterable[Sequence[Any]]) -> bool:
    """Whether every ``[path, identity]`` pair that :func:`identities` gave still holds."""
    for path, known in inputs:
        now = identity(path)
        if (None if now is None else list(now)) != known:
            return False
    return True


def replay(root: Path, key: str, stdout: TextIO) -> int | None:
    """Print the stored output and return its exit code when every input is unchanged;
    ``None`` (nothing printed) otherwise."""
    if os.environ.get(DISABLE_ENV) == "1":
        return None
    try:
        path = memo_file(root, key)
    except (OSError, ReconcileError):  # the real plan names what is wrong with the root
        return None
    if path is None:
        return None
    try:
        memo = json.loads(read_regular_bytes(path, CACHE_LIMIT))
        if memo.get("format") != FORMAT or memo.get("key") != key:
            return None
        if not unchanged(memo["inputs"]):
            return None
        output, code = memo["stdout"], memo["code"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    stdout.write(output)
    stdout.flush()
    return int(code)


def store(
    root: Path, key: str, paths: Iterable[str], output: str, code: int, started_ns: int
) -> bool:
    """Store a computed plan's output with the identities of its inputs; skipped (False)
    when an input changed within a second before the plan started, or the root is absent
    or not writable. Never raises for a filesystem problem."""
    if os.environ.get(DISABLE_ENV) == "1" or not root.is_dir():
        return False
    inputs = identities(set(paths) | set(tool_paths()), started_ns)
    if inputs is None:
        return False
    memo = {"format": FORMAT, "key": key, "inputs": inputs, "stdout": output, "code": code}
    target = memo_file(root, key)
    return target is not None and write_memo(target, memo, KEEP)


def identities(paths: Iterable[str], started_ns: int) -> list[list[Any]] | None:
    """``[path, identity]`` of each path (sorted; ``None`` for an absent one), to store with
    an answer computed from them; ``None`` when one of them changed within ``RACY_NS`` before
    ``started_ns`` (the racy rule: such an answer could be replayed after a later change that
    kept the identity)."""
    inputs: list[list[Any]] = []
    limit = started_ns - RACY_NS
    for path in sorted(set(paths)):
        found = identity(path)
        # a symlink's identity ends with its target's: both must be old enough
        if found is not None and max(found[4:6] + found[10:12]) >= limit:
            return None
        inputs.append([path, None if found is None else list(found)])
    return inputs


def write_memo(target: Path, memo: Mapping[str, Any], keep: int) -> bool:
    """Write a memo atomically and keep only the ``keep`` newest in its folder; False (and
    nothing raised) when the folder is not writable."""
    try:
        write_atomic(target, json.dumps(memo, separators=(",", ":")))
        _prune(target.parent, keep)
    except OSError:
        return False
    return True


def _prune(folder: Path, keep: int) -> None:
    memos = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in memos[keep:]:
        old.unlink(missing_ok=True)


class Tee(io.TextIOBase):
    """A stdout that also keeps what was written, and still looks like the terminal."""

    def __init__(self, real: TextIO) -> None:
        super().__init__()
        self.real = real
        self.kept = io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.real.write(text)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.real.encoding

    def getvalue(self) -> str:
        return self.kept.getvalue()


def env_paths(
    path: str,
    real: str | None,
    pyvenv_cfg: Mapping[str, str] | None,
    *,
    venv: VenvLayout,
    parent: bool = True,
) -> list[str]:
    """The paths of one env that observation reads, besides its RECORD-listed files.
    ``parent``: also the folder holding ``path`` (whose entries tell that it appeared)."""
    paths = [path, str(Path(path).parent)] if parent else [path]
    if real is None:
        return paths
    base = Path(real)
    python = venv.interpreter(base)
    paths += [
        real,
        str(base / "pyvenv.cfg"),
        str(base / layout.RECEIPT_NAME),
        str(python.parent),
        str(python),
        os.path.realpath(python),
    ]
    paths += [str(base / script) for script in venv.activation]
    home = (pyvenv_cfg or {}).get("home")
    if home:
        paths.append(home)
    return paths
