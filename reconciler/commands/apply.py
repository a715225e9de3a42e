"""IO: the `apply` use case. Refuse bad input before the lock, then under the lock: clean up,
plan, check a saved plan, show it, confirm, build and switch. What the person sees and
answers goes through an :class:`ApplyUI`, so this module never prints."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler import faults, interrupts
from reconciler.commands.gc import cleanup
from reconciler.commands.plan import check_inputs, make_plan
from reconciler.commands.savedplan import check_saved, load_saved_plan
from reconciler.core.outcome import ApplyReport
from reconciler.core.plan import Plan
from reconciler.errors import UsageError
from reconciler.execute.apply import execute, record_adopted
from reconciler.execute.executor import Reporter
from reconciler.execute.targets import env_targets
from reconciler.observe.inputs import load_manifest
from reconciler.platform import Platform
from reconciler.store.applylock import ApplyLock, LockHolder


class ApplyUI(Protocol):
    """The person (or CI job) on the other side of `apply`."""

    can_confirm: bool
    """Whether :meth:`confirm` can succeed (``--yes``, or a terminal to ask on)."""

    def show(self, plan: Plan) -> None:
        """Show the plan about to be applied."""

    def confirm(self) -> None:
        """Return when the person agreed; raise :class:`UsageError` otherwise."""

    def warn(self, line: str) -> None:
        """One warning line (a leftover that could not be removed)."""

    def waiting(self, holder: LockHolder | None) -> None:
        """Another reconcile holds the lock; this one waits."""

    def progress(self) -> AbstractContextManager[Reporter]:
        """The display of the build while it runs."""


@dataclass(frozen=True)
class Unchanged:
    """Nothing to do: the plan holds only its warnings (an unhealthy adopted env, an entry in
    the root reconcile did not make), which `apply` shows as `plan` does."""

    plan: Plan


@dataclass(frozen=True)
class ApplyRequest:
    manifest: Path
    root: Path | None
    """``--root``, which overrides the manifest's."""
    planfile: Path | None
    """A saved plan to apply (`apply PLANFILE`) instead of a fresh one."""
    targets: tuple[str, ...]
    lock_timeout: float
    replace: tuple[str, ...] = ()
    """``--replace``: envs rebuilt as a new generation even when healthy."""


def apply(request: ApplyRequest, ui: ApplyUI, *, platform: Platform) -> ApplyReport | Unchanged:
    """Apply the plan; the report of what was done, failed and skipped (a failed step skips
    only what depends on it), or :class:`Unchanged`."""
    saved = load_saved_plan(request.planfile) if request.planfile is not None else None
    if saved is not None and request.targets:
        raise UsageError("--target cannot be used with a saved plan: the plan has its targets.")
    if saved is not None and request.replace:
        raise UsageError(
            "--replace cannot be used with a saved plan: the plan already says what it replaces; "
            "make a new one with `reconcile plan --replace ENV --out FILE`."
        )
    loaded = load_manifest(request.manifest, request.root)
    targets = list(saved.targets) if saved is not None else list(request.targets)
    replace = list(saved.replace) if saved is not None else list(request.replace)
    check_inputs(loaded, targets, replace)  # bad input is refused before the lock creates the root
    if saved is None and not ui.can_confirm:
        # Nobody can confirm: say so before the lock (which would create the root), after
        # showing what would have been done. With nothing to do there is nothing to refuse.
        run = make_plan(loaded, targets, platform=platform, replace=replace)
        if not run.plan.has_changes:
            if loaded.root.is_dir() and loaded.manifest.adopted_envs():
                with ApplyLock(loaded.root, timeout=request.lock_timeout, on_wait=ui.waiting):
                    record_adopted(loaded)
            return Unchanged(run.plan)
        ui.show(run.plan)
        ui.confirm()
    with ApplyLock(loaded.root, timeout=request.lock_timeout, on_wait=ui.waiting):
        keep = loaded.manifest.settings.keep_generations
        for path, why in cleanup(loaded, keep, ops=platform.ops, venv=platform.venv):
            ui.warn(f"warning: could not remove leftover {path}: {why}")
        run = make_plan(loaded, targets, platform=platform, replace=replace)
        if saved is not None and request.planfile is not None:
            check_saved(saved, run, request.planfile)
        if not run.plan.has_changes:
            record_adopted(loaded)
            return Unchanged(run.plan)
        ui.show(run.plan)
        found = env_targets(
            loaded, run.plan, venv=platform.venv
        )  # a missing Python: that env fails
        if saved is None:
            ui.confirm()
        with ui.progress() as reporter:
            report = execute(loaded, run.plan, found, reporter, platform=platform)
            _applied()
    return report


def _applied() -> None:
    """Every change is made: a signal from here on (the display's teardown, the lock's
    release, the report) is reported after the report, not acted on."""
    interrupts.settle("the apply completed")
    faults.point("after_apply")
