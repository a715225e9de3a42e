"""`reconcile run MODEL -- CMD`: start the user's command in the env ``which`` resolved, with
the env's scripts folder first on PATH, and the shells' exit codes when it cannot start."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import CommandNotStarted, UsageError

if TYPE_CHECKING:
    from reconciler.commands.which import ResolvedEnv


def _on_path(program: str, path: str) -> str | None:
    """Where the bare name ``program`` is on ``path`` (with PATHEXT's extensions on Windows),
    folder by folder: ``shutil.which`` given the whole PATH looks in the working folder first
    on Windows."""
    import shutil

    for folder in path.split(os.pathsep):
        found = shutil.which(f"{folder or os.curdir}{os.sep}{program}")
        if found is not None:
            return found
    return None


def run_in(resolved: ResolvedEnv, argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run ``argv`` in ``resolved``'s env (its scripts folder first on PATH, ``VIRTUAL_ENV``
    set, ``PYTHONHOME`` unset) with this process's terminal; its exit code. A bare program
    name is looked up on the env's PATH here: Windows would look in reconcile's own folder
    first, and start the Python reconcile runs on rather than the env's."""
    from reconciler.runner import Unfinished, run_passthrough

    bin_dir = str(resolved.python.parent)
    if os.pathsep in bin_dir:  # an adopted venv applied before such folders were refused
        raise UsageError(
            f'{bin_dir} holds "{os.pathsep}", which separates the folders of PATH, so it cannot '
            f"be put on PATH; move {resolved.env_key}'s venv to a folder without it."
        )
    env = dict(environ)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(resolved.env_dir)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    program = argv[0]
    a_path = os.sep in program or (os.altsep is not None and os.altsep in program)
    found = None if a_path else _on_path(program, env["PATH"])
    code = run_passthrough(tuple(argv), env, executable=found)
    if isinstance(code, Unfinished):
        there = Path(program).is_file() if a_path else found is not None
        if code.missing and there:  # what is missing is the program its #! line names
            raise CommandNotStarted(
                f"cannot run {program}: the interpreter its first line (#!) names was not "
                "found; fix that line, or run it with its interpreter.",
                found=True,
            )
        if code.missing and a_path:
            raise CommandNotStarted(f"{program} was not found: check the path.", found=False)
        if code.missing:
            raise CommandNotStarted(
                f"{program} was not found in {resolved.env_key}'s env nor on PATH.", found=False
            )
        raise CommandNotStarted(
            f"cannot run {program}: {code.error}; make it executable, or run it with its "
            "interpreter.",
            found=True,
        )
    return code
