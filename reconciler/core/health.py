"""Pure: judge the facts observed about an env against what the manifest and lockfile want."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from reconciler.core.facts import EnvFacts, EnvHealth, Finding

if TYPE_CHECKING:  # `which` judges structure only: it need not import lockfile parsing
    from reconciler.core.integrity import IntegrityFinding, VerifyReport
    from reconciler.platform import VenvLayout
    from reconciler.spec.lockfile import Lockfile

MAX_FILES_LISTED = 10
"""Corrupted files named one by one in a plan step; the rest are counted."""

PHRASE_FILES_LISTED = 3
"""Corrupted files named in the phrase of `which`, `run` and ``resolve()``; the rest are
counted."""


@dataclass(frozen=True)
class Expectation:
    """What a healthy env looks like: its Python, its lockfile, whether reconcile built it."""

    python: str | None
    lock: Lockfile | None
    managed: bool
    link_mode: str | None = None
    """The manifest's ``link_mode`` for a managed env (``None``: not judged, as for a new
    generation being verified or an adopted env)."""


LINK_MODE_CHANGED = "link_mode_changed"
"""The reason of a generation built with another ``link_mode`` than the manifest says."""

LINK_MODE_GIVES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "auto": frozenset({"clone", "copy"}),
        "clone": frozenset({"clone"}),
        "copy": frozenset({"copy"}),
        "hardlink": frozenset({"hardlink"}),
    }
)
"""A manifest ``link_mode`` -> the uv link modes a build with it uses (receipt ``link_mode``)."""


def link_mode_change(receipt: Mapping[str, str], wanted: str) -> Finding | None:
    """``link_mode_changed`` when the generation was built with another ``link_mode`` than
    ``wanted``. A receipt records the manifest's mode (``link_mode_declared``) and uv's
    (``link_mode``); one written before the first was recorded is judged by uv's mode, so
    an upgrade rebuilds only what the manifest's mode could not have built (hardlinks where
    ``auto`` now asks for files of their own)."""
    declared = receipt.get("link_mode_declared")
    if declared is not None:
        if declared == wanted:
            return None
        return Finding(LINK_MODE_CHANGED, f'built with link_mode "{declared}", now "{wanted}"')
    used = receipt.get("link_mode")
    if used is None or used in LINK_MODE_GIVES.get(wanted, frozenset({used})):
        return None
    return Finding(LINK_MODE_CHANGED, f'files linked by uv as "{used}", link_mode now "{wanted}"')


def python_matches(declared: str, actual: str) -> bool:
    """``"3.11"`` matches any 3.11.x; ``"3.11.7"`` matches only itself."""
    wanted = declared.split(".")
    return actual.split(".")[: len(wanted)] == wanted


def _structure(facts: EnvFacts, managed: bool) -> list[Finding]:
    found: list[Finding] = []
    if facts.kind == "broken_symlink":
        found.append(Finding("missing", f"the link points at {facts.link_target}, which is gone"))
    elif facts.kind == "other":
        found.append(Finding("not_a_venv", f"{facts.path} is a file, not an env folder"))
    elif facts.escapes_root:
        found.append(
            Finding("outside_root", f"the link resolves outside the root, to {facts.real_path}")
        )
    if found:
        return found
    if managed and not facts.created_by_reconcile:
        found.append(
            Finding(
                "not_created_by_reconcile",
                "no readable reconcile receipt: it was built by hand, or its receipt is damaged",
            )
        )
    found.extend(_setup(facts))
    return found


ENV_LEVEL = (
    "env_missing",
    "interpreter_broken",
    "pyvenv_cfg_missing",
    "base_interpreter_missing",
    "activation_missing",
    "env_moved",
)
"""Findings about an env as a whole, in the order reports list them (before any finding about
its files: an env that cannot start is worse than a bad file)."""

CANNOT_START = frozenset(
    {"env_missing", "interpreter_broken", "pyvenv_cfg_missing", "base_interpreter_missing"}
)
"""The env-level findings that keep an interpreter from starting (`which` refuses the env);
``activation_missing`` only breaks ``source bin/activate``, ``env_moved`` that and the
console scripts (``pip``)."""


def structure(facts: EnvFacts, *, venv: VenvLayout) -> list[Finding]:
    """What keeps an env that exists from starting or from being activated, judged from its
    structure alone (``look.look_at``, no process): its interpreter, pyvenv.cfg, base
    interpreter and activation scripts, and whether it was made for another folder. The one
    judgement behind `verify`'s env-level findings and `which`; `plan` has the interpreter's
    own word from its probe instead."""
    found: list[Finding] = []
    if facts.interpreter_problem is not None:
        found.append(
            Finding(
                "interpreter_broken", f"the interpreter {facts.interpreter_problem}", venv.python
            )
        )
    return found + _setup(facts)


def _setup(facts: EnvFacts) -> list[Finding]:
    """pyvenv.cfg, the base interpreter it names, the activation scripts, the folder they
    were made for."""
    found: list[Finding] = []
    if facts.pyvenv_cfg is None:
        problem = facts.pyvenv_cfg_problem or "is missing"
        found.append(Finding("pyvenv_cfg_missing", f"pyvenv.cfg {problem}", "pyvenv.cfg"))
    found.extend(
        Finding(
            "interpreter_broken",
            f"{what}, not a file (Python opens every .pth at start)",
            what.partition(" is ")[0],
        )
        for what in facts.pth_not_files
    )
    if facts.base_interpreter_present is False:
        home = dict(facts.pyvenv_cfg or ()).get("home", "?")
        problem = facts.base_interpreter_problem or "is gone"
        found.append(
            Finding(
                "base_interpreter_missing", f"the base interpreter folder {home} {problem}", home
            )
        )
    found.extend(
        Finding("activation_missing", f"{name} is missing", name)
        for name in facts.missing_activation
    )
    found.extend(
        Finding("activation_missing", f"{name} is empty", name) for name in facts.empty_activation
    )
    made_for, real = facts.activation_venv_path, facts.real_path
    if made_for is not None and real is not None and made_for != real:
        # its scripts and launchers (pip.exe) name the old folder: a venv is not relocatable
        found.append(Finding("env_moved", f"made for {made_for}, now at {real}", "."))
    return found


def drift(lock: Lockfile, facts: EnvFacts) -> list[Finding]:
    """Installed distributions against the lockfile pins that apply to this env."""
    if facts.probe is None:
        return []
    wanted = lock.for_env(dict(facts.probe.marker_env))
    have: dict[str, list[str]] = {}
    for dist in facts.installed:
        have.setdefault(dist.name, []).append(dist.version)
    found: list[Finding] = []
    for name in sorted(set(wanted) | set(have)):
        versions = have.get(name, [])
        if name not in wanted:
            found.append(Finding("packages_drifted", f"extra: {name} {', '.join(versions)}"))
        elif not versions:
            found.append(Finding("packages_drifted", f"missing: {name}=={wanted[name]}"))
        elif versions != [wanted[name]]:
            found.append(
                Finding(
                    "packages_drifted",
                    f"wrong version: {name} {', '.join(versions)} (lockfile: {wanted[name]})",
                )
            )
    return found


def corruption(report: VerifyReport) -> list[Finding]:
    """``files_corrupted`` findings naming the first bad files (SPEC 6), then a count."""
    named, more = _first(report, MAX_FILES_LISTED)
    found = [Finding("files_corrupted", _corrupted(f)) for f in named]
    if more > 0:
        found.append(Finding("files_corrupted", f"and {more} more; see `reconcile verify`"))
    return found


def corruption_phrase(report: VerifyReport) -> str:
    """The same judgement as one phrase, for `which`, `run` and ``resolve()``: ``2 files are
    corrupted (zero_byte click/core.py, missing click/utils.py)``, the count and the first
    few files relative to site-packages with their category."""
    named, more = _first(report, PHRASE_FILES_LISTED)
    listed = [f"{f.category} {_short(f.path, report)}" for f in named]
    if more > 0:
        listed[-1] += f" and {more} more"
    count = len(report.findings)
    noun = "1 file is corrupted" if count == 1 else f"{count} files are corrupted"
    return f"{noun} ({', '.join(listed)})"


def _first(report: VerifyReport, listed: int) -> tuple[tuple[IntegrityFinding, ...], int]:
    """The findings named one by one, and how many more there are."""
    return report.findings[:listed], max(0, len(report.findings) - listed)


def _short(path: str, report: VerifyReport) -> str:
    for site in report.site_packages:
        if path.startswith(site + "/"):
            return path[len(site) + 1 :]
    return path


def _corrupted(finding: IntegrityFinding) -> str:
    """``hash_mismatch lib/.../x.py (alpha)``; a file whose RECORD row is an upstream defect
    says that it was checked against what reconcile installed."""
    from reconciler.core.integrity import BASELINE_DETAIL

    owner = [finding.dist] if finding.dist else []
    if BASELINE_DETAIL in finding.detail:
        owner.append("upstream record_defect: checked against what reconcile installed")
    return f"{finding.category} {finding.path}" + (f" ({'; '.join(owner)})" if owner else "")


def assess(
    facts: EnvFacts, expect: Expectation, integrity: VerifyReport | None = None
) -> EnvHealth:
    """Every finding about one env, in a stable order; none when it is healthy.

    ``integrity`` is the env's RECORD check, when its files could be checked."""
    if facts.kind == "absent":
        return EnvHealth(facts.env_key, exists=False, findings=(Finding("missing", ""),))
    found = _structure(facts, expect.managed)
    if facts.kind == "broken_symlink":  # a dangling link is no env: plan creates it (SPEC 5)
        return EnvHealth(facts.env_key, exists=False, findings=tuple(found))
    if facts.kind in ("dir", "symlink") and not facts.escapes_root:
        if facts.probe is None:
            # not run when its structure already said it cannot start: nothing more to say
            if facts.interpreter_problem is not None or not any(
                finding.reason in CANNOT_START for finding in found
            ):
                found.append(Finding("interpreter_broken", facts.probe_error or "does not run"))
        else:
            if expect.python and not python_matches(expect.python, facts.probe.version):
                found.append(
                    Finding(
                        "python_changed",
                        f"Python {facts.probe.version} installed, {expect.python} declared",
                    )
                )
            found.extend(
                Finding("probe_failed", f"import {name}: {error}")
                for name, error in facts.probe.import_failures
            )
        if expect.lock is not None:
            found.extend(drift(expect.lock, facts))
            from reconciler.core.generations import built_from

            if built_from(dict(facts.receipt or ()), expect.lock) is False:
                found.append(Finding("lock_changed", "built from an older lockfile"))
        if expect.link_mode is not None and facts.receipt is not None:
            changed = link_mode_change(dict(facts.receipt), expect.link_mode)
            if changed is not None:
                found.append(changed)
        if integrity is not None:
            found.extend(corruption(integrity))
    corrupted = len(integrity.findings) if integrity is not None else 0
    return EnvHealth(facts.env_key, exists=True, findings=tuple(found), corrupted=corrupted)
