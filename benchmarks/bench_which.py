"""Benchmark: `reconcile which MODEL` against starting the interpreter at all.

`which` (and `run`, `resolve()`) sits on every model's start, so its peer is the cheapest
process there is, measured in the same run: `python -c pass` with the interpreter reconcile
runs on. The manifest declares ``--envs`` small managed envs (40 by default), each with a
model; ``--applied`` of them (all by default) are locked and applied by reconcile itself from
a local wheelhouse, offline. Both are timed as whole processes, warm cache, the health verdict
already remembered (a model's start after the first one). reconcile runs as a user has it:
installed into a venv of its own with compiled bytecode. Prints medians and the ratio;
exits 0 either way (a benchmark is not a test).

    python benchmarks/bench_which.py [--envs 40] [--applied 40] [--repeat 21] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_plan import _install_reconcile  # this folder is on sys.path: the script runs from it

from tests.wheels import make_wheel

TARGET = 3.0
"""`which` within 3x of `python -c pass` (issue #16)."""


def _run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _setup(folder: Path, count: int, applied: int, reconcile: Path) -> None:
    """``count`` small envs with a model each; the first ``applied`` locked and applied."""
    wheels = folder / "wheels"
    for index in range(5):
        make_wheel(wheels, f"pkg{index}", "1.0")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    body = ['[settings]\nverify_ignore = ["*.pth"]\n']
    body.append('[settings.sources]\nfind_links = ["wheels"]\nno_index = true\n')
    for env in range(count):
        body.append(
            f'[envs.env{env:02d}]\npython = "{version}"\n'
            f'requirements = ["pkg{env % 5}==1.0", "pkg{(env + 1) % 5}==1.0"]\n'
            f'imports = ["pkg{env % 5}"]\n'
        )
    for env in range(count):
        body.append(f'[models.model{env:02d}]\nenv = "env{env:02d}"\n')
    (folder / "envs.toml").write_text("\n".join(body), encoding="utf-8")
    targets = [f"env{env:02d}" for env in range(applied)]
    _run([str(reconcile), "lock", "-q", *targets], folder)
    if applied == count:
        _run([str(reconcile), "apply", "-q", "--yes"], folder)
        return
    _run([str(reconcile), "apply", "-q", "--yes", *(f"--target={t}" for t in targets)], folder)


def _median_seconds(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds (user + system of the child: the work done, which a busy
    machine's waiting does not add to)."""
    action()  # warm-up: page cache, pyc files
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=40)
    parser.add_argument("--applied", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    if not 1 <= args.applied <= args.envs:
        raise SystemExit("--applied must be between 1 and --envs")
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        reconcile = folder / "tool" / "bin" / "reconcile"
        if not (folder / "envs.toml").exists():
            reconcile = _install_reconcile(folder)
            os.environ["UV_CACHE_DIR"] = str(folder / "uv-cache")
            _setup(folder, args.envs, args.applied, reconcile)
        python = str(reconcile.parent / "python")
        which = [str(reconcile), "which", "model00"]
        printed = _run(which, folder).strip()
        time.sleep(1.1)  # files written in the last second are never trusted: let them age
        _run(which, folder)  # the health verdict is remembered from here on

        rounds = []
        for _ in range(3):  # interleaved, so that a busy moment weighs on both alike
            rounds.append(
                (
                    _median_seconds(lambda: _run(which, folder), args.repeat),
                    _median_seconds(lambda: _run([python, "-c", "pass"], folder), args.repeat),
                )
            )
        which_s = statistics.median(r[0][0] for r in rounds)
        peer_s = statistics.median(r[1][0] for r in rounds)
        which_cpu = statistics.median(r[0][1] for r in rounds)
        peer_cpu = statistics.median(r[1][1] for r in rounds)
    ratio = which_s / peer_s
    print(
        f"reconcile which over {args.envs} declared envs, {args.applied} applied "
        f"(median of {args.repeat} x 3, whole process; wall, then CPU)"
    )
    print(f"  printed: {printed}")
    print(f"  reconcile which model00:  {which_s * 1000:8.1f} ms  {which_cpu * 1000:8.1f} ms")
    print(f"  python -c pass:           {peer_s * 1000:8.1f} ms  {peer_cpu * 1000:8.1f} ms")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"  ratio which / python:     {ratio:8.2f}x  {which_cpu / peer_cpu:8.2f}x  "
        f"(target <= {TARGET:g}x wall) {verdict}"
    )


if __name__ == "__main__":
    main()
