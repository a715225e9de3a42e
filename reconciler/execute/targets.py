"""IO: what each create/replace step builds from, found before anything is built."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import default_environment

from reconciler.core.actions import BUILDS
from reconciler.core.plan import Plan, Step
from reconciler.errors import PythonNotFound
from reconciler.execute.uv import BuildRequest
from reconciler.platform import VenvLayout
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import LoadedManifest, PythonDownloads

if TYPE_CHECKING:
    from reconciler.observe.pythons import Interpreter


@dataclass(frozen=True)
class EnvTarget:
    """What a create/replace step needs to build one env."""

    env_key: str
    python: Path
    python_declared: str
    lock: Lockfile
    lock_path: Path
    imports: tuple[str, ...]
    verify_ignore: tuple[str, ...]
    request_template: BuildRequest
    installs: int
    """How many of the lockfile's pins install on this machine (see :func:`installed_here`)."""


Buildable = EnvTarget | PythonNotFound
"""What a create/replace step builds from, or why it cannot be built (its Python is missing):
that step fails when it runs, and the steps that do not depend on it still run."""


def env_targets(loaded: LoadedManifest, plan: Plan, *, venv: VenvLayout) -> dict[str, Buildable]:
    """Everything the create/replace steps need, found before anything is built. A missing
    Python is that env's failure, not the apply's: the other envs are still built."""
    from reconciler.observe.inputs import fresh_locks

    manifest = loaded.manifest
    builds = {s.target: s for s in plan.steps if s.action in BUILDS}
    keys = sorted(builds)
    locks = fresh_locks(loaded, keys)
    targets: dict[str, Buildable] = {}
    for key in keys:
        spec = manifest.envs[key]
        assert spec.python is not None  # the manifest guarantees python on managed envs
        try:
            interpreter = interpreter_for(
                builds[key], spec.python, manifest.settings.python_downloads, windows=venv.windows
            )
        except PythonNotFound as missing:
            targets[key] = missing
            continue
        template = BuildRequest(
            env_key=key,
            gen_dir=Path(),
            python=interpreter.path,
            lockfile=loaded.lockfile_path(key),
            sources=manifest.sources_for(key),
            base_dir=loaded.base_dir,
            link_mode="copy",
            venv=venv,
        )
        targets[key] = EnvTarget(
            env_key=key,
            python=interpreter.path,
            python_declared=spec.python,
            lock=locks[key],
            lock_path=loaded.lockfile_path(key),
            imports=spec.imports,
            verify_ignore=manifest.verify_ignore_for(key),
            request_template=template,
            installs=installed_here(locks[key], interpreter.version),
        )
    return targets


def installed_here(lock: Lockfile, python_version: str) -> int:
    """How many of ``lock``'s pins install on this machine into an env of Python
    ``python_version`` (X.Y.Z): a pin whose marker does not hold here is skipped (uv skips
    ``colorama ; sys_platform == "win32"`` on Linux). The platform is this process's; the
    Python version is the env's, not reconcile's own."""
    major, minor, *_ = python_version.split(".")
    env = {str(k): str(v) for k, v in default_environment().items()}
    env.update(
        python_version=f"{major}.{minor}",
        python_full_version=python_version,
        implementation_name="cpython",  # find_python accepts only CPython
        platform_python_implementation="CPython",
        implementation_version=python_version,
    )
    return sum(package.applies_to(env) for package in lock.packages)


def interpreter_for(
    step: Step, python: str, downloads: PythonDownloads, *, windows: bool
) -> Interpreter:
    """The interpreter to build ``step``'s env with (``python`` is the declared version). A
    step the plan marked ``blocked`` fails at once with the plan's sentence: no second
    search, and no download that the plan already knows cannot succeed."""
    from reconciler.execute.pythons import find_python

    if step.blocked is not None:
        raise PythonNotFound(python, step.blocked)
    return find_python(python, downloads, windows=windows, env=step.target)


def spec_digest(loaded: LoadedManifest, env_key: str) -> str:
    """Digest of an env's declaration, recorded in its receipt."""
    manifest = loaded.manifest
    spec = manifest.envs[env_key]
    # Without a platform, the digest is what it was before the key existed: generations built
    # then still match (observe.kept); the platform an env is locked for is in its lockfile.
    unset = {"platform"} if spec.platform is None else None
    document = {
        "spec": spec.model_dump(mode="json", exclude=unset),
        "sources": manifest.sources_for(env_key).model_dump(mode="json"),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
