"""IO: the root's cache folder, ``<root>/.cache``: the hash caches and the stored plans.

Everything in it can be deleted at any time (it only costs time). It is never read or written
through a link: a link there could lead out of the root (SPEC 7.7).
"""

from __future__ import annotations

from pathlib import Path

from reconciler import layout


def cache_folder(root: Path, *parts: str) -> Path | None:
    """``<root>/.cache/<parts...>``, or ``None`` when it or a folder on the way is a link."""
    folder = root / layout.CACHE
    for part in (None, *parts):
        folder = folder if part is None else folder / part
        if folder.is_symlink():
            return None
    return folder
