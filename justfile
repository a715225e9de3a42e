# Recipes that CI (.ci/run) also calls.

# a recipe's arguments reach the command as they were typed (`just cov -m "not slow"`)
set positional-arguments

default: lint type test

# the whole test suite (offline; registry tests are skipped unless RECONCILE_REGISTRY_TESTS=1)
test *ARGS:
    python -m pytest "$@"

# (slow: builds envs with uv, makes a venv or runs reconcile; tests/fasttier.py marks them)
# the fast tier for the edit loop: the tests not marked slow, then the 5 slowest of them
test-fast *ARGS:
    python -m pytest -m "not slow" --durations=5 "$@"

# (needs root: builds or reuses the Wine lab, see scripts/winlab.sh; the first run takes minutes)
# the Windows job: every command on a Windows layout, by the real Windows CPython and uv.exe
test-windows *ARGS:
    bash scripts/winlab.sh
    RECONCILE_WINE_REQUIRED=1 python -m pytest tests/wine "$@"

# (code run only in reconcile subprocesses is not counted; `just cov -m "not slow"` is quick)
# the whole suite with coverage of reconciler/ per module and in total, as CI prints it
cov *ARGS:
    python -m pytest --cov=reconciler --cov-report=term "$@"

lint:
    ruff check .
    ruff format --check .

type:
    mypy

# benchmarks: ratios against a peer measured in the same run
bench:
    python benchmarks/bench_plan.py
    python benchmarks/bench_apply.py
    python benchmarks/bench_verify.py
    python benchmarks/bench_which.py
    python benchmarks/bench_lock.py

# regenerate the manifest reference from the pydantic models
docs:
    python -m reconciler.spec.docgen > docs/manifest.md

# the bundled example's lockfiles must be fresh
lock-check:
    reconcile lock --check
