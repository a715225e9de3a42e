"""What a new generation's receipt records: how it was built, from what, and the upstream
RECORD defects it keeps as its baseline; written once it is verified, before the switch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from reconciler import __version__
from reconciler.core.generations import LIVE_SINCE
from reconciler.core.integrity import RecordDefect
from reconciler.execute.targets import EnvTarget, spec_digest
from reconciler.observe.integrity import RECORD_DEFECTS
from reconciler.spec.lockdiff import pins_digest
from reconciler.spec.manifest import LoadedManifest


def new_receipt(
    loaded: LoadedManifest,
    target: EnvTarget,
    gen_id: str,
    python_version: str,
    defects: Sequence[RecordDefect] = (),
    *,
    uv_version: str,
    link_mode: str,
) -> dict[str, Any]:
    """The receipt of generation ``gen_id`` of ``target``, built with ``python_version``."""
    return {
        "format_version": "1",
        "env_key": target.env_key,
        "generation": gen_id,
        "python": python_version,
        "python_declared": target.python_declared,
        "base_interpreter": str(target.python),
        "lockfile_sha256": target.lock.sha256,
        "pins_sha256": pins_digest(target.lock),
        "spec_sha256": spec_digest(loaded, target.env_key),
        "imports": list(loaded.manifest.envs[target.env_key].imports),
        "uv_version": uv_version,
        "link_mode": link_mode,
        "link_mode_declared": loaded.manifest.settings.link_mode,
        "reconcile_version": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # What was installed for RECORD rows that are wrong upstream: later checks of
        # this generation compare those files with this, not with RECORD.
        RECORD_DEFECTS: [d.to_plain() for d in defects],
        LIVE_SINCE: None,  # set once switched to (the store's mark_live)
    }
