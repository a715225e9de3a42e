"""IO: the stat identity of the files an answer was drawn from, and the racy rule.

Every memo here stores an answer with the ``lstat`` identity of each path it was computed
from (device, inode, mode, size, mtime and ctime in nanoseconds, or "absent") and gives it
back only while every identity is unchanged. Why that is sound: any write to a file changes
its mtime and ctime, replacing it changes its inode, adding or removing a folder entry changes
the folder's mtime, and nobody can set a ctime back. The racy rule keeps it so: an answer is
stored only when every input is older than ``RACY_NS`` before the answer was started (a write
in the same timestamp tick as the reading would keep the identity). reconcile's own source
files are inputs too, so a new version never answers with an old one's memo.

Stdlib only: the memos run before pydantic, rich and networkx are imported.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.files import racy, write_atomic
from reconciler.memo.stamps import Identity as Identity
from reconciler.memo.stamps import identity as identity
from reconciler.memo.stamps import unchanged as unchanged
from reconciler.store import layout

TYPE_CHECKING = False  # typing itself is not imported: start-up is what the memos save
if TYPE_CHECKING:
    from typing import Any

    from reconciler.platform import VenvLayout


def source_paths() -> list[str]:
    """reconcile's own source files, in every subpackage: a new version never replays an old
    one's answer."""
    package = Path(__file__).resolve().parent.parent
    return [str(p) for p in sorted(package.rglob("*.py"))]


def tool_paths() -> list[str]:
    """reconcile's own source files, the interpreter running it, and the folders its imports
    come from (installing or upgrading a dependency such as rich changes their entries)."""
    paths = [*source_paths(), os.path.realpath(sys.executable)]
    return paths + [entry for entry in sys.path if entry and Path(entry).is_dir()]


def identities(paths: Iterable[str], started_ns: int) -> list[list[Any]] | None:
    """``[path, identity]`` of each path (sorted; ``None`` for an absent one), to store with
    an answer computed from them; ``None`` when one of them changed within ``RACY_NS`` before
    ``started_ns`` (the racy rule: such an answer could be replayed after a later change that
    kept the identity)."""
    inputs: list[list[Any]] = []
    for path in sorted(set(paths)):
        found = identity(path)
        # a symlink's identity ends with its target's: both must be old enough
        if found is not None and racy(started_ns, *found[4:6], *found[10:12]):
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
