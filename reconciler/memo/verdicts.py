"""IO: remember the health verdict on an env (``observe.gate``) while nothing it was drawn
from changes.

A verdict is stored under ``<root>/.cache/health/`` with the ``lstat`` identity of every path
it was drawn from: the files the integrity check looked at, the env's own files
(``identity.env_paths``) and reconcile's source. While none of them changes, the next check
answers from the memo without hashing or spawning anything. The identities and the racy rule
are ``memo.identity``'s (a verdict is stored only when every input is older than a second
before the check started); what a memo cannot see is the same as for a stored plan: bytecode
caches and what the probe loads from outside the env. A root that cannot be written only means
no memo.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reconciler.files import CACHE_LIMIT, load_json, read_regular_bytes
from reconciler.memo.identity import identities, source_paths, unchanged, write_memo
from reconciler.store.cachedir import cache_folder

FORMAT = 1
KEEP = 64
"""Verdicts kept per root: one per env folder (each generation has its own) and expectation."""


def memo_file(
    root: Path, env_real: str, imports: Sequence[str], verify_ignore: Sequence[str]
) -> Path | None:
    """Where the verdict on ``env_real`` under an expectation (the ``imports`` that must
    work, the ``verify_ignore`` globs) is remembered; ``None`` when the cache folder is a
    link (never used through one)."""
    folder = cache_folder(root, "health")
    if folder is None:
        return None
    parts = {
        "format": FORMAT,
        "env": env_real,
        "imports": list(imports),
        "ignore": list(verify_ignore),
        "tool": str(Path(__file__).resolve().parent),  # another copy judges for itself
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return folder / f"{key}.json"


def recall(memo: Path) -> tuple[str | None] | None:
    """``(verdict,)`` when the memo exists and none of its inputs changed, else ``None``."""
    document = _standing(memo)
    return None if document is None else (document["problem"],)


def standing_inputs(memo: Path) -> list[Any] | None:
    """The ``[path, identity]`` inputs of a verdict of no problem that still holds, for an
    answer drawn from it (``memo.resolution``); ``None`` when there is none."""
    document = _standing(memo)
    if document is None or document["problem"] is not None:
        return None
    inputs: list[Any] = document["inputs"]
    return inputs


def _standing(memo: Path) -> dict[str, Any] | None:
    """The memo's document when it exists and none of its inputs changed."""
    try:
        document = load_json(read_regular_bytes(memo, CACHE_LIMIT))
        if document.get("format") != FORMAT or document.get("key") != memo.stem:
            return None
        problem = document["problem"]
        if not (problem is None or isinstance(problem, str)):
            return None
        if not unchanged(document["inputs"]):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return document if isinstance(document, dict) else None


def remember(memo: Path, paths: Iterable[str], problem: str | None, started_ns: int) -> bool:
    """Store a verdict drawn from ``paths`` (and reconcile's source) by a check that started
    at ``started_ns``; False when one of them is too new (the racy rule) or the folder is not
    writable."""
    inputs = identities([*paths, *source_paths()], started_ns)
    if inputs is None:
        return False
    document = {"format": FORMAT, "key": memo.stem, "inputs": inputs, "problem": problem}
    return write_memo(memo, document, KEEP)
