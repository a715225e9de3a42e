"""Pure: where things live under the root. One place, so every module agrees.

<root>/<env_key>                          the live env (a link to its generation)
<root>/.generations/<env_key>/<gen_id>/   one generation, a complete venv
<root>/.generations/<env_key>/<gen_id>/reconcile-receipt.json
<root>/.state/bindings.json               applied model -> env bindings
<root>/.cache/                            hashes, plans, health verdicts, verify's memo
                                          (safe to delete; see docs/apply.md)
<root>/.trash/                            removals in progress
<root>/.lock                              the apply lock
"""

from __future__ import annotations

from pathlib import Path, PurePath

RECEIPT_NAME = "reconcile-receipt.json"
GENERATIONS = ".generations"
STATE = ".state"
TRASH = ".trash"
CACHE = ".cache"
LOCK = ".lock"
LOCK_WAIT = 600.0
"""Seconds a command waits by default for another reconcile's hold on ``<root>/.lock``:
apply, rollback and gc for the lock (``--lock-timeout``), `which` and `run` for the apply
that makes an env usable (``--wait``)."""


def env_link(root: Path, env_key: str) -> Path:
    return root / env_key


def receipt_path(env_dir: Path) -> Path:
    return env_dir / RECEIPT_NAME


def bindings_path(root: Path) -> Path:
    return root / STATE / "bindings.json"


def is_internal(name: str) -> bool:
    """Entries of the root that are the tool's own bookkeeping, never envs."""
    return name.startswith(".")


def set_aside_name(name: str, tag: str) -> str:
    """The hidden sibling an adopted folder is renamed to before its deletion when the trash
    is on another filesystem: ``.venv`` -> ``.venv.reconcile-trash-<tag>``."""
    hidden = name if name.startswith(".") else f".{name}"
    return f"{hidden}.reconcile-trash-{tag}"


ROOT_OVERLAP = (
    "it is, holds or lies inside the root, where reconcile keeps the envs it builds (adopt a "
    "folder outside the root, or drop delete = true); not touched"
)
"""Why an adopted folder marked ``delete = true`` is refused by removal's last guard."""


def overlaps(first: PurePath, second: PurePath) -> bool:
    """Whether one of two resolved paths is the other or inside it (either flavour; Windows
    paths compare case-insensitively)."""
    return first == second or first.is_relative_to(second) or second.is_relative_to(first)
