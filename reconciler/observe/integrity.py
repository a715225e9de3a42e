"""IO: the integrity use case shared by `verify`, `plan` and apply's check of a new generation.

Each env is checked where it really is: a managed env's live link is resolved once, so a
switch while verify runs cannot mix two generations, and a link that leaves the root is
reported, never followed. Hashes are trusted from the stat-keyed hash cache unless ``deep``:
the root's, or the user's when there is no root folder.

`verify` needs little of the manifest: where each env is, its ``verify_ignore`` globs and the
link mode. That is a ``VerifyScope``, plain data a memo can hold (``memo.scope``), so a
`verify` whose manifest is unchanged never imports the manifest's validation at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.facts import EnvCheck, EnvKind, Finding
from reconciler.core.integrity import RecordDefect, VerifyReport
from reconciler.errors import PathUnreadable, assert_never
from reconciler.files import STATE_LIMIT, display_path, is_dir, load_json, read_regular_bytes
from reconciler.store import folders, layout
from reconciler.store.cachedir import cache_folder, user_cache_folder

if TYPE_CHECKING:
    from reconciler.platform import VenvLayout
    from reconciler.spec.manifest import LoadedManifest


@dataclass(frozen=True)
class VerifyTarget:
    """What `verify` needs of one declared env: where it is (a managed env's live link under
    the root, or the adopted folder; absolute), its ``verify_ignore`` globs, the link mode."""

    env_key: str
    kind: EnvKind
    path: str
    ignore: tuple[str, ...]
    link_mode: str


@dataclass(frozen=True)
class VerifyScope:
    """What `verify` needs of a manifest: the root, every declared env (in key order), and the
    adopted envs marked ``delete = true`` (checked only when named)."""

    root: str
    targets: tuple[VerifyTarget, ...]
    doomed: frozenset[str]

    @property
    def declared(self) -> tuple[str, ...]:
        return tuple(target.env_key for target in self.targets)

    def to_plain(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "targets": [
                [t.env_key, t.kind, t.path, list(t.ignore), t.link_mode] for t in self.targets
            ],
            "doomed": sorted(self.doomed),
        }

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> VerifyScope:
        """The scope ``to_plain`` gave; ``ValueError`` (or ``KeyError``/``TypeError``) for
        anything else."""
        targets = []
        for key, kind, path, ignore, link_mode in plain["targets"]:
            if kind not in ("managed", "adopted") or not all(
                isinstance(x, str) for x in (key, path, link_mode, *ignore)
            ):
                raise ValueError("not a verify scope")
            targets.append(VerifyTarget(key, kind, path, tuple(ignore), link_mode))
        root, doomed = plain["root"], plain["doomed"]
        if not isinstance(root, str) or not all(isinstance(x, str) for x in doomed):
            raise ValueError("not a verify scope")
        return cls(root, tuple(targets), frozenset(doomed))


def scope_of(loaded: LoadedManifest) -> VerifyScope:
    """The verify scope of a loaded (valid) manifest."""
    manifest = loaded.manifest
    targets = []
    for key in sorted(manifest.envs):
        spec = manifest.envs[key]
        path = loaded.adopt_path(key) if spec.adopted else loaded.root / key
        targets.append(
            VerifyTarget(
                key,
                "adopted" if spec.adopted else "managed",
                str(path.absolute()),
                manifest.verify_ignore_for(key),
                manifest.settings.link_mode,
            )
        )
    doomed = frozenset(manifest.doomed_envs())
    return VerifyScope(str(loaded.root.absolute()), tuple(targets), doomed)


RECORD_DEFECTS = "record_defects"
"""The receipt's list of upstream RECORD defects accepted when the generation was built."""


def receipt_baseline(
    root: Path, env_real: str, seen: list[str] | None = None
) -> tuple[RecordDefect, ...]:
    """The upstream RECORD defects that reconcile accepted when it built the generation at
    ``env_real`` (a real path), with what it installed for them: the receipt's
    ``record_defects``. Only a generation folder of ``root`` has them; any other folder (an
    adopted env, even one holding a copied receipt) has none, so its defective rows stay
    findings. An entry of another shape is left out (its row is then checked against RECORD).
    """
    generations = os.path.realpath(root / layout.GENERATIONS)
    if os.path.normcase(Path(env_real).parent.parent) != os.path.normcase(generations):
        return ()
    receipt = layout.receipt_path(Path(env_real))
    if seen is not None:
        seen.append(str(receipt))
    try:
        document = load_json(read_regular_bytes(receipt, STATE_LIMIT))
    except (OSError, ValueError):
        return ()
    entries = document.get(RECORD_DEFECTS) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return ()
    return tuple(d for d in map(RecordDefect.from_plain, entries) if d is not None)


def hash_cache_path(root: Path | None, env_real: str) -> Path | None:
    """Where the hash cache of the env at ``env_real`` is kept: under the root when the root
    folder exists; else (a manifest that only adopts envs and was never applied, or no
    manifest: ``root`` is ``None``) in the user's cache folder. ``None`` when the folder there
    may not be used (a link, another user's): then nothing is cached."""
    from reconciler.observe.hashcache import HASHES, cache_file, cache_name

    if root is not None and is_dir(root):
        return None if cache_folder(root, HASHES) is None else cache_file(root, env_real)
    folder = user_cache_folder(HASHES)
    return None if folder is None else folder / cache_name(env_real)


def verify_dir(
    root: Path | None,
    env_dir: Path,
    ignore: Sequence[str],
    *,
    venv: VenvLayout,
    deep: bool = False,
    seen: list[str] | None = None,
    baseline: Sequence[RecordDefect] | None = None,
) -> VerifyReport:
    """Verify one env folder with its hash cache (``hash_cache_path``; refreshed, and saved
    after). ``root``: the root the env belongs to, ``None`` for a venv named by its path that
    is no generation of a root. ``seen``, when given, gets every path the check looked at.
    ``baseline``: the upstream RECORD defects to check against what was installed (default:
    those the generation's receipt names, see ``receipt_baseline``)."""
    from reconciler.observe.hashcache import HashCache
    from reconciler.observe.walk import verify_env

    real = os.path.realpath(env_dir)
    if baseline is None:
        baseline = () if root is None else receipt_baseline(root, real, seen)
    where = hash_cache_path(root, real)
    if where is None:  # no cache folder that may be used (a link, another user's): no cache
        return verify_env(env_dir, ignore, venv=venv, deep=True, seen=seen, baseline=baseline)
    cache = HashCache.load(where, real)
    report = verify_env(
        env_dir, ignore, venv=venv, cache=cache, deep=deep, seen=seen, baseline=baseline
    )
    cache.save()
    return report


def _missing_detail(kind: EnvKind, shown: str) -> str:
    match kind:
        case "managed":
            detail = "not created yet; run `reconcile apply`"
        case "adopted":
            detail = f"{shown} does not exist; restore it, or fix the adopt path"
        case "folder":
            detail = f"{shown} does not exist; restore the venv, or stop checking this path"
        case _:
            assert_never(kind)
    return detail


def check_env(
    scope: VerifyScope, target: VerifyTarget, *, venv: VenvLayout, deep: bool = False
) -> EnvCheck:
    """Check one declared env (managed: its live generation, never leaving the root;
    adopted: its own folder): see ``check_at``."""
    root = Path(scope.root)
    return check_at(
        target,
        root,
        confine_to=root if target.kind == "managed" else None,
        venv=venv,
        deep=deep,
    )


def check_at(
    target: VerifyTarget,
    root: Path | None,
    *,
    confine_to: Path | None,
    venv: VenvLayout,
    deep: bool = False,
) -> EnvCheck:
    """Check the env at ``target.path`` (``root``: the root it belongs to, if any; a link that
    leaves ``confine_to`` is reported, never followed): first what `which` would refuse it for
    (``health.structure``, judged from a few ``stat`` calls, never from a cache, so nothing
    remembered can hide an env that lost its interpreter), then its files against RECORD."""
    from reconciler.core.health import structure
    from reconciler.observe.look import EnvRequest, look_at
    from reconciler.observe.walk import EnvNotVerifiable

    path, kind = Path(target.path), target.kind
    shown = display_path(path)

    def checked(
        report: VerifyReport | None, problem: str | None, found: Sequence[Finding] = ()
    ) -> EnvCheck:
        return EnvCheck(
            target.env_key, kind, shown, report, problem, target.link_mode, tuple(found)
        )

    def missing(detail: str) -> EnvCheck:
        return checked(None, None, [Finding("env_missing", detail, ".")])

    try:
        facts = look_at(EnvRequest(target.env_key, path, confine_to=confine_to), venv=venv)
    except PathUnreadable as exc:
        return checked(None, exc.message)
    if facts.kind == "absent":
        return missing(_missing_detail(kind, shown))
    if facts.kind == "broken_symlink":
        return missing(f"the link points at {facts.link_target}, which is gone")
    if facts.kind == "other":
        return missing(f"{shown} is a file, not an env folder")
    if facts.escapes_root:
        return checked(
            None, f"the link leads outside the root, to {facts.real_path}; it is not followed"
        )
    found = structure(facts, venv=venv)
    real = Path(facts.real_path or path)
    try:
        report = verify_dir(root, real, target.ignore, venv=venv, deep=deep)
    except EnvNotVerifiable as exc:
        return checked(None, exc.message, found)
    return checked(report, None, found)


def check_envs(
    scope: VerifyScope, env_keys: Iterable[str] = (), *, venv: VenvLayout, deep: bool = False
) -> list[EnvCheck]:
    """Verify the named envs (default: every declared env but those marked for deletion,
    which have nothing to keep intact), in key order."""
    named = set(env_keys)
    folders.check(Path(scope.root))
    return [
        check_env(scope, target, venv=venv, deep=deep)
        for target in scope.targets
        if target.env_key in named or (not named and target.env_key not in scope.doomed)
    ]
