"""The commands behind the CLI: each reads its arguments, calls one use case, prints.

Exit codes (SPEC 4): 0 success or nothing to do; 1 error; 2 changes pending or problems found
(``plan --detailed-exitcode``, ``diff``, ``verify``, ``lock --check``: see cli/app.py).
Imports are local to each command, so a command loads only what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, cast

from reconciler import faults
from reconciler.errors import UsageError
from reconciler.files import printable

if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

    from rich.console import Console

    from reconciler.commands.plan import PlanRun
    from reconciler.commands.which import ResolvedEnv
    from reconciler.core.plan import Plan
    from reconciler.execute.executor import Reporter
    from reconciler.store.applylock import LockHolder

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
NOTHING_TO_REMOVE = "Nothing to remove."


def cmd_plan(args: argparse.Namespace) -> int:
    memo: tuple[Path, str] | None = getattr(args, "memo", None)
    if memo is None:
        return _plan(args, sys.stdout)[0]
    from reconciler.memo import replay

    started = time.time_ns()
    tee = replay.Tee(sys.stdout)
    code, run, root = _plan(args, cast("TextIO", tee))  # a stdout that keeps a copy
    if root == memo[0]:
        replay.store(root, memo[1], run.inputs, tee.getvalue(), code, started)
    return code


def _plan(args: argparse.Namespace, out: TextIO) -> tuple[int, PlanRun, Path]:
    """Compute the plan and write it to ``out``; the exit code, the plan and its root."""
    from reconciler.commands.plan import make_plan
    from reconciler.files import write_atomic
    from reconciler.observe.inputs import load_manifest
    from reconciler.report.document import plan_document
    from reconciler.report.plan import render_json, render_markdown, render_text, summary_line
    from reconciler.store.system import current

    loaded = load_manifest(args.manifest, args.root)
    run = make_plan(loaded, args.target, platform=current(), deep=args.deep, replace=args.replace)
    name = args.manifest.name
    doc = plan_document(run.plan, name)
    if args.out is not None:
        try:
            write_atomic(args.out, render_json(plan_document(run.plan, name, run.fingerprint)))
        except OSError as exc:
            raise UsageError(
                f"cannot write the plan to {args.out}: {exc.strerror or exc}."
            ) from None
    if args.format == "json":
        out.write(render_json(doc))
    elif args.format == "markdown":
        out.write(render_markdown(doc))
    elif args.quiet:
        print(summary_line(doc["summary"]) if run.plan.has_changes else "No changes.", file=out)
    else:
        console = _console(args, out)
        console.print(render_text(doc), end="")
    if args.out is not None and not args.quiet:
        note = f"Saved the plan to {args.out}; apply it with `reconcile apply {args.out}`."
        # json and markdown on stdout are documents: the note must not end up inside them
        print(note, file=out if args.format == "text" else sys.stderr)
    code = EXIT_CHANGES if args.detailed_exitcode and run.plan.has_changes else EXIT_OK
    return code, run, loaded.root


def _console(args: argparse.Namespace, out: TextIO | None = None) -> Console:
    """Rich's console for this command's output. ``--no-color`` or ``NO_COLOR`` means no
    styling at all (bold and dim too; rich alone keeps them); a live display may still
    move the cursor."""
    from rich.console import Console

    plain = args.no_color or os.environ.get("NO_COLOR", "") != ""
    return Console(
        file=out, color_system=None if plain else "auto", highlight=False, soft_wrap=True
    )


def cmd_diff(args: argparse.Namespace) -> int:
    """The plan from BASE to HEAD out of manifests and lockfiles alone; exit 2 on changes."""
    from reconciler.commands.diff import make_diff, portable_label
    from reconciler.report.document import diff_document
    from reconciler.report.plan import render_json, render_markdown, render_text, summary_line

    plan, base, head = make_diff(args.base, args.head, args.manifest, args.root)
    doc = diff_document(plan, args.manifest.name, portable_label(base), portable_label(head))
    if args.format == "json":
        sys.stdout.write(render_json(doc))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(doc))
    elif args.quiet:
        print(summary_line(doc["summary"]) if plan.has_changes else "No changes.")
    else:
        console = _console(args)
        console.print(render_text(doc), end="")
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    """Write lockfiles; with --check, write nothing and exit 2 when one is stale."""
    from reconciler.commands.lock import check, lock_envs, selected_envs, upgrade_of
    from reconciler.observe.inputs import load_manifest
    from reconciler.report.lock import closing_line, outcome_lines, unpinned

    if args.check and args.upgrade_package:
        raise UsageError("--check writes nothing, so it takes no --upgrade-package.")
    upgrade = upgrade_of(args.upgrade, args.upgrade_package)
    loaded = load_manifest(args.manifest, args.root)
    keys = selected_envs(loaded, args.envs)
    if args.check:
        problems = check(loaded, keys)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            count = len(problems)
            needs = "lockfile needs" if count == 1 else "lockfiles need"
            print(f"error: {count} {needs} `reconcile lock`.", file=sys.stderr)
            return EXIT_CHANGES
        if not args.quiet:
            count = len(keys)
            print("The lockfile is fresh." if count == 1 else f"All {count} lockfiles are fresh.")
        return EXIT_OK
    outcomes = []
    for outcome in lock_envs(loaded, keys, upgrade):
        outcomes.append(outcome)
        if not args.quiet:
            print("\n".join(outcome_lines(outcome)))
    for name in unpinned(upgrade.packages, outcomes):
        print(
            f"warning: --upgrade-package {name}: no lockfile of the envs locked pins it.",
            file=sys.stderr,
        )
    closing = closing_line(outcomes)
    if closing and not args.quiet:
        print(closing)
    return EXIT_OK


def _confirm(args: argparse.Namespace) -> None:
    """Ask on a terminal unless --yes; refuse without --yes when stdin is not a terminal."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "refusing to apply without --yes: stdin is not a terminal, so nobody can confirm."
        )
    print("\nDo you want to perform these actions? Only 'yes' will be accepted.")
    try:
        answer = input("  Enter a value: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise UsageError("apply cancelled: nothing was changed.")


def _on_wait(args: argparse.Namespace) -> Callable[[LockHolder | None], None]:
    def tell(holder: LockHolder | None) -> None:
        who = holder.describe() if holder else "holder unknown"
        print(
            f"waiting up to {args.lock_timeout:g} s for the lock ({who})...",
            file=sys.stderr,
            flush=True,
        )

    return tell


def cmd_apply(args: argparse.Namespace) -> int:
    from reconciler.commands.apply import ApplyRequest, Unchanged, apply
    from reconciler.report.apply import apply_summary, failure_lines, removal_warnings
    from reconciler.report.plan import NO_CHANGES
    from reconciler.store.system import current

    request = ApplyRequest(
        manifest=args.manifest,
        root=args.root,
        planfile=args.planfile,
        targets=tuple(args.target),
        lock_timeout=args.lock_timeout,
        replace=tuple(args.replace),
    )
    console = _console(args)
    ui = _ApplyUI(args, console)
    report = apply(request, ui, platform=current())
    if isinstance(report, Unchanged):
        if report.plan.warnings and not args.quiet:  # what `plan` warns of, then "No changes"
            ui.show(report.plan)
        else:
            print(NO_CHANGES)
        return EXIT_OK
    for line in failure_lines(report):  # what failed and why, then the summary, last
        print(line, file=sys.stderr, flush=True)
    print(apply_summary(report), flush=True)
    for line in removal_warnings(report):
        print(line, file=sys.stderr)
    faults.point("after_report")
    return EXIT_ERROR if report.failed or report.skipped or report.left_in_place else EXIT_OK


class _ApplyUI:
    """apply's questions and display on this terminal (or in a CI log)."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.can_confirm = args.yes or sys.stdin.isatty()

    def show(self, plan: Plan) -> None:
        from reconciler.report.document import plan_document
        from reconciler.report.plan import render_text

        if not self.args.quiet:
            self.console.print(render_text(plan_document(plan, self.args.manifest.name)), end="")

    def confirm(self) -> None:
        _confirm(self.args)

    def warn(self, line: str) -> None:
        print(line, file=sys.stderr)

    def waiting(self, holder: LockHolder | None) -> None:
        _on_wait(self.args)(holder)

    def progress(self) -> AbstractContextManager[Reporter]:
        from reconciler.cli.progress import LiveReporter, PlainReporter

        if self.console.is_terminal and not self.args.quiet:
            return LiveReporter(self.console)
        return nullcontext(PlainReporter(quiet=self.args.quiet))


def cmd_rollback(args: argparse.Namespace) -> int:
    from reconciler.commands.rollback import rollback
    from reconciler.observe.inputs import load_manifest
    from reconciler.store.system import current

    loaded = load_manifest(args.manifest, args.root)
    if args.env not in loaded.manifest.managed_envs():
        raise UsageError(
            f"{args.env} is not a managed env in {args.manifest}; nothing to roll back."
        )
    previous = rollback(
        loaded,
        args.env,
        platform=current(),
        lock_timeout=args.lock_timeout,
        on_wait=_on_wait(args),
    )
    print(f"{args.env} now runs generation {previous.gen_id}.")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from reconciler.commands.gc import collect, preview_gc
    from reconciler.observe.inputs import load_manifest
    from reconciler.report.apply import removal_lines
    from reconciler.store.system import current

    loaded = load_manifest(args.manifest, args.root)
    platform = current()
    ops = platform.ops
    keep = args.keep if args.keep is not None else loaded.manifest.settings.keep_generations
    if keep < 1:
        raise UsageError(f"--keep must be at least 1 (the live generation), got {keep}.")
    if not loaded.root.is_dir():
        print("Nothing to collect: the root does not exist.")
        return EXIT_OK
    if args.dry_run:
        preview = preview_gc(loaded, keep, ops=ops, venv=platform.venv)
        for path in preview.removed:
            print(f"would remove {path}")
        if not preview.removed and not args.quiet:
            print(NOTHING_TO_REMOVE)
        _left_alone(preview.unrecorded)
        _ignored(loaded.root, preview.ignored)
        return EXIT_OK
    removed: list[str] = []

    def tell(path: str) -> None:
        removed.append(path)
        print(f"removed {path}")

    done = collect(
        loaded,
        keep,
        ops=ops,
        venv=platform.venv,
        lock_timeout=args.lock_timeout,
        on_wait=_on_wait(args),
        removed=tell,
    )
    if not removed and not done.failed and not args.quiet:
        print(NOTHING_TO_REMOVE)
    for line in removal_lines(done.failed, done.in_place):
        print(line, file=sys.stderr)
    _left_alone(done.unrecorded)
    _ignored(loaded.root, done.ignored)
    return EXIT_ERROR if done.in_place else EXIT_OK


def _ignored(root: Path, paths: Sequence[str]) -> None:
    """Name what the record of removals lists that reconcile never made: never removed."""
    from reconciler.store import removals

    for path in paths:
        print(
            f"note: left {path} alone: {removals.journal_path(root)} lists it, but it is not "
            "something reconcile set aside to remove; delete that entry, and the path "
            "yourself if you do not need it.",
            file=sys.stderr,
        )


def _left_alone(paths: Sequence[Path]) -> None:
    """Name what sits in the trash without reconcile having put it there: never removed."""
    for path in paths:
        print(
            f"note: left {path} alone: reconcile did not put it in the trash; remove it "
            "yourself if you do not need it.",
            file=sys.stderr,
        )


def _resolve(args: argparse.Namespace) -> ResolvedEnv:
    from reconciler.commands.which import resolve_applied
    from reconciler.store.layout import LOCK_WAIT
    from reconciler.store.system import current

    timeout = LOCK_WAIT if args.wait_timeout is None else args.wait_timeout

    def tell(holder: LockHolder) -> None:
        print(
            f"waiting up to {timeout:g} s for the apply ({holder.describe()}) to make "
            f"model {args.model}'s env usable...",
            file=sys.stderr,
            flush=True,
        )

    resolved = resolve_applied(
        args.manifest,
        args.root,
        args.model,
        platform=current(),
        wait=args.wait or args.wait_timeout is not None,
        timeout=timeout,
        on_wait=tell,
    )
    if resolved.source == "fallback":
        print(
            f"warning: {resolved.problem}; model {args.model} runs in its fallback "
            f"{resolved.env_key}. Run `reconcile apply` to fix its env.",
            file=sys.stderr,
        )
    return resolved


def cmd_verify(args: argparse.Namespace) -> int:
    from reconciler.commands.verify import verify
    from reconciler.report.verify import has_problems, render_json, render_text, verify_document
    from reconciler.store.system import current_venv

    checks = verify(args.manifest, args.root, args.envs, venv=current_venv(), deep=args.deep)
    doc = verify_document(checks, args.deep)
    if args.format == "json":
        sys.stdout.write(render_json(doc))
    else:
        # a PATH argument is shown as typed: escape what a terminal would act on
        sys.stdout.write(printable(render_text(doc, verbose=args.verbose, quiet=args.quiet)))
    return EXIT_CHANGES if has_problems(doc) else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """One table of every env; reads only, never takes the lock, exits 0 whatever it shows."""
    from reconciler.commands.status import status_report
    from reconciler.observe.inputs import load_manifest
    from reconciler.report.status import render_json, render_text
    from reconciler.store.system import current

    doc = status_report(load_manifest(args.manifest, args.root), platform=current())
    sys.stdout.write(render_json(doc) if args.format == "json" else printable(render_text(doc)))
    return EXIT_OK


def cmd_which(args: argparse.Namespace) -> int:
    """Print the interpreter's path, exactly: a script starts it, and a path written with an
    escape or a replaced character would name another file, so one this output cannot carry
    is an error (see :func:`reconciler.cli.start.path_bytes`)."""
    from reconciler.cli.start import write_path
    from reconciler.store.system import current_venv

    python = str(_resolve(args).python)
    if write_path(python, sys.stdout, windows=current_venv().windows):
        return EXIT_OK
    if sys.stdout is None:
        raise UsageError("which has no output to write the path to: stdout is closed.")
    encoding = getattr(sys.stdout, "encoding", None)
    raise UsageError(
        f"the interpreter's path {python} cannot be written in this output's encoding "
        f"({encoding}): set PYTHONIOENCODING=utf-8 and read the output as UTF-8, or move the "
        "root to a folder whose path this encoding can write."
    )


def cmd_run(args: argparse.Namespace) -> int:
    from reconciler.commands.run import run_in
    from reconciler.store.system import current_venv

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("nothing to run: use `reconcile run MODEL -- CMD [ARGS]...`.")
    return run_in(_resolve(args), argv, os.environ, windows=current_venv().windows)
