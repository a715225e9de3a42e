"""IO: the `apply`, `rollback` and `gc` use cases: lock, plan, check, confirm, execute."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import build, generations, journal, layout, store
from reconciler.apply import Applier, ApplyReport, EnvTarget, FileProblem
from reconciler.build import BuildRequest
from reconciler.document import FORMAT_VERSION
from reconciler.errors import ReconcileError, UsageError
from reconciler.files import stray_temporaries
from reconciler.manifest import LoadedManifest
from reconciler.plan import Plan
from reconciler.planning import PlanRun, fresh_locks
from reconciler.progress import Reporter

_REFLINK_PROBE = re.compile(r"\.reflink-[0-9a-f]{8}-[ab]")


class StalePlan(ReconcileError):
    """A saved plan no longer matches the manifest, the lockfiles or the envs."""


@dataclass(frozen=True)
class SavedPlan:
    document: dict[str, Any]
    targets: tuple[str, ...]


def load_saved_plan(path: Path) -> SavedPlan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"no saved plan at {path}: make one with `reconcile plan --out {path}`."
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a saved plan ({exc}); make one with `reconcile plan --out`."
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("fingerprint"), dict):
        raise UsageError(
            f"{path} is not a saved plan (no fingerprint); make one with `reconcile plan --out`."
        )
    if document.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{path} has plan format {document.get('format_version')!r}, this reconcile reads "
            f"{FORMAT_VERSION!r}; make a new plan with `reconcile plan --out`."
        )
    fingerprint = document["fingerprint"]
    shapes = (("lockfiles", dict), ("observed", dict), ("orphans", list), ("targets", list))
    if not all(isinstance(fingerprint.get(k), kind) for k, kind in shapes) or not isinstance(
        document.get("steps"), list
    ):
        raise UsageError(
            f"{path} is not a complete saved plan; make a new one with `reconcile plan --out`."
        )
    return SavedPlan(document, tuple(str(t) for t in fingerprint["targets"]))


def stale_parts(saved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Pure: which parts of a fingerprint changed, in words."""
    changed: list[str] = []
    if saved.get("manifest_sha256") != fresh.get("manifest_sha256"):
        changed.append("the manifest changed")
    if saved.get("root") != fresh.get("root"):
        changed.append("the root is another folder")
    for label, key in (("lockfile", "lockfiles"), ("env", "observed")):
        old, new = saved.get(key, {}), fresh.get(key, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changed.append(f"{label} {name} changed")
    for name in sorted(set(fresh.get("orphans", [])) - set(saved.get("orphans", []))):
        changed.append(f"{name} appeared in the root")
    for name in sorted(set(saved.get("orphans", [])) - set(fresh.get("orphans", []))):
        changed.append(f"{name} disappeared from the root")
    if saved.get("applied_state") != fresh.get("applied_state"):
        changed.append("the applied bindings changed")
    return changed


class UvBuilder:
    """The real builder: uv, through reconciler.build."""

    def create_venv(self, request: BuildRequest) -> None:
        build.create_venv(request)

    def sync(self, request: BuildRequest, refresh: Sequence[str] = ()) -> None:
        build.sync(request, refresh)

    def purge_cache(self, env_key: str, packages: Sequence[str]) -> None:
        build.purge_cache(env_key, packages)


def file_verifier(root: Path) -> Callable[[Path, Sequence[str]], list[FileProblem]]:
    """Full hash verification of every RECORD row of a new generation: every file is read
    (``deep``), and the hashes go into the root's cache so the next plan need not reread them."""
    from reconciler.verifying import verify_dir

    def verify_files(env_dir: Path, ignore: Sequence[str]) -> list[FileProblem]:
        report = verify_dir(root, env_dir, ignore, deep=True)
        return [FileProblem(f.category, f.dist or "", f.path) for f in report.findings]

    return verify_files


def env_targets(loaded: LoadedManifest, plan: Plan) -> dict[str, EnvTarget]:
    """Everything the create/replace steps need, found before anything is built: a missing
    Python fails here, with nothing touched."""
    from reconciler.pythons import find_python

    manifest = loaded.manifest
    keys = sorted(s.target for s in plan.steps if s.action in ("create", "replace"))
    locks = fresh_locks(loaded, keys)
    targets = {}
    for key in keys:
        spec = manifest.envs[key]
        assert spec.python is not None  # the manifest guarantees python on managed envs
        interpreter = find_python(spec.python, manifest.settings.python_downloads)
        template = BuildRequest(
            env_key=key,
            gen_dir=Path(),
            python=interpreter.path,
            lockfile=loaded.lockfile_path(key),
            sources=manifest.sources_for(key),
            base_dir=loaded.base_dir,
            link_mode="copy",
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
        )
    return targets


def cleanup(loaded: LoadedManifest, keep: int | None = None) -> list[tuple[str, str]]:
    """Remove what reconcile created and recorded and an interrupted run left (the caller
    holds the lock): incomplete generations it handed out, a switch's temporary link, the
    recorded entries of the trash and the adopted folders set aside beside themselves
    (:mod:`reconciler.journal`), stray temporary files of its own files, and the generations
    of undeclared envs whose link is gone. With ``keep``, also the generations of declared
    envs beyond it, which an apply killed between a switch and its prune leaves behind.
    Nothing is chosen by a name pattern alone: a folder that merely looks like one of
    these is left alone."""
    from reconciler.mutex import info_path

    root = loaded.root
    store.check(root)
    failures: list[tuple[str, str]] = []
    keys = generations.managed_env_keys(root)
    failures += generations.remove_leftovers(root, keys).failed
    for key in keys:  # generation folders of undeclared envs whose link is already gone
        if _abandoned(loaded, key):
            failures += generations.delete_tree(root, generations.generations_dir(root, key)).failed
        live = generations.live_generation(root, key)
        if keep is not None and key in loaded.manifest.envs and live is not None:
            gens = generations.owned(root, generations.list_generations(root, key))
            for old in generations.collectable(gens, live, keep):
                failures += generations.delete_tree(root, old.path).failed
    for stray in _strays(root, info_path(root)):
        try:
            stray.unlink()
        except OSError as exc:
            failures.append((str(stray), exc.strerror or str(exc)))
    failures += generations.empty_trash(root).failed
    failures += prune_hash_caches(loaded)
    return failures


def _abandoned(loaded: LoadedManifest, key: str) -> bool:
    """Whether ``.generations/<key>`` is an undeclared env's, made by reconcile (its
    ``.last`` records the generations it handed out), whose link is already gone."""
    root = loaded.root
    return (
        key not in loaded.manifest.envs
        and not generations.has_link(root, key)
        and generations.last_number(root, key) > 0
    )


def _strays(root: Path, lock_info: Path) -> list[Path]:
    """Temporary files reconcile's own writes left when killed: each beside the file it was
    replacing, named exactly as :func:`reconciler.files.write_atomic` names them."""
    state = store.folder(root, layout.STATE)
    strays = stray_temporaries(layout.bindings_path(root)) + stray_temporaries(lock_info)
    strays += stray_temporaries(state / journal.NAME)
    folder = store.folder(root, layout.GENERATIONS)
    strays += _reflink_probes(folder)
    for key in generations.managed_env_keys(root):  # the generation counter's temporaries
        strays += stray_temporaries(generations.generations_dir(root, key) / ".last")
    return strays


def _reflink_probes(folder: Path) -> list[Path]:
    """The two files of build.supports_reflink, left by a kill between creating and
    removing them: ``.reflink-<8 hex>-a`` and ``-b``, regular files."""
    found = []
    for path in sorted(folder.glob(".reflink-*")):
        try:
            regular = stat.S_ISREG(os.lstat(path).st_mode)
        except OSError:
            continue
        if regular and _REFLINK_PROBE.fullmatch(path.name):
            found.append(path)
    return found


def prune_hash_caches(loaded: LoadedManifest) -> list[tuple[str, str]]:
    """Remove the hash caches of env folders that are gone (removed generations, envs no
    longer adopted); they would otherwise pile up, one per generation ever built."""
    from reconciler.cachedir import cache_folder
    from reconciler.hashcache import cache_file

    root = loaded.root
    folder = cache_folder(root, "hashes")
    if folder is None or not folder.is_dir():  # absent, or a link never followed
        return []
    folders = [
        g.path
        for k in generations.managed_env_keys(root)
        for g in generations.list_generations(root, k)
    ]
    folders += [loaded.adopt_path(k) for k in loaded.manifest.adopted_envs()]
    keep = {cache_file(root, os.path.realpath(f)).name for f in folders}
    failures = []
    for entry in folder.iterdir():
        if entry.name in keep or entry.is_dir():
            continue
        try:
            entry.unlink()
        except OSError as exc:
            failures.append((str(entry), exc.strerror or str(exc)))
    return failures


def execute(
    loaded: LoadedManifest,
    run: PlanRun,
    targets: dict[str, EnvTarget],
    reporter: Reporter,
) -> ApplyReport:
    """Carry out a plan (the caller holds the lock, found the targets and has confirmed)."""
    root = loaded.root
    link_mode = "copy"
    if targets:
        folder = store.folder(root, layout.GENERATIONS)
        link_mode = build.uv_link_mode(loaded.manifest.settings.link_mode, folder)
    applier = Applier(
        loaded,
        targets,
        UvBuilder(),
        file_verifier(root),
        reporter,
        uv_version=build.uv_version() if targets else "unknown",
        link_mode=link_mode,
    )
    report = applier.run(run.plan)
    applier.record_adopted()
    return report


def _step_keys(steps: Sequence[Any]) -> list[tuple[str, str]]:
    return [
        (str(s.get("id")), str(s.get("action"))) if isinstance(s, dict) else ("?", "?")
        for s in steps
    ]


def check_saved(saved: SavedPlan, run: PlanRun, path: Path) -> None:
    """Refuse a saved plan when anything it was computed from changed, or when the plan
    computed now would do anything other than the reviewed steps."""
    changed = stale_parts(saved.document["fingerprint"], run.fingerprint)
    fresh = [(s.id, s.action) for s in run.plan.steps]
    if not changed and _step_keys(saved.document["steps"]) != fresh:
        changed.append("the steps it would take differ from the saved ones")
    if changed:
        listed = "; ".join(changed[:5]) + ("; ..." if len(changed) > 5 else "")
        raise StalePlan(
            f"plan is stale: {listed}. Make a new one with `reconcile plan --out {path}`."
        )


def rollback(loaded: LoadedManifest, env_key: str) -> generations.Generation:
    """Switch ``env_key`` to its previous complete generation (the caller holds the lock)."""
    root = loaded.root
    store.check(root)
    live = generations.live_generation(root, env_key)
    if live is None:
        raise UsageError(f"{env_key} has no live generation under {root}; nothing to roll back.")
    previous = generations.previous_generation(root, env_key)
    if previous is None:
        raise UsageError(
            f"{env_key} has no complete generation older than {live.gen_id} to roll back to."
        )
    generations.switch(root, env_key, previous.path)
    return previous


def plan_gc(loaded: LoadedManifest, keep: int) -> list[Path]:
    """The complete generations gc removes beyond ``keep`` (cleanup takes the rest). Only
    generations reconcile handed out; never an entry of the trash (emptied where it is)."""
    root = loaded.root
    doomed: list[Path] = []
    for key in generations.managed_env_keys(root):
        live = generations.live_generation(root, key)
        gens = generations.owned(root, generations.list_generations(root, key))
        doomed += [g.path for g in generations.collectable(gens, live, keep) if g.complete]
    return doomed


def preview_gc(loaded: LoadedManifest, keep: int) -> list[Path]:
    """Everything ``gc --keep KEEP`` would remove, for ``--dry-run``: what was recorded and
    is left over, incomplete generations, undeclared envs' generations, and the complete
    generations beyond ``keep``. Reads only."""
    root = loaded.root
    store.check(root)
    keys = generations.managed_env_keys(root)
    found = generations.recorded_leftovers(root)
    found += [g.path for g in generations.leftover_generations(root, keys)]
    abandoned = [generations.generations_dir(root, k) for k in keys if _abandoned(loaded, k)]
    found += abandoned
    found += [p for p in plan_gc(loaded, keep) if p.parent not in abandoned]
    return sorted(dict.fromkeys(found))


def print_report(report: ApplyReport, stream: Any = sys.stdout) -> None:
    counts: dict[str, int] = {}
    for step in report.done:
        counts[step.action] = counts.get(step.action, 0) + 1
    order = ("create", "replace", "delete", "rebind", "unbind", "forget")
    words = {
        "create": "created",
        "replace": "replaced",
        "delete": "deleted",
        "rebind": "rebound",
        "unbind": "unbound",
        "forget": "forgotten",
    }
    summary = ", ".join(f"{counts.get(a, 0)} {words[a]}" for a in order if counts.get(a))
    print(f"Apply complete: {summary or 'nothing to do'}.", file=stream)
    for path, why in report.removal_failures:
        print(f"warning: could not remove {path}: {why}", file=sys.stderr)
