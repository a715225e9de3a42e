"""IO: the `verify` use case: check the named envs (all, by default) against their RECORDs.

It needs little of the manifest (where each env is, its ``verify_ignore`` globs, the link
mode): a :class:`~reconciler.observe.integrity.VerifyScope`, which the scope memo keeps, so a
`verify` whose manifest is unchanged never validates the manifest again. A venv named by its
path needs no manifest at all (``names_a_path``, ``observe.venvpath``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.facts import EnvCheck
from reconciler.errors import ManifestNotFound, UnknownEnv, UsageError
from reconciler.files import is_dir
from reconciler.memo import scope as scope_memo
from reconciler.observe.integrity import VerifyScope, check_envs
from reconciler.platform import VenvLayout


def names_a_path(argument: str) -> bool:
    """Whether a `verify` argument names a venv folder by its path rather than an env by its
    key: it holds a path separator (``/``, ``\\``) or starts with ``.`` (``.venv``, ``./venv``,
    ``..``). An env key can do neither, so the two never mix up: the folder ``venv`` beside
    envs.toml is ``./venv``, whatever the manifest declares."""
    return "/" in argument or "\\" in argument or argument.startswith(".")


def verify(
    manifest: Path,
    root: Path | None,
    names: Sequence[str],
    *,
    venv: VenvLayout,
    deep: bool = False,
) -> list[EnvCheck]:
    """Check each env named (every declared env when ``names`` is empty), then each venv
    folder named by its path (``names_a_path``), which needs no manifest. An undeclared name
    or a path that is no venv is one sentence, before anything is checked."""
    from reconciler.observe.venvpath import check_folder, not_a_venv

    keys = [name for name in names if not names_a_path(name)]
    paths = list(dict.fromkeys(name for name in names if names_a_path(name)))
    for path in paths:
        problem = not_a_venv(Path(path), venv=venv)
        if problem is not None:
            raise UsageError(f"verify: {problem}")
    checks = _declared(manifest, root, keys, venv, deep) if keys or not paths else []
    return checks + [check_folder(path, venv=venv, deep=deep) for path in paths]


def _declared(
    manifest: Path, root: Path | None, keys: Sequence[str], venv: VenvLayout, deep: bool
) -> list[EnvCheck]:
    try:
        scope = _scope(manifest, root)
    except ManifestNotFound as exc:
        if os.path.lexists(manifest):
            raise  # there, but not a manifest: its sentence says what to do
        raise ManifestNotFound(f"{exc.message.rstrip('.')}; {_folder_hint(keys)}.") from None
    for key in keys:
        if key in scope.declared:
            continue
        if is_dir(Path(key)):
            raise UsageError(
                f"verify: no env named {key} in the manifest; to check the folder {key}, "
                f"write ./{key}."
            )
        raise UnknownEnv(f"verify: no env named {key} in the manifest", key, scope.declared)
    return check_envs(scope, keys, venv=venv, deep=deep)


def _folder_hint(keys: Sequence[str]) -> str:
    folder = next((key for key in keys if is_dir(Path(key))), None)
    if folder is not None:
        return f"to check the folder {folder} instead, write ./{folder}"
    return "to check a venv without a manifest, name its folder: `reconcile verify .venv`"


def _scope(manifest: Path, root: Path | None) -> VerifyScope:
    scope = scope_memo.recall(manifest, root)
    if scope is None:  # the manifest (or reconcile) changed: validate it in full
        from reconciler.observe.inputs import load_manifest
        from reconciler.observe.integrity import scope_of

        started = time.time_ns()
        scope = scope_of(load_manifest(manifest, root))
        scope_memo.remember(manifest, root, scope, started)
    return scope
