"""IO: remember the env `which`, `run` and ``resolve()`` handed out for a model, and hand it
out again while nothing the answer was drawn from has changed.

They sit on every model's start, and the full answer loads and validates the manifest
(pydantic) and imports the health gate: over a hundred milliseconds. The answer is a function
of files: the manifest, the applied state and the root's own folders, the env's link and
generation, and everything the env's health verdict (``memo.verdicts``) was drawn from. So
after the full path hands out a model's own env, the answer is stored under
``<root>/.cache/which/`` with the ``lstat`` identity of each of those paths, and the next call
for the same model, manifest and ``--root`` gives it from there while every identity holds:
a few hundred ``lstat`` calls, no hashing, no process. A fallback is never stored (the full
path says why the env was passed over, every time). The racy rule is ``memo.identity``'s.

:func:`recall` is the path every model start takes, so it imports only ``os``, ``json`` and
what ``sys`` already holds: the root comes from ``spec.rootline``, not from a TOML parser
(``None`` when that cannot tell it: then the full path answers). ``RECONCILE_NO_PLAN_CACHE=1``
turns this memo off too.
"""

from __future__ import annotations

import json
import os
import stat

from reconciler.memo.stamps import unchanged
from reconciler.spec.rootline import settings_root

TYPE_CHECKING = False  # typing itself is not imported: start-up is what this memo saves
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path
    from typing import Any

FORMAT = 1
KEEP = 256
"""Answers kept per root: one per model (and manifest path and ``--root``) asked for."""

DISABLE_ENV = "RECONCILE_NO_PLAN_CACHE"  # memo.replay's, which imports too much to share it
_LIMIT = 16 << 20  # a manifest, or a memo of this many bytes, is not one to read here

Answer = tuple[str, str, str, "str | None"]
"""What was handed out: ``(env_key, python, env_dir, generation)``, paths absolute."""


def _read(path: str) -> bytes:
    """A small regular file's bytes; ``OSError`` for anything else (a FIFO is never waited
    on, a link is never followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _LIMIT:
            raise OSError(f"{path} is not a small regular file")
        return os.read(fd, _LIMIT + 1)
    finally:
        os.close(fd)


def as_read(path: str) -> str:
    """``path`` made absolute and free of ``.`` and ``..`` components, naming what the system
    reads there: the part up to its last ``..`` is replaced by its real path, the rest kept as
    spelled. POSIX takes ``link/..`` through the link, so removing ``..`` as text
    (``os.path.abspath``) may name another file; Windows removes it as text, and so does its
    ``realpath`` before resolving."""
    parts = path.replace(os.altsep, os.sep).split(os.sep) if os.altsep else path.split(os.sep)
    if os.pardir not in parts:
        return os.path.abspath(path)
    last = len(parts) - parts[::-1].index(os.pardir)
    head = os.path.realpath(os.sep.join(parts[:last]))
    return os.path.normpath(os.path.join(head, *parts[last:]))


FOLDER = "which"
"""The folder under ``<root>/.cache`` the answers are kept in."""


def _root(manifest: str, root_override: str | None) -> str | None:
    """The root the answers for this manifest are kept under; ``None`` when it cannot be told
    cheaply (the manifest is not a plain file of plain TOML)."""
    if root_override is not None:
        return as_read(root_override)
    try:
        text = _read(os.path.realpath(manifest)).decode("utf-8")
    except (OSError, ValueError):  # ValueError: a NUL byte in the path, or not UTF-8
        return None
    root = settings_root(text)
    return None if root is None else as_read(os.path.join(os.path.dirname(as_read(manifest)), root))


def _memo_file(root: str, model: str) -> str | None:
    """Where the answer for ``model`` is kept; ``None`` when a cache folder on the way is a
    link (never used through one) or cannot be looked at."""
    folder = root
    for part in (".cache", FOLDER):
        folder = os.path.join(folder, part)
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                return None
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return None
    # the name only spreads the models over files; the document says whose answer it is
    return os.path.join(folder, model.encode("utf-8").hex()[:128] + ".json")


def _whose(manifest: str, root_override: str | None, model: str) -> dict[str, Any]:
    """What an answer is for: another manifest, ``--root``, model or copy of reconcile never
    takes it."""
    return {
        "manifest": as_read(manifest),
        "root": None if root_override is None else as_read(root_override),
        "model": model,
        "tool": os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
    }


def recall(manifest: str, root_override: str | None, model: str) -> Answer | None:
    """The answer stored for ``model`` when none of its inputs changed; ``None`` otherwise
    (then resolve in full, and :func:`remember`). Never raises for a bad cache."""
    if os.environ.get(DISABLE_ENV) == "1":
        return None
    try:
        root = _root(manifest, root_override)
        memo = None if root is None else _memo_file(root, model)
        if root is None or memo is None:
            return None
        document = json.loads(_read(memo))
        if document.get("format") != FORMAT or document.get("for") != _whose(
            manifest, root_override, model
        ):
            return None
        env_key, python, env_dir, generation = document["answer"]
        if not all(isinstance(s, str) for s in (env_key, python, env_dir)):
            return None
        if not (generation is None or isinstance(generation, str)):
            return None
        if not _drawn_from(document["inputs"], manifest, root, python, env_dir):
            return None
        if not unchanged(document["inputs"]):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, MemoryError):
        return None
    return env_key, python, env_dir, generation


def _drawn_from(inputs: list[Any], manifest: str, root: str, python: str, env_dir: str) -> bool:
    """Whether an answer's inputs name what every answer is drawn from: the manifest, the
    applied bindings, the env handed out and its interpreter (in that env). An answer that
    does not list them (a hand-made or damaged entry) is never trusted."""
    paths = {pair[0] for pair in inputs}
    bindings = os.path.join(root, ".state", "bindings.json")  # store.layout's: not imported
    return python.startswith(env_dir + os.sep) and paths.issuperset(
        (as_read(manifest), bindings, env_dir, python)
    )


def remember(
    manifest: Path,
    root_override: Path | None,
    model: str,
    answer: Answer,
    inputs: Iterable[str],
    verdict_inputs: Iterable[Any],
    started_ns: int,
) -> bool:
    """Store ``answer`` for ``model``, drawn from the paths ``inputs`` by a resolution that
    started at ``started_ns`` and from a health verdict whose inputs (``[path, identity]``, as
    stored with it) hold now. False when it was not stored: a path is racy, the root is not
    where :func:`recall` looks (the manifest is not plain enough), or it is not writable."""
    from pathlib import Path  # the writer is not on a model's start: pathlib is affordable

    from reconciler.memo.identity import identities, write_memo

    if os.environ.get(DISABLE_ENV) == "1":
        return False
    override = None if root_override is None else str(root_override)
    root = _root(str(manifest), override)
    memo = None if root is None else _memo_file(root, model)
    if memo is None or not os.path.isdir(root or ""):
        return False
    try:  # before the identities are taken: a new folder changes its parent's
        os.makedirs(os.path.dirname(memo), exist_ok=True)
    except OSError:
        return False
    found = identities([as_read(path) for path in (str(manifest), *inputs)], started_ns)
    if found is None:
        return False
    document = {
        "format": FORMAT,
        "for": _whose(str(manifest), override, model),
        "answer": list(answer),
        "inputs": found + [list(pair) for pair in verdict_inputs],
    }
    return write_memo(Path(memo), document, KEEP)
