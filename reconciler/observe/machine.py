"""IO: which machine this is (system, machine, C library and its version), read once, for
deciding whether a lockfile locked for one platform can be built here
(:func:`reconciler.spec.platforms.runs_on`)."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

from reconciler.spec.platforms import Libc, Machine, canonical_machine, parse_glibc

_SYSTEMS = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}


@cache
def this_machine() -> Machine:
    """The machine this process runs on."""
    system = platform.system()
    name = _SYSTEMS.get(system, system.lower())
    machine = canonical_machine(platform.machine())
    if name != "linux":
        return Machine(name, machine)
    libc, glibc = _linux_libc()
    return Machine(name, machine, libc, glibc)


def _linux_libc() -> tuple[Libc | None, tuple[int, int] | None]:
    """The C library of this Linux machine: glibc with its version, musl, or neither known."""
    try:
        said: str | None = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, OSError, ValueError):  # no such name: not glibc
        said = None
    if said is None:
        library, version = platform.libc_ver()
        said = f"{library} {version}" if library == "glibc" else None
    if said is not None:
        return "glibc", parse_glibc(said)
    if any(Path("/lib").glob("ld-musl-*.so.1")):  # musl's dynamic loader: Alpine and kin
        return "musl", None
    return None, None
