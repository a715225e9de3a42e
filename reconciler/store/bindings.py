"""IO: the applied state under the root: which model runs in which env, which envs are adopted.

These are the bindings the runtime resolves through (``which``, ``run``, ``resolve()``), never
the manifest's unapplied wishes (SPEC 7.6). The file is replaced atomically, so a reader sees
the old bindings or the new ones, never half.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import ReconcileError, RootNotAFolder
from reconciler.files import STATE_LIMIT, load_json, read_regular_bytes, write_atomic
from reconciler.store import folders, layout

FORMAT_VERSION = "1"


@dataclass(frozen=True)
class AppliedState:
    """What apply last made true: model -> env bindings, and the adopted envs it knew with the
    absolute folder each was adopted from (the runtime resolves through that, not through a
    manifest edit that was never applied; "" when a state from before paths were kept)."""

    bindings: Mapping[str, str] = field(default_factory=dict)
    fallbacks: Mapping[str, str] = field(default_factory=dict)
    adopted: Mapping[str, str] = field(default_factory=dict)
    adopted_ids: Mapping[str, str] = field(default_factory=dict)
    """Adopted env -> the identity of the folder apply first recorded at its path
    (``observe.adoption.folder_identity``): ``delete = true`` deletes only that very folder.
    Absent in states written before it was kept."""

    def with_binding(
        self, model: str, env_key: str | None, fallback: str | None = None
    ) -> AppliedState:
        """This state with ``model`` bound to ``env_key`` (None: unbound) and its fallback."""
        bindings, fallbacks = dict(self.bindings), dict(self.fallbacks)
        bindings.pop(model, None)
        fallbacks.pop(model, None)
        if env_key is not None:
            bindings[model] = env_key
            if fallback is not None:
                fallbacks[model] = fallback
        return AppliedState(bindings, fallbacks, self.adopted, self.adopted_ids)

    def with_adopted(
        self, adopted: Mapping[str, str], ids: Mapping[str, str | None] | None = None
    ) -> AppliedState:
        """This state with the adopted envs ``adopted`` (env -> folder). An env keeps the
        folder identity it has while its folder is unchanged, even if ``ids`` (env -> the
        identity seen now) says otherwise: a folder swapped in at the same path later is not
        the one apply adopted. A new or moved env takes its identity from ``ids``."""
        kept = {
            key: ident
            for key, ident in self.adopted_ids.items()
            if key in adopted and adopted[key] == self.adopted.get(key)
        }
        for key, ident in (ids or {}).items():
            if key in adopted and key not in kept and ident is not None:
                kept[key] = ident
        return AppliedState(dict(self.bindings), dict(self.fallbacks), dict(adopted), kept)

    def without_adopted(self, env_key: str) -> AppliedState:
        """This state with the adopted env ``env_key`` forgotten."""
        return self.with_adopted({k: v for k, v in self.adopted.items() if k != env_key})


def read_state(root: Path) -> AppliedState:
    """The applied state; empty when nothing was applied yet. ``.state`` that is a link or
    a file is refused (:func:`reconciler.store.folders.folder`)."""
    folders.folder(root, layout.STATE)
    path = layout.bindings_path(root)
    try:
        data = load_json(read_regular_bytes(path, STATE_LIMIT))
    except FileNotFoundError:
        return AppliedState()
    except NotADirectoryError as exc:  # the root, a folder above it or .state is a file
        if not root.is_dir():
            raise RootNotAFolder(root) from None
        raise ReconcileError(
            f"cannot read the applied bindings at {path} ({exc}); a file is where a folder "
            f"should be: move it away and run `reconcile apply` to bind every model again."
        ) from None
    except (OSError, ValueError) as exc:
        raise ReconcileError(
            f"cannot read the applied bindings at {path} ({exc}); restore it from a backup or "
            "delete it and run `reconcile apply` to bind every model again."
        ) from None
    bindings = data.get("bindings") if isinstance(data, dict) else None
    fallbacks = data.get("fallbacks", {}) if isinstance(data, dict) else None
    adopted = data.get("adopted", {}) if isinstance(data, dict) else None
    ids = data.get("adopted_ids", {}) if isinstance(data, dict) else None
    if isinstance(adopted, list) and all(isinstance(a, str) for a in adopted):
        adopted = dict.fromkeys(adopted, "")  # written before adopted paths were kept
    if not all(_str_map(m) for m in (bindings, fallbacks, adopted, ids)):
        raise ReconcileError(
            f"the applied bindings at {path} are not in the expected shape; delete the file and "
            "run `reconcile apply` to bind every model again."
        )
    assert isinstance(bindings, dict) and isinstance(fallbacks, dict)  # _str_map checked
    assert isinstance(adopted, dict) and isinstance(ids, dict)
    return AppliedState(dict(bindings), dict(fallbacks), dict(adopted), dict(ids))


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def write_state(root: Path, state: AppliedState) -> None:
    document = {
        "format_version": FORMAT_VERSION,
        "bindings": dict(sorted(state.bindings.items())),
        "fallbacks": dict(sorted(state.fallbacks.items())),
        "adopted": dict(sorted(state.adopted.items())),
        "adopted_ids": dict(sorted(state.adopted_ids.items())),
    }
    folders.folder(root, layout.STATE)
    write_atomic(layout.bindings_path(root), json.dumps(document, indent=2) + "\n")
