"""IO: carry out a confirmed plan with the real builder and store, and remember the
manifest's adopted envs (the caller holds the lock)."""

from __future__ import annotations

from reconciler.core.outcome import ApplyReport
from reconciler.core.plan import Plan
from reconciler.execute import uv
from reconciler.execute.builder import UvBuilder, file_verifier, generation_inspector
from reconciler.execute.executor import Applier, Reporter, adopted_to_record
from reconciler.execute.rootstore import RootStore
from reconciler.execute.targets import Buildable
from reconciler.platform import Platform
from reconciler.spec.manifest import LoadedManifest
from reconciler.store import folders, layout
from reconciler.store.bindings import read_state, write_state


def execute(
    loaded: LoadedManifest,
    plan: Plan,
    targets: dict[str, Buildable],
    reporter: Reporter,
    *,
    platform: Platform,
) -> ApplyReport:
    """Carry out a plan (the caller holds the lock, found the targets and has confirmed);
    the report says what was done, what failed and what was skipped because of it."""
    root = loaded.root
    link_mode = "copy"
    if targets:
        folder = folders.folder(root, layout.GENERATIONS)
        link_mode = uv.uv_link_mode(loaded.manifest.settings.link_mode, folder)
    applier = Applier(
        loaded,
        targets,
        UvBuilder(),
        file_verifier(root, venv=platform.venv),
        reporter,
        uv_version=uv.uv_version() if targets else "unknown",
        link_mode=link_mode,
        store=RootStore(root, platform.ops, venv=platform.venv, spare=loaded.adopt_folders()),
        inspect=generation_inspector(platform.venv),
    )
    report = applier.run(plan)
    applier.record_adopted()
    return report


def record_adopted(loaded: LoadedManifest) -> None:
    """An apply with nothing to do still remembers the manifest's adopted envs, as one with
    steps does (the caller holds the lock): what ``delete = true`` later requires."""
    state = read_state(loaded.root)
    recorded = adopted_to_record(loaded, state)
    if recorded != state:
        write_state(loaded.root, recorded)
