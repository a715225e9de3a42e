"""Whether a build can get its Python: the pure decision plan makes from a lookup, and how the
plan carries it (a step flagged ``blocked`` with a warning naming the env, or the version a
build will download)."""

from __future__ import annotations

import pytest

from reconciler.core.plan import Plan, Step
from reconciler.core.pythons import PythonLookup, foresee, missing_python, outlook, wanted_pythons
from reconciler.report import document
from reconciler.report.plan import render_text
from reconciler.spec.manifest import PythonDownloads

FOUND = PythonLookup("3.14", found="3.14.0", path="/opt/python3.14")
ABSENT = PythonLookup("3.14")
DOWNLOADABLE = PythonLookup("3.14", download="3.14.10")


@pytest.mark.parametrize("downloads", ["automatic", "manual", "never"])
def test_an_installed_python_is_used_whatever_downloads_says(downloads: PythonDownloads) -> None:
    assert outlook("tools", FOUND, downloads, windows=False) == outlook(
        "tools", FOUND, "never", windows=False
    )
    assert outlook("tools", FOUND, downloads, windows=False).problem is None
    assert outlook("tools", FOUND, downloads, windows=False).download is None


@pytest.mark.parametrize(
    ("downloads", "why"),
    [
        ("never", 'python_downloads = "never" forbids downloading it'),
        ("manual", 'python_downloads = "manual" leaves that to you'),
    ],
)
def test_a_missing_python_that_may_not_be_downloaded_blocks_the_env_naming_it(
    downloads: PythonDownloads, why: str
) -> None:
    seen = outlook("tools", DOWNLOADABLE, downloads, windows=False)

    assert seen.download is None
    assert seen.problem is not None
    assert seen.problem.startswith("env tools needs Python 3.14, which is not installed, and ")
    assert why in seen.problem
    assert "uv python install 3.14" in seen.problem
    assert "RECONCILE_PYTHON_3_14=/path/to/python3.14" in seen.problem
    assert seen.problem.endswith("or change its python in envs.toml.")


def test_a_missing_python_with_automatic_downloads_and_a_download_will_be_downloaded() -> None:
    assert outlook("tools", DOWNLOADABLE, "automatic", windows=False).download == "3.14.10"
    assert outlook("tools", DOWNLOADABLE, "automatic", windows=False).problem is None


def test_a_missing_python_that_uv_has_no_download_of_blocks_the_env() -> None:
    seen = outlook("tools", ABSENT, "automatic", windows=False)

    assert seen.download is None
    assert seen.problem is not None
    assert "which is not installed, and uv has no download of it for this machine" in seen.problem


def test_a_lookup_that_failed_blocks_the_env_with_its_reason() -> None:
    failed = PythonLookup("3.14", error="RECONCILE_PYTHON_3_14=/x is not a working Python 3.14")

    seen = outlook("tools", failed, "automatic", windows=False)

    assert seen.problem == (
        "env tools needs Python 3.14, but RECONCILE_PYTHON_3_14=/x is not a working Python 3.14."
    )


def test_the_sentence_without_an_env_is_the_one_apply_always_gave() -> None:
    assert missing_python("3.11", "never", windows=False).startswith(
        'Python 3.11 is not installed, and python_downloads = "never" forbids downloading it: '
    )


def _plan() -> Plan:
    return Plan(
        steps=(
            Step("env.tools", "env", "create", "tools", ("missing",), python="3.14", packages=1),
            Step("env.web", "env", "replace", "web", ("lock_changed",), python="3.11"),
            Step("env.old", "env", "delete", "old", ("not_declared",)),
        ),
        warnings=("an earlier warning",),
    )


def test_only_the_pythons_of_envs_the_plan_builds_are_looked_up() -> None:
    assert wanted_pythons(_plan()) == ["3.11", "3.14"]
    assert wanted_pythons(Plan(steps=_plan().steps[2:])) == []


def test_a_blocked_step_stays_in_the_plan_flagged_with_a_warning_naming_its_env() -> None:
    lookups = {"3.14": ABSENT, "3.11": PythonLookup("3.11", found="3.11.7", path="/p")}

    plan = foresee(_plan(), lookups, "never", windows=False)

    tools, web, old = plan.steps
    assert tools.blocked is not None and tools.blocked.startswith("env tools needs Python 3.14")
    assert web.blocked is None and old == _plan().steps[2]
    assert plan.warnings == ("an earlier warning", tools.blocked)
    doc = document.plan_document(plan, "envs.toml")
    assert doc["steps"][0]["blocked"] == tools.blocked
    assert "blocked" not in doc["steps"][1] and "python_download" not in doc["steps"][0]
    text = render_text(doc).plain
    assert 'env "tools" {python 3.14 (missing: see the warning), 1 package}' in text
    assert f"Warning: {tools.blocked}" in " ".join(text.split())  # the text wraps warnings


def test_a_download_is_in_the_json_and_quiet_in_the_text() -> None:
    plan = foresee(_plan(), {"3.14": DOWNLOADABLE}, "automatic", windows=False)

    doc = document.plan_document(plan, "envs.toml")
    assert doc["steps"][0]["python_download"] == "3.14.10"
    assert plan.warnings == ("an earlier warning",)
    assert "3.14.10" not in render_text(doc).plain
