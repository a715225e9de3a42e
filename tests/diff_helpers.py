"""Helpers for the table tests of `reconcile diff`: made-up lockfiles and one revision (a
manifest, its lockfiles and where things live) of a project, all in memory."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Mapping

from reconciler.core.diffplan import Side
from reconciler.spec.lockfile import Lockfile, parse_lockfile
from reconciler.spec.manifest import parse_manifest


def pins_text(*pins: str, salt: str = "") -> str:
    """Lockfile lines of ``name==version[; marker]`` pins, each with a made-up hash."""
    return "".join(
        f"{pin} --hash=sha256:{hashlib.sha256((pin + salt).encode()).hexdigest()}\n" for pin in pins
    )


def lock(*pins: str, salt: str = "") -> Lockfile:
    return parse_lockfile(pins_text(*pins, salt=salt), "test.txt")


def side(
    text: str,
    locks: Mapping[str, Lockfile],
    root: str = "/srv/.envs",
    folders: Mapping[str, str] | None = None,
) -> Side:
    manifest = parse_manifest(textwrap.dedent(text), "envs.toml")
    adopted = {k: str(s.adopt) for k, s in manifest.envs.items() if s.adopted}
    return Side(
        manifest=manifest,
        locks=dict(locks),
        root=root,
        folders=dict(folders)
        if folders is not None
        else {k: f"/srv/{v}" for k, v in adopted.items()},
        shown=adopted,
    )
