"""IO: build one generation with uv: a venv for the declared Python, then an exact sync of
the lockfile with hashes required. Every uv argv reconcile runs to lock and build is built
here, beside its timeout; commands are data first (shown under --verbose)."""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reconciler.errors import ReconcileError
from reconciler.platform import VenvLayout
from reconciler.runner import Command, Unfinished, attempt, uv_bin
from reconciler.spec.manifest import LinkMode, Sources, local_path
from reconciler.spec.platforms import UNIVERSAL_HOSTS

BUILD_TIMEOUT = 3600.0
"""Seconds ``uv venv`` and ``uv pip sync`` get to build a generation."""
COMPILE_TIMEOUT = 600.0
"""Seconds ``uv pip compile`` gets to resolve one env's lockfile (`reconcile lock`)."""
PURGE_TIMEOUT = 600.0
"""Seconds ``uv cache clean`` gets to drop packages from uv's cache."""
VERSION_TIMEOUT = 60.0
"""Seconds ``uv --version`` gets to answer (for receipts)."""
INSTALL_TIMEOUT = 60.0
"""Seconds ``uv python install`` gets: a download not finished by then is not coming."""
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


class BuildError(ReconcileError):
    """uv could not build a generation."""


@dataclass(frozen=True)
class BuildRequest:
    """Everything one build needs; ``link_mode`` is uv's own value (clone, copy, hardlink)."""

    env_key: str
    gen_dir: Path
    python: Path
    lockfile: Path
    sources: Sources
    base_dir: Path
    link_mode: str
    venv: VenvLayout


def _uv_env() -> dict[str, str]:
    # The manifest is the only source of truth: no uv.toml, no index settings from outside.
    return {"NO_COLOR": "1", "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}


def source_args(sources: Sources, base_dir: Path) -> tuple[str, ...]:
    """uv arguments for package sources; local index and find_links paths resolve against
    the manifest."""

    def located(link: str) -> str:
        # A path goes as a file: URL: uv reads a plain path only up to a "#" (a fragment).
        path = local_path(link)  # a file: URL too: its path is relative to the manifest
        return link if path is None else (base_dir / path).absolute().as_uri()

    args: list[str] = []
    if sources.index_url:
        args += ["--index-url", located(sources.index_url)]
    for url in sources.extra_index_urls:
        args += ["--extra-index-url", located(url)]
    for link in sources.find_links:
        args += ["--find-links", located(link)]
    if sources.no_index:
        args.append("--no-index")
    return tuple(args)


@dataclass(frozen=True)
class Upgrade:
    """Which pins of the old lockfile `lock` may move: none (``Upgrade()``), every one
    (``everything``), or those of the named packages (canonical names)."""

    everything: bool = False
    packages: tuple[str, ...] = ()

    def args(self) -> tuple[str, ...]:
        if self.everything:
            return ("--upgrade",)
        return tuple(arg for name in self.packages for arg in ("--upgrade-package", name))


KEEP_PINS = Upgrade()
"""No pin of the old lockfile may move but where the requirements force it."""

PREFERENCES_FILE = "lock.txt"
"""The file in the lock's work folder that holds the old pins (uv prefers them) and then
receives uv's result."""


def resolution_config(python: str) -> str:
    """A ``pyproject.toml`` that limits a universal resolution to what the lockfile serves:
    the env's Python (``3.11`` is every 3.11.x, ``3.11.7`` that release alone; uv's
    ``--python-version`` is only a lower bound there) on the six hosts of
    :data:`~reconciler.spec.platforms.UNIVERSAL_HOSTS`. uv then also asks for a wheel or an
    sdist of every pin on each of them, and for no other platform (emscripten, s390x...),
    where a package without wheels would fail the lock. ``environments`` is read from a
    project file alone, never from ``--config-file``."""
    parts = python.split(".")
    if len(parts) >= 3:
        version = f"python_full_version == '{python}'"
    else:
        version = f"python_version == '{'.'.join(parts[:2])}'"
    hosts = " or ".join(
        f"(platform_machine == '{markers['platform_machine']}' and "
        f"sys_platform == '{markers['sys_platform']}')"
        for markers in (host.markers for host in UNIVERSAL_HOSTS)
    )
    return f'[tool.uv]\nenvironments = ["{version} and ({hosts})"]\n'


def compile_command(
    python: str,
    requirements: Sequence[str],
    sources: Sources,
    base_dir: Path,
    *,
    workdir: Path,
    platform: str | None,
    upgrade: Upgrade = KEEP_PINS,
) -> Command:
    """``uv pip compile``: one lockfile with hashes for ``python`` (that version only:
    :func:`resolution_config`, written in ``workdir``, says so), from ``requirements`` on
    stdin, into ``workdir``/:data:`PREFERENCES_FILE`, whose old pins uv keeps unless
    ``upgrade`` lets them move (`reconcile lock`): universal, or for the one ``platform``
    (uv's name) alone."""
    target = ("--universal",) if platform is None else ("--python-platform", platform)
    argv = (
        uv_bin(),
        "pip",
        "compile",
        "-",
        *target,
        "--python-version",
        python,
        "--generate-hashes",
        "--no-header",
        "--quiet",
        "--output-file",
        str(workdir / PREFERENCES_FILE),
        "--project",  # uv finds resolution_config's environments there, and no other config
        str(workdir),
        *upgrade.args(),
        *source_args(sources, base_dir),
    )
    return Command(
        argv=argv,
        stdin="\n".join(requirements) + "\n",
        env={
            "UV_PYTHON_DOWNLOADS": "never",
            "NO_COLOR": "1",
            # uv must read resolution_config, whatever the caller's environment says, and not
            # the user's own uv.toml: the lockfile is the manifest's, on every machine
            "UV_NO_CONFIG": "0",
            "XDG_CONFIG_HOME": str(workdir),
            "XDG_CONFIG_DIRS": str(workdir),
            "COLUMNS": "1000",  # uv's explanation unwrapped: lock shows its first lines
        },
        cwd=base_dir,  # a relative `name @ file:...` requirement is relative to envs.toml
        timeout=COMPILE_TIMEOUT,
    )


def venv_command(request: BuildRequest) -> Command:
    return Command(
        argv=(
            uv_bin(),
            "venv",
            "--quiet",
            "--no-config",
            "--python",
            str(request.python),
            str(request.gen_dir),
        ),
        env=_uv_env(),
        timeout=BUILD_TIMEOUT,
    )


def sync_command(request: BuildRequest, refresh: Sequence[str] = ()) -> Command:
    refresh_args: list[str] = []
    for package in sorted(set(refresh)):
        refresh_args += ["--refresh-package", package]
    return Command(
        argv=(
            uv_bin(),
            "pip",
            "sync",
            "--quiet",
            "--no-config",
            "--require-hashes",
            "--link-mode",
            request.link_mode,
            "--python",
            str(request.venv.interpreter(request.gen_dir)),
            *source_args(request.sources, request.base_dir),
            *refresh_args,
            str(request.lockfile),
        ),
        env=_uv_env(),
        cwd=request.base_dir,
        timeout=BUILD_TIMEOUT,
    )


def purge_command(packages: Sequence[str]) -> Command:
    """Remove these packages' entries from the uv cache (SPEC 7.2)."""
    return Command(
        argv=(uv_bin(), "cache", "clean", "--no-config", *sorted(set(packages))),
        env=_uv_env(),
        timeout=PURGE_TIMEOUT,
    )


def python_install_command(uv: str, version: str) -> Command:
    """Download and install CPython ``version`` (only where the manifest allows downloads)."""
    return Command(
        (uv, "python", "install", version),
        env={"UV_PYTHON_DOWNLOADS": "automatic"},
        timeout=INSTALL_TIMEOUT,
    )


_UNREACHABLE = (
    "failed to fetch",
    "error sending request",
    "dns error",
    "connection refused",
    "could not connect",
    "network is unreachable",
    "operation timed out",
)
_URL = re.compile(r"https?://[^\s`'\")]+")


def unreachable_index(stderr: str, doing: str) -> str | None:
    """One sentence when uv's ``stderr`` says a package source could not be reached (uv
    prints the request that failed, then one ``cause:`` line per layer down to the socket's
    error): the URL and the last cause. ``doing`` is what uv was at ("locking tools");
    None when uv failed for another reason."""
    text = stderr.strip()
    if not any(marker in text.lower() for marker in _UNREACHABLE):
        return None
    causes = [
        line.strip().removeprefix("error:").removeprefix("cause:").strip()
        for line in text.splitlines()
        if line.strip()
    ]
    root = re.sub(r" \(os error \d+\)$", "", causes[-1])
    url = _URL.search(text)
    why = f"{url.group(0)}: {root}" if url is not None and url.group(0) not in root else root
    return (
        f"cannot reach the package index while {doing} ({why}): check the network and the "
        "sources in envs.toml."
    )


def _run_checked(command: Command, env_key: str, what: str) -> None:
    result = attempt(command)
    if isinstance(result, Unfinished):
        program = "" if result.timeout is not None else f" ({result.program})"
        raise BuildError(f"{what} for {env_key} {result.why()}{program}.")
    unreachable = None if result.ok else unreachable_index(result.stderr, f"{what} for {env_key}")
    if unreachable is not None:
        raise BuildError(unreachable)
    if not result.ok:
        lines = [ln.removeprefix("error: ") for ln in result.stderr.strip().splitlines() if ln]
        detail = "\n  ".join(lines[:10]) or f"exit code {result.returncode}"
        raise BuildError(f"{what} failed for {env_key}:\n  {detail}")


def create_venv(request: BuildRequest) -> None:
    _run_checked(venv_command(request), request.env_key, "creating the venv")


def sync(request: BuildRequest, refresh: Sequence[str] = ()) -> None:
    _run_checked(sync_command(request, refresh), request.env_key, "installing the lockfile")


def purge_cache(env_key: str, packages: Sequence[str]) -> None:
    _run_checked(purge_command(packages), env_key, "purging the uv cache")


@cache
def uv_version() -> str:
    result = attempt(Command(argv=(uv_bin(), "--version"), timeout=VERSION_TIMEOUT))
    if isinstance(result, Unfinished):
        return "unknown"
    return result.stdout.strip().removeprefix("uv ") or "unknown"


def supports_reflink(folder: Path) -> bool:
    """Test (not trust) whether ``folder``'s filesystem can clone a file (FICLONE)."""
    if sys.platform != "linux":
        return False
    import fcntl  # POSIX only

    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    source, clone = folder / f".reflink-{token}-a", folder / f".reflink-{token}-b"
    try:
        source.write_bytes(b"reconcile reflink probe\n")
        with source.open("rb") as src, clone.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        return clone.read_bytes() == source.read_bytes()
    except OSError:
        return False
    finally:
        for path in (source, clone):
            with contextlib.suppress(OSError):
                path.unlink()


def uv_link_mode(setting: LinkMode, folder: Path) -> str:
    """uv's --link-mode for a manifest setting. ``auto`` gives isolated files: reflink clones
    where the filesystem really supports them, copies otherwise (uv's ``clone`` silently
    falls back to hardlinks on ext4, which would share inodes with the cache)."""
    if setting in ("auto", "clone"):
        if supports_reflink(folder):
            return "clone"
        if setting == "clone":  # uv would hardlink instead: envs would share the cache's inodes
            raise BuildError(
                f'link_mode "clone" needs a filesystem with reflink clones (btrfs, XFS, APFS), '
                f'and {folder} has none: use "auto" (clones where possible, copies otherwise).'
            )
        return "copy"
    return setting
