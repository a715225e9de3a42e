"""Pure: a generation as the store lists it, whether it ever went live, the prune policy
(which generations `gc` and `apply` remove and which they keep), the generation `rollback`
returns to, and whether a kept generation is built the way the manifest now asks (what
`apply` switches back to instead of building again)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `which` reads generations, never a lockfile
    from reconciler.spec.lockfile import Lockfile

GEN_NAME = re.compile(r"g(\d{4,})")
"""A generation folder's name: ``g`` and at least four digits."""


@dataclass(frozen=True)
class Generation:
    """One generation folder of an env."""

    env_key: str
    gen_id: str
    path: Path
    complete: bool

    @property
    def number(self) -> int:
        match = GEN_NAME.fullmatch(self.gen_id)
        return int(match.group(1)) if match else -1


LIVE_SINCE = "live_since"
"""The receipt's field saying when the generation first went live: null from the build until
its switch, then the UTC time. A receipt without it was written before the field existed;
such a generation counts as having gone live (those versions switched right after the
receipt, so nearly every one did, and counting one that did not is what they did anyway)."""


def went_live(receipt: Mapping[str, object] | None) -> bool:
    """Whether a generation's receipt says it went live (see :data:`LIVE_SINCE`); the live
    generation counts as having gone live whatever its receipt says (a kill between its
    switch and this record leaves it unsaid), which the callers check apart."""
    if receipt is None:
        return True  # unreadable: never taken for a build that failed its switch
    return LIVE_SINCE not in receipt or bool(receipt[LIVE_SINCE])


def rollback_choice(
    generations: Sequence[Generation], live: Generation, never_live: Collection[str] = ()
) -> Generation | None:
    """Pure: what `rollback` returns to (and what `status` names as previous first): the
    newest complete generation older than ``live`` that went live once; one in
    ``never_live`` (built, then its switch failed or was killed) never ran as the env."""
    older = [
        g
        for g in generations
        if g.complete and g.number < live.number and g.gen_id not in never_live
    ]
    return older[-1] if older else None


def collectable(
    generations: Sequence[Generation],
    live: Generation | None,
    keep: int,
    protect: Sequence[Generation] = (),
    broken: Collection[str] = (),
    never_live: Collection[str] = (),
) -> list[Generation]:
    """Pure: the generations gc removes. Kept: the live one, then ``protect`` (the one that
    was live until a switch just now: what rollback returns to, and what running processes
    use), then the newest other complete ones, ``keep`` in all; a generation in ``broken``
    (ids of those that can no longer start) is kept only when no other one wants its place,
    so a healthy one is never removed while a broken one stays, and one in ``never_live``
    (built but never switched to: no rollback returns to it) only when no generation that
    went live wants it. Incomplete ones (staging leftovers) always go; the live one never
    does."""
    kept = {live.gen_id} if live is not None else set()
    candidates = [g for g in protect if g.complete]
    candidates += reversed([g for g in generations if g.complete])
    # stable: healthy ones that went live first, then never-live ones, broken last
    candidates.sort(key=lambda g: (g.gen_id in broken, g.gen_id in never_live))
    for generation in candidates:
        if len(kept) >= keep:
            break
        kept.add(generation.gen_id)
    return [g for g in generations if g.gen_id not in kept]


def link_mode_fits(setting: str, built: str) -> bool:
    """Whether files installed with uv's ``built`` link mode are what the manifest's
    ``link_mode`` setting gives: ``auto`` gives reflink clones or copies (never files shared
    with the cache); any other setting gives itself."""
    if setting == "auto":
        return built in ("clone", "copy")
    return built == setting


def built_from(receipt: Mapping[str, object], lock: Lockfile) -> bool | None:
    """Whether a generation's receipt says it was built from ``lock``'s pins (None: it does
    not say). A receipt records the digest of the pins (``pins_sha256``), so a lockfile
    rewritten with the same pins still matches; one written before that field existed is
    held to the whole file's digest."""
    from reconciler.spec.lockdiff import pins_digest

    pins = receipt.get("pins_sha256")
    if pins is not None:
        return pins == pins_digest(lock)
    whole = receipt.get("lockfile_sha256")
    return None if whole is None else whole == lock.sha256


@dataclass(frozen=True)
class Wanted:
    """What the manifest asks of an env's build, as its receipt records it."""

    lock: Lockfile
    spec_sha256: str
    link_mode: str
    """The manifest's ``link_mode`` setting."""


def built_as_wanted(receipt: Mapping[str, object], wanted: Wanted) -> bool:
    """Whether a generation's receipt says it was built from the lockfile's pins and the
    env's declaration the manifest has now, with files of the link mode it asks for. Its
    health (interpreter, imports, installed files) is judged apart."""
    return (
        built_from(receipt, wanted.lock) is True
        and receipt.get("spec_sha256") == wanted.spec_sha256
        and link_mode_fits(wanted.link_mode, str(receipt.get("link_mode")))
    )


REPLACE_REQUESTED = "replace_requested"
"""The reason of an env named by ``--replace``: its step always builds a new generation,
even when the env, or a kept generation of it, is healthy."""

REBUILD_REASONS = frozenset({REPLACE_REQUESTED})
"""Reasons that ask for a new build whatever is kept (``--replace ENV``): a step with one of
them never switches back to a kept generation."""


def may_switch_back(reasons: Collection[str]) -> bool:
    """Whether a create or replace step with these reasons may switch back to a kept
    generation that already matches instead of building."""
    return not REBUILD_REASONS & set(reasons)
