"""Pure: the target platforms a manifest may name (``platform``: uv's ``--python-platform``
names) and what each means: the system, the machine, the C library, and the PEP 508 marker
environment Python reports there; and whether a machine can run what was locked for one.

Reading which machine this is belongs to :mod:`reconciler.observe.machine`; deciding whether
it fits a target is :func:`runs_on`, here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

System = Literal["linux", "macos", "windows"]
Libc = Literal["glibc", "musl"]

_SYSTEMS: Mapping[System, tuple[str, str, str, str]] = {
    # system -> (how people name it, sys_platform, platform_system, os_name)
    "linux": ("Linux", "linux", "Linux", "posix"),
    "macos": ("macOS", "darwin", "Darwin", "posix"),
    "windows": ("Windows", "win32", "Windows", "nt"),
}
# platform_machine as Python reports it where it differs from the machine's canonical name.
_MARKER_MACHINE: Mapping[tuple[System, str], str] = {
    ("macos", "aarch64"): "arm64",
    ("windows", "x86_64"): "AMD64",
    ("windows", "aarch64"): "ARM64",
    ("windows", "i686"): "x86",
}
_MACHINES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "aarch64_be": "aarch64_be",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "i686": "i686",
    "x86": "i686",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class TargetPlatform:
    """One of uv's ``--python-platform`` names and what it means."""

    name: str
    system: System
    machine: str
    """The machine's canonical name: ``x86_64``, ``aarch64``, ``i686``, ``riscv64``."""
    libc: Libc | None = None
    """Linux only: the C library its wheels link against."""
    glibc: tuple[int, int] | None = None
    """The oldest glibc its wheels run on (``manylinux_2_28``: 2.28); None for the others."""

    @property
    def markers(self) -> dict[str, str]:
        """The platform part of the PEP 508 environment of an interpreter there."""
        _, sys_platform, platform_system, os_name = _SYSTEMS[self.system]
        return {
            "sys_platform": sys_platform,
            "platform_system": platform_system,
            "os_name": os_name,
            "platform_machine": _MARKER_MACHINE.get((self.system, self.machine), self.machine),
        }

    def describe(self) -> str:
        """``Linux x86_64, glibc >= 2.28``, ``Linux aarch64, musl``, ``macOS arm64``."""
        shown = f"{_SYSTEMS[self.system][0]} {_shown_machine(self.system, self.machine)}"
        if self.glibc is not None:
            return f"{shown}, glibc >= {self.glibc[0]}.{self.glibc[1]}"
        return f"{shown}, musl" if self.libc == "musl" else shown


def _shown_machine(system: str, machine: str) -> str:
    return "arm64" if (system, machine) == ("macos", "aarch64") else machine


def _linux(name: str, machine: str, glibc: tuple[int, int] | None) -> TargetPlatform:
    libc: Libc = "glibc" if glibc is not None else "musl"
    return TargetPlatform(name, "linux", machine, libc, glibc)


# uv's `linux`, `*-unknown-linux-gnu` mean manylinux_2_28 (uv 0.8 on; manylinux_2_17 before),
# riscv64 manylinux_2_39, musl musllinux_1_2; macOS 13.0 on (not checked here).
_GLIBC_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_MANYLINUX = re.compile(
    r"(?:(?P<machine>x86_64|aarch64)-manylinux_2_(?P<minor>\d{1,3}))"
    r"|(?:manylinux_2_(?P<tag_minor>\d{1,3})_(?P<tag_machine>x86_64|aarch64))"
)
_TABLE: tuple[TargetPlatform, ...] = (
    TargetPlatform("windows", "windows", "x86_64"),
    _linux("linux", "x86_64", (2, 28)),
    TargetPlatform("macos", "macos", "aarch64"),
    TargetPlatform("x86_64-pc-windows-msvc", "windows", "x86_64"),
    TargetPlatform("aarch64-pc-windows-msvc", "windows", "aarch64"),
    TargetPlatform("i686-pc-windows-msvc", "windows", "i686"),
    _linux("x86_64-unknown-linux-gnu", "x86_64", (2, 28)),
    TargetPlatform("aarch64-apple-darwin", "macos", "aarch64"),
    TargetPlatform("x86_64-apple-darwin", "macos", "x86_64"),
    _linux("aarch64-unknown-linux-gnu", "aarch64", (2, 28)),
    _linux("aarch64-unknown-linux-musl", "aarch64", None),
    _linux("x86_64-unknown-linux-musl", "x86_64", None),
    _linux("riscv64-unknown-linux", "riscv64", (2, 39)),
    *(
        _linux(f"{machine}-{tag}", machine, (2, minor))
        for machine in ("x86_64", "aarch64")
        for minor, tag in (
            (17, "manylinux2014"),
            *((m, f"manylinux_2_{m}") for m in _GLIBC_MINORS),
        )
    ),
)
PLATFORMS: Mapping[str, TargetPlatform] = {p.name: p for p in _TABLE}
"""Every platform a manifest may name, by uv's name, in the order of ``uv pip compile
--help``."""

ALIASES: Mapping[str, str] = {
    f"{p.name.partition('-')[2]}_{p.machine}": p.name for p in _TABLE if "-manylinux" in p.name
}
"""uv's other spelling of its manylinux names, the wheel tag's (``manylinux_2_28_x86_64``)."""

UNBUILDABLE: Mapping[str, str] = {
    "aarch64-linux-android": "Android",
    "x86_64-linux-android": "Android",
    "wasm32-pyodide2024": "Pyodide",
    "wasm32-pyodide2025": "Pyodide",
    "arm64-apple-ios": "iOS",
    "arm64-apple-ios-simulator": "the iOS simulator",
    "x86_64-apple-ios-simulator": "the iOS simulator",
}
"""uv's names for platforms reconcile cannot build envs on: refused in a manifest."""

UNIVERSAL_HOSTS: tuple[TargetPlatform, ...] = tuple(
    PLATFORMS[name]
    for name in (
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "x86_64-pc-windows-msvc",
        "aarch64-pc-windows-msvc",
    )
)
"""The hosts a universal lockfile is checked on (Linux, macOS, Windows on two machines each)."""


def marker_hosts(python: str | None, platform_name: str | None) -> list[tuple[str, dict[str, str]]]:
    """The hosts a lockfile serves, each named (``Windows (AMD64)``) with the PEP 508
    environment of a CPython ``python`` there: the six :data:`UNIVERSAL_HOSTS` for a
    universal lockfile (``platform_name`` None), else the one platform's."""
    one = target(platform_name) if platform_name is not None else None
    version = python or ""
    full = version if version.count(".") >= 2 else f"{version}.0"
    python_env = (
        {
            "python_version": ".".join(version.split(".")[:2]),
            "python_full_version": full,
            "implementation_version": full,
        }
        if version
        else {}
    )
    hosts = []
    for host in UNIVERSAL_HOSTS if one is None else (one,):
        env = {
            **host.markers,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            **python_env,
        }
        hosts.append((f"{env['platform_system']} ({env['platform_machine']})", env))
    return hosts


def canonical_platform(name: str) -> str:
    """uv's name for ``name`` (an alias spelt as a wheel tag becomes uv's own name)."""
    return ALIASES.get(name, name)


def platform_problem(name: str) -> str | None:
    """Why ``name`` cannot be a manifest's ``platform`` (one sentence), or None if it can."""
    if canonical_platform(name) in PLATFORMS:
        return None
    if name in UNBUILDABLE:
        return (
            f'"{name}" is a platform of {UNBUILDABLE[name]}, where reconcile cannot build envs; '
            'name a Linux, macOS or Windows platform, such as "x86_64-manylinux_2_28"'
        )
    glibc = _MANYLINUX.fullmatch(name)
    if glibc is not None:  # a glibc uv has no name for: the newest below it runs there too
        machine = glibc["machine"] or glibc["tag_machine"]
        written = int(glibc["minor"] or glibc["tag_minor"])
        minor = max((m for m in _GLIBC_MINORS if m <= written), default=17)
        return (
            f'"{name}" is not a platform uv knows (its manylinux names are for glibc 2.17, 2.28 '
            f'and 2.31 to 2.40); did you mean "{machine}-manylinux_2_{minor}"?'
        )
    close = difflib.get_close_matches(name, [*PLATFORMS, *ALIASES], n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.lower(), [*PLATFORMS, *ALIASES], n=1, cutoff=0.6)
    hint = (
        f'; did you mean "{close[0]}"?'
        if close
        else '; use one of uv\'s --python-platform names, such as "linux", '
        '"x86_64-manylinux_2_28", "macos" or "windows"'
    )
    return f'"{name}" is not a platform uv knows{hint}'


def target(name: str) -> TargetPlatform | None:
    """The platform a manifest or a lockfile header names (an alias too); None if unknown."""
    return PLATFORMS.get(canonical_platform(name))


@dataclass(frozen=True)
class Machine:
    """The machine a command runs on, as :mod:`reconciler.observe.machine` read it."""

    system: str
    """``linux``, ``macos``, ``windows``, or another system's name in lower case."""
    machine: str
    """The canonical name (see :func:`canonical_machine`)."""
    libc: Libc | None = None
    glibc: tuple[int, int] | None = None
    """The glibc version, when the C library is glibc and its version could be read."""

    def describe(self) -> str:
        """``Linux aarch64 (glibc 2.36)``, ``Linux x86_64 (musl)``, ``macOS arm64``."""
        system = next((v[0] for k, v in _SYSTEMS.items() if k == self.system), self.system)
        shown = f"{system} {_shown_machine(self.system, self.machine)}"
        if self.system != "linux":
            return shown
        if self.glibc is not None:
            return f"{shown} (glibc {self.glibc[0]}.{self.glibc[1]})"
        return f"{shown} ({self.libc or 'C library not recognised'})"


def canonical_machine(reported: str) -> str:
    """One name per machine, whatever spelling the system reports (``AMD64``, ``arm64``)."""
    return _MACHINES.get(reported.lower(), reported.lower())


def parse_glibc(said: str) -> tuple[int, int] | None:
    """``(2, 36)`` from ``glibc 2.36`` (what ``os.confstr`` says), None if it says no version."""
    words = said.split()
    parts = words[-1].split(".") if len(words) == 2 and words[0] == "glibc" else []
    try:
        return (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return None


def runs_on(platform: TargetPlatform, machine: Machine) -> bool:
    """Whether what was locked for ``platform`` installs on ``machine``: the same system,
    machine and C library family, and for glibc a version at least the platform's oldest."""
    if (platform.system, platform.machine) != (machine.system, machine.machine):
        return False
    if platform.libc is not None and platform.libc != machine.libc:
        return False
    if platform.glibc is None:
        return True
    return machine.glibc is not None and machine.glibc >= platform.glibc


def foreign_sentence(env_key: str, platform: TargetPlatform, machine: Machine) -> str:
    """How `plan` and `apply` refuse an env locked for a platform ``machine`` is not."""
    return (
        f"env {env_key} is locked for {platform.name} ({platform.describe()}) and this machine "
        f"is {machine.describe()}: build it on such a machine, or change or remove its "
        f"`platform` in envs.toml and run `reconcile lock {env_key}`."
    )


def serves_universally(machine: Machine) -> bool:
    """Whether a universal lockfile serves ``machine``: one of the six hosts it is resolved
    and its markers scoped for (:data:`UNIVERSAL_HOSTS`), whatever its C library."""
    return any(
        (host.system, host.machine) == (machine.system, machine.machine) for host in UNIVERSAL_HOSTS
    )


def unserved_sentence(env_key: str, machine: Machine) -> str:
    """How `plan` and `apply` refuse a universal lockfile on a machine it does not serve."""
    return (
        f"env {env_key} is locked for Linux, macOS and Windows on x86_64 and ARM, and this "
        f"machine is {machine.describe()}: set `platform` of env {env_key} in envs.toml to "
        f"this machine's (uv's --python-platform name) and run `reconcile lock {env_key}`."
    )
