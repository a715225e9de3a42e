"""IO: is an env usable right now? The check `which`, `run` and `resolve()` make before they
hand out an interpreter (SPEC 7.1, 8).

Cheapest first: the structure (interpreter, pyvenv.cfg, base interpreter; no subprocess),
then every RECORD-listed file (with the root's hash cache, so only changed files are read),
then one probe of the interpreter (it runs; the declared ``imports`` import). Not the declared
Python version: a generation was verified against the version it was built for, and an
unapplied edit of the manifest must not turn a working env away (SPEC 7.6). The answer is one
phrase naming the problem, or ``None``.

The verdict is remembered (``memo.health``) with the stat identity of every path it was drawn
from, and given again while none of them changes: no hashing, no probe.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.health import CANNOT_START, corruption_phrase, structure
from reconciler.errors import PathUnreadable
from reconciler.memo import verdicts
from reconciler.memo.identity import env_paths
from reconciler.observe.env import probe
from reconciler.observe.look import EnvRequest, look_at, read_pyvenv_cfg

if TYPE_CHECKING:
    from reconciler.platform import VenvLayout


GATE_PROBE_TIMEOUT = 60.0
"""How long `which`, `run` and ``resolve()`` wait for the probe: a model's start must not wait
for `plan`'s five minutes; a minute still lets a cold import of a large package (torch from a
slow disk) answer. An env whose probe times out is refused (or its fallback used), and asked
again next time: the verdict is not remembered."""


@dataclass(frozen=True)
class Expect:
    """What a usable env must offer besides a sound structure and intact files.

    ``imports`` are the modules that must import, ``verify_ignore`` the globs (relative to
    site-packages) whose content may differ from RECORD.
    """

    imports: tuple[str, ...] = ()
    verify_ignore: tuple[str, ...] = ()


def structure_problem(env_dir: Path, *, venv: VenvLayout) -> str | None:
    """A fast check with no subprocess: interpreter, pyvenv.cfg, base interpreter; the same
    judgement as `verify`'s env-level findings (``health.structure``), as one phrase. A
    folder that cannot be looked at (permissions) is a problem, never an exception."""
    try:
        facts = look_at(EnvRequest("", env_dir), venv=venv)
    except PathUnreadable as exc:
        return f"it cannot be looked at ({exc.message})"
    if not facts.exists:
        return f"{env_dir} is not an env folder"
    for finding in structure(facts, venv=venv):
        if (
            finding.reason == "interpreter_broken" and facts.interpreter_problem is not None
        ):  # the path, for whoever reads the phrase
            python = venv.interpreter(env_dir)
            base = (
                _lost_base(python, env_dir) if facts.interpreter_problem == "is missing" else None
            )
            if base is not None:
                return f"its base interpreter {base} is missing"
            return f"its interpreter {python} {facts.interpreter_problem}"
        if finding.reason in CANNOT_START:
            return "its " + finding.detail.removeprefix("the ")
    return None


def _lost_base(python: Path, env_dir: Path) -> str | None:
    """The interpreter outside the env that ``python``, a link, leads to and that is gone (a
    removed base Python); ``None`` when ``python`` is no such link."""
    if not python.is_symlink():
        return None
    target = os.path.realpath(python)
    inside = Path(target).is_relative_to(os.path.realpath(env_dir))
    return None if inside or os.path.lexists(target) else target


def env_problem(root: Path, env_dir: Path, expect: Expect, *, venv: VenvLayout) -> str | None:
    """Why the env at ``env_dir`` cannot be used, as a phrase (``"2 files are corrupted
    (zero_byte click/core.py, missing click/utils.py)"``), or ``None`` when it can.

    ``root`` holds the hash cache and the remembered verdicts. Never raises for a broken env
    or a filesystem problem."""
    problem = structure_problem(env_dir, venv=venv)
    if problem is not None:
        return problem
    real = os.path.realpath(env_dir)
    memo = verdicts.memo_file(root, real, expect.imports, expect.verify_ignore)
    if memo is not None:
        remembered = verdicts.recall(memo)
        if remembered is not None:
            return remembered[0]
    started_ns = time.time_ns()  # before anything is read: the racy rule's reference
    seen: list[str] = []
    problem, lasting = _check(root, env_dir, expect, seen, venv)
    if memo is not None and lasting and root.is_dir():
        cfg = read_pyvenv_cfg(Path(real))
        own = env_paths(str(env_dir), real, dict(cfg or ()), venv=venv, parent=False)
        verdicts.remember(memo, [*seen, *own], problem, started_ns)
    return problem


def _check(
    root: Path, env_dir: Path, expect: Expect, seen: list[str], venv: VenvLayout
) -> tuple[str | None, bool]:
    """The verdict, and whether it lasts as long as the files it was drawn from (an
    interpreter that timed out or a folder that could not be read may do better next time)."""
    # Here, not at the top: a remembered verdict needs none of them (`which` starts faster).
    from reconciler.observe.integrity import verify_dir
    from reconciler.observe.walk import EnvNotVerifiable

    try:
        report = verify_dir(root, env_dir, expect.verify_ignore, venv=venv, seen=seen)
    except EnvNotVerifiable as exc:
        return f"its files cannot be checked: {exc.message}", False
    except OSError as exc:
        return f"its files cannot be read: {exc.strerror or exc}", False
    if report.findings:
        return corruption_phrase(report), True
    try:
        result, error = probe(venv.interpreter(env_dir), expect.imports, GATE_PROBE_TIMEOUT)
    except (ValueError, KeyError, TypeError):  # something in the env garbled the answer
        return "its interpreter gave an unreadable answer to the health probe", False
    if result is None:
        return error or "its interpreter does not run", False
    if result.import_failures:  # not remembered: it may depend on the caller's environment
        name, why = result.import_failures[0]  # (LD_LIBRARY_PATH, a driver not up yet)
        more = len(result.import_failures) - 1
        return f"import of {name} fails: {why}" + (f" (and {more} more)" if more else ""), False
    return None, True
