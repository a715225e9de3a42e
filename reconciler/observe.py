"""IO: gather raw facts about env folders. Judging them is ``health.py``'s job.

One probe subprocess per env (interpreter version, PEP 508 marker environment, import
probes); installed distributions are read from ``*.dist-info/METADATA`` without running
anything. Envs are observed in parallel.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name

from reconciler import layout
from reconciler.files import site_packages
from reconciler.generations import read_receipt
from reconciler.runner import Command, CommandTimeout, run
from reconciler.state import EnvFacts, InstalledDist, PathKind, ProbeResult

PROBE_TIMEOUT = 300.0

# Runs inside the observed env's interpreter, which may lack every third-party package.
PROBE_SCRIPT = r"""
import importlib, json, os, platform, sys
def fmt(info):
    v = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        v += info.releaselevel[0] + str(info.serial)
    return v
env = {
    "implementation_name": sys.implementation.name,
    "implementation_version": fmt(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
failures = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures[name] = (type(exc).__name__ + ": " + str(exc)).splitlines()[0][:300]
sys.stdout.write("\n@@reconcile-probe@@" + json.dumps(
    {"version": fmt(sys.version_info), "marker_env": env, "failures": failures}))
"""


@dataclass(frozen=True)
class EnvRequest:
    """Which folder to observe for an env, and which imports to probe."""

    env_key: str
    path: Path
    imports: tuple[str, ...] = ()
    confine_to: Path | None = None
    """For envs under the root: a link that resolves outside this folder is not followed."""


def _path_kind(path: Path) -> tuple[PathKind, str | None]:
    if path.is_symlink():
        target = str(path.readlink())
        return ("symlink" if path.exists() else "broken_symlink"), target
    if path.is_dir():
        return "dir", None
    if path.exists():
        return "other", None
    return "absent", None


def read_pyvenv_cfg(env_dir: Path) -> tuple[tuple[str, str], ...] | None:
    """The ``key = value`` pairs of an env's pyvenv.cfg, or None when it cannot be read."""
    try:
        text = (env_dir / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _read_receipt(env_dir: Path) -> tuple[tuple[str, str], ...] | None:
    data = read_receipt(env_dir)
    if data is None:
        return None
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


_VIRTUAL_ENV_SET = re.compile(r"^[ \t]*(?:export[ \t]+)?VIRTUAL_ENV=", re.M)


def recorded_venv_path(script: str) -> str | None:
    """The folder a POSIX ``bin/activate`` was made for: the value of its ``VIRTUAL_ENV=``,
    read as the shell reads it. uv and venv quote it (``'/a/q'"'"'uote'``, ``"/a b"``), so
    a path holding quotes, spaces, ``#``, ``$`` or a newline comes back whole; a computed
    value (``$(cygpath ...)`` on MSYS) is passed over."""
    for match in _VIRTUAL_ENV_SET.finditer(script):
        lexer = shlex.shlex(script[match.end() :], posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            word = lexer.get_token()
        except ValueError:  # an unterminated quote: not a value we can read
            continue
        if word and not script[match.end() :].startswith("$"):
            return word
    return None


def _activation(env_dir: Path, windows: bool) -> tuple[tuple[str, ...], str | None]:
    missing = tuple(
        name for name in layout.activation_scripts(windows) if not (env_dir / name).is_file()
    )
    recorded = None
    if not windows:
        try:
            text = (env_dir / "bin" / "activate").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        recorded = recorded_venv_path(text)
    return missing, recorded


def installed_dists(env_dir: Path, windows: bool = False) -> tuple[InstalledDist, ...]:
    """Every ``*.dist-info`` with a readable Name and Version, sorted."""
    parser = HeaderParser()
    found: list[InstalledDist] = []
    for site in site_packages(env_dir, windows):
        for dist_info in site.glob("*.dist-info"):
            try:
                with (dist_info / "METADATA").open(encoding="utf-8", errors="replace") as handle:
                    headers = parser.parse(handle, headersonly=True)
            except OSError:
                continue
            name, version = headers.get("Name"), headers.get("Version")
            if name and version:
                found.append(InstalledDist(canonicalize_name(name), str(version), dist_info.name))
    return tuple(sorted(found, key=lambda d: (d.name, d.version, d.dist_info)))


def probe(python: Path, imports: Sequence[str]) -> tuple[ProbeResult | None, str | None]:
    """Run ``python`` once to learn its version and marker environment and try ``imports``;
    ``(None, why)`` when it cannot start, times out or does not answer."""
    command = Command(
        argv=(str(python), "-I", "-c", PROBE_SCRIPT, json.dumps(list(imports))),
        timeout=PROBE_TIMEOUT,
    )
    try:
        result = run(command)
    except CommandTimeout:
        return None, f"the interpreter did not answer within {PROBE_TIMEOUT:.0f}s"
    except OSError as exc:
        return None, f"the interpreter cannot start: {exc.strerror or exc}"
    _, marker, payload = result.stdout.rpartition("@@reconcile-probe@@")
    if not marker:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"the interpreter exited with code {result.returncode}: {tail[:300]}"
    data = json.loads(payload)
    return (
        ProbeResult(
            version=str(data["version"]),
            marker_env=tuple(sorted((str(k), str(v)) for k, v in data["marker_env"].items())),
            import_failures=tuple(sorted((str(k), str(v)) for k, v in data["failures"].items())),
        ),
        None,
    )


def observe_env(request: EnvRequest, windows: bool = False) -> EnvFacts:
    """Gather every fact about one env folder. Never raises for a broken env."""
    path = request.path
    kind, target = _path_kind(path)
    if kind not in ("dir", "symlink"):
        return EnvFacts(env_key=request.env_key, path=str(path), kind=kind, link_target=target)
    real = path.resolve()
    if request.confine_to is not None and not real.is_relative_to(request.confine_to.resolve()):
        return EnvFacts(
            env_key=request.env_key,
            path=str(path),
            kind=kind,
            link_target=target,
            real_path=str(real),
            escapes_root=True,
        )
    cfg = read_pyvenv_cfg(real)
    home = dict(cfg or ()).get("home")
    python = layout.interpreter(real, windows)
    missing_activation, recorded = _activation(real, windows)
    probed: ProbeResult | None = None
    probe_error: str | None = "the interpreter is missing"
    if python.exists():
        probed, probe_error = probe(python, request.imports)
    return EnvFacts(
        env_key=request.env_key,
        path=str(path),
        kind=kind,
        link_target=target,
        receipt=_read_receipt(real),
        interpreter_present=python.exists(),
        pyvenv_cfg=cfg,
        base_interpreter_present=Path(home).is_dir() if home else None,
        missing_activation=missing_activation,
        # resolved like real_path: a root reached through a link is not a moved env
        activation_venv_path=os.path.realpath(recorded) if recorded is not None else None,
        real_path=str(real),
        probe=probed,
        probe_error=probe_error,
        installed=installed_dists(real, windows),
    )


def observe_all(requests: Iterable[EnvRequest], workers: int | None = None) -> dict[str, EnvFacts]:
    """Observe envs in parallel; the result is keyed and sorted by env_key."""
    todo = sorted(requests, key=lambda r: r.env_key)
    if not todo:
        return {}
    limit = workers or min(len(todo), max(4, (os.cpu_count() or 1) * 2))
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="observe") as pool:
        facts = list(pool.map(observe_env, todo))
    return {f.env_key: f for f in facts}


def undeclared_entries(root: Path, declared: Iterable[str]) -> tuple[str, ...]:
    """Names of entries in the root that are not declared envs nor the tool's bookkeeping."""
    try:
        names = [entry.name for entry in root.iterdir()]
    except OSError:
        return ()
    known = set(declared)
    return tuple(sorted(n for n in names if not layout.is_internal(n) and n not in known))


def created_by_reconcile(root: Path, name: str) -> bool:
    """Whether ``<root>/<name>`` is an env that reconcile built (a receipt, inside the root)."""
    path = root / name
    try:
        real = path.resolve()
        if not real.is_relative_to(root.resolve()) or not real.is_dir():
            return False
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return False
    return _read_receipt(real) is not None
