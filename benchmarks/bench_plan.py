"""Benchmark: a no-op `reconcile plan` over N healthy small envs vs checking them by hand.

The peer, measured in the same run, is what a person would do without reconcile: one
`uv pip sync --dry-run` per env against its lockfile. Both are timed as whole processes,
warm cache, offline (a local wheelhouse). Prints medians and the ratio.

    python benchmarks/bench_plan.py [--envs 10] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler import layout
from reconciler.runner import uv_bin
from tests.wheels import make_wheel


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
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


def _setup(folder: Path, count: int) -> None:
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
    _run([sys.executable, "-m", "reconciler", "lock", "-q"], folder)
    for env in range(count):
        target = folder / ".envs" / f"env{env:02d}"
        _run([uv_bin(), "venv", "-q", "--python", sys.executable, str(target)], folder)
        _run(
            [
                uv_bin(),
                "pip",
                "sync",
                "-q",
                "--require-hashes",
                "--no-index",
                "--find-links",
                str(wheels),
                "--python",
                str(layout.interpreter(target)),
                str(folder / "lockfiles" / f"env{env:02d}.txt"),
            ],
            folder,
        )
        receipt = {"format_version": "1", "generation": "bench"}
        layout.receipt_path(target).write_text(json.dumps(receipt), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["UV_CACHE_DIR"] = str(folder / "uv-cache")
        _setup(folder, args.envs)
        reconcile = [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode", "-q"]
        done = subprocess.run(reconcile, cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"plan is not a no-op:\n{done.stdout}{done.stderr}")

        def by_hand() -> None:
            for env in range(args.envs):
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
                        str(layout.interpreter(target)),
                        str(folder / "lockfiles" / f"env{env:02d}.txt"),
                    ],
                    folder,
                )

        plan_s = _median_seconds(lambda: _run(reconcile, folder), args.repeat)
        peer_s = _median_seconds(by_hand, args.repeat)
    print(f"no-op plan over {args.envs} healthy envs (median of {args.repeat}, whole process)")
    print(f"  reconcile plan:                 {plan_s * 1000:8.1f} ms")
    print(f"  {args.envs} x uv pip sync --dry-run:   {peer_s * 1000:8.1f} ms")
    print(f"  ratio plan / by hand:           {plan_s / peer_s:8.2f}x  (target <= 0.5x)")


if __name__ == "__main__":
    main()
