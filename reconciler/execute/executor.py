"""IO: execute a plan. Builds and verifies generations (``verified.py``), writes their
receipts (``receipt.py``), switches them; records bindings.

``Applier`` never decides what to do (plan.py did); it carries out each step's action in
dependency order, independent envs in parallel. A step that fails skips every step that
depends on it, however indirectly, and every other step still runs (as Terraform does); an
interruption stops everything at once. Its collaborators (the builder, the verifier, the
health check, the reporter and the store under the root) are parameters, so the scheduling
can be tested with fakes and the real thing runs uv.

Crash safety (SPEC 7.5) comes from the order of writes, each of them atomic:
build in a fresh generation folder -> verify -> write its receipt -> switch the link ->
mark it live in its receipt -> record bindings. A kill before the receipt leaves an
incomplete generation that the next apply or gc removes; a kill between the receipt and the
switch, or a switch that fails, leaves a complete generation that never went live, which
rollback never returns to (a failed switch removes it at once); a kill after the switch
leaves the env new and its bindings old, which the next plan shows as rebinds. A live
generation counts as having gone live even unmarked, and is marked before a switch away.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from reconciler import faults, interrupts, runner
from reconciler.core.actions import ACTION_LOOKS
from reconciler.core.generations import may_switch_back
from reconciler.core.outcome import ApplyReport
from reconciler.core.plan import Plan, Step
from reconciler.errors import PythonNotFound, ReconcileError, assert_never
from reconciler.execute import deletion
from reconciler.execute.builder import Builder, Inspector, Verifier, defects_note, problems_phrase
from reconciler.execute.deletion import ApplyFailed as ApplyFailed
from reconciler.execute.receipt import new_receipt
from reconciler.execute.rootstore import ApplyStore
from reconciler.execute.schedule import run_steps
from reconciler.execute.targets import Buildable, EnvTarget
from reconciler.execute.uv import BuildRequest
from reconciler.execute.verified import VerifiedBuild
from reconciler.files import display_path
from reconciler.observe.adoption import applied_folder, folder_identity
from reconciler.observe.integrity import receipt_baseline
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import generations
from reconciler.store.bindings import AppliedState

MAX_PARALLEL_BUILDS = 4


class Interrupted(ReconcileError):
    """Ctrl-C, SIGTERM or SIGHUP during apply: in-flight builds were stopped and removed."""


StopProcesses = Callable[[float], object]
"""Stops every running child process, whole process groups, within a grace in seconds."""


class Reporter(Protocol):
    """What the executor tells about its progress (the CLI shows it live or as lines)."""

    def phase(self, target: str, text: str) -> None:
        """``target`` (an env or model) entered a phase: "creating venv", "verifying"..."""

    def finished(self, target: str, ok: bool, text: str) -> None:
        """``target``'s step ended."""


class Applier:
    """Carries out a plan's steps; see the module docstring for the order of writes."""

    def __init__(
        self,
        loaded: LoadedManifest,
        targets: Mapping[str, Buildable],
        builder: Builder,
        verifier: Verifier,
        reporter: Reporter,
        uv_version: str = "unknown",
        link_mode: str = "copy",
        stop_processes: StopProcesses = runner.terminate_all,
        *,
        store: ApplyStore,
        inspect: Inspector,
    ) -> None:
        self.loaded = loaded
        self.root = loaded.root
        self.targets = targets
        self.reporter = reporter
        self.uv_version = uv_version
        self.link_mode = link_mode
        self.stop_processes = stop_processes
        self.store = store
        self._state = self.store.read_state()
        self._state_lock = threading.Lock()
        self._cancel = threading.Event()
        self._verified = VerifiedBuild(
            builder, verifier, inspect, store, reporter.phase, self._cancel
        )
        self.report = ApplyReport()

    # --- scheduling ------------------------------------------------------------------------

    def run(self, plan: Plan) -> ApplyReport:
        """Execute every step after its dependencies; the report says what was done, what
        failed and what was skipped because something it depends on failed. Raise
        :class:`Interrupted` on Ctrl-C, SIGTERM or SIGHUP, after stopping every build."""
        # Ctrl-C, SIGTERM and SIGHUP reach only this process (runner gives children sessions
        # of their own): run_steps stops the children, stops scheduling, and tells the builds
        # to stop (_interrupted).
        interrupted = run_steps(
            plan.steps,
            self._execute,
            self.report,
            workers=MAX_PARALLEL_BUILDS,
            failed_step=self._failed,
            interrupted_round=self._interrupted,
        )
        if interrupted is not None:
            raise Interrupted(
                f"interrupted{interrupts.by(interrupted)}: in-flight builds were stopped and "
                "removed; every live env and binding is as it was or as planned. Run "
                "`reconcile plan` to see what is left."
            )
        return self.report

    def _failed(self, step: Step, interrupted: bool) -> None:
        target = f"model {step.target}" if step.kind == "model" else step.target
        # OSError: the terminal went away (SIGHUP); the report still says it, and the
        # scheduling must go on to stop the other builds
        with contextlib.suppress(OSError):
            self.reporter.finished(target, False, "stopped" if interrupted else "failed")

    def _interrupted(self) -> None:
        self._cancel.set()
        # No KeyboardInterrupt lands here (run_steps holds the signals); a second signal
        # kills the children at once in the handler.
        self.stop_processes(runner.TERMINATE_GRACE)

    def _execute(self, step: Step) -> None:
        if self._cancel.is_set():
            raise ApplyFailed("not started: apply was interrupted")
        faults.acting_on(step.target)
        match step.action:
            case "create" | "replace":
                self._build_and_switch(step)
            case "delete":
                self._delete(step)
            case "rebind":
                self._rebind(step)
            case "unbind":
                self._unbind(step)
            case "forget":
                self._forget(step)
            case _:
                assert_never(step.action)

    # --- env steps -------------------------------------------------------------------------

    def _build_and_switch(self, step: Step) -> None:
        target = self.targets[step.target]
        if isinstance(target, PythonNotFound):
            raise target  # found missing before anything was built: this env fails alone
        key = step.target
        self.store.refuse_foreign(key)  # before anything is built or created
        if self._switched_back(step, target):
            return
        faults.point("before_build")
        gen_id, gen_dir = self.store.new_generation(key)
        request = BuildRequest(
            env_key=key,
            gen_dir=gen_dir,
            python=target.python,
            lockfile=target.lock_path,
            sources=target.request_template.sources,
            base_dir=target.request_template.base_dir,
            link_mode=self.link_mode,
            venv=target.request_template.venv,
        )
        try:
            python_version, defects = self._verified.build(target, request)
            self.reporter.phase(key, "switching")
            receipt = new_receipt(
                self.loaded,
                target,
                gen_id,
                python_version,
                defects,
                uv_version=self.uv_version,
                link_mode=self.link_mode,
            )
            self.store.write_receipt(gen_dir, receipt)
            faults.point("after_receipt")
            previous = self._switch(key, gen_dir)
        except BaseException:
            self._discard(key, gen_dir)
            raise
        note = self._pruned(key, previous) + defects_note(defects)
        done = ACTION_LOOKS[step.action].done
        self.reporter.finished(key, True, f"{done} generation {gen_id}{note}")

    def _discard(self, key: str, gen_dir: Path) -> None:
        """Remove a new generation whose build, check or switch failed: it never went live
        (unless its switch failed after making it live, when it stays)."""
        try:
            live = self.store.live_generation(key)
        except (OSError, ReconcileError):
            live = None
        if live is None or live.path != gen_dir:
            self.store.delete_tree(gen_dir)

    def _switch(self, key: str, gen_dir: Path) -> generations.Generation | None:
        """Make ``gen_dir`` live and record that it went live; the generation live until
        then, marked live first (a kill may have kept it from its mark)."""
        previous = self.store.live_generation(key)
        if previous is not None:
            self.store.mark_live(previous.path)
        self.store.switch(key, gen_dir)
        faults.point("after_switch")
        # It is live: a mark that cannot be written now is written before a switch away.
        with contextlib.suppress(OSError, ReconcileError):
            self.store.mark_live(gen_dir)
        return previous

    def _pruned(self, key: str, previous: generations.Generation | None) -> str:
        """Prune after a switch; the end of the step's line ("" or what could not be
        removed)."""
        left = self._prune(key, previous)
        faults.point("after_prune")
        return f"; {len(left)} old generation(s) could not be removed" if left else ""

    def _switched_back(self, step: Step, target: EnvTarget) -> bool:
        """Switch to the step's kept generation, which the plan found already built as the
        manifest asks, once it passes the check a new build passes; False when the step has
        none (or asks for a new build), or, having said why, when it fails that check."""
        key, gen_id = step.target, step.switch_back
        if gen_id is None or not may_switch_back(step.reasons):
            return False
        gen_dir = self.store.generations_dir(key) / gen_id
        self.reporter.phase(key, f"checking kept generation {gen_id}")
        request = dataclasses.replace(target.request_template, gen_dir=gen_dir)
        baseline = receipt_baseline(self.root, os.path.realpath(gen_dir))
        problems, _ = self._verified.check(target, request, baseline)
        if problems:
            self.reporter.phase(
                key,
                f"kept generation {gen_id} failed its check ({problems_phrase(problems)}); "
                "building a new one",
            )
            return False
        self.reporter.phase(key, "switching")
        note = self._pruned(key, self._switch(key, gen_dir))
        self.reporter.finished(key, True, f"switched back to kept generation {gen_id}{note}")
        return True

    def _prune(self, key: str, previous: generations.Generation | None) -> list[str]:
        """Remove generations beyond keep_generations (:func:`deletion.prune`). Runs after
        the switch, which succeeded: what cannot be removed goes into the report (one line
        per generation, with why), as an error when it is still in place (the apply fails,
        the step stays done), else as a warning; the next apply's cleanup or ``reconcile
        gc`` retries it. Returns the paths that could not be removed."""
        keep = self.loaded.manifest.settings.keep_generations
        protect = [previous] if previous is not None else []
        result, unlisted = deletion.prune(self.store, key, keep, protect)
        self.report.removal_failures.extend([*unlisted, *result.moved_failures])
        self.report.left_in_place.extend(result.in_place_failures)
        return [path for path, _ in [*unlisted, *result.failed]]

    def _delete(self, step: Step) -> None:
        key = step.target
        if "delete_requested" in step.reasons:
            self._delete_adopted(step)
            return
        self.reporter.phase(key, "deleting")
        linked, result = deletion.delete_managed(self.store, self.root, key)
        self.report.removal_failures.extend(result.failed)
        if result.failed:
            detail = "deleted; its generations could not all be removed (see the warnings)"
        else:
            detail = "deleted" if linked or result.removed else "deleted (it was already gone)"
        self.reporter.finished(key, True, detail)

    def _delete_adopted(self, step: Step) -> None:
        """An adopted env marked ``delete = true``: its own folder goes (checked again now,
        not trusted from the plan), then the env is forgotten. A folder still in its place
        fails the step, naming it, and the env stays adopted so the next apply retries;
        one moved aside whose emptying failed is a warning (`gc` retries it)."""
        key = step.target
        folder = self.loaded.adopt_path(key)
        why = self.store.adopted_delete_problem(self.loaded, key, self._state)
        if why is not None:
            raise ApplyFailed(f"not deleted: {why}")
        self.reporter.phase(key, "deleting")
        result = self.store.delete_adopted(folder)
        faults.point("after_trash")
        deletion.refuse_in_place(result)
        self.report.removal_failures.extend(result.failed)
        self._update_state(lambda s: s.without_adopted(key))
        done = "deleted its adopted folder" if result.removed else "its adopted folder was gone:"
        if result.failed:
            done = "deleted its adopted folder, some files left (see the warnings):"
        self.reporter.finished(key, True, f"{done} {display_path(folder)}")

    # --- bindings --------------------------------------------------------------------------

    def _update_state(self, change: Callable[[AppliedState], AppliedState]) -> None:
        with self._state_lock:
            self._state = change(self._state)
            self.store.write_state(self._state)
        faults.point("after_bindings")

    def _rebind(self, step: Step) -> None:
        """Bind the model, and record the folders of the adopted envs it now uses, in one
        write: the runtime resolves an adopted env through its applied folder."""
        fallback = self.loaded.manifest.models[step.target].fallback
        adopted = self._manifest_adopted()
        used = {k: adopted[k] for k in (step.to_env, fallback) if k in adopted}
        ids = {k: folder_identity(Path(used[k])) for k in used}
        self._update_state(
            lambda s: s.with_binding(step.target, step.to_env, fallback).with_adopted(
                {**s.adopted, **used}, ids
            )
        )
        self.reporter.finished(f"model {step.target}", True, f"bound to {step.to_env}")

    def _unbind(self, step: Step) -> None:
        self._update_state(lambda s: s.with_binding(step.target, None))
        self.reporter.finished(f"model {step.target}", True, "unbound")

    def _forget(self, step: Step) -> None:
        key = step.target
        self._update_state(lambda s: s.without_adopted(key))
        self.reporter.finished(key, True, "forgotten (its files are left alone)")

    def _manifest_adopted(self) -> dict[str, str]:
        """The manifest's adopted envs in use -> their absolute folder."""
        return {
            key: applied_folder(self.loaded, key) for key in self.loaded.manifest.adopted_envs()
        }

    def record_adopted(self) -> None:
        """After a successful apply, remember the manifest's adopted envs (so removing one
        later plans a forget). Never drops one (forget and delete steps do), and never moves
        one a model uses to another folder (a rebind step does, which the plan shows)."""
        recorded = adopted_to_record(self.loaded, self._state)
        if recorded != self._state:
            self._update_state(lambda s: adopted_to_record(self.loaded, s))


def adopted_to_record(loaded: LoadedManifest, state: AppliedState) -> AppliedState:
    """The applied state once an apply succeeded (see :meth:`Applier.record_adopted`): the
    manifest's adopted envs added, each at its folder, but for one a model uses, which only a
    rebind step moves; each with its folder's identity when it has none yet (a folder's
    identity is never replaced while its path stays: :meth:`AppliedState.with_adopted`)."""
    used = set(state.bindings.values()) | set(state.fallbacks.values())
    adopted = dict(state.adopted)
    for key in loaded.manifest.adopted_envs():
        if key not in adopted or key not in used:
            adopted[key] = applied_folder(loaded, key)
    ids = {
        key: folder_identity(Path(adopted[key]))
        for key in loaded.manifest.adopted_envs()
        if adopted[key]
    }
    return state.with_adopted(adopted, ids)
