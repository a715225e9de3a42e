"""reconcile: keep a machine's Python environments equal to a reviewed manifest.

The Python API is :func:`resolve`: which interpreter a model runs with.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing would cost the CLI's start-up
__version__ = "0.1.0"
__all__ = ["EnvNotAvailable", "ReconcileError", "ResolvedEnv", "__version__", "resolve"]

if TYPE_CHECKING:
    from typing import Any

    from reconciler.commands.which import EnvNotAvailable, ResolvedEnv, resolve
    from reconciler.errors import ReconcileError


def __getattr__(name: str) -> Any:
    # Lazy: `import reconciler` stays cheap for the CLI, which imports only what it needs.
    if name in ("resolve", "ResolvedEnv", "EnvNotAvailable"):
        import importlib

        return getattr(importlib.import_module("reconciler.commands.which"), name)
    if name == "ReconcileError":
        from reconciler.errors import ReconcileError

        return ReconcileError
    raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
