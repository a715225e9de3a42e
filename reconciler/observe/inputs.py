"""IO: read what every command starts from: the manifest file, each env's lockfile with its
verdict (fresh, stale and why, or unreadable and why), and what to observe of the envs.

The verdicts are data: `plan`, `apply` and `lock --check` refuse on them, `status` turns
them into table reasons, `diff` (which reads lockfiles from a git revision) words them its
way. Each command decides; this module only reads and judges.
"""

from __future__ import annotations

import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import (
    InputFileError,
    LockfileError,
    LockRefused,
    ManifestError,
    ManifestNotFound,
    Problem,
    UsageError,
)
from reconciler.files import display_path
from reconciler.observe.look import EnvRequest
from reconciler.observe.manifestpaths import check_paths, lockfile_text
from reconciler.spec.manifest import (
    BOM,
    MANIFEST_LIMIT,
    LoadedManifest,
    Manifest,
    parse_manifest,
)
from reconciler.spec.winpaths import path_trailing_problem, plain_path

if TYPE_CHECKING:  # `which` loads the manifest but never reads a lockfile
    from reconciler.spec.lockfile import Lockfile
    from reconciler.spec.platforms import Machine


def _read_capped(path: Path) -> bytes:
    """The manifest's bytes: a regular file whole (its size is known), anything else (a pipe,
    ``--manifest <(git show ...)``, or a device) up to one byte past :data:`MANIFEST_LIMIT`."""
    try:
        info = path.stat()
        # a huge (sparse) regular file is read as anything else: never whole into memory
        regular = stat.S_ISREG(info.st_mode) and info.st_size <= MANIFEST_LIMIT
    except (OSError, ValueError):
        regular = True  # let the read below name the problem
    if regular:
        return path.read_bytes()
    with path.open("rb") as handle:
        return handle.read(MANIFEST_LIMIT + 1)


def load_manifest(path: Path, root_override: Path | None = None) -> LoadedManifest:
    """Read and parse the manifest at ``path``, then check the paths it names on disk; every
    failure is one clear sentence."""
    label = str(path)
    try:
        data = _read_capped(path)
    except FileNotFoundError:
        raise ManifestNotFound(
            f"no manifest at {label}: create envs.toml there or pass --manifest PATH."
        ) from None
    except IsADirectoryError:
        raise ManifestNotFound(
            f"{label} is a folder, not a manifest: pass --manifest PATH/envs.toml."
        ) from None
    except PermissionError:
        raise ManifestNotFound(
            f"cannot read {label}: permission denied; fix its permissions or run as its owner."
        ) from None
    except OSError as exc:
        raise ManifestNotFound(f"cannot read {label}: {exc.strerror}.") from None
    if len(data) > MANIFEST_LIMIT:  # /dev/zero, or a file that is not a manifest
        raise ManifestNotFound(
            f"{label} is larger than {MANIFEST_LIMIT >> 20} MiB, which no manifest is; pass "
            "--manifest with the path of envs.toml."
        )
    try:
        text = data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as exc:
        utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))  # PowerShell 5.1's `>` writes it
        what = "UTF-16 text" if utf16 else f"not UTF-8 text (byte {exc.start})"
        raise ManifestError(label, [Problem(None, "", f"{what}; save it as UTF-8")]) from None
    manifest = parse_manifest(text, label)
    override = plain_path(root_override.absolute()) if root_override is not None else None
    problem = path_trailing_problem(override) if override is not None else None
    if problem is not None:
        raise UsageError(f"the root {problem}.")
    loaded = LoadedManifest(
        path=plain_path(path.absolute()), text=text, manifest=manifest, root_override=override
    )
    check_paths(loaded, label)
    return loaded


@dataclass(frozen=True)
class LockVerdict:
    """An env's lockfile as read and judged against the manifest.

    ``lock`` is ``None`` when there is none to judge (missing, unreadable, unparsable):
    ``unreadable`` is then the sentence a command that needs it refuses with. ``stale`` lists
    why the lockfile was made from other inputs than the manifest's (empty: fresh)."""

    env_key: str
    lock: Lockfile | None
    stale: tuple[str, ...] = ()
    unreadable: LockfileError | InputFileError | None = None

    def refusal(self) -> LockfileError | InputFileError | None:
        """Why a command that needs this env's fresh lockfile refuses (one sentence naming
        the file and the fix), or ``None`` when it is fresh."""
        if self.unreadable is not None:
            return self.unreadable
        if self.stale and self.lock is not None:
            from reconciler.spec.lockfile import stale_sentence

            sentence = stale_sentence(self.lock.label, self.env_key, self.stale)
            return LockfileError(f"{sentence}: run `reconcile lock {self.env_key}`.")
        return None

    def elsewhere(self, machine: Machine) -> LockfileError | None:
        """Why the env cannot be built on ``machine`` (one sentence naming the env, the
        platform it is locked for and the machine), or ``None``: a universal lockfile on one
        of the six hosts it serves, or one locked for a platform ``machine`` is."""
        from reconciler.spec.platforms import (
            foreign_sentence,
            runs_on,
            serves_universally,
            target,
            unserved_sentence,
        )

        if self.lock is None or self.lock.inputs is None:
            return None
        name = self.lock.inputs.get("platform")
        if name is None:  # universal: the six hosts its markers were scoped for
            if serves_universally(machine):
                return None
            return LockfileError(unserved_sentence(self.env_key, machine))
        locked_for = target(name)
        if locked_for is None or runs_on(locked_for, machine):
            return None
        return LockfileError(foreign_sentence(self.env_key, locked_for, machine))

    def fresh(self) -> Lockfile:
        """The lockfile, or its :meth:`refusal` raised."""
        refusal = self.refusal()
        if refusal is not None:
            raise refusal
        assert self.lock is not None  # no refusal: read, and judged fresh
        return self.lock


def judged(manifest: Manifest, env_key: str, lock: Lockfile) -> LockVerdict:
    """The verdict on a lockfile read from anywhere (the work tree, a git revision)."""
    from reconciler.spec.lockfile import stale_causes

    causes = stale_causes(
        lock,
        manifest.envs[env_key],
        manifest.sources_for(env_key),
        manifest.platform_for(env_key),
    )
    return LockVerdict(env_key, lock, causes)


def read_lockfile(loaded: LoadedManifest, env_key: str) -> Lockfile:
    """Read an env's lockfile; missing, unreadable or not a regular file is one sentence with
    the fix (``manifestpaths.lockfile_text``, the one reader of lockfiles)."""
    path = loaded.lockfile_path(env_key)
    shown = display_path(path)
    try:
        text = lockfile_text(path, env_key)
    except FileNotFoundError:
        raise LockfileError(
            f"lockfile for {env_key} not found at {shown}: run `reconcile lock {env_key}`."
        ) from None
    from reconciler.spec.lockfile import parse_lockfile

    return parse_lockfile(text, shown)


def read_lock(loaded: LoadedManifest, env_key: str) -> LockVerdict:
    """An env's lockfile from the work tree, read and judged."""
    try:
        lock = read_lockfile(loaded, env_key)
    except (LockfileError, InputFileError) as error:
        return LockVerdict(env_key, None, unreadable=error)
    return judged(loaded.manifest, env_key, lock)


def fresh_locks(loaded: LoadedManifest, env_keys: Iterable[str]) -> dict[str, Lockfile]:
    """Lockfiles of the given managed envs, to build from; a missing, unreadable or stale one
    stops the plan, like `uv sync --locked`, and so does one locked for a platform this
    machine is not; every such lockfile is named, not only the first."""
    from reconciler.observe.machine import this_machine

    machine = this_machine()
    verdicts = [read_lock(loaded, key) for key in sorted(env_keys)]
    refusals = [
        why
        for verdict in verdicts
        if (why := verdict.refusal() or verdict.elsewhere(machine)) is not None
    ]
    if len(refusals) == 1:
        raise refusals[0]
    if refusals:
        raise LockRefused([refusal.message for refusal in refusals])
    return {verdict.env_key: verdict.fresh() for verdict in verdicts}


def env_requests(
    loaded: LoadedManifest, managed: Collection[str] | None = None, skip: Collection[str] = ()
) -> list[EnvRequest]:
    """What to observe, in manifest order: each managed env's link under the root (those in
    ``managed``; default: all), kept inside the root, then each adopted env's folder but those
    in ``skip``."""
    manifest, root = loaded.manifest, loaded.root
    requests = [
        EnvRequest(key, root / key, spec.imports, confine_to=root)
        for key, spec in manifest.managed_envs().items()
        if managed is None or key in managed
    ]
    requests += [
        EnvRequest(key, loaded.adopt_path(key), spec.imports)
        for key, spec in manifest.adopted_envs().items()
        if key not in skip
    ]
    return requests
