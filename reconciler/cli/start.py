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
"""

from __future__ import annotations

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
    try:
        python = _remembered_which(words)
        if python is not None:
            print(python, flush=True)
            return 0
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 1
    except OSError:  # stdout closed (a pipe whose reader left): as the CLI, exit 1
        return 1
    from reconciler.cli.app import main as cli

    return cli(argv)


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
