"""Pure: what a plan says of an adopted env that is unhealthy, broken or gone. reconcile never
rebuilds an adopted env, so it is a warning, never a step, and never a reason to refuse the
other envs."""

from __future__ import annotations

from reconciler.core.facts import EnvHealth
from reconciler.core.health import CANNOT_START

FILES_LISTED = 3
"""Corrupted files a warning names; the rest are counted (`verify` lists them all)."""

UNUSABLE = CANNOT_START | {"missing", "not_a_venv"}
"""Findings that leave nothing to run: the folder is gone, is no venv, or cannot start."""


def unusable(health: EnvHealth) -> bool:
    """Whether the env cannot run at all (``which`` and ``run`` use a model's fallback)."""
    return not health.exists or any(f.reason in UNUSABLE for f in health.findings)


def adopted_warning(env_key: str, folder: str, health: EnvHealth) -> str:
    """One warning naming the env, its folder as the manifest writes it, what is wrong (at
    most :data:`FILES_LISTED` files) and what to do."""
    problems = "; ".join(_problems(health)) or "its folder does not exist"
    if unusable(health):
        verdict = "cannot be used"
        todo = (
            "fix or recreate the venv, or change the manifest (another adopt path, or its "
            "models on a managed env); until then its models run on their fallback, if any"
        )
    else:
        verdict = "is unhealthy"
        todo = "repair it, or move its models to a managed env"
    return (
        f"adopted env {env_key} ({folder}) {verdict}: {problems}. reconcile never rebuilds an "
        f"adopted env: {todo}. `reconcile verify {env_key}` lists every finding."
    )


def rebind_detail(env_key: str) -> str:
    """The detail of a rebind step to an adopted env that cannot be used."""
    return (
        f"{env_key} is an adopted env that cannot be used (see the warning): the model runs "
        "on its fallback, if any, until the venv is fixed"
    )


def _problems(health: EnvHealth) -> list[str]:
    """Each finding's detail, the corrupted files folded into one phrase."""
    files = [f.detail for f in health.findings if f.reason == "files_corrupted"]
    found = [
        f.detail or f.reason
        for f in health.findings
        if f.reason != "files_corrupted" and (f.detail or f.reason != "missing")
    ]
    if files:
        count = health.corrupted or len(files)
        named = files[: min(FILES_LISTED, count)]
        listed = ", ".join(named)
        more = count - len(named)
        if more > 0:
            listed += f" and {more} more"
        noun = "1 file is corrupted" if count == 1 else f"{count} files are corrupted"
        found.append(f"{noun} ({listed})")
    return found
