"""Benchmark: a no-op `reconcile plan` over N healthy small envs vs checking them by hand.

The peer, measured in the same run, is what a person would do without reconcile: one
`uv pip sync --dry-run` per env against its lockfile. Both are timed as whole processes,
warm cache, offline (a local wheelhouse). reconcile runs as a user has it: installed into a
venv of its own with compiled bytecode. Two plans are timed: the usual one, which replays the
stored plan because no input changed (reconciler/memo/replay.py), and one that observes afresh
(RECONCILE_NO_PLAN_CACHE=1: probes, and the RECORD check from the hash cache). Prints medians
and the ratios.

    python benchmarks/bench_plan.py [--envs 10] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.platform import POSIX_VENV
from reconciler.runner import uv_bin
from tests.wheels import make_wheel

REPO = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")


def _median_seconds(action: Callable[[], None], repeat: int) -> float:
    action()  # warm-up: caches, page cache, pyc files
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _install_reconcile(folder: Path) -> Path:
    """reconcile as a user has it: a venv of its own, installed from this checkout with its
    bytecode compiled (as `pip install .` does). Returns the `reconcile` command."""
    venv = folder / "tool"
    _run([uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], folder)
    _run(
        [
            uv_bin(),
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(POSIX_VENV.interpreter(venv)),
            str(REPO),
        ],
        folder,
    )
    return venv / "bin" / "reconcile"


def _setup(folder: Path, count: int, reconcile: Path) -> None:
    """`count` small envs, locked and applied by reconcile itself."""
    wheels = folder / "wheels"
    for index in range(5):
        make_wheel(wheels, f"pkg{index}", "1.0")
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    body = ['[settings.sources]\nfind_links = ["wheels"]\nno_index = true\n']
    for env in range(count):
        body.append(
            f'[envs.env{env:02d}]\npython = "{version}"\n'
            f'requirements = ["pkg{env % 5}==1.0", "pkg{(env + 1) % 5}==1.0"]\n'
            f'imports = ["pkg{env % 5}"]\n'
        )
    (folder / "envs.toml").write_text("\n".join(body), encoding="utf-8")
    _run([str(reconcile), "lock", "-q"], folder)
    _run([str(reconcile), "apply", "-q", "--yes"], folder)


def _by_hand(folder: Path, count: int) -> None:
    """What a person checks without reconcile: one dry-run sync per env."""
    for env in range(count):
        target = folder / ".envs" / f"env{env:02d}"
        _run(
            [
                uv_bin(),
                "pip",
                "sync",
                "-q",
                "--dry-run",
                "--require-hashes",
                "--no-index",
                "--find-links",
                str(folder / "wheels"),
                "--python",
                str(POSIX_VENV.interpreter(target)),
                str(folder / "lockfiles" / f"env{env:02d}.txt"),
            ],
            folder,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reconcile = _install_reconcile(folder)
        os.environ["UV_CACHE_DIR"] = str(folder / "uv-cache")
        _setup(folder, args.envs, reconcile)
        plan = [str(reconcile), "plan", "--detailed-exitcode", "-q"]
        fresh_env = {**os.environ, "RECONCILE_NO_PLAN_CACHE": "1"}
        done = subprocess.run(plan, cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"plan is not a no-op:\n{done.stdout}{done.stderr}")
        for _ in range(2):  # files written in the last second are never trusted: let them age
            time.sleep(1.1)
            _run(plan, folder)

        replayed_s = _median_seconds(lambda: _run(plan, folder), args.repeat)
        fresh_s = _median_seconds(lambda: _run(plan, folder, fresh_env), args.repeat)
        peer_s = _median_seconds(lambda: _by_hand(folder, args.envs), args.repeat)
    print(f"no-op plan over {args.envs} healthy envs (median of {args.repeat}, whole process)")
    print(f"  reconcile plan (inputs unchanged):   {replayed_s * 1000:8.1f} ms")
    print(f"  reconcile plan (observed afresh):    {fresh_s * 1000:8.1f} ms")
    print(f"  {args.envs} x uv pip sync --dry-run:       {peer_s * 1000:8.1f} ms")
    print(f"  ratio plan / by hand:                {replayed_s / peer_s:8.2f}x  (target <= 0.5x)")
    print(f"  ratio afresh / by hand:              {fresh_s / peer_s:8.2f}x")


if __name__ == "__main__":
    main()
