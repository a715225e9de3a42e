"""Benchmark: `reconcile lock` of an unchanged project against uv alone.

The peer, measured in the same run, is what a project without reconcile would run: one
``uv pip compile --universal --generate-hashes -o FILE`` per env, one after the other, over
the same requirements, wheelhouse and existing output files (so uv keeps its pins too).
reconcile adds the seed of old pins, the Python scope, reading and sealing every lockfile
and the change report; it runs up to four envs at once. ``--envs`` envs (12 by default) each
ask for three of eight tiny packages that have three versions each, offline. Both are timed
as whole processes with a warm uv cache. Prints medians and the ratio; exits 0 either way (a
benchmark is not a test).

    python benchmarks/bench_lock.py [--envs 12] [--repeat 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_plan import (  # this folder is on sys.path: the script runs from it
    _install_reconcile,
    _median_seconds,
)

from reconciler.runner import uv_bin
from tests.wheels import make_wheel

TARGET = 1.5
"""An unchanged re-lock within 1.5x of uv compiling the same envs one by one."""


def _run(argv: list[str], cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _requirements(env: int) -> list[str]:
    return [f"pkg{(env + k) % 8}" for k in range(3)]


def _setup(folder: Path, count: int, reconcile: Path) -> None:
    wheels = folder / "wheels"
    for index in range(8):
        for version in ("1.0", "1.1", "2.0"):
            make_wheel(wheels, f"pkg{index}", version, requires=[f"pkg{(index + 1) % 8}>=1.0"])
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    body = ['[settings.sources]\nfind_links = ["wheels"]\nno_index = true\n']
    for env in range(count):
        reqs = ", ".join(f'"{r}"' for r in _requirements(env))
        body.append(f'[envs.env{env:02d}]\npython = "{version}"\nrequirements = [{reqs}]\n')
    (folder / "envs.toml").write_text("\n".join(body), encoding="utf-8")
    _run([str(reconcile), "lock", "-q"], folder)
    peer = folder / "peer"
    peer.mkdir(exist_ok=True)
    for env in range(count):
        shutil.copy(folder / "lockfiles" / f"env{env:02d}.txt", peer / f"env{env:02d}.txt")


def _relock(reconcile: Path, folder: Path) -> None:
    _run([str(reconcile), "lock", "-q"], folder)


def _peer(folder: Path, count: int) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for env in range(count):
        _run(
            [
                uv_bin(),
                "pip",
                "compile",
                "-",
                "--universal",
                "--python-version",
                version,
                "--generate-hashes",
                "--no-header",
                "--quiet",
                "--find-links",
                str(folder / "wheels"),
                "--no-index",
                "-o",
                str(folder / "peer" / f"env{env:02d}.txt"),
            ],
            folder,
            stdin="\n".join(_requirements(env)) + "\n",
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    os.environ["UV_PYTHON_DOWNLOADS"] = "never"
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["UV_CACHE_DIR"] = str(folder / "uv-cache")
        reconcile = folder / "tool" / "bin" / "reconcile"
        if not (folder / "envs.toml").exists():
            reconcile = _install_reconcile(folder)
            _setup(folder, args.envs, reconcile)
        said = _run([str(reconcile), "lock"], folder).strip().splitlines()[-1]
        rounds = []
        for _ in range(3):  # interleaved, so that a busy moment weighs on both alike
            lock_s = _median_seconds(lambda: _relock(reconcile, folder), args.repeat)
            peer_s = _median_seconds(lambda: _peer(folder, args.envs), args.repeat)
            rounds.append((lock_s, peer_s))
        lock_s = statistics.median(r[0] for r in rounds)
        peer_s = statistics.median(r[1] for r in rounds)
    ratio = lock_s / peer_s
    print(f"reconcile lock of {args.envs} unchanged envs (median of {args.repeat} x 3, wall)")
    print(f"  reconcile said:             {said}")
    print(f"  reconcile lock:             {lock_s * 1000:8.1f} ms")
    print(f"  uv pip compile, env by env: {peer_s * 1000:8.1f} ms")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"  ratio lock / uv:            {ratio:8.2f}x  (target <= {TARGET:g}x) {verdict}")


if __name__ == "__main__":
    main()
