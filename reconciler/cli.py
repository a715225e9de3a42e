"""Thin edge: parse arguments, call one function, map errors to exit codes.

Exit codes (SPEC 4): 0 success or nothing to do; 1 error; 2 only where asked for
(``plan --detailed-exitcode`` with changes pending, ``lock --check`` with a stale lockfile).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from reconciler import __version__
from reconciler.errors import ReconcileError, UsageError
from reconciler.files import write_atomic

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one sentence with exit code 1 (SPEC 4)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`.")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--manifest", type=Path, default=default(Path("envs.toml")), help="envs.toml to use"
    )
    parser.add_argument("--root", type=Path, default=default(None), help="override settings.root")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False))
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False))
    parser.add_argument("--no-color", action="store_true", default=default(False))


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
    plan.add_argument("--out", type=Path, help="save the plan (JSON with fingerprint) for apply")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when changes are pending, 0 when there are none",
    )
    plan.add_argument(
        "--target", action="append", default=[], metavar="ENV", help="plan only this env"
    )

    lock = commands.add_parser(
        "lock", parents=[shared], help="write lockfiles from the requirements in envs.toml"
    )
    lock.add_argument("envs", nargs="*", metavar="ENV", help="envs to lock (default: all)")
    lock.add_argument(
        "--check", action="store_true", help="exit 2 if any lockfile is stale; write nothing"
    )
    return parser


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reconciler.document import plan_document
    from reconciler.manifest import load_manifest
    from reconciler.planning import make_plan
    from reconciler.render import render_json, render_markdown, render_text, summary_line

    loaded = load_manifest(args.manifest, args.root)
    run = make_plan(loaded, args.target)
    name = args.manifest.name
    doc = plan_document(run.plan, name)
    if args.out is not None:
        write_atomic(args.out, render_json(plan_document(run.plan, name, run.fingerprint)))
    if args.format == "json":
        sys.stdout.write(render_json(doc))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(doc))
    elif args.quiet:
        print(summary_line(doc["summary"]) if run.plan.has_changes else "No changes.")
    else:
        console = Console(no_color=args.no_color, highlight=False, soft_wrap=True)
        console.print(render_text(doc), end="")
    if args.out is not None and not args.quiet:
        note = f"Saved the plan to {args.out}; apply it with `reconcile apply {args.out}`."
        # json and markdown on stdout are documents: the note must not end up inside them
        print(note, file=sys.stdout if args.format == "text" else sys.stderr)
    if args.detailed_exitcode and run.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    from reconciler.locking import lock_command

    return lock_command(args)


COMMANDS = {"plan": cmd_plan, "lock": cmd_lock}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `reconcile` command; returns the exit code."""
    verbose = False
    try:
        args = build_parser().parse_args(argv)
        verbose = bool(args.verbose)
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.WARNING,
            format="%(message)s",
            stream=sys.stderr,
        )
        return COMMANDS[args.command](args)
    except ReconcileError as error:
        if verbose:
            traceback.print_exc()
        for line in error.details():
            print(line, file=sys.stderr)
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as error:  # last resort: one sentence, traceback on -v
        if verbose:
            traceback.print_exc()
        print(
            f"error: internal error ({type(error).__name__}: {error}); run with --verbose for "
            "the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_ERROR
