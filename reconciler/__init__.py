"""reconcile: keep a machine's Python environments equal to a reviewed manifest."""

__version__ = "0.1.0"
