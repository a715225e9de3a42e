"""IO: the `diff` use case. Read BASE and HEAD (manifest paths or ``git:REF``) with their
lockfiles, then hand pure data to diffplan.py. No env is looked at, nothing is written.

HEAD must be locked, as `plan` demands. BASE stands for what a host running it has applied,
so its lockfiles are read as they are: a stale one is what was built (a warning), and a
managed env without a lockfile reconcile can read was never built (a warning; it is absent)."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.diffplan import Side, diff_plan
from reconciler.core.plan import Plan
from reconciler.errors import (
    InputFileError,
    LockfileError,
    ManifestError,
    ManifestNotFound,
    Problem,
)
from reconciler.files import display_path
from reconciler.observe.git import Revision, revision
from reconciler.observe.inputs import LockVerdict, judged, load_manifest, read_lock
from reconciler.observe.manifestpaths import LOCKFILE_LIMIT
from reconciler.spec.lockfile import Lockfile, parse_lockfile, stale_sentence
from reconciler.spec.manifest import BOM, MANIFEST_LIMIT, LoadedManifest, parse_manifest

GIT_PREFIX = "git:"


@dataclass(frozen=True)
class Loaded:
    """One side as read: its label for messages and documents, its data, and what a diff
    from it must warn of (BASE's lockfiles that are stale or cannot be read)."""

    label: str
    side: Side
    warnings: tuple[str, ...] = ()


def _relative(path: Path, start: Path) -> str:
    try:
        return path.relative_to(start).as_posix()
    except ValueError:
        return display_path(path)


def _from_git(rev: Revision, manifest: Path, root: Path | None) -> LoadedManifest:
    path = manifest.absolute()
    inside = _relative(Path(os.path.realpath(path)), rev.toplevel)
    text = rev.read(path, MANIFEST_LIMIT)
    if text is None:
        raise ManifestNotFound(
            f"{rev.label} has no {inside}: name a revision that has the manifest, or pass "
            "--manifest with its path in the repository."
        )
    if "\x00" in text:  # UTF-16 (PowerShell 5.1's `>`), read as UTF-8 by git
        raise ManifestError(
            f"{rev.label}:{inside}", [Problem(None, "", "UTF-16 text; save it as UTF-8")]
        )
    text = text.removeprefix(BOM)
    manifest_doc = parse_manifest(text, f"{rev.label}:{inside}")
    return LoadedManifest(path=path, text=text, manifest=manifest_doc, root_override=root)


def _read_lock(loaded: LoadedManifest, key: str, rev: Revision | None) -> LockVerdict:
    """An env's lockfile from the working tree (as `plan` reads it) or from ``rev``, judged
    as `plan` judges it."""
    if rev is None:
        return read_lock(loaded, key)
    path = loaded.lockfile_path(key)
    shown = _relative(path, loaded.base_dir)
    # Found from the manifest's place in the repository, never through the work tree: a link
    # there must not pick which file of the revision is read. The manifest's checks keep
    # ``shown`` inside its folder.
    folder = posixpath.dirname(rev.where(loaded.path))
    try:
        text = rev.read_inside(posixpath.normpath(posixpath.join(folder, shown)), LOCKFILE_LIMIT)
        if text is None:
            raise LockfileError(
                f"{rev.label} has no lockfile for env {key} ({shown}): run `reconcile lock "
                f"{key}` and commit the lockfile, or diff against a revision that has it."
            )
        lock = parse_lockfile(text, f"{rev.label}:{shown}")
    except (LockfileError, InputFileError) as error:
        return LockVerdict(key, None, unreadable=error)
    return judged(loaded.manifest, key, lock)


def _head_locks(loaded: LoadedManifest, rev: Revision | None, label: str) -> dict[str, Lockfile]:
    """HEAD's lockfiles, each fresh: what `plan` will build from after the merge."""
    locks: dict[str, Lockfile] = {}
    for key in sorted(loaded.manifest.managed_envs()):
        verdict = _read_lock(loaded, key, rev)
        if verdict.unreadable is not None:
            raise verdict.unreadable
        if verdict.stale:
            where = _relative(loaded.lockfile_path(key), loaded.base_dir)
            raise LockfileError(
                f"{label}: {stale_sentence(where, key, verdict.stale)}: run `reconcile lock "
                f"{key}` and commit it."
            )
        assert verdict.lock is not None  # read, and judged fresh
        locks[key] = verdict.lock
    return locks


def _base_locks(
    loaded: LoadedManifest, rev: Revision | None, label: str
) -> tuple[dict[str, Lockfile], tuple[str, ...]]:
    """BASE's lockfiles as a host running it built them, stale or not, and a warning for
    each that is stale or cannot be read. An env whose lockfile cannot be read is left out:
    `plan` refuses such a lockfile, so no host running BASE built that env from it."""
    locks: dict[str, Lockfile] = {}
    warnings: list[str] = []
    for key in sorted(loaded.manifest.managed_envs()):
        where = _relative(loaded.lockfile_path(key), loaded.base_dir)
        verdict = _read_lock(loaded, key, rev)
        if verdict.lock is None:  # missing, or not a lockfile
            warnings.append(
                f"BASE {label} has no lockfile reconcile can read for env {key} ({where}), so "
                f"no host running it built {key}: diff takes {key} as absent there"
            )
            continue
        if verdict.stale:
            warnings.append(
                f"BASE {label}: {stale_sentence(where, key, verdict.stale)}; diff takes its "
                "pins as what a host running BASE built"
            )
        locks[key] = verdict.lock
    return locks, tuple(warnings)


def load_side(spec: str, manifest: Path, root: Path | None, *, base: bool) -> Loaded:
    """Read ``spec``: a manifest path, or ``git:REF`` for ``manifest`` as it is at REF; its
    lockfiles as BASE's (as built) or HEAD's (each must be fresh)."""
    override = root.absolute() if root is not None else None
    rev: Revision | None = None
    if spec.startswith(GIT_PREFIX):
        rev = revision(spec[len(GIT_PREFIX) :], manifest.absolute().parent)
        loaded = _from_git(rev, manifest, override)
        label = rev.label
    else:
        loaded = load_manifest(Path(spec), override)
        label = spec
    warnings: tuple[str, ...] = ()
    if base:
        locks, warnings = _base_locks(loaded, rev, portable_label(label))
    else:
        locks = _head_locks(loaded, rev, label)
    adopted = loaded.manifest.adopted_envs() | loaded.manifest.doomed_envs()
    side = Side(
        manifest=loaded.manifest,
        locks=locks,
        root=os.path.normpath(override or loaded.manifest.settings.root),
        folders={k: os.path.normpath(str(spec_.adopt)) for k, spec_ in adopted.items()},
        shown={k: str(spec_.adopt) for k, spec_ in adopted.items()},
    )
    return Loaded(label=label, side=side, warnings=warnings)


def make_diff(
    base: str, head: str | None, manifest: Path, root: Path | None
) -> tuple[Plan, str, str]:
    """The plan from BASE to HEAD (default: ``manifest``) and the two sides' labels."""
    old = load_side(base, manifest, root, base=True)
    new = load_side(head if head is not None else str(manifest), manifest, root, base=False)
    plan = diff_plan(old.side, new.side)
    warned = dataclasses.replace(plan, warnings=old.warnings + plan.warnings)
    return warned, old.label, new.label


def portable_label(label: str) -> str:
    """A side's label for documents: ``git:REF`` or a relative path as given; an absolute
    path is cut to its file name (plans carry no absolute paths, SPEC 5)."""
    if label.startswith(GIT_PREFIX) or not Path(label).is_absolute():
        return label
    return Path(label).name
