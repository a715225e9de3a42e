"""IO: gather raw facts about env folders. Judging them is ``health.py``'s job.

One probe subprocess per env (interpreter version, PEP 508 marker environment, import
probes); installed distributions are read from ``*.dist-info/METADATA`` without running
anything. Envs are observed in parallel.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from reconciler.core.facts import EnvFacts, InstalledDist, ProbeResult
from reconciler.core.health import CANNOT_START, structure
from reconciler.files import METADATA_LIMIT, glob, read_regular_bytes, site_packages

# EnvRequest and read_pyvenv_cfg live in look.py (stdlib only, for verify and which); the
# rest of reconcile finds them here, beside what observes more.
from reconciler.observe.look import EnvRequest as EnvRequest
from reconciler.observe.look import look_at
from reconciler.observe.look import read_pyvenv_cfg as read_pyvenv_cfg
from reconciler.platform import VenvLayout
from reconciler.runner import Command, Unfinished, attempt
from reconciler.spec.envkeys import folded
from reconciler.store import layout
from reconciler.store.generations import read_receipt

if TYPE_CHECKING:
    from reconciler.store.fsops import StoreOps

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
        spec = importlib.import_module(name).__spec__
    except BaseException as exc:
        failures[name] = (type(exc).__name__ + ": " + str(exc)).splitlines()[0][:300]
        continue
    # a package whose __init__.py is gone still imports, as a namespace package
    if spec is not None and spec.submodule_search_locations is not None and (
        spec.origin in (None, "namespace")
    ):
        failures[name] = name + " imports as a namespace package: its __init__.py is missing"
sys.stdout.write("\n@@reconcile-probe@@" + json.dumps(
    {"version": fmt(sys.version_info), "marker_env": env, "failures": failures}))
"""


def _read_receipt(env_dir: Path) -> tuple[tuple[str, str], ...] | None:
    data = read_receipt(env_dir)
    if data is None:
        return None
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


def installed_dists(env_dir: Path, *, venv: VenvLayout) -> tuple[InstalledDist, ...]:
    """Every ``*.dist-info`` with a readable Name and Version, sorted."""
    parser = HeaderParser()
    found: list[InstalledDist] = []
    for site in site_packages(env_dir, venv=venv):
        for dist_info in glob(site, "*.dist-info"):
            try:
                data = read_regular_bytes(dist_info / "METADATA", METADATA_LIMIT)
            except (OSError, ValueError):  # a FIFO, a device or a huge file: not a METADATA
                continue
            headers = parser.parsestr(data.decode("utf-8", errors="replace"), headersonly=True)
            name, version = headers.get("Name"), headers.get("Version")
            if name and version:
                found.append(InstalledDist(canonicalize_name(name), str(version), dist_info.name))
    return tuple(sorted(found, key=lambda d: (d.name, d.version, d.dist_info)))


def probe(
    python: Path, imports: Sequence[str], timeout: float = PROBE_TIMEOUT
) -> tuple[ProbeResult | None, str | None]:
    """Run ``python`` once to learn its version and marker environment and try ``imports``;
    ``(None, why)`` when it cannot start, times out (after ``timeout`` seconds) or does not
    answer."""
    command = Command(
        argv=(str(python), "-I", "-c", PROBE_SCRIPT, json.dumps(list(imports))),
        timeout=timeout,
    )
    result = attempt(command)
    if isinstance(result, Unfinished):
        if result.timeout is not None:
            return None, f"the interpreter did not answer within {result.timeout:.0f}s"
        return None, f"the interpreter cannot start: {result.error}"
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


def observe_env(request: EnvRequest, *, venv: VenvLayout) -> EnvFacts:
    """Gather every fact about one env folder: ``look_at``'s, its receipt, one probe of its
    interpreter (when there is one to run) and its installed distributions. Never raises for
    a broken env."""
    facts = look_at(request, venv=venv)
    if not facts.exists or facts.escapes_root or facts.real_path is None:
        return facts
    real = Path(facts.real_path)
    probed: ProbeResult | None = None
    # An env whose structure keeps it from starting is not run: its interpreter could only
    # say so, or wait until the timeout on a FIFO where pyvenv.cfg or a .pth should be.
    doomed = [f.detail for f in structure(facts, venv=venv) if f.reason in CANNOT_START]
    if doomed:
        probe_error: str | None = doomed[0]  # why it was not run
    else:
        probed, probe_error = probe(venv.interpreter(real), request.imports)
    return dataclasses.replace(
        facts,
        receipt=_read_receipt(real),
        probe=probed,
        probe_error=probe_error,
        installed=installed_dists(real, venv=venv),
    )


def observe_all(
    requests: Iterable[EnvRequest], *, venv: VenvLayout, workers: int | None = None
) -> dict[str, EnvFacts]:
    """Observe envs in parallel; the result is keyed and sorted by env_key."""
    todo = sorted(requests, key=lambda r: r.env_key)
    if not todo:
        return {}
    limit = workers or min(len(todo), max(4, (os.cpu_count() or 1) * 2))
    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="observe")
    try:
        facts = list(pool.map(functools.partial(observe_env, venv=venv), todo))
    except BaseException:
        # Ctrl-C or SIGTERM: envs not started yet are dropped, not observed one by one
        # while the interruption waits (those in flight end within a probe's timeout).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return {f.env_key: f for f in facts}


def undeclared_entries(root: Path, declared: Iterable[str]) -> tuple[str, ...]:
    """Names of entries in the root that are not declared envs nor the tool's bookkeeping.
    Where case is ignored (Windows, macOS), a key renamed in case only (``shared`` to
    ``Shared``) still finds its old entry, which is then that env's, not one to delete."""
    try:
        names = [entry.name for entry in root.iterdir()]
    except OSError:
        return ()
    known = set(declared)
    spelt = {folded(key): key for key in known if key not in names}
    return tuple(
        sorted(
            n
            for n in names
            if not layout.is_internal(n)
            and n not in known
            and not (folded(n) in spelt and os.path.lexists(root / spelt[folded(n)]))
        )
    )


def created_by_reconcile(root: Path, name: str, *, ops: StoreOps) -> bool:
    """Whether ``<root>/<name>`` is an env that reconcile made: its link, pointing at one of
    the generations under ``<root>/.generations/<name>/``. A real folder is not, whatever it
    holds (a receipt copied from a generation, say): it is an orphan to leave alone."""
    from reconciler.store.generations import has_link, live_generation

    return has_link(root, name, ops=ops) and live_generation(root, name, ops=ops) is not None
