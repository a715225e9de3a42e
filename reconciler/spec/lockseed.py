"""Pure: the old pins `reconcile lock` asks uv to keep, and when it may not trust them.

uv's ``pip compile`` prefers the versions of its output file, as ``uv lock`` and pip-tools
keep existing pins: so re-locking moves no pin the requirements do not force. uv also keeps a
kept pin's ``--hash`` lines as the file has them. Both are taken from a lockfile only as
``reconcile lock`` wrote it: a body edited by hand, or a header without the digest of the body
(written before it existed, or with it taken out), is resolved afresh (its pins and hashes
are what nobody can vouch for), and the hashes are re-read from the index when the Python
(a wheel for another Python tag), the sources (another index may serve other files) or the
platform (a one-platform lock pins only that platform's files) changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from reconciler.spec.lockfile import EDITED_BY_HAND, Lockfile


@dataclass(frozen=True)
class Seed:
    """What uv is given to prefer: requirement-file text (empty for none), and why the old
    pins were not kept when they were not (``None`` when they were, or there were none)."""

    text: str
    dropped: str | None = None


def seed(old: Lockfile | None, wanted: Mapping[str, str]) -> Seed:
    """The preferences for re-locking over ``old`` (None: no lockfile yet), given the header
    fields ``wanted`` of the new lockfile (``lock_inputs``)."""
    if old is None or old.inputs is None:
        return Seed("")
    recorded = old.inputs.get("body")
    if recorded is None:  # a header without the digest vouches for nothing, forged or old
        return Seed("", "it records no digest of its body to vouch for its pins, so none was kept")
    if recorded != old.body_sha256:
        return Seed("", f"its pins were {EDITED_BY_HAND}, so none was kept")
    hashes = all(
        old.inputs.get(field) == wanted.get(field) for field in ("python", "sources", "platform")
    )
    lines: list[str] = []
    for pin in old.packages:
        try:
            Version(pin.version)
        except InvalidVersion:  # a legacy `===` pin: uv gets no preference for it
            continue
        marker = f" ; {pin.marker}" if pin.marker else ""
        lines.append(f"{pin.name}=={pin.version}{marker}")
        if hashes:
            lines.extend(f"    --hash={digest}" for digest in pin.hashes)
    return Seed(_continued(lines))


def _continued(lines: list[str]) -> str:
    """Requirement-file text: each pin's ``--hash`` lines joined to it with backslashes."""
    out: list[str] = []
    for line in lines:
        if line.startswith("    --hash=") and out:
            out[-1] += " \\"
        out.append(line)
    return "".join(f"{line}\n" for line in out)
