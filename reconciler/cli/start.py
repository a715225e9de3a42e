"""The `reconcile` command's entry point: `which MODEL` answered from its memo
(``memo.resolution``) before anything else is imported, every other command line by the CLI
(``cli.app.main``).

`which` sits on every model's start, and the CLI's own imports (argparse, pathlib, signal
handling) cost more than a remembered answer. So this module imports only ``os`` and ``json``
(through the memo) and reads the command line itself, for the plain forms only: ``which MODEL``
with ``--manifest``, ``--root``, ``--wait``, ``--wait-timeout``, ``-q`` or ``--no-color``,
before or after the verb. Anything else, and every answer that is not remembered, goes to the
CLI, which parses it again and resolves in full: the output, the errors and the exit codes are
the CLI's in every case.

It also decides, once, how text reaches stdout and stderr (:func:`guard_streams`), and how
`which` writes its path (:func:`path_bytes`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: start-up is what this module saves
if TYPE_CHECKING:
    from collections.abc import Sequence

_VALUED = ("--manifest", "--root", "--wait-timeout")
_FLAGS = ("-q", "--quiet", "--no-color", "--wait")
_AFTER_VERB = ("--wait", "--wait-timeout")  # options of `which` itself, not of `reconcile`


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `reconcile` and ``python -m reconciler``; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    guard_streams()
    try:
        python = _remembered_which(words)
        # os.name, not store.system.current_venv(): importing the platform's modules would
        # cost this answer a third of its time
        if python is not None and write_path(python, sys.stdout, windows=os.name == "nt"):
            return 0
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 1
    except OSError:  # stdout closed (a pipe whose reader left): as the CLI, exit 1
        return 1
    from reconciler.cli.app import main as cli

    return cli(argv)


def guard_streams() -> None:
    """Make stdout and stderr write every text: a character their encoding cannot carry (an
    emoji in a path, through a cp1252 pipe on Windows or an ascii locale) is written as a
    backslash escape (``\\U0001f600``) instead of failing the command. stderr does so by
    default; stdout must too. `which`, whose output is a path for scripts, writes bytes
    instead (:func:`write_path`)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:  # noqa: SIM105  not contextlib.suppress: importing contextlib costs start-up
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed: what is written there fails as it would
                pass


def path_bytes(path: str, encoding: str | None, *, windows: bool) -> bytes | None:
    """The bytes that name ``path`` to a program reading them from a stream in ``encoding``,
    line end included; ``None`` when there are none. On POSIX a path is bytes, written as they
    are (``os.fsencode``), whatever the stream's encoding. On Windows a path is text: a stream
    in cp1252 cannot name a file with an emoji, and an escaped or replaced character would
    name another file."""
    try:
        if not windows:
            return os.fsencode(path) + b"\n"
        return (path + "\r\n").encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return None


def write_path(path: str, stream: object, *, windows: bool) -> bool:
    """Write ``path`` on a line of its own to ``stream`` for a script to read (`which`), in
    the bytes of :func:`path_bytes`; ``False``, with nothing written, when that is not
    possible (or there is no stream: stdout was closed before reconcile started)."""
    write = getattr(stream, "write", None)
    if write is None:
        return False
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text stream only (a test's StringIO): no bytes to choose
        write(f"{path}\n")
        return True
    data = path_bytes(path, getattr(stream, "encoding", None), windows=windows)
    if data is None:
        return False
    stream.flush()  # type: ignore[attr-defined]
    buffer.write(data)
    buffer.flush()
    return True


def _remembered_which(words: list[str]) -> str | None:
    """The interpreter `which` prints for this command line when its answer is remembered;
    ``None`` when the command line is not a plain `which` or the answer must be worked out."""
    options: dict[str, str] = {}
    positional: list[str] = []
    words = list(words)
    while words:
        word = words.pop(0)
        name, equals, value = word.partition("=")
        if name in _AFTER_VERB and not positional:
            return None
        if name in _VALUED:
            if not equals:
                if not words:
                    return None
                value = words.pop(0)
            options[name] = value
        elif word in _FLAGS:
            continue
        elif word.startswith("-") or len(positional) == 2:
            return None  # an option argparse may read otherwise (abbreviated, -h, --)
        else:
            positional.append(word)
    if len(positional) != 2 or positional[0] != "which" or not _seconds(options):
        return None
    from reconciler.memo.resolution import recall

    found = recall(options.get("--manifest", "envs.toml"), options.get("--root"), positional[1])
    return None if found is None else found[1]


def _seconds(options: dict[str, str]) -> bool:
    """Whether ``--wait-timeout``, when given, is what the CLI takes (seconds >= 0)."""
    text = options.get("--wait-timeout")
    if text is None:
        return True
    try:
        value = float(text)
    except ValueError:
        return False
    return 0 <= value < float("inf")
