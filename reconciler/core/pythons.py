"""Pure: whether the Python an env is built with can be had, and the sentence when it cannot.

`plan` judges what it looked up (observe.pythons) here, so that an env whose Python is not
installed, and may not or cannot be downloaded, is named by the plan rather than found
half-way through `apply`; apply fails such an env with the very same sentence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.actions import BUILDS
from reconciler.core.plan import Plan
from reconciler.errors import assert_never
from reconciler.spec.manifest import PythonDownloads

OVERRIDE_PREFIX = "RECONCILE_PYTHON_"


@dataclass(frozen=True)
class PythonLookup:
    """What was found for one declared Python version (``"3.11"`` or ``"3.11.7"``)."""

    version: str
    found: str | None = None
    """The ``X.Y.Z`` of the interpreter a build would use; None when none is installed."""
    path: str | None = None
    """That interpreter's path."""
    download: str | None = None
    """The ``X.Y.Z`` uv would download (looked up only when none is installed)."""
    error: str | None = None
    """Why the lookup itself failed, with no end stop (a ``RECONCILE_PYTHON_*`` variable
    that is no such Python)."""


@dataclass(frozen=True)
class PythonOutlook:
    """What a build of an env will meet: a download first, or a failure before anything."""

    download: str | None = None
    """The ``X.Y.Z`` a build will download first."""
    problem: str | None = None
    """Why the env cannot be built (one sentence naming the env); None when it can."""


def override_variable(version: str) -> str:
    """The environment variable that points reconcile at ``version``: ``RECONCILE_PYTHON_3_11``."""
    return OVERRIDE_PREFIX + version.replace(".", "_")


def missing_python(
    version: str,
    downloads: PythonDownloads,
    *,
    windows: bool,
    env: str | None = None,
    why: str | None = None,
) -> str:
    """The sentence for a Python that is not installed and that a build will not get: why
    (``why``, or what ``downloads`` says), and how to provide it, the way it is done on
    ``windows`` or on POSIX. ``env`` names the env that needs it (plan and apply), or nobody
    (a lookup on its own)."""
    xy = ".".join(version.split(".")[:2])
    if why is None:
        match downloads:
            case "automatic":
                why = "is not installed and could not be downloaded"
            case "manual":
                why = 'is not installed, and python_downloads = "manual" leaves that to you'
            case "never":
                why = 'is not installed, and python_downloads = "never" forbids downloading it'
            case _:
                assert_never(downloads)
    if windows:
        how = (
            f"install it (`uv python install {version}`, `winget install Python.Python.{xy}`, "
            f"`py install {version}` or the installer from python.org), or point reconcile "
            f"at it with {override_variable(version)}=C:\\path\\to\\python.exe"
        )
    else:
        how = (
            f"install it (`uv python install {version}` or `pyenv install {version}`), "
            f"or point reconcile at it with {override_variable(version)}=/path/to/python{xy}"
        )
    if env is None:
        return f"Python {version} {why}: {how}."
    how += ", or change its python in envs.toml"
    return f"env {env} needs Python {version}, which {why}: {how}."


def outlook(
    env: str, lookup: PythonLookup, downloads: PythonDownloads, *, windows: bool
) -> PythonOutlook:
    """What building ``env`` with the Python ``lookup`` describes will meet (on ``windows``,
    or POSIX: the hint differs)."""
    if lookup.error is not None:
        problem = f"env {env} needs Python {lookup.version}, but {lookup.error}."
        return PythonOutlook(problem=problem)
    if lookup.found is not None:
        return PythonOutlook()
    if downloads != "automatic":
        problem = missing_python(lookup.version, downloads, windows=windows, env=env)
        return PythonOutlook(problem=problem)
    if lookup.download is None:
        why = "is not installed, and uv has no download of it for this machine"
        problem = missing_python(lookup.version, downloads, windows=windows, env=env, why=why)
        return PythonOutlook(problem=problem)
    return PythonOutlook(download=lookup.download)


def wanted_pythons(plan: Plan) -> list[str]:
    """The declared Python versions the plan's create/replace steps build with."""
    return sorted({s.python for s in plan.steps if s.action in BUILDS and s.python})


def foresee(
    plan: Plan,
    lookups: Mapping[str, PythonLookup],
    downloads: PythonDownloads,
    *,
    windows: bool,
) -> Plan:
    """The plan with what each create/replace step will meet: the download it starts with,
    or why it cannot be built (``blocked``, also a warning naming the env; its hint is
    ``windows``'s or POSIX's). The step stays: apply fails that env alone, at once, and
    carries on with the others."""
    steps = []
    warnings = list(plan.warnings)
    for step in plan.steps:
        lookup = lookups.get(step.python or "") if step.action in BUILDS else None
        if lookup is None:
            steps.append(step)
            continue
        seen = outlook(step.target, lookup, downloads, windows=windows)
        steps.append(dataclasses.replace(step, python_download=seen.download, blocked=seen.problem))
        if seen.problem is not None:
            warnings.append(seen.problem)
    return dataclasses.replace(plan, steps=tuple(steps), warnings=tuple(warnings))
