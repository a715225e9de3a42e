"""IO: what the executor reads and writes under the root, as one protocol, and the real one.

``Applier`` goes through ``ApplyStore`` only, so its order of writes can be tested against a
fake in memory; ``RootStore`` delegates each operation to :mod:`reconciler.store`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from reconciler.observe.adoption import delete_problem, folder_problem, protected
from reconciler.platform import VenvLayout
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import generations, layout
from reconciler.store.bindings import AppliedState, read_state, write_state
from reconciler.store.fsops import StoreOps
from reconciler.store.generations import Generation, Removal


class ApplyStore(Protocol):
    """The generations, links, bindings and removals of one root."""

    def refuse_foreign(self, env_key: str) -> None:
        """Raise when ``<root>/<env_key>`` holds something reconcile did not create."""

    def new_generation(self, env_key: str) -> tuple[str, Path]:
        """A generation id never used before and its folder (whose parent exists)."""

    def write_receipt(self, gen_dir: Path, receipt: Mapping[str, Any]) -> None:
        """Mark a verified generation complete."""

    def mark_live(self, gen_dir: Path) -> None:
        """Record that a complete generation went live (once; see ``generations.mark_live``)."""

    def live_generation(self, env_key: str) -> Generation | None: ...

    def never_live(
        self, generations: Sequence[Generation], live: Generation | None
    ) -> frozenset[str]:
        """The ids of those complete ``generations`` that never went live."""

    def owned_generations(self, env_key: str) -> list[Generation]:
        """The env's generations that reconcile handed out, oldest first."""

    def broken(self, generations: Sequence[Generation]) -> frozenset[str]:
        """The ids of those complete ``generations`` that can no longer start, told from
        their structure alone (what the prune policy keeps last)."""

    def generations_dir(self, env_key: str) -> Path: ...

    def last_number(self, env_key: str) -> int:
        """The last generation number handed out for the env; 0 when none ever was."""

    def switch(self, env_key: str, gen_dir: Path) -> None:
        """Point ``<root>/<env_key>`` at ``gen_dir`` atomically."""

    def has_link(self, env_key: str) -> bool: ...

    def occupied(self, env_key: str) -> bool:
        """Whether anything (a link, a folder, a file) is at ``<root>/<env_key>``."""

    def unlink_env(self, env_key: str) -> None: ...

    def delete_tree(self, path: Path) -> Removal: ...

    def delete_adopted(self, folder: Path) -> Removal: ...

    def adopted_delete_problem(
        self, loaded: LoadedManifest, env_key: str, state: AppliedState
    ) -> str | None:
        """Why the adopted env's folder may not be deleted now (looked at again, never
        trusted from the plan), or None. ``state``: the applied state, with the adopted
        envs' folders and the identity of each."""

    def read_state(self) -> AppliedState: ...

    def write_state(self, state: AppliedState) -> None: ...


class RootStore:
    """The real store of ``root``: :mod:`reconciler.store.generations` and ``bindings``,
    through the platform's filesystem operations ``ops``; its venvs are laid out as
    ``venv``."""

    def __init__(
        self, root: Path, ops: StoreOps, *, venv: VenvLayout, spare: Sequence[Path] = ()
    ) -> None:
        self.root = root
        self.ops = ops
        self.venv = venv
        self.spare = tuple(spare)
        """The adopted envs' folders: never removed, whatever a check before let through."""

    def refuse_foreign(self, env_key: str) -> None:
        generations.refuse_foreign(self.root, env_key, ops=self.ops)

    def new_generation(self, env_key: str) -> tuple[str, Path]:
        gen_id, gen_dir = generations.next_generation_path(self.root, env_key)
        gen_dir.parent.mkdir(parents=True, exist_ok=True)
        return gen_id, gen_dir

    def write_receipt(self, gen_dir: Path, receipt: Mapping[str, Any]) -> None:
        generations.write_receipt(gen_dir, receipt)

    def mark_live(self, gen_dir: Path) -> None:
        generations.mark_live(gen_dir)

    def live_generation(self, env_key: str) -> Generation | None:
        return generations.live_generation(self.root, env_key, ops=self.ops)

    def never_live(self, gens: Sequence[Generation], live: Generation | None) -> frozenset[str]:
        return generations.never_live(gens, live)

    def owned_generations(self, env_key: str) -> list[Generation]:
        return generations.owned(self.root, generations.list_generations(self.root, env_key))

    def broken(self, generations: Sequence[Generation]) -> frozenset[str]:
        from reconciler.observe.kept import broken

        return broken(generations, venv=self.venv)

    def generations_dir(self, env_key: str) -> Path:
        return generations.generations_dir(self.root, env_key)

    def last_number(self, env_key: str) -> int:
        return generations.last_number(self.root, env_key)

    def switch(self, env_key: str, gen_dir: Path) -> None:
        generations.switch(self.root, env_key, gen_dir, ops=self.ops)

    def has_link(self, env_key: str) -> bool:
        return generations.has_link(self.root, env_key, ops=self.ops)

    def occupied(self, env_key: str) -> bool:
        return os.path.lexists(layout.env_link(self.root, env_key))

    def unlink_env(self, env_key: str) -> None:
        generations.unlink_env(self.root, env_key, ops=self.ops)

    def delete_tree(self, path: Path) -> Removal:
        return generations.delete_tree(self.root, path, ops=self.ops, spare=self.spare)

    def delete_adopted(self, folder: Path) -> Removal:
        return generations.delete_adopted(self.root, folder, ops=self.ops)

    def adopted_delete_problem(
        self, loaded: LoadedManifest, env_key: str, state: AppliedState
    ) -> str | None:
        folder = loaded.adopt_path(env_key)
        # applied=True: whether it is still the venv apply adopted is delete_problem's to tell,
        # in the same words as the plan's warning
        why = folder_problem(folder, self.root, doomed=True, keep=protected(loaded), applied=True)
        return why or delete_problem(loaded, env_key, state)

    def read_state(self) -> AppliedState:
        return read_state(self.root)

    def write_state(self, state: AppliedState) -> None:
        write_state(self.root, state)
