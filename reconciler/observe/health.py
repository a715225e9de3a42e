"""IO: the observation `plan` and `status` both make: look at and probe every env, check its
files against its RECORDs (with the root's hash cache), and judge it (``core.health``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from reconciler.core.facts import EnvFacts, EnvHealth
from reconciler.core.health import Expectation, assess
from reconciler.core.integrity import VerifyReport
from reconciler.observe.env import observe_all
from reconciler.observe.look import EnvRequest
from reconciler.platform import VenvLayout
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import LoadedManifest


class Observation(NamedTuple):
    """What was seen of each env, its RECORD check (where its files could be checked), and
    the judgement of both."""

    facts: dict[str, EnvFacts]
    integrity: dict[str, VerifyReport]
    health: dict[str, EnvHealth]


def observe_health(
    loaded: LoadedManifest,
    requests: Iterable[EnvRequest],
    lock_of: Callable[[str], Lockfile | None],
    *,
    venv: VenvLayout,
    deep: bool = False,
    seen: list[str] | None = None,
    seen_by_env: dict[str, list[str]] | None = None,
) -> Observation:
    """The facts and the health of every env asked for; each is judged against its lockfile
    (``lock_of``, None for an adopted env or a missing lockfile)."""
    facts = observe_all(requests, venv=venv)
    integrity = integrity_of(loaded, facts, deep, seen, seen_by_env, venv=venv)
    health = {}
    for key, fact in facts.items():
        spec = loaded.manifest.envs[key]
        link_mode = None if spec.adopted else loaded.manifest.settings.link_mode
        expect = Expectation(spec.python, lock_of(key), not spec.adopted, link_mode)
        health[key] = assess(fact, expect, integrity.get(key))
    return Observation(facts, integrity, health)


def integrity_of(
    loaded: LoadedManifest,
    facts: Mapping[str, EnvFacts],
    deep: bool = False,
    seen: list[str] | None = None,
    seen_by_env: dict[str, list[str]] | None = None,
    *,
    venv: VenvLayout,
) -> dict[str, VerifyReport]:
    """The RECORD check of every observed env whose files can be checked (SPEC 6: part of
    every plan). An env that is absent, leads out of the root or has no site-packages is
    judged by its other findings instead. ``seen`` gets every path looked at, and
    ``seen_by_env`` the same, env by env."""
    from reconciler.observe.integrity import verify_dir
    from reconciler.observe.walk import EnvNotVerifiable

    manifest = loaded.manifest
    reports = {}
    for key, fact in sorted(facts.items()):
        if not fact.exists or fact.escapes_root or fact.real_path is None:
            continue
        ignore = manifest.verify_ignore_for(key)
        looked: list[str] = []
        try:
            reports[key] = verify_dir(
                loaded.root, Path(fact.real_path), ignore, venv=venv, deep=deep, seen=looked
            )
        except EnvNotVerifiable:
            continue
        finally:
            if seen is not None:
                seen += looked
            if seen_by_env is not None:
                seen_by_env[key] = looked
    return reports
