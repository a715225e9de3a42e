"""The integrity document and its rpm -V style text, from hand-made reports (pure)."""

from __future__ import annotations

import pytest

from reconciler.core.facts import Finding
from reconciler.core.integrity import IntegrityFinding, VerifyReport
from reconciler.observe.integrity import EnvCheck, EnvKind
from reconciler.report.verify import has_problems, render_text, verify_document


def report(*findings: IntegrityFinding, linked: int = 0) -> VerifyReport:
    return VerifyReport(
        env_dir="/r/serving",
        site_packages=("lib/python3.11/site-packages",),
        findings=findings,
        allowed=(),
        dists=3,
        rows_checked=10,
        files_hashed=4,
        bytes_hashed=2048,
        files_cached=6,
        linked_files=linked,
    )


@pytest.mark.parametrize(
    ("kind", "link_mode", "advice"),
    [
        ("managed", "hardlink", 'use link_mode "auto" to give envs their own files'),
        ("managed", "auto", 'although link_mode is "auto"'),
        ("adopted", "auto", "reconcile never rebuilds an adopted env"),
    ],
)
def test_files_with_other_hard_links_get_advice_that_fits_the_env(
    kind: EnvKind, link_mode: str, advice: str
) -> None:
    check = EnvCheck("serving", kind, ".envs/serving", report(linked=12), None, link_mode)

    doc = verify_document([check], deep=False)

    (warning,) = doc["warnings"]
    assert warning.startswith("serving: 12 of its files have other hard links")
    assert advice in warning
    assert render_text(doc).splitlines()[-1] == f"warning: {warning}"


def test_findings_are_aligned_rpm_style_lines_before_the_summaries() -> None:
    zero = IntegrityFinding("zero_byte", "click", "lib/site/click/core.py", 39420, 0)
    gone = IntegrityFinding("missing", "attrs", "lib/site/attrs/__init__.py")
    checks = [
        EnvCheck("serving", "managed", ".envs/serving", report(zero, gone)),
        EnvCheck("tools", "managed", ".envs/tools", None, "not created yet"),
    ]

    text = render_text(verify_document(checks, deep=False))

    assert text.splitlines() == [
        "zero_byte  serving  click  lib/site/click/core.py      size 0, RECORD says 39,420",
        "missing    serving  attrs  lib/site/attrs/__init__.py",
        "",
        "serving: 2 problems in 2 of 3 distributions: 1 missing, 1 zero_byte (10 files "
        "checked: 4 hashed (2.0 KB), 6 unchanged since last hashed).",
        "tools: not checked: not created yet.",
    ]


def test_env_level_findings_come_first_in_text_and_json_and_count_as_problems() -> None:
    """An env that cannot start is worse than a bad file: its findings lead the report, even
    before the file findings of an env that sorts earlier, and they make the env's status
    "problems" (exit 2) whether or not its files are fine."""
    zero = IntegrityFinding("zero_byte", "click", "lib/site/click/core.py", 39420, 0)
    broken = (
        Finding("interpreter_broken", "the interpreter is missing", "bin/python"),
        Finding("activation_missing", "bin/activate is missing", "bin/activate"),
    )
    checks = [
        EnvCheck("api", "managed", ".envs/api", report(zero)),
        EnvCheck("serving", "managed", ".envs/serving", report(), env_findings=broken),
        EnvCheck(
            "legacy",
            "adopted",
            "old/.venv",
            None,
            env_findings=(Finding("env_missing", "old/.venv does not exist", "."),),
        ),
    ]

    doc = verify_document(checks, deep=False)
    text = render_text(doc)

    assert text.splitlines() == [
        "interpreter_broken  serving  -      bin/python              the interpreter is missing",
        "activation_missing  serving  -      bin/activate            bin/activate is missing",
        "env_missing         legacy   -      .                       old/.venv does not exist",
        "zero_byte           api      click  lib/site/click/core.py  size 0, RECORD says 39,420",
        "",
        "api: 1 problem in 1 of 3 distributions: 1 zero_byte (10 files checked: 4 hashed "
        "(2.0 KB), 6 unchanged since last hashed).",
        "serving: env broken (1 interpreter_broken, 1 activation_missing); files: OK, 3 "
        "distributions (10 files checked: 4 hashed (2.0 KB), 6 unchanged since last hashed).",
        "legacy: env missing: old/.venv does not exist.",
    ]
    envs = {e["env"]: e for e in doc["envs"]}
    assert [e["status"] for e in doc["envs"]] == ["problems"] * 3
    assert has_problems(doc)
    serving = envs["serving"]
    assert [f["category"] for f in serving["findings"]] == [
        "interpreter_broken",
        "activation_missing",
    ]
    assert serving["findings"][0] == {
        "category": "interpreter_broken",
        "dist": None,
        "path": "bin/python",
        "expected_size": None,
        "actual_size": None,
        "expected_sha256": None,
        "actual_sha256": None,
        "detail": "the interpreter is missing",
    }
    assert serving["counts"] == {"interpreter_broken": 1, "activation_missing": 1}
    assert envs["legacy"]["counts"] == {"env_missing": 1}
    assert doc["format_version"] == "1"
    assert doc["summary"] == {
        "envs": 3,
        "ok": 0,
        "with_problems": 3,
        "unchecked": 0,
        "findings": 4,
        "env_findings": 3,
    }


def test_env_level_findings_lead_the_counts_before_the_file_categories() -> None:
    gone = IntegrityFinding("missing", "attrs", "lib/site/attrs/__init__.py")
    cfg = Finding("pyvenv_cfg_missing", "pyvenv.cfg is missing", "pyvenv.cfg")
    check = EnvCheck("serving", "managed", ".envs/serving", report(gone), env_findings=(cfg,))

    doc = verify_document([check], deep=False)

    (env,) = doc["envs"]
    assert list(env["counts"]) == ["pyvenv_cfg_missing", "missing"]
    assert [f["category"] for f in env["findings"]] == ["pyvenv_cfg_missing", "missing"]
    assert render_text(doc).splitlines()[-1] == (
        "serving: env broken (1 pyvenv_cfg_missing); files: 1 problem in 1 of 3 distributions: "
        "1 missing (10 files checked: 4 hashed (2.0 KB), 6 unchanged since last hashed)."
    )
