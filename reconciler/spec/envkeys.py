"""Pure: the rules an env key obeys because it names folders and files on every host.

An env key names ``<root>/<key>``, ``<root>/.generations/<key>`` and, by default,
``<lockfiles>/<key>.txt``, and one manifest serves Linux, macOS and Windows hosts. So a key
may not be a name Windows keeps for a device (``con``, ``aux.txt``), and two keys may not be
the same name where case is ignored (Windows, macOS's default APFS): there both envs would
share one link and one generations folder.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable

DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)}
)
"""The names Windows gives to devices, in any case and with any extension (``nul.tar.gz``).
(The superscript-digit ``COM¹``... need no entry: a key is ASCII.)"""


def device_problem(key: str) -> str | None:
    """Why ``key`` cannot name a folder on Windows (a device name, a trailing dot, which
    Windows drops); ``None`` when it can."""
    if key.endswith("."):
        return (
            f'"{key}" ends with a dot, which Windows drops from a file name (it would be '
            f'"{key.rstrip(". ")}"); remove the dot'
        )
    device = key.split(".")[0].upper()
    if device in DEVICE_NAMES:
        return (
            f'"{key}" is a device name on Windows ({device}, with any extension), so no '
            "folder can have it there; choose another name"
        )
    return None


def folded(key: str) -> str:
    """The name Windows (and macOS's default APFS) takes ``key`` for: without trailing dots
    and spaces, in lower case."""
    return key.rstrip(". ").lower()


def folded_path(path: str) -> str:
    """The file Windows and macOS take the relative ``path`` (either separator) for: each
    name :func:`folded`."""
    normal = posixpath.normpath(path.replace("\\", "/"))
    return "/".join(folded(name) or name for name in normal.split("/"))


def clashes(keys: Iterable[str], fold: Callable[[str], str] = folded) -> list[tuple[str, str]]:
    """Each key (in the order given) that is the same name as an earlier, different one
    once folded, as ``(key, earlier)``."""
    first: dict[str, str] = {}
    found: list[tuple[str, str]] = []
    for key in keys:
        earlier = first.setdefault(fold(key), key)
        if earlier != key:
            found.append((key, earlier))
    return found
