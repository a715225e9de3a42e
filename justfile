# Recipes that CI (.ci/run) also calls.

default: lint type test

# the whole test suite (offline; registry tests are skipped unless RECONCILE_REGISTRY_TESTS=1)
test *ARGS:
    python -m pytest {{ARGS}}

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

# regenerate the manifest reference from the pydantic models
docs:
    python -m reconciler.spec.docgen > docs/manifest.md

# the bundled example's lockfiles must be fresh
lock-check:
    reconcile lock --check
