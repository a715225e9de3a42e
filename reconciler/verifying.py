"""IO: the integrity use case shared by `verify`, `plan` and apply's check of a new generation.

Each env is checked where it really is: a managed env's live link is resolved once, so a
switch while verify runs cannot mix two generations, and a link that leaves the root is
reported, never followed. Hashes are trusted from the root's stat-keyed cache unless ``deep``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.cachedir import cache_folder
from reconciler.files import display_path
from reconciler.manifest import LoadedManifest
from reconciler.records import VerifyReport

EnvKind = Literal["managed", "adopted"]


@dataclass(frozen=True)
class EnvCheck:
    """The integrity of one declared env, or why it could not be checked.

    ``report`` is ``None`` when ``problem`` says why nothing was checked (not created yet,
    a link out of the root, not a venv). ``link_mode`` is the manifest's, for the warning about
    files shared with the package cache.
    """

    env_key: str
    kind: EnvKind
    path: str
    report: VerifyReport | None
    problem: str | None = None
    link_mode: str = "auto"

    @property
    def ok(self) -> bool:
        return self.problem is None and self.report is not None and self.report.ok


def verify_dir(
    root: Path,
    env_dir: Path,
    ignore: Sequence[str],
    *,
    deep: bool = False,
    seen: list[str] | None = None,
) -> VerifyReport:
    """Verify one env folder with the root's hash cache (refreshed, and saved after).
    ``seen``, when given, gets every path the check looked at."""
    from reconciler.hashcache import HashCache, cache_file
    from reconciler.verify import verify_env

    real = os.path.realpath(env_dir)
    if cache_folder(root, "hashes") is None:  # a link where the cache should be: no cache
        return verify_env(env_dir, ignore, deep=True, seen=seen)
    cache = HashCache.load(cache_file(root, real), real)
    report = verify_env(env_dir, ignore, cache=cache, deep=deep, seen=seen)
    cache.save()
    return report


def _inside(path: str, folder: Path) -> bool:
    base = os.path.realpath(folder)
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def check_env(loaded: LoadedManifest, env_key: str, *, deep: bool = False) -> EnvCheck:
    """Verify one declared env (managed: its live generation; adopted: its own folder)."""
    from reconciler.verify import EnvNotVerifiable

    manifest = loaded.manifest
    spec = manifest.envs[env_key]
    kind: EnvKind = "adopted" if spec.adopted else "managed"
    path = loaded.adopt_path(env_key) if spec.adopted else loaded.root / env_key
    shown = display_path(path)
    link_mode = manifest.settings.link_mode

    def unchecked(problem: str) -> EnvCheck:
        return EnvCheck(env_key, kind, shown, None, problem, link_mode)

    if not os.path.lexists(path):
        if kind == "adopted":
            return unchecked(f"{shown} does not exist; fix the adopt path in the manifest")
        return unchecked("not created yet; run `reconcile apply`")
    real = os.path.realpath(path)
    if kind == "managed" and not _inside(real, loaded.root):
        return unchecked(f"the link leads outside the root, to {real}; it is not followed")
    try:
        report = verify_dir(loaded.root, Path(real), manifest.verify_ignore_for(env_key), deep=deep)
    except EnvNotVerifiable as exc:
        return unchecked(exc.message)
    return EnvCheck(env_key, kind, shown, report, None, link_mode)


def check_envs(
    loaded: LoadedManifest, env_keys: Iterable[str] = (), *, deep: bool = False
) -> list[EnvCheck]:
    """Verify the named envs (default: every declared env), in key order."""
    doomed = loaded.manifest.doomed_envs()  # marked delete = true: nothing to keep intact
    keys = sorted(set(env_keys)) or sorted(k for k in loaded.manifest.envs if k not in doomed)
    return [check_env(loaded, key, deep=deep) for key in keys]
