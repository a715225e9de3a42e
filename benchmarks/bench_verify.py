"""Benchmark: hash verification of a real ML env against its physical limit and plain peers
(issue "Integrity", SPEC 6).

The env is the one bench_apply builds: CPU torch 2.13.0 for Python 3.11 (the local wheel in
``$PIP_FIND_LINKS``) plus numpy and transformers from PyPI, ~900 MB in ~20,000 RECORD files.
It is installed once, untimed, by uv into a temp folder with the machine's own uv cache (only
read, so nothing there can be damaged; uv's default link mode may hardlink the env's files to
it, which the report counts as ``linked_files``). The package registry must be reachable.

Measured in the same run, median of ``--repeat`` rounds, the order rotating each round:

- sha256 rate of one core on an in-memory buffer; the physical limit is the bytes of the
  hashed RECORD files / (cores x that rate): hashing alone, with every core busy, nothing
  else (no interpreter start, no syscalls, no walk).
- read-only throughput: the same files read once, one thread, nothing hashed; set against
  the sha256 rate it tells which bound dominates. Hashing plus this reading, spread over
  every core, is printed as the "hash + read floor": what any checker that reads the files
  (open, read, close: kernel time the physical limit leaves out) needs at least, before an
  interpreter starts or a RECORD is parsed.
- ``reconcile verify --deep``: the command a user runs, as a whole process, on a manifest
  that adopts the env (``[envs.ml] adopt = ...``) with an existing root (so the hash cache and
  the manifest memo are kept there, as on any host that has run `apply`): every file read and
  hashed. Target: <= 1.6x the physical limit.
- ``reconcile verify`` (default, cache warm): the same command without ``--deep``; every file
  is trusted from its unchanged stat identity. Its peer is a bare stat walk: a process that
  parses every RECORD with ``csv`` and ``os.stat``s every row's file. Target: <= 2x the stat
  walk.
- the daily check without a root: the same cached ``reconcile verify`` of a manifest that only
  adopts the env and was never applied (no root folder: the hash cache and the manifest memo
  live in the user's cache folder, here ``$RECONCILE_CACHE_DIR`` in the temp folder), and
  ``reconcile verify PATH`` of the env with no manifest at all. Same peer, same target.
- the engine alone, for the breakdown: a bare ``python -c`` process that loads the hash
  cache, calls ``verify_env`` and saves the cache (no CLI, no manifest, no output), with its
  phases timed inside.
- a naive checker: one process, one thread, each hashed file read whole and hashed.

Every process is the interpreter running this script, with a private ``-X pycache_prefix``
warmed once (an installed tool has its bytecode; this machine may set
PYTHONDONTWRITEBYTECODE, which is lifted for the children). The page cache is warm: a first
untimed deep verify reads everything, and the cache is warmed more than a second after the
last file was written, since hashes of files changed within a second are never kept (racy
rule, ``reconciler.observe.hashcache``). On a shared machine each timed run waits (up to 30 s) until
others use less than 10% of the CPUs; the report says how many runs could not wait. Prints
medians (wall, and CPU time: the work done, which a second core cannot hide), ratios and
PASS/FAIL lines; exits 0 either way (a benchmark is not a test).

    python benchmarks/bench_verify.py [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_apply import NUMPY, TRANSFORMERS, _check_registry, _pyenv_python, _torch_wheel

from reconciler.observe.workers import default_workers
from reconciler.platform import POSIX_VENV
from reconciler.runner import uv_bin

DEEP_TARGET = 1.6
CACHED_TARGET = 2.0
QUIET = 0.10
"""Share of the machine's CPU others may use when a timed run starts (see ``_wait_quiet``)."""
_MARKER = "@@bench-verify@@"

# The engine alone: what `reconcile verify [--deep]` does for one env, minus the command around it.
_ENGINE = f"""
import json, os, sys, time
began = time.perf_counter()
from pathlib import Path
from reconciler.observe.hashcache import HashCache, cache_file
from reconciler.observe.walk import verify_env
from reconciler.store.system import current_venv
imported = time.perf_counter()
env, root, deep = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "deep"
real = os.path.realpath(env)
cache = HashCache.load(cache_file(root, real), real)
loaded = time.perf_counter()
report = verify_env(Path(env), venv=current_venv(), cache=cache, deep=deep)
verified = time.perf_counter()
cache.save()
saved = time.perf_counter()
print("{_MARKER}" + json.dumps({{
    "import": imported - began, "load": loaded - imported, "verify": verified - loaded,
    "save": saved - verified, "files_hashed": report.files_hashed,
    "bytes_hashed": report.bytes_hashed, "files_cached": report.files_cached,
    "rows_checked": report.rows_checked, "linked_files": report.linked_files,
    "findings": len(report.findings),
}}))
"""

# The `reconcile` console script, run by this interpreter so the private pycache applies.
_COMMAND = "import sys; from reconciler.cli.app import main; sys.exit(main())"

# The peer of the cached verify: parse every RECORD, stat every row's file, nothing more.
_STAT_WALK = """
import csv, glob, os, sys
rows = 0
for record in glob.glob(os.path.join(sys.argv[1], "lib", "python*", "site-packages",
                                     "*.dist-info", "RECORD")):
    site = os.path.dirname(os.path.dirname(record))
    with open(record, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if row:
                rows += 1
                try:
                    os.stat(os.path.join(site, row[0]))
                except OSError:
                    pass
print(rows)
"""

# The naive checker: one thread, every hashed row's file read whole and hashed.
_NAIVE = """
import base64, csv, glob, hashlib, os, sys
bad = 0
for record in glob.glob(os.path.join(sys.argv[1], "lib", "python*", "site-packages",
                                     "*.dist-info", "RECORD")):
    site = os.path.dirname(os.path.dirname(record))
    with open(record, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) == 3 and row[1].startswith("sha256=") and not row[0].endswith(".pyc"):
                with open(os.path.join(site, row[0]), "rb") as data:
                    raw = hashlib.sha256(data.read()).digest()
                digest = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
                bad += digest != row[1][len("sha256="):]
print(bad)
"""


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + sys: of the child process, or of this one for in-process sides


def _fail(message: str) -> SystemExit:
    return SystemExit(f"bench_verify: {message}")


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise _fail(f"{what} failed ({' '.join(argv[:3])} ...):\n{done.stdout}{done.stderr}")
    return done.stdout


def _build_env(folder: Path, args: argparse.Namespace) -> Path:
    """The torch + numpy + transformers env, installed by uv with the machine's uv cache."""
    wheels, torch = _torch_wheel()
    python = _pyenv_python()
    env = folder / "env"
    _run([uv_bin(), "venv", "--quiet", "--python", str(python), str(env)], "uv venv")
    _run(
        [
            uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(POSIX_VENV.interpreter(env)),
            "--find-links",
            str(wheels),
            f"torch=={torch}",
            f"numpy=={args.numpy}",
            f"transformers=={args.transformers}",
        ],
        "uv pip install (needs PyPI for numpy and transformers)",
    )
    return env


def _record_files(env: Path) -> list[str]:
    """The files of every RECORD row with a sha256 (bytecode aside), as the naive peer sees them."""
    files = []
    for record in sorted(env.glob("lib/python*/site-packages/*.dist-info/RECORD")):
        site = record.parent.parent
        with record.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) == 3 and row[1].startswith("sha256=") and not row[0].endswith(".pyc"):
                    files.append(os.path.normpath(site / row[0]))
    return files


def _wait_past_racy_window(env: Path) -> None:
    """Sleep until every file in the env changed more than a second ago (the racy rule)."""
    newest = 0
    for folder, _, names in os.walk(env):
        for name in names:
            newest = max(newest, os.lstat(os.path.join(folder, name)).st_ctime_ns)  # noqa: PTH118
    wait = newest + 1_100_000_000 - time.time_ns()
    if wait > 0:
        time.sleep(wait / 1e9)


def _sha256_rate(seconds: float = 0.5) -> float:
    """Bytes per second one core hashes from memory (best of a few passes over 64 MiB)."""
    buffer = os.urandom(64 << 20)
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or best == float("inf"):
        start = time.perf_counter()
        hashlib.sha256(buffer).digest()
        best = min(best, time.perf_counter() - start)
    return len(buffer) / best


def _read_only(files: list[str]) -> Timing:
    """Every file read once, one thread, 1 MiB at a time, nothing hashed."""
    view = memoryview(bytearray(1 << 20))
    cpu, start = time.process_time(), time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as handle:  # noqa: PTH123  ~20,000 str paths
            while handle.readinto(view):
                pass
    return Timing(time.perf_counter() - start, time.process_time() - cpu)


def _timed_process(argv: list[str], env: dict[str, str]) -> tuple[Timing, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = _run(argv, "a timed process", env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu), out


def _busy() -> float | None:
    """The share of all CPUs busy over the next 0.3 s (None where /proc/stat is missing)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as handle:  # noqa: PTH123
            ticks = [int(x) for x in handle.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total, idle = sample()
        time.sleep(0.3)
        total2, idle2 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle2 - idle) / max(1, total2 - total)


def _wait_quiet(limit: float = 30.0) -> bool:
    """Wait (up to ``limit`` s) until others use less than ``QUIET`` of the CPUs, so one
    timed run is not measured against someone else's build; False if it never got quiet."""
    end = time.monotonic() + limit
    while True:
        busy = _busy()
        if busy is None or busy < QUIET:
            return True
        if time.monotonic() > end:
            return False


def _child_result(out: str) -> dict[str, float]:
    line = next((x for x in out.splitlines() if x.startswith(_MARKER)), None)
    if line is None:
        raise _fail(f"the verify process printed no result:\n{out}")
    result: dict[str, float] = json.loads(line[len(_MARKER) :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--numpy", default=NUMPY, help=f"numpy version (default {NUMPY})")
    parser.add_argument(
        "--transformers",
        default=TRANSFORMERS,
        help=f"transformers version (default {TRANSFORMERS})",
    )
    parser.add_argument("--keep", type=Path, help="build the env here and keep it (reused)")
    args = parser.parse_args()
    if args.repeat < 1:
        raise _fail("--repeat must be at least 1")

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        env = folder / "env"
        if not (env / "pyvenv.cfg").is_file():
            _check_registry()
            shutil.rmtree(env, ignore_errors=True)
            os.environ.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"})
            _build_env(folder, args)
        root = folder / "root"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        children = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        python = [sys.executable, "-X", f"pycache_prefix={folder / 'pycache'}"]
        repo = str(Path(__file__).resolve().parent.parent)
        children["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, children.get("PYTHONPATH")]))

        files = _record_files(env)
        total = sum(os.stat(path).st_size for path in files)  # noqa: PTH116  str paths
        cores = default_workers()

        # untimed: bytecode compiled, page cache filled, the hash cache warmed past the racy
        # window (a deep run stores every hash it is allowed to keep)
        project = folder / "project"
        project.mkdir(exist_ok=True)
        manifest = project / "envs.toml"
        manifest.write_text(f"[envs.ml]\nadopt = {json.dumps(str(env))}\n", encoding="utf-8")
        shutil.rmtree(project / ".envs", ignore_errors=True)
        (project / ".envs").mkdir()  # an existing root: where the caches are kept
        command = [*python, "-c", _COMMAND, "verify", "--manifest", str(manifest), "ml"]
        engine = [*python, "-c", _ENGINE, str(env), str(root)]
        _run([*engine, "deep"], "warm-up verify", children)
        _run([*command, "--deep", "-q"], "warm-up verify", children)
        _wait_past_racy_window(env)
        _wait_past_racy_window(project)
        _run([*engine, "deep"], "cache-warming verify", children)
        _run([*command, "--deep", "-q"], "cache-warming verify", children)
        # the daily check with no root: an adopt-only manifest never applied, and a bare path
        adopt_only = folder / "adopt-only"
        shutil.rmtree(adopt_only, ignore_errors=True)
        adopt_only.mkdir()
        (adopt_only / "envs.toml").write_text(
            f"[envs.ml]\nadopt = {json.dumps(str(env))}\n", encoding="utf-8"
        )
        shutil.rmtree(folder / "user-cache", ignore_errors=True)
        rootless = {**children, "RECONCILE_CACHE_DIR": str(folder / "user-cache")}
        no_root = [*python, "-c", _COMMAND, "verify", "--manifest", str(adopt_only / "envs.toml")]
        by_path = [*python, "-c", _COMMAND, "verify", str(env)]
        _wait_past_racy_window(adopt_only)
        _run([*no_root, "--deep", "-q"], "cache-warming verify without a root", rootless)
        for argv in (no_root, by_path):
            counts = json.loads(_run([*argv, "--format", "json"], "cached verify", rootless))
            if counts["envs"][0]["files_hashed"] or not counts["envs"][0]["files_cached"]:
                raise _fail(f"the user's cache is not warm after warming it: {argv[-1]}")
        if (adopt_only / ".envs").exists() or not list(
            (folder / "user-cache" / "verify").glob("*.json")
        ):
            raise _fail("verify without a root made a root, or kept no manifest memo")
        warm = _child_result(_run([*engine, "cached"], "cached verify", children))
        report = json.loads(_run([*command, "--format", "json"], "cached verify", children))
        counts = report["envs"][0]
        for what in (warm, counts):
            if what["files_hashed"] or not what["files_cached"]:
                raise _fail(f"the cache is not warm after warming it: {what}")
        if not list((project / ".envs" / ".cache" / "verify").glob("*.json")):
            raise _fail("reconcile verify kept no manifest memo; each run would validate it")
        for peer in (_STAT_WALK, _NAIVE):
            _run([*python, "-c", peer, str(env)], "a peer", children)

        sides: dict[str, Callable[[], Timing]] = {}
        deep_runs: list[dict[str, float]] = []
        cached_runs: list[dict[str, float]] = []

        def engine_deep() -> Timing:
            timing, out = _timed_process([*engine, "deep"], children)
            deep_runs.append(_child_result(out))
            return timing

        def engine_cached() -> Timing:
            timing, out = _timed_process([*engine, "cached"], children)
            cached_runs.append(_child_result(out))
            return timing

        sides["verify --deep"] = lambda: _timed_process([*command, "--deep", "-q"], children)[0]
        sides["verify (cache warm)"] = lambda: _timed_process([*command, "-q"], children)[0]
        sides["verify, no root (cache warm)"] = lambda: _timed_process([*no_root, "-q"], rootless)[
            0
        ]
        sides["verify PATH (cache warm)"] = lambda: _timed_process([*by_path, "-q"], rootless)[0]
        sides["engine --deep"] = engine_deep
        sides["engine (cache warm)"] = engine_cached
        sides["bare stat walk"] = lambda: _timed_process(
            [*python, "-c", _STAT_WALK, str(env)], children
        )[0]
        sides["naive sequential"] = lambda: _timed_process(
            [*python, "-c", _NAIVE, str(env)], children
        )[0]
        sides["read only (in-process)"] = lambda: _read_only(files)

        timings: dict[str, list[Timing]] = {name: [] for name in sides}
        rates: list[float] = []
        names = list(sides)
        busy_starts = 0
        for round_ in range(args.repeat):
            busy_starts += not _wait_quiet()
            rates.append(_sha256_rate())
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                busy_starts += not _wait_quiet()
                timings[name].append(sides[name]())
            print(
                f"  round {round_ + 1}/{args.repeat}: "
                + ", ".join(f"{name} {timings[name][-1].wall:.2f} s" for name in names),
                flush=True,
            )
        load_end = os.getloadavg()

    times = {name: [t.wall for t in values] for name, values in timings.items()}
    cpu = {name: statistics.median(t.cpu for t in values) for name, values in timings.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    rate = statistics.median(rates)
    limit = total / (cores * rate)
    read_rate = total / median["read only (in-process)"]
    floor = (total / rate + median["read only (in-process)"]) / cores
    deep_ratio = median["verify --deep"] / limit
    cached_ratio = median["verify (cache warm)"] / median["bare stat walk"]
    rootless_ratio = median["verify, no root (cache warm)"] / median["bare stat walk"]
    path_ratio = median["verify PATH (cache warm)"] / median["bare stat walk"]
    last_deep = deep_runs[-1]
    inner = {
        key: statistics.median(r[key] for r in deep_runs) for key in ("import", "load", "verify")
    }
    inner_cached = {
        key: statistics.median(r[key] for r in cached_runs) for key in ("import", "load", "verify")
    }

    print(
        f"\nverify a {total / 1e6:.0f} MB env: {len(files)} hashed RECORD files, "
        f"{last_deep['rows_checked']:.0f} rows checked, {last_deep['linked_files']:.0f} with "
        f"other hard links, {last_deep['findings']:.0f} findings; {cores} cores, "
        f"python {sys.version.split()[0]}"
    )
    print(f"median of {args.repeat}, whole processes unless marked:")
    print(f"  sha256, one core, in memory:    {rate / 1e6:8.0f} MB/s")
    print(
        f"  read only, one thread:          {read_rate / 1e6:8.0f} MB/s "
        f"({median['read only (in-process)']:.2f} s, in-process)"
    )
    print(f"  physical limit (hash only):     {limit:8.2f} s  = bytes / ({cores} x sha256 rate)")
    engine_ratio = median["engine --deep"] / limit
    print(
        f"  reconcile verify --deep:        {median['verify --deep']:8.2f} s  "
        f"{deep_ratio:5.2f}x the limit (target <= {DEEP_TARGET}x); cpu {cpu['verify --deep']:.2f} s"
    )
    print(
        f"    the engine alone:             {median['engine --deep']:8.2f} s  "
        f"{engine_ratio:5.2f}x the limit; import {inner['import']:.2f} s, cache load "
        f"{inner['load']:.3f} s, verify_env {inner['verify']:.2f} s, "
        f"cpu {cpu['engine --deep']:.2f} s"
    )
    print(
        f"  hash + read floor:              {floor:8.2f} s  "
        f"{floor / limit:5.2f}x the limit: (bytes / sha256 rate + read only) / {cores} cores, "
        "what hashing needs once the files must also be read; no interpreter, no walk"
    )
    print(
        f"  naive sequential checker:       {median['naive sequential']:8.2f} s  "
        f"{median['naive sequential'] / median['verify --deep']:5.2f}x reconcile verify --deep; "
        f"cpu {cpu['naive sequential']:.2f} s"
    )
    print(
        f"  reconcile verify (cache warm):  {median['verify (cache warm)']:8.2f} s  "
        f"{cached_ratio:5.2f}x the stat walk (target <= {CACHED_TARGET}x); "
        f"cpu {cpu['verify (cache warm)']:.2f} s"
    )
    for name, ratio in (
        ("verify, no root (cache warm)", rootless_ratio),
        ("verify PATH (cache warm)", path_ratio),
    ):
        print(
            f"  reconcile {name + ':':28}{median[name]:6.2f} s  {ratio:5.2f}x the stat walk "
            f"(target <= {CACHED_TARGET}x); cpu {cpu[name]:.2f} s"
        )
    print(
        f"    the engine alone:             {median['engine (cache warm)']:8.2f} s  "
        f"{median['engine (cache warm)'] / median['bare stat walk']:5.2f}x the stat walk; "
        f"import {inner_cached['import']:.2f} s, cache load {inner_cached['load']:.3f} s, "
        f"verify_env {inner_cached['verify']:.2f} s, cpu {cpu['engine (cache warm)']:.2f} s"
    )
    print(
        f"  bare stat walk (csv + os.stat): {median['bare stat walk']:8.2f} s  "
        f"cpu {cpu['bare stat walk']:.2f} s"
    )
    for name in names:
        print(f"  all {name} runs: {', '.join(f'{t:.2f}' for t in times[name])} s")
    print(
        f"  load average: {load_start[0]:.1f} at start, {load_end[0]:.1f} at end "
        f"({os.cpu_count()} cpus); {busy_starts} timed runs started while others used "
        f">= {QUIET:.0%} of the CPUs for 30 s"
    )
    hash_bound = read_rate > rate
    print(
        f"\nbound: one core reads {read_rate / 1e6:.0f} MB/s but hashes {rate / 1e6:.0f} MB/s, so "
        + (
            "hashing, not reading, dominates the bytes"
            if hash_bound
            else "reading, not hashing, dominates the bytes"
        )
        + f"; reconcile verify --deep went at {total / median['verify --deep'] / 1e6:.0f} MB/s "
        f"(verify_env alone {total / inner['verify'] / 1e6:.0f} MB/s)"
    )
    for label, ratio, target in (
        ("reconcile verify --deep vs physical limit", deep_ratio, DEEP_TARGET),
        ("reconcile verify (cache warm) vs bare stat walk", cached_ratio, CACHED_TARGET),
        (
            "reconcile verify, adopt-only manifest, no root (cache warm) vs bare stat walk",
            rootless_ratio,
            CACHED_TARGET,
        ),
        ("reconcile verify PATH (cache warm) vs bare stat walk", path_ratio, CACHED_TARGET),
    ):
        verdict = "PASS" if ratio <= target else "FAIL"
        print(f"{verdict}: {label}: {ratio:.2f}x (target <= {target}x)")


if __name__ == "__main__":
    main()
