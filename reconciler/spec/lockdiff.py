"""Pure: what changed between two lockfiles of one env, package by package."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reconciler.spec.lockfile import LockedPackage, Lockfile

Change = Literal["added", "removed", "upgraded", "downgraded", "changed"]


@dataclass(frozen=True)
class PackageChange:
    """One package whose pins differ. ``old``/``new`` are its versions (several, comma
    separated, when markers pin it differently per platform); None when absent. ``direct``:
    the package is one of the manifest's own requirements for the env, not one pulled in by
    another package (see :func:`mark_direct`)."""

    name: str
    old: str | None
    new: str | None
    change: Change
    direct: bool = False


def _versions(pins: Iterable[LockedPackage]) -> str:
    return ", ".join(sorted({p.version for p in pins}, key=_order_key))


def _order_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def _direction(old: str, new: str) -> Change:
    if old == new or "," in old or "," in new:
        return "changed"
    low, high = _order_key(old), _order_key(new)
    if low[0] or high[0]:  # not PEP 440: no order to speak of
        return "changed"
    if high == low:  # 1.0 and 1.0.0: the same version, spelt two ways
        return "changed"
    return "upgraded" if high > low else "downgraded"


def package_changes(old: Lockfile, new: Lockfile) -> tuple[PackageChange, ...]:
    """Every package whose pins (version, marker or hashes) differ, sorted by name."""
    before: dict[str, list[LockedPackage]] = {}
    after: dict[str, list[LockedPackage]] = {}
    for pin in old.packages:
        before.setdefault(pin.name, []).append(pin)
    for pin in new.packages:
        after.setdefault(pin.name, []).append(pin)
    changes: list[PackageChange] = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if was is None and now is not None:
            changes.append(PackageChange(name, None, _versions(now), "added"))
        elif now is None and was is not None:
            changes.append(PackageChange(name, _versions(was), None, "removed"))
        elif was is not None and now is not None and _pins(was) != _pins(now):
            old_v, new_v = _versions(was), _versions(now)
            changes.append(PackageChange(name, old_v, new_v, _direction(old_v, new_v)))
    return tuple(changes)


def _pins(pins: Iterable[LockedPackage]) -> set[tuple[str, str | None, tuple[str, ...]]]:
    return {(p.version, p.marker, p.hashes) for p in pins}


def summarise(changes: Iterable[PackageChange]) -> str:
    """``2 upgraded, 1 added`` in a fixed order; empty when nothing changed."""
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.change] = counts.get(change.change, 0) + 1
    order = ("upgraded", "downgraded", "added", "removed", "changed")
    return ", ".join(f"{counts[c]} {c}" for c in order if c in counts)


def requirement_names(requirements: Iterable[str]) -> frozenset[str]:
    """The canonical names of the packages ``requirements`` ask for, whatever their extras,
    versions or markers: ``Foo_Bar[x]>=1; sys_platform == "linux"`` asks for ``foo-bar``."""
    names: set[str] = set()
    for text in requirements:
        try:
            names.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:  # the manifest refuses these; nothing to name
            continue
    return frozenset(names)


def mark_direct(
    changes: Iterable[PackageChange], before: Iterable[str], after: Iterable[str]
) -> tuple[PackageChange, ...]:
    """``changes`` with ``direct`` set from the env's requirements on each side: a removed
    package is judged against ``before``'s (it is not in ``after``'s lockfile), every other
    one against ``after``'s."""
    old, new = requirement_names(before), requirement_names(after)
    return tuple(
        replace(c, direct=c.name in (old if c.change == "removed" else new)) for c in changes
    )


def pins_digest(lock: Lockfile) -> str:
    """The sha256 of what a lockfile installs: every pin's name, version, marker and hashes,
    in one order. Its header and comments are not in it, so a lockfile rewritten with the same
    pins (a requirement relaxed, a re-lock in a new layout) builds nothing new."""
    pins = sorted((p.name, p.version, p.marker or "", list(p.hashes)) for p in lock.packages)
    canonical = json.dumps(pins, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
