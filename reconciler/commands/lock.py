"""IO: the `lock` use case. Resolve each managed env's requirements with uv into a lockfile.

Locks are universal (``uv pip compile --universal``): one file serves every platform, with
PEP 508 markers on platform-specific pins (an env with a ``platform`` is resolved for that
one platform alone, without markers). Everything is resolved first and written only
when every env resolved, so a failure leaves every old lockfile as it was. A lockfile is
written only where no file is, or over one reconcile wrote (it begins with the header
``lock`` writes): a manifest may name any file of its folder, and a ``.env`` or a git config
there is the user's, refused before uv runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import LockfileError, LockRefused, ReconcileError, UnknownEnv, UsageError
from reconciler.execute.uv import compile_command, unreachable_index
from reconciler.files import display_path, write_atomic
from reconciler.observe.inputs import read_lock
from reconciler.observe.manifestpaths import lockfile_text
from reconciler.runner import Unfinished, attempt
from reconciler.spec.lockfile import (
    GENERATED_PREFIX,
    inputs_line,
    lock_inputs,
    parse_lockfile,
    seal,
    written_by_reconcile,
)
from reconciler.spec.manifest import LoadedManifest, Sources


@dataclass(frozen=True)
class LockRequest:
    env_key: str
    python: str
    requirements: tuple[str, ...]
    sources: Sources
    base_dir: Path
    path: Path
    header: str
    platform: str | None = None
    """The one platform to lock for (uv's name), or None: universal."""


def _explain(env_key: str, stderr: str) -> str:
    unreachable = unreachable_index(stderr, f"locking {env_key}")
    if unreachable is not None:
        return unreachable
    text = stderr.strip()
    lines = [line.rstrip().removeprefix("error: ") for line in text.splitlines() if line.strip()][
        :8
    ]
    body = "\n  ".join(lines) or "uv failed without a message"
    return f"could not lock {env_key}; uv says:\n  {body}\nNo lockfile was changed."


def resolve_one(request: LockRequest) -> str:
    """Resolve one env; return the full lockfile text or raise with uv's explanation."""
    command = compile_command(
        request.python,
        request.requirements,
        request.sources,
        request.base_dir,
        platform=request.platform,
    )
    result = attempt(command)
    if isinstance(result, Unfinished):
        if result.timeout is not None:
            raise LockfileError(
                f"uv did not finish locking {request.env_key} within {result.timeout:g} s and "
                "was stopped: check that the package index answers, then run "
                f"`reconcile lock {request.env_key}` again."
            )
        raise LockfileError(
            f"uv could not start to lock {request.env_key} ({result.error}: {result.program}); "
            "reinstall reconcile, which ships uv."
        )
    if not result.ok:
        raise LockfileError(_explain(request.env_key, result.stderr))
    text = seal(request.header + result.stdout)
    parse_lockfile(text, display_path(request.path))  # never write one we could not read back
    return text


def _attempt(request: LockRequest) -> str | LockfileError:
    """Resolve one env; a failure is returned, so every env's failure can be reported."""
    try:
        return resolve_one(request)
    except LockfileError as error:
        return error


def _requests(loaded: LoadedManifest, env_keys: Sequence[str]) -> list[LockRequest]:
    manifest = loaded.manifest
    managed = manifest.managed_envs()
    requests = []
    for key in env_keys:
        spec = managed[key]
        sources = manifest.sources_for(key)
        platform = manifest.platform_for(key)
        header = (
            f'{GENERATED_PREFIX}"{key}"; do not edit by hand.\n'
            f"{inputs_line(lock_inputs(spec, sources, platform))}\n"
        )
        assert spec.python is not None  # the manifest guarantees python on managed envs
        requests.append(
            LockRequest(
                key,
                spec.python,
                spec.requirements,
                sources,
                loaded.base_dir,
                loaded.lockfile_path(key),
                header,
                platform,
            )
        )
    return requests


def selected_envs(loaded: LoadedManifest, names: Sequence[str]) -> list[str]:
    managed = loaded.manifest.managed_envs()
    for name in names:
        if name in loaded.manifest.envs and name not in managed:
            raise UsageError(f"cannot lock {name}: it is an adopted env, which has no lockfile.")
        if name not in managed:
            said = f"cannot lock {name}: it is not declared in the manifest"
            raise UnknownEnv(said, name, managed)
    return sorted(set(names)) if names else sorted(managed)


def check(loaded: LoadedManifest, env_keys: Sequence[str]) -> list[str]:
    """One line per env whose lockfile is missing, unreadable or stale (read and judged as
    `plan` reads and judges them)."""
    problems = []
    for key in env_keys:
        refusal = read_lock(loaded, key).refusal()
        if refusal is not None:
            problems.append(f"{key}: {refusal.message}")
    return problems


def foreign_files(requests: Sequence[LockRequest]) -> list[str]:
    """One sentence per lockfile path that holds a file `lock` may not write over: one that
    does not begin with the header reconcile writes (see
    :func:`~reconciler.spec.lockfile.written_by_reconcile`), or that cannot be read to tell."""
    refusals = []
    for request in requests:
        try:
            text: str | None = lockfile_text(request.path, request.env_key)
        except FileNotFoundError:
            continue
        except (OSError, ReconcileError):
            text = None
        if text is None or not written_by_reconcile(text):
            refusals.append(
                f"{display_path(request.path)} exists and is not a lockfile reconcile wrote; "
                f"move it away or point `lockfile` of env {request.env_key} elsewhere."
            )
    return refusals


@dataclass(frozen=True)
class Locked:
    """One env's lockfile after `lock`: where it is, and whether it was written or already
    said exactly this."""

    env_key: str
    path: Path
    written: bool


def lock_envs(loaded: LoadedManifest, env_keys: Sequence[str]) -> Iterator[Locked]:
    """Resolve every env, then write each lockfile that changed, one :class:`Locked` per env
    as it is written. Nothing is written unless every env resolved and no lockfile path holds
    a file reconcile did not write (:class:`LockRefused` names them all)."""
    requests = _requests(loaded, env_keys)
    refusals = foreign_files(requests)  # before uv runs: nothing is written
    if refusals:
        raise LockRefused(refusals)
    with ThreadPoolExecutor(max_workers=max(1, min(len(requests), 4))) as pool:
        outcomes = list(pool.map(_attempt, requests))
    failures = [o for o in outcomes if isinstance(o, LockfileError)]
    if failures:
        raise LockRefused([failure.message for failure in failures])
    texts = [o for o in outcomes if isinstance(o, str)]
    for request, text in zip(requests, texts, strict=True):
        try:
            old: str | None = lockfile_text(request.path, request.env_key)
        except (OSError, ReconcileError):
            old = None
        if old != text:
            write_atomic(request.path, text)
        yield Locked(request.env_key, request.path, written=old != text)
