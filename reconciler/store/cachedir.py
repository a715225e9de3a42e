"""IO: the root's cache folder, ``<root>/.cache``: the hash caches and the stored plans.

Everything in it can be deleted at any time (it only costs time). It is never read or written
through a link: a link there could lead out of the root (SPEC 7.7).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.store import folders, layout


def cache_folder(root: Path, *parts: str) -> Path | None:
    """``<root>/.cache/<parts...>``, or ``None`` when a folder on the way is a link or
    cannot be looked at (then there is no cache: it only costs time). ``<root>/.cache``
    itself that is a link is refused (:func:`reconciler.store.folders.folder`), as are the root's
    other folders."""
    try:
        folder = folders.folder(root, layout.CACHE)
    except OSError:  # a root that cannot be looked at (too long a name...): no cache
        return None
    for part in (None, *parts):
        folder = folder if part is None else folder / part
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                return None
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return folder
