"""IO: the `plan` use case. Load inputs, observe, judge, then hand pure data to plan.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.facts import EnvFacts, EnvHealth
from reconciler.core.integrity import VerifyReport
from reconciler.core.plan import Observed, Plan, build_plan, check_replace, check_targets
from reconciler.core.pythons import PythonLookup, foresee, wanted_pythons
from reconciler.observe.adoption import applied_folder, check_adopted, check_doomed, undeletable
from reconciler.observe.env import created_by_reconcile, undeclared_entries
from reconciler.observe.health import observe_health
from reconciler.observe.inputs import env_requests, fresh_locks
from reconciler.observe.manifestpaths import check_root_usable
from reconciler.observe.pythonlookup import lookup_paths, lookups
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import LoadedManifest, Manifest, PythonDownloads
from reconciler.store import folders, layout
from reconciler.store.bindings import AppliedState, read_state

if TYPE_CHECKING:
    from reconciler.platform import Platform, VenvLayout


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _facts_digest(facts: EnvFacts) -> str:
    return _sha256(json.dumps(dataclasses.asdict(facts), sort_keys=True, default=str))


def target_closure(
    manifest: Manifest, bindings: Mapping[str, str], targets: Iterable[str]
) -> list[str]:
    """The managed envs a --target plan must observe: the targets, and the envs that models
    leaving a targeted env move to (their create step comes along, SPEC 5)."""
    wanted = set(targets)
    for model, spec in manifest.models.items():
        if bindings.get(model) in wanted or spec.env in wanted:
            wanted.add(spec.env)
    return sorted(k for k in manifest.managed_envs() if k in wanted)


@dataclass(frozen=True)
class PlanRun:
    """A computed plan with the fingerprint of everything it was computed from."""

    plan: Plan
    fingerprint: dict[str, Any]
    inputs: tuple[str, ...] = ()
    """Every path the plan was computed from, for the plan replay (memo.replay)."""


def _findings_digest(report: VerifyReport) -> str:
    return _sha256(json.dumps([dataclasses.asdict(f) for f in report.findings], sort_keys=True))


@dataclass(frozen=True)
class CheckedInputs:
    """What a plan starts from once every input it may refuse was checked."""

    state: AppliedState
    planned: list[str]
    locks: dict[str, Lockfile]


def check_inputs(
    loaded: LoadedManifest, targets: Iterable[str] = (), replace: Iterable[str] = ()
) -> CheckedInputs:
    """Refuse what a plan refuses before it observes anything: a link or a file in place of
    one of the root's own folders, a root that PATH cannot hold, a bad adopt path (not one
    adopted and applied there that broke since: plan warns of that one), a ``--replace``
    naming no managed env, a missing, stale or hand-edited lockfile of an env it plans. Reads
    only, so `apply` calls it before its lock creates the root: bad input changes nothing on
    disk."""
    root = loaded.root
    folders.check(root)
    check_root_usable(loaded)
    state = read_state(root)
    check_adopted(loaded, state.adopted)
    check_doomed(loaded, state.adopted)
    check_replace(loaded.manifest, sorted(set(replace)))
    wanted = sorted(set(targets) | set(replace)) if targets else []
    managed = loaded.manifest.managed_envs()
    if wanted:  # a --target naming nothing is refused before apply's lock creates the root
        undeclared = dict.fromkeys(undeclared_entries(root, loaded.manifest.envs), False)
        known = Observed(
            health={}, orphans=undeclared, bindings={}, adopted=frozenset(state.adopted)
        )
        check_targets(loaded.manifest, known, wanted)
    planned = target_closure(loaded.manifest, state.bindings, wanted) if wanted else sorted(managed)
    return CheckedInputs(state=state, planned=planned, locks=fresh_locks(loaded, planned))


def make_plan(
    loaded: LoadedManifest,
    targets: Iterable[str] = (),
    *,
    platform: Platform,
    deep: bool = False,
    replace: Iterable[str] = (),
) -> PlanRun:
    """Observe every declared env (health and RECORD integrity) and every entry of the root,
    and build the plan. ``deep`` rehashes every file instead of trusting the hash cache;
    ``replace`` names envs rebuilt even when healthy (targets too when there are targets)."""
    venv, ops = platform.venv, platform.ops
    manifest = loaded.manifest
    root = loaded.root
    forced = sorted(set(replace))
    wanted = sorted(set(targets) | set(forced)) if targets else []
    checked = check_inputs(loaded, wanted, forced)
    state, planned, locks = checked.state, checked.planned, checked.locks
    managed = manifest.managed_envs()
    seen: list[str] = []
    seen_by_env: dict[str, list[str]] = {}
    facts, integrity, health = observe_health(
        loaded,
        env_requests(loaded, planned),
        locks.get,
        venv=venv,
        deep=deep,
        seen=seen,
        seen_by_env=seen_by_env,
    )
    orphans = {
        name: created_by_reconcile(root, name, ops=ops)
        for name in undeclared_entries(root, manifest.envs)
    }
    from reconciler.store.generations import foreign_at_link

    doomed = _doomed(loaded)
    moves = adopt_moves(loaded, state.adopted)
    occupied = {
        key: f"{root / key} is {what}"
        for key in sorted(managed)
        if key in planned and (what := foreign_at_link(root, key, ops=ops)) is not None
    }
    kept = _switch_backs(loaded, health, locks, platform=platform, seen=seen)
    observed = Observed(
        health=health,
        orphans=orphans,
        bindings=state.bindings,
        adopted=frozenset(state.adopted),
        fallbacks=state.fallbacks,
        doomed=doomed,
        undeletable=undeletable(loaded, state),
        adopt_moves=moves,
        occupied=occupied,
        switch_back=kept,
    )
    packages = {key: len(lock.packages) for key, lock in locks.items()}
    plan = build_plan(manifest, observed, packages, wanted, forced)
    plan, pythons = _foresee_pythons(
        plan, manifest.settings.python_downloads, windows=platform.windows
    )
    fingerprint = {
        "manifest_sha256": _sha256(loaded.text),
        "root": str(root.resolve()),
        "lockfiles": {key: lock.sha256 for key, lock in sorted(locks.items())},
        "observed": {key: _facts_digest(f) for key, f in sorted(facts.items())},
        "integrity": {key: _findings_digest(r) for key, r in sorted(integrity.items())},
        "files": _files_digests(root, facts, seen_by_env, orphans, venv),
        "orphans": sorted(orphans),
        "doomed": sorted(doomed),
        "targets": wanted,
        "replace": forced,
        "pythons": {v: [p.found, p.path, p.download, p.error] for v, p in pythons.items()},
        "applied_state": _sha256(
            json.dumps(
                [
                    sorted(state.bindings.items()),
                    sorted(state.fallbacks.items()),
                    sorted(state.adopted.items()),
                    sorted(state.adopted_ids.items()),
                ]
            )
        ),
    }
    lockfiles = [loaded.lockfile_path(k) for k in locks]
    inputs = _input_paths(loaded, lockfiles, facts, orphans, venv)
    inputs += [
        path for found in pythons.values() for path in lookup_paths(found, windows=platform.windows)
    ]
    return PlanRun(plan=plan, fingerprint=fingerprint, inputs=tuple(inputs + seen))


def _foresee_pythons(
    plan: Plan, downloads: PythonDownloads, *, windows: bool
) -> tuple[Plan, dict[str, PythonLookup]]:
    """The plan with the Python each build will use looked up (one search per version, and
    only for envs it builds: a plan that builds nothing runs nothing), and those lookups."""
    pythons = lookups(wanted_pythons(plan), downloads, windows=windows)
    return foresee(plan, pythons, downloads, windows=windows), pythons


def _switch_backs(
    loaded: LoadedManifest,
    health: Mapping[str, EnvHealth],
    locks: Mapping[str, Lockfile],
    *,
    platform: Platform,
    seen: list[str],
) -> dict[str, str]:
    """Each managed env the plan builds -> its newest kept generation that already matches
    what the manifest asks for (``observe.kept``); envs with none are left out."""
    from reconciler.core.generations import Wanted
    from reconciler.execute.targets import spec_digest
    from reconciler.observe.kept import switch_back_target

    found = {}
    for key, lock in sorted(locks.items()):
        verdict = health.get(key)
        if verdict is None or verdict.healthy:
            continue
        wanted = Wanted(lock, spec_digest(loaded, key), loaded.manifest.settings.link_mode)
        gen_id = switch_back_target(
            loaded, key, lock, wanted, venv=platform.venv, ops=platform.ops, seen=seen
        )
        if gen_id is not None:
            found[key] = gen_id
    return found


def _files_digests(
    root: Path,
    facts: Mapping[str, EnvFacts],
    seen_by_env: Mapping[str, Sequence[str]],
    orphans: Iterable[str],
    venv: VenvLayout,
) -> dict[str, str]:
    """For each observed env and each entry of the root the plan may delete: a digest of what
    its files are now (each file the plan read, down to every RECORD-listed one). What a file
    holds can change without changing a finding (a file already unlike RECORD, an allowed
    modification, a ``*.pth`` in no RECORD), so a saved plan is stale once any of them does."""
    digests = {}
    for key, fact in sorted(facts.items()):
        paths = _env_files(fact, venv, parent=False)
        digests[key] = _paths_digest([*paths, *seen_by_env.get(key, ())])
    for name in orphans:
        real = os.path.realpath(root / name)
        digests[name] = _paths_digest(
            [str(root / name), real, str(Path(real) / layout.RECEIPT_NAME)]
        )
    return dict(sorted(digests.items()))


def _paths_digest(paths: Iterable[str]) -> str:
    return _sha256(json.dumps([[p, _signature(p)] for p in sorted(set(paths))]))


def _signature(path: str) -> list[Any] | None:
    """What tells that a file changed: its type, size, mtime and ctime (a write changes both
    times, and nobody can set a ctime back); a link's target as written; a folder's type
    alone (Python adds ``__pycache__`` to package folders as it imports them, which is no
    change of the env). Device and inode numbers are left out: not stable everywhere."""
    try:
        info = os.lstat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a path read from pyvenv.cfg
        return None
    if stat.S_ISDIR(info.st_mode):
        return ["dir", info.st_mode]
    if stat.S_ISLNK(info.st_mode):
        try:
            return ["link", str(Path(path).readlink())]
        except OSError:
            return ["link", None]
    return [info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def adopt_moves(loaded: LoadedManifest, applied: Mapping[str, str]) -> dict[str, str]:
    """Adopted envs whose folder in the manifest is not the one applied -> what changes
    (``adopted folder: OLD -> NEW``, relative to the manifest's folder where inside it)."""
    moves = {}
    for key in loaded.manifest.adopted_envs():
        old = applied.get(key)
        new = applied_folder(loaded, key)
        if old and os.path.normpath(old) != new:
            moves[key] = f"adopted folder: {_shown(loaded, old)} -> {_shown(loaded, new)}"
    return moves


def _shown(loaded: LoadedManifest, path: str) -> str:
    try:
        return str(Path(path).relative_to(loaded.base_dir))
    except ValueError:
        return path


def _doomed(loaded: LoadedManifest) -> dict[str, str]:
    """Adopted envs marked ``delete = true`` whose folder is still there -> that folder, as
    written in the manifest (plans carry no absolute paths of their own)."""
    return {
        key: str(spec.adopt)
        for key, spec in loaded.manifest.doomed_envs().items()
        if os.path.lexists(loaded.adopt_path(key))
    }


def _input_paths(
    loaded: LoadedManifest,
    lockfiles: Iterable[Path],
    facts: Mapping[str, EnvFacts],
    orphans: Iterable[str],
    venv: VenvLayout,
) -> list[str]:
    """The paths a plan reads besides the files RECORDs list (those come from verify)."""
    root = loaded.root
    state = layout.bindings_path(root)
    paths = [str(loaded.path), str(root), str(state.parent), str(state)]
    # The root's own folders, and each env's under .generations: a link put in place of one
    # (refused by store.check) must not let a stored plan be replayed.
    paths += [str(root / name) for name in folders.INTERNAL]
    paths += [str(root / layout.GENERATIONS / key) for key in facts]
    paths += [str(p) for p in lockfiles]
    for key in loaded.manifest.doomed_envs():
        folder = loaded.adopt_path(key)
        paths += [str(folder), str(folder.parent), str(folder / "pyvenv.cfg")]
    for name in orphans:
        real = os.path.realpath(root / name)
        paths += [str(root / name), real, str(Path(real) / layout.RECEIPT_NAME)]
    for fact in facts.values():
        paths += _env_files(fact, venv)
    return paths


def _env_files(fact: EnvFacts, venv: VenvLayout, parent: bool = True) -> list[str]:
    """The paths of an env a plan reads besides its RECORD-listed files: the interpreter,
    pyvenv.cfg and activation scripts (memo.identity.env_paths), lib/python* (``Lib`` on
    Windows), and the files directly in site-packages."""
    from reconciler.files import glob
    from reconciler.memo.identity import env_paths

    cfg = dict(fact.pyvenv_cfg) if fact.pyvenv_cfg is not None else None
    paths = env_paths(fact.path, fact.real_path, cfg, venv=venv, parent=parent)
    if fact.real_path is not None:
        lib_name, _, site = venv.site_packages.partition("/")  # "lib", "python*/site-packages"
        lib = Path(fact.real_path) / lib_name
        paths += [str(lib)] + [str(p) for p in glob(lib, site.partition("/")[0])]
        paths += _site_files(glob(lib, site))
    return paths


def _site_files(sites: Iterable[Path]) -> list[str]:
    """The files directly in site-packages: ``*.pth`` files run at every start-up and may be
    in no RECORD (distutils-era installs, hand-made ones), yet change what a probe sees."""
    found: list[str] = []
    for site in sites:
        try:
            with os.scandir(site) as entries:
                found += [e.path for e in entries if not e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
    return found
