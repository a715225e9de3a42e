"""Pure: what `reconcile lock` prints: per env, whether its lockfile was written, and what
changed in it, package by package, the way uv does (``Updated anyio v4.6.2 -> v4.7.0``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.spec.lockdiff import PackageChange, package_changes
from reconciler.spec.lockfile import LockedPackage, Lockfile

NOTHING_CHANGED = "No lockfile was changed."


@dataclass(frozen=True)
class LockOutcome:
    """One env after `lock`: its name, its lockfile as shown, the lockfile before (None: there
    was none that could be read) and after, whether the file was written, and why the old
    pins were not kept, when they were not."""

    env_key: str
    shown: str
    old: Lockfile | None
    new: Lockfile
    written: bool
    dropped: str | None = None


def _v(versions: str | None) -> str:
    return ", ".join(f"v{v}" for v in (versions or "").split(", "))


def _what(pins: Iterable[LockedPackage]) -> tuple[set[str | None], set[tuple[str, ...]]]:
    listed = list(pins)
    return {p.marker for p in listed}, {p.hashes for p in listed}


def change_line(change: PackageChange, old: Lockfile, new: Lockfile) -> str:
    """One line for one package: Added, Removed, Updated, Downgraded, or Changed (same
    versions, other markers or hashes)."""
    match change.change:
        case "added":
            return f"Added {change.name} {_v(change.new)}"
        case "removed":
            return f"Removed {change.name} {_v(change.old)}"
        case "upgraded":
            return f"Updated {change.name} {_v(change.old)} -> {_v(change.new)}"
        case "downgraded":
            return f"Downgraded {change.name} {_v(change.old)} -> {_v(change.new)}"
        case "changed":
            if change.old != change.new:
                return f"Updated {change.name} {_v(change.old)} -> {_v(change.new)}"
            markers_were, hashes_were = _what(p for p in old.packages if p.name == change.name)
            markers_are, hashes_are = _what(p for p in new.packages if p.name == change.name)
            moved = [
                word
                for word, differs in (
                    ("markers", markers_were != markers_are),
                    ("hashes", hashes_were != hashes_are),
                )
                if differs
            ]
            return f"Changed {change.name} {_v(change.new)} ({', '.join(moved) or 'pins'})"


def outcome_lines(outcome: LockOutcome) -> list[str]:
    """The lines for one env: ``ENV: PATH written`` or ``unchanged``, then, for a rewritten
    lockfile, why its old pins were not kept and one line per package that changed."""
    state = "written" if outcome.written else "unchanged"
    if outcome.written and outcome.old is None:
        count = len({p.name for p in outcome.new.packages})
        noun = "package" if count == 1 else "packages"
        if outcome.dropped:  # a file was there, but not one whose pins could be read
            return [
                f"{outcome.env_key}: {outcome.shown} written ({count} {noun})",
                f"  {outcome.dropped}",
            ]
        return [f"{outcome.env_key}: {outcome.shown} written (new, {count} {noun})"]
    lines = [f"{outcome.env_key}: {outcome.shown} {state}"]
    if not outcome.written or outcome.old is None:
        return lines
    if outcome.dropped:
        lines.append(f"  {outcome.dropped}")
    changes = package_changes(outcome.old, outcome.new)
    lines += [f"  {change_line(c, outcome.old, outcome.new)}" for c in changes]
    if not changes:
        lines.append("  no pin changed (its header or comments did)")
    return lines


def closing_line(outcomes: Iterable[LockOutcome]) -> str | None:
    """The last line: :data:`NOTHING_CHANGED` when no lockfile was written, else None."""
    return None if any(o.written for o in outcomes) else NOTHING_CHANGED


def unpinned(names: Iterable[str], outcomes: Iterable[LockOutcome]) -> list[str]:
    """The ``--upgrade-package`` names that no lockfile pinned, before or after: most likely
    a typo, which uv lets pass without a word."""
    pinned = {
        p.name
        for o in outcomes
        for lock in (o.old, o.new)
        if lock is not None
        for p in lock.packages
    }
    return [name for name in names if name not in pinned]
