"""Pure: a generation as the store lists it, and the prune policy: which generations `gc` and
`apply` remove and which they keep."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def collectable(
    generations: Sequence[Generation],
    live: Generation | None,
    keep: int,
    protect: Sequence[Generation] = (),
) -> list[Generation]:
    """Pure: the generations gc removes. Kept: the live one, then ``protect`` (the one that
    was live until a switch just now: what rollback returns to, and what running processes
    use), then the newest other complete ones, ``keep`` in all. Incomplete ones (staging
    leftovers) always go; the live one never does."""
    kept = {live.gen_id} if live is not None else set()
    candidates = [g for g in protect if g.complete]
    candidates += reversed([g for g in generations if g.complete])
    for generation in candidates:
        if len(kept) >= keep:
            break
        kept.add(generation.gen_id)
    return [g for g in generations if g.gen_id not in kept]
