"""The lines that close an apply (report/apply.py): what was done, and when a step failed,
what failed, why, and what was skipped because of it."""

from __future__ import annotations

from reconciler.core.outcome import ApplyReport
from reconciler.core.plan import Step
from reconciler.report.apply import apply_summary, failure_lines

WEB = Step("env.web", "env", "create", "web", ("missing",))
API = Step("env.api", "env", "replace", "api", ("probe_failed",))
M_WEB = Step("model.m-web", "model", "rebind", "m-web", ("new_model",), ("env.web",))
M_API = Step("model.m-api", "model", "rebind", "m-api", ("new_model",), ("env.api",))
M_API2 = Step("model.m-api2", "model", "rebind", "m-api2", ("new_model",), ("env.api",))
OLD = Step("env.old", "env", "delete", "old", ("not_declared",), ("model.m-api",))


def test_an_apply_where_nothing_failed_is_complete_counting_what_was_done() -> None:
    report = ApplyReport(done=[WEB, M_WEB])

    assert apply_summary(report) == "Apply complete: 1 created, 1 rebound."
    assert failure_lines(report) == []


def test_a_failed_apply_names_what_failed_what_was_skipped_and_counts_what_was_done() -> None:
    report = ApplyReport(
        done=[WEB, M_WEB],
        failed=[(API, "the new generation of api failed verification (...)")],
        skipped=[(OLD, "env api"), (M_API, "env api")],
    )

    assert apply_summary(report) == (
        "Apply failed: 1 failed (env api), 2 skipped (env old, model m-api: they depend on "
        "env api), 2 done (1 created, 1 rebound). Fix what failed and apply again: "
        "`reconcile plan` shows what is left."
    )
    assert failure_lines(report) == [
        "error: env api failed: the new generation of api failed verification (...)"
    ]


def test_each_failure_is_one_error_line_in_step_order_and_skips_are_grouped_by_cause() -> None:
    report = ApplyReport(
        failed=[(WEB, "uv could not reach the index"), (API, "python 3.14 is not installed")],
        skipped=[(M_WEB, "env web"), (M_API, "env api"), (M_API2, "env api")],
    )

    assert failure_lines(report) == [
        "error: env api failed: python 3.14 is not installed",
        "error: env web failed: uv could not reach the index",
    ]
    summary = apply_summary(report)
    assert summary.startswith(
        "Apply failed: 2 failed (env api, env web), 3 skipped (model m-api, model m-api2: they "
        "depend on env api; model m-web: it depends on env web), nothing done."
    )


def test_a_cause_that_already_names_its_env_is_said_once() -> None:
    report = ApplyReport(failed=[(API, "env api needs Python 3.14, which is not installed")])

    assert failure_lines(report) == ["error: env api needs Python 3.14, which is not installed"]


def test_a_failed_steps_line_carries_the_errors_details() -> None:
    """A failed Python download says why (uv's reason), not only that it failed."""
    from reconciler.errors import PythonNotFound
    from reconciler.execute.schedule import describe_error

    error = PythonNotFound(
        "3.14", "env x needs Python 3.14", ("`uv python install 3.14` failed: offline",)
    )

    assert describe_error(error) == (
        "env x needs Python 3.14; `uv python install 3.14` failed: offline."
    )
    assert describe_error(PythonNotFound("3.14", "env x needs Python 3.14")) == (
        "env x needs Python 3.14"
    )
