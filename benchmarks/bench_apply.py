"""Benchmark: `reconcile apply` of a real ML env vs raw `uv venv` + `uv pip sync` (issue 4).

The env is CPU torch 2.13.0 for Python 3.11 (the local wheel in pip's find-links folder,
``$PIP_FIND_LINKS``, ``/opt/wheels`` here) plus numpy and transformers from PyPI: about
40 packages, ~900 MB and ~21,000 files once installed. Target: reconcile within 1.25x of the
peer, warm cache, whole processes.

Setup (untimed): a temp project whose envs.toml declares that one env with
``find_links = [<the wheel folder>]`` and the default index, then ``reconcile lock``. This
needs the package registry (PyPI) once, for the lock and for warming the cache; the benchmark
stops with a clear message when it cannot be reached. The timed runs are offline in effect:
the cache is warm and uv only checks the lockfile's hashes against it.

Why torch is pinned to the local version (``torch==2.13.0+cpu``, read from the wheel's file
name): reconcile locks with ``uv pip compile --universal``. With a plain ``torch==2.13.0`` the
universal resolution forks: the find-links ``+cpu`` wheel (cp311, linux x86_64 only) for
CPython 3.11 on linux x86_64, and PyPI's CUDA build with ~15 ``nvidia-*`` packages, triton
and cuda-* for every other platform. It installs the CPU wheel here, but the lockfile then
carries several GB of CUDA wheels that a different machine would fetch. Pinning the local
version makes every fork use the one local wheel (it has no CUDA dependencies), so the
lockfile has no CUDA package at all. numpy and transformers are pinned to versions that
resolve with it for Python 3.11 (numpy 2.5 needs Python >= 3.12); ``--numpy`` and
``--transformers`` change them.

Both sides use the same interpreter (the newest ``$(pyenv root)/versions/3.11.*``; reconcile
finds it by its own discovery and the receipt is checked, falling back to
``RECONCILE_PYTHON_3_11`` if it chose another), an isolated ``UV_CACHE_DIR`` in the temp
folder, ``UV_PYTHON_DOWNLOADS=never`` and ``UV_NO_CONFIG=1`` (reconcile passes
``--no-config`` to uv; the peer gets the same so a user uv.toml cannot favour either side).
One untimed build per side warms the cache, the page cache and the interpreter's bytecode.

Timed, alternating the order each round: (a) ``reconcile apply --yes`` into a fresh root
(the previous root is removed between runs, untimed), full verification included; (b) the
peer: ``uv venv --python <python> <dir>`` then ``uv pip sync --require-hashes --link-mode
<the mode of reconcile's receipt> --python <dir>/bin/python <lockfile> <the same sources>``
into a fresh folder. ``os.sync()`` runs before every timed run so that the writeback of the
previous ~1 GB env does not land on the next one. Prints medians, the ratio and a PASS/FAIL
line against 1.25x; exits 0 either way (a benchmark is not a test).

Then one more apply, instrumented in-process (wall time per phase: python discovery, plan,
uv venv, uv pip sync, hash verification, health probe), and a standalone ``verify_env`` of
the built env, to show where reconcile's time goes. ``--imports`` declares
``imports = ["torch", "numpy", "transformers"]`` so the health probe imports them too (not
part of the issue's target; it measures what that manifest option costs).

    python benchmarks/bench_apply.py [--repeat 5] [--imports]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.observe.walk import verify_env
from reconciler.observe.workers import default_workers
from reconciler.platform import POSIX_VENV
from reconciler.runner import uv_bin
from reconciler.store import layout

ENV_KEY = "ml"
TARGET = 1.25
TORCH = "2.13.0"
NUMPY = "2.4.6"
TRANSFORMERS = "5.23.0"
PYPI_PROBE = "https://pypi.org/simple/numpy/"
_TORCH_WHEEL = re.compile(r"^torch-(?P<version>[^-]+)-cp311-cp311-[^/]*\.whl$")
_MARKER = "@@bench-apply@@"

# Runs `reconcile apply --yes` in a child process with the phases of interest wrapped by
# timers. Functions are patched on their modules, where the apply path looks them up at call
# time; a name that is not there (the code moved) is skipped, never fatal.
_INSTRUMENTED = f"""
import functools, json, sys, time
start = time.perf_counter()
from reconciler.cli import app
from reconciler.commands import gc, plan
from reconciler.execute import apply, builder, pythons, targets, uv
from reconciler.observe import integrity
imported = time.perf_counter() - start
spent = {{}}
calls = {{}}
def wrap(module, name, label):
    original = getattr(module, name)  # a phase renamed away must fail the run, not vanish
    @functools.wraps(original)
    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - began
            calls[label] = calls.get(label, 0) + 1
    setattr(module, name, timed)
wrap(gc, "cleanup", "cleanup (staging, trash)")
wrap(plan, "make_plan", "plan (observe root, diff)")
wrap(pythons, "find_python", "python discovery")
wrap(targets, "env_targets", "targets (lock freshness, python)")
wrap(uv, "supports_reflink", "reflink test")
wrap(uv, "uv_version", "uv --version")
wrap(uv, "create_venv", "uv venv")
wrap(uv, "sync", "uv pip sync")
wrap(integrity, "verify_dir", "hash verification")
wrap(builder, "observe_env", "health probe (observe_env)")
wrap(apply, "execute", "execute (build, verify, switch)")
began = time.perf_counter()
code = app.main(["apply", "--yes"])
main = time.perf_counter() - began
print("{_MARKER}" + json.dumps({{"code": code, "import": imported, "main": main,
                                  "phases": spent, "calls": calls}}))
"""


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + sys of the child processes


def _fail(message: str) -> SystemExit:
    return SystemExit(f"bench_apply: {message}")


def _run(argv: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _fail(f"{what} failed ({' '.join(argv)}):\n{done.stdout}{done.stderr}")
    return done


def _timed(commands: list[list[str]], cwd: Path, what: str) -> Timing:
    """Run commands one after the other as whole processes; wall and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for argv in commands:
        _run(argv, cwd, what)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def _torch_wheel() -> tuple[Path, str]:
    """The find-links folder holding the cp311 torch wheel, and the wheel's exact version."""
    folders = os.environ.get("PIP_FIND_LINKS", "").split() or ["/opt/wheels"]
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for wheel in sorted(folder.iterdir()):
            found = _TORCH_WHEEL.match(wheel.name)
            if found and found["version"].split("+")[0] == TORCH:
                return folder, found["version"]
    raise _fail(
        f"no torch {TORCH} wheel for cp311 in {' '.join(folders)} ($PIP_FIND_LINKS); "
        "this benchmark needs the local CPU torch wheel."
    )


def _pyenv_python() -> Path:
    """The newest ``$(pyenv root)/versions/3.11.*/bin/python3.11``."""
    root = os.environ.get("PYENV_ROOT")
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip() or root
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    found: list[tuple[Version, Path]] = []
    for python in versions.glob("3.11.*/bin/python3.11"):
        with contextlib.suppress(InvalidVersion):
            found.append((Version(python.parent.parent.name), python))
    if not found:
        raise _fail(f"no Python 3.11 under {versions}; install one with `pyenv install 3.11`.")
    return max(found)[1]


def _check_registry() -> None:
    try:
        with urllib.request.urlopen(PYPI_PROBE, timeout=20) as answer:
            answer.read(1)
    except (urllib.error.URLError, OSError) as exc:
        raise _fail(
            f"the package registry cannot be reached ({PYPI_PROBE}: {exc}). This benchmark "
            "locks numpy and transformers from PyPI and warms its uv cache from it once; "
            "run it where PyPI (or the proxy in HTTPS_PROXY) is reachable."
        ) from None


def _write_manifest(folder: Path, wheels: Path, torch: str, args: argparse.Namespace) -> None:
    requirements = [f"torch=={torch}", f"numpy=={args.numpy}", f"transformers=={args.transformers}"]
    lines = [
        "version = 1",
        "",
        "[settings]",
        'root = ".envs"',
        'python_downloads = "never"',
        'link_mode = "auto"',
        "",
        "[settings.sources]",
        f"find_links = [{json.dumps(str(wheels))}]",
        "",
        f"[envs.{ENV_KEY}]",
        'python = "3.11"',
        f"requirements = {json.dumps(requirements)}",
    ]
    if args.imports:
        lines.append('imports = ["torch", "numpy", "transformers"]')
    (folder / "envs.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _lock(folder: Path, torch: str) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "lock"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise _fail(
            "`reconcile lock` failed (it needs PyPI for numpy and transformers):\n"
            f"{done.stdout}{done.stderr}"
        )
    lockfile = folder / "lockfiles" / f"{ENV_KEY}.txt"
    text = lockfile.read_text(encoding="utf-8")
    pins = re.findall(r"^torch==(\S+)", text, flags=re.MULTILINE)
    if pins != [torch]:
        raise _fail(f"the lockfile pins torch {pins}, not only the local {torch} wheel")
    if re.search(r"^nvidia-", text, flags=re.MULTILINE):
        raise _fail("the lockfile has CUDA (nvidia-*) packages; the local CPU wheel was not used")
    return lockfile


def _receipt(root: Path) -> dict[str, str]:
    path = layout.receipt_path(layout.env_link(root, ENV_KEY))
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _size(folder: Path) -> tuple[float, int]:
    """MB (10^6 bytes) and count of the regular files under ``folder`` (links not followed)."""
    total = files = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            info = os.lstat(os.path.join(dirpath, name))  # noqa: PTH118  ~20,000 files
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
                files += 1
    return total / 1e6, files


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _instrumented_apply(folder: Path) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    done = _run([sys.executable, "-c", _INSTRUMENTED], folder, "instrumented apply")
    wall = time.perf_counter() - start
    line = next((x for x in done.stdout.splitlines() if x.startswith(_MARKER)), None)
    if line is None:
        raise _fail(f"instrumented apply printed no timings:\n{done.stdout}{done.stderr}")
    result: dict[str, object] = json.loads(line[len(_MARKER) :])
    return wall, result


def _print_breakdown(wall: float, result: dict[str, object]) -> None:
    imported = float(str(result["import"]))
    main = float(str(result["main"]))
    phases, calls = result["phases"], result["calls"]
    assert isinstance(phases, dict)
    assert isinstance(calls, dict)
    print(f"\nwhere one reconcile apply goes (instrumented run, wall {wall:.2f} s):")
    print(f"  interpreter start + imports outside main:   {wall - main:7.2f} s")
    print(f"    (of which importing reconciler modules:    {imported:7.2f} s)")
    for label, seconds in phases.items():
        count = int(calls.get(label, 1))
        times = f" ({count} calls)" if count > 1 else ""
        print(f"  {label + ':':<44}{float(seconds):7.2f} s{times}")
    print(f"  main() total:                               {main:7.2f} s")
    uv_s = sum(float(phases.get(k, 0.0)) for k in ("uv venv", "uv pip sync"))
    if uv_s > 0:
        print(
            f"  overhead beyond its own uv runs:            {wall - uv_s:7.2f} s; same-run ratio "
            f"wall / own uv = {wall / uv_s:.2f}x\n"
            "  (the peer runs the same two uv commands; measured in one run, this ratio is\n"
            "   not moved by load changing between the timed runs)"
        )
    print(
        "  (nested: python discovery is inside targets; uv venv, uv pip sync, hash\n"
        "   verification and the health probe are inside execute)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side (default 5)")
    parser.add_argument("--numpy", default=NUMPY, help=f"numpy version (default {NUMPY})")
    parser.add_argument(
        "--transformers",
        default=TRANSFORMERS,
        help=f"transformers version (default {TRANSFORMERS})",
    )
    parser.add_argument(
        "--imports", action="store_true", help="declare imports so the health probe imports them"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        raise _fail("--repeat must be at least 1")

    wheels, torch = _torch_wheel()
    python = _pyenv_python()
    _check_registry()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        folder = Path(tmp)
        os.environ.update(
            {
                "UV_CACHE_DIR": str(folder / "uv-cache"),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_NO_CONFIG": "1",
            }
        )
        _write_manifest(folder, wheels, torch, args)
        lockfile = _lock(folder, torch)
        root = folder / ".envs"
        peer = folder / "peer"
        reconcile = [sys.executable, "-m", "reconciler", "apply", "--yes"]

        # warm-up: fills the isolated uv cache (PyPI + the local wheel), checks the interpreter
        _timed([reconcile], folder, "warm-up apply")
        receipt = _receipt(root)
        if os.path.realpath(receipt.get("base_interpreter", "")) != os.path.realpath(python):
            os.environ["RECONCILE_PYTHON_3_11"] = str(python)
            print(
                f"note: reconcile chose {receipt.get('base_interpreter')}, not {python}; "
                "pinning it with RECONCILE_PYTHON_3_11"
            )
            _remove(root)
            _timed([reconcile], folder, "warm-up apply")
            receipt = _receipt(root)
        link_mode = receipt["link_mode"]
        peer_commands = [
            [uv_bin(), "venv", "--python", str(python), str(peer)],
            [
                uv_bin(),
                "pip",
                "sync",
                "--require-hashes",
                "--link-mode",
                link_mode,
                "--python",
                str(POSIX_VENV.interpreter(peer)),
                str(lockfile),
                "--find-links",
                str(wheels),
            ],
        ]
        _timed(peer_commands, folder, "warm-up peer")
        env_mb, env_files = _size(Path(os.path.realpath(layout.env_link(root, ENV_KEY))))
        peer_mb, peer_files = _size(peer)

        ours: list[Timing] = []
        theirs: list[Timing] = []
        for round_ in range(args.repeat):
            sides = [("reconcile", ours), ("peer", theirs)]
            for side, results in sides if round_ % 2 == 0 else sides[::-1]:
                _remove(root if side == "reconcile" else peer)
                os.sync()
                if side == "reconcile":
                    results.append(_timed([reconcile], folder, "reconcile apply"))
                else:
                    results.append(_timed(peer_commands, folder, "uv venv + uv pip sync"))
            print(
                f"  round {round_ + 1}/{args.repeat}: reconcile {ours[-1].wall:6.2f} s, "
                f"peer {theirs[-1].wall:6.2f} s",
                flush=True,
            )

        _remove(peer)
        gen = Path(os.path.realpath(layout.env_link(root, ENV_KEY)))
        os.sync()
        start = time.perf_counter()
        report = verify_env(gen, venv=POSIX_VENV)
        verify_s = time.perf_counter() - start
        _remove(root)
        os.sync()
        instrumented_wall, instrumented = _instrumented_apply(folder)
        _remove(root)
        load_end = os.getloadavg()

    ours_s = statistics.median(t.wall for t in ours)
    peer_s = statistics.median(t.wall for t in theirs)
    ours_cpu = statistics.median(t.cpu for t in ours)
    peer_cpu = statistics.median(t.cpu for t in theirs)
    ratio = ours_s / peer_s
    print(
        f"\ncreate a {env_mb:.0f} MB, {env_files} file env (torch {torch}, numpy {args.numpy}, "
        f"transformers {args.transformers}; peer env {peer_mb:.0f} MB, {peer_files} files)"
    )
    print(f"python {python}, link mode {link_mode}, uv {receipt.get('uv_version', '?')}")
    print(f"median of {args.repeat}, whole processes, warm cache, alternating order:")
    print(f"  reconcile apply --yes:        {ours_s:8.2f} s wall  {ours_cpu:8.2f} s cpu")
    print(f"  uv venv + uv pip sync:        {peer_s:8.2f} s wall  {peer_cpu:8.2f} s cpu")
    print(f"  ratio reconcile / peer:       {ratio:8.2f}x       (target <= {TARGET}x)")
    print(f"  cpu ratio reconcile / peer:   {ours_cpu / peer_cpu:8.2f}x")
    paired = statistics.median(a.wall / b.wall for a, b in zip(ours, theirs, strict=True))
    best = min(t.wall for t in ours) / min(t.wall for t in theirs)
    print(f"  median of per-round ratios:   {paired:8.2f}x")
    print(
        f"  best of {args.repeat}: reconcile {min(t.wall for t in ours):.2f} s, "
        f"peer {min(t.wall for t in theirs):.2f} s, ratio {best:.2f}x"
    )
    print(f"  all reconcile runs: {', '.join(f'{t.wall:.2f}' for t in ours)} s")
    print(f"  all peer runs:      {', '.join(f'{t.wall:.2f}' for t in theirs)} s")
    print(
        f"  load average: {load_start[0]:.1f} at start, {load_end[0]:.1f} at end "
        f"({os.cpu_count()} cpus)"
    )
    print(
        f"\nverify_env alone on the built env: {verify_s:.2f} s, {report.files_hashed} files, "
        f"{report.bytes_hashed / 1e6:.0f} MB hashed ({report.bytes_hashed / 1e6 / verify_s:.0f} "
        f"MB/s, {default_workers()} threads), {len(report.findings)} findings"
    )
    _print_breakdown(instrumented_wall, instrumented)
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"\n{verdict}: reconcile apply is {ratio:.2f}x raw uv (target <= {TARGET}x)")


if __name__ == "__main__":
    main()
