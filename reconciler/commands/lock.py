"""IO: the `lock` use case. Resolve each managed env's requirements with uv into a lockfile.

Locks are universal (``uv pip compile --universal``): one file serves every platform, with
PEP 508 markers on platform-specific pins, for the env's Python version alone (an env with a
``platform`` is resolved for that one platform alone, without markers). Re-locking keeps the
old lockfile's pins that still satisfy the requirements (uv prefers them), unless an upgrade
lets them move. Everything is resolved first and written only
when every env resolved, so a failure leaves every old lockfile as it was. A lockfile is
written only where no file is, or over one reconcile wrote (it begins with the header
``lock`` writes): a manifest may name any file of its folder, and a ``.env`` or a git config
there is the user's, refused before uv runs.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reconciler.errors import LockfileError, LockRefused, ReconcileError, UnknownEnv, UsageError
from reconciler.execute.uv import (
    KEEP_PINS,
    PREFERENCES_FILE,
    Upgrade,
    compile_command,
    resolution_config,
    unreachable_index,
)
from reconciler.files import display_path, printable, write_atomic
from reconciler.observe.inputs import read_lock
from reconciler.observe.manifestpaths import lockfile_text
from reconciler.report.lock import LockOutcome
from reconciler.runner import Unfinished, attempt
from reconciler.spec.lockfile import (
    GENERATED_PREFIX,
    Lockfile,
    inputs_line,
    lock_inputs,
    parse_lockfile,
    seal,
    written_by_reconcile,
)
from reconciler.spec.lockseed import Seed, seed
from reconciler.spec.manifest import LoadedManifest, Sources
from reconciler.spec.markerscope import scoped, scoped_marker


@dataclass(frozen=True)
class LockRequest:
    env_key: str
    python: str
    requirements: tuple[str, ...]
    sources: Sources
    base_dir: Path
    path: Path
    inputs: Mapping[str, str]
    """The header fields of the new lockfile (``lock_inputs``)."""
    platform: str | None = None
    """The one platform to lock for (uv's name), or None: universal."""

    @property
    def header(self) -> str:
        return (
            f'{GENERATED_PREFIX}"{self.env_key}"; do not edit by hand.\n'
            f"{inputs_line(self.inputs)}\n"
        )


@dataclass(frozen=True)
class Resolved:
    """One env resolved: the lockfile text and the lockfile it reads as, the old lockfile
    (None: none could be read) and why its pins were not kept, when they were not."""

    text: str
    new: Lockfile
    old: Lockfile | None
    dropped: str | None


_PACKAGE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def upgrade_of(everything: bool, packages: Sequence[str]) -> Upgrade:
    """What ``--upgrade`` and ``--upgrade-package`` ask for; a name that is not a package
    name is refused (it goes to uv's argv)."""
    for name in packages:
        if not _PACKAGE_NAME.fullmatch(name):
            raise UsageError(
                f"--upgrade-package {name!r} is not a package name (letters, digits, "
                "'.', '_' and '-', starting and ending with a letter or digit)."
            )
    return Upgrade(everything, tuple(sorted({canonicalize_name(n) for n in packages})))


_ABOUT_UV_PROJECTS = re.compile(r"tool\.uv\.environments|pyproject\.toml|active Python version")
"""uv's hints about its own project settings, which reconcile writes (a user cannot act on
them in envs.toml: the env's ``python`` is what limits the resolution)."""


_SPLIT = re.compile(r" for split \(markers: (?P<marker>.*)\)")


_LOWER_BOUND = re.compile(r"requested Python version \(>=(?P<version>[0-9.]+)\)")


def _split_named(line: str, python: str) -> str:
    """uv's ``for split (markers: ...)`` with the marker scoped as the lockfile's are: gone
    when the split is the whole scope (which only reconcile asked for), else shorter; and the
    env's Python as it is (uv names only the lower bound it was given)."""
    line = _LOWER_BOUND.sub(f"requested Python version ({python})", line)
    match = _SPLIT.search(line)
    if match is None:
        return line
    marker = scoped_marker(match.group("marker"), python)
    said = "" if isinstance(marker, bool) else f" for split (markers: {marker})"
    return line[: match.start()] + said + line[match.end() :]


def _explain(env_key: str, stderr: str, python: str) -> str:
    unreachable = unreachable_index(stderr, f"locking {env_key}")
    if unreachable is not None:
        return unreachable
    text = "\n".join(_split_named(line, python) for line in stderr.strip().splitlines())
    lines = [
        line.rstrip().removeprefix("error: ")
        for line in text.splitlines()
        if line.strip() and not _ABOUT_UV_PROJECTS.search(line)
    ][:8]
    body = "\n  ".join(lines) or "uv failed without a message"
    return f"could not lock {env_key}; uv says:\n  {body}\nNo lockfile was changed."


def direct_references(request: LockRequest) -> list[str]:
    """One sentence per requirement that is a direct reference (``name @ URL``): uv pins it
    as that URL, and a lockfile holds only ``name==version`` pins with hashes."""
    refused = []
    for text in request.requirements:
        requirement = Requirement(text)
        if requirement.url is not None:
            refused.append(
                f"cannot lock {request.env_key}: requirement {printable(text)} is a direct "
                "reference, which a lockfile cannot pin with hashes; put the wheel in a "
                "find_links folder inside the manifest's folder and require "
                f"{requirement.name}==<version>."
            )
    return refused


_UNREADABLE = "it does not read as a lockfile, so none of its pins was kept"


def _old_lock(request: LockRequest) -> tuple[Lockfile | None, str | None]:
    """The lockfile at the env's path as `lock` may read it, or None: none there, or one that
    does not parse (nothing of it is kept, and the second item says so)."""
    try:
        text = lockfile_text(request.path, request.env_key)
    except FileNotFoundError:
        return None, None
    except (OSError, ReconcileError):
        return None, _UNREADABLE
    try:
        return parse_lockfile(text, display_path(request.path)), None
    except ReconcileError:
        return None, _UNREADABLE


def resolve_one(request: LockRequest, upgrade: Upgrade = KEEP_PINS) -> Resolved:
    """Resolve one env, keeping the old lockfile's pins that ``upgrade`` does not let move;
    return the new lockfile text, or raise with uv's explanation."""
    old, unreadable = _old_lock(request)
    kept = Seed("", unreadable) if upgrade.everything or unreadable else seed(old, request.inputs)
    with tempfile.TemporaryDirectory(prefix="reconcile-lock-") as folder:
        work = Path(folder)
        write_atomic(work / "pyproject.toml", resolution_config(request.python))
        write_atomic(work / PREFERENCES_FILE, kept.text)
        command = compile_command(
            request.python,
            request.requirements,
            request.sources,
            request.base_dir,
            workdir=work,
            upgrade=upgrade,
            platform=request.platform,
        )
        result = attempt(command)
        finished = not isinstance(result, Unfinished) and result.ok
        output = _output(request, work / PREFERENCES_FILE) if finished else ""
        seed_refused = (
            not isinstance(result, Unfinished)
            and not result.ok
            and bool(kept.text)
            and str(work / PREFERENCES_FILE) in result.stderr
        )
    if seed_refused:
        raise LockfileError(
            f"uv could not read the pins of {display_path(request.path)} to keep them; run "
            f"`reconcile lock --upgrade {request.env_key}` to resolve {request.env_key} afresh."
        )
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
        raise LockfileError(_explain(request.env_key, result.stderr, request.python))
    if request.platform is None:  # a one-platform lock has no markers to scope
        output = scoped(output, request.python)
    text = seal(request.header + output)
    new = parse_lockfile(text, display_path(request.path))  # never write one unread
    return Resolved(text, new, old, kept.dropped)


def _output(request: LockRequest, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LockfileError(
            f"uv locked {request.env_key} but its result could not be read ({error}); "
            f"run `reconcile lock {request.env_key}` again."
        ) from None


def _attempt(request: LockRequest, upgrade: Upgrade) -> Resolved | LockfileError:
    """Resolve one env; a failure is returned, so every env's failure can be reported."""
    try:
        return resolve_one(request, upgrade)
    except LockfileError as error:
        return error
    except OSError as error:  # the temporary work folder for uv
        where = f" ({error.filename})" if error.filename else ""
        return LockfileError(
            f"could not lock {request.env_key}: uv's work folder could not be made or "
            f"written ({error.strerror or error}{where}); set TMPDIR to a writable folder."
        )


def _requests(loaded: LoadedManifest, env_keys: Sequence[str]) -> list[LockRequest]:
    manifest = loaded.manifest
    managed = manifest.managed_envs()
    requests = []
    for key in env_keys:
        spec = managed[key]
        sources = manifest.sources_for(key)
        platform = manifest.platform_for(key)
        assert spec.python is not None  # the manifest guarantees python on managed envs
        requests.append(
            LockRequest(
                key,
                spec.python,
                spec.requirements,
                sources,
                loaded.base_dir,
                loaded.lockfile_path(key),
                lock_inputs(spec, sources, platform),
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
        except ReconcileError as error:  # not text, a FIFO...: its own sentence says what to do
            refusals.append(error.message)
            continue
        except OSError:
            text = None
        if text is None or not written_by_reconcile(text):
            refusals.append(
                f"{display_path(request.path)} exists and is not a lockfile reconcile wrote; "
                f"move it away or point `lockfile` of env {request.env_key} elsewhere."
            )
    return refusals


def lock_envs(
    loaded: LoadedManifest, env_keys: Sequence[str], upgrade: Upgrade = KEEP_PINS
) -> Iterator[LockOutcome]:
    """Resolve every env, then write each lockfile that changed, one outcome per env
    as it is written. Nothing is written unless every env resolved and no lockfile path holds
    a file reconcile did not write (:class:`LockRefused` names them all)."""
    requests = _requests(loaded, env_keys)
    refusals = [  # before uv runs: nothing is written
        *(sentence for request in requests for sentence in direct_references(request)),
        *foreign_files(requests),
    ]
    if refusals:
        raise LockRefused(refusals)
    with ThreadPoolExecutor(max_workers=max(1, min(len(requests), 4))) as pool:
        outcomes = list(pool.map(partial(_attempt, upgrade=upgrade), requests))
    failures = [o for o in outcomes if isinstance(o, LockfileError)]
    if failures:
        raise LockRefused([failure.message for failure in failures])
    resolved = [o for o in outcomes if isinstance(o, Resolved)]
    for request, done in zip(requests, resolved, strict=True):
        try:
            before: str | None = lockfile_text(request.path, request.env_key)
        except (OSError, ReconcileError):
            before = None
        written = before != done.text
        if written:
            write_atomic(request.path, done.text)
        shown = display_path(request.path)
        yield LockOutcome(request.env_key, shown, done.old, done.new, written, done.dropped)
