"""IO: build a new generation and verify it before it may go live; on bad files from the uv
cache, purge them and rebuild once, keeping what is proven wrong upstream as its baseline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from reconciler import faults
from reconciler.core.facts import Finding
from reconciler.core.integrity import RecordDefect
from reconciler.execute.builder import (
    Builder,
    FileProblem,
    Inspector,
    Verifier,
    gate,
    problems_phrase,
    upstream_defects,
)
from reconciler.execute.deletion import ApplyFailed
from reconciler.execute.rootstore import ApplyStore
from reconciler.execute.targets import EnvTarget
from reconciler.execute.uv import BuildError, BuildRequest

Phase = Callable[[str, str], object]
"""Tells that an env entered a phase ("creating venv", "verifying"...): the reporter's."""


class VerifiedBuild:
    """Builds and checks generations with the executor's collaborators; stops between phases
    once ``cancel`` is set (apply was interrupted)."""

    def __init__(
        self,
        builder: Builder,
        verifier: Verifier,
        inspect: Inspector,
        store: ApplyStore,
        phase: Phase,
        cancel: threading.Event,
    ) -> None:
        self.builder = builder
        self.verifier = verifier
        self.inspect = inspect
        self.store = store
        self.phase = phase
        self.cancel = cancel

    def build(
        self, target: EnvTarget, request: BuildRequest
    ) -> tuple[str, tuple[RecordDefect, ...]]:
        """Build, verify; on bad files purge them from the uv cache and rebuild once (7.2).

        Returns the interpreter's full version and the upstream RECORD defects accepted:
        rows still wrong after the purge, with the very same bytes as before it (a cache
        that was corrupted gives other bytes from a fresh install, or none wrong at all).
        """
        key = target.env_key
        self._install(target, request, refresh=())
        problems, version = self.check(target, request, baseline=())
        defects: tuple[RecordDefect, ...] = ()
        if problems and problems[0].category == "integrity":
            packages = sorted({p.distribution for p in problems})
            self.phase(key, f"bad files from the cache; purging {', '.join(packages)}")
            self.builder.purge_cache(key, packages)
            self.store.delete_tree(request.gen_dir)
            self._install(target, request, refresh=packages)
            again, version = self.check(target, request, baseline=())
            defects = upstream_defects(problems, again)
            problems = again
            if defects:
                named = ", ".join(sorted({d.dist for d in defects}))
                self.phase(
                    key,
                    f"upstream RECORD defect in {named}: a fresh install gave the same files; "
                    "keeping them as this generation's baseline",
                )
                problems, version = self.check(target, request, baseline=defects)
        if problems:
            raise BuildError(_describe(key, problems))
        return version, defects

    def check(
        self, target: EnvTarget, request: BuildRequest, baseline: Sequence[RecordDefect]
    ) -> tuple[list[FileProblem], str]:
        """Verify a built generation: (problems, the interpreter's full version)."""
        key = target.env_key
        self._check_cancel(key)
        self.phase(key, "verifying")

        def judge() -> tuple[tuple[Finding, ...], str]:
            judged = self.inspect(target, request.gen_dir)
            faults.point("after_verify")
            return judged

        return gate(self.verifier, judge, request.gen_dir, target.verify_ignore, baseline)

    def _install(self, target: EnvTarget, request: BuildRequest, refresh: Sequence[str]) -> None:
        """Create the venv and install the lockfile into it."""
        key = target.env_key
        self._check_cancel(key)
        self.phase(key, "creating venv")
        self.builder.create_venv(request)
        faults.point("after_venv")
        self._check_cancel(key)
        count = target.installs
        self.phase(key, f"installing {count} package{'s' if count != 1 else ''}")
        self.builder.sync(request, refresh)
        faults.point("after_sync")

    def _check_cancel(self, key: str) -> None:
        if self.cancel.is_set():
            raise ApplyFailed(f"stopped building {key}: apply was interrupted")


def _describe(key: str, problems: Sequence[FileProblem]) -> str:
    return (
        f"the new generation of {key} failed verification ({problems_phrase(problems)}); "
        "the live env is untouched"
    )
