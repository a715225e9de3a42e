"""IO: replay a plan whose every input is unchanged, before any heavy import.

A plan is a function of files: the manifest, the lockfiles, the applied state, the root's
entries, every file of every env it observed (pyvenv.cfg, interpreters, activation
scripts, receipts, dist-info folders, and each file RECORD lists), and, for an env it builds,
the folders searched for its Python (observe.pythons.lookup_paths: installing or removing one
changes their entries) and the interpreter found. After a plan is computed,
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
loads). `plan --deep` never replays, and nor does `plan --out`. The identities and the racy
rule are ``memo.identity``'s, which the health verdicts and the verify scope use too.

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
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.errors import ReconcileError
from reconciler.files import CACHE_LIMIT, load_json, read_regular_bytes
from reconciler.memo.identity import identities, tool_paths, unchanged, write_memo
from reconciler.observe import pep514
from reconciler.spec.rootline import settings_root
from reconciler.store.cachedir import cache_folder

TYPE_CHECKING = False  # typing itself is not imported: start-up is what this module saves
if TYPE_CHECKING:
    from typing import TextIO

FORMAT = 1
KEEP = 16
"""Stored plans kept per root (one per distinct command line and terminal)."""

DISABLE_ENV = "RECONCILE_NO_PLAN_CACHE"
_KEY_ENV = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES", "TTY_COMPATIBLE")
# Where observe.pythons looks for the Python of an env a plan builds: another PATH may find
# another interpreter (the folders themselves are inputs of such a plan).
_PYTHON_ENV = ("PATH", "PYENV_ROOT", "UV_PYTHON_INSTALL_DIR", "XDG_DATA_HOME", "HOME", "APPDATA")


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
        "env": {k: os.environ.get(k) for k in _KEY_ENV + _PYTHON_ENV},
        "registry": pep514.registered(),  # Windows: a Python registered at a folder of its own
        "tool": str(Path(__file__).resolve().parent),  # another copy never replays this one's
        "reconcile": {k: v for k, v in sorted(os.environ.items()) if k.startswith("RECONCILE_")},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def root_of(manifest: Path, root_override: Path | None) -> Path | None:
    """The root the manifest names, told from its text (``spec.rootline``) or read with the
    stdlib TOML parser; ``None`` when that cannot be told cheaply (no tomllib, unreadable or
    invalid TOML) or the manifest is not a regular file (a pipe, ``--manifest <(git show
    ...)``, must be left whole for the real load, and has no identity worth remembering):
    then no replay."""
    try:
        if not stat.S_ISREG(manifest.stat().st_mode):
            return None
    except OSError:
        return None
    if root_override is not None:
        return root_override.absolute()
    try:
        # manifest.MANIFEST_LIMIT (not imported: too heavy here); the real load refuses more
        text = read_regular_bytes(manifest, 16 << 20).decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    root = settings_root(text)  # without a TOML parser: importing one costs a cached verify
    if root is None:  # not plain enough to tell so: ask the parser
        try:  # by name: the type checker targets 3.10, which has no tomllib (then: no replay)
            tomllib = importlib.import_module("tomllib")
        except ModuleNotFoundError:
            return None
        try:
            data = tomllib.loads(text)
        except (ValueError, RecursionError):  # arrays nested deep
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


def plan_slot(options: Mapping[str, object], stdout: TextIO) -> tuple[Path, str] | None:
    """Where `plan` with these parsed arguments is remembered: its root and key, for
    :func:`replay` and :func:`store`; ``None`` when it is never replayed (``--out`` and
    ``--deep`` always observe afresh) or its root cannot be told cheaply."""
    if options.get("out") is not None or options.get("deep"):
        return None
    manifest, override = options["manifest"], options["root"]
    assert isinstance(manifest, Path) and (override is None or isinstance(override, Path))
    root = root_of(manifest, override)
    if root is None:
        return None
    key = memo_key({k: str(v) for k, v in sorted(options.items()) if k != "verbose"}, stdout)
    return root, key


def replay(root: Path, key: str) -> tuple[str, int] | None:
    """The stored output and its exit code when every input is unchanged; ``None``
    otherwise."""
    if os.environ.get(DISABLE_ENV) == "1":
        return None
    try:
        path = memo_file(root, key)
    except (OSError, ReconcileError):  # the real plan names what is wrong with the root
        return None
    if path is None:
        return None
    try:
        memo = load_json(read_regular_bytes(path, CACHE_LIMIT))
        if memo.get("format") != FORMAT or memo.get("key") != key:
            return None
        if not unchanged(memo["inputs"]):
            return None
        output, code = memo["stdout"], memo["code"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(output, str):
        return None
    return output, int(code)


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
