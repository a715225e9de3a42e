"""The fast tier (tests/fasttier.py) keeps slow tests out: a test not marked slow that starts
uv, a venv or reconcile fails, and a test of the project fixture is marked slow by itself.

Each test runs a small suite in-process with pytester; the "uv" it starts is a shell script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fasttier import slow_start


@pytest.fixture
def fake_uv(pytester: pytest.Pytester) -> Path:
    uv = pytester.path / "bin" / "uv"
    uv.parent.mkdir()
    uv.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    uv.chmod(0o755)
    return uv


def test_a_test_not_marked_slow_that_starts_uv_fails_even_when_the_failure_is_caught(
    pytester: pytest.Pytester, fake_uv: Path
) -> None:
    pytester.makepyfile(
        test_inner=f"""
        import subprocess, sys
        import pytest

        UV = {str(fake_uv)!r}

        def test_unmarked():
            subprocess.run([UV, "--version"], check=True)

        def test_unmarked_caught():
            try:
                subprocess.run([UV, "--version"], check=True)
            except BaseException:
                pass

        @pytest.mark.slow
        def test_marked():
            subprocess.run([UV, "--version"], check=True)

        def test_python_alone_is_fast():
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        """
    )

    result = pytester.runpytest("-p", "tests.fasttier", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2, failed=2)
    message = "runs uv: a slow test; mark it @pytest.mark.slow (see tests/fasttier.py)"
    result.stdout.fnmatch_lines(
        [f"E * Failed: {message}", "*_ test_unmarked_caught _*", message, "*2 failed, 2 passed*"]
    )


def test_a_test_of_the_project_fixture_is_slow_and_left_out_of_the_fast_tier(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def project():
            return "a project"

        @pytest.fixture
        def applied(project):
            return project
        """
    )
    pytester.makepyfile(
        test_inner="""
        def test_direct(project): pass
        def test_through_another_fixture(applied): pass
        def test_pure(): pass
        """
    )

    result = pytester.runpytest("-p", "tests.fasttier", "-p", "no:cacheprovider", "-m", "not slow")

    result.assert_outcomes(passed=1, deselected=2)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["/opt/uv/bin/uv", "pip", "sync"], "runs uv"),
        ("uv venv .venv", "runs uv"),
        ([Path("/usr/local/bin/reconcile"), "plan"], "runs reconcile"),
        ([sys.executable, "-m", "reconciler", "plan"], "runs python -m reconciler"),
        ([sys.executable.encode(), b"-m", b"venv", b"x"], "runs python -m venv"),
        ([sys.executable, "-c", "import reconciler"], None),
        (["git", "status"], None),
        ([sys.executable, "-m"], None),
        ([], None),
    ],
)
def test_what_counts_as_a_slow_start(args: object, reason: str | None) -> None:
    assert slow_start(args) == reason
