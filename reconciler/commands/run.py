"""`reconcile run MODEL -- CMD`: start the user's command in the env ``which`` resolved, with
the env's scripts folder first on PATH, and the shells' exit codes when it cannot start.

On Windows a batch file (``.bat``, ``.cmd``) is run by ``cmd.exe``, which reads the command
line again: it looks its first word up once more (in the working folder first), and takes
``&``, ``|``, ``<``, ``>``, ``^``, ``%`` and ``"`` in any argument as its own syntax, and
``=``, ``;``, ``,`` as splits between arguments
("BatBadBut", CVE-2024-24576). So a batch file is started by its full path, and an argument
cmd.exe would read as syntax is refused rather than escaped: cmd has no quoting that holds
for every batch file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import CommandNotStarted, UsageError

if TYPE_CHECKING:
    from reconciler.commands.which import ResolvedEnv


def _on_path(program: str, path: str, *, windows: bool) -> str | None:
    """Where the bare name ``program`` is on ``path`` (with PATHEXT's extensions on Windows),
    folder by folder: ``shutil.which`` given the whole PATH looks in the working folder first
    on Windows. An empty entry is the working folder on POSIX only; Windows skips it."""
    import shutil

    for folder in path.split(os.pathsep):
        if windows and not folder:
            continue
        found = shutil.which(f"{folder or os.curdir}{os.sep}{program}")
        if found is not None:
            return found
    return None


_CMD_SYNTAX = '&|<>^%"\r\n=;,'
"""What ``cmd.exe`` reads in a batch file's command line as its own syntax, not as text: its
operators and variables, and ``=``, ``;`` and ``,``, at which it splits a batch file's
arguments as at a space (``a=b`` arrives as two)."""


def _batch_command(target: str, argv: Sequence[str]) -> tuple[str, ...]:
    """The command line that makes ``cmd.exe`` run the batch file ``target`` with ``argv``'s
    arguments and nothing else: ``target``'s full path first, so cmd does not look the name
    up again; a UsageError naming the first word cmd would read as syntax."""
    command = (str(Path(target).absolute()), *argv[1:])
    for index, word in enumerate(command):
        syntax = sorted({c for c in word if c in _CMD_SYNTAX}, key=_CMD_SYNTAX.index)
        if not syntax:
            continue
        shown = " and ".join(f"`{repr(c)[1:-1]}`" for c in syntax)
        what = f"its path {word}" if index == 0 else f"the argument {word}"
        raise UsageError(
            f"refusing to run the batch file {target}: {what} holds {shown}, which cmd.exe "
            "(it runs batch files) would read as commands, variables or a split between "
            "arguments, not as text; start it with "
            "`cmd /c` yourself if that is meant, or use a .exe or .py entry point."
        )
    return command


def run_in(
    resolved: ResolvedEnv, argv: Sequence[str], environ: Mapping[str, str], *, windows: bool
) -> int:
    """Run ``argv`` in ``resolved``'s env (its scripts folder first on PATH, ``VIRTUAL_ENV``
    set, ``PYTHONHOME`` unset) with this process's terminal; its exit code. A bare program
    name is looked up on the env's PATH here: Windows would look in reconcile's own folder
    first, and start the Python reconcile runs on rather than the env's; on Windows (``windows``)
    a name on no folder of PATH is not found, for the same reason (and the working folder)."""
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
    found = None if a_path else _on_path(program, env["PATH"], windows=windows)
    if windows and not a_path and found is None:
        raise CommandNotStarted(
            f"{program} was not found in {resolved.env_key}'s env nor on PATH.", found=False
        )
    command = tuple(argv)
    target = program if a_path else found
    if windows and target is not None and target.lower().endswith((".bat", ".cmd")):
        command = _batch_command(target, argv)
    code = run_passthrough(command, env, executable=found)
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
