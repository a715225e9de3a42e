"""IO: the `apply`, `rollback` and `gc` use cases: lock, plan, check, confirm, execute."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli.progress import Reporter
from reconciler.commands.plan import PlanRun, fresh_locks
from reconciler.core.plan import Plan
from reconciler.errors import UsageError
from reconciler.execute import uv as build
from reconciler.execute.executor import Applier, ApplyReport, EnvTarget, FileProblem
from reconciler.execute.uv import BuildRequest
from reconciler.files import stray_temporaries
from reconciler.spec.manifest import LoadedManifest
from reconciler.spec.record import IntegrityFinding, RecordDefect
from reconciler.store import folders as store
from reconciler.store import generations, layout
from reconciler.store import removals as journal

if TYPE_CHECKING:
    from reconciler.platform import Platform, VenvLayout
    from reconciler.store.fsops import StoreOps

_REFLINK_PROBE = re.compile(r"\.reflink-[0-9a-f]{8}-[ab]")


class UvBuilder:
    """The real builder: uv, through reconciler.execute.uv."""

    def create_venv(self, request: BuildRequest) -> None:
        build.create_venv(request)

    def sync(self, request: BuildRequest, refresh: Sequence[str] = ()) -> None:
        build.sync(request, refresh)

    def purge_cache(self, env_key: str, packages: Sequence[str]) -> None:
        build.purge_cache(env_key, packages)


def file_verifier(
    root: Path, *, venv: VenvLayout
) -> Callable[[Path, Sequence[str], Sequence[RecordDefect]], list[FileProblem]]:
    """Full hash verification of every RECORD row of a new generation: every file is read
    (``deep``), and the hashes go into the root's cache so the next plan need not reread them.
    A file whose sha256 or size is not its RECORD row's is hashed as it is (``installed``),
    to tell an upstream RECORD defect from a corrupted cache after the purge."""
    from reconciler.observe.integrity import verify_dir

    def verify_files(
        env_dir: Path, ignore: Sequence[str], baseline: Sequence[RecordDefect]
    ) -> list[FileProblem]:
        report = verify_dir(root, env_dir, ignore, venv=venv, deep=True, baseline=baseline)
        return [
            FileProblem(f.category, f.dist or "", f.path, _as_installed(env_dir, f))
            for f in report.findings
        ]

    return verify_files


def _as_installed(env_dir: Path, finding: IntegrityFinding) -> RecordDefect | None:
    """What a file whose content is not its RECORD row's is: its actual sha256 and size, or
    ``None`` for any other finding (or a file that is no longer a regular file)."""
    from reconciler.observe.walk import sha256_file

    if finding.category not in ("hash_mismatch", "size_mismatch") or finding.dist is None:
        return None
    if finding.category == "hash_mismatch" and finding.actual_sha256 is not None:
        digest, size = finding.actual_sha256, finding.actual_size
    else:
        path = env_dir / finding.path
        try:
            info = path.lstat()
            digest, size = sha256_file(str(path), info).sha256, info.st_size
        except OSError:
            return None
    if size is None:
        return None
    return RecordDefect(
        finding.dist, finding.path, finding.expected_sha256, finding.expected_size, digest, size
    )


def env_targets(loaded: LoadedManifest, plan: Plan, *, venv: VenvLayout) -> dict[str, EnvTarget]:
    """Everything the create/replace steps need, found before anything is built: a missing
    Python fails here, with nothing touched."""
    from reconciler.observe.pythons import find_python

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
        )
    return targets


def cleanup(
    loaded: LoadedManifest, keep: int | None = None, *, ops: StoreOps
) -> list[tuple[str, str]]:
    """What :func:`clean` could not remove."""
    return list(clean(loaded, keep, ops=ops).failed)


def adopt_folders(loaded: LoadedManifest) -> list[Path]:
    """The folders of every adopted env the manifest declares (``delete = true`` or not):
    the only places beside which a recorded set-aside folder is removed."""
    return [loaded.adopt_path(k) for k, spec in loaded.manifest.envs.items() if spec.adopted]


def clean(loaded: LoadedManifest, keep: int | None = None, *, ops: StoreOps) -> generations.Removal:
    """Remove what reconcile created and recorded and an interrupted run left (the caller
    holds the lock): incomplete generations it handed out, a switch's temporary link, the
    recorded entries of the trash and the adopted folders set aside beside themselves
    (:mod:`reconciler.store.removals`), stray temporary files of its own files, and the generations
    of undeclared envs whose link is gone. With ``keep``, also the generations of declared
    envs beyond it, which an apply killed between a switch and its prune leaves behind.
    Nothing is chosen by a name pattern alone: a folder that merely looks like one of
    these is left alone."""
    from reconciler.store.applylock import info_path

    root = loaded.root
    store.check(root)
    results: list[generations.Removal] = []
    keys = generations.managed_env_keys(root)
    results.append(generations.remove_leftovers(root, keys, ops=ops))
    for key in keys:  # generation folders of undeclared envs whose link is already gone
        if _abandoned(loaded, key, ops):
            folder = generations.generations_dir(root, key)
            results.append(generations.delete_tree(root, folder, ops=ops))
        live = generations.live_generation(root, key, ops=ops)
        if keep is not None and key in loaded.manifest.envs and live is not None:
            gens = generations.owned(root, generations.list_generations(root, key))
            for old in generations.collectable(gens, live, keep):
                results.append(generations.delete_tree(root, old.path, ops=ops))
    for stray in _strays(root, info_path(root)):
        try:
            stray.unlink()
        except OSError as exc:
            results.append(generations.Removal(failed=((str(stray), exc.strerror or str(exc)),)))
        else:
            results.append(generations.Removal(removed=(str(stray),)))
    results.append(generations.empty_trash(root, adopt_folders(loaded), ops=ops))
    results.append(generations.Removal(failed=tuple(prune_hash_caches(loaded))))
    return generations.Removal(
        tuple(p for r in results for p in r.removed), tuple(f for r in results for f in r.failed)
    )


def _abandoned(loaded: LoadedManifest, key: str, ops: StoreOps) -> bool:
    """Whether ``.generations/<key>`` is an undeclared env's, made by reconcile (its
    ``.last`` records the generations it handed out), whose link is already gone."""
    root = loaded.root
    return (
        key not in loaded.manifest.envs
        and not generations.has_link(root, key, ops=ops)
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
    from reconciler.observe.hashcache import cache_file
    from reconciler.store.cachedir import cache_folder

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
    *,
    platform: Platform,
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
        file_verifier(root, venv=platform.venv),
        reporter,
        uv_version=build.uv_version() if targets else "unknown",
        link_mode=link_mode,
        platform=platform,
    )
    report = applier.run(run.plan)
    applier.record_adopted()
    return report


def record_adopted(loaded: LoadedManifest) -> None:
    """An apply with nothing to do still remembers the manifest's adopted envs, as one with
    steps does (the caller holds the lock): what ``delete = true`` later requires."""
    from reconciler.execute.executor import adopted_to_record
    from reconciler.store.bindings import read_state, write_state

    state = read_state(loaded.root)
    adopted = adopted_to_record(loaded, state)
    if adopted != state.adopted:
        write_state(loaded.root, state.with_adopted(adopted))


def rollback(loaded: LoadedManifest, env_key: str, *, ops: StoreOps) -> generations.Generation:
    """Switch ``env_key`` to its previous complete generation (the caller holds the lock)."""
    previous = rollback_target(loaded, env_key, ops=ops)
    generations.switch(loaded.root, env_key, previous.path, ops=ops)
    return previous


def rollback_target(
    loaded: LoadedManifest, env_key: str, *, ops: StoreOps
) -> generations.Generation:
    """The generation rollback switches ``env_key`` to, or a UsageError saying why there is
    none. Reads only: `rollback` asks before its lock creates the root, and again under it."""
    root = loaded.root
    store.check(root)
    live = generations.live_generation(root, env_key, ops=ops)
    if live is None:
        raise UsageError(f"{env_key} has no live generation under {root}; nothing to roll back.")
    previous = generations.previous_generation(root, env_key, ops=ops)
    if previous is None:
        raise UsageError(
            f"{env_key} has no complete generation older than {live.gen_id} to roll back to."
        )
    return previous


def plan_gc(loaded: LoadedManifest, keep: int, *, ops: StoreOps) -> list[Path]:
    """The complete generations gc removes beyond ``keep`` (cleanup takes the rest). Only
    generations reconcile handed out; never an entry of the trash (emptied where it is)."""
    root = loaded.root
    doomed: list[Path] = []
    for key in generations.managed_env_keys(root):
        live = generations.live_generation(root, key, ops=ops)
        gens = generations.owned(root, generations.list_generations(root, key))
        doomed += [g.path for g in generations.collectable(gens, live, keep) if g.complete]
    return doomed


def preview_gc(loaded: LoadedManifest, keep: int, *, ops: StoreOps) -> list[Path]:
    """Everything ``gc --keep KEEP`` would remove, for ``--dry-run``: what was recorded and
    is left over, incomplete generations, undeclared envs' generations, and the complete
    generations beyond ``keep``. Reads only."""
    root = loaded.root
    store.check(root)
    keys = generations.managed_env_keys(root)
    found = generations.recorded_leftovers(root, adopt_folders(loaded), ops=ops)
    found += [g.path for g in generations.leftover_generations(root, keys, ops=ops)]
    abandoned = [generations.generations_dir(root, k) for k in keys if _abandoned(loaded, k, ops)]
    found += abandoned
    found += [p for p in plan_gc(loaded, keep, ops=ops) if p.parent not in abandoned]
    return sorted(dict.fromkeys(found))


def print_report(report: ApplyReport, stream: Any = None) -> None:
    stream = sys.stdout if stream is None else stream  # the one of the call, not of the import
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
