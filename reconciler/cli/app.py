"""Thin edge: parse arguments, call one function, map errors to exit codes.

Exit codes (SPEC 4): 0 success or nothing to do; 1 error; 2 changes pending or problems found,
never an error: ``plan --detailed-exitcode`` and ``diff`` with changes pending, ``verify`` with
a finding or an env it could not check, ``lock --check`` with a stale or missing lockfile.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PureWindowsPath

from reconciler import __version__
from reconciler.errors import ReconcileError, UsageError
from reconciler.spec.winpaths import path_trailing_problem, plain_path
from reconciler.store.layout import LOCK_WAIT

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one sentence with exit code 1 (SPEC 4)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")


def _path(text: str) -> Path:
    """A path given on the command line, in its plain spelling (``\\\\?\\C:\\x`` is
    ``C:\\x`` on Windows), as the manifest's paths are."""
    path = plain_path(Path(text))
    problem = path_trailing_problem(path)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return path


def _out_file(text: str) -> Path:
    """``plan --out``: a file, never a stream of another file (``plan:x`` on Windows)."""
    path = _path(text)
    if isinstance(path, PureWindowsPath) and ":" in str(path)[len(path.drive) :]:
        raise argparse.ArgumentTypeError(
            f'{text} holds ":", which on Windows names a stream of another file; name a file '
            'without ":"'
        )
    return path


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--manifest", type=_path, default=default(Path("envs.toml")), help="envs.toml to use"
    )
    parser.add_argument("--root", type=_path, default=default(None), help="override settings.root")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False))
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False))
    parser.add_argument("--no-color", action="store_true", default=default(False))


_DEEP_HELP = "rehash every file, trusting no cached hash"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconcile",
        description="Keep this machine's Python environments equal to envs.toml.",
    )
    parser.add_argument("--version", action="version", version=f"reconcile {__version__}")
    _global_options(parser, suppress=False)
    shared = _Parser(add_help=False)
    _global_options(shared, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    plan = commands.add_parser(
        "plan", parents=[shared], help="observe envs and show what apply would change"
    )
    plan.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    plan.add_argument(
        "--out", type=_out_file, help="save the plan (JSON with fingerprint) for apply"
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when changes are pending, 0 when there are none",
    )
    plan.add_argument(
        "--target", action="append", default=[], metavar="ENV", help="plan only this env"
    )
    _replace(plan)
    plan.add_argument("--deep", action="store_true", help=_DEEP_HELP)

    verify = commands.add_parser(
        "verify",
        parents=[shared],
        help="check every installed file of managed and adopted envs, or of any venv, against "
        "its RECORD",
    )
    verify.add_argument(
        "envs",
        nargs="*",
        metavar="ENV|PATH",
        help="envs to check (default: all), or venv folders by path (with / or a leading .), "
        "which need no manifest",
    )
    verify.add_argument("--deep", action="store_true", help=_DEEP_HELP)
    verify.add_argument("--format", choices=("text", "json"), default="text")

    status = commands.add_parser(
        "status",
        parents=[shared],
        help="one table: health, Python, generations, models and size of every env",
    )
    status.add_argument("--format", choices=("text", "json"), default="text")

    lock = commands.add_parser(
        "lock",
        parents=[shared],
        help="write lockfiles from the requirements in envs.toml, keeping existing pins",
    )
    lock.add_argument("envs", nargs="*", metavar="ENV", help="envs to lock (default: all)")
    how = lock.add_mutually_exclusive_group()
    how.add_argument(
        "--check",
        action="store_true",
        help="exit 2 if any lockfile is stale (inputs changed, edited by hand, a requirement "
        "not pinned) or missing; write nothing",
    )
    how.add_argument(
        "--upgrade",
        "-U",
        action="store_true",
        help="resolve every package afresh, ignoring the pins of the existing lockfiles",
    )
    lock.add_argument(
        "--upgrade-package",
        "-P",
        action="append",
        default=[],
        metavar="NAME",
        help="let NAME move to its newest allowed version, keeping every other pin (repeatable)",
    )

    apply = commands.add_parser(
        "apply", parents=[shared], help="build, verify and switch envs; bind models"
    )
    apply.add_argument("planfile", nargs="?", type=_path, help="a plan saved by `plan --out`")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--target", action="append", default=[], metavar="ENV", help="apply only this env"
    )
    _replace(apply)
    _lock_timeout(apply)

    rollback = commands.add_parser(
        "rollback", parents=[shared], help="switch an env back to its previous generation"
    )
    rollback.add_argument("env", metavar="ENV")
    _lock_timeout(rollback)

    gc = commands.add_parser(
        "gc", parents=[shared], help="remove old generations, staging leftovers and trash"
    )
    gc.add_argument("--keep", type=int, metavar="N", help="generations to keep per env")
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed")
    _lock_timeout(gc)

    diff = commands.add_parser(
        "diff",
        parents=[shared],
        help="the plan from BASE to HEAD, from manifests and lockfiles alone (for PR review); "
        "exit 2 when there are changes",
    )
    diff.add_argument(
        "base", metavar="BASE", help="a manifest path, or git:REF for --manifest at that revision"
    )
    diff.add_argument(
        "head", nargs="?", metavar="HEAD", help="like BASE (default: --manifest as it is now)"
    )
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")

    which = commands.add_parser(
        "which", parents=[shared], help="print the interpreter MODEL runs with"
    )
    which.add_argument("model", metavar="MODEL")
    _wait_options(which)

    run = commands.add_parser(
        "run", parents=[shared], help="run a command with MODEL's env activated"
    )
    run.add_argument("model", metavar="MODEL")
    _wait_options(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS]...")
    return parser


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when no env is usable and an apply is running, wait for it instead of failing",
    )
    parser.add_argument(
        "--wait-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"how long --wait waits (default {LOCK_WAIT:g}; implies --wait)",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line. ``run MODEL [OPTIONS] -- CMD...`` may carry options after MODEL
    (``--wait``): argparse puts everything after MODEL into ``argv``, so when that starts
    with an option and holds a ``--``, the words before the ``--`` are parsed as options."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(words)
    rest: list[str] = list(getattr(args, "argv", None) or ())
    if args.command == "run" and rest and rest[0].startswith("-") and "--" in rest[1:]:
        model = len(words) - len(rest) - 1  # argv starts right after MODEL
        options = rest[: rest.index("--")]
        args = parser.parse_args([*words[:model], *options, words[model]])
        args.argv = rest[len(options) :]
    return args


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=LOCK_WAIT,
        metavar="SECONDS",
        help="wait this long for another reconcile to finish (0: fail at once)",
    )


def _replace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="ENV",
        help="rebuild this env as a new generation even when it is healthy",
    )


def _dispatch(args: argparse.Namespace) -> int:
    from reconciler.cli import verbs

    handler: Callable[[argparse.Namespace], int] = getattr(verbs, f"cmd_{args.command}")
    return handler(args)


def _replay_plan(args: argparse.Namespace) -> int | None:
    """Print the stored plan and return its exit code when none of its inputs changed
    (memo/replay.py); otherwise note in ``args.memo`` where ``cmd_plan`` should store the plan
    it computes."""
    from reconciler.memo import replay

    args.memo = replay.plan_slot(vars(args), sys.stdout)
    stored = replay.replay(*args.memo) if args.memo is not None else None
    if stored is None:
        return None
    output, code = stored
    sys.stdout.write(output)
    sys.stdout.flush()
    if args.verbose:
        _say("plan: replayed the stored plan; none of its inputs changed (--deep observes afresh)")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `reconcile` command; returns the exit code.

    SIGINT, SIGTERM and SIGHUP are handled from the first line to the return (see
    reconciler/interrupts.py): each stops the command with one sentence and exit 1. With
    ``argv`` None, main is the process's command (``reconcile``, ``python -m reconciler``) and
    keeps the signals blocked once it has decided the exit code, so that nothing can change
    it on the way out; called with an ``argv`` (tests, another program), it restores the
    caller's handlers."""
    from reconciler import interrupts
    from reconciler.cli.start import guard_streams

    guard_streams()  # nothing printed may fail on the output's encoding
    handlers = interrupts.install(owns_process=argv is None)
    try:
        code = _main(argv)
    finally:
        late = handlers.close()
    if late is not None:  # after the work was done, or while an error was being reported
        _say(f"error: {late}")
        code = EXIT_ERROR
    from reconciler import faults

    faults.point("exiting")  # tests: a signal from here on is too late to matter
    return code


def _main(argv: Sequence[str] | None) -> int:
    from reconciler import interrupts

    verbose = False
    try:
        with interrupts.raising():
            args = parse_args(argv)
            verbose = bool(args.verbose)
            if verbose:  # otherwise nothing is configured: warnings still reach stderr
                import logging

                logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stderr)
            if args.command == "plan":
                replayed = _replay_plan(args)
                if replayed is not None:
                    return replayed
            with interrupts.ChildrenStopped():  # uv and probes run out of Ctrl-C's reach
                code = _dispatch(args)
            interrupts.settle(f"`reconcile {args.command}` finished")
            return code
    except ReconcileError as error:
        if verbose:
            import traceback

            traceback.print_exc()
        for line in error.details():
            _say(line)
        _say(f"error: {error.message}")
        return error.exit_code
    except KeyboardInterrupt as interrupt:  # a failure like any other: exit 1 (SPEC 4)
        spawned = sys.modules.get("reconciler.runner")
        if spawned is not None:  # children run out of Ctrl-C's reach: none may outlive us
            spawned.terminate_all()
        _say(f"error: interrupted{interrupts.by(interrupt)}.")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as error:  # the disk said no (full, read-only, permissions): name the file
        if verbose:
            import traceback

            traceback.print_exc()
        where = f" ({error.filename})" if error.filename else ""
        print(
            f"error: {error.strerror or error}{where}; free some space or fix the permissions "
            "there and run the command again.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except Exception as error:  # last resort: one sentence, traceback on -v
        if verbose:
            import traceback

            traceback.print_exc()
        print(
            f"error: internal error ({type(error).__name__}: {error}); run with --verbose for "
            "the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _say(line: str) -> None:
    """One line to stderr, if there is still somewhere to write it: after SIGHUP the terminal
    may be gone (EIO), and the exit code must still be the one decided."""
    from reconciler.files import printable

    try:  # noqa: SIM105  not contextlib.suppress: importing contextlib costs every command
        print(printable(line), file=sys.stderr, flush=True)
    except OSError:
        pass
