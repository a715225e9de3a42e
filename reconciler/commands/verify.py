"""IO: the `verify` use case: check the named envs (all, by default) against their RECORDs.

It needs little of the manifest (where each env is, its ``verify_ignore`` globs, the link
mode): a :class:`~reconciler.observe.integrity.VerifyScope`, which the scope memo keeps, so a
`verify` whose manifest is unchanged never validates the manifest again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.facts import EnvCheck
from reconciler.errors import UnknownEnv
from reconciler.memo import scope as scope_memo
from reconciler.observe.integrity import check_envs
from reconciler.platform import VenvLayout


def verify(
    manifest: Path,
    root: Path | None,
    names: Sequence[str],
    *,
    venv: VenvLayout,
    deep: bool = False,
) -> list[EnvCheck]:
    """Check each env named (every env when ``names`` is empty); an undeclared name is one
    sentence with the closest key."""
    scope = scope_memo.recall(manifest, root)
    if scope is None:  # the manifest (or reconcile) changed: validate it in full
        from reconciler.observe.inputs import load_manifest
        from reconciler.observe.integrity import scope_of

        started = time.time_ns()
        scope = scope_of(load_manifest(manifest, root))
        scope_memo.remember(manifest, root, scope, started)
    for name in names:
        if name not in scope.declared:
            raise UnknownEnv(f"verify: no env named {name} in the manifest", name, scope.declared)
    return check_envs(scope, names, venv=venv, deep=deep)
