"""IO: model -> interpreter, for `which`, `run` and the Python API (SPEC 7.1, 7.6, 8).

Resolution reads the *applied* bindings under the root, never the manifest's unapplied
wishes, and hands out the live generation's own folder, not the ``<root>/<env_key>`` link:
Python builds sys.path from the path it was started through, so a process started through
the link would import from the new generation after a switch. A process started from a
generation's own path reads that generation for its whole life.

An env is handed out only when ``gate.env_problem`` finds nothing wrong with it; otherwise
the model's fallback, if that is usable. A model's own env, once handed out, is remembered
(``memo.resolution``) and handed out again without the manifest's validation or the gate
while nothing it was drawn from changes: that is the path every model's start takes. When
neither is usable and an apply holds the root's lock (it may be building the env right now),
a caller can wait for it (``wait=True``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from reconciler.errors import ReconcileError
from reconciler.memo import resolution
from reconciler.platform import Platform
from reconciler.store import folders, generations, layout
from reconciler.store.bindings import AppliedState, read_state
from reconciler.store.system import current

if TYPE_CHECKING:  # the rest is imported when an answer is not remembered: pydantic and the
    # health gate are what a remembered answer saves
    from reconciler.commands import gate
    from reconciler.spec.manifest import LoadedManifest
    from reconciler.store.applylock import LockHolder

POLL_INTERVAL = 0.25


class EnvNotAvailable(ReconcileError):
    """Neither the model's env nor its fallback is usable. The message says what to run."""


@dataclass(frozen=True)
class ResolvedEnv:
    """Where a model runs: ``python`` is the interpreter inside the generation's own folder."""

    model: str
    env_key: str
    python: Path
    env_dir: Path
    source: Literal["env", "fallback"]
    healthy: bool
    generation: str | None = None
    problem: str | None = None
    """Why the model's own env was not used, when ``source == "fallback"``."""


def _env_dir(
    loaded: LoadedManifest, state: AppliedState, env_key: str, platform: Platform
) -> tuple[Path | None, str | None, str]:
    """(folder, generation id, problem) of an env as applied, the folder spelled with no
    ``..`` (``memo.resolution.as_read``): Python removes ``..`` from its own path as text when
    it looks for ``pyvenv.cfg``, so after a link it would not start as the venv."""
    folder, gen_id, problem = _applied_dir(loaded, state, env_key, platform)
    return None if folder is None else Path(resolution.as_read(str(folder))), gen_id, problem


def _applied_dir(
    loaded: LoadedManifest, state: AppliedState, env_key: str, platform: Platform
) -> tuple[Path | None, str | None, str]:
    """(folder, generation id, problem) of an env as applied: whether it is adopted, and from
    which folder, comes from the applied state, not from a manifest edit never applied."""
    if env_key in state.adopted:
        if state.adopted[env_key]:
            return Path(state.adopted[env_key]), None, ""
        spec = loaded.manifest.envs.get(env_key)  # a state written before folders were kept
        if spec is None or not spec.adopted:
            return (
                None,
                None,
                f"adopted env {env_key}'s folder is not recorded; run `reconcile apply`",
            )
        return loaded.adopt_path(env_key), None, ""
    live = generations.live_generation(loaded.root, env_key, ops=platform.ops)
    if live is None:
        return None, None, f"env {env_key} has no live generation"
    if not live.complete:
        return None, None, f"env {env_key}'s live generation {live.gen_id} is incomplete"
    return live.path, live.gen_id, ""


def expectation(
    loaded: LoadedManifest, state: AppliedState, env_key: str, env_dir: Path
) -> gate.Expect:
    """What ``env_key`` must offer besides a sound structure and intact files: the imports
    it was verified with, as applied (SPEC 7.6): a managed generation's from its receipt, so
    an unapplied edit of ``imports`` never turns a working generation away. An adopted env
    has no build to apply: its probe is the manifest's ``imports``, as in plan."""
    from reconciler.commands import gate

    spec = loaded.manifest.envs.get(env_key)
    ignore = tuple(loaded.manifest.verify_ignore_for(env_key)) if spec is not None else ()
    if env_key in state.adopted:
        imports = tuple(spec.imports) if spec is not None and spec.adopted else ()
        return gate.Expect(imports=imports, verify_ignore=ignore)
    receipt = generations.read_receipt(env_dir) or {}
    recorded = receipt.get("imports")
    if not (isinstance(recorded, list) and all(isinstance(m, str) for m in recorded)):
        recorded = []  # a generation built before receipts kept them: the interpreter runs
    return gate.Expect(imports=tuple(recorded), verify_ignore=ignore)


class _Unusable(NamedTuple):
    """Why no env could be handed out: ``what`` says so; ``message`` is the whole sentence
    for when no apply is running."""

    what: str
    message: str


def _attempt(loaded: LoadedManifest, model: str, platform: Platform) -> ResolvedEnv | _Unusable:
    """One look at the applied state: the model's env, else its fallback, else why not."""
    from reconciler.commands import gate

    folders.check(loaded.root)
    state = read_state(loaded.root)
    env_key = state.bindings.get(model)
    if env_key is None:
        if model in loaded.manifest.models:
            what = f"model {model} has no applied env yet"
            return _Unusable(what, f"{what}: run `reconcile apply` to build and bind it.")
        raise EnvNotAvailable(
            f"model {model} is not declared in {loaded.path} and has no applied binding; "
            "declare it under [models] and run `reconcile apply`."
        )
    candidates: list[tuple[str, Literal["env", "fallback"]]] = [(env_key, "env")]
    fallback = state.fallbacks.get(model)
    if fallback is not None:
        candidates.append((fallback, "fallback"))
    first_problem: str | None = None
    fallback_problem = ""
    for key, source in candidates:
        env_dir, gen_id, problem = _env_dir(loaded, state, key, platform)
        if env_dir is not None:
            expect = expectation(loaded, state, key, env_dir)
            problem = gate.env_problem(loaded.root, env_dir, expect, venv=platform.venv) or ""
        if env_dir is not None and not problem:
            return ResolvedEnv(
                model=model,
                env_key=key,
                python=platform.venv.interpreter(env_dir),
                env_dir=env_dir,
                source=source,
                healthy=True,
                generation=gen_id,
                problem=first_problem,
            )
        problem = " ".join(problem.splitlines())  # a warning or an error is one line
        if first_problem is None:
            first_problem = problem if problem.startswith("env ") else f"env {key}: {problem}"
        else:
            fallback_problem = problem.removeprefix(f"env {key}: ")
    fallback_note = (
        f" and its fallback {fallback} is not usable either ({fallback_problem})"
        if fallback
        else " and it has no fallback"
    )
    what = f"model {model} cannot run: {first_problem or 'no env'}{fallback_note}"
    if env_key in state.adopted:
        fix = (
            f"reconcile never rebuilds the adopted env {env_key}: repair that venv, or move the "
            "model to a managed env (see docs/migration.md)"
        )
    else:
        fix = "run `reconcile apply` to rebuild it"
    return _Unusable(what, f"{what}; {fix}.")


def resolve_loaded(
    loaded: LoadedManifest,
    model: str,
    *,
    platform: Platform,
    wait: bool = False,
    timeout: float = layout.LOCK_WAIT,
    on_wait: Callable[[LockHolder], None] | None = None,
) -> ResolvedEnv:
    """Resolve ``model`` with an already loaded manifest (see :func:`resolve`) on
    ``platform`` (:func:`reconciler.store.system.current`).

    ``on_wait(holder)`` is called once when waiting for an apply begins."""
    _check_timeout(timeout)
    before = None
    if wait:  # read before the check: an apply that finishes during it still counts
        from reconciler.store.applylock import read_holder

        before = read_holder(loaded.root)
    found = _attempt(loaded, model, platform)
    if isinstance(found, ResolvedEnv):
        return found
    from reconciler.store.applylock import (
        read_holder,  # only now: filelock and friends cost start-up
    )

    deadline = time.monotonic() + timeout
    holder = read_holder(loaded.root)
    if holder is None and before is not None:  # it finished while we looked: look again
        found = _attempt(loaded, model, platform)
        if isinstance(found, ResolvedEnv):
            return found
    if holder is not None and not wait:
        raise EnvNotAvailable(
            f"{found.what}; an apply is running now ({holder.describe()}): pass --wait to wait "
            "for it (wait=True in Python)."
        )
    told = False
    while holder is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise EnvNotAvailable(
                f"{found.what}; waited {timeout:g} s for the apply ({holder.describe()}): check "
                "that apply, or run `reconcile apply` once it has finished."
            )
        if on_wait is not None and not told:
            on_wait(holder)
            told = True
        time.sleep(min(POLL_INTERVAL, left))
        # The holder is read before the check: when it has gone, the check sees what it left
        # behind, and that answer is final.
        holder = read_holder(loaded.root)
        found = _attempt(loaded, model, platform)
        if isinstance(found, ResolvedEnv):
            return found
    raise EnvNotAvailable(found.message)


def resolve(
    model: str,
    manifest: str | Path = "envs.toml",
    root: str | Path | None = None,
    *,
    wait: bool = False,
    timeout: float = layout.LOCK_WAIT,
) -> ResolvedEnv:
    """The interpreter ``model`` should run with, from the applied bindings.

    Uses the model's env when it is usable (:func:`reconciler.commands.gate.env_problem`: a sound
    structure, every RECORD-listed file intact, the interpreter runs and the declared
    ``imports`` import), else its fallback (``source == "fallback"``,
    ``problem`` says what is wrong with the env). Raises :class:`EnvNotAvailable` (a
    :class:`~reconciler.errors.ReconcileError`) with an actionable message when neither is
    usable, the manifest errors of :func:`reconciler.observe.inputs.load_manifest` when the
    manifest is bad, and :class:`~reconciler.errors.InternalFolderRefused` when one of the
    root's own folders (``.generations``, ``.state``, ``.cache``, ``.trash``) is a link.

    ``root`` is the root the envs were applied to when it is not the manifest's own
    (``reconcile --root DIR``); it is checked as the command line checks it.

    A model's own env, once handed out, is remembered under the root and handed out again
    in a few milliseconds, without loading the manifest, while nothing it was drawn from
    changes (``memo.resolution``).

    While an apply holds the root's lock, ``wait=True`` waits up to ``timeout`` seconds for
    it to make an env usable, checking again every quarter of a second, instead of failing
    at once; it still fails at once when the apply finishes and no env is usable.
    """
    _check_timeout(timeout)
    return resolve_applied(
        Path(manifest),
        Path(root) if root is not None else None,
        model,
        platform=current(),
        wait=wait,
        timeout=timeout,
    )


def resolve_applied(
    manifest: Path,
    root: Path | None,
    model: str,
    *,
    platform: Platform,
    wait: bool = False,
    timeout: float = layout.LOCK_WAIT,
    on_wait: Callable[[LockHolder], None] | None = None,
) -> ResolvedEnv:
    """:func:`resolve` on ``platform``: the answer remembered for ``model``
    (``memo.resolution``) while nothing it was drawn from has changed, else
    :func:`resolve_loaded` with the manifest loaded and checked, remembered when it is the
    model's own env."""
    remembered = resolution.recall(str(manifest), None if root is None else str(root), model)
    if remembered is not None:
        env_key, python, env_dir, generation = remembered
        return ResolvedEnv(
            model, env_key, Path(python), Path(env_dir), "env", healthy=True, generation=generation
        )
    from reconciler.observe.inputs import load_manifest
    from reconciler.observe.manifestpaths import check_root_usable

    started_ns = time.time_ns()  # before anything is read: the racy rule's reference
    loaded = load_manifest(manifest, root)
    check_root_usable(loaded)
    found = resolve_loaded(
        loaded, model, platform=platform, wait=wait, timeout=timeout, on_wait=on_wait
    )
    if found.source == "env":
        _remember(loaded, manifest, root, found, started_ns)
    return found


def _remember(
    loaded: LoadedManifest,
    manifest: Path,
    root_override: Path | None,
    found: ResolvedEnv,
    started_ns: int,
) -> None:
    """Store ``found`` (``memo.resolution``) with every path :func:`_attempt` read to find it
    and the inputs of the health verdict it was handed out on, when that verdict still holds
    (one drawn from a probe that may fail another time is never remembered)."""
    from reconciler.memo import verdicts

    root = loaded.root
    state = read_state(root)
    if state.bindings.get(found.model) != found.env_key:
        return  # rebound while we looked
    expect = expectation(loaded, state, found.env_key, found.env_dir)
    real = os.path.realpath(found.env_dir)
    memo = verdicts.memo_file(root, real, expect.imports, expect.verify_ignore)
    held = None if memo is None else verdicts.standing_inputs(memo)
    if held is None:
        return
    paths = [str(root / name) for name in folders.INTERNAL]
    paths.append(str(layout.bindings_path(root)))
    with suppress(OSError):  # each env's folder: _attempt refuses a link among its generations
        paths += [entry.path for entry in os.scandir(root / layout.GENERATIONS)]
    if found.env_key not in state.adopted:
        paths.append(str(root / found.env_key))  # the link to the live generation
    paths += [str(found.env_dir), str(found.python)]  # recall trusts no answer without them
    answer = (found.env_key, str(found.python), str(found.env_dir), found.generation)
    resolution.remember(manifest, root_override, found.model, answer, paths, held, started_ns)


def _check_timeout(timeout: float) -> None:
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"the wait timeout must be a finite number >= 0 seconds, got {timeout!r}")
