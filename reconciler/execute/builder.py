"""IO: what the executor builds and checks a new generation with: the uv builder, the hash
verification of every file, the health check, and the proof of an upstream RECORD defect.

The executor sees them through ``Builder``, ``Verifier`` and ``Inspector``, so its scheduling
can be tested with fakes; the real ones here run uv and the env's interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.core.facts import Finding
from reconciler.core.health import Expectation, assess
from reconciler.core.integrity import IntegrityFinding, RecordDefect
from reconciler.execute import uv
from reconciler.execute.targets import EnvTarget
from reconciler.execute.uv import BuildRequest
from reconciler.observe.env import EnvRequest, observe_env
from reconciler.platform import VenvLayout


class Builder(Protocol):
    def create_venv(self, request: BuildRequest) -> None: ...
    def sync(self, request: BuildRequest, refresh: Sequence[str] = ()) -> None: ...
    def purge_cache(self, env_key: str, packages: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class FileProblem:
    """One bad file found when verifying a new generation.

    ``installed`` is set for a file whose sha256 or size is not its RECORD row's: what the
    file is (its actual sha256 and size), which may turn out to be an upstream RECORD defect.
    """

    category: str
    distribution: str
    path: str
    installed: RecordDefect | None = None


Verifier = Callable[[Path, Sequence[str], Sequence[RecordDefect]], Sequence[FileProblem]]
"""Checks a generation's files (its folder, ``verify_ignore``, the accepted RECORD defects)."""

Inspector = Callable[[EnvTarget, Path], tuple[tuple[Finding, ...], str]]
"""Judges a verified generation's health: (findings, the interpreter's full version)."""


class UvBuilder:
    """The real builder: uv, through reconciler.execute.uv."""

    def create_venv(self, request: BuildRequest) -> None:
        uv.create_venv(request)

    def sync(self, request: BuildRequest, refresh: Sequence[str] = ()) -> None:
        uv.sync(request, refresh)

    def purge_cache(self, env_key: str, packages: Sequence[str]) -> None:
        uv.purge_cache(env_key, packages)


def file_verifier(
    root: Path, *, venv: VenvLayout
) -> Callable[[Path, Sequence[str], Sequence[RecordDefect]], list[FileProblem]]:
    """Full hash verification of every RECORD row of a new generation: every file is read
    (``deep``), and the hashes go into the root's cache so the next plan need not reread them.
    A file whose sha256 or size is not its RECORD row's is hashed as it is (``installed``),
    to tell an upstream RECORD defect from a corrupted cache after the purge."""
    from reconciler.observe.integrity import verify_dir

    def verify_files(
        env_dir: Path, ignore: Sequence[str], baseline: Sequence[RecordDefect]
    ) -> list[FileProblem]:
        report = verify_dir(root, env_dir, ignore, venv=venv, deep=True, baseline=baseline)
        return [
            FileProblem(f.category, f.dist or "", f.path, _as_installed(env_dir, f))
            for f in report.findings
        ]

    return verify_files


def _as_installed(env_dir: Path, finding: IntegrityFinding) -> RecordDefect | None:
    """What a file whose content is not its RECORD row's is: its actual sha256 and size, or
    ``None`` for any other finding (or a file that is no longer a regular file)."""
    from reconciler.observe.hashing import sha256_file

    if finding.category not in ("hash_mismatch", "size_mismatch") or finding.dist is None:
        return None
    if finding.category == "hash_mismatch" and finding.actual_sha256 is not None:
        digest, size = finding.actual_sha256, finding.actual_size
    else:
        path = env_dir / finding.path
        try:
            info = path.lstat()
            digest, size = sha256_file(str(path), info).sha256, info.st_size
        except OSError:
            return None
    if size is None:
        return None
    return RecordDefect(
        finding.dist, finding.path, finding.expected_sha256, finding.expected_size, digest, size
    )


def generation_inspector(venv: VenvLayout) -> Inspector:
    """The real health check of a venv laid out as ``venv``: one probe of the new
    generation's own interpreter, judged as a plan would judge it (not yet reconcile's: it
    has no receipt until it passes)."""

    def inspect_generation(target: EnvTarget, gen_dir: Path) -> tuple[tuple[Finding, ...], str]:
        return judge_generation(
            target.env_key,
            gen_dir,
            Expectation(python=target.python_declared, lock=target.lock, managed=False),
            target.imports,
            venv=venv,
        )

    return inspect_generation


def judge_generation(
    env_key: str,
    gen_dir: Path,
    expect: Expectation,
    imports: Sequence[str],
    *,
    venv: VenvLayout,
) -> tuple[tuple[Finding, ...], str]:
    """One probe of a generation's own interpreter (trying ``imports``), judged as a plan
    judges an env against ``expect``: (findings, the interpreter's full version)."""
    facts = observe_env(EnvRequest(env_key, gen_dir, tuple(imports)), venv=venv)
    health = assess(facts, expect)
    return health.findings, facts.probe.version if facts.probe else "unknown"


def gate(
    verify: Verifier,
    judge: Callable[[], tuple[tuple[Finding, ...], str]],
    gen_dir: Path,
    ignore: Sequence[str],
    baseline: Sequence[RecordDefect],
) -> tuple[list[FileProblem], str]:
    """The check a generation passes before it may go live, new or kept: every file against
    RECORD (``verify``), then, when they are sound, its health (``judge``). Returns (its
    problems, the interpreter's full version)."""
    files = [
        FileProblem("integrity", p.distribution, f"{p.category}: {p.path}", p.installed)
        for p in verify(gen_dir, ignore, baseline)
    ]
    if files:
        return files, ""
    findings, version = judge()
    return [FileProblem("health", f.reason, f.detail) for f in findings], version


def problems_phrase(problems: Sequence[FileProblem]) -> str:
    """The first few problems of a gate, ``; ``-separated, then how many more."""
    first = problems[:5]
    lines = "; ".join(f"{p.distribution}: {p.path}" for p in first)
    more = f" and {len(problems) - len(first)} more" if len(problems) > len(first) else ""
    return lines + more


def upstream_defects(
    before: Sequence[FileProblem], after: Sequence[FileProblem]
) -> tuple[RecordDefect, ...]:
    """The upstream RECORD defects that a purge-and-rebuild proves, or none.

    Proven when every problem of the build after the purge is a file whose sha256 or size is
    not RECORD's (``installed`` is set: never a missing, empty or unreadable file, nor a
    health problem), and the build before the purge had the same file with the very same
    bytes: a fresh install from the wheel the lockfile's hash pins gave what the cache gave.
    Anything else (a file that changed between the two, one bad only after) proves nothing.
    """
    if not after:
        return ()
    first = {p.installed for p in before if p.category == "integrity" and p.installed}
    found = [p.installed for p in after if p.category == "integrity" and p.installed]
    if len(found) != len(after) or not all(d in first for d in found):
        return ()
    return tuple(sorted(found, key=lambda d: (d.path, d.dist)))


def defects_note(defects: Sequence[RecordDefect]) -> str:
    """The end of a step's line naming the upstream RECORD defects kept, or ``""``."""
    if not defects:
        return ""
    rows = ", ".join(f"{d.dist} {d.path}" for d in defects[:3])
    more = f" and {len(defects) - 3} more" if len(defects) > 3 else ""
    count = len(defects)
    return (
        f"; {count} upstream RECORD defect{'s' * (count != 1)} kept as installed "
        f"(record_defect: {rows}{more}; see `reconcile verify -v`)"
    )
