"""The commands, end to end, on a root whose files hold a JSON document nested far deeper
than the decoder recurses (tests/test_deep_json.py has each reader): a damaged receipt is an
env to replace, which apply heals; damaged bindings are one sentence; never an internal
error."""

from __future__ import annotations

import pytest

from reconciler.store import layout
from tests.apply_helpers import SERVING, gen_dir, setup
from tests.helpers import Project
from tests.test_deep_json import DEEP

pytestmark = pytest.mark.slow  # applies an env and runs reconcile in subprocesses


def test_a_deep_receipt_is_an_env_to_replace_and_apply_heals_it(project: Project) -> None:
    setup(project, SERVING)
    layout.receipt_path(gen_dir(project, "serving", "g0001")).write_bytes(DEEP)

    for command in (("status",), ("verify",), ("which", "chat")):
        done = project.cli(*command)
        assert "internal error" not in done.stderr, command
    plan = project.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert "not_created_by_reconcile" in plan.stdout
    assert "its receipt is damaged" in plan.stdout
    applied = project.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert project.cli("plan", "--detailed-exitcode").returncode == 0  # healed: no changes
    assert project.cli("which", "chat").returncode == 0


def test_deep_bindings_are_one_sentence(project: Project) -> None:
    setup(project, SERVING)
    layout.bindings_path(project.root).write_bytes(DEEP)

    for command in (("plan",), ("status",), ("which", "chat"), ("apply", "--yes")):
        done = project.cli(*command)
        assert done.returncode == 1, command
        assert done.stderr.startswith("error: cannot read the applied bindings at "), done.stderr
        assert "nested too deep" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
