"""Pure: the folder a venv was made for, as its activation script records it, and whether that
is the folder it is in now (``env_moved``).

Venvs are not relocatable: ``bin/activate`` (POSIX) and ``Scripts\\activate.bat`` (Windows)
name the folder they were made in, and so do the console-script launchers (``pip.exe`` runs
the interpreter at the path it was installed with). One script is read: every maker writes
it (CPython's ``venv``, uv, virtualenv), as text, and a venv without it is already
``activation_missing``. ``Activate.ps1`` computes its folder when it runs, and the launchers'
formats differ from one installer to the next. A script that names no folder, or one that
is computed when it runs (uv's ``--relocatable``), records nothing: such a venv is not moved.
"""

from __future__ import annotations

import ntpath
import re

from reconciler.spec.winpaths import plain

RECORDED_BY = {False: "bin/activate", True: "Scripts/activate.bat"}
"""The script read for the folder a venv was made for, by whether the venv is a Windows one."""


def recorded_folder(script: str, *, windows: bool) -> str | None:
    """The folder the activation script ``script`` (the text of ``RECORDED_BY[windows]``)
    was made for, as written there; ``None`` when it names none."""
    return _batch_value(script) if windows else _shell_value(script)


def one_folder(recorded: str, real: str, *, windows: bool) -> bool:
    """Whether ``recorded`` and ``real`` name one folder as the system compares names: on
    Windows whatever their case, ``/`` or ``\\``, ``.`` and ``..``, and the ``\\\\?\\``
    prefix; on POSIX only when they are equal (the caller resolves links on both sides)."""
    if not windows:
        return recorded == real
    return _windows_key(recorded) == _windows_key(real)


# --- POSIX: bin/activate, read as the shell reads it ----------------------------------------

_VIRTUAL_ENV_SET = re.compile(r"^[ \t]*(?:export[ \t]+)?VIRTUAL_ENV=", re.M)


def _shell_value(script: str) -> str | None:
    """The value of the first ``VIRTUAL_ENV=`` that is a folder, read as the shell reads it.
    uv and venv quote it (``'/a/q'"'"'uote'``, ``"/a b"``), so a path holding quotes,
    spaces, ``#``, ``$`` or a newline comes back whole; a computed value (``$(cygpath ...)``
    on MSYS, uv's ``--relocatable`` ``"$(dirname ...)"``) is passed over."""
    import io
    import shlex  # here: a Windows venv never needs it

    for match in _VIRTUAL_ENV_SET.finditer(script):
        rest = io.StringIO(script[match.end() :])
        lexer = shlex.shlex(rest, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            word = lexer.get_token()
        except ValueError:  # an unterminated quote: not a value we can read
            continue
        if word and not _expands(rest.getvalue()[: rest.tell()]):
            return word
    return None


def _expands(word: str) -> bool:
    """Whether the shell word ``word``, as written, holds a ``$`` or a backquote outside
    single quotes: its value is computed when the script runs."""
    single = double = escaped = False
    for char in word:
        if escaped:
            escaped = False
        elif single:
            single = char != "'"
        elif char == "\\":
            escaped = True
        elif char == "'" and not double:
            single = True
        elif char == '"':
            double = not double
        elif char in "$`":
            return True
    return False


# --- Windows: Scripts\activate.bat, read as cmd reads it ------------------------------------

_BATCH_SET = re.compile(r'^[ \t]*@?set[ \t]+("?)VIRTUAL_ENV=(.*)$', re.I)
"""CPython: ``set "VIRTUAL_ENV=C:\\v"`` (3.11 and later), ``set VIRTUAL_ENV=C:\\v`` (before)."""

_BATCH_FOR = re.compile(
    r'^[ \t]*@?for[ \t]+%%(\w)[ \t]+in[ \t]+\("([^"]*)"\)[ \t]+do[ \t]+@?set[ \t]+'
    r'"VIRTUAL_ENV=%%~f\1"',
    re.I,
)
"""uv and virtualenv: ``@for %%i in ("C:\\v") do @set "VIRTUAL_ENV=%%~fi"``."""


def _batch_value(script: str) -> str | None:
    """The folder the first ``VIRTUAL_ENV`` set in a batch file names: a value with no ``%``
    (one with it is computed when the script runs: uv's ``--relocatable`` names ``%~dp0..``)
    and no character that did not decode (the makers write UTF-8)."""
    for line in script.splitlines():
        if found := _BATCH_FOR.match(line):
            value = found.group(2)
        elif found := _BATCH_SET.match(line):
            quoted, value = found.groups()
            # cmd takes `set "NAME=VALUE" tail` up to the last quote; unquoted, the whole line
            value = value.rpartition('"')[0] if quoted and '"' in value else value.rstrip()
        else:
            continue
        if value and "%" not in value and "\ufffd" not in value:
            return value
    return None


def _windows_key(path: str) -> str:
    """``path`` as Windows compares folder names: in its plain spelling (no ``\\\\?\\``
    prefix), normalised, case folded."""
    path = plain(path.replace("/", "\\"))
    return ntpath.normcase(ntpath.normpath(path))
