"""IO: model -> interpreter, for `which`, `run` and the Python API (SPEC 7.1, 7.6, 8).

Resolution reads the *applied* bindings under the root, never the manifest's unapplied
wishes, and hands out the live generation's own folder, not the ``<root>/<env_key>`` link:
Python builds sys.path from the path it was started through, so a process started through
the link would import from the new generation after a switch. A process started from a
generation's own path reads that generation for its whole life.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler import generations, layout
from reconciler.bindings import AppliedState, read_state
from reconciler.errors import ReconcileError
from reconciler.manifest import LoadedManifest, load_manifest
from reconciler.observe import read_pyvenv_cfg


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
    loaded: LoadedManifest, state: AppliedState, env_key: str
) -> tuple[Path | None, str | None, str]:
    """(folder, generation id, problem) of an env as applied: whether it is adopted comes
    from the applied state, not from a manifest edit that was never applied."""
    if env_key in state.adopted:
        spec = loaded.manifest.envs.get(env_key)
        if spec is None or not spec.adopted:
            return None, None, f"adopted env {env_key} is no longer adopted in the manifest"
        return loaded.adopt_path(env_key), None, ""
    live = generations.live_generation(loaded.root, env_key)
    if live is None:
        return None, None, f"env {env_key} has no live generation"
    if not live.complete:
        return None, None, f"env {env_key}'s live generation {live.gen_id} is incomplete"
    return live.path, live.gen_id, ""


def quick_problem(env_dir: Path) -> str | None:
    """A fast health check, with no subprocess: interpreter, pyvenv.cfg, base interpreter."""
    python = layout.interpreter(env_dir, sys.platform == "win32")
    if not python.exists():
        return f"its interpreter {python} is missing"
    cfg = read_pyvenv_cfg(env_dir)
    if cfg is None:
        return "its pyvenv.cfg is missing"
    home = dict(cfg).get("home")
    if home and not Path(home).is_dir():
        return f"its base interpreter folder {home} is gone"
    return None


def resolve_loaded(loaded: LoadedManifest, model: str) -> ResolvedEnv:
    """Resolve ``model`` with an already loaded manifest (see :func:`resolve`)."""
    state = read_state(loaded.root)
    env_key = state.bindings.get(model)
    if env_key is None:
        if model in loaded.manifest.models:
            raise EnvNotAvailable(
                f"model {model} has no applied env yet: run `reconcile apply` to build and bind it."
            )
        raise EnvNotAvailable(
            f"model {model} is not declared in {loaded.path} and has no applied binding; "
            "declare it under [models] and run `reconcile apply`."
        )
    candidates: list[tuple[str, Literal["env", "fallback"]]] = [(env_key, "env")]
    fallback = state.fallbacks.get(model)
    if fallback is not None:
        candidates.append((fallback, "fallback"))
    first_problem: str | None = None
    for key, source in candidates:
        env_dir, gen_id, problem = _env_dir(loaded, state, key)
        if env_dir is not None:
            problem = quick_problem(env_dir) or ""
        if env_dir is not None and not problem:
            return ResolvedEnv(
                model=model,
                env_key=key,
                python=layout.interpreter(env_dir, sys.platform == "win32"),
                env_dir=env_dir,
                source=source,
                healthy=True,
                generation=gen_id,
                problem=first_problem,
            )
        if first_problem is None:
            first_problem = f"env {key}: {problem}" if not problem.startswith("env ") else problem
    why = first_problem or "no env"
    fallback_note = (
        f" and its fallback {fallback} is not usable either"
        if fallback
        else " and it has no fallback"
    )
    raise EnvNotAvailable(
        f"model {model} cannot run: {why}{fallback_note}; run `reconcile apply` to rebuild it."
    )


def resolve(model: str, manifest: str | Path = "envs.toml") -> ResolvedEnv:
    """The interpreter ``model`` should run with, from the applied bindings.

    Uses the model's env when its live generation passes a fast health check (interpreter,
    pyvenv.cfg, base interpreter), else its fallback (``source == "fallback"``). Raises
    :class:`EnvNotAvailable` (a :class:`~reconciler.errors.ReconcileError`) with an
    actionable message when neither is usable, and the manifest errors of
    :func:`reconciler.manifest.load_manifest` when the manifest is bad.
    """
    return resolve_loaded(load_manifest(Path(manifest)), model)
