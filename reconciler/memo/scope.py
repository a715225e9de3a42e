"""IO: remember what `verify` needs of a manifest, so an unchanged one is not validated again.

Validating envs.toml means importing pydantic and building its models: ~150 ms, more than a
cached `verify` of a 20,000-file env spends on the env itself. What `verify` takes from the
manifest (``observe.integrity.VerifyScope``: the root, each env's path, ``verify_ignore`` and link
mode) is a function of the manifest's bytes, its path, ``--root`` and reconcile's own code.
So after a full load the scope is stored under ``<root>/.cache/verify/`` (while there is no
root folder, under ``verify/`` in the user's cache folder) with the ``lstat``
identity of the manifest and of reconcile's sources and imports (``identity.tool_paths``),
and the next `verify` with the same manifest path and ``--root`` takes it from there while
none of them changed. The racy rule is memo.identity's: nothing is stored while the manifest is
less than a second old. A manifest with errors is never stored, so its errors are always
reported in full. ``RECONCILE_NO_PLAN_CACHE=1`` turns this memo off too.

Stdlib only, like memo.plan: this runs before the manifest code is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from reconciler.files import CACHE_LIMIT, is_dir, load_json, read_regular_bytes
from reconciler.memo import identity, replay
from reconciler.observe.integrity import VerifyScope
from reconciler.store.cachedir import cache_folder, user_cache_folder

FORMAT = 1
KEEP = 8
"""Scopes kept per root: one per manifest path and ``--root`` that verified there."""


def _key(manifest: Path, root_override: Path | None) -> str:
    parts = {
        "format": FORMAT,
        "manifest": str(manifest.absolute()),
        "root": None if root_override is None else str(root_override.absolute()),
        "tool": str(Path(__file__).resolve().parent),  # another copy never answers for this one
        "python": [os.path.realpath(sys.executable), sys.version],  # nor another interpreter
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _memo_file(manifest: Path, root_override: Path | None) -> tuple[Path, Path] | None:
    """The root and where the scope for this manifest and ``--root`` is kept: under the root,
    or in the user's cache folder while there is no root folder (a manifest that only adopts
    envs, never applied); ``None`` when the manifest's root cannot be told cheaply (or the
    manifest is not a regular file, see ``replay.root_of``) or the cache folder is a link."""
    if os.environ.get(replay.DISABLE_ENV) == "1":
        return None
    root = replay.root_of(manifest, root_override)
    if root is None:
        return None
    folder = cache_folder(root, "verify") if is_dir(root) else user_cache_folder("verify")
    return None if folder is None else (root, folder / f"{_key(manifest, root_override)}.json")


def recall(manifest: Path, root_override: Path | None) -> VerifyScope | None:
    """The stored scope when neither the manifest nor reconcile changed since it was stored;
    ``None`` otherwise (then load the manifest, and ``remember``)."""
    where = _memo_file(manifest, root_override)
    if where is None:
        return None
    memo = where[1]
    try:
        document = load_json(read_regular_bytes(memo, CACHE_LIMIT))
        if document.get("format") != FORMAT or document.get("key") != memo.stem:
            return None
        if not identity.unchanged(document["inputs"]):
            return None
        return VerifyScope.from_plain(document["scope"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(
    manifest: Path, root_override: Path | None, scope: VerifyScope, started_ns: int
) -> bool:
    """Store the scope a full load gave (``started_ns``: before the manifest was read); False
    when it was not stored: the manifest is racy, or the cache folder is not writable."""
    where = _memo_file(manifest, root_override)
    if where is None or where[0] != Path(scope.root):
        return False  # not the root the scope was made for
    memo = where[1]
    paths = [str(manifest.absolute()), *identity.tool_paths()]
    inputs = identity.identities(paths, started_ns)
    if inputs is None:
        return False
    document = {"format": FORMAT, "key": memo.stem, "inputs": inputs, "scope": scope.to_plain()}
    return identity.write_memo(memo, document, KEEP)
